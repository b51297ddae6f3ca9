using System;
using System.Text;

namespace Drivers.Usb.Descriptors
{
    /// <summary>String descriptors (USB 2.0 9.6.7): index 0 holds LANGIDs, others UTF-16LE text.</summary>
    public static class StringDescriptor
    {
        public const int HeaderSize = 2;
        /// <summary>Largest string descriptor (bLength is one byte).</summary>
        public const int MaxSize = 255;
        const char Replacement = '\uFFFD';
        const int CodeUnitSize = 2;
        const int FirstPrintable = 0x20;
        const int Delete = 0x7F;
        const int SurrogateHighFirst = 0xD800;
        const int SurrogateLowFirst = 0xDC00;
        const int SurrogateLast = 0xDFFF;

        /// <summary>Decodes the language ID table of string index 0.</summary>
        public static DescriptorProblem ParseLanguages(ReadOnlySpan<byte> data, out ushort[] languages)
        {
            languages = new ushort[0];
            DescriptorProblem p = CheckHeader(data, out int length);
            if (!p.IsOk)
                return p;
            int count = (length - HeaderSize) / CodeUnitSize;
            languages = new ushort[count];
            for (int i = 0; i < count; i++)
                languages[i] = Le.U16(data, HeaderSize + i * CodeUnitSize);
            return DescriptorProblem.None;
        }

        /// <summary>
        /// Decodes UTF-16LE text. Unpaired surrogates and control characters become U+FFFD so the
        /// listings never carry terminal escapes; an odd trailing byte is ignored (Linux does the same).
        /// </summary>
        public static DescriptorProblem ParseText(ReadOnlySpan<byte> data, out string text)
        {
            text = "";
            DescriptorProblem p = CheckHeader(data, out int length);
            if (!p.IsOk)
                return p;
            int units = (length - HeaderSize) / CodeUnitSize;
            var sb = new StringBuilder();
            for (int i = 0; i < units; i++)
            {
                int unit = Le.U16(data, HeaderSize + i * CodeUnitSize);
                if (unit >= SurrogateHighFirst && unit < SurrogateLowFirst)
                {
                    // A high surrogate must be followed by a low one.
                    if (i + 1 < units)
                    {
                        int next = Le.U16(data, HeaderSize + (i + 1) * CodeUnitSize);
                        if (next >= SurrogateLowFirst && next <= SurrogateLast)
                        {
                            sb.Append((char)unit);
                            sb.Append((char)next);
                            i++;
                            continue;
                        }
                    }
                    sb.Append(Replacement);
                }
                else if (unit >= SurrogateLowFirst && unit <= SurrogateLast)
                    sb.Append(Replacement);
                else if (unit < FirstPrintable || unit == Delete)
                {
                    // Some devices pad with NULs: stop there, as Linux's usb_string effectively does.
                    if (unit == 0)
                        break;
                    sb.Append(Replacement);
                }
                else
                    sb.Append((char)unit);
            }
            text = sb.ToString();
            return DescriptorProblem.None;
        }

        static DescriptorProblem CheckHeader(ReadOnlySpan<byte> data, out int length)
        {
            length = 0;
            if (data.Length < HeaderSize)
                return new DescriptorProblem(DescriptorError.TooShort, data.Length);
            if (data[1] != DescriptorType.String)
                return new DescriptorProblem(DescriptorError.WrongType, 1);
            if (data[0] < HeaderSize)
                return new DescriptorProblem(DescriptorError.BadLength, 0);
            if (data[0] > data.Length)
                return new DescriptorProblem(DescriptorError.Truncated, 0);
            length = data[0];
            return DescriptorProblem.None;
        }

        /// <summary>Encodes text as a string descriptor (used by root hub emulation and the simulator).</summary>
        public static byte[] Encode(string text)
        {
            int units = Le.Min(text.Length, (MaxSize - HeaderSize) / CodeUnitSize);
            byte[] d = new byte[HeaderSize + units * CodeUnitSize];
            d[0] = (byte)d.Length;
            d[1] = DescriptorType.String;
            for (int i = 0; i < units; i++)
                Le.Put16(d, HeaderSize + i * CodeUnitSize, text[i]);
            return d;
        }

        public static byte[] EncodeLanguages(ushort language)
        {
            byte[] d = new byte[HeaderSize + CodeUnitSize];
            d[0] = (byte)d.Length;
            d[1] = DescriptorType.String;
            Le.Put16(d, HeaderSize, language);
            return d;
        }
    }

    /// <summary>
    /// Hub descriptor (USB 2.0 11.23.2.1, table 11-13) and SuperSpeed hub descriptor (USB 3.2
    /// 10.15.2.1, table 10-3).
    /// </summary>
    public struct HubDescriptor
    {
        public const int MinimumSize = 7;
        public const int SuperSpeedSize = 12;
        /// <summary>wHubCharacteristics bits 1..0: logical power switching mode.</summary>
        public const ushort PowerSwitchingMask = 0x0003;
        public const ushort PowerSwitchingGanged = 0x0000;
        public const ushort PowerSwitchingIndividual = 0x0001;
        /// <summary>Bit 2: compound device.</summary>
        public const ushort CompoundDevice = 0x0004;
        /// <summary>Bits 4..3: over-current protection mode.</summary>
        public const ushort OverCurrentMask = 0x0018;
        /// <summary>Bits 6..5: TT think time.</summary>
        public const ushort TtThinkTimeMask = 0x0060;
        public const int TtThinkTimeShift = 5;
        /// <summary>Bit 7: port indicators supported.</summary>
        public const ushort PortIndicators = 0x0080;
        /// <summary>bPwrOn2PwrGood is in 2 ms units.</summary>
        public const int PowerOnUnitMs = 2;

        public byte bDescLength;
        public byte bDescriptorType;
        public byte bNbrPorts;
        public ushort wHubCharacteristics;
        public byte bPwrOn2PwrGood;
        public byte bHubContrCurrent;
        /// <summary>SuperSpeed only: bHubHdrDecLat.</summary>
        public byte bHubHdrDecLat;
        /// <summary>SuperSpeed only: wHubDelay (ns).</summary>
        public ushort wHubDelay;
        /// <summary>Bit n set: port n is non-removable (bit 0 reserved).</summary>
        public uint DeviceRemovable;
        public bool IsSuperSpeed;

        public int PowerOnToGoodMs => bPwrOn2PwrGood * PowerOnUnitMs;
        public bool IndividualPowerSwitching => (wHubCharacteristics & PowerSwitchingMask) == PowerSwitchingIndividual;

        public static DescriptorProblem Parse(ReadOnlySpan<byte> data, out HubDescriptor d)
        {
            d = default;
            if (data.Length < 2)
                return new DescriptorProblem(DescriptorError.TooShort, data.Length);
            byte type = data[1];
            if (type != DescriptorType.Hub && type != DescriptorType.SuperSpeedHub)
                return new DescriptorProblem(DescriptorError.WrongType, 1);
            d.IsSuperSpeed = type == DescriptorType.SuperSpeedHub;
            int fixedSize = d.IsSuperSpeed ? SuperSpeedSize : MinimumSize;
            if (data[0] < fixedSize)
                return new DescriptorProblem(DescriptorError.BadLength, 0);
            if (data.Length < data[0])
                return new DescriptorProblem(DescriptorError.Truncated, 0);
            d.bDescLength = data[0];
            d.bDescriptorType = type;
            d.bNbrPorts = data[2];
            d.wHubCharacteristics = Le.U16(data, 3);
            d.bPwrOn2PwrGood = data[5];
            d.bHubContrCurrent = data[6];
            if (d.bNbrPorts == 0)
                return new DescriptorProblem(DescriptorError.BadValue, 2);
            // Like Linux hub_configure: at most 31 ports (the core's 32-bit status-change bitmap,
            // bit 0 is the hub), at most 15 on a SuperSpeed hub (4-bit route string tiers).
            if (d.bNbrPorts > (d.IsSuperSpeed ? UsbLimits.MaxSuperSpeedPorts : UsbLimits.MaxPorts))
                return new DescriptorProblem(DescriptorError.TooManyPorts, 2);
            if (d.IsSuperSpeed)
            {
                d.bHubHdrDecLat = data[7];
                d.wHubDelay = Le.U16(data, 8);
                d.DeviceRemovable = Le.U16(data, 10);
                return DescriptorProblem.None;
            }
            // DeviceRemovable is ceil((ports + 1) / 8) bytes. PortPwrCtrlMask (as many bytes) only
            // exists for USB 1.0 compatibility: hubs (QEMU's usb-hub with 8 ports among them) may
            // send it short, and Linux does not require it either.
            int maskBytes = (d.bNbrPorts + 1 + 7) / 8;
            if (d.bDescLength < MinimumSize + maskBytes)
                return new DescriptorProblem(DescriptorError.CountMismatch, 0);
            for (int i = 0; i < maskBytes && i < 4; i++)
                d.DeviceRemovable |= (uint)data[MinimumSize + i] << (8 * i);
            return DescriptorProblem.None;
        }
    }

    /// <summary>One (bDescriptorType, wDescriptorLength) pair of a HID descriptor.</summary>
    public struct HidClassDescriptorRef
    {
        public byte bDescriptorType;
        public ushort wDescriptorLength;
    }

    /// <summary>HID descriptor (HID 1.11 6.2.1).</summary>
    public struct HidDescriptor
    {
        public const int MinimumSize = 9;
        public const int FixedSize = 6;
        public const int EntrySize = 3;

        public byte bLength;
        public byte bDescriptorType;
        public ushort bcdHID;
        public byte bCountryCode;
        public byte bNumDescriptors;
        public HidClassDescriptorRef[] Descriptors;

        /// <summary>Length of the report descriptor, or 0 when none is listed.</summary>
        public int ReportDescriptorLength
        {
            get
            {
                if (Descriptors == null)
                    return 0;
                for (int i = 0; i < Descriptors.Length; i++)
                    if (Descriptors[i].bDescriptorType == DescriptorType.HidReport)
                        return Descriptors[i].wDescriptorLength;
                return 0;
            }
        }

        public static DescriptorProblem Parse(ReadOnlySpan<byte> data, out HidDescriptor d)
        {
            d = default;
            d.Descriptors = new HidClassDescriptorRef[0];
            if (data.Length < MinimumSize)
                return new DescriptorProblem(DescriptorError.TooShort, data.Length);
            if (data[1] != DescriptorType.Hid)
                return new DescriptorProblem(DescriptorError.WrongType, 1);
            if (data[0] < MinimumSize)
                return new DescriptorProblem(DescriptorError.BadLength, 0);
            if (data[0] > data.Length)
                return new DescriptorProblem(DescriptorError.Truncated, 0);
            d.bLength = data[0];
            d.bDescriptorType = data[1];
            d.bcdHID = Le.U16(data, 2);
            d.bCountryCode = data[4];
            d.bNumDescriptors = data[5];
            if (d.bNumDescriptors == 0 || FixedSize + d.bNumDescriptors * EntrySize != d.bLength)
                return new DescriptorProblem(DescriptorError.CountMismatch, 5);
            d.Descriptors = new HidClassDescriptorRef[d.bNumDescriptors];
            for (int i = 0; i < d.bNumDescriptors; i++)
            {
                int at = FixedSize + i * EntrySize;
                d.Descriptors[i].bDescriptorType = data[at];
                d.Descriptors[i].wDescriptorLength = Le.U16(data, at + 1);
            }
            return DescriptorProblem.None;
        }
    }

    /// <summary>Device capability types (USB 3.2 table 9-14).</summary>
    public static class DeviceCapabilityType
    {
        public const byte WirelessUsb = 0x01;
        public const byte Usb20Extension = 0x02;
        public const byte SuperSpeedUsb = 0x03;
        public const byte ContainerId = 0x04;
        public const byte Platform = 0x05;
        public const byte SuperSpeedPlus = 0x0A;
    }

    /// <summary>One device capability descriptor inside a BOS (USB 3.2 9.6.2.1..4).</summary>
    public struct DeviceCapability
    {
        public const int HeaderSize = 3;
        public const int Usb20ExtensionSize = 7;
        public const int SuperSpeedUsbSize = 10;
        public const int ContainerIdSize = 20;
        public const int ContainerIdLength = 16;

        public byte bLength;
        public byte bDevCapabilityType;
        /// <summary>USB 2.0 extension: bmAttributes (LPM bit 1). SuperSpeed: bmAttributes.</summary>
        public uint bmAttributes;
        /// <summary>SuperSpeed USB: wSpeedsSupported.</summary>
        public ushort wSpeedsSupported;
        public byte bFunctionalitySupport;
        public byte bU1DevExitLat;
        public ushort wU2DevExitLat;
        /// <summary>Raw bytes after the three-byte header (any capability type).</summary>
        public byte[] Data;
    }

    /// <summary>Binary device object store (USB 3.2 9.6.2, table 9-12).</summary>
    public struct BosDescriptor
    {
        public const int Size = 5;

        public byte bLength;
        public byte bDescriptorType;
        public ushort wTotalLength;
        public byte bNumDeviceCaps;
        public DeviceCapability[] Capabilities;

        public static DescriptorProblem ParseHeader(ReadOnlySpan<byte> data, out BosDescriptor b)
        {
            b = default;
            b.Capabilities = new DeviceCapability[0];
            if (data.Length < Size)
                return new DescriptorProblem(DescriptorError.TooShort, data.Length);
            if (data[1] != DescriptorType.Bos)
                return new DescriptorProblem(DescriptorError.WrongType, 1);
            if (data[0] < Size)
                return new DescriptorProblem(DescriptorError.BadLength, 0);
            b.bLength = data[0];
            b.bDescriptorType = data[1];
            b.wTotalLength = Le.U16(data, 2);
            b.bNumDeviceCaps = data[4];
            if (b.wTotalLength < b.bLength)
                return new DescriptorProblem(DescriptorError.BadTotalLength, 2);
            return DescriptorProblem.None;
        }

        /// <summary>Parses the whole BOS (wTotalLength bytes) with every capability in it.</summary>
        public static DescriptorProblem Parse(ReadOnlySpan<byte> data, out BosDescriptor b)
        {
            DescriptorProblem p = ParseHeader(data, out b);
            if (!p.IsOk)
                return p;
            if (b.wTotalLength > data.Length)
                return new DescriptorProblem(DescriptorError.Truncated, 2);
            var caps = new System.Collections.Generic.List<DeviceCapability>();
            int offset = b.bLength;
            while (offset < b.wTotalLength)
            {
                int remaining = b.wTotalLength - offset;
                if (remaining < DescriptorHeader.Size)
                    return new DescriptorProblem(DescriptorError.Truncated, offset);
                int length = data[offset];
                if (length < DescriptorHeader.Size)
                    return new DescriptorProblem(DescriptorError.BadLength, offset);
                if (length > remaining)
                    return new DescriptorProblem(DescriptorError.Truncated, offset);
                if (data[offset + 1] != DescriptorType.DeviceCapability)
                    return new DescriptorProblem(DescriptorError.WrongType, offset + 1);
                if (length < DeviceCapability.HeaderSize)
                    return new DescriptorProblem(DescriptorError.BadLength, offset);
                ReadOnlySpan<byte> c = data.Slice(offset, length);
                var cap = new DeviceCapability();
                cap.bLength = (byte)length;
                cap.bDevCapabilityType = c[2];
                cap.Data = Le.ToArray(c.Slice(DeviceCapability.HeaderSize));
                switch (cap.bDevCapabilityType)
                {
                    case DeviceCapabilityType.Usb20Extension:
                        if (length < DeviceCapability.Usb20ExtensionSize)
                            return new DescriptorProblem(DescriptorError.BadLength, offset);
                        cap.bmAttributes = Le.U32(c, 3);
                        break;
                    case DeviceCapabilityType.SuperSpeedUsb:
                        if (length < DeviceCapability.SuperSpeedUsbSize)
                            return new DescriptorProblem(DescriptorError.BadLength, offset);
                        cap.bmAttributes = c[3];
                        cap.wSpeedsSupported = Le.U16(c, 4);
                        cap.bFunctionalitySupport = c[6];
                        cap.bU1DevExitLat = c[7];
                        cap.wU2DevExitLat = Le.U16(c, 8);
                        break;
                    case DeviceCapabilityType.ContainerId:
                        if (length < DeviceCapability.ContainerIdSize)
                            return new DescriptorProblem(DescriptorError.BadLength, offset);
                        break;
                }
                if (caps.Count >= b.bNumDeviceCaps)
                    return new DescriptorProblem(DescriptorError.CountMismatch, offset);
                caps.Add(cap);
                offset += length;
            }
            if (caps.Count != b.bNumDeviceCaps)
                return new DescriptorProblem(DescriptorError.CountMismatch, 4);
            b.Capabilities = caps.ToArray();
            return DescriptorProblem.None;
        }
    }
}
