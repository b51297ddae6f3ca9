using System;
using System.Collections.Generic;
using static Platform.Acpi.FirmwareBytes;

namespace Platform.Acpi
{
    /// <summary>Reads physical memory for the ACPI parser: the kernel through its identity map, tests from byte arrays.</summary>
    public interface IPhysicalMemory
    {
        /// <summary>Copies [address, address + destination.Length); false when any of it cannot be read.</summary>
        bool Read(ulong address, Span<byte> destination);
    }

    /// <summary>Root System Description Pointer (ACPI 6.5, 5.2.5.3).</summary>
    public struct Rsdp
    {
        /// <summary>0 for ACPI 1.0 (20 bytes, RSDT only), 2 and up for the 36-byte form with an XSDT.</summary>
        public byte Revision;
        public string OemId;
        public uint RsdtAddress;
        public ulong XsdtAddress;
    }

    /// <summary>MADT I/O APIC structure (5.2.12.3).</summary>
    public struct IoApicEntry
    {
        public byte Id;
        public uint Address;
        /// <summary>First Global System Interrupt this I/O APIC handles.</summary>
        public uint GsiBase;
    }

    /// <summary>MADT Interrupt Source Override (5.2.12.5): an ISA IRQ that arrives on another GSI or with other polarity/trigger.</summary>
    public struct InterruptSourceOverride
    {
        /// <summary>0: ISA.</summary>
        public byte Bus;
        /// <summary>The bus-relative interrupt source (the ISA IRQ).</summary>
        public byte Source;
        public uint Gsi;
        /// <summary>MPS INTI flags (5.2.12.5, table 5.50): polarity bits 1:0, trigger mode bits 3:2.</summary>
        public ushort Flags;

        public const ushort PolarityMask = 0x3, PolarityConforms = 0, PolarityActiveHigh = 1, PolarityActiveLow = 3;
        public const int TriggerShift = 2;
        public const ushort TriggerConforms = 0, TriggerEdge = 1, TriggerLevel = 3;

        public ushort Polarity => (ushort)(Flags & PolarityMask);
        public ushort Trigger => (ushort)((Flags >> TriggerShift) & PolarityMask);
    }

    /// <summary>MCFG configuration space base address allocation (PCI Firmware Specification 3.2, 4.1.2): an ECAM window.</summary>
    public struct EcamRegion
    {
        public ulong BaseAddress;
        public ushort Segment;
        public byte StartBus;
        public byte EndBus;

        /// <summary>ECAM gives each bus 1 MiB: 32 devices x 8 functions x 4 KiB (PCIe Base 4.0, 7.2.2).</summary>
        public const int BusShift = 20;
        public ulong Size => (ulong)(EndBus - StartBus + 1) << BusShift;
    }

    /// <summary>What the kernel learns from the ACPI tables: where they are, the MADT's interrupt controllers, the MCFG's ECAM windows.</summary>
    public sealed class AcpiInfo
    {
        public Rsdp Rsdp;
        /// <summary>The root table used: the XSDT when the RSDP has one, else the RSDT.</summary>
        public ulong RootAddress;
        public bool UsesXsdt;
        /// <summary>Signatures of the tables the root lists whose header and checksum are good, in order.</summary>
        public readonly List<string> Tables = new List<string>();
        /// <summary>Why something was skipped (bad checksum, truncated entry...): one line each.</summary>
        public readonly List<string> Problems = new List<string>();

        public bool HasMadt;
        public uint LocalApicAddress;
        /// <summary>MADT flags PCAT_COMPAT: the system also has dual 8259 PICs.</summary>
        public bool HasLegacyPics;
        public int ProcessorCount;
        public readonly List<IoApicEntry> IoApics = new List<IoApicEntry>();
        public readonly List<InterruptSourceOverride> Overrides = new List<InterruptSourceOverride>();
        public readonly List<EcamRegion> Ecam = new List<EcamRegion>();

        /// <summary>
        /// The GSI an ISA IRQ arrives on and its override flags (0 = bus defaults: edge, active high), from
        /// the Interrupt Source Overrides; without one, the GSI equals the IRQ (5.2.12.5).
        /// </summary>
        public uint IsaIrqToGsi(int irq, out ushort flags)
        {
            for (int i = 0; i < Overrides.Count; i++)
                if (Overrides[i].Bus == 0 && Overrides[i].Source == irq)
                {
                    flags = Overrides[i].Flags;
                    return Overrides[i].Gsi;
                }
            flags = 0;
            return (uint)irq;
        }

        /// <summary>The ECAM window covering segment 0 and <paramref name="bus"/>, or false.</summary>
        public bool FindEcam(int bus, out EcamRegion region)
        {
            for (int i = 0; i < Ecam.Count; i++)
                if (Ecam[i].Segment == 0 && bus >= Ecam[i].StartBus && bus <= Ecam[i].EndBus)
                {
                    region = Ecam[i];
                    return true;
                }
            region = default;
            return false;
        }
    }

    /// <summary>
    /// ACPI table discovery and parsing (ACPI 6.5 chapter 5.2): the RSDP (from the boot loader's copy or a
    /// scan of the BIOS areas), the XSDT or RSDT, and the two tables the kernel uses, MADT ("APIC",
    /// 5.2.12) and MCFG (PCI Firmware Spec 3.2, 4.1.2). Every length and count comes from firmware
    /// memory, so each is checked against the bytes that exist and bounded: a broken table is skipped
    /// with a line in <see cref="AcpiInfo.Problems"/>, never trusted past its end.
    /// </summary>
    public static class AcpiTables
    {
        public const string RsdpSignature = "RSD PTR ";
        /// <summary>ACPI 1.0 RSDP: checksum over the first 20 bytes; 2.0+: Length at 20, extended checksum over all 36.</summary>
        public const int RsdpV1Length = 20, RsdpV2Length = 36;
        const int RsdpOemIdOffset = 9, RsdpRevisionOffset = 15, RsdpRsdtOffset = 16, RsdpLengthOffset = 20, RsdpXsdtOffset = 24;

        /// <summary>System Description Table header (5.2.6): 36 bytes, Signature at 0, Length at 4.</summary>
        public const int HeaderLength = 36;
        const int LengthOffset = 4;
        /// <summary>Largest table read (a MADT for hundreds of CPUs is a few KiB).</summary>
        public const int MaxTableLength = 1 << 20;
        /// <summary>Most root entries looked at.</summary>
        public const int MaxRootEntries = 256;

        /// <summary>BIOS areas searched for the RSDP (5.2.5.1): the first KiB of the EBDA (segment at 40:0E), then E0000h-FFFFFh, on 16-byte boundaries.</summary>
        public const ulong EbdaSegmentPointer = 0x40E;
        public const int EbdaSearchLength = 1024;
        public const ulong BiosAreaStart = 0xE0000, BiosAreaEnd = 0x100000;
        /// <summary>The EBDA lies above the BIOS Data Area (400h-4FFh) and below 640 KiB.</summary>
        const ulong BiosDataAreaEnd = 0x500, ConventionalMemoryEnd = 0xA0000;
        const int RsdpAlignment = 16;
        const int ParagraphShift = 4;

        // MADT (5.2.12): local interrupt controller address at 36, flags at 40, structures from 44.
        public const string MadtSignature = "APIC";
        const int MadtLocalApicOffset = 36, MadtFlagsOffset = 40, MadtEntriesOffset = 44;
        const uint MadtPcatCompat = 1;
        const byte MadtLocalApic = 0, MadtIoApic = 1, MadtOverride = 2, MadtLocalX2Apic = 9;
        const int LocalApicEnabledFlag = 1, LocalApicOnlineCapableFlag = 2;
        const int IoApicLength = 12, OverrideLength = 10, LocalApicLength = 8, LocalX2ApicLength = 16;

        // MCFG: 8 reserved bytes after the header, then 16-byte allocations.
        public const string McfgSignature = "MCFG";
        const int McfgEntriesOffset = 44, McfgEntryLength = 16;

        /// <summary>Checks and decodes an RSDP (the boot loader's copy or bytes at a scanned address).</summary>
        public static bool ParseRsdp(ReadOnlySpan<byte> bytes, out Rsdp rsdp, out string problem)
        {
            rsdp = default;
            problem = null;
            if (bytes.Length < RsdpV1Length || !HasSignature(bytes, RsdpSignature))
            {
                problem = "no RSDP signature";
                return false;
            }
            if (Sum(bytes.Slice(0, RsdpV1Length)) != 0)
            {
                problem = "RSDP checksum is wrong";
                return false;
            }
            rsdp.Revision = bytes[RsdpRevisionOffset];
            rsdp.OemId = Ascii(bytes.Slice(RsdpOemIdOffset, 6));
            rsdp.RsdtAddress = Le32(bytes, RsdpRsdtOffset);
            if (rsdp.Revision >= 2)
            {
                if (bytes.Length < RsdpV2Length || Le32(bytes, RsdpLengthOffset) < RsdpV2Length ||
                    Sum(bytes.Slice(0, RsdpV2Length)) != 0)
                    problem = "ACPI 2.0 RSDP with a bad length or extended checksum; using its RSDT";
                else
                    rsdp.XsdtAddress = Le64(bytes, RsdpXsdtOffset);
            }
            return true;
        }

        /// <summary>Scans the EBDA's first KiB and E0000h-FFFFFh for a valid RSDP; returns its address or 0.</summary>
        public static ulong FindRsdp(IPhysicalMemory memory)
        {
            Span<byte> pointer = stackalloc byte[2];
            if (memory.Read(EbdaSegmentPointer, pointer))
            {
                ulong ebda = (ulong)(pointer[0] | pointer[1] << 8) << ParagraphShift;
                if (ebda >= BiosDataAreaEnd && ebda + EbdaSearchLength <= ConventionalMemoryEnd)
                {
                    ulong found = Scan(memory, ebda, EbdaSearchLength);
                    if (found != 0)
                        return found;
                }
            }
            return Scan(memory, BiosAreaStart, (int)(BiosAreaEnd - BiosAreaStart));
        }

        static ulong Scan(IPhysicalMemory memory, ulong start, int length)
        {
            var area = new byte[length];
            if (!memory.Read(start, area))
                return 0;
            for (int offset = 0; offset + RsdpV1Length <= length; offset += RsdpAlignment)
            {
                int available = length - offset < RsdpV2Length ? length - offset : RsdpV2Length;
                if (ParseRsdp(new ReadOnlySpan<byte>(area, offset, available), out _, out _))
                    return start + (ulong)offset;
            }
            return 0;
        }

        /// <summary>Walks the XSDT (or RSDT) of <paramref name="rsdp"/> and parses the MADT and MCFG it lists.</summary>
        public static AcpiInfo Load(IPhysicalMemory memory, Rsdp rsdp)
        {
            var info = new AcpiInfo();
            info.Rsdp = rsdp;
            info.UsesXsdt = rsdp.XsdtAddress != 0;
            info.RootAddress = info.UsesXsdt ? rsdp.XsdtAddress : rsdp.RsdtAddress;
            byte[] root = ReadTable(memory, info.RootAddress, info.UsesXsdt ? "XSDT" : "RSDT", info);
            if (root == null && info.UsesXsdt && rsdp.RsdtAddress != 0)
            {
                // A broken XSDT with a usable RSDT: Linux falls back the same way.
                info.UsesXsdt = false;
                info.RootAddress = rsdp.RsdtAddress;
                root = ReadTable(memory, info.RootAddress, "RSDT", info);
            }
            if (root == null)
                return info;
            int entrySize = info.UsesXsdt ? 8 : 4;
            int entries = (root.Length - HeaderLength) / entrySize;
            if (entries > MaxRootEntries)
            {
                info.Problems.Add("root table lists " + Format.Decimal((ulong)entries) + " tables; reading the first " + Format.Decimal(MaxRootEntries));
                entries = MaxRootEntries;
            }
            for (int i = 0; i < entries; i++)
            {
                int at = HeaderLength + i * entrySize;
                ulong address = info.UsesXsdt ? Le64(root, at) : Le32(root, at);
                byte[] table = ReadTable(memory, address, null, info);
                if (table == null)
                    continue;
                string signature = Ascii(new ReadOnlySpan<byte>(table, 0, 4));
                info.Tables.Add(signature);
                if (signature == MadtSignature && !info.HasMadt)
                    ParseMadt(table, info);
                else if (signature == McfgSignature && info.Ecam.Count == 0)
                    ParseMcfg(table, info);
            }
            return info;
        }

        /// <summary>A whole table with a sane length, the expected signature (when given) and a zero checksum; else null and a problem line.</summary>
        static byte[] ReadTable(IPhysicalMemory memory, ulong address, string signature, AcpiInfo info)
        {
            string what = (signature ?? "table") + " at 0x" + Format.Hex(address);
            if (address == 0)
            {
                info.Problems.Add(what + ": null address");
                return null;
            }
            var header = new byte[HeaderLength];
            if (!memory.Read(address, header))
            {
                info.Problems.Add(what + ": not readable");
                return null;
            }
            if (signature != null && !HasSignature(header, signature))
            {
                info.Problems.Add(what + ": signature is not " + signature);
                return null;
            }
            uint length = Le32(header, LengthOffset);
            if (length < HeaderLength || length > MaxTableLength)
            {
                info.Problems.Add(what + ": length " + Format.Decimal(length) + " is out of range");
                return null;
            }
            var table = new byte[length];
            if (!memory.Read(address, table))
            {
                info.Problems.Add(what + ": not readable");
                return null;
            }
            if (Sum(table) != 0)
            {
                info.Problems.Add(Ascii(new ReadOnlySpan<byte>(header, 0, 4)) + " at 0x" + Format.Hex(address) + ": checksum is wrong; ignored");
                return null;
            }
            return table;
        }

        /// <summary>MADT (5.2.12): local APIC address, PCAT_COMPAT, processors, I/O APICs, interrupt source overrides.</summary>
        public static void ParseMadt(ReadOnlySpan<byte> table, AcpiInfo info)
        {
            if (table.Length < MadtEntriesOffset)
            {
                info.Problems.Add("MADT: shorter than its fixed fields");
                return;
            }
            info.HasMadt = true;
            info.LocalApicAddress = Le32(table, MadtLocalApicOffset);
            info.HasLegacyPics = (Le32(table, MadtFlagsOffset) & MadtPcatCompat) != 0;
            int offset = MadtEntriesOffset;
            // Each structure is at least 2 bytes long, so the walk ends within table.Length / 2 steps.
            while (offset + 2 <= table.Length)
            {
                byte type = table[offset];
                int length = table[offset + 1];
                if (length < 2 || offset + length > table.Length)
                {
                    info.Problems.Add("MADT: structure type " + Format.Decimal(type) + " at offset " + Format.Decimal((ulong)offset) +
                                      " has length " + Format.Decimal((ulong)length) + "; rest ignored");
                    return;
                }
                ReadOnlySpan<byte> entry = table.Slice(offset, length);
                switch (type)
                {
                    case MadtLocalApic:
                        if (length >= LocalApicLength && (Le32(entry, 4) & (LocalApicEnabledFlag | LocalApicOnlineCapableFlag)) != 0)
                            info.ProcessorCount++;
                        break;
                    case MadtLocalX2Apic:
                        if (length >= LocalX2ApicLength && (Le32(entry, 8) & (LocalApicEnabledFlag | LocalApicOnlineCapableFlag)) != 0)
                            info.ProcessorCount++;
                        break;
                    case MadtIoApic:
                        if (length >= IoApicLength)
                            info.IoApics.Add(new IoApicEntry { Id = entry[2], Address = Le32(entry, 4), GsiBase = Le32(entry, 8) });
                        else
                            info.Problems.Add("MADT: short I/O APIC structure");
                        break;
                    case MadtOverride:
                        if (length >= OverrideLength)
                            info.Overrides.Add(new InterruptSourceOverride
                            {
                                Bus = entry[2], Source = entry[3], Gsi = Le32(entry, 4), Flags = (ushort)(entry[8] | entry[9] << 8),
                            });
                        else
                            info.Problems.Add("MADT: short interrupt source override");
                        break;
                }
                offset += length;
            }
        }

        /// <summary>MCFG: the ECAM windows (base address, segment, bus range), each checked for a sane range and alignment.</summary>
        public static void ParseMcfg(ReadOnlySpan<byte> table, AcpiInfo info)
        {
            for (int offset = McfgEntriesOffset; offset + McfgEntryLength <= table.Length; offset += McfgEntryLength)
            {
                var region = new EcamRegion
                {
                    BaseAddress = Le64(table, offset),
                    Segment = (ushort)(table[offset + 8] | table[offset + 9] << 8),
                    StartBus = table[offset + 10],
                    EndBus = table[offset + 11],
                };
                if (region.EndBus < region.StartBus || region.BaseAddress == 0 ||
                    (region.BaseAddress & ((1UL << EcamRegion.BusShift) - 1)) != 0)
                {
                    info.Problems.Add("MCFG: window at 0x" + Format.Hex(region.BaseAddress) + " for buses " + Format.Decimal(region.StartBus) +
                                      "-" + Format.Decimal(region.EndBus) + " is malformed; ignored");
                    continue;
                }
                info.Ecam.Add(region);
            }
        }
    }
}
