using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;

namespace KernelBuild
{
    /// <summary>
    /// System tools the build and QEMU runs need. Checked with dpkg-query (one call, fast); when something is
    /// missing and we run as root on a Debian-family system they are installed with apt-get, otherwise the
    /// exact command is printed.
    /// </summary>
    public static class Prerequisites
    {
        /// <summary>Debian package → a file that proves it is usable (for systems without dpkg).</summary>
        static readonly (string Package, string Probe)[] Packages =
        {
            ("nasm", "nasm"),
            ("lld", "ld.lld"),
            ("binutils", "nm"),
            ("grub-common", "grub-mkrescue"),
            ("grub-pc-bin", "/usr/lib/grub/i386-pc/multiboot2.mod"),
            ("grub-efi-amd64-bin", "/usr/lib/grub/x86_64-efi/multiboot2.mod"),
            ("xorriso", "xorriso"),
            ("mtools", "mformat"),
            ("qemu-system-x86", "qemu-system-x86_64"),
            ("ovmf", null),
            // Boot.Tests decode the kernel's usbmon pcap captures with it.
            ("tshark", "tshark"),
        };

        public static System.Collections.Generic.IEnumerable<string> PackageNames => Packages.Select(p => p.Package);

        public static void Ensure()
        {
            var missing = Missing();
            if (missing.Count == 0) return;

            string list = string.Join(" ", missing);
            bool debian = Shell.Which("apt-get") != null && Shell.Which("dpkg-query") != null;
            if (!debian)
                throw new BuildException($"missing system tools: {list}. This is not a Debian-family system (no apt-get/dpkg); install the equivalents of these Debian packages with your package manager.");
            if (!Environment.IsPrivilegedProcess)
                throw new BuildException($"missing system packages: {list}\nInstall them with:\n  sudo apt-get install -y --no-install-recommends {list}\nor run this command as root to let it install them.");

            Steps.Time($"apt-get install {list}", () =>
            {
                var env = new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" };
                Retry("apt-get update", () => Shell.Run("apt-get", new[] { "update" }, env: env, what: "apt-get update"));
                Retry("apt-get install", () => Shell.Run("apt-get",
                    new[] { "install", "-y", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold" }.Concat(missing),
                    env: env, what: "apt-get install"));
            });
            var still = Missing();
            if (still.Count > 0) throw new BuildException("apt-get install succeeded but these are still missing: " + string.Join(" ", still));
        }

        static void Retry(string what, Action action)
        {
            for (int attempt = 1; ; attempt++)
            {
                try { action(); return; }
                catch (BuildException e) when (attempt < 3)
                {
                    Console.WriteLine($"    {what} failed (attempt {attempt} of 3), retrying in {5 * attempt} s:\n{Indent(Tail(e.Message, 15))}");
                    Thread.Sleep(5000 * attempt);
                }
            }
        }

        static string Tail(string s, int lines) => string.Join("\n", s.Split('\n').TakeLast(lines));
        static string Indent(string s) => string.Join("\n", s.Split('\n').Select(l => "      " + l));

        public static List<string> Missing()
        {
            if (Shell.Which("dpkg-query") != null)
            {
                var r = Shell.Run("dpkg-query", new[] { "-W", "-f=${Package} ${db:Status-Abbrev}\\n" }.Concat(Packages.Select(p => p.Package)), check: false);
                var installed = new HashSet<string>();
                foreach (var line in r.Output.Split('\n'))
                {
                    var parts = line.Split(' ', 2);
                    if (parts.Length == 2 && parts[1].StartsWith("ii")) installed.Add(parts[0].Split(':')[0]);
                }
                var missing = Packages.Where(p => !installed.Contains(p.Package)).Select(p => p.Package).ToList();
                // A package can be "installed" yet unusable (e.g. files removed); probe the commands too.
                foreach (var (pkg, probe) in Packages)
                    if (!missing.Contains(pkg) && probe != null && !ProbeOk(probe)) missing.Add(pkg);
                return missing;
            }
            return Packages.Where(p => p.Probe != null ? !ProbeOk(p.Probe) : !OvmfOk()).Select(p => p.Package).ToList();
        }

        static bool ProbeOk(string probe) => probe.StartsWith('/') ? File.Exists(probe) : Shell.Which(probe) != null;

        static bool OvmfOk()
        {
            try { Boot.Tests.Harness.Ovmf.Find(); return true; } catch (FileNotFoundException) { return false; }
        }
    }
}
