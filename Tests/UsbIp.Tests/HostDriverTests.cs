using Drivers.Usb;
using NUnit.Framework;
using Usb.Tests.Simulation;

namespace UsbIp.Tests
{
    /// <summary>usbip-host as a device driver on the simulated bus: bind/unbind by bus id, listings.</summary>
    [TestFixture]
    public class HostDriverTests
    {
        [Test]
        public void BindTakesTheWholeDeviceFromItsDriversAndUnbindGivesItBack()
        {
            using var rig = new Rig();
            rig.PlugDisk("1");
            UsbDevice device = rig.Bed.Device("1-1");
            Assert.That(device.Driver?.Name, Is.EqualTo("usb"));
            Assert.That(rig.Bed.Stack.FindInterface("1-1:1.0")?.Driver?.Name, Is.EqualTo("usb-storage"));
            Assert.That(rig.Host.Exports, Is.Empty, "nothing is exported until asked");

            Assert.That(rig.Host.BindBusId("1-1"), Is.EqualTo(UsbStatus.Ok));
            Assert.That(device.Driver, Is.SameAs(rig.Host), "a device driver: the device as a whole");
            Assert.That(device.ActiveConfiguration, Is.Null, "unconfigured until a client sets a configuration (as Linux's stub)");
            Assert.That(rig.Storage.Disks, Is.Empty, "usb-storage let go of the disk");
            Assert.That(rig.Host.Exports.Length, Is.EqualTo(1));
            Assert.That(rig.Host.Exports[0].BusId, Is.EqualTo("1-1"));
            Assert.That(rig.Host.Exports[0].State, Is.EqualTo(UsbIpExportState.Available));
            Assert.That(rig.Host.BindBusId("1-1"), Is.EqualTo(UsbStatus.Busy), "already bound");
            string log = rig.Bed.LogSink.All();
            Assert.That(log, Does.Contain("usb 1-1: unbound from driver usb"));
            Assert.That(log, Does.Contain("usbip-host 1-1: usbip-host: register new device (bus 1 dev 2)"));

            // A configuration set while bound to usbip-host gets no interface driver (the client owns them).
            Assert.That(rig.Bed.Stack.SetConfiguration(device, 1), Is.EqualTo(UsbStatus.Ok));
            Assert.That(rig.Bed.Stack.FindInterface("1-1:1.0").Driver, Is.Null);
            Assert.That(rig.Bed.Stack.Bind(rig.Bed.Stack.FindInterface("1-1:1.0"), "usb-storage"), Is.EqualTo(UsbStatus.NoMatch));

            Assert.That(rig.Host.UnbindBusId("1-1"), Is.EqualTo(UsbStatus.Ok));
            Assert.That(device.Driver?.Name, Is.EqualTo("usb"));
            Assert.That(rig.Bed.Stack.FindInterface("1-1:1.0")?.Driver?.Name, Is.EqualTo("usb-storage"));
            Rig.WaitFor(() => rig.Storage.Disks.Length == 1, "disk back");
            Assert.That(rig.Host.Exports, Is.Empty);
            Assert.That(rig.Host.UnbindBusId("1-1"), Is.EqualTo(UsbStatus.NotFound));
        }

        [Test]
        public void HubsRootHubsAndUnknownBusIdsAreRefused()
        {
            using var rig = new Rig();
            rig.Plug("1", new SimHub("hub", 4, UsbSpeed.High));
            rig.Plug("1.2", Rig.Keyboard());
            Assert.That(rig.Host.BindBusId("1-1"), Is.EqualTo(UsbStatus.NotSupported), "a hub");
            Assert.That(rig.Host.BindBusId("usb1"), Is.EqualTo(UsbStatus.NotSupported), "a root hub");
            Assert.That(rig.Host.BindBusId("1-3"), Is.EqualTo(UsbStatus.NotFound));
            Assert.That(rig.Host.BindBusId("1-1.2"), Is.EqualTo(UsbStatus.Ok), "a device behind a hub");
            Assert.That(rig.Host.Exports[0].Record().Path, Is.EqualTo("/sys/devices/pci0000:00/0000:00:01.2/usb1/1-1/1-1.2"));
        }

        [Test]
        public void ListLocalShowsExportableDevicesLikeLinuxsTool()
        {
            using var rig = new Rig();
            rig.PlugDisk("1");
            rig.Plug("2", new SimHub("hub", 4, UsbSpeed.High));
            rig.Plug("2.1", Rig.Keyboard());
            string list = rig.Host.ListLocal();
            Assert.That(list, Does.Contain(" - busid 1-1 (46f4:0001)\n   QEMU : QEMU USB HARDDRIVE (46f4:0001)\n"));
            Assert.That(list, Does.Contain(" - busid 1-2.1 (0627:0001)\n   QEMU : QEMU USB Keyboard (0627:0001)\n"));
            Assert.That(list, Does.Not.Contain("busid 1-2 "), "hubs are not exportable");
            Assert.That(rig.Host.ListExported(), Does.Contain("no exportable devices"));
            rig.Host.BindBusId("1-2.1");
            Assert.That(rig.Host.ListExported(), Does.Contain(" - busid 1-2.1 (0627:0001) usbip_status 1 (available)"));
        }

        [Test]
        public void ADeviceReplugggedAtAListedBusIdIsBoundAgainAndUnlistedOnesAreNot()
        {
            using var rig = new Rig();
            rig.Plug("1", Rig.Keyboard());
            rig.Plug("2", Rig.Keyboard());
            Assert.That(rig.Host.BindBusId("1-1"), Is.EqualTo(UsbStatus.Ok));
            rig.Hc.Unplug("1");
            rig.Bed.Settle();
            Assert.That(rig.Host.Exports, Is.Empty);
            rig.Plug("1", Rig.Keyboard());
            Assert.That(rig.Bed.Device("1-1").Driver, Is.SameAs(rig.Host), "Linux match_busid: the bus id stays listed");
            Assert.That(rig.Bed.Device("1-2").Driver?.Name, Is.EqualTo("usb"), "only listed bus ids");
            Assert.That(rig.Bed.LogSink.All(), Does.Not.Contain("usbip-host declined"), "unlisted devices are not even probed");
        }
    }
}
