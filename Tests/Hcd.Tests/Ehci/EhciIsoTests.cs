using System;
using System.Collections.Generic;
using System.Reflection;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hcd.Ehci;
using Hcd.Tests.Uhci;
using NUnit.Framework;
using Platform;
using SimDma = Hcd.Tests.Uhci.FakeDma;

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
        SimDma _dma;
        SimEhci _sim;
        EhciController _hc;
        UsbStack _stack;
        UsbBus _bus;
        Thread _hardware;
        volatile bool _stop;
        volatile Exception _hardwareError;
        /// <summary>A high-speed hub (address 2) on root port 1, a full-speed function (address 3) on its port 3, a high-speed function (address 4) on root port 2.</summary>
        UsbDevice _hub, _fullSpeed, _highSpeed;

        [SetUp]
        public void SetUp()
        {
            _stop = false;
            _hardwareError = null;
            _dma = new SimDma();
            _sim = new SimEhci(_dma, 4);
            var clock = new RealClock();
            var threading = new RealThreading();
            _hc = new EhciController(_sim, clock, threading, _dma, "0000:00:1d.7");
            Assert.That(_hc.Reset(), Is.EqualTo(UsbStatus.Ok));
            _stack = new UsbStack(clock, threading);
            _hardware = new Thread(() =>
            {
                while (!_stop)
                {
                    try
                    {
                        for (int u = 0; u < 8; u++)
                            if (_sim.RunMicroframe())
                                _hc.HandleInterrupt();
                    }
                    catch (Exception e)
                    {
                        _hardwareError = e;
                        return;
                    }
                    Thread.Sleep(1);
                }
            }) { IsBackground = true };
            _hardware.Start();
            _bus = _stack.AddController(_hc, _dma);
            _hub = new UsbDevice(_bus, _bus.RootHub, 1, UsbSpeed.High) { Address = 2 };
            _fullSpeed = new UsbDevice(_bus, _hub, 3, UsbSpeed.Full) { Address = 3 };
            _highSpeed = new UsbDevice(_bus, _bus.RootHub, 2, UsbSpeed.High) { Address = 4 };
            Assert.That(_fullSpeed.TtHub, Is.SameAs(_hub));
        }

        [TearDown]
        public void TearDown()
        {
            _stop = true;
            _hardware.Join(2000);
            _hc.Stop();
            Assert.That(_hardwareError, Is.Null, "the simulated controller hit a bad schedule: " + _hardwareError);
        }

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

        UsbRequest Iso(UsbDevice device, UsbEndpoint ep, int packets, int packetBytes, List<UsbRequest> done, int flags = UsbRequestFlags.IsoAsap)
        {
            var r = new UsbRequest
            {
                Device = device,
                Endpoint = ep,
                Buffer = _dma.Allocate((uint)(packets * packetBytes), 64, DmaLimit.Below4G),
                Flags = flags,
            };
            r.SetIsoPackets(packets, packetBytes);
            r.Completion = req => { lock (done) done.Add(req); };
            return r;
        }

        static void WaitFor(Func<bool> condition)
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (!condition())
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "timed out");
                Thread.Sleep(1);
            }
        }

        List<(int Frame, int Microframe, int Endpoint, bool In, byte[] Data, bool Split, int HubAddress, int HubPort, uint SMask, uint CMask)> Run()
        {
            lock (_sim.Gate)
                return new(_sim.Run);
        }

        unsafe uint Read(uint physical) => *(uint*)_dma.Translate(physical);

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
            lock (_sim.Gate) _hc.HandleInterrupt();
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
            Assert.That(Read(si + EhciSitd.MicroframeSchedule), Is.EqualTo(0x01u | (0x3Cu << 8)), "one start split, complete splits in microframes 2..5");
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
            lock (_sim.Gate)
            {
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
            }
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
