using System;
using Drivers.Usb.Descriptors;

namespace Drivers.Usb.Usbmon
{
    /// <summary>
    /// The classic libpcap file format (pcap-savefile(5); IETF draft-ietf-opsawg-pcap) for usbmon
    /// events: a 24-byte file header naming LINKTYPE_USB_LINUX_MMAPPED, then per event a 16-byte
    /// record header and the event's 64-byte usbmon header plus its captured data
    /// (<see cref="UsbmonPacket"/>). Wireshark and tshark open it like a capture taken on Linux.
    /// </summary>
    public static class Pcap
    {
        public const int FileHeaderSize = 24;
        public const int RecordHeaderSize = 16;
        /// <summary>Magic for microsecond timestamps, written in host (little-endian) byte order.</summary>
        public const uint MagicMicroseconds = 0xA1B2C3D4;
        public const ushort VersionMajor = 2;
        public const ushort VersionMinor = 4;
        /// <summary>USB packets with Linux's 64-byte usbmon header (LINKTYPE_USB_LINUX_MMAPPED).</summary>
        public const uint LinkTypeUsbLinuxMmapped = 220;
        /// <summary>Largest record the file promises (libpcap's usual snapshot length).</summary>
        public const uint SnapshotLength = 262144;

        // File header offsets.
        const int OffsetMagic = 0, OffsetVersionMajor = 4, OffsetVersionMinor = 6, OffsetThisZone = 8, OffsetSigFigs = 12,
                  OffsetSnapLen = 16, OffsetLinkType = 20;
        // Record header offsets.
        const int OffsetTsSec = 0, OffsetTsUsec = 4, OffsetInclLen = 8, OffsetOrigLen = 12;

        /// <summary>Writes the 24-byte file header.</summary>
        public static void WriteFileHeader(Span<byte> o)
        {
            Le.Put32(o, OffsetMagic, MagicMicroseconds);
            Le.Put16(o, OffsetVersionMajor, VersionMajor);
            Le.Put16(o, OffsetVersionMinor, VersionMinor);
            Le.Put32(o, OffsetThisZone, 0);
            Le.Put32(o, OffsetSigFigs, 0);
            Le.Put32(o, OffsetSnapLen, SnapshotLength);
            Le.Put32(o, OffsetLinkType, LinkTypeUsbLinuxMmapped);
        }

        /// <summary>
        /// Writes the 16-byte record header for a usbmon event, with the lengths libpcap's Linux
        /// USB capture gives (pcap-usb-linux.c usb_read_linux_mmap): the captured length is the
        /// 64-byte header plus what follows it (isochronous descriptors and data); when data was
        /// captured the original length counts the whole transfer (header, descriptors, URB
        /// length) so a truncated transfer shows as such, except that an isochronous IN callback
        /// counts up to the end of its last non-empty packet (fix_linux_usb_mmapped_length);
        /// without data it equals the captured length.
        /// </summary>
        public static void WriteRecordHeader(Span<byte> o, ReadOnlySpan<byte> packet)
        {
            uint captured = (uint)UsbmonPacket.TotalLength(packet);
            uint original = captured;
            if (UsbmonPacket.DataFlag(packet) == UsbmonPacket.FlagPresent && UsbmonPacket.CapturedLength(packet) > 0)
            {
                uint descriptorBytes = (uint)(UsbmonPacket.DescriptorCount(packet) * UsbmonPacket.IsoDescriptorSize);
                original = (uint)UsbmonPacket.HeaderSize + descriptorBytes + (uint)UsbmonPacket.Length(packet);
                if (UsbmonPacket.TransferTypeOf(packet) == UsbmonPacket.PipeIsochronous && UsbmonPacket.Type(packet) == UsbmonPacket.Callback &&
                    UsbmonPacket.IsIn(packet))
                {
                    uint end = 0;
                    for (int i = 0; i < UsbmonPacket.DescriptorCount(packet); i++)
                    {
                        uint length = (uint)UsbmonPacket.IsoLength(packet, i);
                        if (length != 0 && (uint)UsbmonPacket.IsoOffset(packet, i) + length > end)
                            end = (uint)UsbmonPacket.IsoOffset(packet, i) + length;
                    }
                    uint beforeTruncation = (uint)UsbmonPacket.HeaderSize + descriptorBytes + end;
                    if (beforeTruncation >= captured)
                        original = beforeTruncation;
                }
                if (original < captured) original = captured;
            }
            Le.Put32(o, OffsetTsSec, (uint)UsbmonPacket.Seconds(packet));
            Le.Put32(o, OffsetTsUsec, (uint)UsbmonPacket.Microseconds(packet));
            Le.Put32(o, OffsetInclLen, captured);
            Le.Put32(o, OffsetOrigLen, original);
        }
    }
}
