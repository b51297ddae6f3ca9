using System;
using Platform;

namespace Drivers.Usb.Storage
{
    /// <summary>
    /// USB Attached SCSI information units (UAS r04 / T10 UAS-2 6.2), encoded and checked here so the
    /// transport and the tests share one byte-exact definition. All multi-byte fields are big-endian.
    /// Every IU starts with the 4-byte header (6.2.1): IU ID, reserved, TAG.
    /// </summary>
    public static class Uas
    {
        /// <summary>bInterfaceProtocol of a UAS interface (MSC Overview 3, UAS 5.2.3).</summary>
        public const byte ProtocolUas = 0x62;
        /// <summary>bDescriptorType of the Pipe Usage class-specific endpoint descriptor (UAS 5.3.3.1).</summary>
        public const byte DescriptorPipeUsage = 0x24;
        public const int PipeUsageLength = 4;
        /// <summary>bPipeID values (UAS 5.3.3.1, table 9).</summary>
        public const byte PipeCommand = 1, PipeStatus = 2, PipeDataIn = 3, PipeDataOut = 4;

        // IU IDs (6.2.1, table 11).
        public const byte IuCommand = 0x01;
        public const byte IuSense = 0x03;
        public const byte IuResponse = 0x04;
        public const byte IuTaskManagement = 0x05;
        public const byte IuReadReady = 0x06;
        public const byte IuWriteReady = 0x07;

        public const int HeaderLength = 4;
        const int HeaderId = 0, HeaderTag = 2;

        // Command IU (6.2.2, table 12).
        public const int CommandIuLength = 32;
        const int CommandTaskAttribute = 4, CommandAdditionalCdbLength = 6, CommandLun = 8, CommandCdb = 16;
        public const int CommandCdbLength = 16;
        /// <summary>TASK ATTRIBUTE SIMPLE (SAM-4 8.6): an ordinary queued command.</summary>
        public const byte TaskAttributeSimple = 0;

        // Task Management IU (6.2.3, table 14).
        public const int TaskManagementIuLength = 16;
        const int TaskFunction = 4, TaskManagedTag = 6, TaskLun = 8;
        /// <summary>Task management functions (6.2.3, table 15).</summary>
        public const byte TmfAbortTask = 0x01, TmfAbortTaskSet = 0x02, TmfClearTaskSet = 0x04,
                          TmfLogicalUnitReset = 0x08, TmfItNexusReset = 0x10, TmfClearAca = 0x40, TmfQueryTask = 0x80;

        // Sense IU (6.2.5, table 17).
        /// <summary>The Sense IU up to its SENSE DATA field; a shorter one is malformed.</summary>
        public const int SenseIuHeaderLength = 16;
        const int SenseStatus = 6, SenseLengthField = 14;
        public const int SenseData = 16;
        /// <summary>Room for the Sense IU with up to 96 bytes of sense data (Linux SCSI_SENSE_BUFFERSIZE).</summary>
        public const int SenseIuMaxLength = SenseIuHeaderLength + 96;

        // Response IU (6.2.6, table 18/19).
        public const int ResponseIuLength = 8;
        const int ResponseCode = 7;
        public const byte ResponseTmfComplete = 0x00, ResponseInvalidIu = 0x02, ResponseTmfNotSupported = 0x04,
                          ResponseTmfFailed = 0x05, ResponseTmfSucceeded = 0x08, ResponseIncorrectLun = 0x09,
                          ResponseOverlappedTag = 0x0A;

        /// <summary>Status byte values of the Sense IU (SAM-4 5.3.1).</summary>
        public const byte StatusGood = 0x00, StatusCheckCondition = 0x02, StatusBusy = 0x08, StatusTaskSetFull = 0x28, StatusTaskAborted = 0x40;

        public static byte ReadId(ReadOnlySpan<byte> iu) => iu[HeaderId];
        public static ushort ReadTag(ReadOnlySpan<byte> iu) => (ushort)(iu[HeaderTag] << 8 | iu[HeaderTag + 1]);

        static void Header(Span<byte> b, byte id, ushort tag)
        {
            b[HeaderId] = id;
            b[1] = 0;
            b[HeaderTag] = (byte)(tag >> 8);
            b[HeaderTag + 1] = (byte)tag;
        }

        /// <summary>
        /// A LOGICAL UNIT NUMBER field (SAM-4 4.6.7): single-level, peripheral device addressing for
        /// LUNs below 256, flat space addressing above (Linux int_to_scsilun).
        /// </summary>
        public static void WriteLun(Span<byte> b, int offset, int lun)
        {
            for (int i = 0; i < 8; i++) b[offset + i] = 0;
            b[offset] = (byte)((lun >> 8) & 0x3F);
            b[offset + 1] = (byte)lun;
        }

        /// <summary>Command IU (6.2.2): SIMPLE task attribute, no additional CDB bytes, the CDB padded with zeros to 16 bytes. Returns its length.</summary>
        public static int WriteCommand(Span<byte> b, ushort tag, int lun, ReadOnlySpan<byte> cdb)
        {
            b.Slice(0, CommandIuLength).Clear();
            Header(b, IuCommand, tag);
            b[CommandTaskAttribute] = TaskAttributeSimple;
            b[CommandAdditionalCdbLength] = 0;
            WriteLun(b, CommandLun, lun);
            int n = cdb.Length > CommandCdbLength ? CommandCdbLength : cdb.Length;
            cdb.Slice(0, n).CopyTo(b.Slice(CommandCdb));
            return CommandIuLength;
        }

        /// <summary>Task Management IU (6.2.3). Returns its length.</summary>
        public static int WriteTaskManagement(Span<byte> b, ushort tag, byte function, ushort managedTag, int lun)
        {
            b.Slice(0, TaskManagementIuLength).Clear();
            Header(b, IuTaskManagement, tag);
            b[TaskFunction] = function;
            b[TaskManagedTag] = (byte)(managedTag >> 8);
            b[TaskManagedTag + 1] = (byte)managedTag;
            WriteLun(b, TaskLun, lun);
            return TaskManagementIuLength;
        }

        /// <summary>
        /// Checks an IU read from the status pipe: long enough for its kind (Sense IU 16 bytes plus the
        /// sense data it announces, Response IU 8, Read/Write Ready 4) and of a kind the status pipe
        /// carries. Returns null when well formed, else what is wrong (for the log).
        /// </summary>
        public static string CheckStatusIu(ReadOnlySpan<byte> iu)
        {
            if (iu.Length < HeaderLength)
                return "short IU (" + Format.Decimal((ulong)iu.Length) + " bytes)";
            switch (iu[HeaderId])
            {
                case IuSense:
                    if (iu.Length < SenseIuHeaderLength)
                        return "short Sense IU (" + Format.Decimal((ulong)iu.Length) + " bytes)";
                    return null;
                case IuResponse:
                    return iu.Length < ResponseIuLength ? "short Response IU (" + Format.Decimal((ulong)iu.Length) + " bytes)" : null;
                case IuReadReady:
                case IuWriteReady:
                    return null;
                default:
                    return "unknown IU ID 0x" + Format.Hex(iu[HeaderId], 2);
            }
        }

        public static byte ReadSenseStatus(ReadOnlySpan<byte> iu) => iu[SenseStatus];

        /// <summary>The sense data of a Sense IU: its LENGTH field, clipped to what arrived.</summary>
        public static ReadOnlySpan<byte> ReadSenseData(ReadOnlySpan<byte> iu)
        {
            int length = iu[SenseLengthField] << 8 | iu[SenseLengthField + 1];
            int available = iu.Length - SenseData;
            if (length > available) length = available;
            return iu.Slice(SenseData, length);
        }

        public static byte ReadResponseCode(ReadOnlySpan<byte> iu) => iu[ResponseCode];

        /// <summary>"TMF complete", "incorrect LUN"... for the log (UAS 6.2.6 table 19).</summary>
        public static string ResponseName(byte code)
        {
            switch (code)
            {
                case ResponseTmfComplete: return "TMF complete";
                case ResponseInvalidIu: return "invalid IU";
                case ResponseTmfNotSupported: return "TMF not supported";
                case ResponseTmfFailed: return "TMF failed";
                case ResponseTmfSucceeded: return "TMF succeeded";
                case ResponseIncorrectLun: return "incorrect LUN";
                case ResponseOverlappedTag: return "overlapped tag attempted";
                default: return "response code 0x" + Format.Hex(code, 2);
            }
        }

        /// <summary>
        /// The bPipeID of an endpoint: the Pipe Usage descriptor among the class-specific descriptors
        /// that follow its endpoint (and companion) descriptor; 0 when it has none.
        /// </summary>
        public static byte PipeId(byte[] extra)
        {
            int at = 0;
            while (extra != null && at + 2 <= extra.Length)
            {
                int length = extra[at];
                if (length < 2 || at + length > extra.Length)
                    return 0;
                if (extra[at + 1] == DescriptorPipeUsage && length >= PipeUsageLength)
                    return extra[at + 2];
                at += length;
            }
            return 0;
        }
    }
}
