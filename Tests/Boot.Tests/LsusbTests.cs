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

            // lsusb -v: each device's section, from its "Bus ... Device ..." line to the next, the same
            // text; root hubs excepted (their strings name the kernel: "Linux 6.1.0-57-amd64 ohci_hcd").
            var expectedSections = Sections(Section("lsusb -v"));
            var actualSections = Sections(Normalize(vm.RunCommand("lsusb -v", QemuMachine.Scaled(30))));
            int compared = 0;
            foreach (var (head, body) in expectedSections)
            {
                if (head.Contains(" ID 1d6b:")) continue;
                Assert.That(actualSections.ContainsKey(head), Is.True, "no lsusb -v section for " + head);
                Assert.That(actualSections[head], Is.EqualTo(body), head);
                compared++;
            }
            Assert.That(compared, Is.EqualTo(4), "keyboard, mouse, tablet and disk");
        }

        /// <summary>lsusb -v output split at its "Bus 001 Device 002: ID ..." lines (log lines dropped).</summary>
        static Dictionary<string, string> Sections(string verbose)
        {
            var result = new Dictionary<string, string>();
            string head = null;
            var body = new System.Text.StringBuilder();
            foreach (string line in verbose.Split('\n'))
            {
                if (line.StartsWith("Bus "))
                {
                    if (head != null) result[head] = body.ToString().TrimEnd('\n') + "\n";
                    head = line;
                    body.Clear();
                }
                else if (head != null && !System.Text.RegularExpressions.Regex.IsMatch(line, @"^\[\s*\d+\.\d+\] "))
                {
                    body.Append(line).Append('\n');
                }
            }
            if (head != null) result[head] = body.ToString().TrimEnd('\n') + "\n";
            return result;
        }
    }
}
