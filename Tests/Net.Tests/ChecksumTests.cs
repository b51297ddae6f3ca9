using System;
using Net;
using NUnit.Framework;

namespace Net.Tests
{
    [TestFixture]
    public sealed class ChecksumTests
    {
        static ushort Naive(uint sum, byte[] b, int o, int n)
        {
            ulong s = sum;
            for (int i = 0; i + 1 < n; i += 2) s += (uint)(b[o + i] << 8 | b[o + i + 1]);
            if ((n & 1) != 0) s += (uint)(b[o + n - 1] << 8);
            while (s >> 16 != 0) s = (s & 0xFFFF) + (s >> 16);
            return (ushort)~s;
        }

        [Test]
        public void Fast_Sum_Equals_Rfc1071_Definition_For_Any_Offset_And_Length()
        {
            var r = new Random(3);
            for (int k = 0; k < 5000; k++)
            {
                var b = new byte[r.Next(1, 1600)];
                r.NextBytes(b);
                if (k % 7 == 0) Array.Fill(b, (byte)0xFF);
                int o = r.Next(b.Length), n = r.Next(0, b.Length - o + 1);
                uint seed = (uint)r.Next(0, 0x3FFFF);
                Assert.That(Checksum.Finish(Checksum.Add(seed, b, o, n)), Is.EqualTo(Naive(seed, b, o, n)), $"case {k}");
            }
        }

        [Test]
        public void Rfc1071_Example()
        {
            // RFC 1071 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (checksum 220d).
            byte[] b = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
            Assert.That(Checksum.Finish(Checksum.Add(0, b, 0, b.Length)), Is.EqualTo((ushort)0x220d));
        }

        [Test]
        public void Address_Parsing_And_Formatting()
        {
            Assert.That(Ip4Address.TryParse("10.0.2.15", out var a), Is.True);
            Assert.That(a.ToString(), Is.EqualTo("10.0.2.15"));
            foreach (var bad in new[] { "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "a.b.c.d", "1.2.3.4 ", "1234.1.1.1" })
                Assert.That(Ip4Address.TryParse(bad, out _), Is.False, bad);
            Assert.That(new MacAddress(0x525400123456).ToString(), Is.EqualTo("52:54:00:12:34:56"));
        }
    }
}
