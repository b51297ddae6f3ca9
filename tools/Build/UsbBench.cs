using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;

namespace KernelBuild
{
    /// <summary>
    /// USB numbers for `build.sh bench`, read from the kernel's own timestamps and from the host clock:
    /// per bus, the time from the controller's registration to the last device bound (enumeration),
    /// and the hot-plug reaction times (QMP device_add → bound, device_del → removed).
    /// </summary>
    static class UsbBench
    {
        static readonly Regex BusRegistered = new(@"\[\s*(\d+\.\d{6})\] (\S+) \S+: new USB bus registered, assigned bus number (\d+)");
        static readonly Regex DeviceBound = new(@"\[\s*(\d+\.\d{6})\] usb (\d+)-[\d.]+: bound to driver usb\b");
        static readonly Regex ControllerDevice = new(@"^(piix3-usb-uhci|piix4-usb-uhci|ich9-usb-uhci\d|pci-ohci|usb-ehci|ich9-usb-ehci\d|qemu-xhci|nec-usb-xhci)\b.*\bid=([\w-]+)");
        const int MaxPortsTried = 8;
        static readonly TimeSpan SettleQuiet = TimeSpan.FromSeconds(2);
        static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(60);

        public static void Run(QemuMachine vm, Scenario scenario)
        {
            WaitUntilQuiet(vm);
            var drivers = ReportEnumeration(vm.Log);
            foreach (var (type, id) in Controllers(scenario))
            {
                // Only controllers a kernel driver took: "uhci" in the QEMU type ↔ "uhci" in the driver name.
                string family = type.Contains("uhci") ? "uhci" : type.Contains("ohci") ? "ohci" : type.Contains("ehci") ? "ehci" : "xhci";
                if (drivers.Any(d => d.Contains(family)))
                    HotPlug(vm, scenario, id);
                else
                    Console.WriteLine($"hot-plug on {id}.0: skipped (no {family} driver registered a bus)");
            }
            StorageThroughput(vm);
        }

        static readonly Regex DiskLine = new(@"^(sd[a-z]+)\s+(\d+)-[\d.]+:\d+\.\d+\s", RegexOptions.Multiline);

        /// <summary>Sequential read throughput of every USB disk (`disk bench`), less on full-speed controllers.</summary>
        static void StorageThroughput(QemuMachine vm)
        {
            var drivers = new Dictionary<int, string>();
            foreach (Match m in BusRegistered.Matches(vm.Log))
                drivers[int.Parse(m.Groups[3].Value)] = m.Groups[2].Value;
            vm.SkipPending();
            string list = vm.RunCommand("disk", TimeSpan.FromSeconds(30));
            var disks = DiskLine.Matches(list);
            if (disks.Count == 0)
            {
                Console.WriteLine("storage: no USB disks");
                return;
            }
            foreach (Match d in disks)
            {
                int bus = int.Parse(d.Groups[2].Value);
                string driver = drivers.TryGetValue(bus, out var name) ? name : "?";
                int mib = driver.Contains("uhci") || driver.Contains("ohci") ? 2 : 16;
                string output = vm.RunCommand($"disk bench {d.Groups[1].Value} {mib}", TimeSpan.FromSeconds(120));
                var result = Regex.Match(output, @"disk bench: .*");
                Console.WriteLine($"storage {d.Groups[1].Value} on usb{bus} ({driver}): " + (result.Success ? result.Value.Trim() : output.Trim()));
            }
        }

        /// <summary>Enumeration is over when the serial log has been quiet for a while (bounded).</summary>
        static void WaitUntilQuiet(QemuMachine vm)
        {
            var total = Stopwatch.StartNew();
            int length = vm.Log.Length;
            var quiet = Stopwatch.StartNew();
            while (quiet.Elapsed < SettleQuiet && total.Elapsed < SettleLimit)
            {
                System.Threading.Thread.Sleep(100);
                int now = vm.Log.Length;
                if (now != length) { length = now; quiet.Restart(); }
            }
        }

        /// <summary>Prints per-bus enumeration times; returns the driver names that registered buses.</summary>
        static List<string> ReportEnumeration(string log)
        {
            var buses = new SortedDictionary<int, (double Start, string Driver)>();
            foreach (Match m in BusRegistered.Matches(log))
                buses[int.Parse(m.Groups[3].Value)] = (Seconds(m.Groups[1].Value), m.Groups[2].Value);
            if (buses.Count == 0)
            {
                Console.WriteLine("usb: no USB bus registered (no host controller driver bound)");
                return new List<string>();
            }
            var last = new Dictionary<int, (double Time, int Count)>();
            foreach (Match m in DeviceBound.Matches(log))
            {
                int bus = int.Parse(m.Groups[2].Value);
                last.TryGetValue(bus, out var seen);
                last[bus] = (Math.Max(seen.Time, Seconds(m.Groups[1].Value)), seen.Count + 1);
            }
            foreach (var (bus, info) in buses)
            {
                if (!last.TryGetValue(bus, out var done))
                {
                    Console.WriteLine($"usb{bus} ({info.Driver}): no devices");
                    continue;
                }
                Console.WriteLine($"usb{bus} ({info.Driver}): {done.Count} device(s), controller registered → last device bound: {(done.Time - info.Start) * 1000:F0} ms");
            }
            return buses.Values.Select(b => b.Driver).ToList();
        }

        static double Seconds(string text) => double.Parse(text, CultureInfo.InvariantCulture);

        static IEnumerable<(string Type, string Id)> Controllers(Scenario scenario)
        {
            for (int i = 0; i + 1 < scenario.Args.Count; i++)
            {
                if (scenario.Args[i] != "-device") continue;
                var m = ControllerDevice.Match(scenario.Args[i + 1]);
                if (m.Success) yield return (m.Groups[1].Value, m.Groups[2].Value);
            }
        }

        /// <summary>Plugs a keyboard into the first free port of the controller, then unplugs it, timing both on the host clock.</summary>
        static void HotPlug(QemuMachine vm, Scenario scenario, string controller)
        {
            string busName = controller + ".0";
            var used = new HashSet<string>();
            foreach (Match m in Regex.Matches(string.Join(" ", scenario.Args), @"bus=" + Regex.Escape(busName) + @",port=(\d+)"))
                used.Add(m.Groups[1].Value);
            for (int port = 1; port <= MaxPortsTried; port++)
            {
                if (used.Contains(port.ToString())) continue;
                string id = "bench-kbd-" + controller;
                vm.SkipPending();
                var sw = Stopwatch.StartNew();
                try
                {
                    vm.Qmp.DeviceAdd("usb-kbd", id, ("bus", busName), ("port", port.ToString()));
                }
                catch (QmpException)
                {
                    continue; // no such port, or the port is busy: try the next one
                }
                string name;
                try
                {
                    name = vm.WaitForLine(@"usb (\d+-[\d.]+): bound to driver usb\b", TimeSpan.FromSeconds(30)).Groups[1].Value;
                }
                catch (QemuWaitException e)
                {
                    Console.WriteLine($"hot-plug on {busName} port {port}: no bind within 30 s ({e.Message})");
                    TryDelete(vm, id);
                    return;
                }
                double added = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                vm.Qmp.DeviceDel(id);
                try
                {
                    vm.WaitForLine(@"usb " + Regex.Escape(name) + @": USB disconnect", TimeSpan.FromSeconds(30));
                    Console.WriteLine($"hot-plug usb-kbd on {busName} port {port} ({name}): device_add → bound {added:F0} ms, device_del → removed {sw.Elapsed.TotalMilliseconds:F0} ms");
                }
                catch (QemuWaitException e)
                {
                    Console.WriteLine($"hot-unplug of {name}: not removed within 30 s ({e.Message})");
                }
                return;
            }
            Console.WriteLine($"hot-plug on {busName}: no free port among 1..{MaxPortsTried}");
        }

        static void TryDelete(QemuMachine vm, string id)
        {
            try { vm.Qmp.DeviceDel(id); } catch (QmpException) { }
        }
    }
}
