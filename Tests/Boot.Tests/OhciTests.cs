using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// The OHCI driver (Drivers.Usb.Hcd/Ohci) in QEMU's pci-ohci: enumeration behind root ports and
    /// hub trees, listings cross-checked against QEMU's `info usb`, hot-plug and leak checks.
    /// </summary>
    [TestFixture]
    public sealed class OhciTests : BootTest
    {
        static readonly TimeSpan Enumeration = QemuMachine.Scaled(30);

        static void WaitForMatchingViews(QemuMachine vm, int expectedDevices) =>
            UsbDeviceViews.WaitUntilMatching(vm, expectedDevices, new ViewComparison { Buses = bus => bus == 1 }, Enumeration);

        [Test]
        public void Ohci_EnumeratesKeyboardMouseTabletAndDiskBehindAHub()
        {
            var vm = BootToPrompt("ohci");
            Assert.That(vm.Log, Does.Match(@"ohci-pci 0000:00:0[0-9a-f]\.0: OHCI PCI host controller"));
            Assert.That(vm.Log, Does.Match(@"ohci-pci 0000:00:0[0-9a-f]\.0: irq \d+, io mem 0x[0-9a-f]{8}"));
            WaitForMatchingViews(vm, 5);

            string list = KernelDeviceStrings.List(vm);
            Assert.That(list, Does.Contain("ID 1d6b:0001"), "OHCI root hub is a USB 1.1 root hub");
            Assert.That(Regex.Matches(list, "ID 0627:0001").Count, Is.EqualTo(3), "keyboard, mouse, tablet");
            Assert.That(list, Does.Contain("ID 46f4:0001"), "usb-storage");
            foreach (string product in new[] { "QEMU USB Keyboard", "QEMU USB Mouse", "QEMU USB Tablet", "QEMU USB HARDDRIVE", "QEMU USB Hub" })
                Assert.That(list, Does.Contain(product));

            string tree = vm.RunCommand("lsusb -t");
            Assert.That(tree, Does.Contain("Class=root_hub, Driver=ohci-pci/3p, 12M"));
            Assert.That(tree, Does.Contain("Class=Hub, Driver=hub/4p, 12M"));
            Assert.That(tree, Does.Contain("Class=Mass Storage"));

            string devices = vm.RunCommand("usb devices");
            Assert.That(Regex.Matches(devices, @"^T:  Bus=01 ", RegexOptions.Multiline).Count, Is.EqualTo(6), devices);
            Assert.That(devices, Does.Contain("P:  Vendor=0627 ProdID=0001"));
            Assert.That(devices, Does.Contain("P:  Vendor=46f4 ProdID=0001"));
            Assert.That(devices, Does.Contain("S:  Product=QEMU USB HARDDRIVE"));
            Assert.That(devices, Does.Match(@"C:\* #Ifs= ?1 Cfg#= ?1"));
            Assert.That(devices, Does.Match(@"I:\* If#= ?0 Alt= ?0 #EPs= ?2 Cls=08\(stor\.\)"));
            Assert.That(devices, Does.Match(@"Spd=12 "));
            foreach (string name in new[] { "1-1", "1-2", "1-3", "1-3.1", "1-3.2" })
                Assert.That(vm.Log, Does.Contain($"usb {name}: bound to driver usb"), name + " bound to the generic driver");
            Assert.That(vm.Log, Does.Contain("usb 1-3:1.0: bound to driver hub"));
            Assert.That(vm.Log, Does.Not.Contain("KERNEL PANIC"));
        }

        [Test]
        public void Ohci_ThreeTierHubTreeGetsExactNames()
        {
            var vm = BootToPrompt("ohci-hubs");
            WaitForMatchingViews(vm, 6);
            foreach (string name in new[] { "1-1", "1-1.2", "1-1.2.3", "1-1.2.3.4", "1-1.2.1", "1-2" })
                Assert.That(vm.Log, Does.Match($@"usb {Regex.Escape(name)}: New USB device found"), name);
            Assert.That(vm.Log, Does.Contain("usb 1-1.2.3.4: New USB device found, idVendor=0627, idProduct=0001"));
            Assert.That(vm.Log, Does.Contain("usb 1-1.2.3:1.0: bound to driver hub"));
        }

        [Test]
        public void Ohci_HotPlugOnRootPortsAndBehindAHub_NoLeaks()
        {
            var vm = BootToPrompt("ohci-hotplug");
            vm.WaitForLine(@"usb 1-3:1\.0: bound to driver hub", Enumeration);
            WaitForMatchingViews(vm, 1);
            System.Threading.Thread.Sleep(1000); // the hub's first explore pass and status request
            var start = KernelMemory.Settled(vm);

            // A keyboard on a root port and one behind the hub.
            vm.Qmp.DeviceAdd("usb-kbd", "k1", ("bus", "ohci.0"), ("port", "1"));
            vm.WaitForLine(@"usb 1-1: New USB device found, idVendor=0627, idProduct=0001", Enumeration);
            vm.Qmp.DeviceAdd("usb-kbd", "k2", ("bus", "ohci.0"), ("port", "3.2"));
            vm.WaitForLine(@"usb 1-3\.2: New USB device found, idVendor=0627, idProduct=0001", Enumeration);
            WaitForMatchingViews(vm, 3);
            vm.Qmp.DeviceDel("k1");
            vm.WaitForLine(@"usb 1-1: USB disconnect, device number \d+", Enumeration);
            vm.Qmp.DeviceDel("k2");
            vm.WaitForLine(@"usb 1-3\.2: USB disconnect, device number \d+", Enumeration);
            WaitForMatchingViews(vm, 1);

            // A whole hub with devices below it, then the hub goes.
            vm.Qmp.DeviceAdd("usb-hub", "h2", ("bus", "ohci.0"), ("port", "2"), ("ports", "4"));
            vm.WaitForLine(@"hub 1-2:1\.0: 4 ports detected", Enumeration);
            vm.Qmp.DeviceAdd("usb-mouse", "m2", ("bus", "ohci.0"), ("port", "2.1"));
            vm.Qmp.DeviceAdd("usb-tablet", "t2", ("bus", "ohci.0"), ("port", "2.4"));
            WaitForMatchingViews(vm, 4);
            vm.Qmp.DeviceDel("h2");
            vm.WaitForLine(@"usb 1-2: USB disconnect, device number \d+", Enumeration);
            WaitForMatchingViews(vm, 1);
            string log = vm.Log;
            Assert.That(log, Does.Contain("usb 1-2.1: USB disconnect"));
            Assert.That(log, Does.Contain("usb 1-2.4: USB disconnect"));

            // Repeated cycles: root port and behind the hub.
            const int Cycles = 20;
            for (int i = 0; i < Cycles; i++)
            {
                string id = "c" + i;
                string port = i % 2 == 0 ? "1" : "3.3";
                string name = "1-" + port;
                vm.Qmp.DeviceAdd(i % 3 == 0 ? "usb-mouse" : "usb-kbd", id, ("bus", "ohci.0"), ("port", port));
                vm.WaitForLine($@"usb {Regex.Escape(name)}: New USB device found", Enumeration);
                vm.WaitForLine($@"usb {Regex.Escape(name)}: bound to driver usb", Enumeration);
                vm.Qmp.DeviceDel(id);
                vm.WaitForLine($@"usb {Regex.Escape(name)}: USB disconnect", Enumeration);
            }
            WaitForMatchingViews(vm, 1);
            System.Threading.Thread.Sleep(500);
            KernelMemory.Settled(vm).AssertBackTo(start, 128 * 1024);
            Assert.That(vm.Log, Does.Not.Contain("KERNEL PANIC"));
            Assert.That(vm.RunCommand("uptime"), Does.Not.Contain("error"));
        }

        [Test]
        public void Ohci_NextToTwoUhcis_GetsItsOwnBusAndSharesAnIrqLine()
        {
            var vm = BootToPrompt("ohci-mixed");
            var bus = Regex.Match(vm.Log, @"ohci-pci \S+: new USB bus registered, assigned bus number (\d+)");
            Assert.That(bus.Success, Is.True, "the OHCI registered a bus before the prompt");
            string n = bus.Groups[1].Value;
            DateTime deadline = DateTime.UtcNow + Enumeration;
            while (!vm.Log.Contains($"usb {n}-2: bound to driver usb") && DateTime.UtcNow < deadline)
                System.Threading.Thread.Sleep(200);
            Assert.That(vm.Log, Does.Contain($"usb {n}-2: New USB device found, idVendor=0627, idProduct=0001"));
            Assert.That(vm.Log, Does.Contain($"usb {n}-2: bound to driver usb"));
            Assert.That(Regex.Matches(vm.Log, @"new USB bus registered").Count, Is.EqualTo(3), "two UHCI buses and one OHCI bus");
            string list = KernelDeviceStrings.List(vm);
            Assert.That(list, Does.Contain($"Bus {int.Parse(n):D3} Device 002: ID 0627:0001 QEMU QEMU USB Mouse"));
            Assert.That(list, Does.Contain($"Bus {int.Parse(n):D3} Device 001: ID 1d6b:0001"));
        }
    }
}
