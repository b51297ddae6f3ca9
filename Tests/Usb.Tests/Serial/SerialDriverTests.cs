using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Serial;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests.Serial
{
    /// <summary>FTDI and CDC-ACM drivers on the simulated bus: binding and naming, line settings, data both ways, status framing, notifications, unplug.</summary>
    [TestFixture]
    public sealed class SerialDriverTests
    {
        sealed class Rig : IDisposable
        {
            public readonly TestBed Bed = new TestBed();
            public readonly SerialPortRegistry Ports;
            public readonly SimController Hc;
            public readonly int DmaBaseline;

            public Rig()
            {
                Ports = SerialPortRegistry.Register(Bed.Stack);
                Hc = Bed.AddController(4, UsbSpeed.High);
                Bed.Settle();
                DmaBaseline = Bed.Dma.Outstanding;
            }

            public T Plug<T>(string port, T device) where T : SimDevice
            {
                Hc.Plug(port, device);
                Bed.Settle();
                return device;
            }

            public UsbSerialPort Port(string name)
            {
                UsbSerialPort p = Ports.Find(name);
                Assert.That(p, Is.Not.Null, name + " exists\n" + Bed.LogSink.All());
                return p;
            }

            public void Dispose() => Bed.Dispose();
        }

        static string ReadText(UsbSerialPort port, int expected)
        {
            var sb = new StringBuilder();
            var buffer = new byte[1024];
            var sw = Stopwatch.StartNew();
            while (sb.Length < expected && sw.ElapsedMilliseconds < 5000)
            {
                int n = port.Read(buffer, 100);
                sb.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
            return sb.ToString();
        }

        static void Feed(Rig rig, Queue<byte> line, string text)
        {
            lock (line) foreach (char c in text) line.Enqueue((byte)c);
            rig.Hc.Kick();
        }

        // ---- FTDI ----

        [Test]
        public void Ftdi_BindsAsTtyUSB0_OpensLikeLinux()
        {
            using var rig = new Rig();
            SimFtdiDevice sim = rig.Plug("1", new SimFtdiDevice());
            UsbSerialPort port = rig.Port("ttyUSB0");
            Assert.That(rig.Bed.Stack.FindInterface("1-1:1.0").Driver?.Name, Is.EqualTo("ftdi_sio"));
            Assert.That(port.Kind, Is.EqualTo("FT232BM"));
            string log = rig.Bed.LogSink.All();
            Assert.That(log, Does.Contain("ftdi_sio 1-1:1.0: FTDI USB Serial Device converter detected"));
            Assert.That(log, Does.Contain("usb 1-1: Detected FT232BM"));
            Assert.That(log, Does.Contain("usb 1-1: FTDI USB Serial Device converter now attached to ttyUSB0"));
            // Open: latency timer 16 ms, 9600 baud (divisor 0x4138), 8N1, no flow control, DTR and RTS up.
            Assert.That(sim.VendorLog, Does.Contain(((byte)Ftdi.RequestSetLatencyTimer, (ushort)16, (ushort)0)));
            Assert.That(sim.VendorLog, Does.Contain(((byte)Ftdi.RequestSetBaudRate, (ushort)0x4138, (ushort)0)));
            Assert.That(sim.Baud, Is.EqualTo(9600));
            Assert.That(sim.DataValue, Is.EqualTo(0x0008));
            Assert.That(sim.ModemControl, Is.EqualTo(0x0303));
            Assert.That(port.Settings.Describe(), Is.EqualTo("9600 8N1"));
        }

        [Test]
        public void Ftdi_Divisors_AsLinuxComputesThem()
        {
            // FT232BM family (ftdi_232bm_baud_base_to_divisor): 14-bit integer, eighths coded in bits 14-16.
            Assert.That(Ftdi.Divisor232BM(300), Is.EqualTo(0x2710u));
            Assert.That(Ftdi.Divisor232BM(9600), Is.EqualTo(0x4138u));
            Assert.That(Ftdi.Divisor232BM(38400), Is.EqualTo(0xC04Eu));
            Assert.That(Ftdi.Divisor232BM(57600), Is.EqualTo(0xC034u));
            Assert.That(Ftdi.Divisor232BM(115200), Is.EqualTo(0x001Au));
            Assert.That(Ftdi.Divisor232BM(921600), Is.EqualTo(0x8003u), "3.25: fraction 2/8 codes as 2");
            Assert.That(Ftdi.Divisor232BM(2000000), Is.EqualTo(1u), "1.5 is the special code 1");
            Assert.That(Ftdi.Divisor232BM(3000000), Is.EqualTo(0u), "1.0 is the special code 0");
            // FT8U232AM: quarters only.
            Assert.That(Ftdi.Divisor232AM(9600), Is.EqualTo(0x4138u));
            Assert.That(Ftdi.Divisor232AM(57600), Is.EqualTo(0xC034u));
            Assert.That(Ftdi.Divisor232AM(3000000), Is.EqualTo(0u));
            // H chips: 120 MHz / 10 with bit 17, BM formula below 1200.
            Assert.That(Ftdi.TryDivisor(FtdiChip.FT2232H, 115200, out uint h), Is.True);
            Assert.That(h, Is.EqualTo(0x2C068u));
            Assert.That(Ftdi.TryDivisor(FtdiChip.FT232H, 12000000, out h) && h == 0x20000u, Is.True);
            Assert.That(Ftdi.TryDivisor(FtdiChip.FT232H, 300, out h) && h == 0x2710u, Is.True);
            // Limits and SIO's table.
            Assert.That(Ftdi.TryDivisor(FtdiChip.FT232BM, 4000000, out _), Is.False);
            Assert.That(Ftdi.TryDivisor(FtdiChip.FT232H, 13000000, out _), Is.False);
            Assert.That(Ftdi.TryDivisor(FtdiChip.Sio, 115200, out uint sio) && sio == 9, Is.True);
            Assert.That(Ftdi.TryDivisor(FtdiChip.Sio, 250000, out _), Is.False);
            // wValue/wIndex: high divisor bits in wIndex, shifted above the channel on multi-port chips.
            Ftdi.BaudRequest(0x2C068, Ftdi.Channel(FtdiChip.FT2232H, 1), out ushort value, out ushort index);
            Assert.That((value, index), Is.EqualTo(((ushort)0xC068, (ushort)0x0202)));
            Ftdi.BaudRequest(0x1C034, Ftdi.Channel(FtdiChip.FT232BM, 0), out value, out index);
            Assert.That((value, index), Is.EqualTo(((ushort)0xC034, (ushort)0x0001)));
            // Every standard rate comes out within 3 % (what the chip really runs at).
            foreach (uint baud in new uint[] { 300, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000, 3000000 })
            {
                uint actual = Ftdi.BaudFromDivisor232BM(Ftdi.Divisor232BM(baud));
                Assert.That(Math.Abs((double)actual - baud) / baud, Is.LessThan(0.03), $"{baud} baud runs at {actual}");
            }
        }

        [Test]
        public void Ftdi_SpeedAndFormat_ReachTheChip()
        {
            using var rig = new Rig();
            SimFtdiDevice sim = rig.Plug("1", new SimFtdiDevice());
            UsbSerialPort port = rig.Port("ttyUSB0");
            foreach (uint baud in new uint[] { 1200, 19200, 57600, 115200, 230400, 921600 })
            {
                Assert.That(port.SetBaud(baud), Is.EqualTo(UsbStatus.Ok));
                uint expected = Ftdi.BaudFromDivisor232BM(Ftdi.Divisor232BM(baud));
                Assert.That(Math.Abs(sim.Baud - (int)expected), Is.LessThanOrEqualTo(1), $"QEMU's decoder sees {sim.Baud} for {baud}");
            }
            var s = port.Settings;
            s.DataBits = 7;
            s.Parity = SerialParity.Even;
            s.StopBits = SerialStopBits.Two;
            Assert.That(port.SetLineSettings(s), Is.EqualTo(UsbStatus.Ok));
            Assert.That(sim.DataValue, Is.EqualTo(7 | 2 << 8 | 2 << 11));
            Assert.That(port.Settings.Describe(), Is.EqualTo("921600 7E2"));
            int requests = sim.VendorLog.Count;
            s.DataBits = 5;
            Assert.That(port.SetLineSettings(s), Is.EqualTo(UsbStatus.InvalidArgument), "FT232 has no 5-bit characters");
            Assert.That(port.SetBaud(4000000), Is.EqualTo(UsbStatus.InvalidArgument));
            Assert.That(sim.VendorLog.Count, Is.EqualTo(requests), "refused settings send nothing");
            Assert.That(port.Settings.Describe(), Is.EqualTo("921600 7E2"));
            Assert.That(port.SetControlLines(false, true), Is.EqualTo(UsbStatus.Ok));
            Assert.That(sim.ModemControl, Is.EqualTo(0x0302), "DTR low, RTS high, both enabled");
        }

        [Test]
        public void Ftdi_StatusBytesAreStrippedFromEveryPacket()
        {
            using var rig = new Rig();
            SimFtdiDevice sim = rig.Plug("1", new SimFtdiDevice());
            UsbSerialPort port = rig.Port("ttyUSB0");
            // 225 bytes: four 64-byte packets (62 data bytes each after the status bytes) in one transfer.
            string text = string.Concat(Enumerable.Range(0, 25).Select(i => $"line {i:D3}\r"));
            Assert.That(text.Length, Is.EqualTo(225));
            Feed(rig, sim.Line, text);
            Assert.That(ReadText(port, text.Length), Is.EqualTo(text));
            Assert.That(port.ModemLines, Is.EqualTo(SerialModemLines.Cts | SerialModemLines.Dsr));

            // Status-only packets (what an idle FT232 sends every latency period) deliver nothing.
            sim.ModemStatus = Ftdi.ModemStatusRlsd;
            sim.LineStatus = Ftdi.LineStatusOverrun;
            sim.StatusOnlyPackets = 3;
            rig.Hc.Kick();
            var sw = Stopwatch.StartNew();
            while (sim.StatusOnlyPackets > 0 && sw.ElapsedMilliseconds < 5000) Thread.Sleep(1);
            Assert.That(port.Available, Is.Zero);
            Assert.That(port.ModemLines, Is.EqualTo(SerialModemLines.Dcd));
            Assert.That(port.OverrunErrors, Is.EqualTo(3), "the line status of every packet counts");
            Assert.That(port.BytesReceived, Is.EqualTo(225));
        }

        [Test]
        public void Ftdi_WritesArriveInOrder_AndAStuckDeviceTimesOut()
        {
            using var rig = new Rig();
            SimFtdiDevice sim = rig.Plug("1", new SimFtdiDevice());
            UsbSerialPort port = rig.Port("ttyUSB0");
            byte[] data = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 60).Select(i => $"w{i:D8}\n")));
            Assert.That(port.Write(data, out int written), Is.EqualTo(UsbStatus.Ok));
            Assert.That(written, Is.EqualTo(600));
            lock (sim.Received) Assert.That(sim.Received.ToArray(), Is.EqualTo(data), "600 bytes in 256-byte requests, in order, unframed");

            sim.HoldOut = true;
            var sw = Stopwatch.StartNew();
            Assert.That(port.Write(new byte[] { 1, 2, 3 }, out written), Is.EqualTo(UsbStatus.Timeout));
            Assert.That(written, Is.Zero);
            Assert.That(sw.Elapsed.TotalSeconds, Is.LessThan(10), "bounded by the write timeout");
            sim.HoldOut = false;
            Assert.That(port.Write(new byte[] { 4 }, out written), Is.EqualTo(UsbStatus.Ok), "the port still works after a timed-out write");
        }

        [Test]
        public void Ftdi_UnplugReplug_NamesLikeLinux_AndFreesEverything()
        {
            using var rig = new Rig();
            rig.Plug("1", new SimFtdiDevice());
            rig.Plug("2", new SimFtdiDevice(bcdDevice: 0x0600));
            Assert.That(rig.Port("ttyUSB1").Kind, Is.EqualTo("FT232RL"));
            UsbSerialPort first = rig.Port("ttyUSB0");
            rig.Hc.Unplug("1");
            rig.Bed.Settle();
            Assert.That(rig.Ports.Find("ttyUSB0"), Is.Null);
            Assert.That(first.IsGone, Is.True);
            Assert.That(first.Write(new byte[] { 1 }, out _), Is.EqualTo(UsbStatus.NoDevice));
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("ftdi_sio ttyUSB0: FTDI USB Serial Device converter now disconnected from ttyUSB0"));
            rig.Plug("3", new SimFtdiDevice());
            Assert.That(rig.Port("ttyUSB0").Interface.Name, Is.EqualTo("1-3:1.0"), "the lowest free number is taken again");
            rig.Hc.Unplug("2");
            rig.Hc.Unplug("3");
            rig.Bed.Settle();
            Assert.That(rig.Ports.Ports, Is.Empty);
            Assert.That(rig.Bed.Dma.Outstanding, Is.EqualTo(rig.DmaBaseline), "every DMA buffer of the ports is freed");
        }

        [Test]
        public void Ftdi_FT2232H_TwoPorts_ChannelsInEveryRequest_512BytePackets()
        {
            using var rig = new Rig();
            SimFtdiDevice sim = rig.Plug("1", SimFtdiDevice.FT2232H());
            UsbSerialPort a = rig.Port("ttyUSB0"), b = rig.Port("ttyUSB1");
            Assert.That(a.Interface.Name, Is.EqualTo("1-1:1.0"));
            Assert.That(b.Interface.Name, Is.EqualTo("1-1:1.1"));
            Assert.That(a.Kind, Is.EqualTo("FT2232H"));
            // 9600 on an H chip: 120 MHz / 10 clock, divisor 1250 with bit 17; its high bits above channel A (1) or B (2).
            Assert.That(Ftdi.Divisor2232H(9600), Is.EqualTo(0x204E2u));
            Assert.That(sim.VendorLog, Does.Contain(((byte)Ftdi.RequestSetBaudRate, (ushort)0x04E2, (ushort)0x0201)));
            Assert.That(sim.VendorLog, Does.Contain(((byte)Ftdi.RequestSetBaudRate, (ushort)0x04E2, (ushort)0x0202)));
            Assert.That(sim.VendorLog, Does.Contain(((byte)Ftdi.RequestSetData, (ushort)0x0008, (ushort)2)));
            Assert.That(sim.VendorLog, Does.Contain(((byte)Ftdi.RequestModemControl, (ushort)0x0303, (ushort)1)));
            Assert.That(sim.VendorLog, Does.Contain(((byte)Ftdi.RequestSetLatencyTimer, (ushort)16, (ushort)2)));
            // Status bytes come every 512-byte packet at high speed: 600 bytes take two packets.
            string text = new string('x', 509) + "|" + new string('y', 90);
            Feed(rig, sim.Line, text);
            Assert.That(ReadText(a, text.Length), Is.EqualTo(text));
            Assert.That(b.Available, Is.Zero, "port B got nothing");
        }

        // ---- CDC-ACM ----

        [Test]
        public void Acm_RealDescriptors_BindBothInterfaces_AndOpen()
        {
            using var rig = new Rig();
            SimAcmDevice sim = rig.Plug("1", new SimAcmDevice());
            UsbSerialPort port = rig.Port("ttyACM0");
            Assert.That(rig.Bed.Stack.FindInterface("1-1:1.0").Driver?.Name, Is.EqualTo("cdc_acm"));
            Assert.That(rig.Bed.Stack.FindInterface("1-1:1.1").Driver?.Name, Is.EqualTo("cdc_acm"), "the data interface is claimed");
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("cdc_acm 1-1:1.0: ttyACM0: USB ACM device"));
            Assert.That(sim.LineCoding, Is.EqualTo(new byte[] { 0x80, 0x25, 0, 0, 0, 0, 8 }), "SET_LINE_CODING 9600 8N1");
            Assert.That(sim.ControlLineState, Is.EqualTo(CdcAcm.ControlDtr | CdcAcm.ControlRts));
            Assert.That(sim.ControlLog.Any(s => s.bRequest == CdcAcm.RequestSetLineCoding && s.bmRequestType == 0x21 && s.wIndex == 0 && s.wLength == 7));

            Assert.That(port.SetBaud(115200), Is.EqualTo(UsbStatus.Ok));
            Assert.That(sim.LineCoding, Is.EqualTo(new byte[] { 0x00, 0xC2, 0x01, 0, 0, 0, 8 }));
            var s = port.Settings;
            s.DataBits = 7;
            s.Parity = SerialParity.Odd;
            s.StopBits = SerialStopBits.OneAndHalf;
            Assert.That(port.SetLineSettings(s), Is.EqualTo(UsbStatus.Ok));
            Assert.That(CdcAcm.DecodeLineCoding(sim.LineCoding).Describe(), Is.EqualTo("115200 7O1.5"));
            Assert.That(port.SetControlLines(false, false), Is.EqualTo(UsbStatus.Ok));
            Assert.That(sim.ControlLineState, Is.Zero);
        }

        [Test]
        public void Acm_DataBothWays_AndSerialStateNotifications()
        {
            using var rig = new Rig();
            SimAcmDevice sim = rig.Plug("1", new SimAcmDevice());
            UsbSerialPort port = rig.Port("ttyACM0");
            Feed(rig, sim.Line, "OK\r\n+CSQ: 17,99\r\n");
            Assert.That(ReadText(port, 18), Is.EqualTo("OK\r\n+CSQ: 17,99\r\n"), "no framing on CDC data");
            Assert.That(port.Write(Encoding.ASCII.GetBytes("AT+CSQ\r"), out int written), Is.EqualTo(UsbStatus.Ok));
            Assert.That(written, Is.EqualTo(7));
            lock (sim.Received) Assert.That(Encoding.ASCII.GetString(sim.Received.ToArray()), Is.EqualTo("AT+CSQ\r"));

            sim.NotifySerialState(CdcAcm.StateRxCarrier | CdcAcm.StateTxCarrier | CdcAcm.StateOverRun);
            rig.Hc.Kick();
            var acm = (CdcAcmPort)port;
            var sw = Stopwatch.StartNew();
            while (acm.NotificationsReceived == 0 && sw.ElapsedMilliseconds < 5000) Thread.Sleep(1);
            Assert.That(port.ModemLines, Is.EqualTo(SerialModemLines.Dcd | SerialModemLines.Dsr));
            Assert.That(port.OverrunErrors, Is.EqualTo(1));
            Assert.That(CdcAcm.TrySerialState(new byte[] { 0xA1, 0x20, 0, 0, 0, 0, 2, 0, 1 }, out _), Is.False, "truncated notification");
            Assert.That(CdcAcm.TrySerialState(new byte[] { 0xA1, 0x00, 1, 0, 0, 0, 0, 0, 0, 0 }, out _), Is.False, "NETWORK_CONNECTION is not a serial state");
        }

        [Test]
        public void Acm_Unplug_RemovesThePort_AndFreesEverything()
        {
            using var rig = new Rig();
            rig.Plug("1", new SimAcmDevice());
            rig.Plug("2", new SimFtdiDevice());
            Assert.That(rig.Ports.Ports.Select(p => p.Name), Is.EqualTo(new[] { "ttyACM0", "ttyUSB0" }));
            rig.Hc.Unplug("1");
            rig.Bed.Settle();
            Assert.That(rig.Ports.Ports.Select(p => p.Name), Is.EqualTo(new[] { "ttyUSB0" }));
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("cdc_acm 1-1:1.0: ttyACM0: disconnected"));
            rig.Hc.Unplug("2");
            rig.Bed.Settle();
            Assert.That(rig.Bed.Dma.Outstanding, Is.EqualTo(rig.DmaBaseline));
        }

        [Test]
        public void Acm_UnbindingTheClaimedDataInterface_TakesThePortDown_AndTheControlRebinds()
        {
            using var rig = new Rig();
            rig.Plug("1", new SimAcmDevice());
            UsbStack stack = rig.Bed.Stack;
            UsbInterface control = stack.FindInterface("1-1:1.0"), data = stack.FindInterface("1-1:1.1");
            Assert.That(stack.Bind(data, "cdc_acm"), Is.EqualTo(UsbStatus.Busy), "claimed, not free");

            Assert.That(stack.Unbind(data), Is.EqualTo(UsbStatus.Ok));
            Assert.That(rig.Ports.Ports, Is.Empty, "either interface going takes the port down");
            Assert.That(control.Driver, Is.Null, "and gives the other interface back");
            Assert.That(data.Driver, Is.Null);
            Assert.That(stack.Bind(data, "cdc_acm"), Is.EqualTo(UsbStatus.NoMatch), "cdc_acm is probed for the communication interface only, as Linux's id table says");

            Assert.That(stack.Bind(control, "cdc_acm"), Is.EqualTo(UsbStatus.Ok));
            Assert.That(data.Driver?.Name, Is.EqualTo("cdc_acm"), "the data interface is claimed again");
            Assert.That(rig.Ports.Ports.Select(p => p.Name), Is.EqualTo(new[] { "ttyACM0" }));
            Assert.That(stack.Unbind(control), Is.EqualTo(UsbStatus.Ok));
            Assert.That(data.Driver, Is.Null);
            rig.Hc.Unplug("1");
            rig.Bed.Settle();
            Assert.That(rig.Bed.Dma.Outstanding, Is.EqualTo(rig.DmaBaseline));
        }

        // Interface layouts of real devices that Linux's acm_probe accepts besides the usual one.
        static readonly byte[] CommInterface0 = { 0x09, 0x04, 0x00, 0x00, 0x01, 0x02, 0x02, 0x01, 0x00 };
        static readonly byte[] CommInterface1 = { 0x09, 0x04, 0x01, 0x00, 0x01, 0x02, 0x02, 0x01, 0x00 };
        static readonly byte[] DataInterface0 = { 0x09, 0x04, 0x00, 0x00, 0x02, 0x0A, 0x00, 0x00, 0x00 };
        static readonly byte[] DataInterface1 = { 0x09, 0x04, 0x01, 0x00, 0x02, 0x0A, 0x00, 0x00, 0x00 };
        static readonly byte[] Header = { 0x05, 0x24, 0x00, 0x10, 0x01 };
        static readonly byte[] Acm = { 0x04, 0x24, 0x02, 0x02 };
        static readonly byte[] NotifyEndpoint = { 0x07, 0x05, 0x82, 0x03, 0x08, 0x00, 0x10 };
        static readonly byte[] BulkEndpoints = { 0x07, 0x05, 0x01, 0x02, 0x40, 0x00, 0x00, 0x07, 0x05, 0x81, 0x02, 0x40, 0x00, 0x00 };
        static byte[] CallManagement(byte dataInterface) => new byte[] { 0x05, 0x24, 0x01, 0x00, dataInterface };
        static byte[] Union(byte control, byte data) => new byte[] { 0x05, 0x24, 0x06, control, data };

        static byte[] Configuration(byte interfaces, params byte[][] parts)
        {
            var body = parts.SelectMany(p => p).ToArray();
            int total = 9 + body.Length;
            return new byte[] { 0x09, 0x02, (byte)total, (byte)(total >> 8), interfaces, 0x01, 0x00, 0xC0, 0x32 }.Concat(body).ToArray();
        }

        public static IEnumerable<TestCaseData> AcmLayouts()
        {
            yield return new TestCaseData(Configuration(2, DataInterface0, BulkEndpoints, CommInterface1, Header, CallManagement(0), Acm, Union(1, 0), NotifyEndpoint),
                                          "1-1:1.1", "1-1:1.0").SetName("Acm_DataInterfaceFirst_WithUnion");
            // acm_probe takes bDataInterface only when it is above 0 (call_intf_num > 0): a vendor
            // interface 0 puts the data interface at 1, before the communication interface 2.
            var vendor0 = new byte[] { 0x09, 0x04, 0x00, 0x00, 0x00, 0xFF, 0x00, 0x00, 0x00 };
            var data1 = new byte[] { 0x09, 0x04, 0x01, 0x00, 0x02, 0x0A, 0x00, 0x00, 0x00 };
            var comm2 = new byte[] { 0x09, 0x04, 0x02, 0x00, 0x01, 0x02, 0x02, 0x01, 0x00 };
            yield return new TestCaseData(Configuration(3, vendor0, data1, BulkEndpoints, comm2, Header, CallManagement(1), Acm, NotifyEndpoint),
                                          "1-1:1.2", "1-1:1.1").SetName("Acm_DataInterfaceFirst_NoUnion_CallManagementNamesIt");
            yield return new TestCaseData(Configuration(2, CommInterface0, Header, CallManagement(1), Acm, NotifyEndpoint, DataInterface1, BulkEndpoints),
                                          "1-1:1.0", "1-1:1.1").SetName("Acm_NoUnion_CallManagementNamesTheDataInterface");
            yield return new TestCaseData(Configuration(2, CommInterface0, Header, Acm, Union(1, 0), NotifyEndpoint, DataInterface1, BulkEndpoints),
                                          "1-1:1.0", "1-1:1.1").SetName("Acm_SwitchedUnion_IsPutRight");
            var combined = new byte[] { 0x09, 0x04, 0x00, 0x00, 0x03, 0x02, 0x02, 0x01, 0x00 };
            yield return new TestCaseData(Configuration(1, combined, Header, Acm, NotifyEndpoint, BulkEndpoints),
                                          "1-1:1.0", "1-1:1.0").SetName("Acm_NoUnion_ThreeEndpoints_OneCombinedInterface");
        }

        [TestCaseSource(nameof(AcmLayouts))]
        public void Acm_OtherInterfaceLayouts_BindBothAndCarryData(byte[] configuration, string control, string data)
        {
            using var rig = new Rig();
            SimAcmDevice sim = rig.Plug("1", new SimAcmDevice(configuration));
            var port = (CdcAcmPort)rig.Port("ttyACM0");
            Assert.That(port.Interface.Name, Is.EqualTo(control), "the communication interface carries the class requests");
            Assert.That(port.DataInterface.Name, Is.EqualTo(data));
            Assert.That(rig.Bed.Stack.FindInterface(control).Driver?.Name, Is.EqualTo("cdc_acm"));
            Assert.That(rig.Bed.Stack.FindInterface(data).Driver?.Name, Is.EqualTo("cdc_acm"));
            Assert.That(rig.Ports.Ports.Length, Is.EqualTo(1), "one port for the function");
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("cdc_acm " + control + ": ttyACM0: USB ACM device"));
            int wIndex = rig.Bed.Stack.FindInterface(control).Number;
            Assert.That(sim.ControlLog.Any(s => s.bRequest == CdcAcm.RequestSetLineCoding && s.wIndex == wIndex), "SET_LINE_CODING to the communication interface");
            Assert.That(sim.ControlLineState, Is.EqualTo(CdcAcm.ControlDtr | CdcAcm.ControlRts));

            Feed(rig, sim.Line, "ping\r\n");
            Assert.That(ReadText(port, 6), Is.EqualTo("ping\r\n"));
            Assert.That(port.Write(Encoding.ASCII.GetBytes("pong"), out int written), Is.EqualTo(UsbStatus.Ok));
            lock (sim.Received) Assert.That(Encoding.ASCII.GetString(sim.Received.ToArray()), Is.EqualTo("pong"));

            rig.Hc.Unplug("1");
            rig.Bed.Settle();
            Assert.That(rig.Ports.Ports, Is.Empty);
            Assert.That(Regex.Matches(rig.Bed.LogSink.All(), "ttyACM0: disconnected").Count, Is.EqualTo(1), "the port goes once");
            Assert.That(rig.Bed.Dma.Outstanding, Is.EqualTo(rig.DmaBaseline));
        }

        [Test]
        public void Acm_NoUnionNoCallManagement_TwoEndpoints_IsRefusedAsLinuxDoes()
        {
            using var rig = new Rig();
            var comm = new byte[] { 0x09, 0x04, 0x00, 0x00, 0x01, 0x02, 0x02, 0x01, 0x00 };
            rig.Plug("1", new SimAcmDevice(Configuration(2, comm, Header, Acm, NotifyEndpoint, DataInterface1, BulkEndpoints)));
            Assert.That(rig.Ports.Ports, Is.Empty);
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("cdc_acm 1-1:1.0: no union descriptor and no call management data interface"));
            Assert.That(rig.Bed.Stack.FindInterface("1-1:1.1").Driver, Is.Null);
        }

        [Test]
        public void Acm_CallManagementParsing()
        {
            Assert.That(CdcAcm.CallManagementDataInterface(new byte[] { 0x05, 0x24, 0x00, 0x10, 0x01, 0x05, 0x24, 0x01, 0x03, 0x02 }), Is.EqualTo(2));
            Assert.That(CdcAcm.CallManagementDataInterface(new byte[] { 0x04, 0x24, 0x01, 0x03 }), Is.EqualTo(-1), "too short for bDataInterface");
            Assert.That(CdcAcm.UnionControlInterface(new byte[] { 0x05, 0x24, 0x06, 0x04, 0x05 }), Is.EqualTo(4));
        }

        [Test]
        public void Acm_UnionDescriptorParsing()
        {
            byte[] extra = { 0x05, 0x24, 0x00, 0x10, 0x01, 0x04, 0x24, 0x02, 0x02, 0x05, 0x24, 0x06, 0x02, 0x03 };
            Assert.That(CdcAcm.UnionDataInterface(extra), Is.EqualTo(3));
            Assert.That(CdcAcm.UnionDataInterface(new byte[] { 0x05, 0x24, 0x00, 0x10, 0x01 }), Is.EqualTo(-1), "no union");
            Assert.That(CdcAcm.UnionDataInterface(new byte[] { 0x09, 0x24, 0x06, 0x00 }), Is.EqualTo(-1), "overlong descriptor");
            Assert.That(CdcAcm.UnionDataInterface(new byte[] { 0x00, 0x24, 0x06, 0x00, 0x01 }), Is.EqualTo(-1), "zero length does not loop");
        }
    }
}
