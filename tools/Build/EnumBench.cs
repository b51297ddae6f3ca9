using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;

namespace KernelBuild
{
    /// <summary>
    /// `build.sh bench enum`: our kernel and Linux 6.1 side by side on identical QEMU machines. The machine
    /// and USB topology come from the Linux reference's qemu-args.sh (CONTROLLER SCENARIO), our kernel boots
    /// from the ISO instead of -kernel/-initrd. Both sides measure the same interval from their own kernel
    /// log: the first "new USB bus registered" line → the last of {every HID interface bound, the SCSI disk
    /// attached, every external hub's "N ports detected"} (Linux: guest-init.sh, hid-generic "input",
    /// "Attached SCSI", hub "ports detected"). Runs alternate ours/Linux so both see the same machine load.
    /// </summary>
    static class EnumBench
    {
        public static readonly string[] AllControllers = { "uhci", "ohci", "ehci", "xhci" };
        public static readonly string[] AllScenarios = { "enum", "hub" };
        const string DefaultReference = "/work/shared/linux-reference";
        /// <summary>Bound for our kernel to reach the prompt and then to bind every expected device.</summary>
        const double BootSeconds = 60, EnumerationSeconds = 60;
        /// <summary>Bound for one Linux run (run.sh's own RUN_TIMEOUT).</summary>
        /// <summary>Size of the usb-storage image, as the reference's DISK_MB default.</summary>
        const int DiskMB = 64;
        const string RefusedPrefix = "n/a: ";

        static readonly Regex BusRegistered = new(@"^(?:kernel> +)?\[\s*(\d+\.\d+)\] .*: new USB bus registered", RegexOptions.Multiline);
        static readonly Regex HidBound = new(@"^(?:kernel> +)?\[\s*(\d+\.\d+)\] usb \d+-[\d.]+:\d+\.\d+: bound to driver usbhid", RegexOptions.Multiline);
        static readonly Regex DiskAttached = new(@"^(?:kernel> +)?\[\s*(\d+\.\d+)\] sd .*\] Attached SCSI", RegexOptions.Multiline);
        /// <summary>External hubs only (root hubs are named N-0:1.0), as Linux's `hub N-p:1.0: K ports detected`.</summary>
        static readonly Regex HubDetected = new(@"^(?:kernel> +)?\[\s*(\d+\.\d+)\] hub \d+-[1-9][\d.]*:1\.0: \d+ ports? detected", RegexOptions.Multiline);

        /// <summary>What each scenario must show before it counts as enumerated (reference anchor_expect): HID, disks, hubs.</summary>
        static (int Hid, int Disks, int Hubs) Expected(string scenario) => scenario == "hub" ? (3, 1, 1) : (3, 1, 0);

        sealed class Cell
        {
            public string Controller, Scenario;
            public List<double> Ours = new(), OursHost = new(), Linux = new();
            public List<string> OursErrors = new(), LinuxErrors = new();
            /// <summary>Set when QEMU itself refuses the topology (e.g. a full-speed usb-hub on a standalone EHCI).</summary>
            public string NotApplicable;
        }

        public static int Run(string root, Options o, string iso)
        {
            string reference = o.LinuxReference ?? Environment.GetEnvironmentVariable("LINUX_REFERENCE") ?? DefaultReference;
            string argsScript = Path.Combine(reference, "qemu-args.sh");
            if (!File.Exists(argsScript))
                throw new BuildException($"bench enum: {argsScript} not found (the machine arguments come from the Linux reference; set --linux-ref DIR or LINUX_REFERENCE)");
            var controllers = o.Controllers ?? AllControllers.ToList();
            var scenarios = o.Scenarios ?? AllScenarios.ToList();
            string linuxUnavailable = null;
            var cells = new List<Cell>();
            string work = Path.Combine(Path.GetTempPath(), "kbench-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(work);
            string logs = Path.Combine(root, "out", "bench-enum");
            Directory.CreateDirectory(logs);
            Console.WriteLine($"bench enum: machine args from {argsScript}; our serial logs in {Program.Rel(root, logs)}/, Linux's under ~/.cache/linux-anchor/logs/");
            try
            {
                string disk = Path.Combine(work, "stick.raw");
                using (var f = new FileStream(disk, FileMode.Create, FileAccess.Write)) f.SetLength((long)DiskMB << 20);
                foreach (var c in controllers)
                    foreach (var s in scenarios)
                    {
                        var cell = new Cell { Controller = c, Scenario = s };
                        cells.Add(cell);
                        List<string> machine = MachineArgs(argsScript, c, s, disk);
                        for (int run = 1; run <= o.Runs; run++)
                        {
                            string logFile = Path.Combine(logs, $"{c}-{s}-{run}.log");
                            var (ms, hostMs, error) = RunOurs(root, iso, work, machine, s, logFile);
                            if (error != null && error.StartsWith(RefusedPrefix))
                            {
                                cell.NotApplicable = error;
                                Console.WriteLine($"  {c,-5} {s,-4}: {error}; skipped (Linux gets the same machine)");
                                break;
                            }
                            if (error == null) { cell.Ours.Add(ms); cell.OursHost.Add(hostMs); } else cell.OursErrors.Add(error);
                            Console.WriteLine($"  {c,-5} {s,-4} run {run}/{o.Runs}: ours {(error == null ? $"{ms:F0} ms (host clock {hostMs:F0} ms)" : "FAILED: " + error)}");
                            if (linuxUnavailable != null) continue;
                            var (lms, lerror, fatal) = LinuxReference.Run(reference, c, s, "enum_ms");
                            if (fatal) { linuxUnavailable = lerror; Console.WriteLine($"  Linux reference unavailable: {lerror}; measuring ours only"); continue; }
                            if (lerror == null) cell.Linux.Add(lms); else cell.LinuxErrors.Add(lerror);
                            Console.WriteLine($"  {c,-5} {s,-4} run {run}/{o.Runs}: linux {(lerror == null ? $"{lms:F0} ms" : "FAILED: " + lerror)}");
                        }
                    }
            }
            finally
            {
                try { Directory.Delete(work, recursive: true); } catch { }
            }

            Console.WriteLine();
            Console.WriteLine($"enumeration: first 'new USB bus registered' → last device bound (HID bound, SCSI disk attached, external hub detected), median of {o.Runs} run(s)");
            Console.WriteLine("  ours ms: our kernel's log timestamps (TSC-based);");
            Console.WriteLine("  ours host: the same two log lines timed by their arrival on the host's clock; Linux ms: Linux's log timestamps (TSC-based)");
            Console.WriteLine("  ratio = ours host / Linux (the honest one); ratio(k) = ours ms / Linux. Goal: ratio ≤ 0.5");
            Console.WriteLine($"{"controller",-10} {"scenario",-8} {"ours ms",8} {"ours host",9} {"Linux ms",9} {"ratio",6} {"ratio(k)",8}  notes");
            bool allOk = true;
            foreach (var cell in cells)
            {
                double? ours = SideBySide.Median(cell.Ours), host = SideBySide.Median(cell.OursHost), linux = SideBySide.Median(cell.Linux);
                string ratio = host.HasValue && linux.HasValue ? (host.Value / linux.Value).ToString("F2", CultureInfo.InvariantCulture) : "-";
                string ratioK = ours.HasValue && linux.HasValue ? (ours.Value / linux.Value).ToString("F2", CultureInfo.InvariantCulture) : "-";
                var notes = new List<string>();
                if (cell.NotApplicable != null) notes.Add(cell.NotApplicable);
                if (cell.OursErrors.Count > 0) { notes.Add($"ours failed {cell.OursErrors.Count}x: {cell.OursErrors[0]}"); allOk = false; }
                if (cell.LinuxErrors.Count > 0) notes.Add($"Linux failed {cell.LinuxErrors.Count}x: {cell.LinuxErrors[0]}");
                if (linuxUnavailable != null && cell.Linux.Count == 0) notes.Add("Linux not measured");
                if (cell.OursHost.Count > 1) notes.Add($"ours host {cell.OursHost.Min():F0}..{cell.OursHost.Max():F0}");
                if (cell.Linux.Count > 1) notes.Add($"Linux {cell.Linux.Min():F0}..{cell.Linux.Max():F0}");
                Console.WriteLine($"{cell.Controller,-10} {cell.Scenario,-8} {Show(ours),8} {Show(host),9} {Show(linux),9} {ratio,6} {ratioK,8}  {string.Join("; ", notes)}");
            }
            if (linuxUnavailable != null)
                Console.WriteLine($"Linux reference unavailable: {linuxUnavailable}");
            return allOk ? 0 : 1;
        }

        static string Show(double? v) => v.HasValue ? v.Value.ToString("F0", CultureInfo.InvariantCulture) : "-";

        /// <summary>The reference's machine + topology arguments for (controller, scenario), without the QEMU binary.</summary>
        internal static List<string> MachineArgs(string script, string controller, string scenario, string disk)
        {
            var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(script);
            psi.ArgumentList.Add(controller);
            psi.ArgumentList.Add(scenario);
            psi.Environment["ANCHOR_DISK"] = disk;
            using var p = Process.Start(psi);
            string output = p.StandardOutput.ReadToEnd();
            string error = p.StandardError.ReadToEnd();
            if (!p.WaitForExit(30000) || p.ExitCode != 0)
                throw new BuildException($"bench enum: {script} {controller} {scenario} failed: {error.Trim()}");
            // The script prints one line of words without embedded spaces ("$QEMU ${ANCHOR_ARGS[*]}").
            var words = output.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
            if (words.Count < 2 || !words[0].Contains("qemu"))
                throw new BuildException($"bench enum: unexpected output of {script}: {output.Trim()}");
            words.RemoveAt(0);
            return words;
        }

        /// <summary>Boots our kernel on the given machine and returns the enumeration time from its log, or an error.</summary>
        static (double Ms, double HostMs, string Error) RunOurs(string root, string iso, string work, List<string> machine, string scenario, string logFile)
        {
            var lo = new QemuLaunchOptions { RepoRoot = root, Iso = iso, MachineArgs = machine, WorkDir = Path.Combine(work, "vm") };
            using var vm = QemuMachine.Start(lo);
            try { return MeasureOurs(vm, scenario); }
            finally { File.WriteAllText(logFile, "# " + vm.CommandLine + "\n" + vm.Log); }
        }

        static (double Ms, double HostMs, string Error) MeasureOurs(QemuMachine vm, string scenario)
        {
            try
            {
                vm.WaitForPrompt(QemuMachine.Scaled(BootSeconds));
            }
            catch (QemuWaitException e)
            {
                if (vm.HasExited && vm.Stderr.Contains("peed mismatch"))
                    return (0, 0, RefusedPrefix + "QEMU refuses this topology: " + vm.Stderr.Trim().Split('\n')[0]);
                return (0, 0, "no prompt: " + e.Message + (vm.Stderr.Length > 0 ? " (QEMU: " + vm.Stderr.Trim() + ")" : ""));
            }
            var expected = Expected(scenario);
            var limit = Stopwatch.StartNew();
            while (true)
            {
                string log = vm.Log;
                int hid = HidBound.Matches(log).Count, disks = DiskAttached.Matches(log).Count, hubs = HubDetected.Matches(log).Count;
                if (hid >= expected.Hid && disks >= expected.Disks && hubs >= expected.Hubs)
                {
                    var (kernelMs, firstEnd, lastEnd) = Enumeration(log);
                    var t0 = vm.ArrivalOf(firstEnd - 1);
                    var t1 = vm.ArrivalOf(lastEnd - 1);
                    return (kernelMs, t0.HasValue && t1.HasValue ? (t1.Value - t0.Value).TotalMilliseconds : double.NaN, null);
                }
                if (vm.HasExited)
                    return (0, 0, $"QEMU exited with status {vm.ExitCode} ({hid} HID, {disks} disk(s), {hubs} hub(s) bound)");
                if (limit.Elapsed > QemuMachine.Scaled(EnumerationSeconds))
                    return (0, 0, $"after {EnumerationSeconds:F0} s only {hid}/{expected.Hid} HID, {disks}/{expected.Disks} disk(s), {hubs}/{expected.Hubs} hub(s) bound");
                System.Threading.Thread.Sleep(100);
            }
        }

        /// <summary>
        /// First bus registered → last HID bound / disk attached / external hub detected, from the log's timestamps;
        /// also the end offsets of those two lines (for their host arrival times).
        /// </summary>
        public static (double Ms, int FirstEnd, int LastEnd) Enumeration(string log)
        {
            var first = BusRegistered.Match(log);
            if (!first.Success) return (double.NaN, 0, 0);
            double start = Seconds(first.Groups[1].Value), last = start;
            int lastEnd = first.Index + first.Length;
            foreach (var r in new[] { HidBound, DiskAttached, HubDetected })
                foreach (Match m in r.Matches(log))
                {
                    double t = Seconds(m.Groups[1].Value);
                    if (t >= last) { last = t; lastEnd = m.Index + m.Length; }
                }
            return ((last - start) * 1000, first.Index + first.Length, lastEnd);
        }

        static double Seconds(string text) => double.Parse(text, CultureInfo.InvariantCulture);
    }
}
