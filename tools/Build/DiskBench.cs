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
    /// `build.sh bench disk`: our `disk bench` read and write MB/s beside Linux 6.1's dd on the same QEMU
    /// command line (the Linux reference's qemu-args.sh CONTROLLER read: one usb-storage with a 64 MiB
    /// raw image on root port 1). Ours: `disk bench sda 64` (read) and `disk bench sda 64 write` (the
    /// whole disk; the time ends when the last CSW confirmed the last block, then it is read back and
    /// verified). Linux: run.sh CONTROLLER read / write (dd with 64 KiB blocks and O_DIRECT; its write
    /// time also ends before the final sync). Runs alternate ours/Linux so both see the same machine load.
    /// On EHCI and xHCI a "uas" row follows: the same machine with the disk behind usb-uas + scsi-hd
    /// (UAS: no streams on EHCI, bulk streams on xHCI), ours only (the Linux reference has no UAS run).
    /// UHCI and OHCI (`--controllers uhci,ohci`; not in the default run: UHCI moves 64 MiB at about
    /// 1.2 MB/s, some 6 minutes per run) print the limit beside their rows: see <see cref="Limit"/>.
    /// MB/s are computed from the kernel's "N MiB in M ms" (its own one-decimal figure truncates).
    /// </summary>
    static class DiskBench
    {
        public static readonly string[] DefaultControllers = { "ehci", "xhci" };
        const string DefaultReference = "/work/shared/linux-reference";
        const int DiskMiB = 64;
        static readonly Regex Rate = new(@"disk bench: (\d+) MiB in (\d+) ms \(([\d.]+) MB/s\)");
        /// <summary>Full-speed bulk on the wire (USB 2.0 5.8.4): at most 19 packets of 64 bytes per 1 ms frame.</summary>
        const double FullSpeedWireMBps = 19 * 64 / 1000.0;
        /// <summary>QEMU's UHCI stops a frame's schedule once 1280 bytes moved (hcd-uhci.c, property "bandwidth"): 20 packets of 64 bytes.</summary>
        const double QemuUhciMBps = 1280 / 1000.0;

        /// <summary>
        /// What limits a controller's row, printed beside it. UHCI: QEMU's per-frame budget of 1280 bytes
        /// (above the wire's 1216). OHCI: QEMU 7.2 does not pace it (every queued TD of the bulk list runs
        /// at each 1 ms frame boundary, a whole IN TD as one packet), so the limit is one list pass per
        /// frame: a Bulk-Only command takes at least 3 frames (CBW, data, CSW, each queued after the one
        /// before completed), i.e. command bytes / 3 ms: 64 KiB (Linux's dd) gives 21.8 MB/s.
        /// </summary>
        static string Limit(string controller) => controller switch
        {
            "uhci" => $"limit: QEMU {QemuUhciMBps:F2} MB/s (1280 B/frame), wire {FullSpeedWireMBps:F2}",
            "ohci" => $"limit: wire {FullSpeedWireMBps:F2} MB/s; QEMU unpaced: 3 frames per command = 64 KiB/3 ms 21.8 MB/s, 256 KiB/3 ms 87.4 MB/s",
            _ => null,
        };

        sealed class Cell
        {
            public string Controller, Op;
            public SideBySide Figures = new();
        }

        public static int Run(string root, Options o, string iso)
        {
            string reference = o.LinuxReference ?? Environment.GetEnvironmentVariable("LINUX_REFERENCE") ?? DefaultReference;
            string argsScript = Path.Combine(reference, "qemu-args.sh");
            if (!File.Exists(argsScript))
                throw new BuildException($"bench disk: {argsScript} not found (set --linux-ref DIR or LINUX_REFERENCE)");
            var controllers = o.Controllers ?? DefaultControllers.ToList();
            string work = Path.Combine(Path.GetTempPath(), "kdbench-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(work);
            string logs = Path.Combine(root, "out", "bench-disk");
            Directory.CreateDirectory(logs);
            Console.WriteLine($"bench disk: machine args from {argsScript} (read scenario, {DiskMiB} MiB usb-storage); our serial logs in {Program.Rel(root, logs)}/");
            var cells = new List<Cell>();
            string linuxUnavailable = null;
            try
            {
                string disk = Path.Combine(work, "disk.raw");
                using (var f = new FileStream(disk, FileMode.Create, FileAccess.Write)) f.SetLength((long)DiskMiB << 20);
                var variants = new List<(string Controller, bool Uas)>();
                foreach (var c in controllers)
                {
                    variants.Add((c, false));
                    if (c == "ehci" || c == "xhci") variants.Add((c, true));
                }
                foreach (var (c, uas) in variants)
                {
                    string label = uas ? c + "-uas" : c;
                    var read = new Cell { Controller = label, Op = "read" };
                    var write = new Cell { Controller = label, Op = "write" };
                    cells.Add(read);
                    cells.Add(write);
                    List<string> machine = EnumBench.MachineArgs(argsScript, c, "read", disk);
                    if (uas) machine = WithUas(machine);
                    // Full speed moves about 1.2 MB/s: 64 MiB read takes about a minute, write + verify two.
                    bool fullSpeed = c == "uhci" || c == "ohci";
                    for (int run = 1; run <= o.Runs; run++)
                    {
                        string logFile = Path.Combine(logs, $"{label}-{run}.log");
                        var (r, w, error) = RunOurs(root, iso, work, machine, logFile, fullSpeed ? 4 : 1);
                        if (error != null) { read.Figures.Errors.Add(error); write.Figures.Errors.Add(error); }
                        else { read.Figures.Ours.Add(r); write.Figures.Ours.Add(w); }
                        Console.WriteLine($"  {label,-5} run {run}/{o.Runs}: ours " + (error == null ? $"read {r:F2} MB/s, write {w:F2} MB/s" : "FAILED: " + error));
                        if (linuxUnavailable != null || uas) continue;
                        foreach (var cell in new[] { read, write })
                        {
                            var (mbps, lerror, fatal) = LinuxReference.Run(reference, c, cell.Op, cell.Op + "_MBps");
                            if (fatal) { linuxUnavailable = lerror; Console.WriteLine($"  Linux reference unavailable: {lerror}; measuring ours only"); break; }
                            if (lerror == null) cell.Figures.Linux.Add(mbps); else cell.Figures.Errors.Add("Linux: " + lerror);
                            Console.WriteLine($"  {c,-5} run {run}/{o.Runs}: linux {cell.Op} " + (lerror == null ? $"{mbps:F2} MB/s" : "FAILED: " + lerror));
                        }
                    }
                }
            }
            finally
            {
                try { Directory.Delete(work, recursive: true); } catch { }
            }

            Console.WriteLine();
            Console.WriteLine($"disk throughput, {DiskMiB} MiB sequential, MB/s (10^6 bytes/s), median of {o.Runs} run(s); ratio = ours / Linux (goal ≥ 1)");
            Console.WriteLine($"{"controller",-10} {"op",-5} {"ours",8} {"Linux",8} {"ratio",6}  notes");
            bool ok = true;
            foreach (var cell in cells)
            {
                var notes = cell.Figures.Notes("F2");
                ok &= cell.Figures.Errors.Count == 0;
                if (cell.Controller.EndsWith("-uas")) notes.Add("usb-uas; no Linux UAS reference");
                else if (linuxUnavailable != null && cell.Figures.Linux.Count == 0) notes.Add("Linux not measured");
                string limit = Limit(cell.Controller);
                if (limit != null) notes.Add(limit);
                Console.WriteLine($"{cell.Controller,-10} {cell.Op,-5} {cell.Figures.Figures("F2")}  {string.Join("; ", notes)}");
            }
            if (linuxUnavailable != null) Console.WriteLine($"Linux reference unavailable: {linuxUnavailable}");
            return ok ? 0 : 1;
        }

        /// <summary>The reference's machine with its usb-storage turned into usb-uas + scsi-hd on the same bus, port and drive.</summary>
        static List<string> WithUas(List<string> machine)
        {
            var result = new List<string>();
            foreach (string word in machine)
            {
                if (!word.StartsWith("usb-storage,"))
                {
                    result.Add(word);
                    continue;
                }
                var options = word.Substring("usb-storage,".Length).Split(',').ToList();
                string drive = options.First(x => x.StartsWith("drive=")).Substring("drive=".Length);
                options.RemoveAll(x => x.StartsWith("drive="));
                result.Add("usb-uas,id=benchuas," + string.Join(",", options));
                result.Add("-device");
                result.Add("scsi-hd,bus=benchuas.0,scsi-id=0,lun=0,drive=" + drive);
            }
            return result;
        }


        /// <summary>One boot: the read bench, then the write bench (with its verify); MB/s of both, or an error. <paramref name="slow"/> stretches the command timeouts.</summary>
        static (double Read, double Write, string Error) RunOurs(string root, string iso, string work, List<string> machine, string logFile, int slow)
        {
            var lo = new QemuLaunchOptions { RepoRoot = root, Iso = iso, MachineArgs = machine, WorkDir = Path.Combine(work, "vm") };
            using var vm = QemuMachine.Start(lo);
            try
            {
                vm.WaitForPrompt(QemuMachine.Scaled(60));
                var sw = Stopwatch.StartNew();
                while (!vm.Log.Contains("] Attached SCSI"))
                {
                    if (sw.Elapsed > QemuMachine.Scaled(60)) return (0, 0, "no disk attached");
                    System.Threading.Thread.Sleep(100);
                }
                vm.SkipPending();
                string read = vm.RunCommand($"disk bench sda {DiskMiB}", QemuMachine.Scaled(120 * slow));
                string write = vm.RunCommand($"disk bench sda {DiskMiB} write", QemuMachine.Scaled(240 * slow));
                Match r = Rate.Match(read), w = Rate.Match(write);
                if (!r.Success) return (0, 0, "read: " + read.Trim());
                if (!w.Success) return (0, 0, "write: " + write.Trim());
                if (!write.Contains(", 0 bad sectors")) return (0, 0, "write verify: " + write.Trim());
                return (MBps(r), MBps(w), null);
            }
            catch (QemuWaitException e)
            {
                return (0, 0, e.Message);
            }
            finally { File.WriteAllText(logFile, "# " + vm.CommandLine + "\n" + vm.Log); }
        }

        /// <summary>MB/s (10^6 bytes) from "N MiB in M ms": bytes per millisecond / 1000.</summary>
        static double MBps(Match m) =>
            (double)(long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) << 20) /
            Math.Max(1, long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)) / 1000.0;
    }
}
