using System;
using System.IO;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// The USB/IP server (UsbIp/, Kernel/UsbIp/) in one boot: a usb-storage disk on EHCI (bus id
    /// 1-1) whose image holds the pattern of shared/linux-usbip/pattern.py; the `usbip` shell verbs
    /// bind it to usbip-host (usb-storage lets go) and give it back.
    /// </summary>
    [TestFixture]
    public sealed class UsbIpTests : BootTest
    {
        const int Sectors = 32768;    // 16 MiB
        const int SectorSize = 512;
        static readonly TimeSpan Detect = QemuMachine.Scaled(30);

        /// <summary>pattern.py: sector n holds n as a little-endian u64 in bytes 0..7, then 'A' + i % 26 at byte i.</summary>
        static string CreatePatternImage()
        {
            string path = Path.Combine(Path.GetTempPath(), "usbip-" + Guid.NewGuid().ToString("N").Substring(0, 8) + ".img");
            var image = new byte[Sectors * SectorSize];
            for (int n = 0; n < Sectors; n++)
            {
                int o = n * SectorSize;
                BitConverter.GetBytes((ulong)n).CopyTo(image, o);
                for (int i = 8; i < SectorSize; i++)
                    image[o + i] = (byte)('A' + i % 26);
            }
            File.WriteAllBytes(path, image);
            return path;
        }

        [Test]
        public void BindListUnbind_OfAUsbStorageDisk()
        {
            string image = CreatePatternImage();
            try
            {
                var vm = Start("storage-ehci", null,
                               "-drive", "if=none,id=stor,format=raw,file=" + image,
                               "-device", "usb-storage,id=stor0,bus=ehci.0,port=1,drive=stor");
                vm.WaitForBoot(BiosBoot);
                vm.WaitForLine(@"sd \d+:0:0:0: \[sda\] Attached SCSI", Detect);

                string list = vm.RunCommand("usbip list -l");
                Assert.That(list, Does.Contain(" - busid 1-1 (46f4:0001)"), list);
                Assert.That(vm.RunCommand("usbip status"), Does.Contain("no exportable devices bound to usbip-host"));

                Assert.That(vm.RunCommand("usbip bind -b 1-1"), Does.Contain("usbip: info: bind device on busid 1-1: complete"));
                Assert.That(vm.Log, Does.Contain("usb 1-1: unbound from driver usb"));
                Assert.That(vm.Log, Does.Contain("usbip-host 1-1: usbip-host: register new device"));
                Assert.That(vm.RunCommand("disk"), Does.Contain("disk: no disks"), "usb-storage let go of the disk");
                Assert.That(vm.RunCommand("usbip status"), Does.Contain(" - busid 1-1 (46f4:0001) usbip_status 1 (available)"));
                Assert.That(vm.RunCommand("usbip bind -b 1-1"), Does.Contain("is already bound to usbip-host"));
                Assert.That(vm.RunCommand("usbip bind -b 1-7"), Does.Contain("device with the specified bus ID does not exist"));

                Assert.That(vm.RunCommand("usbip unbind -b 1-1"), Does.Contain("usbip: info: unbind device on busid 1-1: complete"));
                var deadline = System.Diagnostics.Stopwatch.StartNew();
                while (!vm.RunCommand("disk").Contains("sda"))
                {
                    if (deadline.Elapsed > Detect)
                        Assert.Fail("the disk did not come back after usbip unbind\n" + vm.DescribeForFailure());
                    System.Threading.Thread.Sleep(200);
                }
                Assert.That(vm.RunCommand("usbip unbind -b 1-1"), Does.Contain("device is not bound to usbip-host driver"));
            }
            finally
            {
                try { File.Delete(image); } catch (IOException) { }
            }
        }
    }
}
