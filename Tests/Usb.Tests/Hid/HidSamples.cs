using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Usb.Tests.Simulation;

namespace Usb.Tests.Hid
{
    /// <summary>Real-world report descriptors and simulated HID devices.</summary>
    public static class HidSamples
    {
        /// <summary>QEMU 7.2 usb-kbd (hw/usb/dev-hid.c, read out of the qemu-system-x86_64 7.2 binary): 63 bytes.
        /// Note Logical Maximum 0xFF in one byte: -1 if read signed; Linux (and we) read it unsigned as the minimum is 0.</summary>
        public static readonly byte[] QemuKeyboard =
        {
            0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x75, 0x01, 0x95, 0x08, 0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7,
            0x15, 0x00, 0x25, 0x01, 0x81, 0x02, 0x95, 0x01, 0x75, 0x08, 0x81, 0x01, 0x95, 0x05, 0x75, 0x01,
            0x05, 0x08, 0x19, 0x01, 0x29, 0x05, 0x91, 0x02, 0x95, 0x01, 0x75, 0x03, 0x91, 0x01, 0x95, 0x06,
            0x75, 0x08, 0x15, 0x00, 0x25, 0xff, 0x05, 0x07, 0x19, 0x00, 0x29, 0xff, 0x81, 0x00, 0xc0,
        };

        /// <summary>QEMU 7.2 usb-mouse: 5 buttons, 3 bits padding, X/Y/wheel relative -127..127; 52 bytes.</summary>
        public static readonly byte[] QemuMouse =
        {
            0x05, 0x01, 0x09, 0x02, 0xa1, 0x01, 0x09, 0x01, 0xa1, 0x00, 0x05, 0x09, 0x19, 0x01, 0x29, 0x05,
            0x15, 0x00, 0x25, 0x01, 0x95, 0x05, 0x75, 0x01, 0x81, 0x02, 0x95, 0x01, 0x75, 0x03, 0x81, 0x01,
            0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x09, 0x38, 0x15, 0x81, 0x25, 0x7f, 0x75, 0x08, 0x95, 0x03,
            0x81, 0x06, 0xc0, 0xc0,
        };

        /// <summary>QEMU 7.2 usb-tablet: 3 buttons, X/Y absolute 0..0x7FFF (16 bit), wheel relative; 74 bytes.</summary>
        public static readonly byte[] QemuTablet =
        {
            0x05, 0x01, 0x09, 0x02, 0xa1, 0x01, 0x09, 0x01, 0xa1, 0x00, 0x05, 0x09, 0x19, 0x01, 0x29, 0x03,
            0x15, 0x00, 0x25, 0x01, 0x95, 0x03, 0x75, 0x01, 0x81, 0x02, 0x95, 0x01, 0x75, 0x05, 0x81, 0x01,
            0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x15, 0x00, 0x26, 0xff, 0x7f, 0x35, 0x00, 0x46, 0xff, 0x7f,
            0x75, 0x10, 0x95, 0x02, 0x81, 0x02, 0x05, 0x01, 0x09, 0x38, 0x15, 0x81, 0x25, 0x7f, 0x35, 0x00,
            0x45, 0x00, 0x75, 0x08, 0x95, 0x01, 0x81, 0x06, 0xc0, 0xc0,
        };

        /// <summary>
        /// A gaming keyboard's second interface (the layout of common NKRO keyboards): report 1 = keyboard
        /// with modifier bits and a 120-key bitmap plus LEDs, 2 = consumer control (16-bit array),
        /// 3 = system control, 4 = vendor page in/out.
        /// </summary>
        public static readonly byte[] GamingKeyboard =
        {
            0x05, 0x01, 0x09, 0x06, 0xA1, 0x01, 0x85, 0x01,
            0x05, 0x07, 0x19, 0xE0, 0x29, 0xE7, 0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02,
            0x19, 0x00, 0x29, 0x77, 0x95, 0x78, 0x81, 0x02,
            0x05, 0x08, 0x19, 0x01, 0x29, 0x05, 0x95, 0x05, 0x91, 0x02, 0x95, 0x01, 0x75, 0x03, 0x91, 0x01,
            0xC0,
            0x05, 0x0C, 0x09, 0x01, 0xA1, 0x01, 0x85, 0x02,
            0x15, 0x00, 0x26, 0xFF, 0x03, 0x19, 0x00, 0x2A, 0xFF, 0x03, 0x75, 0x10, 0x95, 0x01, 0x81, 0x00,
            0xC0,
            0x05, 0x01, 0x09, 0x80, 0xA1, 0x01, 0x85, 0x03,
            0x19, 0x81, 0x29, 0x83, 0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x03, 0x81, 0x02, 0x95, 0x05, 0x81, 0x01,
            0xC0,
            0x06, 0x00, 0xFF, 0x09, 0x01, 0xA1, 0x01, 0x85, 0x04,
            0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08, 0x95, 0x3F, 0x09, 0x01, 0x81, 0x02, 0x09, 0x01, 0x91, 0x02,
            0xC0,
        };

        public static IEnumerable<byte[]> All()
        {
            yield return QemuKeyboard;
            yield return QemuMouse;
            yield return QemuTablet;
            yield return GamingKeyboard;
            yield return Drivers.Usb.Hid.HidBootDescriptors.Keyboard.ToArray();
            yield return Drivers.Usb.Hid.HidBootDescriptors.Mouse.ToArray();
        }

        public static byte[] Config(byte subclass, byte protocol, int reportLength, ushort maxPacket) => Desc.Config(1, 0xA0, 50,
            Desc.Interface(0, 0, 1, UsbClass.Hid, subclass, protocol),
            Desc.Hid((ushort)reportLength),
            Desc.Endpoint(0x81, TransferType.Interrupt, maxPacket, 10));

        public static SimHidDevice Keyboard(UsbSpeed speed = UsbSpeed.Full) =>
            new SimHidDevice("QEMU USB Keyboard", speed, 1, 1, QemuKeyboard, 8);

        public static SimHidDevice Mouse(UsbSpeed speed = UsbSpeed.Full) =>
            new SimHidDevice("QEMU USB Mouse", speed, 1, 2, QemuMouse, 4);

        public static SimHidDevice Tablet(UsbSpeed speed = UsbSpeed.Full) =>
            new SimHidDevice("QEMU USB Tablet", speed, 0, 2, QemuTablet, 8);
    }

    /// <summary>A simulated HID device: report descriptor, class requests (HID 1.11 7.2), reports on endpoint 0x81.</summary>
    public sealed class SimHidDevice : SimDevice
    {
        public byte[] ReportDescriptor;
        public int Protocol = 1;
        public int Idle = -1;
        public readonly List<byte[]> SetReports = new List<byte[]>();
        public readonly List<ushort> SetReportValues = new List<ushort>();
        public bool StallSetProtocol;
        public bool StallSetIdle;

        public SimHidDevice(string label, UsbSpeed speed, byte subclass, byte protocol, byte[] report, ushort maxPacket)
            : base(label, speed, Desc.Device(0x0627, 0x0001, maxPacket0: speed == UsbSpeed.Low ? (byte)8 : (byte)64),
                   HidSamples.Config(subclass, protocol, report.Length, maxPacket))
        {
            ReportDescriptor = report;
            OnControl = HandleHid;
        }

        SimResult? HandleHid(SetupPacket setup, byte[] data)
        {
            if (setup.bmRequestType == 0x81 && setup.bRequest == UsbRequestCode.GetDescriptor && (setup.wValue >> 8) == DescriptorType.HidReport)
                return Reply(ReportDescriptor, data);
            if (setup.bmRequestType != 0x21)
                return null;
            switch (setup.bRequest)
            {
                case 0x0B:
                    if (StallSetProtocol) return SimResult.Stall;
                    Protocol = setup.wValue;
                    return SimResult.Ok(0);
                case 0x0A:
                    if (StallSetIdle) return SimResult.Stall;
                    Idle = setup.wValue >> 8;
                    return SimResult.Ok(0);
                case 0x09:
                    lock (SetReports)
                    {
                        SetReports.Add((byte[])data.Clone());
                        SetReportValues.Add(setup.wValue);
                    }
                    return SimResult.Ok(data.Length);
                default:
                    return SimResult.Stall;
            }
        }

        public void Send(SimController hc, params byte[][] reports) =>
            hc.Mutate(() =>
            {
                foreach (byte[] r in reports)
                    Endpoint(0x81).InData.Enqueue(r);
            });
    }
}
