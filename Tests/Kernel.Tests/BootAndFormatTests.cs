using System;
using System.Collections.Generic;
using NUnit.Framework;
using Platform;
using Platform.Boot;
using Tests.Support;

namespace Kernel.Tests
{
    public class Multiboot2Tests
    {
        static void Tag(List<byte> b, uint type, byte[] payload)
        {
            int start = b.Count;
            b.AddRange(BitConverter.GetBytes(type));
            b.AddRange(BitConverter.GetBytes((uint)(8 + payload.Length)));
            b.AddRange(payload);
            while ((b.Count - start) % 8 != 0) b.Add(0);
        }

        static byte[] Build(Action<List<byte>> tags)
        {
            var b = new List<byte>();
            b.AddRange(new byte[8]);
            tags(b);
            Tag(b, 0, Array.Empty<byte>());
            byte[] data = b.ToArray();
            BitConverter.GetBytes((uint)data.Length).CopyTo(data, 0);
            return data;
        }

        static byte[] Cstr(string s) { var r = new byte[s.Length + 1]; for (int i = 0; i < s.Length; i++) r[i] = (byte)s[i]; return r; }

        static byte[] MemoryMap(params (ulong b, ulong l, uint t)[] regions)
        {
            var p = new List<byte>();
            p.AddRange(BitConverter.GetBytes(24u)); // entry size
            p.AddRange(BitConverter.GetBytes(0u));  // entry version
            foreach (var (b, l, t) in regions)
            {
                p.AddRange(BitConverter.GetBytes(b));
                p.AddRange(BitConverter.GetBytes(l));
                p.AddRange(BitConverter.GetBytes(t));
                p.AddRange(BitConverter.GetBytes(0u));
            }
            return p.ToArray();
        }

        [Test]
        public void BiosBootDevice_TellsACdRomFromADisk()
        {
            static byte[] Device(uint drive)
            {
                var p = new List<byte>();
                p.AddRange(BitConverter.GetBytes(drive));
                p.AddRange(BitConverter.GetBytes(0xFFFFFFFFu));   // partition
                p.AddRange(BitConverter.GetBytes(0xFFFFFFFFu));   // sub-partition
                return p.ToArray();
            }
            Assert.That(Multiboot2Info.Parse(Build(b => Tag(b, 5, Device(0xE0)))).BiosBootDevice, Is.EqualTo(0xE0u), "SeaBIOS's El Torito CD");
            Assert.That(Multiboot2Info.Parse(Build(b => Tag(b, 5, Device(0x80)))).BiosBootDevice, Is.EqualTo(0x80u), "a USB stick the BIOS emulates as a disk");
            Assert.That(Multiboot2Info.Parse(Build(b => Tag(b, 1, Cstr("x")))).BiosBootDevice, Is.EqualTo(Multiboot2Info.NoBiosBootDevice), "UEFI: no tag");
            Assert.That(Multiboot2Info.Parse(Build(b => Tag(b, 5, new byte[2]))).BiosBootDevice, Is.EqualTo(Multiboot2Info.NoBiosBootDevice), "truncated tag ignored");
        }

        [Test]
        public void ParsesCommandLineLoaderModulesAndMemoryMap()
        {
            byte[] data = Build(b =>
            {
                Tag(b, 1, Cstr("quiet"));
                Tag(b, 2, Cstr("GRUB 2.06"));
                var module = new List<byte>();
                module.AddRange(BitConverter.GetBytes(0x200000u));
                module.AddRange(BitConverter.GetBytes(0x201000u));
                module.AddRange(Cstr("symbols"));
                Tag(b, 3, module.ToArray());
                Tag(b, 6, MemoryMap((0, 0x9FC00, 1), (0x100000, 0x1FF00000, 1), (0xFEC00000, 0x1000, 2)));
            });
            Multiboot2Info info = Multiboot2Info.Parse(data);
            Assert.That(info.Error, Is.Null);
            Assert.That(info.CommandLine, Is.EqualTo("quiet"));
            Assert.That(info.BootloaderName, Is.EqualTo("GRUB 2.06"));
            Assert.That(info.Modules[0].CommandLine, Is.EqualTo("symbols"));
            Assert.That(info.Modules[0].End - info.Modules[0].Start, Is.EqualTo(0x1000));
            Assert.That(info.MemoryMap.Count, Is.EqualTo(3));
            Assert.That(info.MemoryMap[1].Length, Is.EqualTo(0x1FF00000UL));
            Assert.That(info.MemoryMap[2].TypeName(), Is.EqualTo("reserved"));
        }

        [Test]
        public void RejectsMalformedInformationWithoutReadingOutOfBounds()
        {
            byte[] good = Build(b => Tag(b, 1, Cstr("x")));
            Assert.That(Multiboot2Info.Parse(good.AsSpan(0, 4)).Error, Is.Not.Null, "truncated");
            byte[] lying = (byte[])good.Clone();
            BitConverter.GetBytes(4096u).CopyTo(lying, 0);
            Assert.That(Multiboot2Info.Parse(lying).Error, Does.Contain("size"));
            byte[] badTag = (byte[])good.Clone();
            BitConverter.GetBytes(3u).CopyTo(badTag, 12); // tag size smaller than its header
            Assert.That(Multiboot2Info.Parse(badTag).Error, Does.Contain("invalid size"));
            var random = new Random(7);
            for (int i = 0; i < 20000; i++)
            {
                byte[] fuzz = (byte[])good.Clone();
                fuzz[random.Next(fuzz.Length)] = (byte)random.Next(256);
                Multiboot2Info.Parse(fuzz); // must never throw
            }
        }
    }

    public class FormatTests
    {
        [Test]
        public void FormatsNumbersWithoutCulture()
        {
            Assert.That(Format.Decimal(0UL), Is.EqualTo("0"));
            Assert.That(Format.Decimal(18446744073709551615UL), Is.EqualTo("18446744073709551615"));
            Assert.That(Format.Decimal(-42L), Is.EqualTo("-42"));
            Assert.That(Format.Hex(0x1B36, 4), Is.EqualTo("1b36"));
            Assert.That(Format.Hex(0xABC), Is.EqualTo("abc"));
            Assert.That(Format.Size(3 * 1024 * 1024), Is.EqualTo("3 MiB"));
        }

        [Test]
        public void ParsesHexWithOrWithoutPrefix_AndRefusesTheRest()
        {
            Assert.That(Format.TryParseHex("0x1B36", out ulong v) && v == 0x1B36, Is.True);
            Assert.That(Format.TryParseHex("ffffffffffffffff", out v) && v == ulong.MaxValue, Is.True);
            foreach (string bad in new[] { null, "", "0x", "12g", "-1", "1ffffffffffffffff" })
            {
                Assert.That(Format.TryParseHex(bad, out v), Is.False, bad);
                Assert.That(v, Is.Zero);
            }
        }

        [Test]
        public void LogLinesCarryDmesgTimestamps()
        {
            var sink = new ListSink();
            var clock = new ManualClock { Us = 12_345_678 };
            Log.Attach(sink, clock);
            Log.Info("usb 1-1: new full-speed USB device number 2");
            Log.Debug("hidden below the minimum level");
            Assert.That(sink.Lines, Is.EqualTo(new[] { "[   12.345678] usb 1-1: new full-speed USB device number 2" }));
        }

        [Test]
        public void SplitsCommandLines()
        {
            Assert.That(CommandLine.Split("  usb  bind usb-storage \"1-1:1.0\" "), Is.EqualTo(new[] { "usb", "bind", "usb-storage", "1-1:1.0" }));
            Assert.That(CommandLine.Split(""), Is.Empty);
        }
    }
}
