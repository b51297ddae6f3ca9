using System;
using Drivers.Usb.Descriptors;

namespace Drivers.Usb.Usbmon
{
    /// <summary>
    /// One usbmon event in Linux's binary layout: the 64-byte header of struct usbmon_packet
    /// (Documentation/usb/usbmon.rst, "Raw binary format and API"; drivers/usb/mon/mon_bin.c
    /// struct mon_bin_hdr), followed by the captured data bytes. This is exactly what a pcap of
    /// LINKTYPE_USB_LINUX_MMAPPED (220) carries per packet, in the byte order of the host that
    /// wrote it (little-endian here). The ring buffer stores events in this form, the text
    /// format is rendered from it (<see cref="UsbmonText"/>) and pcap records copy it unchanged.
    /// </summary>
    public static class UsbmonPacket
    {
        /// <summary>Header size (PKT_SIZE / PKT_SZ_API1 in mon_bin.c).</summary>
        public const int HeaderSize = 64;

        // Field offsets of struct usbmon_packet.
        public const int OffsetId = 0;          // u64 URB tag, the same for S and C of one request
        public const int OffsetType = 8;        // 'S', 'C', 'E'
        public const int OffsetTransferType = 9;// pipe type: ISO 0, interrupt 1, control 2, bulk 3
        public const int OffsetEndpoint = 10;   // endpoint number | 0x80 for IN
        public const int OffsetDevice = 11;     // device address (devnum)
        public const int OffsetBus = 12;        // u16 bus number
        public const int OffsetSetupFlag = 14;  // 0: setup captured; '-': none for this event
        public const int OffsetDataFlag = 15;   // 0: data captured; '<', '>', 'E', ... otherwise
        public const int OffsetSeconds = 16;    // s64 timestamp seconds
        public const int OffsetMicroseconds = 24;// s32 timestamp microseconds
        public const int OffsetStatus = 28;     // s32 URB status (negative errno)
        public const int OffsetLength = 32;     // u32 length submitted (S) or actually transferred (C)
        public const int OffsetCapturedLength = 36; // u32 data bytes that follow the header
        public const int OffsetSetup = 40;      // 8 bytes: the SETUP packet of a control S event
        public const int OffsetErrorCount = 40; // s32 isochronous: packets that failed (union with setup)
        public const int OffsetNumberOfPackets = 44; // s32 isochronous: urb->number_of_packets (all of them)
        public const int OffsetInterval = 48;   // s32 polling interval (interrupt and isochronous)
        public const int OffsetStartFrame = 52; // s32 (isochronous)
        public const int OffsetTransferFlags = 56; // u32 URB transfer_flags
        public const int OffsetIsoDescriptors = 60;// u32 number of isochronous descriptors that follow

        // Event types (the 'type' byte; the same letters as the text format).
        public const byte Submission = (byte)'S';
        public const byte Callback = (byte)'C';
        public const byte SubmissionError = (byte)'E';

        // Pipe types of the binary API (mon_bin.c xfer_to_pipe[]: PIPE_ISOCHRONOUS .. PIPE_BULK).
        public const byte PipeIsochronous = 0;
        public const byte PipeInterrupt = 1;
        public const byte PipeControl = 2;
        public const byte PipeBulk = 3;

        /// <summary>Direction bit of the endpoint byte (USB_DIR_IN).</summary>
        public const byte DirectionIn = 0x80;
        const byte EndpointNumberMask = 0x7F;

        // Flag values.
        public const byte FlagPresent = 0;
        public const byte FlagNoSetup = (byte)'-';
        /// <summary>An IN request's submission carries no data (it has not arrived yet).</summary>
        public const byte FlagDataIncoming = (byte)'<';
        /// <summary>An OUT request's callback carries no data (it was sent with the submission).</summary>
        public const byte FlagDataOutgoing = (byte)'>';
        public const byte FlagError = (byte)'E';

        // URB transfer_flags as Linux defines them (include/linux/usb.h).
        public const uint UrbShortNotOk = 0x0001;
        public const uint UrbIsoAsap = 0x0002;
        public const uint UrbZeroPacket = 0x0040;
        public const uint UrbNoInterrupt = 0x0080;
        public const uint UrbDirIn = 0x0200;

        public const uint MicrosecondsPerSecond = 1000000;

        // Isochronous descriptors (mon_bin.c struct mon_bin_isodesc): they follow the header, before
        // the data, and count in the captured length.
        /// <summary>Size of one struct mon_bin_isodesc: iso_status s32, iso_off u32, iso_len u32, _pad u32.</summary>
        public const int IsoDescriptorSize = 16;
        /// <summary>At most this many descriptors are recorded per event (mon_bin.c ISODESC_MAX).</summary>
        public const int MaxIsoDescriptors = 128;
        const int IsoDescriptorStatus = 0, IsoDescriptorOffset = 4, IsoDescriptorLength = 8;

        /// <summary>The binary API's pipe type for an endpoint's transfer type.</summary>
        public static byte PipeType(TransferType type)
        {
            switch (type)
            {
                case TransferType.Isochronous: return PipeIsochronous;
                case TransferType.Interrupt: return PipeInterrupt;
                case TransferType.Control: return PipeControl;
                default: return PipeBulk;
            }
        }

        /// <summary>Linux's URB transfer_flags for a request's flags and direction.</summary>
        public static uint TransferFlags(int flags, bool directionIn)
        {
            uint result = directionIn ? UrbDirIn : 0;
            if ((flags & UsbRequestFlags.ShortNotOk) != 0) result |= UrbShortNotOk;
            if ((flags & UsbRequestFlags.ZeroPacket) != 0) result |= UrbZeroPacket;
            if ((flags & UsbRequestFlags.NoInterrupt) != 0) result |= UrbNoInterrupt;
            if ((flags & UsbRequestFlags.IsoAsap) != 0) result |= UrbIsoAsap;
            return result;
        }

        // ---- Field access ----------------------------------------------------------------------

        public static ulong Id(ReadOnlySpan<byte> p) => (ulong)Le.U32(p, OffsetId) | ((ulong)Le.U32(p, OffsetId + 4) << 32);
        public static byte Type(ReadOnlySpan<byte> p) => p[OffsetType];
        public static byte TransferTypeOf(ReadOnlySpan<byte> p) => p[OffsetTransferType];
        public static bool IsIn(ReadOnlySpan<byte> p) => (p[OffsetEndpoint] & DirectionIn) != 0;
        public static int EndpointNumber(ReadOnlySpan<byte> p) => p[OffsetEndpoint] & EndpointNumberMask;
        public static int Device(ReadOnlySpan<byte> p) => p[OffsetDevice];
        public static int Bus(ReadOnlySpan<byte> p) => Le.U16(p, OffsetBus);
        public static byte SetupFlag(ReadOnlySpan<byte> p) => p[OffsetSetupFlag];
        public static byte DataFlag(ReadOnlySpan<byte> p) => p[OffsetDataFlag];
        public static long Seconds(ReadOnlySpan<byte> p) => (long)((ulong)Le.U32(p, OffsetSeconds) | ((ulong)Le.U32(p, OffsetSeconds + 4) << 32));
        public static int Microseconds(ReadOnlySpan<byte> p) => (int)Le.U32(p, OffsetMicroseconds);
        public static int Status(ReadOnlySpan<byte> p) => (int)Le.U32(p, OffsetStatus);
        public static int Length(ReadOnlySpan<byte> p) => (int)Le.U32(p, OffsetLength);
        public static int CapturedLength(ReadOnlySpan<byte> p) => (int)Le.U32(p, OffsetCapturedLength);
        public static int Interval(ReadOnlySpan<byte> p) => (int)Le.U32(p, OffsetInterval);
        public static uint TransferFlagsOf(ReadOnlySpan<byte> p) => Le.U32(p, OffsetTransferFlags);

        public static int ErrorCount(ReadOnlySpan<byte> p) => (int)Le.U32(p, OffsetErrorCount);
        public static int NumberOfPackets(ReadOnlySpan<byte> p) => (int)Le.U32(p, OffsetNumberOfPackets);
        public static int StartFrame(ReadOnlySpan<byte> p) => (int)Le.U32(p, OffsetStartFrame);
        /// <summary>Isochronous descriptors that follow the header (ndesc; at most <see cref="MaxIsoDescriptors"/>).</summary>
        public static int DescriptorCount(ReadOnlySpan<byte> p) => (int)Le.U32(p, OffsetIsoDescriptors);
        /// <summary>Where the data bytes start: after the header and the isochronous descriptors.</summary>
        public static int DataOffset(ReadOnlySpan<byte> p) => HeaderSize + DescriptorCount(p) * IsoDescriptorSize;
        /// <summary>Data bytes captured (the captured length less the isochronous descriptors).</summary>
        public static int DataLength(ReadOnlySpan<byte> p) => CapturedLength(p) - DescriptorCount(p) * IsoDescriptorSize;
        public static int IsoStatus(ReadOnlySpan<byte> p, int index) => (int)Le.U32(p, HeaderSize + index * IsoDescriptorSize + IsoDescriptorStatus);
        public static int IsoOffset(ReadOnlySpan<byte> p, int index) => (int)Le.U32(p, HeaderSize + index * IsoDescriptorSize + IsoDescriptorOffset);
        public static int IsoLength(ReadOnlySpan<byte> p, int index) => (int)Le.U32(p, HeaderSize + index * IsoDescriptorSize + IsoDescriptorLength);

        /// <summary>
        /// The isochronous fields of the header (mon_bin_event: error_count and numdesc in the
        /// setup union, start_frame, ndesc); the caller fills the descriptors and counts them in
        /// the captured length.
        /// </summary>
        public static void WriteIsoFields(Span<byte> p, int errorCount, int numberOfPackets, int startFrame, int descriptors)
        {
            Le.Put32(p, OffsetErrorCount, (uint)errorCount);
            Le.Put32(p, OffsetNumberOfPackets, (uint)numberOfPackets);
            Le.Put32(p, OffsetStartFrame, (uint)startFrame);
            Le.Put32(p, OffsetIsoDescriptors, (uint)descriptors);
        }

        /// <summary>Writes descriptor <paramref name="index"/> (mon_bin_get_isodesc; _pad stays zero).</summary>
        public static void WriteIsoDescriptor(Span<byte> p, int index, int status, int offset, int length)
        {
            int at = HeaderSize + index * IsoDescriptorSize;
            Le.Put32(p, at + IsoDescriptorStatus, (uint)status);
            Le.Put32(p, at + IsoDescriptorOffset, (uint)offset);
            Le.Put32(p, at + IsoDescriptorLength, (uint)length);
            Le.Put32(p, at + IsoDescriptorLength + 4, 0);
        }

        /// <summary>Header plus captured data: the bytes one pcap record holds.</summary>
        public static int TotalLength(ReadOnlySpan<byte> p) => HeaderSize + CapturedLength(p);

        /// <summary>Writes a little-endian 64-bit value (the corlib has no BitConverter).</summary>
        public static void Put64(Span<byte> p, int offset, ulong value)
        {
            Le.Put32(p, offset, (uint)value);
            Le.Put32(p, offset + 4, (uint)(value >> 32));
        }

        /// <summary>
        /// Fills the 64-byte header (every byte: unused fields are zero, as mon_bin.c memsets them).
        /// <paramref name="timestampUs"/> becomes ts_sec/ts_usec.
        /// </summary>
        public static void WriteHeader(Span<byte> p, ulong id, byte type, byte pipeType, byte endpoint, byte device, ushort bus,
                                       byte setupFlag, byte dataFlag, ulong timestampUs, int status, uint length, uint capturedLength,
                                       int interval, uint transferFlags)
        {
            for (int i = 0; i < HeaderSize; i++)
                p[i] = 0;
            Put64(p, OffsetId, id);
            p[OffsetType] = type;
            p[OffsetTransferType] = pipeType;
            p[OffsetEndpoint] = endpoint;
            p[OffsetDevice] = device;
            Le.Put16(p, OffsetBus, bus);
            p[OffsetSetupFlag] = setupFlag;
            p[OffsetDataFlag] = dataFlag;
            Put64(p, OffsetSeconds, timestampUs / MicrosecondsPerSecond);
            Le.Put32(p, OffsetMicroseconds, (uint)(timestampUs % MicrosecondsPerSecond));
            Le.Put32(p, OffsetStatus, (uint)status);
            Le.Put32(p, OffsetLength, length);
            Le.Put32(p, OffsetCapturedLength, capturedLength);
            Le.Put32(p, OffsetInterval, (uint)interval);
            Le.Put32(p, OffsetTransferFlags, transferFlags);
        }
    }
}
