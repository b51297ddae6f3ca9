using System;
using System.Collections.Generic;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Hcd.Ohci;
using Hcd.Tests.Uhci;
using NUnit.Framework;
using Platform;
using Tests.Support;
using static Hcd.Tests.Simulation;
using static Tests.Support.Waiting;

namespace Hcd.Tests.Ohci
{
    /// <summary>
    /// Isochronous TDs on OHCI against <see cref="SimOhci"/> (OpenHCI 1.0a 4.3.2): the ITD encoding,
    /// the iso ED's place at the end of the periodic list, one packet per frame in order, per-packet
    /// status (late frames -EXDEV, short IN packets, babble), the 16-bit frame wrap, cancel and
    /// disable while queued, and no ITD or DMA buffer left behind.
    /// </summary>
    public class OhciIsoTests : OhciSimulationFixture
    {
        const int PacketBytes = 192;
        UsbDevice _device;

        /// <summary>
        /// A vendor function: interface 0 alt 0 without endpoints; alt 1 with isochronous OUT
        /// endpoint 3 and IN endpoint 4 (192 B every frame) and an interrupt IN endpoint 5 (1 ms).
        /// </summary>
        static readonly byte[] IsoConfig =
        {
            9, 2, 48, 0, 1, 1, 0, 0x80, 50,
            9, 4, 0, 0, 0, 0xFF, 0, 0, 0,
            9, 4, 0, 1, 3, 0xFF, 0, 0, 0,
            7, 5, 0x03, 1, PacketBytes, 0, 1,
            7, 5, 0x84, 1, PacketBytes, 0, 1,
            7, 5, 0x85, 3, 8, 0, 1,
        };

        [SetUp]
        public void ConnectIsoFunction()
        {
            Sim.Connect(1, new SimFunction { Config = IsoConfig });
            Stack.AddController(Hc, Dma);
            _device = WaitForDevice(Stack, "1-1");
            Assert.That(Stack.SetInterface(_device.Interfaces[0], 1), Is.EqualTo(UsbStatus.Ok));
        }

        UsbRequest Iso(int packets, List<UsbRequest> done, int flags = UsbRequestFlags.IsoAsap, byte endpoint = 0x03, int stride = PacketBytes) =>
            IsoRequests.Create(Dma, _device, _device.FindEndpoint(endpoint), packets, PacketBytes, done, flags, stride);

        List<(ushort Frame, int Endpoint, bool In, byte[] Data)> Run()
        {
            lock (Sim.Gate)
                return new List<(ushort, int, bool, byte[])>(Sim.IsoRun);
        }

        unsafe uint* At(uint physical) => (uint*)Dma.At(physical);

        /// <summary>The isochronous ED of endpoint 3 in the list HCCA entry <paramref name="entry"/> starts (0 when absent).</summary>
        unsafe uint IsoEdFromHcca(int entry, out bool afterInterruptEd)
        {
            const int EndpointNumber = 3;
            uint hcca = Sim.Registers.Regs[OhciReg.HcHCCA / 4];
            uint ed = At(hcca)[entry], last = 0;
            afterInterruptEd = false;
            bool sawInterrupt = false;
            while (ed != 0)
            {
                uint control = At(ed)[0];
                if ((control & OhciEd.Skip) == 0 && (control & OhciEd.IsochronousFormat) == 0)
                    sawInterrupt = true;
                if ((control & OhciEd.IsochronousFormat) != 0 && OhciEd.EndpointNumber(control) == EndpointNumber)
                {
                    afterInterruptEd = sawInterrupt;
                    last = ed;
                }
                if (last != 0 && (control & OhciEd.IsochronousFormat) == 0)
                    throw new AssertionException("an ED without F after the isochronous ED");
                ed = At(ed)[3];
            }
            return last;
        }

        [Test]
        public void PacketsRunOncePerFrameInOrder()
        {
            var done = new List<UsbRequest>();
            var requests = new List<UsbRequest>();
            for (int i = 0; i < 3; i++)
            {
                UsbRequest r = Iso(10, done);
                for (int p = 0; p < 10; p++)
                    r.Buffer.AsSpan()[p * PacketBytes] = (byte)(i * 10 + p);
                requests.Add(r);
                Assert.That(Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            }
            Assert.That(Hc.IsoTdsQueued, Is.LessThanOrEqualTo(3 * 2), "ten contiguous packets take two ITDs");
            WaitFor(() => { lock (done) return done.Count == 3; });
            Assert.That(done, Is.EqualTo(requests), "completion order");
            Assert.That(requests[1].StartFrame, Is.EqualTo((requests[0].StartFrame + 10) & 0xFFFF));
            var run = Run();
            Assert.That(run.Count, Is.EqualTo(30));
            for (int i = 0; i < 30; i++)
            {
                Assert.That(run[i].Data.Length, Is.EqualTo(PacketBytes));
                Assert.That(run[i].Data[0], Is.EqualTo(i), "packet order");
                Assert.That(run[i].Frame, Is.EqualTo((ushort)(requests[0].StartFrame + i)), "one packet per frame, in its frame");
                Assert.That(run[i].Endpoint, Is.EqualTo(3));
            }
            foreach (UsbRequest r in requests)
            {
                Assert.That(r.Status, Is.EqualTo(UsbStatus.Ok));
                Assert.That(r.ErrorCount, Is.Zero);
                Assert.That(r.ActualLength, Is.EqualTo(10 * PacketBytes));
            }
            Assert.That(Hc.IsoTdsQueued, Is.Zero);
        }

        [Test]
        public unsafe void ItdEncodingAndPlaceInTheSchedule()
        {
            var done = new List<UsbRequest>();
            // Put packet 0 across a page boundary: 100 bytes before the end of a page.
            UsbRequest r = Iso(8, done, UsbRequestFlags.None, 0x03, PacketBytes);
            Dma.Free(r.Buffer);
            r.Buffer = Dma.Allocate(8192, 4096, DmaLimit.Below4G);
            int first = 4096 - 100;
            r.Length = first + 8 * PacketBytes;
            for (int i = 0; i < 8; i++)
                r.IsoPackets[i].Offset = first + i * PacketBytes;
            r.StartFrame = (Sim.FrameNumber + 500) & 0xFFFF;
            Assert.That(Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));

            uint ed = IsoEdFromHcca(7, out bool afterInterrupt);
            Assert.That(afterInterrupt, Is.True, "the isochronous ED follows the interrupt EDs (3.3.2)");
            Assert.That(IsoEdFromHcca(20, out _), Is.EqualTo(ed), "every frame reaches it");
            uint* e = At(ed);
            Assert.That(e[0] & OhciEd.IsochronousFormat, Is.Not.Zero, "F = 1");
            Assert.That(e[0] & OhciEd.DirectionMask, Is.EqualTo(OhciEd.DirectionOut));
            Assert.That(OhciEd.EndpointNumber(e[0]), Is.EqualTo(3));
            Assert.That(OhciEd.MaxPacket(e[0]), Is.EqualTo(PacketBytes));
            uint itd = e[2] & OhciEd.PointerMask;
            Assert.That(itd % 32, Is.Zero, "ITD 32-byte aligned");
            Assert.That(e[1] & OhciEd.PointerMask, Is.Not.EqualTo(itd), "TailP is the dummy after it");
            uint* t = At(itd);
            Assert.That(OhciItd.StartingFrame(t[0]), Is.EqualTo(r.StartFrame));
            Assert.That(OhciItd.FrameCount(t[0]), Is.EqualTo(7), "eight packets");
            Assert.That(OhciItd.ConditionCode(t[0]), Is.EqualTo(OhciConditionCode.NotAccessed));
            Assert.That((t[0] & OhciItd.DelayInterruptMask) >> OhciItd.DelayInterruptShift, Is.Zero, "the request's last ITD interrupts");
            uint start = (uint)r.Buffer.Physical + (uint)first;
            Assert.That(t[1], Is.EqualTo(start & ~0xFFFu), "BP0 = page of the first byte");
            Assert.That(t[3], Is.EqualTo(start + 8 * PacketBytes - 1), "BE = last byte");
            ushort* offsets = (ushort*)(t + 4);
            Assert.That(offsets[0], Is.EqualTo((ushort)(0xE000 | (start & 0xFFF))), "offset 0 in BP0's page, CC not accessed");
            for (int i = 1; i < 8; i++)
            {
                uint address = start + (uint)(i * PacketBytes);
                Assert.That(offsets[i], Is.EqualTo((ushort)(0xF000 | (address & 0xFFF))), "offset " + i + " in BE's page");
            }
            Assert.That(Bus.Unlink(r), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
        }

        [Test]
        public unsafe void GapsAndLongerIntervalsTakeOneItdPerPacket()
        {
            var done = new List<UsbRequest>();
            UsbRequest gaps = Iso(3, done, UsbRequestFlags.None, 0x03, 256);
            gaps.StartFrame = (Sim.FrameNumber + 300) & 0xFFFF;
            Assert.That(Bus.Submit(gaps), Is.EqualTo(UsbStatus.Ok));
            Assert.That(Hc.IsoTdsQueued, Is.EqualTo(3), "packets that do not follow each other in memory");
            uint* e = At(IsoEdFromHcca(0, out _));
            uint itd = e[2] & OhciEd.PointerMask;
            for (int i = 0; i < 3; i++)
            {
                uint* t = At(itd);
                Assert.That(OhciItd.StartingFrame(t[0]), Is.EqualTo((gaps.StartFrame + i) & 0xFFFF));
                Assert.That(OhciItd.FrameCount(t[0]), Is.Zero);
                Assert.That(t[3] - (t[1] | (t[4] & 0xFFFu)) + 1, Is.EqualTo((uint)PacketBytes), "BE - offset + 1 = size");
                Assert.That((t[0] & OhciItd.DelayInterruptMask) >> OhciItd.DelayInterruptShift, Is.EqualTo(i < 2 ? 7u : 0u));
                itd = t[2];
            }
            Assert.That(Bus.Unlink(gaps), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });

            UsbRequest slow = Iso(4, done);
            slow.Interval = 2;
            Assert.That(Bus.Submit(slow), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 2; });
            Assert.That(slow.Status, Is.EqualTo(UsbStatus.Ok));
            Assert.That(slow.ErrorCount, Is.Zero);
            var run = Run();
            Assert.That(run.Count, Is.EqualTo(4));
            for (int i = 0; i < 4; i++)
                Assert.That(run[i].Frame, Is.EqualTo((ushort)(slow.StartFrame + 2 * i)), "every other frame");
            Assert.That(Hc.IsoTdsQueued, Is.Zero);
        }

        [Test]
        public void ItdsTheControllerReachesTooLateAreCrossedFrame()
        {
            var done = new List<UsbRequest>();
            lock (Sim.Gate)
                Sim.SkipFrames = 40; // the controller loses the next 40 frames
            UsbRequest r = Iso(8, done);
            Assert.That(Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
            Assert.That(r.Status, Is.EqualTo(UsbStatus.Ok));
            Assert.That(r.ErrorCount, Is.EqualTo(8));
            Assert.That(r.ActualLength, Is.Zero);
            for (int i = 0; i < 8; i++)
                Assert.That(r.IsoPackets[i].Status, Is.EqualTo(UsbStatus.CrossedFrame));
            Assert.That(Run(), Is.Empty);
            Assert.That(Hc.IsoTdsQueued, Is.Zero);
        }

        [Test]
        public void PacketsOfFramesMissedInsideAnItdAreCrossedFrame()
        {
            var done = new List<UsbRequest>();
            UsbRequest r = Iso(8, done, UsbRequestFlags.None);
            Sim.Paused = true;
            r.StartFrame = (Sim.FrameNumber + 10) & 0xFFFF;
            // Frames now+1 .. start+2 pass without the periodic list: packets 0..2 miss their frames.
            lock (Sim.Gate)
                Sim.SkipFrames = 12;
            Assert.That(Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            Sim.Paused = false;
            WaitFor(() => { lock (done) return done.Count == 1; });
            Assert.That(r.ErrorCount, Is.EqualTo(3));
            for (int i = 0; i < 8; i++)
            {
                Assert.That(r.IsoPackets[i].Status, Is.EqualTo(i < 3 ? UsbStatus.CrossedFrame : UsbStatus.Ok), "packet " + i);
                Assert.That(r.IsoPackets[i].ActualLength, Is.EqualTo(i < 3 ? 0 : PacketBytes));
            }
            Assert.That(r.ActualLength, Is.EqualTo(5 * PacketBytes));
        }

        [Test]
        public void InPacketsReportTheirSizeShortAndBabble()
        {
            var done = new List<UsbRequest>();
            UsbRequest r = Iso(8, done, UsbRequestFlags.None, 0x84);
            Sim.Paused = true;
            r.StartFrame = (Sim.FrameNumber + 8) & 0xFFFF;
            ushort start = (ushort)r.StartFrame;
            // Packet 2 short (100 bytes), packet 5 too long (babble), the rest full.
            lock (Sim.Gate)
                Sim.IsoInBytes = frame => frame == (ushort)(start + 2) ? 100 : frame == (ushort)(start + 5) ? 300 : PacketBytes;
            Assert.That(Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            Sim.Paused = false;
            WaitFor(() => { lock (done) return done.Count == 1; });
            Assert.That(r.IsoPackets[2].Status, Is.EqualTo(UsbStatus.Ok), "a short isochronous IN packet is fine");
            Assert.That(r.IsoPackets[2].ActualLength, Is.EqualTo(100));
            Assert.That(r.IsoPackets[5].Status, Is.EqualTo(UsbStatus.Babble), "DataOverrun in the PSW");
            Assert.That(r.IsoPackets[0].ActualLength, Is.EqualTo(PacketBytes));
            Assert.That(r.ErrorCount, Is.EqualTo(1));
            Assert.That(r.Buffer.AsSpan()[3 * PacketBytes], Is.EqualTo((byte)(r.StartFrame + 3)), "data landed at packet 3's offset");
        }

        [Test]
        public void TheStreamCrossesTheFrameNumberWrap()
        {
            var done = new List<UsbRequest>();
            var requests = new List<UsbRequest>();
            Sim.Paused = true;
            lock (Sim.Gate)
                Sim.Registers.Regs[OhciReg.HcFmNumber / 4] = 0xFFF8;
            for (int i = 0; i < 3; i++)
            {
                UsbRequest r = Iso(8, done);
                requests.Add(r);
                Assert.That(Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            }
            Sim.Paused = false;
            Assert.That(requests[0].StartFrame, Is.EqualTo(0xFFFC));
            Assert.That(requests[1].StartFrame, Is.EqualTo(0x0004), "the second request starts after the wrap");
            WaitFor(() => { lock (done) return done.Count == 3; });
            foreach (UsbRequest r in requests)
                Assert.That(r.ErrorCount, Is.Zero);
            var run = Run();
            Assert.That(run.Count, Is.EqualTo(24));
            for (int i = 0; i < 24; i++)
                Assert.That(run[i].Frame, Is.EqualTo((ushort)(0xFFFC + i)));
        }

        [Test]
        public void CancelTakesQueuedItdsOffTheEd()
        {
            var done = new List<UsbRequest>();
            int live = Dma.Live;
            UsbRequest first = Iso(4, done, UsbRequestFlags.None);
            first.StartFrame = (Sim.FrameNumber + 500) & 0xFFFF;
            UsbRequest second = Iso(4, done);
            Assert.That(Bus.Submit(first), Is.EqualTo(UsbStatus.Ok));
            Assert.That(Bus.Submit(second), Is.EqualTo(UsbStatus.Ok));
            Assert.That(second.StartFrame, Is.EqualTo((first.StartFrame + 4) & 0xFFFF));
            Assert.That(Hc.IsoTdsQueued, Is.EqualTo(2));
            Assert.That(Bus.Unlink(first), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
            Assert.That(first.Status, Is.EqualTo(UsbStatus.Cancelled));
            Assert.That(first.IsoPackets[3].Status, Is.EqualTo(UsbStatus.Cancelled));
            Assert.That(Hc.IsoTdsQueued, Is.EqualTo(1), "the second request stays queued");
            Assert.That(Bus.Unlink(second), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 2; });
            Assert.That(Hc.IsoTdsQueued, Is.Zero);
            Assert.That(Run(), Is.Empty, "nothing went on the bus");
            Dma.Free(first.Buffer);
            Dma.Free(second.Buffer);
            Assert.That(Dma.Live, Is.EqualTo(live), "every ITD freed");
        }

        [Test]
        public void RequestsOutOfTimeOrderAreRefused()
        {
            var done = new List<UsbRequest>();
            UsbRequest later = Iso(4, done, UsbRequestFlags.None);
            later.StartFrame = (Sim.FrameNumber + 500) & 0xFFFF;
            Assert.That(Bus.Submit(later), Is.EqualTo(UsbStatus.Ok));
            UsbRequest earlier = Iso(4, done, UsbRequestFlags.None);
            earlier.StartFrame = (later.StartFrame - 100) & 0xFFFF;
            Assert.That(Bus.Submit(earlier), Is.EqualTo(UsbStatus.InvalidArgument), "the controller only looks at the head ITD");
            Assert.That(Bus.Unlink(later), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
        }

        [Test]
        public void DisablingTheSettingGivesBackQueuedRequests()
        {
            var done = new List<UsbRequest>();
            UsbRequest r = Iso(4, done, UsbRequestFlags.None);
            r.StartFrame = (Sim.FrameNumber + 500) & 0xFFFF;
            Assert.That(Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            Assert.That(Stack.SetInterface(_device.Interfaces[0], 0), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
            Assert.That(r.Status, Is.EqualTo(UsbStatus.Shutdown));
            Assert.That(Hc.IsoTdsQueued, Is.Zero);
            Assert.That(IsoEdFromHcca(0, out _), Is.Zero, "the isochronous ED left the schedule");
        }

        [Test]
        public void ItdEncodingHelpers()
        {
            uint c = OhciItd.Encode(0x1234, 8, 3);
            Assert.That(c & 0xFFFF, Is.EqualTo(0x1234u), "SF bits 15..0");
            Assert.That((c >> 21) & 7, Is.EqualTo(3u), "DI bits 23..21");
            Assert.That((c >> 24) & 7, Is.EqualTo(7u), "FC = packets - 1, bits 26..24");
            Assert.That(c >> 28, Is.EqualTo(0xFu), "CC NotAccessed");
            Assert.That(OhciItd.Offset(0x20FF0, 0x20F00), Is.EqualTo((ushort)0xEFF0));
            Assert.That(OhciItd.Offset(0x21010, 0x20F00), Is.EqualTo((ushort)0xF010), "bit 12: BE's page");
            Assert.That(OhciItd.FitsTwoPages(0x20F00, 0x22000), Is.True);
            Assert.That(OhciItd.FitsTwoPages(0x20F00, 0x22001), Is.False);
            Assert.That(OhciItd.PacketStatus(OhciConditionCode.DataUnderrun, true), Is.EqualTo(UsbStatus.Ok));
            Assert.That(OhciItd.PacketStatus(OhciConditionCode.DataOverrun, true), Is.EqualTo(UsbStatus.Babble));
            Assert.That(OhciItd.PacketStatus(OhciConditionCode.BufferUnderrun, false), Is.EqualTo(UsbStatus.Underrun));
            Assert.That(OhciItd.PswNotAccessed(0xE123), Is.True);
            Assert.That(OhciItd.PswNotAccessed(0x90C0), Is.False);
            Assert.That(OhciItd.PswSize(0x90C0), Is.EqualTo(0xC0));
        }
    }
}
