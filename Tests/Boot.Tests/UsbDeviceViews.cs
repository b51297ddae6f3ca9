using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>One USB device as QEMU (`info usb`) or the kernel (`lsusb -t` + `lsusb`) sees it, keyed by port path ("1.2").</summary>
    public sealed record UsbDeviceView(string Port, int Address, string Product, string Speed);

    /// <summary>What to compare between QEMU's and the kernel's view of the devices.</summary>
    public sealed class ViewComparison
    {
        /// <summary>Kernel buses to look at (default: all).</summary>
        public Func<int, bool> Buses = _ => true;
        /// <summary>Compare device addresses (not for xHCI: QEMU shows the slot address, the kernel its own device number).</summary>
        public bool Addresses = true;
        /// <summary>Compare speeds ("480 Mb/s" in QEMU, "480M" in lsusb -t).</summary>
        public bool Speeds;
        /// <summary>An extra check on the kernel's `lsusb` output; returns a problem or null.</summary>
        public Func<string, string> ListCheck;
    }

    /// <summary>
    /// The kernel's USB device tree checked against QEMU's: the boot tests of every host controller
    /// wait until both agree (same port paths, products, and optionally addresses and speeds).
    /// </summary>
    public static class UsbDeviceViews
    {
        static readonly Regex QemuDevice = new(@"Device (\d+)\.(\d+), Port ([\d.]+), Speed ([^,]+), Product ([^,]+?)(?:, ID: (\S+))?\s*$", RegexOptions.Multiline);
        static readonly Regex BusLine = new(@"^/:  Bus (\d+)\.Port 1: Dev 1, Class=root_hub, Driver=(\S+), (\S+)$");
        static readonly Regex TreeLine = new(@"^(?<indent>\s*)\|__ Port (?<port>\d+): Dev (?<dev>\d+), If (?<if>\d+), Class=(?<class>[^,]+), Driver=(?<driver>[^,]*), (?<speed>\S+)");

        /// <summary>QEMU's `info usb` shows the device model's description, not the string descriptor.</summary>
        static readonly Dictionary<string, string> Aliases = new() { ["QEMU USB MSD"] = "QEMU USB HARDDRIVE" };

        public static Dictionary<string, UsbDeviceView> Qemu(QemuMachine vm, out string info)
        {
            info = vm.Qmp.HumanMonitorCommand("info usb");
            var map = new Dictionary<string, UsbDeviceView>();
            foreach (Match m in QemuDevice.Matches(info))
                map[m.Groups[3].Value] = new UsbDeviceView(m.Groups[3].Value, int.Parse(m.Groups[2].Value), m.Groups[5].Value.Trim(), m.Groups[4].Value.Trim());
            return map;
        }

        /// <summary>Port path → device on the selected buses, from `lsusb -t` (tree, speeds) and `lsusb` (products).</summary>
        public static Dictionary<string, UsbDeviceView> Kernel(QemuMachine vm, Func<int, bool> buses, out string tree, out string list)
        {
            tree = vm.RunCommand("lsusb -t");
            list = vm.RunCommand("lsusb");
            // Products from the devices' own strings: lsusb prints usb.ids names.
            var products = KernelDeviceStrings.Of(vm);
            var map = new Dictionary<string, UsbDeviceView>();
            var stack = new List<string>();
            int bus = 0;
            foreach (string line in tree.Split('\n'))
            {
                Match b = BusLine.Match(line.TrimEnd());
                if (b.Success)
                {
                    bus = int.Parse(b.Groups[1].Value);
                    stack.Clear();
                    continue;
                }
                Match m = TreeLine.Match(line);
                if (!m.Success || !buses(bus))
                    continue;
                int level = (m.Groups["indent"].Value.Length - 4) / 4;
                while (stack.Count > level) stack.RemoveAt(stack.Count - 1);
                string path = string.Join(".", stack.Append(m.Groups["port"].Value));
                int dev = int.Parse(m.Groups["dev"].Value);
                map[path] = new UsbDeviceView(path, dev, products.TryGetValue((bus, dev), out var p) ? p : "", m.Groups["speed"].Value);
                if (stack.Count == level) stack.Add(m.Groups["port"].Value);
                else stack[level] = m.Groups["port"].Value;
            }
            return map;
        }

        /// <summary>The first difference between the two views, or null when they agree.</summary>
        public static string Compare(Dictionary<string, UsbDeviceView> qemu, Dictionary<string, UsbDeviceView> kernel, int expectedDevices, ViewComparison how)
        {
            if (qemu.Count != expectedDevices)
                return $"QEMU has {qemu.Count} devices, expected {expectedDevices}";
            foreach (var q in qemu.Values)
            {
                if (!kernel.TryGetValue(q.Port, out var k))
                    return $"no kernel device at port {q.Port} ({q.Product})";
                if (how.Addresses && k.Address != q.Address)
                    return $"port {q.Port}: kernel address {k.Address}, QEMU {q.Address}";
                if (!k.Product.EndsWith(q.Product) && !(Aliases.TryGetValue(q.Product, out var alias) && k.Product.EndsWith(alias)))
                    return $"port {q.Port}: kernel product '{k.Product}', QEMU '{q.Product}'";
                if (how.Speeds && k.Speed != q.Speed.Replace(" Mb/s", "M"))
                    return $"port {q.Port}: kernel speed {k.Speed}, QEMU {q.Speed}";
            }
            foreach (var k in kernel.Values)
                if (!qemu.ContainsKey(k.Port))
                    return $"kernel still lists {k.Port} ({k.Product})";
            return null;
        }

        /// <summary>Waits (bounded) until the kernel's device set equals QEMU's; fails with both views otherwise.</summary>
        public static void WaitUntilMatching(QemuMachine vm, int expectedDevices, ViewComparison how, TimeSpan timeout)
        {
            DateTime deadline = DateTime.UtcNow + timeout;
            string problem = "";
            while (DateTime.UtcNow < deadline)
            {
                var qemu = Qemu(vm, out string info);
                var kernel = Kernel(vm, how.Buses, out string tree, out string list);
                problem = Compare(qemu, kernel, expectedDevices, how) ?? how.ListCheck?.Invoke(list);
                if (problem == null)
                    return;
                problem += "\nQEMU info usb:\n" + info + "\nlsusb -t:\n" + tree + "\nlsusb:\n" + list;
                System.Threading.Thread.Sleep(300);
            }
            Assert.Fail("kernel and QEMU disagree about the USB devices: " + problem);
        }
    }
}
