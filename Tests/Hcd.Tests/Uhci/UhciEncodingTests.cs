using Drivers.Usb;
using Drivers.Usb.Hcd.Uhci;
using NUnit.Framework;

namespace Hcd.Tests.Uhci
{
    /// <summary>TD/QH/link encodings against the UHCI 1.1 bit layouts (3.1 - 3.3) and the status mapping.</summary>
    public class UhciEncodingTests
    {
        [Test]
        public void RegisterOffsets_AreTheSpecTable2()
        {
            Assert.That(UhciRegisters.USBCMD, Is.EqualTo(0x00));
            Assert.That(UhciRegisters.USBSTS, Is.EqualTo(0x02));
            Assert.That(UhciRegisters.USBINTR, Is.EqualTo(0x04));
            Assert.That(UhciRegisters.FRNUM, Is.EqualTo(0x06));
            Assert.That(UhciRegisters.FRBASEADD, Is.EqualTo(0x08));
            Assert.That(UhciRegisters.SOFMOD, Is.EqualTo(0x0C));
            Assert.That(UhciRegisters.PORTSC1, Is.EqualTo(0x10));
            Assert.That(UhciRegisters.PORTSC2, Is.EqualTo(0x12));
            Assert.That(UhciRegisters.PORTSC(2), Is.EqualTo(0x12));
            Assert.That(UsbCmd.RS | UsbCmd.HCRESET | UsbCmd.GRESET | UsbCmd.EGSM | UsbCmd.FGR | UsbCmd.SWDBG | UsbCmd.CF | UsbCmd.MAXP, Is.EqualTo(0xFF));
            Assert.That(UsbSts.HCHalted, Is.EqualTo(0x20));
            Assert.That(PortSc.PR, Is.EqualTo(0x0200));
            Assert.That(PortSc.SUSP, Is.EqualTo(0x1000));
            Assert.That(PortSc.LSDA, Is.EqualTo(0x0100));
            Assert.That(PortSc.WriteClear, Is.EqualTo(0x000A | 0x0800));
        }

        [Test]
        public void Token_PlacesPidAddressEndpointToggleAndMaxLen()
        {
            // 3.2.3: MaxLen 31:21, D 19, EndPt 18:15, Device Address 14:8, PID 7:0.
            uint token = UhciTd.Token(UhciTd.PidIn, 0x55, 0xA, true, 64);
            Assert.That(token & 0xFF, Is.EqualTo(0x69u));
            Assert.That((token >> 8) & 0x7F, Is.EqualTo(0x55u));
            Assert.That((token >> 15) & 0xF, Is.EqualTo(0xAu));
            Assert.That((token >> 19) & 1, Is.EqualTo(1u));
            Assert.That(token >> 21, Is.EqualTo(63u));
            Assert.That(UhciTd.MaxLength(token), Is.EqualTo(64));
            Assert.That(UhciTd.DeviceAddress(token), Is.EqualTo(0x55));
            Assert.That(UhciTd.Endpoint(token), Is.EqualTo(0xA));
            Assert.That(UhciTd.Toggle(token), Is.True);

            uint setup = UhciTd.Token(UhciTd.PidSetup, 0, 0, false, 8);
            Assert.That(setup, Is.EqualTo((7u << 21) | 0x2Du));
            uint zlp = UhciTd.Token(UhciTd.PidOut, 1, 2, false, 0);
            Assert.That(zlp >> 21, Is.EqualTo(0x7FFu), "a null data packet is MaxLen 7FFh");
            Assert.That(UhciTd.MaxLength(zlp), Is.EqualTo(0));
            Assert.That(UhciTd.PidOut, Is.EqualTo(0xE1));
        }

        [Test]
        public void ControlStatus_BitsAndActualLength()
        {
            // 3.2.2: SPD 29, C_ERR 28:27, LS 26, IOS 25, IOC 24, Active 23, Stalled 22, DBE 21,
            // Babble 20, NAK 19, CRC/TO 18, Bitstuff 17, ActLen 10:0.
            uint cs = UhciTd.ControlStatus(true, true, true);
            Assert.That(cs, Is.EqualTo((1u << 29) | (3u << 27) | (1u << 26) | (1u << 24) | (1u << 23)));
            Assert.That(UhciTd.ControlStatus(false, false, false), Is.EqualTo((3u << 27) | (1u << 23)));
            Assert.That(UhciTd.StatusStalled, Is.EqualTo(1u << 22));
            Assert.That(UhciTd.StatusDataBuffer, Is.EqualTo(1u << 21));
            Assert.That(UhciTd.StatusBabble, Is.EqualTo(1u << 20));
            Assert.That(UhciTd.StatusNak, Is.EqualTo(1u << 19));
            Assert.That(UhciTd.StatusCrcTimeout, Is.EqualTo(1u << 18));
            Assert.That(UhciTd.StatusBitstuff, Is.EqualTo(1u << 17));
            Assert.That(UhciTd.Isochronous, Is.EqualTo(1u << 25));
            Assert.That(UhciTd.ActualLength(0x7FF), Is.EqualTo(0), "ActLen 7FFh = nothing transferred");
            Assert.That(UhciTd.ActualLength(0x000), Is.EqualTo(1));
            Assert.That(UhciTd.ActualLength(0x03F), Is.EqualTo(64));
            Assert.That(UhciTd.IsActive(cs), Is.True);
            Assert.That(UhciTd.HasError(UhciTd.StatusNak), Is.False, "NAK is not an error");
        }

        [Test]
        public void LinkPointers_QhTdTerminateDepthFirst()
        {
            Assert.That(UhciLink.ToQueueHead(0x12345670), Is.EqualTo(0x12345672u));
            Assert.That(UhciLink.ToTransferDescriptor(0x12345670, true), Is.EqualTo(0x12345674u));
            Assert.That(UhciLink.ToTransferDescriptor(0x12345670, false), Is.EqualTo(0x12345670u));
            Assert.That(UhciLink.IsTerminate(UhciLink.Terminate), Is.True);
            Assert.That(UhciLink.Address(0x1234567F), Is.EqualTo(0x12345670u));
            Assert.That(UhciTd.Size, Is.EqualTo(16));
            Assert.That(UhciQh.ElementOffset, Is.EqualTo(4));
        }

        [TestCase(0u, false, UsbStatus.Ok)]
        [TestCase(UhciTd.StatusStalled, false, UsbStatus.Stall)]
        [TestCase(UhciTd.StatusStalled | UhciTd.StatusCrcTimeout, false, UsbStatus.DataError)]
        [TestCase(UhciTd.StatusStalled | UhciTd.StatusCrcTimeout, true, UsbStatus.TransactionError)]
        [TestCase(UhciTd.StatusStalled | UhciTd.StatusBabble, false, UsbStatus.Babble)]
        [TestCase(UhciTd.StatusStalled | UhciTd.StatusBitstuff, false, UsbStatus.TransactionError)]
        [TestCase(UhciTd.StatusStalled | UhciTd.StatusDataBuffer, true, UsbStatus.Underrun)]
        [TestCase(UhciTd.StatusStalled | UhciTd.StatusDataBuffer, false, UsbStatus.Overrun)]
        [TestCase(UhciTd.StatusNak, false, UsbStatus.Ok)]
        public void MapStatus_FollowsLinux(uint bits, bool directionOut, UsbStatus expected)
        {
            Assert.That(UhciTd.MapStatus(bits | 0x7FF, directionOut), Is.EqualTo(expected));
        }
    }

    public class UhciScheduleTests
    {
        [TestCase(0, 0)]
        [TestCase(1, 0)]
        [TestCase(2, 1)]
        [TestCase(3, 1)]
        [TestCase(8, 3)]
        [TestCase(10, 3)]
        [TestCase(16, 4)]
        [TestCase(32, 5)]
        [TestCase(127, 6)]
        [TestCase(128, 7)]
        [TestCase(255, 7)]
        public void IntervalMapsToTheLargestPowerOfTwoNotAbove(int interval, int level)
        {
            Assert.That(UhciSchedule.LevelForInterval(interval), Is.EqualTo(level));
            Assert.That(UhciSchedule.IntervalOfLevel(level), Is.LessThanOrEqualTo(System.Math.Max(interval, 1)));
        }

        [Test]
        public void EveryLevelIsVisitedExactlyOnceEveryIntervalFrames()
        {
            // Walk the skeleton chain from every frame list entry, like the controller does.
            var visits = new System.Collections.Generic.List<int>[UhciSchedule.SkeletonCount];
            for (int s = 0; s < visits.Length; s++)
                visits[s] = new System.Collections.Generic.List<int>();
            for (int frame = 0; frame < 1024; frame++)
            {
                int seen = 0;
                for (int s = UhciSchedule.LevelForFrame(frame); s >= 0; s = UhciSchedule.NextSkeleton(s))
                {
                    visits[s].Add(frame);
                    Assert.That(++seen, Is.LessThanOrEqualTo(UhciSchedule.SkeletonCount), "no loops");
                }
            }
            for (int level = 0; level < UhciSchedule.InterruptLevels; level++)
            {
                int period = UhciSchedule.IntervalOfLevel(level);
                Assert.That(visits[level].Count, Is.EqualTo(1024 / period), "level " + level);
                for (int i = 1; i < visits[level].Count; i++)
                    Assert.That(visits[level][i] - visits[level][i - 1], Is.EqualTo(period));
            }
            Assert.That(visits[UhciSchedule.ControlSkeleton].Count, Is.EqualTo(1024), "control every frame");
            Assert.That(visits[UhciSchedule.BulkSkeleton].Count, Is.EqualTo(1024), "bulk every frame");
            Assert.That(UhciSchedule.NextSkeleton(UhciSchedule.BulkSkeleton), Is.EqualTo(-1));
        }
    }
}
