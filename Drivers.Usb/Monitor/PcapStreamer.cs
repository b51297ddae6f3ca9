using System;

namespace Drivers.Usb.Usbmon
{
    /// <summary>
    /// Where a live pcap stream goes (a TCP connection in the kernel): takes what it can now and
    /// says how much, without waiting longer than its own short bound.
    /// </summary>
    public interface IPcapSink
    {
        /// <summary>
        /// Accepts up to <paramref name="count"/> bytes; returns how many it took (0 when it has
        /// no room right now), or -1 when the reader is gone for good.
        /// </summary>
        int Write(byte[] buffer, int offset, int count);
    }

    /// <summary>
    /// Turns a usbmon reader's events into a live pcap byte stream (the file header, then a
    /// record per event) for a sink that may be slow: `nc host port | wireshark -k -i -`.
    ///
    /// Only this pump waits on the sink; the bus keeps recording into the monitor's ring, and
    /// when the reader falls behind the ring fills and the monitor drops (and counts) events
    /// instead of blocking a completion. A record is never cut: one that the sink took only in
    /// part is finished before the next event is taken, so the stream stays valid pcap.
    /// </summary>
    public sealed class PcapStreamer
    {
        readonly UsbmonReader _reader;
        readonly byte[] _pending = new byte[Pcap.RecordHeaderSize + UsbMonitor.MaxRecordBytes];
        int _pendingOffset, _pendingLength;
        /// <summary>The pending bytes are a record (not the file header).</summary>
        bool _pendingIsRecord;

        /// <summary>Records completely handed to the sink.</summary>
        public ulong Packets;
        /// <summary>Bytes handed to the sink (file header included).</summary>
        public ulong Bytes;
        /// <summary>True once the sink reported the reader gone.</summary>
        public bool Closed;

        public PcapStreamer(UsbmonReader reader)
        {
            _reader = reader;
            Pcap.WriteFileHeader(new Span<byte>(_pending, 0, Pcap.FileHeaderSize));
            _pendingLength = Pcap.FileHeaderSize;
        }

        /// <summary>True while part of a record (or the file header) waits for the sink.</summary>
        public bool HasPending => _pendingLength > _pendingOffset;

        /// <summary>
        /// Moves events to the sink until the reader has none left or the sink has no room; false
        /// when the sink is closed. Bounded: at most the events buffered when it started, plus the
        /// ones recorded meanwhile, each written at most once.
        /// </summary>
        public bool Pump(IPcapSink sink)
        {
            if (Closed)
                return false;
            while (true)
            {
                if (!HasPending && !TakeNextEvent())
                    return true;
                int taken = sink.Write(_pending, _pendingOffset, _pendingLength - _pendingOffset);
                if (taken < 0)
                {
                    Closed = true;
                    return false;
                }
                if (taken == 0)
                    return true;
                _pendingOffset += taken;
                Bytes += (ulong)taken;
                if (!HasPending && _pendingIsRecord)
                    Packets++;
            }
        }

        /// <summary>The oldest event as a pcap record in the pending buffer; false when there is none.</summary>
        bool TakeNextEvent()
        {
            int length = _reader.Read(new Span<byte>(_pending, Pcap.RecordHeaderSize, UsbMonitor.MaxRecordBytes));
            if (length == 0)
                return false;
            Pcap.WriteRecordHeader(new Span<byte>(_pending, 0, Pcap.RecordHeaderSize),
                                   new ReadOnlySpan<byte>(_pending, Pcap.RecordHeaderSize, length));
            _pendingOffset = 0;
            _pendingLength = Pcap.RecordHeaderSize + length;
            _pendingIsRecord = true;
            return true;
        }
    }
}
