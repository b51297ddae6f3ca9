using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.CompilerServices;
using NUnit.Framework;
using Platform.Acpi;

namespace Kernel.Tests
{
    /// <summary>Physical memory made of byte ranges at addresses (everything else unreadable).</summary>
    public sealed class FakePhysicalMemory : IPhysicalMemory
    {
        public readonly SortedDictionary<ulong, byte[]> Ranges = new();
        public int Reads;

        public bool Read(ulong address, Span<byte> destination)
        {
            Reads++;
            foreach (var (start, bytes) in Ranges)
                if (address >= start && address + (ulong)destination.Length <= start + (ulong)bytes.Length)
                {
                    bytes.AsSpan((int)(address - start), destination.Length).CopyTo(destination);
                    return true;
                }
            return false;
        }

        /// <summary>Loads a dump written by Tests/Kernel.Tests/Acpi/dump-acpi.py: "ADDRESS HEX  # comment" lines.</summary>
        public static FakePhysicalMemory FromDump(string name, out ulong rsdpAddress)
        {
            var memory = new FakePhysicalMemory();
            rsdpAddress = 0;
            foreach (string line in File.ReadAllLines(DumpPath(name)))
            {
                string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length < 2) continue;
                ulong address = Convert.ToUInt64(parts[0], 16);
                byte[] bytes = Convert.FromHexString(parts[1]);
                memory.Ranges[address] = bytes;
                if (rsdpAddress == 0) rsdpAddress = address;
            }
            return memory;
        }

        static string DumpPath(string name, [CallerFilePath] string self = "") => Path.Combine(Path.GetDirectoryName(self), "Acpi", name);
    }

    /// <summary>
    /// Platform/Acpi/AcpiTables.cs on the tables QEMU 7.2's SeaBIOS really builds for -M pc and -M q35
    /// (dumped from guest memory with Acpi/dump-acpi.py), on hand-made ACPI 2.0 tables, and on
    /// corrupted and random bytes, which must be refused without crashing or reading past the end.
    /// </summary>
    public class AcpiTests
    {
        static AcpiInfo LoadDump(string name, out ulong rsdpAddress)
        {
            FakePhysicalMemory memory = FakePhysicalMemory.FromDump(name, out rsdpAddress);
            Assert.That(AcpiTables.ParseRsdp(memory.Ranges[rsdpAddress], out Rsdp rsdp, out string problem), Is.True, problem);
            return AcpiTables.Load(memory, rsdp);
        }

        [TestCase("qemu-pc-seabios.txt", 0xF59D0ul, false)]
        [TestCase("qemu-q35-seabios.txt", 0xF59E0ul, true)]
        public void QemuSeaBiosTables(string dump, ulong expectedRsdp, bool q35)
        {
            AcpiInfo info = LoadDump(dump, out ulong rsdpAddress);
            Assert.That(rsdpAddress, Is.EqualTo(expectedRsdp));
            Assert.That(info.Problems, Is.Empty);
            Assert.That(info.Rsdp.Revision, Is.EqualTo(0), "SeaBIOS gives an ACPI 1.0 RSDP");
            Assert.That(info.Rsdp.OemId, Is.EqualTo("BOCHS"));
            Assert.That(info.UsesXsdt, Is.False);
            Assert.That(info.Tables, Is.EqualTo(q35 ? new[] { "FACP", "APIC", "HPET", "MCFG", "WAET" } : new[] { "FACP", "APIC", "HPET", "WAET" }));

            Assert.That(info.HasMadt, Is.True);
            Assert.That(info.LocalApicAddress, Is.EqualTo(0xFEE00000u));
            Assert.That(info.HasLegacyPics, Is.True, "PCAT_COMPAT");
            Assert.That(info.ProcessorCount, Is.EqualTo(1));
            Assert.That(info.IoApics, Has.Count.EqualTo(1));
            Assert.That(info.IoApics[0].Address, Is.EqualTo(0xFEC00000u));
            Assert.That(info.IoApics[0].GsiBase, Is.EqualTo(0u));
            Assert.That(info.IsaIrqToGsi(0, out ushort timerFlags), Is.EqualTo(2u), "the PIT arrives on GSI 2");
            Assert.That(timerFlags, Is.EqualTo(0));
            Assert.That(info.IsaIrqToGsi(11, out ushort flags11), Is.EqualTo(11u));
            var o11 = info.Overrides.Find(o => o.Source == 11);
            Assert.That((o11.Polarity, o11.Trigger), Is.EqualTo((InterruptSourceOverride.PolarityActiveHigh, InterruptSourceOverride.TriggerLevel)),
                        "PCI interrupt lines: level, active high");
            Assert.That(flags11, Is.EqualTo(0xD));
            Assert.That(info.IsaIrqToGsi(4, out ushort flags4), Is.EqualTo(4u), "no override: identity");
            Assert.That(flags4, Is.EqualTo(0));

            if (q35)
            {
                Assert.That(info.Ecam, Has.Count.EqualTo(1));
                Assert.That(info.Ecam[0].BaseAddress, Is.EqualTo(0xB0000000ul));
                Assert.That((info.Ecam[0].Segment, info.Ecam[0].StartBus, info.Ecam[0].EndBus), Is.EqualTo(((ushort)0, (byte)0, (byte)255)));
                Assert.That(info.Ecam[0].Size, Is.EqualTo(256ul << 20));
                Assert.That(info.FindEcam(0, out _), Is.True);
            }
            else
            {
                Assert.That(info.Ecam, Is.Empty, "i440fx has no ECAM");
                Assert.That(info.FindEcam(0, out _), Is.False);
            }
        }

        [Test]
        public void QemuOvmfTables_Acpi2WithAnXsdt()
        {
            AcpiInfo info = LoadDump("qemu-q35-ovmf.txt", out _);
            Assert.That(info.Problems, Is.Empty);
            Assert.That(info.Rsdp.Revision, Is.EqualTo(2));
            Assert.That(info.UsesXsdt, Is.True);
            Assert.That(info.RootAddress, Is.EqualTo(0xF77C0E8ul));
            Assert.That(info.Tables, Is.EqualTo(new[] { "FACP", "APIC", "HPET", "MCFG", "WAET", "BGRT" }));
            Assert.That(info.IoApics, Has.Count.EqualTo(1));
            Assert.That(info.Overrides, Has.Count.EqualTo(5));
            Assert.That(info.IsaIrqToGsi(0, out _), Is.EqualTo(2u));
            Assert.That(info.Ecam, Has.Count.EqualTo(1));
            Assert.That(info.Ecam[0].BaseAddress, Is.EqualTo(0xB0000000ul));
        }

        [Test]
        public void FindRsdp_ScansTheBiosArea_AndTheEbda()
        {
            FakePhysicalMemory dump = FakePhysicalMemory.FromDump("qemu-q35-seabios.txt", out ulong rsdpAddress);
            var memory = new FakePhysicalMemory();
            var area = new byte[AcpiTables.BiosAreaEnd - AcpiTables.BiosAreaStart];
            dump.Ranges[rsdpAddress].CopyTo(area, (int)(rsdpAddress - AcpiTables.BiosAreaStart));
            // A signature with a bad checksum first: must be skipped.
            "RSD PTR "u8.ToArray().CopyTo(area, 0x100);
            memory.Ranges[AcpiTables.BiosAreaStart] = area;
            Assert.That(AcpiTables.FindRsdp(memory), Is.EqualTo(rsdpAddress), "no EBDA pointer readable (the kernel's page 0)");

            // The EBDA comes first when its pointer is readable.
            var bda = new byte[0x100];
            bda[0x0E] = 0x00; bda[0x0F] = 0x9F;                       // EBDA at 9F000h
            memory.Ranges[0x400] = bda;
            var ebda = new byte[AcpiTables.EbdaSearchLength];
            dump.Ranges[rsdpAddress].CopyTo(ebda, 0x40);
            memory.Ranges[0x9F000] = ebda;
            Assert.That(AcpiTables.FindRsdp(memory), Is.EqualTo(0x9F040ul));
            Assert.That(AcpiTables.FindRsdp(new FakePhysicalMemory()), Is.EqualTo(0ul), "nothing readable: nothing found");
        }

        /// <summary>An ACPI 2.0 layout like OVMF's: RSDP v2 → XSDT with 64-bit entries above 4 GiB.</summary>
        static FakePhysicalMemory Acpi2(out byte[] rsdpBytes, Func<byte[], byte[]> editXsdt = null)
        {
            FakePhysicalMemory dump = FakePhysicalMemory.FromDump("qemu-q35-seabios.txt", out ulong rsdpAddress);
            var memory = new FakePhysicalMemory();
            // Move the MADT and MCFG above 4 GiB and list them in an XSDT.
            byte[] madt = null, mcfg = null;
            foreach (var bytes in dump.Ranges.Values)
            {
                if (bytes.AsSpan(0, 4).SequenceEqual("APIC"u8)) madt = bytes;
                if (bytes.AsSpan(0, 4).SequenceEqual("MCFG"u8)) mcfg = bytes;
            }
            memory.Ranges[0x1_0000_1000] = madt;
            memory.Ranges[0x1_0000_2000] = mcfg;
            var xsdt = new byte[36 + 16];
            "XSDT"u8.ToArray().CopyTo(xsdt, 0);
            BitConverter.GetBytes(xsdt.Length).CopyTo(xsdt, 4);
            xsdt[8] = 1;
            BitConverter.GetBytes(0x1_0000_1000ul).CopyTo(xsdt, 36);
            BitConverter.GetBytes(0x1_0000_2000ul).CopyTo(xsdt, 44);
            if (editXsdt != null) xsdt = editXsdt(xsdt);
            Checksum(xsdt, 9);
            memory.Ranges[0x1_0000_0000] = xsdt;
            rsdpBytes = new byte[36];
            "RSD PTR "u8.ToArray().CopyTo(rsdpBytes, 0);
            "OVMFQE"u8.ToArray().CopyTo(rsdpBytes, 9);
            rsdpBytes[15] = 2;
            BitConverter.GetBytes(0u).CopyTo(rsdpBytes, 16);
            BitConverter.GetBytes(36u).CopyTo(rsdpBytes, 20);
            BitConverter.GetBytes(0x1_0000_0000ul).CopyTo(rsdpBytes, 24);
            Checksum(rsdpBytes, 8, 20);
            Checksum(rsdpBytes, 32, 36);
            return memory;
        }

        /// <summary>Sets byte <paramref name="at"/> so the first <paramref name="length"/> bytes sum to zero.</summary>
        static void Checksum(byte[] bytes, int at, int length = -1)
        {
            if (length < 0) length = bytes.Length;
            bytes[at] = 0;
            byte sum = 0;
            for (int i = 0; i < length; i++) sum += bytes[i];
            bytes[at] = (byte)(0 - sum);
        }

        [Test]
        public void Acpi2_XsdtWithTablesAbove4GiB()
        {
            FakePhysicalMemory memory = Acpi2(out byte[] rsdpBytes);
            Assert.That(AcpiTables.ParseRsdp(rsdpBytes, out Rsdp rsdp, out string problem), Is.True, problem);
            Assert.That(problem, Is.Null);
            Assert.That(rsdp.Revision, Is.EqualTo(2));
            Assert.That(rsdp.XsdtAddress, Is.EqualTo(0x1_0000_0000ul));
            AcpiInfo info = AcpiTables.Load(memory, rsdp);
            Assert.That(info.Problems, Is.Empty);
            Assert.That(info.UsesXsdt, Is.True);
            Assert.That(info.Tables, Is.EqualTo(new[] { "APIC", "MCFG" }));
            Assert.That(info.IoApics, Has.Count.EqualTo(1));
            Assert.That(info.Ecam, Has.Count.EqualTo(1));
        }

        [Test]
        public void BrokenTablesAreSkippedWithAReason()
        {
            // An RSDP v2 whose extended checksum is wrong still gives its RSDT (none here: no root at all).
            FakePhysicalMemory memory = Acpi2(out byte[] rsdpBytes);
            rsdpBytes[30] ^= 0xFF;
            Assert.That(AcpiTables.ParseRsdp(rsdpBytes, out Rsdp rsdp, out string problem), Is.True);
            Assert.That(problem, Does.Contain("extended checksum"));
            Assert.That(rsdp.XsdtAddress, Is.EqualTo(0ul));
            AcpiInfo none = AcpiTables.Load(memory, rsdp);
            Assert.That(none.Tables, Is.Empty);
            Assert.That(none.Problems, Has.Some.Contains("null address"));

            // A root entry pointing at nothing, and a MADT with a bad checksum.
            memory = Acpi2(out rsdpBytes, x =>
            {
                var longer = new byte[x.Length + 8];
                x.CopyTo(longer, 0);
                BitConverter.GetBytes(longer.Length).CopyTo(longer, 4);
                BitConverter.GetBytes(0xDEAD_0000ul).CopyTo(longer, x.Length);
                return longer;
            });
            memory.Ranges[0x1_0000_1000][40] ^= 1;
            AcpiTables.ParseRsdp(rsdpBytes, out rsdp, out _);
            AcpiInfo info = AcpiTables.Load(memory, rsdp);
            Assert.That(info.Tables, Is.EqualTo(new[] { "MCFG" }));
            Assert.That(info.HasMadt, Is.False);
            Assert.That(info.Problems, Has.Some.Contains("APIC at 0x100001000: checksum is wrong"));
            Assert.That(info.Problems, Has.Some.Contains("at 0xdead0000: not readable"));
        }

        [Test]
        public void Madt_StructureLengthsAreChecked()
        {
            var table = new byte[44 + 12 + 2 + 10];
            table[44] = 1; table[45] = 12;                                     // I/O APIC
            BitConverter.GetBytes(0xFEC00000u).CopyTo(table, 48);
            table[56] = 2; table[57] = 0;                                      // length 0: would loop forever
            var info = new AcpiInfo();
            AcpiTables.ParseMadt(table, info);
            Assert.That(info.IoApics, Has.Count.EqualTo(1));
            Assert.That(info.Problems, Has.Some.Contains("has length 0"));
            table[57] = 200;                                                   // past the end
            info = new AcpiInfo();
            AcpiTables.ParseMadt(table, info);
            Assert.That(info.Problems, Has.Some.Contains("has length 200"));
            table[57] = 4;                                                     // too short for an override
            info = new AcpiInfo();
            AcpiTables.ParseMadt(table, info);
            Assert.That(info.Overrides, Is.Empty);
            Assert.That(info.Problems, Has.Some.Contains("short interrupt source override"));
        }

        [Test]
        public void Mcfg_MalformedWindowsAreIgnored()
        {
            var table = new byte[44 + 3 * 16];
            BitConverter.GetBytes(0xE0000000ul).CopyTo(table, 44); table[54] = 0; table[55] = 63;      // good
            BitConverter.GetBytes(0xE0000000ul).CopyTo(table, 60); table[70] = 9; table[71] = 3;       // end < start
            BitConverter.GetBytes(0xE0000800ul).CopyTo(table, 76); table[86] = 0; table[87] = 1;       // not 1 MiB aligned
            var info = new AcpiInfo();
            AcpiTables.ParseMcfg(table, info);
            Assert.That(info.Ecam, Has.Count.EqualTo(1));
            Assert.That(info.Ecam[0].Size, Is.EqualTo(64ul << 20));
            Assert.That(info.Problems, Has.Count.EqualTo(2));
            Assert.That(info.FindEcam(63, out _), Is.True);
            Assert.That(info.FindEcam(64, out _), Is.False);
        }

        [Test]
        public void Fuzz_CorruptedRealTablesNeverCrashOrOverread()
        {
            var random = new Random(6);
            FakePhysicalMemory dump = FakePhysicalMemory.FromDump("qemu-q35-seabios.txt", out ulong rsdpAddress);
            for (int round = 0; round < 3000; round++)
            {
                var memory = new FakePhysicalMemory();
                foreach (var (address, bytes) in dump.Ranges)
                {
                    byte[] copy = (byte[])bytes.Clone();
                    int flips = random.Next(0, 6);
                    for (int i = 0; i < flips; i++)
                        copy[random.Next(copy.Length)] = (byte)random.Next(256);
                    // Sometimes fix the checksum, so the parser goes past the checksum gate with bad contents.
                    if (random.Next(2) == 0 && copy.Length >= 36 && address != rsdpAddress) Checksum(copy, 9);
                    if (random.Next(2) == 0 && address == rsdpAddress) Checksum(copy, 8, 20);
                    memory.Ranges[address] = copy;
                }
                byte[] rsdpBytes = memory.Ranges[rsdpAddress];
                Assert.That(() =>
                {
                    if (AcpiTables.ParseRsdp(rsdpBytes, out Rsdp rsdp, out _))
                    {
                        AcpiInfo info = AcpiTables.Load(memory, rsdp);
                        Assert.That(memory.Reads, Is.LessThan(2 * AcpiTables.MaxRootEntries + 8));
                        foreach (var e in info.Ecam) Assert.That(e.EndBus, Is.GreaterThanOrEqualTo(e.StartBus));
                    }
                }, Throws.Nothing, "round " + round);
            }
        }

        [Test]
        public void Fuzz_RandomBytesNeverCrash()
        {
            var random = new Random(7);
            for (int round = 0; round < 5000; round++)
            {
                var table = new byte[random.Next(0, 300)];
                random.NextBytes(table);
                if (table.Length >= 4 && random.Next(2) == 0) "RSD PTR "u8.ToArray().AsSpan(0, Math.Min(8, table.Length)).CopyTo(table);
                Assert.That(() =>
                {
                    AcpiTables.ParseRsdp(table, out _, out _);
                    var info = new AcpiInfo();
                    AcpiTables.ParseMadt(table, info);
                    AcpiTables.ParseMcfg(table, info);
                }, Throws.Nothing);
            }
        }
    }
}
