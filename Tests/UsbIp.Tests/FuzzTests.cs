using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Storage;
using NUnit.Framework;
using Platform;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;
using Usb.Tests.Storage;

namespace UsbIp.Tests
{
    /// <summary>
    /// Random and mutated packets into the codec and into whole sessions on the simulated bus
    /// (a disk and a keyboard exported): no exception on any thread, every session ends, nothing
    /// stays in flight, DMA memory returns to its baseline and never exceeds the session's budget.
    /// USBIP_FUZZ_ITERATIONS and USBIP_FUZZ_SEED make longer or replayed runs.
    /// </summary>
    [TestFixture]
    public class FuzzTests
    {
        [Test]
        public void ParsersTakeAnyBytes()
        {
            var random = new Random(1234);
            var b = new byte[UsbIpDeviceRecord.Size];
            var setup = new byte[UsbIpHeader.SetupSize];
            for (int i = 0; i < 200000; i++)
            {
                random.NextBytes(b);
                UsbIpHeader h = UsbIpHeader.Parse(b);
                OpHeader.Parse(b);
                UsbIpDeviceRecord.Parse(b);
                UsbIpIsoPacket.Parse(b);
                BigEndian.FixedString(new ReadOnlySpan<byte>(b, 0, UsbIpProtocol.BusIdSize));
                h.CopySetup(setup);
            }
        }

        /// <summary>Threads whose exceptions are recorded instead of crashing the test host.</summary>
        sealed class CatchingThreading : IThreading
        {
            readonly TestThreading _inner;
            public readonly ConcurrentQueue<string> Exceptions = new ConcurrentQueue<string>();
            public CatchingThreading(TestThreading inner) { _inner = inner; }

            public int StartThread(string name, ThreadEntry entry) => _inner.StartThread(name, () =>
            {
                try { entry(); }
                catch (Exception e) { Exceptions.Enqueue(name + ": " + e); }
            });

            public IEvent CreateEvent(bool autoReset) => _inner.CreateEvent(autoReset);
            public ISemaphore CreateSemaphore(int initialCount) => _inner.CreateSemaphore(initialCount);
            public IMutex CreateMutex() => _inner.CreateMutex();
            public void Yield() => _inner.Yield();
        }

        /// <summary>Counts DMA bytes outstanding and the peak.</summary>
        sealed class CountingDma : IDmaAllocator
        {
            readonly HeapDma _inner = new HeapDma();
            long _bytes;
            public long Peak;
            public uint Largest;
            public long Bytes => Interlocked.Read(ref _bytes);
            public int Buffers => _inner.Outstanding;

            public DmaBuffer Allocate(uint size, uint alignment, DmaLimit limit, uint boundary = 0)
            {
                DmaBuffer b = _inner.Allocate(size, alignment, limit, boundary);
                long now = Interlocked.Add(ref _bytes, size);
                lock (this)
                {
                    if (now > Peak) Peak = now;
                    if (size > Largest) Largest = size;
                }
                return b;
            }

            public void Free(DmaBuffer buffer)
            {
                Interlocked.Add(ref _bytes, -buffer.Size);
                _inner.Free(buffer);
            }
        }

        sealed class FuzzBed : IDisposable
        {
            public readonly TestClock Clock = new TestClock(20);
            public readonly CatchingThreading Threading;
            public readonly CountingDma Dma = new CountingDma();
            public readonly TestLogSink LogSink = new TestLogSink();
            public readonly UsbStack Stack;
            public readonly UsbIpHostDriver Host;
            public readonly SimController Hc;

            public FuzzBed()
            {
                Threading = new CatchingThreading(new TestThreading(Clock));
                Log.Attach(LogSink, Clock);
                Log.MinimumLevel = LogLevel.Info;
                Stack = new UsbStack(Clock, Threading);
                UsbStorageDriver.Register(Stack);
                Host = UsbIpHostDriver.Register(Stack);
                Hc = new SimController(4, UsbSpeed.High);
                Stack.AddController(Hc, Dma);
                var disk = new SimBotDevice(256);
                Hc.Plug("1", disk);
                Hc.Plug("2", Rig.Keyboard());
                Hc.Plug("3", new SimDevice("iso", UsbSpeed.Full, Desc.Device(0x46f4, 0x0002), IsoTests.IsoConfig()));
                Stack.ExploreUntilIdle();
                Assert.That(Host.BindBusId("1-1"), Is.EqualTo(UsbStatus.Ok));
                Assert.That(Host.BindBusId("1-2"), Is.EqualTo(UsbStatus.Ok));
                Assert.That(Host.BindBusId("1-3"), Is.EqualTo(UsbStatus.Ok));
            }

            public void Dispose()
            {
                Stack.Stop();
                foreach (UsbBus bus in Stack.Buses.ToArray())
                    Stack.RemoveController(bus);
            }
        }

        /// <summary>A plausible client stream (import, then URB commands), mutated.</summary>
        static byte[] Input(Random r, uint diskDevId, uint keyboardDevId, uint isoDevId)
        {
            var packets = new List<byte[]>();
            int mode = r.Next(10);
            if (mode == 0)
            {
                var junk = new byte[r.Next(1, 600)];
                r.NextBytes(junk);
                packets.Add(junk);
            }
            else if (mode == 1)
                packets.Add(TestClient.OpRequest(UsbIpProtocol.OpReqDevList));
            int device = r.Next(6);
            bool keyboard = device == 0, iso = device == 1;
            if (mode >= 2)
                packets.Add(TestClient.ImportRequest(keyboard ? "1-2" : iso ? "1-3" : "1-1"));
            uint busId1DevId = keyboard ? keyboardDevId : iso ? isoDevId : diskDevId;
            int count = r.Next(1, 24);
            if (iso)
                packets.Add(new TestClient { DevId = busId1DevId }.Submit(0, UsbIpProtocol.DirOut, 0, 0, TestClient.Setup(0x00, 9, 1, 0, 0)));
            for (int i = 0; i < count; i++)
            {
                uint devId = r.Next(60) == 0 ? (uint)r.Next() : busId1DevId;
                packets.Add(iso && r.Next(2) == 0 ? IsoCommand(r, devId, (uint)(i + 1)) : Command(r, devId, (uint)(i + 1)));
            }
            // Mutations: bit flips, a random 32-bit field, truncation, junk in between.
            int mutations = r.Next(3) == 0 ? r.Next(1, 4) : 0;
            for (int m = 0; m < mutations; m++)
            {
                byte[] p = packets[r.Next(packets.Count)];
                if (p.Length == 0) continue;
                switch (r.Next(4))
                {
                    case 0: p[r.Next(p.Length)] ^= (byte)(1 << r.Next(8)); break;
                    case 1:
                        int at = r.Next(p.Length / 4 + 1) * 4;
                        for (int k = 0; k < 4 && at + k < p.Length; k++) p[at + k] = (byte)r.Next(256);
                        break;
                    case 2: packets[packets.IndexOf(p)] = p.AsSpan(0, r.Next(p.Length)).ToArray(); break;
                    default:
                        var junk = new byte[r.Next(1, 64)];
                        r.NextBytes(junk);
                        packets.Insert(r.Next(packets.Count + 1), junk);
                        break;
                }
            }
            var all = new List<byte>();
            foreach (byte[] p in packets) all.AddRange(p);
            return all.ToArray();
        }

        /// <summary>
        /// An isochronous CMD_SUBMIT for the iso device (OUT 0x01, IN 0x82, 192 bytes): mostly
        /// valid packets, sometimes oversized, outside the buffer, too many or a negative count,
        /// random start frames, flags and intervals.
        /// </summary>
        static byte[] IsoCommand(Random r, uint devId, uint seq)
        {
            bool dirIn = r.Next(2) == 0;
            uint ep = r.Next(8) == 0 ? (uint)r.Next(16) : dirIn ? 2u : 1u;
            int count = r.Next(12) == 0 ? r.Next(-2, UsbIpProtocol.MaxIsoPackets + 3) : r.Next(0, 9);
            int packets = count > 0 && count <= UsbIpProtocol.MaxIsoPackets ? count : 0;
            int packetBytes = r.Next(4) == 0 ? r.Next(0, 260) : 192;
            int length = r.Next(8) == 0 ? r.Next(0, 4096) : packets * packetBytes;
            int data = dirIn ? 0 : length;
            var b = new byte[UsbIpHeader.Size + data + packets * UsbIpIsoPacket.Size];
            uint flags = (r.Next(3) != 0 ? UsbIpProtocol.UrbIsoAsap : 0) | (dirIn ? UsbIpProtocol.UrbDirIn : 0);
            int startFrame = r.Next(4) == 0 ? r.Next() : r.Next(0, 2048);
            int interval = r.Next(6) == 0 ? r.Next(-2, 70000) : 1;
            UsbIpHeader.WriteCmdSubmit(b, seq, devId, dirIn ? UsbIpProtocol.DirIn : UsbIpProtocol.DirOut, ep, flags, length, startFrame, count, interval, 0);
            r.NextBytes(new Span<byte>(b, UsbIpHeader.Size, data));
            for (int i = 0; i < packets; i++)
            {
                var p = new UsbIpIsoPacket { Offset = (uint)(i * packetBytes), Length = (uint)packetBytes };
                if (r.Next(20) == 0)
                    p.Offset = (uint)r.Next();
                if (r.Next(20) == 0)
                    p.Length = (uint)r.Next();
                p.Write(new Span<byte>(b, UsbIpHeader.Size + data + i * UsbIpIsoPacket.Size, UsbIpIsoPacket.Size));
            }
            return b;
        }

        static byte[] Command(Random r, uint devId, uint seq)
        {
            var c = new TestClient { DevId = devId };
            switch (r.Next(40))
            {
                case 0:
                case 11:
                case 12:
                case 13: return c.Submit(seq, UsbIpProtocol.DirIn, 0, 18, TestClient.Setup(0x80, 6, 0x100, 0, 18));
                case 1: return c.Submit(seq, UsbIpProtocol.DirIn, 0, 255, TestClient.Setup(0x80, 6, (ushort)(0x200 | r.Next(3)), 0, 255));
                case 2:
                case 22: return c.Submit(seq, UsbIpProtocol.DirOut, 0, 0, TestClient.Setup(0x00, 9, (ushort)r.Next(3), 0, 0));
                case 3: return c.Submit(seq, UsbIpProtocol.DirOut, 0, 0, TestClient.Setup(0x01, 11, (ushort)r.Next(2), (ushort)r.Next(2), 0));
                case 4: return c.Submit(seq, UsbIpProtocol.DirOut, 0, 0, TestClient.Setup(0x02, 1, 0, (ushort)(r.Next(2) == 0 ? 0x81 : 0x02), 0));
                case 5:
                case 17:
                case 18:
                case 19:
                {
                    var cbw = new byte[31];
                    BitConverter.GetBytes(0x43425355u).CopyTo(cbw, 0);
                    int blocks = r.Next(1, 64);
                    BitConverter.GetBytes((uint)blocks * 512).CopyTo(cbw, 8);
                    cbw[12] = 0x80; cbw[14] = 10; cbw[15] = 0x28; cbw[20] = (byte)r.Next(200); cbw[23] = (byte)blocks;
                    return c.Submit(seq, UsbIpProtocol.DirOut, 2, 31, outData: cbw);
                }
                case 6:
                case 14:
                case 15:
                case 16: return c.Submit(seq, UsbIpProtocol.DirIn, 1, r.Next(0, 65536));
                case 7:
                case 20:
                case 21: return c.Submit(seq, UsbIpProtocol.DirIn, 1, 13);
                case 8:
                case 23:
                case 24:
                {
                    var b = new byte[UsbIpHeader.Size];
                    UsbIpHeader.WriteCmdUnlink(b, seq, devId, (uint)r.Next((int)seq + 2));
                    return b;
                }
                case 9:
                case 27:
                {
                    int n = r.Next(0, 4096);
                    var data = new byte[n];
                    r.NextBytes(data);
                    return c.Submit(seq, UsbIpProtocol.DirOut, (uint)r.Next(16), n, (ulong)r.NextInt64(), data, numberOfPackets: r.Next(10) == 0 ? r.Next(3) - 1 : -1);
                }
                case 25: return c.Submit(seq, UsbIpProtocol.DirIn, 0, 0, TestClient.Setup(0x80, 0, 0, 0, 2));
                case 26: return c.Submit(seq, UsbIpProtocol.DirIn, 0, 8, TestClient.Setup(0x21, 0xFE, 0, 0, 1));
                case 10: return c.Submit(seq, UsbIpProtocol.DirOut, 0, 0, TestClient.Setup(0x23, 3, 4, 1, 0));
                case 28:
                {
                    var b = new byte[UsbIpHeader.Size];
                    r.NextBytes(b);
                    return b;
                }
                default:
                {
                    // Interrupt IN on the keyboard's endpoint (stays pending: no keys).
                    return c.Submit(seq, UsbIpProtocol.DirIn, 1, 8);
                }
            }
        }

        [Test]
        public void SessionsSurviveRandomAndMutatedInput()
        {
            int iterations = int.TryParse(Environment.GetEnvironmentVariable("USBIP_FUZZ_ITERATIONS"), out int n) ? n : 300;
            int seed = int.TryParse(Environment.GetEnvironmentVariable("USBIP_FUZZ_SEED"), out int s) ? s : 20261207;
            using var bed = new FuzzBed();
            long baselineBytes = bed.Dma.Bytes;
            var ends = new Dictionary<UsbIpSessionEnd, int>();
            var messages = new List<string>();
            for (int i = 0; i < iterations; i++)
            {
                var r = new Random(seed + i);
                UsbIpExport export = bed.Host.FindExport("1-1");
                Assert.That(export, Is.Not.Null, "seed " + (seed + i) + ": 1-1 exported");
                byte[] input = Input(r, export.DevId, bed.Host.FindExport("1-2").DevId, bed.Host.FindExport("1-3").DevId);

                var client = new TestClient();
                var server = new MemoryConnection(client.ToServer, client.FromServer, bed.Clock);
                var session = new UsbIpSession(bed.Host, server);
                Exception failure = null;
                var thread = new Thread(() => { try { session.Run(); } catch (Exception e) { failure = e; } }) { IsBackground = true };
                thread.Start();
                // The client sends everything, then closes its sending side; a reader drains the replies.
                var drain = new Thread(() => { var b = new byte[65536]; while (client.FromServer.Read(b, 0, b.Length, 1000) >= 0) { } }) { IsBackground = true };
                drain.Start();
                client.ToServer.Write(input, 0, input.Length, 10000);
                client.ToServer.Close();
                Assert.That(thread.Join(TimeSpan.FromSeconds(20)), Is.True, "seed " + (seed + i) + ": session did not end\n" + Tail(bed));
                client.FromServer.Close();
                Assert.That(failure, Is.Null, "seed " + (seed + i) + ": " + failure);
                Assert.That(bed.Threading.Exceptions, Is.Empty, "seed " + (seed + i));
                Assert.That(session.InFlight, Is.EqualTo(0), "seed " + (seed + i) + ": requests left in flight");
                ends[session.EndReason] = ends.TryGetValue(session.EndReason, out int c) ? c + 1 : 1;
                if (session.EndReason == UsbIpSessionEnd.ProtocolError && messages.Count < 12)
                    messages.Add(session.EndMessage);

                // The end of a session resets the device (re-enumeration, as does a PORT_RESET): drive
                // the explore passes (no explore thread here) until it is back, exported again.
                DateTime deadline = DateTime.UtcNow.AddSeconds(30);
                while (true)
                {
                    bed.Stack.ExploreUntilIdle();
                    if (Available(bed, "1-1") && Available(bed, "1-2") && Available(bed, "1-3"))
                        break;
                    if (DateTime.UtcNow > deadline)
                        Assert.Fail("seed " + (seed + i) + ": exports not available again: " + bed.Host.ListExported() + "\n" + Tail(bed));
                    Thread.Sleep(1);
                }
                Assert.That(bed.Dma.Largest, Is.LessThanOrEqualTo((uint)UsbIpSession.MaxTransferLength), "seed " + (seed + i));
            }
            // Devices reset and reconfigured by the fuzz hold their own descriptors; sessions hold nothing.
            Assert.That(bed.Dma.Peak - baselineBytes, Is.LessThanOrEqualTo(UsbIpSession.MaxInFlightBytes + UsbIpSession.MaxTransferLength));
            TestContext.Out.WriteLine("fuzz: " + iterations + " sessions, ends: " + string.Join(", ", ends) +
                                      ", peak DMA above baseline " + (bed.Dma.Peak - baselineBytes) + " bytes");
            TestContext.Out.WriteLine(string.Join("\n", messages));
            int isoDone = 0, isoPacketErrors = 0;
            // Every session has ended: nothing is being submitted on the bus now.
            foreach (UsbRequest request in bed.Hc.SeenRequests.ToArray())
                if (request.IsIsochronous && request.Status == UsbStatus.Ok)
                {
                    isoDone++;
                    isoPacketErrors += request.ErrorCount;
                }
            TestContext.Out.WriteLine("fuzz: " + isoDone + " isochronous requests completed, " + isoPacketErrors + " packet errors");
            if (iterations >= 100)
            {
                Assert.That(ends.ContainsKey(UsbIpSessionEnd.PeerClosed) && ends.ContainsKey(UsbIpSessionEnd.ProtocolError), Is.True,
                            "the input reaches both the URB phase and the protocol checks");
                Assert.That(isoDone, Is.GreaterThan(0), "isochronous requests reach the device");
            }
        }

        static bool Available(FuzzBed bed, string busId)
        {
            UsbIpExport e = bed.Host.FindExport(busId);
            return e != null && e.State == UsbIpExportState.Available;
        }

        static string Tail(FuzzBed bed)
        {
            string[] lines = bed.LogSink.Lines.ToArray();
            return string.Join("\n", lines, Math.Max(0, lines.Length - 40), Math.Min(40, lines.Length));
        }
    }
}
