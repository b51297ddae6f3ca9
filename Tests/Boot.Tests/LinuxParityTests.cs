using System;
using System.Diagnostics;
using System.Linq;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// Side by side with Linux 6.1 on the same QEMU device arguments (shared/linux-reference/dump.sh): our
    /// `usb devices` must equal Linux's /sys/kernel/debug/usb/devices line for line, except the lines that name
    /// the kernel and the bandwidth line (<see cref="LinuxDevicesDump.Comparable"/>). The topologies mix what
    /// the other tests do not: a Wacom tablet, a usb-net with two configurations (RNDIS listed first, CDC ECM
    /// chosen, its data interface claimed), a hub on the last root port, a SuperSpeed disk beside USB 2
    /// devices on xHCI. Hubs sit on the last root port: Linux handles a hub's ports one after another while
    /// child hubs run in parallel, so device numbers after a hub's subtree depend on its timing (ours are
    /// reserved in port order).
    /// </summary>
    [TestFixture]
    public sealed class LinuxParityTests : BootTest
    {
        static readonly TimeSpan Settle = QemuMachine.Scaled(40);

        public static readonly object[] Topologies =
        {
            new object[] { "ohci-functions", new[]
            {
                "-device", "pci-ohci,id=hc,num-ports=3",
                "-device", "usb-wacom-tablet,bus=hc.0,port=1",
                "-netdev", "user,id=n0", "-device", "usb-net,bus=hc.0,port=2,netdev=n0",
                "-device", "usb-hub,bus=hc.0,port=3",
                "-device", "usb-kbd,bus=hc.0,port=3.1",
                "-device", "usb-mouse,bus=hc.0,port=3.4",
            } },
            new object[] { "xhci-mixed", new[]
            {
                "-device", "qemu-xhci,id=hc,p2=4,p3=4",
                "-drive", "if=none,id=d0,format=raw,file=" + EmptyImage(),
                "-device", "usb-storage,bus=hc.0,port=1,drive=d0",
                "-device", "usb-tablet,bus=hc.0,port=2",
                "-device", "usb-hub,bus=hc.0,port=4",
                "-device", "usb-kbd,bus=hc.0,port=4.2",
            } },
        };

        /// <summary>A 16 MiB raw image, created once per test run (Linux and our kernel each open it read-write, one after the other).</summary>
        static string EmptyImage()
        {
            string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "kparity-disk.img");
            if (!System.IO.File.Exists(path))
                using (var f = new System.IO.FileStream(path, System.IO.FileMode.Create)) f.SetLength(16L << 20);
            return path;
        }

        [TestCaseSource(nameof(Topologies))]
        public void DevicesFileEqualsLinux(string name, string[] deviceArgs)
        {
            string reference = LinuxDevicesDump.Find();
            if (reference == null)
                Assert.Ignore("the Linux reference (shared/linux-reference, $LINUX_REFERENCE) is not on this machine");
            // Our machine has QEMU's default VGA at 00:02.0 (the framebuffer console); the reference boots with
            // -nodefaults, so it gets one too: PCI addresses show in root hub and QEMU device serial numbers.
            string linuxText = LinuxDevicesDump.Dump(reference, new[] { "-device", "VGA" }.Concat(deviceArgs), out string error);
            if (linuxText == null && LinuxDevicesDump.SetupFailed(error))
                Assert.Ignore("the Linux reference could not be set up: " + error);
            Assert.That(linuxText, Is.Not.Null, "Linux dump: " + error);
            var linux = LinuxDevicesDump.Comparable(linuxText);
            int linuxDevices = linux.Count(l => l.StartsWith("T:", StringComparison.Ordinal));
            Assert.That(linuxDevices, Is.EqualTo(6), "Linux saw every device of the topology (root hubs included)\n" + linuxText);

            var vm = Start("minimal", null, deviceArgs);
            vm.WaitForBoot(BiosBoot);
            // Settled: the same number of devices as Linux, twice in a row a second apart.
            var ours = LinuxDevicesDump.Comparable("");
            var clock = Stopwatch.StartNew();
            int stable = 0;
            while (stable < 2)
            {
                if (clock.Elapsed > Settle)
                    break;
                var now = LinuxDevicesDump.Comparable(vm.RunCommand("usb devices"));
                stable = now.Count(l => l.StartsWith("T:", StringComparison.Ordinal)) == linuxDevices && now.SequenceEqual(ours) ? stable + 1 : 0;
                ours = now;
                System.Threading.Thread.Sleep(1000);
            }
            string diff = FirstDifference(linux, ours);
            Assert.That(diff, Is.Null, $"{name}: our devices file differs from Linux's at {diff}\n--- Linux\n{string.Join("\n", linux)}\n--- ours\n{string.Join("\n", ours)}");
        }

        static string FirstDifference(System.Collections.Generic.List<string> linux, System.Collections.Generic.List<string> ours)
        {
            for (int i = 0; i < Math.Max(linux.Count, ours.Count); i++)
            {
                string a = i < linux.Count ? linux[i] : "(end)", b = i < ours.Count ? ours[i] : "(end)";
                if (a != b) return $"line {i + 1}: Linux '{a}', ours '{b}'";
            }
            return null;
        }
    }
}
