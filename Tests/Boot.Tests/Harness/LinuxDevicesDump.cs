using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;

namespace Boot.Tests.Harness
{
    /// <summary>
    /// Linux 6.1's view of a USB topology: shared/linux-reference/dump.sh boots the stock Debian kernel on the
    /// same QEMU device arguments and prints its /sys/kernel/debug/usb/devices. <see cref="Comparable"/> reduces a
    /// devices file (Linux's or our `usb devices`) to the lines both kernels must print identically.
    /// </summary>
    public static class LinuxDevicesDump
    {
        const string DefaultDirectory = "/work/shared/linux-reference";
        static readonly TimeSpan Bound = QemuMachine.Scaled(180);

        /// <summary>$LINUX_REFERENCE, else /work/shared/linux-reference; null when dump.sh is not there.</summary>
        public static string Find()
        {
            string dir = Environment.GetEnvironmentVariable("LINUX_REFERENCE");
            if (string.IsNullOrEmpty(dir))
                dir = DefaultDirectory;
            return File.Exists(Path.Combine(dir, "dump.sh")) ? dir : null;
        }

        /// <summary>Linux's devices file for the QEMU device arguments, or null with the reason in <paramref name="error"/>.</summary>
        public static string Dump(string reference, IEnumerable<string> deviceArgs, out string error)
        {
            var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(Path.Combine(reference, "dump.sh"));
            psi.ArgumentList.Add("--");
            foreach (string a in deviceArgs) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi);
            var stdout = new StringBuilder();
            var stderr = new StringBuilder();
            p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (stdout) stdout.AppendLine(e.Data); };
            p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (stderr) stderr.AppendLine(e.Data); };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            if (!p.WaitForExit((int)Bound.TotalMilliseconds))
            {
                try { p.Kill(true); } catch (InvalidOperationException) { }
                error = $"dump.sh did not finish within {Bound.TotalSeconds:F0} s";
                return null;
            }
            p.WaitForExit();
            string text;
            lock (stdout) text = stdout.ToString();
            int begin = text.IndexOf("ANCHOR-DUMP BEGIN", StringComparison.Ordinal), end = text.IndexOf("ANCHOR-DUMP END", StringComparison.Ordinal);
            if (p.ExitCode != 0 || begin < 0 || end < begin)
            {
                lock (stderr) error = $"dump.sh exited {p.ExitCode}: " + string.Join(" | ", (stderr + text).Trim().Split('\n').TakeLast(4));
                return null;
            }
            error = null;
            return text.Substring(begin, end - begin);
        }

        /// <summary>True when the failure is the reference not being installable here (its setup downloads Debian packages): skip, not fail.</summary>
        public static bool SetupFailed(string error) => error != null && error.Contains("setup failed");

        /// <summary>
        /// The devices-file lines both kernels print the same way, in order: every T/D/P/S/C/A/I/E line, except
        /// what names the kernel itself (a root hub's P: revision and S: Manufacturer, "Linux 6.1.0 ..." there)
        /// and the B: bandwidth line (Linux leaves HID endpoints unpolled until an input handler opens them and
        /// its xHCI does not account periodic bandwidth; ours reports what it schedules).
        /// </summary>
        public static List<string> Comparable(string devicesFile)
        {
            var lines = new List<string>();
            bool rootHub = false;
            foreach (string raw in devicesFile.Split('\n'))
            {
                string line = raw.TrimEnd();
                if (line.Length < 2 || line[1] != ':' || "TDPSCAIE".IndexOf(line[0]) < 0)
                    continue;
                if (line[0] == 'T') rootHub = line.Contains(" Lev=00 ");
                if (rootHub && (line[0] == 'P' || line.StartsWith("S:  Manufacturer=", StringComparison.Ordinal)))
                    continue;
                lines.Add(line);
            }
            return lines;
        }
    }
}
