using Platform;
using Platform.Boot;
using Platform.Memory;

namespace Kernel.Memory
{
    /// <summary>
    /// Physical memory from the Multiboot2 memory map: usable RAM above 1 MiB minus the kernel
    /// image, the boot information and boot modules. Page-granular, identity-mapped (a physical
    /// address is also its virtual address).
    /// </summary>
    internal static unsafe class PhysicalMemory
    {
        public const ulong PageSize = 4096;
        const ulong LowMemoryEnd = 0x100000;

        static readonly RangeAllocator s_pool = new RangeAllocator();
        static ulong s_highestUsable;

        public static RangeAllocator Pool => s_pool;
        public static ulong HighestUsableAddress => s_highestUsable;

        public static void Initialize(Multiboot2Info boot, ulong kernelStart, ulong kernelEnd, ulong bootInfo, ulong bootInfoSize)
        {
            for (int i = 0; i < boot.MemoryMap.Count; i++)
            {
                MemoryRegion r = boot.MemoryMap[i];
                if (r.Type != MemoryRegion.TypeAvailable)
                    continue;
                ulong start = AlignUp(r.Base < LowMemoryEnd ? LowMemoryEnd : r.Base);
                ulong end = (r.Base + r.Length) & ~(PageSize - 1);
                if (end <= start)
                    continue;
                s_pool.AddRange(start, end - start);
                if (end > s_highestUsable)
                    s_highestUsable = end;
            }
            Exclude(kernelStart, kernelEnd);
            Exclude(bootInfo, bootInfo + bootInfoSize);
            for (int i = 0; i < boot.Modules.Count; i++)
                Exclude(boot.Modules[i].Start, boot.Modules[i].End);
        }

        static void Exclude(ulong start, ulong end)
        {
            start &= ~(PageSize - 1);
            end = AlignUp(end);
            if (end > start)
                s_pool.Exclude(start, end - start);
        }

        static ulong AlignUp(ulong value) => (value + PageSize - 1) & ~(PageSize - 1);

        /// <summary>Allocates zeroed, physically contiguous pages; returns 0 when out of memory.</summary>
        public static ulong AllocatePages(ulong bytes, ulong alignment = PageSize, ulong limit = ulong.MaxValue)
        {
            bytes = AlignUp(bytes);
            ulong flags = Hal.InterruptGuard.Enter();
            ulong address = s_pool.Allocate(bytes, alignment < PageSize ? PageSize : alignment, limit);
            Hal.InterruptGuard.Exit(flags);
            if (address != 0)
                System.Buffer.ZeroMemory((byte*)address, (nuint)bytes);
            return address;
        }

        public static void FreePages(ulong address, ulong bytes)
        {
            ulong flags = Hal.InterruptGuard.Enter();
            s_pool.Free(address, AlignUp(bytes));
            Hal.InterruptGuard.Exit(flags);
        }

        public static ulong HeapChunk(ulong size) => AllocatePages(size);
    }
}
