using System;
using System.IO;
using System.Runtime.CompilerServices;
using NUnit.Framework;
using Platform.Acpi;

namespace Kernel.Tests
{
    /// <summary>
    /// Platform/Acpi/MpTable.cs on the MP tables QEMU 7.2's SeaBIOS builds for -M pc and -M q35 with USB
    /// controllers (dumped from guest memory with Acpi/dump-mptable.py), and on broken tables: bad checksums,
    /// lengths and counts past the end, unknown entries, unreadable memory, random bytes. A broken table gives a
    /// reason, never an exception or a read past its end.
    /// </summary>
    public class MpTableTests
    {
        const ulong FloatingAt = 0xF5B80, TableAt = 0xF5B90;

        /// <summary>The dump's bytes placed in a 64 KiB F segment, a BIOS data area whose EBDA pointer names 9FC00h, and an empty EBDA.</summary>
        static FakePhysicalMemory Machine(string dump, Action<byte[]> edit = null)
        {
            var fSegment = new byte[0x10000];
            foreach (string line in File.ReadAllLines(DumpPath(dump)))
            {
                string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length < 2) continue;
                byte[] bytes = Convert.FromHexString(parts[1]);
                bytes.CopyTo(fSegment, (int)(Convert.ToUInt64(parts[0], 16) - MpTables.BiosRomStart));
            }
            edit?.Invoke(fSegment);
            var memory = new FakePhysicalMemory();
            var bda = new byte[0x100];
            bda[0x0E] = 0xC0; bda[0x0F] = 0x9F; // EBDA segment 9FC0h
            bda[0x13] = 639 & 0xFF; bda[0x14] = 639 >> 8;
            memory.Ranges[0x400] = bda;
            memory.Ranges[0x9FC00] = new byte[0x400];
            memory.Ranges[MpTables.BiosRomStart] = fSegment;
            return memory;
        }

        static string DumpPath(string name, [CallerFilePath] string self = "") => Path.Combine(Path.GetDirectoryName(self), "Acpi", name);

        static MpInfo LoadDump(string dump, out string error, Action<byte[]> edit = null)
        {
            FakePhysicalMemory memory = Machine(dump, edit);
            ulong at = MpTables.FindFloatingPointer(memory);
            Assert.That(at, Is.EqualTo(FloatingAt));
            return MpTables.Load(memory, at, out error);
        }

        [TestCase("qemu-pc-seabios-mptable.txt", false)]
        [TestCase("qemu-q35-seabios-mptable.txt", true)]
        public void SeaBiosTables(string dump, bool q35)
        {
            MpInfo mp = LoadDump(dump, out string error);
            Assert.That(mp, Is.Not.Null, error);
            Assert.That(error, Is.Null);
            Assert.That(mp.Problems, Is.Empty);
            Assert.That(mp.FloatingPointerAddress, Is.EqualTo(FloatingAt));
            Assert.That(mp.TableAddress, Is.EqualTo(TableAt));
            Assert.That(mp.SpecRevision, Is.EqualTo(4));
            Assert.That(mp.ImcrPresent, Is.False, "SeaBIOS runs in virtual wire mode");
            Assert.That(mp.DefaultConfiguration, Is.EqualTo(0));
            Assert.That((mp.OemId, mp.ProductId), Is.EqualTo(("BOCHSCPU", "0.1")));
            Assert.That(mp.LocalApicAddress, Is.EqualTo(0xFEE00000u));
            Assert.That(mp.TableLength, Is.EqualTo(232));
            Assert.That(mp.Buses, Has.Count.EqualTo(2));
            Assert.That((mp.Buses[0].Id, mp.Buses[0].Type, mp.Buses[1].Id, mp.Buses[1].Type), Is.EqualTo(((byte)0, "PCI", (byte)1, "ISA")));
            Assert.That(mp.IoApics, Has.Count.EqualTo(1));
            Assert.That((mp.IoApics[0].Id, mp.IoApics[0].Version, mp.IoApics[0].Enabled, mp.IoApics[0].Address), Is.EqualTo(((byte)0, (byte)0x11, true, 0xFEC00000u)));
            // PCI entries then ISA IRQs 0-15 less the PCI IRQs 5, 9, 10, 11 and the IRQ 2 folded into IRQ 0 -> INTIN 2.
            Assert.That(mp.Interrupts, Has.Count.EqualTo(16));
            Assert.That(mp.Interrupts.FindAll(e => e.SourceBus == 1), Has.Count.EqualTo(11));
            MpInterrupt irq0 = mp.Interrupts.Find(e => e.SourceBus == 1 && e.SourceBusIrq == 0);
            Assert.That((irq0.DestinationPin, irq0.Flags), Is.EqualTo(((byte)2, (ushort)0)));

            // (device, pin) -> INTIN as SeaBIOS wrote them: the Interrupt Line the BIOS gave each device; flags "active high".
            var expected = q35
                ? new[] { (0x1d, 1, 10), (0x1d, 2, 10), (0x1d, 3, 11), (0x1d, 4, 11), (0x1f, 1, 10) }
                : new[] { (1, 1, 9), (3, 4, 10), (4, 1, 11), (5, 4, 11), (6, 1, 10) };
            foreach (var (device, pin, intin) in expected)
            {
                Assert.That(mp.FindPciInterrupt(0, device, pin, out MpInterrupt e), Is.True, $"device {device:x} pin {pin}");
                Assert.That((e.Type, e.DestinationApicId, e.DestinationPin, e.Flags), Is.EqualTo((MpInterrupt.TypeInt, (byte)0, (byte)intin, (ushort)1)));
            }
            Assert.That(mp.FindPciInterrupt(0, 2, 1, out _), Is.False, "no entry: a device without an interrupt pin");
            Assert.That(mp.FindPciInterrupt(1, q35 ? 0x1d : 3, 1, out _), Is.False, "bus 1 is the ISA bus, not PCI");
            Assert.That(mp.FindPciInterrupt(0, 3, 0, out _), Is.False, "pin 0 is no pin");
            Assert.That(mp.FindPciInterrupt(0, 32, 1, out _), Is.False, "device 32 does not exist");
        }

        static void FixChecksum(byte[] segment, int at, int length, int checksumAt)
        {
            segment[checksumAt] = 0;
            byte sum = 0;
            for (int i = 0; i < length; i++) sum += segment[at + i];
            segment[checksumAt] = (byte)-sum;
        }

        const int Fp = (int)(FloatingAt - MpTables.BiosRomStart), Table = (int)(TableAt - MpTables.BiosRomStart);

        [Test]
        public void FloatingPointerWithABadChecksum_IsNotFound()
        {
            FakePhysicalMemory memory = Machine("qemu-pc-seabios-mptable.txt", s => s[Fp + 10]++);
            Assert.That(MpTables.FindFloatingPointer(memory), Is.EqualTo(0ul));
            Assert.That(MpTables.Load(memory, FloatingAt, out string error), Is.Null);
            Assert.That(error, Is.EqualTo("MP floating pointer checksum is wrong"));
        }

        [Test]
        public void FloatingPointerInTheEbda_IsFoundFirst()
        {
            FakePhysicalMemory memory = Machine("qemu-pc-seabios-mptable.txt");
            var ebda = memory.Ranges[0x9FC00];
            Array.Copy(memory.Ranges[MpTables.BiosRomStart], Fp, ebda, 0x40, 16);
            Assert.That(MpTables.FindFloatingPointer(memory), Is.EqualTo(0x9FC40ul));
        }

        [Test]
        public void TableWithABadChecksum_IsRefused()
        {
            MpInfo mp = LoadDump("qemu-pc-seabios-mptable.txt", out string error, s => s[Table + 60] ^= 0x40);
            Assert.That(mp, Is.Null);
            Assert.That(error, Is.EqualTo("MP configuration table checksum is wrong"));
        }

        [Test]
        public void TableLengthPastTheReadableMemory_IsRefused()
        {
            // The table claims FFFFh bytes from F5B90h: past the end of the F segment (the fake has nothing above 1 MiB).
            MpInfo mp = LoadDump("qemu-pc-seabios-mptable.txt", out string error, s => { s[Table + 4] = 0xFF; s[Table + 5] = 0xFF; });
            Assert.That(mp, Is.Null);
            Assert.That(error, Is.EqualTo("MP configuration table at 0xf5b90: its 65535 bytes are not readable"));
        }

        [Test]
        public void TableLengthShorterThanItsHeader_IsRefused()
        {
            MpInfo mp = LoadDump("qemu-pc-seabios-mptable.txt", out string error, s => { s[Table + 4] = 20; s[Table + 5] = 0; });
            Assert.That(mp, Is.Null);
            Assert.That(error, Does.Contain("length 20 is shorter than its header"));
        }

        [Test]
        public void TableLengthPastTheBytesGiven_IsRefused()
        {
            byte[] table = TableBytes();
            var info = new MpInfo();
            Assert.That(MpTables.ParseTable(table.AsSpan(0, 100), info, out string error), Is.False);
            Assert.That(error, Is.EqualTo("MP configuration table length 232 does not fit the 100 bytes read"));
            Assert.That(MpTables.ParseTable(table.AsSpan(0, 20), info, out error), Is.False);
            Assert.That(error, Is.EqualTo("MP configuration table has no PCMP signature"));
        }

        static byte[] TableBytes()
        {
            byte[] segment = Machine("qemu-pc-seabios-mptable.txt").Ranges[MpTables.BiosRomStart];
            return segment.AsSpan(Table, 232).ToArray();
        }

        [Test]
        public void EntryCountPastTheEnd_KeepsTheEntriesThatExist()
        {
            byte[] table = TableBytes();
            table[34] = 200; // entry count
            FixChecksum(table, 0, table.Length, 7);
            var info = new MpInfo();
            Assert.That(MpTables.ParseTable(table, info, out string error), Is.True, error);
            Assert.That(info.Interrupts, Has.Count.EqualTo(16));
            Assert.That(info.Problems, Is.EqualTo(new[] { "MP table: 200 entries announced, the table ends after 22" }));
        }

        [Test]
        public void EntryRunningPastTheEnd_AndUnknownEntries_StopTheWalk()
        {
            // Cut the table inside its first processor entry (20 bytes from offset 44).
            byte[] table = TableBytes().AsSpan(0, 50).ToArray();
            table[4] = 50; table[5] = 0;
            FixChecksum(table, 0, table.Length, 7);
            var info = new MpInfo();
            Assert.That(MpTables.ParseTable(table, info, out string error), Is.True, error);
            Assert.That(info.Problems, Is.EqualTo(new[] { "MP table: entry type 0 at offset 44 runs past the end; rest ignored" }));

            table = TableBytes();
            table[64] = 0x80; // the bus entry after the processor becomes an unknown type
            FixChecksum(table, 0, table.Length, 7);
            info = new MpInfo();
            Assert.That(MpTables.ParseTable(table, info, out error), Is.True, error);
            Assert.That(info.Buses, Is.Empty);
            Assert.That(info.Interrupts, Is.Empty);
            Assert.That(info.Problems, Is.EqualTo(new[] { "MP table: unknown entry type 128 at offset 64; rest ignored" }));
        }

        [Test]
        public void FloatingPointerNamingUnreadableMemory_IsRefused()
        {
            MpInfo mp = LoadDump("qemu-pc-seabios-mptable.txt", out string error, s =>
            {
                s[Fp + 4] = 0x00; s[Fp + 5] = 0x00; s[Fp + 6] = 0x00; s[Fp + 7] = 0x20; // 20000000h
                FixChecksum(s, Fp, 16, Fp + 10);
            });
            Assert.That(mp, Is.Null);
            Assert.That(error, Is.EqualTo("MP configuration table at 0x20000000 is not readable"));
        }

        [Test]
        public void DefaultConfiguration_HasNoTable()
        {
            MpInfo mp = LoadDump("qemu-pc-seabios-mptable.txt", out string error, s =>
            {
                s[Fp + 4] = s[Fp + 5] = s[Fp + 6] = s[Fp + 7] = 0;
                s[Fp + 11] = 5; // default configuration 5: ISA + PCI
                s[Fp + 12] = 0x80; // IMCR present
                FixChecksum(s, Fp, 16, Fp + 10);
            });
            Assert.That(mp, Is.Not.Null, error);
            Assert.That((mp.DefaultConfiguration, mp.ImcrPresent, mp.Interrupts.Count), Is.EqualTo(((byte)5, true, 0)));
            Assert.That(InterruptRouting.PciIntx(null, mp, 0, 3, 1, 0xFF).Valid, Is.False);
        }

        [Test]
        public void FloatingPointer_WrongLengthOrSignature()
        {
            byte[] segment = Machine("qemu-pc-seabios-mptable.txt").Ranges[MpTables.BiosRomStart];
            byte[] fp = segment.AsSpan(Fp, 16).ToArray();
            fp[8] = 2;
            Assert.That(MpTables.ParseFloatingPointer(fp, out string error), Is.Null);
            Assert.That(error, Is.EqualTo("MP floating pointer length is 2 paragraphs, not 1"));
            Assert.That(MpTables.ParseFloatingPointer(fp.AsSpan(0, 8), out error), Is.Null);
            Assert.That(error, Is.EqualTo("no MP floating pointer signature"));
        }

        [Test]
        public void RandomAndMutatedTables_NeverThrow()
        {
            var random = new Random(11);
            byte[] original = TableBytes();
            for (int run = 0; run < 20000; run++)
            {
                byte[] table = run % 2 == 0 ? (byte[])original.Clone() : new byte[random.Next(0, 300)];
                if (run % 2 == 0)
                    for (int k = random.Next(1, 8); k > 0; k--)
                        table[random.Next(table.Length)] = (byte)random.Next(256);
                else
                    random.NextBytes(table);
                if (table.Length >= 8 && run % 4 == 1)
                {
                    "PCMP"u8.CopyTo(table);
                    table[4] = (byte)table.Length; table[5] = (byte)(table.Length >> 8);
                }
                if (table.Length >= MpTables.HeaderLength)
                    FixChecksum(table, 0, Math.Min(table.Length, table[4] | table[5] << 8), 7);
                var info = new MpInfo();
                bool ok = MpTables.ParseTable(table, info, out string error);
                Assert.That(ok || error != null, Is.True);
                Assert.That(info.Interrupts.Count + info.Buses.Count + info.IoApics.Count, Is.LessThanOrEqualTo(table.Length / 8));
                info.FindPciInterrupt(random.Next(256), random.Next(40), random.Next(6), out _);
                MpTables.ParseFloatingPointer(table, out _);
            }
        }
    }
}
