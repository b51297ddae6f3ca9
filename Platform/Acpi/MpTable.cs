using System;
using System.Collections.Generic;
using static Platform.Acpi.FirmwareBytes;

namespace Platform.Acpi
{
    /// <summary>MP bus entry (Intel MultiProcessor Specification 1.4, 4.3.2): a bus id and its type string ("PCI", "ISA", ...).</summary>
    public struct MpBus
    {
        public byte Id;
        public string Type;
    }

    /// <summary>MP I/O APIC entry (MPS 1.4, 4.3.3).</summary>
    public struct MpIoApic
    {
        public byte Id;
        public byte Version;
        public bool Enabled;
        public uint Address;
    }

    /// <summary>
    /// MP I/O interrupt assignment entry (MPS 1.4, 4.3.4, type 3): which I/O APIC input (INTIN#) a bus interrupt
    /// source arrives on. For a PCI bus the source bus IRQ is (device &lt;&lt; 2) | (pin - 1), pin 1 = INTA# (MPS 1.4, D.3).
    /// </summary>
    public struct MpInterrupt
    {
        /// <summary>Interrupt type (table 4-9): 0 INT (vectored through the I/O APIC), 1 NMI, 2 SMI, 3 ExtINT.</summary>
        public byte Type;
        /// <summary>The MPS INTI flags (table 4-10), the same encoding as the MADT's: polarity bits 1:0, trigger bits 3:2.</summary>
        public ushort Flags;
        public byte SourceBus;
        public byte SourceBusIrq;
        /// <summary>Destination I/O APIC id (0xFF: every I/O APIC).</summary>
        public byte DestinationApicId;
        public byte DestinationPin;

        public const byte TypeInt = 0;
    }

    /// <summary>What the MP configuration table says (only what interrupt routing needs).</summary>
    public sealed class MpInfo
    {
        /// <summary>Physical addresses of the floating pointer and of the configuration table.</summary>
        public ulong FloatingPointerAddress, TableAddress;
        /// <summary>1 (MPS 1.1) or 4 (MPS 1.4).</summary>
        public byte SpecRevision;
        /// <summary>Feature byte 2 bit 7 (IMCRP): the system starts in PIC mode and the IMCR must be switched to reach the I/O APIC.</summary>
        public bool ImcrPresent;
        /// <summary>Feature byte 1: non-zero selects one of the default configurations (MPS 1.4, chapter 5) instead of a table.</summary>
        public byte DefaultConfiguration;
        public string OemId = "", ProductId = "";
        public uint LocalApicAddress;
        public ushort TableLength;
        public readonly List<MpBus> Buses = new List<MpBus>();
        public readonly List<MpIoApic> IoApics = new List<MpIoApic>();
        public readonly List<MpInterrupt> Interrupts = new List<MpInterrupt>();
        /// <summary>Why something was ignored: one line each.</summary>
        public readonly List<string> Problems = new List<string>();

        /// <summary>The bus entry with that id has type "PCI".</summary>
        public bool IsPciBus(byte id)
        {
            for (int i = 0; i < Buses.Count; i++)
                if (Buses[i].Id == id)
                    return Buses[i].Type == MpTables.BusTypePci;
            return false;
        }

        /// <summary>The INT assignment for a PCI function's pin (1 = INTA#) on a PCI bus, or false (MPS 1.4, D.3).</summary>
        public bool FindPciInterrupt(int bus, int device, int pin, out MpInterrupt entry)
        {
            entry = default;
            if (pin < 1 || pin > 4 || (uint)bus > 0xFF || (uint)device > MpTables.MaxPciDevice)
                return false;
            byte source = (byte)(device << MpTables.PciDeviceShift | (pin - 1));
            for (int i = 0; i < Interrupts.Count; i++)
            {
                MpInterrupt e = Interrupts[i];
                if (e.Type == MpInterrupt.TypeInt && e.SourceBus == bus && e.SourceBusIrq == source && IsPciBus(e.SourceBus))
                {
                    entry = e;
                    return true;
                }
            }
            return false;
        }
    }

    /// <summary>
    /// The Intel MultiProcessor Specification 1.4 tables (chapter 4): the 16-byte floating pointer ("_MP_", 4.1)
    /// and the configuration table it points at ("PCMP", 4.2, with its entries 4.3). Firmware without ACPI
    /// interrupt routing evaluation (there is no AML interpreter here) still describes PCI INTx wiring there:
    /// SeaBIOS builds one for QEMU, as many PC BIOSes do. Every length and count comes from firmware
    /// memory, so each is checked against the bytes that exist: a broken table is refused with a reason.
    /// </summary>
    public static class MpTables
    {
        public const string FloatingSignature = "_MP_", TableSignature = "PCMP";
        public const string BusTypePci = "PCI", BusTypeIsa = "ISA";
        /// <summary>The floating pointer is one 16-byte paragraph (4.1, Length = 1).</summary>
        public const int FloatingLength = 16;
        const int FloatingAddressOffset = 4, FloatingLengthOffset = 8, FloatingRevisionOffset = 9, FloatingFeature1Offset = 11, FloatingFeature2Offset = 12;
        const byte Feature2Imcrp = 0x80;

        /// <summary>Configuration table header (4.2, table 4-2): 44 bytes.</summary>
        public const int HeaderLength = 44;
        const int LengthOffset = 4, RevisionOffset = 6, OemIdOffset = 8, OemIdLength = 8, ProductIdOffset = 16, ProductIdLength = 12;
        const int EntryCountOffset = 34, LocalApicOffset = 36;

        /// <summary>Entry types and lengths (4.3, table 4-3).</summary>
        public const byte EntryProcessor = 0, EntryBus = 1, EntryIoApic = 2, EntryIoInterrupt = 3, EntryLocalInterrupt = 4;
        public const int ProcessorLength = 20, OtherEntryLength = 8;
        const int BusTypeOffset = 2, BusTypeLength = 6;
        const byte IoApicEnabledFlag = 1;

        /// <summary>PCI source bus IRQ: device number in bits 6:2, pin (0 = INTA#) in bits 1:0 (D.3).</summary>
        public const int PciDeviceShift = 2, MaxPciDevice = 31;

        /// <summary>Search areas (4.0): the EBDA's first KiB, else the last KiB of base memory; then F0000h-FFFFFh.</summary>
        public const ulong EbdaSegmentPointer = 0x40E, BaseMemoryKiBPointer = 0x413;
        public const int SearchLength = 1024;
        public const ulong BiosRomStart = 0xF0000, BiosRomEnd = 0x100000;
        const ulong BiosDataAreaEnd = 0x500, ConventionalMemoryEnd = 0xA0000;
        const int ParagraphShift = 4, KiBShift = 10;

        /// <summary>Scans the areas of 4.0 for a floating pointer with a good signature, length and checksum; returns its address or 0.</summary>
        public static ulong FindFloatingPointer(IPhysicalMemory memory)
        {
            Span<byte> word = stackalloc byte[2];
            if (memory.Read(EbdaSegmentPointer, word))
            {
                ulong ebda = (ulong)(word[0] | word[1] << 8) << ParagraphShift;
                if (ebda >= BiosDataAreaEnd && ebda + SearchLength <= ConventionalMemoryEnd)
                {
                    ulong found = Scan(memory, ebda, SearchLength);
                    if (found != 0)
                        return found;
                }
                else if (memory.Read(BaseMemoryKiBPointer, word))
                {
                    ulong top = (ulong)(word[0] | word[1] << 8) << KiBShift;
                    if (top > SearchLength && top <= ConventionalMemoryEnd)
                    {
                        ulong found = Scan(memory, top - SearchLength, SearchLength);
                        if (found != 0)
                            return found;
                    }
                }
            }
            return Scan(memory, BiosRomStart, (int)(BiosRomEnd - BiosRomStart));
        }

        static ulong Scan(IPhysicalMemory memory, ulong start, int length)
        {
            var area = new byte[length];
            if (!memory.Read(start, area))
                return 0;
            for (int offset = 0; offset + FloatingLength <= length; offset += FloatingLength)
                if (IsFloatingPointer(new ReadOnlySpan<byte>(area, offset, FloatingLength)))
                    return start + (ulong)offset;
            return 0;
        }

        static bool IsFloatingPointer(ReadOnlySpan<byte> bytes) =>
            bytes.Length >= FloatingLength && HasSignature(bytes, FloatingSignature) && bytes[FloatingLengthOffset] == 1 &&
            Sum(bytes.Slice(0, FloatingLength)) == 0;

        /// <summary>Reads the floating pointer at <paramref name="address"/> and the configuration table it names; null and a reason when unusable.</summary>
        public static MpInfo Load(IPhysicalMemory memory, ulong address, out string error)
        {
            var pointer = new byte[FloatingLength];
            if (!memory.Read(address, pointer))
            {
                error = "MP floating pointer at 0x" + Format.Hex(address) + " is not readable";
                return null;
            }
            MpInfo info = ParseFloatingPointer(pointer, out error);
            if (info == null)
                return null;
            info.FloatingPointerAddress = address;
            if (info.DefaultConfiguration != 0 || info.TableAddress == 0)
                return info;
            var header = new byte[HeaderLength];
            if (!memory.Read(info.TableAddress, header))
            {
                error = "MP configuration table at 0x" + Format.Hex(info.TableAddress) + " is not readable";
                return null;
            }
            int length = header[LengthOffset] | header[LengthOffset + 1] << 8;
            if (length < HeaderLength)
            {
                error = "MP configuration table at 0x" + Format.Hex(info.TableAddress) + ": length " + Format.Decimal((ulong)length) + " is shorter than its header";
                return null;
            }
            var table = new byte[length];
            if (!memory.Read(info.TableAddress, table))
            {
                error = "MP configuration table at 0x" + Format.Hex(info.TableAddress) + ": its " + Format.Decimal((ulong)length) + " bytes are not readable";
                return null;
            }
            return ParseTable(table, info, out error) ? info : null;
        }

        /// <summary>Decodes a floating pointer structure (4.1); null and a reason when the signature, length or checksum is wrong.</summary>
        public static MpInfo ParseFloatingPointer(ReadOnlySpan<byte> bytes, out string error)
        {
            error = null;
            if (bytes.Length < FloatingLength || !HasSignature(bytes, FloatingSignature))
            {
                error = "no MP floating pointer signature";
                return null;
            }
            if (bytes[FloatingLengthOffset] != 1)
            {
                error = "MP floating pointer length is " + Format.Decimal(bytes[FloatingLengthOffset]) + " paragraphs, not 1";
                return null;
            }
            if (Sum(bytes.Slice(0, FloatingLength)) != 0)
            {
                error = "MP floating pointer checksum is wrong";
                return null;
            }
            var info = new MpInfo();
            info.TableAddress = Le32(bytes, FloatingAddressOffset);
            info.SpecRevision = bytes[FloatingRevisionOffset];
            info.DefaultConfiguration = bytes[FloatingFeature1Offset];
            info.ImcrPresent = (bytes[FloatingFeature2Offset] & Feature2Imcrp) != 0;
            if (info.DefaultConfiguration == 0 && info.TableAddress == 0)
                error = "MP floating pointer names neither a configuration table nor a default configuration";
            return info;
        }

        /// <summary>
        /// Decodes a configuration table (4.2, 4.3) into <paramref name="info"/>: header (signature, length, checksum),
        /// then the base table's entries, each checked against the table's end. False and a reason when the table is unusable.
        /// </summary>
        public static bool ParseTable(ReadOnlySpan<byte> table, MpInfo info, out string error)
        {
            error = null;
            if (table.Length < HeaderLength || !HasSignature(table, TableSignature))
            {
                error = "MP configuration table has no PCMP signature";
                return false;
            }
            int length = table[LengthOffset] | table[LengthOffset + 1] << 8;
            if (length < HeaderLength || length > table.Length)
            {
                error = "MP configuration table length " + Format.Decimal((ulong)length) + " does not fit the " + Format.Decimal((ulong)table.Length) + " bytes read";
                return false;
            }
            table = table.Slice(0, length);
            if (Sum(table) != 0)
            {
                error = "MP configuration table checksum is wrong";
                return false;
            }
            info.TableLength = (ushort)length;
            info.SpecRevision = table[RevisionOffset];
            info.OemId = Ascii(table.Slice(OemIdOffset, OemIdLength));
            info.ProductId = Ascii(table.Slice(ProductIdOffset, ProductIdLength));
            info.LocalApicAddress = Le32(table, LocalApicOffset);
            int count = table[EntryCountOffset] | table[EntryCountOffset + 1] << 8;
            int offset = HeaderLength;
            // Every entry is at least 8 bytes long, so the walk ends within length / 8 steps whatever count says.
            for (int i = 0; i < count; i++)
            {
                if (offset >= length)
                {
                    info.Problems.Add("MP table: " + Format.Decimal((ulong)count) + " entries announced, the table ends after " + Format.Decimal((ulong)i));
                    break;
                }
                byte type = table[offset];
                int entryLength = type == EntryProcessor ? ProcessorLength : OtherEntryLength;
                if (type > EntryLocalInterrupt)
                {
                    info.Problems.Add("MP table: unknown entry type " + Format.Decimal(type) + " at offset " + Format.Decimal((ulong)offset) + "; rest ignored");
                    break;
                }
                if (offset + entryLength > length)
                {
                    info.Problems.Add("MP table: entry type " + Format.Decimal(type) + " at offset " + Format.Decimal((ulong)offset) + " runs past the end; rest ignored");
                    break;
                }
                ReadOnlySpan<byte> entry = table.Slice(offset, entryLength);
                switch (type)
                {
                    case EntryBus:
                        info.Buses.Add(new MpBus { Id = entry[1], Type = Ascii(entry.Slice(BusTypeOffset, BusTypeLength)) });
                        break;
                    case EntryIoApic:
                        info.IoApics.Add(new MpIoApic
                        {
                            Id = entry[1], Version = entry[2], Enabled = (entry[3] & IoApicEnabledFlag) != 0, Address = Le32(entry, 4),
                        });
                        break;
                    case EntryIoInterrupt:
                        info.Interrupts.Add(new MpInterrupt
                        {
                            Type = entry[1], Flags = (ushort)(entry[2] | entry[3] << 8), SourceBus = entry[4], SourceBusIrq = entry[5],
                            DestinationApicId = entry[6], DestinationPin = entry[7],
                        });
                        break;
                }
                offset += entryLength;
            }
            return true;
        }
    }
}
