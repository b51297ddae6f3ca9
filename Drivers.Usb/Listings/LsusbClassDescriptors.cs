using System;
using System.Text;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Names;
using Platform;

namespace Drivers.Usb.Listings
{
    /// <summary>
    /// The parts of usbutils 014's `lsusb -v` beyond the standard descriptors, text for text:
    /// the hub descriptor and port status of hubs (do_hub, dump_hub: what lsusb prints when run
    /// as root, since it asks the hub), the Binary Object Store (dump_bos_descriptor: USB 2.0
    /// Extension, SuperSpeed USB, Container ID), the CDC functional descriptors
    /// (dump_comm_descriptor: Header, Call Management, ACM, Union, Ethernet Networking) and the
    /// USB Audio Class 1 descriptors (dump_audiocontrol_interface, dump_audiostreaming_interface,
    /// dump_audiostreaming_endpoint, with desc-defs.c's tables through <see cref="LsusbDescriptorDump"/>).
    /// Other class-specific descriptors show as "** UNRECOGNIZED:" and their bytes, as lsusb
    /// shows the ones it does not know.
    /// </summary>
    public static class LsusbClassDescriptors
    {
        const byte CsInterface = 0x24, CsEndpoint = 0x25, CsDevice = 0x21;
        const byte HubDescriptorUsb2 = 0x29, HubDescriptorSuperSpeed = 0x2A;
        /// <summary>do_hub reads 7 bytes and two bitmaps of up to 3 bytes (HUB_STATUS_BYTELEN).</summary>
        const int HubStatusBytes = 3, HubDescriptorRead = 7 + 2 * HubStatusBytes, HubDescriptorMinimum = 9;
        const int PortStatusSize = 4;
        const ushort Usb30 = 0x0300;
        const byte ProtocolSuperSpeedHub = 3;
        const int BosHeaderSize = 5, CapabilityHeaderSize = 3;
        const byte CapabilityUsb20Extension = 2, CapabilitySuperSpeed = 3, CapabilityContainerId = 4;
        const int SuperSpeedCapabilitySize = 10, ContainerIdCapabilitySize = 20;
        const byte AudioSubclassControl = 1, AudioSubclassStreaming = 2;
        const byte AudioProtocolUac2 = 0x20, AudioProtocolUac3 = 0x30;
        const int AudioIndent = 4, AudioEndpointIndent = 5;
        const int CommonHeaderSize = 3;

        // ---- Hub ------------------------------------------------------------------------------

        /// <summary>do_hub: the hub descriptor, then every port's GET_STATUS.</summary>
        public static void AppendHub(StringBuilder sb, UsbDevice device)
        {
            DeviceDescriptor d = device.Descriptor;
            var buf = new byte[HubDescriptorRead];
            byte type = d.bcdUSB >= Usb30 ? HubDescriptorSuperSpeed : HubDescriptorUsb2;
            if (UsbMessages.Control(device, (byte)(RequestType.DirectionIn | RequestType.TypeClass | RequestType.RecipientDevice), UsbRequestCode.GetDescriptor,
                                    (ushort)(type << 8), 0, new Span<byte>(buf), UsbMessages.ControlTimeoutMs, out int actual) != UsbStatus.Ok ||
                actual < HubDescriptorMinimum)
                return;
            AppendHubDescriptor(sb, "", buf, d.bDeviceProtocol);
            sb.Append(" Hub Port Status:\n");
            var status = new byte[PortStatusSize];
            for (int port = 1; port <= buf[2]; port++)
            {
                if (UsbMessages.Control(device, (byte)(RequestType.DirectionIn | RequestType.TypeClass | RequestType.RecipientOther), UsbRequestCode.GetStatus,
                                        0, (ushort)port, new Span<byte>(status), UsbMessages.ControlTimeoutMs, out int _) != UsbStatus.Ok)
                    break;
                sb.Append(PortStatusLine(port, status, d.bcdUSB));
            }
        }

        // wHubCharacteristics (USB 2.0 table 11-13).
        const int PowerSwitchingMask = 0x03, CompoundDevice = 0x04, OverCurrentShift = 3, OverCurrentMask = 0x03,
                  ThinkTimeShift = 5, ThinkTimeMask = 0x03, FsBitsPerThinkTimeUnit = 8, PortIndicators = 0x80;
        /// <summary>SuperSpeed hubs count bHubContrCurrent in 4 mA units (USB 3.2 table 10-3).</summary>
        const int SuperSpeedCurrentUnitMa = 4;

        /// <summary>dump_hub: the hub descriptor (USB 2.0 11.23.2.1, USB 3.2 10.15.2.1) with usbutils' wording.</summary>
        public static void AppendHubDescriptor(StringBuilder sb, string prefix, ReadOnlySpan<byte> p, int ttType)
        {
            int characteristics = p[3] | p[4] << 8;
            sb.Append(prefix).Append("Hub Descriptor:\n");
            sb.Append(prefix).Append("  bLength             ").Append(Pad(p[0], 3)).Append('\n');
            sb.Append(prefix).Append("  bDescriptorType     ").Append(Pad(p[1], 3)).Append('\n');
            sb.Append(prefix).Append("  nNbrPorts           ").Append(Pad(p[2], 3)).Append('\n');
            sb.Append(prefix).Append("  wHubCharacteristic 0x").Append(Format.Hex((ulong)characteristics, 4)).Append('\n');
            switch (characteristics & PowerSwitchingMask)
            {
                case 0: sb.Append(prefix).Append("    Ganged power switching\n"); break;
                case 1: sb.Append(prefix).Append("    Per-port power switching\n"); break;
                default: sb.Append(prefix).Append("    No power switching (usb 1.0)\n"); break;
            }
            if ((characteristics & CompoundDevice) != 0)
                sb.Append(prefix).Append("    Compound device\n");
            switch ((characteristics >> OverCurrentShift) & OverCurrentMask)
            {
                case 0: sb.Append(prefix).Append("    Ganged overcurrent protection\n"); break;
                case 1: sb.Append(prefix).Append("    Per-port overcurrent protection\n"); break;
                default: sb.Append(prefix).Append("    No overcurrent protection\n"); break;
            }
            if (ttType >= 1 && ttType < ProtocolSuperSpeedHub)
                sb.Append(prefix).Append("    TT think time ").Append(Format.Decimal((ulong)((((characteristics >> ThinkTimeShift) & ThinkTimeMask) + 1) * FsBitsPerThinkTimeUnit))).Append(" FS bits\n");
            if (ttType != ProtocolSuperSpeedHub && (characteristics & PortIndicators) != 0)
                sb.Append(prefix).Append("    Port indicators\n");
            sb.Append(prefix).Append("  bPwrOn2PwrGood      ").Append(Pad(p[5], 3)).Append(" * 2 milli seconds\n");
            if (ttType == ProtocolSuperSpeedHub)
            {
                sb.Append(prefix).Append("  bHubContrCurrent   ").Append(Pad(p[6] * SuperSpeedCurrentUnitMa, 4)).Append(" milli Ampere\n");
                sb.Append(prefix).Append("  bHubDecLat          0.").Append(Format.Decimal(p[7])).Append(" micro seconds\n");
                // usbutils prints (p[8] << 4) + p[7] here, not wHubDelay (bytes 8..9): kept so the text matches.
                sb.Append(prefix).Append("  wHubDelay          ").Append(Pad((p[8] << 4) + p[7], 4)).Append(" nano seconds\n");
                sb.Append(prefix).Append("  DeviceRemovable    0x").Append(Format.Hex(p.Length > 10 ? p[10] : (byte)0, 2)).Append('\n');
            }
            else
            {
                sb.Append(prefix).Append("  bHubContrCurrent    ").Append(Pad(p[6], 3)).Append(" milli Ampere\n");
                int l = (p[2] >> 3) + 1;
                if (l > HubStatusBytes) l = HubStatusBytes;
                sb.Append(prefix).Append("  DeviceRemovable   ");
                for (int i = 0; i < l; i++)
                    sb.Append(" 0x").Append(Format.Hex(ByteAt(p, 7 + i), 2));
                sb.Append('\n').Append(prefix).Append("  PortPwrCtrlMask   ");
                for (int j = 0; j < l; j++)
                    sb.Append(" 0x").Append(Format.Hex(ByteAt(p, 7 + l + j), 2));
                sb.Append('\n');
            }
        }

        // wPortChange and wPortStatus bits, index = bit number, as do_hub names them (USB 2.0 tables 11-21/11-22;
        // USB 3.2 tables 10-13/10-14); printed from the highest bit down, unnamed bits skipped.
        static readonly string[] Usb2PortChange = { " C_CONNECT", " C_ENABLE", " C_SUSPEND", " C_OC", " C_RESET" };
        static readonly string[] Usb2PortStatusHigh = { " power", " lowspeed", " highspeed", " test", " indicator" };
        static readonly string[] Usb2PortStatusLow = { " connect", " enable", " suspend", " oc", " RESET" };
        static readonly string[] SuperSpeedPortChange = { " C_CONNECT", null, null, " C_OC", " C_RESET", " C_BH_RESET", " C_LINK_STATE", " C_CONFIG_ERROR" };
        static readonly string[] SuperSpeedPortStatusHigh = { null, " power" };
        static readonly string[] SuperSpeedPortStatusLow = { " connect", " enable", null, " oc", " RESET" };
        /// <summary>PORT_LINK_STATE is wPortStatus bits 5..8; PORT_SPEED bits 10..12 (0 = 5 Gbps).</summary>
        const int LinkStateLowMask = 0xE0, LinkStateLowShift = 5, LinkStateHighMask = 0x01, LinkStateHighShift = 3, SuperSpeedSpeedMask = 0x1C;

        static readonly string[] LinkStates =
            { "U0", "U1", "U2", "suspend", "SS.disabled", "Rx.Detect", "SS.Inactive", "Polling", "Recovery", "Hot Reset", "Compliance", "Loopback" };

        /// <summary>One "   Port N: wwww.ssss flags" line of do_hub (USB 2.0 11.24.2.7; USB 3.2 10.16.2.6 for bcdUSB 3.00).</summary>
        public static string PortStatusLine(int port, ReadOnlySpan<byte> s, ushort bcdUSB)
        {
            var sb = new StringBuilder();
            sb.Append("   Port ").Append(Format.Decimal((ulong)port)).Append(": ");
            sb.Append(Format.Hex(s[3], 2)).Append(Format.Hex(s[2], 2)).Append('.').Append(Format.Hex(s[1], 2)).Append(Format.Hex(s[0], 2));
            if (bcdUSB != Usb30)
            {
                Flags(sb, s[2], Usb2PortChange);
                Flags(sb, s[1], Usb2PortStatusHigh);
                Flags(sb, s[0], Usb2PortStatusLow);
            }
            else
            {
                int linkState = ((s[0] & LinkStateLowMask) >> LinkStateLowShift) + ((s[1] & LinkStateHighMask) << LinkStateHighShift);
                Flags(sb, s[2], SuperSpeedPortChange);
                sb.Append((s[1] & SuperSpeedSpeedMask) == 0 ? " 5Gbps" : " Unknown Speed");
                Flags(sb, s[1], SuperSpeedPortStatusHigh);
                if (linkState < LinkStates.Length)
                    sb.Append(' ').Append(LinkStates[linkState]);
                Flags(sb, s[0], SuperSpeedPortStatusLow);
            }
            sb.Append('\n');
            return sb.ToString();
        }

        // ---- Binary Object Store ------------------------------------------------------------

        /// <summary>dump_bos_descriptor: asks the device (5 bytes, then wTotalLength) as lsusb does.</summary>
        public static void AppendBos(StringBuilder sb, UsbDevice device)
        {
            var header = new byte[BosHeaderSize];
            if (UsbMessages.GetDescriptorOnce(device, DescriptorType.Bos, 0, new Span<byte>(header), UsbMessages.ControlTimeoutMs, out int actual) != UsbStatus.Ok ||
                actual <= 0 || header[0] != BosHeaderSize || header[1] != DescriptorType.Bos)
                return;
            int total = header[2] | header[3] << 8;
            if (total <= BosHeaderSize)
            {
                AppendBosDescriptor(sb, header, total);
                return;
            }
            var full = new byte[total];
            if (UsbMessages.GetDescriptorOnce(device, DescriptorType.Bos, 0, new Span<byte>(full), UsbMessages.ControlTimeoutMs, out actual) != UsbStatus.Ok)
            {
                AppendBosDescriptor(sb, header, BosHeaderSize);
                return;
            }
            AppendBosDescriptor(sb, full, total);
        }

        /// <summary>The BOS text for <paramref name="bos"/> (the bytes read, zero-filled to <paramref name="total"/> as lsusb's buffer is).</summary>
        public static void AppendBosDescriptor(StringBuilder sb, ReadOnlySpan<byte> bos, int total)
        {
            sb.Append("Binary Object Store Descriptor:\n");
            sb.Append("  bLength             ").Append(Pad(bos[0], 5)).Append('\n');
            sb.Append("  bDescriptorType     ").Append(Pad(bos[1], 5)).Append('\n');
            sb.Append("  wTotalLength       0x").Append(Format.Hex((ulong)total, 4)).Append('\n');
            sb.Append("  bNumDeviceCaps      ").Append(Pad(bos[4], 5)).Append('\n');
            int offset = BosHeaderSize;
            int size = total - BosHeaderSize;
            while (size >= CapabilityHeaderSize && offset + CapabilityHeaderSize <= bos.Length)
            {
                int length = bos[offset];
                if (length < CapabilityHeaderSize)
                {
                    sb.Append("buf[0] = ").Append(Format.Decimal((ulong)length)).Append('\n');
                    return;
                }
                if (offset + length > bos.Length) return;
                ReadOnlySpan<byte> cap = bos.Slice(offset, length);
                switch (cap[2])
                {
                    case CapabilityUsb20Extension: AppendUsb2Extension(sb, cap); break;
                    case CapabilitySuperSpeed: AppendSuperSpeed(sb, cap); break;
                    case CapabilityContainerId: AppendContainerId(sb, cap); break;
                    default:
                        sb.Append("  ** UNRECOGNIZED: ");
                        Bytes(sb, cap);
                        break;
                }
                size -= length;
                offset += length;
            }
        }

        static void AppendUsb2Extension(StringBuilder sb, ReadOnlySpan<byte> b)
        {
            uint wide = (uint)(ByteAt(b, 3) | ByteAt(b, 4) << 8 | ByteAt(b, 5) << 16 | ByteAt(b, 6) << 24);
            sb.Append("  USB 2.0 Extension Device Capability:\n");
            sb.Append("    bLength             ").Append(Pad(b[0], 5)).Append('\n');
            sb.Append("    bDescriptorType     ").Append(Pad(b[1], 5)).Append('\n');
            sb.Append("    bDevCapabilityType  ").Append(Pad(b[2], 5)).Append('\n');
            sb.Append("    bmAttributes   0x").Append(Format.Hex(wide, 8)).Append('\n');
            if ((wide & 0x02) == 0)
                sb.Append("      (Missing must-be-set LPM bit!)\n");
            else if ((wide & 0x04) == 0)
                sb.Append("      HIRD Link Power Management (LPM) Supported\n");
            else
            {
                sb.Append("      BESL Link Power Management (LPM) Supported\n");
                if ((wide & 0x08) != 0)
                    sb.Append("    Baseline BESL value  ").Append(Pad((int)((wide & 0xF00) >> 8), 5)).Append(" us\n");
                if ((wide & 0x10) != 0)
                    sb.Append("    Deep BESL value      ").Append(Pad((int)((wide & 0xF000) >> 12), 5)).Append(" us\n");
            }
        }

        static void AppendSuperSpeed(StringBuilder sb, ReadOnlySpan<byte> b)
        {
            if (b[0] < SuperSpeedCapabilitySize) return;    // lsusb complains on stderr only
            sb.Append("  SuperSpeed USB Device Capability:\n");
            sb.Append("    bLength             ").Append(Pad(b[0], 5)).Append('\n');
            sb.Append("    bDescriptorType     ").Append(Pad(b[1], 5)).Append('\n');
            sb.Append("    bDevCapabilityType  ").Append(Pad(b[2], 5)).Append('\n');
            sb.Append("    bmAttributes         0x").Append(Format.Hex(b[3], 2)).Append('\n');
            if ((b[3] & 0x02) != 0)
                sb.Append("      Latency Tolerance Messages (LTM) Supported\n");
            sb.Append("    wSpeedsSupported   0x").Append(Format.Hex(b[5], 2)).Append(Format.Hex(b[4], 2)).Append('\n');
            if ((b[4] & 0x01) != 0) sb.Append("      Device can operate at Low Speed (1Mbps)\n");
            if ((b[4] & 0x02) != 0) sb.Append("      Device can operate at Full Speed (12Mbps)\n");
            if ((b[4] & 0x04) != 0) sb.Append("      Device can operate at High Speed (480Mbps)\n");
            if ((b[4] & 0x08) != 0) sb.Append("      Device can operate at SuperSpeed (5Gbps)\n");
            sb.Append("    bFunctionalitySupport ").Append(Pad(b[6], 3)).Append('\n');
            switch (b[6])
            {
                case 0: sb.Append("      Lowest fully-functional device speed is Low Speed (1Mbps)\n"); break;
                case 1: sb.Append("      Lowest fully-functional device speed is Full Speed (12Mbps)\n"); break;
                case 2: sb.Append("      Lowest fully-functional device speed is High Speed (480Mbps)\n"); break;
                case 3: sb.Append("      Lowest fully-functional device speed is SuperSpeed (5Gbps)\n"); break;
                default: sb.Append("      Lowest fully-functional device speed is at an unknown speed!\n"); break;
            }
            sb.Append("    bU1DevExitLat        ").Append(Pad(b[7], 4)).Append(" micro seconds\n");
            sb.Append("    bU2DevExitLat    ").Append(Pad(b[8] | b[9] << 8, 8)).Append(" micro seconds\n");
        }

        static void AppendContainerId(StringBuilder sb, ReadOnlySpan<byte> b)
        {
            if (b[0] < ContainerIdCapabilitySize) return;    // lsusb complains on stderr only
            sb.Append("  Container ID Device Capability:\n");
            sb.Append("    bLength             ").Append(Pad(b[0], 5)).Append('\n');
            sb.Append("    bDescriptorType     ").Append(Pad(b[1], 5)).Append('\n');
            sb.Append("    bDevCapabilityType  ").Append(Pad(b[2], 5)).Append('\n');
            sb.Append("    bReserved           ").Append(Pad(b[3], 5)).Append('\n');
            sb.Append("    ContainerID             ").Append(Guid(b.Slice(4))).Append('\n');
        }

        /// <summary>get_guid: RFC 4122 text, the first three fields little-endian.</summary>
        static string Guid(ReadOnlySpan<byte> g)
        {
            var sb = new StringBuilder("{");
            int[] order = { 3, 2, 1, 0, -1, 5, 4, -1, 7, 6, -1, 8, 9, -1, 10, 11, 12, 13, 14, 15 };
            for (int i = 0; i < order.Length; i++)
            {
                if (order[i] < 0) sb.Append('-');
                else sb.Append(Format.Hex(g[order[i]], 2));
            }
            return sb.Append('}').ToString();
        }

        // ---- Interface and endpoint extras ----------------------------------------------------

        /// <summary>
        /// dump_altsetting's walk over the class-specific descriptors after the interface
        /// descriptor (the HID descriptor is rendered by <see cref="LsusbVerbose"/>).
        /// </summary>
        public static void AppendInterfaceExtra(StringBuilder sb, UsbDevice device, UsbAltSetting alt, UsbIds names)
        {
            byte[] extra = alt.Extra;
            InterfaceDescriptor id = alt.Descriptor;
            int offset = 0;
            while (extra.Length - offset >= 2)
            {
                int length = extra[offset];
                if (length < 2)
                {
                    Junk(sb, new ReadOnlySpan<byte>(extra, offset, extra.Length - offset), "      ", extra.Length - offset);
                    break;
                }
                ReadOnlySpan<byte> d = new ReadOnlySpan<byte>(extra, offset, length <= extra.Length - offset ? length : extra.Length - offset);
                bool shown = false;
                if (d[1] == CsInterface || d[1] == CsDevice)
                {
                    if (id.bInterfaceClass == UsbClass.Audio && id.bInterfaceSubClass == AudioSubclassControl)
                    {
                        AppendAudioControl(sb, device, names, d, id.bInterfaceProtocol);
                        shown = true;
                    }
                    else if (id.bInterfaceClass == UsbClass.Audio && id.bInterfaceSubClass == AudioSubclassStreaming)
                    {
                        AppendAudioStreaming(sb, device, names, d, id.bInterfaceProtocol);
                        shown = true;
                    }
                    else if (id.bInterfaceClass == UsbClass.Communications)
                    {
                        AppendComm(sb, device, d, "      ");
                        shown = true;
                    }
                }
                if (!shown)
                {
                    sb.Append("      ** UNRECOGNIZED: ");
                    Bytes(sb, d);
                }
                offset += length;
            }
        }

        /// <summary>dump_endpoint's walk over the descriptors after an endpoint (the SuperSpeed companion is kept apart by the parser).</summary>
        public static void AppendEndpointExtra(StringBuilder sb, UsbDevice device, UsbEndpoint endpoint, UsbIds names)
        {
            byte[] extra = endpoint.Extra;
            InterfaceDescriptor id = endpoint.AltSetting != null ? endpoint.AltSetting.Descriptor : default;
            int offset = 0;
            while (extra.Length - offset >= 2)
            {
                int length = extra[offset];
                if (length < 2)
                {
                    Junk(sb, new ReadOnlySpan<byte>(extra, offset, extra.Length - offset), "        ", extra.Length - offset);
                    break;
                }
                ReadOnlySpan<byte> d = new ReadOnlySpan<byte>(extra, offset, length <= extra.Length - offset ? length : extra.Length - offset);
                if (d[1] == CsEndpoint && id.bInterfaceClass == UsbClass.Audio && id.bInterfaceSubClass == AudioSubclassStreaming)
                {
                    AppendAudioStreamingEndpoint(sb, device, names, d, id.bInterfaceProtocol);
                }
                else
                {
                    sb.Append("        ** UNRECOGNIZED: ");
                    Bytes(sb, d);
                }
                offset += length;
            }
        }

        // ---- CDC (dump_comm_descriptor) -------------------------------------------------------

        const byte CdcHeader = 0x00, CdcCallManagement = 0x01, CdcAcm = 0x02, CdcUnion = 0x06, CdcEthernet = 0x0F;

        /// <summary>One CDC functional descriptor (CDC 1.2 5.2.3; PSTN 1.2 5.3; ECM 1.2 5.4).</summary>
        public static void AppendComm(StringBuilder sb, UsbDevice device, ReadOnlySpan<byte> b, string indent)
        {
            string type;
            switch (b.Length >= CommonHeaderSize ? b[2] : -1)
            {
                case CdcHeader:
                    type = "Header";
                    if (b[0] != 5) break;
                    sb.Append(indent).Append("CDC Header:\n");
                    sb.Append(indent).Append("  bcdCDC               ").Append(Format.Hex(b[4])).Append('.').Append(Format.Hex(b[3], 2)).Append('\n');
                    return;
                case CdcCallManagement:
                    type = "Call Management";
                    if (b[0] != 5) break;
                    sb.Append(indent).Append("CDC Call Management:\n");
                    sb.Append(indent).Append("  bmCapabilities       0x").Append(Format.Hex(b[3], 2)).Append('\n');
                    if ((b[3] & 0x01) != 0) sb.Append(indent).Append("    call management\n");
                    if ((b[3] & 0x02) != 0) sb.Append(indent).Append("    use DataInterface\n");
                    sb.Append(indent).Append("  bDataInterface          ").Append(Format.Decimal(b[4])).Append('\n');
                    return;
                case CdcAcm:
                    type = "ACM";
                    if (b[0] != 4) break;
                    sb.Append(indent).Append("CDC ACM:\n");
                    sb.Append(indent).Append("  bmCapabilities       0x").Append(Format.Hex(b[3], 2)).Append('\n');
                    if ((b[3] & 0x08) != 0) sb.Append(indent).Append("    connection notifications\n");
                    if ((b[3] & 0x04) != 0) sb.Append(indent).Append("    sends break\n");
                    if ((b[3] & 0x02) != 0) sb.Append(indent).Append("    line coding and serial state\n");
                    if ((b[3] & 0x01) != 0) sb.Append(indent).Append("    get/set/clear comm features\n");
                    return;
                case CdcUnion:
                    type = "Union";
                    if (b[0] < 5) break;
                    sb.Append(indent).Append("CDC Union:\n");
                    sb.Append(indent).Append("  bMasterInterface        ").Append(Format.Decimal(b[3])).Append('\n');
                    sb.Append(indent).Append("  bSlaveInterface         ");
                    for (int i = 4; i < b[0] && i < b.Length; i++)
                        sb.Append(Format.Decimal(b[i])).Append(' ');
                    sb.Append('\n');
                    return;
                case CdcEthernet:
                    type = "Ethernet";
                    if (b[0] != 13) break;
                    string mac = StringOf(device, b[3]);
                    uint statistics = (uint)(b[4] | b[5] << 8 | b[6] << 16 | b[7] << 24);
                    sb.Append(indent).Append("CDC Ethernet:\n");
                    sb.Append(indent).Append("  iMacAddress             ").Append(Pad(b[3], 10)).Append(' ').Append(b[3] != 0 ? mac : "").Append('\n');
                    sb.Append(indent).Append("  bmEthernetStatistics    0x").Append(Format.Hex(statistics, 8)).Append('\n');
                    sb.Append(indent).Append("  wMaxSegmentSize         ").Append(Pad(b[8] | b[9] << 8, 10)).Append('\n');
                    sb.Append(indent).Append("  wNumberMCFilters            0x").Append(Format.Hex((ulong)(b[10] | b[11] << 8), 4)).Append('\n');
                    sb.Append(indent).Append("  bNumberPowerFilters     ").Append(Pad(b[12], 10)).Append('\n');
                    return;
                default:
                    sb.Append(indent).Append("UNRECOGNIZED CDC: ");
                    Bytes(sb, b);
                    return;
            }
            sb.Append(indent).Append("INVALID CDC (").Append(type).Append("): ");
            Bytes(sb, b);
        }

        // ---- Audio (UAC1) ---------------------------------------------------------------------

        /// <summary>usbutils' enum uac_interface_subtype (the UAC3 numbering); UAC1 and UAC2 codes are mapped onto it.</summary>
        const int SubtypeHeader = 1, SubtypeInputTerminal = 2, SubtypeOutputTerminal = 3, SubtypeExtendedTerminal = 4, SubtypeMixerUnit = 5,
                  SubtypeSelectorUnit = 6, SubtypeFeatureUnit = 7, SubtypeEffectUnit = 8, SubtypeProcessingUnit = 9, SubtypeExtensionUnit = 10,
                  SubtypeClockSource = 11, SubtypeClockSelector = 12, SubtypeClockMultiplier = 13, SubtypeSampleRateConverter = 14,
                  SubtypePowerDomain = 16;

        /// <summary>get_uac_interface_subtype: UAC1 codes 4..8 moved to the enum; an unknown protocol keeps the raw code (as usbutils does).</summary>
        static int InterfaceSubtype(byte code, byte protocol)
        {
            if (protocol == 0)
            {
                switch (code)
                {
                    case 4: return SubtypeMixerUnit;
                    case 5: return SubtypeSelectorUnit;
                    case 6: return SubtypeFeatureUnit;
                    case 7: return SubtypeProcessingUnit;
                    case 8: return SubtypeExtensionUnit;
                }
            }
            else if (protocol == AudioProtocolUac2)
            {
                switch (code)
                {
                    case 4: return SubtypeMixerUnit;
                    case 5: return SubtypeSelectorUnit;
                    case 6: return SubtypeFeatureUnit;
                    case 7: return SubtypeEffectUnit;
                    case 8: return SubtypeProcessingUnit;
                    case 9: return SubtypeExtensionUnit;
                    case 10: return SubtypeClockSource;
                    case 11: return SubtypeClockSelector;
                    case 12: return SubtypeClockMultiplier;
                    case 13: return SubtypeSampleRateConverter;
                }
            }
            return code;
        }

        static void AudioHeader(StringBuilder sb, string what, ReadOnlySpan<byte> b, byte expectedType, string indent)
        {
            if (b[1] != expectedType)
                sb.Append("      Warning: Invalid descriptor\n");
            else if (b[0] < CommonHeaderSize)
                sb.Append("      Warning: Descriptor too short\n");
            sb.Append(indent).Append(what).Append(" Descriptor:\n");
            sb.Append(indent).Append("  bLength             ").Append(Pad(b[0], 5)).Append('\n');
            sb.Append(indent).Append("  bDescriptorType     ").Append(Pad(b[1], 5)).Append('\n');
            sb.Append(indent).Append("  bDescriptorSubtype  ").Append(Pad(b[2], 5)).Append(' ');
        }

        /// <summary>dump_audiocontrol_interface: the subtype's name, then its UAC1 field table (UAC2/3 tables are not rendered: their warning line instead).</summary>
        public static void AppendAudioControl(StringBuilder sb, UsbDevice device, UsbIds names, ReadOnlySpan<byte> b, byte protocol)
        {
            AudioHeader(sb, "AudioControl Interface", b, CsInterface, "      ");
            switch (InterfaceSubtype(b[2], protocol))
            {
                case SubtypeHeader: AudioSubtype(sb, device, names, "HEADER", UacTables.Header, b, protocol, AudioIndent); break;
                case SubtypeInputTerminal: AudioSubtype(sb, device, names, "INPUT_TERMINAL", UacTables.InputTerminal, b, protocol, AudioIndent); break;
                case SubtypeOutputTerminal: AudioSubtype(sb, device, names, "OUTPUT_TERMINAL", UacTables.OutputTerminal, b, protocol, AudioIndent); break;
                case SubtypeMixerUnit: AudioSubtype(sb, device, names, "MIXER_UNIT", UacTables.MixerUnit, b, protocol, AudioIndent); break;
                case SubtypeSelectorUnit: AudioSubtype(sb, device, names, "SELECTOR_UNIT", UacTables.SelectorUnit, b, protocol, AudioIndent); break;
                case SubtypeFeatureUnit: AudioSubtype(sb, device, names, "FEATURE_UNIT", UacTables.FeatureUnit, b, protocol, AudioIndent); break;
                case SubtypeExtensionUnit: AudioSubtype(sb, device, names, "EXTENSION_UNIT", UacTables.ExtensionUnit, b, protocol, AudioIndent); break;
                case SubtypeProcessingUnit: AudioSubtype(sb, device, names, "PROCESSING_UNIT", UacTables.ProcessingUnit, b, protocol, AudioIndent); break;
                case SubtypeExtendedTerminal: AudioSubtype(sb, device, names, "EXTENDED_TERMINAL", null, b, protocol, AudioIndent); break;
                case SubtypeEffectUnit: AudioSubtype(sb, device, names, "EFFECT_UNIT", null, b, protocol, AudioIndent); break;
                case SubtypeClockSource: AudioSubtype(sb, device, names, "CLOCK_SOURCE", null, b, protocol, AudioIndent); break;
                case SubtypeClockSelector: AudioSubtype(sb, device, names, "CLOCK_SELECTOR", null, b, protocol, AudioIndent); break;
                case SubtypeClockMultiplier: AudioSubtype(sb, device, names, "CLOCK_MULTIPLIER", null, b, protocol, AudioIndent); break;
                case SubtypeSampleRateConverter: AudioSubtype(sb, device, names, "SAMPLING_RATE_CONVERTER", null, b, protocol, AudioIndent); break;
                case SubtypePowerDomain: AudioSubtype(sb, device, names, "POWER_DOMAIN", null, b, protocol, AudioIndent); break;
                default:
                    sb.Append("(unknown)\n        Invalid desc subtype:");
                    Bytes(sb, Tail(b, CommonHeaderSize));
                    break;
            }
        }

        /// <summary>dump_audio_subtype: "(NAME)", then the protocol's table over the bytes after the common three.</summary>
        static void AudioSubtype(StringBuilder sb, UsbDevice device, UsbIds names, string name, DescField[] uac1, ReadOnlySpan<byte> b, byte protocol, int indent)
        {
            sb.Append('(').Append(name).Append(")\n");
            string version = protocol == AudioProtocolUac2 ? "UAC2" : protocol == AudioProtocolUac3 ? "UAC3" : "UAC1";
            DescField[] table = version == "UAC1" ? uac1 : null;
            if (table == null)
            {
                if (version == "UAC1")
                {
                    sb.Append(' ', indent * 2).Append("Warning: ").Append(name).Append(" descriptors are illegal for UAC1\n");
                    return;
                }
                // UAC2/UAC3 tables are not carried: the bytes as they are.
                sb.Append(' ', indent * 2).Append("** UNRECOGNIZED: ");
                Bytes(sb, b);
                return;
            }
            LsusbDescriptorDump.Dump(sb, device, names, table, Tail(b, CommonHeaderSize), indent);
        }

        /// <summary>dump_audiostreaming_interface: AS_GENERAL through its table, FORMAT_TYPE I/II/III of UAC1 as usbutils prints them by hand.</summary>
        public static void AppendAudioStreaming(StringBuilder sb, UsbDevice device, UsbIds names, ReadOnlySpan<byte> b, byte protocol)
        {
            AudioHeader(sb, "AudioStreaming Interface", b, CsInterface, "      ");
            switch (b[2])
            {
                case 0x01:
                    AudioSubtype(sb, device, names, "AS_GENERAL", UacTables.StreamingGeneral, b, protocol, AudioIndent);
                    return;
                case 0x02:
                    sb.Append("(FORMAT_TYPE)\n");
                    if (protocol != 0)
                    {
                        if (protocol == AudioProtocolUac2)
                        {
                            sb.Append("        ** UNRECOGNIZED: ");    // UAC2 format types are not carried
                            Bytes(sb, b);
                        }
                        return;
                    }
                    if (b[0] < 8)
                        sb.Append("      Warning: Descriptor too short\n");
                    sb.Append("        bFormatType         ").Append(Pad(ByteAt(b, 3), 5)).Append(' ');
                    switch (ByteAt(b, 3))
                    {
                        case 0x01: FormatType(sb, b, "(FORMAT_TYPE_I)\n", false); break;
                        case 0x02: FormatType(sb, b, "(FORMAT_TYPE_II)\n", true); break;
                        case 0x03: FormatType(sb, b, "(FORMAT_TYPE_III)\n", false); break;
                        default:
                            sb.Append("(unknown)\n        Invalid desc format type:");
                            Bytes(sb, Tail(b, 4));
                            break;
                    }
                    return;
                default:
                    sb.Append("        Invalid desc subtype:");
                    Bytes(sb, Tail(b, CommonHeaderSize));
                    return;
            }
        }

        /// <summary>UAC1 Format Type I/III (Formats 2.2.5) and II (2.3.5): channels or bit rate, then the sampling frequencies.</summary>
        static void FormatType(StringBuilder sb, ReadOnlySpan<byte> b, string name, bool typeII)
        {
            sb.Append(name);
            int count = typeII ? ByteAt(b, 8) : ByteAt(b, 7);
            int first = typeII ? 9 : 8;
            int needed = count != 0 ? count * 3 + first : first + 6;
            if (b[0] < needed)
                sb.Append("      Warning: Descriptor too short\n");
            if (typeII)
            {
                sb.Append("        wMaxBitRate         ").Append(Pad(ByteAt(b, 4) | ByteAt(b, 5) << 8, 5)).Append('\n');
                sb.Append("        wSamplesPerFrame    ").Append(Pad(ByteAt(b, 6) | ByteAt(b, 7) << 8, 5)).Append('\n');
            }
            else
            {
                sb.Append("        bNrChannels         ").Append(Pad(ByteAt(b, 4), 5)).Append('\n');
                sb.Append("        bSubframeSize       ").Append(Pad(ByteAt(b, 5), 5)).Append('\n');
                sb.Append("        bBitResolution      ").Append(Pad(ByteAt(b, 6), 5)).Append('\n');
            }
            sb.Append("        bSamFreqType        ").Append(Pad(count, 5)).Append(count != 0 ? " Discrete\n" : " Continuous\n");
            if (count == 0)
            {
                sb.Append("        tLowerSamFreq     ").Append(Pad(Three(b, first), 7)).Append('\n');
                sb.Append("        tUpperSamFreq     ").Append(Pad(Three(b, first + 3), 7)).Append('\n');
            }
            else
            {
                for (int i = 0; i < count; i++)
                    sb.Append("        tSamFreq[").Append(Format.PadLeft(Format.Decimal((ulong)i), 2, ' ')).Append("]      ")
                      .Append(Pad(Three(b, first + 3 * i), 7)).Append('\n');
            }
            Junk(sb, b, "        ", needed);
        }

        /// <summary>dump_audiostreaming_endpoint: the class-specific isochronous data endpoint (UAC1 4.6.1.2).</summary>
        public static void AppendAudioStreamingEndpoint(StringBuilder sb, UsbDevice device, UsbIds names, ReadOnlySpan<byte> b, byte protocol)
        {
            if (b[1] != CsEndpoint)
                sb.Append("      Warning: Invalid descriptor\n");
            sb.Append("        AudioStreaming Endpoint Descriptor:\n");
            sb.Append("          bLength             ").Append(Pad(b[0], 5)).Append('\n');
            sb.Append("          bDescriptorType     ").Append(Pad(b[1], 5)).Append('\n');
            sb.Append("          bDescriptorSubtype  ").Append(Pad(ByteAt(b, 2), 5)).Append(' ');
            AudioSubtype(sb, device, names, ByteAt(b, 2) == 1 ? "EP_GENERAL" : "invalid", UacTables.IsochronousEndpoint, b, protocol, AudioEndpointIndent);
        }

        /// <summary>wFormatTag is 0xTNNN: T the format type (I = 0, II = 1, III = 2), NNN the code (Audio Data Formats 1.0 A.1).</summary>
        const ulong FormatTypeIIBase = 0x1000, FormatTypeIIIBase = 0x2000, FormatCodeMask = 0xFFF;

        /// <summary>desc_snowflake_dump_uac1_as_interface_wformattag's names (Audio Data Formats 1.0 A.1).</summary>
        public static string FormatTagName(ulong value)
        {
            int code = (int)(value & FormatCodeMask);
            if (value < (ulong)UacTables.FormatTypeI.Length) return UacTables.FormatTypeI[code];
            if (value >= FormatTypeIIBase && code < UacTables.FormatTypeII.Length && value < FormatTypeIIBase + FormatCodeMask) return UacTables.FormatTypeII[code];
            if (value >= FormatTypeIIIBase && code < UacTables.FormatTypeIII.Length && value < FormatTypeIIIBase + FormatCodeMask) return UacTables.FormatTypeIII[code];
            return "undefined";
        }

        // ---- Helpers --------------------------------------------------------------------------

        /// <summary>get_dev_string: "" for index 0 or when the device does not answer.</summary>
        internal static string StringOf(UsbDevice device, byte index)
        {
            if (index == 0) return "";
            DeviceDescriptor d = device.Descriptor;
            if (index == d.iManufacturer && device.Manufacturer != null) return device.Manufacturer;
            if (index == d.iProduct && device.Product != null) return device.Product;
            if (index == d.iSerialNumber && device.SerialNumber != null) return device.SerialNumber;
            return UsbMessages.GetString(device, index, device.LanguageId, out string text) == UsbStatus.Ok && text != null ? text : "";
        }

        /// <summary>dump_junk: the bytes past what the descriptor's type defines.</summary>
        static void Junk(StringBuilder sb, ReadOnlySpan<byte> b, string indent, int length)
        {
            if (b[0] <= length) return;
            sb.Append(indent).Append("junk at descriptor end:");
            for (int i = length; i < b[0] && i < b.Length; i++)
                sb.Append(' ').Append(Format.Hex(b[i], 2));
            sb.Append('\n');
        }

        /// <summary>dump_bytes: " %02x" each, then a line end.</summary>
        static void Bytes(StringBuilder sb, ReadOnlySpan<byte> b)
        {
            int length = b.Length > 0 && b[0] < b.Length ? b[0] : b.Length;
            for (int i = 0; i < length; i++)
                sb.Append(' ').Append(Format.Hex(b[i], 2));
            sb.Append('\n');
        }

        static ReadOnlySpan<byte> Tail(ReadOnlySpan<byte> b, int skip)
        {
            int length = b[0] < b.Length ? b[0] : b.Length;
            return length > skip ? b.Slice(skip, length - skip) : ReadOnlySpan<byte>.Empty;
        }

        static int Three(ReadOnlySpan<byte> b, int offset) => ByteAt(b, offset) | ByteAt(b, offset + 1) << 8 | ByteAt(b, offset + 2) << 16;

        static byte ByteAt(ReadOnlySpan<byte> b, int offset) => offset < b.Length ? b[offset] : (byte)0;

        /// <summary>The names of the set bits of <paramref name="value"/>, highest bit first.</summary>
        static void Flags(StringBuilder sb, byte value, string[] namesByBit)
        {
            for (int bit = namesByBit.Length - 1; bit >= 0; bit--)
                if (namesByBit[bit] != null && (value & (1 << bit)) != 0) sb.Append(namesByBit[bit]);
        }

        static string Pad(int value, int width) => Format.PadLeft(Format.Decimal((ulong)(uint)value), width, ' ');
    }

    /// <summary>usbutils 014 desc-defs.c: the UAC1 descriptor tables lsusb renders.</summary>
    internal static class UacTables
    {
        static DescField F(string name, int size, DescFieldKind kind) => new DescField(name, size, kind);

        static DescField Array(string name, int size, DescFieldKind kind, string length1 = null, string length2 = null, bool bits = false) =>
            new DescField(name, size, kind) { Array = true, LengthField1 = length1, LengthField2 = length2, Bits = bits };

        static DescField Strings(string name, int size, DescFieldKind kind, string[] strings) => new DescField(name, size, kind) { Strings = strings };

        /// <summary>UAC1 channel names, in bit order (Table 3-1 wChannelConfig).</summary>
        static readonly string[] ChannelNames =
        {
            "Left Front (L)", "Right Front (R)", "Center Front (C)", "Low Frequency Enhancement (LFE)", "Left Surround (LS)",
            "Right Surround (RS)", "Left of Center (LC)", "Right of Center (RC)", "Surround (S)", "Side Left (SL)", "Side Right (SR)", "Top (T)",
        };

        static readonly string[] FeatureControls =
        {
            "Mute", "Volume", "Bass", "Mid", "Treble", "Graphic Equalizer", "Automatic Gain", "Delay", "Bass Boost", "Loudness",
            "Input gain", "Input gain pad", "Phase inverter",
        };

        static readonly string[] ProcessTypes = { "Undefined", "Up/Down-mix", "Dolby Prologic", "3D Stereo Extender", "Reverberation", "Chorus", "Dyn Range Comp" };

        public static readonly string[] FormatTypeI = { "TYPE_I_UNDEFINED", "PCM", "PCM8", "IEEE_FLOAT", "ALAW", "MULAW" };
        public static readonly string[] FormatTypeII = { "TYPE_II_UNDEFINED", "MPEG", "AC-3" };
        public static readonly string[] FormatTypeIII =
        {
            "TYPE_III_UNDEFINED", "IEC1937_AC-3", "IEC1937_MPEG-1_Layer1", "IEC1937_MPEG-Layer2/3/NOEXT", "IEC1937_MPEG-2_EXT",
            "IEC1937_MPEG-2_Layer1_LS", "IEC1937_MPEG-2_Layer2/3_LS",
        };

        static readonly string[] EndpointAttributes = { "Sampling Frequency", "Pitch", "Audio Data Format Control", null, null, null, null, "MaxPacketsOnly" };
        static readonly string[] LockDelayUnits = { "Undefined", "Milliseconds", "Decoded PCM samples" };

        /// <summary>UAC1 4.3.2 Table 4-2.</summary>
        public static readonly DescField[] Header =
        {
            F("bcdADC", 2, DescFieldKind.Bcd),
            F("wTotalLength", 2, DescFieldKind.Number),
            F("bInCollection", 1, DescFieldKind.Number),
            Array("baInterfaceNr", 1, DescFieldKind.Number),
        };

        /// <summary>UAC1 4.3.2.1 Table 4-3.</summary>
        public static readonly DescField[] InputTerminal =
        {
            F("bTerminalID", 1, DescFieldKind.Number),
            F("wTerminalType", 2, DescFieldKind.TerminalName),
            F("bAssocTerminal", 1, DescFieldKind.Number),
            F("bNrChannels", 1, DescFieldKind.Number),
            Strings("wChannelConfig", 2, DescFieldKind.BitmapStrings, ChannelNames),
            F("iChannelNames", 1, DescFieldKind.StringIndex),
            F("iTerminal", 1, DescFieldKind.StringIndex),
        };

        /// <summary>UAC1 4.3.2.2 Table 4-4.</summary>
        public static readonly DescField[] OutputTerminal =
        {
            F("bTerminalID", 1, DescFieldKind.Number),
            F("wTerminalType", 2, DescFieldKind.TerminalName),
            F("bAssocTerminal", 1, DescFieldKind.Number),
            F("bSourceID", 1, DescFieldKind.Number),
            F("iTerminal", 1, DescFieldKind.StringIndex),
        };

        /// <summary>UAC1 4.3.2.3 Table 4-5.</summary>
        public static readonly DescField[] MixerUnit =
        {
            F("bUnitID", 1, DescFieldKind.Number),
            F("bNrInPins", 1, DescFieldKind.Number),
            Array("baSourceID", 1, DescFieldKind.Number, "bNrInPins"),
            F("bNrChannels", 1, DescFieldKind.Number),
            Strings("wChannelConfig", 2, DescFieldKind.BitmapStrings, ChannelNames),
            F("iChannelNames", 1, DescFieldKind.StringIndex),
            Array("bmControls", 1, DescFieldKind.Bitmap, "bNrInPins", "bNrChannels", bits: true),
            F("iMixer", 1, DescFieldKind.StringIndex),
        };

        /// <summary>UAC1 4.3.2.4 Table 4-6.</summary>
        public static readonly DescField[] SelectorUnit =
        {
            F("bUnitID", 1, DescFieldKind.Number),
            F("bNrInPins", 1, DescFieldKind.Number),
            Array("baSourceID", 1, DescFieldKind.Number, "bNrInPins"),
            F("iSelector", 1, DescFieldKind.StringIndex),
        };

        /// <summary>UAC1 4.3.2.5 Table 4-7: bmaControls(i) are bControlSize bytes each, as many as fit.</summary>
        public static readonly DescField[] FeatureUnit =
        {
            F("bUnitID", 1, DescFieldKind.Number),
            F("bSourceID", 1, DescFieldKind.Number),
            F("bControlSize", 1, DescFieldKind.Number),
            new DescField("bmaControls", 0, DescFieldKind.Controls) { SizeField = "bControlSize", Array = true, Strings = FeatureControls },
            F("iFeature", 1, DescFieldKind.StringIndex),
        };

        /// <summary>UAC1 4.3.2.6 Table 4-8, without the process-specific part.</summary>
        public static readonly DescField[] ProcessingUnit =
        {
            F("bUnitID", 1, DescFieldKind.Number),
            Strings("wProcessType", 2, DescFieldKind.NumberStrings, ProcessTypes),
            F("bNrInPins", 1, DescFieldKind.Number),
            Array("baSourceID", 1, DescFieldKind.Number, "bNrInPins"),
            F("bNrChannels", 1, DescFieldKind.Number),
            Strings("wChannelConfig", 2, DescFieldKind.BitmapStrings, ChannelNames),
            F("iChannelNames", 1, DescFieldKind.StringIndex),
            F("bControlSize", 1, DescFieldKind.Number),
            Array("bmControls", 1, DescFieldKind.Bitmap, "bControlSize"),
            F("iProcessing", 1, DescFieldKind.StringIndex),
        };

        /// <summary>UAC1 4.3.2.7 Table 4-15.</summary>
        public static readonly DescField[] ExtensionUnit =
        {
            F("bUnitID", 1, DescFieldKind.Number),
            F("wExtensionCode", 2, DescFieldKind.Number),
            F("bNrInPins", 1, DescFieldKind.Number),
            Array("baSourceID", 1, DescFieldKind.Number, "bNrInPins"),
            F("bNrChannels", 1, DescFieldKind.Number),
            Strings("wChannelConfig", 2, DescFieldKind.BitmapStrings, ChannelNames),
            F("iChannelNames", 1, DescFieldKind.StringIndex),
            F("bControlSize", 1, DescFieldKind.Number),
            Array("bmControls", 1, DescFieldKind.Bitmap, "bControlSize"),
            F("iExtension", 1, DescFieldKind.StringIndex),
        };

        /// <summary>UAC1 4.5.2 Table 4-19.</summary>
        public static readonly DescField[] StreamingGeneral =
        {
            F("bTerminalLink", 1, DescFieldKind.Number),
            new DescField("bDelay", 1, DescFieldKind.NumberPostfix) { Postfix = " frames" },
            F("wFormatTag", 2, DescFieldKind.FormatTag),
        };

        /// <summary>UAC1 4.6.1.2 Table 4-21.</summary>
        public static readonly DescField[] IsochronousEndpoint =
        {
            Strings("bmAttributes", 1, DescFieldKind.BitmapStrings, EndpointAttributes),
            Strings("bLockDelayUnits", 1, DescFieldKind.NumberStrings, LockDelayUnits),
            F("wLockDelay", 2, DescFieldKind.Number),
        };
    }
}
