// Hardware abstraction shared by the kernel and the host tests.
//
// Driver and core code never touches ports, MMIO, DMA memory, time or threads directly: it goes
// through these small interfaces. The kernel implements them for real (Kernel/Hal), the host
// tests with fakes and simulators. Rules for code that uses them (see README "Shared source"):
// no exceptions, no reflection, no finalizers, no LINQ, no async; every wait is bounded.
namespace Platform
{
    /// <summary>
    /// A block of device registers: an MMIO BAR or an I/O port range. Every call performs exactly
    /// one access of the stated width at base + offset (never merged, split or hoisted).
    /// </summary>
    public interface IRegisterBlock
    {
        byte Read8(uint offset);
        ushort Read16(uint offset);
        uint Read32(uint offset);
        /// <summary>One 64-bit access. Controllers without 64-bit support must use two Read32 calls.</summary>
        ulong Read64(uint offset);
        void Write8(uint offset, byte value);
        void Write16(uint offset, ushort value);
        void Write32(uint offset, uint value);
        void Write64(uint offset, ulong value);
    }

    /// <summary>A physically contiguous buffer a device may read or write by bus-master DMA.</summary>
    public struct DmaBuffer
    {
        /// <summary>Address the CPU uses.</summary>
        public nint Virtual;
        /// <summary>Address the device uses (what goes into descriptors and registers).</summary>
        public ulong Physical;
        /// <summary>Size in bytes.</summary>
        public uint Size;

        public bool IsNull => Virtual == 0;

        public unsafe System.Span<byte> AsSpan() => new System.Span<byte>((void*)Virtual, (int)Size);
        public unsafe byte* Pointer => (byte*)Virtual;
        public ulong PhysicalAt(uint offset) => Physical + offset;
    }

    /// <summary>Constraints on where a DMA buffer may live.</summary>
    public enum DmaLimit
    {
        /// <summary>Anywhere the device can address with 64-bit pointers.</summary>
        Any64,
        /// <summary>Below 4 GiB (UHCI, OHCI, EHCI without 64-bit capability).</summary>
        Below4G,
    }

    /// <summary>Allocator for DMA memory. Buffers are zeroed, aligned and never cross the boundary asked for.</summary>
    public interface IDmaAllocator
    {
        /// <summary>Returns a buffer, or one with IsNull set when memory is exhausted.</summary>
        /// <param name="alignment">Power of two, at least 16.</param>
        /// <param name="boundary">0, or a power of two the buffer must not cross (e.g. 4096 for xHCI TRB rings).</param>
        DmaBuffer Allocate(uint size, uint alignment, DmaLimit limit, uint boundary = 0);
        void Free(DmaBuffer buffer);
    }

    /// <summary>Monotonic time.</summary>
    public interface IClock
    {
        /// <summary>Milliseconds since boot; never goes backwards.</summary>
        ulong Milliseconds { get; }
        /// <summary>Microseconds since boot (coarser sources may round).</summary>
        ulong Microseconds { get; }
        /// <summary>Block the calling thread for at least <paramref name="ms"/> milliseconds.</summary>
        void Sleep(uint ms);
        /// <summary>Busy-wait for at least <paramref name="us"/> microseconds (interrupt context allowed).</summary>
        void Stall(uint us);
    }

    /// <summary>An event a thread waits on with a timeout; Signal may be called from interrupt context.</summary>
    public interface IEvent
    {
        void Signal();
        void Reset();
        /// <summary>Returns true when signalled, false on timeout. An auto-reset event is reset by a successful wait.</summary>
        bool Wait(uint timeoutMs);
    }

    /// <summary>A counting semaphore; Release may be called from interrupt context.</summary>
    public interface ISemaphore
    {
        void Release();
        /// <summary>Returns true when a count was taken, false on timeout.</summary>
        bool Wait(uint timeoutMs);
    }

    /// <summary>A mutex for thread context (never taken in interrupt context). Recursive.</summary>
    public interface IMutex
    {
        void Lock();
        void Unlock();
    }

    /// <summary>Entry point of a kernel thread.</summary>
    public delegate void ThreadEntry();

    /// <summary>Kernel threads and synchronisation primitives.</summary>
    public interface IThreading
    {
        /// <summary>Starts a preemptive kernel thread; returns its id (0 on failure).</summary>
        int StartThread(string name, ThreadEntry entry);
        IEvent CreateEvent(bool autoReset);
        ISemaphore CreateSemaphore(int initialCount);
        IMutex CreateMutex();
        /// <summary>Gives up the rest of the current time slice.</summary>
        void Yield();
    }

    /// <summary>Handler for an interrupt; returns true when its device raised it (shared lines).</summary>
    public delegate bool InterruptHandler();
}
