using System;
using System.Collections.Generic;
using System.IO;

namespace Boot.Tests.Harness
{
    public enum SerialMode
    {
        /// <summary>Serial on QEMU's stdio, which the harness redirects (tests, bench).</summary>
        Redirected,
        /// <summary>Serial and the QEMU monitor multiplexed on the user's terminal (Ctrl-A c / Ctrl-A x) — ./build.sh run.</summary>
        Terminal,
    }

    public sealed class QemuLaunchOptions
    {
        public Scenario Scenario { get; set; }
        public string Iso { get; set; }
        /// <summary>Overrides the scenario's firmware when set.</summary>
        public bool? Uefi { get; set; }
        /// <summary>Private directory for the QMP socket, disks and the OVMF vars copy.</summary>
        public string WorkDir { get; set; }
        /// <summary>QMP socket path (default WorkDir/qmp.sock).</summary>
        public string QmpSocket { get; set; }
        /// <summary>true: disks go to WorkDir and are recreated; false: disks use their "path" (default out/disks) and persist.</summary>
        public bool PrivateDisks { get; set; } = true;
        public SerialMode Serial { get; set; } = SerialMode.Redirected;
        /// <summary>
        /// false: no CD-ROM and no <c>-boot d</c>; the machine boots from what the extra arguments give a
        /// <c>bootindex</c> (a usb-storage stick holding the image: StickBootTests).
        /// </summary>
        public bool Cdrom { get; set; } = true;
        public string RepoRoot { get; set; }
        public List<string> ExtraArgs { get; } = new();
        /// <summary>
        /// A complete machine + topology command line taken from elsewhere (e.g. the Linux reference's
        /// qemu-args.sh), used verbatim instead of the scenario and the harness's machine defaults, so two
        /// guests run on identical virtual hardware. The harness then only adds what booting the kernel
        /// needs: isa-debug-exit, QMP, the ISO (and -serial stdio when the arguments lack a -serial).
        /// </summary>
        public List<string> MachineArgs { get; set; }
        public string QemuBinary { get; set; } = Environment.GetEnvironmentVariable("QEMU") ?? "qemu-system-x86_64";

        public bool EffectiveUefi => Uefi ?? (Scenario?.Firmware == "uefi");
    }

    /// <summary>Turns a scenario into a QEMU argument list (and creates disk images and the OVMF vars copy).</summary>
    public static class QemuCommandLine
    {
        /// <summary>isa-debug-exit status for "halt" (kernel writes 0x10 → QEMU exits (0x10 &lt;&lt; 1) | 1).</summary>
        public const int ExitHalt = 33;
        /// <summary>isa-debug-exit status for a kernel panic (0x11).</summary>
        public const int ExitPanic = 35;

        public static string Describe(int status) => status switch
        {
            0 => "guest reset under -no-reboot (reboot, triple fault) or QEMU quit (QMP quit, Ctrl-A x)",
            ExitHalt => "kernel halt (isa-debug-exit 0x10)",
            ExitPanic => "kernel panic (isa-debug-exit 0x11)",
            1 => "QEMU error (see its messages above)",
            _ when (status & 1) == 1 => $"isa-debug-exit 0x{status >> 1:x}",
            _ => "unexpected QEMU status",
        };

        public static List<string> Build(QemuLaunchOptions o)
        {
            if (o.MachineArgs != null) return BuildFromMachineArgs(o);
            var s = o.Scenario ?? throw new ArgumentException("no scenario");
            string root = o.RepoRoot ?? RepoPaths.Root;
            System.IO.Directory.CreateDirectory(o.WorkDir);
            string qmp = o.QmpSocket ?? Path.Combine(o.WorkDir, "qmp.sock");

            var a = new List<string>
            {
                "-machine", s.Machine,
                "-accel", "tcg",
                "-m", s.MemoryMB.ToString(),
                "-smp", s.Cpus.ToString(),
                "-display", "none",
                "-no-reboot",
                "-nic", "none",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-qmp", $"unix:{qmp},server=on,wait=off",
            };
            if (o.Serial == SerialMode.Terminal)
                a.AddRange(new[] { "-serial", "mon:stdio", "-monitor", "none" });
            else
                a.AddRange(new[] { "-serial", "stdio", "-monitor", "none" });

            if (o.EffectiveUefi)
            {
                var (code, vars) = Ovmf.Find();
                if (vars == null)
                    a.AddRange(new[] { "-bios", code });
                else
                {
                    string varsCopy = Path.Combine(o.WorkDir, "OVMF_VARS.fd");
                    File.Copy(vars, varsCopy, overwrite: true);
                    a.AddRange(new[] { "-drive", $"if=pflash,format=raw,readonly=on,file={code}",
                                       "-drive", $"if=pflash,format=raw,file={varsCopy}" });
                }
            }

            if (!File.Exists(o.Iso))
                throw new FileNotFoundException($"kernel image {o.Iso} does not exist; build it with ./build.sh iso", o.Iso);
            if (o.Cdrom)
                a.AddRange(new[] { "-drive", $"file={o.Iso},media=cdrom,readonly=on,if=ide,index=2", "-boot", "d" });

            var disks = new Dictionary<string, string>();
            foreach (var d in s.Disks)
            {
                string path = o.PrivateDisks
                    ? Path.Combine(o.WorkDir, d.Name + ".img")
                    : Path.GetFullPath(Path.Combine(root, d.Path ?? Path.Combine("out", "disks", $"{s.Name}-{d.Name}.img")));
                System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path));
                long size = (long)d.SizeMB << 20;
                if (o.PrivateDisks || !File.Exists(path) || new FileInfo(path).Length != size)
                {
                    using var f = new FileStream(path, FileMode.Create, FileAccess.Write);
                    f.SetLength(size);
                }
                disks[d.Name] = path;
            }

            foreach (var arg in s.Args)
            {
                string x = arg.Replace("${root}", root).Replace("${work}", o.WorkDir);
                foreach (var (name, path) in disks) x = x.Replace("${disk:" + name + "}", path);
                a.Add(x);
            }
            a.AddRange(o.ExtraArgs);
            return a;
        }

        /// <summary>The given machine arguments unchanged, plus the kernel's boot pieces (see <see cref="QemuLaunchOptions.MachineArgs"/>).</summary>
        static List<string> BuildFromMachineArgs(QemuLaunchOptions o)
        {
            System.IO.Directory.CreateDirectory(o.WorkDir);
            string qmp = o.QmpSocket ?? Path.Combine(o.WorkDir, "qmp.sock");
            var a = new List<string>(o.MachineArgs);
            if (!a.Contains("-serial"))
                a.AddRange(new[] { "-serial", "stdio" });
            if (!a.Contains("-monitor"))
                a.AddRange(new[] { "-monitor", "none" });
            a.AddRange(new[] { "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-qmp", $"unix:{qmp},server=on,wait=off" });
            if (!File.Exists(o.Iso))
                throw new FileNotFoundException($"kernel image {o.Iso} does not exist; build it with ./build.sh iso", o.Iso);
            a.AddRange(new[] { "-drive", $"file={o.Iso},media=cdrom,readonly=on,if=ide,index=2", "-boot", "d" });
            a.AddRange(o.ExtraArgs);
            return a;
        }

        public static string Quote(IEnumerable<string> args)
        {
            var parts = new List<string>();
            foreach (var x in args)
                parts.Add(x.Length > 0 && x.IndexOfAny(new[] { ' ', '"', '\'', '$', '\\', '(', ')', ';', '&', '|', '<', '>', '*', '?' }) < 0 ? x : "'" + x.Replace("'", "'\\''") + "'");
            return string.Join(" ", parts);
        }
    }
}
