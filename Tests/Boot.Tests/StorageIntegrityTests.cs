using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text.RegularExpressions;
using System.Threading;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// One boot, many storage checks (CI cost: one machine): a disk on each of UHCI, OHCI, EHCI and
    /// xHCI gets a full-disk write of the bench pattern, read back and verified by the kernel (0 bad
    /// sectors) AND checked in the image file by the host; a usb-bot with three LUNs (this kernel's
    /// own ISO as a real GPT disk, an MBR disk, a read-only disk) shows every LUN, the partitions and
    /// write protect, and LUN 0's removable medium ejected and changed; a disk unplugged in the middle
    /// of a write and one in the middle of a read end
    /// their command with an error ("no device", or "transport error" when the failed transfer is seen
    /// before the disconnect) within a bound, and the blocks the write reported as confirmed
    /// are on the medium.
    /// </summary>
    [TestFixture]
    public sealed class StorageIntegrityTests : BootTest
    {
        const int Block = 512;
        static readonly TimeSpan Detect = QemuMachine.Scaled(60);
        static readonly TimeSpan Io = QemuMachine.Scaled(90);
        /// <summary>An unplugged disk's command must return within this (the core flushes its requests at once; transfers are bounded anyway).</summary>
        static readonly TimeSpan UnplugBound = QemuMachine.Scaled(10);

        const ulong LbaMix = 0x9E3779B97F4A7C15, IndexMix = 0xC2B2AE3D27D4EB4F;

        /// <summary>Drivers.Usb.Storage.DiskPattern, recomputed independently on the host.</summary>
        internal static int BadBlocks(string image, ulong seed, long blocks)
        {
            byte[] d = File.ReadAllBytes(image);
            int bad = 0;
            for (long lba = 0; lba < blocks; lba++)
            {
                bool ok = true;
                for (int i = 0; i < Block / 8 && ok; i++)
                {
                    ulong w = BitConverter.ToUInt64(d, (int)(lba * Block + i * 8));
                    ulong expected = i == 0 ? (ulong)lba : i == 1 ? seed : ((ulong)lba * LbaMix) ^ ((ulong)i * IndexMix) ^ seed;
                    ok = w == expected;
                }
                if (!ok) bad++;
            }
            return bad;
        }

        static string Image(string dir, string name, long bytes, Action<byte[]> fill = null)
        {
            string path = Path.Combine(dir, name + ".img");
            var data = new byte[bytes];
            fill?.Invoke(data);
            File.WriteAllBytes(path, data);
            return path;
        }

        static void MbrEntry(byte[] image, int slot, byte type, uint start, uint size, bool boot)
        {
            int o = 446 + slot * 16;
            image[o] = boot ? (byte)0x80 : (byte)0;
            image[o + 4] = type;
            BitConverter.GetBytes(start).CopyTo(image, o + 8);
            BitConverter.GetBytes(size).CopyTo(image, o + 12);
            image[510] = 0x55;
            image[511] = 0xAA;
        }

        [Test]
        public void EveryControllerEveryLunWriteVerifyAndUnplugMidIo()
        {
            string dir = Path.Combine(Path.GetTempPath(), "kstor-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(dir);
            try
            {
                // Distinct sizes name the disks (their sdX letters depend on the attach order).
                var verify = new Dictionary<string, (string Path, long Blocks)>
                {
                    ["uhci"] = (Image(dir, "uhci", 1 << 20), 2048),
                    ["ohci"] = (Image(dir, "ohci", 2 << 20), 4096),
                    ["ehci"] = (Image(dir, "ehci", 6 << 20), 12288),
                    ["xhci"] = (Image(dir, "xhci", 16 << 20), 32768),
                };
                string victimWrite = Image(dir, "victim-w", 8 << 20);     // UHCI: ~1 MB/s, a write takes seconds
                string victimRead = Image(dir, "victim-r", 40 << 20);     // OHCI: ~60 MB/s (256 KiB commands), read 10 times over
                string gpt = Path.Combine(dir, "gpt.img");
                File.Copy(ImageSnapshot.Iso, gpt);                        // this kernel's ISO: a real (xorriso) GPT disk
                long gptBlocks = new FileInfo(gpt).Length / Block;
                string mbr = Image(dir, "mbr", 3 << 20, d => { MbrEntry(d, 0, 0x0C, 2048, 2048, true); MbrEntry(d, 1, 0x83, 4096, 2048, false); d[440] = 0xEF; d[441] = 0xBE; d[442] = 0xAD; d[443] = 0xDE; });
                string readOnly = Image(dir, "ro", 5 << 20);
                string card = Image(dir, "card", 1 << 20, d => { MbrEntry(d, 0, 0x0E, 63, 1985, false); d[440] = 0xFE; d[441] = 0xCA; d[442] = 0xAD; d[443] = 0x0B; });

                var args = new List<string>
                {
                    "-device", "piix3-usb-uhci,id=uhci", "-device", "pci-ohci,id=ohci,num-ports=4",
                    "-device", "usb-ehci,id=ehci", "-device", "qemu-xhci,id=xhci",
                };
                void Stick(string id, string bus, string port, string file)
                {
                    args.AddRange(new[] { "-drive", $"if=none,id={id}d,format=raw,file={file}", "-device", $"usb-storage,id={id},bus={bus}.0,port={port},drive={id}d" });
                }
                Stick("vu", "uhci", "1", verify["uhci"].Path);
                Stick("victimw", "uhci", "2", victimWrite);
                Stick("vo", "ohci", "1", verify["ohci"].Path);
                Stick("victimr", "ohci", "2", victimRead);
                Stick("ve", "ehci", "1", verify["ehci"].Path);
                Stick("vx", "xhci", "1", verify["xhci"].Path);
                args.AddRange(new[]
                {
                    "-device", "usb-bot,id=bot,bus=xhci.0,port=2",
                    "-drive", $"if=none,id=l0,format=raw,file={gpt}", "-device", "scsi-hd,id=lun0,bus=bot.0,lun=0,drive=l0,removable=on",
                    "-drive", $"if=none,id=l1,format=raw,file={mbr}", "-device", "scsi-hd,bus=bot.0,lun=1,drive=l1",
                    "-drive", $"if=none,id=l2,format=raw,readonly=on,file={readOnly}", "-device", "scsi-hd,bus=bot.0,lun=2,drive=l2",
                });

                var vm = Start("minimal", null, args.ToArray());
                vm.WaitForBoot(BiosBoot);
                var attach = Stopwatch.StartNew();
                while (Regex.Matches(vm.Log, @"\] Attached SCSI").Count < 9)
                {
                    Assert.That(attach.Elapsed, Is.LessThan(Detect), "9 disks attached\n" + vm.Log);
                    Thread.Sleep(100);
                }
                Thread.Sleep(500);   // the partition tables are read right after the last attach

                // Names by size; LUNs by their address.
                string list = vm.RunCommand("disk");
                var bySize = new Dictionary<long, (string Name, string Lun)>();
                foreach (Match m in Regex.Matches(list, @"^(sd[a-z]+)\s+\S+\s+\d+:0:0:(\d+)\s+.*?, (\d+) x 512 bytes", RegexOptions.Multiline))
                    bySize[long.Parse(m.Groups[3].Value)] = (m.Groups[1].Value, m.Groups[2].Value);
                Assert.That(bySize.Count, Is.EqualTo(9), list);

                // usb-bot: three LUNs of one interface, GPT partitions of the ISO, the MBR's, write protect.
                Assert.That(bySize[gptBlocks].Lun, Is.EqualTo("0"), list);
                Assert.That(bySize[6144].Lun, Is.EqualTo("1"), list);
                Assert.That(bySize[10240].Lun, Is.EqualTo("2"), list);
                Assert.That(vm.Log, Does.Match(@"scsi host\d+: usb-storage \d+-2:1\.0 \(3 LUNs\)"));
                string g = bySize[gptBlocks].Name, m1 = bySize[6144].Name, ro = bySize[10240].Name;
                Assert.That(list, Does.Match(@"\n  gpt [0-9a-f-]{36}, removable\s*\n"), list);
                Assert.That(list, Does.Match(@"\|-" + g + @"2\s+2\.8M\s+start 288\s+EFI System\s+""EFI boot partition"""), list);
                Assert.That(list, Does.Match(@"`-" + g + @"4 "), list);
                Assert.That(list, Does.Match(@"\n  dos deadbeef\s*\n  \|-" + m1 + @"1\s+1\.0M\s+start 2048\s+W95 FAT32 \(LBA\) \*\s+-\s+deadbeef-01\s*\n  `-" + m1 + @"2\s+1\.0M\s+start 4096\s+Linux\s"), list);
                Assert.That(list, Does.Match(@"\n  no partition table, write protected"), list);
                Assert.That(vm.Log, Does.Contain(" " + g + ": " + g + "1 " + g + "2 " + g + "3 " + g + "4"));
                Assert.That(vm.RunCommand("disk bench " + ro + " 1 write"), Does.Contain("write protected (-EROFS)"));
                Assert.That(vm.RunCommand("disk read " + m1 + " 0"), Does.Contain("000001f0").And.Contain("55 aa"));

                // Full-disk write + verify on each controller; the host checks the images too.
                foreach (var (controller, (path, blocks)) in verify)
                {
                    string name = bySize[blocks].Name;
                    string output = vm.RunCommand("disk bench " + name + " 64 write", Io);
                    TestContext.Progress.WriteLine($"storage integrity {controller}: {output.Trim().Replace('\n', ' ')}");
                    Assert.That(output, Does.Match(@"disk bench: \d+ MiB in \d+ ms \([\d.]+ MB/s\)"), output);
                    Assert.That(output, Does.Contain($"wrote {blocks} blocks at LBA 0-{blocks - 1} (whole disk)"), output);
                    Assert.That(output, Does.Contain(", 0 bad sectors"), output);
                    ulong seed = Convert.ToUInt64(Regex.Match(output, "pattern seed ([0-9a-f]{16})").Groups[1].Value, 16);
                    Assert.That(BadBlocks(path, seed, blocks), Is.EqualTo(0), controller + ": the image file holds the pattern");
                }

                // Unplug in the middle of a write (UHCI) and of a read (OHCI): an error, in bounded time.
                string w = bySize[16384].Name;
                vm.SendLine("disk bench " + w + " 8 write");
                vm.WaitForLine(@"disk bench " + w + " 8 write");
                Thread.Sleep(1500);
                var clock = Stopwatch.StartNew();
                vm.Qmp.DeviceDel("victimw");
                Match failed = vm.WaitForLine(@"disk bench: " + w + @" write at LBA (\d+): (?:no device \(-ENODEV\)|transport error \(-EIO\)) \((\d+) blocks confirmed by the device, pattern seed ([0-9a-f]{16})\)", UnplugBound);
                TestContext.Progress.WriteLine($"storage integrity: write unplugged, error after {clock.ElapsedMilliseconds} ms: {failed.Value}");
                long confirmed = long.Parse(failed.Groups[2].Value);
                Assert.That(confirmed, Is.GreaterThan(0).And.LessThan(16384), "unplugged in the middle");
                Assert.That(BadBlocks(victimWrite, Convert.ToUInt64(failed.Groups[3].Value, 16), confirmed), Is.EqualTo(0),
                            "every block reported confirmed is on the medium");
                vm.WaitForPrompt(UnplugBound);
                // The command may end (-EIO) before the disconnect is handled: let its log lines pass
                // before typing the next command, so they do not split the echo the test waits for.
                var gone = Stopwatch.StartNew();
                while (!vm.Log.Contains("[" + w + "] detached"))
                {
                    Assert.That(gone.Elapsed, Is.LessThan(UnplugBound), w + " detached");
                    Thread.Sleep(50);
                }

                string r = bySize[81920].Name;
                vm.SendLine("disk bench " + r + " 400");     // wraps around the 40 MiB disk: seconds, whatever the speed
                vm.WaitForLine(@"disk bench " + r + " 400");
                Thread.Sleep(1000);
                clock.Restart();
                vm.Qmp.DeviceDel("victimr");
                vm.WaitForLine(@"disk bench: " + r + @" LBA \d+: (?:no device \(-ENODEV\)|transport error \(-EIO\))", UnplugBound);
                TestContext.Progress.WriteLine($"storage integrity: read unplugged, error after {clock.ElapsedMilliseconds} ms");
                vm.WaitForPrompt(UnplugBound);
                var detach = Stopwatch.StartNew();
                while (!vm.Log.Contains("[" + r + "] detached"))
                {
                    Assert.That(detach.Elapsed, Is.LessThan(UnplugBound), r + " detached");
                    Thread.Sleep(50);
                }

                // Removable medium on LUN 0 (QEMU answers REQUEST SENSE for other LUNs of a usb-bot at target
                // level with "logical unit not supported", so the medium tests use LUN 0): eject, then a new medium.
                vm.Qmp.Execute("eject", new System.Text.Json.Nodes.JsonObject { ["id"] = "lun0", ["force"] = true });
                Assert.That(vm.RunCommand("disk read " + g + " 0"), Does.Contain("no medium (-ENOMEDIUM)"));
                Assert.That(QemuMachine.WithoutLogLines(vm.RunCommand("disk")), Does.Match(g + @"\s.*\n  no partition table, removable, no medium\s*\n"));
                vm.Qmp.Execute("blockdev-change-medium", new System.Text.Json.Nodes.JsonObject { ["id"] = "lun0", ["filename"] = card, ["format"] = "raw" });
                Assert.That(vm.RunCommand("disk read " + g + " 0"), Does.Contain("000001f0").And.Contain("55 aa"), "the new medium is read");
                string changed = QemuMachine.WithoutLogLines(vm.RunCommand("disk"));
                Assert.That(changed, Does.Match(g + @"\s.*, 2048 x 512 bytes.*\s*\n  dos 0badcafe, removable\s*\n  `-" + g + @"1\s"), changed);

                string after = vm.RunCommand("disk");
                Assert.That(after, Does.Not.Contain(w + " ").And.Not.Contain(r + " "), after);
                Assert.That(vm.RunCommand("disk read " + bySize[2048].Name + " 0"), Does.Contain("00000000  00 00 00 00"), "LBA 0 of the UHCI disk holds word 0 = 0");
            }
            finally
            {
                try { Directory.Delete(dir, true); } catch (IOException) { }
            }
        }
    }
}
