using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// `lsusb -v` of devices with class-specific descriptors equals what usbutils 014 prints for
    /// them under Linux 6.1 on the same QEMU command line (Reference/lsusb-classes.txt, made by
    /// Reference/lsusb-reference.sh with <see cref="Devices"/>): a usb-storage disk at SuperSpeed
    /// on qemu-xhci (Binary Object Store: USB 2.0 Extension, SuperSpeed USB Device Capability), a
    /// usb-hub (Hub Descriptor and Hub Port Status, as lsusb prints them as root), a usb-net behind
    /// it (CDC Header, Call Management, ACM, Union and Ethernet Networking in its two
    /// configurations) and a usb-audio (UAC1 AudioControl and AudioStreaming interface and
    /// endpoint descriptors, including the junk QEMU leaves after one of them).
    /// </summary>
    [TestFixture]
    public sealed class LsusbClassTests : BootTest
    {
        /// <summary>The reference's devices, after the machine arguments; "${disk}" is a 16 MiB zeroed image.</summary>
        public static readonly string[] Devices =
        {
            "-device", "qemu-xhci,id=xhci",
            "-drive", "if=none,id=usbdisk,format=raw,file=${disk}",
            "-device", "usb-storage,id=stor0,bus=xhci.0,port=1,drive=usbdisk",
            "-device", "usb-hub,id=hub0,bus=xhci.0,port=2,ports=4",
            "-netdev", "user,id=n0",
            "-device", "usb-net,id=net0,netdev=n0,bus=xhci.0,port=2.1",
            "-audiodev", "none,id=snd",
            "-device", "usb-audio,id=audio0,audiodev=snd,bus=xhci.0,port=3",
        };

        static string Reference()
        {
            string path = Path.Combine(RepoPaths.Root, "Tests", "Boot.Tests", "Reference", "lsusb-classes.txt");
            var lines = File.ReadAllLines(path);
            int start = Array.IndexOf(lines, "### lsusb -v");
            Assert.That(start, Is.GreaterThanOrEqualTo(0), "no lsusb -v section in " + path);
            return string.Join("\n", lines.Skip(start + 1).TakeWhile(l => !l.StartsWith("### "))) + "\n";
        }

        /// <summary>Sections keyed by what follows "ID " on their "Bus ... Device ...: ID vvvv:pppp name" line (device numbers depend on enumeration order).</summary>
        static Dictionary<string, string> Sections(string verbose)
        {
            var result = new Dictionary<string, string>();
            string head = null;
            var body = new System.Text.StringBuilder();
            foreach (string line in verbose.Replace("\r", "").Split('\n'))
            {
                var m = Regex.Match(line, @"^Bus \d{3} Device \d{3}: ID (.*)$");
                if (m.Success)
                {
                    if (head != null) result[head] = body.ToString().TrimEnd('\n') + "\n";
                    head = m.Groups[1].Value;
                    body.Clear();
                }
                else if (head != null && !Regex.IsMatch(line, @"^\[\s*\d+\.\d+\] "))
                {
                    body.Append(line).Append('\n');
                }
            }
            if (head != null) result[head] = body.ToString().TrimEnd('\n') + "\n";
            return result;
        }

        /// <summary>From "Hub Descriptor:" up to the next top-level block.</summary>
        static string HubBlock(string section)
        {
            int start = section.IndexOf("Hub Descriptor:\n", StringComparison.Ordinal);
            Assert.That(start, Is.GreaterThanOrEqualTo(0), "no hub descriptor:\n" + section);
            int end = section.IndexOf("\nDevice Status:", start, StringComparison.Ordinal);
            int bos = section.IndexOf("\nBinary Object Store", start, StringComparison.Ordinal);
            if (bos >= 0 && bos < end) end = bos;
            return section.Substring(start, end - start + 1);
        }

        [Test]
        public void VerboseListingOfHubStorageNetAndAudioEqualsUsbutils()
        {
            string disk = Path.Combine(Path.GetTempPath(), "lsusb-classes-" + Guid.NewGuid().ToString("N").Substring(0, 8) + ".img");
            File.WriteAllBytes(disk, new byte[16 * 1024 * 1024]);
            try
            {
                var vm = Start("minimal", null, Devices.Select(a => a.Replace("${disk}", disk)).ToArray());
                vm.WaitForBoot(BiosBoot);
                // Four devices and two root hubs, once every one is bound (polled, bounded).
                var sw = System.Diagnostics.Stopwatch.StartNew();
                string list = "";
                while (sw.Elapsed < QemuMachine.Scaled(40))
                {
                    list = vm.RunCommand("lsusb");
                    if (Regex.Matches(list, @"(?m)^Bus ").Count == 6 && Regex.IsMatch(vm.Log, @"\[sd[a-z]\] Attached SCSI")) break;
                    System.Threading.Thread.Sleep(500);
                }
                Assert.That(Regex.Matches(list, @"(?m)^Bus ").Count, Is.EqualTo(6), list);

                var expected = Sections(Reference());
                var actual = Sections(vm.RunCommand("lsusb -v", QemuMachine.Scaled(60)));
                int compared = 0;
                foreach (var (head, body) in expected)
                {
                    if (head.StartsWith("1d6b:")) continue;    // root hubs: their strings name the Linux kernel
                    Assert.That(actual.ContainsKey(head), Is.True, "no lsusb -v section for " + head + "; have:\n" + string.Join("\n", actual.Keys));
                    Assert.That(actual[head], Is.EqualTo(body), head);
                    compared++;
                }
                Assert.That(compared, Is.EqualTo(4), "disk, audio, network and hub");

                // The xHCI's USB 2.0 root hub: its hub descriptor and port status as usbutils read them
                // (the rest of a root hub's section names the kernel; the SuperSpeed root hub differs
                // in bPwrOn2PwrGood and has no BOS here, which belongs to the xHCI root hub's descriptors).
                const string RootHub2 = "1d6b:0002 Linux Foundation 2.0 root hub";
                Assert.That(HubBlock(actual[RootHub2]), Is.EqualTo(HubBlock(expected[RootHub2])));
                Assert.That(HubBlock(expected[RootHub2]), Does.Contain(" Hub Port Status:\n   Port 1: 0000.0100 power\n   Port 2: 0000.0103 power enable connect\n"));
            }
            finally
            {
                File.Delete(disk);
            }
        }
    }
}
