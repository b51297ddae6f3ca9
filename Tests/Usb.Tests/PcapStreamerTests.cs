using System;
using System.Collections.Generic;
using System.Diagnostics;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Usbmon;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    /// <summary>
    /// The live pcap stream behind `usbmon capture ... tcp`: a sink that takes bytes a few at a
    /// time still gets a valid pcap (no record cut or repeated), and a sink that takes nothing
    /// never holds up the bus: requests keep completing and the monitor drops and counts events.
    /// </summary>
    [TestFixture]
    public class PcapStreamerTests
    {
        /// <summary>A sink that accepts at most <see cref="Room"/> bytes per call (0 = stalled), or is closed.</summary>
        sealed class ThrottledSink : IPcapSink
        {
            public int Room;
            public bool Gone;
            public readonly List<byte> Received = new List<byte>();

            public int Write(byte[] buffer, int offset, int count)
            {
                if (Gone) return -1;
                int n = Math.Min(Room, count);
                for (int i = 0; i < n; i++) Received.Add(buffer[offset + i]);
                return n;
            }
        }

        /// <summary>Splits a pcap byte stream into its records' usbmon packets (checking the framing as it goes).</summary>
        static List<byte[]> ParsePcap(byte[] stream)
        {
            Assert.That(stream.Length, Is.GreaterThanOrEqualTo(Pcap.FileHeaderSize));
            Assert.That(BitConverter.ToUInt32(stream, 0), Is.EqualTo(Pcap.MagicMicroseconds));
            Assert.That(BitConverter.ToUInt32(stream, 20), Is.EqualTo(Pcap.LinkTypeUsbLinuxMmapped));
            var packets = new List<byte[]>();
            int at = Pcap.FileHeaderSize;
            while (at < stream.Length)
            {
                Assert.That(stream.Length - at, Is.GreaterThanOrEqualTo(Pcap.RecordHeaderSize), "a whole record header");
                int included = (int)BitConverter.ToUInt32(stream, at + 8);
                at += Pcap.RecordHeaderSize;
                Assert.That(stream.Length - at, Is.GreaterThanOrEqualTo(included), "a whole record");
                byte[] packet = stream.AsSpan(at, included).ToArray();
                Assert.That(UsbmonPacket.TotalLength(packet), Is.EqualTo(included), "record length = usbmon header + captured");
                packets.Add(packet);
                at += included;
            }
            return packets;
        }

        [Test]
        public void SlowSink_GetsEveryEventAsWholeRecords()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.High);
            hc.Plug("1", new SimDevice("kbd", UsbSpeed.High, Desc.Device(0x0627, 0x0001), Desc.KeyboardConfig()));
            bed.Settle();
            var reader = new UsbmonReader(new[] { bed.Bus.Monitor });
            Assert.That(reader.Start(), Is.EqualTo(UsbStatus.Ok));
            var streamer = new PcapStreamer(reader);
            var sink = new ThrottledSink { Room = 7 };
            for (int i = 0; i < 5; i++)
            {
                UsbMessages.GetDescriptor(bed.Device("1-1"), DescriptorType.Device, 0, 0, new byte[18], UsbMessages.ControlTimeoutMs, out int _);
                for (int pump = 0; pump < 3; pump++)
                    Assert.That(streamer.Pump(sink), Is.True);
            }
            reader.Stop();
            while (streamer.HasPending || bed.Bus.Monitor.BufferedBytes > 0)
                Assert.That(streamer.Pump(sink), Is.True);
            List<byte[]> packets = ParsePcap(sink.Received.ToArray());
            Assert.That((ulong)packets.Count, Is.EqualTo(reader.Recorded));
            Assert.That(streamer.Packets, Is.EqualTo((ulong)packets.Count));
            Assert.That(streamer.Bytes, Is.EqualTo((ulong)sink.Received.Count));
            Assert.That(reader.Dropped, Is.Zero);
            var descriptors = packets.FindAll(p => UsbmonPacket.Type(p) == UsbmonPacket.Callback && UsbmonPacket.Length(p) == 18);
            Assert.That(descriptors.Count, Is.EqualTo(5), "the five GET_DESCRIPTOR callbacks with their 18 bytes");
            reader.Release();
        }

        [Test]
        public void StalledSink_NeverBlocksTheBus_EventsAreDroppedAndCounted_ThenTheStreamResumesIntact()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.High);
            hc.Plug("1", new SimDevice("kbd", UsbSpeed.High, Desc.Device(0x0627, 0x0001), Desc.KeyboardConfig()));
            bed.Settle();
            var reader = new UsbmonReader(new[] { bed.Bus.Monitor });
            Assert.That(reader.Start(UsbMonitor.MinimumRingBytes), Is.EqualTo(UsbStatus.Ok));
            var streamer = new PcapStreamer(reader);
            var sink = new ThrottledSink { Room = 30 };
            Assert.That(streamer.Pump(sink), Is.True);
            sink.Room = 0; // the client stopped reading in the middle of the file header

            const int Requests = 100;
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < Requests; i++)
            {
                Assert.That(UsbMessages.GetDescriptor(bed.Device("1-1"), DescriptorType.Device, 0, 0, new byte[18], UsbMessages.ControlTimeoutMs, out int n),
                            Is.EqualTo(UsbStatus.Ok));
                Assert.That(streamer.Pump(sink), Is.True);
            }
            Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "requests complete while nobody reads");
            Assert.That(reader.Dropped, Is.GreaterThan(0ul));
            Assert.That(reader.Recorded + reader.Dropped, Is.EqualTo((ulong)(2 * Requests)));

            sink.Room = 1000;
            reader.Stop();
            while (streamer.HasPending || bed.Bus.Monitor.BufferedBytes > 0)
                Assert.That(streamer.Pump(sink), Is.True);
            List<byte[]> packets = ParsePcap(sink.Received.ToArray());
            Assert.That((ulong)packets.Count, Is.EqualTo(reader.Recorded), "every recorded event, none cut");

            sink.Gone = true;
            UsbMessages.GetDescriptor(bed.Device("1-1"), DescriptorType.Device, 0, 0, new byte[18], UsbMessages.ControlTimeoutMs, out int _);
            reader.Release();
            Assert.That(reader.Start(), Is.EqualTo(UsbStatus.Ok));
            UsbMessages.GetDescriptor(bed.Device("1-1"), DescriptorType.Device, 0, 0, new byte[18], UsbMessages.ControlTimeoutMs, out int _);
            Assert.That(streamer.Pump(sink), Is.False, "a closed sink ends the stream");
            Assert.That(streamer.Closed, Is.True);
            reader.Release();
        }
    }
}
