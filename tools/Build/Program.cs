using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;

namespace KernelBuild
{
    public sealed class Options
    {
        public string Verb = "help";
        public string Scenario = "default";
        public bool ScenarioGiven;
        public bool Uefi;
        public bool WithoutUsb;
        public string Filter;
        public int Runs = 1;
        public string Socket;
        /// <summary>bench enum: controllers and scenarios of the side-by-side table (null: all).</summary>
        public List<string> Controllers, Scenarios;
        /// <summary>bench enum: the Linux reference directory (default /work/shared/linux-reference or $LINUX_REFERENCE).</summary>
        public string LinuxReference;
        /// <summary>bench storm: hot-plug cycles.</summary>
        public int Cycles = 1000;
        public List<string> Rest = new();
        /// <summary>fuzz: run every documented fuzzer with its long input count.</summary>
        public bool Long;
    }

    public static class Program
    {
        const string Usage = @"usage: ./build.sh <verb> [options]

verbs:
  run      build the image and boot it in QEMU: serial console on this terminal,
           QMP socket at out/qmp.sock (Ctrl-A x quits, Ctrl-A c = QEMU monitor)
  iso      build out/kernel.iso (and out/kernel.elf) only
  stick    build the image and write out/stick.img for a USB stick (prints the dd command);
           the kernel names the stick it booted from (`boot medium: usb 1-1 (sda)`, `disk`)
  test     build the image, then `dotnet test` every Tests/*/*.csproj; prints `N passed, N failed`
  bench    boot a scenario; print boot-to-prompt time, per-bus enumeration time and hot-plug reaction times (ms)
  bench enum   our kernel vs Linux 6.1 on identical QEMU machines (Linux reference qemu-args.sh):
               enumeration time per controller and scenario, median of --runs, ratio ours/Linux
  bench disk   our `disk bench` read and write MB/s vs Linux 6.1's dd on the same QEMU machine
               (reference qemu-args.sh CONTROLLER read; --controllers, default ehci,xhci; --runs N)
  bench usbip  the real Linux USB/IP client (shared/linux-usbip) reading 16 MiB from a disk we export vs
               from a Linux server (its selftest.sh) on the same machine (--controllers, default ehci,xhci; --runs N)
  bench audio  every audio-*.json scenario: CPU busy ms per second idle and while `audio play` streams,
               the largest completion jitter and missed packets (--runs N)
  bench storm  all four controllers, --cycles N (default 1000) QMP hot-plug cycles of mixed devices,
               hubs with children, unplug under disk I/O; latencies, memory before/after, final listing
  fuzz     run the USB descriptor fuzzer documented in Drivers.Usb/README.md, if any
           (extra arguments are passed on: ./build.sh fuzz 100000 42);
           --long: the descriptor fuzzer with 10^7 inputs, then the fault-schedule fuzzer
           with 10^7 sequences (prints sequences/s; about an hour on two cores)
  qmp      send commands to the QEMU of a running `./build.sh run`:
             ./build.sh qmp 'info usb'                                  (monitor command)
             ./build.sh qmp 'device_add usb-kbd,id=k1,bus=xhci.0'       (hot-plug)
             ./build.sh qmp '{""execute"":""device_del"",""arguments"":{""id"":""k1""}}'   (raw QMP)
  scenarios  list qemu/scenarios/*.json
  prereqs  check (and as root install) the Debian packages the other verbs need

options:
  --scenario NAME   machine for run/bench (qemu/scenarios/NAME.json; default: default)
  --uefi            boot with OVMF (UEFI) instead of the scenario's firmware (run/bench)
  --without-usb     build the kernel without Drivers.Usb and Drivers.Usb.Hcd
  --filter EXPR     test: passed to dotnet test --filter
  --runs N          bench: number of boots (default 1)
  --socket PATH     qmp: socket to use (default out/qmp.sock)
  --long            fuzz: the long run of every documented fuzzer (see fuzz)
  --controllers L   bench enum: comma list of uhci,ohci,ehci,xhci (default all)
  --scenarios L     bench enum: comma list of enum,hub (default both)
  --linux-ref DIR   bench enum: Linux reference directory (default $LINUX_REFERENCE or /work/shared/linux-reference)
  --cycles N        bench storm: hot-plug cycles (default 1000)
  -v, --verbose     print every command
";

        public static int Main(string[] argv)
        {
            Options o;
            try { o = Parse(argv); }
            catch (BuildException e)
            {
                Console.Error.WriteLine("error: " + e.Message);
                Console.Error.WriteLine(Usage);
                return 2;
            }
            var total = Stopwatch.StartNew();
            try
            {
                string root = FindRoot();
                int rc = o.Verb switch
                {
                    "help" => Help(),
                    "iso" => Iso(root, o),
                    "stick" => Stick(root, o),
                    "run" => Run(root, o),
                    "test" => Test.RunAll(root, o),
                    "bench" => Bench(root, o),
                    "fuzz" => Fuzz(root, o),
                    "qmp" => Qmp(root, o),
                    "scenarios" => ListScenarios(root),
                    "prereqs" => Prereqs(),
                    _ => throw new BuildException($"unknown verb '{o.Verb}'\n{Usage}"),
                };
                return rc;
            }
            catch (BuildException e)
            {
                Console.Out.Flush();
                Console.Error.WriteLine($"\nerror: {e.Message}");
                return 1;
            }
            catch (Exception e) when (e is FileNotFoundException or InvalidDataException or QemuWaitException or QmpException or DirectoryNotFoundException)
            {
                Console.Out.Flush();
                Console.Error.WriteLine($"\nerror: {e.Message}");
                return 1;
            }
        }

        static int Help()
        {
            Console.Write(Usage);
            return 0;
        }

        static Options Parse(string[] argv)
        {
            var o = new Options();
            bool verbSeen = false;
            for (int i = 0; i < argv.Length; i++)
            {
                string a = argv[i];
                string Value() => i + 1 < argv.Length ? argv[++i] : throw new BuildException($"{a} needs a value");
                switch (a)
                {
                    case "--scenario": o.Scenario = Value(); o.ScenarioGiven = true; break;
                    case "--uefi": o.Uefi = true; break;
                    case "--without-usb": o.WithoutUsb = true; break;
                    case "--filter": o.Filter = Value(); break;
                    case "--runs": o.Runs = int.TryParse(Value(), out var n) && n > 0 ? n : throw new BuildException("--runs needs a positive number"); break;
                    case "--socket": o.Socket = Value(); break;
                    case "--long": o.Long = true; break;
                    case "--controllers": o.Controllers = List(Value(), EnumBench.AllControllers, a); break;
                    case "--scenarios": o.Scenarios = List(Value(), EnumBench.AllScenarios, a); break;
                    case "--linux-ref": o.LinuxReference = Value(); break;
                    case "--cycles": o.Cycles = int.TryParse(Value(), out var c) && c > 0 ? c : throw new BuildException("--cycles needs a positive number"); break;
                    case "-v": case "--verbose": Shell.Verbose = true; break;
                    case "-h": case "--help": o.Verb = "help"; verbSeen = true; break;
                    default:
                        if (a.StartsWith("--")) throw new BuildException($"unknown option {a}");
                        if (!verbSeen) { o.Verb = a; verbSeen = true; }
                        else o.Rest.Add(a);
                        break;
                }
            }
            var verbs = new[] { "help", "iso", "stick", "run", "test", "bench", "fuzz", "qmp", "scenarios", "prereqs" };
            if (!verbs.Contains(o.Verb)) throw new BuildException($"unknown verb '{o.Verb}'");
            bool benchMode = o.Verb == "bench" && o.Rest.Count == 1 && (o.Rest[0] == "enum" || o.Rest[0] == "storm" || o.Rest[0] == "disk" || o.Rest[0] == "usbip" || o.Rest[0] == "audio");
            if (o.Rest.Count > 0 && o.Verb != "qmp" && o.Verb != "fuzz" && !benchMode) throw new BuildException($"unexpected argument '{o.Rest[0]}'");
            return o;
        }

        /// <summary>A comma-separated list whose every entry is one of <paramref name="allowed"/>.</summary>
        static List<string> List(string text, string[] allowed, string option)
        {
            var items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
            foreach (var x in items)
                if (!allowed.Contains(x)) throw new BuildException($"{option}: unknown '{x}' (want {string.Join(",", allowed)})");
            if (items.Count == 0) throw new BuildException($"{option} needs a value");
            return items;
        }

        public static string FindRoot()
        {
            foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
                for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
                    if (File.Exists(Path.Combine(d.FullName, "Kernel", "Kernel.csproj")) && Directory.Exists(Path.Combine(d.FullName, "tools", "Build")))
                        return d.FullName;
            throw new BuildException("cannot find the repository root (directory with Kernel/Kernel.csproj and tools/Build)");
        }

        public static KernelImage BuildImage(string root, Options o)
        {
            Prerequisites.Ensure();
            var image = new KernelImage(root, o.WithoutUsb);
            var sw = Stopwatch.StartNew();
            image.Build();
            Console.WriteLine($"==> image ready in {sw.Elapsed.TotalSeconds:F2} s: {Rel(root, image.Iso)} ({new FileInfo(image.Iso).Length / 1024} KiB), {Rel(root, image.Elf)}");
            return image;
        }

        public static string Rel(string root, string path) => Path.GetRelativePath(root, path);

        static int Iso(string root, Options o)
        {
            BuildImage(root, o);
            return 0;
        }

        /// <summary>
        /// out/stick.img: the hybrid BIOS/UEFI image (the same bytes as out/kernel.iso, written whole to a
        /// disk it boots through its MBR / EFI system partition) with its boot identifier checked.
        /// </summary>
        static int Stick(string root, Options o)
        {
            var image = BuildImage(root, o);
            string bootId = KernelImage.ReadBootId(image.Iso) ?? throw new BuildException($"{Rel(root, image.Iso)} carries no boot identifier");
            string stick = Path.Combine(root, "out", "stick.img");
            string tmp = stick + ".tmp";
            File.Copy(image.Iso, tmp, overwrite: true);
            File.Move(tmp, stick, overwrite: true);
            long mib = (new FileInfo(stick).Length + (1 << 20) - 1) >> 20;
            Console.WriteLine($@"==> {Rel(root, stick)} ({mib} MiB, boot id {bootId}) is ready for a USB stick of {mib} MiB or more.
    Find the stick's device with `lsblk` (plug it in, look for the new sdX; every byte on it is overwritten), then:
      sudo dd if={Rel(root, stick)} of=/dev/sdX bs=4M conv=fsync status=progress
    It boots on BIOS and UEFI PCs; the kernel logs `boot medium: usb <bus>-<port> (sdX)` once it has found the stick again.
    Try it in QEMU first:
      qemu-system-x86_64 -M pc -m 256 -device qemu-xhci,id=xhci -drive if=none,id=stick,format=raw,file={Rel(root, stick)} \
        -device usb-storage,bus=xhci.0,drive=stick,bootindex=1 -serial stdio");
            return 0;
        }

        static string DefaultQmpSocket(string root)
        {
            string p = Path.Combine(root, "out", "qmp.sock");
            // sun_path holds 107 bytes; deep checkouts fall back to /tmp.
            return p.Length < 100 ? p : Path.Combine(Path.GetTempPath(), $"kernel-qmp-{Environment.UserName}.sock");
        }

        static string Hint(string cmd, string arg, string what) => $"      {cmd + " " + arg,-72} # {what}";

        static string SlotSocket(string root, int slot)
        {
            string p = DefaultQmpSocket(root);
            return slot == 1 ? p : Path.Combine(Path.GetDirectoryName(p), $"{Path.GetFileNameWithoutExtension(p)}-{slot}.sock");
        }

        static bool SocketInUse(string path)
        {
            if (!File.Exists(path)) return false;
            try
            {
                using var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                s.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
                return true;
            }
            catch (System.Net.Sockets.SocketException) { return false; }
        }

        static QemuLaunchOptions LaunchOptions(string root, Options o, string iso)
        {
            var scenario = Scenario.Load(root, o.Scenario);
            return new QemuLaunchOptions
            {
                RepoRoot = root,
                Scenario = scenario,
                Uefi = o.Uefi ? true : null,
                Iso = iso,
            };
        }

        static int Run(string root, Options o)
        {
            var scenario = Scenario.Load(root, o.Scenario); // fail early on a bad name
            var image = BuildImage(root, o);
            var lo = LaunchOptions(root, o, image.Iso);
            // Another `run` in this tree may be active (several engineers share it): then take qmp-2.sock, ...
            // and private disks (QEMU locks disk images).
            int slot = 1;
            while (SocketInUse(SlotSocket(root, slot))) slot++;
            lo.WorkDir = Path.Combine(root, "out", slot == 1 ? "run" : $"run-{slot}");
            lo.QmpSocket = SlotSocket(root, slot);
            lo.PrivateDisks = slot != 1;
            lo.Serial = SerialMode.Terminal;
            // COM2 is a raw byte channel for `usbmon capture` (a pcap file Wireshark opens).
            string com2 = Path.Combine(lo.WorkDir, "com2.pcap");
            lo.ExtraArgs.AddRange(new[] { "-serial", "file:" + com2 });
            if (slot != 1) Console.WriteLine($"    another ./build.sh run is active (QMP {Rel(root, SlotSocket(root, 1))}); this one uses {Rel(root, lo.QmpSocket)} and fresh disks in {Rel(root, lo.WorkDir)}");
            if (File.Exists(lo.QmpSocket)) File.Delete(lo.QmpSocket);
            var args = QemuCommandLine.Build(lo);
            string sock = Rel(root, lo.QmpSocket);
            string qmpCmd = slot == 1 ? "./build.sh qmp" : $"./build.sh qmp --socket {sock}";
            Console.WriteLine($@"
==> booting scenario '{scenario.Name}' ({(lo.EffectiveUefi ? "UEFI/OVMF" : "BIOS")}): {scenario.Description}
    {lo.QemuBinary} {QemuCommandLine.Quote(args)}

    Serial console: this terminal (type shell commands at `kernel>`). Ctrl-A x quits QEMU, Ctrl-A c toggles the QEMU monitor.
    COM2: {Rel(root, com2)} (`usbmon capture 1 10` writes a pcap there: wireshark {Rel(root, com2)})
    QMP socket: {sock}   — from another terminal:
{Hint(qmpCmd, "'info usb'", "QEMU's view of the USB buses")}
{Hint(qmpCmd, "'device_add usb-kbd,id=k1,bus=xhci.0,port=2'", "hot-plug a keyboard")}
{Hint(qmpCmd, "'device_del k1'", "unplug it")}
{Hint(qmpCmd, "'{\"execute\":\"query-pci\"}'", "raw QMP")}
    or by hand: socat - UNIX-CONNECT:{sock}  then  {{""execute"":""qmp_capabilities""}}
");
            int rc = Shell.RunInteractive(lo.QemuBinary, args, workDir: root);
            Console.WriteLine($"\n==> QEMU exited with status {rc}: {QemuCommandLine.Describe(rc)}");
            return rc is 0 or QemuCommandLine.ExitHalt ? 0 : rc;
        }

        static int Bench(string root, Options o)
        {
            var image = BuildImage(root, o);
            if (o.Rest.Count == 1 && o.Rest[0] == "enum") return EnumBench.Run(root, o, image.Iso);
            if (o.Rest.Count == 1 && o.Rest[0] == "storm") return StormBench.Run(root, o, image.Iso);
            if (o.Rest.Count == 1 && o.Rest[0] == "disk") return DiskBench.Run(root, o, image.Iso);
            if (o.Rest.Count == 1 && o.Rest[0] == "usbip") return UsbIpBench.Run(root, o, image.Iso);
            if (o.Rest.Count == 1 && o.Rest[0] == "audio") return AudioBench.Run(root, o, image.Iso);
            var times = new List<double>();
            for (int i = 0; i < o.Runs; i++)
            {
                var lo = LaunchOptions(root, o, image.Iso);
                using var vm = QemuMachine.Start(lo);
                try
                {
                    vm.WaitForPrompt(QemuMachine.Scaled(lo.EffectiveUefi ? 90 : 60));
                }
                catch (QemuWaitException e)
                {
                    throw new BuildException($"bench: the kernel did not reach the prompt `{QemuMachine.Prompt}`: {e.Message}\n{vm.DescribeForFailure()}");
                }
                double ms = vm.Elapsed.TotalMilliseconds;
                times.Add(ms);
                Console.WriteLine($"boot-to-prompt: {ms:F0} ms (scenario {lo.Scenario.Name}, {(lo.EffectiveUefi ? "uefi" : "bios")}, TCG, QEMU start → `{QemuMachine.Prompt.Trim()}`)");
                UsbBench.Run(vm, lo.Scenario);
            }
            if (times.Count > 1)
                Console.WriteLine($"boot-to-prompt: min {times.Min():F0} ms, median {times.OrderBy(x => x).ElementAt(times.Count / 2):F0} ms, max {times.Max():F0} ms over {times.Count} runs");
            return 0;
        }

        static int Qmp(string root, Options o)
        {
            if (o.Rest.Count == 0) throw new BuildException("qmp: give a monitor command ('info usb') or a QMP JSON message");
            string sock = o.Socket ?? DefaultQmpSocket(root);
            if (!File.Exists(sock)) throw new BuildException($"no QMP socket at {sock}: start the VM with ./build.sh run first");
            using var qmp = QmpClient.Connect(sock, TimeSpan.FromSeconds(5));
            foreach (var cmd in o.Rest)
            {
                if (cmd.TrimStart().StartsWith("{"))
                {
                    var msg = JsonNode.Parse(cmd)?.AsObject() ?? throw new BuildException("empty JSON");
                    var r = qmp.ExecuteRaw(msg);
                    Console.WriteLine(r?.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) ?? "{}");
                }
                else
                {
                    Console.Write(qmp.HumanMonitorCommand(cmd));
                }
            }
            return 0;
        }

        static int Prereqs()
        {
            Prerequisites.Ensure();
            Console.WriteLine("prereqs: all system packages present (" + string.Join(" ", Prerequisites.PackageNames) + ")");
            return 0;
        }

        static int ListScenarios(string root)
        {
            foreach (var name in Scenario.ListNames(root))
            {
                var s = Scenario.Load(root, name);
                Console.WriteLine($"{name,-18} {s.Machine,-4} {s.Firmware,-4} {s.MemoryMB,4} MB  {s.Description}");
            }
            return 0;
        }

        /// <summary>Inputs (descriptor fuzzer) and sequences (fault-schedule fuzzer) of `fuzz --long`.</summary>
        const string LongFuzzCount = "10000000";

        /// <summary>
        /// Runs the fuzzer command documented in Drivers.Usb/README.md: the first fenced code block after a
        /// heading containing "fuzz" (each non-comment line is run with bash from the repository root).
        /// </summary>
        static int Fuzz(string root, Options o)
        {
            string readme = Path.Combine(root, "Drivers.Usb", "README.md");
            var commands = File.Exists(readme) ? FuzzCommands(File.ReadAllLines(readme)) : new List<string>();
            if (commands.Count == 0)
            {
                Console.WriteLine(File.Exists(readme)
                    ? "fuzz: not available — Drivers.Usb/README.md documents no fuzzer (expected a '## Fuzzing' heading followed by a ```sh code block with the command)."
                    : "fuzz: not available — Drivers.Usb/README.md does not exist yet.");
                return 0;
            }
            foreach (var c in commands)
            {
                // Plain `fuzz` runs the descriptor fuzzer only (the documented commands that are not the
                // fault-schedule fuzzer); --long runs each one with LongFuzzCount inputs/sequences.
                bool faultFuzzer = c.Contains("faultfuzz");
                if (faultFuzzer && !o.Long)
                    continue;
                var args = o.Long ? new List<string> { LongFuzzCount }.Concat(o.Rest).ToList() : o.Rest;
                Console.WriteLine($"==> fuzz: {c}{(args.Count > 0 ? " " + string.Join(" ", args) : "")}");
                // Extra arguments (./build.sh fuzz 100000 42) are appended to the documented command.
                int rc = Shell.RunInteractive("bash", new[] { "-c", c + " \"$@\"", "fuzz" }.Concat(args), workDir: root);
                if (rc != 0) { Console.WriteLine($"fuzz: `{c}` failed with status {rc}"); return rc; }
            }
            return 0;
        }

        /// <summary>
        /// Commands in the first Markdown section whose heading mentions "fuzz": the first fenced code block,
        /// else indented code lines that mention "fuzz". "$ " prompts and trailing [placeholder] words are removed.
        /// </summary>
        public static List<string> FuzzCommands(string[] lines)
        {
            var fenced = new List<string>();
            var indented = new List<string>();
            bool inSection = false, inBlock = false, fencedDone = false, prevBlank = false;
            foreach (var raw in lines)
            {
                string line = raw.TrimEnd();
                if (!inBlock && line.StartsWith("#"))
                {
                    if (fenced.Count > 0 || indented.Count > 0) break;
                    inSection = Regex.IsMatch(line, "fuzz", RegexOptions.IgnoreCase);
                    prevBlank = false;
                    continue;
                }
                if (!inSection) continue;
                if (line.TrimStart().StartsWith("```"))
                {
                    if (inBlock) { inBlock = false; if (fenced.Count > 0) fencedDone = true; }
                    else inBlock = true;
                    continue;
                }
                if (inBlock)
                {
                    if (!fencedDone) AddCommand(fenced, line);
                }
                else if (prevBlank && Regex.IsMatch(raw, @"^(\t| {4,})\S") && Regex.IsMatch(line, "fuzz", RegexOptions.IgnoreCase))
                    AddCommand(indented, line);
                prevBlank = line.Trim().Length == 0 || (prevBlank && Regex.IsMatch(raw, @"^(\t| {4,})\S"));
            }
            return fenced.Count > 0 ? fenced : indented;
        }

        static void AddCommand(List<string> list, string line)
        {
            string cmd = line.Trim();
            if (cmd.StartsWith("$ ")) cmd = cmd.Substring(2);
            cmd = Regex.Replace(cmd, @"(\s+\[[^\]]*\])+$", "");
            if (cmd.Length > 0 && !cmd.StartsWith("#")) list.Add(cmd);
        }
    }
}
