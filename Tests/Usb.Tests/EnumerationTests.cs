using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    [TestFixture]
    public class EnumerationTests
    {
        static SimDevice Keyboard(UsbSpeed speed = UsbSpeed.High) =>
            new SimDevice("QEMU USB Keyboard", speed, Desc.Device(0x0627, 0x0001, maxPacket0: speed == UsbSpeed.Low ? (byte)8 : (byte)64), Desc.KeyboardConfig());

        static SimDevice Storage() =>
            new SimDevice("QEMU USB HARDDRIVE", UsbSpeed.High, Desc.Device(0x46f4, 0x0001), Desc.StorageConfig());

        [Test]
        public void RootHubIsRegisteredAsUsbN()
        {
            using var bed = new TestBed();
            bed.AddController(2, UsbSpeed.High);
            UsbDevice root = bed.Device("usb1");
            Assert.That(root, Is.Not.Null);
            Assert.That(root.IsRootHub, Is.True);
            Assert.That(root.Address, Is.EqualTo(1));
            Assert.That(root.Descriptor.idVendor, Is.EqualTo(0x1d6b));
            Assert.That(root.Descriptor.idProduct, Is.EqualTo(0x0002));
            Assert.That(root.Driver, Is.SameAs(bed.Stack.GenericDriver));
            Assert.That(root.Interfaces.Length, Is.EqualTo(1));
            Assert.That(root.Interfaces[0].Name, Is.EqualTo("1-0:1.0"));
            Assert.That(root.Interfaces[0].Driver, Is.SameAs(bed.Stack.HubDriver));
            Assert.That(root.PortCount, Is.EqualTo(2));
            Assert.That(root.Product, Is.EqualTo("Simulated Host Controller"));
            Assert.That(root.SerialNumber, Is.EqualTo("0000:00:01.2"));
        }

        [Test]
        public void BusesAreNumberedInRegistrationOrder()
        {
            using var bed = new TestBed();
            bed.AddController(2, UsbSpeed.Full);
            bed.AddController(2, UsbSpeed.High);
            Assert.That(bed.DeviceNames(), Is.EqualTo(new[] { "usb1", "usb2" }));
            Assert.That(bed.Stack.Buses[1].Number, Is.EqualTo(2));
            Assert.That(bed.Device("usb1").Descriptor.idProduct, Is.EqualTo(0x0001));
        }

        [Test]
        public void DeviceOnRootPortEnumeratesWithStringsAndConfiguration()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(4);
            SimDevice kbd = Keyboard();
            hc.Plug("2", kbd);
            bed.Settle();
            UsbDevice d = bed.Device("1-2");
            Assert.That(d, Is.Not.Null, bed.LogSink.All());
            Assert.That(d.Address, Is.EqualTo(2));
            Assert.That(kbd.Address, Is.EqualTo(2));
            Assert.That(d.Speed, Is.EqualTo(UsbSpeed.High));
            Assert.That(d.Manufacturer, Is.EqualTo("QEMU"));
            Assert.That(d.Product, Is.EqualTo("QEMU USB Keyboard"));
            Assert.That(d.SerialNumber, Is.EqualTo("42"));
            Assert.That(d.ActiveConfiguration, Is.Not.Null);
            Assert.That(kbd.Configuration, Is.EqualTo(1));
            Assert.That(d.State, Is.EqualTo(UsbDeviceState.Configured));
            Assert.That(d.Interfaces[0].Name, Is.EqualTo("1-2:1.0"));
            Assert.That(d.Interfaces[0].Current.HasHid, Is.True);
            Assert.That(d.FindEndpoint(0x81), Is.Not.Null);
            Assert.That(bed.Events, Is.EqualTo(new[] { "add usb1", "add 1-2" }));
        }

        [Test]
        public void SpecDelaysAreRequestedFromTheClock()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(4);
            hc.Plug("1", Keyboard());
            bed.Settle();
            List<uint> sleeps = bed.Clock.SleepList();
            Assert.That(sleeps, Does.Contain(HubTimingsProxy.Debounce));
            Assert.That(sleeps, Does.Contain(50u), "root port reset TDRSTR (held by the root hub emulation)");
            Assert.That(sleeps, Does.Contain(10u), "reset recovery TRSTRCY");
            Assert.That(sleeps, Does.Contain(2u), "SET_ADDRESS recovery");
        }

        static class HubTimingsProxy
        {
            public const uint Debounce = Drivers.Usb.Hub.HubTimings.DebounceStepMs;
        }
    }
}
