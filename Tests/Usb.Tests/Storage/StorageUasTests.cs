using System;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Storage;
using NUnit.Framework;
using Platform;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests.Storage
{
    /// <summary>UAS: IU encoding byte-exact per UAS r04, and the uas driver on a simulated high-speed UAS bridge (no streams).</summary>
    [TestFixture]
    public class StorageUasTests
    {
        // ---- IU encoding -------------------------------------------------------------------

        [Test]
        public void CommandIuIsByteExact()
        {
            var iu = new byte[40];
            byte[] cdb = { Scsi.Read10, 0, 0x12, 0x34, 0x56, 0x78, 0, 0x00, 0x08, 0 };
            Assert.That(Uas.WriteCommand(iu, 0x0102, 5, cdb), Is.EqualTo(32));
            byte[] expected =
            {
                0x01, 0x00, 0x01, 0x02,             // IU ID Command, reserved, TAG (big-endian)
                0x00, 0x00, 0x00, 0x00,             // task attribute SIMPLE, reserved, additional CDB length 0, reserved
                0x00, 0x05, 0, 0, 0, 0, 0, 0,       // LUN 5, single-level peripheral addressing
                0x28, 0, 0x12, 0x34, 0x56, 0x78, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0,   // CDB padded to 16
            };
            Assert.That(iu[..32], Is.EqualTo(expected));
        }

        [Test]
        public void TaskManagementIuIsByteExact()
        {
            var iu = new byte[16];
            Assert.That(Uas.WriteTaskManagement(iu, 9, Uas.TmfAbortTask, 0x0203, 1), Is.EqualTo(16));
            Assert.That(iu, Is.EqualTo(new byte[] { 0x05, 0, 0, 9, 0x01, 0, 0x02, 0x03, 0, 1, 0, 0, 0, 0, 0, 0 }));
            Uas.WriteLun(iu, 8, 0x1234);
            Assert.That(iu[8..10], Is.EqualTo(new byte[] { 0x12, 0x34 }), "LUN above 255: 14-bit flat form");
        }

        [Test]
        public void StatusIusAreCheckedAndDecoded()
        {
            byte[] sense = new byte[16 + 18];
            sense[0] = Uas.IuSense; sense[3] = 7; sense[6] = Uas.StatusCheckCondition; sense[15] = 18;
            sense[16] = 0x70; sense[18] = 0x03; sense[28] = 0x11;
            Assert.That(Uas.CheckStatusIu(sense), Is.Null);
            Assert.That(Uas.ReadTag(sense), Is.EqualTo(7));
            Assert.That(Uas.ReadSenseStatus(sense), Is.EqualTo(Uas.StatusCheckCondition));
            Assert.That(Uas.ReadSenseData(sense).Length, Is.EqualTo(18));
            Assert.That(Uas.ReadSenseData(sense[..20]).Length, Is.EqualTo(4), "SENSE LENGTH clipped to what arrived");
            SenseData decoded = SenseData.Parse(Uas.ReadSenseData(sense));
            Assert.That(decoded.Key, Is.EqualTo(Scsi.SenseMediumError));
            Assert.That(decoded.Asc, Is.EqualTo(0x11));

            Assert.That(Uas.CheckStatusIu(new byte[] { 3, 0 }), Is.EqualTo("short IU (2 bytes)"));
            Assert.That(Uas.CheckStatusIu(sense[..10]), Is.EqualTo("short Sense IU (10 bytes)"));
            Assert.That(Uas.CheckStatusIu(new byte[] { Uas.IuResponse, 0, 0, 1, 0 }), Is.EqualTo("short Response IU (5 bytes)"));
            Assert.That(Uas.CheckStatusIu(new byte[] { 0x42, 0, 0, 1 }), Is.EqualTo("unknown IU ID 0x42"));
            Assert.That(Uas.CheckStatusIu(new byte[] { Uas.IuReadReady, 0, 0, 1 }), Is.Null);
            var response = new byte[] { Uas.IuResponse, 0, 0, 9, 0, 0, 0, Uas.ResponseIncorrectLun };
            Assert.That(Uas.ReadResponseCode(response), Is.EqualTo(Uas.ResponseIncorrectLun));
            Assert.That(Uas.ResponseName(Uas.ResponseIncorrectLun), Is.EqualTo("incorrect LUN"));
        }

        [Test]
        public void PipeUsageDescriptorsAndReportLuns()
        {
            Assert.That(Uas.PipeId(new byte[] { 4, 0x24, 3, 0 }), Is.EqualTo(Uas.PipeDataIn));
            Assert.That(Uas.PipeId(new byte[] { 6, 0x30, 15, 4, 0, 0, 4, 0x24, 2, 0 }), Is.EqualTo(Uas.PipeStatus), "after a SuperSpeed companion");
            Assert.That(Uas.PipeId(new byte[] { 4, 0x25, 1, 0 }), Is.EqualTo(0));
            Assert.That(Uas.PipeId(new byte[] { 9, 0x24, 1 }), Is.EqualTo(0), "truncated descriptor");
            Assert.That(Uas.PipeId(new byte[0]), Is.EqualTo(0));

            byte[] luns = new byte[8 + 3 * 8];
            luns[3] = 24;
            luns[8 + 8 + 1] = 2;
            luns[8 + 16] = 0x40; luns[8 + 16 + 1] = 7;   // flat addressing: not counted
            Assert.That(Scsi.ParseReportLunsMax(luns, 15), Is.EqualTo(2));
            luns[3] = 8;
            Assert.That(Scsi.ParseReportLunsMax(luns, 15), Is.EqualTo(0), "LUN LIST LENGTH bounds the list");
            Assert.That(Scsi.ParseReportLunsMax(luns[..4], 15), Is.EqualTo(0));
        }

        [Test]
        public void FuzzedStatusIusAndDescriptorsNeverThrow()
        {
            var random = new Random(20261207);
            for (int i = 0; i < 20000; i++)
            {
                var iu = new byte[random.Next(0, 40)];
                random.NextBytes(iu);
                if (iu.Length > 0 && random.Next(2) == 0)
                    iu[0] = (byte)random.Next(0, 9);   // mostly known IU IDs
                string problem = Uas.CheckStatusIu(iu);
                if (problem == null && iu[0] == Uas.IuSense)
                {
                    ReadOnlySpan<byte> sense = Uas.ReadSenseData(iu);
                    Assert.That(sense.Length, Is.LessThanOrEqualTo(iu.Length - Uas.SenseData));
                    SenseData.Parse(sense);
                }
                if (problem == null)
                    Assert.That(iu.Length, Is.GreaterThanOrEqualTo(Uas.HeaderLength));
                Assert.That(Uas.PipeId(iu), Is.InRange(0, 255));
                Assert.That(Scsi.ParseReportLunsMax(iu, 15), Is.InRange(0, 15));
            }
        }

        // ---- Driver on the simulated bus -----------------------------------------------------

        sealed class Rig : IDisposable
        {
            public readonly TestBed Bed = new TestBed();
            public readonly UsbStorageDriver Storage;
            public readonly UasDriver Uas;
            public readonly SimController Hc;
            public SimUasDevice Sim;

            public Rig(bool superSpeed = false, bool noStreams = false)
            {
                Storage = UsbStorageDriver.Register(Bed.Stack);
                Uas = UasDriver.Register(Bed.Stack, Storage);
                Hc = superSpeed
                    ? Bed.AddController(4, UsbSpeed.Super, h => { h.AssignsAddresses = true; h.DriverName = "xhci_hcd"; h.NoStreams = noStreams; })
                    : Bed.AddController(4, UsbSpeed.High);
            }

            public ScsiDisk Plug(SimUasDevice device)
            {
                Sim = device;
                Hc.Plug("1", device);
                Bed.Settle();
                var deadline = DateTime.UtcNow.AddSeconds(10);
                while (Storage.Disks.Length == 0)
                {
                    Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "disk never attached\n" + Bed.LogSink.All());
                    Thread.Sleep(1);
                }
                return Storage.Disks[0];
            }

            public void Dispose() => Bed.Dispose();
        }

        static string Text(byte[] block, int offset = 0)
        {
            int end = Array.IndexOf(block, (byte)0, offset);
            return System.Text.Encoding.ASCII.GetString(block, offset, (end < 0 ? block.Length : end) - offset);
        }

        static int Cdbs(SimUasDevice sim, byte opcode) => sim.CommandIus.FindAll(iu => iu[16] == opcode).Count;

        [Test]
        public void UasIsPreferredOverBulkOnlyAndTheDiskAttaches()
        {
            using var rig = new Rig();
            ScsiDisk disk = rig.Plug(new SimUasDevice(8192));
            UsbInterface intf = rig.Bed.Stack.FindInterface("1-1:1.0");
            Assert.That(intf.Driver?.Name, Is.EqualTo("uas"), rig.Bed.LogSink.All());
            Assert.That(intf.Current.Descriptor.bAlternateSetting, Is.EqualTo(1), "the UAS alternate setting");
            Assert.That(rig.Sim.AltSettings[0], Is.EqualTo(1), "SET_INTERFACE(1) reached the device");
            var transport = (UasTransport)disk.Transport;
            Assert.That(transport.UsesStreams, Is.False, "high speed: no streams");
            Assert.That(transport.CommandPipe.Address, Is.EqualTo(SimUasDevice.CommandPipe));
            Assert.That(transport.StatusPipe.Address, Is.EqualTo(SimUasDevice.Status));
            Assert.That(disk.Name, Is.EqualTo("sda"));
            Assert.That(disk.BlockCount, Is.EqualTo(8192ul));
            Assert.That(disk.Vendor.Trim(), Is.EqualTo("JMicron"));
            string log = rig.Bed.LogSink.All();
            Assert.That(log, Does.Contain("uas 1-1:1.0: USB Attached SCSI device, no streams, 8 commands in flight"));
            Assert.That(log, Does.Contain("scsi host0: uas 1-1:1.0"));
            Assert.That(log, Does.Contain("sd 0:0:0:0: [sda] 8192 512-byte logical blocks"));
            Assert.That(log, Does.Contain("usb 1-1:1.0: bound to driver uas"));
            Assert.That(Cdbs(rig.Sim, Scsi.ReportLuns), Is.EqualTo(1), "REPORT LUNS instead of GET MAX LUN");
            Assert.That(rig.Sim.ControlLog.FindAll(s => s.bRequest == MassStorage.RequestGetMaxLun).Count, Is.Zero);
        }

        [Test]
        public void ListingsShowTheUasSettingAndItsPipeUsageDescriptors()
        {
            using var rig = new Rig();
            rig.Plug(new SimUasDevice(64));
            string file = Drivers.Usb.Listings.UsbListings.DevicesFile(rig.Bed.Stack);
            Assert.That(file, Does.Contain("I:  If#= 0 Alt= 0 #EPs= 2 Cls=08(stor.) Sub=06 Prot=50 Driver=uas"), file);
            Assert.That(file, Does.Contain("I:* If#= 0 Alt= 1 #EPs= 4 Cls=08(stor.) Sub=06 Prot=62 Driver=uas"), file);
            string verbose = Drivers.Usb.Listings.UsbListings.LsusbVerboseListing(rig.Bed.Stack, null, rig.Bed.Device("1-1"));
            Assert.That(verbose, Does.Contain("bInterfaceProtocol     98"), verbose);
            Assert.That(verbose, Does.Contain("bEndpointAddress     0x04  EP 4 OUT"), verbose);
        }

        [Test]
        public void WithoutTheUasDriverUsbStorageKeepsTheInterface()
        {
            using var bed = new TestBed();
            var storage = UsbStorageDriver.Register(bed.Stack);
            SimController hc = bed.AddController(4, UsbSpeed.High);
            hc.Plug("1", new SimUasDevice(64));
            bed.Settle();
            Assert.That(bed.Stack.FindInterface("1-1:1.0").Driver?.Name, Is.EqualTo("usb-storage"), "alternate setting 0 is Bulk-Only");
        }

        [Test]
        public void ReadWriteRoundTripAcrossCommands()
        {
            using var rig = new Rig();
            ScsiDisk disk = rig.Plug(new SimUasDevice(8192));
            var block = new byte[512];
            Assert.That(disk.Read(4321, 1, block), Is.EqualTo(StorageStatus.Ok));
            Assert.That(Text(block), Is.EqualTo("LBA 4321"));
            int per = disk.BlocksPerCommand;
            Assert.That(per, Is.EqualTo(((UasTransport)disk.Transport).TransferBytes / 512));
            Assert.That(((UasTransport)disk.Transport).TransferBytes, Is.EqualTo(UasTransport.MaxTransferBytes * UasTransport.DiskQueueDepth), "a 1 MiB slice per queued command");
            // Queued: commands of one slice of the data buffer each (1 MiB: the buffer holds QueueDepth of them).
            int slice = per / ((UasTransport)disk.Transport).QueueDepth;
            Assert.That(slice, Is.EqualTo(UasTransport.MaxTransferBytes / 512));
            int count = 2 * slice + 100;
            var data = new byte[count * 512];
            new Random(11).NextBytes(data);
            int before = rig.Sim.ReadWriteCommands;
            Assert.That(disk.Write(100, count, data), Is.EqualTo(StorageStatus.Ok));
            Assert.That(rig.Sim.ReadWriteCommands - before, Is.EqualTo(3));
            Assert.That(new ReadOnlySpan<byte>(rig.Sim.Image, 100 * 512, data.Length).SequenceEqual(data), Is.True);
            var back = new byte[data.Length];
            Assert.That(disk.Read(100, count, back), Is.EqualTo(StorageStatus.Ok));
            Assert.That(back, Is.EqualTo(data));
            Assert.That(disk.SynchronizeCache(), Is.EqualTo(StorageStatus.Ok));
        }

        [Test]
        public void SeveralTaggedCommandsInFlight()
        {
            using var rig = new Rig();
            ScsiDisk disk = rig.Plug(new SimUasDevice(8192));
            var transport = (UasTransport)disk.Transport;
            const int n = 4;
            var buffers = new DmaBuffer[n];
            var commands = new UasCommand[n];
            rig.Hc.Mutate(() => rig.Sim.HoldStatus = true);
            int before = rig.Sim.CommandIus.Count;
            for (int i = 0; i < n; i++)
            {
                buffers[i] = rig.Bed.Dma.Allocate(4 * 512, 64, DmaLimit.Below4G);
                byte[] cdb = new byte[16];
                int length = Scsi.BuildReadWrite(cdb, false, (ulong)(1000 * (i + 1)), 4, false);
                Assert.That(length, Is.EqualTo(10));
                Assert.That(transport.Start(0, cdb[..length], true, buffers[i], 4 * 512, out commands[i]), Is.EqualTo(StorageStatus.Ok));
            }
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (rig.Sim.TasksInFlight < n)
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "commands never queued");
                Thread.Sleep(1);
            }
            var tags = new System.Collections.Generic.HashSet<int>();
            for (int i = 0; i < n; i++)
                tags.Add(Uas.ReadTag(rig.Sim.CommandIus[before + i]));
            Assert.That(tags.Count, Is.EqualTo(n), "each command has its own tag");
            Assert.That(rig.Sim.MostTasksInFlight, Is.EqualTo(n));
            rig.Hc.Mutate(() => rig.Sim.HoldStatus = false);
            for (int i = n - 1; i >= 0; i--)   // finished in any order
            {
                Assert.That(transport.Finish(commands[i], out int moved), Is.EqualTo(StorageStatus.Ok));
                Assert.That(moved, Is.EqualTo(4 * 512));
                byte[] got = buffers[i].AsSpan().ToArray();
                for (int b = 0; b < 4; b++)
                    Assert.That(Text(got, b * 512), Is.EqualTo("LBA " + (1000 * (i + 1) + b)));
                rig.Bed.Dma.Free(buffers[i]);
            }
        }

        [Test]
        public void CheckConditionSenseComesWithTheStatus()
        {
            using var rig = new Rig();
            ScsiDisk disk = rig.Plug(new SimUasDevice(1024));
            rig.Hc.Mutate(() => rig.Sim.CheckNext = (Scsi.SenseMediumError, 0x11));
            var block = new byte[512];
            Assert.That(disk.Read(5, 1, block), Is.EqualTo(StorageStatus.CheckCondition));
            Assert.That(disk.Sense.Key, Is.EqualTo(Scsi.SenseMediumError));
            Assert.That(disk.Sense.Asc, Is.EqualTo(0x11));
            Assert.That(Cdbs(rig.Sim, Scsi.RequestSense), Is.Zero, "the Sense IU carried it: no REQUEST SENSE");
            // A unit attention is retried like on Bulk-Only.
            rig.Hc.Mutate(() => rig.Sim.CheckNext = (Scsi.SenseUnitAttention, Scsi.AscPowerOnReset));
            Assert.That(disk.Read(6, 1, block), Is.EqualTo(StorageStatus.Ok));
            Assert.That(Text(block), Is.EqualTo("LBA 6"));
        }

        [Test]
        public void StalledDataPipeIsClearedAndTheCommandRetried()
        {
            using var rig = new Rig();
            ScsiDisk disk = rig.Plug(new SimUasDevice(1024));
            var transport = (UasTransport)disk.Transport;
            rig.Hc.Mutate(() => rig.Sim.StallNextDataIn = true);
            var block = new byte[512];
            Assert.That(disk.Read(77, 1, block), Is.EqualTo(StorageStatus.Ok), rig.Bed.LogSink.All());
            Assert.That(Text(block), Is.EqualTo("LBA 77"));
            Assert.That(rig.Sim.ControlLog.FindAll(s => s.bRequest == UsbRequestCode.ClearFeature && s.wIndex == SimUasDevice.DataIn).Count,
                        Is.EqualTo(1), "CLEAR_FEATURE(HALT) on data-in");
            Assert.That(transport.ClearedHalts, Is.EqualTo(1));
        }

        [Test]
        public void TimeoutAbortsTheTaskThenResetsTheLogicalUnit()
        {
            using var rig = new Rig();
            ScsiDisk disk = rig.Plug(new SimUasDevice(1024));
            var transport = (UasTransport)disk.Transport;
            rig.Hc.Mutate(() => rig.Sim.HoldData = true);
            var block = new byte[512];
            Assert.That(disk.Read(3, 1, block), Is.EqualTo(StorageStatus.Timeout));
            Assert.That(rig.Sim.TaskManagementIus.Count, Is.EqualTo(1));
            byte[] abort = rig.Sim.TaskManagementIus[0];
            Assert.That(abort[4], Is.EqualTo(Uas.TmfAbortTask));
            Assert.That(Uas.ReadTag(abort), Is.EqualTo(UasTransport.MaxCommands + 1), "the reserved task management tag");
            Assert.That((ushort)(abort[6] << 8 | abort[7]), Is.EqualTo(Uas.ReadTag(rig.Sim.CommandIus[^1])), "names the timed-out command");
            Assert.That(transport.Aborts, Is.EqualTo(1));
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("command timed out"));

            rig.Hc.Mutate(() => { rig.Sim.FailAbort = true; });
            Assert.That(disk.Read(4, 1, block), Is.EqualTo(StorageStatus.Timeout));
            Assert.That(rig.Sim.TaskManagementIus[^1][4], Is.EqualTo(Uas.TmfLogicalUnitReset), "ABORT TASK failed: LOGICAL UNIT RESET");
            Assert.That(transport.LunResets, Is.EqualTo(1));
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("TMF failed"));

            rig.Hc.Mutate(() => { rig.Sim.HoldData = false; rig.Sim.FailAbort = false; });
            Assert.That(disk.Read(5, 1, block), Is.EqualTo(StorageStatus.Ok), "works again");
            Assert.That(Text(block), Is.EqualTo("LBA 5"));
            Assert.That(transport.DeviceResets, Is.Zero);
        }

        [Test]
        public void ADeviceThatAnswersNoTaskManagementIsReset()
        {
            using var rig = new Rig();
            ScsiDisk disk = rig.Plug(new SimUasDevice(1024));
            var transport = (UasTransport)disk.Transport;
            int resets = rig.Sim.Resets;
            rig.Hc.Mutate(() => { rig.Sim.HoldData = true; rig.Sim.IgnoreTaskManagement = true; });
            var block = new byte[512];
            Assert.That(disk.Read(3, 1, block), Is.EqualTo(StorageStatus.Timeout).Or.EqualTo(StorageStatus.NoDevice));
            Assert.That(rig.Sim.TaskManagementIus.ConvertAll(iu => iu[4]), Is.EqualTo(new[] { Uas.TmfAbortTask, Uas.TmfLogicalUnitReset }));
            Assert.That(transport.DeviceResets, Is.EqualTo(1));
            string log = rig.Bed.LogSink.All();
            Assert.That(log, Does.Contain("uas 1-1:1.0: device not responding, resetting it"));
            Assert.That(log, Does.Contain("usb 1-1: reset requested"));
            // The port reset re-enumerates the device: the disk comes back, readable.
            rig.Hc.Mutate(() => { rig.Sim.HoldData = false; rig.Sim.IgnoreTaskManagement = false; });
            rig.Bed.Settle();
            var deadline = DateTime.UtcNow.AddSeconds(10);
            ScsiDisk again = null;
            while ((again = rig.Storage.FindDisk("sda")) == null || again == disk)
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "disk never came back\n" + rig.Bed.LogSink.All());
                Thread.Sleep(1);
            }
            Assert.That(rig.Sim.Resets, Is.GreaterThan(resets), "bus reset of the port");
            Assert.That(again.Read(5, 1, block), Is.EqualTo(StorageStatus.Ok));
            Assert.That(Text(block), Is.EqualTo("LBA 5"));
        }

        /// <summary>Status IUs from the device replaced by random bytes (often with the right tag or kind); UAS_FUZZ_SEED / UAS_FUZZ_CASES explore more.</summary>
        [TestCase(false, TestName = "FuzzedStatusFromTheDevice_HighSpeed")]
        [TestCase(true, TestName = "FuzzedStatusFromTheDevice_SuperSpeedStreams")]
        public void FuzzedStatusFromTheDeviceEndsInBoundedTimeAndTheDiskRecovers(bool superSpeed)
        {
            using var rig = new Rig(superSpeed);
            ScsiDisk disk = rig.Plug(new SimUasDevice(1024, superSpeed));
            var random = new Random(int.Parse(Environment.GetEnvironmentVariable("UAS_FUZZ_SEED") ?? "4242"));
            var block = new byte[512];
            int cases = int.Parse(Environment.GetEnvironmentVariable("UAS_FUZZ_CASES") ?? "8");
            for (int i = 0; i < cases; i++)
            {
                int seed = random.Next();
                rig.Hc.Mutate(() => rig.Sim.MutateNextStatus = iu =>
                {
                    var r = new Random(seed);
                    var bytes = new byte[r.Next(0, 40)];
                    r.NextBytes(bytes);
                    if (bytes.Length >= 4 && r.Next(2) == 0) { bytes[2] = iu[2]; bytes[3] = iu[3]; }   // often the right tag
                    if (bytes.Length >= 1 && r.Next(2) == 0) bytes[0] = iu[0];                          // often the right kind
                    return bytes;
                });
                var clock = System.Diagnostics.Stopwatch.StartNew();
                StorageStatus result = disk.Read((ulong)(10 + i), 1, block);
                Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "bounded: " + result);
                rig.Hc.Mutate(() => rig.Sim.MutateNextStatus = null);
                Assert.That(disk.Read(100, 1, block), Is.EqualTo(StorageStatus.Ok), "recovered after fuzz case " + i + " (" + result + ")\n" + rig.Bed.LogSink.All());
                Assert.That(Text(block), Is.EqualTo("LBA 100"));
            }
        }

        [Test]
        public void MalformedIusGiveClearErrors()
        {
            using var rig = new Rig();
            ScsiDisk disk = rig.Plug(new SimUasDevice(1024));
            var transport = (UasTransport)disk.Transport;
            var block = new byte[512];

            rig.Hc.Mutate(() => rig.Sim.WrongTagNextSense = 0x1234);
            Assert.That(disk.SynchronizeCache(), Is.EqualTo(StorageStatus.Timeout), "its status never came");
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("malformed status: status IU for tag 4660 with no command"));

            rig.Hc.Mutate(() => rig.Sim.TruncateNextStatus = 2);
            Assert.That(disk.Read(9, 1, block), Is.EqualTo(StorageStatus.Timeout).Or.EqualTo(StorageStatus.TransportError));
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("malformed status: short IU (2 bytes)"));
            Assert.That(transport.MalformedIus, Is.EqualTo(2));

            Assert.That(disk.Read(10, 1, block), Is.EqualTo(StorageStatus.Ok), "recovers");
            Assert.That(Text(block), Is.EqualTo("LBA 10"));
        }

        // ---- SuperSpeed: bulk streams -------------------------------------------------------------

        [Test]
        public void SuperSpeedUsesStreamsTagsAreStreamIds()
        {
            using var rig = new Rig(superSpeed: true);
            ScsiDisk disk = rig.Plug(new SimUasDevice(8192, superSpeed: true));
            var transport = (UasTransport)disk.Transport;
            Assert.That(transport.UsesStreams, Is.True, rig.Bed.LogSink.All());
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("uas 1-1:1.0: USB Attached SCSI device, bulk streams, 8 commands in flight"));
            Assert.That(rig.Hc.Streams[transport.StatusPipe], Is.EqualTo(15), "16-entry arrays for 9 tags (commands + task management)");
            Assert.That(rig.Hc.Streams[transport.DataInPipe], Is.EqualTo(15));
            Assert.That(rig.Hc.Streams.ContainsKey(transport.CommandPipe), Is.False, "the command pipe has no streams");
            var data = new byte[300 * 512];
            new Random(5).NextBytes(data);
            Assert.That(disk.Write(7, 300, data), Is.EqualTo(StorageStatus.Ok));
            var back = new byte[data.Length];
            Assert.That(disk.Read(7, 300, back), Is.EqualTo(StorageStatus.Ok));
            Assert.That(back, Is.EqualTo(data));
            Assert.That(rig.Sim.ReadyIus, Is.Zero, "no Read/Write Ready IUs with streams");
            Assert.That(rig.Sim.StreamTransfers.TrueForAll(x => x.Stream >= 1 && x.Stream <= UasTransport.MaxCommands), Is.True,
                        "every status and data transfer on a command's stream");
            Assert.That(disk.SynchronizeCache(), Is.EqualTo(StorageStatus.Ok));
        }

        [Test]
        public void SuperSpeedSeveralCommandsInFlightOnTheirStreams()
        {
            using var rig = new Rig(superSpeed: true);
            ScsiDisk disk = rig.Plug(new SimUasDevice(8192, superSpeed: true));
            var transport = (UasTransport)disk.Transport;
            const int n = 5;
            var buffers = new DmaBuffer[n];
            var commands = new UasCommand[n];
            rig.Hc.Mutate(() => rig.Sim.HoldData = true);
            int before = rig.Sim.StreamTransfers.Count;
            for (int i = 0; i < n; i++)
            {
                buffers[i] = rig.Bed.Dma.Allocate(8 * 512, 64, DmaLimit.Below4G);
                byte[] cdb = new byte[16];
                int length = Scsi.BuildReadWrite(cdb, false, (ulong)(500 * (i + 1)), 8, false);
                Assert.That(transport.Start(0, cdb[..length], true, buffers[i], 8 * 512, out commands[i]), Is.EqualTo(StorageStatus.Ok));
            }
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (rig.Sim.TasksInFlight < n)
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "commands never queued");
                Thread.Sleep(1);
            }
            rig.Hc.Mutate(() => rig.Sim.HoldData = false);
            for (int i = n - 1; i >= 0; i--)
            {
                Assert.That(transport.Finish(commands[i], out int moved), Is.EqualTo(StorageStatus.Ok));
                Assert.That(moved, Is.EqualTo(8 * 512));
                byte[] got = buffers[i].AsSpan().ToArray();
                Assert.That(Text(got, 0), Is.EqualTo("LBA " + 500 * (i + 1)));
                Assert.That(Text(got, 7 * 512), Is.EqualTo("LBA " + (500 * (i + 1) + 7)));
                rig.Bed.Dma.Free(buffers[i]);
            }
            var streams = new System.Collections.Generic.HashSet<uint>();
            foreach (var x in rig.Sim.StreamTransfers.GetRange(before, rig.Sim.StreamTransfers.Count - before))
                if (x.Endpoint == SimUasDevice.DataIn) streams.Add(x.Stream);
            Assert.That(streams.Count, Is.EqualTo(n), "each command's data on its own stream");
        }

        [Test]
        public void SuperSpeedStatusWithAnotherStreamsTagIsMalformed()
        {
            using var rig = new Rig(superSpeed: true);
            ScsiDisk disk = rig.Plug(new SimUasDevice(1024, superSpeed: true));
            rig.Hc.Mutate(() => rig.Sim.WrongTagNextSense = 0x1234);
            var block = new byte[512];
            Assert.That(disk.Read(3, 1, block), Is.EqualTo(StorageStatus.TransportError));
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("malformed status: IU for tag 4660 on stream 1"));
            Assert.That(disk.Read(4, 1, block), Is.EqualTo(StorageStatus.Ok), "recovers");
            Assert.That(Text(block), Is.EqualTo("LBA 4"));
        }

        [Test]
        public void SuperSpeedOnAControllerWithoutStreamsStaysWithBulkOnly()
        {
            using var rig = new Rig(superSpeed: true, noStreams: true);
            rig.Hc.Plug("1", new SimUasDevice(1024, superSpeed: true));
            rig.Bed.Settle();
            string log = rig.Bed.LogSink.All();
            Assert.That(log, Does.Contain("usb 1-1: USB controller 0000:00:01.2 does not support streams, which are required by the UAS driver."));
            UsbInterface intf = rig.Bed.Stack.FindInterface("1-1:1.0");
            Assert.That(intf.Driver?.Name, Is.EqualTo("usb-storage"), "Linux uas_use_uas_driver: Bulk-Only on alternate setting 0");
            Assert.That(intf.Current.Descriptor.bAlternateSetting, Is.EqualTo(0));
            Assert.That(rig.Bed.Stack.Buses[0].AllocStreams(rig.Bed.Device("1-1"), intf.Current.Endpoints, 4, out int _), Is.EqualTo(UsbStatus.NotSupported),
                        "Bulk-Only endpoints have no streams");
        }

        [Test]
        public void UnplugMidCommandEndsWithNoDeviceAndFreesEverything()
        {
            using var rig = new Rig();
            int baseline = rig.Bed.Dma.Outstanding;
            ScsiDisk disk = rig.Plug(new SimUasDevice(4096));
            rig.Hc.Mutate(() => rig.Sim.HoldData = true);
            StorageStatus result = StorageStatus.Ok;
            var reader = new Thread(() => result = disk.Read(0, 256, new byte[256 * 512])) { IsBackground = true };
            reader.Start();
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (rig.Sim.TasksInFlight == 0)
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "command never queued");
                Thread.Sleep(1);
            }
            rig.Hc.Unplug("1");
            rig.Bed.Settle();
            Assert.That(reader.Join(TimeSpan.FromSeconds(10)), Is.True, "the read ended");
            Assert.That(result, Is.EqualTo(StorageStatus.NoDevice));
            Assert.That(rig.Storage.Disks.Length, Is.EqualTo(0));
            Assert.That(rig.Bed.Dma.Outstanding, Is.EqualTo(baseline), "DMA buffers freed");
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("[sda] detached"));
        }
    }
}
