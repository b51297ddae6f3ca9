using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Boot.Tests.Harness
{
    /// <summary>
    /// The stock Linux USB/IP peer of shared/linux-usbip (read its README): client.sh boots Debian 6.1 with
    /// vhci-hcd and usbip 2.0 in a second QEMU that reaches our kernel through QEMU user networking
    /// (hostfwd of a host port to the kernel's TCP 3240); selftest.sh runs the same client against a Linux
    /// server guest (the Linux-to-Linux reference). Shared by the USB/IP boot tests and `build.sh bench usbip`.
    /// </summary>
    public sealed class LinuxUsbIpPeer
    {
        const string DefaultDirectory = "/work/shared/linux-usbip";
        static readonly TimeSpan ScriptBound = QemuMachine.Scaled(240);

        public string Directory { get; }
        /// <summary>
        /// The guests' NIC (the peer's NIC variable: "virtio", its default, or "e1000"); null keeps the peer's
        /// default. Benchmarks set "e1000" so a Linux server runs on the same NIC model as our kernel.
        /// </summary>
        public string Nic { get; set; }

        LinuxUsbIpPeer(string directory) => Directory = directory;

        /// <summary>$LINUX_USBIP, else /work/shared/linux-usbip; null when client.sh is not there.</summary>
        public static LinuxUsbIpPeer Find()
        {
            string dir = System.Environment.GetEnvironmentVariable("LINUX_USBIP");
            if (string.IsNullOrEmpty(dir))
                dir = DefaultDirectory;
            return File.Exists(Path.Combine(dir, "client.sh")) ? new LinuxUsbIpPeer(dir) : null;
        }

        /// <summary>A free TCP port on the host's loopback for the hostfwd.</summary>
        public static int FreeHostPort()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            return port;
        }

        /// <summary>True when the peer could not set itself up (its setup.sh downloads Debian packages): skip, not fail.</summary>
        public static bool SetupFailed(string output) => output.Contains("error: setup.sh failed");

        /// <summary>pattern.py: writes the peer's test pattern (sector n holds n, then 'A' + i % 26) into a raw image.</summary>
        public void WritePattern(string image, int mib)
        {
            var (status, output) = RunScript("python3", Path.Combine(Directory, "pattern.py"), null, null, null, image, mib.ToString(CultureInfo.InvariantCulture) + "M");
            if (status != 0) throw new InvalidOperationException("pattern.py failed: " + output);
        }

        /// <summary>
        /// Runs client.sh against host port <paramref name="port"/>; returns its exit status and output (the guest's
        /// PEER lines, then stderr when it failed). Every stdout line goes to <paramref name="onLine"/> as it happens,
        /// so a test can act on the kernel's side at a given step; with <paramref name="killAt"/>, the client (script
        /// and its QEMU) is killed as soon as a line contains it: a client machine that dies mid-transfer.
        /// </summary>
        public (int Status, string Output) RunClient(int port, string killAt, Action<string> onLine, params string[] args)
        {
            var all = new List<string> { "--port", port.ToString(CultureInfo.InvariantCulture) };
            all.AddRange(args);
            return RunScript("bash", Path.Combine(Directory, "client.sh"), Environment(null), killAt, onLine, all.ToArray());
        }

        /// <summary>selftest.sh --ctrl CONTROLLER: a Linux server guest exports a disk of <paramref name="mib"/> MiB, the client reads it.</summary>
        public (int Status, string Output) RunSelftest(string controller, int mib) =>
            RunScript("bash", Path.Combine(Directory, "selftest.sh"), Environment(new Dictionary<string, string> { ["SELFTEST_MB"] = mib.ToString(CultureInfo.InvariantCulture) }),
                      null, null, "--ctrl", controller);

        Dictionary<string, string> Environment(Dictionary<string, string> env)
        {
            if (Nic == null) return env;
            env ??= new Dictionary<string, string>();
            env["NIC"] = Nic;
            return env;
        }

        static (int Status, string Output) RunScript(string interpreter, string script, Dictionary<string, string> env, string killAt, Action<string> onLine, params string[] args)
        {
            var psi = new ProcessStartInfo(interpreter) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(script);
            foreach (string a in args) psi.ArgumentList.Add(a);
            if (env != null) foreach (var kv in env) psi.Environment[kv.Key] = kv.Value;
            using var p = Process.Start(psi);
            var stdout = new StringBuilder();
            var stderr = new StringBuilder();
            p.OutputDataReceived += (_, e) =>
            {
                if (e.Data == null) return;
                lock (stdout) stdout.AppendLine(e.Data);
                onLine?.Invoke(e.Data);
                if (killAt != null && e.Data.Contains(killAt))
                {
                    try { p.Kill(true); } catch (InvalidOperationException) { }
                }
            };
            p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (stderr) stderr.AppendLine(e.Data); };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            if (!p.WaitForExit((int)ScriptBound.TotalMilliseconds))
            {
                try { p.Kill(true); } catch (InvalidOperationException) { }
                lock (stdout) lock (stderr) return (-1, stdout + $"\n({Path.GetFileName(script)} killed after {ScriptBound.TotalSeconds:F0} s)\n" + stderr);
            }
            p.WaitForExit();
            lock (stdout) lock (stderr) return (p.ExitCode, stdout + (p.ExitCode != 0 ? "\nstderr:\n" + stderr : ""));
        }
    }
}
