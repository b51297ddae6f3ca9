using System;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using NUnit.Framework;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    [TestFixture]
    public class DescriptorTests
    {
        static DescriptorError ConfigError(byte[] data) => ConfigurationParser.Parse(data, out UsbConfiguration _).Error;

        [Test]
        public void DeviceDescriptorRoundTrips()
        {
            byte[] d = Desc.Device(0x0627, 0x0001, 0, 0, 0, 64, 0x0200, 0x0042);
            Assert.That(DeviceDescriptor.Parse(d, out DeviceDescriptor dd).IsOk, Is.True);
            Assert.That(dd.idVendor, Is.EqualTo(0x0627));
            Assert.That(dd.bcdDevice, Is.EqualTo(0x0042));
            Assert.That(dd.bMaxPacketSize0, Is.EqualTo(64));
            Assert.That(DeviceDescriptor.Parse(d.AsSpan(0, 17), out dd).Error, Is.EqualTo(DescriptorError.TooShort));
            d[1] = DescriptorType.Configuration;
            Assert.That(DeviceDescriptor.Parse(d, out dd).Error, Is.EqualTo(DescriptorError.WrongType));
            d[1] = DescriptorType.Device;
            d[0] = 17;
            Assert.That(DeviceDescriptor.Parse(d, out dd).Error, Is.EqualTo(DescriptorError.BadLength));
        }

        [TestCase(UsbSpeed.Low, 8, true)]
        [TestCase(UsbSpeed.Low, 64, false)]
        [TestCase(UsbSpeed.Full, 32, true)]
        [TestCase(UsbSpeed.Full, 12, false)]
        [TestCase(UsbSpeed.High, 64, true)]
        [TestCase(UsbSpeed.High, 8, false)]
        [TestCase(UsbSpeed.Super, 9, true)]
        [TestCase(UsbSpeed.Super, 64, false)]
        public void MaxPacketSize0Rules(UsbSpeed speed, int value, bool valid) =>
            Assert.That(DeviceDescriptor.IsValidMaxPacket0((byte)value, speed), Is.EqualTo(valid));

        [Test]
        public void FullConfigurationTreeIsParsed()
        {
            byte[] c = Desc.Config(1, 0xA0, 50,
                Desc.Raw(5, 0x24, 0, 0x10, 0x01),                              // class-specific before interfaces
                Desc.Iad(0, 2, UsbClass.Audio, 0, 0),
                Desc.Interface(0, 0, 0, UsbClass.Audio, 1),
                Desc.Raw(9, 0x24, 1, 0, 1, 9, 0, 1, 1),                         // audio control header
                Desc.Interface(1, 0, 0, UsbClass.Audio, 2),
                Desc.Interface(1, 1, 1, UsbClass.Audio, 2),
                Desc.Endpoint(0x01, TransferType.Isochronous, 192, 1),
                Desc.Raw(7, 0x25, 1, 0, 0, 0, 0),                               // class-specific endpoint
                Desc.Interface(2, 0, 2, UsbClass.Hid, 0, 0),
                Desc.Hid(101),
                Desc.Endpoint(0x82, TransferType.Interrupt, 8, 10),
                Desc.Companion(0, 0, 8),
                Desc.Endpoint(0x03, TransferType.Interrupt, 8, 10));
            Assert.That(ConfigurationParser.Parse(c, out UsbConfiguration cfg).IsOk, Is.True);
            Assert.That(cfg.Value, Is.EqualTo(1));
            Assert.That(cfg.Extra.Length, Is.EqualTo(5));
            Assert.That(cfg.Associations.Length, Is.EqualTo(1));
            Assert.That(cfg.Interfaces.Length, Is.EqualTo(3));
            Assert.That(cfg.Interfaces[0].AltSettings[0].Extra.Length, Is.EqualTo(9));
            Assert.That(cfg.Interfaces[1].AltSettings.Length, Is.EqualTo(2));
            Assert.That(cfg.Interfaces[1].Current.Descriptor.bAlternateSetting, Is.EqualTo(0));
            UsbEndpoint iso = cfg.Interfaces[1].AltSettings[1].Endpoints[0];
            Assert.That(iso.Type, Is.EqualTo(TransferType.Isochronous));
            Assert.That(iso.Extra.Length, Is.EqualTo(7));
            UsbAltSetting hid = cfg.Interfaces[2].Current;
            Assert.That(hid.HasHid, Is.True);
            Assert.That(hid.Hid.ReportDescriptorLength, Is.EqualTo(101));
            Assert.That(hid.Endpoints[0].HasCompanion, Is.True);
            Assert.That(hid.Endpoints[0].Companion.wBytesPerInterval, Is.EqualTo(8));
            Assert.That(hid.Endpoints[1].HasCompanion, Is.False);
            Assert.That(cfg.Interfaces[2].AssociationIndex, Is.EqualTo(-1));
            Assert.That(cfg.Interfaces[1].AssociationIndex, Is.EqualTo(0));
        }

        [Test]
        public void ConfigurationMalformations()
        {
            byte[] good = Desc.KeyboardConfig();
            Assert.That(ConfigError(good), Is.EqualTo(DescriptorError.None));
            Assert.That(ConfigError(good.AsSpan(0, 5).ToArray()), Is.EqualTo(DescriptorError.TooShort));
            // wTotalLength larger than the data.
            Assert.That(ConfigError(Desc.ConfigWith(1, 0x80, 0, -1, 200, Desc.Interface(0, 0, 0, 3))), Is.EqualTo(DescriptorError.Truncated));
            // wTotalLength smaller than the header.
            Assert.That(ConfigError(Desc.ConfigWith(1, 0x80, 0, -1, 4, Desc.Interface(0, 0, 0, 3))), Is.EqualTo(DescriptorError.BadTotalLength));
            // wTotalLength cutting a descriptor in half.
            Assert.That(ConfigError(Desc.ConfigWith(1, 0x80, 0, -1, 13, Desc.Interface(0, 0, 0, 3))), Is.EqualTo(DescriptorError.Truncated));
            // Zero length descriptor would loop forever.
            Assert.That(ConfigError(Desc.Config(1, 0x80, 0, Desc.Interface(0, 0, 0, 3), Desc.Raw(0, 0x24, 0))), Is.EqualTo(DescriptorError.BadLength));
            // Interface bLength too small.
            Assert.That(ConfigError(Desc.Config(1, 0x80, 0, Desc.Raw(8, 4, 0, 0, 0, 3, 0, 0))), Is.EqualTo(DescriptorError.BadLength));
            // bNumInterfaces lies.
            Assert.That(ConfigError(Desc.ConfigWith(1, 0x80, 0, 2, -1, Desc.Interface(0, 0, 0, 3))), Is.EqualTo(DescriptorError.CountMismatch));
            // bNumEndpoints lies (too few, too many).
            Assert.That(ConfigError(Desc.Config(1, 0x80, 0, Desc.Interface(0, 0, 2, 3), Desc.Endpoint(0x81, TransferType.Interrupt, 8, 1))), Is.EqualTo(DescriptorError.CountMismatch));
            Assert.That(ConfigError(Desc.Config(1, 0x80, 0, Desc.Interface(0, 0, 0, 3), Desc.Endpoint(0x81, TransferType.Interrupt, 8, 1))), Is.EqualTo(DescriptorError.CountMismatch));
            // Endpoint before any interface.
            Assert.That(ConfigError(Desc.Config(1, 0x80, 0, Desc.Endpoint(0x81, TransferType.Interrupt, 8, 1), Desc.Interface(0, 0, 0, 3))), Is.EqualTo(DescriptorError.Misplaced));
            // Control endpoints inside an interface (endpoint 0 is skipped: EndpointSanityTests).
            Assert.That(ConfigError(Desc.Config(1, 0x80, 0, Desc.Interface(0, 0, 1, 3), Desc.Endpoint(0x81, TransferType.Control, 8, 1))), Is.EqualTo(DescriptorError.BadValue));
            // Duplicate alternate setting (duplicate endpoints are skipped: EndpointSanityTests).
            Assert.That(ConfigError(Desc.Config(1, 0x80, 0, Desc.Interface(0, 0, 0, 3), Desc.Interface(0, 0, 0, 3))), Is.EqualTo(DescriptorError.Duplicate));
            // A configuration descriptor nested inside a configuration.
            Assert.That(ConfigError(Desc.Config(1, 0x80, 0, Desc.Interface(0, 0, 0, 3), Desc.Config(2, 0x80, 0))), Is.EqualTo(DescriptorError.Misplaced));
            // Companion without endpoint, companion twice.
            Assert.That(ConfigError(Desc.Config(1, 0x80, 0, Desc.Interface(0, 0, 0, 3), Desc.Companion(0, 0, 8))), Is.EqualTo(DescriptorError.Misplaced));
            Assert.That(ConfigError(Desc.Config(1, 0x80, 0, Desc.Interface(0, 0, 1, 3), Desc.Endpoint(0x81, TransferType.Bulk, 1024, 0), Desc.Companion(0, 0, 0), Desc.Companion(0, 0, 0))), Is.EqualTo(DescriptorError.Misplaced));
            Assert.That(ConfigError(Desc.Config(1, 0x80, 0, Desc.Interface(0, 0, 1, 3), Desc.Endpoint(0x81, TransferType.Bulk, 1024, 0), Desc.Companion(16, 0, 0))), Is.EqualTo(DescriptorError.BadValue));
            // HID descriptor whose bNumDescriptors disagrees with its length.
            Assert.That(ConfigError(Desc.Config(1, 0x80, 0, Desc.Interface(0, 0, 0, UsbClass.Hid), Desc.Raw(9, 0x21, 0x11, 1, 0, 2, 0x22, 50, 0))), Is.EqualTo(DescriptorError.CountMismatch));
            // IAD with zero interfaces.
            Assert.That(ConfigError(Desc.Config(1, 0x80, 0, Desc.Iad(0, 0, 1, 0, 0), Desc.Interface(0, 0, 0, 3))), Is.EqualTo(DescriptorError.BadValue));
        }

        [Test]
        public void ProblemsDescribeThemselvesWithAnOffset()
        {
            DescriptorProblem p = ConfigurationParser.Parse(Desc.Config(1, 0x80, 0, Desc.Interface(0, 0, 0, 3), Desc.Raw(0, 0x24)), out UsbConfiguration _);
            Assert.That(p.Describe(), Is.EqualTo("invalid bLength at offset 18"));
        }

        [Test]
        public void StringsDecodeUtf16AndLanguages()
        {
            Assert.That(StringDescriptor.ParseText(StringDescriptor.Encode("QEMU USB Tablet"), out string s).IsOk, Is.True);
            Assert.That(s, Is.EqualTo("QEMU USB Tablet"));
            byte[] u = { 10, 3, 0xE9, 0x00, 0x3D, 0xD8, 0x00, 0xDE, 0x41, 0x00 }; // é, U+1F600, A
            Assert.That(StringDescriptor.ParseText(u, out s).IsOk, Is.True);
            Assert.That(s, Is.EqualTo("é\U0001F600A"));
            byte[] lone = { 8, 3, 0x00, 0xDC, 0x41, 0x00, 0x00, 0xD8 }; // lone low surrogate, A, lone high at the end
            StringDescriptor.ParseText(lone, out s);
            Assert.That(s, Is.EqualTo("\uFFFDA\uFFFD"));
            byte[] control = { 6, 3, 0x1B, 0x00, 0x41, 0x00 }; // ESC is not passed to terminals
            StringDescriptor.ParseText(control, out s);
            Assert.That(s, Is.EqualTo("\uFFFDA"));
            byte[] odd = { 5, 3, 0x41, 0x00, 0x42 };
            StringDescriptor.ParseText(odd, out s);
            Assert.That(s, Is.EqualTo("A"));
            Assert.That(StringDescriptor.ParseText(new byte[] { 20, 3, 0x41, 0 }, out s).Error, Is.EqualTo(DescriptorError.Truncated));
            Assert.That(StringDescriptor.ParseText(new byte[] { 1, 3 }, out s).Error, Is.EqualTo(DescriptorError.BadLength));
            Assert.That(StringDescriptor.ParseText(new byte[] { 4, 2, 0, 0 }, out s).Error, Is.EqualTo(DescriptorError.WrongType));
            Assert.That(StringDescriptor.ParseLanguages(new byte[] { 6, 3, 0x09, 0x04, 0x07, 0x04 }, out ushort[] langs).IsOk, Is.True);
            Assert.That(langs, Is.EqualTo(new ushort[] { 0x0409, 0x0407 }));
        }

        [Test]
        public void HubDescriptors()
        {
            byte[] d = Usb.Tests.Simulation.SimPortSet.HubDescriptorBytes(8, 50);
            Assert.That(HubDescriptor.Parse(d, out HubDescriptor h).IsOk, Is.True);
            Assert.That(h.bNbrPorts, Is.EqualTo(8));
            Assert.That(h.PowerOnToGoodMs, Is.EqualTo(100));
            Assert.That(h.IndividualPowerSwitching, Is.True);
            Assert.That(d.Length, Is.EqualTo(11));
            byte[] qemuHub = { 10, 0x29, 8, 0, 0, 50, 0, 0, 0, 0xFF }; // QEMU's 8-port usb-hub: short PortPwrCtrlMask
            Assert.That(HubDescriptor.Parse(qemuHub, out h).IsOk, Is.True);
            Assert.That(h.bNbrPorts, Is.EqualTo(8));
            byte[] shortMasks = { 8, 0x29, 8, 0, 0, 50, 0, 0 }; // 8 ports need 2 DeviceRemovable bytes
            Assert.That(HubDescriptor.Parse(shortMasks, out h).Error, Is.EqualTo(DescriptorError.CountMismatch));
            Assert.That(HubDescriptor.Parse(new byte[] { 7, 0x29, 40, 0, 0, 0, 0 }, out h).Error, Is.EqualTo(DescriptorError.TooManyPorts));
            Assert.That(HubDescriptor.Parse(new byte[] { 9, 0x29, 1, 0, 0, 0, 0 }, out h).Error, Is.EqualTo(DescriptorError.Truncated));
            byte[] ss = { 12, 0x2A, 4, 0x09, 0, 10, 0, 0x10, 0x20, 0x00, 0x02, 0x00 };
            Assert.That(HubDescriptor.Parse(ss, out h).IsOk, Is.True);
            Assert.That(h.IsSuperSpeed, Is.True);
            Assert.That(h.wHubDelay, Is.EqualTo(0x20));
            Assert.That(h.DeviceRemovable, Is.EqualTo(2));
        }

        [Test]
        public void BosWithCapabilities()
        {
            byte[] bos = Desc.Concat(
                new byte[] { 5, 0x0F, 42, 0, 3 },
                new byte[] { 7, 0x10, 2, 0x02, 0, 0, 0 },
                new byte[] { 10, 0x10, 3, 0, 0x0E, 0, 1, 10, 0xFF, 0x07 },
                new byte[] { 20, 0x10, 4, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 });
            Assert.That(BosDescriptor.Parse(bos, out BosDescriptor b).IsOk, Is.True);
            Assert.That(b.Capabilities.Length, Is.EqualTo(3));
            Assert.That(b.Capabilities[0].bmAttributes, Is.EqualTo(2));
            Assert.That(b.Capabilities[1].wSpeedsSupported, Is.EqualTo(0x0E));
            Assert.That(b.Capabilities[1].wU2DevExitLat, Is.EqualTo(0x07FF));
            Assert.That(b.Capabilities[2].Data.Length, Is.EqualTo(17));
            bos[4] = 4;
            Assert.That(BosDescriptor.Parse(bos, out b).Error, Is.EqualTo(DescriptorError.CountMismatch));
            bos[4] = 2;
            Assert.That(BosDescriptor.Parse(bos, out b).Error, Is.EqualTo(DescriptorError.CountMismatch));
            bos[4] = 3;
            bos[2] = 60;
            Assert.That(BosDescriptor.Parse(bos, out b).Error, Is.EqualTo(DescriptorError.Truncated));
            bos[2] = 42;
            bos[5 + 7] = 6; // SuperSpeed capability too short
            Assert.That(BosDescriptor.Parse(bos, out b).Error, Is.EqualTo(DescriptorError.BadLength));
        }

        [Test]
        public void HidDescriptorsListTheirClassDescriptors()
        {
            byte[] hid = { 12, 0x21, 0x11, 0x01, 0, 2, 0x22, 0x3F, 0, 0x23, 0x10, 0 };
            Assert.That(HidDescriptor.Parse(hid, out HidDescriptor h).IsOk, Is.True);
            Assert.That(h.bcdHID, Is.EqualTo(0x0111));
            Assert.That(h.Descriptors.Length, Is.EqualTo(2));
            Assert.That(h.ReportDescriptorLength, Is.EqualTo(0x3F));
            hid[5] = 0;
            Assert.That(HidDescriptor.Parse(hid, out h).Error, Is.EqualTo(DescriptorError.CountMismatch));
        }

        [Test]
        public void SetupPacketEncoding()
        {
            var s = new SetupPacket(0x80, 6, 0x0100, 0, 18);
            byte[] b = new byte[8];
            s.Write(b);
            Assert.That(b, Is.EqualTo(new byte[] { 0x80, 6, 0, 1, 0, 0, 18, 0 }));
            Assert.That(SetupPacket.Read(b).wValue, Is.EqualTo(0x0100));
            Assert.That(s.IsIn, Is.True);
        }

        [Test]
        public void StatusNamesAreDistinct()
        {
            var seen = new System.Collections.Generic.HashSet<string>();
            foreach (UsbStatus status in Enum.GetValues<UsbStatus>())
                Assert.That(seen.Add(UsbStatusNames.Name(status)), Is.True, status.ToString());
            foreach (DescriptorError e in Enum.GetValues<DescriptorError>())
                Assert.That(DescriptorErrorNames.Name(e), Is.Not.EqualTo("unknown descriptor error"));
        }
    }
}
