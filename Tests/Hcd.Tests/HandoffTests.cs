using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Hcd.Ehci;
using Drivers.Usb.Hcd.Ohci;
using Drivers.Usb.Hcd.Uhci;
using Drivers.Usb.Hcd.Xhci;
using Hcd.Tests.Ehci;
using Hcd.Tests.Ohci;
using Hcd.Tests.Xhci;
using NUnit.Framework;
using Platform;
using Platform.Pci;
using Tests.Support;

namespace Hcd.Tests
{
    /// <summary>Collects log lines while a test runs.</summary>
    public sealed class LogCapture : ILogSink, System.IDisposable
    {
        public readonly List<string> Lines = new();
        public LogCapture(IClock clock) => Log.Attach(this, clock);
        public void WriteLine(LogLevel level, string line) { lock (Lines) Lines.Add(line); }
        public bool Contains(string fragment) { lock (Lines) return Lines.Exists(l => l.Contains(fragment)); }
        public override string ToString() { lock (Lines) return string.Join("\n", Lines); }
        public void Dispose() => Log.Attach(null, null);
    }

    /// <summary>
    /// UHCI USBLEGSUP as the PIIX4 datasheet (2.2.12) describes it: bits 15 and 11-8 are write-1-to-clear
    /// status, bits 14, 12 and 6 read-only, the rest read/write. Optionally SMM firmware that turns
    /// its keyboard emulation back on after every write (the hand-off must notice).
    /// </summary>
    public sealed class FakeUhciLegacyConfig : IPciConfigSpace
    {
        const ushort WriteClear = 0x8F00, ReadOnly = 0x5040;
        public ushort LegSup;
        public bool FirmwareFightsBack;
        public readonly List<ushort> Writes = new();

        public ushort Read16(PciAddress address, ushort offset) => offset == UhciPciConfig.USBLEGSUP ? LegSup : (ushort)0;
        public void Write16(PciAddress address, ushort offset, ushort value)
        {
            Assert.That(offset, Is.EqualTo(UhciPciConfig.USBLEGSUP), "only USBLEGSUP is written");
            Writes.Add(value);
            ushort kept = (ushort)(LegSup & ReadOnly);
            ushort status = (ushort)(LegSup & WriteClear & ~value);
            ushort readWrite = (ushort)(value & ~(WriteClear | ReadOnly));
            LegSup = (ushort)(kept | status | readWrite);
            if (FirmwareFightsBack) LegSup |= 0x0010 | 0x000F;   // SMI on IRQ and the 60h/64h traps again
        }
        public uint Read32(PciAddress address, ushort offset) => Read16(address, offset);
        public void Write32(PciAddress address, ushort offset, uint value) => Write16(address, offset, (ushort)value);
        public byte Read8(PciAddress address, ushort offset) => (byte)Read16(address, offset);
        public void Write8(PciAddress address, ushort offset, byte value) => Write16(address, offset, value);
    }

    /// <summary>
    /// Firmware hand-off of all four controller types on simulated registers and configuration space:
    /// each takes the controller when the firmware cooperates, and when it does not the wait is
    /// bounded, a line is logged and the controller is taken anyway (Linux pci-quirks.c, the specs).
    /// </summary>
    [TestFixture]
    public class HandoffTests
    {
        // ---- UHCI: USBLEGSUP (PIIX4 2.2.12; Linux uhci_reset_hc) ----

        [Test]
        public void Uhci_ClearsEveryEnableAndStatus_ThenRoutesTheInterruptToPci()
        {
            var clock = new ManualClock();
            using var log = new LogCapture(clock);
            // SeaBIOS-like: keyboard emulation traps and SMI on IRQ on, PIRQ on, a trap status and the RO IRQ status set.
            var config = new FakeUhciLegacyConfig { LegSup = 0x2000 | 0x001F | 0x0100 | 0x1000 };
            Assert.That(UhciHandoff.DisableLegacySupport(config, default, "uhci: "), Is.True);
            Assert.That(config.LegSup & UhciHandoff.EnableBits, Is.Zero, "no traps, no SMI");
            Assert.That(config.LegSup & 0x2000, Is.Zero, "PIRQ off while the controller is reset");
            Assert.That(config.LegSup & 0x8F00, Is.Zero, "trap status acknowledged");
            Assert.That(log.Contains("took over from the BIOS's legacy USB support (USBLEGSUP 311f)"), Is.True, log.ToString());
            UhciHandoff.RouteInterruptToPci(config, default);
            Assert.That(config.LegSup & ~0x5040, Is.EqualTo(0x2000), "only PIRQ enable, as Linux's USBLEGSUP_DEFAULT");
        }

        [Test]
        public void Uhci_NothingToTakeOver_IsQuiet()
        {
            var clock = new ManualClock();
            using var log = new LogCapture(clock);
            var config = new FakeUhciLegacyConfig { LegSup = 0x2000 };
            Assert.That(UhciHandoff.DisableLegacySupport(config, default, "uhci: "), Is.True);
            Assert.That(log.Lines, Is.Empty);
        }

        [Test]
        public void Uhci_FirmwareThatKeepsItsTraps_IsLogged()
        {
            var clock = new ManualClock();
            using var log = new LogCapture(clock);
            var config = new FakeUhciLegacyConfig { LegSup = 0x001F, FirmwareFightsBack = true };
            Assert.That(UhciHandoff.DisableLegacySupport(config, default, "uhci: "), Is.False);
            Assert.That(log.Contains("BIOS legacy support did not turn off (USBLEGSUP 001f)"), Is.True, log.ToString());
            Assert.That(config.Writes, Has.Count.EqualTo(1), "one write, no waiting loop");
        }

        // ---- OHCI: InterruptRouting / OwnershipChangeRequest (OpenHCI 1.0a 5.1.1.3.3) ----

        static OhciController Ohci(FakeOhciRegisters regs, ManualClock clock, ArenaDma dma) =>
            new OhciController(regs, clock, new InlineThreading(), dma, "0000:00:05.0");

        [Test]
        public void Ohci_UnmasksOwnershipChangeBeforeRequestingIt_AndKeepsRemoteWakeupConnected()
        {
            var regs = new FakeOhciRegisters(2);
            regs.Regs[OhciReg.HcControl / 4] = HcControl.InterruptRouting | HcControl.RemoteWakeupConnected | HcControl.UsbOperational;
            var clock = new ManualClock();
            using var log = new LogCapture(clock);
            using var dma = new ArenaDma();
            Assert.That(Ohci(regs, clock, dma).Reset(), Is.EqualTo(UsbStatus.Ok));
            int unmask = regs.Writes.FindIndex(w => w.Offset == OhciReg.HcInterruptEnable && (w.Value & HcInterrupt.OwnershipChange) != 0);
            int request = regs.Writes.FindIndex(w => w.Offset == OhciReg.HcCommandStatus && (w.Value & HcCommandStatus.OwnershipChangeRequest) != 0);
            Assert.That(unmask, Is.GreaterThanOrEqualTo(0).And.LessThan(request), "OwnershipChange unmasked first: it is what raises the SMI");
            uint control = regs.Regs[OhciReg.HcControl / 4];
            Assert.That(control & HcControl.InterruptRouting, Is.Zero);
            Assert.That(control & HcControl.RemoteWakeupConnected, Is.Not.Zero, "the firmware's RWC survives the reset");
            Assert.That(log.Contains("USB HC taken over from SMM firmware"), Is.True, log.ToString());
            Assert.That(clock.Milliseconds, Is.LessThan(OhciController.HandoffTimeoutMs));
        }

        [Test]
        public void Ohci_SmmThatNeverLetsGo_IsBoundedLoggedAndResetAnyway()
        {
            var regs = new FakeOhciRegisters(1) { SmmReleaseAfter = -1 };
            regs.Regs[OhciReg.HcControl / 4] = HcControl.InterruptRouting;
            var clock = new ManualClock();
            using var log = new LogCapture(clock);
            using var dma = new ArenaDma();
            Assert.That(Ohci(regs, clock, dma).Reset(), Is.EqualTo(UsbStatus.Ok));
            Assert.That(clock.Milliseconds, Is.InRange(OhciController.HandoffTimeoutMs, OhciController.HandoffTimeoutMs + 10));
            Assert.That(log.Contains("USB HC takeover failed! (BIOS/SMM bug) HcControl 00000100; resetting it anyway"), Is.True, log.ToString());
            Assert.That(regs.Regs[OhciReg.HcControl / 4] & HcControl.InterruptRouting, Is.Zero, "interrupts routed to the OS regardless");
        }

        // ---- EHCI: USBLEGSUP / USBLEGCTLSTS (EHCI 1.0 5.1, 5.2; Linux ehci_bios_handoff) ----

        static FakeEhciConfig EhciConfig(bool biosOwned, bool releases)
        {
            var cfg = new FakeEhciConfig { BiosReleases = releases, LegSup = 0x68 };
            cfg.Set32(0x68, EhciExtCap.LegacySupportId | (biosOwned ? EhciExtCap.BiosOwnedSemaphore : 0));
            cfg.Set32(0x6C, 0x0000_0001);    // USB SMI enable, as a BIOS leaves it
            return cfg;
        }

        sealed class RecordingConfig : IPciConfigSpace
        {
            readonly FakeEhciConfig _inner;
            public readonly List<(ushort Offset, uint Value, int Width)> Writes = new();
            public RecordingConfig(FakeEhciConfig inner) => _inner = inner;
            public uint Read32(PciAddress a, ushort o) => _inner.Read32(a, o);
            public void Write32(PciAddress a, ushort o, uint v) { Writes.Add((o, v, 4)); _inner.Write32(a, o, v); }
            public ushort Read16(PciAddress a, ushort o) => _inner.Read16(a, o);
            public void Write16(PciAddress a, ushort o, ushort v) { Writes.Add((o, v, 2)); _inner.Write16(a, o, v); }
            public byte Read8(PciAddress a, ushort o) => _inner.Read8(a, o);
            public void Write8(PciAddress a, ushort o, byte v) { Writes.Add((o, v, 1)); _inner.Write8(a, o, v); }
        }

        [Test]
        public void Ehci_EnablesTheOwnershipSmiBeforeSettingTheOsSemaphore()
        {
            var inner = EhciConfig(biosOwned: true, releases: true);
            var cfg = new RecordingConfig(inner);
            var clock = new ManualClock();
            using var log = new LogCapture(clock);
            Assert.That(EhciHandoff.TakeOwnership(cfg, default, 0x68, clock, "ehci: "), Is.EqualTo(EhciHandoff.Result.Released));
            int smi = cfg.Writes.FindIndex(w => w.Offset == 0x6C && (w.Value & EhciExtCap.SmiOnOsOwnershipEnable) != 0);
            int os = cfg.Writes.FindIndex(w => w.Offset == 0x68 + EhciExtCap.OsSemaphoreByte && w.Width == 1 && w.Value == 1);
            Assert.That(smi, Is.GreaterThanOrEqualTo(0).And.LessThan(os), "SMI on OS Ownership Enable, then the OS semaphore");
            Assert.That(inner.Get32(0x68) & EhciExtCap.BiosOwnedSemaphore, Is.Zero);
            Assert.That(inner.Get32(0x6C), Is.Zero, "every SMI off at the end");
            Assert.That(log.Lines, Is.Empty, log.ToString());
        }

        [Test]
        public void Ehci_NotOwnedByTheBios_LeavesTheOsSemaphoreAlone()
        {
            var inner = EhciConfig(biosOwned: false, releases: true);
            var cfg = new RecordingConfig(inner);
            Assert.That(EhciHandoff.TakeOwnership(cfg, default, 0x68, new ManualClock(), "ehci: "), Is.EqualTo(EhciHandoff.Result.NotOwned));
            Assert.That(inner.Get32(0x68) & EhciExtCap.OsOwnedSemaphore, Is.Zero, "Linux: some firmware is upset by the semaphore set for no hand-off");
            Assert.That(cfg.Writes.TrueForAll(w => w.Offset == 0x6C), Is.True, "only USBLEGCTLSTS is written");
            Assert.That(inner.Get32(0x6C), Is.Zero, "SMIs still disabled");
        }

        [Test]
        public void Ehci_BiosThatNeverLetsGo_IsBoundedLoggedAndForced()
        {
            var inner = EhciConfig(biosOwned: true, releases: false);
            var clock = new ManualClock();
            using var log = new LogCapture(clock);
            Assert.That(EhciHandoff.TakeOwnership(inner, default, 0x68, clock, "ehci: "), Is.EqualTo(EhciHandoff.Result.Forced));
            Assert.That(clock.Milliseconds, Is.InRange(EhciHandoff.BiosTimeoutMs, EhciHandoff.BiosTimeoutMs + 20));
            Assert.That(log.Contains("EHCI: BIOS handoff failed (BIOS bug?) 01010001; taking the controller anyway"), Is.True, log.ToString());
            Assert.That(inner.Get32(0x68) & (EhciExtCap.BiosOwnedSemaphore | EhciExtCap.OsOwnedSemaphore), Is.EqualTo(EhciExtCap.OsOwnedSemaphore));
        }

        // ---- xHCI: USB Legacy Support Capability (xHCI 1.2 7.1; Linux quirk_usb_handoff_xhci) ----

        const uint Xecp = 0x500;
        /// <summary>USBLEGCTLSTS reserved bits (RsvdP: software preserves them) — 3:1, 12:5, 19:17.</summary>
        const uint LegCtlReserved = (0x7u << 1) | (0xFFu << 5) | (0x7u << 17);

        /// <summary>
        /// A legacy capability with the register semantics of 7.1: the BIOS semaphore drops once the OS
        /// semaphore is set (unless <paramref name="stubborn"/>), SMI event bits 31:29 are write-1-to-clear.
        /// </summary>
        static FakeXhciRegisters XhciLegacyRegs(bool stubborn, out System.Func<bool> biosSawRequest)
        {
            var r = new FakeXhciRegisters();
            r[Xecp] = XhciExtCap.IdLegacySupport | XhciExtCap.BiosOwnedSemaphore;
            r[Xecp + 4] = XhciExtCap.SmiUsbEnable | XhciExtCap.SmiOsOwnershipEnable | XhciExtCap.SmiBarEnable |
                          (0x5u << 1) | (0x3u << 17) | XhciExtCap.SmiEvents;
            bool requested = false;
            biosSawRequest = () => requested;
            r.OnWrite = (offset, value) =>
            {
                if (offset == Xecp)
                {
                    requested |= (value & XhciExtCap.OsOwnedSemaphore) != 0;
                    uint bios = stubborn && (value & XhciExtCap.BiosOwnedSemaphore) != 0 ? XhciExtCap.BiosOwnedSemaphore : 0;
                    if (!stubborn && (value & XhciExtCap.OsOwnedSemaphore) == 0) bios = value & XhciExtCap.BiosOwnedSemaphore;
                    r.Regs[offset] = (r[offset] & 0xFFFF) | (value & XhciExtCap.OsOwnedSemaphore) | bios;
                }
                else if (offset == Xecp + 4)
                    r.Regs[offset] = (value & ~XhciExtCap.SmiEvents) | (r[offset] & XhciExtCap.SmiEvents & ~value);
                else
                    r.Regs[offset] = value;
            };
            return r;
        }

        [Test]
        public void Xhci_BiosLetsGo_SmisOffEventsAcknowledgedReservedBitsKept()
        {
            var r = XhciLegacyRegs(stubborn: false, out var requested);
            var clock = new ManualClock();
            Assert.That(XhciLegacy.TakeOwnership(r, Xecp, clock), Is.True);
            Assert.That(requested(), Is.True);
            Assert.That(r[Xecp] & (XhciExtCap.BiosOwnedSemaphore | XhciExtCap.OsOwnedSemaphore), Is.EqualTo(XhciExtCap.OsOwnedSemaphore));
            uint ctl = r[Xecp + 4];
            Assert.That(ctl & XhciExtCap.SmiEnables, Is.Zero, "every SMI enable off");
            Assert.That(ctl & XhciExtCap.SmiEvents, Is.Zero, "pending SMI events cleared (RW1C)");
            Assert.That(ctl & LegCtlReserved, Is.EqualTo((0x5u << 1) | (0x3u << 17)), "RsvdP bits preserved");
            Assert.That(clock.Milliseconds, Is.LessThan(XhciLegacy.HandoffTimeoutMs));
        }

        [Test]
        public void Xhci_BiosNeverLetsGo_IsBoundedForcedAndLoggedByTheController()
        {
            var r = XhciLegacyRegs(stubborn: true, out _);
            var clock = new ManualClock();
            Assert.That(XhciLegacy.TakeOwnership(r, Xecp, clock), Is.False);
            Assert.That(clock.Milliseconds, Is.InRange(XhciLegacy.HandoffTimeoutMs, XhciLegacy.HandoffTimeoutMs + 20));
            Assert.That(r[Xecp] & XhciExtCap.BiosOwnedSemaphore, Is.Zero, "forced off");
            Assert.That(r[Xecp + 4] & XhciExtCap.SmiEnables, Is.Zero);
        }
    }
}
