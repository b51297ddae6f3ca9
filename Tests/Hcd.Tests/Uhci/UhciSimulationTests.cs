using System;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Hcd.Uhci;
using NUnit.Framework;
using Tests.Support;

namespace Hcd.Tests.Uhci
{
    /// <summary>The driver against <see cref="SimUhci"/>: root hub emulation, enumeration and transfers through the real USB core.</summary>
    public class UhciSimulationTests : UhciSimulationFixture
    {
        [Test]
        public void Reset_LeavesTheControllerHaltedAndStartRunsTheFrameList()
        {
            Assert.That(Sim.Sts & UsbSts.HCHalted, Is.Not.Zero);
            Stack.AddController(Hc, Dma);
            Assert.That(Sim.Cmd & UsbCmd.RS, Is.Not.Zero);
            Assert.That(Sim.FrBase, Is.EqualTo((uint)Hc.FrameListPhysical));
            Assert.That(Sim.Intr, Is.EqualTo(UsbIntr.All));
            Thread.Sleep(50);
            Assert.That(Sim.Frames, Is.GreaterThan(5), "cmd " + Sim.Cmd + " thread " + Hardware.State + " sts " + Sim.Sts);
        }

        [Test]
        public void RootHub_ResetEnablesThePortAndReportsChanges()
        {
            var root = new UhciRootHub(Sim, new RealClock());
            Span<byte> bitmap = stackalloc byte[1];
            Assert.That(root.StatusData(bitmap), Is.EqualTo(0));
            Sim.Connect(2, new SimFunction());
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
            Sim.Disconnect(2);
            root.PortStatus(2, out status, out change);
            Assert.That(status & 0x0003, Is.Zero);
            Assert.That(change & 0x0003, Is.EqualTo(0x0003), "connect and enable changed");
        }

        [Test]
        public void Enumeration_ControlBulkShortPacketStallAndToggles()
        {
            int baseline = Dma.Live;
            var function = new SimFunction();
            Sim.Connect(1, function);
            Stack.AddController(Hc, Dma);
            Stack.ExploreUntilIdle();
            UsbDevice device = null;
            for (int i = 0; i < 100 && device == null; i++)
            {
                device = Stack.FindDevice("1-1");
                if (device == null) { Thread.Sleep(20); Stack.ExploreNow(); }
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
            Assert.That(Sim.TogglesSeen, Is.EqualTo(new[] { false, true, false }));
            // The next transfer continues with DATA1.
            Assert.That(UsbMessages.Bulk(device, 0x81, new byte[64], 2000, out actual), Is.EqualTo(UsbStatus.Ok));
            Assert.That(actual, Is.EqualTo(64));
            Assert.That(Sim.TogglesSeen[3], Is.True);

            // STALL maps to Stall (-EPIPE).
            Assert.That(UsbMessages.Bulk(device, 0x82, new byte[64], 2000, out actual), Is.EqualTo(UsbStatus.Stall));

            // Unplug: the device goes, every descriptor of it is freed.
            Sim.Disconnect(1);
            for (int i = 0; i < 100 && Stack.FindDevice("1-1") != null; i++)
            {
                Thread.Sleep(20);
                Stack.ExploreNow();
            }
            Assert.That(Stack.FindDevice("1-1"), Is.Null);
            Thread.Sleep(50);
            Hc.ScanAndGiveBack();
            Thread.Sleep(10);
            Hc.ScanAndGiveBack();
            // Left: frame list, skeleton, the root hub's status buffer and what the core keeps.
            Assert.That(Dma.Live, Is.LessThanOrEqualTo(baseline + 4));
        }
    }
}
