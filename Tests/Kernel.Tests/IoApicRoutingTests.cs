using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.CompilerServices;
using NUnit.Framework;
using Platform;
using Platform.Acpi;

namespace Kernel.Tests
{
    /// <summary>
    /// An I/O APIC's MMIO window as the 82093AA datasheet (3.0, 3.2) describes it: IOREGSEL at 00h selects, IOWIN at
    /// 10h reads and writes the selected register; IOAPICVER is read-only; the redirection entries' delivery status
    /// and remote IRR bits are read-only. Every register write is recorded with the entry's state at that moment.
    /// </summary>
    sealed class FakeIoApicMmio : IRegisterBlock
    {
        public uint Select;
        public readonly uint Version;
        public readonly uint[] Low, High;
        public readonly List<(byte Register, uint Value)> Writes = new();

        public FakeIoApicMmio(int entries, byte version = 0x20)
        {
            Version = (uint)(entries - 1) << 16 | version;
            Low = new uint[entries];
            High = new uint[entries];
            for (int i = 0; i < entries; i++) Low[i] = 0x0000_0000; // firmware left everything unmasked, vector 0
        }

        public uint Read32(uint offset)
        {
            Assert.That(offset, Is.EqualTo(IoApicChip.RegisterWindow), "only IOWIN is read");
            if (Select == IoApicChip.VersionRegister) return Version;
            int index = (int)Select - IoApicChip.RedirectionTableBase;
            if (index < 0 || index / 2 >= Low.Length) return 0;
            return index % 2 == 0 ? Low[index / 2] : High[index / 2];
        }

        public void Write32(uint offset, uint value)
        {
            if (offset == IoApicChip.RegisterSelect) { Select = value & 0xFF; return; }
            Assert.That(offset, Is.EqualTo(IoApicChip.RegisterWindow));
            Writes.Add(((byte)Select, value));
            int index = (int)Select - IoApicChip.RedirectionTableBase;
            if (index < 0 || index / 2 >= Low.Length) return;
            const uint readOnly = RedirectionEntry.DeliveryStatus | RedirectionEntry.RemoteIrr;
            if (index % 2 == 0) Low[index / 2] = (Low[index / 2] & readOnly) | (value & ~readOnly);
            else High[index / 2] = value;
        }

        public byte Read8(uint offset) => throw new AssertionException("8-bit access to an I/O APIC");
        public ushort Read16(uint offset) => throw new AssertionException("16-bit access to an I/O APIC");
        public ulong Read64(uint offset) => throw new AssertionException("64-bit access to an I/O APIC");
        public void Write8(uint offset, byte value) => throw new AssertionException("8-bit access to an I/O APIC");
        public void Write16(uint offset, ushort value) => throw new AssertionException("16-bit access to an I/O APIC");
        public void Write64(uint offset, ulong value) => throw new AssertionException("64-bit access to an I/O APIC");
    }

    /// <summary>
    /// Platform/Acpi/IoApicRouting.cs: redirection entries on a fake I/O APIC, ISA IRQs through the interrupt source
    /// overrides of QEMU's real MADTs and of hand-made ones, PCI INTx through the MP table or the Interrupt Line,
    /// GSI -> IRQ numbering, and the kernel command-line switch.
    /// </summary>
    public class IoApicRoutingTests
    {
        static AcpiInfo QemuMadt(string dump)
        {
            FakePhysicalMemory memory = FakePhysicalMemory.FromDump(dump, out ulong rsdpAddress);
            Assert.That(AcpiTables.ParseRsdp(memory.Ranges[rsdpAddress], out Rsdp rsdp, out _), Is.True);
            return AcpiTables.Load(memory, rsdp);
        }

        static MpInfo QemuMp(string dump)
        {
            var table = new List<byte[]>();
            foreach (string line in File.ReadAllLines(DumpPath(dump)))
                table.Add(Convert.FromHexString(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]));
            MpInfo mp = MpTables.ParseFloatingPointer(table[0], out string error);
            Assert.That(mp, Is.Not.Null, error);
            Assert.That(MpTables.ParseTable(table[1], mp, out error), Is.True, error);
            return mp;
        }

        static string DumpPath(string name, [CallerFilePath] string self = "") => Path.Combine(Path.GetDirectoryName(self), "Acpi", name);

        [Test]
        public void Chip_ReadsItsVersion_MasksEverything_AndProgramsEntries()
        {
            var mmio = new FakeIoApicMmio(24);
            var chip = new IoApicChip(mmio, 0, 0xFEC00000, 0);
            Assert.That((chip.Version, chip.Entries), Is.EqualTo(((byte)0x20, 24)));
            chip.MaskAll();
            for (int pin = 0; pin < 24; pin++)
                Assert.That(mmio.Low[pin] & RedirectionEntry.MaskBit, Is.Not.Zero, "pin " + pin);

            // IRQ 0 on GSI 2: vector 30h, fixed, physical, edge, active high, to local APIC 0.
            mmio.Writes.Clear();
            chip.Program(2, RedirectionEntry.Encode(0x30, level: false, activeLow: false, apicId: 0, masked: false));
            Assert.That((mmio.Low[2], mmio.High[2]), Is.EqualTo((0x30u, 0u)));
            // The entry stays masked while its destination changes: masked low, high, then the final low.
            Assert.That(mmio.Writes, Is.EqualTo(new[] { ((byte)0x14, 0x10000u), ((byte)0x15, 0u), ((byte)0x14, 0x30u) }));

            // A PCI line: vector 31h, level, active low, to local APIC 3.
            chip.Program(16, RedirectionEntry.Encode(0x31, level: true, activeLow: true, apicId: 3, masked: false));
            Assert.That((mmio.Low[16], mmio.High[16]), Is.EqualTo((0xA031u, 0x0300_0000u)));
            ulong entry = chip.ReadEntry(16);
            Assert.That((RedirectionEntry.Vector(entry), RedirectionEntry.IsLevel(entry), RedirectionEntry.IsActiveLow(entry),
                         RedirectionEntry.IsMasked(entry), RedirectionEntry.Destination(entry)), Is.EqualTo((0x31, true, true, false, (byte)3)));

            chip.SetMasked(16, true);
            Assert.That(mmio.Low[16], Is.EqualTo(0x1A031u), "mask changes bit 16 only");
            chip.SetMasked(16, false);
            Assert.That(mmio.Low[16], Is.EqualTo(0xA031u));

            int writes = mmio.Writes.Count;
            chip.Program(24, RedirectionEntry.Masked);
            chip.SetMasked(-1, true);
            Assert.That(mmio.Writes.Count, Is.EqualTo(writes), "pins past the table are not written");
        }

        [Test]
        public void Encode_Fields()
        {
            Assert.That(RedirectionEntry.Encode(0xFE, false, false, 0xFF, true), Is.EqualTo(0xFF00_0000_0001_00FEul));
            Assert.That(RedirectionEntry.Encode(0x40, true, false, 1, false), Is.EqualTo(0x0100_0000_0000_8040ul));
            Assert.That(RedirectionEntry.Encode(0x40, false, true, 0, false), Is.EqualTo(0x2040ul));
            Assert.That(RedirectionEntry.Encode(0x140, false, false, 0, false) & RedirectionEntry.VectorMask, Is.EqualTo(0x40ul), "the vector is 8 bits");
        }

        [Test]
        public void FindChip_TwoIoApics()
        {
            var chips = new List<IoApicChip>
            {
                new IoApicChip(new FakeIoApicMmio(24), 1, 0xFEC00000, 0),
                new IoApicChip(new FakeIoApicMmio(32, 0x11), 2, 0xFEC01000, 24),
            };
            Assert.That(InterruptRouting.FindChip(chips, 23, out int pin), Is.SameAs(chips[0]));
            Assert.That(pin, Is.EqualTo(23));
            Assert.That(InterruptRouting.FindChip(chips, 24, out pin), Is.SameAs(chips[1]));
            Assert.That(pin, Is.EqualTo(0));
            Assert.That(InterruptRouting.FindChip(chips, 55, out pin), Is.SameAs(chips[1]));
            Assert.That(InterruptRouting.FindChip(chips, 56, out pin), Is.Null);
            Assert.That(pin, Is.EqualTo(-1));
        }

        [TestCase("qemu-pc-seabios.txt")]
        [TestCase("qemu-q35-seabios.txt")]
        public void IsaIrqs_ThroughQemusOverrides(string dump)
        {
            AcpiInfo acpi = QemuMadt(dump);
            InterruptRoute timer = InterruptRouting.IsaIrq(acpi, 0);
            Assert.That((timer.Valid, timer.Gsi, timer.Level, timer.ActiveLow, timer.Source), Is.EqualTo((true, 2u, false, false, "INT_SRC_OVR")),
                        "IRQ 0 -> GSI 2, flags 'conforms': ISA edge, active high");
            InterruptRoute serial = InterruptRouting.IsaIrq(acpi, 4);
            Assert.That((serial.Gsi, serial.Level, serial.ActiveLow, serial.Source), Is.EqualTo((4u, false, false, "ISA")));
            InterruptRoute sci = InterruptRouting.IsaIrq(acpi, 9);
            Assert.That((sci.Gsi, sci.Level, sci.ActiveLow, sci.Describe()), Is.EqualTo((9u, true, false, "level, high")));
            Assert.That(InterruptRouting.IsaIrq(acpi, 16).Valid, Is.False);

            Assert.That(InterruptRouting.IrqForGsi(acpi, 2), Is.EqualTo(0), "GSI 2 is IRQ 0");
            Assert.That(InterruptRouting.IrqForGsi(acpi, 0), Is.EqualTo(-1), "GSI 0 has no number: IRQ 0 is on GSI 2");
            Assert.That(InterruptRouting.IrqForGsi(acpi, 11), Is.EqualTo(11));
            Assert.That(InterruptRouting.IrqForGsi(acpi, 19), Is.EqualTo(19));
        }

        [Test]
        public void Overrides_HandMade()
        {
            var acpi = new AcpiInfo();
            acpi.Overrides.Add(new InterruptSourceOverride { Bus = 0, Source = 9, Gsi = 20, Flags = 0xF }); // level, active low
            acpi.Overrides.Add(new InterruptSourceOverride { Bus = 0, Source = 3, Gsi = 3, Flags = 0x2 | 0x2 << 2 }); // reserved values: bus defaults
            acpi.Overrides.Add(new InterruptSourceOverride { Bus = 1, Source = 5, Gsi = 21, Flags = 0xF }); // not ISA: ignored
            InterruptRoute sci = InterruptRouting.IsaIrq(acpi, 9);
            Assert.That((sci.Gsi, sci.Level, sci.ActiveLow), Is.EqualTo((20u, true, true)));
            InterruptRoute three = InterruptRouting.IsaIrq(acpi, 3);
            Assert.That((three.Gsi, three.Level, three.ActiveLow), Is.EqualTo((3u, false, false)));
            InterruptRoute five = InterruptRouting.IsaIrq(acpi, 5);
            Assert.That((five.Gsi, five.Source), Is.EqualTo((5u, "ISA")));
            Assert.That(InterruptRouting.IrqForGsi(acpi, 20), Is.EqualTo(9));
            Assert.That(InterruptRouting.IrqForGsi(acpi, 9), Is.EqualTo(-1));
            Assert.That(InterruptRouting.IrqForGsi(null, 7), Is.EqualTo(7));

            InterruptRouting.ApplyFlags(0x5, true, true, out bool level, out bool activeLow); // edge, high
            Assert.That((level, activeLow), Is.EqualTo((false, false)));
            InterruptRouting.ApplyFlags(0x0, true, true, out level, out activeLow); // conforms to PCI
            Assert.That((level, activeLow), Is.EqualTo((true, true)));
        }

        [TestCase("qemu-pc-seabios.txt", "qemu-pc-seabios-mptable.txt", 3, 4, 10u)]
        [TestCase("qemu-pc-seabios.txt", "qemu-pc-seabios-mptable.txt", 5, 4, 11u)]
        [TestCase("qemu-q35-seabios.txt", "qemu-q35-seabios-mptable.txt", 0x1d, 1, 10u)]
        [TestCase("qemu-q35-seabios.txt", "qemu-q35-seabios-mptable.txt", 0x1d, 3, 11u)]
        public void PciIntx_FromTheMpTable(string madt, string mpDump, int device, int pin, uint gsi)
        {
            AcpiInfo acpi = QemuMadt(madt);
            MpInfo mp = QemuMp(mpDump);
            // The Interrupt Line given (3) is not what the MP table says: the table wins.
            InterruptRoute route = InterruptRouting.PciIntx(acpi, mp, 0, device, pin, 3);
            Assert.That((route.Valid, route.Gsi, route.Level, route.ActiveLow, route.Source), Is.EqualTo((true, gsi, true, false, "MP table")),
                        "SeaBIOS: flags 01b = active high, trigger conforms to PCI = level");
        }

        [Test]
        public void PciIntx_FallsBackToTheInterruptLine()
        {
            AcpiInfo acpi = QemuMadt("qemu-pc-seabios.txt");
            MpInfo mp = QemuMp("qemu-pc-seabios-mptable.txt");
            // Device 7 has no MP entry: its line 11 through QEMU's override (high, level).
            InterruptRoute route = InterruptRouting.PciIntx(acpi, mp, 0, 7, 1, 11);
            Assert.That((route.Valid, route.Gsi, route.Level, route.ActiveLow, route.Source), Is.EqualTo((true, 11u, true, false, "Interrupt Line")));
            // No MP table, line 3 without an override: the PCI defaults, level and active low.
            route = InterruptRouting.PciIntx(acpi, null, 0, 7, 1, 3);
            Assert.That((route.Valid, route.Gsi, route.Level, route.ActiveLow, route.Describe()), Is.EqualTo((true, 3u, true, true, "level, low")));
            // Lines 0 (the timer; what firmware that routes nothing leaves) and 2 (the cascade) are never PCI lines:
            // taking them would make the timer's pin level-triggered. No route: the device is polled.
            Assert.That(InterruptRouting.PciIntx(acpi, null, 0, 7, 1, 0).Valid, Is.False, "line 0: the timer");
            Assert.That(InterruptRouting.PciIntx(acpi, null, 0, 7, 1, 2).Valid, Is.False, "line 2: the cascade");
            Assert.That(InterruptRouting.PciIntx(acpi, null, 0, 7, 1, 0xFF).Valid, Is.False, "0FFh: unknown");
            Assert.That(InterruptRouting.PciIntx(acpi, null, 0, 7, 1, 16).Valid, Is.False, "not an ISA IRQ");
            Assert.That(InterruptRouting.PciIntx(acpi, null, 0, 7, 0, 11).Valid, Is.False, "no pin");
        }

        [Test]
        public void MpDestinations_AcrossIoApics()
        {
            var acpi = new AcpiInfo();
            acpi.IoApics.Add(new IoApicEntry { Id = 1, Address = 0xFEC00000, GsiBase = 0 });
            acpi.IoApics.Add(new IoApicEntry { Id = 2, Address = 0xFEC01000, GsiBase = 24 });
            var mp = new MpInfo();
            Assert.That(InterruptRouting.MpDestinationToGsi(acpi, mp, 2, 3, out uint gsi), Is.True);
            Assert.That(gsi, Is.EqualTo(27u));
            Assert.That(InterruptRouting.MpDestinationToGsi(acpi, mp, 7, 3, out _), Is.False, "unknown id with two I/O APICs");
            Assert.That(InterruptRouting.MpDestinationToGsi(new AcpiInfo(), mp, 1, 3, out _), Is.False, "no I/O APIC");

            var single = new AcpiInfo();
            single.IoApics.Add(new IoApicEntry { Id = 8, GsiBase = 0 });
            Assert.That(InterruptRouting.MpDestinationToGsi(single, mp, 0, 16, out gsi), Is.True, "one I/O APIC renumbered by the firmware");
            Assert.That(gsi, Is.EqualTo(16u));
        }

        [Test]
        public void NobodyCared_AStuckLineIsDisabled_AnOccasionalStrayIsNot()
        {
            var stuck = new UnhandledInterruptCounter();
            int disabledAt = -1;
            for (int i = 1; i <= UnhandledInterruptCounter.Window && disabledAt < 0; i++)
                if (stuck.Note(handled: i % 2000 == 0, nowMs: 5)) // a storm: the clock does not even tick
                    disabledAt = i;
            Assert.That(disabledAt, Is.EqualTo(UnhandledInterruptCounter.Window), "judged at the end of the window");

            // A shared line where another device raises most interrupts: claimed ones keep it alive.
            var shared = new UnhandledInterruptCounter();
            for (int i = 0; i < 3 * UnhandledInterruptCounter.Window; i++)
                Assert.That(shared.Note(handled: i % 500 < 100, nowMs: (ulong)i / 10), Is.False);

            // Unclaimed interrupts more than 100 ms apart never add up.
            var stray = new UnhandledInterruptCounter();
            for (int i = 0; i < 2 * UnhandledInterruptCounter.Window; i++)
                Assert.That(stray.Note(handled: false, nowMs: (ulong)i * (UnhandledInterruptCounter.QuietMs + 1)), Is.False);
            Assert.That(stray.Unhandled, Is.LessThanOrEqualTo(1));
        }

        [TestCase("bootid=0123 noapic", true)]
        [TestCase("noapic", true)]
        [TestCase("  noapic  ", true)]
        [TestCase("noapictimer", false)]
        [TestCase("xnoapic", false)]
        [TestCase("", false)]
        [TestCase(null, false)]
        public void NoApicSwitch(string commandLine, bool expected) =>
            Assert.That(InterruptRouting.HasSwitch(commandLine, "noapic"), Is.EqualTo(expected));
    }
}
