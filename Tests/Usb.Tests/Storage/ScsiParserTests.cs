using System;
using Drivers.Usb.Storage;
using NUnit.Framework;

namespace Usb.Tests.Storage
{
    /// <summary>The SCSI side's parsers and builders: sense data (real device answers and fuzzed bytes), CDBs, capacity data, the bench pattern.</summary>
    [TestFixture]
    public class ScsiParserTests
    {
        static byte[] Hex(string s)
        {
            s = s.Replace(" ", "");
            var b = new byte[s.Length / 2];
            for (int i = 0; i < b.Length; i++) b[i] = Convert.ToByte(s.Substring(2 * i, 2), 16);
            return b;
        }

        // Sense data as devices send it (QEMU scsi-disk's answers and a USB card reader's, as Linux logs them).
        [TestCase("70 00 02 00 00 00 00 0a 00 00 00 00 3a 00 00 00 00 00", 2, 0x3A, 0, SenseAction.NoMedium, "Not Ready: Medium not present")]
        [TestCase("70 00 06 00 00 00 00 0a 00 00 00 00 29 00 00 00 00 00", 6, 0x29, 0, SenseAction.UnitAttention, "Unit Attention: Power on, reset, or bus device reset occurred")]
        [TestCase("70 00 06 00 00 00 00 0a 00 00 00 00 28 00 00 00 00 00", 6, 0x28, 0, SenseAction.UnitAttention, "Unit Attention: Not ready to ready change, medium may have changed")]
        [TestCase("70 00 07 00 00 00 00 0a 00 00 00 00 27 00 00 00 00 00", 7, 0x27, 0, SenseAction.WriteProtected, "Data Protect: Write protected")]
        [TestCase("70 00 02 00 00 00 00 0a 00 00 00 00 04 01 00 00 00 00", 2, 0x04, 1, SenseAction.WaitAndRetry, "Not Ready: Logical unit is in process of becoming ready")]
        [TestCase("70 00 05 00 00 00 00 0a 00 00 00 00 20 00 00 00 00 00", 5, 0x20, 0, SenseAction.Fail, "Illegal Request: Invalid command operation code")]
        [TestCase("f0 00 03 00 00 12 34 0a 00 00 00 00 11 00 00 00 00 00", 3, 0x11, 0, SenseAction.Fail, "Medium Error: Unrecovered read error")]
        [TestCase("72 02 3a 00 00 00 00 00", 2, 0x3A, 0, SenseAction.NoMedium, "Not Ready: Medium not present")]
        [TestCase("73 06 28 00 00 00 00 00", 6, 0x28, 0, SenseAction.UnitAttention, "Unit Attention: Not ready to ready change, medium may have changed")]
        [TestCase("70 00 00 00 00 00 00 0a 00 00 00 00 00 00 00 00 00 00", 0, 0, 0, SenseAction.Retry, "No Sense: No additional sense information")]
        [TestCase("70 00 04 00", 4, 0, 0, SenseAction.Fail, "Hardware Error: No additional sense information")]
        public void RealSenseData(string hex, int key, int asc, int ascq, SenseAction action, string text)
        {
            SenseData s = SenseData.Parse(Hex(hex));
            Assert.That(s.Valid, Is.True);
            Assert.That(s.Key, Is.EqualTo(key));
            Assert.That(s.Asc, Is.EqualTo(asc));
            Assert.That(s.Ascq, Is.EqualTo(ascq));
            Assert.That(s.Action, Is.EqualTo(action));
            Assert.That(s.Describe(), Is.EqualTo(text));
        }

        [TestCase("")]
        [TestCase("70")]
        [TestCase("70 00")]
        [TestCase("72")]
        [TestCase("00 00 06 00 00 00 00 0a 00 00 00 00 29 00")]
        [TestCase("7f 06 29")]
        public void ShortOrUnknownSenseIsNotValid(string hex)
        {
            SenseData s = SenseData.Parse(Hex(hex));
            Assert.That(s.Valid, Is.False);
            Assert.That(s.Key, Is.EqualTo(0));
        }

        [Test]
        public void FuzzedSenseNeverThrows()
        {
            var random = new Random(99);
            for (int i = 0; i < 100000; i++)
            {
                var b = new byte[random.Next(0, 40)];
                random.NextBytes(b);
                if (b.Length > 0 && random.Next(2) == 0) b[0] = (byte)(0x70 + random.Next(4));
                SenseData s = SenseData.Parse(b);
                Assert.That(s.Key, Is.LessThan(16));
                Assert.That(s.Describe(), Is.Not.Empty);
                Assert.That(Enum.IsDefined(typeof(SenseAction), s.Action), Is.True);
            }
        }

        [Test]
        public void ReadWriteCdbsInTenAndSixteenByteForms()
        {
            var cdb = new byte[16];
            Assert.That(Scsi.BuildReadWrite(cdb, false, 0x12345678, 2048, false), Is.EqualTo(10));
            Assert.That(cdb[..10], Is.EqualTo(Hex("28 00 12 34 56 78 00 08 00 00")));
            Assert.That(Scsi.BuildReadWrite(cdb, true, 0x12345678, 1, false), Is.EqualTo(10));
            Assert.That(cdb[0], Is.EqualTo(0x2A));
            Assert.That(Scsi.BuildReadWrite(cdb, false, 0x1_2345_6789_ABCDUL, 0x10000, true), Is.EqualTo(16));
            Assert.That(cdb, Is.EqualTo(Hex("88 00 00 01 23 45 67 89 ab cd 00 01 00 00 00 00")));
            Assert.That(Scsi.BuildReadWrite(cdb, true, 5, 1, true), Is.EqualTo(16));
            Assert.That(cdb[0], Is.EqualTo(0x8A));
            Assert.That(Scsi.BuildReadWrite(cdb, false, 0x1_0000_0000UL, 1, false), Is.EqualTo(0), "READ(10) cannot address it");
            Assert.That(Scsi.BuildReadWrite(cdb, false, 0, 0x10000, false), Is.EqualTo(0), "READ(10) cannot count it");
            Assert.That(Scsi.BuildReadWrite(new byte[10], false, 0, 1, false), Is.EqualTo(0), "too small a buffer");
        }

        [Test]
        public void ReadCapacityData()
        {
            Assert.That(Drivers.Usb.Storage.ReadCapacityData.Parse10(Hex("00 01 ff ff 00 00 02 00"), out ulong last, out uint size), Is.True);
            Assert.That(last, Is.EqualTo(0x1FFFFUL));
            Assert.That(size, Is.EqualTo(512u));
            Assert.That(Drivers.Usb.Storage.ReadCapacityData.Parse16(Hex("00 00 00 02 00 00 00 00 00 00 10 00 00 00"), out last, out size), Is.True);
            Assert.That(last, Is.EqualTo(0x2_0000_0000UL));
            Assert.That(size, Is.EqualTo(4096u));
            Assert.That(Drivers.Usb.Storage.ReadCapacityData.Parse10(Hex("00 01 ff"), out _, out _), Is.False);
            Assert.That(Drivers.Usb.Storage.ReadCapacityData.Parse16(Hex("00 00 00 02 00 00 00 00 00 00"), out _, out _), Is.False);
        }

        [Test]
        public void BenchPatternFindsMisplacedStaleAndTornBlocks()
        {
            var data = new byte[8 * 512];
            DiskPattern.Fill(data, 100, 512, 0xABCDEF);
            Assert.That(BitConverter.ToUInt64(data, 3 * 512), Is.EqualTo(103UL), "word 0 is the LBA");
            Assert.That(BitConverter.ToUInt64(data, 3 * 512 + 8), Is.EqualTo(0xABCDEFUL), "word 1 the seed");
            Assert.That(BitConverter.ToUInt64(data, 3 * 512 + 8 * 7), Is.EqualTo(DiskPattern.Word(103, 7, 0xABCDEF)));
            Assert.That(DiskPattern.CountBad(data, 100, 512, 0xABCDEF, out _), Is.EqualTo(0));
            Assert.That(DiskPattern.CountBad(data, 101, 512, 0xABCDEF, out _), Is.EqualTo(8), "every block in the wrong place");
            Assert.That(DiskPattern.CountBad(data, 100, 512, 0xABCDEE, out _), Is.EqualTo(8), "a stale run");
            data[5 * 512 + 300] ^= 1;
            Assert.That(DiskPattern.CountBad(data, 100, 512, 0xABCDEF, out ulong first), Is.EqualTo(1));
            Assert.That(first, Is.EqualTo(105UL));
        }
    }
}
