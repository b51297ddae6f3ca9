using System;
using Drivers.Usb;

namespace UsbIp
{
    /// <summary>
    /// Constants of the USB/IP protocol (Linux Documentation/usb/usbip_protocol.rst, version 1.1.1;
    /// tools/usb/usbip/src/usbip_network.h for the operation codes and statuses,
    /// include/uapi/linux/usbip.h for the URB flags). Every field on the wire is big-endian.
    /// </summary>
    public static class UsbIpProtocol
    {
        /// <summary>TCP port usbipd listens on.</summary>
        public const int Port = 3240;
        /// <summary>Protocol version 1.1.1 as it appears in operation headers.</summary>
        public const ushort Version = 0x0111;

        // ---- Operations (before the URB phase; usbip_network.h) ------------------------------

        public const ushort OpRequest = 0x8000;
        public const ushort OpDevList = 0x0005;
        public const ushort OpImport = 0x0003;
        public const ushort OpReqDevList = OpRequest | OpDevList;
        public const ushort OpRepDevList = OpDevList;
        public const ushort OpReqImport = OpRequest | OpImport;
        public const ushort OpRepImport = OpImport;

        /// <summary>Operation reply statuses (usbip_common.h ST_*).</summary>
        public const uint StatusOk = 0x00;
        /// <summary>Device requested for import is not available.</summary>
        public const uint StatusNotAvailable = 0x01;
        /// <summary>Device requested for import is in use (SDEV_ST_USED).</summary>
        public const uint StatusDeviceBusy = 0x02;
        /// <summary>Device requested for import is in error state (SDEV_ST_ERROR).</summary>
        public const uint StatusDeviceError = 0x03;
        /// <summary>No exported device with that bus id.</summary>
        public const uint StatusNoDevice = 0x04;
        public const uint StatusError = 0x05;

        // ---- URB phase commands ---------------------------------------------------------------

        public const uint CmdSubmit = 0x00000001;
        public const uint CmdUnlink = 0x00000002;
        public const uint RetSubmit = 0x00000003;
        public const uint RetUnlink = 0x00000004;

        public const uint DirOut = 0;
        public const uint DirIn = 1;

        /// <summary>number_of_packets of a transfer that is not isochronous.</summary>
        public const uint NotIsochronous = 0xFFFFFFFF;
        /// <summary>Most isochronous packets in one request (Linux USBIP_MAX_ISO_PACKETS).</summary>
        public const int MaxIsoPackets = 1024;
        /// <summary>Highest endpoint number (USB 2.0 9.6.6).</summary>
        public const uint MaxEndpointNumber = 15;

        // ---- transfer_flags (include/uapi/linux/usbip.h USBIP_URB_*) --------------------------

        public const uint UrbShortNotOk = 0x0001;
        public const uint UrbIsoAsap = 0x0002;
        public const uint UrbNoTransferDmaMap = 0x0004;
        public const uint UrbZeroPacket = 0x0040;
        public const uint UrbNoInterrupt = 0x0080;
        public const uint UrbFreeBuffer = 0x0100;
        public const uint UrbDirIn = 0x0200;
        public const uint UrbDmaMapSg = 0x00040000;

        // ---- Sizes -----------------------------------------------------------------------------

        /// <summary>busid field: a NUL-terminated string in 32 bytes (SYSFS_BUS_ID_SIZE).</summary>
        public const int BusIdSize = 32;
        /// <summary>path field: a NUL-terminated string in 256 bytes (SYSFS_PATH_MAX).</summary>
        public const int PathSize = 256;

        /// <summary>Linux enum usb_device_speed, the speed field of the device record.</summary>
        public const uint SpeedUnknown = 0;
        public const uint SpeedLow = 1;
        public const uint SpeedFull = 2;
        public const uint SpeedHigh = 3;
        public const uint SpeedWireless = 4;
        public const uint SpeedSuper = 5;
        public const uint SpeedSuperPlus = 6;

        public static uint SpeedCode(UsbSpeed speed)
        {
            switch (speed)
            {
                case UsbSpeed.Low: return SpeedLow;
                case UsbSpeed.Full: return SpeedFull;
                case UsbSpeed.High: return SpeedHigh;
                case UsbSpeed.Super: return SpeedSuper;
                case UsbSpeed.SuperPlus: return SpeedSuperPlus;
                default: return SpeedUnknown;
            }
        }

        /// <summary>The devid a client puts in every URB header: (busnum &lt;&lt; 16) | devnum.</summary>
        public static uint DevId(uint busNumber, uint deviceNumber) => (busNumber << 16) | (deviceNumber & 0xFFFF);
    }

    /// <summary>Big-endian (network order) field access with bounds checked by the span.</summary>
    public static class BigEndian
    {
        public static ushort U16(ReadOnlySpan<byte> b, int offset) => (ushort)((b[offset] << 8) | b[offset + 1]);

        public static uint U32(ReadOnlySpan<byte> b, int offset) =>
            ((uint)b[offset] << 24) | ((uint)b[offset + 1] << 16) | ((uint)b[offset + 2] << 8) | b[offset + 3];

        public static void Put16(Span<byte> b, int offset, ushort value)
        {
            b[offset] = (byte)(value >> 8);
            b[offset + 1] = (byte)value;
        }

        public static void Put32(Span<byte> b, int offset, uint value)
        {
            b[offset] = (byte)(value >> 24);
            b[offset + 1] = (byte)(value >> 16);
            b[offset + 2] = (byte)(value >> 8);
            b[offset + 3] = (byte)value;
        }

        /// <summary>A NUL-terminated ASCII string in a fixed field; null when it has no NUL or a byte outside printable ASCII.</summary>
        public static string FixedString(ReadOnlySpan<byte> field)
        {
            int length = -1;
            for (int i = 0; i < field.Length; i++)
            {
                if (field[i] == 0)
                {
                    length = i;
                    break;
                }
                if (field[i] < 0x20 || field[i] > 0x7E)
                    return null;
            }
            if (length < 0)
                return null;
            char[] chars = new char[length];
            for (int i = 0; i < length; i++)
                chars[i] = (char)field[i];
            return new string(chars, 0, length);
        }

        /// <summary>Writes an ASCII string into a fixed field, NUL-padded; cut so that at least one NUL remains.</summary>
        public static void PutFixedString(Span<byte> field, string text)
        {
            for (int i = 0; i < field.Length; i++)
                field[i] = 0;
            if (text == null)
                return;
            int n = text.Length < field.Length - 1 ? text.Length : field.Length - 1;
            for (int i = 0; i < n; i++)
                field[i] = text[i] < 0x80 ? (byte)text[i] : (byte)'?';
        }
    }

    /// <summary>
    /// The 8-byte header of every operation (OP_REQ_* / OP_REP_*): version, code, status
    /// (usbip_protocol.rst "OP_REQ_DEVLIST"; usbip_network.h struct op_common).
    /// </summary>
    public struct OpHeader
    {
        public const int Size = 8;
        const int OffsetVersion = 0;
        const int OffsetCode = 2;
        const int OffsetStatus = 4;

        public ushort Version;
        public ushort Code;
        public uint Status;

        public OpHeader(ushort code, uint status)
        {
            Version = UsbIpProtocol.Version;
            Code = code;
            Status = status;
        }

        public static OpHeader Parse(ReadOnlySpan<byte> b) => new OpHeader
        {
            Version = BigEndian.U16(b, OffsetVersion),
            Code = BigEndian.U16(b, OffsetCode),
            Status = BigEndian.U32(b, OffsetStatus),
        };

        public void Write(Span<byte> b)
        {
            BigEndian.Put16(b, OffsetVersion, Version);
            BigEndian.Put16(b, OffsetCode, Code);
            BigEndian.Put32(b, OffsetStatus, Status);
        }
    }

    /// <summary>
    /// An exported device as OP_REP_DEVLIST and OP_REP_IMPORT describe it: 312 bytes
    /// (usbip_protocol.rst, struct usbip_usb_device). OP_REP_DEVLIST follows it with
    /// bNumInterfaces 4-byte interface records; OP_REP_IMPORT does not.
    /// </summary>
    public struct UsbIpDeviceRecord
    {
        public const int Size = 0x138;
        const int OffsetPath = 0;
        const int OffsetBusId = 0x100;
        const int OffsetBusNum = 0x120;
        const int OffsetDevNum = 0x124;
        const int OffsetSpeed = 0x128;
        const int OffsetIdVendor = 0x12C;
        const int OffsetIdProduct = 0x12E;
        const int OffsetBcdDevice = 0x130;
        const int OffsetDeviceClass = 0x132;
        const int OffsetDeviceSubClass = 0x133;
        const int OffsetDeviceProtocol = 0x134;
        const int OffsetConfigurationValue = 0x135;
        const int OffsetNumConfigurations = 0x136;
        const int OffsetNumInterfaces = 0x137;

        public string Path;
        public string BusId;
        public uint BusNum;
        public uint DevNum;
        public uint Speed;
        public ushort idVendor;
        public ushort idProduct;
        public ushort bcdDevice;
        public byte bDeviceClass;
        public byte bDeviceSubClass;
        public byte bDeviceProtocol;
        public byte bConfigurationValue;
        public byte bNumConfigurations;
        public byte bNumInterfaces;

        public void Write(Span<byte> b)
        {
            BigEndian.PutFixedString(b.Slice(OffsetPath, UsbIpProtocol.PathSize), Path);
            BigEndian.PutFixedString(b.Slice(OffsetBusId, UsbIpProtocol.BusIdSize), BusId);
            BigEndian.Put32(b, OffsetBusNum, BusNum);
            BigEndian.Put32(b, OffsetDevNum, DevNum);
            BigEndian.Put32(b, OffsetSpeed, Speed);
            BigEndian.Put16(b, OffsetIdVendor, idVendor);
            BigEndian.Put16(b, OffsetIdProduct, idProduct);
            BigEndian.Put16(b, OffsetBcdDevice, bcdDevice);
            b[OffsetDeviceClass] = bDeviceClass;
            b[OffsetDeviceSubClass] = bDeviceSubClass;
            b[OffsetDeviceProtocol] = bDeviceProtocol;
            b[OffsetConfigurationValue] = bConfigurationValue;
            b[OffsetNumConfigurations] = bNumConfigurations;
            b[OffsetNumInterfaces] = bNumInterfaces;
        }

        /// <summary>Reads a record (what a client does); strings are null when unterminated.</summary>
        public static UsbIpDeviceRecord Parse(ReadOnlySpan<byte> b) => new UsbIpDeviceRecord
        {
            Path = BigEndian.FixedString(b.Slice(OffsetPath, UsbIpProtocol.PathSize)),
            BusId = BigEndian.FixedString(b.Slice(OffsetBusId, UsbIpProtocol.BusIdSize)),
            BusNum = BigEndian.U32(b, OffsetBusNum),
            DevNum = BigEndian.U32(b, OffsetDevNum),
            Speed = BigEndian.U32(b, OffsetSpeed),
            idVendor = BigEndian.U16(b, OffsetIdVendor),
            idProduct = BigEndian.U16(b, OffsetIdProduct),
            bcdDevice = BigEndian.U16(b, OffsetBcdDevice),
            bDeviceClass = b[OffsetDeviceClass],
            bDeviceSubClass = b[OffsetDeviceSubClass],
            bDeviceProtocol = b[OffsetDeviceProtocol],
            bConfigurationValue = b[OffsetConfigurationValue],
            bNumConfigurations = b[OffsetNumConfigurations],
            bNumInterfaces = b[OffsetNumInterfaces],
        };
    }

    /// <summary>One interface of OP_REP_DEVLIST: class, subclass, protocol, padding (struct usbip_usb_interface).</summary>
    public struct UsbIpInterfaceRecord
    {
        public const int Size = 4;

        public byte bInterfaceClass;
        public byte bInterfaceSubClass;
        public byte bInterfaceProtocol;

        public void Write(Span<byte> b)
        {
            b[0] = bInterfaceClass;
            b[1] = bInterfaceSubClass;
            b[2] = bInterfaceProtocol;
            b[3] = 0;
        }
    }

    /// <summary>
    /// The 48-byte header of every URB-phase packet (usbip_protocol.rst "usbip_header_basic" plus
    /// the command-specific part; Linux struct usbip_header). Fields of the four commands overlay
    /// the same bytes; <see cref="Parse"/> reads them all and the user reads the ones of
    /// <see cref="Command"/>.
    /// </summary>
    public struct UsbIpHeader
    {
        public const int Size = 48;
        public const int SetupSize = 8;
        const int OffsetCommand = 0x00;
        const int OffsetSeqNum = 0x04;
        const int OffsetDevId = 0x08;
        const int OffsetDirection = 0x0C;
        const int OffsetEp = 0x10;
        // CMD_SUBMIT
        const int OffsetTransferFlags = 0x14;
        const int OffsetTransferBufferLength = 0x18;
        const int OffsetStartFrame = 0x1C;
        const int OffsetNumberOfPackets = 0x20;
        const int OffsetInterval = 0x24;
        const int OffsetSetup = 0x28;
        // RET_SUBMIT (status at 0x14 is shared with RET_UNLINK)
        const int OffsetStatus = 0x14;
        const int OffsetActualLength = 0x18;
        const int OffsetErrorCount = 0x24;
        // CMD_UNLINK
        const int OffsetUnlinkSeqNum = 0x14;

        public uint Command;
        public uint SeqNum;
        public uint DevId;
        public uint Direction;
        public uint Ep;

        public uint TransferFlags;
        /// <summary>As sent: a length above int.MaxValue is negative here and is refused by the session.</summary>
        public int TransferBufferLength;
        public int StartFrame;
        /// <summary>As sent: -1 (0xffffffff) for non-isochronous transfers.</summary>
        public int NumberOfPackets;
        public int Interval;
        /// <summary>The SETUP packet, bytes as on the USB wire (little-endian fields).</summary>
        public ulong SetupBytes;

        public int Status;
        public int ActualLength;
        public int ErrorCount;

        public uint UnlinkSeqNum;

        public static UsbIpHeader Parse(ReadOnlySpan<byte> b)
        {
            var h = new UsbIpHeader
            {
                Command = BigEndian.U32(b, OffsetCommand),
                SeqNum = BigEndian.U32(b, OffsetSeqNum),
                DevId = BigEndian.U32(b, OffsetDevId),
                Direction = BigEndian.U32(b, OffsetDirection),
                Ep = BigEndian.U32(b, OffsetEp),
                TransferFlags = BigEndian.U32(b, OffsetTransferFlags),
                TransferBufferLength = (int)BigEndian.U32(b, OffsetTransferBufferLength),
                StartFrame = (int)BigEndian.U32(b, OffsetStartFrame),
                NumberOfPackets = (int)BigEndian.U32(b, OffsetNumberOfPackets),
                Interval = (int)BigEndian.U32(b, OffsetInterval),
                Status = (int)BigEndian.U32(b, OffsetStatus),
                ActualLength = (int)BigEndian.U32(b, OffsetActualLength),
                ErrorCount = (int)BigEndian.U32(b, OffsetErrorCount),
                UnlinkSeqNum = BigEndian.U32(b, OffsetUnlinkSeqNum),
            };
            ulong setup = 0;
            for (int i = 0; i < SetupSize; i++)
                setup |= (ulong)b[OffsetSetup + i] << (8 * i);
            h.SetupBytes = setup;
            return h;
        }

        /// <summary>The SETUP bytes in the order they appear on the wire.</summary>
        public void CopySetup(Span<byte> destination)
        {
            for (int i = 0; i < SetupSize; i++)
                destination[i] = (byte)(SetupBytes >> (8 * i));
        }

        static void WriteBasic(Span<byte> b, uint command, uint seqNum, uint devId, uint direction, uint ep)
        {
            for (int i = 0; i < Size; i++)
                b[i] = 0;
            BigEndian.Put32(b, OffsetCommand, command);
            BigEndian.Put32(b, OffsetSeqNum, seqNum);
            BigEndian.Put32(b, OffsetDevId, devId);
            BigEndian.Put32(b, OffsetDirection, direction);
            BigEndian.Put32(b, OffsetEp, ep);
        }

        /// <summary>
        /// USBIP_RET_SUBMIT. devid, direction and ep are 0 from the server (as Linux's stub_tx);
        /// number_of_packets echoes the command's (0xffffffff for non-isochronous transfers).
        /// </summary>
        public static void WriteRetSubmit(Span<byte> b, uint seqNum, int status, int actualLength, int startFrame,
                                          int numberOfPackets, int errorCount)
        {
            WriteBasic(b, UsbIpProtocol.RetSubmit, seqNum, 0, 0, 0);
            BigEndian.Put32(b, OffsetStatus, (uint)status);
            BigEndian.Put32(b, OffsetActualLength, (uint)actualLength);
            BigEndian.Put32(b, OffsetStartFrame, (uint)startFrame);
            BigEndian.Put32(b, OffsetNumberOfPackets, (uint)numberOfPackets);
            BigEndian.Put32(b, OffsetErrorCount, (uint)errorCount);
        }

        /// <summary>USBIP_RET_UNLINK: -ECONNRESET when the request was unlinked, 0 when it had already completed.</summary>
        public static void WriteRetUnlink(Span<byte> b, uint seqNum, int status)
        {
            WriteBasic(b, UsbIpProtocol.RetUnlink, seqNum, 0, 0, 0);
            BigEndian.Put32(b, OffsetStatus, (uint)status);
        }

        /// <summary>USBIP_CMD_SUBMIT (what a client sends; used by tests and tools).</summary>
        public static void WriteCmdSubmit(Span<byte> b, uint seqNum, uint devId, uint direction, uint ep, uint transferFlags,
                                          int transferBufferLength, int startFrame, int numberOfPackets, int interval, ulong setupBytes)
        {
            WriteBasic(b, UsbIpProtocol.CmdSubmit, seqNum, devId, direction, ep);
            BigEndian.Put32(b, OffsetTransferFlags, transferFlags);
            BigEndian.Put32(b, OffsetTransferBufferLength, (uint)transferBufferLength);
            BigEndian.Put32(b, OffsetStartFrame, (uint)startFrame);
            BigEndian.Put32(b, OffsetNumberOfPackets, (uint)numberOfPackets);
            BigEndian.Put32(b, OffsetInterval, (uint)interval);
            for (int i = 0; i < SetupSize; i++)
                b[OffsetSetup + i] = (byte)(setupBytes >> (8 * i));
        }

        /// <summary>USBIP_CMD_UNLINK (what a client sends).</summary>
        public static void WriteCmdUnlink(Span<byte> b, uint seqNum, uint devId, uint unlinkSeqNum)
        {
            WriteBasic(b, UsbIpProtocol.CmdUnlink, seqNum, devId, 0, 0);
            BigEndian.Put32(b, OffsetUnlinkSeqNum, unlinkSeqNum);
        }
    }

    /// <summary>
    /// One isochronous packet descriptor after the transfer buffer (usbip_protocol.rst
    /// "iso_packet_descriptor", struct usbip_iso_packet_descriptor): offset, length,
    /// actual_length, status; 16 bytes.
    /// </summary>
    public struct UsbIpIsoPacket
    {
        public const int Size = 16;
        const int OffsetOffset = 0;
        const int OffsetLength = 4;
        const int OffsetActualLength = 8;
        const int OffsetStatus = 12;

        public uint Offset;
        public uint Length;
        public uint ActualLength;
        public int Status;

        public static UsbIpIsoPacket Parse(ReadOnlySpan<byte> b) => new UsbIpIsoPacket
        {
            Offset = BigEndian.U32(b, OffsetOffset),
            Length = BigEndian.U32(b, OffsetLength),
            ActualLength = BigEndian.U32(b, OffsetActualLength),
            Status = (int)BigEndian.U32(b, OffsetStatus),
        };

        public void Write(Span<byte> b)
        {
            BigEndian.Put32(b, OffsetOffset, Offset);
            BigEndian.Put32(b, OffsetLength, Length);
            BigEndian.Put32(b, OffsetActualLength, ActualLength);
            BigEndian.Put32(b, OffsetStatus, (uint)Status);
        }
    }
}
