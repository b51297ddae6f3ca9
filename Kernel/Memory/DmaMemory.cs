using Platform;
using Platform.Memory;

namespace Kernel.Memory
{
    /// <summary>
    /// DMA buffers: physically contiguous, zeroed, aligned, optionally below 4 GiB, never crossing
    /// a requested boundary, and freeable. Carved from pools of low physical memory (grown on
    /// demand) so that small buffers (queue heads, descriptors) don't each cost a page.
    /// </summary>
    internal sealed unsafe class DmaMemory : IDmaAllocator
    {
        public static readonly DmaMemory Instance = new DmaMemory();

        const ulong PoolSize = 4 * 1024 * 1024;
        const ulong Below4G = 1UL << 32;
        const uint MinimumAlignment = 16;

        readonly RangeAllocator _pool = new RangeAllocator();
        ulong _allocations;

        public ulong UsedBytes => _pool.UsedBytes;
        public ulong FreeBytes => _pool.FreeBytes;
        public ulong PoolBytes => _pool.TotalBytes;
        public ulong LiveAllocations => _allocations;

        public DmaBuffer Allocate(uint size, uint alignment, DmaLimit limit, uint boundary = 0)
        {
            if (size == 0)
                return default;
            if (alignment < MinimumAlignment) alignment = MinimumAlignment;
            ulong end = limit == DmaLimit.Below4G ? Below4G : ulong.MaxValue;
            ulong flags = Hal.InterruptGuard.Enter();
            ulong address = _pool.Allocate(size, alignment, end, boundary);
            if (address == 0 && Grow(size + alignment))
                address = _pool.Allocate(size, alignment, end, boundary);
            if (address != 0) _allocations++;
            Hal.InterruptGuard.Exit(flags);
            if (address == 0)
                return default;
            System.Buffer.ZeroMemory((byte*)address, size);
            return new DmaBuffer { Virtual = (nint)address, Physical = address, Size = size };
        }

        public void Free(DmaBuffer buffer)
        {
            if (buffer.IsNull)
                return;
            ulong flags = Hal.InterruptGuard.Enter();
            if (_pool.Free(buffer.Physical, buffer.Size))
                _allocations--;
            Hal.InterruptGuard.Exit(flags);
        }

        bool Grow(ulong atLeast)
        {
            ulong size = atLeast > PoolSize ? (atLeast + PoolSize - 1) & ~(PoolSize - 1) : PoolSize;
            ulong pages = PhysicalMemory.AllocatePages(size, PhysicalMemory.PageSize, Below4G);
            if (pages == 0)
                return false;
            _pool.AddRange(pages, size);
            return true;
        }
    }
}
