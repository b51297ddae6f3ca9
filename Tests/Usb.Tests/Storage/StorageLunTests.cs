using System;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Storage;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests.Storage
{
    /// <summary>
    /// The driver against a simulated multi-LUN device: every LUN a disk, READ(16)/WRITE(16) on a
    /// disk too big for 32-bit LBAs, removable media (no medium, medium changed), write protect,
    /// SYNCHRONIZE CACHE, streaming, partitions read at attach, reset recovery's order.
    /// </summary>
    [TestFixture]
    public class StorageLunTests
    {
        sealed class Rig : IDisposable
        {
            public readonly TestBed Bed = new TestBed();
            public readonly UsbStorageDriver Driver;
            public readonly SimController Hc;

            public Rig()
            {
                Driver = UsbStorageDriver.Register(Bed.Stack);
                Hc = Bed.AddController(4, UsbSpeed.High);
            }

            public void Plug(SimBotDevice device, int disks)
            {
                Hc.Plug("1", device);
                Bed.Settle();
                var deadline = DateTime.UtcNow.AddSeconds(10);
                while (Driver.Disks.Length < disks || !Bed.LogSink.Contains("Attached SCSI"))
                {
                    Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "disks never attached\n" + Bed.LogSink.All());
                    Thread.Sleep(1);
                }
                Thread.Sleep(20);   // the partition read after the last attach
            }

            public void Dispose() => Bed.Dispose();
        }

        static string Text(byte[] block)
        {
            int n = Array.IndexOf(block, (byte)0);
            return System.Text.Encoding.ASCII.GetString(block, 0, n < 0 ? block.Length : n);
        }

        [Test]
        public void EveryLunBecomesADiskWithItsOwnData()
        {
            using var rig = new Rig();
            var sim = new SimBotDevice(2048);
            sim.AddLun(4096);
            SimLun wp = sim.AddLun(1024);
            wp.WriteProtected = true;
            rig.Plug(sim, 3);
            ScsiDisk[] disks = rig.Driver.Disks;
            Assert.That(disks.Length, Is.EqualTo(3), rig.Bed.LogSink.All());
            Assert.That(disks[1].Name, Is.EqualTo("sdb"));
            Assert.That(disks[1].Lun, Is.EqualTo(1));
            Assert.That(disks[1].Address, Is.EqualTo("0:0:0:1"));
            Assert.That(disks[1].BlockCount, Is.EqualTo(4096UL));
            Assert.That(disks[2].BlockCount, Is.EqualTo(1024UL));
            string log = rig.Bed.LogSink.All();
            Assert.That(log, Does.Contain("scsi host0: usb-storage 1-1:1.0 (3 LUNs)"));
            Assert.That(log, Does.Contain("sd 0:0:0:2: [sdc] Write Protect is on"));
            Assert.That(log, Does.Contain("sd 0:0:0:0: [sda] Write Protect is off"));

            var block = new byte[512];
            Assert.That(disks[1].Read(77, 1, block), Is.EqualTo(StorageStatus.Ok));
            Assert.That(Text(block), Is.EqualTo("L1:LBA 77"));
            Assert.That(disks[0].Read(77, 1, block), Is.EqualTo(StorageStatus.Ok));
            Assert.That(Text(block), Is.EqualTo("LBA 77"));

            // Write protect: refused before any command, and a device that says DATA PROTECT is decoded.
            int commands = sim.Commands;
            Assert.That(disks[2].Write(0, 1, new byte[512]), Is.EqualTo(StorageStatus.WriteProtected));
            Assert.That(sim.Commands, Is.EqualTo(commands));
            disks[2].WriteProtected = false;   // as if MODE SENSE had lied
            Assert.That(disks[2].Write(0, 1, new byte[512]), Is.EqualTo(StorageStatus.WriteProtected));
            Assert.That(disks[2].Sense.Describe(), Is.EqualTo("Data Protect: Write protected"));
            Assert.That(wp.Image[0], Is.EqualTo((byte)'L'), "nothing written");

            // Writes to LUN 1 stay on LUN 1.
            var data = new byte[3 * 512];
            new Random(5).NextBytes(data);
            Assert.That(disks[1].Write(10, 3, data), Is.EqualTo(StorageStatus.Ok));
            Assert.That(new ReadOnlySpan<byte>(sim.Luns[1].Image, 10 * 512, data.Length).SequenceEqual(data), Is.True);
            Assert.That(Text(new ReadOnlySpan<byte>(sim.Image, 10 * 512, 512).ToArray()), Is.EqualTo("LBA 10"));

            Assert.That(disks[1].SynchronizeCache(), Is.EqualTo(StorageStatus.Ok));
            Assert.That(sim.Synchronizes, Is.EqualTo(1));

            rig.Hc.Unplug("1");
            rig.Bed.Settle();
            Assert.That(rig.Driver.Disks, Is.Empty);
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("[sdc] detached").And.Contain("[sda] detached"));
        }

        [Test]
        public void ADiskBeyondThirtyTwoBitLbasUsesSixteenByteCommands()
        {
            using var rig = new Rig();
            var sim = new SimBotDevice(4096) { SupportsReadCapacity16 = true };
            sim.Luns[0].ReportedBlocks = 0x1_0000_1000UL;   // 2 TiB + 2 MiB; only the first 4096 blocks hold data
            rig.Plug(sim, 1);
            ScsiDisk disk = rig.Driver.Disks[0];
            Assert.That(disk.BlockCount, Is.EqualTo(0x1_0000_1000UL));
            Assert.That(disk.Use16, Is.True);
            Assert.That(disk.CheckRange(0x1_0000_0FFFUL, 1), Is.EqualTo(StorageStatus.Ok), "READ(16) reaches the last block");
            var block = new byte[512];
            int before = sim.Commands16;
            Assert.That(disk.Read(4095, 1, block), Is.EqualTo(StorageStatus.Ok));
            Assert.That(Text(block), Is.EqualTo("LBA 4095"));
            Assert.That(disk.Write(7, 1, block), Is.EqualTo(StorageStatus.Ok));
            Assert.That(sim.Commands16 - before, Is.EqualTo(2));
            Assert.That(Text(new ReadOnlySpan<byte>(sim.Image, 7 * 512, 512).ToArray()), Is.EqualTo("LBA 4095"));
        }

        [Test]
        public void WithoutReadCapacitySixteenTheFirstTwoToTheThirtyTwoBlocksAreUsed()
        {
            using var rig = new Rig();
            var sim = new SimBotDevice(1024);
            sim.Luns[0].ReportedBlocks = 0x1_0000_1000UL;
            rig.Plug(sim, 1);
            ScsiDisk disk = rig.Driver.Disks[0];
            Assert.That(disk.BlockCount, Is.EqualTo(0x1_0000_0000UL));
            Assert.That(disk.Use16, Is.False);
        }

        [Test]
        public void RemovableMediaNoMediumThenInsertedThenChanged()
        {
            using var rig = new Rig();
            var sim = new SimBotDevice(2048);
            SimLun card = sim.AddLun(1024);
            card.MediumPresent = false;
            sim.DescriptorSense = true;
            rig.Plug(sim, 2);
            ScsiDisk reader = rig.Driver.FindDisk("sdb");
            Assert.That(reader, Is.Not.Null, rig.Bed.LogSink.All());
            Assert.That(reader.MediumPresent, Is.False);
            Assert.That(reader.Removable, Is.True);
            Assert.That(reader.BlockCount, Is.EqualTo(0UL));
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("[sdb] Media removed, stopped polling").And.Contain("[sdb] Attached SCSI removable disk"));
            var block = new byte[512];
            Assert.That(reader.Read(0, 1, block), Is.EqualTo(StorageStatus.NoMedium));

            // A card goes in: the next use reads the capacity (and partitions) again.
            rig.Hc.Mutate(() => { card.MediumPresent = true; card.MediumChanged = true; });
            Assert.That(reader.Read(3, 1, block), Is.EqualTo(StorageStatus.Ok), rig.Bed.LogSink.All());
            Assert.That(Text(block), Is.EqualTo("L1:LBA 3"));
            Assert.That(reader.BlockCount, Is.EqualTo(1024UL));

            // Another card (bigger) while idle: the unit attention makes the driver look again instead of writing blindly.
            rig.Hc.Mutate(() => { card.Image = SimLun.Pattern(4096, 7); card.MediumChanged = true; });
            Assert.That(reader.Read(3, 1, block), Is.Not.EqualTo(StorageStatus.Ok), "the command that met the medium change fails");
            Assert.That(reader.NeedsRevalidation, Is.True);
            Assert.That(reader.Read(4000, 1, block), Is.EqualTo(StorageStatus.Ok), rig.Bed.LogSink.All());
            Assert.That(Text(block), Is.EqualTo("L7:LBA 4000"));
            Assert.That(reader.BlockCount, Is.EqualTo(4096UL));

            // Card pulled: NOT READY / MEDIUM NOT PRESENT during I/O.
            rig.Hc.Mutate(() => card.MediumPresent = false);
            Assert.That(reader.Read(0, 1, block), Is.EqualTo(StorageStatus.NoMedium));
            Assert.That(reader.MediumPresent, Is.False);
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("[sdb] Media removed"));
            Assert.That(rig.Driver.FindDisk("sda").Read(1, 1, block), Is.EqualTo(StorageStatus.Ok), "the other LUN is unaffected");
        }

        [Test]
        public void PartitionsAreReadAtAttach()
        {
            using var rig = new Rig();
            var sim = new SimBotDevice(8192);
            byte[] gpt = PartitionImages.Gpt(8192,
                (PartitionImages.EfiSystem, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", 2048, 4095, "EFI"),
                (PartitionImages.LinuxFilesystem, "01234567-89ab-cdef-0123-456789abcdef", 4096, 8158, "root"));
            Array.Copy(gpt, sim.Image, gpt.Length);
            rig.Plug(sim, 1);
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (!rig.Bed.LogSink.Contains(" sda: sda1 sda2"))
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), rig.Bed.LogSink.All());
                Thread.Sleep(1);
            }
            PartitionTable t = rig.Driver.Disks[0].Partitions;
            Assert.That(t.Type, Is.EqualTo("gpt"));
            Assert.That(t.Partitions[0].Label, Is.EqualTo("EFI"));
        }

        [Test]
        public void StreamingMovesWholeCommandsWithoutCopiesAndStopsOnRequest()
        {
            using var rig = new Rig();
            var sim = new SimBotDevice(8192);
            rig.Plug(sim, 1);
            ScsiDisk disk = rig.Driver.Disks[0];
            var writer = new PatternStream { Seed = 42, Write = true };
            int commands = sim.ReadWriteCommands;
            Assert.That(disk.Stream(true, 0, 8192, writer, out ulong done), Is.EqualTo(StorageStatus.Ok));
            Assert.That(done, Is.EqualTo(8192UL));
            Assert.That(sim.ReadWriteCommands - commands, Is.EqualTo(4), "2048 blocks (1 MiB) per command");
            Assert.That(DiskPattern.CountBad(sim.Image, 0, 512, 42, out _), Is.EqualTo(0));
            var checker = new PatternStream { Seed = 42 };
            Assert.That(disk.Stream(false, 0, 8192, checker, out done), Is.EqualTo(StorageStatus.Ok));
            Assert.That(checker.Bad, Is.EqualTo(0));
            Assert.That(checker.Chunks, Is.EqualTo(4));
            var stopper = new PatternStream { Seed = 42, StopAfter = 1 };
            Assert.That(disk.Stream(false, 0, 8192, stopper, out done), Is.EqualTo(StorageStatus.Ok));
            Assert.That(done, Is.EqualTo(2048UL));
        }

        sealed class PatternStream : IBlockStream
        {
            public ulong Seed;
            public bool Write;
            public int Bad, Chunks, StopAfter = int.MaxValue;
            public bool Chunk(ulong lba, int blocks, Span<byte> data)
            {
                Chunks++;
                if (Write) DiskPattern.Fill(data, lba, 512, Seed);
                else Bad += DiskPattern.CountBad(data, lba, 512, Seed, out _);
                return Chunks < StopAfter;
            }
        }

        /// <summary>
        /// A disk unplugged in the middle of a streamed write: the write ends with NoDevice within a
        /// bound, counts as done only the commands whose CSW passed, and those blocks are on the medium.
        /// </summary>
        [Test]
        public void UnplugMidWriteReportsOnlyConfirmedBlocks()
        {
            using var rig = new Rig();
            var sim = new SimBotDevice(16384);
            rig.Plug(sim, 1);
            ScsiDisk disk = rig.Driver.Disks[0];
            int dataStages = 0;
            var writer = new PatternStream { Seed = 7, Write = true };
            StorageStatus result = StorageStatus.Ok;
            ulong done = ulong.MaxValue;
            // The third command's data stage holds (a device that stopped answering), then the disk goes.
            rig.Hc.Mutate(() => sim.OnDataStage = Hook);
            void Hook()
            {
                if (++dataStages < 3) { sim.OnDataStage = Hook; return; }
                sim.HoldData = true;
            }
            var thread = new Thread(() => result = disk.Stream(true, 0, 16384, writer, out done)) { IsBackground = true };
            thread.Start();
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (sim.DataStagesWaiting == 0)
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "third data stage never started\n" + rig.Bed.LogSink.All());
                Thread.Sleep(1);
            }
            var clock = System.Diagnostics.Stopwatch.StartNew();
            rig.Hc.Unplug("1");
            rig.Bed.Settle();
            Assert.That(thread.Join(TimeSpan.FromSeconds(10)), Is.True, "the write returned");
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "within a bound, not after the data timeout");
            Assert.That(result, Is.EqualTo(StorageStatus.NoDevice));
            Assert.That(done, Is.EqualTo((ulong)(2 * disk.BlocksPerCommand)), "two commands confirmed by their CSW, the third not");
            Assert.That(DiskPattern.CountBad(new ReadOnlySpan<byte>(sim.Image, 0, (int)done * 512), 0, 512, 7, out _), Is.EqualTo(0),
                        "the confirmed blocks are on the medium");
        }

        [Test]
        public void ResetRecoveryIsResetThenBulkInThenBulkOut()
        {
            using var rig = new Rig();
            var sim = new SimBotDevice(2048);
            rig.Plug(sim, 1);
            int before = sim.ControlLog.Count;
            rig.Hc.Mutate(() => sim.PhaseErrorNext = true);
            Assert.That(rig.Driver.Disks[0].Read(1, 1, new byte[512]), Is.EqualTo(StorageStatus.PhaseError));
            var order = sim.ControlLog.GetRange(before, sim.ControlLog.Count - before);
            Assert.That(order.Count, Is.EqualTo(3), "reset + two CLEAR_FEATURE");
            Assert.That(order[0].bRequest, Is.EqualTo(MassStorage.RequestReset));
            Assert.That(order[1].bRequest, Is.EqualTo(UsbRequestCode.ClearFeature));
            Assert.That(order[1].wIndex, Is.EqualTo(0x81), "bulk IN first (BOT 5.3.4)");
            Assert.That(order[2].wIndex, Is.EqualTo(0x02), "then bulk OUT");
        }
    }
}
