using System;
using System.Collections.Generic;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using NUnit.Framework;
using Platform;
using Tests.Support;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;
using static Tests.Support.Waiting;

namespace Usb.Tests
{
    /// <summary>
    /// Isochronous requests with Linux URB semantics on the simulated bus: packets, start frames
    /// (ASAP and explicit), per-packet errors, missed frames, streaming, cancel.
    /// </summary>
    [TestFixture]
    public class IsoRequestTests
    {
        const int PacketBytes = 192;
        TestBed _bed;
        SimController _hc;
        SimDevice _sim;
        UsbDevice _dev;
        uint _frame = 100;

        /// <summary>A full-speed device with an iso OUT (192 B, every frame) and an iso IN (64 B, every 2nd frame) endpoint in alternate setting 1.</summary>
        public static byte[] IsoConfig() => Desc.Config(1, 0x80, 50,
            Desc.Interface(0, 0, 0, UsbClass.Audio, 2),
            Desc.Interface(0, 1, 2, UsbClass.Audio, 2),
            Desc.Endpoint(0x01, TransferType.Isochronous, PacketBytes, 1),
            Desc.Endpoint(0x82, TransferType.Isochronous, 64, 2));

        [SetUp]
        public void SetUp()
        {
            _bed = new TestBed();
            _hc = _bed.AddController(2, UsbSpeed.Full, hc => hc.IsoClock = () => _frame);
            _sim = new SimDevice("iso", UsbSpeed.Full, Desc.Device(0x46f4, 0x0002), IsoConfig());
            _hc.Plug("1", _sim);
            _bed.Settle();
            _dev = _bed.Device("1-1");
            Assert.That(_dev, Is.Not.Null);
            Assert.That(_bed.Stack.SetInterface(_dev.Interfaces[0], 1), Is.EqualTo(UsbStatus.Ok));
        }

        [TearDown]
        public void TearDown() => _bed.Dispose();

        UsbRequest Iso(byte ep, int packets, int packetLength, List<UsbRequest> done, int flags = UsbRequestFlags.IsoAsap) =>
            IsoRequests.Create(_bed.Dma, _dev, _dev.FindEndpoint(ep), packets, packetLength, done, flags);

        [Test]
        public void SubmitValidatesPackets()
        {
            var done = new List<UsbRequest>();
            UsbRequest none = Iso(0x01, 4, PacketBytes, done);
            none.NumberOfPackets = 0;
            Assert.That(_bed.Bus.Submit(none), Is.EqualTo(UsbStatus.InvalidArgument));

            UsbRequest outside = Iso(0x01, 4, PacketBytes, done);
            outside.IsoPackets[3].Offset = PacketBytes * 3 + 1;
            Assert.That(_bed.Bus.Submit(outside), Is.EqualTo(UsbStatus.InvalidArgument), "packet past the buffer");

            UsbRequest tooBig = Iso(0x01, 2, PacketBytes + 1, done);
            Assert.That(_bed.Bus.Submit(tooBig), Is.EqualTo(UsbStatus.InvalidArgument), "packet above wMaxPacketSize");

            UsbRequest missingArray = Iso(0x01, 2, PacketBytes, done);
            missingArray.NumberOfPackets = 3;
            Assert.That(_bed.Bus.Submit(missingArray), Is.EqualTo(UsbStatus.InvalidArgument));
            Thread.Sleep(20);
            Assert.That(done, Is.Empty, "a refused request never completes");
        }

        [Test]
        public void OutStreamDeliversEveryPacketInOrderWithConsecutiveStartFrames()
        {
            var done = new List<UsbRequest>();
            var requests = new List<UsbRequest>();
            for (int i = 0; i < 3; i++)
            {
                UsbRequest r = Iso(0x01, 8, PacketBytes, done);
                Span<byte> b = r.Buffer.AsSpan();
                for (int p = 0; p < 8; p++)
                    b[p * PacketBytes] = (byte)(i * 8 + p);
                requests.Add(r);
                Assert.That(_bed.Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            }
            WaitFor(() => { lock (done) return done.Count == 3; });
            Assert.That(done, Is.EqualTo(requests), "completion in submission order");
            Assert.That(requests[0].Interval, Is.EqualTo(1), "descriptor period: 2^(bInterval-1) frames");
            Assert.That(requests[0].StartFrame, Is.EqualTo(_frame + SimController.IsoMinLead));
            Assert.That(requests[1].StartFrame, Is.EqualTo(requests[0].StartFrame + 8));
            Assert.That(requests[2].StartFrame, Is.EqualTo(requests[1].StartFrame + 8));
            foreach (UsbRequest r in requests)
            {
                Assert.That(r.Status, Is.EqualTo(UsbStatus.Ok));
                Assert.That(r.ActualLength, Is.EqualTo(8 * PacketBytes));
                Assert.That(r.ErrorCount, Is.Zero);
                for (int p = 0; p < 8; p++)
                    Assert.That(r.IsoPackets[p].Status, Is.EqualTo(UsbStatus.Ok));
            }
            List<byte[]> received = _sim.Endpoint(0x01).OutData;
            Assert.That(received.Count, Is.EqualTo(24));
            for (int i = 0; i < 24; i++)
            {
                Assert.That(received[i].Length, Is.EqualTo(PacketBytes));
                Assert.That(received[i][0], Is.EqualTo(i));
            }
        }

        [Test]
        public void StartFramesWrapAroundTheFrameCounter()
        {
            _frame = SimController.IsoFrameMask - 3;
            var done = new List<UsbRequest>();
            UsbRequest a = Iso(0x01, 8, PacketBytes, done);
            UsbRequest b = Iso(0x01, 8, PacketBytes, done);
            Assert.That(_bed.Bus.Submit(a), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bed.Bus.Submit(b), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 2; });
            Assert.That(a.StartFrame, Is.EqualTo(SimController.IsoFrameMask - 1));
            Assert.That(b.StartFrame, Is.EqualTo(6), "2046 + 8 wraps to 6");
            Assert.That(b.ErrorCount, Is.Zero);
        }

        [Test]
        public void PacketErrorsArePerPacketAndTheStreamGoesOn()
        {
            _hc.IsoPacketFault = (r, i) => i == 3 ? UsbStatus.Underrun : (UsbStatus?)null;
            var done = new List<UsbRequest>();
            UsbRequest a = Iso(0x01, 8, PacketBytes, done);
            UsbRequest b = Iso(0x01, 8, PacketBytes, done);
            Assert.That(_bed.Bus.Submit(a), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bed.Bus.Submit(b), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 2; });
            Assert.That(a.Status, Is.EqualTo(UsbStatus.Ok), "an iso request succeeds as a whole (Linux)");
            Assert.That(a.ErrorCount, Is.EqualTo(1));
            Assert.That(a.IsoPackets[3].Status, Is.EqualTo(UsbStatus.Underrun));
            Assert.That(a.ActualLength, Is.EqualTo(7 * PacketBytes));
            Assert.That(_dev.FindEndpoint(0x01).IsStopped, Is.False);
            Assert.That(b.ErrorCount, Is.EqualTo(1), "the next request ran: errors never halt an iso queue");
            Assert.That(UsbStatusNames.Name(UsbStatus.Underrun), Does.Contain("-ENOSR"));
            Assert.That(UsbStatusNames.Name(UsbStatus.Overrun), Does.Contain("-ECOMM"));
            Assert.That(UsbStatusNames.Name(UsbStatus.CrossedFrame), Does.Contain("-EXDEV"));
        }

        [Test]
        public void ExplicitStartFrameInThePastSkipsLatePacketsWithCrossedFrame()
        {
            var done = new List<UsbRequest>();
            UsbRequest r = Iso(0x01, 8, PacketBytes, done, UsbRequestFlags.None);
            r.StartFrame = (int)_frame - 1; // earliest usable frame is now + 2: three packets are late
            Assert.That(_bed.Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
            Assert.That(r.ErrorCount, Is.EqualTo(3));
            for (int p = 0; p < 3; p++)
                Assert.That(r.IsoPackets[p].Status, Is.EqualTo(UsbStatus.CrossedFrame));
            for (int p = 3; p < 8; p++)
                Assert.That(r.IsoPackets[p].Status, Is.EqualTo(UsbStatus.Ok));
            Assert.That(_sim.Endpoint(0x01).OutData.Count, Is.EqualTo(5), "late packets never reach the wire");
        }

        [Test]
        public void WhollyLateOrTooFarRequestsAreRefused()
        {
            var done = new List<UsbRequest>();
            UsbRequest late = Iso(0x01, 4, PacketBytes, done, UsbRequestFlags.None);
            late.StartFrame = (int)_frame - 10;
            Assert.That(_bed.Bus.Submit(late), Is.EqualTo(UsbStatus.CrossedFrame));
            UsbRequest far = Iso(0x01, 8, PacketBytes, done, UsbRequestFlags.None);
            far.StartFrame = (int)_frame + SimController.IsoWindow - 4;
            Assert.That(_bed.Bus.Submit(far), Is.EqualTo(UsbStatus.FrameTooFar));
            Assert.That(late.IsLinked || far.IsLinked, Is.False);
        }

        [Test]
        public void AsapStreamThatFellBehindSkipsMissedSlots()
        {
            var stream = new UsbIsoStream(SimController.IsoFrameMask, 1, 1024);
            var r1 = new UsbRequest { Flags = UsbRequestFlags.IsoAsap };
            r1.SetIsoPackets(8, 10);
            Assert.That(stream.Schedule(r1, 10, 1, out int skip1), Is.EqualTo(UsbStatus.Ok));
            Assert.That(skip1, Is.Zero);
            Assert.That(r1.StartFrame, Is.EqualTo(11));
            // The driver resubmits late: the controller is at frame 22, the stream's next slot was 19.
            var r2 = new UsbRequest { Flags = UsbRequestFlags.IsoAsap };
            r2.SetIsoPackets(8, 10);
            Assert.That(stream.Schedule(r2, 22, 1, out int skip2), Is.EqualTo(UsbStatus.Ok));
            Assert.That(r2.StartFrame, Is.EqualTo(19));
            Assert.That(skip2, Is.EqualTo(4), "slots 19..22 passed");
            Assert.That(r2.IsoPackets[3].Status, Is.EqualTo(UsbStatus.CrossedFrame));
            Assert.That(r2.IsoPackets[4].Status, Is.EqualTo(UsbStatus.InProgress));
            // Far behind (every packet late): ASAP restarts the stream instead of failing.
            var r3 = new UsbRequest { Flags = UsbRequestFlags.IsoAsap };
            r3.SetIsoPackets(8, 10);
            Assert.That(stream.Schedule(r3, 500, 1, out int skip3), Is.EqualTo(UsbStatus.Ok));
            Assert.That(skip3, Is.Zero);
            Assert.That(r3.StartFrame, Is.EqualTo(501));
            Assert.That(stream.NextFrame, Is.EqualTo(509u));
        }

        [Test]
        public void IntervalOfSlowerEndpointSpacesPackets()
        {
            var stream = new UsbIsoStream(0x3FFF, 8, 8192);
            var r = new UsbRequest { Flags = UsbRequestFlags.IsoAsap };
            r.SetIsoPackets(4, 10);
            Assert.That(stream.Schedule(r, 0x3FFC, 4, out int _), Is.EqualTo(UsbStatus.Ok));
            Assert.That(r.StartFrame, Is.EqualTo(4));
            Assert.That(stream.SlotOf(r, 3, 4), Is.EqualTo(16u));
            Assert.That(stream.Delta(2, 0x3FFE), Is.EqualTo(4));
            Assert.That(stream.Delta(0x3FFE, 2), Is.EqualTo(-4));
        }

        [Test]
        public void InRequestsReportPerPacketLengthsAndShortNotOk()
        {
            SimEndpoint ep = _sim.Endpoint(0x82);
            ep.InData.Enqueue(new byte[64]);
            ep.InData.Enqueue(new byte[10]);
            var done = new List<UsbRequest>();
            UsbRequest r = Iso(0x82, 3, 64, done, UsbRequestFlags.IsoAsap | UsbRequestFlags.ShortNotOk);
            Assert.That(_bed.Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
            Assert.That(r.Interval, Is.EqualTo(2));
            Assert.That(r.IsoPackets[0].ActualLength, Is.EqualTo(64));
            Assert.That(r.IsoPackets[1].ActualLength, Is.EqualTo(10));
            Assert.That(r.IsoPackets[1].Status, Is.EqualTo(UsbStatus.ShortPacket));
            Assert.That(r.IsoPackets[2].ActualLength, Is.EqualTo(0), "no data: an empty packet, not a NAK");
            Assert.That(r.ActualLength, Is.EqualTo(74));
            Assert.That(r.ErrorCount, Is.EqualTo(2));
        }

        [Test]
        public void CancelWhileQueuedGivesBackWithCancelStatus()
        {
            var done = new List<UsbRequest>();
            _hc.IsoHold = true; // the request's frames have not come yet
            UsbRequest a = Iso(0x01, 4, PacketBytes, done);
            UsbRequest b = Iso(0x01, 4, PacketBytes, done);
            Assert.That(_bed.Bus.Submit(a), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bed.Bus.Submit(b), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bed.Bus.Unlink(a), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
            Assert.That(a.Status, Is.EqualTo(UsbStatus.Cancelled));
            Assert.That(a.ErrorCount, Is.EqualTo(4));
            Assert.That(a.ActualLength, Is.Zero);
            Assert.That(a.IsoPackets[0].Status, Is.EqualTo(UsbStatus.Cancelled));
            _hc.IsoHold = false;
            _hc.Kick();
            WaitFor(() => { lock (done) return done.Count == 2; });
            Assert.That(b.Status, Is.EqualTo(UsbStatus.Ok));
            Assert.That(b.ErrorCount, Is.Zero);
        }
    }
}
