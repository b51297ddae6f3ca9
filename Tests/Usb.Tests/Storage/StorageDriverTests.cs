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
    [TestFixture]
    public class StorageDriverTests
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

            public SimBotDevice Plug(string port, SimBotDevice device)
            {
                int before = Driver.Disks.Length;
                Hc.Plug(port, device);
                Bed.Settle();
                // The SCSI scan runs on its own thread after the probe (Linux usb-stor-scan).
                var deadline = DateTime.UtcNow.AddSeconds(10);
                while (Driver.Disks.Length == before)
                {
                    Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "disk never attached\n" + Bed.LogSink.All());
                    Thread.Sleep(1);
                }
                return device;
            }

            public void Dispose() => Bed.Dispose();
        }

        static string Text(byte[] block)
        {
            int n = Array.IndexOf(block, (byte)0);
            return System.Text.Encoding.ASCII.GetString(block, 0, n < 0 ? block.Length : n);
        }

        static int ControlCount(SimDevice d, byte request, ushort wIndex) =>
            d.ControlLog.FindAll(s => s.bRequest == request && s.wIndex == wIndex).Count;

        [Test]
        public void EnumerationProbeFindsCapacityAndLogsLikeLinux()
        {
            using var rig = new Rig();
            SimBotDevice sim = rig.Plug("1", new SimBotDevice(32768));
            UsbInterface intf = rig.Bed.Stack.FindInterface("1-1:1.0");
            Assert.That(intf.Driver?.Name, Is.EqualTo("usb-storage"), rig.Bed.LogSink.All());
            ScsiDisk[] disks = rig.Driver.Disks;
            Assert.That(disks.Length, Is.EqualTo(1));
            Assert.That(disks[0].Name, Is.EqualTo("sda"));
            Assert.That(disks[0].BlockSize, Is.EqualTo(512u));
            Assert.That(disks[0].BlockCount, Is.EqualTo(32768ul));
            Assert.That(disks[0].Vendor.Trim(), Is.EqualTo("QEMU"));
            Assert.That(disks[0].Product.Trim(), Is.EqualTo("QEMU HARDDISK"));
            string log = rig.Bed.LogSink.All();
            Assert.That(log, Does.Contain("usb-storage 1-1:1.0: USB Mass Storage device detected"));
            Assert.That(log, Does.Contain("scsi 0:0:0:0: Direct-Access     QEMU     QEMU HARDDISK    2.5+ PQ: 0 ANSI: 5"));
            Assert.That(log, Does.Contain("sd 0:0:0:0: [sda] 32768 512-byte logical blocks: (16.8 MB/16.0 MiB)"));
            Assert.That(ControlCount(sim, MassStorage.RequestGetMaxLun, 0), Is.EqualTo(1), "GET MAX LUN (stalled: LUN 0 only)");
            Assert.That(sim.UnitAttentionPending, Is.False, "TEST UNIT READY saw the unit attention and retried");

            // A second disk gets the next name.
            rig.Plug("2", new SimBotDevice(2048));
            Assert.That(rig.Driver.FindDisk("sdb")?.BlockCount, Is.EqualTo(2048ul));
        }

        [Test]
        public void ReadWriteRoundTripAcrossChunks()
        {
            using var rig = new Rig();
            SimBotDevice sim = rig.Plug("1", new SimBotDevice(32768));
            ScsiDisk disk = rig.Driver.FindDisk("sda");
            var block = new byte[512];
            Assert.That(disk.Read(12345, 1, block), Is.EqualTo(StorageStatus.Ok));
            Assert.That(Text(block), Is.EqualTo("LBA 12345"));

            int per = disk.BlocksPerCommand;
            Assert.That(per, Is.EqualTo(BulkOnlyTransport.MaxTransferBytes / 512), "1 MiB commands at high speed");
            int count = 2 * per + 44;   // more than two commands
            var data = new byte[count * 512];
            new Random(7).NextBytes(data);
            int commands = sim.Commands;
            Assert.That(disk.Write(1000, count, data), Is.EqualTo(StorageStatus.Ok));
            Assert.That(sim.Commands - commands, Is.EqualTo(3), "2 full commands + 44 blocks");
            Assert.That(new ReadOnlySpan<byte>(sim.Image, 1000 * 512, data.Length).SequenceEqual(data), Is.True);
            var back = new byte[data.Length];
            Assert.That(disk.Read(1000, count, back), Is.EqualTo(StorageStatus.Ok));
            Assert.That(back, Is.EqualTo(data));
            Assert.That(disk.Read(32767, 2, new byte[1024]), Is.EqualTo(StorageStatus.OutOfRange), "beyond the end");
            Assert.That(disk.Read(32767, 1, block), Is.EqualTo(StorageStatus.Ok));
            Assert.That(Text(block), Is.EqualTo("LBA 32767"));
        }

        [Test]
        public void StallInDataStageIsClearedAndTheCommandRetried()
        {
            using var rig = new Rig();
            SimBotDevice sim = rig.Plug("1", new SimBotDevice(4096));
            ScsiDisk disk = rig.Driver.FindDisk("sda");
            rig.Hc.Mutate(() => sim.StallNextDataIn = true);
            var block = new byte[512];
            Assert.That(disk.Read(77, 1, block), Is.EqualTo(StorageStatus.Ok));
            Assert.That(Text(block), Is.EqualTo("LBA 77"));
            Assert.That(ControlCount(sim, UsbRequestCode.ClearFeature, 0x81), Is.EqualTo(1), "CLEAR_FEATURE(HALT) on bulk IN");
            Assert.That(sim.BotResets, Is.EqualTo(0), "a data-stage STALL needs no reset recovery");
            Assert.That(((BulkOnlyTransport)disk.Transport).ClearedHalts, Is.EqualTo(1));
        }

        [Test]
        public void BadCswTriggersResetRecovery()
        {
            using var rig = new Rig();
            SimBotDevice sim = rig.Plug("1", new SimBotDevice(4096));
            ScsiDisk disk = rig.Driver.FindDisk("sda");
            rig.Hc.Mutate(() => sim.BadNextCsw = true);
            var block = new byte[512];
            Assert.That(disk.Read(5, 1, block), Is.EqualTo(StorageStatus.PhaseError));
            Assert.That(sim.BotResets, Is.EqualTo(1), "Bulk-Only Mass Storage Reset");
            Assert.That(ControlCount(sim, UsbRequestCode.ClearFeature, 0x81), Is.EqualTo(1), "clear halt bulk IN");
            Assert.That(ControlCount(sim, UsbRequestCode.ClearFeature, 0x02), Is.EqualTo(1), "clear halt bulk OUT");
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("reset recovery"));
            Assert.That(disk.Read(6, 1, block), Is.EqualTo(StorageStatus.Ok), "works again after the recovery");
            Assert.That(Text(block), Is.EqualTo("LBA 6"));
        }

        [Test]
        public void UnplugMidTransferEndsWithNoDeviceAndFreesEverything()
        {
            using var rig = new Rig();
            int dmaBaseline = rig.Bed.Dma.Outstanding;
            SimBotDevice sim = rig.Plug("1", new SimBotDevice(4096));
            ScsiDisk disk = rig.Driver.FindDisk("sda");
            Assert.That(rig.Bed.Dma.Outstanding, Is.GreaterThan(dmaBaseline));
            rig.Hc.Mutate(() => sim.HoldData = true);
            StorageStatus result = StorageStatus.Ok;
            var reader = new Thread(() => result = disk.Read(0, 256, new byte[256 * 512])) { IsBackground = true };
            reader.Start();
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (sim.DataStagesWaiting == 0)
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "data stage never started");
                Thread.Sleep(1);
            }
            rig.Hc.Unplug("1");
            rig.Bed.Settle();
            Assert.That(reader.Join(TimeSpan.FromSeconds(10)), Is.True, "the read ended");
            Assert.That(result, Is.EqualTo(StorageStatus.NoDevice));
            Assert.That(rig.Driver.Disks.Length, Is.EqualTo(0), "the disk is gone");
            Assert.That(rig.Bed.Dma.Outstanding, Is.EqualTo(dmaBaseline), "DMA buffers freed");
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("[sda] detached"));
            Assert.That(disk.Read(0, 1, new byte[512]), Is.EqualTo(StorageStatus.NoDevice));
        }
    }
}
