using System;
using Platform;

namespace Drivers.Usb.Storage
{
    /// <summary>CRC-32 (ISO 3309, reflected polynomial EDB88320h) as the GPT header and entry array use it (UEFI 2.10 5.3.2).</summary>
    public static class Crc32
    {
        const uint Polynomial = 0xEDB88320;
        const uint Initial = 0xFFFFFFFF;
        static uint[] s_table;

        static uint[] Table()
        {
            if (s_table != null)
                return s_table;
            var table = new uint[256];
            for (uint i = 0; i < 256; i++)
            {
                uint c = i;
                for (int k = 0; k < 8; k++)
                    c = (c & 1) != 0 ? Polynomial ^ (c >> 1) : c >> 1;
                table[i] = c;
            }
            s_table = table;
            return table;
        }

        /// <summary>Continues a CRC over more bytes: start with <see cref="Begin"/>, end with <see cref="End"/>.</summary>
        public static uint Update(uint crc, ReadOnlySpan<byte> data)
        {
            uint[] table = Table();
            for (int i = 0; i < data.Length; i++)
                crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
            return crc;
        }

        public static uint Begin() => Initial;
        public static uint End(uint crc) => crc ^ Initial;

        public static uint Compute(ReadOnlySpan<byte> data) => End(Update(Begin(), data));
    }

    /// <summary>One partition as lsblk shows it: number (sda1 = 1), extent, type, label and unique id.</summary>
    public sealed class Partition
    {
        public int Number;
        public ulong FirstLba;
        public ulong Blocks;
        /// <summary>MBR partition type byte (0 for GPT partitions).</summary>
        public byte MbrType;
        /// <summary>MBR boot indicator 80h.</summary>
        public bool Bootable;
        /// <summary>GPT PartitionTypeGUID as text ("c12a7328-f81f-11d2-ba4b-00a0c93ec93b"), or the MBR type as "0x83".</summary>
        public string TypeId = "";
        /// <summary>Human name of the type ("EFI System", "Linux", ...), as fdisk prints it.</summary>
        public string TypeName = "";
        /// <summary>GPT PartitionName (lsblk PARTLABEL); empty on MBR.</summary>
        public string Label = "";
        /// <summary>lsblk PARTUUID: the GPT UniquePartitionGUID, or "disk id-NN" on MBR.</summary>
        public string Uuid = "";
        /// <summary>An MBR logical partition (inside an extended one); numbered from 5 as Linux does.</summary>
        public bool Logical;
    }

    /// <summary>
    /// A disk's partition table: MBR (with extended/logical partitions, Linux msdos.c numbering) or
    /// GPT behind its protective MBR (UEFI 2.10 5.2.3, 5.3: header and entry array CRC-32 checked,
    /// the backup header at the disk's last block used when the primary is damaged, as Linux efi.c).
    /// Every field read from the disk is bounded before it is used: counts, sizes, LBAs and chains.
    /// </summary>
    public sealed class PartitionTable
    {
        public const string TypeNone = "";
        public const string TypeMbr = "dos";
        public const string TypeGpt = "gpt";

        // MBR (UEFI 2.10 5.2.1): partition records at 446, signature 55AAh at 510, disk signature at 440.
        public const int MbrSize = 512;
        const int MbrDiskSignature = 440;
        const int MbrRecords = 446;
        const int MbrRecordSize = 16;
        const int MbrRecordCount = 4;
        const int MbrSignatureOffset = 510;
        const byte MbrSignature0 = 0x55, MbrSignature1 = 0xAA;
        const int RecordBootIndicator = 0, RecordType = 4, RecordStartLba = 8, RecordSizeInLba = 12;
        const byte BootActive = 0x80;
        public const byte TypeEmpty = 0x00;
        public const byte TypeExtendedChs = 0x05, TypeExtendedLba = 0x0F, TypeExtendedLinux = 0x85;
        public const byte TypeGptProtective = 0xEE;
        /// <summary>Linux numbers logical partitions from 5, after the four primary slots.</summary>
        const int FirstLogicalNumber = 5;
        /// <summary>Bound of an extended partition chain (Linux msdos.c stops at disk_max_parts as well).</summary>
        public const int MaxLogicalPartitions = 60;

        // GPT header (UEFI 2.10 table 5.5).
        static readonly byte[] GptSignature = { (byte)'E', (byte)'F', (byte)'I', (byte)' ', (byte)'P', (byte)'A', (byte)'R', (byte)'T' };
        const int GptHeaderSizeOffset = 12, GptHeaderCrcOffset = 16, GptMyLba = 24, GptAlternateLba = 32;
        const int GptFirstUsable = 40, GptLastUsable = 48, GptDiskGuid = 56, GptEntryLba = 72;
        const int GptEntryCount = 80, GptEntrySize = 84, GptEntryArrayCrc = 88;
        public const int GptHeaderMinSize = 92;
        public const ulong GptPrimaryLba = 1;
        // GPT partition entry (UEFI 2.10 table 5.6).
        const int EntryTypeGuid = 0, EntryUniqueGuid = 16, EntryFirstLba = 32, EntryLastLba = 40, EntryName = 56;
        const int EntryNameChars = 36;
        public const int GptEntryMinSize = 128;
        /// <summary>Bounds on what a header may ask for: entries and the array's bytes (the usual array is 128 × 128 = 16 KiB).</summary>
        public const uint MaxGptEntries = 1024;
        public const uint MaxGptEntrySize = 4096;
        public const int MaxGptArrayBytes = 256 * 1024;
        const int GuidSize = 16;

        public string Type = TypeNone;
        /// <summary>lsblk PTUUID: the GPT DiskGUID or the MBR disk signature ("1234abcd").</summary>
        public string DiskId = "";
        public Partition[] Partitions = new Partition[0];
        /// <summary>What was wrong with the table, if anything (logged; the table may still be usable).</summary>
        public string Problem;

        public static readonly PartitionTable None = new PartitionTable();

        /// <summary>Reads and parses the table of a disk. A disk without a table gives Type "" and no partitions.</summary>
        public static PartitionTable Read(IBlockReader disk)
        {
            var table = new PartitionTable();
            uint blockSize = disk.BlockSize;
            if (blockSize < MbrSize || disk.BlockCount == 0)
                return table;
            var block0 = new byte[blockSize];
            StorageStatus status = disk.Read(0, 1, block0);
            if (status != StorageStatus.Ok)
            {
                table.Problem = "partition table not read: " + StorageStatusNames.Name(status);
                return table;
            }
            if (!IsMbr(block0))
                return table;
            if (HasProtectiveRecord(block0))
            {
                if (ReadGpt(disk, table))
                    return table;
                // Linux efi.c without a valid GPT on a protective MBR: nothing usable on it.
                table.Partitions = new Partition[0];
                table.Type = TypeNone;
                return table;
            }
            ParseMbr(disk, block0, table);
            return table;
        }

        /// <summary>55AAh at 510 and boot indicators of 00h or 80h only (a FAT boot sector without partitions fails the latter).</summary>
        public static bool IsMbr(ReadOnlySpan<byte> block0)
        {
            if (block0.Length < MbrSize || block0[MbrSignatureOffset] != MbrSignature0 || block0[MbrSignatureOffset + 1] != MbrSignature1)
                return false;
            for (int i = 0; i < MbrRecordCount; i++)
            {
                byte boot = block0[MbrRecords + i * MbrRecordSize + RecordBootIndicator];
                if (boot != 0 && boot != BootActive)
                    return false;
            }
            return true;
        }

        static bool HasProtectiveRecord(ReadOnlySpan<byte> block0)
        {
            for (int i = 0; i < MbrRecordCount; i++)
                if (block0[MbrRecords + i * MbrRecordSize + RecordType] == TypeGptProtective)
                    return true;
            return false;
        }

        static bool IsExtended(byte type) => type == TypeExtendedChs || type == TypeExtendedLba || type == TypeExtendedLinux;

        static void ParseMbr(IBlockReader disk, ReadOnlySpan<byte> block0, PartitionTable table)
        {
            table.Type = TypeMbr;
            uint signature = Bytes.ReadLe32(block0, MbrDiskSignature);
            table.DiskId = Format.Hex(signature, 8);
            var list = new System.Collections.Generic.List<Partition>();
            ulong extendedStart = 0, extendedBlocks = 0;
            for (int i = 0; i < MbrRecordCount; i++)
            {
                int o = MbrRecords + i * MbrRecordSize;
                byte type = block0[o + RecordType];
                ulong start = Bytes.ReadLe32(block0, o + RecordStartLba);
                ulong size = Bytes.ReadLe32(block0, o + RecordSizeInLba);
                if (type == TypeEmpty || size == 0)
                    continue;
                Partition p = MbrPartition(table, i + 1, type, block0[o + RecordBootIndicator] == BootActive, start, size, disk.BlockCount);
                if (p == null)
                    continue;
                list.Add(p);
                if (IsExtended(type) && extendedBlocks == 0)
                {
                    extendedStart = p.FirstLba;
                    extendedBlocks = p.Blocks;
                }
            }
            if (extendedBlocks != 0)
                ParseLogical(disk, table, list, extendedStart, extendedBlocks);
            table.Partitions = list.ToArray();
        }

        static Partition MbrPartition(PartitionTable table, int number, byte type, bool bootable, ulong start, ulong size, ulong diskBlocks)
        {
            if (start >= diskBlocks)
            {
                table.Problem = "p" + Format.Decimal((ulong)number) + " start " + Format.Decimal(start) + " is beyond EOD, skipped";
                return null;
            }
            if (size > diskBlocks - start)
            {
                // Linux: "p1 size 123 extends beyond EOD, truncated".
                table.Problem = "p" + Format.Decimal((ulong)number) + " size " + Format.Decimal(size) + " extends beyond EOD, truncated";
                size = diskBlocks - start;
            }
            var p = new Partition();
            p.Number = number;
            p.FirstLba = start;
            p.Blocks = size;
            p.MbrType = type;
            p.Bootable = bootable;
            p.TypeId = "0x" + Format.Hex(type, 2);
            p.TypeName = MbrTypeName(type);
            p.Uuid = table.DiskId + "-" + Format.Hex((ulong)number, 2);
            return p;
        }

        /// <summary>
        /// Logical partitions: a chain of extended boot records inside the extended partition, each
        /// with one data record (relative to this EBR) and one link (relative to the extended
        /// partition's start). The chain is bounded in length and must stay inside the extended partition.
        /// </summary>
        static void ParseLogical(IBlockReader disk, PartitionTable table, System.Collections.Generic.List<Partition> list, ulong extStart, ulong extBlocks)
        {
            var ebr = new byte[disk.BlockSize];
            ulong relative = 0;
            int number = FirstLogicalNumber;
            for (int hop = 0; hop < MaxLogicalPartitions; hop++)
            {
                ulong at = extStart + relative;
                if (disk.Read(at, 1, ebr) != StorageStatus.Ok || ebr[MbrSignatureOffset] != MbrSignature0 || ebr[MbrSignatureOffset + 1] != MbrSignature1)
                    return;
                ulong next = 0;
                for (int i = 0; i < 2; i++)
                {
                    int o = MbrRecords + i * MbrRecordSize;
                    byte type = ebr[o + RecordType];
                    ulong start = Bytes.ReadLe32(ebr, o + RecordStartLba);
                    ulong size = Bytes.ReadLe32(ebr, o + RecordSizeInLba);
                    if (type == TypeEmpty || size == 0)
                        continue;
                    if (IsExtended(type))
                    {
                        if (next == 0) next = start;
                        continue;
                    }
                    if (start > extBlocks || at + start >= extStart + extBlocks)
                        continue;
                    Partition p = MbrPartition(table, number, type, ebr[o + RecordBootIndicator] == BootActive, at + start, size, disk.BlockCount);
                    if (p == null)
                        continue;
                    p.Logical = true;
                    list.Add(p);
                    number++;
                }
                // The next EBR must lie further on inside the extended partition: that also ends loops.
                if (next == 0 || next <= relative || next >= extBlocks)
                    return;
                relative = next;
            }
            table.Problem = "more than " + Format.Decimal((ulong)MaxLogicalPartitions) + " logical partitions; the rest ignored";
        }

        /// <summary>GPT: the primary header at LBA 1, else the backup at the last block. False when neither is valid.</summary>
        static bool ReadGpt(IBlockReader disk, PartitionTable table)
        {
            var header = new byte[disk.BlockSize];
            string why = ReadGptAt(disk, GptPrimaryLba, header, table);
            if (why == null)
                return true;
            ulong last = disk.BlockCount - 1;
            string backupWhy = last > GptPrimaryLba ? ReadGptAt(disk, last, header, table) : "no backup";
            if (backupWhy == null)
            {
                table.Problem = "primary GPT header is invalid (" + why + "); using the backup";
                return true;
            }
            table.Problem = "GPT invalid: primary " + why + ", backup " + backupWhy;
            return false;
        }

        /// <summary>Validates one GPT header and its entry array and fills the table; null when valid, else why not.</summary>
        static string ReadGptAt(IBlockReader disk, ulong lba, byte[] header, PartitionTable table)
        {
            if (disk.Read(lba, 1, header) != StorageStatus.Ok)
                return "header not readable";
            return ParseGptHeader(disk, lba, header, table);
        }

        /// <summary>The checks of UEFI 2.10 5.3.2 on a header read from <paramref name="lba"/>; then the entry array.</summary>
        public static string ParseGptHeader(IBlockReader disk, ulong lba, byte[] header, PartitionTable table)
        {
            for (int i = 0; i < GptSignature.Length; i++)
                if (header[i] != GptSignature[i])
                    return "no \"EFI PART\" signature";
            uint headerSize = Bytes.ReadLe32(header, GptHeaderSizeOffset);
            if (headerSize < GptHeaderMinSize || headerSize > disk.BlockSize)
                return "header size " + Format.Decimal(headerSize);
            uint storedCrc = Bytes.ReadLe32(header, GptHeaderCrcOffset);
            // The CRC is computed with its own field as zero.
            uint crc = Crc32.Begin();
            crc = Crc32.Update(crc, new ReadOnlySpan<byte>(header, 0, GptHeaderCrcOffset));
            crc = Crc32.Update(crc, new ReadOnlySpan<byte>(new byte[4]));
            crc = Crc32.Update(crc, new ReadOnlySpan<byte>(header, GptHeaderCrcOffset + 4, (int)headerSize - GptHeaderCrcOffset - 4));
            if (Crc32.End(crc) != storedCrc)
                return "header CRC mismatch";
            if (Bytes.ReadLe64(header, GptMyLba) != lba)
                return "MyLBA is not " + Format.Decimal(lba);
            ulong firstUsable = Bytes.ReadLe64(header, GptFirstUsable);
            ulong lastUsable = Bytes.ReadLe64(header, GptLastUsable);
            if (firstUsable > lastUsable || lastUsable >= disk.BlockCount)
                return "usable LBAs " + Format.Decimal(firstUsable) + ".." + Format.Decimal(lastUsable) + " outside the disk";
            ulong entryLba = Bytes.ReadLe64(header, GptEntryLba);
            uint count = Bytes.ReadLe32(header, GptEntryCount);
            uint size = Bytes.ReadLe32(header, GptEntrySize);
            // Entry size: 128 × 2^n (UEFI 5.3.2).
            if (size < GptEntryMinSize || size > MaxGptEntrySize || (size & (size - 1)) != 0)
                return "entry size " + Format.Decimal(size);
            if (count > MaxGptEntries || (ulong)count * size > MaxGptArrayBytes)
                return Format.Decimal(count) + " entries of " + Format.Decimal(size) + " bytes is too many";
            int arrayBytes = (int)(count * size);
            ulong arrayBlocks = ((ulong)arrayBytes + disk.BlockSize - 1) / disk.BlockSize;
            if (entryLba == 0 || entryLba >= disk.BlockCount || arrayBlocks > disk.BlockCount - entryLba)
                return "entry array at LBA " + Format.Decimal(entryLba) + " outside the disk";
            var array = new byte[(int)(arrayBlocks * disk.BlockSize)];
            if (arrayBlocks > 0 && disk.Read(entryLba, (int)arrayBlocks, array) != StorageStatus.Ok)
                return "entry array not readable";
            if (Crc32.Compute(new ReadOnlySpan<byte>(array, 0, arrayBytes)) != Bytes.ReadLe32(header, GptEntryArrayCrc))
                return "entry array CRC mismatch";

            var list = new System.Collections.Generic.List<Partition>();
            for (int i = 0; i < (int)count; i++)
            {
                int o = i * (int)size;
                if (IsZero(new ReadOnlySpan<byte>(array, o + EntryTypeGuid, GuidSize)))
                    continue;    // unused entry
                ulong first = Bytes.ReadLe64(array, o + EntryFirstLba);
                ulong last = Bytes.ReadLe64(array, o + EntryLastLba);
                if (first > last || first < firstUsable || last > lastUsable)
                {
                    table.Problem = "GPT entry " + Format.Decimal((ulong)(i + 1)) + " LBAs " + Format.Decimal(first) + ".." + Format.Decimal(last) +
                                    " outside the usable area; skipped";
                    continue;
                }
                var p = new Partition();
                p.Number = i + 1;    // Linux: sdaN is entry N, gaps included
                p.FirstLba = first;
                p.Blocks = last - first + 1;
                p.TypeId = GuidText(new ReadOnlySpan<byte>(array, o + EntryTypeGuid, GuidSize));
                p.TypeName = GptTypeName(p.TypeId);
                p.Uuid = GuidText(new ReadOnlySpan<byte>(array, o + EntryUniqueGuid, GuidSize));
                p.Label = Utf16Name(new ReadOnlySpan<byte>(array, o + EntryName, EntryNameChars * 2));
                list.Add(p);
            }
            table.Type = TypeGpt;
            table.DiskId = GuidText(new ReadOnlySpan<byte>(header, GptDiskGuid, GuidSize));
            table.Partitions = list.ToArray();
            return null;
        }

        static bool IsZero(ReadOnlySpan<byte> b)
        {
            for (int i = 0; i < b.Length; i++)
                if (b[i] != 0)
                    return false;
            return true;
        }

        /// <summary>A GUID as text: the first three fields are little-endian on disk (UEFI 2.10 appendix A).</summary>
        public static string GuidText(ReadOnlySpan<byte> g)
        {
            return Format.Hex(Bytes.ReadLe32(g, 0), 8) + "-" + Format.Hex(Bytes.ReadLe16(g, 4), 4) + "-" + Format.Hex(Bytes.ReadLe16(g, 6), 4) + "-" +
                   Format.Hex(g[8], 2) + Format.Hex(g[9], 2) + "-" + Format.Hex(g[10], 2) + Format.Hex(g[11], 2) + Format.Hex(g[12], 2) +
                   Format.Hex(g[13], 2) + Format.Hex(g[14], 2) + Format.Hex(g[15], 2);
        }

        /// <summary>The UTF-16LE partition name up to its first NUL; characters outside printable ASCII print as '?'.</summary>
        static string Utf16Name(ReadOnlySpan<byte> b)
        {
            int n = 0;
            while (n < b.Length / 2 && (b[2 * n] | b[2 * n + 1]) != 0)
                n++;
            var chars = new char[n];
            for (int i = 0; i < n; i++)
            {
                int c = b[2 * i] | (b[2 * i + 1] << 8);
                chars[i] = c >= 0x20 && c < 0x7F ? (char)c : '?';
            }
            return new string(chars);
        }

        /// <summary>fdisk's names for the common MBR types.</summary>
        public static string MbrTypeName(byte type)
        {
            switch (type)
            {
                case 0x01: return "FAT12";
                case 0x04: return "FAT16 <32M";
                case TypeExtendedChs: return "Extended";
                case 0x06: return "FAT16";
                case 0x07: return "HPFS/NTFS/exFAT";
                case 0x0B: return "W95 FAT32";
                case 0x0C: return "W95 FAT32 (LBA)";
                case 0x0E: return "W95 FAT16 (LBA)";
                case TypeExtendedLba: return "W95 Ext'd (LBA)";
                case 0x82: return "Linux swap / Solaris";
                case 0x83: return "Linux";
                case TypeExtendedLinux: return "Linux extended";
                case 0x8E: return "Linux LVM";
                case TypeGptProtective: return "GPT";
                case 0xEF: return "EFI (FAT-12/16/32)";
                default: return "Unknown";
            }
        }

        /// <summary>fdisk's names for the common GPT partition type GUIDs.</summary>
        public static string GptTypeName(string guid)
        {
            switch (guid)
            {
                case "c12a7328-f81f-11d2-ba4b-00a0c93ec93b": return "EFI System";
                case "21686148-6449-6e6f-744e-656564454649": return "BIOS boot";
                case "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": return "Microsoft basic data";
                case "e3c9e316-0b5c-4db8-817d-f92df00215ae": return "Microsoft reserved";
                case "0fc63daf-8483-4772-8e79-3d69d8477de4": return "Linux filesystem";
                case "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f": return "Linux swap";
                case "e6d6d379-f507-44c2-a23c-238f2a3df928": return "Linux LVM";
                case "4f68bce3-e8cd-4db1-96e7-fbcaf984b709": return "Linux root (x86-64)";
                default: return "Unknown";
            }
        }
    }
}
