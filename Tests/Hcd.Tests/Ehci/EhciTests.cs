using System;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hcd.Ehci;
using Drivers.Usb.Hub;
using NUnit.Framework;
using Platform.Pci;
using Tests.Support;
using Sc = Drivers.Usb.Hcd.Ehci.PortSc;

namespace Hcd.Tests.Ehci
{
    /// <summary>qTD/QH encodings against EHCI 1.0 chapter 3, status mapping, interrupt scheduling.</summary>
    public class EhciEncodingTests
    {
        [Test]
        public void QtdToken_FieldsSitWhereSection353SaysTheyDo()
        {
            uint t = EhciQtd.EncodeToken(EhciQtd.PidIn, 0x1234, toggle: true, ioc: true);
            Assert.That(t >> 31, Is.EqualTo(1u), "dt");
            Assert.That((t >> 16) & 0x7FFF, Is.EqualTo(0x1234u), "Total Bytes to Transfer");
            Assert.That((t >> 15) & 1, Is.EqualTo(1u), "IOC");
            Assert.That((t >> 12) & 7, Is.EqualTo(0u), "C_Page");
            Assert.That((t >> 10) & 3, Is.EqualTo(3u), "CERR");
            Assert.That((t >> 8) & 3, Is.EqualTo(1u), "PID IN");
            Assert.That(t & 0xFF, Is.EqualTo(0x80u), "Active only");
            Assert.That((EhciQtd.EncodeToken(EhciQtd.PidSetup, 8, false, false) >> 8) & 3, Is.EqualTo(2u), "PID SETUP");
            Assert.That((EhciQtd.EncodeToken(EhciQtd.PidOut, 0, false, false) >> 8) & 3, Is.EqualTo(0u), "PID OUT");
            Assert.That(EhciQtd.Transferred(t & ~(0x7FFFu << 16) | (0x34u << 16), 0x1234), Is.EqualTo(0x1200));
        }

        [Test]
        public void QtdLayoutOffsets()
        {
            Assert.That(EhciQtd.NextQtd, Is.EqualTo(0x00));
            Assert.That(EhciQtd.AlternateNextQtd, Is.EqualTo(0x04));
            Assert.That(EhciQtd.Token, Is.EqualTo(0x08));
            Assert.That(EhciQtd.BufferPointer0, Is.EqualTo(0x0C));
            Assert.That(EhciQtd.ExtendedBufferPointer0, Is.EqualTo(0x20), "Appendix B");
            Assert.That(EhciQh.CurrentQtd, Is.EqualTo(0x0C));
            Assert.That(EhciQh.OverlayToken, Is.EqualTo(0x18));
            Assert.That(EhciQtd.MaxBytes, Is.EqualTo(20480));
        }

        [Test]
        public void BufferPointers_Page0KeepsTheOffset_OthersArePageAligned()
        {
            var p = new uint[5];
            var h = new uint[5];
            EhciQtd.BufferPointers(0x12345678, 0x3000, p, h);
            Assert.That(p, Is.EqualTo(new uint[] { 0x12345678, 0x12346000, 0x12347000, 0x12348000, 0 }));
            EhciQtd.BufferPointers(0x1_0000_1000UL, 8, p, h);
            Assert.That(p[0], Is.EqualTo(0x1000u));
            Assert.That(h[0], Is.EqualTo(1u), "64-bit: the high dword goes to the extended buffer pointer");
            Assert.That(p[1], Is.EqualTo(0u));
            EhciQtd.BufferPointers(0, 0, p, h);
            Assert.That(p, Is.All.EqualTo(0u));
        }

        [Test]
        public void ChunkLength_FivePages_EndsOnAPacketBoundary()
        {
            Assert.That(EhciQtd.ChunkLength(0x10000, 100000, 512), Is.EqualTo(20480), "aligned: 5 full pages");
            Assert.That(EhciQtd.ChunkLength(0x10100, 100000, 512), Is.EqualTo(20480 - 512), "unaligned: whole packets only");
            Assert.That(EhciQtd.ChunkLength(0x10100, 300, 512), Is.EqualTo(300), "the last chunk takes the rest");
            Assert.That(EhciController.DataQtdCount(0x10000, 65536, 512), Is.EqualTo(4));
            Assert.That(EhciController.DataQtdCount(0x10000, 0, 64), Is.EqualTo(1), "a zero-length stage still needs a qTD");
        }

        [TestCase(0x00u, UsbStatus.Ok)]
        [TestCase(EhciQtd.Halted, UsbStatus.Stall)]
        [TestCase(EhciQtd.Halted | EhciQtd.Babble, UsbStatus.Babble)]
        [TestCase(EhciQtd.Halted | EhciQtd.TransactionError, UsbStatus.TransactionError)]
        [TestCase(EhciQtd.Halted | EhciQtd.MissedMicroframe, UsbStatus.TransactionError)]
        [TestCase(EhciQtd.TransactionError, UsbStatus.Ok)]
        public void StatusMapping(uint bits, UsbStatus expected)
        {
            Assert.That(EhciQtd.ToStatus(bits, true), Is.EqualTo(expected));
        }

        [Test]
        public void DataBufferError_IsOverrunInAndUnderrunOut()
        {
            Assert.That(EhciQtd.ToStatus(EhciQtd.Halted | EhciQtd.DataBufferError, true), Is.EqualTo(UsbStatus.Overrun));
            Assert.That(EhciQtd.ToStatus(EhciQtd.Halted | EhciQtd.DataBufferError, false), Is.EqualTo(UsbStatus.Underrun));
        }

        [Test]
        public void QhCharacteristics_HighSpeedBulk()
        {
            uint c = EhciQh.EncodeCharacteristics(5, 2, UsbSpeed.High, 512, control: false, asyncSchedule: true, head: false);
            Assert.That(c & 0x7F, Is.EqualTo(5u), "device address");
            Assert.That((c >> 8) & 0xF, Is.EqualTo(2u), "endpoint");
            Assert.That((c >> 12) & 3, Is.EqualTo(2u), "EPS high");
            Assert.That((c >> 14) & 1, Is.EqualTo(0u), "DTC: toggle from the QH");
            Assert.That((c >> 16) & 0x7FF, Is.EqualTo(512u), "max packet");
            Assert.That((c >> 27) & 1, Is.EqualTo(0u), "C only for FS/LS control");
            Assert.That(c >> 28, Is.EqualTo(EhciQh.NakReloadAsync), "RL");
        }

        [Test]
        public void QhCharacteristics_FullSpeedControlBehindATt_SetsCAndDtc()
        {
            uint c = EhciQh.EncodeCharacteristics(9, 0, UsbSpeed.Full, 64, control: true, asyncSchedule: true, head: false);
            Assert.That((c >> 12) & 3, Is.EqualTo(0u), "EPS full");
            Assert.That((c >> 14) & 1, Is.EqualTo(1u), "DTC");
            Assert.That((c >> 27) & 1, Is.EqualTo(1u), "Control Endpoint Flag");
            uint l = EhciQh.EncodeCharacteristics(9, 0, UsbSpeed.Low, 8, control: true, asyncSchedule: true, head: false);
            Assert.That((l >> 12) & 3, Is.EqualTo(1u), "EPS low");
            uint head = EhciQh.EncodeCharacteristics(0, 0, UsbSpeed.High, 64, false, true, head: true);
            Assert.That((head >> 15) & 1, Is.EqualTo(1u), "H");
            uint interrupt = EhciQh.EncodeCharacteristics(3, 1, UsbSpeed.High, 8, false, asyncSchedule: false, head: false);
            Assert.That(interrupt >> 28, Is.EqualTo(0u), "RL must be 0 on periodic QHs");
        }

        [Test]
        public void QhCapabilities_SplitFields()
        {
            uint c = EhciQh.EncodeCapabilities(hubAddress: 7, hubPort: 3, sMask: 0x01, cMask: 0x1C);
            Assert.That(c >> 30, Is.EqualTo(1u), "Mult");
            Assert.That((c >> 23) & 0x7F, Is.EqualTo(3u), "Port Number");
            Assert.That((c >> 16) & 0x7F, Is.EqualTo(7u), "Hub Addr");
            Assert.That((c >> 8) & 0xFF, Is.EqualTo(0x1Cu), "C-mask");
            Assert.That(c & 0xFF, Is.EqualTo(0x01u), "S-mask");
        }

        static UsbEndpoint InterruptIn(int number, int maxPacket, int interval) =>
            new UsbEndpoint(new EndpointDescriptor
            {
                bLength = EndpointDescriptor.Size, bDescriptorType = DescriptorType.Endpoint,
                bEndpointAddress = (byte)(0x80 | number), bmAttributes = (byte)TransferType.Interrupt,
                wMaxPacketSize = (ushort)maxPacket, bInterval = (byte)interval,
            });

        [Test]
        public void FullSpeedKeyboardBehindAHighSpeedHub_UsesTheHubsTt()
        {
            var hub = new UsbDevice(null, null, 0, UsbSpeed.High) { Address = 4 };
            var keyboard = new UsbDevice(null, hub, 3, UsbSpeed.Full) { Address = 6 };
            keyboard.TtHub = hub;
            keyboard.TtPort = 3;
            EhciController.EncodeQhFor(keyboard, InterruptIn(1, 8, 10), out uint chars, out uint caps, out int period);
            Assert.That(EhciQh.HubAddress(caps), Is.EqualTo(4));
            Assert.That(EhciQh.HubPort(caps), Is.EqualTo(3));
            Assert.That(EhciQh.SMask(caps), Is.EqualTo(0x01u), "start-split in microframe 0");
            Assert.That(EhciQh.CMask(caps), Is.EqualTo(0x1Cu), "complete-splits in microframes 2, 3, 4");
            Assert.That(period, Is.EqualTo(8), "bInterval 10 frames -> every 8 frames");
            Assert.That((chars >> 12) & 3, Is.EqualTo(0u), "EPS full");
            Assert.That(chars >> 28, Is.EqualTo(0u), "RL 0 for an interrupt QH");

            var mouse = new UsbDevice(null, hub, 2, UsbSpeed.High) { Address = 7 };
            EhciController.EncodeQhFor(mouse, InterruptIn(1, 4, 4), out _, out uint hsCaps, out int hsPeriod);
            Assert.That(EhciQh.HubAddress(hsCaps), Is.EqualTo(0), "no split for high speed");
            Assert.That(EhciQh.CMask(hsCaps), Is.EqualTo(0u));
            Assert.That(hsPeriod, Is.EqualTo(1));
        }

        [TestCase(1, 1, 0xFFu)]
        [TestCase(2, 1, 0x55u)]
        [TestCase(3, 1, 0x11u)]
        [TestCase(4, 1, 0x01u)]
        [TestCase(5, 2, 0x01u)]
        [TestCase(7, 8, 0x01u)]
        [TestCase(16, 32, 0x01u)]
        public void HighSpeedIntervals_InMicroframes(int bInterval, int frames, uint sMask)
        {
            EhciInterval.Schedule(UsbSpeed.High, bInterval, out int period, out uint s, out uint c);
            Assert.That(period, Is.EqualTo(frames));
            Assert.That(s, Is.EqualTo(sMask));
            Assert.That(c, Is.EqualTo(0u));
        }

        [TestCase(1, 1)]
        [TestCase(3, 2)]
        [TestCase(10, 8)]
        [TestCase(255, 32)]
        public void FullSpeedIntervals_InFrames(int bInterval, int frames)
        {
            EhciInterval.Schedule(UsbSpeed.Full, bInterval, out int period, out uint s, out uint c);
            Assert.That(period, Is.EqualTo(frames));
            Assert.That(s, Is.EqualTo(0x01u));
            Assert.That(c, Is.EqualTo(0x1Cu));
        }

        [Test]
        public void PeriodicTree_EveryFrameVisitsOneQhOfEachPeriod()
        {
            for (int frame = 0; frame < 1024; frame++)
            {
                int index = EhciPeriodicTree.FrameEntryIndex(frame);
                int level = EhciPeriodicTree.Levels - 1;
                int visited = 0;
                while (index >= 0)
                {
                    int slot = index - ((1 << level) - 1);
                    Assert.That(EhciPeriodicTree.FrameVisits(frame, level, slot), Is.True);
                    visited++;
                    index = EhciPeriodicTree.NextIndex(level, slot);
                    level--;
                }
                Assert.That(visited, Is.EqualTo(EhciPeriodicTree.Levels));
            }
        }

        [Test]
        public void PeriodicTree_BalancesSlots()
        {
            var tree = new EhciPeriodicTree();
            int level = EhciPeriodicTree.LevelFor(8);
            Assert.That(level, Is.EqualTo(3));
            var used = new System.Collections.Generic.HashSet<int>();
            for (int i = 0; i < 8; i++)
                used.Add(tree.Reserve(level, 8));
            Assert.That(used.Count, Is.EqualTo(8), "eight 8-frame endpoints spread over the eight slots");
            int s = tree.Reserve(EhciPeriodicTree.LevelFor(2), 64);
            tree.Release(EhciPeriodicTree.LevelFor(2), s, 64);
            Assert.That(tree.Booked(EhciPeriodicTree.LevelFor(2), s), Is.EqualTo(0));
        }
    }

    /// <summary>Bring-up, firmware hand-off and root hub against simulated registers.</summary>
    public class EhciRegisterTests
    {
        static EhciController NewController(FakeEhciRegisters regs, ManualClock clock, ArenaDma dma) =>
            new EhciController(regs, clock, new InlineThreading(), dma, "0000:00:1d.7");

        [Test]
        public void Reset_HaltsResetsAndProgramsTheSchedules()
        {
            var regs = new FakeEhciRegisters(6, addressing64: true);
            var clock = new ManualClock();
            using var dma = new ArenaDma();
            var hc = NewController(regs, clock, dma);
            Assert.That(hc.ReadCapabilities(), Is.True);
            Assert.That(hc.Version, Is.EqualTo(0x100u));
            Assert.That(EhciController.VersionText(hc.Version), Is.EqualTo("1.00"));
            Assert.That(hc.Reset(), Is.EqualTo(UsbStatus.Ok));
            uint op = FakeEhciRegisters.CapLength;
            Assert.That(regs.Writes.Exists(w => w.Offset == op + EhciOp.USBCMD && w.Value == UsbCmd.HCRESET), Is.True);
            Assert.That(regs.Writes.Exists(w => w.Offset == op + EhciOp.CTRLDSSEGMENT && w.Value == 0), Is.True, "64-bit: CTRLDSSEGMENT 0");
            uint periodic = regs.OpReg(EhciOp.PERIODICLISTBASE);
            uint async = regs.OpReg(EhciOp.ASYNCLISTADDR);
            Assert.That(periodic & 0xFFF, Is.EqualTo(0u), "frame list 4 KiB aligned");
            Assert.That(async & 0x1F, Is.EqualTo(0u));
            // Async head: H bit, halted, links to itself (4.8).
            Assert.That(dma.Read(async + EhciQh.EndpointCharacteristics) & EhciQh.HeadOfReclamationList, Is.Not.Zero);
            Assert.That(dma.Read(async + EhciQh.HorizontalLink), Is.EqualTo(async | EhciLink.TypeQh));
            // Every frame list entry is a QH link into the tree.
            for (uint f = 0; f < 1024; f++)
                Assert.That(dma.Read(periodic + f * 4) & 7, Is.EqualTo(EhciLink.TypeQh));
            Assert.That(hc.RootHub.PortCount, Is.EqualTo(6));
        }

        [Test]
        public void Reset_ThatNeverCompletes_IsBounded()
        {
            var regs = new FakeEhciRegisters(2) { ResetReads = -1 };
            var clock = new ManualClock();
            using var dma = new ArenaDma();
            var hc = NewController(regs, clock, dma);
            Assert.That(hc.Reset(), Is.EqualTo(UsbStatus.Timeout));
            Assert.That(clock.Milliseconds, Is.LessThanOrEqualTo(EhciController.ResetTimeoutMs + EhciController.HaltTimeoutMs + 10));
        }

        [Test]
        public void Start_RunsAndSetsConfigFlag()
        {
            var regs = new FakeEhciRegisters(4);
            var clock = new ManualClock();
            using var dma = new ArenaDma();
            var hc = NewController(regs, clock, dma);
            Assert.That(hc.Reset(), Is.EqualTo(UsbStatus.Ok));
            var stack = new UsbStack(clock, new InlineThreading());
            stack.AddController(hc, dma);
            uint cmd = regs.OpReg(EhciOp.USBCMD);
            Assert.That(cmd & (UsbCmd.RunStop | UsbCmd.AsyncScheduleEnable | UsbCmd.PeriodicScheduleEnable),
                        Is.EqualTo(UsbCmd.RunStop | UsbCmd.AsyncScheduleEnable | UsbCmd.PeriodicScheduleEnable));
            Assert.That(regs.OpReg(EhciOp.CONFIGFLAG), Is.EqualTo(ConfigFlag.ConfigureFlag));
            Assert.That(regs.OpReg(EhciOp.USBINTR), Is.EqualTo(UsbSts.Enabled));
            for (int p = 1; p <= 4; p++)
                Assert.That(regs.PortSc(p) & Sc.PortPower, Is.Not.Zero, "PPC: ports powered");
            Assert.That(hc.IsRunning, Is.True);
        }

        static FakeEhciConfig ConfigWithLegacy(bool biosOwned, bool releases)
        {
            var cfg = new FakeEhciConfig { BiosReleases = releases };
            // A vendor capability first (ID 0x0A), then USBLEGSUP at 0x6C.
            cfg.Set32(0x68, 0x0A | (0x6Cu << 8));
            cfg.Set32(0x6C, EhciExtCap.LegacySupportId | (biosOwned ? EhciExtCap.BiosOwnedSemaphore : 0));
            cfg.Set32(0x70, 0xE000_003F); // SMI enables and pending SMI status
            cfg.LegSup = 0x6C;
            return cfg;
        }

        [Test]
        public void Handoff_BiosReleases()
        {
            var cfg = ConfigWithLegacy(true, true);
            var clock = new ManualClock();
            Assert.That(EhciHandoff.FindLegacySupport(cfg, default, 0x68), Is.EqualTo(0x6C));
            Assert.That(EhciHandoff.TakeOwnership(cfg, default, 0x68, clock, "t: "), Is.EqualTo(EhciHandoff.Result.Released));
            Assert.That(cfg.Get32(0x6C) & EhciExtCap.OsOwnedSemaphore, Is.Not.Zero);
            Assert.That(cfg.Get32(0x6C) & EhciExtCap.BiosOwnedSemaphore, Is.Zero);
            Assert.That(cfg.Get32(0x70), Is.Zero, "SMIs off");
            Assert.That(clock.Milliseconds, Is.LessThan(EhciHandoff.BiosTimeoutMs));
        }

        [Test]
        public void Handoff_BiosNeverLetsGo_IsForcedWithinOneSecond()
        {
            var cfg = ConfigWithLegacy(true, false);
            var clock = new ManualClock();
            Assert.That(EhciHandoff.TakeOwnership(cfg, default, 0x68, clock, "t: "), Is.EqualTo(EhciHandoff.Result.Forced));
            Assert.That(clock.Milliseconds, Is.InRange(EhciHandoff.BiosTimeoutMs, EhciHandoff.BiosTimeoutMs + 20));
            Assert.That(cfg.Get32(0x6C) & EhciExtCap.BiosOwnedSemaphore, Is.Zero, "BIOS semaphore forced off");
            Assert.That(cfg.Get32(0x6C) & EhciExtCap.OsOwnedSemaphore, Is.Not.Zero);
            Assert.That(cfg.Get32(0x70), Is.Zero, "USBLEGCTLSTS zeroed");
        }

        [Test]
        public void Handoff_NoCapability_AndLoopingList_AreHarmless()
        {
            var cfg = new FakeEhciConfig();
            var clock = new ManualClock();
            Assert.That(EhciHandoff.TakeOwnership(cfg, default, 0, clock, "t: "), Is.EqualTo(EhciHandoff.Result.NoCapability));
            cfg.Set32(0x68, 0x0A | (0x68u << 8)); // points at itself
            Assert.That(EhciHandoff.TakeOwnership(cfg, default, 0x68, clock, "t: "), Is.EqualTo(EhciHandoff.Result.NoCapability));
            var notOwned = ConfigWithLegacy(false, true);
            Assert.That(EhciHandoff.TakeOwnership(notOwned, default, 0x68, clock, "t: "), Is.EqualTo(EhciHandoff.Result.NotOwned));
        }

        static EhciRootHub RootHub(FakeEhciRegisters regs, ManualClock clock) =>
            new EhciRootHub(regs, FakeEhciRegisters.CapLength, clock, regs.Caps[1], "t: ");

        static void Status(EhciRootHub hub, int port, out ushort status, out ushort change)
        {
            var data = new byte[4];
            var setup = new SetupPacket(HubClass.FromPort, UsbRequestCode.GetStatus, 0, (ushort)port, 4);
            Assert.That(hub.Control(setup, data, out int actual), Is.EqualTo(UsbStatus.Ok));
            Assert.That(actual, Is.EqualTo(4));
            status = (ushort)(data[0] | data[1] << 8);
            change = (ushort)(data[2] | data[3] << 8);
        }

        static UsbStatus SetPort(EhciRootHub hub, int port, ushort feature) =>
            hub.Control(new SetupPacket(HubClass.ToPort, UsbRequestCode.SetFeature, feature, (ushort)port, 0), Span<byte>.Empty, out _);
        static UsbStatus ClearPort(EhciRootHub hub, int port, ushort feature) =>
            hub.Control(new SetupPacket(HubClass.ToPort, UsbRequestCode.ClearFeature, feature, (ushort)port, 0), Span<byte>.Empty, out _);

        [Test]
        public void HighSpeedDevice_ResetEnablesThePort()
        {
            var regs = new FakeEhciRegisters(4);
            var clock = new ManualClock();
            var hub = RootHub(regs, clock);
            hub.PowerOn();
            regs.Connect(2, FakeEhciRegisters.UsbSpeedKind.High);
            var bitmap = new byte[2];
            Assert.That(hub.StatusData(bitmap), Is.EqualTo(1));
            Assert.That(bitmap[0], Is.EqualTo(1 << 2));
            Status(hub, 2, out ushort st, out ushort ch);
            Assert.That(st & HubClass.StatusConnection, Is.Not.Zero);
            Assert.That(ch & HubClass.ChangeConnection, Is.Not.Zero);
            Assert.That(ClearPort(hub, 2, HubClass.CPortConnection), Is.EqualTo(UsbStatus.Ok));
            Assert.That(regs.PortSc(2) & Sc.ConnectStatusChange, Is.Zero);

            ulong before = clock.Milliseconds;
            Assert.That(SetPort(hub, 2, HubClass.PortReset), Is.EqualTo(UsbStatus.Ok));
            Assert.That(clock.Milliseconds - before, Is.GreaterThanOrEqualTo(EhciRootHub.ResetMs), "TDRSTR");
            Status(hub, 2, out st, out ch);
            Assert.That(st & HubClass.StatusEnable, Is.Not.Zero);
            Assert.That(st & HubClass.StatusHighSpeed, Is.Not.Zero);
            Assert.That(st & HubClass.StatusReset, Is.Zero);
            Assert.That(ch & HubClass.ChangeReset, Is.Not.Zero);
            Assert.That(regs.PortSc(2) & Sc.PortOwner, Is.Zero);
            ClearPort(hub, 2, HubClass.CPortReset);
            Status(hub, 2, out _, out ch);
            Assert.That(ch, Is.Zero);
        }

        [Test]
        public void FullSpeedDevice_NotEnabledAfterReset_GoesToTheCompanion()
        {
            var regs = new FakeEhciRegisters(4);
            var clock = new ManualClock();
            var hub = RootHub(regs, clock);
            hub.PowerOn();
            regs.Connect(1, FakeEhciRegisters.UsbSpeedKind.Full);
            ClearPort(hub, 1, HubClass.CPortConnection);
            Assert.That(SetPort(hub, 1, HubClass.PortReset), Is.EqualTo(UsbStatus.Ok));
            Assert.That(regs.PortSc(1) & Sc.PortOwner, Is.Not.Zero, "PORT_OWNER");
            Status(hub, 1, out ushort st, out _);
            Assert.That(st & (HubClass.StatusConnection | HubClass.StatusEnable), Is.Zero, "the port reads empty to the hub driver");
            Assert.That(hub.HandedToCompanion, Is.EqualTo(1));
        }

        [Test]
        public void LowSpeedDevice_KState_GoesToTheCompanionWithoutAReset()
        {
            var regs = new FakeEhciRegisters(4);
            var clock = new ManualClock();
            var hub = RootHub(regs, clock);
            regs.Connect(3, FakeEhciRegisters.UsbSpeedKind.Low);
            int writesBefore = regs.Writes.Count;
            Assert.That(SetPort(hub, 3, HubClass.PortReset), Is.EqualTo(UsbStatus.Ok));
            Assert.That(regs.PortSc(3) & Sc.PortOwner, Is.Not.Zero);
            Assert.That(regs.Writes.GetRange(writesBefore, regs.Writes.Count - writesBefore).Exists(w => (w.Value & Sc.PortReset) != 0), Is.False, "no reset");
            Assert.That(clock.Milliseconds, Is.LessThan(EhciRootHub.ResetMs));
        }

        [Test]
        public void NoCompanions_FullSpeedDeviceStaysAndIsReportedDisabled()
        {
            var regs = new FakeEhciRegisters(2, companions: false);
            var clock = new ManualClock();
            var hub = RootHub(regs, clock);
            regs.Connect(1, FakeEhciRegisters.UsbSpeedKind.Full);
            SetPort(hub, 1, HubClass.PortReset);
            Assert.That(regs.PortSc(1) & Sc.PortOwner, Is.Zero);
            Status(hub, 1, out ushort st, out _);
            Assert.That(st & HubClass.StatusEnable, Is.Zero);
            Assert.That(st & HubClass.StatusConnection, Is.Not.Zero);
        }

        [Test]
        public void StuckPortReset_IsBounded()
        {
            var regs = new FakeEhciRegisters(2) { StuckResetPort = 2 };
            var clock = new ManualClock();
            var hub = RootHub(regs, clock);
            regs.Connect(2, FakeEhciRegisters.UsbSpeedKind.High);
            Assert.That(SetPort(hub, 2, HubClass.PortReset), Is.EqualTo(UsbStatus.Timeout));
            Assert.That(clock.Milliseconds, Is.LessThanOrEqualTo(EhciRootHub.ResetMs + EhciRootHub.ResetClearTimeoutMs + 2));
        }

        [Test]
        public void SetAndClearFeatures_NeverAcknowledgeOtherChanges()
        {
            var regs = new FakeEhciRegisters(2);
            var clock = new ManualClock();
            var hub = RootHub(regs, clock);
            regs.Connect(1, FakeEhciRegisters.UsbSpeedKind.High);
            SetPort(hub, 1, HubClass.PortPower);
            ClearPort(hub, 1, HubClass.CPortEnable);
            Assert.That(regs.PortSc(1) & Sc.ConnectStatusChange, Is.Not.Zero, "CSC survives unrelated writes");
            ClearPort(hub, 1, HubClass.PortPower);
            Assert.That(regs.PortSc(1) & Sc.PortPower, Is.Zero, "PPC: power switched off");
            Status(hub, 1, out ushort st, out _);
            Assert.That(st & HubClass.StatusPower, Is.Zero);
        }

        [Test]
        public void HubDescriptor_DescribesThePorts()
        {
            var regs = new FakeEhciRegisters(6);
            var hub = RootHub(regs, new ManualClock());
            var d = new byte[16];
            var setup = new SetupPacket(HubClass.FromHub, UsbRequestCode.GetDescriptor, (ushort)(DescriptorType.Hub << 8), 0, 16);
            Assert.That(hub.Control(setup, d, out int n), Is.EqualTo(UsbStatus.Ok));
            Assert.That(n, Is.EqualTo(9));
            Assert.That(d[0], Is.EqualTo(9));
            Assert.That(d[1], Is.EqualTo(DescriptorType.Hub));
            Assert.That(d[2], Is.EqualTo(6));
            Assert.That(d[3] & 3, Is.EqualTo(1), "per-port power switching (PPC)");
        }
    }
}
