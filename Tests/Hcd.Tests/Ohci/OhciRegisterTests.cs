using System;
using System.Linq;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hcd.Ohci;
using Drivers.Usb.Hub;
using NUnit.Framework;
using Tests.Support;

namespace Hcd.Tests.Ohci
{
    /// <summary>Bring-up and root hub emulation against a simulated OHCI register block.</summary>
    public class OhciRegisterTests
    {
        static SetupPacket Setup(byte type, byte request, ushort value, ushort index, ushort length) =>
            new SetupPacket(type, request, value, index, length);

        [Test]
        public void Reset_TakesOverFromSmm_ResetsAndRestoresFmInterval()
        {
            var regs = new FakeOhciRegisters(3);
            regs.Regs[OhciReg.HcControl / 4] = HcControl.InterruptRouting | HcControl.UsbOperational;
            var clock = new ManualClock();
            using var dma = new ArenaDma();
            var hc = new OhciController(regs, clock, new InlineThreading(), dma, "0000:00:05.0");
            Assert.That(hc.Reset(), Is.EqualTo(UsbStatus.Ok));

            int ocr = regs.Writes.FindIndex(w => w.Offset == OhciReg.HcCommandStatus && (w.Value & HcCommandStatus.OwnershipChangeRequest) != 0);
            int hcr = regs.Writes.FindIndex(w => w.Offset == OhciReg.HcCommandStatus && (w.Value & HcCommandStatus.HostControllerReset) != 0);
            Assert.That(ocr, Is.GreaterThanOrEqualTo(0), "ownership change requested");
            Assert.That(hcr, Is.GreaterThan(ocr), "reset after the hand-off");
            Assert.That(regs.Regs[OhciReg.HcControl / 4] & HcControl.InterruptRouting, Is.Zero);
            uint fm = regs.Regs[OhciReg.HcFmInterval / 4];
            Assert.That(fm & HcFmInterval.FrameIntervalMask, Is.EqualTo(0x2EDF), "FI kept across the reset");
            Assert.That((fm >> 16) & 0x7FFF, Is.EqualTo(0x2778), "FSMPS restored");
            Assert.That(regs.Regs[OhciReg.HcPeriodicStart / 4], Is.EqualTo(0x2EDF * 9 / 10));
            uint hcca = regs.Regs[OhciReg.HcHCCA / 4];
            Assert.That(hcca % 256, Is.Zero, "HCCA 256-byte aligned");
            Assert.That(regs.Regs[OhciReg.HcControlHeadED / 4] % 16, Is.Zero);
            Assert.That(regs.Regs[OhciReg.HcBulkHeadED / 4], Is.Not.Zero);
            Assert.That(hc.RootPortCount, Is.EqualTo(3));
        }

        [Test]
        public unsafe void Reset_BuildsTheInterruptTreeInTheHcca()
        {
            var regs = new FakeOhciRegisters(2);
            using var dma = new ArenaDma();
            var hc = new OhciController(regs, new ManualClock(), new InlineThreading(), dma, "x");
            Assert.That(hc.Reset(), Is.EqualTo(UsbStatus.Ok));
            uint* hcca = dma.Word(regs.Regs[OhciReg.HcHCCA / 4]);
            for (int entry = 0; entry < 32; entry++)
            {
                uint ed = hcca[entry];
                int hops = 0;
                while (ed != 0)
                {
                    uint* p = dma.Word(ed);
                    Assert.That(p[0] & OhciEd.Skip, Is.Not.Zero, "static EDs are skipped");
                    ed = p[3];
                    hops++;
                }
                Assert.That(hops, Is.EqualTo(6), "32, 16, 8, 4, 2, 1 ms static EDs");
            }
        }

        [Test]
        public void Reset_FirmwareThatNeverLetsGo_IsBounded()
        {
            var regs = new FakeOhciRegisters(1) { SmmReleaseAfter = -1 };
            regs.Regs[OhciReg.HcControl / 4] = HcControl.InterruptRouting;
            var clock = new ManualClock();
            using var dma = new ArenaDma();
            var hc = new OhciController(regs, clock, new InlineThreading(), dma, "x");
            Assert.That(hc.Reset(), Is.EqualTo(UsbStatus.Ok), "Linux resets anyway after the takeover failed");
            Assert.That(clock.Milliseconds, Is.InRange(OhciController.HandoffTimeoutMs, OhciController.HandoffTimeoutMs + 10));
        }

        [Test]
        public void Reset_ThatNeverCompletes_TimesOut()
        {
            var regs = new FakeOhciRegisters(1) { ResetReads = int.MaxValue };
            using var dma = new ArenaDma();
            var hc = new OhciController(regs, new ManualClock(), new InlineThreading(), dma, "x");
            Assert.That(hc.Reset(), Is.EqualTo(UsbStatus.Timeout));
        }

        [Test]
        public void RootHub_DescriptorFromRhDescriptorA()
        {
            var regs = new FakeOhciRegisters(3);
            var rh = new OhciRootHub(regs, new ManualClock());
            byte[] d = new byte[16];
            Assert.That(rh.Control(Setup(HubClass.FromHub, UsbRequestCode.GetDescriptor, (ushort)(DescriptorType.Hub << 8), 0, 16), d, out int n), Is.EqualTo(UsbStatus.Ok));
            Assert.That(n, Is.EqualTo(9));
            Assert.That(HubDescriptor.Parse(new ReadOnlySpan<byte>(d, 0, n), out HubDescriptor hd).IsOk, Is.True);
            Assert.That(hd.bNbrPorts, Is.EqualTo(3));
            Assert.That(hd.bPwrOn2PwrGood, Is.EqualTo(1));
            Assert.That(hd.wHubCharacteristics & 0x3, Is.EqualTo(2), "no power switching (NPS)");
        }

        [Test]
        public void RootHub_ConnectResetAndChangeBits()
        {
            var regs = new FakeOhciRegisters(3);
            var clock = new ManualClock();
            var rh = new OhciRootHub(regs, clock);
            Span<byte> bitmap = stackalloc byte[4];
            Assert.That(rh.StatusData(bitmap), Is.Zero, "nothing changed yet");

            regs.Connect(2, lowSpeed: true);
            bitmap.Clear();
            Assert.That(rh.StatusData(bitmap), Is.EqualTo(1));
            Assert.That(bitmap[0], Is.EqualTo(1 << 2), "bit 2 = port 2");

            byte[] status = new byte[4];
            Assert.That(rh.Control(Setup(HubClass.FromPort, UsbRequestCode.GetStatus, 0, 2, 4), status, out int n), Is.EqualTo(UsbStatus.Ok));
            ushort wPortStatus = (ushort)(status[0] | status[1] << 8), wPortChange = (ushort)(status[2] | status[3] << 8);
            Assert.That(wPortStatus & HubClass.StatusConnection, Is.Not.Zero);
            Assert.That(wPortStatus & HubClass.StatusLowSpeed, Is.Not.Zero);
            Assert.That(wPortChange, Is.EqualTo(HubClass.ChangeConnection));

            Assert.That(rh.Control(Setup(HubClass.ToPort, UsbRequestCode.ClearFeature, HubClass.CPortConnection, 2, 0), Span<byte>.Empty, out n), Is.EqualTo(UsbStatus.Ok));
            Assert.That(regs.Writes.Last(), Is.EqualTo((OhciReg.HcRhPortStatus(2), HcRhPortStatus.ConnectStatusChange)), "CSC is write-1-to-clear");
            bitmap.Clear();
            Assert.That(rh.StatusData(bitmap), Is.Zero);

            Assert.That(rh.Control(Setup(HubClass.ToPort, UsbRequestCode.SetFeature, HubClass.PortReset, 2, 0), Span<byte>.Empty, out n), Is.EqualTo(UsbStatus.Ok));
            Assert.That(regs.Writes.Any(w => w.Offset == OhciReg.HcRhPortStatus(2) && w.Value == HcRhPortStatus.SetPortReset), Is.True);
            rh.Control(Setup(HubClass.FromPort, UsbRequestCode.GetStatus, 0, 2, 4), status, out n);
            Assert.That(status[0] & HubClass.StatusEnable, Is.Not.Zero, "enabled after reset");
            Assert.That(status[2] & HubClass.ChangeReset, Is.Not.Zero, "C_PORT_RESET left for the hub driver");
            rh.Control(Setup(HubClass.ToPort, UsbRequestCode.ClearFeature, HubClass.CPortReset, 2, 0), Span<byte>.Empty, out n);
            Assert.That(regs.Writes.Last(), Is.EqualTo((OhciReg.HcRhPortStatus(2), HcRhPortStatus.PortResetStatusChange)));

            rh.Control(Setup(HubClass.ToPort, UsbRequestCode.ClearFeature, HubClass.PortEnable, 2, 0), Span<byte>.Empty, out n);
            Assert.That(regs.Writes.Last(), Is.EqualTo((OhciReg.HcRhPortStatus(2), HcRhPortStatus.ClearPortEnable)), "CCS write = ClearPortEnable");
            rh.Control(Setup(HubClass.ToPort, UsbRequestCode.SetFeature, HubClass.PortPower, 1, 0), Span<byte>.Empty, out n);
            Assert.That(regs.Writes.Last(), Is.EqualTo((OhciReg.HcRhPortStatus(1), HcRhPortStatus.SetPortPower)));
            rh.Control(Setup(HubClass.ToPort, UsbRequestCode.ClearFeature, HubClass.PortPower, 1, 0), Span<byte>.Empty, out n);
            Assert.That(regs.Writes.Last(), Is.EqualTo((OhciReg.HcRhPortStatus(1), HcRhPortStatus.ClearPortPower)), "LSDA write = ClearPortPower");
            Assert.That(rh.Control(Setup(HubClass.FromPort, UsbRequestCode.GetStatus, 0, 4, 4), status, out n), Is.EqualTo(UsbStatus.Stall), "no port 4");
        }

        [Test]
        public void RootHub_ResetWithoutCompletionIsBounded()
        {
            var regs = new FakeOhciRegisters(1);
            var clock = new ManualClock();
            // A port whose reset never finishes (PRS stays set, PRSC never comes).
            var stuck = new StuckPort(regs);
            var rh2 = new OhciRootHub(stuck, clock);
            Assert.That(rh2.Control(Setup(HubClass.ToPort, UsbRequestCode.SetFeature, HubClass.PortReset, 1, 0), Span<byte>.Empty, out _), Is.EqualTo(UsbStatus.Ok));
            Assert.That(clock.Milliseconds, Is.InRange(OhciRootHub.HardwareResetMs + OhciRootHub.ResetWaitMs,
                                                       OhciRootHub.HardwareResetMs + OhciRootHub.ResetWaitMs + 5));
        }

        [Test]
        public void RootHub_ResetIsRepeatedUntilTdrstr()
        {
            var regs = new FakeOhciRegisters(2);
            var clock = new ManualClock();
            var rh = new OhciRootHub(regs, clock);
            regs.Connect(1, lowSpeed: false);
            Assert.That(rh.Control(Setup(HubClass.ToPort, UsbRequestCode.SetFeature, HubClass.PortReset, 1, 0), Span<byte>.Empty, out _), Is.EqualTo(UsbStatus.Ok));
            int resets = regs.Writes.Count(w => w.Offset == OhciReg.HcRhPortStatus(1) && w.Value == HcRhPortStatus.SetPortReset);
            Assert.That(clock.Milliseconds, Is.GreaterThanOrEqualTo(HubTimings.RootResetMs), "TDRSTR: 50 ms of reset at a root port");
            Assert.That(resets, Is.EqualTo((int)(HubTimings.RootResetMs / OhciRootHub.HardwareResetMs)), "made of the controller's 10 ms resets");
        }

        sealed class StuckPort : Platform.IRegisterBlock
        {
            readonly FakeOhciRegisters _inner;
            public StuckPort(FakeOhciRegisters inner) { _inner = inner; }
            public uint Read32(uint offset) => offset == OhciReg.HcRhPortStatus(1)
                ? HcRhPortStatus.CurrentConnectStatus | HcRhPortStatus.PortResetStatus | HcRhPortStatus.PortPowerStatus
                : _inner.Read32(offset);
            public void Write32(uint offset, uint value) => _inner.Write32(offset, value);
            public byte Read8(uint offset) => throw new NotSupportedException();
            public ushort Read16(uint offset) => throw new NotSupportedException();
            public ulong Read64(uint offset) => throw new NotSupportedException();
            public void Write8(uint offset, byte value) => throw new NotSupportedException();
            public void Write16(uint offset, ushort value) => throw new NotSupportedException();
            public void Write64(uint offset, ulong value) => throw new NotSupportedException();
        }

        [Test]
        public void PciDriver_ClaimsOnlyOhci()
        {
            var driver = new OhciPciDriver(null);
            Assert.That(driver.Name, Is.EqualTo("ohci-pci"));
            var f = new Platform.Pci.PciFunction { ClassCode = 0x0C, Subclass = 0x03, ProgIf = 0x10 };
            Assert.That(driver.Matches(f), Is.True);
            f.ProgIf = 0x00;
            Assert.That(driver.Matches(f), Is.False);
        }
    }
}
