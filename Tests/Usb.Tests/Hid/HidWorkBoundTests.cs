using System;
using System.Collections.Generic;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Hid;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;
using static Tests.Support.Waiting;

namespace Usb.Tests.Hid
{
    /// <summary>
    /// Report descriptors crafted to make one input report expensive (huge Report Count, thousands
    /// of usage ranges, many report IDs) are refused when the handler is built, with a log line
    /// naming the limit (HidInterface.MaxReportWork); what is accepted costs at most that per report.
    /// </summary>
    [TestFixture]
    public class HidWorkBoundTests
    {
        sealed class Rig : IDisposable
        {
            public readonly TestBed Bed = new TestBed();
            public readonly TestSink Sink = new TestSink();
            public readonly HidInputService Service;
            public readonly SimController Hc;

            public Rig()
            {
                Service = HidDrivers.Register(Bed.Stack, Sink);
                Hc = Bed.AddController(4, UsbSpeed.High);
            }

            public UsbInterface Plug(SimHidDevice device)
            {
                Hc.Plug("1", device);
                Bed.Settle();
                return Bed.Stack.FindInterface("1-1:1.0");
            }

            public void Dispose()
            {
                Bed.Dispose();
                Service.Stop();
            }
        }

        static byte[] Bytes(params object[] parts)
        {
            var list = new List<byte>();
            foreach (object p in parts)
            {
                if (p is byte[] a) list.AddRange(a);
                else list.Add(Convert.ToByte(p));
            }
            return list.ToArray();
        }

        static byte[] Repeat(int times, params byte[] item)
        {
            var list = new List<byte>();
            for (int i = 0; i < times; i++) list.AddRange(item);
            return list.ToArray();
        }

        /// <summary>A keyboard whose one array field has 4096 elements and 550 usage ranges of 65536 usages.</summary>
        static byte[] HugeArrayKeyboard() => Bytes(
            0x05, 0x01, 0x09, 0x06, 0xA1, 0x01,
            0x05, 0x07,
            Repeat(550, 0x1A, 0x00, 0x00, 0x2A, 0xFF, 0xFF),
            0x15, 0x00, 0x26, 0xFF, 0x7F,
            0x75, 0x08, 0x96, 0x00, 0x10,
            0x81, 0x00,
            0xC0);

        [Test]
        public void HugeKeyboardDescriptorIsRefusedAtProbe()
        {
            using var rig = new Rig();
            byte[] descriptor = HugeArrayKeyboard();
            Assert.That(HidReportDescriptor.Parse(descriptor, out HidReportDescriptor _).IsOk, Is.True, "the parser's own limits let it through");
            UsbInterface intf = rig.Plug(new SimHidDevice("Evil Keyboard", UsbSpeed.High, 0, 0, descriptor, 64));
            Assert.That(intf.Driver, Is.Null, rig.Bed.LogSink.All());
            Assert.That(rig.Bed.LogSink.Contains("hid 1-1:1.0: keyboard report 0 would cost 45058 steps per input report, more than the limit of 4096: report descriptor refused"),
                        Is.True, rig.Bed.LogSink.All());
        }

        [Test]
        public void HugeBootKeyboardDescriptorFallsBackToTheBootLayout()
        {
            using var rig = new Rig();
            var kbd = new SimHidDevice("Evil Boot Keyboard", UsbSpeed.High, 1, 1, HugeArrayKeyboard(), 64);
            UsbInterface intf = rig.Plug(kbd);
            Assert.That(intf.Driver?.Name, Is.EqualTo(UsbHidDriver.DriverName), rig.Bed.LogSink.All());
            var hid = (HidInterface)intf.DriverData;
            Assert.That(hid.BootProtocol, Is.True);
            Assert.That(kbd.Protocol, Is.EqualTo(0), "SET_PROTOCOL(boot)");
            Assert.That(rig.Bed.LogSink.Contains("report descriptor refused"), Is.True);
            kbd.Send(rig.Hc, new byte[] { 0, 0, 0x0B, 0, 0, 0, 0, 0 }, new byte[8]);
            WaitFor(() => rig.Sink.Typed == "h", "typing in boot protocol");
            Assert.That(hid.LastReportWork, Is.LessThanOrEqualTo(hid.ReportWorkBound));
        }

        [Test]
        public void MouseWithThousandsOfButtonsIsRefusedAtProbe()
        {
            using var rig = new Rig();
            byte[] descriptor = Bytes(
                0x05, 0x01, 0x09, 0x02, 0xA1, 0x01,
                0x05, 0x09,
                Repeat(550, 0x1A, 0x01, 0x00, 0x2A, 0xFF, 0xFF),
                0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x96, 0x00, 0x10, 0x81, 0x02,
                0x05, 0x01, 0x09, 0x30, 0x09, 0x31, 0x15, 0x81, 0x25, 0x7F, 0x75, 0x08, 0x95, 0x02, 0x81, 0x06,
                0xC0);
            Assert.That(HidReportDescriptor.Parse(descriptor, out HidReportDescriptor _).IsOk, Is.True);
            UsbInterface intf = rig.Plug(new SimHidDevice("Evil Mouse", UsbSpeed.High, 0, 0, descriptor, 64));
            Assert.That(intf.Driver, Is.Null, rig.Bed.LogSink.All());
            Assert.That(rig.Bed.LogSink.Contains("hid 1-1:1.0: mouse report 0 would cost"), Is.True, rig.Bed.LogSink.All());
        }

        [Test]
        public void AcceptedHeavyKeyboardStaysWithinTheBoundPerReport()
        {
            using var rig = new Rig();
            // Report 1: 8 modifier bits, then a 400-key bitmap over 40 ranges of 10 usages each.
            var ranges = new List<byte>();
            for (int r = 0; r < 40; r++)
                ranges.AddRange(new byte[] { 0x19, (byte)(4 + r * 6), 0x29, (byte)(4 + r * 6 + 9) });
            byte[] descriptor = Bytes(
                0x05, 0x01, 0x09, 0x06, 0xA1, 0x01, 0x85, 0x01,
                0x05, 0x07, 0x19, 0xE0, 0x29, 0xE7, 0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02,
                ranges.ToArray(),
                0x96, 0x90, 0x01, 0x81, 0x02,
                0xC0);
            var kbd = new SimHidDevice("Heavy Keyboard", UsbSpeed.High, 0, 0, descriptor, 64);
            UsbInterface intf = rig.Plug(kbd);
            Assert.That(intf.Driver?.Name, Is.EqualTo(UsbHidDriver.DriverName), rig.Bed.LogSink.All());
            var hid = (HidInterface)intf.DriverData;
            // 1 report ID + 2 fields + 8 modifiers x (1 + 1 lookup probe) + 400 keys x (1 + 6 probes over 40 ranges).
            Assert.That(hid.ReportWorkBound, Is.EqualTo(1 + 2 + 8 * 2 + 400 * 7));
            Assert.That(hid.ReportWorkBound, Is.LessThanOrEqualTo(HidInterface.MaxReportWork));
            byte[] all = new byte[1 + 1 + 50];
            all[0] = 1;
            for (int i = 1; i < all.Length; i++) all[i] = 0xFF;
            int before = hid.ReportsReceived;
            kbd.Send(rig.Hc, all);
            WaitFor(() => hid.ReportsReceived > before, "the report");
            Assert.That(hid.LastReportWork, Is.EqualTo(hid.ReportWorkBound), "a full report costs exactly the probe-time bound");
        }

        [Test]
        public void ManyReportIdsCostOnlyTheFollowedReports()
        {
            using var rig = new Rig();
            var perId = new List<byte>();
            for (int id = 1; id <= 200; id++)
                perId.AddRange(new byte[] { 0x85, (byte)id, 0x95, 0x08, 0x75, 0x08, 0x19, 0x00, 0x29, 0x65, 0x81, 0x00 });
            byte[] descriptor = Bytes(0x05, 0x01, 0x09, 0x06, 0xA1, 0x01, 0x05, 0x07, 0x15, 0x00, 0x25, 0x65, perId.ToArray(), 0xC0);
            var kbd = new SimHidDevice("Many IDs Keyboard", UsbSpeed.High, 0, 0, descriptor, 64);
            UsbInterface intf = rig.Plug(kbd);
            Assert.That(intf.Driver?.Name, Is.EqualTo(UsbHidDriver.DriverName), rig.Bed.LogSink.All());
            var hid = (HidInterface)intf.DriverData;
            // 8 followed IDs + their 8 fields + 8 elements x (1 + 1 probe): the other 192 fields are not scanned.
            Assert.That(hid.ReportWorkBound, Is.EqualTo(8 + 8 + 8 * 2));
            int before = hid.ReportsReceived;
            kbd.Send(rig.Hc, new byte[] { 150, 0x0B, 0, 0, 0, 0, 0, 0, 0 });
            WaitFor(() => hid.ReportsReceived > before, "the report of an ignored ID");
            Assert.That(hid.LastReportWork, Is.EqualTo(8), "an ignored report costs the ID lookup only");
            kbd.Send(rig.Hc, new byte[] { 1, 0x0B, 0, 0, 0, 0, 0, 0, 0 }, new byte[] { 1, 0, 0, 0, 0, 0, 0, 0, 0 });
            WaitFor(() => rig.Sink.Typed == "h", "typing through report 1");
            Assert.That(hid.LastReportWork, Is.LessThanOrEqualTo(hid.ReportWorkBound));
        }

        [Test]
        public void UsageLookupsAgreeWithTheFlattenedList()
        {
            var rng = new Random(7);
            for (int round = 0; round < 50; round++)
            {
                int rangeCount = rng.Next(1, 300);
                var usages = new HidUsageRange[rangeCount];
                var flat = new List<uint>();
                for (int i = 0; i < rangeCount; i++)
                {
                    uint min = (uint)rng.Next(0, 0x70000);
                    uint max = min + (uint)rng.Next(0, rng.Next(2) == 0 ? 3 : 40);
                    usages[i] = new HidUsageRange { Minimum = min, Maximum = max };
                    for (uint u = min; u <= max; u++) flat.Add(u);
                }
                var f = new HidField { Usages = usages, Count = rng.Next(1, flat.Count + 20), Flags = HidMainFlags.Variable };
                var naive = new HidField { Usages = usages, Count = f.Count, Flags = HidMainFlags.Variable };
                f.BuildUsageIndex();
                Assert.That(f.UsageCount, Is.EqualTo(flat.Count));
                Assert.That(f.LookupSteps, Is.LessThanOrEqualTo(9));
                for (int i = -1; i <= flat.Count + 1; i++)
                    Assert.That(f.UsageAt(i), Is.EqualTo(i >= 0 && i < flat.Count ? flat[i] : 0u), "index " + i);
                for (int probe = 0; probe < 40; probe++)
                {
                    uint usage = flat[rng.Next(flat.Count)];
                    int expected = -1;
                    for (int e = 0; e < naive.Count && expected < 0; e++)
                        if (naive.VariableUsage(e) == usage) expected = e;
                    Assert.That(f.ElementOf(usage), Is.EqualTo(expected), "usage " + usage);
                }
            }
        }
    }
}
