using System.Collections.Generic;
using System.Text.RegularExpressions;

namespace Boot.Tests.Harness
{
    /// <summary>
    /// The devices' own strings from the kernel's `usb devices` (Linux's devices file): the tests
    /// tell devices apart by them ("QEMU USB Keyboard" vs "QEMU USB Mouse"), which `lsusb` no
    /// longer shows since it prints usb.ids names as usbutils does (all three HID devices of QEMU
    /// are 0627:0001 "QEMU Tablet" there).
    /// </summary>
    public static class KernelDeviceStrings
    {
        static readonly Regex Topology = new(@"^T:\s+Bus=(\d+) .*Dev#=\s*(\d+)", RegexOptions.Multiline);
        static readonly Regex Manufacturer = new(@"^S:\s+Manufacturer=(.*)$");
        static readonly Regex Product = new(@"^S:\s+Product=(.*)$");
        static readonly Regex Ids = new(@"^P:\s+Vendor=([0-9a-f]{4}) ProdID=([0-9a-f]{4})");

        /// <summary>(bus, device number) → "Manufacturer Product" (either may be missing), what lsusb printed before names.</summary>
        public static Dictionary<(int Bus, int Dev), string> Parse(string devicesFile)
        {
            var result = new Dictionary<(int, int), string>();
            foreach (var (key, ids, strings) in Entries(devicesFile))
                result[key] = strings;
            return result;
        }

        /// <summary>
        /// "Bus 001 Device 002: ID 0627:0001 QEMU QEMU USB Keyboard" lines (bus and device order): the
        /// kernel's listing with the devices' own strings, as `lsusb` printed it before usb.ids names.
        /// </summary>
        public static string List(QemuMachine vm)
        {
            var lines = new List<string>();
            foreach (var (key, ids, strings) in Entries(vm.RunCommand("usb devices")))
                lines.Add($"Bus {key.Bus:D3} Device {key.Dev:D3}: ID {ids} {strings}".TrimEnd());
            lines.Sort(System.StringComparer.Ordinal);
            return string.Join("\n", lines) + "\n";
        }

        static List<((int Bus, int Dev), string Ids, string Strings)> Entries(string devicesFile)
        {
            var result = new List<((int, int), string, string)>();
            (int, int)? current = null;
            string manufacturer = null, product = null, ids = "";
            void Flush()
            {
                if (current != null)
                    result.Add((current.Value, ids, ((manufacturer ?? "") + " " + (product ?? "")).Trim()));
            }
            foreach (string raw in devicesFile.Split('\n'))
            {
                string line = raw.TrimEnd('\r');
                var t = Topology.Match(line);
                if (t.Success)
                {
                    Flush();
                    current = (int.Parse(t.Groups[1].Value), int.Parse(t.Groups[2].Value));
                    manufacturer = product = null;
                    ids = "";
                    continue;
                }
                var i = Ids.Match(line);
                if (i.Success) ids = i.Groups[1].Value + ":" + i.Groups[2].Value;
                var m = Manufacturer.Match(line);
                if (m.Success) manufacturer = m.Groups[1].Value.Trim();
                var p = Product.Match(line);
                if (p.Success) product = p.Groups[1].Value.Trim();
            }
            Flush();
            return result;
        }

        /// <summary>Runs `usb devices` and parses it.</summary>
        public static Dictionary<(int Bus, int Dev), string> Of(QemuMachine vm, System.TimeSpan? timeout = null) =>
            Parse(vm.RunCommand("usb devices", timeout));
    }
}
