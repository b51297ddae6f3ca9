using System;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Hcd.Uhci;
using NUnit.Framework;
using Tests.Support;

namespace Hcd.Tests.Uhci
{
    /// <summary>The driver against <see cref="SimUhci"/>: root hub emulation, enumeration and transfers through the real USB core.</summary>
    public class UhciSimulationTests
    {
        TrackingDma _dma;
        SimUhci _sim;
        UhciHostController _hc;
        UsbStack _stack;
        UhciRig _rig;

        [SetUp]
        public void SetUp()
        {
            _rig = new UhciRig();
            _dma = _rig.Dma;
            _sim = _rig.Sim;
            _hc = _rig.Hc;
            _stack = _rig.Stack;
        }

        [TearDown]
        public void TearDown() => _rig.Stop();

        [Test]
        public void Reset_LeavesTheControllerHaltedAndStartRunsTheFrameList()
        {
            Assert.That(_sim.Sts & UsbSts.HCHalted, Is.Not.Zero);
            _stack.AddController(_hc, _dma);
            Assert.That(_sim.Cmd & UsbCmd.RS, Is.Not.Zero);
            Assert.That(_sim.FrBase, Is.EqualTo((uint)_hc.FrameListPhysical));
            Assert.That(_sim.Intr, Is.EqualTo(UsbIntr.All));
            Thread.Sleep(50);
            Assert.That(_sim.Frames, Is.GreaterThan(5), "cmd " + _sim.Cmd + " thread " + _rig.Hardware.State + " sts " + _sim.Sts);
        }

        [Test]
        public void RootHub_ResetEnablesThePortAndReportsChanges()
        {
            var root = new UhciRootHub(_sim, new RealClock());
            Span<byte> bitmap = stackalloc byte[1];
            Assert.That(root.StatusData(bitmap), Is.EqualTo(0));
            _sim.Connect(2, new SimFunction());
            Assert.That(root.StatusData(bitmap), Is.EqualTo(1));
            Assert.That(bitmap[0], Is.EqualTo(1 << 2));
            root.PortStatus(2, out ushort status, out ushort change);
            Assert.That(status & 0x0001, Is.Not.Zero, "connected");
            Assert.That(change & 0x0001, Is.Not.Zero, "C_PORT_CONNECTION");
            Assert.That(status & 0x0100, Is.Not.Zero, "always powered");
            root.ClearBits(2, PortSc.CSC);
            Assert.That(root.StatusData(bitmap), Is.EqualTo(0));
            var sw = System.Diagnostics.Stopwatch.StartNew();
            root.ResetPort(2);
            Assert.That(sw.ElapsedMilliseconds, Is.GreaterThanOrEqualTo(50), "TDRSTR");
            root.PortStatus(2, out status, out change);
            Assert.That(status & 0x0002, Is.Not.Zero, "enabled after reset");
            Assert.That(status & 0x0010, Is.Zero, "reset released");
            Assert.That(change, Is.EqualTo(0x0010), "only C_PORT_RESET");
            _sim.Disconnect(2);
            root.PortStatus(2, out status, out change);
            Assert.That(status & 0x0003, Is.Zero);
            Assert.That(change & 0x0003, Is.EqualTo(0x0003), "connect and enable changed");
        }

        [Test]
        public void Enumeration_ControlBulkShortPacketStallAndToggles()
        {
            int baseline = _dma.Live;
            var function = new SimFunction();
            _sim.Connect(1, function);
            _stack.AddController(_hc, _dma);
            _stack.ExploreUntilIdle();
            UsbDevice device = null;
            for (int i = 0; i < 100 && device == null; i++)
            {
                device = _stack.FindDevice("1-1");
                if (device == null) { Thread.Sleep(20); _stack.ExploreNow(); }
            }
            Assert.That(device, Is.Not.Null, "enumerated through the simulated UHCI");
            Assert.That(device.Descriptor.idVendor, Is.EqualTo(0x1234));
            Assert.That(device.Descriptor.idProduct, Is.EqualTo(0x5678));
            Assert.That(function.Address, Is.EqualTo(device.Address));
            Assert.That(device.ActiveConfiguration, Is.Not.Null);

            // Bulk IN with a short last packet: 64 + 64 + 22 bytes into a 256-byte buffer.
            var buffer = new byte[256];
            Assert.That(UsbMessages.Bulk(device, 0x81, buffer, 2000, out int actual), Is.EqualTo(UsbStatus.Ok));
            Assert.That(actual, Is.EqualTo(150));
            for (int i = 0; i < 150; i++) Assert.That(buffer[i], Is.EqualTo((byte)i));
            Assert.That(_sim.TogglesSeen, Is.EqualTo(new[] { false, true, false }));
            // The next transfer continues with DATA1.
            Assert.That(UsbMessages.Bulk(device, 0x81, new byte[64], 2000, out actual), Is.EqualTo(UsbStatus.Ok));
            Assert.That(actual, Is.EqualTo(64));
            Assert.That(_sim.TogglesSeen[3], Is.True);

            // STALL maps to Stall (-EPIPE).
            Assert.That(UsbMessages.Bulk(device, 0x82, new byte[64], 2000, out actual), Is.EqualTo(UsbStatus.Stall));

            // Unplug: the device goes, every descriptor of it is freed.
            _sim.Disconnect(1);
            for (int i = 0; i < 100 && _stack.FindDevice("1-1") != null; i++)
            {
                Thread.Sleep(20);
                _stack.ExploreNow();
            }
            Assert.That(_stack.FindDevice("1-1"), Is.Null);
            Thread.Sleep(50);
            _hc.ScanAndGiveBack();
            Thread.Sleep(10);
            _hc.ScanAndGiveBack();
            // Left: frame list, skeleton, the root hub's status buffer and what the core keeps.
            Assert.That(_dma.Live, Is.LessThanOrEqualTo(baseline + 4));
        }
    }
}
