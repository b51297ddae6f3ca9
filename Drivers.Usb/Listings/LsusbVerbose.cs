using System;
using System.Text;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Names;
using Platform;

namespace Drivers.Usb.Listings
{
    /// <summary>
    /// usbutils' `lsusb -v` (usbutils 014 lsusb.c: dump_device, dump_config, dump_interface,
    /// dump_hid_device, dump_endpoint, do_dualspeed, dump_device_status), field for field and
    /// column for column. Like lsusb it asks the device for what it does not keep: the strings
    /// of iConfiguration/iInterface, the device qualifier and the device status (control
    /// requests, so call it from a thread). Names come from usb.ids with the rules of udev's
    /// hwdb that usbutils 014 reads (no names for class 00, subclass 00 or a protocol "None").
    /// Hub descriptors and port status, the BOS and the CDC and UAC1 class-specific descriptors
    /// come from <see cref="LsusbClassDescriptors"/>. Not rendered yet: other-speed
    /// configurations, the debug descriptor, class-specific descriptors of other classes
    /// (shown as "** UNRECOGNIZED:" with their bytes) and UAC2/UAC3 tables.
    /// </summary>
    public static class LsusbVerbose
    {
        /// <summary>"  bLength             %5u": labels are padded to this width at every indentation (one less before "0x").</summary>
        const int LabelWidth = 20;
        const int NumberWidth = 5;
        const int QualifierSize = 10;
        const int DeviceStatusSelfPowered = 1 << 0, DeviceStatusRemoteWakeup = 1 << 1, DeviceStatusTestMode = 1 << 2;
        const ushort Usb20 = 0x0200, UsbWithBos = 0x0201, Usb30 = 0x0300;
        const int DeviceStatusU1Enabled = 1 << 2, DeviceStatusU2Enabled = 1 << 3, DeviceStatusLtmEnabled = 1 << 4;
        /// <summary>Audio endpoints are 9 bytes long: bRefresh and bSynchAddress follow bInterval (UAC1 4.6.1.1).</summary>
        const int AudioEndpointLength = 9;
        const int SynchShift = 2, UsageShift = 4, TwoBitMask = 3;
        const byte HidCountryNotSupported = 0;

        /// <summary>The section of one device: a blank line, lsusb's line, then the descriptors.</summary>
        public static void Append(StringBuilder sb, UsbDevice device, UsbIds names)
        {
            DeviceDescriptor d = device.Descriptor;
            sb.Append('\n');
            sb.Append(UsbListings.LsusbLine(device, names));
            sb.Append("Device Descriptor:\n");
            Field(sb, 2, "bLength", d.bLength);
            Field(sb, 2, "bDescriptorType", d.bDescriptorType);
            Bcd(sb, 2, "bcdUSB", d.bcdUSB);
            Field(sb, 2, "bDeviceClass", d.bDeviceClass, ClassName(names, d.bDeviceClass));
            Field(sb, 2, "bDeviceSubClass", d.bDeviceSubClass, SubClassName(names, d.bDeviceClass, d.bDeviceSubClass));
            Field(sb, 2, "bDeviceProtocol", d.bDeviceProtocol, ProtocolName(names, d.bDeviceClass, d.bDeviceSubClass, d.bDeviceProtocol));
            Field(sb, 2, "bMaxPacketSize0", d.bMaxPacketSize0);
            HexField(sb, 2, "idVendor", d.idVendor, 4, Or(names != null ? names.Vendor(d.idVendor) : null, ""));
            HexField(sb, 2, "idProduct", d.idProduct, 4, Or(names != null ? names.Product(d.idVendor, d.idProduct) : null, ""));
            Bcd(sb, 2, "bcdDevice", d.bcdDevice);
            Field(sb, 2, "iManufacturer", d.iManufacturer, StringOf(device, d.iManufacturer));
            Field(sb, 2, "iProduct", d.iProduct, StringOf(device, d.iProduct));
            Field(sb, 2, "iSerial", d.iSerialNumber, StringOf(device, d.iSerialNumber));
            Field(sb, 2, "bNumConfigurations", d.bNumConfigurations);
            UsbConfiguration[] configs = device.Configurations;
            for (int i = 0; i < configs.Length; i++)
                AppendConfiguration(sb, device, configs[i], names);
            // dumpdev's order: hub, BOS (bcdUSB 2.01 and up), device qualifier (2.00 only), status.
            if (d.bDeviceClass == UsbClass.Hub)
                LsusbClassDescriptors.AppendHub(sb, device);
            if (d.bcdUSB >= UsbWithBos)
                LsusbClassDescriptors.AppendBos(sb, device);
            AppendQualifier(sb, device, names);
            AppendStatus(sb, device);
        }

        static void AppendConfiguration(StringBuilder sb, UsbDevice device, UsbConfiguration config, UsbIds names)
        {
            ConfigurationDescriptor c = config.Descriptor;
            sb.Append("  Configuration Descriptor:\n");
            Field(sb, 4, "bLength", c.bLength);
            Field(sb, 4, "bDescriptorType", c.bDescriptorType);
            HexField(sb, 4, "wTotalLength", c.wTotalLength, 4, null);
            Field(sb, 4, "bNumInterfaces", c.bNumInterfaces);
            Field(sb, 4, "bConfigurationValue", c.bConfigurationValue);
            Field(sb, 4, "iConfiguration", c.iConfiguration, StringOf(device, c.iConfiguration));
            Label(sb, 4, "bmAttributes");
            sb.Append(" 0x" + Format.Hex(c.bmAttributes, 2) + "\n");
            sb.Append(c.SelfPowered ? "      Self Powered\n" : "      (Bus Powered)\n");
            if (c.RemoteWakeup)
                sb.Append("      Remote Wakeup\n");
            Label(sb, 4, "MaxPower");
            sb.Append(Format.PadLeft(Format.Decimal((ulong)config.MaxPowerMilliamps(device.Speed)), NumberWidth, ' ') + "mA\n");
            UsbInterface[] interfaces = config.Interfaces;
            for (int i = 0; i < interfaces.Length; i++)
                for (int a = 0; a < interfaces[i].AltSettings.Length; a++)
                    AppendInterface(sb, device, interfaces[i].AltSettings[a], names);
        }

        static void AppendInterface(StringBuilder sb, UsbDevice device, UsbAltSetting alt, UsbIds names)
        {
            InterfaceDescriptor i = alt.Descriptor;
            sb.Append("    Interface Descriptor:\n");
            Field(sb, 6, "bLength", i.bLength);
            Field(sb, 6, "bDescriptorType", i.bDescriptorType);
            Field(sb, 6, "bInterfaceNumber", i.bInterfaceNumber);
            Field(sb, 6, "bAlternateSetting", i.bAlternateSetting);
            Field(sb, 6, "bNumEndpoints", i.bNumEndpoints);
            Field(sb, 6, "bInterfaceClass", i.bInterfaceClass, ClassName(names, i.bInterfaceClass));
            Field(sb, 6, "bInterfaceSubClass", i.bInterfaceSubClass, SubClassName(names, i.bInterfaceClass, i.bInterfaceSubClass));
            Field(sb, 6, "bInterfaceProtocol", i.bInterfaceProtocol, ProtocolName(names, i.bInterfaceClass, i.bInterfaceSubClass, i.bInterfaceProtocol));
            Field(sb, 6, "iInterface", i.iInterface, StringOf(device, i.iInterface));
            if (alt.HasHid)
                AppendHid(sb, alt.Hid, names);
            else
                LsusbClassDescriptors.AppendInterfaceExtra(sb, device, alt, names);
            for (int e = 0; e < alt.Endpoints.Length; e++)
                AppendEndpoint(sb, device, alt.Endpoints[e], names);
        }

        /// <summary>dump_hid_device: the report descriptors are "UNAVAILABLE" while a driver holds the interface, as on Linux.</summary>
        static void AppendHid(StringBuilder sb, HidDescriptor h, UsbIds names)
        {
            sb.Append("        HID Device Descriptor:\n");
            Field(sb, 10, "bLength", h.bLength);
            Field(sb, 10, "bDescriptorType", h.bDescriptorType);
            Bcd(sb, 10, "bcdHID", h.bcdHID);
            Field(sb, 10, "bCountryCode", h.bCountryCode, Or(names != null ? names.Tagged("HCC", h.bCountryCode, 2) : null, ""));
            Field(sb, 10, "bNumDescriptors", h.bNumDescriptors);
            HidClassDescriptorRef[] refs = h.Descriptors;
            for (int i = 0; refs != null && i < refs.Length; i++)
            {
                Field(sb, 10, "bDescriptorType", refs[i].bDescriptorType, Or(names != null ? names.Tagged("HID", refs[i].bDescriptorType, 2) : null, ""));
                Field(sb, 10, "wDescriptorLength", refs[i].wDescriptorLength);
            }
            for (int i = 0; refs != null && i < refs.Length; i++)
            {
                if (refs[i].bDescriptorType != DescriptorType.HidReport)
                    continue;
                sb.Append("         Report Descriptors: \n");
                sb.Append("           ** UNAVAILABLE **\n");
            }
        }

        static void AppendEndpoint(StringBuilder sb, UsbDevice device, UsbEndpoint endpoint, UsbIds names)
        {
            EndpointDescriptor e = endpoint.Descriptor;
            sb.Append("      Endpoint Descriptor:\n");
            Field(sb, 8, "bLength", e.bLength);
            Field(sb, 8, "bDescriptorType", e.bDescriptorType);
            Label(sb, 8, "bEndpointAddress");
            sb.Append(" 0x" + Format.Hex(e.bEndpointAddress, 2) + "  EP " + Format.Decimal((ulong)e.Number) + (e.IsIn ? " IN" : " OUT") + "\n");
            Field(sb, 8, "bmAttributes", e.bmAttributes);
            sb.Append("          Transfer Type            " + TransferName(e.Type) + "\n");
            sb.Append("          Synch Type               " + SynchName((e.bmAttributes >> SynchShift) & TwoBitMask) + "\n");
            sb.Append("          Usage Type               " + UsageName((e.bmAttributes >> UsageShift) & TwoBitMask) + "\n");
            HexField(sb, 8, "wMaxPacketSize", e.wMaxPacketSize, 4,
                     Format.Decimal((ulong)e.Mult) + "x " + Format.Decimal((ulong)e.MaxPacketSize) + " bytes", twoSpaces: true);
            Field(sb, 8, "bInterval", e.bInterval);
            if (e.bLength == AudioEndpointLength)
            {
                ReadOnlySpan<byte> raw = RawEndpoint(endpoint);
                Field(sb, 8, "bRefresh", raw.Length >= AudioEndpointLength ? raw[7] : 0);
                Field(sb, 8, "bSynchAddress", raw.Length >= AudioEndpointLength ? raw[8] : 0);
            }
            LsusbClassDescriptors.AppendEndpointExtra(sb, device, endpoint, names);
            if (endpoint.HasCompanion)
            {
                // "        bMaxBurst %15u", and the streams (bulk) or Mult (isochronous) of the companion (USB 3.2 9.6.7).
                Field(sb, 8, "bMaxBurst", endpoint.Companion.bMaxBurst);
                int attributes = endpoint.Companion.bmAttributes;
                if (e.Type == TransferType.Bulk && (attributes & CompanionMaxStreamsMask) != 0)
                    sb.Append("        MaxStreams " + Format.PadLeft(Format.Decimal(1ul << (attributes & CompanionMaxStreamsMask)), 14, ' ') + "\n");
                if (e.Type == TransferType.Isochronous && (attributes & CompanionMultMask) != 0)
                    sb.Append("        Mult " + Format.PadLeft(Format.Decimal((ulong)(attributes & CompanionMultMask)), 20, ' ') + "\n");
            }
        }

        const int CompanionMaxStreamsMask = 0x1F, CompanionMultMask = 0x3;

        /// <summary>The endpoint's descriptor bytes in its configuration's raw descriptors (for the fields the parser does not keep); empty if not found.</summary>
        static ReadOnlySpan<byte> RawEndpoint(UsbEndpoint endpoint)
        {
            UsbAltSetting alt = endpoint.AltSetting;
            UsbConfiguration config = alt != null && alt.Interface != null ? alt.Interface.Configuration : null;
            if (config == null || config.Raw == null)
                return ReadOnlySpan<byte>.Empty;
            byte[] raw = config.Raw;
            bool inAlt = false;
            int offset = 0;
            while (offset + 2 <= raw.Length && raw[offset] >= 2 && offset + raw[offset] <= raw.Length)
            {
                int length = raw[offset];
                byte type = raw[offset + 1];
                if (type == DescriptorType.Interface && length >= InterfaceDescriptor.Size)
                    inAlt = raw[offset + 2] == alt.Descriptor.bInterfaceNumber && raw[offset + 3] == alt.Descriptor.bAlternateSetting;
                else if (type == DescriptorType.Endpoint && inAlt && length >= EndpointDescriptor.Size && raw[offset + 2] == endpoint.Descriptor.bEndpointAddress)
                    return new ReadOnlySpan<byte>(raw, offset, length);
                offset += length;
            }
            return ReadOnlySpan<byte>.Empty;
        }

        /// <summary>do_dualspeed: a USB 2.0 device that answers GET_DESCRIPTOR(DEVICE_QUALIFIER) runs at another speed too.</summary>
        static void AppendQualifier(StringBuilder sb, UsbDevice device, UsbIds names)
        {
            if (device.Descriptor.bcdUSB != Usb20 || device.IsRootHub)
                return;
            var buffer = new byte[QualifierSize];
            if (UsbMessages.GetDescriptorOnce(device, DescriptorType.DeviceQualifier, 0, new Span<byte>(buffer), UsbMessages.ControlTimeoutMs, out int actual) != UsbStatus.Ok ||
                actual != QualifierSize)
                return;
            sb.Append("Device Qualifier (for other device speed):\n");
            Field(sb, 2, "bLength", buffer[0]);
            Field(sb, 2, "bDescriptorType", buffer[1]);
            Bcd(sb, 2, "bcdUSB", Le.U16(buffer, 2));
            Field(sb, 2, "bDeviceClass", buffer[4], ClassName(names, buffer[4]));
            Field(sb, 2, "bDeviceSubClass", buffer[5], SubClassName(names, buffer[4], buffer[5]));
            Field(sb, 2, "bDeviceProtocol", buffer[6], ProtocolName(names, buffer[4], buffer[5], buffer[6]));
            Field(sb, 2, "bMaxPacketSize0", buffer[7]);
            Field(sb, 2, "bNumConfigurations", buffer[8]);
        }

        static void AppendStatus(StringBuilder sb, UsbDevice device)
        {
            if (UsbMessages.GetStatus(device, RequestType.RecipientDevice, 0, out ushort status) != UsbStatus.Ok)
                return;
            sb.Append("Device Status:     0x" + Format.Hex(status, 4) + "\n");
            sb.Append((status & DeviceStatusSelfPowered) != 0 ? "  Self Powered\n" : "  (Bus Powered)\n");
            if ((status & DeviceStatusRemoteWakeup) != 0)
                sb.Append("  Remote Wakeup Enabled\n");
            bool superSpeed = device.Descriptor.bcdUSB >= Usb30;
            if (!superSpeed && (status & DeviceStatusTestMode) != 0)
                sb.Append("  Test Mode\n");
            if (superSpeed)
            {
                if ((status & DeviceStatusU1Enabled) != 0) sb.Append("  U1 Enabled\n");
                if ((status & DeviceStatusU2Enabled) != 0) sb.Append("  U2 Enabled\n");
                if ((status & DeviceStatusLtmEnabled) != 0) sb.Append("  Latency Tolerance Messaging (LTM) Enabled\n");
            }
        }

        // ---- Names --------------------------------------------------------------------------

        /// <summary>udev's hwdb, which usbutils 014 reads, has no entry for class 00.</summary>
        static string ClassName(UsbIds names, byte cls) => names == null || cls == 0 ? "" : Or(names.Class(cls), "");

        /// <summary>... nor for subclass 00 of any class.</summary>
        static string SubClassName(UsbIds names, byte cls, byte sub) => names == null || cls == 0 || sub == 0 ? "" : Or(names.SubClass(cls, sub), "");

        /// <summary>... nor for protocols named "None".</summary>
        static string ProtocolName(UsbIds names, byte cls, byte sub, byte protocol)
        {
            if (names == null || cls == 0) return "";
            string name = names.Protocol(cls, sub, protocol);
            return name == null || name == "None" ? "" : name;
        }

        /// <summary>The string descriptor's text ("" for index 0 or when the device does not answer), like usbutils' get_string.</summary>
        static string StringOf(UsbDevice device, byte index)
        {
            if (index == 0) return "";
            DeviceDescriptor d = device.Descriptor;
            if (index == d.iManufacturer && device.Manufacturer != null) return device.Manufacturer;
            if (index == d.iProduct && device.Product != null) return device.Product;
            if (index == d.iSerialNumber && device.SerialNumber != null) return device.SerialNumber;
            return UsbMessages.GetString(device, index, device.LanguageId, out string text) == UsbStatus.Ok && text != null ? text : "";
        }

        static string TransferName(TransferType type)
        {
            switch (type)
            {
                case TransferType.Control: return "Control";
                case TransferType.Isochronous: return "Isochronous";
                case TransferType.Bulk: return "Bulk";
                default: return "Interrupt";
            }
        }

        static string SynchName(int synch)
        {
            switch (synch)
            {
                case 0: return "None";
                case 1: return "Asynchronous";
                case 2: return "Adaptive";
                default: return "Synchronous";
            }
        }

        static string UsageName(int usage)
        {
            switch (usage)
            {
                case 0: return "Data";
                case 1: return "Feedback";
                case 2: return "Implicit feedback Data";
                default: return "(reserved)";
            }
        }

        static string Or(string value, string fallback) => value ?? fallback;

        // ---- printf("%-Ns%5u %s") ------------------------------------------------------------

        static void Label(StringBuilder sb, int indent, string label)
        {
            sb.Append(new string(' ', indent));
            sb.Append(Format.PadRight(label, LabelWidth));
        }

        /// <summary>"  bLength             %5u" (no name).</summary>
        static void Field(StringBuilder sb, int indent, string label, int value)
        {
            Label(sb, indent, label);
            sb.Append(Format.PadLeft(Format.Decimal((ulong)value), NumberWidth, ' ') + "\n");
        }

        /// <summary>"  bDeviceClass        %5u %s" (a space even when the name is empty).</summary>
        static void Field(StringBuilder sb, int indent, string label, int value, string name)
        {
            Label(sb, indent, label);
            sb.Append(Format.PadLeft(Format.Decimal((ulong)value), NumberWidth, ' ') + " " + name + "\n");
        }

        /// <summary>"  idVendor           0x%04x %s"; name null: no name part.</summary>
        static void HexField(StringBuilder sb, int indent, string label, int value, int digits, string name, bool twoSpaces = false)
        {
            sb.Append(new string(' ', indent));
            sb.Append(Format.PadRight(label, LabelWidth - 1));
            sb.Append("0x" + Format.Hex((ulong)value, digits));
            if (name != null)
                sb.Append((twoSpaces ? "  " : " ") + name);
            sb.Append("\n");
        }

        /// <summary>"  bcdUSB              %2x.%02x".</summary>
        static void Bcd(StringBuilder sb, int indent, string label, ushort value)
        {
            Label(sb, indent, label);
            sb.Append(Format.PadLeft(Format.Hex((ulong)(value >> 8)), 2, ' ') + "." + Format.Hex((ulong)(value & 0xFF), 2) + "\n");
        }
    }
}
