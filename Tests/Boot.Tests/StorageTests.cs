using System;
using System.IO;
using System.Text;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// The usb-storage driver on each controller type: QEMU's usb-storage (full speed on UHCI/OHCI, high
    /// speed on EHCI, SuperSpeed on xHCI) over a raw image whose every 512-byte block starts with
    /// "LBA n": capacity, reads at both ends, a write read back, a throughput number, unplug.
    /// </summary>
    [TestFixture]
    public sealed class StorageTests : BootTest
    {
        const int Blocks = 32768;    // 16 MiB
        static readonly TimeSpan Detect = QemuMachine.Scaled(30);

        static string CreateImage()
        {
            string path = Path.Combine(Path.GetTempPath(), "usbstor-" + Guid.NewGuid().ToString("N").Substring(0, 8) + ".img");
            var image = new byte[Blocks * 512];
            for (int lba = 0; lba < Blocks; lba++)
                Encoding.ASCII.GetBytes("LBA " + lba, 0, ("LBA " + lba).Length, image, lba * 512);
            File.WriteAllBytes(path, image);
            return path;
        }

        /// <summary>The ASCII column of a hex-dump line for a block that starts with "LBA n".</summary>
        static string DumpText(int lba)
        {
            string s = "LBA " + lba;
            return "|" + s + new string('.', 16 - s.Length) + "|";
        }

        [TestCase("uhci", "12", 1)]
        [TestCase("ohci", "12", 1)]
        [TestCase("ehci", "480", 16)]
        [TestCase("xhci", "5000", 4)]
        public void Storage_DiskDetectedReadWriteBenchUnplug(string controller, string speed, int benchMiB)
        {
            string image = CreateImage();
            try
            {
                var vm = Start("storage-" + controller, null,
                               "-drive", "if=none,id=stor,format=raw,file=" + image,
                               "-device", "usb-storage,id=stor0,bus=" + controller + ".0,drive=stor");
                vm.WaitForBoot(BiosBoot);
                vm.WaitForLine(@"sd \d+:0:0:0: \[sda\] Attached SCSI", Detect);
                string log = vm.Log;
                Assert.That(log, Does.Match(@"usb-storage \d+-\d+:1\.0: USB Mass Storage device detected"));
                Assert.That(log, Does.Match(@"scsi \d+:0:0:0: Direct-Access     QEMU     QEMU HARDDISK    \S+ PQ: 0 ANSI: 5"));
                Assert.That(log, Does.Contain("[sda] 32768 512-byte logical blocks: (16.8 MB/16.0 MiB)"));

                string tree = vm.RunCommand("lsusb -t");
                Assert.That(tree, Does.Match(@"Class=Mass Storage, Driver=usb-storage, " + speed + "M"), tree);

                string list = vm.RunCommand("disk");
                Assert.That(list, Does.Match(@"sda\s+\d+-\d+:1\.0\s+\d+:0:0:0\s+QEMU QEMU HARDDISK, 32768 x 512 bytes \(16\.8 MB/16\.0 MiB\)"), list);

                string first = vm.RunCommand("disk read sda 0");
                Assert.That(first, Does.Contain("00000000  4c 42 41 20 30 00"), first);
                Assert.That(first, Does.Contain(DumpText(0)), first);
                string last = vm.RunCommand("disk read sda 32767");
                Assert.That(last, Does.Contain(DumpText(32767)), last);
                string many = vm.RunCommand("disk read sda 20000 8");
                Assert.That(many, Does.Contain(DumpText(20000)).And.Contain("fnv1a32"), many);

                Assert.That(vm.RunCommand("disk write sda 100 hello usb"), Does.Contain("disk write: sda LBA 100: ok"));
                Assert.That(vm.RunCommand("disk read sda 100"), Does.Contain("|hello usb.......|"));
                Assert.That(vm.RunCommand("disk read sda 101"), Does.Contain(DumpText(101)), "the neighbour is untouched");
                // Ranges that wrap (past 2^64, past READ(10)'s 32-bit LBA) and numbers past 64 bits are refused.
                Assert.That(vm.RunCommand("disk read sda 18446744073709551615 2"), Does.Contain("is beyond the end of sda (32768 blocks)"));
                Assert.That(vm.RunCommand("disk write sda 4294967296 wrapped"), Does.Contain("is beyond the end of sda"));
                Assert.That(vm.RunCommand("disk read sda 18446744073709551616"), Does.Contain("disk read: bad number"));
                Assert.That(vm.RunCommand("disk read sda 0"), Does.Contain(DumpText(0)), "LBA 0 is untouched");

                string bench = vm.RunCommand("disk bench sda " + benchMiB, QemuMachine.Scaled(60));
                Match m = Regex.Match(bench, @"disk bench: (\d+) MiB in (\d+) ms \(([\d.]+) MB/s\)");
                Assert.That(m.Success, Is.True, bench);
                TestContext.Out.WriteLine($"{controller} ({speed}M): {m.Value}");
                TestContext.Progress.WriteLine($"storage {controller} ({speed}M): {m.Value}");

                vm.Qmp.DeviceDel("stor0");
                vm.WaitForLine(@"\[sda\] detached", Detect);
                Assert.That(vm.RunCommand("disk"), Does.Contain("disk: no disks"));
                Assert.That(vm.RunCommand("disk read sda 0"), Does.Contain("disk: no disk sda"));
            }
            finally
            {
                try { File.Delete(image); } catch (IOException) { }
            }
        }
    }
}
