using System;
using System.Collections.Generic;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Usbmon;
using NUnit.Framework;
using Platform;
using Tests.Support;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;
using static Tests.Support.Waiting;

namespace Usb.Tests
{
    /// <summary>
    /// usbmon's isochronous descriptors, byte for byte as Linux writes them: the binary event
    /// (mon_bin.c: error_count and numdesc in the setup union, start_frame, ndesc, then one
    /// 16-byte struct mon_bin_isodesc per packet before the data), the pcap record lengths
    /// (libpcap's fix_linux_usb_mmapped_length) and the text line (mon_text.c
    /// mon_text_read_isostat / mon_text_read_isodesc), for requests on the simulated bus.
    /// </summary>
    [TestFixture]
    public class UsbmonIsoTests
    {
        const int OutPacket = 192, InPacket = 64;
        TestBed _bed;
        SimController _hc;
        SimDevice _sim;
        UsbDevice _dev;
        const uint Frame = 100;

        [SetUp]
        public void SetUp()
        {
            _bed = new TestBed();
            _hc = _bed.AddController(2, UsbSpeed.Full, hc => hc.IsoClock = () => Frame);
            _sim = new SimDevice("iso", UsbSpeed.Full, Desc.Device(0x46f4, 0x0002), IsoRequestTests.IsoConfig());
            _hc.Plug("1", _sim);
            _bed.Settle();
            _dev = _bed.Device("1-1");
            Assert.That(_bed.Stack.SetInterface(_dev.Interfaces[0], 1), Is.EqualTo(UsbStatus.Ok));
        }

        [TearDown]
        public void TearDown() => _bed.Dispose();

        static byte[] Hex(string hex)
        {
            hex = hex.Replace(" ", "");
            var b = new byte[hex.Length / 2];
            for (int i = 0; i < b.Length; i++) b[i] = Convert.ToByte(hex.Substring(2 * i, 2), 16);
            return b;
        }

        static string Le32(long v)
        {
            uint u = (uint)v;
            return $"{u & 0xff:x2} {(u >> 8) & 0xff:x2} {(u >> 16) & 0xff:x2} {u >> 24:x2} ";
        }

        static string Le64(ulong v) => Le32((long)(v & 0xffffffff)) + Le32((long)(v >> 32));

        /// <summary>The 64-byte header mon_bin_event writes for an isochronous event, as hex (independent of UsbmonPacket's code).</summary>
        static string IsoHeader(byte[] actual, char type, byte endpoint, byte device, int status, int length, int captured, int errorCount,
                                int packets, int interval, int startFrame, uint flags, int ndesc, char dataFlag)
        {
            return Le64(UsbmonPacket.Id(actual)) + $"{(byte)type:x2} 00 {endpoint:x2} {device:x2} " + "01 00 " + "2d " + $"{(byte)dataFlag:x2} " +
                   Le64((ulong)UsbmonPacket.Seconds(actual)) + Le32(UsbmonPacket.Microseconds(actual)) + Le32(status) + Le32(length) + Le32(captured) +
                   Le32(errorCount) + Le32(packets) + Le32(interval) + Le32(startFrame) + Le32(flags) + Le32(ndesc);
        }

        static string IsoDescriptor(int status, int offset, int length) => Le32(status) + Le32(offset) + Le32(length) + "00 00 00 00 ";

        UsbRequest Iso(byte ep, int packets, int packetLength, List<UsbRequest> done, int flags = UsbRequestFlags.IsoAsap) =>
            IsoRequests.Create(_bed.Dma, _dev, _dev.FindEndpoint(ep), packets, packetLength, done, flags);

        List<(byte[] packet, int textLength)> Drain()
        {
            var events = new List<(byte[], int)>();
            var buffer = new byte[UsbMonitor.MaxRecordBytes];
            int n;
            while ((n = _bed.Bus.Monitor.Read(buffer, out int textLength)) > 0)
                events.Add((buffer.AsSpan(0, n).ToArray(), textLength));
            return events;
        }

        static string Head((byte[] packet, int textLength) e, string what) =>
            $"{UsbmonPacket.Id(e.packet):x} {UsbmonText.Timestamp(UsbmonPacket.Seconds(e.packet), UsbmonPacket.Microseconds(e.packet))} {what}";

        [Test]
        public void IsochronousOut_SubmissionCarriesRequestedLengthsAndData_CallbackTheResults()
        {
            _hc.IsoPacketFault = (r, i) => i == 3 ? UsbStatus.Underrun : (UsbStatus?)null;
            Assert.That(_bed.Bus.Monitor.Start(), Is.EqualTo(UsbStatus.Ok));
            var done = new List<UsbRequest>();
            UsbRequest r = Iso(0x01, 8, OutPacket, done);
            Span<byte> b = r.Buffer.AsSpan();
            for (int i = 0; i < b.Length; i++) b[i] = (byte)i;
            Assert.That(_bed.Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
            _bed.Bus.Monitor.Stop();
            var events = Drain().FindAll(e => UsbmonPacket.TransferTypeOf(e.packet) == UsbmonPacket.PipeIsochronous);
            Assert.That(events.Count, Is.EqualTo(2));
            var (s, c) = (events[0], events[1]);
            int device = _dev.Address;

            // S: 8 descriptors with the requested lengths and -EXDEV (usb_submit_urb's initial
            // packet status), then the data (1536 bytes, captured up to the monitor's 1024).
            var expectedS = new System.Text.StringBuilder(IsoHeader(s.packet, 'S', 0x01, (byte)device, -115, 8 * OutPacket, 8 * 16 + UsbMonitor.MaxCapturedData,
                                                                    0, 8, 1, 0, UsbmonPacket.UrbIsoAsap, 8, '\0'));
            for (int i = 0; i < 8; i++) expectedS.Append(IsoDescriptor(-18, i * OutPacket, OutPacket));
            byte[] expected = Hex(expectedS.ToString());
            Assert.That(s.packet.AsSpan(0, expected.Length).ToArray(), Is.EqualTo(expected), "header and descriptors of the submission");
            Assert.That(s.packet.Length, Is.EqualTo(64 + 8 * 16 + UsbMonitor.MaxCapturedData));
            for (int i = 0; i < UsbMonitor.MaxCapturedData; i++)
                Assert.That(s.packet[64 + 128 + i], Is.EqualTo((byte)i), "data after the descriptors");

            // C: the results (packet 3 underran: -ENOSR, error_count 1), the actual length, no data ('>').
            int start = r.StartFrame;
            Assert.That(start, Is.Not.Zero);
            var expectedC = new System.Text.StringBuilder(IsoHeader(c.packet, 'C', 0x01, (byte)device, 0, 7 * OutPacket, 8 * 16, 1, 8, 1, start, UsbmonPacket.UrbIsoAsap, 8, '>'));
            for (int i = 0; i < 8; i++) expectedC.Append(i == 3 ? IsoDescriptor(-63, i * OutPacket, 0) : IsoDescriptor(0, i * OutPacket, OutPacket));
            Assert.That(c.packet, Is.EqualTo(Hex(expectedC.ToString())), "the whole callback event");

            // Text (mon_text.c): S "status:interval:start_frame numdesc" and at most five descriptors;
            // C adds ":error_count" and prints the buffer's length (ISO 'C' is sparse).
            Assert.That(UsbmonText.Format(s.packet, s.textLength), Is.EqualTo(Head(s,
                $"S Zo:1:{device:000}:1 -115:1:0 8 -18:0:192 -18:192:192 -18:384:192 -18:576:192 -18:768:192 1536 = 00010203 04050607 08090a0b 0c0d0e0f 10111213 14151617 18191a1b 1c1d1e1f")));
            Assert.That(c.textLength, Is.EqualTo(8 * OutPacket));
            Assert.That(UsbmonText.Format(c.packet, c.textLength), Is.EqualTo(Head(c,
                $"C Zo:1:{device:000}:1 0:1:{start}:1 8 0:0:192 0:192:192 0:384:192 -63:576:0 0:768:192 1536 >")));

            // pcap: caplen = 64 + descriptors + data; with data, len counts the whole request.
            var record = new byte[Pcap.RecordHeaderSize];
            Pcap.WriteRecordHeader(record, s.packet);
            Assert.That(Le.U32(record, 8), Is.EqualTo(64u + 128 + 1024));
            Assert.That(Le.U32(record, 12), Is.EqualTo(64u + 128 + 1536));
            Pcap.WriteRecordHeader(record, c.packet);
            Assert.That(Le.U32(record, 8), Is.EqualTo(64u + 128));
            Assert.That(Le.U32(record, 12), Is.EqualTo(64u + 128), "no data: len = caplen");
        }

        [Test]
        public void IsochronousIn_CallbackKeepsTheBufferUpToTheLastPacketWithData()
        {
            SimEndpoint ep = _sim.Endpoint(0x82);
            var first = new byte[InPacket];
            for (int i = 0; i < first.Length; i++) first[i] = (byte)(0xA0 + i);
            ep.InData.Enqueue(first);
            ep.InData.Enqueue(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 });
            Assert.That(_bed.Bus.Monitor.Start(), Is.EqualTo(UsbStatus.Ok));
            var done = new List<UsbRequest>();
            UsbRequest r = Iso(0x82, 3, InPacket, done);
            Assert.That(_bed.Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
            _bed.Bus.Monitor.Stop();
            var events = Drain().FindAll(e => UsbmonPacket.TransferTypeOf(e.packet) == UsbmonPacket.PipeIsochronous);
            Assert.That(events.Count, Is.EqualTo(2));
            var (s, c) = (events[0], events[1]);
            int device = _dev.Address;
            Assert.That(r.IsoPackets[2].ActualLength, Is.Zero);
            int status2 = UsbErrno.Of(r.IsoPackets[2].Status);

            // S of an IN request: descriptors only, data '<'.
            var expectedS = new System.Text.StringBuilder(IsoHeader(s.packet, 'S', 0x82, (byte)device, -115, 3 * InPacket, 3 * 16, 0, 3, 2, 0,
                                                                    UsbmonPacket.UrbDirIn | UsbmonPacket.UrbIsoAsap, 3, '<'));
            for (int i = 0; i < 3; i++) expectedS.Append(IsoDescriptor(-18, i * InPacket, InPacket));
            Assert.That(s.packet, Is.EqualTo(Hex(expectedS.ToString())));

            // C: data up to the end of packet 1 (64 + 10 bytes; packet 2 was empty).
            int start = r.StartFrame;
            var expectedC = new System.Text.StringBuilder(IsoHeader(c.packet, 'C', 0x82, (byte)device, 0, 74, 3 * 16 + 74, r.ErrorCount, 3, 2, start,
                                                                    UsbmonPacket.UrbDirIn | UsbmonPacket.UrbIsoAsap, 3, '\0'));
            expectedC.Append(IsoDescriptor(0, 0, 64) + IsoDescriptor(UsbErrno.Of(r.IsoPackets[1].Status), 64, 10) + IsoDescriptor(status2, 128, 0));
            foreach (byte x in first) expectedC.Append($"{x:x2} ");
            expectedC.Append("01 02 03 04 05 06 07 08 09 0a");
            Assert.That(c.packet, Is.EqualTo(Hex(expectedC.ToString())));

            // Text: the buffer's length (192) and its first 32 bytes.
            Assert.That(UsbmonText.Format(s.packet, s.textLength), Is.EqualTo(Head(s, $"S Zi:1:{device:000}:2 -115:2:0 3 -18:0:64 -18:64:64 -18:128:64 192 <")));
            Assert.That(UsbmonText.Format(c.packet, c.textLength), Is.EqualTo(Head(c,
                $"C Zi:1:{device:000}:2 0:2:{start}:{r.ErrorCount} 3 0:0:64 {UsbErrno.Of(r.IsoPackets[1].Status)}:64:10 {status2}:128:0 192 = a0a1a2a3 a4a5a6a7 a8a9aaab acadaeaf b0b1b2b3 b4b5b6b7 b8b9babb bcbdbebf")));

            // pcap: len = 64 + descriptors + the extent of the data (fix_linux_usb_mmapped_length).
            var record = new byte[Pcap.RecordHeaderSize];
            Pcap.WriteRecordHeader(record, c.packet);
            Assert.That(Le.U32(record, 8), Is.EqualTo(64u + 48 + 74));
            Assert.That(Le.U32(record, 12), Is.EqualTo(64u + 48 + 74));
        }

        [Test]
        public void ManyPackets_BinaryKeeps128Descriptors_TextShowsFive()
        {
            const int Packets = 200;
            var p = new byte[UsbmonPacket.HeaderSize + UsbmonPacket.MaxIsoDescriptors * UsbmonPacket.IsoDescriptorSize];
            UsbmonPacket.WriteHeader(p, 0x42, UsbmonPacket.Submission, UsbmonPacket.PipeIsochronous, 0x81, 3, 2, UsbmonPacket.FlagNoSetup,
                                     UsbmonPacket.FlagDataIncoming, 7_000000, -115, Packets * 8, (uint)(p.Length - UsbmonPacket.HeaderSize), 8, 0x200);
            UsbmonPacket.WriteIsoFields(p, 0, Packets, 1234, UsbmonPacket.MaxIsoDescriptors);
            for (int i = 0; i < UsbmonPacket.MaxIsoDescriptors; i++)
                UsbmonPacket.WriteIsoDescriptor(p, i, -18, i * 8, 8);
            Assert.That(UsbmonText.Format(p), Is.EqualTo("42 7000000 S Zi:2:003:1 -115:8:1234 200 -18:0:8 -18:8:8 -18:16:8 -18:24:8 -18:32:8 1600 <"));
            Assert.That(UsbmonPacket.DataOffset(p), Is.EqualTo(p.Length));
            Assert.That(UsbmonPacket.DataLength(p), Is.Zero);
        }

        [Test]
        public void RingAccountsForTheTextLengthOfIsoCallbacks()
        {
            // Many iso callbacks through a small ring: what is read back is whole events in order
            // (the text length kept after each callback never shows and never shifts a record).
            Assert.That(_bed.Bus.Monitor.Start(UsbMonitor.MinimumRingBytes), Is.EqualTo(UsbStatus.Ok));
            var done = new List<UsbRequest>();
            var seen = new List<(byte[] packet, int textLength)>();
            for (int round = 0; round < 20; round++)
            {
                UsbRequest r = Iso(0x82, 2, InPacket, done);
                Assert.That(_bed.Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
                WaitFor(() => { lock (done) return done.Count == round + 1; });
                if (round % 3 == 2) seen.AddRange(Drain());
            }
            seen.AddRange(Drain());
            var iso = seen.FindAll(e => UsbmonPacket.TransferTypeOf(e.packet) == UsbmonPacket.PipeIsochronous);
            Assert.That((ulong)seen.Count + _bed.Bus.Monitor.Dropped, Is.EqualTo(_bed.Bus.Monitor.Recorded + _bed.Bus.Monitor.Dropped));
            Assert.That(iso.Count, Is.EqualTo(40 - (int)_bed.Bus.Monitor.Dropped));
            foreach (var e in iso)
            {
                Assert.That(UsbmonPacket.DescriptorCount(e.packet), Is.EqualTo(2));
                Assert.That(e.textLength, Is.EqualTo(UsbmonPacket.Type(e.packet) == UsbmonPacket.Callback ? 2 * InPacket : -1));
            }
            _bed.Bus.Monitor.Release();
        }
    }
}
