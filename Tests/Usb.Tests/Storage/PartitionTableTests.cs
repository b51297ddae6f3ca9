using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Text;
using Drivers.Usb.Storage;
using NUnit.Framework;

namespace Usb.Tests.Storage
{
    /// <summary>An in-memory disk for the partition parser; blocks past the stored bytes read as zeros.</summary>
    public sealed class MemoryDisk : IBlockReader
    {
        public readonly byte[] Bytes;
        public uint BlockSize { get; }
        public ulong BlockCount { get; }
        public int Reads;

        public MemoryDisk(byte[] bytes, ulong blockCount, uint blockSize = 512)
        {
            Bytes = bytes;
            BlockCount = blockCount;
            BlockSize = blockSize;
        }

        public StorageStatus Read(ulong lba, int count, Span<byte> destination)
        {
            Reads++;
            if (count < 0 || lba >= BlockCount || (ulong)count > BlockCount - lba) return StorageStatus.OutOfRange;
            destination.Slice(0, count * (int)BlockSize).Clear();
            for (int i = 0; i < count * (int)BlockSize; i++)
            {
                ulong at = lba * BlockSize + (ulong)i;
                if (at < (ulong)Bytes.Length) destination[i] = Bytes[at];
            }
            return StorageStatus.Ok;
        }
    }

    /// <summary>
    /// Builds MBR and GPT images as the specifications lay them out (UEFI 2.10 5.2, 5.3), for the
    /// parser tests and the QEMU tests' disks.
    /// </summary>
    public static class PartitionImages
    {
        public const string EfiSystem = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
        public const string LinuxFilesystem = "0fc63daf-8483-4772-8e79-3d69d8477de4";

        public static void MbrEntry(byte[] image, int slot, byte type, uint start, uint size, bool boot = false, long sectorBase = 0)
        {
            long o = sectorBase * 512 + 446 + slot * 16;
            image[o] = boot ? (byte)0x80 : (byte)0;
            image[o + 4] = type;
            BitConverterLe(image, o + 8, start);
            BitConverterLe(image, o + 12, size);
            image[sectorBase * 512 + 510] = 0x55;
            image[sectorBase * 512 + 511] = 0xAA;
        }

        static void BitConverterLe(byte[] b, long o, uint v)
        {
            b[o] = (byte)v; b[o + 1] = (byte)(v >> 8); b[o + 2] = (byte)(v >> 16); b[o + 3] = (byte)(v >> 24);
        }

        public static byte[] Guid(string text)
        {
            var g = System.Guid.Parse(text);
            return g.ToByteArray();    // .NET's layout is the mixed-endian one GPT uses
        }

        /// <summary>A GPT disk of <paramref name="blocks"/> blocks with protective MBR, primary and backup headers, 128 entries.</summary>
        public static byte[] Gpt(long blocks, params (string Type, string Unique, ulong First, ulong Last, string Name)[] parts)
        {
            var image = new byte[blocks * 512];
            MbrEntry(image, 0, 0xEE, 1, (uint)Math.Min(blocks - 1, uint.MaxValue));
            var entries = new byte[128 * 128];
            for (int i = 0; i < parts.Length; i++)
            {
                Array.Copy(Guid(parts[i].Type), 0, entries, i * 128, 16);
                Array.Copy(Guid(parts[i].Unique), 0, entries, i * 128 + 16, 16);
                BinaryLe64(entries, i * 128 + 32, parts[i].First);
                BinaryLe64(entries, i * 128 + 40, parts[i].Last);
                byte[] name = Encoding.Unicode.GetBytes(parts[i].Name);
                Array.Copy(name, 0, entries, i * 128 + 56, Math.Min(name.Length, 72));
            }
            uint entriesCrc = Crc(entries);
            ulong last = (ulong)blocks - 1;
            WriteHeader(image, 1, last, 2, entriesCrc, last);
            Array.Copy(entries, 0, image, 2 * 512, entries.Length);
            ulong backupEntries = last - 32;
            WriteHeader(image, last, 1, backupEntries, entriesCrc, last);
            Array.Copy(entries, 0, image, (long)backupEntries * 512, entries.Length);
            return image;
        }

        static void WriteHeader(byte[] image, ulong my, ulong alternate, ulong entryLba, uint entriesCrc, ulong lastBlock)
        {
            var h = new byte[92];
            Encoding.ASCII.GetBytes("EFI PART").CopyTo(h, 0);
            BitConverterLe(h, 8, 0x00010000);
            BitConverterLe(h, 12, 92);
            BinaryLe64(h, 24, my);
            BinaryLe64(h, 32, alternate);
            BinaryLe64(h, 40, 34);
            BinaryLe64(h, 48, lastBlock - 33);
            Guid("11111111-2222-3333-4444-555555555555").CopyTo(h, 56);
            BinaryLe64(h, 72, entryLba);
            BitConverterLe(h, 80, 128);
            BitConverterLe(h, 84, 128);
            BitConverterLe(h, 88, entriesCrc);
            BitConverterLe(h, 16, Crc(h));
            Array.Copy(h, 0, image, (long)my * 512, h.Length);
        }

        public static void BinaryLe64(byte[] b, long o, ulong v)
        {
            for (int i = 0; i < 8; i++) b[o + i] = (byte)(v >> (8 * i));
        }

        /// <summary>An independent CRC-32 (bitwise, no table) to check the driver's table-driven one against.</summary>
        public static uint Crc(byte[] data)
        {
            uint crc = 0xFFFFFFFF;
            foreach (byte b in data)
            {
                crc ^= b;
                for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
            }
            return ~crc;
        }
    }

    [TestFixture]
    public class PartitionTableTests
    {
        /// <summary>The first 64 blocks of this kernel's own ISO as xorriso (grub-mkrescue) made it: protective MBR, GPT with 176 entries at LBA 20.</summary>
        const string XorrisoGptHead = "H4sIADMCFmsC/+3aX2gTSRwH8N+uyRFFTWoEhePaICJyD5JoqUj9k2qapvivJAahFNqVZLmgNct2o1QSzJ1ytzkl+HJw+mJbESGIVInRtpomLbb2IVDrS4/ig4KQGvFF0eMU47RdK+W0KCJE+H5CdmYzP+Y3mYRMBqbWbaACXyye+Z9C/eplxoXkTv8YtmVyZuefi0+OhEzpTeG8wk1u4ZyHgpLUTn0kxQdtEzc5/jqlKGeW76e463sn/yaiKGmK/xX0LweiCrtICn8t+qQ9TGTLxMfjo7fI8rrDF95cVHh1wJ2ORvIruHR/JFnTl/DmzI1uecuvr72J0MYTDzllvS0Tc+jsqqMYc/DDOhOJp8q7I2KsycAqyanK4mHHDyQlt7Nh6NnACkeShpy5bUnjyTHjiapi+lRk8jcSjakh1Ve0i6wvY+pe9hGv5tUX9pjDYEwNZPK8GNOJnay3hZnQHrGT9W8bE19VqvemCkVX7TBENr7NqnesmWyeN2TV0UZ16MMcsMTlpwdbynuIi0/YXvZTND705vnFCqG4pjGc/j1SWJD+K5KvpPS5SH4d5VYW3ta5vdstVOcPtpJLkH0WR6DtILn9go8stbIclJcsoj6OkktzpsubKfRiMLyO5uDp2U+G5RyrXbpAX8ybqHXWWxpq3PuIOGpir3RfOf7PVAunRbzv1a7dH9PuQ+L+/h3HFzlTPdserLw64l+utXdrH3y7GL1LAABQshp2Txc67SdfVyNJh/zzxE+3N0uCrASUQPBwc6sgfSxsqr8FmF0AAICSX/9NRPrxOkGyzhdf79m7qarK2uwTFOHTUfpxdjFjdgEAAEp9/dfniVa1uJyehl1eT7Or/YAc8H1q/8+i5u11VYsd6z8AAMB3sP6vdbGyi+3/bV+//6cu7P8BAABKV1fHaOFxzwbHH5lfUjfWnB2ePdd1c+Zcl12Lq9AOhGmFqY4Eksj61fnXtv2crfh3rKx3J3WMbB2pns3fN5PfoiU8v2Ju/lpyUj1Z6AAF2UNhNYmNSGa1wPQzSIc/bwAeJ/vfkyhLlJHVv+Pp5dn8vTP5O7S8FZ1z87tYfg810C7ykudbzP9t7f1reY9e+Nj82/AFBgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAKFHvADKxQNQAgAAA";
        /// <summary>GRUB's i386-pc boot.img: a real boot sector with the 55AA signature and an empty partition table.</summary>
        const string GrubBootImg = "H4sIADYCFmsC/3udPIGBRqCBEcr4/+s167dDDSVAoqCEaVPDq8oaBgbDA303+i7sYVD4vSClxuZ/CVPHoaB9DbUvxBn3sdZscdy9KvSscFRQkW3j79BVpebNDxlLjAwPdLqwOHS4/O90YTrOIsCQ1i0XU5PWGcMBZCSAGDzHXdgYCrY4nRUuYt3NUPC6bAvHWeFi3qiWS/zNNxj2dde+bGJI4992rCPlv0Ma0Cz+bRcPPmLqeNHxxaHThYN/26EDL5jSOlnSFgJN4zxQ6pe2EGi+4aW07yYdF0FUCYu1C0et+b+DHUcNDhx8wcRxsONCVMcxoFV9hw1v72BkAlos13M4QW4nA2PfbcNv+xka+o79+bxUPvG/WlTNvrba18z7pta+MGHYN6v2hR7DWYnX/9yDQp0UGNxT83MZPBKLUhRcMouzGYJSE1MYFFyLivKLeLkYdjMybOE7K7DGhqH0y2HUIFYR4udkCNq3t9bwwFlhty6elpOl/Ptu1b649P/1HLec/IKCSgaE47YybGMAOvDKNsat/i+//wPpD10FALcpgYEAAgAA";

        static byte[] Gunzip(string base64)
        {
            using var input = new GZipStream(new MemoryStream(Convert.FromBase64String(base64)), CompressionMode.Decompress);
            using var output = new MemoryStream();
            input.CopyTo(output);
            return output.ToArray();
        }

        [Test]
        public void Crc32MatchesTheKnownCheckValue()
        {
            Assert.That(Crc32.Compute(Encoding.ASCII.GetBytes("123456789")), Is.EqualTo(0xCBF43926u), "the CRC-32 check value");
            var random = new byte[4099];
            new Random(3).NextBytes(random);
            Assert.That(Crc32.Compute(random), Is.EqualTo(PartitionImages.Crc(random)));
        }

        [Test]
        public void RealXorrisoHybridIsoGpt()
        {
            var disk = new MemoryDisk(Gunzip(XorrisoGptHead), 41896);
            PartitionTable t = PartitionTable.Read(disk);
            Assert.That(t.Type, Is.EqualTo("gpt"), t.Problem);
            Assert.That(t.Problem, Is.Null);
            Assert.That(t.Partitions.Length, Is.EqualTo(4));
            Partition efi = t.Partitions[1];
            Assert.That(efi.Number, Is.EqualTo(2));
            Assert.That(efi.FirstLba, Is.EqualTo(288UL));
            Assert.That(efi.Blocks, Is.EqualTo(6047UL - 288 + 1));
            Assert.That(efi.TypeName, Is.EqualTo("EFI System"));
            Assert.That(efi.Label, Is.EqualTo("EFI boot partition"));
            Assert.That(t.Partitions[0].TypeName, Is.EqualTo("Microsoft basic data"));
            Assert.That(t.Partitions[0].Label, Is.EqualTo("Gap0"));
            Assert.That(t.Partitions[2].Label, Is.EqualTo("HFSPLUS"));
            Assert.That(t.Partitions[2].TypeName, Is.EqualTo("Unknown"));
        }

        /// <summary>
        /// GRUB's boot.img as shipped keeps floppy code where the partition table goes (grub-install
        /// preserves the disk's own table there): boot indicators that are neither 00h nor 80h, so it
        /// is no table, as Linux's msdos_partition decides. With the table area cleared, as on an
        /// installed disk without partitions, it is an empty dos table.
        /// </summary>
        [Test]
        public void RealGrubBootSector()
        {
            byte[] boot = Gunzip(GrubBootImg);
            Assert.That(PartitionTable.Read(new MemoryDisk(boot, 2048)).Type, Is.EqualTo(""), "code in the table area");
            Array.Clear(boot, 446, 64);
            PartitionTable t = PartitionTable.Read(new MemoryDisk(boot, 2048));
            Assert.That(t.Type, Is.EqualTo("dos"));
            Assert.That(t.Partitions, Is.Empty);
            Assert.That(PartitionTable.Read(new MemoryDisk(new byte[512 * 4], 4)).Type, Is.EqualTo(""), "blank disk: no table");
        }

        [Test]
        public void GptWithGapsKeepsEntryNumbersAndReadsGuidsAndNames()
        {
            byte[] image = PartitionImages.Gpt(8192,
                (PartitionImages.EfiSystem, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", 2048, 4095, "EFI"),
                (PartitionImages.LinuxFilesystem, "01234567-89ab-cdef-0123-456789abcdef", 4096, 8158, "root"));
            PartitionTable t = PartitionTable.Read(new MemoryDisk(image, 8192));
            Assert.That(t.Type, Is.EqualTo("gpt"));
            Assert.That(t.DiskId, Is.EqualTo("11111111-2222-3333-4444-555555555555"));
            Assert.That(t.Partitions.Length, Is.EqualTo(2));
            Assert.That(t.Partitions[0].Uuid, Is.EqualTo("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"));
            Assert.That(t.Partitions[1].TypeName, Is.EqualTo("Linux filesystem"));
            Assert.That(t.Partitions[1].Label, Is.EqualTo("root"));
            Assert.That(t.Partitions[1].Blocks, Is.EqualTo(8158UL - 4096 + 1));
        }

        [Test]
        public void DamagedPrimaryGptHeaderFallsBackToTheBackupAndABadCrcIsRefused()
        {
            byte[] image = PartitionImages.Gpt(4096, (PartitionImages.EfiSystem, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", 40, 1000, "EFI"));
            image[512 + 40] ^= 1;      // FirstUsableLBA changed: the header CRC no longer matches
            PartitionTable t = PartitionTable.Read(new MemoryDisk(image, 4096));
            Assert.That(t.Type, Is.EqualTo("gpt"));
            Assert.That(t.Problem, Does.Contain("header CRC mismatch").And.Contain("using the backup"));
            Assert.That(t.Partitions.Length, Is.EqualTo(1));

            image[4095 * 512 + 40] ^= 1; // the backup too
            t = PartitionTable.Read(new MemoryDisk(image, 4096));
            Assert.That(t.Type, Is.EqualTo(""));
            Assert.That(t.Partitions, Is.Empty);
            Assert.That(t.Problem, Does.Contain("GPT invalid"));
        }

        [Test]
        public void CorruptEntryArrayIsDetectedByItsCrc()
        {
            byte[] image = PartitionImages.Gpt(4096, (PartitionImages.EfiSystem, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", 40, 1000, "EFI"));
            image[2 * 512 + 33] ^= 0x10;  // primary entry 1's first LBA
            PartitionTable t = PartitionTable.Read(new MemoryDisk(image, 4096));
            Assert.That(t.Problem, Does.Contain("entry array CRC mismatch"));
            Assert.That(t.Partitions[0].FirstLba, Is.EqualTo(40UL), "the backup's entries");
        }

        [Test]
        public void MbrPrimaryAndLogicalPartitionsNumberedLikeLinux()
        {
            var image = new byte[20000 * 512];
            PartitionImages.MbrEntry(image, 0, 0x0C, 2048, 4096, boot: true);
            PartitionImages.MbrEntry(image, 1, 0x05, 8192, 10000);
            image[440] = 0x78; image[441] = 0x56; image[442] = 0x34; image[443] = 0x12;
            // Extended chain: EBR at 8192 -> logical at +63, link to next EBR at ext+4000; that one -> logical.
            PartitionImages.MbrEntry(image, 0, 0x83, 63, 2000, sectorBase: 8192);
            PartitionImages.MbrEntry(image, 1, 0x05, 4000, 3000, sectorBase: 8192);
            PartitionImages.MbrEntry(image, 0, 0x82, 63, 1000, sectorBase: 12192);
            PartitionTable t = PartitionTable.Read(new MemoryDisk(image, 20000));
            Assert.That(t.Type, Is.EqualTo("dos"));
            Assert.That(t.DiskId, Is.EqualTo("12345678"));
            var numbers = new List<int>();
            foreach (Partition p in t.Partitions) numbers.Add(p.Number);
            Assert.That(numbers, Is.EqualTo(new[] { 1, 2, 5, 6 }));
            Assert.That(t.Partitions[0].Bootable, Is.True);
            Assert.That(t.Partitions[0].TypeName, Is.EqualTo("W95 FAT32 (LBA)"));
            Assert.That(t.Partitions[1].TypeName, Is.EqualTo("Extended"));
            Assert.That(t.Partitions[2].FirstLba, Is.EqualTo(8192UL + 63));
            Assert.That(t.Partitions[2].Uuid, Is.EqualTo("12345678-05"));
            Assert.That(t.Partitions[3].FirstLba, Is.EqualTo(12192UL + 63));
            Assert.That(t.Partitions[3].TypeName, Is.EqualTo("Linux swap / Solaris"));
        }

        [Test]
        public void MbrLoopsAndPartitionsPastTheEndAreBounded()
        {
            var image = new byte[4000 * 512];
            PartitionImages.MbrEntry(image, 0, 0x83, 100, 1000000);   // beyond the end: truncated
            PartitionImages.MbrEntry(image, 1, 0x0F, 2000, 1000);
            PartitionImages.MbrEntry(image, 1, 0x05, 0, 500, sectorBase: 2000);   // a link back to itself
            PartitionImages.MbrEntry(image, 0, 0x83, 10, 10, sectorBase: 2000);
            PartitionTable t = PartitionTable.Read(new MemoryDisk(image, 4000));
            Assert.That(t.Partitions[0].Blocks, Is.EqualTo(3900UL));
            Assert.That(t.Problem, Does.Contain("extends beyond EOD"));
            Assert.That(t.Partitions.Length, Is.EqualTo(3), "p1, the extended p2, one logical: the loop ended");
        }

        [Test]
        public void NonMbrBootSectorIsNotATable()
        {
            var image = new byte[512 * 16];
            image[510] = 0x55; image[511] = 0xAA;
            image[446] = 0x12;   // boot indicator neither 00 nor 80: a FAT boot sector's code, not a table
            Assert.That(PartitionTable.Read(new MemoryDisk(image, 16)).Type, Is.EqualTo(""));
        }

        /// <summary>Random and mutated tables: never an exception, every partition inside the disk, every read within it.</summary>
        [Test]
        public void FuzzedTablesNeverThrowAndStayInsideTheDisk()
        {
            var random = new Random(1234);
            byte[] gpt = PartitionImages.Gpt(256,
                (PartitionImages.EfiSystem, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", 40, 100, "EFI"),
                (PartitionImages.LinuxFilesystem, "01234567-89ab-cdef-0123-456789abcdef", 101, 200, "root"));
            byte[] real = Gunzip(XorrisoGptHead);
            var mbr = new byte[64 * 512];
            PartitionImages.MbrEntry(mbr, 0, 0x83, 63, 1000);
            PartitionImages.MbrEntry(mbr, 1, 0x05, 20, 2000);
            PartitionImages.MbrEntry(mbr, 0, 0x83, 10, 10, sectorBase: 20);
            PartitionImages.MbrEntry(mbr, 1, 0x05, 10, 100, sectorBase: 20);
            PartitionImages.MbrEntry(mbr, 0, 0x83, 1, 10, sectorBase: 30);
            byte[][] seeds = { gpt, real, mbr };
            int accepted = 0;
            for (int iteration = 0; iteration < 10000; iteration++)
            {
                byte[] image = (byte[])seeds[iteration % seeds.Length].Clone();
                int flips = 1 + random.Next(8);
                for (int f = 0; f < flips; f++)
                {
                    // Mostly the interesting places: MBR records, the GPT header, the first entries, EBRs.
                    int region = random.Next(4);
                    int at = region == 0 ? 446 + random.Next(66) : region == 1 ? 512 + random.Next(92) :
                             region == 2 ? 1024 + random.Next(512) : random.Next(Math.Min(image.Length, 64 * 512));
                    if (at < image.Length) image[at] = (byte)random.Next(256);
                }
                // Some with the CRCs repaired, so that the checks behind them are reached too.
                if (iteration % 3 == 0 && image.Length > 1024 && Encoding.ASCII.GetString(image, 512, 8) == "EFI PART")
                    RepairCrcs(image);
                ulong blocks = (ulong)(image.Length / 512) + (ulong)random.Next(3) * 1000;
                var disk = new MemoryDisk(image, blocks);
                PartitionTable t = PartitionTable.Read(disk);
                Assert.That(t, Is.Not.Null);
                foreach (Partition p in t.Partitions)
                {
                    Assert.That(p.Blocks, Is.GreaterThan(0UL));
                    Assert.That(p.FirstLba, Is.LessThan(blocks));
                    Assert.That(p.Blocks, Is.LessThanOrEqualTo(blocks - p.FirstLba), "iteration " + iteration);
                }
                Assert.That(disk.Reads, Is.LessThanOrEqualTo(PartitionTable.MaxLogicalPartitions + 8), "bounded number of reads");
                if (t.Partitions.Length > 0) accepted++;
            }
            Assert.That(accepted, Is.GreaterThan(500), "the mutations still reach the partition parsing");
        }

        static void RepairCrcs(byte[] image)
        {
            uint headerSize = BitConverter.ToUInt32(image, 512 + 12);
            if (headerSize < 92 || headerSize > 512) return;
            ulong entryLba = BitConverter.ToUInt64(image, 512 + 72);
            uint count = BitConverter.ToUInt32(image, 512 + 80), size = BitConverter.ToUInt32(image, 512 + 84);
            long bytes = (long)count * size;
            if (entryLba < 2 || entryLba > 64 || bytes <= 0 || bytes > 64 * 1024 || (long)entryLba * 512 + bytes > image.Length) return;
            var entries = new byte[bytes];
            Array.Copy(image, (long)entryLba * 512, entries, 0, bytes);
            BitConverter.GetBytes(PartitionImages.Crc(entries)).CopyTo(image, 512 + 88);
            var header = new byte[headerSize];
            Array.Copy(image, 512, header, 0, headerSize);
            Array.Clear(header, 16, 4);
            BitConverter.GetBytes(PartitionImages.Crc(header)).CopyTo(image, 512 + 16);
        }
    }
}
