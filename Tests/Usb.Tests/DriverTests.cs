using System.Collections.Generic;
using System.Linq;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    [TestFixture]
    public class MatchTests
    {
        static DeviceDescriptor Dev(ushort vid = 0x1234, ushort pid = 0x5678, ushort bcd = 0x0150, byte cls = 0, byte sub = 0, byte proto = 0) =>
            new DeviceDescriptor { idVendor = vid, idProduct = pid, bcdDevice = bcd, bDeviceClass = cls, bDeviceSubClass = sub, bDeviceProtocol = proto };

        static InterfaceDescriptor Intf(byte number = 0, byte cls = 3, byte sub = 1, byte proto = 1) =>
            new InterfaceDescriptor { bInterfaceNumber = number, bInterfaceClass = cls, bInterfaceSubClass = sub, bInterfaceProtocol = proto };

        public static IEnumerable<TestCaseData> Cases()
        {
            yield return new TestCaseData(new UsbDeviceId(), Dev(), Intf(), true).SetName("no flags match anything");
            yield return new TestCaseData(UsbDeviceId.Device(0x1234, 0x5678), Dev(), Intf(), true).SetName("vendor+product");
            yield return new TestCaseData(UsbDeviceId.Device(0x1234, 0x9999), Dev(), Intf(), false).SetName("product differs");
            yield return new TestCaseData(UsbDeviceId.Device(0x4321, 0x5678), Dev(), Intf(), false).SetName("vendor differs");
            yield return new TestCaseData(new UsbDeviceId { MatchFlags = UsbMatch.Vendor, idVendor = 0x1234 }, Dev(), Intf(), true).SetName("vendor only");
            yield return new TestCaseData(UsbDeviceId.DeviceVersion(0x1234, 0x5678, 0x0100, 0x0200), Dev(), Intf(), true).SetName("bcd in range");
            yield return new TestCaseData(UsbDeviceId.DeviceVersion(0x1234, 0x5678, 0x0150, 0x0150), Dev(), Intf(), true).SetName("bcd range inclusive");
            yield return new TestCaseData(UsbDeviceId.DeviceVersion(0x1234, 0x5678, 0x0151, 0x0200), Dev(), Intf(), false).SetName("bcd below low");
            yield return new TestCaseData(UsbDeviceId.DeviceVersion(0x1234, 0x5678, 0x0100, 0x0149), Dev(), Intf(), false).SetName("bcd above high");
            yield return new TestCaseData(new UsbDeviceId { MatchFlags = UsbMatch.DeviceLow, bcdDeviceLow = 0x0200 }, Dev(), Intf(), false).SetName("bcd low only");
            yield return new TestCaseData(new UsbDeviceId { MatchFlags = UsbMatch.DeviceHigh, bcdDeviceHigh = 0x0200 }, Dev(), Intf(), true).SetName("bcd high only");
            yield return new TestCaseData(UsbDeviceId.DeviceInfo(9, 0, 1), Dev(cls: 9, proto: 1), Intf(), true).SetName("device class triple");
            yield return new TestCaseData(UsbDeviceId.DeviceInfo(9, 0, 1), Dev(cls: 9, proto: 2), Intf(), false).SetName("device protocol differs");
            yield return new TestCaseData(new UsbDeviceId { MatchFlags = UsbMatch.DeviceSubClass, bDeviceSubClass = 2 }, Dev(sub: 3), Intf(), false).SetName("device subclass differs");
            yield return new TestCaseData(new UsbDeviceId { MatchFlags = UsbMatch.DeviceClass, bDeviceClass = 0xEF }, Dev(cls: 0xEF), Intf(), true).SetName("device class only");
            yield return new TestCaseData(UsbDeviceId.InterfaceInfo(3, 1, 1), Dev(), Intf(), true).SetName("interface triple");
            yield return new TestCaseData(UsbDeviceId.InterfaceInfo(3, 1, 2), Dev(), Intf(), false).SetName("interface protocol differs");
            yield return new TestCaseData(new UsbDeviceId { MatchFlags = UsbMatch.InterfaceSubClass, bInterfaceSubClass = 0 }, Dev(), Intf(), false).SetName("interface subclass differs");
            yield return new TestCaseData(UsbDeviceId.InterfaceClass(3), Dev(), Intf(), true).SetName("interface class only");
            yield return new TestCaseData(UsbDeviceId.InterfaceClass(8), Dev(), Intf(), false).SetName("interface class differs");
            yield return new TestCaseData(UsbDeviceId.DeviceInterfaceNumber(0x1234, 0x5678, 2), Dev(), Intf(number: 2), true).SetName("interface number");
            yield return new TestCaseData(UsbDeviceId.DeviceInterfaceNumber(0x1234, 0x5678, 2), Dev(), Intf(number: 1), false).SetName("interface number differs");
            yield return new TestCaseData(UsbDeviceId.InterfaceClass(3), Dev(cls: 0xFF), Intf(), false).SetName("vendor-specific device needs vendor for interface match");
            yield return new TestCaseData(UsbDeviceId.VendorAndInterfaceInfo(0x1234, 3, 1, 1), Dev(cls: 0xFF), Intf(), true).SetName("vendor-specific device with vendor named");
            yield return new TestCaseData(UsbDeviceId.VendorAndInterfaceInfo(0x9999, 3, 1, 1), Dev(cls: 0xFF), Intf(), false).SetName("vendor and interface, vendor differs");
            yield return new TestCaseData(new UsbDeviceId { MatchFlags = UsbMatch.Vendor | UsbMatch.InterfaceClass, idVendor = 0x1234, bInterfaceClass = 8 }, Dev(), Intf(), false).SetName("vendor ok interface class differs");
        }

        [TestCaseSource(nameof(Cases))]
        public void MatchRule(UsbDeviceId id, DeviceDescriptor device, InterfaceDescriptor intf, bool expected)
        {
            Assert.That(id.Matches(device, intf), Is.EqualTo(expected));
        }

        [Test]
        public void DeviceDriversIgnoreInterfaceEntriesAndInterfaceDriversNeverMatchDevices()
        {
            using var bed = new TestBed();
            var devDriver = new RecordingDeviceDriver("devdrv", UsbDeviceId.InterfaceClass(UsbClass.Hid));
            var intfDriver = new RecordingInterfaceDriver("intfdrv", UsbDeviceId.Device(0x0627, 0x0001));
            bed.Stack.RegisterDriver(devDriver);
            bed.Stack.RegisterDriver(intfDriver);
            bed.AddController(2).Plug("1", TopologyTests.Keyboard(UsbSpeed.High));
            bed.Settle();
            Assert.That(devDriver.Probes, Is.EqualTo(0), "interface fields never match a device driver");
            Assert.That(bed.Device("1-1").Driver, Is.SameAs(bed.Stack.GenericDriver));
            Assert.That(intfDriver.Probes, Is.EqualTo(1), "an interface driver matching on vendor/product gets interfaces, not the device");
        }
    }

    [TestFixture]
    public class BindingTests
    {
        static SimDevice Composite()
        {
            byte[] config1 = Desc.Config(1, 0xA0, 50,
                Desc.Iad(0, 2, UsbClass.Communications, 2, 1),
                Desc.Interface(0, 0, 1, UsbClass.Communications, 2, 1),
                Desc.Endpoint(0x83, TransferType.Interrupt, 16, 8),
                Desc.Interface(1, 0, 2, UsbClass.CdcData),
                Desc.Endpoint(0x81, TransferType.Bulk, 512, 0),
                Desc.Endpoint(0x02, TransferType.Bulk, 512, 0),
                Desc.Interface(2, 0, 1, UsbClass.Hid, 1, 1),
                Desc.Hid(63),
                Desc.Endpoint(0x84, TransferType.Interrupt, 8, 7));
            byte[] config2 = Desc.Config(2, 0x80, 250,
                Desc.Interface(0, 0, 2, UsbClass.MassStorage, 6, 0x50),
                Desc.Endpoint(0x81, TransferType.Bulk, 512, 0),
                Desc.Endpoint(0x02, TransferType.Bulk, 512, 0));
            var sim = new SimDevice("composite", UsbSpeed.High, Desc.Device(0x1209, 0x0001, 0xEF, 2, 1, numConfigs: 2), config1, config2);
            return sim;
        }

        [Test]
        public void DeclinedProbePassesToTheNextCandidate()
        {
            using var bed = new TestBed();
            var first = new RecordingInterfaceDriver("picky", UsbDeviceId.InterfaceClass(UsbClass.Hid)) { Decline = true };
            var second = new RecordingInterfaceDriver("usbhid", UsbDeviceId.InterfaceClass(UsbClass.Hid));
            bed.Stack.RegisterDriver(first);
            bed.Stack.RegisterDriver(second);
            bed.AddController(2).Plug("1", TopologyTests.Keyboard(UsbSpeed.High));
            bed.Settle();
            Assert.That(first.Log, Is.EqualTo(new[] { "probe 1-1:1.0" }));
            Assert.That(bed.Device("1-1").Interfaces[0].Driver, Is.SameAs(second));
        }

        [Test]
        public void DriverRegisteredLaterIsOfferedExistingInterfaces()
        {
            using var bed = new TestBed();
            bed.AddController(2).Plug("1", Composite());
            bed.Settle();
            UsbDevice d = bed.Device("1-1");
            Assert.That(d.Interfaces.Select(i => i.Driver).All(x => x == null), Is.True);
            var cdc = new RecordingInterfaceDriver("cdc_acm", UsbDeviceId.InterfaceInfo(UsbClass.Communications, 2, 1));
            bed.Stack.RegisterDriver(cdc);
            Assert.That(cdc.Log, Is.EqualTo(new[] { "probe 1-1:1.0" }));
            Assert.That(bed.Stack.DeregisterDriver(cdc), Is.EqualTo(UsbStatus.Ok));
            Assert.That(cdc.Disconnects, Is.EqualTo(1));
            Assert.That(d.Interfaces[0].Driver, Is.Null);
        }

        [Test]
        public void SpecificDeviceDriverWinsOverGeneric()
        {
            using var bed = new TestBed();
            var stub = new RecordingDeviceDriver("usbip-host", UsbDeviceId.Device(0x1209, 0x0001));
            bed.Stack.RegisterDriver(stub);
            bed.AddController(2).Plug("1", Composite());
            bed.Settle();
            UsbDevice d = bed.Device("1-1");
            Assert.That(d.Driver, Is.SameAs(stub));
            Assert.That(d.ActiveConfiguration, Is.Null, "the generic driver did not configure it");
        }

        [Test]
        public void UnbindFromGenericAndBindToAnotherDeviceDriver()
        {
            // The seed's usbip story: every device is bound to "usb"; unbind it and bind the stub.
            using var bed = new TestBed();
            var hid = new RecordingInterfaceDriver("usbhid", UsbDeviceId.InterfaceClass(UsbClass.Hid));
            bed.Stack.RegisterDriver(hid);
            bed.AddController(2).Plug("1", Composite());
            bed.Settle();
            UsbDevice d = bed.Device("1-1");
            Assert.That(hid.Probes, Is.EqualTo(1));
            var stub = new RecordingDeviceDriver("usbip-host", UsbDeviceId.Device(0x1209, 0x0001));
            bed.Stack.RegisterDriver(stub);
            Assert.That(stub.Probes, Is.EqualTo(0), "bound devices are not re-matched");
            Assert.That(bed.Stack.Bind(d, "usbip-host"), Is.EqualTo(UsbStatus.Busy));

            Assert.That(bed.Stack.Unbind(d), Is.EqualTo(UsbStatus.Ok));
            Assert.That(hid.Disconnects, Is.EqualTo(1), "unbinding the generic driver deconfigures the device");
            Assert.That(d.ActiveConfiguration, Is.Null);
            Assert.That(bed.Stack.Bind(d, "nonexistent"), Is.EqualTo(UsbStatus.NotFound));
            Assert.That(bed.Stack.Bind(d, "usbip-host"), Is.EqualTo(UsbStatus.Ok));
            Assert.That(d.Driver, Is.SameAs(stub));

            Assert.That(bed.Stack.Unbind(d), Is.EqualTo(UsbStatus.Ok));
            Assert.That(stub.Disconnects, Is.EqualTo(1));
            Assert.That(bed.Stack.Bind(d, "usb"), Is.EqualTo(UsbStatus.Ok));
            Assert.That(d.ActiveConfiguration.Value, Is.EqualTo(1));
            Assert.That(hid.Probes, Is.EqualTo(2));
        }

        [Test]
        public void InterfaceUnbindAndBindByName()
        {
            using var bed = new TestBed();
            var a = new RecordingInterfaceDriver("a", UsbDeviceId.InterfaceClass(UsbClass.Hid));
            var b = new RecordingInterfaceDriver("b", UsbDeviceId.InterfaceClass(UsbClass.Hid));
            var storage = new RecordingInterfaceDriver("usb-storage", UsbDeviceId.InterfaceClass(UsbClass.MassStorage));
            bed.Stack.RegisterDriver(a);
            bed.Stack.RegisterDriver(b);
            bed.Stack.RegisterDriver(storage);
            bed.AddController(2).Plug("1", Composite());
            bed.Settle();
            UsbInterface hidIntf = bed.Stack.FindInterface("1-1:1.2");
            Assert.That(hidIntf.Driver, Is.SameAs(a));
            Assert.That(bed.Stack.Unbind(hidIntf), Is.EqualTo(UsbStatus.Ok));
            Assert.That(bed.Stack.Unbind(hidIntf), Is.EqualTo(UsbStatus.NotFound));
            Assert.That(bed.Stack.Bind(hidIntf, "usb-storage"), Is.EqualTo(UsbStatus.NoMatch));
            Assert.That(bed.Stack.Bind(hidIntf, "b"), Is.EqualTo(UsbStatus.Ok));
            Assert.That(hidIntf.Driver, Is.SameAs(b));
            Assert.That(bed.Stack.Bind(hidIntf, "a"), Is.EqualTo(UsbStatus.Busy));
        }

        [Test]
        public void ChangingTheConfigurationRebindsInterfaceDrivers()
        {
            using var bed = new TestBed();
            var hid = new RecordingInterfaceDriver("usbhid", UsbDeviceId.InterfaceClass(UsbClass.Hid));
            var storage = new RecordingInterfaceDriver("usb-storage", UsbDeviceId.InterfaceClass(UsbClass.MassStorage));
            bed.Stack.RegisterDriver(hid);
            bed.Stack.RegisterDriver(storage);
            SimDevice sim = Composite();
            bed.AddController(2).Plug("1", sim);
            bed.Settle();
            UsbDevice d = bed.Device("1-1");
            Assert.That(d.Interfaces.Select(i => i.Name), Is.EqualTo(new[] { "1-1:1.0", "1-1:1.1", "1-1:1.2" }));
            Assert.That(d.Interfaces[0].AssociationIndex, Is.EqualTo(0));
            Assert.That(d.Interfaces[2].AssociationIndex, Is.EqualTo(-1));
            int endpoints = bed.Hc.EnabledEndpoints;

            Assert.That(bed.Stack.SetConfiguration(d, 2), Is.EqualTo(UsbStatus.Ok));
            Assert.That(sim.Configuration, Is.EqualTo(2));
            Assert.That(hid.Disconnects, Is.EqualTo(1));
            Assert.That(storage.Probes, Is.EqualTo(1));
            Assert.That(d.Interfaces.Select(i => i.Name), Is.EqualTo(new[] { "1-1:2.0" }));
            Assert.That(bed.Stack.FindInterface("1-1:1.2"), Is.Null);
            Assert.That(d.FindEndpoint(0x84), Is.Null, "old endpoints are gone");
            Assert.That(bed.Hc.EnabledEndpoints, Is.EqualTo(endpoints - 4 + 2));

            Assert.That(bed.Stack.SetConfiguration(d, 7), Is.EqualTo(UsbStatus.NotFound));
            Assert.That(bed.Stack.SetConfiguration(d, 0), Is.EqualTo(UsbStatus.Ok));
            Assert.That(d.State, Is.EqualTo(UsbDeviceState.Addressed));
            Assert.That(storage.Disconnects, Is.EqualTo(1));
            Assert.That(d.Interfaces, Is.Empty);
            Assert.That(bed.Stack.SetConfiguration(d, 1), Is.EqualTo(UsbStatus.Ok));
            Assert.That(hid.Probes, Is.EqualTo(2));
        }

        [Test]
        public void SetInterfaceSwitchesEndpoints()
        {
            using var bed = new TestBed();
            byte[] config = Desc.Config(1, 0x80, 50,
                Desc.Interface(0, 0, 0, UsbClass.Audio, 2),
                Desc.Interface(0, 1, 1, UsbClass.Audio, 2),
                Desc.Endpoint(0x01, TransferType.Bulk, 64, 0));
            var sim = new SimDevice("alt", UsbSpeed.High, Desc.Device(0x1111, 0x2222), config);
            bed.AddController(2).Plug("1", sim);
            bed.Settle();
            UsbDevice d = bed.Device("1-1");
            UsbInterface intf = d.Interfaces[0];
            Assert.That(intf.Current.Descriptor.bAlternateSetting, Is.EqualTo(0));
            Assert.That(d.FindEndpoint(0x01), Is.Null);
            Assert.That(bed.Stack.SetInterface(intf, 1), Is.EqualTo(UsbStatus.Ok));
            Assert.That(sim.AltSettings[0], Is.EqualTo(1));
            Assert.That(d.FindEndpoint(0x01), Is.Not.Null);
            Assert.That(UsbMessages.Bulk(d, 0x01, new byte[] { 1 }, 1000, out int _), Is.EqualTo(UsbStatus.Ok));
            Assert.That(bed.Stack.SetInterface(intf, 0), Is.EqualTo(UsbStatus.Ok));
            Assert.That(d.FindEndpoint(0x01), Is.Null);
            Assert.That(bed.Stack.SetInterface(intf, 5), Is.EqualTo(UsbStatus.NotFound));
        }

        [Test]
        public void ProbeAndDisconnectStayBalancedAcrossHotPlugSequences()
        {
            using var bed = new TestBed();
            var hid = new RecordingInterfaceDriver("usbhid", UsbDeviceId.InterfaceClass(UsbClass.Hid));
            var hubProbes = 0;
            bed.Stack.RegisterDriver(hid);
            SimController hc = bed.AddController(4);
            var rng = new System.Random(1234);
            var present = new Dictionary<string, bool>();
            string[] paths = { "1", "2", "3.1", "3.2", "3.4.1" };
            hc.Plug("3", new SimHub("hub", 4, UsbSpeed.High));
            bed.Settle();
            for (int step = 0; step < 120; step++)
            {
                string path = paths[rng.Next(paths.Length)];
                if (path == "3.4.1" && !(hc.PortAt("3.4").Device is SimHub))
                {
                    hc.Plug("3.4", new SimHub("hub2", 2, UsbSpeed.Full));
                    hubProbes++;
                    bed.Settle();
                }
                if (present.TryGetValue(path, out bool there) && there)
                {
                    hc.Unplug(path);
                    present[path] = false;
                }
                else
                {
                    hc.Plug(path, TopologyTests.Keyboard(rng.Next(2) == 0 ? UsbSpeed.Full : UsbSpeed.High));
                    present[path] = true;
                }
                if (rng.Next(3) == 0)
                    bed.Settle();
                if (rng.Next(10) == 0 && hc.PortAt("3.4").Device != null)
                {
                    // Yank the second-tier hub with whatever hangs below it.
                    hc.Unplug("3.4");
                    present["3.4.1"] = false;
                    bed.Settle();
                }
                if (rng.Next(4) == 0)
                {
                    bed.Settle();
                    int live = bed.Stack.Buses[0].Devices.Count(d => d.Descriptor.idProduct == 0x0001 && d.Descriptor.idVendor == 0x0627);
                    Assert.That(hid.Probes - hid.Disconnects, Is.EqualTo(live), "step " + step);
                    Assert.That(hid.Bound.Count, Is.EqualTo(live));
                }
            }
            bed.Settle();
            Assert.That(hid.SawDestroyedDevice, Is.False);
            bed.Stack.RemoveController(bed.Bus);
            Assert.That(hid.Probes, Is.EqualTo(hid.Disconnects));
            Assert.That(hc.AllocatedDevices, Is.EqualTo(0));
            Assert.That(hc.EnabledEndpoints, Is.EqualTo(0), "every enabled endpoint was disabled");
            Assert.That(hubProbes, Is.GreaterThan(0));
        }
    }
}
