using System;
using System.Runtime.InteropServices;
using Platform;

namespace Hcd.Tests
{
    /// <summary>Clock whose time only moves when someone sleeps or stalls (so bounded waits end quickly).</summary>
    public sealed class FakeClock : IClock
    {
        public ulong Us;
        public ulong Milliseconds => Us / 1000;
        public ulong Microseconds => Us;
        public void Sleep(uint ms) => Us += ms * 1000UL;
        public void Stall(uint us) => Us += us;
    }

    /// <summary>
    /// DMA from one block of unmanaged host memory; "physical" addresses are small 32-bit numbers
    /// mapped back to it. Honours alignment and the boundary a buffer must not cross; counts live buffers.
    /// </summary>
    public sealed unsafe class FakeDma : IDmaAllocator, IDisposable
    {
        const uint ArenaSize = 1 << 20;
        readonly IntPtr _arena = Marshal.AllocHGlobal((int)ArenaSize + 4096);
        readonly nint _base;
        public const uint PhysicalBase = 0x0010_0000;
        uint _next;
        public int Live;

        public FakeDma() { _base = (_arena + 4095) & ~(nint)4095; }

        public DmaBuffer Allocate(uint size, uint alignment, DmaLimit limit, uint boundary = 0)
        {
            _next = (_next + alignment - 1) & ~(alignment - 1);
            if (boundary != 0 && (_next / boundary) != ((_next + size - 1) / boundary))
                _next = (_next + boundary - 1) & ~(boundary - 1);
            if (_next + size > ArenaSize) return default;
            var b = new DmaBuffer { Virtual = _base + (nint)_next, Physical = PhysicalBase + _next, Size = size };
            new Span<byte>((void*)b.Virtual, (int)size).Clear();
            _next += size;
            Live++;
            return b;
        }

        public void Free(DmaBuffer buffer) { if (!buffer.IsNull) Live--; }

        /// <summary>The CPU address of a physical address, as the controller's DMA would reach it.</summary>
        public uint* At(uint physical) => (uint*)(_base + (nint)(physical - PhysicalBase));

        public uint Read(uint physical) => *At(physical);

        public void Dispose() => Marshal.FreeHGlobal(_arena);
    }

    /// <summary>Threading for code under test that must not really block: waits time out at once.</summary>
    public sealed class NullThreading : IThreading
    {
        sealed class Primitive : IEvent, ISemaphore, IMutex
        {
            public void Signal() { }
            public void Reset() { }
            public bool Wait(uint timeoutMs) => false;
            public void Release() { }
            public void Lock() { }
            public void Unlock() { }
        }

        public int StartThread(string name, ThreadEntry entry) => 0;
        public IEvent CreateEvent(bool autoReset) => new Primitive();
        public ISemaphore CreateSemaphore(int initialCount) => new Primitive();
        public IMutex CreateMutex() => new Primitive();
        public void Yield() { }
    }
}
