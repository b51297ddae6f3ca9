using System;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Usbmon
{
    /// <summary>
    /// usbmon for one bus (Linux drivers/usb/mon): while a reader is attached, every request
    /// submitted on the bus (S), given back (C) or refused by the controller (E) is recorded as a
    /// <see cref="UsbmonPacket"/> into a ring buffer of bounded size; events that do not fit are
    /// counted as dropped, never waited for. Off (the default) it holds no buffer and costs the bus
    /// one test of <see cref="Active"/> per submission and give-back.
    ///
    /// The ring works like mon_bin.c's: records (64-byte header + captured data) are aligned to
    /// 64 bytes and never wrap; when one does not fit at the end, a filler record ('@') takes the
    /// rest and the record starts at offset 0. Recording may run in interrupt context (give-back):
    /// it only copies bytes under a lock and signals the reader.
    /// </summary>
    public sealed class UsbMonitor
    {
        /// <summary>Ring size a reader gets unless it asks otherwise.</summary>
        public const int DefaultRingBytes = 128 * 1024;
        public const int MinimumRingBytes = 4 * 1024;
        public const int MaximumRingBytes = 4 * 1024 * 1024;
        /// <summary>Data bytes kept per event (Linux keeps up to a fifth of its ring; a bounded share here too).</summary>
        public const int MaxCapturedData = 1024;
        /// <summary>Largest record <see cref="Read"/> returns: a destination this big always suffices.</summary>
        public const int MaxRecordBytes = UsbmonPacket.HeaderSize + UsbmonPacket.MaxIsoDescriptors * UsbmonPacket.IsoDescriptorSize + MaxCapturedData;
        /// <summary>Bytes of the text length kept after an isochronous callback's record (never part of what <see cref="Read"/> returns).</summary>
        const int TextLengthSize = 4;
        /// <summary>Record alignment in the ring (mon_bin.c PKT_ALIGN).</summary>
        const int RecordAlignment = 64;
        /// <summary>Type byte of a filler record that pads the end of the ring (mon_buff_area_fill).</summary>
        const byte FillerType = (byte)'@';
        /// <summary>Tags carry the bus number in their high half so they are unique across buses.</summary>
        const int TagBusShift = 32;
        const uint MaxIntervalFullSpeedInterrupt = 128, MaxIntervalFullSpeedIsochronous = 1024, MaxIntervalHighSpeed = 1024 * 8, MaxIntervalSuperSpeed = 1 << 15;
        const int MaxIntervalExponent = 16;

        public readonly UsbBus Bus;
        /// <summary>
        /// True while a reader is attached. The bus tests it on every submission and give-back and
        /// calls in only when it is set, so monitoring that is off costs one branch.
        /// </summary>
        public volatile bool Active;

        readonly object _lock = new object();
        readonly IEvent _arrived;
        byte[] _ring;
        int _head, _tail, _used;
        uint _nextTag;
        ulong _recorded, _dropped;

        public UsbMonitor(UsbBus bus, IEvent arrived)
        {
            Bus = bus;
            _arrived = arrived;
        }

        /// <summary>Events recorded since the reader attached.</summary>
        public ulong Recorded { get { lock (_lock) return _recorded; } }
        /// <summary>Events lost because the ring was full (Linux's cnt_lost / "dropped" statistic).</summary>
        public ulong Dropped { get { lock (_lock) return _dropped; } }
        /// <summary>Bytes of the ring in use (records not yet read).</summary>
        public int BufferedBytes { get { lock (_lock) return _used; } }
        /// <summary>Size of the ring, 0 when no reader has one.</summary>
        public int RingBytes { get { lock (_lock) return _ring == null ? 0 : _ring.Length; } }

        // ---- Reader side ---------------------------------------------------------------------

        /// <summary>
        /// Attaches the reader: allocates a ring of <paramref name="ringBytes"/> (rounded to the
        /// record alignment, within the bounds) and starts recording. Busy if a reader is attached.
        /// </summary>
        public UsbStatus Start(int ringBytes = DefaultRingBytes)
        {
            if (ringBytes < MinimumRingBytes) ringBytes = MinimumRingBytes;
            if (ringBytes > MaximumRingBytes) ringBytes = MaximumRingBytes;
            ringBytes = Align(ringBytes);
            lock (_lock)
            {
                if (Active)
                    return UsbStatus.Busy;
            }
            byte[] ring = new byte[ringBytes];
            lock (_lock)
            {
                if (Active)
                    return UsbStatus.Busy;
                _ring = ring;
                _head = _tail = _used = 0;
                _recorded = _dropped = 0;
                Active = true;
            }
            return UsbStatus.Ok;
        }

        /// <summary>Stops recording. Events still in the ring can be read; <see cref="Release"/> frees it.</summary>
        public void Stop()
        {
            lock (_lock)
                Active = false;
            _arrived.Signal();
        }

        /// <summary>Stops recording and frees the ring.</summary>
        public void Release()
        {
            lock (_lock)
            {
                Active = false;
                _ring = null;
                _head = _tail = _used = 0;
            }
        }

        /// <summary>Waits (bounded) until an event was recorded or the monitor stopped.</summary>
        public void WaitForEvents(uint timeoutMs) => _arrived.Wait(timeoutMs);

        /// <summary>
        /// Takes the oldest event out of the ring into <paramref name="destination"/> (at least
        /// <see cref="MaxRecordBytes"/> long) and returns its length (header + captured data), or 0
        /// when the ring is empty.
        /// </summary>
        public int Read(Span<byte> destination) => Read(destination, out int _);

        /// <summary>
        /// <see cref="Read(Span{byte})"/>, also giving the length the text format prints
        /// (<see cref="UsbmonText.Append(System.Text.StringBuilder, ReadOnlySpan{byte}, int)"/>): the
        /// buffer's length for an isochronous callback, -1 (the header's length) otherwise.
        /// </summary>
        public int Read(Span<byte> destination, out int textLength)
        {
            textLength = -1;
            lock (_lock)
            {
                int offset = OldestRecord();
                if (offset < 0)
                    return 0;
                ReadOnlySpan<byte> header = new ReadOnlySpan<byte>(_ring, offset, UsbmonPacket.HeaderSize);
                int total = UsbmonPacket.TotalLength(header);
                if (HasTextLength(header))
                    textLength = (int)Le.U32(new ReadOnlySpan<byte>(_ring, offset + total, TextLengthSize), 0);
                int length = total > destination.Length ? destination.Length : total;
                new ReadOnlySpan<byte>(_ring, offset, length).CopyTo(destination);
                FreeRecord(offset);
                return length;
            }
        }

        /// <summary>Timestamp (µs) of the oldest event in the ring; false when it is empty. Lets a reader of several buses merge them in time order.</summary>
        public bool PeekTimestamp(out ulong microseconds)
        {
            microseconds = 0;
            lock (_lock)
            {
                int offset = OldestRecord();
                if (offset < 0)
                    return false;
                ReadOnlySpan<byte> header = new ReadOnlySpan<byte>(_ring, offset, UsbmonPacket.HeaderSize);
                microseconds = (ulong)UsbmonPacket.Seconds(header) * UsbmonPacket.MicrosecondsPerSecond + (ulong)UsbmonPacket.Microseconds(header);
                return true;
            }
        }

        /// <summary>Offset of the oldest real record, skipping (and freeing) fillers; -1 when empty. Caller holds the lock.</summary>
        int OldestRecord()
        {
            while (_ring != null && _used > 0)
            {
                if (_ring[_tail + UsbmonPacket.OffsetType] != FillerType)
                    return _tail;
                FreeRecord(_tail);
            }
            return -1;
        }

        void FreeRecord(int offset)
        {
            ReadOnlySpan<byte> header = new ReadOnlySpan<byte>(_ring, offset, UsbmonPacket.HeaderSize);
            int size = Align(UsbmonPacket.TotalLength(header) + (HasTextLength(header) ? TextLengthSize : 0));
            _used -= size;
            _tail += size;
            if (_tail >= _ring.Length)
                _tail = 0;
        }

        // ---- Recording (called by UsbBus, any context) ---------------------------------------

        /// <summary>A request is about to be handed to the controller (usbmon_urb_submit).</summary>
        public void Submitted(UsbRequest request) =>
            Record(request, UsbmonPacket.Submission, -UsbErrno.EINPROGRESS, request.Length);

        /// <summary>A request was given back, before its completion runs (usbmon_urb_complete).</summary>
        public void Completed(UsbRequest request) =>
            Record(request, UsbmonPacket.Callback, UsbErrno.Of(request.Status), request.ActualLength);

        /// <summary>The controller refused a request that was recorded as submitted (usbmon_urb_submit_error).</summary>
        public void SubmitFailed(UsbRequest request, UsbStatus status) =>
            Record(request, UsbmonPacket.SubmissionError, UsbErrno.Of(status), 0);

        void Record(UsbRequest request, byte type, int status, int urbLength)
        {
            ulong now = Bus.Clock.Microseconds;
            UsbDevice device = request.Device;
            UsbEndpoint endpoint = request.Endpoint;
            TransferType transferType = endpoint.Type;
            bool directionIn = request.DirectionIn;
            if (urbLength < 0) urbLength = 0;
            bool iso = transferType == TransferType.Isochronous && type != UsbmonPacket.SubmissionError;
            int descriptors = iso ? IsoDescriptorsOf(request) : 0;
            int descriptorBytes = descriptors * UsbmonPacket.IsoDescriptorSize;

            // What mon_bin_event keeps: data goes with an OUT submission or an IN callback; an
            // isochronous IN callback keeps the buffer up to the end of its last non-empty packet.
            byte dataFlag;
            int captured = 0;
            if (type == UsbmonPacket.SubmissionError)
                dataFlag = UsbmonPacket.FlagError;
            else if (directionIn && type == UsbmonPacket.Submission)
                dataFlag = UsbmonPacket.FlagDataIncoming;
            else if (!directionIn && type == UsbmonPacket.Callback)
                dataFlag = UsbmonPacket.FlagDataOutgoing;
            else
            {
                dataFlag = UsbmonPacket.FlagPresent;
                captured = iso && type == UsbmonPacket.Callback ? CollatedIsoLength(request, descriptors) : urbLength;
                if (captured > request.Length) captured = request.Length;
                if (captured > MaxCapturedData) captured = MaxCapturedData;
                if (captured > 0 && (request.Buffer.IsNull || captured > (int)request.Buffer.Size))
                {
                    captured = 0;
                    dataFlag = (byte)'Z'; // no buffer to copy from (mon_bin_get_data)
                }
            }
            // The text format's length of an isochronous callback is the whole buffer's (mon_text.c:
            // "ISO 'C' is sparse"), which the binary header does not carry: it rides after the record.
            bool textLength = HasTextLength(transferType, type);
            bool hasSetup = transferType == TransferType.Control && type == UsbmonPacket.Submission &&
                            !request.Setup.IsNull && request.Setup.Size >= SetupPacket.Size;
            int interval = 0;
            if (type != UsbmonPacket.SubmissionError)
            {
                if (transferType == TransferType.Interrupt)
                    interval = LinuxInterval(device.Speed, transferType, request.Interval);
                else if (transferType == TransferType.Isochronous)
                    interval = request.Interval; // already (micro)frames, urb->interval
            }
            uint flags = type == UsbmonPacket.SubmissionError ? 0 : UsbmonPacket.TransferFlags(request.Flags, directionIn);
            byte endpointByte = (byte)(endpoint.Number | (directionIn ? UsbmonPacket.DirectionIn : 0));
            int recordBytes = UsbmonPacket.HeaderSize + descriptorBytes + captured;

            bool recorded = false;
            lock (_lock)
            {
                if (!Active || _ring == null)
                    return;
                if (request.MonitorTag == 0)
                    request.MonitorTag = ((ulong)(uint)Bus.Number << TagBusShift) | ++_nextTag;
                int offset = Allocate(Align(recordBytes + (textLength ? TextLengthSize : 0)));
                if (offset < 0)
                {
                    _dropped++;
                }
                else
                {
                    Span<byte> slot = new Span<byte>(_ring, offset, recordBytes + (textLength ? TextLengthSize : 0));
                    UsbmonPacket.WriteHeader(slot, request.MonitorTag, type, UsbmonPacket.PipeType(transferType), endpointByte,
                                             device.Address, (ushort)Bus.Number,
                                             hasSetup ? UsbmonPacket.FlagPresent : UsbmonPacket.FlagNoSetup, dataFlag, now,
                                             status, (uint)urbLength, (uint)(descriptorBytes + captured), interval, flags);
                    if (hasSetup)
                        request.Setup.AsSpan().Slice(0, SetupPacket.Size).CopyTo(slot.Slice(UsbmonPacket.OffsetSetup));
                    if (iso)
                        WriteIsoDescriptors(slot, request, type, descriptors);
                    if (captured > 0)
                        request.Buffer.AsSpan().Slice(0, captured).CopyTo(slot.Slice(UsbmonPacket.HeaderSize + descriptorBytes));
                    if (textLength)
                        Le.Put32(slot, recordBytes, (uint)(request.NumberOfPackets > 0 ? request.Length : urbLength));
                    _recorded++;
                    recorded = true;
                }
            }
            if (recorded)
                _arrived.Signal();
        }

        /// <summary>Descriptors recorded for an isochronous request: its packets, at most <see cref="UsbmonPacket.MaxIsoDescriptors"/>.</summary>
        static int IsoDescriptorsOf(UsbRequest request)
        {
            int count = request.NumberOfPackets;
            if (count <= 0 || request.IsoPackets == null)
                return 0;
            if (count > request.IsoPackets.Length) count = request.IsoPackets.Length;
            return count > UsbmonPacket.MaxIsoDescriptors ? UsbmonPacket.MaxIsoDescriptors : count;
        }

        /// <summary>The end of the last packet that received data (mon_bin_collate_isodesc): how much of an isochronous IN buffer is worth keeping.</summary>
        static int CollatedIsoLength(UsbRequest request, int descriptors)
        {
            int length = 0;
            for (int i = 0; i < descriptors; i++)
            {
                UsbIsoPacket packet = request.IsoPackets[i];
                if (packet.ActualLength != 0 && packet.Offset + packet.ActualLength > length)
                    length = packet.Offset + packet.ActualLength;
            }
            return length;
        }

        /// <summary>
        /// The isochronous header fields and descriptors (mon_bin_event, mon_bin_get_isodesc): a
        /// submission shows each packet's requested length and -EXDEV (what usb_submit_urb
        /// sets every packet's status to before usbmon sees it), a callback its actual length and result.
        /// </summary>
        static void WriteIsoDescriptors(Span<byte> slot, UsbRequest request, byte type, int descriptors)
        {
            bool submission = type == UsbmonPacket.Submission;
            UsbmonPacket.WriteIsoFields(slot, request.ErrorCount, request.NumberOfPackets, request.StartFrame, descriptors);
            for (int i = 0; i < descriptors; i++)
            {
                UsbIsoPacket packet = request.IsoPackets[i];
                UsbmonPacket.WriteIsoDescriptor(slot, i, submission ? -UsbErrno.EXDEV : UsbErrno.Of(packet.Status), packet.Offset,
                                                submission ? packet.Length : packet.ActualLength);
            }
        }

        /// <summary>True for the records that carry a text length after their bytes: isochronous callbacks.</summary>
        static bool HasTextLength(TransferType transferType, byte type) =>
            transferType == TransferType.Isochronous && type == UsbmonPacket.Callback;

        static bool HasTextLength(ReadOnlySpan<byte> header) =>
            UsbmonPacket.TransferTypeOf(header) == UsbmonPacket.PipeIsochronous && UsbmonPacket.Type(header) == UsbmonPacket.Callback;

        /// <summary>
        /// Reserves <paramref name="size"/> contiguous bytes (mon_buff_area_alloc_contiguous); -1
        /// when the ring is too full. Caller holds the lock.
        /// </summary>
        int Allocate(int size)
        {
            int capacity = _ring.Length;
            if (_used + size > capacity)
                return -1;
            if (_head + size > capacity)
            {
                // Would wrap: pad the end with a filler and start at 0, if that leaves room.
                int fill = capacity - _head;
                if (_used + size + fill > capacity)
                    return -1;
                Span<byte> filler = new Span<byte>(_ring, _head, UsbmonPacket.HeaderSize);
                filler.Clear();
                filler[UsbmonPacket.OffsetType] = FillerType;
                Le.Put32(filler, UsbmonPacket.OffsetCapturedLength, (uint)(fill - UsbmonPacket.HeaderSize));
                _used += fill;
                _head = 0;
            }
            int offset = _head;
            _head += size;
            if (_head == capacity)
                _head = 0;
            _used += size;
            return offset;
        }

        static int Align(int size) => (size + RecordAlignment - 1) & ~(RecordAlignment - 1);

        /// <summary>
        /// The URB interval Linux reports: in frames (low/full speed) or microframes (high and
        /// SuperSpeed), rounded down to a power of two (usb_fill_int_urb turns the exponent of
        /// high-speed bInterval into microframes; usb_submit_urb rounds and bounds it).
        /// </summary>
        public static int LinuxInterval(UsbSpeed speed, TransferType type, int bInterval)
        {
            if (bInterval <= 0)
                return 0;
            uint interval, max;
            if (speed == UsbSpeed.High || speed == UsbSpeed.Super || speed == UsbSpeed.SuperPlus)
            {
                int exponent = bInterval > MaxIntervalExponent ? MaxIntervalExponent : bInterval;
                interval = 1u << (exponent - 1);
                max = speed == UsbSpeed.High ? MaxIntervalHighSpeed : MaxIntervalSuperSpeed;
            }
            else
            {
                interval = (uint)bInterval;
                max = type == TransferType.Interrupt ? MaxIntervalFullSpeedInterrupt : MaxIntervalFullSpeedIsochronous;
            }
            uint power = 1;
            while ((power << 1) <= interval)
                power <<= 1;
            return (int)(power < max ? power : max);
        }
    }
}
