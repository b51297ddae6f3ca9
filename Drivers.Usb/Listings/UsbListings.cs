using System.Collections.Generic;
using System.Text;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Names;
using Drivers.Usb.Hub;
using Platform;

namespace Drivers.Usb.Listings
{
    /// <summary>
    /// Text views of the USB tree for the kernel shell: Linux's /sys/kernel/debug/usb/devices
    /// (drivers/usb/core/devices.c formats), an lsusb-style list and an lsusb -t-style tree.
    /// Safe while hot-plug changes the tree: they walk the copy-on-write snapshots of
    /// <see cref="UsbBus.Devices"/> and <see cref="UsbDevice.Children"/>, never a list being changed.
    /// </summary>
    public static class UsbListings
    {
        /// <summary>Bandwidth the devices file reports as the frame budget (Linux FRAME_TIME_MAX_USECS_ALLOC, 800 at high speed and SuperSpeed).</summary>
        const int FrameBudgetFullSpeedUs = 900;
        const int FrameBudgetHighSpeedUs = 800;
        const int MicroframeNs = 125;
        const int FrameUs = 1000;
        const int UsPerMs = 1000;
        const int MaxIntervalExponent = 15;

        // ---- /sys/kernel/debug/usb/devices ---------------------------------------------------

        public static string DevicesFile(UsbStack stack)
        {
            var sb = new StringBuilder();
            for (int b = 0; b < stack.Buses.Count; b++)
            {
                UsbBus bus = stack.Buses[b];
                if (bus.RootHub != null && !bus.RootHub.Destroyed)
                    DumpDevice(sb, bus, bus.RootHub, 0, 0);
            }
            return sb.ToString();
        }

        static string Dec(int value, int width, char pad) => Format.PadLeft(Format.Decimal((long)value), width, pad);
        static string Hex2(int value) => Format.Hex((ulong)(value & 0xFF), 2);
        static string Hex4(int value) => Format.Hex((ulong)(value & 0xFFFF), 4);
        /// <summary>printf "%2x".</summary>
        static string HexPad2(int value) => Format.PadLeft(Format.Hex((ulong)(value & 0xFF)), 2, ' ');

        static void DumpDevice(StringBuilder sb, UsbBus bus, UsbDevice device, int port, int count)
        {
            int parent = device.Parent != null ? device.Parent.Address : 0;
            string speed = UsbSpeedNames.Mbps(device.Speed);
            sb.Append("\nT:  Bus=" + Dec(bus.Number, 2, '0') + " Lev=" + Dec(device.Level, 2, '0') + " Prnt=" + Dec(parent, 2, '0') +
                      " Port=" + Dec(port, 2, '0') + " Cnt=" + Dec(count, 2, '0') + " Dev#=" + Dec(device.Address, 3, ' ') +
                      " Spd=" + Format.PadRight(speed, 4) + " MxCh=" + Dec(device.PortCount, 2, ' ') + "\n");
            if (device.IsRootHub)
            {
                // Linux usb_dump_bandwidth: the bus's periodic allocation against 90% / 80% of a frame.
                int budget = device.Speed >= UsbSpeed.High ? FrameBudgetHighSpeedUs : FrameBudgetFullSpeedUs;
                int alloc = bus.PeriodicAllocatedUs;
                sb.Append("B:  Alloc=" + Dec(alloc, 3, ' ') + "/" + Dec(budget, 3, ' ') + " us (" + Dec(alloc * 100 / budget, 2, ' ') + "%), #Int=" +
                          Dec(bus.InterruptEndpointCount, 3, ' ') + ", #Iso=" + Dec(bus.IsoEndpointCount, 3, ' ') + "\n");
            }
            DeviceDescriptor d = device.Descriptor;
            sb.Append("D:  Ver=" + HexPad2(d.bcdUSB >> 8) + "." + Hex2(d.bcdUSB) + " Cls=" + Hex2(d.bDeviceClass) + "(" +
                      Format.PadRight(ClassShortName(d.bDeviceClass), 5) + ") Sub=" + Hex2(d.bDeviceSubClass) + " Prot=" +
                      Hex2(d.bDeviceProtocol) + " MxPS=" + Dec(d.bMaxPacketSize0, 2, ' ') + " #Cfgs=" + Dec(d.bNumConfigurations, 3, ' ') + "\n");
            sb.Append("P:  Vendor=" + Hex4(d.idVendor) + " ProdID=" + Hex4(d.idProduct) + " Rev=" + HexPad2(d.bcdDevice >> 8) + "." +
                      Hex2(d.bcdDevice) + "\n");
            if (device.Manufacturer != null)
                sb.Append("S:  Manufacturer=" + Clip(device.Manufacturer) + "\n");
            if (device.Product != null)
                sb.Append("S:  Product=" + Clip(device.Product) + "\n");
            if (device.SerialNumber != null)
                sb.Append("S:  SerialNumber=" + Clip(device.SerialNumber) + "\n");
            for (int i = 0; i < device.Configurations.Length; i++)
                if (device.Configurations[i] != null)
                    DumpConfiguration(sb, device, device.Configurations[i]);
            int childCount = 0;
            UsbDevice[] children = device.Children;
            for (int p = 1; p <= children.Length; p++)
            {
                UsbDevice child = children[p - 1];
                if (child != null && !child.Destroyed)
                    DumpDevice(sb, bus, child, p - 1, ++childCount);
            }
        }

        /// <summary>Linux prints at most 100 characters of a string ("%.100s").</summary>
        static string Clip(string text) => text.Length > 100 ? text.Substring(0, 100) : text;

        /// <summary>Appends the C:, A:, I: and E: lines of one configuration (Linux usb_dump_config).</summary>
        public static void DumpConfiguration(StringBuilder sb, UsbDevice device, UsbConfiguration config)
        {
            bool active = device != null && device.ActiveConfiguration == config;
            UsbSpeed speed = device != null ? device.Speed : UsbSpeed.High;
            ConfigurationDescriptor c = config.Descriptor;
            sb.Append("C:" + (active ? "*" : " ") + " #Ifs=" + Dec(c.bNumInterfaces, 2, ' ') + " Cfg#=" + Dec(c.bConfigurationValue, 2, ' ') +
                      " Atr=" + Hex2(c.bmAttributes) + " MxPwr=" + Dec(config.MaxPowerMilliamps(speed), 3, ' ') + "mA\n");
            for (int a = 0; a < config.Associations.Length; a++)
            {
                InterfaceAssociationDescriptor iad = config.Associations[a];
                sb.Append("A:  FirstIf#=" + Dec(iad.bFirstInterface, 2, ' ') + " IfCount=" + Dec(iad.bInterfaceCount, 2, ' ') +
                          " Cls=" + Hex2(iad.bFunctionClass) + "(" + Format.PadRight(ClassShortName(iad.bFunctionClass), 5) +
                          ") Sub=" + Hex2(iad.bFunctionSubClass) + " Prot=" + Hex2(iad.bFunctionProtocol) + "\n");
            }
            for (int i = 0; i < config.Interfaces.Length; i++)
            {
                UsbInterface intf = config.Interfaces[i];
                for (int j = 0; j < intf.AltSettings.Length; j++)
                {
                    UsbAltSetting alt = intf.AltSettings[j];
                    InterfaceDescriptor id = alt.Descriptor;
                    bool current = active && intf.Current == alt;
                    // Linux devices.c: "(none)" for an interface of the active configuration without a
                    // driver; nothing for the interfaces of another configuration (they do not exist yet).
                    string driver = active ? DriverName(intf.Driver, "(none)") : "";
                    sb.Append("I:" + (current ? "*" : " ") + " If#=" + Dec(id.bInterfaceNumber, 2, ' ') + " Alt=" + Dec(id.bAlternateSetting, 2, ' ') +
                              " #EPs=" + Dec(id.bNumEndpoints, 2, ' ') + " Cls=" + Hex2(id.bInterfaceClass) + "(" +
                              Format.PadRight(ClassShortName(id.bInterfaceClass), 5) + ") Sub=" + Hex2(id.bInterfaceSubClass) +
                              " Prot=" + Hex2(id.bInterfaceProtocol) + " Driver=" + driver + "\n");
                    for (int e = 0; e < alt.Endpoints.Length; e++)
                        DumpEndpoint(sb, speed, alt.Endpoints[e].Descriptor);
                }
            }
        }

        static void DumpEndpoint(StringBuilder sb, UsbSpeed speed, EndpointDescriptor e)
        {
            char direction = e.IsIn ? 'I' : 'O';
            string type;
            switch (e.Type)
            {
                case TransferType.Control: type = "Ctrl"; direction = 'B'; break;
                case TransferType.Isochronous: type = "Isoc"; break;
                case TransferType.Bulk: type = "Bulk"; break;
                default: type = "Int."; break;
            }
            long interval = DecodeIntervalUs(e, speed);
            char unit;
            if (interval % UsPerMs != 0)
                unit = 'u';
            else
            {
                unit = 'm';
                interval /= UsPerMs;
            }
            int maxPacket = e.MaxPacketSize * e.Mult;
            sb.Append("E:  Ad=" + Hex2(e.bEndpointAddress) + "(" + direction + ") Atr=" + Hex2(e.bmAttributes) + "(" +
                      Format.PadRight(type, 4) + ") MxPS=" + Dec(maxPacket, 4, ' ') + " Ivl=" + Format.Decimal(interval) + unit + "s\n");
        }

        /// <summary>Linux usb_decode_interval: the polling interval in microseconds.</summary>
        public static long DecodeIntervalUs(EndpointDescriptor e, UsbSpeed speed)
        {
            long interval = 0;
            switch (e.Type)
            {
                case TransferType.Control:
                    if (speed == UsbSpeed.High)
                        interval = e.bInterval;
                    break;
                case TransferType.Isochronous:
                    interval = Exponent(e.bInterval);
                    break;
                case TransferType.Bulk:
                    if (speed == UsbSpeed.High && !e.IsIn)
                        interval = e.bInterval;
                    break;
                case TransferType.Interrupt:
                    interval = speed >= UsbSpeed.High ? Exponent(e.bInterval) : e.bInterval;
                    break;
            }
            return interval * (speed >= UsbSpeed.High ? MicroframeNs : FrameUs);
        }

        static long Exponent(int bInterval)
        {
            if (bInterval == 0)
                return 0;
            int shift = bInterval - 1;
            if (shift > MaxIntervalExponent)
                shift = MaxIntervalExponent;
            return 1L << shift;
        }

        /// <summary>Linux devices.c class_info names (printed as %-5s).</summary>
        public static string ClassShortName(int cls)
        {
            switch (cls)
            {
                case UsbClass.PerInterface: return ">ifc";
                case UsbClass.Audio: return "audio";
                case UsbClass.Communications: return "comm.";
                case UsbClass.Hid: return "HID";
                case UsbClass.Physical: return "PID";
                case UsbClass.StillImage: return "still";
                case UsbClass.Printer: return "print";
                case UsbClass.MassStorage: return "stor.";
                case UsbClass.Hub: return "hub";
                case UsbClass.CdcData: return "data";
                case UsbClass.SmartCard: return "scard";
                case UsbClass.ContentSecurity: return "c-sec";
                case UsbClass.Video: return "video";
                case UsbClass.PersonalHealthcare: return "perhc";
                case UsbClass.AudioVideo: return "av";
                case UsbClass.Billboard: return "blbrd";
                case UsbClass.TypeCBridge: return "bridg";
                case UsbClass.WirelessController: return "wlcon";
                case UsbClass.Miscellaneous: return "misc";
                case UsbClass.ApplicationSpecific: return "app.";
                case UsbClass.VendorSpecific: return "vend.";
                default: return "unk.";
            }
        }

        /// <summary>usbutils class names, as lsusb -t prints them.</summary>
        public static string ClassLongName(int cls)
        {
            switch (cls)
            {
                case UsbClass.PerInterface: return "(Defined at Interface level)";
                case UsbClass.Audio: return "Audio";
                case UsbClass.Communications: return "Communications";
                case UsbClass.Hid: return "Human Interface Device";
                case UsbClass.Physical: return "Physical Interface Device";
                case UsbClass.StillImage: return "Imaging";
                case UsbClass.Printer: return "Printer";
                case UsbClass.MassStorage: return "Mass Storage";
                case UsbClass.Hub: return "Hub";
                case UsbClass.CdcData: return "CDC Data";
                case UsbClass.SmartCard: return "Chip/SmartCard";
                case UsbClass.ContentSecurity: return "Content Security";
                case UsbClass.Video: return "Video";
                case UsbClass.PersonalHealthcare: return "Personal Healthcare";
                case UsbClass.AudioVideo: return "Audio/Video";
                case UsbClass.Billboard: return "Billboard";
                case UsbClass.Diagnostic: return "Diagnostic";
                case UsbClass.WirelessController: return "Wireless";
                case UsbClass.Miscellaneous: return "Miscellaneous Device";
                case UsbClass.ApplicationSpecific: return "Application Specific Interface";
                case UsbClass.VendorSpecific: return "Vendor Specific Class";
                default: return "[unknown]";
            }
        }

        // ---- lsusb ---------------------------------------------------------------------------

        /// <summary>
        /// usbutils' lsusb: "Bus 001 Device 002: ID 0627:0001 Adomax Technology Co., Ltd QEMU Tablet",
        /// sorted by bus then device number. Vendor and product come from the usb.ids database when
        /// it knows them, else from the device's manufacturer and product strings (what usbutils reads
        /// from sysfs), else "[unknown]" (usbutils 014 get_vendor_product_with_fallback).
        /// </summary>
        public static string Lsusb(UsbStack stack, UsbIds names = null)
        {
            var sb = new StringBuilder();
            for (int b = 0; b < stack.Buses.Count; b++)
            {
                UsbBus bus = stack.Buses[b];
                UsbDevice[] devices = bus.Devices;
                SortByAddress(devices);
                for (int i = 0; i < devices.Length; i++)
                    if (!devices[i].Destroyed)
                        sb.Append(LsusbLine(devices[i], names));
            }
            return sb.ToString();
        }

        /// <summary>One device's lsusb line, with its line end.</summary>
        public static string LsusbLine(UsbDevice d, UsbIds names)
        {
            ushort vendorId = d.Descriptor.idVendor, productId = d.Descriptor.idProduct;
            string vendor = names != null ? names.Vendor(vendorId) : null;
            string product = names != null ? names.Product(vendorId, productId) : null;
            if (vendor == null) vendor = d.Manufacturer != null ? d.Manufacturer : Unknown;
            if (product == null) product = d.Product != null ? d.Product : Unknown;
            return "Bus " + Dec(d.BusNumber, 3, '0') + " Device " + Dec(d.Address, 3, '0') + ": ID " +
                   Hex4(vendorId) + ":" + Hex4(productId) + " " + vendor + " " + product + "\n";
        }

        /// <summary>`lsusb -v`: every device (in lsusb's order), or one, as usbutils prints them (<see cref="LsusbVerbose"/>).</summary>
        public static string LsusbVerboseListing(UsbStack stack, UsbIds names, UsbDevice only = null)
        {
            var sb = new StringBuilder();
            if (only != null)
            {
                LsusbVerbose.Append(sb, only, names);
                return sb.ToString();
            }
            for (int b = 0; b < stack.Buses.Count; b++)
            {
                UsbDevice[] devices = stack.Buses[b].Devices;
                SortByAddress(devices);
                for (int i = 0; i < devices.Length; i++)
                    if (!devices[i].Destroyed)
                        LsusbVerbose.Append(sb, devices[i], names);
            }
            return sb.ToString();
        }

        /// <summary>What usbutils prints for a name neither the database nor the device has.</summary>
        const string Unknown = "[unknown]";

        static void SortByAddress(UsbDevice[] devices)
        {
            for (int i = 1; i < devices.Length; i++)
            {
                UsbDevice key = devices[i];
                int j = i - 1;
                while (j >= 0 && devices[j].Address > key.Address)
                {
                    devices[j + 1] = devices[j];
                    j--;
                }
                devices[j + 1] = key;
            }
        }

        // ---- lsusb -t ------------------------------------------------------------------------

        /// <summary>
        /// "/:  Bus 01.Port 1: Dev 1, Class=root_hub, Driver=ehci-pci/6p, 480M" then one
        /// "|__ Port 2: Dev 3, If 0, Class=Human Interface Device, Driver=usbhid, 12M" line per interface.
        /// </summary>
        public static string LsusbTree(UsbStack stack)
        {
            var sb = new StringBuilder();
            // Highest bus number first, as usbutils' lsusb -t sorts them (lsusb-t.c sort_busses).
            var buses = new UsbBus[stack.Buses.Count];
            for (int b = 0; b < buses.Length; b++)
            {
                UsbBus bus = stack.Buses[b];
                int j = b - 1;
                while (j >= 0 && buses[j].Number < bus.Number)
                {
                    buses[j + 1] = buses[j];
                    j--;
                }
                buses[j + 1] = bus;
            }
            for (int b = 0; b < buses.Length; b++)
            {
                UsbBus bus = buses[b];
                UsbDevice root = bus.RootHub;
                if (root == null || root.Destroyed)
                    continue;
                sb.Append("/:  Bus " + Dec(bus.Number, 2, '0') + ".Port 1: Dev " + Format.Decimal((ulong)root.Address) +
                          ", Class=root_hub, Driver=" + bus.Controller.DriverName + "/" + Format.Decimal((ulong)root.PortCount) + "p, " +
                          UsbSpeedNames.Mbps(root.Speed) + "M\n");
                TreeChildren(sb, root, 1);
            }
            return sb.ToString();
        }

        /// <summary>
        /// A driver's name, or <paramref name="none"/>. Takes the driver read once: a binding may end
        /// between a null check and a second read while hot-plug runs.
        /// </summary>
        static string DriverName(UsbDriver driver, string none) => driver != null ? driver.Name : none;

        static void TreeChildren(StringBuilder sb, UsbDevice hub, int depth)
        {
            UsbDevice[] children = hub.Children;
            for (int p = 1; p <= children.Length; p++)
            {
                UsbDevice child = children[p - 1];
                if (child == null || child.Destroyed)
                    continue;
                string prefix = new string(' ', 4 * depth) + "|__ Port " + Format.Decimal((ulong)p) + ": Dev " + Format.Decimal((ulong)child.Address);
                string speed = UsbSpeedNames.Mbps(child.Speed) + "M";
                UsbInterface[] interfaces = child.Interfaces;
                if (interfaces.Length == 0)
                {
                    string driver = DriverName(child.Driver, "[none]");
                    sb.Append(prefix + ", Class=" + ClassLongName(child.Descriptor.bDeviceClass) + ", Driver=" + driver + ", " + speed + "\n");
                }
                for (int i = 0; i < interfaces.Length; i++)
                {
                    UsbInterface intf = interfaces[i];
                    UsbInterfaceDriver bound = intf.Driver;
                    string driver = DriverName(bound, "[none]");
                    UsbHub hubState = child.Hub;
                    if (bound != null && hubState != null && intf.DriverData == hubState)
                        driver = driver + "/" + Format.Decimal((ulong)child.PortCount) + "p";
                    sb.Append(prefix + ", If " + Format.Decimal((ulong)intf.Number) + ", Class=" + ClassLongName(intf.Current.Descriptor.bInterfaceClass) +
                              ", Driver=" + driver + ", " + speed + "\n");
                }
                TreeChildren(sb, child, depth + 1);
            }
        }
    }
}
