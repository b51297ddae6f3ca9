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
    /// </summary>
    static class DiskBench
    {
        public static readonly string[] DefaultControllers = { "ehci", "xhci" };
        const string DefaultReference = "/work/shared/linux-reference";
        const int DiskMiB = 64;
        static readonly Regex Rate = new(@"disk bench: (\d+) MiB in (\d+) ms \(([\d.]+) MB/s\)");

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
                    for (int run = 1; run <= o.Runs; run++)
                    {
                        string logFile = Path.Combine(logs, $"{label}-{run}.log");
                        var (r, w, error) = RunOurs(root, iso, work, machine, logFile);
                        if (error != null) { read.Figures.Errors.Add(error); write.Figures.Errors.Add(error); }
                        else { read.Figures.Ours.Add(r); write.Figures.Ours.Add(w); }
                        Console.WriteLine($"  {label,-5} run {run}/{o.Runs}: ours " + (error == null ? $"read {r:F1} MB/s, write {w:F1} MB/s" : "FAILED: " + error));
                        if (linuxUnavailable != null || uas) continue;
                        foreach (var cell in new[] { read, write })
                        {
                            var (mbps, lerror, fatal) = LinuxReference.Run(reference, c, cell.Op, cell.Op + "_MBps");
                            if (fatal) { linuxUnavailable = lerror; Console.WriteLine($"  Linux reference unavailable: {lerror}; measuring ours only"); break; }
                            if (lerror == null) cell.Figures.Linux.Add(mbps); else cell.Figures.Errors.Add("Linux: " + lerror);
                            Console.WriteLine($"  {c,-5} run {run}/{o.Runs}: linux {cell.Op} " + (lerror == null ? $"{mbps:F1} MB/s" : "FAILED: " + lerror));
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
                var notes = cell.Figures.Notes("F1");
                ok &= cell.Figures.Errors.Count == 0;
                if (cell.Controller.EndsWith("-uas")) notes.Add("usb-uas; no Linux UAS reference");
                else if (linuxUnavailable != null && cell.Figures.Linux.Count == 0) notes.Add("Linux not measured");
                Console.WriteLine($"{cell.Controller,-10} {cell.Op,-5} {cell.Figures.Figures("F1")}  {string.Join("; ", notes)}");
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


        /// <summary>One boot: the read bench, then the write bench (with its verify); MB/s of both, or an error.</summary>
        static (double Read, double Write, string Error) RunOurs(string root, string iso, string work, List<string> machine, string logFile)
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
                string read = vm.RunCommand($"disk bench sda {DiskMiB}", QemuMachine.Scaled(120));
                string write = vm.RunCommand($"disk bench sda {DiskMiB} write", QemuMachine.Scaled(240));
                Match r = Rate.Match(read), w = Rate.Match(write);
                if (!r.Success) return (0, 0, "read: " + read.Trim());
                if (!w.Success) return (0, 0, "write: " + write.Trim());
                if (!write.Contains(", 0 bad sectors")) return (0, 0, "write verify: " + write.Trim());
                return (Parse(r.Groups[3].Value), Parse(w.Groups[3].Value), null);
            }
            catch (QemuWaitException e)
            {
                return (0, 0, e.Message);
            }
            finally { File.WriteAllText(logFile, "# " + vm.CommandLine + "\n" + vm.Log); }
        }

        static double Parse(string text) => double.Parse(text, CultureInfo.InvariantCulture);
    }
}
