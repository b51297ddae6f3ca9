using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hcd.Xhci;
using NUnit.Framework;
using Platform;
using Tests.Support;

namespace Hcd.Tests.Xhci
{
    /// <summary>Isochronous encodings of the xHCI driver against the spec (6.4.1.3 Isoch TRB, 6.2.3 endpoint context, 5.3.4 IST).</summary>
    [TestFixture]
    public class XhciIsoTests
    {
        [Test]
        public void IsochTrbAsapOut()
        {
            uint c = Trb.IsochControl(false, false, true, false, 0, 0, true, 0x123);
            Assert.That(Trb.TypeOf(c), Is.EqualTo(Trb.TypeIsoch), "type 5");
            Assert.That(c & Trb.StartIsochAsap, Is.EqualTo(1u << 31), "SIA");
            Assert.That((c >> Trb.FrameIdShift) & Trb.FrameIdMask, Is.Zero, "Frame ID ignored with SIA");
            Assert.That(c & Trb.InterruptOnCompletion, Is.Not.Zero);
            Assert.That(c & Trb.InterruptOnShortPacket, Is.Zero, "no ISP on OUT");
            Assert.That(c & Trb.Chain, Is.Zero);
            Assert.That(c & Trb.Cycle, Is.Zero, "the ring sets the cycle bit");
        }

        [Test]
        public void IsochTrbWithFrameIdAndBursts()
        {
            uint c = Trb.IsochControl(true, true, false, true, 2, 5, false, 0x7FE);
            Assert.That((c >> Trb.FrameIdShift) & Trb.FrameIdMask, Is.EqualTo(0x7FEu));
            Assert.That(c & Trb.StartIsochAsap, Is.Zero);
            Assert.That(c & Trb.InterruptOnShortPacket, Is.Not.Zero, "ISP on IN");
            Assert.That(c & Trb.Chain, Is.Not.Zero);
            Assert.That(c & Trb.BlockEventInterrupt, Is.EqualTo(1u << 9), "BEI");
            Assert.That((c >> Trb.TransferBurstCountShift) & Trb.TransferBurstCountMask, Is.EqualTo(2u), "TBC bits 8:7");
            Assert.That((c >> Trb.LastBurstPacketCountShift) & Trb.LastBurstPacketCountMask, Is.EqualTo(5u), "TLBPC bits 19:16");
            Assert.That(Trb.IsochControl(true, false, false, false, 0, 0, false, 0x800) >> Trb.FrameIdShift & Trb.FrameIdMask, Is.Zero, "Frame ID wraps at 11 bits");
        }

        [TestCase(192, 192, 0, false, 0, 0, TestName = "FullSpeedOnePacket")]
        [TestCase(0, 192, 0, false, 0, 0, TestName = "ZeroLengthCountsAsOnePacket")]
        [TestCase(3072, 1024, 0, false, 0, 2, TestName = "HighBandwidthThreePackets")]
        [TestCase(5 * 1024, 1024, 1, true, 2, 0, TestName = "SuperSpeedBurstOfTwoLastBurstOne")]
        [TestCase(4 * 1024, 1024, 1, true, 1, 1, TestName = "SuperSpeedTwoFullBursts")]
        public void BurstCounts(int length, int maxPacket, int maxBurst, bool superSpeed, int tbc, int tlbpc)
        {
            Trb.IsochBurst(length, maxPacket, maxBurst, superSpeed, out int burstCount, out int lastBurst);
            Assert.That(burstCount, Is.EqualTo(tbc));
            Assert.That(lastBurst, Is.EqualTo(tlbpc));
        }

        [TestCase(0x0u, 0)]
        [TestCase(0x4u, 4)]
        [TestCase(0xFu, 56)]
        [TestCase(0x9u, 8)]
        public void IsochSchedulingThreshold(uint hcs2, int microframes) =>
            Assert.That(XhciCap.IsochSchedulingThresholdMicroframes(hcs2), Is.EqualTo(microframes));

        [Test]
        public void EndpointContextForQemuUsbAudio()
        {
            // usb-audio: full-speed isochronous OUT endpoint 1, 192 bytes every frame.
            using var dma = new ArenaDma();
            DmaBuffer ctx = dma.Allocate(64, 64, DmaLimit.Below4G);
            var desc = new EndpointDescriptor { bLength = 9, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x01, bmAttributes = 0x0D, wMaxPacketSize = 192, bInterval = 1 };
            var ep = new UsbEndpoint(desc);
            Assert.That(XhciContext.DciOf(ep), Is.EqualTo(2));
            EndpointContext.Write(ctx, 0, UsbSpeed.Full, ep, 192, 0x3000, true);
            Assert.That(XhciMemory.Read(ctx, 0), Is.EqualTo(3u << 16), "interval 2^3 x 125 us = 1 ms");
            Assert.That(XhciMemory.Read(ctx, 4), Is.EqualTo((0u << 1) | (1u << 3) | (192u << 16)), "CErr 0, Isoch Out, max packet 192");
            Assert.That(XhciMemory.Read(ctx, 16), Is.EqualTo(192u | (192u << 16)), "average TRB length and Max ESIT Payload");
        }
    }
}
