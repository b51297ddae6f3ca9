using System.Collections.Generic;
using Platform;

namespace Drivers.Usb.Hcd
{
    /// <summary>
    /// Descriptor memory already out of the schedule that the controller may still be reading in
    /// the frame in progress (it fetched the link before the driver rewrote it; UHCI 1.1 3.4,
    /// EHCI 1.0 4.7.1): freed once <see cref="DelayFrames"/> frames have gone by, or at once when the
    /// controller has stopped. UHCI keeps retired TDs one frame, EHCI retired iTDs/siTDs two. Not
    /// thread safe: the driver calls it under its lock.
    /// </summary>
    public sealed class FrameDelayedFree
    {
        struct Entry
        {
            public DmaBuffer Buffer;
            public uint Frame;
        }

        readonly IDmaAllocator _dma;
        readonly FrameCounter _counter;
        readonly List<Entry> _entries = new List<Entry>();

        /// <summary>Frames that must pass after the one a buffer left the schedule in.</summary>
        public readonly int DelayFrames;

        public FrameDelayedFree(IDmaAllocator dma, uint frameMask, int delayFrames)
        {
            _dma = dma;
            _counter = new FrameCounter(frameMask);
            DelayFrames = delayFrames;
        }

        /// <summary>Buffers still waiting.</summary>
        public int Count => _entries.Count;

        /// <summary>Frees <paramref name="buffer"/> once frames have passed after <paramref name="frame"/> (a null buffer is ignored).</summary>
        public void Add(DmaBuffer buffer, uint frame)
        {
            if (buffer.IsNull)
                return;
            _entries.Add(new Entry { Buffer = buffer, Frame = frame & _counter.Mask });
        }

        /// <summary>Frees what has waited long enough at frame <paramref name="now"/>; everything when <paramref name="stopped"/>.</summary>
        public void FreeDue(uint now, bool stopped)
        {
            for (int i = _entries.Count - 1; i >= 0; i--)
            {
                if (!stopped && _counter.Elapsed(now, _entries[i].Frame) < (uint)DelayFrames)
                    continue;
                _dma.Free(_entries[i].Buffer);
                _entries.RemoveAt(i);
            }
        }

        /// <summary>Frees everything (the controller is stopped).</summary>
        public void FreeAll() => FreeDue(0, true);
    }
}
