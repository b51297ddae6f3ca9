using System.Linq;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    [TestFixture]
    public class TopologyTests
    {
        internal static SimDevice Keyboard(UsbSpeed speed = UsbSpeed.Full, string label = "QEMU USB Keyboard") =>
            new SimDevice(label, speed, Desc.Device(0x0627, 0x0001, maxPacket0: speed == UsbSpeed.Low ? (byte)8 : (byte)64), Desc.KeyboardConfig());

        [Test]
        public void MultiTierTreeGetsLinuxNamesAndNearestHighSpeedTt()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(4, UsbSpeed.High);
            var hsHub = new SimHub("HS hub", 4, UsbSpeed.High);
            var fsHub = new SimHub("FS hub", 4, UsbSpeed.Full);
            hc.Plug("1", hsHub);
            bed.Settle();
            hc.Plug("1.3", fsHub);
            bed.Settle();
            hc.Plug("1.3.2", Keyboard(UsbSpeed.Full));
            hc.Plug("1.1", Keyboard(UsbSpeed.Low, "low"));
            hc.Plug("2", Keyboard(UsbSpeed.High, "hs"));
            bed.Settle();

            Assert.That(bed.DeviceNames(), Is.EqualTo(new[] { "1-1", "1-1.1", "1-1.3", "1-1.3.2", "1-2", "usb1" }), bed.LogSink.All());
            UsbDevice hs = bed.Device("1-1");
            UsbDevice fs = bed.Device("1-1.3");
            UsbDevice kbd = bed.Device("1-1.3.2");
            UsbDevice low = bed.Device("1-1.1");
            Assert.That(hs.Speed, Is.EqualTo(UsbSpeed.High));
            Assert.That(fs.Speed, Is.EqualTo(UsbSpeed.Full));
            Assert.That(kbd.Speed, Is.EqualTo(UsbSpeed.Full));
            Assert.That(low.Speed, Is.EqualTo(UsbSpeed.Low));
            // The keyboard behind the full-speed hub uses the high-speed hub's TT at the port the FS hub hangs off.
            Assert.That(fs.TtHub, Is.SameAs(hs));
            Assert.That(fs.TtPort, Is.EqualTo(3));
            Assert.That(kbd.TtHub, Is.SameAs(hs));
            Assert.That(kbd.TtPort, Is.EqualTo(3));
            Assert.That(low.TtHub, Is.SameAs(hs));
            Assert.That(low.TtPort, Is.EqualTo(1));
            Assert.That(bed.Device("1-2").TtHub, Is.Null, "high-speed devices need no TT");
            Assert.That(hs.TtHub, Is.Null);
            Assert.That(kbd.Level, Is.EqualTo(3));
            Assert.That(kbd.Parent, Is.SameAs(fs));
            Assert.That(kbd.PortNumber, Is.EqualTo(2));
            Assert.That(kbd.Interfaces[0].Name, Is.EqualTo("1-1.3.2:1.0"));
            Assert.That(fs.Interfaces[0].Name, Is.EqualTo("1-1.3:1.0"));
            Assert.That(fs.IsHub, Is.True);
            Assert.That(hc.AddressZeroCollisions, Is.EqualTo(0));
        }

        [Test]
        public void FullSpeedRootHubDevicesHaveNoTt()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.Full);
            hc.Plug("1", Keyboard(UsbSpeed.Low));
            bed.Settle();
            Assert.That(bed.Device("1-1").TtHub, Is.Null);
            Assert.That(bed.Device("1-1").Speed, Is.EqualTo(UsbSpeed.Low));
            Assert.That(bed.Device("1-1").Endpoint0.MaxPacketSize, Is.EqualTo(8));
        }

        [Test]
        public void IntegratedTtRootHubServesFullSpeedDevices()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.High, h => h.RootHubHasTt = true);
            hc.Plug("2", Keyboard(UsbSpeed.Full));
            bed.Settle();
            Assert.That(bed.Device("1-2").TtHub, Is.SameAs(bed.Device("usb1")));
            Assert.That(bed.Device("1-2").TtPort, Is.EqualTo(2));
        }

        [Test]
        public void FiveHubsDeepWorkAndASixthIsRefused()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.High);
            string path = "1";
            for (int i = 0; i < 5; i++)
            {
                hc.Plug(path, new SimHub("hub" + i, 2, UsbSpeed.Full));
                bed.Settle();
                path += ".1";
            }
            hc.Plug(path, Keyboard());
            bed.Settle();
            UsbDevice deepest = bed.Device("1-1.1.1.1.1.1");
            Assert.That(deepest, Is.Not.Null, bed.LogSink.All());
            Assert.That(deepest.Level, Is.EqualTo(6));
            Assert.That(deepest.Interfaces[0].Name, Is.EqualTo("1-1.1.1.1.1.1:1.0"));

            hc.Unplug(path);
            bed.Settle();
            hc.Plug(path, new SimHub("hub6", 2, UsbSpeed.Full));
            bed.Settle();
            UsbDevice sixth = bed.Device("1-1.1.1.1.1.1");
            Assert.That(sixth, Is.Not.Null);
            Assert.That(sixth.IsHub, Is.False, "a sixth hub is nested too deep");
            Assert.That(sixth.Interfaces[0].Driver, Is.Null);
            Assert.That(bed.LogSink.Contains("hub nested too deep"), Is.True);
        }

        [Test]
        public void UnpluggingAHubRemovesItsSubtreeChildrenFirstWithDriversToldBeforeDestruction()
        {
            using var bed = new TestBed();
            var hid = new RecordingInterfaceDriver("usbhid", UsbDeviceId.InterfaceClass(UsbClass.Hid));
            bed.Stack.RegisterDriver(hid);
            SimController hc = bed.AddController(2);
            hc.Plug("1", new SimHub("hub", 4, UsbSpeed.High));
            bed.Settle();
            hc.Plug("1.2", new SimHub("hub2", 2, UsbSpeed.Full));
            bed.Settle();
            hc.Plug("1.1", Keyboard(UsbSpeed.High, "a"));
            hc.Plug("1.2.1", Keyboard(UsbSpeed.Full, "b"));
            bed.Settle();
            Assert.That(hid.Probes, Is.EqualTo(2));
            int allocated = hc.AllocatedDevices;
            Assert.That(allocated, Is.EqualTo(4));
            bed.Events.Clear();

            hc.Unplug("1");
            bed.Settle();
            Assert.That(bed.DeviceNames(), Is.EqualTo(new[] { "usb1" }));
            Assert.That(hid.Disconnects, Is.EqualTo(2));
            Assert.That(hid.SawDestroyedDevice, Is.False);
            Assert.That(bed.Events, Is.EqualTo(new[] { "remove 1-1.1", "remove 1-1.2.1", "remove 1-1.2", "remove 1-1" }));
            Assert.That(hc.AllocatedDevices, Is.EqualTo(0));
            Assert.That(bed.Device("usb1").Children.All(c => c == null), Is.True);
        }

        [Test]
        public void AddressesAreRecycledAfterUnplug()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2);
            for (int i = 0; i < 200; i++)
            {
                hc.Plug("1", Keyboard(UsbSpeed.High));
                bed.Settle();
                Assert.That(bed.Device("1-1"), Is.Not.Null, "iteration " + i);
                hc.Unplug("1");
                bed.Settle();
                Assert.That(bed.Device("1-1"), Is.Null);
            }
            Assert.That(hc.AllocatedDevices, Is.EqualTo(0));
        }

        [Test]
        public void ControllerThatAssignsAddressesItselfIsHonoured()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.High, h => h.AssignsAddresses = true);
            SimDevice kbd = Keyboard(UsbSpeed.High);
            hc.Plug("1", kbd);
            bed.Settle();
            UsbDevice d = bed.Device("1-1");
            Assert.That(d.Address, Is.EqualTo(2), "the device number stays the core's, as Linux's devnum");
            Assert.That(d.ControllerAddress, Is.EqualTo(100));
            Assert.That(d.WireAddress, Is.EqualTo(100));
            Assert.That(kbd.Address, Is.EqualTo(100));
            Assert.That(kbd.ControlLog.Any(s => s.bRequest == UsbRequestCode.SetAddress), Is.False, "no SET_ADDRESS on the wire");
        }

        [Test]
        public void RemovingTheControllerRemovesEverything()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2);
            hc.Plug("1", new SimHub("hub", 2, UsbSpeed.High));
            bed.Settle();
            hc.Plug("1.1", Keyboard(UsbSpeed.High));
            bed.Settle();
            bed.Stack.RemoveController(bed.Bus);
            Assert.That(bed.Stack.Buses, Is.Empty);
            Assert.That(bed.Events.Last(), Is.EqualTo("remove usb1"));
            Assert.That(hc.AllocatedDevices, Is.EqualTo(0));
            Assert.That(bed.Stack.Hubs, Is.Empty);
        }
    }
}
