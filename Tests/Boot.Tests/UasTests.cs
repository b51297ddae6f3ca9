using System;
using System.IO;
using System.Text;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// The uas driver in one boot (CI cost: one machine): QEMU's usb-uas with a scsi-hd on usb-ehci
    /// (high speed: no streams, Read/Write Ready IUs) and on qemu-xhci (SuperSpeed: bulk streams):
    /// bound to `uas` in the devices file, listed by `disk`, reads at both ends, a write read back, a
    /// write-verify bench whose pattern the host also checks in the image, an unbind and bind of the
    /// xHCI one (streams freed and allocated again), and an unplug. The EHCI
    /// one has a second LUN (REPORT LUNS: UAS has no GET MAX LUN).
    /// </summary>
    [TestFixture]
    public sealed class UasTests : BootTest
    {
        static readonly TimeSpan Detect = QemuMachine.Scaled(60);
        static readonly TimeSpan Io = QemuMachine.Scaled(90);
        const int EhciBlocks = 16384, XhciBlocks = 32768, LunBlocks = 4096;   // distinct sizes name the disks

        static string CreateImage(string dir, string name, int blocks)
        {
            string path = Path.Combine(dir, name + ".img");
            var image = new byte[blocks * 512];
            for (int lba = 0; lba < blocks; lba++)
                Encoding.ASCII.GetBytes("LBA " + lba, 0, ("LBA " + lba).Length, image, lba * 512);
            File.WriteAllBytes(path, image);
            return path;
        }

        static string DumpText(int lba)
        {
            string s = "LBA " + lba;
            return "|" + s + new string('.', 16 - s.Length) + "|";
        }

        [Test]
        public void Uas_EhciWithoutStreamsAndXhciWithStreams_ReadWriteVerifyUnplug()
        {
            string dir = Path.Combine(Path.GetTempPath(), "kuas-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(dir);
            try
            {
                string ehciImage = CreateImage(dir, "ehci", EhciBlocks);
                string xhciImage = CreateImage(dir, "xhci", XhciBlocks);
                string lunImage = CreateImage(dir, "lun1", LunBlocks);
                var vm = Start("uas", null,
                               "-drive", "if=none,id=ud1,format=raw,file=" + ehciImage,
                               "-device", "usb-uas,id=uas1,bus=ehci.0",
                               "-device", "scsi-hd,bus=uas1.0,scsi-id=0,lun=0,drive=ud1",
                               "-drive", "if=none,id=ud3,format=raw,file=" + lunImage,
                               "-device", "scsi-hd,bus=uas1.0,scsi-id=0,lun=1,drive=ud3",
                               "-drive", "if=none,id=ud2,format=raw,file=" + xhciImage,
                               "-device", "usb-uas,id=uas2,bus=xhci.0",
                               "-device", "scsi-hd,bus=uas2.0,scsi-id=0,lun=0,drive=ud2");
                vm.WaitForBoot(BiosBoot);
                for (int i = 0; i < 3; i++)
                    vm.WaitForLine(@"\[sd[abc]\] Attached SCSI", Detect);
                string log = vm.Log;
                Assert.That(log, Does.Match(@"uas \d+-1:1\.0: USB Attached SCSI device, no streams, 8 commands in flight"), log);
                Assert.That(log, Does.Match(@"uas \d+-1:1\.0: USB Attached SCSI device, bulk streams, \d+ commands in flight"), log);
                Assert.That(log, Does.Match(@"scsi \d+:0:0:0: Direct-Access     QEMU     QEMU HARDDISK    \S+ PQ: 0 ANSI: 5"));
                Assert.That(log, Does.Match(@"scsi host\d+: uas \d+-1:1\.0 \(2 LUNs\)"), log);
                Assert.That(log, Does.Match(@"sd \d+:0:0:1: \[sd[abc]\] 4096 512-byte logical blocks"), log);

                string devices = vm.RunCommand("usb devices");
                Assert.That(Regex.Matches(devices, @"I:\* If#= 0 Alt= 0 #EPs= 4 Cls=08\(stor\.\) Sub=06 Prot=62 Driver=uas").Count, Is.EqualTo(2), devices);
                string tree = vm.RunCommand("lsusb -t");
                Assert.That(tree, Does.Contain("Class=Mass Storage, Driver=uas, 480M").And.Contain("Class=Mass Storage, Driver=uas, 5000M"), tree);

                string list = vm.RunCommand("disk");
                Match e = Regex.Match(list, @"(sd[ab])\s+\d+-1:1\.0\s+\d+:0:0:0\s+QEMU QEMU HARDDISK, " + EhciBlocks + " x 512 bytes");
                Match x = Regex.Match(list, @"(sd[ab])\s+\d+-1:1\.0\s+\d+:0:0:0\s+QEMU QEMU HARDDISK, " + XhciBlocks + " x 512 bytes");
                Match l = Regex.Match(list, @"(sd[abc])\s+\d+-1:1\.0\s+\d+:0:0:1\s+QEMU QEMU HARDDISK, " + LunBlocks + " x 512 bytes");
                Assert.That(e.Success && x.Success && l.Success, Is.True, list);
                Assert.That(vm.RunCommand("disk read " + l.Groups[1].Value + " " + (LunBlocks - 1)), Does.Contain(DumpText(LunBlocks - 1)), "LUN 1's last block");

                foreach (var (name, blocks, image, label) in new[] { (e.Groups[1].Value, EhciBlocks, ehciImage, "ehci"), (x.Groups[1].Value, XhciBlocks, xhciImage, "xhci") })
                {
                    Assert.That(vm.RunCommand("disk read " + name + " 0"), Does.Contain(DumpText(0)));
                    Assert.That(vm.RunCommand("disk read " + name + " " + (blocks - 1)), Does.Contain(DumpText(blocks - 1)));
                    Assert.That(vm.RunCommand("disk read " + name + " 5000 8"), Does.Contain(DumpText(5000)).And.Contain("fnv1a32"));
                    Assert.That(vm.RunCommand("disk write " + name + " 100 hello uas"), Does.Contain("disk write: " + name + " LBA 100: ok"));
                    Assert.That(vm.RunCommand("disk read " + name + " 100"), Does.Contain("|hello uas.......|"));
                    Assert.That(vm.RunCommand("disk read " + name + " 101"), Does.Contain(DumpText(101)), "the neighbour is untouched");

                    int mib = blocks / 2048;
                    string output = vm.RunCommand("disk bench " + name + " " + mib + " write", Io);
                    TestContext.Progress.WriteLine($"uas {label}: {output.Trim().Replace('\n', ' ')}");
                    Assert.That(output, Does.Match(@"disk bench: \d+ MiB in \d+ ms \([\d.]+ MB/s\)"), output);
                    Assert.That(output, Does.Contain(", 0 bad sectors"), output);
                    ulong seed = Convert.ToUInt64(Regex.Match(output, "pattern seed ([0-9a-f]{16})").Groups[1].Value, 16);
                    Assert.That(StorageIntegrityTests.BadBlocks(image, seed, blocks), Is.EqualTo(0), label + ": the image file holds the pattern");
                    string read = vm.RunCommand("disk bench " + name + " " + mib, Io);
                    TestContext.Progress.WriteLine($"uas {label} read: {read.Trim().Replace('\n', ' ')}");
                    Assert.That(read, Does.Match(@"disk bench: \d+ MiB in \d+ ms \([\d.]+ MB/s\)"), read);
                }

                // Unbinding frees the streams (Configure Endpoint back to one ring), binding allocates them again.
                string xName = x.Groups[1].Value;
                string xIntf = Regex.Match(list, xName + @"\s+(\d+-1:1\.0)").Groups[1].Value;
                int attached = Regex.Matches(vm.Log, @"\] Attached SCSI").Count;
                Assert.That(vm.RunCommand("usb unbind uas " + xIntf), Does.Contain("usb unbind: ok"));
                Assert.That(vm.Log, Does.Contain("[" + xName + "] detached"), "unbinding detaches the disk at once");
                Assert.That(vm.RunCommand("usb bind uas " + xIntf), Does.Contain("usb bind: ok"));
                var clock = System.Diagnostics.Stopwatch.StartNew();
                while (Regex.Matches(vm.Log, @"\] Attached SCSI").Count == attached)
                {
                    Assert.That(clock.Elapsed, Is.LessThan(Detect), "the disk came back after bind");
                    System.Threading.Thread.Sleep(50);
                }
                MatchCollection all = Regex.Matches(vm.Log, @"\[(sd[a-d])\] Attached SCSI");
                Match again = all[all.Count - 1];
                string bench = vm.RunCommand("disk bench " + again.Groups[1].Value + " 4", Io);   // the disk holds the bench pattern now
                Assert.That(bench, Does.Match(@"disk bench: 4 MiB in \d+ ms"), "streams work after a rebind: " + bench);
                x = again;

                vm.Qmp.DeviceDel("uas2");
                vm.WaitForLine(@"\[" + x.Groups[1].Value + @"\] detached", Detect);
                Assert.That(vm.RunCommand("disk"), Does.Not.Contain(XhciBlocks + " x 512"));
            }
            finally
            {
                try { Directory.Delete(dir, true); } catch (IOException) { }
            }
        }
    }
}
