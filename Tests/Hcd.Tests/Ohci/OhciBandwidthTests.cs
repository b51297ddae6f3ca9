using System.Collections.Generic;
using System.Reflection;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hcd.Ohci;
using Hcd.Tests.Uhci;
using NUnit.Framework;
using Tests.Support;
using static Hcd.Tests.Simulation;
using static Tests.Support.Waiting;

namespace Hcd.Tests.Ohci
{
    /// <summary>
    /// OHCI's periodic bandwidth as Linux ohci-q.c books it: each interrupt or isochronous ED costs
    /// its bus time in microseconds (ed_get: usb_calc_bus_time / 1000) in every frame of its
    /// branch, balance() picks the branch whose first frame is least loaded among those that stay
    /// at or under 900 us, an ED that fits no branch is refused (-ENOSPC, NoBandwidth), and removal
    /// gives the time back. Isochronous packets go only into the frames of their branch.
    /// </summary>
    public class OhciBandwidthTests : OhciSimulationFixture
    {
        [SetUp]
        public void AddBus() => Stack.AddController(Hc, Dma);

        static UsbEndpoint Interrupt(byte address, ushort maxPacket, byte interval) =>
            new UsbEndpoint(new EndpointDescriptor
            {
                bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = address,
                bmAttributes = 0x03, wMaxPacketSize = maxPacket, bInterval = interval,
            });

        [Test]
        public void LoadIsTheBusTimeRoundedDown()
        {
            // 64-byte full-speed interrupt IN: 9107 + 1000 + 8354 * (31 + 10 * 597) / 1000 = 60239 ns.
            Assert.That(OhciInterruptTree.LoadUs(UsbSpeed.Full, true, false, 64), Is.EqualTo(60));
            Assert.That(OhciInterruptTree.LoadUs(UsbSpeed.Full, true, false, 64),
                        Is.EqualTo((int)(UsbBandwidth.BusTimeNs(UsbSpeed.Full, true, false, 64) / 1000)));
        }

        [Test]
        public void FramesFillTo900UsThenEndpointsAreRefusedUntilOneIsReleased()
        {
            // Fifteen 60 us endpoints polled every frame take exactly 900 us of each frame.
            var device = new UsbDevice(Bus, Bus.RootHub, 2, UsbSpeed.Full) { Address = 5 };
            var enabled = new List<UsbEndpoint>();
            for (int i = 0; i < 15; i++)
            {
                UsbEndpoint ep = Interrupt((byte)(0x81 + i), 64, 1);
                Assert.That(Hc.EnableEndpoint(device, ep), Is.EqualTo(UsbStatus.Ok), "endpoint " + i);
                enabled.Add(ep);
            }
            for (int f = 0; f < 32; f++)
                Assert.That(Hc.FrameLoadUs(f), Is.EqualTo(900), "frame " + f);
            Assert.That(Hc.EnableEndpoint(device, Interrupt(0x8F, 64, 1)), Is.EqualTo(UsbStatus.NoBandwidth), "a 16th would pass 900 us");
            Assert.That(Hc.EnableEndpoint(device, Interrupt(0x8F, 64, 32)), Is.EqualTo(UsbStatus.NoBandwidth), "in any frame, whatever its period");
            Assert.That(Hc.EnableEndpoint(device, Interrupt(0x8F, 0, 32)), Is.EqualTo(UsbStatus.NoBandwidth), "even an empty packet costs 10 us");

            Hc.DisableEndpoint(device, enabled[3]);
            for (int f = 0; f < 32; f++)
                Assert.That(Hc.FrameLoadUs(f), Is.EqualTo(840), "released in every frame it was booked in: frame " + f);
            UsbEndpoint again = Interrupt(0x8F, 64, 8);
            Assert.That(Hc.EnableEndpoint(device, again), Is.EqualTo(UsbStatus.Ok), "its time is free again");
            Assert.That(Hc.FrameLoadUs(0), Is.EqualTo(900));
            Assert.That(Hc.FrameLoadUs(1), Is.EqualTo(840), "period 8: frames 0, 8, 16, 24 only");

            foreach (UsbEndpoint ep in enabled)
                if (ep != enabled[3])
                    Hc.DisableEndpoint(device, ep);
            Hc.DisableEndpoint(device, again);
            for (int f = 0; f < 32; f++)
                Assert.That(Hc.FrameLoadUs(f), Is.Zero);
        }

        [Test]
        public void BalancePicksTheLeastLoadedFirstFrameOfTheBranchesThatFit()
        {
            var tree = new OhciInterruptTree();
            tree.Book(5, 0, 10);
            tree.Book(5, 1, 20);
            tree.Book(5, 2, 100);
            // Period 2: branch 0 (frames 0, 2, ...) starts at 10 us, branch 1 (frames 1, 3, ...) at 20 us.
            // Linux compares the first frame of each branch only: branch 0, although frame 2 is busier.
            Assert.That(tree.Balance(1, 5), Is.EqualTo(0));
            // A branch with a frame that would pass 900 us is never taken.
            tree.Book(5, 4, 880);
            Assert.That(tree.Balance(1, 30), Is.EqualTo(1), "frame 4 would reach 910 us");
            Assert.That(tree.Balance(1, 20), Is.EqualTo(0), "900 us is still allowed");
            tree.Book(5, 5, 890);
            Assert.That(tree.Balance(1, 30), Is.EqualTo(-1), "no branch of period 2 has room");
            Assert.That(tree.Balance(5, 30), Is.EqualTo(3), "period 32: frame 3 is free");
        }

        [Test]
        public void IsochronousPacketsGoOnlyIntoTheFramesOfTheirBranch()
        {
            Sim.Connect(1, new SimFunction { Config = IsoRequests.SlowIsoConfig });
            UsbDevice device = WaitForDevice(Stack, "1-1");
            Assert.That(Stack.SetInterface(device.Interfaces[0], 1), Is.EqualTo(UsbStatus.Ok));
            // The interrupt endpoint came first and took branch 0 of period 2; the stream gets branch 1.
            int interruptUs = OhciInterruptTree.LoadUs(UsbSpeed.Full, true, false, 8);
            int isoUs = OhciInterruptTree.LoadUs(UsbSpeed.Full, false, true, 192);
            Assert.That(Hc.FrameLoadUs(0), Is.EqualTo(interruptUs));
            Assert.That(Hc.FrameLoadUs(1), Is.EqualTo(isoUs));

            UsbEndpoint ep = device.FindEndpoint(0x03);
            var done = new List<UsbRequest>();
            UsbRequest first = IsoRequests.Create(Dma, device, ep, 4, 192, done, UsbRequestFlags.IsoAsap);
            UsbRequest second = IsoRequests.Create(Dma, device, ep, 4, 192, done, UsbRequestFlags.IsoAsap);
            Assert.That(Bus.Submit(first), Is.EqualTo(UsbStatus.Ok));
            Assert.That(Bus.Submit(second), Is.EqualTo(UsbStatus.Ok));
            Assert.That(first.StartFrame % 2, Is.EqualTo(1), "an ASAP start moves to the next frame of the branch");
            Assert.That(second.StartFrame, Is.EqualTo((first.StartFrame + 8) & 0xFFFF), "the stream continues every other frame");
            WaitFor(() => { lock (done) return done.Count == 2; });
            List<(ushort Frame, int Endpoint, bool In, byte[] Data)> run;
            lock (Sim.Gate)
                run = new List<(ushort, int, bool, byte[])>(Sim.IsoRun);
            // A busy host may make the simulated controller miss a frame (that packet is -EXDEV); every packet that ran did so in the branch.
            Assert.That(run.Count, Is.EqualTo(8 - first.ErrorCount - second.ErrorCount));
            Assert.That(run.Count, Is.GreaterThan(0));
            foreach (var packet in run)
                Assert.That(packet.Frame % 2, Is.EqualTo(1), "frame " + packet.Frame);

            // Requests that would leave the booked frames are refused.
            UsbRequest everyFrame = IsoRequests.Create(Dma, device, ep, 4, 192, done, UsbRequestFlags.IsoAsap);
            everyFrame.Interval = 1;
            Assert.That(Bus.Submit(everyFrame), Is.EqualTo(UsbStatus.InvalidArgument), "interval 1 on a 2-frame booking");
            UsbRequest offPhase = IsoRequests.Create(Dma, device, ep, 4, 192, done, UsbRequestFlags.None);
            offPhase.StartFrame = (Sim.FrameNumber + 100) & ~1 & 0xFFFF;
            Assert.That(Bus.Submit(offPhase), Is.EqualTo(UsbStatus.InvalidArgument), "an even start frame");
            UsbRequest onPhase = IsoRequests.Create(Dma, device, ep, 4, 192, done, UsbRequestFlags.None);
            onPhase.StartFrame = offPhase.StartFrame | 1;
            Assert.That(Bus.Submit(onPhase), Is.EqualTo(UsbStatus.Ok), "an odd one");
            Assert.That(Bus.Unlink(onPhase), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 3; });
        }
    }
}
