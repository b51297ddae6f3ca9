using System;
using System.Diagnostics;
using System.IO;
using System.Text;
using NUnit.Framework;
using Platform.Boot;

namespace Kernel.Tests
{
    /// <summary>
    /// Platform/Boot/BootIdentifier.cs: the kernel command line word, where the stamp lives for every
    /// block size, the stamp read from a real xorriso image (the tool grub-mkrescue runs) and from
    /// damaged descriptors.
    /// </summary>
    public class BootIdentifierTests
    {
        const string Id = "00112233445566778899aabbccddeeff";

        [Test]
        public void CommandLine_FindsTheWordAnywhereAndNormalizesCase()
        {
            Assert.That(BootIdentifier.FromCommandLine("bootid=" + Id), Is.EqualTo(Id));
            Assert.That(BootIdentifier.FromCommandLine("quiet  bootid=" + Id.ToUpperInvariant() + " x=1"), Is.EqualTo(Id));
            Assert.That(BootIdentifier.FromCommandLine(""), Is.Null);
            Assert.That(BootIdentifier.FromCommandLine(null), Is.Null);
            Assert.That(BootIdentifier.FromCommandLine("bootid=" + Id.Substring(1)), Is.Null, "31 digits");
            Assert.That(BootIdentifier.FromCommandLine("bootid=" + Id + "0"), Is.Null, "33 digits");
            Assert.That(BootIdentifier.FromCommandLine("bootid=" + Id.Replace('a', 'g')), Is.Null, "not hex");
            Assert.That(BootIdentifier.FromCommandLine("xbootid=" + Id.Substring(1)), Is.Null, "another word that ends like it");
        }

        [TestCase(512u, 64ul, 4)]
        [TestCase(2048u, 16ul, 1)]
        [TestCase(4096u, 8ul, 1)]
        [TestCase(65536u, 0ul, 1)]
        public void StampLocation_CoversThePrimaryVolumeDescriptor(uint blockSize, ulong first, int count)
        {
            Assert.That(BootIdentifier.StampLocation(blockSize, out ulong f, out int c), Is.True);
            Assert.That((f, c), Is.EqualTo((first, count)));
            Assert.That(f * blockSize, Is.LessThanOrEqualTo(BootIdentifier.PrimaryVolumeDescriptorOffset));
            Assert.That((f + (ulong)c) * blockSize, Is.GreaterThanOrEqualTo(BootIdentifier.PrimaryVolumeDescriptorOffset + BootIdentifier.IsoSectorBytes));
        }

        [Test]
        public void StampLocation_RefusesOddBlockSizes()
        {
            Assert.That(BootIdentifier.StampLocation(0, out _, out _), Is.False);
            Assert.That(BootIdentifier.StampLocation(520, out _, out _), Is.False);
            Assert.That(BootIdentifier.ReadStamp(new byte[65536], 520), Is.Null);
        }

        /// <summary>An image laid out like the build's: the volume descriptor at 32 KiB, the stamp in Application Use.</summary>
        static byte[] Image(string stamp)
        {
            var image = new byte[64 * 1024];
            int pvd = (int)BootIdentifier.PrimaryVolumeDescriptorOffset;
            image[pvd] = BootIdentifier.PrimaryVolumeDescriptorType;
            Encoding.ASCII.GetBytes("CD001").CopyTo(image, pvd + 1);
            image[pvd + 6] = 1;
            Encoding.ASCII.GetBytes(stamp).CopyTo(image, pvd + BootIdentifier.ApplicationUseOffset);
            return image;
        }

        static string Read(byte[] image, uint blockSize)
        {
            Assert.That(BootIdentifier.StampLocation(blockSize, out ulong first, out int count), Is.True);
            return BootIdentifier.ReadStamp(new ReadOnlySpan<byte>(image, (int)(first * blockSize), count * (int)blockSize), blockSize);
        }

        [TestCase(512u)]
        [TestCase(2048u)]
        [TestCase(4096u)]
        public void ReadStamp_FromEveryBlockSize(uint blockSize)
        {
            Assert.That(Read(Image(BootIdentifier.StampMagic + Id), blockSize), Is.EqualTo(Id));
            Assert.That(Read(Image(BootIdentifier.StampMagic + Id.ToUpperInvariant()), blockSize), Is.EqualTo(Id));
        }

        [Test]
        public void ReadStamp_RefusesOtherDisks()
        {
            Assert.That(Read(new byte[64 * 1024], 512), Is.Null, "a blank disk");
            Assert.That(Read(Image("USBKERNEL-BOOTIX" + Id), 512), Is.Null, "another magic");
            Assert.That(Read(Image(BootIdentifier.StampMagic + Id.Substring(0, 31) + "z"), 512), Is.Null, "not hex");
            byte[] notPrimary = Image(BootIdentifier.StampMagic + Id);
            notPrimary[BootIdentifier.PrimaryVolumeDescriptorOffset] = 2;
            Assert.That(Read(notPrimary, 512), Is.Null, "a supplementary descriptor");
            byte[] notIso = Image(BootIdentifier.StampMagic + Id);
            notIso[BootIdentifier.PrimaryVolumeDescriptorOffset + 3] = (byte)'X';
            Assert.That(Read(notIso, 512), Is.Null, "no CD001");
            Assert.That(BootIdentifier.ReadStamp(new byte[1000], 512), Is.Null, "fewer bytes than the descriptor");
        }

        [Test]
        public void ReadStamp_NeverFailsOnRandomBytes()
        {
            var random = new Random(11);
            byte[] good = Image(BootIdentifier.StampMagic + Id);
            for (int round = 0; round < 20000; round++)
            {
                byte[] image = (byte[])good.Clone();
                int flips = random.Next(1, 8);
                for (int i = 0; i < flips; i++)
                {
                    // Mostly inside the header and the stamp, where a flip matters.
                    int at = random.Next(3) == 0 ? random.Next(image.Length)
                           : (int)BootIdentifier.PrimaryVolumeDescriptorOffset + (random.Next(2) == 0 ? random.Next(8) : BootIdentifier.ApplicationUseOffset + random.Next(48));
                    image[at] = (byte)random.Next(256);
                }
                uint blockSize = 512u << random.Next(4);
                string id = Read(image, blockSize);
                Assert.That(id == null || (id.Length == 32 && BootIdentifier.Normalize(id) == id), Is.True, id);
                int length = random.Next(4096);
                Assert.That(() => BootIdentifier.ReadStamp(new ReadOnlySpan<byte>(image, 0, length), blockSize), Throws.Nothing);
            }
        }

        /// <summary>The stamp as xorriso writes it (grub-mkrescue passes --application_use on to it, tools/Build/KernelImage.cs).</summary>
        [Test]
        public void ReadStamp_FromARealXorrisoImage()
        {
            string dir = Path.Combine(Path.GetTempPath(), "bootid-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(Path.Combine(dir, "tree", "boot"));
            try
            {
                File.WriteAllText(Path.Combine(dir, "tree", "boot", "grub.cfg"), "multiboot2 /boot/kernel.elf bootid=" + Id + "\n");
                var use = new byte[BootIdentifier.ApplicationUseBytes];
                Encoding.ASCII.GetBytes(BootIdentifier.StampMagic + Id).CopyTo(use, 0);
                File.WriteAllBytes(Path.Combine(dir, "use.bin"), use);
                string iso = Path.Combine(dir, "t.iso");
                var psi = new ProcessStartInfo("xorriso") { RedirectStandardError = true, RedirectStandardOutput = true };
                foreach (string a in new[] { "-as", "mkisofs", "-o", iso, "--application_use", Path.Combine(dir, "use.bin"), Path.Combine(dir, "tree") })
                    psi.ArgumentList.Add(a);
                Process p;
                try { p = Process.Start(psi); }
                catch (System.ComponentModel.Win32Exception) { Assert.Ignore("xorriso is not installed (./build.sh prereqs installs it)"); return; }
                string err = p.StandardError.ReadToEnd();
                p.WaitForExit();
                Assert.That(p.ExitCode, Is.Zero, err);
                byte[] image = File.ReadAllBytes(iso);
                foreach (uint blockSize in new[] { 512u, 2048u, 4096u })
                    Assert.That(Read(image, blockSize), Is.EqualTo(Id));
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }
    }
}
