using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// `lsusb` and `lsusb -t` on the default machine equal what usbutils 014 prints under Linux 6.1
    /// on the same QEMU command line (Reference/lsusb-default.txt, made by Reference/lsusb-reference.sh
    /// with the real lsusb, usb.ids and udev hwdb of Debian 12).
    /// </summary>
    [TestFixture]
    public sealed class LsusbTests : BootTest
    {
        /// <summary>The reference's section after "### <paramref name="title"/>", up to the next section.</summary>
        static string Section(string title)
        {
            string path = Path.Combine(RepoPaths.Root, "Tests", "Boot.Tests", "Reference", "lsusb-default.txt");
            var lines = File.ReadAllLines(path);
            int start = Array.IndexOf(lines, "### " + title);
            Assert.That(start, Is.GreaterThanOrEqualTo(0), "no section " + title + " in " + path);
            var section = new List<string>();
            for (int i = start + 1; i < lines.Length && !lines[i].StartsWith("### "); i++)
                section.Add(lines[i]);
            return string.Join("\n", section).Trim('\n') + "\n";
        }

        static string Normalize(string text) => text.Replace("\r", "").Trim('\n') + "\n";

        [Test]
        public void LsusbAndTreeEqualUsbutilsOnTheDefaultMachine()
        {
            var vm = BootToPrompt("default");
            // lsusb -t: the same text, line for line (buses highest first, as usbutils sorts them),
            // once enumeration and binding are done (polled, bounded).
            string expectedTree = Section("lsusb -t"), tree = "";
            var deadline = System.Diagnostics.Stopwatch.StartNew();
            while (deadline.Elapsed < QemuMachine.Scaled(40))
            {
                tree = Normalize(vm.RunCommand("lsusb -t"));
                if (tree == expectedTree) break;
                System.Threading.Thread.Sleep(500);
            }
            Assert.That(tree, Is.EqualTo(expectedTree));

            // lsusb: the same lines. usbutils 014 prints them in libusb's discovery order (the order
            // of sysfs directory entries, which Linux's kernfs keeps by name hash); the kernel prints
            // them by bus and device number, so the lines are compared as a set.
            string ours = Normalize(vm.RunCommand("lsusb"));
            var expected = Section("lsusb").Split('\n', StringSplitOptions.RemoveEmptyEntries).OrderBy(l => l, StringComparer.Ordinal);
            var actual = ours.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("Bus ")).OrderBy(l => l, StringComparer.Ordinal);
            Assert.That(string.Join("\n", actual), Is.EqualTo(string.Join("\n", expected)), "lsusb:\n" + ours);
        }
    }
}
