using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Storage;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests.Storage
{
    /// <summary>
    /// The disk layer keeping several READ/WRITE commands in flight on a queueing transport (UAS):
    /// a large request split into tagged commands, finished in order whatever order the device
    /// completes them in, a failure in the middle failing the request cleanly, unplug while commands
    /// are queued, and tags reused only once free. Both UAS forms: high speed without streams (one
    /// status request, Read/Write Ready IUs) and SuperSpeed with bulk streams.
    /// </summary>
    [TestFixture]
    public class StorageQueueTests
    {
        sealed class Rig : IDisposable
        {
            public readonly TestBed Bed = new TestBed();
            public readonly UsbStorageDriver Storage;
            public readonly SimController Hc;
            public SimUasDevice Sim;
            public ScsiDisk Disk;

            public Rig(bool superSpeed, int blocks = 32768)
            {
                Storage = UsbStorageDriver.Register(Bed.Stack);
                UasDriver.Register(Bed.Stack, Storage);
                Hc = superSpeed
                    ? Bed.AddController(4, UsbSpeed.Super, h => { h.AssignsAddresses = true; h.DriverName = "xhci_hcd"; })
                    : Bed.AddController(4, UsbSpeed.High);
                Sim = new SimUasDevice(blocks, superSpeed);
                Hc.Plug("1", Sim);
                Bed.Settle();
                var deadline = DateTime.UtcNow.AddSeconds(10);
                while (Storage.Disks.Length == 0)
                {
                    Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "disk never attached\n" + Bed.LogSink.All());
                    Thread.Sleep(1);
                }
                Disk = Storage.Disks[0];
            }

            public UasTransport Transport => (UasTransport)Disk.Transport;
            /// <summary>Blocks of one queued command: a slice of the data buffer (1 MiB).</summary>
            public int PerCommand => Disk.BlocksPerCommand / Transport.QueueDepth;

            public void Dispose() => Bed.Dispose();
        }

        /// <summary>Records every chunk a stream hands over (READ) and fills WRITE chunks with a per-LBA pattern.</summary>
        sealed class Recorder : IBlockStream
        {
            public readonly List<(ulong Lba, int Blocks)> Chunks = new List<(ulong, int)>();
            public readonly List<string> FirstWords = new List<string>();
            public int StopAfter = int.MaxValue;
            /// <summary>WRITE: every block starts with 'W' and its LBA.</summary>
            public bool FillWrites;

            public bool Chunk(ulong lba, int blocks, Span<byte> data)
            {
                if (FillWrites)
                    for (int b = 0; b < blocks; b++)
                    {
                        string text = "W" + (lba + (ulong)b);
                        Span<byte> block = data.Slice(b * SimUasDevice.BlockSize, SimUasDevice.BlockSize);
                        block.Clear();
                        for (int i = 0; i < text.Length; i++) block[i] = (byte)text[i];
                    }
                Chunks.Add((lba, blocks));
                for (int b = 0; b < blocks; b++)
                    FirstWords.Add(Text(data.Slice(b * SimUasDevice.BlockSize, SimUasDevice.BlockSize).ToArray()));
                return Chunks.Count < StopAfter;
            }
        }

        static string Text(byte[] block, int offset = 0)
        {
            int end = Array.IndexOf(block, (byte)0, offset);
            return System.Text.Encoding.ASCII.GetString(block, offset, (end < 0 ? block.Length : end) - offset);
        }

        static List<ushort> ReadWriteTags(SimUasDevice sim, int from)
        {
            var tags = new List<ushort>();
            for (int i = from; i < sim.CommandIus.Count; i++)
                if (sim.CommandIus[i][16] == Scsi.Read10 || sim.CommandIus[i][16] == Scsi.Write10)
                    tags.Add(Uas.ReadTag(sim.CommandIus[i]));
            return tags;
        }

        [TestCase(false, TestName = "QueuedReadInOrderWhateverTheCompletionOrder_HighSpeed")]
        [TestCase(true, TestName = "QueuedReadInOrderWhateverTheCompletionOrder_SuperSpeedStreams")]
        public void QueuedReadDeliversBlocksInOrderWhateverTheCompletionOrder(bool superSpeed)
        {
            using var rig = new Rig(superSpeed);
            Assert.That(rig.Transport.QueueDepth, Is.EqualTo(UasTransport.DiskQueueDepth));
            Assert.That(rig.PerCommand * SimUasDevice.BlockSize, Is.EqualTo(UasTransport.MaxTransferBytes), "queued commands as large as single ones");
            int per = rig.PerCommand;
            int commands = 10;
            ulong count = (ulong)(per * commands - 7);   // the last command is shorter
            rig.Hc.Mutate(() => rig.Sim.ReverseStatusBatch = UasTransport.DiskQueueDepth);
            int before = rig.Sim.CommandIus.Count;
            var recorder = new Recorder();
            Assert.That(rig.Disk.Stream(false, 100, count, recorder, out ulong done), Is.EqualTo(StorageStatus.Ok), rig.Bed.LogSink.All());
            Assert.That(done, Is.EqualTo(count));
            Assert.That(rig.Sim.MostReadWritesInFlight, Is.EqualTo(UasTransport.DiskQueueDepth), "four commands queued at once");
            Assert.That(ReadWriteTags(rig.Sim, before).Count, Is.EqualTo(commands));
            // Chunks arrive in LBA order, back to back, each block's own data.
            ulong next = 100;
            foreach (var (lba, blocks) in recorder.Chunks)
            {
                Assert.That(lba, Is.EqualTo(next));
                next += (ulong)blocks;
            }
            Assert.That(next, Is.EqualTo(100 + count));
            for (int i = 0; i < recorder.FirstWords.Count; i++)
                Assert.That(recorder.FirstWords[i], Is.EqualTo("LBA " + (100 + i)));
            Assert.That(rig.Disk.BlocksRead, Is.GreaterThanOrEqualTo(count));
        }

        [Test]
        public void AStreamThatStopsGetsNoMoreChunksAndTheQueueDrains()
        {
            using var rig = new Rig(superSpeed: true);
            int per = rig.PerCommand;
            var recorder = new Recorder { StopAfter = 2 };
            Assert.That(rig.Disk.Stream(false, 0, (ulong)(per * 8), recorder, out ulong done), Is.EqualTo(StorageStatus.Ok));
            Assert.That(done, Is.EqualTo((ulong)(2 * per)), "the chunks handed over");
            Assert.That(recorder.Chunks.Count, Is.EqualTo(2));
            Assert.That(rig.Sim.TasksInFlight, Is.Zero, "the commands already queued were waited for");
            var block = new byte[SimUasDevice.BlockSize];
            Assert.That(rig.Disk.Read(9, 1, block), Is.EqualTo(StorageStatus.Ok));
            Assert.That(Text(block), Is.EqualTo("LBA 9"));
        }

        [Test]
        public void ASmallReadBesideAQueuedStreamNeverTouchesItsSlices()
        {
            using var rig = new Rig(superSpeed: true);
            int per = rig.PerCommand;
            ulong count = (ulong)(per * 12);
            var bad = new List<string>();
            var small = new Thread(() =>
            {
                var block = new byte[SimUasDevice.BlockSize];
                for (int i = 0; i < 60; i++)
                {
                    ulong lba = (ulong)(20000 + i);
                    StorageStatus st = rig.Disk.Read(lba, 1, block);
                    if (st != StorageStatus.Ok || Text(block) != "LBA " + lba)
                        lock (bad) bad.Add("small read " + lba + ": " + st + " " + Text(block));
                    Thread.Sleep(0);
                }
            }) { IsBackground = true };
            var recorder = new Recorder();
            small.Start();
            StorageStatus result = rig.Disk.Stream(false, 0, count, recorder, out ulong done);
            Assert.That(small.Join(TimeSpan.FromSeconds(20)), Is.True);
            Assert.That(result, Is.EqualTo(StorageStatus.Ok));
            Assert.That(done, Is.EqualTo(count));
            for (int i = 0; i < recorder.FirstWords.Count; i++)
                if (recorder.FirstWords[i] != "LBA " + i)
                    bad.Add("stream block " + i + ": " + recorder.FirstWords[i]);
            Assert.That(bad, Is.Empty, "both see their own blocks");
        }

        [TestCase(false, TestName = "QueuedWriteRoundTrip_HighSpeed")]
        [TestCase(true, TestName = "QueuedWriteRoundTrip_SuperSpeedStreams")]
        public void QueuedWriteLandsEveryBlockAndReadsBack(bool superSpeed)
        {
            using var rig = new Rig(superSpeed);
            int count = rig.PerCommand * 6 + 3;
            var data = new byte[count * SimUasDevice.BlockSize];
            new Random(7).NextBytes(data);
            rig.Hc.Mutate(() => rig.Sim.ReverseStatusBatch = 3);
            Assert.That(rig.Disk.Write(40, count, data), Is.EqualTo(StorageStatus.Ok), rig.Bed.LogSink.All());
            Assert.That(new ReadOnlySpan<byte>(rig.Sim.Image, 40 * SimUasDevice.BlockSize, data.Length).SequenceEqual(data), Is.True);
            Assert.That(rig.Sim.MostReadWritesInFlight, Is.GreaterThan(1), "writes queued too");
            var back = new byte[data.Length];
            Assert.That(rig.Disk.Read(40, count, back), Is.EqualTo(StorageStatus.Ok));
            Assert.That(back, Is.EqualTo(data));
        }

        [TestCase(false, false, TestName = "ErrorInTheMiddleOfAQueuedRead_HighSpeed")]
        [TestCase(true, false, TestName = "ErrorInTheMiddleOfAQueuedRead_SuperSpeedStreams")]
        [TestCase(false, true, TestName = "ErrorInTheMiddleOfAQueuedWrite_HighSpeed")]
        public void AnErrorInTheMiddleFailsTheRequestAndCountsOnlyTheBlocksBeforeIt(bool superSpeed, bool write)
        {
            using var rig = new Rig(superSpeed);
            int per = rig.PerCommand;
            // The fourth command (index 3) fails; commands 4 and 5 are already queued behind it.
            ulong failing = 10 + (ulong)(3 * per) + 5;
            rig.Hc.Mutate(() => { rig.Sim.CheckAtLba = failing; rig.Sim.ReverseStatusBatch = 2; });
            var recorder = new Recorder();
            ulong count = (ulong)(per * 8);
            var watch = Stopwatch.StartNew();
            StorageStatus result = rig.Disk.Stream(write, 10, count, recorder, out ulong done);
            Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
            Assert.That(result, Is.EqualTo(StorageStatus.CheckCondition), rig.Bed.LogSink.All());
            Assert.That(done, Is.EqualTo((ulong)(3 * per)), "only the commands before the failed one count");
            Assert.That(rig.Disk.Sense.Key, Is.EqualTo(Scsi.SenseMediumError), "the failed command's own sense");
            Assert.That(rig.Disk.Sense.Asc, Is.EqualTo(0x11));
            Assert.That(rig.Bed.LogSink.All(), Does.Contain((write ? "WRITE(10) LBA " : "READ(10) LBA ") + (10 + 3 * per) + " failed"));
            if (!write)
            {
                Assert.That(recorder.Chunks.Count, Is.EqualTo(3), "no block after the failure reaches the caller");
                Assert.That(recorder.Chunks[^1], Is.EqualTo((10ul + (ulong)(2 * per), per)));
            }
            Assert.That(rig.Sim.MostReadWritesInFlight, Is.GreaterThan(1));
            Assert.That(rig.Sim.TasksInFlight, Is.Zero, "every queued command was waited for");
            // The transport and its tags are all free again: the next request works.
            rig.Hc.Mutate(() => rig.Sim.CheckAtLba = null);
            var again = new Recorder();
            Assert.That(rig.Disk.Stream(false, 10, count, again, out done), Is.EqualTo(StorageStatus.Ok), rig.Bed.LogSink.All());
            Assert.That(done, Is.EqualTo(count));
            Assert.That(rig.Sim.OverlappedTags, Is.Zero);
        }

        [Test]
        public void AUnitAttentionInTheMiddleIsRetriedFromTheFailedCommand()
        {
            using var rig = new Rig(superSpeed: false);
            int per = rig.PerCommand;
            rig.Hc.Mutate(() =>
            {
                rig.Sim.CheckAtLba = (ulong)(2 * per);
                rig.Sim.CheckAtLbaOnce = true;
                rig.Sim.CheckAtLbaSense = (Scsi.SenseUnitAttention, Scsi.AscPowerOnReset);
            });
            var recorder = new Recorder();
            ulong count = (ulong)(per * 6);
            Assert.That(rig.Disk.Stream(false, 0, count, recorder, out ulong done), Is.EqualTo(StorageStatus.Ok), rig.Bed.LogSink.All());
            Assert.That(done, Is.EqualTo(count));
            for (int i = 0; i < recorder.FirstWords.Count; i++)
                Assert.That(recorder.FirstWords[i], Is.EqualTo("LBA " + i), "each block once, in order");
            Assert.That(recorder.FirstWords.Count, Is.EqualTo((int)count));
        }

        [TestCase(false, TestName = "UnplugWithQueuedCommands_HighSpeed")]
        [TestCase(true, TestName = "UnplugWithQueuedCommands_SuperSpeedStreams")]
        public void UnplugWithCommandsQueuedEndsWithNoDeviceInBoundedTime(bool superSpeed)
        {
            using var rig = new Rig(superSpeed);
            int baseline = rig.Bed.Dma.Outstanding;
            rig.Hc.Mutate(() => rig.Sim.HoldData = true);
            StorageStatus result = StorageStatus.Ok;
            ulong done = 123;
            var watch = new Stopwatch();
            var reader = new Thread(() =>
            {
                result = rig.Disk.Stream(false, 0, (ulong)(rig.PerCommand * 8), new Recorder(), out done);
                watch.Stop();
            }) { IsBackground = true };
            reader.Start();
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (rig.Sim.TasksInFlight < UasTransport.DiskQueueDepth)
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "commands never queued");
                Thread.Sleep(1);
            }
            watch.Start();
            rig.Hc.Unplug("1");
            rig.Bed.Settle();
            Assert.That(reader.Join(TimeSpan.FromSeconds(10)), Is.True, "the read ended");
            Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "at once, not after a command timeout");
            Assert.That(result, Is.EqualTo(StorageStatus.NoDevice));
            Assert.That(done, Is.Zero);
            Assert.That(rig.Storage.Disks.Length, Is.EqualTo(0));
            Assert.That(rig.Bed.Dma.Outstanding, Is.LessThanOrEqualTo(baseline), "DMA buffers freed");
        }

        [Test]
        public void UnplugDuringAQueuedWriteReportsOnlyConfirmedBlocks()
        {
            using var rig = new Rig(superSpeed: true);
            int per = rig.PerCommand;
            // The device goes away when the sixth READ/WRITE command IU of the request arrives.
            int commandIus = 0;
            Action hook = null;
            hook = () =>
            {
                if (++commandIus == 6)
                {
                    rig.Hc.Unplug("1");     // at once: nothing of this command or later reaches the medium
                    ThreadPool.QueueUserWorkItem(_ => rig.Bed.Settle());   // the removal, not on the controller's thread
                }
                else
                    rig.Sim.OnCommand = hook;
            };
            rig.Hc.Mutate(() => { rig.Sim.ReverseStatusBatch = 2; rig.Sim.OnCommand = hook; });
            var writer = new Recorder { FillWrites = true };
            StorageStatus result = rig.Disk.Stream(true, 0, (ulong)(per * 12), writer, out ulong done);
            rig.Bed.Settle();
            Assert.That(result, Is.EqualTo(StorageStatus.NoDevice), rig.Bed.LogSink.All());
            Assert.That(done % (ulong)per, Is.Zero, "whole commands");
            Assert.That(done, Is.LessThanOrEqualTo((ulong)(5 * per)), "at most the commands that reached the device");
            for (ulong lba = 0; lba < done; lba++)
                Assert.That(rig.Sim.Image[(int)lba * SimUasDevice.BlockSize], Is.EqualTo((byte)'W'), "LBA " + lba + " is on the medium");
        }

        [Test]
        public void TagsAreReusedOnlyOnceFree()
        {
            using var rig = new Rig(superSpeed: false);
            int per = rig.PerCommand;
            int before = rig.Sim.CommandIus.Count;
            rig.Hc.Mutate(() => rig.Sim.ReverseStatusBatch = 2);
            var recorder = new Recorder();
            ulong count = (ulong)(per * 14);
            Assert.That(rig.Disk.Stream(false, 0, count, recorder, out ulong done), Is.EqualTo(StorageStatus.Ok), rig.Bed.LogSink.All());
            Assert.That(done, Is.EqualTo(count));
            List<ushort> tags = ReadWriteTags(rig.Sim, before);
            Assert.That(tags.Count, Is.EqualTo(14));
            var distinct = new HashSet<ushort>(tags);
            Assert.That(distinct.Count, Is.LessThanOrEqualTo(UasTransport.MaxCommands), "tags come from the command slots");
            Assert.That(distinct.Count, Is.LessThan(tags.Count), "tags are reused");
            foreach (ushort tag in distinct)
                Assert.That(tag, Is.InRange(1, UasTransport.MaxCommands), "the task management tag is never a command's");
            Assert.That(rig.Sim.OverlappedTags, Is.Zero, "no tag named while still in flight");
            // Four in flight: any four consecutive commands carry four different tags.
            for (int i = 0; i + UasTransport.DiskQueueDepth <= tags.Count; i++)
                Assert.That(new HashSet<ushort>(tags.GetRange(i, UasTransport.DiskQueueDepth)).Count, Is.EqualTo(UasTransport.DiskQueueDepth));
            Assert.That(rig.Transport.Aborts, Is.Zero);
        }
    }
}
