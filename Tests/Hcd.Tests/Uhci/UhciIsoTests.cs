using System;
using System.Collections.Generic;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Hcd.Uhci;
using NUnit.Framework;
using Tests.Support;
using static Hcd.Tests.Simulation;
using static Tests.Support.Waiting;

namespace Hcd.Tests.Uhci
{
    /// <summary>
    /// Isochronous TDs in the UHCI frame list against <see cref="SimUhci"/>: one TD per packet in
    /// the entry of its frame, IOS set, run once in that frame; late frames, cancel, and the frame
    /// list restored afterwards.
    /// </summary>
    public class UhciIsoTests : UhciSimulationFixture
    {
        const int PacketBytes = 192;
        UsbDevice _device;

        /// <summary>A vendor function: interface 0 alt 0 without endpoints, alt 1 with iso OUT endpoint 3 (192 B every frame).</summary>
        static readonly byte[] IsoConfig =
        {
            9, 2, 34, 0, 1, 1, 0, 0x80, 50,
            9, 4, 0, 0, 0, 0xFF, 0, 0, 0,
            9, 4, 0, 1, 1, 0xFF, 0, 0, 0,
            7, 5, 0x03, 1, PacketBytes, 0, 1,
        };

        /// <summary>After the base SetUp: the iso function on port 1, enumerated, alternate setting 1 selected.</summary>
        [SetUp]
        public void PlugIsoFunction()
        {
            Sim.Connect(1, new SimFunction { Config = IsoConfig });
            Stack.AddController(Hc, Dma);
            _device = WaitForDevice(Stack, "1-1");
            Assert.That(Stack.SetInterface(_device.Interfaces[0], 1), Is.EqualTo(UsbStatus.Ok));
        }

        UsbRequest Iso(int packets, List<UsbRequest> done, int flags = UsbRequestFlags.IsoAsap) =>
            IsoRequests.Create(Dma, _device, _device.FindEndpoint(0x03), packets, PacketBytes, done, flags);

        /// <summary>Every frame list entry points at its interrupt skeleton again (no TD left behind).</summary>
        unsafe void AssertFrameListClean()
        {
            uint* frames = (uint*)Dma.At((uint)Hc.FrameListPhysical);
            for (int i = 0; i < UhciFrame.FrameListEntries; i++)
                Assert.That(frames[i] & UhciLink.QueueHead, Is.Not.Zero, "frame " + i);
            Assert.That(Hc.IsoTdsLinked, Is.Zero);
        }

        [Test]
        public void PacketsRunOncePerFrameInOrder()
        {
            var done = new List<UsbRequest>();
            var requests = new List<UsbRequest>();
            for (int i = 0; i < 3; i++)
            {
                UsbRequest r = Iso(8, done);
                for (int p = 0; p < 8; p++)
                    r.Buffer.AsSpan()[p * PacketBytes] = (byte)(i * 8 + p);
                requests.Add(r);
                Assert.That(Stack.Buses[0].Submit(r), Is.EqualTo(UsbStatus.Ok));
            }
            WaitFor(() => { lock (done) return done.Count == 3; });
            Assert.That(done, Is.EqualTo(requests));
            Assert.That(requests[1].StartFrame, Is.EqualTo((requests[0].StartFrame + 8) & UhciFrame.FrameNumberMask));
            List<(ushort Frame, byte[] Data)> run;
            lock (Sim.Gate)
                run = new List<(ushort, byte[])>(Sim.IsoRun);
            Assert.That(run.Count, Is.EqualTo(24));
            for (int i = 0; i < 24; i++)
            {
                Assert.That(run[i].Data.Length, Is.EqualTo(PacketBytes));
                Assert.That(run[i].Data[0], Is.EqualTo(i), "packet order");
                Assert.That(run[i].Frame, Is.EqualTo((requests[0].StartFrame + i) & UhciFrame.FrameNumberMask), "one packet per frame, in its frame");
            }
            foreach (UsbRequest r in requests)
            {
                Assert.That(r.Status, Is.EqualTo(UsbStatus.Ok));
                Assert.That(r.ErrorCount, Is.Zero);
                Assert.That(r.ActualLength, Is.EqualTo(8 * PacketBytes));
            }
            Thread.Sleep(20);
            AssertFrameListClean();
        }

        [Test]
        public void PacketsWhoseFramePassedUnsentAreCrossedFrame()
        {
            var done = new List<UsbRequest>();
            lock (Sim.Gate)
                Sim.SkipFrames = 40; // the controller loses the next 40 frames
            UsbRequest r = Iso(8, done);
            Assert.That(Stack.Buses[0].Submit(r), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
            Assert.That(r.Status, Is.EqualTo(UsbStatus.Ok));
            Assert.That(r.ErrorCount, Is.EqualTo(8));
            Assert.That(r.IsoPackets[0].Status, Is.EqualTo(UsbStatus.CrossedFrame));
            lock (Sim.Gate)
                Assert.That(Sim.IsoRun, Is.Empty);
            Thread.Sleep(20);
            AssertFrameListClean();
        }

        [Test]
        public void CancelTakesQueuedTdsOutOfTheFrameList()
        {
            var done = new List<UsbRequest>();
            UsbRequest r = Iso(4, done, UsbRequestFlags.None);
            r.StartFrame = (int)((Hc.FrameNumber + 500) & UhciFrame.FrameNumberMask);
            Assert.That(Stack.Buses[0].Submit(r), Is.EqualTo(UsbStatus.Ok));
            Assert.That(Hc.IsoTdsLinked, Is.EqualTo(4));
            Assert.That(Stack.Buses[0].Unlink(r), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
            Assert.That(r.Status, Is.EqualTo(UsbStatus.Cancelled));
            Assert.That(r.IsoPackets[3].Status, Is.EqualTo(UsbStatus.Cancelled));
            AssertFrameListClean();
        }

        [Test]
        public void DisablingTheSettingGivesBackQueuedRequests()
        {
            var done = new List<UsbRequest>();
            UsbRequest r = Iso(4, done, UsbRequestFlags.None);
            r.StartFrame = (int)((Hc.FrameNumber + 500) & UhciFrame.FrameNumberMask);
            Assert.That(Stack.Buses[0].Submit(r), Is.EqualTo(UsbStatus.Ok));
            Assert.That(Stack.SetInterface(_device.Interfaces[0], 0), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
            Assert.That(r.Status, Is.EqualTo(UsbStatus.Shutdown));
            AssertFrameListClean();
        }

        [Test]
        public void TdEncoding()
        {
            uint cs = UhciTd.IsochronousControlStatus(true);
            Assert.That(cs & UhciTd.Isochronous, Is.Not.Zero, "IOS");
            Assert.That(cs & UhciTd.StatusActive, Is.Not.Zero);
            Assert.That(cs & UhciTd.ErrorCounterMask, Is.Zero, "no retries for isochronous packets");
            Assert.That(cs & UhciTd.ShortPacketDetect, Is.Zero);
            Assert.That(cs & UhciTd.InterruptOnComplete, Is.Not.Zero);
            Assert.That(UhciTd.IsochronousControlStatus(false) & UhciTd.InterruptOnComplete, Is.Zero);
        }
    }
}
