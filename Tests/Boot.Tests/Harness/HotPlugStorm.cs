using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Threading;

namespace Boot.Tests.Harness
{
    /// <summary>Knobs of a <see cref="HotPlugStorm"/> run.</summary>
    public sealed class StormOptions
    {
        /// <summary>Plug/unplug cycles: one cycle = a device (or a hub with its children) plugged and later unplugged.</summary>
        public int Cycles { get; set; } = 1000;
        /// <summary>Seed of the slot and device-kind choices (same seed, same sequence).</summary>
        public int Seed { get; set; } = 1;
        /// <summary>How long a plugged device may take to be bound (generous: a busy machine is slow).</summary>
        public TimeSpan BindTimeout { get; set; } = QemuMachine.Scaled(10);
        /// <summary>How long an unplugged device may take to be gone (its removal done): slower is a failure.</summary>
        public TimeSpan GoneTimeout { get; set; } = QemuMachine.Scaled(5);
        /// <summary>How long to keep waiting for a removal beyond <see cref="GoneTimeout"/>, to measure a stall and keep going.</summary>
        public TimeSpan GoneHardLimit { get; set; } = QemuMachine.Scaled(20);
        /// <summary>How long a `disk` command may take to return after its disk was unplugged under it.</summary>
        public TimeSpan ShellTimeout { get; set; } = QemuMachine.Scaled(10);
        /// <summary>Progress lines (e.g. Console.WriteLine); null = quiet.</summary>
        public Action<string> Progress { get; set; }
    }

    /// <summary>
    /// The kernel's memory figures after a collection (`gc` prints the `mem` report) and its biggest heap types
    /// (`mem types`: type name → live objects and bytes), which say what grew when the heap is not flat.
    /// </summary>
    public sealed record MemoryFigures(long HeapBytes, long DmaBytes, int DmaBuffers, IReadOnlyDictionary<string, (long Objects, long Bytes)> Types)
    {
        public override string ToString() => $"heap {HeapBytes} B, DMA {DmaBytes} B in {DmaBuffers} buffers";

        static readonly Regex TypeRow = new(@"^\s*(\d+)\s+(\d+)  (\S.*?)\s*$", RegexOptions.Multiline);

        /// <summary>Parses the rows of `mem types` ("BYTES OBJECTS TYPE").</summary>
        public static Dictionary<string, (long Objects, long Bytes)> ParseTypes(string text)
        {
            var types = new Dictionary<string, (long, long)>();
            foreach (Match m in TypeRow.Matches(text))
                types[m.Groups[3].Value] = (long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
            return types;
        }

        /// <summary>
        /// The types whose bytes grew most from <paramref name="start"/> to <paramref name="end"/>, biggest first.
        /// Types listed only at one end count as 0 at the other (a short listing cuts off the small types).
        /// </summary>
        public static List<(string Type, long Objects, long Bytes)> Growth(MemoryFigures start, MemoryFigures end, int rows)
        {
            var result = new List<(string, long, long)>();
            if (start?.Types == null || end?.Types == null) return result;
            foreach (var name in start.Types.Keys.Union(end.Types.Keys))
            {
                start.Types.TryGetValue(name, out var a);
                end.Types.TryGetValue(name, out var b);
                if (b.Bytes > a.Bytes) result.Add((name, b.Objects - a.Objects, b.Bytes - a.Bytes));
            }
            return result.OrderByDescending(x => x.Item3).Take(rows).ToList();
        }
    }

    /// <summary>Outcome of a storm: latencies, memory before/after, listing checks, and every failure seen.</summary>
    public sealed class StormReport
    {
        public int Cycles, DevicesPlugged, DevicesUnplugged, HubUnplugsWithChildren, DiskUnplugsUnderIo, DiskCommandsEndedInError, DiskCommandsFinishedFirst;
        /// <summary>(controller, kind, port, ms) per device: QMP device_add → the kernel's "bound to driver usb" line.</summary>
        public List<(string Controller, string Kind, string Port, double Ms)> AddToBound { get; } = new();
        /// <summary>Rows of the "slowest additions" line.</summary>
        const int SlowestRows = 5;
        /// <summary>(controller, kind, ms) per unplug: QMP device_del → the last "USB disconnect" of its subtree (removal noticed).</summary>
        public List<(string Controller, string Kind, double Ms)> UnplugToNoticed { get; } = new();
        /// <summary>(controller, kind, ms) per unplug: QMP device_del → the last "unbound from driver usb" of its subtree (removal done).</summary>
        public List<(string Controller, string Kind, double Ms)> UnplugToGone { get; } = new();
        public MemoryFigures MemoryStart, MemoryEnd;
        /// <summary>The first end reading when it was not flat and <see cref="MemoryEnd"/> is a second look (null otherwise).</summary>
        public MemoryFigures MemoryEndFirst;
        /// <summary>When memory stayed not flat: `mem find` and `mem refs` output for the type that grew most (null otherwise).</summary>
        public string Holders;
        /// <summary>Listing vs QEMU `info usb` with the storm's devices still plugged, and after the final unplugs (null = equal).</summary>
        public string ListingProblemLoaded, ListingProblemEmpty;
        public int ListedDevicesLoaded;
        public bool Panicked;
        public List<string> Failures { get; } = new();
        public TimeSpan Duration;

        /// <summary>DMA bytes and buffers exactly back, heap live bytes within 64 KiB (shell and log noise).</summary>
        public bool MemoryFlat => MemoryStart != null && MemoryEnd != null && MemoryEnd.DmaBytes == MemoryStart.DmaBytes
                                  && MemoryEnd.DmaBuffers == MemoryStart.DmaBuffers && MemoryEnd.HeapBytes < MemoryStart.HeapBytes + HeapSlackBytes;
        public const long HeapSlackBytes = 64 * 1024;
        /// <summary>Rows of the "heap growth by type" table.</summary>
        const int GrowthRows = 12;

        public static double Median(IEnumerable<double> xs)
        {
            var s = xs.OrderBy(x => x).ToList();
            if (s.Count == 0) return double.NaN;
            return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
        }

        /// <summary>The value below which <paramref name="fraction"/> of the samples lie (nearest rank).</summary>
        public static double Percentile(IEnumerable<double> xs, double fraction)
        {
            var s = xs.OrderBy(x => x).ToList();
            if (s.Count == 0) return double.NaN;
            int rank = (int)Math.Ceiling(fraction * s.Count);
            return s[Math.Clamp(rank - 1, 0, s.Count - 1)];
        }

        static string Stats(IEnumerable<double> xs)
        {
            var l = xs.ToList();
            return l.Count == 0 ? "none" : $"median {Median(l),6:F0} ms, 95% {Percentile(l, 0.95),6:F0} ms, worst {l.Max(),6:F0} ms (n={l.Count})";
        }

        public string Format()
        {
            var sb = new StringBuilder();
            sb.AppendLine($"storm: {Cycles} cycles in {Duration.TotalSeconds:F0} s: {DevicesPlugged} devices plugged, {DevicesUnplugged} unplugged, " +
                          $"{HubUnplugsWithChildren} hubs unplugged with children attached, {DiskUnplugsUnderIo} disks unplugged under I/O " +
                          $"({DiskCommandsEndedInError} commands ended in an error, {DiskCommandsFinishedFirst} finished before the unplug)");
            sb.AppendLine($"add → bound     all: {Stats(AddToBound.Select(x => x.Ms))}");
            foreach (var g in AddToBound.GroupBy(x => x.Controller).OrderBy(g => g.Key))
                sb.AppendLine($"add → bound    {g.Key,4}: {Stats(g.Select(x => x.Ms))}");
            // A hub's first child is plugged as soon as the hub is bound, so it also waits for the hub's
            // ports to be powered (bPwrOn2PwrGood, at least 100 ms, USB 2.0 11.23.2.1; Linux hub_activate)
            // before the hub can report it; the second child is plugged after the first is bound.
            sb.AppendLine($"add → bound root ports:          {Stats(AddToBound.Where(x => !x.Port.Contains('.')).Select(x => x.Ms))}");
            sb.AppendLine($"add → bound hub's first child:   {Stats(AddToBound.Where(x => x.Port.EndsWith(".1")).Select(x => x.Ms))}  (includes the hub's power-on wait)");
            sb.AppendLine($"add → bound hub's other children: {Stats(AddToBound.Where(x => x.Port.Contains('.') && !x.Port.EndsWith(".1")).Select(x => x.Ms))}");
            sb.AppendLine("add → bound slowest: " + string.Join(", ", AddToBound.OrderByDescending(x => x.Ms).Take(SlowestRows)
                .Select(x => $"{x.Ms:F0} ms {x.Kind} on {x.Controller} port {x.Port}")));
            sb.AppendLine($"unplug → noticed all: {Stats(UnplugToNoticed.Select(x => x.Ms))}  (device_del → \"USB disconnect\")");
            sb.AppendLine($"unplug → gone   all: {Stats(UnplugToGone.Select(x => x.Ms))}  (device_del → \"unbound from driver usb\", removal done)");
            foreach (var g in UnplugToGone.GroupBy(x => x.Controller).OrderBy(g => g.Key))
                sb.AppendLine($"unplug → gone  {g.Key,4}: {Stats(g.Select(x => x.Ms))}");
            sb.AppendLine($"memory at start: {MemoryStart?.ToString() ?? "?"}");
            if (MemoryEndFirst != null)
                sb.AppendLine($"memory at end, first look: {MemoryEndFirst} (not flat; looked again a second later)");
            sb.AppendLine($"memory at end:   {MemoryEnd?.ToString() ?? "?"}");
            sb.AppendLine(MemoryFlat
                ? $"memory: FLAT (DMA identical, heap {MemoryEnd.HeapBytes - MemoryStart.HeapBytes:+#;-#;0} B, within {HeapSlackBytes / 1024} KiB)"
                : "memory: NOT FLAT");
            var growth = MemoryFigures.Growth(MemoryStart, MemoryEndFirst ?? MemoryEnd, GrowthRows);
            if (growth.Count > 0) sb.AppendLine("heap growth by type (mem types, start → end):");
            foreach (var (type, objects, bytes) in growth)
                sb.AppendLine($"  {bytes,+9:+#;-#;0} B {objects,+7:+#;-#;0} objects  {type}");
            if (Holders != null)
                sb.Append("what holds the type that grew most (mem find; mem refs on its objects at the highest addresses, usually the newest):\n" + Holders);
            sb.AppendLine(ListingProblemLoaded == null ? $"listing with devices plugged: matches QEMU info usb ({ListedDevicesLoaded} devices)" : "listing with devices plugged: MISMATCH: " + ListingProblemLoaded);
            sb.AppendLine(ListingProblemEmpty == null ? "listing after the last unplug: matches QEMU info usb (no devices)" : "listing after the last unplug: MISMATCH: " + ListingProblemEmpty);
            sb.AppendLine(Panicked ? "kernel: PANIC" : "kernel: no panic");
            sb.AppendLine(Failures.Count == 0 ? "failures: none" : $"failures: {Failures.Count}");
            foreach (var f in Failures.Take(30)) sb.AppendLine("  " + f);
            return sb.ToString();
        }
    }

    /// <summary>
    /// QMP hot-plug storm on a machine with UHCI, OHCI, EHCI and xHCI (scenario `storm`): random slots get
    /// keyboards, mice, tablets, usb-storage disks (QMP blockdev-add images) and hubs with children plugged
    /// behind them; occupied slots get unplugged (a hub while its children are attached, a disk while a
    /// `disk read`/`disk bench` runs on it). Latencies come from the host clock around the QMP command up
    /// to the kernel's own log line ("bound to driver usb", "USB disconnect"). Shared by `build.sh bench
    /// storm` and the StormTests boot test.
    /// </summary>
    public static class HotPlugStorm
    {
        public const string ScenarioName = "storm";

        sealed record Controller(string Id, string Family, string KernelDriver, int Ports, bool Hubs);

        /// <summary>The storm scenario's controllers (qemu/scenarios/storm.json), in QEMU bus order.</summary>
        static readonly Controller[] Controllers =
        {
            new("uhci", "uhci", "uhci_hcd", 2, true),
            new("ohci", "ohci", "ohci-pci", 4, true),
            new("ehci", "ehci", "ehci-pci", 6, false),   // stand-alone usb-ehci refuses the full-speed usb-hub
            new("xhci", "xhci", "xhci_hcd", 4, true),
        };

        static readonly string[] HidKinds = { "usb-kbd", "usb-mouse", "usb-tablet" };
        const int DiskImages = 4;
        const int HubPorts = 4;
        /// <summary>Time for a `disk` command to get going before its disk is pulled.</summary>
        const int IoHeadStartMs = 150;
        /// <summary>device_add of a usb-storage on an image whose previous device QEMU has not released yet: retries, pause.</summary>
        const int DiskReuseAttempts = 10, DiskReuseRetryMs = 200;

        sealed class QemuDevice
        {
            public string Id, Driver, Port, KernelName;
            /// <summary>Log offset just before its device_add: its lines come after.</summary>
            public int Since;
        }

        sealed class Plugged
        {
            public Controller Controller;
            public string Port;
            public string Kind;
            public List<QemuDevice> Devices = new();   // [0] is the top device (the hub when Kind == usb-hub)
            public int DiskImage = -1;
            public string DiskName;
        }

        static readonly Regex BusLine = new(@"usb usb(\d+): new \S+ USB device number 1 using (\S+)");
        static readonly Regex GcHeap = new(@"heap: (\d+) bytes used");
        /// <summary>Heap types listed at the start and end of a storm (enough to catch anything that grew by kilobytes).</summary>
        const int TypeRowsListed = 200;
        static readonly Regex GcDma = new(@"dma: (\d+) bytes used in (\d+) buffers");

        public static StormReport Run(QemuMachine vm, StormOptions o)
        {
            var report = new StormReport { Cycles = o.Cycles };
            var total = Stopwatch.StartNew();
            var rng = new Random(o.Seed);
            var buses = KernelBuses(vm.Log);
            foreach (var c in Controllers)
                if (!buses.ContainsKey(c.Family))
                    report.Failures.Add($"no kernel bus for {c.Id} ({c.KernelDriver})");
            if (report.Failures.Count > 0) return report;

            for (int i = 0; i < DiskImages; i++)
                vm.Qmp.Execute("blockdev-add", new JsonObject
                {
                    ["driver"] = "raw",
                    ["node-name"] = DiskNode(i),
                    ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = Path.Combine(vm.WorkDir, $"storm{i + 1}.img") },
                });

            Thread.Sleep(500);
            report.MemoryStart = Memory(vm);
            var slots = new List<(Controller C, string Port)>();
            foreach (var c in Controllers)
                for (int p = 1; p <= c.Ports; p++) slots.Add((c, p.ToString(CultureInfo.InvariantCulture)));
            var plugged = new Dictionary<(Controller, string), Plugged>();
            var diskInUse = new bool[DiskImages];
            int serial = 0, cycles = 0, plugs = 0;

            // Every cycle's plug happens in this loop; a random occupied slot is unplugged instead when chosen.
            // The devices still plugged at the end are checked against QEMU, then unplugged (ending their cycles).
            while (plugs < o.Cycles && !vm.HasExited)
            {
                var slot = slots[rng.Next(slots.Count)];
                if (plugged.TryGetValue(slot, out var p))
                {
                    Unplug(vm, o, report, p, underIo: p.Kind == "usb-storage" && rng.Next(2) == 0, diskInUse);
                    plugged.Remove(slot);
                    cycles++;
                }
                else
                {
                    var np = Plug(vm, o, report, slot.C, slot.Port, PickKind(rng, slot.C, diskInUse), rng, buses, ref serial, diskInUse);
                    plugs++;
                    if (np != null) plugged[slot] = np;
                    else cycles++;   // failed to plug (a failure is recorded): nothing to unplug
                    if (plugs % 50 == 0) o.Progress?.Invoke($"storm: {plugs}/{o.Cycles} plugs, {report.Failures.Count} failure(s), {total.Elapsed.TotalSeconds:F0} s");
                }
            }
            if (vm.HasExited) { report.Panicked = vm.ExitCode == QemuCommandLine.ExitPanic; report.Failures.Add($"QEMU exited with status {vm.ExitCode}"); }

            if (!vm.HasExited)
            {
                report.ListingProblemLoaded = CompareListing(vm, plugged.Values, buses, out report.ListedDevicesLoaded);
                foreach (var p in plugged.Values.ToList())
                    Unplug(vm, o, report, p, underIo: false, diskInUse);
                plugged.Clear();
                report.ListingProblemEmpty = CompareListing(vm, plugged.Values, buses, out _);
                WaitForExploreWorkersToEnd(vm);
                report.MemoryEnd = Memory(vm);
                if (!report.MemoryFlat && report.MemoryEnd != null)
                {
                    // A leak survives a second look; a buffer held only by a stale word on some thread's stack
                    // (the collector scans stacks conservatively) goes once that word is overwritten.
                    report.MemoryEndFirst = report.MemoryEnd;
                    Thread.Sleep(1000);
                    report.MemoryEnd = Memory(vm);
                    if (!report.MemoryFlat)
                        report.Holders = Holders(vm, report);
                }
            }
            report.Panicked |= vm.Log.Contains("KERNEL PANIC");
            report.Duration = total.Elapsed;
            return report;
        }

        /// <summary>Objects of the type that grew most whose holders `mem refs` shows (the chain back to a root starts there).</summary>
        const int HolderObjects = 2;

        /// <summary>`mem find` for the type that grew most, then `mem refs` on its last objects listed: what keeps them alive.</summary>
        static string Holders(QemuMachine vm, StormReport report)
        {
            var top = MemoryFigures.Growth(report.MemoryStart, report.MemoryEnd, 1);
            if (top.Count == 0) return null;
            string found = vm.RunCommand($"mem find {top[0].Type} 1000", QemuMachine.Scaled(30));
            var sb = new StringBuilder(found.Split('\n')[0].Trim() + "\n");
            foreach (var address in Regex.Matches(found, @"0x([0-9a-f]{16})").Select(m => m.Groups[1].Value).TakeLast(HolderObjects))
                sb.Append(vm.RunCommand("mem refs " + address, QemuMachine.Scaled(30)).Trim() + "\n");
            return sb.ToString();
        }

        static string DiskNode(int i) => "storm-disk" + (i + 1);

        static string PickKind(Random rng, Controller c, bool[] diskInUse)
        {
            int roll = rng.Next(10);
            if (roll < 2 && diskInUse.Contains(false)) return "usb-storage";
            if (roll < 4 && c.Hubs) return "usb-hub";
            return HidKinds[rng.Next(HidKinds.Length)];
        }

        /// <summary>Kernel bus numbers per controller family, from the root hubs' "new ... USB device number 1 using DRIVER" lines.</summary>
        static Dictionary<string, HashSet<int>> KernelBuses(string log)
        {
            var map = new Dictionary<string, HashSet<int>>();
            foreach (Match m in BusLine.Matches(log))
            {
                var c = Controllers.FirstOrDefault(x => x.KernelDriver == m.Groups[2].Value);
                if (c == null) continue;
                if (!map.TryGetValue(c.Family, out var set)) map[c.Family] = set = new HashSet<int>();
                set.Add(int.Parse(m.Groups[1].Value));
            }
            return map;
        }

        static Plugged Plug(QemuMachine vm, StormOptions o, StormReport report, Controller c, string port, string kind, Random rng,
                            Dictionary<string, HashSet<int>> buses, ref int serial, bool[] diskInUse)
        {
            var p = new Plugged { Controller = c, Port = port, Kind = kind };
            var top = new QemuDevice { Id = "st" + (++serial), Driver = kind, Port = port };
            var props = new List<(string, string)> { ("bus", c.Id + ".0"), ("port", port) };
            if (kind == "usb-hub") props.Add(("ports", HubPorts.ToString(CultureInfo.InvariantCulture)));
            if (kind == "usb-storage")
            {
                p.DiskImage = Array.IndexOf(diskInUse, false);
                props.Add(("drive", DiskNode(p.DiskImage)));
            }
            if (!AddAndWait(vm, o, report, c, top, props, buses))
                return Cleanup(vm, p, top, diskInUse, report);
            p.Devices.Add(top);
            if (p.DiskImage >= 0)
            {
                diskInUse[p.DiskImage] = true;
                var disk = WaitLog(vm, top.Since, new Regex(@"sd \S+: \[(sd[a-z]+)\] Attached SCSI"), o.BindTimeout, out _);
                if (disk == null) report.Failures.Add($"{c.Id} port {port}: usb-storage {top.KernelName} bound but no SCSI disk attached within {o.BindTimeout.TotalSeconds:F0} s");
                else p.DiskName = disk.Groups[1].Value;
            }
            if (kind == "usb-hub")
            {
                int children = 1 + rng.Next(2);
                for (int i = 1; i <= children; i++)
                {
                    var child = new QemuDevice { Id = "st" + (++serial), Driver = HidKinds[rng.Next(HidKinds.Length)], Port = port + "." + i };
                    if (AddAndWait(vm, o, report, c, child, new List<(string, string)> { ("bus", c.Id + ".0"), ("port", child.Port) }, buses))
                        p.Devices.Add(child);
                    else
                        TryDelete(vm, child.Id);
                }
            }
            report.DevicesPlugged += p.Devices.Count;
            return p;
        }

        static Plugged Cleanup(QemuMachine vm, Plugged p, QemuDevice top, bool[] diskInUse, StormReport report)
        {
            TryDelete(vm, top.Id);
            if (p.DiskImage >= 0) diskInUse[p.DiskImage] = false;
            return null;
        }

        /// <summary>device_add, then waits for the kernel to bind the device at that port on one of the controller's buses.</summary>
        static bool AddAndWait(QemuMachine vm, StormOptions o, StormReport report, Controller c, QemuDevice d, List<(string, string)> props,
                               Dictionary<string, HashSet<int>> buses)
        {
            d.Since = vm.LogLength;
            var sw = Stopwatch.StartNew();
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    vm.Qmp.DeviceAdd(d.Driver, d.Id, props.ToArray());
                    break;
                }
                catch (QmpException e) when (e.Message.Contains("Permission conflict") && attempt < DiskReuseAttempts)
                {
                    // QEMU releases an unplugged usb-storage's inner SCSI disk (and its hold on the image) a little later.
                    Thread.Sleep(DiskReuseRetryMs);
                    d.Since = vm.LogLength;
                    sw.Restart();
                }
                catch (QmpException e)
                {
                    report.Failures.Add($"{c.Id} port {d.Port}: device_add {d.Driver} refused by QEMU: {e.Message}");
                    return false;
                }
            }
            var bound = new Regex(@"usb (\d+)-" + Regex.Escape(d.Port) + @": bound to driver usb\n");
            var m = WaitLog(vm, d.Since, bound, o.BindTimeout, out double ms, bus => buses[c.Family].Contains(bus));
            if (m == null)
            {
                report.Failures.Add($"{c.Id} port {d.Port}: {d.Driver} not bound within {o.BindTimeout.TotalSeconds:F0} s");
                return false;
            }
            d.KernelName = m.Groups[1].Value + "-" + d.Port;
            report.AddToBound.Add((c.Family, d.Driver, d.Port, sw.Elapsed.TotalMilliseconds));
            return true;
        }

        static void Unplug(QemuMachine vm, StormOptions o, StormReport report, Plugged p, bool underIo, bool[] diskInUse)
        {
            var top = p.Devices[0];
            int since = vm.LogLength;
            string command = null;
            if (underIo && p.DiskName != null)
            {
                // Alternate a checksum read of the whole disk and an endless-looking bench (it wraps around the disk).
                command = report.DiskUnplugsUnderIo % 2 == 0 ? $"disk read {p.DiskName} 0 65536" : $"disk bench {p.DiskName} 100000";
                vm.SkipPending();
                vm.SendLine(command);
                Thread.Sleep(IoHeadStartMs);
                report.DiskUnplugsUnderIo++;
            }
            var sw = Stopwatch.StartNew();
            try
            {
                vm.Qmp.DeviceDel(top.Id);
            }
            catch (QmpException e)
            {
                report.Failures.Add($"{p.Controller.Id} port {p.Port}: device_del {top.Id} refused: {e.Message}");
                return;
            }
            // Noticed: the kernel's "USB disconnect" line (removal starts). Gone: its "unbound from driver usb" line,
            // the last one of the removal (children go first), after which the listing no longer shows it.
            double noticed = 0, gone = 0;
            bool allGone = true;
            foreach (var d in p.Devices)
            {
                var disconnect = new Regex(@"usb " + Regex.Escape(d.KernelName) + @": USB disconnect");
                var unbound = new Regex(@"usb " + Regex.Escape(d.KernelName) + @": unbound from driver usb\n");
                if (WaitLog(vm, since, disconnect, o.GoneHardLimit, out _) == null)
                {
                    report.Failures.Add($"{p.Controller.Id} port {d.Port}: {d.Driver} {d.KernelName}: no USB disconnect within {o.GoneHardLimit.TotalSeconds:F0} s of device_del {top.Id}");
                    allGone = false;
                    continue;
                }
                noticed = Math.Max(noticed, sw.Elapsed.TotalMilliseconds);
                if (WaitLog(vm, since, unbound, o.GoneHardLimit, out _) == null)
                {
                    report.Failures.Add($"{p.Controller.Id} port {d.Port}: {d.Driver} {d.KernelName}: removal not finished within {o.GoneHardLimit.TotalSeconds:F0} s of device_del {top.Id}");
                    allGone = false;
                    continue;
                }
                gone = Math.Max(gone, sw.Elapsed.TotalMilliseconds);
            }
            if (allGone && gone > o.GoneTimeout.TotalMilliseconds)
                report.Failures.Add($"{p.Controller.Id} port {p.Port}: {p.Kind} ({string.Join(", ", p.Devices.Select(d => d.KernelName))}) gone only {gone:F0} ms after device_del (bound {o.GoneTimeout.TotalSeconds:F0} s)");
            if (allGone)
            {
                report.UnplugToNoticed.Add((p.Controller.Family, p.Kind, noticed));
                report.UnplugToGone.Add((p.Controller.Family, p.Kind, gone));
            }
            report.DevicesUnplugged += p.Devices.Count;
            if (p.Kind == "usb-hub" && p.Devices.Count > 1) report.HubUnplugsWithChildren++;
            if (p.DiskImage >= 0) diskInUse[p.DiskImage] = false;
            if (command != null)
            {
                string verb = command.Split(' ')[1];
                try
                {
                    vm.WaitFor(Regex.Escape(QemuMachine.Prompt), o.ShellTimeout);
                    string output = vm.LogSince(since);
                    if (Regex.IsMatch(output, @"disk " + verb + @": " + Regex.Escape(p.DiskName) + @" LBA \d+: \S"))
                        report.DiskCommandsEndedInError++;
                    else if (Regex.IsMatch(output, @"MB/s|fnv1a32"))
                        report.DiskCommandsFinishedFirst++;
                    else
                        report.Failures.Add($"`{command}` on an unplugged disk returned without an error line: {Tail(output)}");
                }
                catch (QemuWaitException)
                {
                    report.Failures.Add($"`{command}`: no prompt within {o.ShellTimeout.TotalSeconds:F0} s after its disk was unplugged (shell hung)");
                }
            }
        }

        static string Tail(string s) => s.Length > 300 ? "..." + s.Substring(s.Length - 300) : s;

        /// <summary>Polls the log from <paramref name="since"/> for <paramref name="regex"/> (bounded); group 1, if a bus number, must pass <paramref name="busOk"/>.</summary>
        static Match WaitLog(QemuMachine vm, int since, Regex regex, TimeSpan timeout, out double ms, Func<int, bool> busOk = null)
        {
            var sw = Stopwatch.StartNew();
            while (true)
            {
                foreach (Match m in regex.Matches(vm.LogSince(since)))
                    if (busOk == null || busOk(int.Parse(m.Groups[1].Value)))
                    {
                        ms = sw.Elapsed.TotalMilliseconds;
                        return m;
                    }
                if (sw.Elapsed > timeout || vm.HasExited) { ms = 0; return null; }
                Thread.Sleep(5);
            }
        }

        static void TryDelete(QemuMachine vm, string id)
        {
            try { vm.Qmp.DeviceDel(id); } catch (QmpException) { }
        }

        static readonly Regex LiveExploreWorker = new(@"usb_hub_wq\s+(ready|running|sleeping|blocked)");
        /// <summary>Idle explore workers end after 5 s (UsbWorkQueue.IdleExitMs); wait a little longer than that.</summary>
        static readonly TimeSpan ExploreWorkersEnd = TimeSpan.FromSeconds(12);

        /// <summary>
        /// Waits (bounded) until the USB explore workers have ended: a parked worker's stack may still
        /// point at the last device it handled, which the conservative collector then keeps alive, so
        /// the end figures are read once the workers are gone.
        /// </summary>
        static void WaitForExploreWorkersToEnd(QemuMachine vm)
        {
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < QemuMachine.Scaled(ExploreWorkersEnd.TotalSeconds))
            {
                vm.SkipPending();
                if (!LiveExploreWorker.IsMatch(vm.RunCommand("threads", QemuMachine.Scaled(10))))
                    return;
                Thread.Sleep(500);
            }
        }

        /// <summary>Runs `gc` (a collection, then the `mem` report) and parses heap and DMA figures.</summary>
        public static MemoryFigures Memory(QemuMachine vm)
        {
            vm.SkipPending();
            string text = vm.RunCommand("gc", QemuMachine.Scaled(30));
            var heap = GcHeap.Match(text);
            var dma = GcDma.Match(text);
            if (!heap.Success || !dma.Success) return null;
            var types = MemoryFigures.ParseTypes(vm.RunCommand("mem types " + TypeRowsListed, QemuMachine.Scaled(30)));
            return new MemoryFigures(long.Parse(heap.Groups[1].Value), long.Parse(dma.Groups[1].Value), int.Parse(dma.Groups[2].Value), types);
        }

        static readonly Regex QemuInfoLine = new(@"Device (\d+)\.(\d+), Port ([\d.]+), Speed [^,]+, Product ([^,]+?)(?:, ID: (\S+))?\s*$", RegexOptions.Multiline);
        static readonly Regex TreeBus = new(@"^/:  Bus (\d+)\.Port 1: Dev 1, Class=root_hub, Driver=([^/,]+)");
        static readonly Regex TreeDevice = new(@"^(?<indent>\s*)\|__ Port (?<port>\d+): Dev (?<dev>\d+), If (?<if>\d+),");

        /// <summary>
        /// The kernel's listing (`lsusb -t` for port paths, `lsusb` for products), QEMU's `info usb` and the storm's own
        /// book-keeping must name the same devices: (controller, port path, product). Returns the first difference or null.
        /// </summary>
        static string CompareListing(QemuMachine vm, IEnumerable<Plugged> plugged, Dictionary<string, HashSet<int>> buses, out int count)
        {
            var ids = new Dictionary<string, (Controller C, QemuDevice D)>();
            foreach (var p in plugged)
                foreach (var d in p.Devices) ids[d.Id] = (p.Controller, d);
            count = ids.Count;

            // QEMU: only devices with our ids exist; every one of ours must be there.
            string info = vm.Qmp.HumanMonitorCommand("info usb");
            var qemu = new List<string>();
            foreach (Match m in QemuInfoLine.Matches(info))
            {
                string id = m.Groups[5].Value;
                if (!ids.TryGetValue(id, out var e)) return $"QEMU lists a device the storm did not plug or already unplugged: {m.Value.Trim()}\ninfo usb:\n{info}";
                if (e.D.Port != m.Groups[3].Value) return $"QEMU has {id} at port {m.Groups[3].Value}, the storm plugged it at {e.D.Port}";
                qemu.Add(Key(e.C.Family, m.Groups[3].Value, Product(m.Groups[4].Value.Trim())));
            }
            if (qemu.Count != ids.Count) return $"QEMU lists {qemu.Count} devices, the storm has {ids.Count} plugged\ninfo usb:\n{info}";

            vm.SkipPending();
            string tree = vm.RunCommand("lsusb -t", QemuMachine.Scaled(30));
            vm.SkipPending();
            string list = vm.RunCommand("lsusb", QemuMachine.Scaled(30));
            // Products from the devices' own strings (`usb devices`): lsusb prints usb.ids names.
            vm.SkipPending();
            var products = KernelDeviceStrings.Of(vm, QemuMachine.Scaled(30));
            var kernel = new List<string>();
            var stack = new List<string>();
            string family = null;
            int bus = 0;
            foreach (string raw in tree.Split('\n'))
            {
                string line = raw.TrimEnd();
                var b = TreeBus.Match(line);
                if (b.Success)
                {
                    bus = int.Parse(b.Groups[1].Value);
                    family = buses.FirstOrDefault(x => x.Value.Contains(bus)).Key;
                    stack.Clear();
                    continue;
                }
                var d = TreeDevice.Match(line);
                if (!d.Success) continue;
                int level = (d.Groups["indent"].Value.Length - 4) / 4;
                while (stack.Count > level) stack.RemoveAt(stack.Count - 1);
                if (stack.Count == level) stack.Add(d.Groups["port"].Value); else stack[level] = d.Groups["port"].Value;
                if (d.Groups["if"].Value != "0") continue;   // one line per interface; count devices once
                string path = string.Join(".", stack);
                int dev = int.Parse(d.Groups["dev"].Value);
                kernel.Add(Key(family ?? "bus" + bus, path, products.TryGetValue((bus, dev), out var prod) ? Product(prod) : "?"));
            }
            qemu.Sort(StringComparer.Ordinal);
            kernel.Sort(StringComparer.Ordinal);
            if (!qemu.SequenceEqual(kernel))
                return $"kernel [{string.Join(", ", kernel)}] vs QEMU [{string.Join(", ", qemu)}]\nlsusb -t:\n{tree}\nlsusb:\n{list}\ninfo usb:\n{info}";
            return null;
        }

        static string Key(string family, string port, string product) => family + ":" + port + ":" + product;

        /// <summary>Product names normalized: lsusb prints "Manufacturer Product", QEMU the model description.</summary>
        static string Product(string text)
        {
            foreach (var (pattern, name) in new[] { ("Keyboard", "kbd"), ("Mouse", "mouse"), ("Tablet", "tablet"), ("HARDDRIVE", "disk"), ("MSD", "disk"), ("Hub", "hub") })
                if (text.Contains(pattern)) return name;
            return text;
        }
    }
}
