using System;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Hid
{
    /// <summary>
    /// Base of the HID interface drivers (HID 1.11; Linux usbhid): reads and parses the report
    /// descriptor (HID 1.11 7.1.1, GET_DESCRIPTOR(Report) to the interface), sends SET_IDLE(0)
    /// (7.2.4) and, on boot-subclass interfaces, SET_PROTOCOL (7.2.6): report protocol when the
    /// descriptor is usable, boot protocol with the fixed boot layout (appendix B) when it is not.
    /// Then the subclass decides from the parsed descriptor whether the interface is its kind.
    /// </summary>
    public abstract class HidDriverBase : UsbInterfaceDriver
    {
        public readonly HidInputService Service;

        protected HidDriverBase(HidInputService service)
        {
            Service = service;
        }

        /// <summary>The boot protocol this driver can fall back to (HID 1.11 4.3), or 0.</summary>
        protected abstract byte BootProtocol { get; }
        /// <summary>Builds the interface object when the descriptor declares this driver's kind; null declines.</summary>
        protected abstract HidInterface Create(UsbInterface intf, UsbEndpoint endpoint, HidReportDescriptor report);
        protected abstract ReadOnlySpan<byte> BootDescriptor { get; }

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
            if (Service.CachedAlt == alt)
            {
                report = Service.CachedDescriptor;
                parse = Service.CachedResult;
                return Service.CachedStatus;
            }
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
            Service.CachedAlt = alt;
            Service.CachedDescriptor = report;
            Service.CachedResult = parse;
            Service.CachedStatus = status;
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
            bool boot = alt.Descriptor.bInterfaceSubClass == HidRequest.SubclassBoot && BootProtocol != 0 &&
                        alt.Descriptor.bInterfaceProtocol == BootProtocol;
            HidInterface hid = null;
            if (status == UsbStatus.Ok && parse.IsOk)
                hid = Create(intf, endpoint, report);
            bool useBoot = false;
            if (hid == null)
            {
                if (!boot)
                    return UsbStatus.NoMatch;
                // Unusable descriptor on a boot interface: the fixed boot report layout (HID 1.11 appendix B).
                HidParseResult bootParse = HidReportDescriptor.Parse(BootDescriptor, out HidReportDescriptor bootReport);
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
            status = hid.Start();
            if (status != UsbStatus.Ok)
            {
                Log.Error("hid " + intf.Name + ": can't start interrupt requests: " + UsbStatusNames.Name(status));
                return status;
            }
            intf.DriverData = hid;
            Service.Attach(hid);
            Log.Info("hid " + intf.Name + ": " + KindName(hid.Kind) + (useBoot ? " (boot protocol)" : "") + ", " +
                     Format.Decimal((ulong)report.Fields.Length) + " fields, report " +
                     Format.Decimal((ulong)hid.Report.MaxReportLength(HidReportKind.Input)) + " bytes" +
                     (hid.Report.UsesReportIds ? " with IDs" : ""));
            Service.Sink.DeviceChanged(hid.Name, hid.Kind, true);
            return UsbStatus.Ok;
        }

        public override void Disconnect(UsbInterface intf)
        {
            var hid = intf.DriverData as HidInterface;
            if (hid == null)
                return;
            hid.Shutdown();
            intf.DriverData = null;
            if (Service.CachedAlt == intf.Current)
                Service.CachedAlt = null;
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

    /// <summary>Keyboards: boot keyboards (3/1/1) and any HID interface whose descriptor has a Keyboard application.</summary>
    public sealed class HidKeyboardDriver : HidDriverBase
    {
        public const string DriverName = "usbkbd";
        static readonly UsbDeviceId[] s_ids = new UsbDeviceId[]
        {
            UsbDeviceId.InterfaceInfo(UsbClass.Hid, HidRequest.SubclassBoot, HidRequest.ProtocolKeyboard),
            UsbDeviceId.InterfaceClass(UsbClass.Hid),
        };

        public HidKeyboardDriver(HidInputService service) : base(service) { }

        public override string Name => DriverName;
        public override UsbDeviceId[] IdTable => s_ids;
        protected override byte BootProtocol => HidRequest.ProtocolKeyboard;
        protected override ReadOnlySpan<byte> BootDescriptor => HidBootDescriptors.Keyboard;

        protected override HidInterface Create(UsbInterface intf, UsbEndpoint endpoint, HidReportDescriptor report) =>
            HidKeyboard.Create(intf, endpoint, report, Service);
    }

    /// <summary>Mice: boot mice (3/1/2) and any HID interface with relative X/Y in a mouse/pointer application.</summary>
    public sealed class HidMouseDriver : HidDriverBase
    {
        public const string DriverName = "usbmouse";
        static readonly UsbDeviceId[] s_ids = new UsbDeviceId[]
        {
            UsbDeviceId.InterfaceInfo(UsbClass.Hid, HidRequest.SubclassBoot, HidRequest.ProtocolMouse),
            UsbDeviceId.InterfaceClass(UsbClass.Hid),
        };

        public HidMouseDriver(HidInputService service) : base(service) { }

        public override string Name => DriverName;
        public override UsbDeviceId[] IdTable => s_ids;
        protected override byte BootProtocol => HidRequest.ProtocolMouse;
        protected override ReadOnlySpan<byte> BootDescriptor => HidBootDescriptors.Mouse;

        protected override HidInterface Create(UsbInterface intf, UsbEndpoint endpoint, HidReportDescriptor report) =>
            HidPointer.Create(intf, endpoint, report, Service, false);
    }

    /// <summary>Tablets: any HID interface with absolute X/Y (QEMU usb-tablet: no boot protocol, only the report descriptor says what it is).</summary>
    public sealed class HidTabletDriver : HidDriverBase
    {
        public const string DriverName = "usbtablet";
        static readonly UsbDeviceId[] s_ids = new UsbDeviceId[] { UsbDeviceId.InterfaceClass(UsbClass.Hid) };

        public HidTabletDriver(HidInputService service) : base(service) { }

        public override string Name => DriverName;
        public override UsbDeviceId[] IdTable => s_ids;
        protected override byte BootProtocol => 0;
        protected override ReadOnlySpan<byte> BootDescriptor => HidBootDescriptors.Mouse;

        protected override HidInterface Create(UsbInterface intf, UsbEndpoint endpoint, HidReportDescriptor report) =>
            HidPointer.Create(intf, endpoint, report, Service, true);
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
        /// <summary>Creates the service (its worker starts with the first device) and registers keyboard, mouse and tablet drivers.</summary>
        public static HidInputService Register(UsbStack stack, IHidInputSink sink)
        {
            var service = new HidInputService(sink, stack.Clock, stack.Threading);
            stack.RegisterDriver(new HidKeyboardDriver(service));
            stack.RegisterDriver(new HidMouseDriver(service));
            stack.RegisterDriver(new HidTabletDriver(service));
            return service;
        }
    }
}
