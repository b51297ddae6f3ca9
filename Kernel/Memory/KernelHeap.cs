using Internal.Runtime;
using Kernel.Hal;

namespace Kernel.Memory
{
    /// <summary>
    /// The object heap: every C# allocation lands here. Objects are carved from chunks of
    /// physical memory (an 8 MiB arena inside the kernel image until the memory map is known).
    /// There is no garbage collector yet: memory of unreachable objects is not reclaimed, which
    /// is why the figures reported by <c>mem</c> only grow. Allocation is safe from any thread
    /// and from interrupt handlers (interrupts are disabled around the bump).
    /// </summary>
    internal static unsafe class KernelHeap
    {
        const ulong EarlyArenaSize = 8 * 1024 * 1024;
        const ulong ChunkSize = 4 * 1024 * 1024;
        const ulong RefillThreshold = 256 * 1024;
        const int Alignment = 8;

        static byte* s_current;
        static byte* s_end;
        static ulong s_allocatedBytes;
        static ulong s_allocationCount;
        static ulong s_reservedBytes;
        static bool s_refilling;

        /// <summary>Returns a chunk of zeroed, identity-mapped memory, or 0.</summary>
        public static delegate*<ulong, ulong> ChunkSource;

        public static ulong AllocatedBytes => s_allocatedBytes;
        public static ulong AllocationCount => s_allocationCount;
        public static ulong ReservedBytes => s_reservedBytes;
        public static ulong FreeBytes => (ulong)(s_end - s_current);

        public static void Initialize(byte* earlyArena, ulong size)
        {
            s_current = earlyArena;
            s_end = earlyArena + size;
            s_reservedBytes = size;
            RuntimeHooks.Allocate = &Allocate;
        }

        static byte* Allocate(nuint size)
        {
            ulong bytes = ((ulong)size + Alignment - 1) & ~(ulong)(Alignment - 1);
            ulong flags = InterruptGuard.Enter();
            if ((ulong)(s_end - s_current) < bytes + RefillThreshold && !s_refilling)
                Refill(bytes);
            byte* result = null;
            if ((ulong)(s_end - s_current) >= bytes)
            {
                result = s_current;
                s_current += bytes;
                s_allocatedBytes += bytes;
                s_allocationCount++;
            }
            InterruptGuard.Exit(flags);
            return result;
        }

        static void Refill(ulong needed)
        {
            if (ChunkSource == null)
                return;
            s_refilling = true;
            ulong size = needed + RefillThreshold > ChunkSize ? (needed + RefillThreshold + ChunkSize - 1) & ~(ChunkSize - 1) : ChunkSize;
            ulong chunk = ChunkSource(size);
            if (chunk != 0)
            {
                // The rest of the old chunk is abandoned (at most RefillThreshold bytes).
                s_current = (byte*)chunk;
                s_end = (byte*)(chunk + size);
                s_reservedBytes += size;
            }
            s_refilling = false;
        }
    }
}
