using System;
using System.Collections.Generic;
using System.Reflection;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hcd.Ehci;
using NUnit.Framework;
using Tests.Support;
using static Hcd.Tests.Simulation;
using static Tests.Support.Waiting;

namespace Hcd.Tests.Ehci
{
    /// <summary>
    /// Isochronous iTDs (high speed, EHCI 1.0 3.3) and siTDs (full speed through a hub's TT, 3.4)
    /// in the periodic frame list, against <see cref="SimEhci"/>. QEMU has no high-speed
    /// isochronous device and its EHCI has no siTDs, so this is where they are tested: encoding per
    /// spec, packets in their (micro)frames, per-packet status, late frames, the FRINDEX wrap, cancel
    /// and disable, and the frame list restored afterwards.
    /// </summary>
    public class EhciIsoTests
    {
        TrackingDma _dma;
        SimEhci _sim;
        EhciController _hc;
        UsbStack _stack;
        UsbBus _bus;
        HardwareThread _hardware;
        /// <summary>A high-speed hub (address 2) on root port 1, a full-speed function (address 3) on its port 3, a high-speed function (address 4) on root port 2.</summary>
        UsbDevice _hub, _fullSpeed, _highSpeed;

        [SetUp]
        public void SetUp()
        {
            _dma = new TrackingDma();
            _sim = new SimEhci(_dma, 4);
            var clock = new RealClock();
            var threading = new RealThreading();
            _hc = new EhciController(_sim, clock, threading, _dma, "0000:00:1d.7");
            Assert.That(_hc.Reset(), Is.EqualTo(UsbStatus.Ok));
            _stack = new UsbStack(clock, threading);
            _hardware = new HardwareThread(() =>
            {
                for (int u = 0; u < 8; u++)
                    if (_sim.RunMicroframe())
                        _hc.HandleInterrupt();
            });
            _bus = _stack.AddController(_hc, _dma);
            _hub = new UsbDevice(_bus, _bus.RootHub, 1, UsbSpeed.High) { Address = 2 };
            _fullSpeed = new UsbDevice(_bus, _hub, 3, UsbSpeed.Full) { Address = 3 };
            _highSpeed = new UsbDevice(_bus, _bus.RootHub, 2, UsbSpeed.High) { Address = 4 };
            Assert.That(_fullSpeed.TtHub, Is.SameAs(_hub));
        }

        [TearDown]
        public void TearDown() => _hardware.StopAndCheck(_hc.Stop);

        /// <summary>Enables an isochronous endpoint the way SET_INTERFACE does (the core's internal path).</summary>
        UsbEndpoint Endpoint(UsbDevice device, byte address, ushort wMaxPacketSize, byte bInterval = 1)
        {
            var desc = new EndpointDescriptor
            {
                bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = address,
                bmAttributes = 0x05, wMaxPacketSize = wMaxPacketSize, bInterval = bInterval,
            };
            var ep = new UsbEndpoint(desc);
            MethodInfo enable = typeof(UsbBus).GetMethod("EnableEndpoint", BindingFlags.Instance | BindingFlags.NonPublic);
            Assert.That(enable.Invoke(_bus, new object[] { device, ep }), Is.EqualTo(UsbStatus.Ok));
            return ep;
        }

        UsbRequest Iso(UsbDevice device, UsbEndpoint ep, int packets, int packetBytes, List<UsbRequest> done, int flags = UsbRequestFlags.IsoAsap) =>
            IsoRequests.Create(_dma, device, ep, packets, packetBytes, done, flags);

        List<(int Frame, int Microframe, int Endpoint, bool In, byte[] Data, bool Split, int HubAddress, int HubPort, uint SMask, uint CMask)> Run()
        {
            lock (_sim.Gate)
                return new(_sim.Run);
        }

        unsafe uint Read(uint physical) => *(uint*)_dma.At(physical);

        /// <summary>Every frame list entry points at a skeleton QH again.</summary>
        void AssertFrameListClean()
        {
            uint list = (uint)_hc.FrameListPhysical;
            for (uint f = 0; f < 1024; f++)
                Assert.That(Read(list + f * 4) & (3u << EhciLink.TypeShift), Is.EqualTo(EhciLink.TypeQh), "frame " + f);
            Assert.That(_hc.IsoDescriptorsLinked, Is.Zero);
        }

        uint EntryOf(int frame) => Read((uint)_hc.FrameListPhysical + (uint)(frame & 1023) * 4);

        [Test]
        public void ItdEncodingPerSpec()
        {
            // High-bandwidth OUT endpoint 1: 1024 bytes x 2 transactions per microframe.
            UsbEndpoint ep = Endpoint(_highSpeed, 0x01, 1024 | (1 << 11));
            var done = new List<UsbRequest>();
            UsbRequest r = Iso(_highSpeed, ep, 8, 2048, done, UsbRequestFlags.None);
            int startFrame = (int)((_hc.FrameNumber >> 3) + 200) & 0x7FF;
            r.StartFrame = startFrame << 3;
            Assert.That(_bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_hc.IsoDescriptorsLinked, Is.EqualTo(1), "eight microframes, one iTD");
            uint link = EntryOf(startFrame);
            Assert.That(link & (3u << EhciLink.TypeShift), Is.EqualTo(EhciLink.TypeItd));
            uint itd = link & EhciLink.PointerMask;
            Assert.That(itd % 32, Is.Zero);
            Assert.That(Read(itd + EhciItd.NextLink) & (3u << EhciLink.TypeShift), Is.EqualTo(EhciLink.TypeQh), "the interrupt tree follows");
            uint start = (uint)r.Buffer.Physical;
            uint firstPage = start & ~0xFFFu;
            uint page0 = Read(itd + EhciItd.BufferPointer0), page1 = Read(itd + EhciItd.BufferPointer0 + 4), page2 = Read(itd + EhciItd.BufferPointer0 + 8);
            Assert.That(page0 & ~0xFFFu, Is.EqualTo(firstPage));
            Assert.That(page0 & 0x7F, Is.EqualTo(4u), "device address");
            Assert.That((page0 >> 8) & 0xF, Is.EqualTo(1u), "endpoint");
            Assert.That(page1 & (1u << 11), Is.Zero, "OUT");
            Assert.That(page1 & 0x7FF, Is.EqualTo(1024u), "maximum packet size");
            Assert.That(page2 & 3, Is.EqualTo(2u), "Mult");
            for (int p = 3; p < 7; p++)
                Assert.That(Read(itd + EhciItd.BufferPointer0 + (uint)p * 4), Is.EqualTo(firstPage + (uint)p * 4096), "page " + p);
            for (int u = 0; u < 8; u++)
            {
                uint t = Read(itd + EhciItd.Transaction0 + (uint)u * 4);
                uint at = start + (uint)(u * 2048);
                Assert.That(t & EhciItd.Active, Is.Not.Zero);
                Assert.That((t >> 16) & 0xFFF, Is.EqualTo(2048u), "length");
                Assert.That((t >> 12) & 7, Is.EqualTo((at - firstPage) >> 12), "page select");
                Assert.That(t & 0xFFF, Is.EqualTo(at & 0xFFF), "offset");
                Assert.That(t & EhciItd.InterruptOnComplete, Is.EqualTo(u == 7 ? EhciItd.InterruptOnComplete : 0u), "IOC on the last only");
            }
            for (uint x = 0; x < 7; x++)
                Assert.That(Read(itd + EhciItd.ExtendedBufferPointer0 + x * 4), Is.Zero, "64-bit: high pointers 0");
            Assert.That(_bus.Unlink(r), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
            Assert.That(r.Status, Is.EqualTo(UsbStatus.Cancelled));
            Assert.That(r.IsoPackets[7].Status, Is.EqualTo(UsbStatus.Cancelled));
            AssertFrameListClean();
        }

        [Test]
        public void HighSpeedPacketsRunInTheirMicroframes()
        {
            UsbEndpoint ep = Endpoint(_highSpeed, 0x01, 512);
            var done = new List<UsbRequest>();
            var requests = new List<UsbRequest>();
            for (int i = 0; i < 3; i++)
            {
                UsbRequest r = Iso(_highSpeed, ep, 12, 512, done);
                for (int p = 0; p < 12; p++)
                    r.Buffer.AsSpan()[p * 512] = (byte)(i * 12 + p);
                requests.Add(r);
                Assert.That(_bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            }
            Assert.That(requests[1].StartFrame, Is.EqualTo((requests[0].StartFrame + 12) & 0x3FFF), "microframes");
            WaitFor(() => { lock (done) return done.Count == 3; });
            Assert.That(done, Is.EqualTo(requests));
            var run = Run();
            Assert.That(run.Count, Is.EqualTo(36));
            for (int i = 0; i < 36; i++)
            {
                int slot = (requests[0].StartFrame + i) & 0x3FFF;
                Assert.That(run[i].Data[0], Is.EqualTo(i), "order");
                Assert.That(run[i].Data.Length, Is.EqualTo(512));
                Assert.That(run[i].Frame, Is.EqualTo(slot >> 3));
                Assert.That(run[i].Microframe, Is.EqualTo(slot & 7), "one packet per microframe, in its microframe");
            }
            foreach (UsbRequest r in requests)
            {
                Assert.That(r.ErrorCount, Is.Zero);
                Assert.That(r.ActualLength, Is.EqualTo(12 * 512));
            }
            Thread.Sleep(30);
            _hc.HandleInterrupt();
            AssertFrameListClean();
        }

        [Test]
        public void IntervalOfFourMicroframesAndShortInPackets()
        {
            UsbEndpoint ep = Endpoint(_highSpeed, 0x82, 256, 3); // bInterval 3: every 4 microframes
            Assert.That(ep.IsoPeriod, Is.EqualTo(4));
            var done = new List<UsbRequest>();
            UsbRequest r = Iso(_highSpeed, ep, 6, 256, done);
            lock (_sim.Gate)
                _sim.InBytes = frame => 100;
            Assert.That(_bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
            var run = Run();
            Assert.That(run.Count, Is.EqualTo(6));
            for (int i = 1; i < 6; i++)
                Assert.That(((run[i].Frame * 8 + run[i].Microframe) - (run[i - 1].Frame * 8 + run[i - 1].Microframe)) & 0x3FFF, Is.EqualTo(4));
            Assert.That(r.ErrorCount, Is.Zero, "short isochronous IN packets are fine");
            for (int i = 0; i < 6; i++)
                Assert.That(r.IsoPackets[i].ActualLength, Is.EqualTo(100), "Transaction Length written back");
            Assert.That(r.ActualLength, Is.EqualTo(600));
        }

        [Test]
        public void SitdEncodingPerSpec()
        {
            UsbEndpoint outEp = Endpoint(_fullSpeed, 0x01, 192);
            UsbEndpoint inEp = Endpoint(_fullSpeed, 0x82, 192);
            var done = new List<UsbRequest>();
            UsbRequest o = Iso(_fullSpeed, outEp, 2, 192, done, UsbRequestFlags.None);
            UsbRequest i = Iso(_fullSpeed, inEp, 2, 192, done, UsbRequestFlags.None);
            int frame = (int)((_hc.FrameNumber >> 3) + 300) & 0x7FF;
            o.StartFrame = frame;
            i.StartFrame = frame + 10;
            Assert.That(_bus.Submit(o), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bus.Submit(i), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_hc.IsoDescriptorsLinked, Is.EqualTo(4), "one siTD per packet");

            uint link = EntryOf(frame);
            Assert.That(link & (3u << EhciLink.TypeShift), Is.EqualTo(EhciLink.TypeSitd));
            uint s = link & EhciLink.PointerMask;
            uint c = Read(s + EhciSitd.EndpointCharacteristics);
            Assert.That(c >> 31, Is.Zero, "OUT");
            Assert.That((c >> 24) & 0x7F, Is.EqualTo(3u), "TT port");
            Assert.That((c >> 16) & 0x7F, Is.EqualTo(2u), "TT hub address");
            Assert.That((c >> 8) & 0xF, Is.EqualTo(1u));
            Assert.That(c & 0x7F, Is.EqualTo(3u));
            Assert.That(Read(s + EhciSitd.MicroframeSchedule), Is.EqualTo(0x03u), "two start splits (188 + 4 bytes), no complete split");
            uint state = Read(s + EhciSitd.TransferState);
            Assert.That(state & EhciSitd.Active, Is.Not.Zero);
            Assert.That((state >> 16) & 0x3FF, Is.EqualTo(192u));
            Assert.That(state & EhciSitd.InterruptOnComplete, Is.Zero, "IOC only on the request's last packet");
            Assert.That(Read(s + EhciSitd.BufferPointer0), Is.EqualTo((uint)o.Buffer.Physical));
            uint p1 = Read(s + EhciSitd.BufferPointer1);
            Assert.That((p1 >> 3) & 3, Is.EqualTo(1u), "TP = Begin");
            Assert.That(p1 & 7, Is.EqualTo(2u), "T-count = 2");
            Assert.That(p1 & ~0xFFFu, Is.EqualTo(((uint)o.Buffer.Physical + 191) & ~0xFFFu), "page of the last byte");
            Assert.That(Read(s + EhciSitd.BackPointer), Is.EqualTo(1u), "back pointer: T");

            uint last = EntryOf(frame + 1) & EhciLink.PointerMask;
            Assert.That(Read(last + EhciSitd.TransferState) & EhciSitd.InterruptOnComplete, Is.Not.Zero);

            uint si = EntryOf(frame + 10) & EhciLink.PointerMask;
            Assert.That(Read(si + EhciSitd.EndpointCharacteristics) >> 31, Is.EqualTo(1u), "IN");
            Assert.That(Read(si + EhciSitd.MicroframeSchedule), Is.EqualTo(0x04u | (0xF0u << 8)),
                        "one start split, four complete splits: microframes 0 and 1 carry the OUT stream's start splits, so S in 2, C in 4..7 (complete splits may use microframe 7)");
            Assert.That(Read(si + EhciSitd.BufferPointer1) & 0x1F, Is.Zero, "no TP/T-count on IN");

            Assert.That(_bus.Unlink(o), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bus.Unlink(i), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 2; });
            AssertFrameListClean();
        }

        [Test]
        public void FullSpeedThroughTheTtOnePacketPerFrame()
        {
            UsbEndpoint outEp = Endpoint(_fullSpeed, 0x01, 192);
            UsbEndpoint inEp = Endpoint(_fullSpeed, 0x82, 192);
            var done = new List<UsbRequest>();
            UsbRequest o = Iso(_fullSpeed, outEp, 8, 192, done);
            for (int p = 0; p < 8; p++)
                o.Buffer.AsSpan()[p * 192] = (byte)p;
            lock (_sim.Gate)
                _sim.InBytes = frame => 150;
            UsbRequest i = Iso(_fullSpeed, inEp, 4, 192, done);
            Assert.That(_bus.Submit(o), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bus.Submit(i), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 2; });
            var outs = Run().FindAll(x => !x.In);
            Assert.That(outs.Count, Is.EqualTo(8));
            for (int p = 0; p < 8; p++)
            {
                Assert.That(outs[p].Split, Is.True);
                Assert.That(outs[p].HubAddress, Is.EqualTo(2));
                Assert.That(outs[p].HubPort, Is.EqualTo(3));
                Assert.That(outs[p].Data.Length, Is.EqualTo(192));
                Assert.That(outs[p].Data[0], Is.EqualTo(p));
                Assert.That(outs[p].Frame, Is.EqualTo((o.StartFrame + p) & 0x7FF), "frames, not microframes");
            }
            Assert.That(o.ErrorCount, Is.Zero);
            Assert.That(o.ActualLength, Is.EqualTo(8 * 192));
            Assert.That(i.ErrorCount, Is.Zero);
            for (int p = 0; p < 4; p++)
                Assert.That(i.IsoPackets[p].ActualLength, Is.EqualTo(150), "Total Bytes counts down what was not received");
            Assert.That(i.Buffer.AsSpan()[192 + 1], Is.EqualTo((byte)(((i.StartFrame + 1) & 0x7FF) + 1)), "data at packet 1's offset");
        }

        [Test]
        public void TransactionErrorsArePerPacket()
        {
            UsbEndpoint hs = Endpoint(_highSpeed, 0x01, 512);
            UsbEndpoint fs = Endpoint(_fullSpeed, 0x82, 192);
            var done = new List<UsbRequest>();
            UsbRequest a = Iso(_highSpeed, hs, 8, 512, done, UsbRequestFlags.None);
            UsbRequest b = Iso(_fullSpeed, fs, 4, 192, done, UsbRequestFlags.None);
            _sim.Paused = true;
            int frame = (int)((_hc.FrameNumber >> 3) + 8) & 0x7FF;
            a.StartFrame = frame << 3;
            b.StartFrame = frame + 2;
            lock (_sim.Gate)
            {
                _sim.ItdErrorBits = (f, u) => f == frame && u == 2 ? EhciItd.TransactionError : f == frame && u == 5 ? EhciItd.Babble : 0;
                _sim.SitdErrorBits = f => f == ((frame + 3) & 0x7FF) ? EhciSitd.DataBufferError : 0;
            }
            Assert.That(_bus.Submit(a), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bus.Submit(b), Is.EqualTo(UsbStatus.Ok));
            _sim.Paused = false;
            WaitFor(() => { lock (done) return done.Count == 2; });
            Assert.That(a.Status, Is.EqualTo(UsbStatus.Ok), "isochronous errors are per packet");
            Assert.That(a.IsoPackets[2].Status, Is.EqualTo(UsbStatus.TransactionError));
            Assert.That(a.IsoPackets[5].Status, Is.EqualTo(UsbStatus.Babble));
            Assert.That(a.ErrorCount, Is.EqualTo(2));
            Assert.That(a.IsoPackets[3].Status, Is.EqualTo(UsbStatus.Ok));
            Assert.That(b.IsoPackets[1].Status, Is.EqualTo(UsbStatus.Overrun), "IN data buffer error");
            Assert.That(b.ErrorCount, Is.EqualTo(1));
        }

        [TestCase(0u, true, UsbStatus.Ok)]
        [TestCase(EhciItd.DataBufferError, true, UsbStatus.Overrun)]
        [TestCase(EhciItd.DataBufferError, false, UsbStatus.Underrun)]
        [TestCase(EhciItd.Babble | EhciItd.TransactionError, true, UsbStatus.Babble)]
        [TestCase(EhciItd.TransactionError, false, UsbStatus.TransactionError)]
        public void ItdStatusMapping(uint bits, bool directionIn, UsbStatus expected) =>
            Assert.That(EhciItd.ToStatus(bits, directionIn), Is.EqualTo(expected));

        [TestCase(0x00u, 1)]
        [TestCase(0x20u, 2, TestName = "IstTwoMicroframes")]
        [TestCase(0x80u, 1, TestName = "IstZeroFrames")]
        [TestCase(0xF0u, 8, TestName = "IstSevenFrames")]
        public void IsochronousSchedulingThreshold(uint hccParams, int leadFrames) =>
            Assert.That(Drivers.Usb.Hcd.Ehci.HccParams.IsochronousThresholdLeadFrames(hccParams), Is.EqualTo(leadFrames));

        [TestCase(0u, UsbStatus.Ok)]
        [TestCase(EhciSitd.Err, UsbStatus.TransactionError)]
        [TestCase(EhciSitd.MissedMicroframe, UsbStatus.TransactionError)]
        [TestCase(EhciSitd.Babble, UsbStatus.Babble)]
        [TestCase(EhciSitd.DataBufferError, UsbStatus.Overrun)]
        public void SitdStatusMappingIn(uint bits, UsbStatus expected) =>
            Assert.That(EhciSitd.ToStatus(bits, true), Is.EqualTo(expected));

        [Test]
        public void PacketsWhoseFramesPassedAreCrossedFrame()
        {
            UsbEndpoint hs = Endpoint(_highSpeed, 0x01, 512);
            UsbEndpoint fs = Endpoint(_fullSpeed, 0x01, 192);
            var done = new List<UsbRequest>();
            lock (_sim.Gate)
                _sim.SkipFrames = 40;
            UsbRequest a = Iso(_highSpeed, hs, 16, 512, done);
            UsbRequest b = Iso(_fullSpeed, fs, 8, 192, done);
            Assert.That(_bus.Submit(a), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bus.Submit(b), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 2; });
            Assert.That(a.Status, Is.EqualTo(UsbStatus.Ok));
            Assert.That(a.ErrorCount, Is.EqualTo(16));
            Assert.That(b.ErrorCount, Is.EqualTo(8));
            Assert.That(a.IsoPackets[5].Status, Is.EqualTo(UsbStatus.CrossedFrame));
            Assert.That(b.IsoPackets[7].Status, Is.EqualTo(UsbStatus.CrossedFrame));
            Assert.That(Run(), Is.Empty);
            AssertFrameListClean();
        }

        [Test]
        public void StreamsCrossTheFrindexWrap()
        {
            UsbEndpoint hs = Endpoint(_highSpeed, 0x01, 512);
            UsbEndpoint fs = Endpoint(_fullSpeed, 0x01, 192);
            var done = new List<UsbRequest>();
            var requests = new List<UsbRequest>();
            _sim.Paused = true;
            _sim.FrIndexValue = 0x3FFF - 8 * 8; // 8 frames before the 14-bit wrap
            for (int n = 0; n < 3; n++)
            {
                UsbRequest h = Iso(_highSpeed, hs, 24, 512, done);
                UsbRequest f = Iso(_fullSpeed, fs, 4, 192, done);
                requests.Add(h);
                requests.Add(f);
                Assert.That(_bus.Submit(h), Is.EqualTo(UsbStatus.Ok));
                Assert.That(_bus.Submit(f), Is.EqualTo(UsbStatus.Ok));
            }
            _sim.Paused = false;
            WaitFor(() => { lock (done) return done.Count == 6; });
            foreach (UsbRequest r in requests)
                Assert.That(r.ErrorCount, Is.Zero);
            var run = Run();
            var highSpeed = run.FindAll(x => !x.Split);
            Assert.That(highSpeed.Count, Is.EqualTo(72));
            for (int i = 1; i < 72; i++)
                Assert.That(((highSpeed[i].Frame * 8 + highSpeed[i].Microframe) - (highSpeed[i - 1].Frame * 8 + highSpeed[i - 1].Microframe)) & 0x3FFF, Is.EqualTo(1));
            Assert.That(highSpeed[0].Frame, Is.GreaterThan(highSpeed[71].Frame), "the stream wrapped");
            var fullSpeed = run.FindAll(x => x.Split);
            Assert.That(fullSpeed.Count, Is.EqualTo(12));
            for (int i = 1; i < 12; i++)
                Assert.That((fullSpeed[i].Frame - fullSpeed[i - 1].Frame) & 0x7FF, Is.EqualTo(1));
        }

        [Test]
        public void DisablingGivesBackQueuedRequestsAndCleansTheFrameList()
        {
            UsbEndpoint hs = Endpoint(_highSpeed, 0x01, 512);
            UsbEndpoint fs = Endpoint(_fullSpeed, 0x01, 192);
            var done = new List<UsbRequest>();
            UsbRequest a = Iso(_highSpeed, hs, 16, 512, done, UsbRequestFlags.None);
            a.StartFrame = (int)((_hc.FrameNumber + 8 * 300) & 0x3FFF);
            UsbRequest b = Iso(_fullSpeed, fs, 8, 192, done, UsbRequestFlags.None);
            b.StartFrame = (int)(((_hc.FrameNumber >> 3) + 300) & 0x7FF);
            Assert.That(_bus.Submit(a), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bus.Submit(b), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_hc.IsoDescriptorsLinked, Is.EqualTo(2 + 8));
            _hc.DisableEndpoint(_highSpeed, hs);
            _hc.DisableEndpoint(_fullSpeed, fs);
            WaitFor(() => { lock (done) return done.Count == 2; });
            Assert.That(a.Status, Is.EqualTo(UsbStatus.Shutdown));
            Assert.That(b.Status, Is.EqualTo(UsbStatus.Shutdown));
            AssertFrameListClean();
        }

        [Test]
        public void FullSpeedOnTheRootPortAndOversizedInSplitsAreRefused()
        {
            var rootFullSpeed = new UsbDevice(_bus, _bus.RootHub, 3, UsbSpeed.Full) { Address = 5 };
            var desc = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x01, bmAttributes = 0x05, wMaxPacketSize = 192, bInterval = 1 };
            Assert.That(_hc.EnableEndpoint(rootFullSpeed, new UsbEndpoint(desc)), Is.EqualTo(UsbStatus.NotSupported), "no TT: the companion's job");
            desc.bEndpointAddress = 0x81;
            desc.wMaxPacketSize = 1023;
            Assert.That(_hc.EnableEndpoint(_fullSpeed, new UsbEndpoint(desc)), Is.EqualTo(UsbStatus.NotSupported), "complete splits would leave the frame");
        }

        /// <summary>The S-masks of the interrupt QHs in the periodic list (skeleton QHs have none).</summary>
        List<uint> InterruptSMasks()
        {
            var masks = new List<uint>();
            uint link = EntryOf(0);
            for (int guard = 0; (link & EhciLink.Terminate) == 0 && guard < 200; guard++)
            {
                uint qh = link & EhciLink.PointerMask;
                uint s = EhciQh.SMask(Read(qh + EhciQh.EndpointCapabilities));
                if (s != 0)
                    masks.Add(s | (EhciQh.CMask(Read(qh + EhciQh.EndpointCapabilities)) << 8));
                link = Read(qh + EhciQh.HorizontalLink);
            }
            return masks;
        }

        [Test]
        public void InterruptQhsSpreadOverMicroframes()
        {
            var desc = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bmAttributes = 0x03, wMaxPacketSize = 512, bInterval = 4 };
            for (int i = 1; i <= 3; i++)
            {
                desc.bEndpointAddress = (byte)(0x80 | i);
                Assert.That(_hc.EnableEndpoint(_highSpeed, new UsbEndpoint(desc)), Is.EqualTo(UsbStatus.Ok));
            }
            // bInterval 4 = every 8 microframes: once a frame, each in its own microframe.
            Assert.That(InterruptSMasks(), Is.EquivalentTo(new[] { 0x01u, 0x02u, 0x04u }));
            Assert.That(_hc.MicroframeLoadUs(5, 1), Is.GreaterThan(0));
            Assert.That(_hc.MicroframeLoadUs(5, 3), Is.Zero);
            // A full-speed interrupt endpoint behind the TT: one start split, complete splits +2..+4.
            var fs = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x81, bmAttributes = 0x03, wMaxPacketSize = 8, bInterval = 1 };
            Assert.That(_hc.EnableEndpoint(_fullSpeed, new UsbEndpoint(fs)), Is.EqualTo(UsbStatus.Ok));
            // Microframes 0..2 carry the high-speed transactions: the split goes to the first start
            // microframe whose start and complete splits are all in empty microframes (Linux
            // check_intr_schedule lets complete splits use microframe 7).
            Assert.That(InterruptSMasks(), Has.Member(0x08u | (0xE0u << 8)), "S in microframe 3, C in 5..7");
        }

        [Test]
        public void IsochronousStreamsTakeDifferentMicroframes()
        {
            // Two high-speed iso OUT endpoints, one packet per frame (bInterval 4).
            UsbEndpoint a = Endpoint(_highSpeed, 0x01, 1024, 4);
            UsbEndpoint b = Endpoint(_highSpeed, 0x02, 1024, 4);
            var done = new List<UsbRequest>();
            UsbRequest ra = Iso(_highSpeed, a, 4, 1024, done);
            UsbRequest rb = Iso(_highSpeed, b, 4, 1024, done);
            Assert.That(_bus.Submit(ra), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bus.Submit(rb), Is.EqualTo(UsbStatus.Ok));
            Assert.That(ra.StartFrame & 7, Is.EqualTo(0), "the first stream was placed in microframe 0");
            Assert.That(rb.StartFrame & 7, Is.EqualTo(1), "the second in microframe 1");
            WaitFor(() => { lock (done) return done.Count == 2; });
            var run = Run();
            Assert.That(run.FindAll(x => x.Endpoint == 1).TrueForAll(x => x.Microframe == 0), Is.True);
            Assert.That(run.FindAll(x => x.Endpoint == 2).TrueForAll(x => x.Microframe == 1), Is.True);
            Assert.That(ra.ErrorCount + rb.ErrorCount, Is.Zero);

            // Two full-speed OUT streams through the TT: microframes 0 and 1 carry the high-speed
            // streams, so their start splits go to 2-3, then 4-5.
            UsbEndpoint c = Endpoint(_fullSpeed, 0x03, 192);
            UsbEndpoint d = Endpoint(_fullSpeed, 0x04, 192);
            UsbRequest rc = Iso(_fullSpeed, c, 2, 192, done);
            UsbRequest rd = Iso(_fullSpeed, d, 2, 192, done);
            Assert.That(_bus.Submit(rc), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bus.Submit(rd), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 4; });
            run = Run();
            Assert.That(run.Find(x => x.Split && x.Endpoint == 3).SMask, Is.EqualTo(0x0Cu));
            Assert.That(run.Find(x => x.Split && x.Endpoint == 4).SMask, Is.EqualTo(0x30u));
        }

        [Test]
        public void FullSpeedStreamsShareTheFramesOfTheirTransactionTranslator()
        {
            // A 900-byte full-speed isochronous OUT takes 709 us of the 900 us its TT may spend on periodic
            // traffic per frame (USB 2.0 5.7.4, 11.18): a second one's high-speed splits would fit, its
            // full-speed time on the same TT would not.
            var desc = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x01, bmAttributes = 0x05, wMaxPacketSize = 900, bInterval = 1 };
            var first = new UsbEndpoint(desc);
            Assert.That(_hc.EnableEndpoint(_fullSpeed, first), Is.EqualTo(UsbStatus.Ok));
            desc.bEndpointAddress = 0x02;
            var second = new UsbEndpoint(desc);
            Assert.That(_hc.EnableEndpoint(_fullSpeed, second), Is.EqualTo(UsbStatus.NoBandwidth), "the TT's frames are full");
            var irq = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x83, bmAttributes = 0x03, wMaxPacketSize = 64, bInterval = 1 };
            Assert.That(_hc.EnableEndpoint(_fullSpeed, new UsbEndpoint(irq)), Is.EqualTo(UsbStatus.Ok), "a 64-byte interrupt IN (about 60 us) fits beside it, in microframe 5");
            irq.bEndpointAddress = 0x84;
            Assert.That(_hc.EnableEndpoint(_fullSpeed, new UsbEndpoint(irq)), Is.EqualTo(UsbStatus.NoBandwidth),
                        "a second one finds microframes 0..5 full (769 of 900 us, but no microframe to start in)");

            // Behind another high-speed hub, another TT: it fits.
            var otherHub = new UsbDevice(_bus, _bus.RootHub, 3, UsbSpeed.High) { Address = 5 };
            var otherDevice = new UsbDevice(_bus, otherHub, 1, UsbSpeed.Full) { Address = 6 };
            Assert.That(_hc.EnableEndpoint(otherDevice, new UsbEndpoint(desc)), Is.EqualTo(UsbStatus.Ok));

            // The first stream gone, its TT has room again.
            _hc.DisableEndpoint(_fullSpeed, first);
            Assert.That(_hc.EnableEndpoint(_fullSpeed, second), Is.EqualTo(UsbStatus.Ok));
        }

        [Test]
        public void FullSpeedStreamsEveryOtherFrameBookAndUseOnlyTheFramesOfTheirPhase()
        {
            // A 600-byte full-speed isochronous OUT takes about 470 us of its TT's 900 us per frame: two
            // that run every frame do not fit on one TT, two with bInterval 2 (every 2 frames) do, each
            // in the frames of its own phase (Linux sitd_slot_ok steps by the stream's period); a third
            // has no phase left.
            var everyFrame = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x05, bmAttributes = 0x05, wMaxPacketSize = 600, bInterval = 1 };
            var busy = new UsbEndpoint(everyFrame);
            Assert.That(_hc.EnableEndpoint(_fullSpeed, busy), Is.EqualTo(UsbStatus.Ok));
            everyFrame.bEndpointAddress = 0x06;
            Assert.That(_hc.EnableEndpoint(_fullSpeed, new UsbEndpoint(everyFrame)), Is.EqualTo(UsbStatus.NoBandwidth), "two every frame");
            _hc.DisableEndpoint(_fullSpeed, busy);

            UsbEndpoint first = Endpoint(_fullSpeed, 0x01, 600, 2);
            UsbEndpoint second = Endpoint(_fullSpeed, 0x02, 600, 2);
            var third = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x03, bmAttributes = 0x05, wMaxPacketSize = 600, bInterval = 2 };
            Assert.That(_hc.EnableEndpoint(_fullSpeed, new UsbEndpoint(third)), Is.EqualTo(UsbStatus.NoBandwidth), "both phases of the TT are taken");

            var done = new List<UsbRequest>();
            UsbRequest a = Iso(_fullSpeed, first, 4, 600, done);
            UsbRequest b = Iso(_fullSpeed, second, 4, 600, done);
            Assert.That(_bus.Submit(a), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bus.Submit(b), Is.EqualTo(UsbStatus.Ok));
            Assert.That(a.Interval, Is.EqualTo(2), "the endpoint's period");
            Assert.That((a.StartFrame - b.StartFrame) & 1, Is.EqualTo(1), "the two streams run in different frames");
            WaitFor(() => { lock (done) return done.Count == 2; });
            var run = Run();
            Assert.That(run.Count, Is.EqualTo(8 - a.ErrorCount - b.ErrorCount));
            foreach (var packet in run)
                Assert.That(packet.Frame & 1, Is.EqualTo(packet.Endpoint == 1 ? a.StartFrame & 1 : b.StartFrame & 1),
                            "endpoint " + packet.Endpoint + " in frame " + packet.Frame);

            // A request that would leave the booked frames is refused.
            UsbRequest faster = Iso(_fullSpeed, first, 4, 600, done);
            faster.Interval = 1;
            Assert.That(_bus.Submit(faster), Is.EqualTo(UsbStatus.InvalidArgument), "interval 1 on a 2-frame booking");
            _dma.Free(faster.Buffer);
        }

        [Test]
        public void TheTtBudgetIsKeptPerMicroframeAsLinuxTtAvailable()
        {
            // Linux tt_available (USB 2.0 11.18.1, figure 11-60): a transaction must end before the next
            // SOF, with 125 us per B-microframe, 30 us in microframe 6 and none in 7. A 1023-byte
            // full-speed isochronous OUT (about 805 us) is under the 900 us of a frame but does not fit in
            // microframes 0..6 (780 us): refused, as Linux refuses it.
            var big = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x01, bmAttributes = 0x05, wMaxPacketSize = 1023, bInterval = 1 };
            Assert.That(UsbBandwidth.BusTimeUs(UsbSpeed.Full, false, true, 1023), Is.InRange(781, 900));
            Assert.That(_hc.EnableEndpoint(_fullSpeed, new UsbEndpoint(big)), Is.EqualTo(UsbStatus.NoBandwidth));

            // Two 376-byte OUT streams (300 us, two start splits each) cannot start in the same
            // microframe: a transaction longer than a microframe needs its first microframes empty.
            UsbEndpoint first = Endpoint(_fullSpeed, 0x02, 376);
            UsbEndpoint second = Endpoint(_fullSpeed, 0x03, 376);
            var done = new List<UsbRequest>();
            UsbRequest a = Iso(_fullSpeed, first, 1, 376, done);
            UsbRequest b = Iso(_fullSpeed, second, 1, 376, done);
            Assert.That(_bus.Submit(a), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bus.Submit(b), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 2; });
            uint firstMask = Run().FindLast(x => x.Split && x.Endpoint == 2).SMask;
            uint secondMask = Run().FindLast(x => x.Split && x.Endpoint == 3).SMask;
            Assert.That(firstMask & secondMask, Is.Zero, "0x" + firstMask.ToString("x") + " and 0x" + secondMask.ToString("x"));
            // A third would still fit in the frame (300 us left) but has no run of free microframes to start in.
            var third = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x04, bmAttributes = 0x05, wMaxPacketSize = 376, bInterval = 1 };
            Assert.That(_hc.EnableEndpoint(_fullSpeed, new UsbEndpoint(third)), Is.EqualTo(UsbStatus.NoBandwidth));
        }

        [Test]
        public void AStreamThatFitsNoMicroframeIsRefused()
        {
            // 3 x 1024 bytes in every microframe: about 66 us of the 100 us each; a second one cannot fit.
            var desc = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x01, bmAttributes = 0x05, wMaxPacketSize = 1024 | (2 << 11), bInterval = 1 };
            Assert.That(_hc.EnableEndpoint(_highSpeed, new UsbEndpoint(desc)), Is.EqualTo(UsbStatus.Ok));
            desc.bEndpointAddress = 0x02;
            Assert.That(_hc.EnableEndpoint(_highSpeed, new UsbEndpoint(desc)), Is.EqualTo(UsbStatus.NoBandwidth));
            var irq = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x83, bmAttributes = 0x03, wMaxPacketSize = 1024 | (1 << 11), bInterval = 1 };
            Assert.That(_hc.EnableEndpoint(_highSpeed, new UsbEndpoint(irq)), Is.EqualTo(UsbStatus.NoBandwidth), "an interrupt QH in every microframe does not fit either");
        }

        [Test]
        public void A752ByteInStreamUsesMicroframeSevenAnd753IsRefused()
        {
            var desc = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x81, bmAttributes = 0x05, wMaxPacketSize = 752, bInterval = 1 };
            UsbEndpoint ep = Endpoint(_fullSpeed, 0x81, 752);
            var done = new List<UsbRequest>();
            UsbRequest r = Iso(_fullSpeed, ep, 2, 752, done, UsbRequestFlags.None);
            int frame = (int)((_hc.FrameNumber >> 3) + 300) & 0x7FF;
            r.StartFrame = frame;
            Assert.That(_bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            uint sitd = EntryOf(frame) & EhciLink.PointerMask;
            Assert.That(Read(sitd + EhciSitd.MicroframeSchedule), Is.EqualTo(0x01u | (0xFCu << 8)), "S in microframe 0, C in 2..7");
            Assert.That(_bus.Unlink(r), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => { lock (done) return done.Count == 1; });
            for (int u = 2; u < 8; u++)
                Assert.That(_hc.MicroframeLoadUs(0, u), Is.GreaterThan(0), "complete split booked in microframe " + u);
            desc.wMaxPacketSize = 753;
            desc.bEndpointAddress = 0x82;
            Assert.That(_hc.EnableEndpoint(_fullSpeed, new UsbEndpoint(desc)), Is.EqualTo(UsbStatus.NotSupported),
                        "a fifth data microframe would need complete splits in the next frame");
        }

        [Test]
        public void OutStartSplitsNeverReachMicroframeSeven()
        {
            // Fill microframes 0..4 so that OUT streams are pushed as late as the rules allow.
            var hs = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bmAttributes = 0x05, wMaxPacketSize = 1024 | (2 << 11), bInterval = 4 };
            for (int i = 1; i <= 5; i++)
            {
                hs.bEndpointAddress = (byte)i;
                Assert.That(_hc.EnableEndpoint(_highSpeed, new UsbEndpoint(hs)), Is.EqualTo(UsbStatus.Ok));
            }
            // Each stream behind its own hub, so that only the microframe rules choose (a TT's own
            // microframe budget would move a second long transaction out of microframe 5).
            var masks = new List<uint>();
            byte number = 1;
            foreach (ushort bytes in new ushort[] { 100, 188, 376 })
            {
                var hub = new UsbDevice(_bus, _bus.RootHub, 2 + number, UsbSpeed.High) { Address = (byte)(10 + number) };
                var device = new UsbDevice(_bus, hub, 1, UsbSpeed.Full) { Address = (byte)(20 + number) };
                UsbEndpoint ep = Endpoint(device, number, bytes);
                var done = new List<UsbRequest>();
                UsbRequest r = Iso(device, ep, 1, bytes, done);
                Assert.That(_bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
                WaitFor(() => { lock (done) return done.Count == 1; });
                masks.Add(Run().FindLast(x => x.Split && x.Endpoint == number).SMask);
                number++;
            }
            Assert.That(masks[0], Is.EqualTo(0x20u), "one start split: microframe 5, the last a start may use");
            Assert.That(masks[1], Is.EqualTo(0x20u), "the second one-split stream shares it rather than take microframe 6");
            // Two start splits: 300 us on the TT, which must end by microframe 6 (Linux tt_available),
            // so no start after microframe 3; the least loaded high-speed microframes then win (0 and 1).
            Assert.That(masks[2], Is.EqualTo(0x03u), "two start splits in microframes 0 and 1, never 7");
        }

        [TestCase(false, 188, 0x01u, 0x00u)]
        [TestCase(false, 192, 0x03u, 0x00u)]
        [TestCase(false, 1023, 0x3Fu, 0x00u)]
        [TestCase(true, 64, 0x01u, 0x1Cu)]
        [TestCase(true, 192, 0x01u, 0x3Cu)]
        [TestCase(true, 752, 0x01u, 0xFCu)]
        public void SplitMasks(bool directionIn, int maxPacket, uint sMask, uint cMask)
        {
            Assert.That(EhciSitd.Masks(directionIn, maxPacket, 0, out uint s, out uint c), Is.True);
            Assert.That(s, Is.EqualTo(sMask));
            Assert.That(c, Is.EqualTo(cMask));
        }
    }
}

namespace Hcd.Tests.Ehci
{
    /// <summary>
    /// Per-microframe periodic balancing (<see cref="EhciMicroframeBudget"/>, Linux ehci-sched.c's
    /// bandwidth table): the table itself, and interrupt QHs, iTD streams and siTD streams placed
    /// by the controller in the least loaded microframes, refused when no microframe has room.
    /// </summary>
    public class EhciMicroframeBudgetTests
    {
        [Test]
        public void EmptyTablePlacesAtPhaseZeroMicroframeZero()
        {
            var b = new EhciMicroframeBudget();
            Assert.That(b.Choose(8, 0x01, 0, EhciMicroframeBudget.LastMicroframe, 10, 0, out int phase, out int shift), Is.True);
            Assert.That((phase, shift), Is.EqualTo((0, 0)));
        }

        [Test]
        public void NextPlacementGoesToTheLeastLoadedMicroframeAndPhase()
        {
            var b = new EhciMicroframeBudget();
            b.Book(1, 0, 0x01, 30, 0, 0);
            Assert.That(b.Choose(1, 0x01, 0, EhciMicroframeBudget.LastMicroframe, 30, 0, out _, out int shift), Is.True);
            Assert.That(shift, Is.EqualTo(1), "microframe 0 is taken in every frame");
            // Fill microframes 0..7 of even frames: a period-2 endpoint goes to the odd frames.
            for (int u = 0; u < 8; u++)
                b.Book(2, 0, 1u << u, 50, 0, 0);
            Assert.That(b.Choose(2, 0x01, 0, EhciMicroframeBudget.LastMicroframe, 30, 0, out int phase, out shift), Is.True);
            Assert.That(phase, Is.EqualTo(1));
            Assert.That(shift, Is.EqualTo(1), "odd frames: microframe 0 has 30 us, 1 is free");
            Assert.That(b.Load(2, 3), Is.EqualTo(50));
            Assert.That(b.Load(3, 0), Is.EqualTo(30));
        }

        [Test]
        public void InterruptSplitsStartBeforeMicroframeSixAndCompleteUpToSeven()
        {
            // Linux check_intr_schedule: S in u = 0..5, C in u + 2 .. min(u + 4, 7).
            EhciInterval.SplitPlacements(out uint[] sMasks, out uint[] cMasks);
            Assert.That(sMasks, Is.EqualTo(new uint[] { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20 }));
            Assert.That(cMasks, Is.EqualTo(new uint[] { 0x1C, 0x38, 0x70, 0xE0, 0xC0, 0x80 }));
            var b = new EhciMicroframeBudget();
            b.Book(1, 0, 0x01, 60, 0, 0);
            Assert.That(b.Choose(1, sMasks, cMasks, 40, 40, null, 0, out _, out int candidate), Is.True);
            Assert.That(candidate, Is.EqualTo(1), "start 0 would put 100 us in microframe 0");
            for (int u = 1; u < 8; u++)
                b.Book(1, 0, 1u << u, 70, 0, 0);
            Assert.That(b.Choose(1, sMasks, cMasks, 40, 40, null, 0, out _, out _), Is.False,
                        "every placement would put 110 us in a microframe");
        }

        [Test]
        public void SitdPlacementsFollowLinuxSitdSlotOk()
        {
            for (int bytes = 1; bytes <= 1023; bytes++)
            {
                Assert.That(EhciSitd.Placements(false, bytes, out uint[] s, out uint[] c), Is.True, "OUT " + bytes);
                for (int i = 0; i < s.Length; i++)
                {
                    Assert.That(s[i], Is.LessThan(0x80u), "OUT " + bytes + ": no start split in microframe 7");
                    Assert.That(s[i] & 0xC0 & ~(s[i] << 1), Is.Zero, "OUT " + bytes + ": the first start split is in microframe 0..5");
                    Assert.That(c[i], Is.Zero);
                }
                bool inFits = EhciSitd.Placements(true, bytes, out s, out c);
                Assert.That(inFits, Is.EqualTo(bytes <= 752), "IN " + bytes);
                for (int i = 0; inFits && i < s.Length; i++)
                    Assert.That(c[i], Is.LessThanOrEqualTo(0xFFu), "IN " + bytes + ": complete splits stay in the frame");
            }
            // 752 bytes IN: one placement, S in microframe 0, C in 2..7 (4 data microframes + 2).
            Assert.That(EhciSitd.Placements(true, 752, out uint[] s752, out uint[] c752), Is.True);
            Assert.That(s752, Is.EqualTo(new uint[] { 0x01 }));
            Assert.That(c752, Is.EqualTo(new uint[] { 0xFC }));
            // 188 bytes OUT: one start split in microframe 0..5 (Linux iso_stream_schedule skips 6 and 7).
            Assert.That(EhciSitd.Placements(false, 188, out uint[] s188, out _), Is.True);
            Assert.That(s188, Is.EqualTo(new uint[] { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20 }));
            // 1023 bytes OUT: six start splits, from microframe 0 or 1 (1 reaches microframe 6).
            Assert.That(EhciSitd.Placements(false, 1023, out uint[] s1023, out _), Is.True);
            Assert.That(s1023, Is.EqualTo(new uint[] { 0x3F, 0x7E }));
        }

        [Test]
        public void ReleaseRestoresTheTable()
        {
            var b = new EhciMicroframeBudget();
            b.Book(4, 3, 0x05, 20, 0x30, 7);
            b.Release(4, 3, 0x05, 20, 0x30, 7);
            for (int f = 0; f < 32; f++)
                for (int u = 0; u < 8; u++)
                    Assert.That(b.Load(f, u), Is.Zero);
        }
    }
}
