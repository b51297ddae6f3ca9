using System;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Hid
{
    /// <summary>
    /// The HID interface driver, "usbhid" as on Linux (HID 1.11): reads and parses the report
    /// descriptor (HID 1.11 7.1.1, GET_DESCRIPTOR(Report) to the interface), sends SET_IDLE(0)
    /// (7.2.4) and, on boot-subclass interfaces, SET_PROTOCOL (7.2.6): report protocol when the
    /// descriptor is usable, boot protocol with the fixed boot layout (appendix B) when it is not.
    /// What the parsed descriptor declares decides the handler: a keyboard application, a pointer
    /// with relative axes (mouse) or with absolute axes (tablet). Other HID interfaces (UPS,
    /// vendor-specific) are declined.
    /// </summary>
    public sealed class UsbHidDriver : UsbInterfaceDriver
    {
        public const string DriverName = "usbhid";
        static readonly UsbDeviceId[] s_ids = new UsbDeviceId[] { UsbDeviceId.InterfaceClass(UsbClass.Hid) };

        public readonly HidInputService Service;

        public UsbHidDriver(HidInputService service)
        {
            Service = service;
        }

        public override string Name => DriverName;
        public override UsbDeviceId[] IdTable => s_ids;

        /// <summary>The boot protocol an interface declares (HID 1.11 4.2, 4.3): keyboard, mouse, or 0.</summary>
        static byte BootProtocolOf(UsbAltSetting alt)
        {
            if (alt.Descriptor.bInterfaceSubClass != HidRequest.SubclassBoot)
                return 0;
            byte protocol = alt.Descriptor.bInterfaceProtocol;
            return protocol == HidRequest.ProtocolKeyboard || protocol == HidRequest.ProtocolMouse ? protocol : (byte)0;
        }

        static ReadOnlySpan<byte> BootDescriptorFor(byte protocol) =>
            protocol == HidRequest.ProtocolKeyboard ? HidBootDescriptors.Keyboard : HidBootDescriptors.Mouse;

        /// <summary>The handler for what the descriptor declares: keyboard, then mouse, then tablet; null when none.</summary>
        HidInterface Create(UsbInterface intf, UsbEndpoint endpoint, HidReportDescriptor report)
        {
            HidInterface hid = HidKeyboard.Create(intf, endpoint, report, Service);
            if (hid == null) hid = HidPointer.Create(intf, endpoint, report, Service, false);
            if (hid == null) hid = HidPointer.Create(intf, endpoint, report, Service, true);
            return hid;
        }

        static UsbEndpoint FindInterruptIn(UsbAltSetting alt)
        {
            for (int i = 0; i < alt.Endpoints.Length; i++)
                if (alt.Endpoints[i].Type == TransferType.Interrupt && alt.Endpoints[i].IsIn)
                    return alt.Endpoints[i];
            return null;
        }

        UsbStatus ReadReportDescriptor(UsbInterface intf, out HidReportDescriptor report, out HidParseResult parse)
        {
            UsbAltSetting alt = intf.Current;
            report = new HidReportDescriptor();
            parse = new HidParseResult(HidParseError.Empty, 0);
            UsbStatus status;
            int length = alt.HasHid ? alt.Hid.ReportDescriptorLength : 0;
            if (length <= 0 || length > HidReportDescriptor.MaxDescriptorBytes)
                status = UsbStatus.BadDescriptor;
            else
            {
                byte[] buffer = new byte[length];
                status = UsbMessages.Control(intf.Device, HidRequest.StandardInterfaceIn, UsbRequestCode.GetDescriptor,
                                             (ushort)(DescriptorType.HidReport << 8), intf.Number, new Span<byte>(buffer),
                                             UsbMessages.ControlTimeoutMs, out int actual);
                if (status == UsbStatus.Ok)
                    parse = HidReportDescriptor.Parse(new ReadOnlySpan<byte>(buffer, 0, actual), out report);
            }
            if (status != UsbStatus.Ok && status != UsbStatus.NoDevice)
                Log.Warning("hid " + intf.Name + ": can't read report descriptor: " + UsbStatusNames.Name(status));
            else if (status == UsbStatus.Ok && !parse.IsOk)
                Log.Warning("hid " + intf.Name + ": bad report descriptor: " + parse.Describe());
            return status;
        }

        public override UsbStatus Probe(UsbInterface intf, UsbDeviceId id)
        {
            UsbAltSetting alt = intf.Current;
            UsbEndpoint endpoint = FindInterruptIn(alt);
            if (endpoint == null)
                return UsbStatus.NoMatch;
            UsbStatus status = ReadReportDescriptor(intf, out HidReportDescriptor report, out HidParseResult parse);
            if (status == UsbStatus.NoDevice)
                return status;
            byte bootProtocol = BootProtocolOf(alt);
            bool boot = bootProtocol != 0;
            HidInterface hid = null;
            if (status == UsbStatus.Ok && parse.IsOk)
                hid = Create(intf, endpoint, report);
            bool useBoot = false;
            if (hid == null)
            {
                if (!boot)
                    return UsbStatus.NoMatch;
                // Unusable descriptor on a boot interface: the fixed boot report layout (HID 1.11 appendix B).
                HidParseResult bootParse = HidReportDescriptor.Parse(BootDescriptorFor(bootProtocol), out HidReportDescriptor bootReport);
                if (!bootParse.IsOk)
                    return UsbStatus.NoMatch;
                hid = Create(intf, endpoint, bootReport);
                if (hid == null)
                    return UsbStatus.NoMatch;
                useBoot = true;
                hid.BootProtocol = true;
            }
            UsbDevice device = intf.Device;
            if (alt.Descriptor.bInterfaceSubClass == HidRequest.SubclassBoot)
            {
                // The firmware may have left it in boot protocol; many keyboards ignore the request (STALL is fine).
                UsbStatus p = UsbMessages.Control(device, HidRequest.ClassInterfaceOut, HidRequest.SetProtocol,
                                                  useBoot ? HidRequest.ProtocolBoot : HidRequest.ProtocolReport, intf.Number,
                                                  UsbMessages.NoData, UsbMessages.ControlTimeoutMs, out int _);
                if (p == UsbStatus.NoDevice)
                    return p;
            }
            // SET_IDLE(duration 0 = report only on change, all reports): optional, a STALL is fine.
            UsbStatus idle = UsbMessages.Control(device, HidRequest.ClassInterfaceOut, HidRequest.SetIdle, 0, intf.Number,
                                                 UsbMessages.NoData, UsbMessages.ControlTimeoutMs, out int _);
            if (idle == UsbStatus.NoDevice)
                return idle;
            if (!Service.Start())
                Log.Error("hid: worker thread did not start");
            // Announce the device before its requests run: a request can complete (and its report be
            // delivered) as soon as it is submitted.
            Service.Sink.DeviceChanged(hid.Name, hid.Kind, true);
            status = hid.Start();
            if (status != UsbStatus.Ok)
            {
                Service.Sink.DeviceChanged(hid.Name, hid.Kind, false);
                Log.Error("hid " + intf.Name + ": can't start interrupt requests: " + UsbStatusNames.Name(status));
                return status;
            }
            intf.DriverData = hid;
            Service.Attach(hid);
            Log.Info("hid " + intf.Name + ": " + KindName(hid.Kind) + (useBoot ? " (boot protocol)" : "") + ", " +
                     Format.Decimal((ulong)report.Fields.Length) + " fields, report " +
                     Format.Decimal((ulong)hid.Report.MaxReportLength(HidReportKind.Input)) + " bytes" +
                     (hid.Report.UsesReportIds ? " with IDs" : ""));
            return UsbStatus.Ok;
        }

        public override void Disconnect(UsbInterface intf)
        {
            var hid = intf.DriverData as HidInterface;
            if (hid == null)
                return;
            hid.Shutdown();
            intf.DriverData = null;
            Service.Sink.DeviceChanged(hid.Name, hid.Kind, false);
        }

        public static string KindName(HidDeviceKind kind)
        {
            switch (kind)
            {
                case HidDeviceKind.Keyboard: return "keyboard";
                case HidDeviceKind.Mouse: return "mouse";
                case HidDeviceKind.Tablet: return "tablet";
                default: return "hid";
            }
        }
    }

    /// <summary>The report layouts of boot devices (HID 1.11 appendix B.1 keyboard, B.2 mouse) as report descriptors.</summary>
    public static class HidBootDescriptors
    {
        /// <summary>HID 1.11 B.1 (a static span over the image's data: no allocation, no array initialiser).</summary>
        public static ReadOnlySpan<byte> Keyboard => new byte[]
        {
            0x05, 0x01, 0x09, 0x06, 0xA1, 0x01,             // Generic Desktop, Keyboard, Collection (Application)
            0x05, 0x07, 0x19, 0xE0, 0x29, 0xE7,             // Keyboard page, usages LeftControl..RightGui
            0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x08, // 0..1, 8 x 1 bit
            0x81, 0x02,                                     // Input (Data, Variable, Absolute): modifier byte
            0x95, 0x01, 0x75, 0x08, 0x81, 0x01,             // Input (Constant): reserved byte
            0x95, 0x05, 0x75, 0x01, 0x05, 0x08, 0x19, 0x01, 0x29, 0x05,
            0x91, 0x02,                                     // Output (Data, Variable, Absolute): 5 LEDs
            0x95, 0x01, 0x75, 0x03, 0x91, 0x01,             // Output (Constant): padding
            0x95, 0x06, 0x75, 0x08, 0x15, 0x00, 0x25, 0x65,
            0x05, 0x07, 0x19, 0x00, 0x29, 0x65,
            0x81, 0x00,                                     // Input (Data, Array): 6 key codes
            0xC0,
        };

        /// <summary>HID 1.11 B.2.</summary>
        public static ReadOnlySpan<byte> Mouse => new byte[]
        {
            0x05, 0x01, 0x09, 0x02, 0xA1, 0x01,             // Generic Desktop, Mouse, Collection (Application)
            0x09, 0x01, 0xA1, 0x00,                         // Pointer, Collection (Physical)
            0x05, 0x09, 0x19, 0x01, 0x29, 0x03,             // Buttons 1..3
            0x15, 0x00, 0x25, 0x01, 0x95, 0x03, 0x75, 0x01,
            0x81, 0x02,                                     // Input (Data, Variable, Absolute)
            0x95, 0x01, 0x75, 0x05, 0x81, 0x01,             // Input (Constant): padding
            0x05, 0x01, 0x09, 0x30, 0x09, 0x31,             // X, Y
            0x15, 0x81, 0x25, 0x7F, 0x75, 0x08, 0x95, 0x02,
            0x81, 0x06,                                     // Input (Data, Variable, Relative)
            0xC0, 0xC0,
        };
    }

    /// <summary>Registers the HID drivers with a stack.</summary>
    public static class HidDrivers
    {
        /// <summary>Creates the service (its worker starts with the first device) and registers the usbhid driver.</summary>
        public static HidInputService Register(UsbStack stack, IHidInputSink sink)
        {
            var service = new HidInputService(sink, stack.Clock, stack.Threading);
            stack.RegisterDriver(new UsbHidDriver(service));
            return service;
        }
    }
}
