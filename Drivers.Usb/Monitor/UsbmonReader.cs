using System;

namespace Drivers.Usb.Usbmon
{
    /// <summary>
    /// One reader of one or more buses' monitors, like Linux's per-bus usbmon files and "bus 0"
    /// (all buses): attaches to every monitor, and hands out their events oldest first, so a
    /// capture of several buses is in time order.
    /// </summary>
    public sealed class UsbmonReader
    {
        /// <summary>With several buses the reader wakes at least this often to look at all of them.</summary>
        const uint MultiBusPollMs = 10;

        readonly UsbMonitor[] _monitors;
        int _started;

        public UsbmonReader(UsbMonitor[] monitors)
        {
            _monitors = monitors;
        }

        public int BusCount => _monitors.Length;

        /// <summary>Starts recording on every bus; Busy (and nothing started) when one already has a reader.</summary>
        public UsbStatus Start(int ringBytes = UsbMonitor.DefaultRingBytes)
        {
            for (int i = 0; i < _monitors.Length; i++)
            {
                UsbStatus status = _monitors[i].Start(ringBytes);
                if (status != UsbStatus.Ok)
                {
                    for (int j = 0; j < i; j++)
                        _monitors[j].Release();
                    return status;
                }
            }
            _started = _monitors.Length;
            return UsbStatus.Ok;
        }

        /// <summary>Stops recording; what is buffered can still be read.</summary>
        public void Stop()
        {
            for (int i = 0; i < _started; i++)
                _monitors[i].Stop();
        }

        /// <summary>Stops recording and frees the buffers.</summary>
        public void Release()
        {
            for (int i = 0; i < _started; i++)
                _monitors[i].Release();
            _started = 0;
        }

        /// <summary>The oldest event of all buses into <paramref name="destination"/>; its length, or 0 when none is buffered.</summary>
        public int Read(Span<byte> destination) => Read(destination, out int _);

        /// <summary>The oldest event and the length its text line prints (<see cref="UsbMonitor.Read(Span{byte}, out int)"/>).</summary>
        public int Read(Span<byte> destination, out int textLength)
        {
            textLength = -1;
            int oldest = -1;
            ulong oldestTime = 0;
            for (int i = 0; i < _started; i++)
            {
                if (_monitors[i].PeekTimestamp(out ulong time) && (oldest < 0 || time < oldestTime))
                {
                    oldest = i;
                    oldestTime = time;
                }
            }
            return oldest < 0 ? 0 : _monitors[oldest].Read(destination, out textLength);
        }

        /// <summary>Waits (bounded) for new events.</summary>
        public void WaitForEvents(uint timeoutMs)
        {
            if (_started == 0)
                return;
            if (_started > 1 && timeoutMs > MultiBusPollMs)
                timeoutMs = MultiBusPollMs;
            _monitors[0].WaitForEvents(timeoutMs);
        }

        public ulong Recorded
        {
            get
            {
                ulong sum = 0;
                for (int i = 0; i < _monitors.Length; i++) sum += _monitors[i].Recorded;
                return sum;
            }
        }

        public ulong Dropped
        {
            get
            {
                ulong sum = 0;
                for (int i = 0; i < _monitors.Length; i++) sum += _monitors[i].Dropped;
                return sum;
            }
        }
    }
}
