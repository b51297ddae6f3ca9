using System;
using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Usbmon;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    /// <summary>
    /// usbmon: the text format against the examples of Linux's Documentation/usb/usbmon.rst, the
    /// binary header and pcap framing against the documented byte layout, the ring buffer's
    /// bounds and drop counters, and recording on a simulated bus (S/C pairs with one tag, setup
    /// packets, data, E for a refused submission, nothing recorded while off).
    /// </summary>
    [TestFixture]
    public class UsbmonTests
    {
        /// <summary>A packet built from fields, with optional captured data after the header.</summary>
        static byte[] Packet(ulong id, char type, byte pipe, byte endpoint, byte device, ushort bus, byte setupFlag, byte dataFlag,
                             ulong timestampUs, int status, uint length, byte[] data = null, byte[] setup = null, int interval = 0, uint flags = 0)
        {
            data ??= new byte[0];
            var p = new byte[UsbmonPacket.HeaderSize + data.Length];
            UsbmonPacket.WriteHeader(p, id, (byte)type, pipe, endpoint, device, bus, setupFlag, dataFlag, timestampUs, status, length,
                                     (uint)data.Length, interval, flags);
            if (setup != null) setup.CopyTo(p, UsbmonPacket.OffsetSetup);
            data.CopyTo(p, UsbmonPacket.HeaderSize);
            return p;
        }

        static byte[] Hex(string hex)
        {
            hex = hex.Replace(" ", "");
            var b = new byte[hex.Length / 2];
            for (int i = 0; i < b.Length; i++) b[i] = Convert.ToByte(hex.Substring(2 * i, 2), 16);
            return b;
        }

        // ---- Text format (usbmon.rst "Examples") ------------------------------------------------

        [Test]
        public void Text_ControlInputToGetAPortStatus_MatchesTheDocumentation()
        {
            // "An input control transfer to get a port status."
            byte[] submit = Packet(0xd5ea89a0, 'S', UsbmonPacket.PipeControl, 0x80, 1, 1, UsbmonPacket.FlagPresent, UsbmonPacket.FlagDataIncoming,
                                   3575_914555, -115, 4, setup: Hex("a3 00 00 00 03 00 04 00"));
            byte[] callback = Packet(0xd5ea89a0, 'C', UsbmonPacket.PipeControl, 0x80, 1, 1, UsbmonPacket.FlagNoSetup, UsbmonPacket.FlagPresent,
                                     3575_914560, 0, 4, data: Hex("01 05 00 00"));
            Assert.That(UsbmonText.Format(submit), Is.EqualTo("d5ea89a0 3575914555 S Ci:1:001:0 s a3 00 0000 0003 0004 4 <"));
            Assert.That(UsbmonText.Format(callback), Is.EqualTo("d5ea89a0 3575914560 C Ci:1:001:0 0 4 = 01050000"));
        }

        [Test]
        public void Text_BulkOutputOfAScsiCommand_MatchesTheDocumentation()
        {
            // "An output bulk transfer to send a SCSI command 0x28 (READ_10) in a 31-byte Bulk wrapper
            // to a storage device at address 5". The document's timestamps (4128379752) predate the
            // 4096 s wrap of mon_get_timestamp (seconds & 0xFFF); the same line with today's wrap
            // of 4128.379752 s reads 32379752.
            byte[] cbw = Hex("55534243 ad000000 00800000 80010a28 20000000 20000040 00000000 000000");
            byte[] submit = Packet(0xdd65f0e8, 'S', UsbmonPacket.PipeBulk, 0x02, 5, 1, UsbmonPacket.FlagNoSetup, UsbmonPacket.FlagPresent,
                                   4128_379752, -115, 31, data: cbw);
            byte[] callback = Packet(0xdd65f0e8, 'C', UsbmonPacket.PipeBulk, 0x02, 5, 1, UsbmonPacket.FlagNoSetup, UsbmonPacket.FlagDataOutgoing,
                                     4128_379808, 0, 31);
            Assert.That(UsbmonText.Format(submit),
                        Is.EqualTo("dd65f0e8 32379752 S Bo:1:005:2 -115 31 = 55534243 ad000000 00800000 80010a28 20000000 20000040 00000000 000000"));
            Assert.That(UsbmonText.Format(callback), Is.EqualTo("dd65f0e8 32379808 C Bo:1:005:2 0 31 >"));
            Assert.That(UsbmonText.Timestamp(3575, 914555), Is.EqualTo(3575914555u), "below 4096 s the stamp is plain microseconds");
        }

        [Test]
        public void Text_InterruptErrorAndLongData_FollowMonText()
        {
            // Interrupt: "status:interval" (mon_text_read_intstat), data capped at 32 bytes.
            byte[] report = Packet(0x1f, 'C', UsbmonPacket.PipeInterrupt, 0x81, 2, 3, UsbmonPacket.FlagNoSetup, UsbmonPacket.FlagPresent,
                                   12_000001, 0, 8, data: Hex("00 00 04 00 00 00 00 00"), interval: 8);
            Assert.That(UsbmonText.Format(report), Is.EqualTo("1f 12000001 C Ii:3:002:1 0:8 8 = 00000400 00000000"));
            byte[] resubmit = Packet(0x1f, 'S', UsbmonPacket.PipeInterrupt, 0x81, 2, 3, UsbmonPacket.FlagNoSetup, UsbmonPacket.FlagDataIncoming,
                                     12_000002, -115, 8, interval: 8);
            Assert.That(UsbmonText.Format(resubmit), Is.EqualTo("1f 12000002 S Ii:3:002:1 -115:8 8 <"));
            // E: status only and length 0, whatever the transfer type (mon_text_error).
            byte[] error = Packet(0x20, 'E', UsbmonPacket.PipeInterrupt, 0x81, 2, 3, UsbmonPacket.FlagNoSetup, UsbmonPacket.FlagError, 5_000000, -19, 0);
            Assert.That(UsbmonText.Format(error), Is.EqualTo("20 5000000 E Ii:3:002:1 -19 0"));
            var longData = new byte[64];
            for (int i = 0; i < longData.Length; i++) longData[i] = (byte)i;
            byte[] bulkIn = Packet(0x21, 'C', UsbmonPacket.PipeBulk, 0x81, 3, 1, UsbmonPacket.FlagNoSetup, UsbmonPacket.FlagPresent, 1, 0, 64, data: longData);
            Assert.That(UsbmonText.Format(bulkIn), Is.EqualTo("21 1 C Bi:1:003:1 0 64 = 00010203 04050607 08090a0b 0c0d0e0f 10111213 14151617 18191a1b 1c1d1e1f"));
            // A zero-length callback has no data word at all.
            byte[] empty = Packet(0x22, 'C', UsbmonPacket.PipeControl, 0x00, 3, 1, UsbmonPacket.FlagNoSetup, UsbmonPacket.FlagPresent, 1, 0, 0);
            Assert.That(UsbmonText.Format(empty), Is.EqualTo("22 1 C Co:1:003:0 0 0"));
        }

        // ---- Binary header and pcap ---------------------------------------------------------------

        [Test]
        public void Binary_HeaderIsTheDocumentedUsbmonPacketLayout()
        {
            byte[] p = Packet(0x1122334455667788, 'S', UsbmonPacket.PipeControl, 0x80, 5, 0x0102, UsbmonPacket.FlagPresent, UsbmonPacket.FlagDataIncoming,
                              1234_567890, -115, 18, setup: Hex("80 06 00 01 00 00 12 00"), flags: UsbmonPacket.UrbDirIn);
            // struct usbmon_packet: id u64 @0, type @8, xfer_type @9, epnum @10, devnum @11, busnum u16 @12,
            // flag_setup @14, flag_data @15, ts_sec s64 @16, ts_usec s32 @24, status s32 @28, length u32 @32,
            // len_cap u32 @36, setup[8] @40, interval @48, start_frame @52, xfer_flags @56, ndesc @60.
            byte[] expected = Hex(
                "88 77 66 55 44 33 22 11" + "53 02 80 05" + "02 01" + "00 3c" +
                "d2 04 00 00 00 00 00 00" + "52 aa 08 00" + "8d ff ff ff" + "12 00 00 00" + "00 00 00 00" +
                "80 06 00 01 00 00 12 00" + "00 00 00 00" + "00 00 00 00" + "00 02 00 00" + "00 00 00 00");
            Assert.That(p, Is.EqualTo(expected));
        }

        [Test]
        public void Pcap_FileAndRecordHeaders()
        {
            var file = new byte[Pcap.FileHeaderSize];
            Pcap.WriteFileHeader(file);
            Assert.That(file, Is.EqualTo(Hex("d4 c3 b2 a1 02 00 04 00 00 00 00 00 00 00 00 00 00 00 04 00 dc 00 00 00")));

            // An IN callback with 18 of 18 bytes captured: caplen = len = 64 + 18.
            byte[] withData = Packet(1, 'C', UsbmonPacket.PipeControl, 0x80, 0, 1, UsbmonPacket.FlagNoSetup, UsbmonPacket.FlagPresent,
                                     2_000003, 0, 18, data: new byte[18]);
            var record = new byte[Pcap.RecordHeaderSize];
            Pcap.WriteRecordHeader(record, withData);
            Assert.That(record, Is.EqualTo(Hex("02 00 00 00 03 00 00 00 52 00 00 00 52 00 00 00")));
            // A truncated transfer (1024 of 4096 bytes captured): len counts the whole transfer.
            byte[] truncated = Packet(1, 'C', UsbmonPacket.PipeBulk, 0x81, 2, 1, UsbmonPacket.FlagNoSetup, UsbmonPacket.FlagPresent,
                                      0, 0, 4096, data: new byte[1024]);
            Pcap.WriteRecordHeader(record, truncated);
            Assert.That(record, Is.EqualTo(Hex("00 00 00 00 00 00 00 00 40 04 00 00 40 10 00 00")));
            // An IN submission carries no data: len = caplen = 64.
            byte[] inSubmit = Packet(1, 'S', UsbmonPacket.PipeBulk, 0x81, 2, 1, UsbmonPacket.FlagNoSetup, UsbmonPacket.FlagDataIncoming, 0, -115, 512);
            Pcap.WriteRecordHeader(record, inSubmit);
            Assert.That(record, Is.EqualTo(Hex("00 00 00 00 00 00 00 00 40 00 00 00 40 00 00 00")));
        }

        [Test]
        public void LinuxInterval_FramesOrMicroframesRoundedDownToAPowerOfTwo()
        {
            Assert.That(UsbMonitor.LinuxInterval(UsbSpeed.Full, TransferType.Interrupt, 10), Is.EqualTo(8));
            Assert.That(UsbMonitor.LinuxInterval(UsbSpeed.Low, TransferType.Interrupt, 255), Is.EqualTo(128));
            Assert.That(UsbMonitor.LinuxInterval(UsbSpeed.High, TransferType.Interrupt, 7), Is.EqualTo(64));
            Assert.That(UsbMonitor.LinuxInterval(UsbSpeed.High, TransferType.Interrupt, 12), Is.EqualTo(2048));
            Assert.That(UsbMonitor.LinuxInterval(UsbSpeed.Super, TransferType.Interrupt, 16), Is.EqualTo(32768));
        }

        // ---- Recording on a simulated bus --------------------------------------------------------

        static List<byte[]> Drain(UsbMonitor monitor)
        {
            var events = new List<byte[]>();
            var buffer = new byte[UsbMonitor.MaxRecordBytes];
            int n;
            while ((n = monitor.Read(buffer)) > 0)
                events.Add(buffer.AsSpan(0, n).ToArray());
            return events;
        }

        static string Lines(List<byte[]> events)
        {
            var sb = new System.Text.StringBuilder();
            foreach (var e in events) sb.AppendLine(UsbmonText.Format(e));
            return sb.ToString();
        }

        [Test]
        public void Enumeration_IsRecordedAsSubmitCallbackPairsWithSetupAndData()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.High);
            bed.Settle();
            UsbMonitor monitor = bed.Bus.Monitor;
            Assert.That(monitor.Start(), Is.EqualTo(UsbStatus.Ok));
            byte[] deviceDescriptor = Desc.Device(0x0627, 0x0001);
            hc.Plug("1", new SimDevice("kbd", UsbSpeed.High, deviceDescriptor, Desc.KeyboardConfig()));
            bed.Settle();
            monitor.Stop();
            List<byte[]> events = Drain(monitor);
            string text = Lines(events);
            Assert.That(monitor.Dropped, Is.Zero);
            Assert.That((ulong)events.Count, Is.EqualTo(monitor.Recorded));

            // Every S has exactly one later C with the same tag, and nothing else uses the tag
            // meanwhile; a C without S is only allowed for a request submitted before the reader
            // attached (the root hub's status request), as on Linux.
            var open = new Dictionary<ulong, int>();
            var seen = new HashSet<ulong>();
            foreach (var e in events)
            {
                ulong id = UsbmonPacket.Id(e);
                byte type = UsbmonPacket.Type(e);
                bool firstSight = seen.Add(id);
                if (type == UsbmonPacket.Submission)
                {
                    Assert.That(open.ContainsKey(id), Is.False, "resubmitted before its callback:\n" + text);
                    open[id] = 1;
                }
                else
                {
                    Assert.That(type, Is.EqualTo(UsbmonPacket.Callback));
                    Assert.That(open.Remove(id) || firstSight, Is.True, "callback without submission:\n" + text);
                }
            }
            Assert.That(open.Count, Is.LessThanOrEqualTo(2), "only the hubs' status requests stay pending:\n" + text);

            // GET_DESCRIPTOR(device) at address 0 on the root port: the setup packet as sent, and
            // the callback with the descriptor bytes the device returned.
            int first = events.FindIndex(e => UsbmonPacket.Device(e) == 0 && UsbmonPacket.Type(e) == UsbmonPacket.Submission);
            Assert.That(first, Is.GreaterThanOrEqualTo(0), text);
            byte[] s = events[first];
            Assert.That(UsbmonText.Format(s), Does.Match(@"^[0-9a-f]+ \d+ S Ci:1:000:0 s 80 06 0100 0000 0040 64 <$"));
            Assert.That(UsbmonPacket.TransferFlagsOf(s), Is.EqualTo(UsbmonPacket.UrbDirIn));
            byte[] c = events.Find(e => UsbmonPacket.Id(e) == UsbmonPacket.Id(s) && UsbmonPacket.Type(e) == UsbmonPacket.Callback);
            Assert.That(UsbmonPacket.Length(c), Is.EqualTo(18));
            Assert.That(c.AsSpan(UsbmonPacket.HeaderSize).ToArray(), Is.EqualTo(deviceDescriptor));
            Assert.That(UsbmonPacket.Status(c), Is.Zero);

            // SET_ADDRESS is an OUT control request without data; later requests go to the new address.
            Assert.That(text, Does.Match(@"(?m)^[0-9a-f]+ \d+ S Co:1:000:0 s 00 05 0002 0000 0000 0$"));
            Assert.That(text, Does.Match(@"(?m)^[0-9a-f]+ \d+ C Ci:1:002:0 0 34 = 09022200 010100a0 32090400 00010301 01000921 11010001 22"));
            // The root hub's own requests are recorded as on Linux (device 1).
            Assert.That(text, Does.Match(@"(?m)^[0-9a-f]+ \d+ S Ci:1:001:0 s a3 00 0000 0001 0004 4 <$"));
        }

        [Test]
        public void Off_NothingIsRecordedAndNoBufferIsHeld()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.High);
            hc.Plug("1", new SimDevice("kbd", UsbSpeed.High, Desc.Device(0x0627, 0x0001), Desc.KeyboardConfig()));
            bed.Settle();
            UsbMonitor monitor = bed.Bus.Monitor;
            Assert.That(monitor.Active, Is.False);
            Assert.That(monitor.RingBytes, Is.Zero);
            Assert.That(monitor.Recorded, Is.Zero);
            Assert.That(monitor.Read(new byte[UsbMonitor.MaxRecordBytes]), Is.Zero);

            Assert.That(monitor.Start(), Is.EqualTo(UsbStatus.Ok));
            Assert.That(monitor.Start(), Is.EqualTo(UsbStatus.Busy), "one reader at a time");
            Assert.That(monitor.RingBytes, Is.EqualTo(UsbMonitor.DefaultRingBytes));
            monitor.Release();
            Assert.That(monitor.RingBytes, Is.Zero);
            Assert.That(monitor.Active, Is.False);
        }

        [Test]
        public void RefusedSubmission_IsRecordedAsSubmitThenError()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.High);
            hc.Plug("1", new SimDevice("kbd", UsbSpeed.High, Desc.Device(0x0627, 0x0001), Desc.KeyboardConfig()));
            bed.Settle();
            UsbDevice device = bed.Device("1-1");
            UsbMonitor monitor = bed.Bus.Monitor;
            monitor.Start();
            hc.SubmitFault = r => r.Device == device ? UsbStatus.NoMemory : (UsbStatus?)null;
            var buffer = new byte[UsbMonitor.MaxRecordBytes];
            UsbStatus status = UsbMessages.GetDescriptor(device, DescriptorType.Device, 0, 0, new byte[18], UsbMessages.ControlTimeoutMs, out int _);
            Assert.That(status, Is.EqualTo(UsbStatus.NoMemory));
            monitor.Stop();
            List<byte[]> events = Drain(monitor);
            // Each try of the synchronous helper: its S, then E with the same tag, status -ENOMEM, length 0.
            Assert.That(events.Count, Is.GreaterThan(0).And.EqualTo(2 * (events.Count / 2)), Lines(events));
            for (int i = 0; i < events.Count; i += 2)
            {
                Assert.That(UsbmonText.Format(events[i]), Does.Match(@"^([0-9a-f]+) \d+ S Ci:1:002:0 s 80 06 0100 0000 0012 18 <$"));
                Assert.That(UsbmonText.Format(events[i + 1]), Does.Match(@"^[0-9a-f]+ \d+ E Ci:1:002:0 -12 0$"));
                Assert.That(UsbmonPacket.Id(events[i + 1]), Is.EqualTo(UsbmonPacket.Id(events[i])));
                Assert.That(UsbmonPacket.DataFlag(events[i + 1]), Is.EqualTo(UsbmonPacket.FlagError));
            }
        }

        [Test]
        public void FullRing_DropsAndCountsEvents_AndWrapsWithoutReordering()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.High);
            hc.Plug("1", new SimDevice("kbd", UsbSpeed.High, Desc.Device(0x0627, 0x0001), Desc.KeyboardConfig()));
            bed.Settle();
            UsbDevice device = bed.Device("1-1");
            UsbMonitor monitor = bed.Bus.Monitor;
            monitor.Start(UsbMonitor.MinimumRingBytes);
            // Each GET_DESCRIPTOR(device) is an S (64 bytes) and a C with 18 bytes (128 bytes): a 4 KiB ring holds 21 pairs.
            const int Requests = 40;
            for (int i = 0; i < Requests; i++)
                UsbMessages.GetDescriptor(device, DescriptorType.Device, 0, 0, new byte[18], UsbMessages.ControlTimeoutMs, out int _);
            Assert.That(monitor.Recorded + monitor.Dropped, Is.EqualTo((ulong)(2 * Requests)));
            Assert.That(monitor.Dropped, Is.GreaterThan(0ul));
            Assert.That(monitor.BufferedBytes, Is.LessThanOrEqualTo(UsbMonitor.MinimumRingBytes));

            // Reading frees room: later events are recorded again, in order, across the wrap.
            var buffer = new byte[UsbMonitor.MaxRecordBytes];
            var stamps = new List<ulong>();
            for (int round = 0; round < 3; round++)
            {
                int n;
                while ((n = monitor.Read(buffer)) > 0)
                    stamps.Add((ulong)UsbmonPacket.Seconds(buffer) * 1000000 + (ulong)UsbmonPacket.Microseconds(buffer));
                ulong before = monitor.Recorded;
                for (int i = 0; i < 10; i++)
                    UsbMessages.GetDescriptor(device, DescriptorType.Device, 0, 0, new byte[18], UsbMessages.ControlTimeoutMs, out int _);
                Assert.That(monitor.Recorded - before, Is.EqualTo(20ul), "room again after reading");
            }
            for (int i = 1; i < stamps.Count; i++)
                Assert.That(stamps[i], Is.GreaterThanOrEqualTo(stamps[i - 1]), "events come out oldest first");
            monitor.Release();
        }

        [Test]
        public void Reader_MergesBusesInTimeOrder()
        {
            using var bed = new TestBed();
            SimController a = bed.AddController(2, UsbSpeed.High);
            SimController b = bed.AddController(2, UsbSpeed.Full);
            a.Plug("1", new SimDevice("kbd", UsbSpeed.High, Desc.Device(0x0627, 0x0001), Desc.KeyboardConfig()));
            b.Plug("1", new SimDevice("mouse", UsbSpeed.Full, Desc.Device(0x0627, 0x0001), Desc.MouseConfig()));
            bed.Settle();
            var reader = new UsbmonReader(new[] { bed.Stack.Buses[0].Monitor, bed.Stack.Buses[1].Monitor });
            Assert.That(reader.Start(), Is.EqualTo(UsbStatus.Ok));
            Assert.That(bed.Stack.Buses[1].Monitor.Start(), Is.EqualTo(UsbStatus.Busy));
            for (int i = 0; i < 3; i++)
            {
                UsbMessages.GetDescriptor(bed.Device("1-1"), DescriptorType.Device, 0, 0, new byte[18], UsbMessages.ControlTimeoutMs, out int _);
                UsbMessages.GetDescriptor(bed.Device("2-1"), DescriptorType.Device, 0, 0, new byte[18], UsbMessages.ControlTimeoutMs, out int _);
            }
            reader.Stop();
            var buffer = new byte[UsbMonitor.MaxRecordBytes];
            var buses = new List<int>();
            ulong last = 0;
            while (reader.Read(buffer) > 0)
            {
                ulong stamp = (ulong)UsbmonPacket.Seconds(buffer) * 1000000 + (ulong)UsbmonPacket.Microseconds(buffer);
                Assert.That(stamp, Is.GreaterThanOrEqualTo(last));
                last = stamp;
                buses.Add(UsbmonPacket.Bus(buffer));
            }
            Assert.That(buses.FindAll(x => x == 1).Count, Is.EqualTo(6));
            Assert.That(buses.FindAll(x => x == 2).Count, Is.EqualTo(6));
            Assert.That(reader.Dropped, Is.Zero);
            reader.Release();
        }
    }
}
