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

    /// <summary>SCSI operation codes, lengths, sense keys and additional sense codes (SPC-4, SBC-3).</summary>
    public static class Scsi
    {
        public const byte TestUnitReady = 0x00;
        public const byte RequestSense = 0x03;
        public const byte Inquiry = 0x12;
        public const byte ModeSense6 = 0x1A;
        public const byte ReadCapacity10 = 0x25;
        public const byte Read10 = 0x28;
        public const byte Write10 = 0x2A;
        public const byte SynchronizeCache10 = 0x35;
        public const byte Read16 = 0x88;
        public const byte Write16 = 0x8A;
        /// <summary>SERVICE ACTION IN(16) (SBC-3 5.16): with service action READ CAPACITY(16).</summary>
        public const byte ServiceActionIn16 = 0x9E;
        public const byte ServiceActionReadCapacity16 = 0x10;
        /// <summary>REPORT LUNS (SPC-4 6.33): 12-byte CDB, ALLOCATION LENGTH in bytes 6-9.</summary>
        public const byte ReportLuns = 0xA0;
        public const int ReportLunsCdbLength = 12;
        public const int ReportLunsAllocationOffset = 6;
        /// <summary>REPORT LUNS parameter data: LUN LIST LENGTH (4), reserved (4), then 8-byte LUNs (SPC-4 6.33.2).</summary>
        public const int ReportLunsHeaderLength = 8;
        public const int ReportLunsEntryLength = 8;

        public const int Cdb6Length = 6;
        public const int Cdb10Length = 10;
        public const int Cdb16Length = 16;

        public const int InquiryLength = 36;
        /// <summary>Allocation length of REQUEST SENSE: room for fixed format and a descriptor header with one descriptor.</summary>
        public const int SenseLength = 32;
        public const int ReadCapacityLength = 8;
        /// <summary>READ CAPACITY(16) parameter data we ask for (SBC-3 5.16.2: 32 bytes).</summary>
        public const int ReadCapacity16Length = 32;
        /// <summary>MODE SENSE(6) allocation length: the 4-byte header is all we read (SPC-4 7.5.5).</summary>
        public const int ModeSenseLength = 192;
        /// <summary>MODE SENSE(6) page code "return all pages" (SPC-4 7.5.1).</summary>
        public const byte ModePageAll = 0x3F;
        /// <summary>Mode parameter header(6) byte 2 (device-specific parameter), bit 7 = WP for direct-access devices (SBC-3 6.4.1).</summary>
        public const int ModeHeaderDeviceSpecific = 2;
        public const byte ModeWriteProtect = 0x80;

        /// <summary>SYNCHRONIZE CACHE on a full disk may take long (the device writes back its whole cache).</summary>
        public const uint SynchronizeTimeoutMs = 60000;

        // Sense keys (SPC-4 4.5.6, table 27).
        public const byte SenseNoSense = 0x0;
        public const byte SenseRecoveredError = 0x1;
        public const byte SenseNotReady = 0x2;
        public const byte SenseMediumError = 0x3;
        public const byte SenseHardwareError = 0x4;
        public const byte SenseIllegalRequest = 0x5;
        public const byte SenseUnitAttention = 0x6;
        public const byte SenseDataProtect = 0x7;
        public const byte SenseAbortedCommand = 0xB;

        // Additional sense codes (SPC-4 D.2) the driver acts upon.
        public const byte AscLogicalUnitNotReady = 0x04;
        public const byte AscInvalidOpcode = 0x20;
        public const byte AscLbaOutOfRange = 0x21;
        public const byte AscInvalidFieldInCdb = 0x24;
        public const byte AscLogicalUnitNotSupported = 0x25;
        public const byte AscWriteProtected = 0x27;
        public const byte AscMediumMayHaveChanged = 0x28;
        public const byte AscPowerOnReset = 0x29;
        public const byte AscParametersChanged = 0x2A;
        public const byte AscMediumNotPresent = 0x3A;
        /// <summary>ASCQ of "LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE / BECOMING READY" (04/00, 04/01).</summary>
        public const byte AscqBecomingReady = 0x01;
        public const byte AscqInitializingCommandRequired = 0x02;

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

        /// <summary>
        /// The text of an additional sense code and qualifier (SPC-4 D.2) for the codes a USB disk
        /// reports in practice, as Linux's scsi_sense_desc table words them; others print as hex.
        /// </summary>
        public static string AdditionalSenseName(byte asc, byte ascq)
        {
            switch (asc)
            {
                case 0x00: return ascq == 0 ? "No additional sense information" : Hex(asc, ascq);
                case AscLogicalUnitNotReady:
                    if (ascq == 0) return "Logical unit not ready, cause not reportable";
                    if (ascq == AscqBecomingReady) return "Logical unit is in process of becoming ready";
                    if (ascq == AscqInitializingCommandRequired) return "Logical unit not ready, initializing command required";
                    return "Logical unit not ready";
                case 0x11: return "Unrecovered read error";
                case AscInvalidOpcode: return "Invalid command operation code";
                case AscLbaOutOfRange: return "Logical block address out of range";
                case AscInvalidFieldInCdb: return "Invalid field in cdb";
                case AscLogicalUnitNotSupported: return "Logical unit not supported";
                case AscWriteProtected: return "Write protected";
                case AscMediumMayHaveChanged: return "Not ready to ready change, medium may have changed";
                case AscPowerOnReset: return "Power on, reset, or bus device reset occurred";
                case AscParametersChanged: return "Parameters changed";
                case AscMediumNotPresent: return "Medium not present";
                default: return Hex(asc, ascq);
            }
        }

        static string Hex(byte asc, byte ascq) =>
            "ASC=0x" + Platform.Format.Hex(asc, 2) + " ASCQ=0x" + Platform.Format.Hex(ascq, 2);

        /// <summary>
        /// The highest LUN of REPORT LUNS parameter data (SPC-4 6.33.2) that uses peripheral device
        /// addressing, capped at <paramref name="cap"/>; 0 when the list is empty or malformed.
        /// </summary>
        public static int ParseReportLunsMax(ReadOnlySpan<byte> data, int cap)
        {
            if (data.Length < ReportLunsHeaderLength)
                return 0;
            uint listLength = Bytes.ReadBe32(data, 0);
            int max = 0;
            for (uint at = ReportLunsHeaderLength; at + ReportLunsEntryLength <= (uint)data.Length && at - ReportLunsHeaderLength + ReportLunsEntryLength <= listLength; at += ReportLunsEntryLength)
            {
                if (data[(int)at] != 0)
                    continue;   // byte 0 = address method (bits 7-6) and bus (SAM-4 4.6.6): only peripheral addressing on bus 0 is a plain LUN
                int lun = data[(int)at + 1];
                if (lun > max && lun <= cap)
                    max = lun;
            }
            return max;
        }

        /// <summary>
        /// Builds READ or WRITE (10) or (16) (SBC-3 5.11, 5.12, 5.32, 5.33) into <paramref name="cdb"/>
        /// (at least 16 bytes): the 16-byte form when <paramref name="use16"/>, which the caller chooses
        /// when the disk has more blocks than 32 bits address (Linux sd: use_16_for_rw). Returns the CDB
        /// length, or 0 when the LBA or count does not fit the chosen form.
        /// </summary>
        public static int BuildReadWrite(System.Span<byte> cdb, bool write, ulong lba, uint blocks, bool use16)
        {
            if (cdb.Length < Cdb16Length)
                return 0;
            cdb.Slice(0, Cdb16Length).Clear();
            if (use16)
            {
                cdb[0] = write ? Write16 : Read16;
                Bytes.Be64(cdb, 2, lba);
                Bytes.Be32(cdb, 10, blocks);
                return Cdb16Length;
            }
            if (lba > uint.MaxValue || blocks > ushort.MaxValue)
                return 0;
            cdb[0] = write ? Write10 : Read10;
            Bytes.Be32(cdb, 2, (uint)lba);
            Bytes.Be16(cdb, 7, (ushort)blocks);
            return Cdb10Length;
        }
    }

    /// <summary>What the driver does about a CHECK CONDITION, decided from the sense data.</summary>
    public enum SenseAction
    {
        /// <summary>No sense, or recovered error: the command may be repeated.</summary>
        Retry,
        /// <summary>Unit attention (power on, reset, medium changed): repeat; the medium may have to be re-read.</summary>
        UnitAttention,
        /// <summary>Not ready but becoming ready: wait, then repeat.</summary>
        WaitAndRetry,
        /// <summary>Not ready, medium not present (a card reader without a card, an ejected disk).</summary>
        NoMedium,
        /// <summary>Data protect / write protected.</summary>
        WriteProtected,
        /// <summary>Anything else (illegal request, medium or hardware error, ...): fail the command.</summary>
        Fail,
    }

    /// <summary>
    /// Sense data (SPC-4 4.5): fixed format (response code 70h/71h: key in byte 2, ASC/ASCQ in 12/13)
    /// or descriptor format (72h/73h: key, ASC, ASCQ in bytes 1..3). Parsed from what the device
    /// actually sent; anything shorter or unknown decodes as "no sense".
    /// </summary>
    public struct SenseData
    {
        public const byte ResponseFixedCurrent = 0x70;
        public const byte ResponseFixedDeferred = 0x71;
        public const byte ResponseDescriptorCurrent = 0x72;
        public const byte ResponseDescriptorDeferred = 0x73;
        const byte ResponseCodeMask = 0x7F;
        const byte SenseKeyMask = 0x0F;
        const int FixedKey = 2, FixedAsc = 12, FixedAscq = 13;
        const int DescriptorKey = 1, DescriptorAsc = 2, DescriptorAscq = 3;

        public byte ResponseCode;
        public byte Key;
        public byte Asc;
        public byte Ascq;
        /// <summary>Whether the data had a response code this parser knows (else Key/ASC/ASCQ are 0).</summary>
        public bool Valid;

        public static SenseData Parse(System.ReadOnlySpan<byte> data)
        {
            var sense = new SenseData();
            if (data.Length < 1)
                return sense;
            byte code = (byte)(data[0] & ResponseCodeMask);
            sense.ResponseCode = code;
            if (code == ResponseFixedCurrent || code == ResponseFixedDeferred)
            {
                if (data.Length <= FixedKey)
                    return sense;
                sense.Valid = true;
                sense.Key = (byte)(data[FixedKey] & SenseKeyMask);
                sense.Asc = data.Length > FixedAsc ? data[FixedAsc] : (byte)0;
                sense.Ascq = data.Length > FixedAscq ? data[FixedAscq] : (byte)0;
            }
            else if (code == ResponseDescriptorCurrent || code == ResponseDescriptorDeferred)
            {
                if (data.Length <= DescriptorKey)
                    return sense;
                sense.Valid = true;
                sense.Key = (byte)(data[DescriptorKey] & SenseKeyMask);
                sense.Asc = data.Length > DescriptorAsc ? data[DescriptorAsc] : (byte)0;
                sense.Ascq = data.Length > DescriptorAscq ? data[DescriptorAscq] : (byte)0;
            }
            return sense;
        }

        /// <summary>The driver's reaction (Linux scsi_check_sense, simplified to what a disk needs).</summary>
        public SenseAction Action
        {
            get
            {
                switch (Key)
                {
                    case Scsi.SenseNoSense:
                    case Scsi.SenseRecoveredError:
                        return SenseAction.Retry;
                    case Scsi.SenseUnitAttention:
                        return SenseAction.UnitAttention;
                    case Scsi.SenseNotReady:
                        if (Asc == Scsi.AscMediumNotPresent) return SenseAction.NoMedium;
                        if (Asc == Scsi.AscLogicalUnitNotReady && (Ascq == 0 || Ascq == Scsi.AscqBecomingReady))
                            return SenseAction.WaitAndRetry;
                        return SenseAction.Fail;
                    case Scsi.SenseDataProtect:
                        return SenseAction.WriteProtected;
                    default:
                        return Asc == Scsi.AscWriteProtected ? SenseAction.WriteProtected : SenseAction.Fail;
                }
            }
        }

        /// <summary>"Not Ready: Medium not present" (Linux: "Sense Key : Not Ready", "Add. Sense: Medium not present").</summary>
        public string Describe() => Scsi.SenseKeyName(Key) + ": " + Scsi.AdditionalSenseName(Asc, Ascq);
    }

    /// <summary>READ CAPACITY (10) and (16) parameter data (SBC-3 5.15.2, 5.16.2).</summary>
    public static class ReadCapacityData
    {
        /// <summary>READ CAPACITY(10)'s RETURNED LOGICAL BLOCK ADDRESS when the disk needs READ CAPACITY(16).</summary>
        public const uint LastLbaTooBig = 0xFFFFFFFF;

        /// <summary>READ CAPACITY(10): last LBA and block length; false when fewer than 8 bytes came.</summary>
        public static bool Parse10(System.ReadOnlySpan<byte> d, out ulong lastLba, out uint blockSize)
        {
            lastLba = 0;
            blockSize = 0;
            if (d.Length < Scsi.ReadCapacityLength)
                return false;
            lastLba = Bytes.ReadBe32(d, 0);
            blockSize = Bytes.ReadBe32(d, 4);
            return true;
        }

        /// <summary>READ CAPACITY(16): 64-bit last LBA and block length (the first 12 bytes are what we need).</summary>
        public static bool Parse16(System.ReadOnlySpan<byte> d, out ulong lastLba, out uint blockSize)
        {
            lastLba = 0;
            blockSize = 0;
            if (d.Length < 12)
                return false;
            lastLba = Bytes.ReadBe64(d, 0);
            blockSize = Bytes.ReadBe32(d, 8);
            return true;
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

        public static void Be64(Span<byte> b, int o, ulong v)
        {
            Be32(b, o, (uint)(v >> 32));
            Be32(b, o + 4, (uint)v);
        }

        public static ulong ReadBe64(ReadOnlySpan<byte> b, int o) => ((ulong)ReadBe32(b, o) << 32) | ReadBe32(b, o + 4);

        public static ulong ReadLe64(ReadOnlySpan<byte> b, int o) => ((ulong)ReadLe32(b, o + 4) << 32) | ReadLe32(b, o);

        public static ushort ReadLe16(ReadOnlySpan<byte> b, int o) => (ushort)(b[o] | (b[o + 1] << 8));
    }
}
