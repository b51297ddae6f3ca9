using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hcd.Uhci;
using NUnit.Framework;
using Tests.Support;
using static Hcd.Tests.Simulation;
using static Tests.Support.Waiting;

namespace Hcd.Tests.Uhci
{
    /// <summary>
    /// UHCI's per-frame periodic load as Linux uhci-q.c keeps it (uhci-&gt;load[MAX_PHASE = 32]):
    /// each interrupt QH or isochronous stream books usb_calc_bus_time / 1000 + 1 us in the frames
    /// of its phase, at most 900 us per frame (uhci_check_bandwidth; refused with NoBandwidth),
    /// released on disable (uhci_release_bandwidth). Interrupt QHs take the phase the skeleton
    /// layout gives; isochronous streams the least loaded one, and their packets go only there.
    /// </summary>
    public class UhciBandwidthTests : UhciSimulationFixture
    {
        static UsbEndpoint Endpoint(byte address, byte attributes, ushort maxPacket, byte interval) =>
            new UsbEndpoint(new EndpointDescriptor
            {
                bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = address,
                bmAttributes = attributes, wMaxPacketSize = maxPacket, bInterval = interval,
            });

        const byte Interrupt = 0x03, Isochronous = 0x05;

        UsbDevice AddBusAndDevice()
        {
            UsbBus bus = Stack.AddController(Hc, Dma);
            return new UsbDevice(bus, bus.RootHub, 2, UsbSpeed.Full) { Address = 5 };
        }

        [Test]
        public unsafe void EachLevelIsVisitedInTheFramesOfItsPhase()
        {
            // Walk the controller's own frame list and skeleton links (no endpoint QHs yet).
            uint* frames = (uint*)Dma.At((uint)Hc.FrameListPhysical);
            uint skeletons = (uint)Hc.SkeletonsPhysical;
            var visits = new List<int>[UhciSchedule.InterruptLevels];
            for (int level = 0; level < visits.Length; level++)
                visits[level] = new List<int>();
            for (int frame = 0; frame < UhciFrame.FrameListEntries; frame++)
            {
                uint link = frames[frame];
                for (int guard = 0; (link & UhciLink.Terminate) == 0 && guard < UhciSchedule.SkeletonCount; guard++)
                {
                    uint qh = link & ~0xFu;
                    int skeleton = (int)((qh - skeletons) / UhciQh.Size);
                    if (skeleton < UhciSchedule.InterruptLevels)
                        visits[skeleton].Add(frame);
                    link = *(uint*)Dma.At(qh + UhciQh.LinkOffset);
                }
            }
            for (int level = 0; level < UhciSchedule.InterruptLevels; level++)
            {
                int period = UhciSchedule.IntervalOfLevel(level);
                int phase = UhciSchedule.PhaseOfLevel(level);
                Assert.That(phase, Is.EqualTo(period / 2), "Linux's interleaved layout: phase = period / 2 (level " + level + ")");
                Assert.That(visits[level].Count, Is.EqualTo(UhciFrame.FrameListEntries / period), "level " + level);
                Assert.That(visits[level].TrueForAll(f => f % period == phase), Is.True, "level " + level);
            }
        }

        [Test]
        public void LoadIsTheBusTimePlusOneMicrosecond()
        {
            // 64-byte full-speed interrupt IN: 60239 ns -> 60 + 1 us (Linux uhci_alloc_qh).
            Assert.That(UhciHostController.LoadUs(UsbSpeed.Full, true, false, 64), Is.EqualTo(61));
            Assert.That(UhciHostController.LoadUs(UsbSpeed.Low, true, false, 8),
                        Is.EqualTo((int)(UsbBandwidth.BusTimeNs(UsbSpeed.Low, true, false, 8) / 1000) + 1));
        }

        [Test]
        public void InterruptQhsFillTheirFixedPhaseTo900UsThenAreRefusedUntilOneIsReleased()
        {
            UsbDevice device = AddBusAndDevice();
            // Fourteen 61 us QHs polled every frame: 854 us in every frame.
            var enabled = new List<UsbEndpoint>();
            for (int i = 0; i < 14; i++)
            {
                UsbEndpoint ep = Endpoint((byte)(0x81 + i), Interrupt, 64, 1);
                Assert.That(Hc.EnableEndpoint(device, ep), Is.EqualTo(UsbStatus.Ok), "endpoint " + i);
                enabled.Add(ep);
            }
            for (int f = 0; f < 32; f++)
                Assert.That(Hc.FrameLoadUs(f), Is.EqualTo(854), "frame " + f);
            Assert.That(Hc.EnableEndpoint(device, Endpoint(0x8F, Interrupt, 64, 1)), Is.EqualTo(UsbStatus.NoBandwidth), "915 us");
            Assert.That(Hc.EnableEndpoint(device, Endpoint(0x8F, Interrupt, 64, 8)), Is.EqualTo(UsbStatus.NoBandwidth),
                        "an 8 ms QH is visited in frames 4, 12, ... (phase 4), which are just as full");
            Assert.That(Hc.EnableEndpoint(device, Endpoint(0x8F, Interrupt, 8, 8)), Is.EqualTo(UsbStatus.Ok), "an 8-byte one (17 us) still fits");
            Assert.That(Hc.FrameLoadUs(4), Is.EqualTo(854 + 17));
            Assert.That(Hc.FrameLoadUs(8), Is.EqualTo(854));

            Hc.DisableEndpoint(device, enabled[0]);
            for (int f = 0; f < 32; f++)
                Assert.That(Hc.FrameLoadUs(f), Is.EqualTo(f % 8 == 4 ? 793 + 17 : 793), "frame " + f);
            UsbEndpoint again = Endpoint(0x81, Interrupt, 64, 1);
            Assert.That(Hc.EnableEndpoint(device, again), Is.EqualTo(UsbStatus.Ok), "its time is free again");
        }

        [Test]
        public void IsochronousStreamsTakeTheLeastLoadedPhaseAndAreRefusedWhenNoneHasRoom()
        {
            UsbDevice device = AddBusAndDevice();
            // An interrupt QH every 2 ms sits in the odd frames (phase 1, Linux's layout).
            Assert.That(Hc.EnableEndpoint(device, Endpoint(0x81, Interrupt, 64, 2)), Is.EqualTo(UsbStatus.Ok));
            // A 1023-byte stream every 2 frames (bInterval 2) goes to the even ones.
            int big = UhciHostController.LoadUs(UsbSpeed.Full, false, true, 1023);
            Assert.That(big, Is.EqualTo(806));
            UsbEndpoint first = Endpoint(0x02, Isochronous, 1023, 2);
            Assert.That(Hc.EnableEndpoint(device, first), Is.EqualTo(UsbStatus.Ok));
            Assert.That(Hc.FrameLoadUs(1), Is.EqualTo(61));
            Assert.That(Hc.FrameLoadUs(0), Is.EqualTo(big));
            // A second one fits next to the interrupt QH (61 + 806 = 867 us).
            UsbEndpoint second = Endpoint(0x03, Isochronous, 1023, 2);
            Assert.That(Hc.EnableEndpoint(device, second), Is.EqualTo(UsbStatus.Ok));
            Assert.That(Hc.FrameLoadUs(1), Is.EqualTo(61 + big));
            // A third has no phase left; one every frame neither.
            Assert.That(Hc.EnableEndpoint(device, Endpoint(0x04, Isochronous, 1023, 2)), Is.EqualTo(UsbStatus.NoBandwidth));
            Assert.That(Hc.EnableEndpoint(device, Endpoint(0x04, Isochronous, 64, 1)), Is.EqualTo(UsbStatus.NoBandwidth));
            // Released, the even frames are free again.
            Hc.DisableEndpoint(device, first);
            Assert.That(Hc.FrameLoadUs(0), Is.Zero);
            Assert.That(Hc.EnableEndpoint(device, Endpoint(0x04, Isochronous, 1023, 2)), Is.EqualTo(UsbStatus.Ok));
            Assert.That(Hc.FrameLoadUs(0), Is.EqualTo(big));
        }

        [Test]
        public void IsochronousPacketsGoOnlyIntoTheFramesOfTheirPhase()
        {
            Sim.Connect(1, new SimFunction { Config = IsoRequests.SlowIsoConfig });
            Stack.AddController(Hc, Dma);
            UsbDevice device = WaitForDevice(Stack, "1-1");
            Assert.That(Stack.SetInterface(device.Interfaces[0], 1), Is.EqualTo(UsbStatus.Ok));
            // The interrupt QH (every 2 ms) is in the odd frames; the stream took the even ones.
            Assert.That(Hc.FrameLoadUs(1), Is.EqualTo(UhciHostController.LoadUs(UsbSpeed.Full, true, false, 8)));
            Assert.That(Hc.FrameLoadUs(0), Is.EqualTo(UhciHostController.LoadUs(UsbSpeed.Full, false, true, 192)));

            UsbEndpoint ep = device.FindEndpoint(0x03);
            UsbBus bus = Stack.Buses[0];
            var done = new List<UsbRequest>();
            UsbRequest first = IsoRequests.Create(Dma, device, ep, 4, 192, done, UsbRequestFlags.IsoAsap);
            UsbRequest second = IsoRequests.Create(Dma, device, ep, 4, 192, done, UsbRequestFlags.IsoAsap);
            Assert.That(bus.Submit(first), Is.EqualTo(UsbStatus.Ok));
            Assert.That(bus.Submit(second), Is.EqualTo(UsbStatus.Ok));
            Assert.That(first.StartFrame % 2, Is.EqualTo(0), "an ASAP start moves to the next frame of the phase");
            Assert.That(second.StartFrame, Is.EqualTo((first.StartFrame + 8) & UhciFrame.FrameNumberMask));
            WaitFor(() => { lock (done) return done.Count == 2; });
            List<(ushort Frame, byte[] Data)> run;
            lock (Sim.Gate)
                run = new List<(ushort, byte[])>(Sim.IsoRun);
            // A busy host may make the simulated controller miss a frame (that packet is -EXDEV); every packet that ran did so in the frames of its phase.
            Assert.That(run.Count, Is.EqualTo(8 - first.ErrorCount - second.ErrorCount));
            Assert.That(run.Count, Is.GreaterThan(0));
            foreach (var packet in run)
                Assert.That(packet.Frame % 2, Is.EqualTo(0), "frame " + packet.Frame);

            // Long idle: the stream restarts, again on the phase.
            System.Threading.Thread.Sleep(50);
            UsbRequest later = IsoRequests.Create(Dma, device, ep, 2, 192, done, UsbRequestFlags.IsoAsap);
            Assert.That(bus.Submit(later), Is.EqualTo(UsbStatus.Ok));
            Assert.That(later.StartFrame % 2, Is.EqualTo(0));
            WaitFor(() => { lock (done) return done.Count == 3; });

            UsbRequest everyFrame = IsoRequests.Create(Dma, device, ep, 4, 192, done, UsbRequestFlags.IsoAsap);
            everyFrame.Interval = 1;
            Assert.That(bus.Submit(everyFrame), Is.EqualTo(UsbStatus.InvalidArgument), "interval 1 on a 2-frame booking");
            UsbRequest offPhase = IsoRequests.Create(Dma, device, ep, 4, 192, done, UsbRequestFlags.None);
            offPhase.StartFrame = (int)(((Hc.FrameNumber + 100) | 1u) & UhciFrame.FrameNumberMask);
            Assert.That(bus.Submit(offPhase), Is.EqualTo(UsbStatus.InvalidArgument), "an odd start frame");
        }
    }
}
