using System;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Storage;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests.Storage
{
    /// <summary>
    /// Bad block ranges and absurd capacities give a clear status, never a wrapped LBA: a range
    /// past the end of the disk, past READ(10)'s 32-bit LBA or past 2^64 is refused before any
    /// command is sent; a READ CAPACITY block length the driver can't serve refuses the disk.
    /// </summary>
    [TestFixture]
    public class StorageBoundsTests
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

            /// <summary>Plugs the device and waits until its SCSI scan ended (attached or refused).</summary>
            public ScsiDisk Plug(SimBotDevice device)
            {
                Hc.Plug("1", device);
                Bed.Settle();
                var deadline = DateTime.UtcNow.AddSeconds(10);
                while (Driver.Disks.Length == 0 && !Bed.LogSink.Contains("scan failed"))
                {
                    Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "scan never ended\n" + Bed.LogSink.All());
                    Thread.Sleep(1);
                }
                return Driver.Disks.Length > 0 ? Driver.Disks[0] : null;
            }

            public void Dispose() => Bed.Dispose();
        }

        [Test]
        public void RangesPastTheEndOrWrappingAreRefusedBeforeAnyCommand()
        {
            using var rig = new Rig();
            var sim = new SimBotDevice(1024);
            ScsiDisk disk = rig.Plug(sim);
            Assert.That(disk, Is.Not.Null, rig.Bed.LogSink.All());
            byte[] buffer = new byte[16 * 512];
            Assert.That(disk.Read(1023, 1, buffer), Is.EqualTo(StorageStatus.Ok));
            int commands = sim.ReadWriteCommands;
            byte[] image = (byte[])sim.Image.Clone();

            Assert.That(disk.Read(1023, 2, buffer), Is.EqualTo(StorageStatus.OutOfRange));
            Assert.That(disk.Read(1024, 1, buffer), Is.EqualTo(StorageStatus.OutOfRange));
            // lba + count wraps past 2^64 to a small number: must not read LBA 0xFFFFFFFF, 0, 1, ...
            Assert.That(disk.Read(ulong.MaxValue, 2, buffer), Is.EqualTo(StorageStatus.OutOfRange));
            Assert.That(disk.Write(ulong.MaxValue - 5, 10, buffer), Is.EqualTo(StorageStatus.OutOfRange));
            Assert.That(disk.Write(0x1_0000_0000UL, 1, buffer), Is.EqualTo(StorageStatus.OutOfRange), "LBA 0 once truncated to 32 bits");
            Assert.That(disk.Read(0, -1, buffer), Is.EqualTo(StorageStatus.InvalidArgument));
            Assert.That(disk.Read(0, 17, buffer), Is.EqualTo(StorageStatus.InvalidArgument), "buffer too small");
            Assert.That(sim.ReadWriteCommands, Is.EqualTo(commands), "no READ/WRITE(10) went out");
            Assert.That(sim.Image, Is.EqualTo(image), "nothing was written");
        }

        [Test]
        public void TheLastReadTenLbaIsReachableOneMoreIsNot()
        {
            using var rig = new Rig();
            var sim = new SimBotDevice(1024) { ReportedLastLba = 0xFFFFFFFF };
            ScsiDisk disk = rig.Plug(sim);
            Assert.That(disk, Is.Not.Null, rig.Bed.LogSink.All());
            Assert.That(disk.BlockCount, Is.EqualTo(0x1_0000_0000UL));
            Assert.That(disk.CheckRange(0xFFFFFFFF, 1), Is.EqualTo(StorageStatus.Ok));
            Assert.That(disk.CheckRange(0xFFFFFFFF, 2), Is.EqualTo(StorageStatus.OutOfRange));
            Assert.That(disk.CheckRange(0x1_0000_0000UL, 0), Is.EqualTo(StorageStatus.OutOfRange));
            Assert.That(disk.CheckRange(0, 0x1_0000_0000UL), Is.EqualTo(StorageStatus.Ok));
            Assert.That(disk.CheckRange(1, 0x1_0000_0000UL), Is.EqualTo(StorageStatus.OutOfRange));
            Assert.That(disk.CheckRange(ulong.MaxValue, ulong.MaxValue), Is.EqualTo(StorageStatus.OutOfRange));
        }

        [TestCase(0u)]
        [TestCase(1u)]
        [TestCase(3u)]
        [TestCase(256u)]
        [TestCase(520u)]
        [TestCase(131072u)]
        [TestCase(0x80000000u)]
        public void AbsurdBlockSizesRefuseTheDiskAtProbe(uint blockSize)
        {
            using var rig = new Rig();
            var sim = new SimBotDevice(1024) { ReportedBlockSize = blockSize };
            ScsiDisk disk = rig.Plug(sim);
            Assert.That(disk, Is.Null, "no disk for a block length of " + blockSize);
            Assert.That(rig.Bed.LogSink.Contains("unsupported logical block size " + blockSize), Is.True, rig.Bed.LogSink.All());
        }

        [TestCase(512u)]
        [TestCase(4096u)]
        [TestCase(65536u)]
        public void SaneBlockSizesAreAccepted(uint blockSize)
        {
            using var rig = new Rig();
            var sim = new SimBotDevice(1024) { ReportedBlockSize = blockSize };
            ScsiDisk disk = rig.Plug(sim);
            Assert.That(disk, Is.Not.Null, rig.Bed.LogSink.All());
            Assert.That(disk.BlockSize, Is.EqualTo(blockSize));
        }

        [Test]
        public void ACommandNeverAsksForMoreBlocksThanReadTenCanCount()
        {
            using var rig = new Rig();
            ScsiDisk disk = rig.Plug(new SimBotDevice(1024));
            Assert.That(disk.BlocksPerCommand, Is.EqualTo(BulkOnlyTransport.MaxTransferBytes / 512));
            // Whatever block length the disk has, the 16-bit transfer length field must hold the count.
            disk.BlockSize = 1;
            Assert.That(disk.BlocksPerCommand, Is.LessThanOrEqualTo(ushort.MaxValue));
            Assert.That(disk.BlocksPerCommand, Is.GreaterThan(0));
        }

        [TestCase("0", true, 0UL)]
        [TestCase("18446744073709551615", true, ulong.MaxValue)]
        [TestCase("18446744073709551616", false, 0UL)]
        [TestCase("99999999999999999999999", false, 0UL)]
        [TestCase("", false, 0UL)]
        [TestCase("12a", false, 0UL)]
        [TestCase("-1", false, 0UL)]
        public void ShellNumbersNeverWrap(string text, bool ok, ulong value)
        {
            Assert.That(DiskArguments.ParseNumber(text, out ulong parsed), Is.EqualTo(ok));
            if (ok)
                Assert.That(parsed, Is.EqualTo(value));
        }
    }
}
