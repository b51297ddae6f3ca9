using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Platform;

namespace Tests.Support
{
    /// <summary>
    /// DMA memory from one 1 MiB block of unmanaged host memory, handed out in order and never
    /// reused; "physical" addresses are <see cref="PhysicalBase"/> plus the offset in the block and
    /// map back to it with <see cref="At"/>. Honours alignment and the boundary a buffer must not
    /// cross (Platform's <see cref="IDmaAllocator"/> contract), refuses a <see cref="DmaLimit.Below4G"/>
    /// buffer it would have to place above 4 GiB, and counts live buffers (leak checks).
    /// For tests that read the driver's structures directly; a simulated controller that must
    /// notice use of freed memory wants <see cref="TrackingDma"/>.
    /// </summary>
    public sealed unsafe class ArenaDma : IDmaAllocator, IDisposable
    {
        /// <summary>The default base: small 32-bit addresses, what UHCI/OHCI/EHCI need.</summary>
        public const ulong Below4GBase = 0x0010_0000;
        /// <summary>A base above 4 GiB: a 64-bit driver must program both halves of every address.</summary>
        public const ulong Above4GBase = 0x1_0000_0000;
        const uint ArenaSize = 1 << 20;
        const uint PageSize = 4096;
        const ulong FourGiB = 0x1_0000_0000;

        readonly IntPtr _arena = Marshal.AllocHGlobal((int)(ArenaSize + PageSize));
        readonly nint _base;
        uint _next;

        /// <summary>The physical address of the block's first byte.</summary>
        public readonly ulong PhysicalBase;
        /// <summary>Buffers allocated and not yet freed.</summary>
        public int Live;

        public ArenaDma(ulong physicalBase = Below4GBase)
        {
            PhysicalBase = physicalBase;
            _base = (_arena + (nint)(PageSize - 1)) & ~(nint)(PageSize - 1);
        }

        public DmaBuffer Allocate(uint size, uint alignment, DmaLimit limit, uint boundary = 0)
        {
            alignment = DmaContract.CheckAlignment(alignment);
            uint start = (_next + alignment - 1) & ~(alignment - 1);
            if (boundary != 0 && start / boundary != (start + size - 1) / boundary)
                start = (start + boundary - 1) & ~(boundary - 1);
            if ((ulong)start + size > ArenaSize)
                return default;
            if (limit == DmaLimit.Below4G && PhysicalBase + start + size > FourGiB)
                return default; // no memory where the caller can reach it, as a real allocator would say
            var buffer = new DmaBuffer { Virtual = _base + (nint)start, Physical = PhysicalBase + start, Size = size };
            new Span<byte>((void*)buffer.Virtual, (int)size).Clear();
            _next = start + size;
            Live++;
            return buffer;
        }

        public void Free(DmaBuffer buffer)
        {
            if (!buffer.IsNull)
                Live--;
        }

        /// <summary>The CPU address of a physical address, as the device's DMA would reach it.</summary>
        public byte* At(ulong physical)
        {
            if (physical < PhysicalBase || physical >= PhysicalBase + ArenaSize)
                throw new InvalidOperationException($"DMA outside memory: 0x{physical:x}");
            return (byte*)(_base + (nint)(physical - PhysicalBase));
        }

        /// <summary>The 32-bit word at a physical address (descriptors are arrays of them).</summary>
        public uint* Word(ulong physical) => (uint*)At(physical);

        public uint Read(ulong physical) => *Word(physical);

        public void Dispose() => Marshal.FreeHGlobal(_arena);
    }

    /// <summary>
    /// DMA memory for simulated controllers: each buffer its own native allocation, with made-up
    /// 32-bit physical addresses that are never reused. <see cref="At"/> finds the live buffer
    /// behind a physical address and throws for freed or unknown memory, so a schedule that still
    /// points at a freed descriptor fails the test; freeing an unknown buffer throws too.
    /// Thread-safe (the simulated hardware runs on its own thread).
    /// </summary>
    public sealed unsafe class TrackingDma : IDmaAllocator
    {
        const ulong FirstPhysical = 0x10_0000;
        /// <summary>Gap left between buffers so a run past the end lands in no buffer.</summary>
        const uint Guard = 16;

        readonly object _lock = new object();
        readonly List<DmaBuffer> _live = new List<DmaBuffer>();
        ulong _next = FirstPhysical;

        /// <summary>Buffers allocated and not yet freed.</summary>
        public int Live { get { lock (_lock) return _live.Count; } }

        public DmaBuffer Allocate(uint size, uint alignment, DmaLimit limit, uint boundary = 0)
        {
            alignment = DmaContract.CheckAlignment(alignment);
            lock (_lock)
            {
                ulong physical = (_next + alignment - 1) & ~((ulong)alignment - 1);
                if (boundary != 0 && physical / boundary != (physical + size - 1) / boundary)
                    physical = (physical + boundary - 1) & ~((ulong)boundary - 1);
                _next = physical + size + Guard;
                uint bytes = Math.Max(size, 1);
                void* p = NativeMemory.AlignedAlloc(bytes, alignment);
                NativeMemory.Clear(p, bytes);
                var buffer = new DmaBuffer { Virtual = (nint)p, Physical = physical, Size = size };
                _live.Add(buffer);
                return buffer;
            }
        }

        public void Free(DmaBuffer buffer)
        {
            lock (_lock)
            {
                for (int i = 0; i < _live.Count; i++)
                    if (_live[i].Physical == buffer.Physical)
                    {
                        NativeMemory.AlignedFree((void*)_live[i].Virtual);
                        _live.RemoveAt(i);
                        return;
                    }
            }
            throw new InvalidOperationException("free of unknown DMA buffer 0x" + buffer.Physical.ToString("x"));
        }

        /// <summary>The CPU address of a physical address, as the controller's DMA would reach it.</summary>
        public byte* At(ulong physical)
        {
            lock (_lock)
                foreach (DmaBuffer b in _live)
                    if (physical >= b.Physical && physical < b.Physical + b.Size)
                        return (byte*)b.Virtual + (physical - b.Physical);
            throw new InvalidOperationException("controller access to unmapped/freed memory 0x" + physical.ToString("x"));
        }
    }

    /// <summary>The <see cref="IDmaAllocator.Allocate"/> contract the fakes enforce.</summary>
    static class DmaContract
    {
        /// <summary>The smallest alignment a caller gets (the interface promises at least 16).</summary>
        const uint MinimumAlignment = 16;

        /// <summary>Throws for an alignment that is not a power of two; returns it raised to the minimum.</summary>
        public static uint CheckAlignment(uint alignment)
        {
            if (alignment == 0 || (alignment & (alignment - 1)) != 0)
                throw new ArgumentException("DMA alignment must be a power of two: " + alignment);
            return Math.Max(alignment, MinimumAlignment);
        }
    }
}
