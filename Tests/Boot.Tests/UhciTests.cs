using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// The UHCI driver in QEMU's piix3-usb-uhci: enumeration of HID devices, a disk and hub trees,
    /// listings cross-checked against QEMU's own `info usb`, hot-plug through QMP with DMA and heap
    /// balance, and several controllers with one bus each.
    /// </summary>
    [TestFixture]
    public sealed class UhciTests : BootTest
    {
        static readonly TimeSpan Enumeration = QemuMachine.Scaled(30);

        [Test]
        public void Uhci_EnumeratesKeyboardMouseTabletAndDiskBehindAHub_ListingsMatchQemu()
        {
            var vm = BootToPrompt("uhci");
            WaitForLog(vm, @"usb 1-2\.3: bound to driver usb", Enumeration);
            WaitForLog(vm, @"usb 1-2\.2: bound to driver usb", Enumeration);
            WaitForLog(vm, @"usb 1-2\.1: bound to driver usb", Enumeration);
            WaitForLog(vm, @"usb 1-1: bound to driver usb", Enumeration);

            string log = vm.Log;
            Assert.That(log, Does.Match(@"uhci_hcd 0000:00:0[0-9a-f]\.\d: UHCI Host Controller"));
            Assert.That(log, Does.Match(@"uhci_hcd 0000:00:\w\w\.\d: new USB bus registered, assigned bus number 1"));
            Assert.That(log, Does.Match(@"uhci_hcd 0000:00:0[0-9a-f]\.\d: irq \d+, io base 0x[0-9a-f]{8}"));
            Assert.That(log, Does.Contain("hub 1-2:1.0: 4 ports detected"));

            string lsusb = KernelDeviceStrings.List(vm);
            Assert.That(lsusb, Does.Contain("ID 1d6b:0001 Drivers.Usb uhci_hcd UHCI Host Controller"));
            Assert.That(lsusb, Does.Contain("ID 0627:0001 QEMU QEMU USB Keyboard"));
            Assert.That(lsusb, Does.Contain("ID 0627:0001 QEMU QEMU USB Mouse"));
            Assert.That(lsusb, Does.Contain("ID 0627:0001 QEMU QEMU USB Tablet"));
            Assert.That(lsusb, Does.Contain("ID 46f4:0001 QEMU QEMU USB HARDDRIVE"));
            Assert.That(lsusb, Does.Contain("ID 0409:55aa QEMU QEMU USB Hub"));

            string tree = vm.RunCommand("lsusb -t");
            Assert.That(tree, Does.Contain("Driver=uhci_hcd/2p, 12M"));
            Assert.That(tree, Does.Contain("Class=Hub, Driver=hub/4p, 12M"));
            Assert.That(tree, Does.Contain("Class=Mass Storage"));

            string devices = vm.RunCommand("usb devices");
            Assert.That(Regex.Matches(devices, @"P:  Vendor=0627 ProdID=0001").Count, Is.EqualTo(3), devices);
            Assert.That(devices, Does.Contain("P:  Vendor=46f4 ProdID=0001"));
            Assert.That(Regex.Matches(devices, @"^T:  Bus=01 .*Spd=12 ", RegexOptions.Multiline).Count, Is.EqualTo(6), devices);
            Assert.That(devices, Does.Contain("Cls=08(stor.) Sub=06 Prot=50"));
            Assert.That(devices, Does.Contain("Ad=81(I) Atr=02(Bulk) MxPS=  64"));
            Assert.That(devices, Does.Contain("Ad=02(O) Atr=02(Bulk) MxPS=  64"));
            Assert.That(Regex.Matches(devices, @"I:\* If#= 0 .*Cls=09\(hub  \).*Driver=hub").Count, Is.EqualTo(2), "both hubs have the hub driver");

            // Every device got the generic driver "usb".
            foreach (string name in new[] { "1-1", "1-2", "1-2.1", "1-2.2", "1-2.3" })
                Assert.That(vm.Log, Does.Contain("usb " + name + ": bound to driver usb"), name);

            AssertMatchesQemu(vm, 1);
        }

        [Test]
        public void Uhci_ThreeTierHubTree_HasLinuxNames()
        {
            var vm = BootToPrompt("uhci-hubtree");
            WaitForLog(vm, @"usb 1-1\.2\.3\.4: bound to driver usb", Enumeration);
            WaitForLog(vm, @"usb 1-1\.2\.1: bound to driver usb", Enumeration);
            WaitForLog(vm, @"usb 1-2: bound to driver usb", Enumeration);
            foreach (string hub in new[] { "1-1", "1-1.2", "1-1.2.3" })
                Assert.That(vm.Log, Does.Contain("hub " + hub + ":1.0: 4 ports detected"), hub);
            Dictionary<string, string> ours = AssertMatchesQemu(vm, 1);
            Assert.That(ours["1-1.2.3.4"], Does.Contain("QEMU USB Keyboard"));
            Assert.That(ours["1-1.2.1"], Does.Contain("QEMU USB Mouse"));
            Assert.That(ours["1-2"], Does.Contain("QEMU USB Tablet"));
            Assert.That(ours.Count, Is.EqualTo(6));
        }

        [Test]
        public void Uhci_HotPlug_RootPortHubPortAndWholeHub_RepeatedCyclesBalanceDmaAndHeap()
        {
            var vm = BootToPrompt("uhci-hotplug");
            WaitForLog(vm, @"usb 1-1\.1: bound to driver usb", Enumeration);
            Thread.Sleep(500);
            var start = KernelMemory.Settled(vm);

            // A keyboard on the free root port and one behind the hub.
            vm.Qmp.DeviceAdd("usb-kbd", "k1", ("bus", "uhci.0"), ("port", "2"));
            WaitForCount(vm, @"usb 1-2: bound to driver usb", 1, Enumeration);
            vm.Qmp.DeviceAdd("usb-kbd", "k2", ("bus", "uhci.0"), ("port", "1.2"));
            WaitForCount(vm, @"usb 1-1\.2: bound to driver usb", 1, Enumeration);
            Assert.That(AssertMatchesQemu(vm, 1).Count, Is.EqualTo(4));
            vm.Qmp.DeviceDel("k1");
            WaitForCount(vm, @"usb 1-2: USB disconnect", 1, Enumeration);
            vm.Qmp.DeviceDel("k2");
            WaitForCount(vm, @"usb 1-1\.2: USB disconnect", 1, Enumeration);
            Assert.That(AssertMatchesQemu(vm, 1).Count, Is.EqualTo(2));

            // A whole hub with devices below it goes at once.
            vm.Qmp.DeviceAdd("usb-hub", "hx", ("bus", "uhci.0"), ("port", "2"), ("ports", "4"));
            WaitForCount(vm, @"usb 1-2: bound to driver usb", 2, Enumeration);
            vm.Qmp.DeviceAdd("usb-kbd", "hxk", ("bus", "uhci.0"), ("port", "2.1"));
            vm.Qmp.DeviceAdd("usb-mouse", "hxm", ("bus", "uhci.0"), ("port", "2.3"));
            WaitForCount(vm, @"usb 1-2\.1: bound to driver usb", 1, Enumeration);
            WaitForCount(vm, @"usb 1-2\.3: bound to driver usb", 1, Enumeration);
            Assert.That(AssertMatchesQemu(vm, 1).Count, Is.EqualTo(5));
            vm.Qmp.DeviceDel("hx");
            WaitForCount(vm, @"usb 1-2: USB disconnect", 2, Enumeration);
            WaitForCount(vm, @"usb 1-2\.1: USB disconnect", 1, Enumeration);
            WaitForCount(vm, @"usb 1-2\.3: USB disconnect", 1, Enumeration);
            Assert.That(AssertMatchesQemu(vm, 1).Count, Is.EqualTo(2));

            // Dozens of plug/unplug cycles, alternating the root port and the hub port.
            const int Cycles = 24;
            int rootAdds = 2, rootDels = 2, hubAdds = 0, hubDels = 0;
            for (int i = 0; i < Cycles; i++)
            {
                bool root = i % 2 == 0;
                string id = "c" + i;
                vm.Qmp.DeviceAdd(i % 3 == 0 ? "usb-mouse" : "usb-kbd", id, ("bus", "uhci.0"), ("port", root ? "2" : "1.3"));
                if (root) WaitForCount(vm, @"usb 1-2: bound to driver usb", ++rootAdds, Enumeration);
                else WaitForCount(vm, @"usb 1-1\.3: bound to driver usb", ++hubAdds, Enumeration);
                vm.Qmp.DeviceDel(id);
                if (root) WaitForCount(vm, @"usb 1-2: USB disconnect", ++rootDels, Enumeration);
                else WaitForCount(vm, @"usb 1-1\.3: USB disconnect", ++hubDels, Enumeration);
            }
            Assert.That(AssertMatchesQemu(vm, 1).Count, Is.EqualTo(2));
            Thread.Sleep(300);
            KernelMemory.Settled(vm).AssertBackTo(start, 64 * 1024);
            Assert.That(vm.Log, Does.Not.Contain("KERNEL PANIC"));
            Assert.That(vm.RunCommand("uptime"), Does.Match(@"\d"), "the shell still answers");
        }

        [Test]
        public void Uhci_TwoUhcisAndAnOhci_EachControllerHasItsOwnBus()
        {
            var vm = BootToPrompt("uhci-multi");
            var buses = Regex.Matches(vm.Log, @"uhci_hcd \S+: new USB bus registered, assigned bus number (\d+)");
            Assert.That(buses.Count, Is.EqualTo(2), "two UHCI buses");
            string first = buses[0].Groups[1].Value, second = buses[1].Groups[1].Value;
            Assert.That(first, Is.Not.EqualTo(second));
            WaitForLog(vm, "usb " + first + @"-1: bound to driver usb", Enumeration);
            WaitForLog(vm, "usb " + second + @"-2: bound to driver usb", Enumeration);
            string lsusb = KernelDeviceStrings.List(vm);
            Assert.That(lsusb, Does.Match("Bus 00" + first + @" Device \d+: ID 0627:0001 QEMU QEMU USB Keyboard"));
            Assert.That(lsusb, Does.Match("Bus 00" + second + @" Device \d+: ID 0627:0001 QEMU QEMU USB Mouse"));
            Assert.That(Regex.Matches(lsusb, @"ID 1d6b:0001 Drivers.Usb uhci_hcd UHCI Host Controller").Count, Is.EqualTo(2));
            var ohci = Regex.Match(vm.Log, @"ohci\S* \S+: new USB bus registered, assigned bus number (\d+)");
            if (ohci.Success)
            {
                string third = ohci.Groups[1].Value;
                Assert.That(third, Is.Not.EqualTo(first).And.Not.EqualTo(second));
                WaitForLog(vm, "usb " + third + @"-1: bound to driver usb", Enumeration);
            }
        }

        // ---- helpers -----------------------------------------------------------------------------

        static void WaitForLog(QemuMachine vm, string pattern, TimeSpan timeout) => WaitForCount(vm, pattern, 1, timeout);

        static void WaitForCount(QemuMachine vm, string pattern, int count, TimeSpan timeout)
        {
            var regex = new Regex(pattern);
            var sw = Stopwatch.StartNew();
            while (regex.Matches(vm.Log).Count < count)
            {
                if (vm.HasExited)
                    Assert.Fail($"QEMU exited while waiting for {count} x '{pattern}'");
                if (sw.Elapsed > timeout)
                    Assert.Fail($"timed out after {timeout.TotalSeconds:F0} s waiting for {count} x '{pattern}' (saw {regex.Matches(vm.Log).Count})");
                Thread.Sleep(50);
            }
        }

        /// <summary>
        /// Compares the kernel's devices on <paramref name="bus"/> (lsusb -t for the port paths,
        /// lsusb for the product names) with QEMU's `info usb`; returns "N-p.p" → lsusb text.
        /// </summary>
        static Dictionary<string, string> AssertMatchesQemu(QemuMachine vm, int bus)
        {
            Dictionary<string, string> ours = null;
            Dictionary<string, string> qemu = null;
            // Hot-plug settles asynchronously: retry briefly until both views agree.
            var sw = Stopwatch.StartNew();
            while (true)
            {
                ours = KernelDevices(vm, bus);
                qemu = QemuDevices(vm, bus);
                bool same = ours.Count == qemu.Count && qemu.All(q => ours.TryGetValue(q.Key, out string line) && SameProduct(line, q.Value));
                if (same)
                    return ours;
                if (sw.Elapsed > QemuMachine.Scaled(10))
                    break;
                Thread.Sleep(200);
            }
            Assert.Fail("kernel and QEMU disagree.\nkernel: " + string.Join("; ", ours.Select(kv => kv.Key + " = " + kv.Value)) +
                        "\nqemu: " + string.Join("; ", qemu.Select(kv => kv.Key + " = " + kv.Value)));
            return ours;
        }

        /// <summary>QEMU names usb-storage "QEMU USB MSD" in `info usb`; its string descriptor says "QEMU USB HARDDRIVE".</summary>
        static bool SameProduct(string lsusbLine, string qemuProduct) =>
            lsusbLine.Contains(qemuProduct) || (qemuProduct == "QEMU USB MSD" && lsusbLine.Contains("46f4:0001 QEMU QEMU USB HARDDRIVE"));

        static Dictionary<string, string> KernelDevices(QemuMachine vm, int bus)
        {
            var products = new Dictionary<int, string>();
            foreach (Match m in Regex.Matches(KernelDeviceStrings.List(vm), @"^Bus (\d{3}) Device (\d{3}): ID (.*)$", RegexOptions.Multiline))
                if (int.Parse(m.Groups[1].Value) == bus)
                    products[int.Parse(m.Groups[2].Value)] = m.Groups[3].Value.Trim();
            var result = new Dictionary<string, string>();
            var stack = new List<string>();
            bool inBus = false;
            foreach (string raw in vm.RunCommand("lsusb -t").Split('\n'))
            {
                string line = raw.TrimEnd('\r');
                var root = Regex.Match(line, @"^/:  Bus (\d+)\.");
                if (root.Success)
                {
                    inBus = int.Parse(root.Groups[1].Value) == bus;
                    stack.Clear();
                    continue;
                }
                var child = Regex.Match(line, @"^( *)\|__ Port (\d+): Dev (\d+),");
                if (!inBus || !child.Success)
                    continue;
                int depth = child.Groups[1].Value.Length / 4 - 1;
                while (stack.Count > depth) stack.RemoveAt(stack.Count - 1);
                stack.Add(child.Groups[2].Value);
                string path = bus + "-" + string.Join(".", stack);
                int dev = int.Parse(child.Groups[3].Value);
                result[path] = products.TryGetValue(dev, out string p) ? p : "?";
            }
            return result;
        }

        /// <summary>QEMU's `info usb`: "Device 0.2, Port 1.1, Speed 12 Mb/s, Product QEMU USB Mouse, ID: mouse0".</summary>
        static Dictionary<string, string> QemuDevices(QemuMachine vm, int bus)
        {
            var result = new Dictionary<string, string>();
            foreach (Match m in Regex.Matches(vm.Qmp.HumanMonitorCommand("info usb"), @"Port ([\d.]+), Speed [^,]+, Product ([^,]+),"))
                result[bus + "-" + m.Groups[1].Value] = m.Groups[2].Value.Trim();
            return result;
        }
    }
}
