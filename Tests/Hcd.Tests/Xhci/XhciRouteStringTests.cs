using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hcd.Xhci;
using NUnit.Framework;
using Platform;
using Tests.Support;

namespace Hcd.Tests.Xhci
{
    /// <summary>
    /// Route strings the xHCI can't encode (xHCI 1.2 8.9, USB 3.2 10.1.3.2): 4 bits per tier and
    /// five tiers. A device whose route doesn't fit must be refused, never given another device's route.
    /// </summary>
    [TestFixture]
    public class XhciRouteStringTests
    {
        sealed class Lines : ILogSink
        {
            public readonly List<string> All = new List<string>();
            public void WriteLine(LogLevel level, string line) => All.Add(line);
            public bool Contains(string fragment) => All.Exists(l => l.Contains(fragment));
        }

        static UsbDevice Chain(UsbSpeed hubSpeed, params int[] ports)
        {
            var d = new UsbDevice(null, null, 0, hubSpeed);
            foreach (int port in ports)
                d = new UsbDevice(null, d, port, hubSpeed);
            return d;
        }

        [Test]
        public void PortAbove15BelowASuperSpeedHubIsRefused()
        {
            UsbDevice ssHub = Chain(UsbSpeed.Super, 1);
            var ok = new UsbDevice(null, ssHub, 15, UsbSpeed.Super);
            Assert.That(SlotContext.RouteString(ok, out uint route, out int rootPort), Is.EqualTo(UsbStatus.Ok));
            Assert.That(route, Is.EqualTo(15u));
            Assert.That(rootPort, Is.EqualTo(1));
            var tooFar = new UsbDevice(null, ssHub, 16, UsbSpeed.Super);
            Assert.That(SlotContext.RouteString(tooFar, out uint _, out int _), Is.EqualTo(UsbStatus.NotSupported));
            Assert.That(SlotContext.RouteProblem(tooFar), Does.Contain("port 16 of SuperSpeed hub"));
            // Below the refused device, still refused (its own port number fits, the path doesn't).
            var below = new UsbDevice(null, tooFar, 2, UsbSpeed.Super);
            Assert.That(SlotContext.RouteString(below, out uint _, out int _), Is.EqualTo(UsbStatus.NotSupported));
        }

        [Test]
        public void FiveTiersFitASixthDoesNot()
        {
            UsbDevice five = Chain(UsbSpeed.Super, 1, 2, 3, 4, 5, 6);
            Assert.That(SlotContext.RouteString(five, out uint route, out int rootPort), Is.EqualTo(UsbStatus.Ok));
            Assert.That(route, Is.EqualTo(0x65432u));
            Assert.That(rootPort, Is.EqualTo(1));
            var six = new UsbDevice(null, five, 7, UsbSpeed.Super);
            Assert.That(SlotContext.RouteString(six, out uint _, out int _), Is.EqualTo(UsbStatus.NotSupported));
            Assert.That(SlotContext.RouteProblem(six), Does.Contain("6 hubs below its root port"));
        }

        [Test]
        public void ControllerRefusesASlotForAnUnroutableDeviceWithALogLine()
        {
            var lines = new Lines();
            var clock = new ManualClock();
            Log.Attach(lines, clock);
            try
            {
                using var dma = new ArenaDma();
                var hc = new XhciController(new FakeXhciRegisters(), clock, new InlineThreading(), dma, "0000:00:05.0");
                var bus = new XhciRootHub(hc, new[] { 1, 2 }, true);
                UsbDevice ssHub = Chain(UsbSpeed.Super, 1);
                var device = new UsbDevice(null, ssHub, 16, UsbSpeed.Super);
                Assert.That(hc.AllocateDevice(bus, device), Is.EqualTo(UsbStatus.NotSupported));
                Assert.That(device.HcdPrivate, Is.Null, "no slot");
                Assert.That(dma.Live, Is.EqualTo(0), "no contexts allocated");
                Assert.That(lines.Contains("can't be addressed: port 16 of SuperSpeed hub"), Is.True, string.Join("\n", lines.All));
            }
            finally
            {
                Log.Attach(null, null);
            }
        }
            [Test]
        public void RootHubsAreLimitedLikeLinux()
        {
            // 20 USB 3 ports (1..20) and 40 USB 2 ports (21..60): the root hub descriptors could
            // not describe them (15 SuperSpeed ports, 31 ports), so the ports beyond stay unused.
            const uint xecp = 0x500;
            var r = new FakeXhciRegisters();
            r[xecp] = XhciExtCap.IdSupportedProtocol | (4u << 8) | (3u << 24);
            r[xecp + 8] = 1u | (20u << 8);
            r[xecp + 0x10] = XhciExtCap.IdSupportedProtocol | (2u << 24);
            r[xecp + 0x18] = 21u | (40u << 8);
            XhciPortMap map = XhciPortMap.Parse(r, xecp, 60);
            Assert.That(map.Usb3.Length, Is.EqualTo(UsbLimits.MaxSuperSpeedPorts));
            Assert.That(map.Usb3[14], Is.EqualTo(15));
            Assert.That(map.Usb2.Length, Is.EqualTo(UsbLimits.MaxPorts));
            Assert.That(map.Usb2[0], Is.EqualTo(21));
            Assert.That(map.Usb2[30], Is.EqualTo(51));
        }
    }
}
