using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;

namespace KernelBuild
{
    /// <summary>
    /// `build.sh bench usbip`: the read rate a real Linux client gets from a disk our kernel exports over
    /// USB/IP, beside the Linux-to-Linux figure on the same machine. Both use shared/linux-usbip: its
    /// client.sh (Debian 6.1 vhci-hcd + usbip 2.0 in QEMU) reads 16 MiB with dd O_DIRECT and checks
    /// pattern.py's pattern. Ours: the kernel with the disk on the controller's root port 1, bound to
    /// usbip-host, e1000 + hostfwd. Linux: selftest.sh --ctrl C (server.sh: a Linux usbip-host/usbipd
    /// guest with the same disk layout). Runs alternate ours/Linux so both see the same machine load.
    /// </summary>
    static class UsbIpBench
    {
        public static readonly string[] DefaultControllers = { "ehci", "xhci" };
        const int ReadMiB = 16;
        const int SectorsPerMiB = 2048;
        static readonly Regex ClientRate = new(@"PEER read bytes=\d+ secs=\S+ read_MBps=([\d.]+)");
        static readonly Regex DiskBusId = new(@"usb (\d+-\d+): New USB device found, idVendor=46f4");
        static readonly Regex SelftestRate = new(@"SELFTEST status=ok .*read_MBps=([\d.]+)");

        sealed class Cell
        {
            public string Controller;
            public SideBySide Figures = new();
        }

        /// <summary>The controllers' QEMU devices: the export sits on root port 1 of the only controller.</summary>
        static readonly Dictionary<string, string> ControllerDevice = new()
        {
            ["uhci"] = "piix3-usb-uhci", ["ohci"] = "pci-ohci", ["ehci"] = "usb-ehci", ["xhci"] = "qemu-xhci",
        };

        public static int Run(string root, Options o, string iso)
        {
            var peer = LinuxUsbIpPeer.Find() ?? throw new BuildException("bench usbip: the Linux USB/IP peer (shared/linux-usbip/client.sh) is not there (set LINUX_USBIP)");
            // Like for like: our kernel has an e1000 (no virtio-net driver), so the Linux server gets one too, and
            // the client the same NIC in both measurements ($USBIP_BENCH_NIC=virtio: the peer's default instead).
            peer.Nic = System.Environment.GetEnvironmentVariable("USBIP_BENCH_NIC") ?? "e1000";
            var controllers = o.Controllers ?? DefaultControllers.ToList();
            string work = Path.Combine(Path.GetTempPath(), "kubench-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(work);
            string logs = Path.Combine(root, "out", "bench-usbip");
            Directory.CreateDirectory(logs);
            Console.WriteLine($"bench usbip: the Linux client of {peer.Directory} reads {ReadMiB} MiB (dd O_DIRECT, pattern checked) from our export and from a Linux server; our serial logs in {Program.Rel(root, logs)}/");
            var cells = new List<Cell>();
            try
            {
                string image = Path.Combine(work, "disk.raw");
                peer.WritePattern(image, ReadMiB);
                foreach (var c in controllers)
                {
                    var cell = new Cell { Controller = c };
                    cells.Add(cell);
                    for (int run = 1; run <= o.Runs; run++)
                    {
                        var (ours, error) = RunOurs(root, iso, work, peer, c, image, Path.Combine(logs, $"{c}-{run}.log"));
                        if (error == null) cell.Figures.Ours.Add(ours); else cell.Figures.Errors.Add(error);
                        Console.WriteLine($"  {c,-5} run {run}/{o.Runs}: ours " + (error == null ? $"{ours:F2} MB/s" : "FAILED: " + error));
                        var (linux, lerror) = RunLinux(peer, c);
                        if (lerror == null) cell.Figures.Linux.Add(linux); else cell.Figures.Errors.Add("Linux: " + lerror);
                        Console.WriteLine($"  {c,-5} run {run}/{o.Runs}: linux " + (lerror == null ? $"{linux:F2} MB/s" : "FAILED: " + lerror));
                    }
                }
            }
            finally
            {
                try { Directory.Delete(work, recursive: true); } catch { }
            }

            Console.WriteLine();
            Console.WriteLine($"USB/IP read by the Linux client, {ReadMiB} MiB O_DIRECT in 64 KiB blocks, MB/s (10^6 bytes/s), median of {o.Runs} run(s)");
            Console.WriteLine($"ours = this kernel exporting; Linux = Linux 6.1 usbip-host exporting the same disk (selftest.sh); every guest NIC {peer.Nic}; ratio = ours / Linux (goal ≥ 1)");
            Console.WriteLine($"{"controller",-10} {"ours",8} {"Linux",8} {"ratio",6}  notes");
            bool ok = true;
            foreach (var cell in cells)
            {
                ok &= cell.Figures.Errors.Count == 0;
                Console.WriteLine($"{cell.Controller,-10} {cell.Figures.Figures("F2")}  {string.Join("; ", cell.Figures.Notes("F2"))}");
            }
            return ok ? 0 : 1;
        }


        /// <summary>One boot of our kernel exporting the disk (root port 1), one client run against it.</summary>
        static (double MBps, string Error) RunOurs(string root, string iso, string work, LinuxUsbIpPeer peer, string controller, string image, string logFile)
        {
            int port = LinuxUsbIpPeer.FreeHostPort();
            var lo = new QemuLaunchOptions { RepoRoot = root, Iso = iso, Scenario = Scenario.Load(root, "minimal"), WorkDir = Path.Combine(work, "vm") };
            lo.ExtraArgs.AddRange(new[]
            {
                "-device", ControllerDevice[controller] + ",id=hc",
                "-drive", "if=none,id=stor,format=raw,file=" + image,
                "-device", "usb-storage,bus=hc.0,port=1,drive=stor",
                "-netdev", $"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:3240", "-device", "e1000,netdev=n0",
            });
            using var vm = QemuMachine.Start(lo);
            try
            {
                vm.WaitForPrompt(QemuMachine.Scaled(60));
                vm.WaitFor(@"\] Attached SCSI", QemuMachine.Scaled(60));
                vm.SkipPending();
                // 1-1, or 2-1 on xHCI, where a SuperSpeed disk is on the second (USB 3) root hub, as in Linux.
                Match disk = DiskBusId.Match(vm.Log);
                if (!disk.Success) return (0, "no usb-storage device in the log");
                string busId = disk.Groups[1].Value;
                string bind = vm.RunCommand("usbip bind -b " + busId);
                if (!bind.Contains($"bind device on busid {busId}: complete")) return (0, "usbip bind: " + bind.Trim());
                var (status, output) = peer.RunClient(port, null, null, "--busid", busId, "--read-mb", ReadMiB.ToString(CultureInfo.InvariantCulture),
                                                      "--expect-pattern", (ReadMiB * SectorsPerMiB).ToString(CultureInfo.InvariantCulture));
                Match m = ClientRate.Match(output);
                if (status != 0 || !m.Success || !output.Contains($"PEER pattern=ok sectors={ReadMiB * SectorsPerMiB}"))
                    return (0, "client.sh: " + LastLines(output, 3));
                return (Parse(m.Groups[1].Value), null);
            }
            catch (QemuWaitException e)
            {
                return (0, e.Message);
            }
            finally { File.WriteAllText(logFile, "# " + vm.CommandLine + "\n" + vm.Log); }
        }

        /// <summary>selftest.sh: a Linux server guest exports the same kind of disk; the same client reads it.</summary>
        static (double MBps, string Error) RunLinux(LinuxUsbIpPeer peer, string controller)
        {
            var (status, output) = peer.RunSelftest(controller, ReadMiB);
            Match m = SelftestRate.Match(output);
            if (status != 0 || !m.Success) return (0, "selftest.sh: " + LastLines(output, 3));
            return (Parse(m.Groups[1].Value), null);
        }

        static string LastLines(string text, int n) => string.Join(" | ", text.Trim().Split('\n').TakeLast(n).Select(l => l.Trim()));

        static double Parse(string text) => double.Parse(text, CultureInfo.InvariantCulture);
    }
}
