using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// The EHCI driver (Drivers.Usb.Hcd/Ehci) in QEMU: enumeration on usb-ehci cross-checked against
    /// QEMU's `info usb`, the companion hand-off on ICH9 (full-speed devices end up on a UHCI
    /// companion), and QMP hot-plug cycles with DMA and heap figures back to their start values.
    /// </summary>
    [TestFixture]
    public sealed class EhciTests : BootTest
    {
        static readonly TimeSpan Enumeration = QemuMachine.Scaled(30);

        static void WaitForMatchingViews(QemuMachine vm, int expectedDevices) =>
            UsbDeviceViews.WaitUntilMatching(vm, expectedDevices, new ViewComparison { Buses = bus => bus == 1 }, Enumeration);

        [Test]
        public void Ehci_EnumeratesKeyboardMouseTabletAndDisk_AtHighSpeed()
        {
            var vm = BootToPrompt("ehci");
            Assert.That(vm.Log, Does.Match(@"ehci-pci 0000:00:0[0-9a-f]\.0: EHCI Host Controller"));
            Assert.That(vm.Log, Does.Match(@"ehci-pci 0000:00:0[0-9a-f]\.0: irq \d+, io mem 0x[0-9a-f]{8}"));
            Assert.That(vm.Log, Does.Match(@"ehci-pci 0000:00:0[0-9a-f]\.0: USB 2\.0 started, EHCI 1\.00"));
            WaitForMatchingViews(vm, 4);

            string info = vm.Qmp.HumanMonitorCommand("info usb");
            Assert.That(Regex.Matches(info, @"Speed 480 Mb/s").Count, Is.EqualTo(4), info);

            string list = KernelDeviceStrings.List(vm);
            Assert.That(list, Does.Contain("Bus 001 Device 001: ID 1d6b:0002"), "EHCI root hub is a USB 2.0 root hub");
            Assert.That(Regex.Matches(list, "ID 0627:0001").Count, Is.EqualTo(3), "keyboard, mouse, tablet");
            Assert.That(list, Does.Contain("ID 46f4:0001"), "usb-storage");
            foreach (string product in new[] { "QEMU USB Keyboard", "QEMU USB Mouse", "QEMU USB Tablet", "QEMU USB HARDDRIVE" })
                Assert.That(list, Does.Contain(product));

            string tree = vm.RunCommand("lsusb -t");
            Assert.That(tree, Does.Contain("Class=root_hub, Driver=ehci-pci/6p, 480M"));
            Assert.That(Regex.Matches(tree, @"Class=Human Interface Device, Driver=usbhid, 480M").Count, Is.EqualTo(3), tree);
            Assert.That(tree, Does.Contain("Port 4: Dev 5, If 0, Class=Mass Storage"));
            Assert.That(tree, Does.Match(@"Class=Mass Storage, Driver=[^,]*, 480M"));

            string devices = vm.RunCommand("usb devices");
            Assert.That(Regex.Matches(devices, @"^T:  Bus=01 ", RegexOptions.Multiline).Count, Is.EqualTo(5), devices);
            Assert.That(Regex.Matches(devices, @"Spd=480 ").Count, Is.EqualTo(5), devices);
            Assert.That(devices, Does.Contain("P:  Vendor=46f4 ProdID=0001"));
            Assert.That(devices, Does.Match(@"I:\* If#= ?0 Alt= ?0 #EPs= ?2 Cls=08\(stor\.\)"));
            Assert.That(devices, Does.Match(@"E:  Ad=8[0-9a-f]\(I\) Atr=02\(Bulk\) MxPS= 512"), "high-speed bulk endpoints");
            foreach (string name in new[] { "1-1", "1-2", "1-3", "1-4" })
            {
                Assert.That(vm.Log, Does.Contain($"usb {name}: new high-speed USB device number"), name);
                Assert.That(vm.Log, Does.Contain($"usb {name}: bound to driver usb"), name);
            }
            foreach (string name in new[] { "1-1:1.0", "1-2:1.0", "1-3:1.0" })
                Assert.That(vm.Log, Does.Contain($"usb {name}: bound to driver usbhid"), name);
            Assert.That(vm.Log, Does.Not.Contain("companion"), "standalone usb-ehci has no companions and only high-speed devices");
            Assert.That(vm.Log, Does.Not.Contain("KERNEL PANIC"));
        }

        [Test]
        public void Ehci_FullSpeedDevicesGoToTheUhciCompanions()
        {
            var vm = BootToPrompt("ehci-companions");
            DateTime deadline = DateTime.UtcNow + Enumeration;
            while (!(vm.Log.Contains("usb 1-2: bound to driver usb") && vm.Log.Contains("usb 1-3: bound to driver usb") &&
                     Regex.IsMatch(vm.Log, @"usb \d-1: bound to driver usb") && Regex.IsMatch(vm.Log, @"usb \d-1\.2: bound to driver usb")) &&
                   DateTime.UtcNow < deadline)
                System.Threading.Thread.Sleep(200);

            // EHCI is probed (and routes every port to itself) before its companions.
            int ehci = vm.Log.IndexOf("ehci-pci 0000:00:1d.7: new USB bus registered, assigned bus number 1", StringComparison.Ordinal);
            int uhci = vm.Log.IndexOf("uhci_hcd 0000:00:1d.0: new USB bus registered", StringComparison.Ordinal);
            Assert.That(ehci, Is.GreaterThanOrEqualTo(0), "EHCI bus 1");
            Assert.That(uhci, Is.GreaterThan(ehci), "UHCI companions after EHCI");
            Assert.That(vm.Log, Does.Contain("ehci-pci 0000:00:1d.7: port 1 full speed --> companion"));
            Assert.That(vm.Log, Does.Contain("ehci-pci 0000:00:1d.7: port 5 full speed --> companion"));
            Assert.That(vm.Log, Does.Not.Contain("port 2 full speed"), "the high-speed tablet stays on EHCI");

            string tree = vm.RunCommand("lsusb -t");
            string list = KernelDeviceStrings.List(vm);
            // High speed on EHCI bus 1: tablet (port 2) and disk (port 3). As on Linux 6.1 with this machine
            // (shared/linux-reference/dump.sh), device number 2 went to the full-speed keyboard's attempt on port 1
            // before it was handed to the companion: the tablet is 3, the disk 4.
            Assert.That(list, Does.Contain("Bus 001 Device 003: ID 0627:0001 QEMU QEMU USB Tablet"), list);
            Assert.That(list, Does.Contain("Bus 001 Device 004: ID 46f4:0001"), list);
            Assert.That(tree, Does.Contain("Port 2: Dev 3, If 0, Class=Human Interface Device, Driver=usbhid, 480M"), tree);
            Assert.That(tree, Does.Contain("Port 3: Dev 4, If 0, Class=Mass Storage"), tree);
            // Full speed on the companions: keyboard on UHCI1 (EHCI port 1 = its port 1), the hub on
            // UHCI3 (EHCI port 5 = its port 1) with the mouse behind it.
            var keyboard = Regex.Match(list, @"Bus (\d{3}) Device \d{3}: ID 0627:0001 QEMU QEMU USB Keyboard");
            var hub = Regex.Match(list, @"Bus (\d{3}) Device \d{3}: ID 0409:55aa QEMU QEMU USB Hub");
            var mouse = Regex.Match(list, @"Bus (\d{3}) Device \d{3}: ID 0627:0001 QEMU QEMU USB Mouse");
            Assert.That(keyboard.Success && hub.Success && mouse.Success, Is.True, list);
            Assert.That(keyboard.Groups[1].Value, Is.Not.EqualTo("001"), "the full-speed keyboard is not on EHCI");
            Assert.That(hub.Groups[1].Value, Is.Not.EqualTo("001"), "the full-speed hub is not on EHCI");
            Assert.That(mouse.Groups[1].Value, Is.EqualTo(hub.Groups[1].Value), "the mouse sits behind the hub");
            Assert.That(tree, Does.Match(@"Driver=uhci_hcd/2p, 12M\s+\|__ Port 1: Dev 2, If 0, Class=Human Interface Device, Driver=usbhid, 12M"), tree);
            Assert.That(vm.Log, Does.Match(@"uhci_hcd 0000:00:1d\.0: new USB bus registered, assigned bus number " + int.Parse(keyboard.Groups[1].Value)));
            Assert.That(vm.Log, Does.Match(@"uhci_hcd 0000:00:1d\.2: new USB bus registered, assigned bus number " + int.Parse(hub.Groups[1].Value)));

            // QEMU agrees: six devices, the full-speed ones at 12 Mb/s.
            string info = vm.Qmp.HumanMonitorCommand("info usb");
            Assert.That(Regex.Matches(info, @"Speed 480 Mb/s").Count, Is.EqualTo(2), info);
            Assert.That(Regex.Matches(info, @"Speed 12 Mb/s").Count, Is.EqualTo(3), info);
            Assert.That(vm.Log, Does.Not.Contain("KERNEL PANIC"));
        }

        [Test]
        public void Ehci_HotPlugCycles_NoLeaks()
        {
            var vm = BootToPrompt("ehci-hotplug");
            vm.WaitForLine(@"usb 1-6: bound to driver usb", Enumeration);
            WaitForMatchingViews(vm, 1);
            var start = KernelMemory.Settled(vm);

            // Two devices at once (they enumerate concurrently, in either order), then both go.
            int from = vm.LogLength;
            vm.Qmp.DeviceAdd("usb-kbd", "k1", ("bus", "ehci.0"), ("port", "1"));
            vm.Qmp.DeviceAdd("usb-tablet", "t1", ("bus", "ehci.0"), ("port", "3"));
            var both = System.Diagnostics.Stopwatch.StartNew();
            while (!(vm.LogSince(from).Contains("usb 1-1: New USB device found, idVendor=0627, idProduct=0001") &&
                     vm.LogSince(from).Contains("usb 1-3: New USB device found, idVendor=0627, idProduct=0001")))
            {
                if (both.Elapsed > Enumeration)
                    Assert.Fail("the keyboard on port 1 and the tablet on port 3 did not both enumerate\n" + vm.DescribeForFailure());
                System.Threading.Thread.Sleep(100);
            }
            vm.SkipPending();
            WaitForMatchingViews(vm, 3);
            vm.Qmp.DeviceDel("k1");
            vm.Qmp.DeviceDel("t1");
            WaitForMatchingViews(vm, 1);

            // Repeated cycles over the free root ports, HID and mass storage.
            const int Cycles = 24;
            for (int i = 0; i < Cycles; i++)
            {
                string id = "c" + i;
                string port = (1 + i % 5).ToString();
                string name = "1-" + port;
                if (i % 4 == 3)
                {
                    vm.Qmp.Execute("blockdev-add", new System.Text.Json.Nodes.JsonObject
                    {
                        ["driver"] = "null-co", ["node-name"] = "d" + i, ["size"] = 1 << 20,
                    });
                    vm.Qmp.DeviceAdd("usb-storage", id, ("bus", "ehci.0"), ("port", port), ("drive", "d" + i));
                }
                else
                    vm.Qmp.DeviceAdd(i % 3 == 0 ? "usb-mouse" : "usb-kbd", id, ("bus", "ehci.0"), ("port", port));
                vm.WaitForLine($@"usb {Regex.Escape(name)}: new high-speed USB device number", Enumeration);
                vm.WaitForLine($@"usb {Regex.Escape(name)}: bound to driver usb", Enumeration);
                vm.Qmp.DeviceDel(id);
                vm.WaitForLine($@"usb {Regex.Escape(name)}: USB disconnect", Enumeration);
            }
            WaitForMatchingViews(vm, 1);
            System.Threading.Thread.Sleep(500);
            KernelMemory.Settled(vm).AssertBackTo(start, 128 * 1024);
            Assert.That(vm.Log, Does.Not.Contain("KERNEL PANIC"));
            Assert.That(vm.Log, Does.Not.Contain("lost IAA"));
            Assert.That(vm.Log, Does.Not.Contain("leaking"));
            Assert.That(vm.RunCommand("uptime"), Does.Not.Contain("error"));
        }
    }
}
