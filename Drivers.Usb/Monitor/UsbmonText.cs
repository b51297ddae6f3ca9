using System;
using System.Text;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Usbmon
{
    /// <summary>
    /// Linux's usbmon text format, the "1u" flavour (Documentation/usb/usbmon.rst, "Data Format";
    /// drivers/usb/mon/mon_text.c mon_text_read_u), rendered from a binary event
    /// (<see cref="UsbmonPacket"/>). One line per event:
    /// <c>tag timestamp type address status-or-setup length [data]</c>, e.g.
    /// <c>d5ea89a0 3575914555 S Ci:1:001:0 s a3 00 0000 0003 0004 4 &lt;</c>.
    /// </summary>
    public static class UsbmonText
    {
        /// <summary>At most this many data bytes are shown (mon_text.c DATA_MAX).</summary>
        public const int MaxDataBytes = 32;
        /// <summary>The text timestamp keeps seconds modulo 4096 so microseconds fit 32 bits (mon_get_timestamp).</summary>
        const ulong TimestampSecondsMask = 0xFFF;
        const int BytesPerWord = 4;

        /// <summary>At most this many isochronous descriptors are shown (mon_text.c ISODESC_MAX).</summary>
        public const int MaxIsoDescriptors = 5;

        /// <summary>The event as one line of "usbmon 1u" output, without the line end.</summary>
        public static string Format(ReadOnlySpan<byte> packet, int textLength = -1)
        {
            var sb = new StringBuilder();
            Append(sb, packet, textLength);
            return sb.ToString();
        }

        /// <summary>The 32-bit microsecond timestamp of the text format for a time in microseconds.</summary>
        public static uint Timestamp(long seconds, int microseconds) =>
            (uint)(((ulong)seconds & TimestampSecondsMask) * UsbmonPacket.MicrosecondsPerSecond + (ulong)(uint)microseconds);

        /// <summary>
        /// Appends the event's line. <paramref name="textLength"/> is the length mon_text prints
        /// when it differs from the binary header's (an isochronous callback shows its whole
        /// buffer's length: <see cref="UsbMonitor.Read(Span{byte}, out int)"/>); -1 for the header's.
        /// </summary>
        public static void Append(StringBuilder sb, ReadOnlySpan<byte> p, int textLength = -1)
        {
            byte type = UsbmonPacket.Type(p);
            byte pipe = UsbmonPacket.TransferTypeOf(p);

            // Head (mon_text_read_head_u): "%lx %u %c %c%c:%d:%03u:%u".
            sb.Append(Platform.Format.Hex(UsbmonPacket.Id(p)));
            sb.Append(' ');
            sb.Append(Platform.Format.Decimal((ulong)Timestamp(UsbmonPacket.Seconds(p), UsbmonPacket.Microseconds(p))));
            sb.Append(' ');
            sb.Append((char)type);
            sb.Append(' ');
            sb.Append(TypeLetter(pipe));
            sb.Append(UsbmonPacket.IsIn(p) ? 'i' : 'o');
            sb.Append(':');
            sb.Append(Platform.Format.Decimal((ulong)UsbmonPacket.Bus(p)));
            sb.Append(':');
            sb.Append(Platform.Format.PadLeft(Platform.Format.Decimal((ulong)UsbmonPacket.Device(p)), 3, '0'));
            sb.Append(':');
            sb.Append(Platform.Format.Decimal((ulong)UsbmonPacket.EndpointNumber(p)));

            // Status word, or the setup packet of a control submission.
            int status = UsbmonPacket.Status(p);
            if (type != UsbmonPacket.SubmissionError && pipe == UsbmonPacket.PipeIsochronous)
            {
                AppendIso(sb, p, type, status);
            }
            else if (type != UsbmonPacket.SubmissionError && pipe == UsbmonPacket.PipeInterrupt)
            {
                // mon_text_read_intstat: " %d:%d".
                sb.Append(' ');
                sb.Append(Platform.Format.Decimal((long)status));
                sb.Append(':');
                sb.Append(Platform.Format.Decimal((long)UsbmonPacket.Interval(p)));
            }
            else if (UsbmonPacket.SetupFlag(p) == UsbmonPacket.FlagPresent)
            {
                // mon_text_read_statset: " s %02x %02x %04x %04x %04x".
                sb.Append(" s ");
                sb.Append(Platform.Format.Hex(p[UsbmonPacket.OffsetSetup], 2));
                sb.Append(' ');
                sb.Append(Platform.Format.Hex(p[UsbmonPacket.OffsetSetup + 1], 2));
                for (int field = 2; field < SetupPacket.Size; field += 2)
                {
                    sb.Append(' ');
                    sb.Append(Platform.Format.Hex(Le.U16(p, UsbmonPacket.OffsetSetup + field), 4));
                }
            }
            else if (UsbmonPacket.SetupFlag(p) != UsbmonPacket.FlagNoSetup)
            {
                // A setup packet that exists but was not captured.
                sb.Append(' ');
                sb.Append((char)UsbmonPacket.SetupFlag(p));
                sb.Append(" __ __ ____ ____ ____");
            }
            else
            {
                sb.Append(' ');
                sb.Append(Platform.Format.Decimal((long)status));
            }

            // Length: requested for S, actual for C, 0 for E (mon_text_error).
            int length = type == UsbmonPacket.SubmissionError ? 0 : textLength >= 0 ? textLength : UsbmonPacket.Length(p);
            sb.Append(' ');
            sb.Append(Platform.Format.Decimal((long)length));
            if (length <= 0)
                return;

            // Data (mon_text_read_data): " =" and big-endian words of up to 4 bytes, or the data tag.
            byte dataFlag = TextDataFlag(p, type, length);
            if (dataFlag != UsbmonPacket.FlagPresent)
            {
                sb.Append(' ');
                sb.Append((char)dataFlag);
                return;
            }
            int shown = length;
            if (shown > MaxDataBytes) shown = MaxDataBytes;
            int captured = UsbmonPacket.DataLength(p);
            if (shown > captured) shown = captured;
            int data = UsbmonPacket.DataOffset(p);
            sb.Append(" =");
            for (int i = 0; i < shown; i++)
            {
                if (i % BytesPerWord == 0)
                    sb.Append(' ');
                sb.Append(Platform.Format.Hex(p[data + i], 2));
            }
        }

        /// <summary>
        /// Isochronous status words and descriptors (mon_text_read_isostat, mon_text_read_isodesc):
        /// " status:interval:start_frame" (":error_count" too on a callback), the number of packets,
        /// then " status:offset:length" for each of the first five.
        /// </summary>
        static void AppendIso(StringBuilder sb, ReadOnlySpan<byte> p, byte type, int status)
        {
            sb.Append(' ');
            sb.Append(Platform.Format.Decimal((long)status));
            sb.Append(':');
            sb.Append(Platform.Format.Decimal((long)UsbmonPacket.Interval(p)));
            sb.Append(':');
            sb.Append(Platform.Format.Decimal((long)UsbmonPacket.StartFrame(p)));
            if (type != UsbmonPacket.Submission)
            {
                sb.Append(':');
                sb.Append(Platform.Format.Decimal((long)UsbmonPacket.ErrorCount(p)));
            }
            int packets = UsbmonPacket.NumberOfPackets(p);
            sb.Append(' ');
            sb.Append(Platform.Format.Decimal((long)packets));
            int shown = packets;
            if (shown > MaxIsoDescriptors) shown = MaxIsoDescriptors;
            if (shown > UsbmonPacket.DescriptorCount(p)) shown = UsbmonPacket.DescriptorCount(p);
            for (int i = 0; i < shown; i++)
            {
                sb.Append(' ');
                sb.Append(Platform.Format.Decimal((long)UsbmonPacket.IsoStatus(p, i)));
                sb.Append(':');
                sb.Append(Platform.Format.Decimal((ulong)(uint)UsbmonPacket.IsoOffset(p, i)));
                sb.Append(':');
                sb.Append(Platform.Format.Decimal((ulong)(uint)UsbmonPacket.IsoLength(p, i)));
            }
        }

        /// <summary>
        /// The text reader's data tag (mon_text_get_data): '&lt;' for an IN submission, '&gt;' for
        /// an OUT callback, 0 when data was captured; the binary flag otherwise (e.g. 'Z').
        /// </summary>
        static byte TextDataFlag(ReadOnlySpan<byte> p, byte type, int length)
        {
            if (UsbmonPacket.IsIn(p))
            {
                if (type != UsbmonPacket.Callback)
                    return UsbmonPacket.FlagDataIncoming;
            }
            else if (type != UsbmonPacket.Submission)
            {
                return UsbmonPacket.FlagDataOutgoing;
            }
            return UsbmonPacket.DataFlag(p);
        }

        /// <summary>URB type letter of the address word: Z isochronous, I interrupt, C control, B bulk.</summary>
        public static char TypeLetter(byte pipeType)
        {
            switch (pipeType)
            {
                case UsbmonPacket.PipeIsochronous: return 'Z';
                case UsbmonPacket.PipeInterrupt: return 'I';
                case UsbmonPacket.PipeControl: return 'C';
                default: return 'B';
            }
        }
    }
}
