using System;

namespace Drivers.Usb.Storage
{
    /// <summary>Mass Storage Class constants (USB MSC Overview 1.4 2, BOT 1.0 3).</summary>
    public static class MassStorage
    {
        /// <summary>bInterfaceSubClass: SCSI transparent command set (MSC Overview 2).</summary>
        public const byte SubclassScsi = 0x06;
        /// <summary>bInterfaceProtocol: Bulk-Only Transport (MSC Overview 3).</summary>
        public const byte ProtocolBulkOnly = 0x50;
        /// <summary>Bulk-Only Mass Storage Reset (BOT 3.1): class, interface, OUT.</summary>
        public const byte RequestReset = 0xFF;
        /// <summary>Get Max LUN (BOT 3.2): class, interface, IN, one byte.</summary>
        public const byte RequestGetMaxLun = 0xFE;
        public const byte ClassInterfaceOut = 0x21;
        public const byte ClassInterfaceIn = 0xA1;
        /// <summary>Largest LUN a device may report (BOT 3.2: 0..15).</summary>
        public const int MaxLun = 15;
    }

    /// <summary>Command Block Wrapper (BOT 5.1): 31 bytes, little-endian.</summary>
    public static class CommandBlockWrapper
    {
        public const int Size = 31;
        public const uint Signature = 0x43425355; // "USBC"
        public const byte FlagDataIn = 0x80;
        public const int MaxCommandLength = 16;

        /// <summary>Writes dCBWSignature, dCBWTag, dCBWDataTransferLength, bmCBWFlags, bCBWLUN, bCBWCBLength, CBWCB.</summary>
        public static void Write(Span<byte> b, uint tag, uint dataLength, bool dataIn, byte lun, ReadOnlySpan<byte> command)
        {
            b.Slice(0, Size).Clear();
            Bytes.Le32(b, 0, Signature);
            Bytes.Le32(b, 4, tag);
            Bytes.Le32(b, 8, dataLength);
            b[12] = dataIn ? FlagDataIn : (byte)0;
            b[13] = (byte)(lun & 0x0F);
            int n = command.Length > MaxCommandLength ? MaxCommandLength : command.Length;
            b[14] = (byte)n;
            command.Slice(0, n).CopyTo(b.Slice(15));
        }
    }

    /// <summary>Command Status Wrapper (BOT 5.2): 13 bytes.</summary>
    public static class CommandStatusWrapper
    {
        public const int Size = 13;
        public const uint Signature = 0x53425355; // "USBS"
        public const byte StatusPassed = 0;
        public const byte StatusFailed = 1;
        public const byte StatusPhaseError = 2;

        public static uint ReadSignature(ReadOnlySpan<byte> b) => Bytes.ReadLe32(b, 0);
        public static uint ReadTag(ReadOnlySpan<byte> b) => Bytes.ReadLe32(b, 4);
        public static uint ReadResidue(ReadOnlySpan<byte> b) => Bytes.ReadLe32(b, 8);
        public static byte ReadStatus(ReadOnlySpan<byte> b) => b[12];
    }

    /// <summary>SCSI operation codes and sense keys (SPC-4, SBC-3).</summary>
    public static class Scsi
    {
        public const byte TestUnitReady = 0x00;
        public const byte RequestSense = 0x03;
        public const byte Inquiry = 0x12;
        public const byte ReadCapacity10 = 0x25;
        public const byte Read10 = 0x28;
        public const byte Write10 = 0x2A;

        public const int InquiryLength = 36;
        public const int SenseLength = 18;
        public const int ReadCapacityLength = 8;

        public const byte SenseNoSense = 0x0;
        public const byte SenseNotReady = 0x2;
        public const byte SenseMediumError = 0x3;
        public const byte SenseIllegalRequest = 0x5;
        public const byte SenseUnitAttention = 0x6;

        /// <summary>Peripheral device type names as Linux's scsi_device_type() prints them (padded to 16 by the caller).</summary>
        public static string DeviceTypeName(int type)
        {
            switch (type)
            {
                case 0x00: return "Direct-Access";
                case 0x01: return "Sequential-Access";
                case 0x05: return "CD-ROM";
                case 0x07: return "Optical Device";
                case 0x0E: return "RBC";
                default: return "Unknown";
            }
        }

        public static string SenseKeyName(int key)
        {
            switch (key)
            {
                case 0x0: return "No Sense";
                case 0x1: return "Recovered Error";
                case 0x2: return "Not Ready";
                case 0x3: return "Medium Error";
                case 0x4: return "Hardware Error";
                case 0x5: return "Illegal Request";
                case 0x6: return "Unit Attention";
                case 0x7: return "Data Protect";
                case 0xB: return "Aborted Command";
                default: return "Sense Key " + Platform.Format.Hex((ulong)key, 1);
            }
        }
    }

    /// <summary>Explicit byte order helpers (no BitConverter in the kernel's corlib).</summary>
    public static class Bytes
    {
        public static void Le32(Span<byte> b, int o, uint v)
        {
            b[o] = (byte)v; b[o + 1] = (byte)(v >> 8); b[o + 2] = (byte)(v >> 16); b[o + 3] = (byte)(v >> 24);
        }

        public static uint ReadLe32(ReadOnlySpan<byte> b, int o) =>
            (uint)(b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24));

        public static void Be32(Span<byte> b, int o, uint v)
        {
            b[o] = (byte)(v >> 24); b[o + 1] = (byte)(v >> 16); b[o + 2] = (byte)(v >> 8); b[o + 3] = (byte)v;
        }

        public static void Be16(Span<byte> b, int o, ushort v)
        {
            b[o] = (byte)(v >> 8); b[o + 1] = (byte)v;
        }

        public static uint ReadBe32(ReadOnlySpan<byte> b, int o) =>
            ((uint)b[o] << 24) | ((uint)b[o + 1] << 16) | ((uint)b[o + 2] << 8) | b[o + 3];

        public static ushort ReadBe16(ReadOnlySpan<byte> b, int o) => (ushort)((b[o] << 8) | b[o + 1]);
    }
}
