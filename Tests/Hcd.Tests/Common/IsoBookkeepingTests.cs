using Drivers.Usb;
using Drivers.Usb.Hcd;
using NUnit.Framework;
using Platform;
using Tests.Support;

namespace Hcd.Tests.Common
{
    /// <summary>
    /// The shared isochronous bookkeeping on its own: frame counter wrap, descriptor memory kept
    /// until its frame has passed, and the per-packet results with missed frames as -EXDEV.
    /// </summary>
    public class IsoBookkeepingTests
    {
        [Test]
        public void FrameCounterWraps()
        {
            var frames = new FrameCounter(0x7FF);
            Assert.That(frames.Elapsed(2, 0x7FE), Is.EqualTo(4u), "across the wrap");
            Assert.That(frames.Elapsed(5, 5), Is.Zero);
            Assert.That(frames.Delta(1, 0x7FF), Is.EqualTo(2));
            Assert.That(frames.Delta(0x7FF, 1), Is.EqualTo(-2));
            Assert.That(frames.Delta(0x400, 0), Is.EqualTo(-0x400), "half a lap counts as behind");
            Assert.That(frames.HasPassed(0, 0x7FF), Is.True, "frame 2047 is behind frame 0");
            Assert.That(frames.HasPassed(0x7FF, 0), Is.False);
            Assert.That(frames.HasPassed(7, 7), Is.False, "the frame in progress has not passed");
        }

        [Test]
        public void DelayedFreeWaitsForItsFramesAcrossTheWrap()
        {
            using var dma = new ArenaDma();
            var delayed = new FrameDelayedFree(dma, 0x7FF, 2);
            int before = dma.Live;
            delayed.Add(dma.Allocate(64, 32, DmaLimit.Below4G), 0x7FF);
            delayed.Add(default(DmaBuffer), 0x7FF);
            Assert.That(delayed.Count, Is.EqualTo(1), "a null buffer is not kept");
            delayed.FreeDue(0x7FF, false);
            delayed.FreeDue(0, false);
            Assert.That(dma.Live, Is.EqualTo(before + 1), "one frame is not enough");
            delayed.FreeDue(1, false);
            Assert.That(dma.Live, Is.EqualTo(before), "two frames after 2047 is frame 1");
            Assert.That(delayed.Count, Is.Zero);
        }

        [Test]
        public void DelayedFreeLetsGoAtOnceWhenStopped()
        {
            using var dma = new ArenaDma();
            var delayed = new FrameDelayedFree(dma, 0x7FF, 1);
            int before = dma.Live;
            delayed.Add(dma.Allocate(64, 32, DmaLimit.Below4G), 10);
            delayed.Add(dma.Allocate(64, 32, DmaLimit.Below4G), 10);
            delayed.FreeDue(10, true);
            Assert.That(dma.Live, Is.EqualTo(before));
            delayed.Add(dma.Allocate(64, 32, DmaLimit.Below4G), 10);
            delayed.FreeAll();
            Assert.That(dma.Live, Is.EqualTo(before));
        }

        [Test]
        public void PacketsNotRunAreMissedOnlyOnceTheirFramePassed()
        {
            var packet = new UsbIsoPacket { Length = 192, ActualLength = 5, Status = UsbStatus.InProgress };
            IsoPacketResults.NotRun(ref packet, false);
            Assert.That(packet.Status, Is.EqualTo(UsbStatus.InProgress), "cancelled first: the core marks it");
            IsoPacketResults.NotRun(ref packet, true);
            Assert.That((packet.Status, packet.ActualLength), Is.EqualTo((UsbStatus.CrossedFrame, 0)), "-EXDEV, no data");
        }

        [Test]
        public void PacketsRunReportTheirBytes()
        {
            var packet = new UsbIsoPacket { Length = 192 };
            IsoPacketResults.Ran(ref packet, UsbStatus.Ok, true, 100);
            Assert.That((packet.Status, packet.ActualLength), Is.EqualTo((UsbStatus.Ok, 100)), "IN: what the controller counted");
            IsoPacketResults.Ran(ref packet, UsbStatus.Ok, false, 7);
            Assert.That(packet.ActualLength, Is.EqualTo(192), "OUT that went out well: all of it");
            IsoPacketResults.Ran(ref packet, UsbStatus.Overrun, false, 7);
            Assert.That((packet.Status, packet.ActualLength), Is.EqualTo((UsbStatus.Overrun, 0)), "OUT that failed: nothing");
            IsoPacketResults.Ran(ref packet, UsbStatus.Ok, 33);
            Assert.That(packet.ActualLength, Is.EqualTo(33), "a controller that counts both directions");
        }

        [Test]
        public void FrameListChainsKeepHardwareOrderAndCount()
        {
            var chains = new FrameListChains<string>(1024);
            chains.LinkFirst(5, "a");
            chains.LinkFirst(5, "b");
            chains.LinkFirst(1023, "c");
            Assert.That(chains.Chain(5), Is.EqualTo(new[] { "b", "a" }), "the last linked is what the entry points at");
            Assert.That(chains.Chain(6), Is.Null);
            Assert.That(chains.Count, Is.EqualTo(3));
            chains.RemoveAt(5, 0);
            Assert.That(chains.Chain(5), Is.EqualTo(new[] { "a" }));
            chains.RemoveAt(5, 0);
            Assert.That(chains.Chain(5), Is.Null, "an empty entry keeps no list");
            Assert.That(chains.Count, Is.EqualTo(1));
        }
    }
}
