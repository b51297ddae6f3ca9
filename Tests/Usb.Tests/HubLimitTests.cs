using Drivers.Usb;
using Drivers.Usb.Descriptors;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    /// <summary>
    /// Hubs with more ports than the core can serve are refused at probe, as Linux hub_configure
    /// does ("hub has too many ports!"): 31 ports at most (the 32-bit status-change bitmap, bit 0
    /// is the hub), 15 on a SuperSpeed hub (4-bit route string tiers, USB_SS_MAXPORTS).
    /// </summary>
    [TestFixture]
    public class HubLimitTests
    {
        [Test]
        public void HubDescriptorPortLimitsBySpeed()
        {
            Assert.That(HubDescriptor.Parse(SimPortSet.SuperSpeedHubDescriptorBytes(15), out HubDescriptor h).IsOk, Is.True);
            Assert.That(h.bNbrPorts, Is.EqualTo(15));
            DescriptorProblem p = HubDescriptor.Parse(SimPortSet.SuperSpeedHubDescriptorBytes(16), out h);
            Assert.That(p.Error, Is.EqualTo(DescriptorError.TooManyPorts));
            Assert.That(p.Describe(), Does.Contain("hub has too many ports"));
            Assert.That(HubDescriptor.Parse(SimPortSet.HubDescriptorBytes(31), out h).IsOk, Is.True);
            Assert.That(HubDescriptor.Parse(SimPortSet.HubDescriptorBytes(32), out h).Error, Is.EqualTo(DescriptorError.TooManyPorts));
            Assert.That(HubDescriptor.Parse(SimPortSet.HubDescriptorBytes(255), out h).Error, Is.EqualTo(DescriptorError.TooManyPorts));
        }

        [Test]
        public void SuperSpeedHubWithSixteenPortsIsRefusedAtProbe()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.Super, h => { h.AssignsAddresses = true; h.DriverName = "xhci_hcd"; });
            var hub = new SimHub("ss hub", 16, UsbSpeed.Super);
            hub.DeviceDescriptor = Desc.Device(0x0409, 0x55AA, UsbClass.Hub, 0, 3, 9, 0x0300, 0x0101, 0, 2, 0);
            hub.HubDescriptorOverride = SimPortSet.SuperSpeedHubDescriptorBytes(16);
            hc.Plug("1", hub);
            bed.Settle();

            UsbDevice d = bed.Device("1-1");
            Assert.That(d, Is.Not.Null, bed.LogSink.All());
            Assert.That(d.IsHub, Is.False, "no hub driver state for a hub the route string can't serve");
            Assert.That(d.Children.Length, Is.EqualTo(0));
            Assert.That(bed.LogSink.Contains("hub has too many ports"), Is.True, bed.LogSink.All());
            Assert.That(hub.PortSet.Ports[0].Powered, Is.False, "no port was powered");
        }

        [Test]
        public void SuperSpeedHubWithFifteenPortsWorks()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.Super, h => { h.AssignsAddresses = true; h.DriverName = "xhci_hcd"; });
            var hub = new SimHub("ss hub", 15, UsbSpeed.Super);
            hub.DeviceDescriptor = Desc.Device(0x0409, 0x55AA, UsbClass.Hub, 0, 3, 9, 0x0300, 0x0101, 0, 2, 0);
            hub.HubDescriptorOverride = SimPortSet.SuperSpeedHubDescriptorBytes(15);
            hc.Plug("1", hub);
            bed.Settle();

            UsbDevice d = bed.Device("1-1");
            Assert.That(d, Is.Not.Null, bed.LogSink.All());
            Assert.That(d.IsHub, Is.True, bed.LogSink.All());
            Assert.That(d.Children.Length, Is.EqualTo(15));
        }

        [Test]
        public void UsbTwoHubWithFortyPortsIsRefusedAtProbe()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.High);
            var hub = new SimHub("wide hub", 40, UsbSpeed.High);
            hub.HubDescriptorOverride = SimPortSet.HubDescriptorBytes(40);
            hc.Plug("1", hub);
            bed.Settle();

            UsbDevice d = bed.Device("1-1");
            Assert.That(d, Is.Not.Null, bed.LogSink.All());
            Assert.That(d.IsHub, Is.False);
            Assert.That(bed.LogSink.Contains("hub has too many ports"), Is.True, bed.LogSink.All());
        }
    }
}
