using System.Collections.Generic;
using Kernel.Acpi;
using Kernel.Hal;
using Kernel.Memory;
using Platform;
using Platform.Acpi;

namespace Kernel.Interrupts
{
    /// <summary>
    /// The I/O APICs of the MADT (Intel 82093AA datasheet; ICH/PCH IOxAPIC), programmed the way Linux does
    /// in APIC mode: every chip mapped, its version and redirection-entry count read, every entry masked,
    /// then one entry per interrupt line attached (fixed delivery, physical destination = the boot CPU's
    /// local APIC id, polarity and trigger from the routing decision: Platform/Acpi/IoApicRouting.cs).
    /// The 8259 PICs stay initialized and remapped to vectors 32-47 (so a stray interrupt from them never
    /// looks like a CPU exception) but every line of theirs is masked, and the local APIC's LINT0 (where the
    /// 8259 arrives in virtual-wire mode) is masked too. Without a MADT I/O APIC, without a local APIC, or with
    /// <c>noapic</c> on the kernel command line the kernel stays in 8259 mode (PIC lines, MSIs through the
    /// local APIC), as before.
    /// </summary>
    internal static class IoApic
    {
        /// <summary>Linux's switch that keeps the 8259 (Documentation/admin-guide/kernel-parameters.txt).</summary>
        public const string NoApicSwitch = "noapic";

        /// <summary>IMCR (MPS 1.4, 3.6.2.1): select register 70h through port 22h, then write 01h to port 23h to route INTR/NMI to the APIC.</summary>
        const ushort ImcrSelectPort = 0x22, ImcrDataPort = 0x23;
        const byte ImcrSelect = 0x70, ImcrApicMode = 0x01;

        static readonly List<IoApicChip> s_chips = new List<IoApicChip>();

        /// <summary>True once legacy and PCI INTx interrupts go through the I/O APIC (APIC mode).</summary>
        public static bool Enabled { get; private set; }
        public static List<IoApicChip> Chips => s_chips;
        /// <summary>The MP configuration table (PCI INTx routing), or null when there is none or it is unusable.</summary>
        public static MpInfo Mp { get; private set; }
        public static AcpiInfo Acpi => KernelAcpi.Info;

        /// <summary>Decides the interrupt mode; must run before any interrupt line is attached.</summary>
        public static void Initialize(AcpiInfo acpi, string commandLine)
        {
            if (InterruptRouting.HasSwitch(commandLine, NoApicSwitch))
            {
                Log.Info("Skipping IOAPIC probe due to 'noapic' option; legacy 8259 PIC mode");
                return;
            }
            if (acpi == null || !acpi.HasMadt || acpi.IoApics.Count == 0)
            {
                Log.Info("APIC: no IOAPIC in the ACPI MADT; legacy 8259 PIC mode");
                return;
            }
            if (!LocalApic.Present)
            {
                Log.Info("APIC: no local APIC; legacy 8259 PIC mode");
                return;
            }
            for (int i = 0; i < acpi.IoApics.Count; i++)
            {
                IoApicEntry e = acpi.IoApics[i];
                if (!Paging.MapIdentity(e.Address, IoApicChip.MmioSize, uncached: true))
                {
                    Log.Warning("IOAPIC[" + Format.Decimal((ulong)i) + "]: cannot map 0x" + Format.Hex(e.Address, 8) + "; skipped");
                    continue;
                }
                var chip = new IoApicChip(new MmioRegisterBlock(e.Address), e.Id, e.Address, e.GsiBase);
                chip.MaskAll();
                s_chips.Add(chip);
                Log.Info("IOAPIC[" + Format.Decimal((ulong)i) + "]: apic_id " + Format.Decimal(e.Id) + ", version " + Format.Decimal(chip.Version) +
                         ", address 0x" + Format.Hex(e.Address, 8) + ", GSI " + Format.Decimal(e.GsiBase) + "-" +
                         Format.Decimal(e.GsiBase + (uint)chip.Entries - 1));
            }
            if (s_chips.Count == 0)
            {
                Log.Warning("APIC: no usable IOAPIC; legacy 8259 PIC mode");
                return;
            }
            LoadMpTable();
            if (Mp != null && Mp.ImcrPresent)
            {
                Log.Info("  Leaving PIC mode, enabling APIC mode.");
                Native.PortOut8(ImcrSelectPort, ImcrSelect);
                Native.PortOut8(ImcrDataPort, ImcrApicMode);
            }
            Pic.MaskAll();
            LocalApic.MaskLint0(true);
            Enabled = true;
            Log.Info("ENABLING IO-APIC IRQs: legacy IRQs and PCI INTx through the IOAPIC (8259 masked, EOI to the local APIC " +
                     Format.Decimal(LocalApic.Id) + ")");
        }

        /// <summary>Finds and reads the MP table (Linux: "found SMP MP-table at ..."): PCI INTx routing without _PRT.</summary>
        static void LoadMpTable()
        {
            ulong address = MpTables.FindFloatingPointer(IdentityMappedMemory.Instance);
            if (address == 0)
            {
                Log.Info("MPTABLE: none (no _MP_ floating pointer); PCI INTx from each function's Interrupt Line");
                return;
            }
            MpInfo mp = MpTables.Load(IdentityMappedMemory.Instance, address, out string error);
            if (mp == null)
            {
                Log.Warning("MPTABLE: " + error + "; PCI INTx from each function's Interrupt Line");
                return;
            }
            Log.Info("found SMP MP-table at [mem 0x" + Format.Hex(address, 8) + "-0x" + Format.Hex(address + MpTables.FloatingLength - 1, 8) + "]");
            if (mp.DefaultConfiguration != 0)
            {
                Log.Info("MPTABLE: default configuration " + Format.Decimal(mp.DefaultConfiguration) + " (no table); PCI INTx from each function's Interrupt Line");
                return;
            }
            Log.Info("Intel MultiProcessor Specification v1." + Format.Decimal(mp.SpecRevision) + (mp.ImcrPresent ? ", IMCR (PIC mode)" : ", virtual wire mode"));
            Log.Info("MPTABLE: OEM ID: " + mp.OemId + " Product ID: " + mp.ProductId + " APIC at: 0x" + Format.Hex(mp.LocalApicAddress, 8) + ", " +
                     Format.Decimal((ulong)mp.Buses.Count) + " buses, " + Format.Decimal((ulong)mp.Interrupts.Count) + " I/O interrupt entries");
            if (error != null)
                Log.Warning("MPTABLE: " + error);
            for (int i = 0; i < mp.Problems.Count; i++)
                Log.Warning(mp.Problems[i]);
            Mp = mp;
        }

        /// <summary>How long the boot waits for the first timer interrupt through the I/O APIC.</summary>
        const ulong TimerCheckMs = 250;

        /// <summary>
        /// Linux's check_timer in short: with interrupts on, the PIT's IRQ 0 must arrive through the I/O APIC within
        /// <see cref="TimerCheckMs"/>; if it does not (a wrong override on a real board), everything goes back to the 8259.
        /// </summary>
        public static void CheckTimer()
        {
            if (!Enabled)
                return;
            IrqLine timer = InterruptDispatcher.Line(InterruptDispatcher.TimerIrq);
            ulong start = Time.Clock.Instance.Milliseconds;
            while (timer != null && timer.Count == 0 && Time.Clock.Instance.Milliseconds - start < TimerCheckMs)
                Native.Pause();
            if (timer != null && timer.Count > 0)
            {
                Log.Info("..TIMER: vector=0x" + Format.Hex((ulong)timer.Vector, 2) + " apic1=0 pin1=" + Format.Decimal(timer.Gsi) + " apic2=-1 pin2=-1: IRQ 0 through the IOAPIC works");
                return;
            }
            Log.Warning("..MP-BIOS bug: 8254 timer not connected to IO-APIC (no tick in " + Format.Decimal(TimerCheckMs) + " ms); back to legacy 8259 PIC mode");
            InterruptDispatcher.FallBackToPic();
        }

        /// <summary>Programs and unmasks the entry of <paramref name="gsi"/>; false when no I/O APIC has that GSI.</summary>
        public static bool Route(uint gsi, int vector, bool level, bool activeLow)
        {
            IoApicChip chip = InterruptRouting.FindChip(s_chips, gsi, out int pin);
            if (chip == null)
                return false;
            chip.Program(pin, RedirectionEntry.Encode(vector, level, activeLow, (byte)LocalApic.Id, masked: false));
            return true;
        }

        public static void SetMasked(uint gsi, bool masked)
        {
            IoApicChip chip = InterruptRouting.FindChip(s_chips, gsi, out int pin);
            if (chip != null)
                chip.SetMasked(pin, masked);
        }

        /// <summary>The entry of a GSI as the chip holds it (for the shell), or false.</summary>
        public static bool ReadEntry(uint gsi, out ulong entry)
        {
            IoApicChip chip = InterruptRouting.FindChip(s_chips, gsi, out int pin);
            entry = chip == null ? 0 : chip.ReadEntry(pin);
            return chip != null;
        }

        /// <summary>Back to 8259 mode (the timer did not arrive through the I/O APIC): every entry masked, LINT0 open again.</summary>
        public static void Disable()
        {
            for (int i = 0; i < s_chips.Count; i++)
                s_chips[i].MaskAll();
            LocalApic.MaskLint0(false);
            Enabled = false;
        }
    }
}
