using Kernel.Hal;

namespace Kernel.Interrupts
{
    /// <summary>
    /// The two cascaded 8259A PICs (Intel 8259A datasheet; PC/AT wiring). Remapped to vectors
    /// 32-47; every line masked until a handler is attached. In 8259 mode (no I/O APIC, or `noapic`)
    /// PCI INTx lines arrive here on the IRQ numbers the firmware wrote into each function's Interrupt
    /// Line register; in APIC mode (IoApic.cs) every line stays masked, remapped all the same so a stray
    /// (spurious) IRQ 7/15 never lands on an exception vector.
    /// </summary>
    internal static class Pic
    {
        const ushort MasterCommand = 0x20, MasterData = 0x21, SlaveCommand = 0xA0, SlaveData = 0xA1;
        const byte Icw1Init = 0x11;      // ICW1: init, ICW4 needed, cascade, edge (ELCR decides per line)
        const byte Icw4Mode8086 = 0x01;
        const byte EndOfInterrupt = 0x20;
        const byte ReadIsr = 0x0B;
        const int CascadeIrq = 2;

        static ushort s_mask = 0xFFFF;

        public static void Initialize()
        {
            Native.PortOut8(MasterCommand, Icw1Init);
            Native.PortOut8(SlaveCommand, Icw1Init);
            Native.PortOut8(MasterData, Idt.PicBase);
            Native.PortOut8(SlaveData, Idt.PicBase + 8);
            Native.PortOut8(MasterData, 1 << CascadeIrq);
            Native.PortOut8(SlaveData, CascadeIrq);
            Native.PortOut8(MasterData, Icw4Mode8086);
            Native.PortOut8(SlaveData, Icw4Mode8086);
            s_mask = 0xFFFF & ~(1 << CascadeIrq);
            ApplyMask();
        }

        /// <summary>Masks all 16 lines (APIC mode: the I/O APIC carries them).</summary>
        public static void MaskAll()
        {
            s_mask = 0xFFFF;
            ApplyMask();
        }

        public static bool IsMasked(int irq) => (s_mask & (1 << irq)) != 0;

        public static void Unmask(int irq)
        {
            s_mask &= (ushort)~(1 << irq);
            ApplyMask();
        }

        public static void Mask(int irq)
        {
            s_mask |= (ushort)(1 << irq);
            ApplyMask();
        }

        static void ApplyMask()
        {
            Native.PortOut8(MasterData, (byte)s_mask);
            Native.PortOut8(SlaveData, (byte)(s_mask >> 8));
        }

        /// <summary>True for a spurious IRQ 7/15 (no in-service bit): it must not get an EOI for that line.</summary>
        public static bool IsSpurious(int irq)
        {
            if (irq != 7 && irq != 15) return false;
            ushort port = irq == 7 ? MasterCommand : SlaveCommand;
            Native.PortOut8(port, ReadIsr);
            bool inService = (Native.PortIn8(port) & 0x80) != 0;
            if (!inService && irq == 15) Native.PortOut8(MasterCommand, EndOfInterrupt);
            return !inService;
        }

        public static void EndOfInterruptFor(int irq)
        {
            if (irq >= 8) Native.PortOut8(SlaveCommand, EndOfInterrupt);
            Native.PortOut8(MasterCommand, EndOfInterrupt);
        }
    }

    /// <summary>
    /// The local APIC (Intel SDM Vol. 3A, 10.4 and 10.11): receives MSIs and, in APIC mode, the I/O APIC's
    /// messages, and takes their EOI. In 8259 mode legacy IRQs arrive through LINT0 (virtual-wire mode, as the
    /// firmware set it up); APIC mode masks LINT0 (Linux setup_local_APIC does the same).
    /// </summary>
    internal static class LocalApic
    {
        const uint ApicBaseMsr = 0x1B;
        const ulong ApicBaseEnable = 1UL << 11;
        const ulong ApicBaseAddressMask = 0xFFFFFF000UL;
        const uint RegisterId = 0x20, RegisterEoi = 0xB0, RegisterSpurious = 0xF0;
        /// <summary>LVT LINT0 register (SDM Vol. 3A, 10.5.1, figure 10-8): bit 16 masks it.</summary>
        const uint RegisterLint0 = 0x350, LvtMasked = 1 << 16;
        const uint SpuriousEnable = 1 << 8;
        const uint CpuidFeatureApic = 1 << 9;

        static ulong s_base;
        public static bool Present => s_base != 0;
        public static uint Id => s_base == 0 ? 0 : Native.MmioRead32(s_base + RegisterId) >> 24;

        public static unsafe void Initialize()
        {
            uint* regs = stackalloc uint[4];
            Native.CpuId(1, 0, regs);
            if ((regs[3] & CpuidFeatureApic) == 0)
                return;
            ulong msr = Native.ReadMsr(ApicBaseMsr);
            s_base = msr & ApicBaseAddressMask;
            Memory.Paging.MapIdentity(s_base, 4096, uncached: true);
            Native.WriteMsr(ApicBaseMsr, msr | ApicBaseEnable);
            Native.MmioWrite32(s_base + RegisterSpurious, SpuriousEnable | Idt.SpuriousVector);
        }

        /// <summary>Masks or unmasks LINT0 (the 8259's INTR in virtual-wire mode), keeping its delivery mode.</summary>
        public static void MaskLint0(bool masked)
        {
            if (s_base == 0) return;
            uint lvt = Native.MmioRead32(s_base + RegisterLint0);
            Native.MmioWrite32(s_base + RegisterLint0, masked ? lvt | LvtMasked : lvt & ~LvtMasked);
        }

        public static void EndOfInterrupt()
        {
            if (s_base != 0) Native.MmioWrite32(s_base + RegisterEoi, 0);
        }
    }
}
