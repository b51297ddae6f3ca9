using System.Collections.Generic;

namespace Platform.Acpi
{
    /// <summary>
    /// One I/O APIC's registers (Intel 82093AA I/O APIC datasheet, 3.0 and 3.2; the same in the ICH/PCH
    /// IOxAPIC): two memory-mapped registers, IOREGSEL at offset 00h selects an indirect register and IOWIN
    /// at 10h reads or writes it. The indirect registers are IOAPICID (00h), IOAPICVER (01h: version in bits
    /// 7:0, maximum redirection entry in bits 23:16) and the redirection table IOREDTBL[n] at 10h + 2n
    /// (low dword) and 11h + 2n (high dword). Every entry is masked before anything is routed.
    /// </summary>
    public sealed class IoApicChip
    {
        public const uint RegisterSelect = 0x00, RegisterWindow = 0x10;
        public const byte IdRegister = 0x00, VersionRegister = 0x01, RedirectionTableBase = 0x10;
        const int VersionMask = 0xFF, MaxEntryShift = 16, MaxEntryMask = 0xFF;
        /// <summary>The window covers 4 KiB of MMIO (82093AA 3.0: FEC0xy00h, 1 KiB apart).</summary>
        public const uint MmioSize = 4096;

        readonly IRegisterBlock _mmio;
        /// <summary>Low dwords last written, for the shell's listing and for mask/unmask without a read-modify-write race.</summary>
        readonly uint[] _low;

        public byte Id;
        public uint Address;
        public uint GsiBase;
        public readonly byte Version;
        /// <summary>Redirection entries (maximum redirection entry + 1): 24 on the 82093AA and QEMU.</summary>
        public readonly int Entries;

        public IoApicChip(IRegisterBlock mmio, byte id, uint address, uint gsiBase)
        {
            _mmio = mmio;
            Id = id;
            Address = address;
            GsiBase = gsiBase;
            uint version = Read(VersionRegister);
            Version = (byte)(version & VersionMask);
            Entries = (int)((version >> MaxEntryShift) & MaxEntryMask) + 1;
            _low = new uint[Entries];
        }

        public uint Read(byte register)
        {
            _mmio.Write32(RegisterSelect, register);
            return _mmio.Read32(RegisterWindow);
        }

        public void Write(byte register, uint value)
        {
            _mmio.Write32(RegisterSelect, register);
            _mmio.Write32(RegisterWindow, value);
        }

        public bool Handles(uint gsi) => gsi >= GsiBase && gsi - GsiBase < (uint)Entries;

        /// <summary>Masks every redirection entry (edge, high, vector 0): what the firmware left is not trusted.</summary>
        public void MaskAll()
        {
            for (int pin = 0; pin < Entries; pin++)
                Program(pin, RedirectionEntry.Masked);
        }

        /// <summary>Writes one entry: high dword (destination) first while the low dword keeps it masked, then the low dword.</summary>
        public void Program(int pin, ulong entry)
        {
            if ((uint)pin >= (uint)Entries)
                return;
            byte low = (byte)(RedirectionTableBase + 2 * pin);
            Write(low, RedirectionEntry.MaskBit | (_low[pin] & ~RedirectionEntry.MaskBit));
            Write((byte)(low + 1), (uint)(entry >> 32));
            Write(low, (uint)entry);
            _low[pin] = (uint)entry;
        }

        public void SetMasked(int pin, bool masked)
        {
            if ((uint)pin >= (uint)Entries)
                return;
            uint value = masked ? _low[pin] | RedirectionEntry.MaskBit : _low[pin] & ~RedirectionEntry.MaskBit;
            Write((byte)(RedirectionTableBase + 2 * pin), value);
            _low[pin] = value;
        }

        /// <summary>The whole entry as the chip holds it now (delivery status and remote IRR included).</summary>
        public ulong ReadEntry(int pin)
        {
            byte low = (byte)(RedirectionTableBase + 2 * pin);
            return Read(low) | (ulong)Read((byte)(low + 1)) << 32;
        }
    }

    /// <summary>
    /// A redirection table entry (82093AA datasheet 3.2.4, IOREDTBL): vector bits 7:0, delivery mode 10:8
    /// (000 fixed), destination mode bit 11 (0 physical), delivery status 12 (read-only), interrupt input pin
    /// polarity 13 (0 high, 1 low), remote IRR 14 (read-only), trigger mode 15 (0 edge, 1 level), mask 16,
    /// destination 63:56 (the local APIC id in physical mode).
    /// </summary>
    public static class RedirectionEntry
    {
        public const uint VectorMask = 0xFF;
        public const int DeliveryModeShift = 8;
        public const uint DeliveryModeFixed = 0;
        public const uint DestinationLogical = 1 << 11;
        public const uint DeliveryStatus = 1 << 12;
        public const uint PolarityLow = 1 << 13;
        public const uint RemoteIrr = 1 << 14;
        public const uint TriggerLevel = 1 << 15;
        public const uint MaskBit = 1 << 16;
        public const int DestinationShift = 56;
        /// <summary>Vectors below 16 are reserved (the chip refuses them); only 0x10-0xFE are valid.</summary>
        public const int FirstValidVector = 0x10;

        public const ulong Masked = MaskBit;

        /// <summary>Fixed delivery, physical destination <paramref name="apicId"/>.</summary>
        public static ulong Encode(int vector, bool level, bool activeLow, byte apicId, bool masked)
        {
            ulong entry = ((uint)vector & VectorMask) | DeliveryModeFixed << DeliveryModeShift;
            if (activeLow) entry |= PolarityLow;
            if (level) entry |= TriggerLevel;
            if (masked) entry |= MaskBit;
            return entry | (ulong)apicId << DestinationShift;
        }

        public static int Vector(ulong entry) => (int)(entry & VectorMask);
        public static bool IsLevel(ulong entry) => (entry & TriggerLevel) != 0;
        public static bool IsActiveLow(ulong entry) => (entry & PolarityLow) != 0;
        public static bool IsMasked(ulong entry) => (entry & MaskBit) != 0;
        public static byte Destination(ulong entry) => (byte)(entry >> DestinationShift);
    }

    /// <summary>Where an interrupt arrives and how: a Global System Interrupt with its trigger mode and polarity, and how that was decided.</summary>
    public struct InterruptRoute
    {
        public bool Valid;
        public uint Gsi;
        public bool Level;
        public bool ActiveLow;
        /// <summary>What decided it: "MP table", "Interrupt Line", "ISA", "INT_SRC_OVR".</summary>
        public string Source;

        /// <summary>"level, low" as Linux prints it.</summary>
        public string Describe() => (Level ? "level" : "edge") + ", " + (ActiveLow ? "low" : "high");
    }

    /// <summary>
    /// Routing decisions for the I/O APIC: ISA IRQs through the MADT's interrupt source overrides (ACPI 6.5,
    /// 5.2.12.5), PCI INTx without _PRT (no AML interpreter): the MP table's I/O interrupt assignment when it has
    /// one for the function (MPS 1.4, 4.3.4 and D.3), else the function's Interrupt Line register taken as an
    /// ISA IRQ, mapped through the overrides, level-triggered and active low (the PCI defaults) unless an
    /// override says otherwise. A wrong guess shows as a silent line, which the controllers' interrupt
    /// watchdog turns into polling.
    /// On QEMU both deliver, on pc and on q35: SeaBIOS's MP table names, for each bus-0 device pin, the IOAPIC pin
    /// equal to the Interrupt Line it programmed (src/fw/mptable.c); on q35 the ICH9 LPC drives each PIRQ to IOAPIC
    /// pin 16-23 and, while PIRQx_ROUT routes it to ISA IRQ n, also to GSI line n, which QEMU's gsi_handler feeds to
    /// both the 8259 and IOAPIC pin n (hw/isa/lpc_ich9.c ich9_lpc_update_pic, hw/i386/x86.c gsi_handler). On real
    /// ICH/PCH boards the PIRQs reach the IOAPIC on pins 16-23, which their BIOS MP tables name; without an MP
    /// table the Interrupt Line guess may be wrong there, and the watchdog (or the nobody-cared counter) copes.
    /// </summary>
    public static class InterruptRouting
    {
        /// <summary>MPS INTI flags (MPS 1.4 table 4-10, ACPI 5.2.12.5 table 5.50): polarity bits 1:0, trigger bits 3:2.</summary>
        public const ushort PolarityMask = 0x3, PolarityConforms = 0, PolarityActiveHigh = 1, PolarityActiveLow = 3;
        public const int TriggerShift = 2;
        public const ushort TriggerMask = 0x3, TriggerConforms = 0, TriggerEdge = 1, TriggerLevel = 3;
        public const int IsaIrqs = 16;
        /// <summary>PCI Interrupt Line register: 0FFh is "unknown / no connection" (PCI Local Bus Spec 3.0, 6.2.4).</summary>
        public const byte NoInterruptLine = 0xFF;
        /// <summary>
        /// ISA IRQs no PCI line is ever routed to: 0, the system timer (also what firmware that routes nothing
        /// leaves in the Interrupt Line register), and 2, the 8259 cascade. Taking such a line as a PCI INTx
        /// would reprogram the timer's pin level-triggered; the device is polled instead (the watchdog).
        /// </summary>
        public static bool IsSystemIrq(byte irq) => irq == 0 || irq == 2;
        /// <summary>The MP table destination "every I/O APIC" (MPS 1.4, 4.3.4).</summary>
        public const byte AllIoApics = 0xFF;

        /// <summary>
        /// Applies MPS INTI flags: "conforms to the bus" keeps the bus default (ISA: edge, active high; PCI: level,
        /// active low); the reserved value 10b is treated like "conforms".
        /// </summary>
        public static void ApplyFlags(ushort flags, bool busDefaultLevel, bool busDefaultActiveLow, out bool level, out bool activeLow)
        {
            ushort polarity = (ushort)(flags & PolarityMask);
            ushort trigger = (ushort)((flags >> TriggerShift) & TriggerMask);
            activeLow = polarity == PolarityActiveLow ? true : polarity == PolarityActiveHigh ? false : busDefaultActiveLow;
            level = trigger == TriggerLevel ? true : trigger == TriggerEdge ? false : busDefaultLevel;
        }

        /// <summary>An ISA IRQ (0-15): its GSI and mode from an override for bus 0, else GSI = IRQ, edge, active high.</summary>
        public static InterruptRoute IsaIrq(AcpiInfo acpi, int irq)
        {
            var route = new InterruptRoute { Valid = (uint)irq < IsaIrqs, Gsi = (uint)irq, Source = "ISA" };
            if (acpi != null)
                for (int i = 0; i < acpi.Overrides.Count; i++)
                    if (acpi.Overrides[i].Bus == 0 && acpi.Overrides[i].Source == irq)
                    {
                        route.Gsi = acpi.Overrides[i].Gsi;
                        ApplyFlags(acpi.Overrides[i].Flags, false, false, out route.Level, out route.ActiveLow);
                        route.Source = "INT_SRC_OVR";
                        return route;
                    }
            return route;
        }

        /// <summary>
        /// The Linux-style IRQ number of a GSI: the ISA IRQ an override maps onto it (GSI 2 is IRQ 0 on a PC), else
        /// the GSI itself, unless that number is an ISA IRQ overridden onto another GSI (then -1: no number).
        /// </summary>
        public static int IrqForGsi(AcpiInfo acpi, uint gsi)
        {
            if (acpi != null)
                for (int i = 0; i < acpi.Overrides.Count; i++)
                    if (acpi.Overrides[i].Bus == 0 && acpi.Overrides[i].Gsi == gsi && acpi.Overrides[i].Source < IsaIrqs)
                        return acpi.Overrides[i].Source;
            if (gsi < IsaIrqs && IsaIrq(acpi, (int)gsi).Gsi != gsi)
                return -1;
            return gsi > int.MaxValue ? -1 : (int)gsi;
        }

        /// <summary>
        /// A PCI function's INTx: <paramref name="pin"/> 1-4 (INTA#-INTD#) of <paramref name="device"/> on <paramref name="bus"/>.
        /// First the MP table (its destination I/O APIC and pin give the GSI, through the MADT's GSI base for that
        /// I/O APIC id), else <paramref name="interruptLine"/> as an ISA IRQ. Invalid when neither gives anything.
        /// </summary>
        public static InterruptRoute PciIntx(AcpiInfo acpi, MpInfo mp, int bus, int device, int pin, byte interruptLine)
        {
            if (mp != null && mp.FindPciInterrupt(bus, device, pin, out MpInterrupt entry) &&
                MpDestinationToGsi(acpi, mp, entry.DestinationApicId, entry.DestinationPin, out uint gsi))
            {
                var route = new InterruptRoute { Valid = true, Gsi = gsi, Source = "MP table" };
                ApplyFlags(entry.Flags, true, true, out route.Level, out route.ActiveLow);
                return route;
            }
            if (pin == 0 || interruptLine == NoInterruptLine || interruptLine >= IsaIrqs || IsSystemIrq(interruptLine))
                return default;
            InterruptRoute line = IsaIrq(acpi, interruptLine);
            bool overridden = line.Source == "INT_SRC_OVR";
            ushort flags = 0;
            if (overridden)
                for (int i = 0; i < acpi.Overrides.Count; i++)
                    if (acpi.Overrides[i].Bus == 0 && acpi.Overrides[i].Source == interruptLine)
                        flags = acpi.Overrides[i].Flags;
            ApplyFlags(flags, true, true, out line.Level, out line.ActiveLow);
            line.Source = "Interrupt Line";
            return line;
        }

        /// <summary>
        /// An MP destination (I/O APIC id, INTIN#) as a GSI: the MADT I/O APIC with that id, else, with a single
        /// I/O APIC on either side (ids renumbered by firmware), that one; its GSI base plus the pin.
        /// </summary>
        public static bool MpDestinationToGsi(AcpiInfo acpi, MpInfo mp, byte apicId, byte pin, out uint gsi)
        {
            gsi = 0;
            if (acpi == null || acpi.IoApics.Count == 0)
                return false;
            for (int i = 0; i < acpi.IoApics.Count; i++)
                if (acpi.IoApics[i].Id == apicId)
                {
                    gsi = acpi.IoApics[i].GsiBase + pin;
                    return true;
                }
            if (acpi.IoApics.Count == 1 && (apicId == AllIoApics || mp == null || mp.IoApics.Count <= 1))
            {
                gsi = acpi.IoApics[0].GsiBase + pin;
                return true;
            }
            return false;
        }

        /// <summary>The chip whose GSI range holds <paramref name="gsi"/> and the pin on it, or null.</summary>
        public static IoApicChip FindChip(List<IoApicChip> chips, uint gsi, out int pin)
        {
            for (int i = 0; i < chips.Count; i++)
                if (chips[i].Handles(gsi))
                {
                    pin = (int)(gsi - chips[i].GsiBase);
                    return chips[i];
                }
            pin = -1;
            return null;
        }

        /// <summary>
        /// The kernel command line has <paramref name="word"/> as a whole word (Linux switches such as
        /// <c>noapic</c>: words separated by spaces, compared exactly).
        /// </summary>
        public static bool HasSwitch(string commandLine, string word)
        {
            if (commandLine == null || word == null || word.Length == 0)
                return false;
            int i = 0;
            while (i < commandLine.Length)
            {
                while (i < commandLine.Length && commandLine[i] == ' ') i++;
                int start = i;
                while (i < commandLine.Length && commandLine[i] != ' ') i++;
                if (i - start == word.Length && SameAt(commandLine, start, word))
                    return true;
            }
            return false;
        }

        static bool SameAt(string text, int start, string word)
        {
            for (int k = 0; k < word.Length; k++)
                if (text[start + k] != word[k])
                    return false;
            return true;
        }
    }
}

namespace Platform.Acpi
{
    /// <summary>
    /// Notices a line that fires with nobody to answer it, Linux's note_interrupt (kernel/irq/spurious.c) in
    /// miniature: of every <see cref="Window"/> interrupts on a line, more than <see cref="Limit"/> that no handler
    /// claimed (counted afresh when <see cref="QuietMs"/> passed since the last unclaimed one) mean a level-triggered
    /// input stuck asserted by a device nobody drives, a wrong routing guess. The line is then disabled (Linux:
    /// "irq N: nobody cared", "Disabling IRQ #N") instead of livelocking the CPU; the controllers routed to it go
    /// on by polling (Drivers.Usb.Hcd/Common/InterruptWatchdog.cs).
    /// </summary>
    public sealed class UnhandledInterruptCounter
    {
        public const int Window = 100000, Limit = 99900;
        public const ulong QuietMs = 100;

        int _count, _unhandled;
        ulong _lastUnhandledMs;

        /// <summary>Unclaimed interrupts in the current window.</summary>
        public int Unhandled => _unhandled;

        /// <summary>Notes one interrupt; true when the line must be disabled (at the end of a window, once).</summary>
        public bool Note(bool handled, ulong nowMs)
        {
            if (!handled)
            {
                if (_unhandled > 0 && nowMs - _lastUnhandledMs > QuietMs)
                    _unhandled = 1;
                else
                    _unhandled++;
                _lastUnhandledMs = nowMs;
            }
            if (++_count < Window)
                return false;
            bool stuck = _unhandled > Limit;
            _count = 0;
            _unhandled = 0;
            return stuck;
        }
    }
}
