using Drivers.Usb;
using Drivers.Usb.Descriptors;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    /// <summary>
    /// Endpoints the core can't use safely are skipped with Linux config.c's warnings, and the
    /// rest of the configuration stays usable: invalid addresses, duplicate addresses (same
    /// setting, or another interface: both would claim one slot of the device's endpoint table),
    /// wMaxPacketSize 0; an over-large wMaxPacketSize is clamped.
    /// </summary>
    [TestFixture]
    public class EndpointSanityTests
    {
        static UsbConfiguration Parse(TestLogSink log, byte[] data)
        {
            DescriptorProblem p = ConfigurationParser.Parse(data, out UsbConfiguration config, "1-1");
            Assert.That(p.IsOk, Is.True, p.Describe() + "\n" + log.All());
            return config;
        }

        [Test]
        public void DuplicateInTheSameSettingIsSkipped()
        {
            using var bed = new TestBed();
            UsbConfiguration c = Parse(bed.LogSink, Desc.Config(1, 0x80, 0,
                Desc.Interface(0, 0, 3, 3),
                Desc.Endpoint(0x81, TransferType.Interrupt, 8, 1),
                Desc.Endpoint(0x81, TransferType.Interrupt, 16, 1),
                Desc.Endpoint(0x02, TransferType.Interrupt, 8, 1)));
            UsbEndpoint[] eps = c.Interfaces[0].Current.Endpoints;
            Assert.That(eps.Length, Is.EqualTo(2));
            Assert.That(eps[0].Address, Is.EqualTo(0x81));
            Assert.That(eps[0].MaxPacketSize, Is.EqualTo(8), "the first one stays");
            Assert.That(eps[1].Address, Is.EqualTo(0x02));
            Assert.That(bed.LogSink.Contains("usb 1-1: config 1 interface 0 altsetting 0 has a duplicate endpoint with address 0x81, skipping"),
                        Is.True, bed.LogSink.All());
        }

        [Test]
        public void DuplicateInAnotherInterfaceIsSkippedOtherSettingsOfTheSameInterfaceMayReuse()
        {
            using var bed = new TestBed();
            UsbConfiguration c = Parse(bed.LogSink, Desc.Config(1, 0x80, 0,
                Desc.Interface(0, 0, 1, 3),
                Desc.Endpoint(0x81, TransferType.Interrupt, 8, 1),
                Desc.Interface(0, 1, 1, 3),
                Desc.Endpoint(0x81, TransferType.Interrupt, 64, 1),
                Desc.Interface(1, 0, 2, 0xFF),
                Desc.Endpoint(0x81, TransferType.Bulk, 512, 0),
                Desc.Companion(0, 0, 0),
                Desc.Endpoint(0x82, TransferType.Bulk, 512, 0)));
            Assert.That(c.Interfaces[0].AltSettings[1].Endpoints.Length, Is.EqualTo(1), "alternate settings of one interface may share an address");
            UsbEndpoint[] second = c.Interfaces[1].Current.Endpoints;
            Assert.That(second.Length, Is.EqualTo(1));
            Assert.That(second[0].Address, Is.EqualTo(0x82));
            Assert.That(second[0].HasCompanion, Is.False, "the skipped endpoint's companion went with it");
            Assert.That(bed.LogSink.Contains("config 1 interface 1 altsetting 0 has a duplicate endpoint with address 0x81, skipping"),
                        Is.True, bed.LogSink.All());
        }

        [Test]
        public void InvalidAddressesAndZeroPacketSizesAreSkippedOverLargeOnesClamped()
        {
            using var bed = new TestBed();
            UsbConfiguration c = Parse(bed.LogSink, Desc.Config(1, 0x80, 0,
                Desc.Interface(0, 0, 5, 3),
                Desc.Endpoint(0x80, TransferType.Interrupt, 8, 1),
                Desc.Endpoint(0x91, TransferType.Interrupt, 8, 1),
                Desc.Endpoint(0x83, TransferType.Bulk, 0, 0),
                Desc.Endpoint(0x04, TransferType.Bulk, 0x07FF, 0),
                Desc.Endpoint(0x85, TransferType.Isochronous, 0, 1),
                Desc.Interface(0, 1, 1, 3),
                Desc.Endpoint(0x86, TransferType.Isochronous, 0, 1)));
            UsbEndpoint[] eps = c.Interfaces[0].AltSettings[0].Endpoints;
            Assert.That(eps.Length, Is.EqualTo(2));
            Assert.That(eps[0].Address, Is.EqualTo(0x04));
            Assert.That(eps[0].MaxPacketSize, Is.EqualTo(1024));
            Assert.That(eps[1].Address, Is.EqualTo(0x85), "a zero-bandwidth isochronous endpoint in setting 0 is legal (USB 2.0 5.6.3)");
            Assert.That(c.Interfaces[0].AltSettings[1].Endpoints.Length, Is.EqualTo(0));
            string log = bed.LogSink.All();
            Assert.That(log, Does.Contain("altsetting 0 has an invalid endpoint with address 0x80, skipping"));
            Assert.That(log, Does.Contain("altsetting 0 has an invalid endpoint with address 0x91, skipping"));
            Assert.That(log, Does.Contain("altsetting 0 endpoint 0x83 has invalid wMaxPacketSize 0, skipping"));
            Assert.That(log, Does.Contain("endpoint 0x04 has invalid maxpacket 2047, setting to 1024"));
            Assert.That(log, Does.Contain("altsetting 1 endpoint 0x86 has invalid wMaxPacketSize 0, skipping"));
        }

        [Test]
        public void CountsStillIncludeSkippedEndpoints()
        {
            // bNumEndpoints counts the descriptors present, skipped or not: a lie is still an error.
            Assert.That(ConfigurationParser.Parse(Desc.Config(1, 0x80, 0, Desc.Interface(0, 0, 1, 3),
                Desc.Endpoint(0x81, TransferType.Interrupt, 8, 1), Desc.Endpoint(0x81, TransferType.Interrupt, 8, 1)),
                out UsbConfiguration _).Error, Is.EqualTo(DescriptorError.CountMismatch));
            Assert.That(ConfigurationParser.Parse(Desc.Config(1, 0x80, 0, Desc.Interface(0, 0, 3, 3),
                Desc.Endpoint(0x81, TransferType.Interrupt, 8, 1), Desc.Endpoint(0x81, TransferType.Interrupt, 8, 1)),
                out UsbConfiguration _).Error, Is.EqualTo(DescriptorError.CountMismatch));
        }

        [Test]
        public void DeviceWithAnEndpointSharedByTwoInterfacesLeavesNothingBehind()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController();
            bed.Settle();
            int enabledBefore = hc.EnabledEndpoints;
            byte[] config = Desc.Config(1, 0x80, 50,
                Desc.Interface(0, 0, 1, 0xFF),
                Desc.Endpoint(0x81, TransferType.Interrupt, 8, 10),
                Desc.Interface(1, 0, 1, 0xFF),
                Desc.Endpoint(0x81, TransferType.Bulk, 512, 0));
            hc.Plug("1", new SimDevice("shared", UsbSpeed.High, Desc.Device(0x1234, 0x5678), config));
            bed.Settle();

            UsbDevice d = bed.Device("1-1");
            Assert.That(d, Is.Not.Null, bed.LogSink.All());
            Assert.That(d.ActiveConfiguration, Is.Not.Null, bed.LogSink.All());
            UsbEndpoint first = d.Interfaces[0].Current.Endpoints[0];
            Assert.That(d.FindEndpoint(0x81), Is.SameAs(first), "the table slot belongs to interface 0's endpoint");
            Assert.That(d.Interfaces[1].Current.Endpoints.Length, Is.EqualTo(0));

            hc.Unplug("1");
            bed.Settle();
            Assert.That(bed.Device("1-1"), Is.Null);
            Assert.That(hc.EnabledEndpoints, Is.EqualTo(enabledBefore), "every endpoint the device enabled was disabled\n" + bed.LogSink.All());
        }
    }
}
