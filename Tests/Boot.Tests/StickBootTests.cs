using System;
using System.IO;
using System.Text;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// Booting from a USB stick: the image is the only boot medium (no CD-ROM), attached as a QEMU
    /// usb-storage device with bootindex=1 on one controller; the firmware (SeaBIOS or OVMF) reads
    /// GRUB and the kernel through its own USB driver, the kernel takes the controller from the
    /// firmware, enumerates the stick again and recognises it by the boot identifier the build
    /// stamped into the image (Kernel/Usb/BootMedium.cs). Each boot only goes as far as that and one
    /// `disk` command, to keep CI short. OVMF has no OHCI driver (edk2's OvmfPkg builds UhciDxe,
    /// EhciDxe and XhciDxe only), so OHCI boots from a stick with SeaBIOS alone.
    /// </summary>
    [TestFixture]
    public sealed class StickBootTests : BootTest
    {
        /// <summary>
        /// Firmware + GRUB reading through the firmware's USB driver is the slow part (SeaBIOS on UHCI
        /// reads at full speed, OVMF starts slowly under TCG): a bound, not the expected time.
        /// </summary>
        static readonly TimeSpan StickBoot = QemuMachine.Scaled(150);
        /// <summary>
        /// SeaBIOS reads GRUB, its modules and the kernel through its UHCI driver at a few tens of KB/s
        /// under TCG: about 40 s alone on two cores, past 150 s when other QEMUs load the machine.
        /// </summary>
        static readonly TimeSpan StickBootUhciBios = QemuMachine.Scaled(300);
        static readonly TimeSpan Found = QemuMachine.Scaled(30);

        /// <summary>The image's boot identifier, as the build stamps it (ISO 9660 Application Use field at byte 32768 + 883).</summary>
        static string StampedBootId(string image)
        {
            var field = new byte[48];
            using (var f = File.OpenRead(image))
            {
                f.Position = 32768 + 883;
                f.ReadExactly(field);
            }
            string text = Encoding.ASCII.GetString(field);
            Assert.That(text, Does.StartWith("USBKERNEL-BOOTID"), "the image carries no boot identifier");
            return text.Substring(16, 32);
        }

        [Test]
        public void Image_CarriesTheSameBootIdOnTheCommandLineAndInTheStamp()
        {
            string image = ImageSnapshot.Iso;
            string id = StampedBootId(image);
            Assert.That(id, Does.Match("^[0-9a-f]{32}$"));
            // grub.cfg is stored uncompressed in the ISO 9660 tree.
            string bytes = Encoding.Latin1.GetString(File.ReadAllBytes(image));
            Assert.That(bytes, Does.Contain("multiboot2 /boot/kernel.elf bootid=" + id), "grub.cfg passes the same id to the kernel");
        }

        [TestCase("uhci", false)]
        [TestCase("ohci", false)]
        [TestCase("ehci", false)]
        [TestCase("xhci", false)]
        [TestCase("uhci", true)]
        [TestCase("ehci", true)]
        [TestCase("xhci", true)]
        public void Stick_BootsAndTheKernelNamesItsBootMedium(string controller, bool uefi)
        {
            string dir = Path.Combine(Path.GetTempPath(), "kstick-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(dir);
            try
            {
                // A private writable copy: QEMU locks its images, and tests run in parallel.
                string stick = Path.Combine(dir, "stick.img");
                File.Copy(ImageSnapshot.Iso, stick);
                var options = new QemuLaunchOptions
                {
                    RepoRoot = RepoPaths.Root,
                    Scenario = Scenario.Load(RepoPaths.Root, "storage-" + controller),
                    Uefi = uefi,
                    Iso = ImageSnapshot.Iso,
                    Cdrom = false,
                };
                options.ExtraArgs.AddRange(new[]
                {
                    "-drive", "if=none,id=stick,format=raw,file=" + stick,
                    "-device", "usb-storage,id=stick0,bus=" + controller + ".0,drive=stick,bootindex=1",
                });
                var vm = Start(options);
                vm.WaitForBoot(controller == "uhci" && !uefi ? StickBootUhciBios : StickBoot);
                Assert.That(vm.Log, Does.Contain(uefi ? " (UEFI)" : " (BIOS)"), "booted through the intended firmware");

                // qemu-xhci attaches usb-storage at SuperSpeed: the USB 3 bus, which xHCI registers second.
                string where = (controller == "xhci" ? "usb 2-1" : "usb 1-1") + " (sda)";
                vm.WaitForLine(@"boot medium: (usb|no|not).*", Found);
                Assert.That(vm.Log, Does.Contain("boot medium: " + where));
                Assert.That(vm.Log, Does.Not.Contain("handoff failed"));
                Assert.That(vm.Log, Does.Not.Contain("no interrupt arrived"), "QEMU routes the interrupt right: the watchdog must stay quiet");

                string disk = vm.RunCommand("disk");
                Assert.That(disk, Does.Contain("boot medium: " + where + "\n"), disk);
                Assert.That(disk, Does.Match(@"sda\s+\d+-\d+:1\.0\s+\d+:0:0:0\s+QEMU QEMU HARDDISK"), disk);
                TestContext.Progress.WriteLine($"stick boot {controller} {(uefi ? "UEFI" : "BIOS")}: {where} after {vm.Elapsed.TotalSeconds:F1} s");
            }
            finally
            {
                try { Directory.Delete(dir, true); } catch (IOException) { }
            }
        }
    }
}
