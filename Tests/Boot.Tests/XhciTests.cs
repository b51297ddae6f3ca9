using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// The xHCI driver (Drivers.Usb.Hcd/Xhci) in QEMU's qemu-xhci: two buses (USB 2 at 480M, USB 3
    /// at 5000M) as Linux shows them, enumeration cross-checked against QEMU's `info usb` (QEMU's
    /// device address is the slot the controller assigned), a full-speed hub with devices behind it
    /// (route strings), hot-plug cycles with DMA and heap checks.
    /// </summary>
    [TestFixture]
    public sealed class XhciTests : BootTest
    {
        static readonly TimeSpan Enumeration = QemuMachine.Scaled(30);

        static void WaitForMatchingViews(QemuMachine vm, int expectedDevices) =>
            UsbDeviceViews.WaitUntilMatching(vm, expectedDevices, new ViewComparison { Addresses = false, Speeds = true, ListCheck = CheckDeviceNumbers }, Enumeration);

        /// <summary>Device numbers are unique per bus and never the root hub's (1).</summary>
        static string CheckDeviceNumbers(string lsusb)
        {
            var seen = new HashSet<string>();
            foreach (Match m in Regex.Matches(lsusb, @"Bus (\d+) Device (\d+):"))
                if (!seen.Add(m.Groups[1].Value + "/" + m.Groups[2].Value))
                    return $"device number {m.Groups[2].Value} appears twice on bus {m.Groups[1].Value}:\n{lsusb}";
            return null;
        }

        [Test]
        public void Xhci_EnumeratesKeyboardMouseTabletAt480MAndDiskAt5000M_OnTwoBuses()
        {
            var vm = BootToPrompt("xhci");
            Assert.That(vm.Log, Does.Match(@"xhci_hcd 0000:00:0[0-9a-f]\.0: xHCI Host Controller"));
            Assert.That(vm.Log, Does.Match(@"xhci_hcd 0000:00:0[0-9a-f]\.0: hcc params 0x[0-9a-f]{8} hci version 0x100 quirks 0x[0-9a-f]+"));
            Assert.That(vm.Log, Does.Match(@"xhci_hcd 0000:00:0[0-9a-f]\.0: irq \d+, io mem 0x[0-9a-f]{8}"));
            Assert.That(vm.Log, Does.Match(@"xhci_hcd 0000:00:0[0-9a-f]\.0: new USB bus registered, assigned bus number 1"));
            Assert.That(vm.Log, Does.Match(@"xhci_hcd 0000:00:0[0-9a-f]\.0: Host supports USB 3.0 SuperSpeed"));
            Assert.That(vm.Log, Does.Match(@"xhci_hcd 0000:00:0[0-9a-f]\.0: new USB bus registered, assigned bus number 2"));
            WaitForMatchingViews(vm, 4);

            string tree = vm.RunCommand("lsusb -t");
            Assert.That(tree, Does.Contain("/:  Bus 01.Port 1: Dev 1, Class=root_hub, Driver=xhci_hcd/4p, 480M"));
            Assert.That(tree, Does.Contain("/:  Bus 02.Port 1: Dev 1, Class=root_hub, Driver=xhci_hcd/4p, 5000M"));
            Assert.That(Regex.Matches(tree, @"Class=Human Interface Device, Driver=usbhid, 480M").Count, Is.EqualTo(3), tree);
            Assert.That(tree, Does.Match(@"\|__ Port 4: Dev \d+, If 0, Class=Mass Storage, Driver=[^,]*, 5000M"));

            string list = KernelDeviceStrings.List(vm);
            Assert.That(list, Does.Contain("Bus 001 Device 001: ID 1d6b:0002"), "USB 2 root hub");
            Assert.That(list, Does.Contain("Bus 002 Device 001: ID 1d6b:0003"), "USB 3 root hub");
            Assert.That(list, Does.Contain("xHCI Host Controller"));
            foreach (string product in new[] { "QEMU USB Keyboard", "QEMU USB Mouse", "QEMU USB Tablet", "QEMU USB HARDDRIVE" })
                Assert.That(list, Does.Contain(product));

            string devices = vm.RunCommand("usb devices");
            Assert.That(devices, Does.Match(@"T:  Bus=02 Lev=01 Prnt=01 Port=03 Cnt=01 Dev#= *\d+ Spd=5000 "));
            Assert.That(devices, Does.Match(@"T:  Bus=01 Lev=01 Prnt=01 Port=00 Cnt=01 Dev#= *\d+ Spd=480 "));
            Assert.That(devices, Does.Match(@"I:\* If#= ?0 Alt= ?0 #EPs= ?2 Cls=08\(stor\.\)"));
            Assert.That(devices, Does.Match(@"E:  Ad=81\(I\) Atr=02\(Bulk\) MxPS=1024"));
            foreach (string name in new[] { "1-1", "1-2", "1-3", "2-4" })
                Assert.That(vm.Log, Does.Contain($"usb {name}: bound to driver usb"), name);
            foreach (string name in new[] { "1-1:1.0", "1-2:1.0", "1-3:1.0" })
                Assert.That(vm.Log, Does.Contain($"usb {name}: bound to driver usbhid"), name);
            Assert.That(vm.Log, Does.Not.Contain("KERNEL PANIC"));
            Assert.That(vm.Log, Does.Not.Contain("timed out"));
        }

        [Test]
        public void Xhci_FullSpeedHubWithDevicesBehindIt()
        {
            var vm = BootToPrompt("xhci-hub");
            WaitForMatchingViews(vm, 5);
            string tree = vm.RunCommand("lsusb -t");
            Assert.That(tree, Does.Contain("Class=Hub, Driver=hub/4p, 12M"));
            Assert.That(Regex.Matches(tree, @"Class=Human Interface Device, Driver=usbhid, 12M").Count, Is.EqualTo(2), "keyboard and mouse behind the full-speed hub");
            Assert.That(tree, Does.Contain("Class=Human Interface Device, Driver=usbhid, 480M"), "tablet on a root port");
            Assert.That(vm.Log, Does.Contain("usb 1-1:1.0: bound to driver hub"));
            Assert.That(vm.Log, Does.Contain("usb 1-1.1: New USB device found, idVendor=0627, idProduct=0001"));
            Assert.That(vm.Log, Does.Contain("usb 1-1.2: New USB device found, idVendor=0627, idProduct=0001"));
            Assert.That(vm.Log, Does.Contain("input: keyboard 1-1.1:1.0 attached"));
            Assert.That(vm.Log, Does.Contain("input: mouse 1-1.2:1.0 attached"));
            Assert.That(vm.Log, Does.Contain("usb 2-3: bound to driver usb"));
        }

        [Test]
        public void Xhci_HotPlugOnRootPortsAndBehindAHub_NoLeaks()
        {
            var vm = BootToPrompt("xhci-hotplug");
            vm.WaitForLine(@"usb 1-4:1\.0: bound to driver hub", Enumeration);
            WaitForMatchingViews(vm, 1);
            System.Threading.Thread.Sleep(1000);
            var start = KernelMemory.Settled(vm);

            vm.Qmp.DeviceAdd("usb-kbd", "k1", ("bus", "xhci.0"), ("port", "1"));
            vm.WaitForLine(@"usb 1-1: New USB device found, idVendor=0627, idProduct=0001", Enumeration);
            vm.Qmp.DeviceAdd("usb-kbd", "k2", ("bus", "xhci.0"), ("port", "4.2"));
            vm.WaitForLine(@"usb 1-4\.2: New USB device found, idVendor=0627, idProduct=0001", Enumeration);
            WaitForMatchingViews(vm, 3);
            vm.Qmp.DeviceDel("k1");
            vm.WaitForLine(@"usb 1-1: USB disconnect, device number \d+", Enumeration);
            vm.Qmp.DeviceDel("k2");
            vm.WaitForLine(@"usb 1-4\.2: USB disconnect, device number \d+", Enumeration);
            WaitForMatchingViews(vm, 1);

            // A hub with devices below it, then the hub goes.
            vm.Qmp.DeviceAdd("usb-hub", "h2", ("bus", "xhci.0"), ("port", "2"), ("ports", "4"));
            vm.WaitForLine(@"hub 1-2:1\.0: 4 ports detected", Enumeration);
            vm.Qmp.DeviceAdd("usb-mouse", "m2", ("bus", "xhci.0"), ("port", "2.1"));
            vm.Qmp.DeviceAdd("usb-tablet", "t2", ("bus", "xhci.0"), ("port", "2.4"));
            WaitForMatchingViews(vm, 4);
            vm.Qmp.DeviceDel("h2");
            vm.WaitForLine(@"usb 1-2: USB disconnect, device number \d+", Enumeration);
            WaitForMatchingViews(vm, 1);
            Assert.That(vm.Log, Does.Contain("usb 1-2.1: USB disconnect"));
            Assert.That(vm.Log, Does.Contain("usb 1-2.4: USB disconnect"));

            const int Cycles = 24;
            for (int i = 0; i < Cycles; i++)
            {
                string id = "c" + i;
                string port = i % 3 == 0 ? "1" : i % 3 == 1 ? "4.3" : "3";
                string name = "1-" + port;
                vm.Qmp.DeviceAdd(i % 2 == 0 ? "usb-mouse" : "usb-kbd", id, ("bus", "xhci.0"), ("port", port));
                vm.WaitForLine($@"usb {Regex.Escape(name)}: New USB device found", Enumeration);
                vm.WaitForLine($@"usb {Regex.Escape(name)}: bound to driver usb", Enumeration);
                vm.Qmp.DeviceDel(id);
                vm.WaitForLine($@"usb {Regex.Escape(name)}: USB disconnect", Enumeration);
            }
            WaitForMatchingViews(vm, 1);
            System.Threading.Thread.Sleep(500);
            KernelMemory.Settled(vm).AssertBackTo(start, 128 * 1024);
            Assert.That(vm.Log, Does.Not.Contain("KERNEL PANIC"));
            Assert.That(vm.Log, Does.Not.Contain("timed out"));
        }
    }
}
