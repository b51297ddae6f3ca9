using System;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// The USB/IP server (UsbIp/, Kernel/UsbIp/): a usb-storage disk on EHCI (bus id 1-1) whose
    /// image holds the pattern of shared/linux-usbip/pattern.py. One boot checks the `usbip` shell
    /// verbs (bind to usbip-host, usb-storage lets go, unbind gives it back); another exports the
    /// disk over TCP 3240 (e1000, QEMU user networking, hostfwd) to the real Linux client of
    /// shared/linux-usbip (vhci-hcd + usbip 2.0 in a second QEMU): list, attach, a 16 MiB O_DIRECT
    /// read with the pattern checked, detach; then a client killed in the middle of its read; then
    /// an attach again with the pattern checked.
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
        public void LinuxClient_ListsAttachesAndReadsTheExportedDisk()
        {
            var peer = LinuxUsbIpPeer.Find();
            if (peer == null)
                Assert.Ignore("the Linux USB/IP peer (shared/linux-usbip, $LINUX_USBIP) is not on this machine");
            string image = Path.Combine(Path.GetTempPath(), "usbip-" + Guid.NewGuid().ToString("N").Substring(0, 8) + ".img");
            peer.WritePattern(image, 16);
            int port = LinuxUsbIpPeer.FreeHostPort();
            try
            {
                var vm = Start("storage-ehci", null,
                               "-drive", "if=none,id=stor,format=raw,file=" + image,
                               "-device", "usb-storage,id=stor0,bus=ehci.0,port=1,drive=stor",
                               "-netdev", $"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:3240", "-device", "e1000,netdev=n0");
                vm.WaitForBoot(BiosBoot);
                Assert.That(vm.Log, Does.Contain("usbip: listening on port 3240"));
                vm.WaitForLine(@"sd \d+:0:0:0: \[sda\] Attached SCSI", Detect);
                Assert.That(vm.RunCommand("usbip bind -b 1-1"), Does.Contain("usbip: info: bind device on busid 1-1: complete"));

                (int status, string output) = peer.RunClient(port, null, null, "--busid", "1-1", "--read-mb", "16", "--expect-pattern", "32768");
                TestContext.Out.WriteLine(output);
                if (status != 0 && LinuxUsbIpPeer.SetupFailed(output))
                    Assert.Ignore("the Linux USB/IP peer could not be set up (its setup.sh downloads Debian packages):\n" + output);
                Assert.That(status, Is.EqualTo(0), "client.sh failed:\n" + output + "\n" + vm.DescribeForFailure());
                Assert.That(output, Does.Contain("PEER list_dev busid=1-1 vid=46f4 pid=0001"));
                Assert.That(output, Does.Contain("mass_storage=1"));
                Assert.That(output, Does.Contain("PEER pattern=ok sectors=32768"));
                Assert.That(output, Does.Contain("PEER status=ok"));
                var read = System.Text.RegularExpressions.Regex.Match(output, @"PEER read bytes=\d+ secs=\S+ read_MBps=(\S+)");
                TestContext.Out.WriteLine("usbip ehci: Linux client read " + (read.Success ? read.Groups[1].Value : "?") + " MB/s");
                Assert.That(vm.Log, Does.Contain("usbip-host 1-1: imported by 10.0.2.2:"));

                // The kernel's account of the session: time in the device vs. sending the replies.
                var stats = vm.WaitForLine(@"usbip-host 1-1: \S+: \d+ URBs, .*", QemuMachine.Scaled(20));
                TestContext.Out.WriteLine("usbip ehci: kernel: " + stats.Value);

                // Detached: the device stays bound to usbip-host and is available again.
                var deadline = Stopwatch.StartNew();
                while (!vm.RunCommand("usbip status").Contains("usbip_status 1 (available)"))
                {
                    if (deadline.Elapsed > QemuMachine.Scaled(20))
                        Assert.Fail("the export did not become available after detach\n" + vm.DescribeForFailure());
                    System.Threading.Thread.Sleep(200);
                }

                // The client machine dies in the middle of its read: the kernel sees the connection
                // end, kills the requests in flight and exports the disk again.
                vm.SkipPending();
                (status, output) = peer.RunClient(port, "PEER step name=read", null, "--busid", "1-1", "--read-mb", "16");
                Assert.That(output, Does.Contain("PEER step name=read"), "the killed client got as far as reading:\n" + output);
                vm.WaitForLine(@"usbip-host 1-1: connection to \S+ closed, device reset for the next import", QemuMachine.Scaled(30));
                vm.WaitForLine(@"usbip-host 1-1: usbip-host: register new device", QemuMachine.Scaled(30));

                (status, output) = peer.RunClient(port, null, null, "--busid", "1-1", "--expect-pattern", "2048");
                Assert.That(status, Is.EqualTo(0), "attach after the killed client failed:\n" + output + "\n" + vm.DescribeForFailure());
                Assert.That(output, Does.Contain("PEER pattern=ok sectors=2048"));
                Assert.That(vm.Log, Does.Not.Contain("would not die"));
            }
            finally
            {
                try { File.Delete(image); } catch (IOException) { }
            }
        }

        /// <summary>
        /// A keyboard behind a hub and a disk, on UHCI, exported to the real Linux client in one boot:
        /// <list type="bullet">
        /// <item>The keyboard (bus id 1-1.1, behind a usb-hub) is attached by Linux; Caps Lock is pressed on it
        /// (QMP send-key into our machine's usb-kbd) as the client starts enumerating. Proof that the key press
        /// arrived on the Linux side: Linux's keyboard handler answers with the Caps Lock LED, a SET_REPORT
        /// (output report 02h) that comes back over USB/IP to the device, seen by our usbmon.</item>
        /// <item>The disk (1-2) is unplugged while the client reads it: the kernel ends the connection, the
        /// client's read fails with an error (no hang) and Linux sees the device go away.</item>
        /// </list>
        /// </summary>
        [Test]
        public void LinuxClient_KeyboardBehindAHub_ThenADiskUnpluggedWhileAttached()
        {
            var peer = LinuxUsbIpPeer.Find();
            if (peer == null)
                Assert.Ignore("the Linux USB/IP peer (shared/linux-usbip, $LINUX_USBIP) is not on this machine");
            string image = CreatePatternImage();
            int port = LinuxUsbIpPeer.FreeHostPort();
            try
            {
                var vm = Start("minimal", null,
                               "-device", "piix3-usb-uhci,id=uhci",
                               "-device", "usb-hub,id=hub0,bus=uhci.0,port=1",
                               "-device", "usb-kbd,id=kbd0,bus=uhci.0,port=1.1",
                               "-drive", "if=none,id=stor,format=raw,file=" + image,
                               "-device", "usb-storage,id=stor0,bus=uhci.0,port=2,drive=stor",
                               "-netdev", $"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:3240", "-device", "e1000,netdev=n0");
                vm.WaitForBoot(BiosBoot);
                // Both enumerate concurrently, in either order.
                var enumerated = Stopwatch.StartNew();
                while (!(vm.Log.Contains("usb 1-1.1:1.0: bound to driver usbhid") && vm.Log.Contains("[sda] Attached SCSI")))
                {
                    if (enumerated.Elapsed > Detect)
                        Assert.Fail("the keyboard behind the hub and the disk did not both enumerate\n" + vm.DescribeForFailure());
                    System.Threading.Thread.Sleep(100);
                }
                Assert.That(vm.RunCommand("usbip bind -b 1-1.1"), Does.Contain("usbip: info: bind device on busid 1-1.1: complete"));
                Assert.That(vm.RunCommand("usbip bind -b 1-2"), Does.Contain("usbip: info: bind device on busid 1-2: complete"));

                // 1. The keyboard behind the hub, with usbmon watching bus 1 until the next serial key.
                vm.SkipPending();
                vm.SendLine("usbmon 1u");
                bool pressed = false;
                (int status, string output) = peer.RunClient(port, null, line =>
                {
                    // Pressed once the import is done: QEMU's usb-kbd queues the press until Linux polls it.
                    if (line.Contains("PEER step name=enumerate") || line.Contains("PEER attached") || line.Contains("PEER lsusb")) { pressed = true; vm.Qmp.SendKey("caps_lock"); }
                }, "--busid", "1-1.1");
                vm.SendLine("");
                TestContext.Out.WriteLine(output);
                if (status != 0 && LinuxUsbIpPeer.SetupFailed(output))
                    Assert.Ignore("the Linux USB/IP peer could not be set up (its setup.sh downloads Debian packages):\n" + output);
                Assert.That(status, Is.EqualTo(0), "client.sh (keyboard) failed:\n" + output + "\n" + vm.DescribeForFailure());
                Assert.That(output, Does.Contain("PEER list_dev busid=1-1.1 vid=0627 pid=0001"), "the device behind the hub is listed with its bus id");
                Assert.That(output, Does.Match(@"PEER lsusb if=\S+ class=03/\S+ .*driver=usbhid"), "Linux bound usbhid to the imported keyboard");
                vm.WaitFor(@"usbmon: \d+ events", QemuMachine.Scaled(20));
                Assert.That(vm.Log, Does.Match(@"S Co:1:\d{3}:0 s 21 09 0200 0000 0001 1 = 02"),
                            "Linux answered the Caps Lock press with the Caps Lock LED (SET_REPORT 02h over USB/IP)\n" + vm.DescribeForFailure());

                // 2. The disk, unplugged while Linux reads it.
                vm.SkipPending();
                bool unplugged = false;
                (status, output) = peer.RunClient(port, null, line =>
                {
                    if (!unplugged && line.Contains("PEER step name=read")) { unplugged = true; vm.Qmp.Execute("device_del", new System.Text.Json.Nodes.JsonObject { ["id"] = "stor0" }); }
                }, "--busid", "1-2", "--read-mb", "16");
                TestContext.Out.WriteLine(output);
                Assert.That(unplugged, Is.True, "the client got as far as reading:\n" + output);
                Assert.That(output, Does.Match(@"PEER status=fail reason=read_error"), "the read fails with an error, not a timeout:\n" + output);
                // The kernel's side of the unplug, in the order its threads get there.
                var gone = Stopwatch.StartNew();
                foreach (string line in new[] { "usb 1-2: USB disconnect", "usbip-host 1-2: usbip-host: device released", "usbip-host 1-2: connection to 10.0.2.2:" })
                    while (!vm.Log.Contains(line))
                    {
                        if (gone.Elapsed > Detect)
                            Assert.Fail($"no '{line}' after the unplug\n" + vm.DescribeForFailure());
                        System.Threading.Thread.Sleep(100);
                    }
                Assert.That(vm.Log, Does.Match(@"usbip-host 1-2: connection to \S+ closed \(device gone\)"));
                Assert.That(vm.RunCommand("usbip list -l"), Does.Not.Contain("busid 1-2 "), "the unplugged disk is gone from the list");
                Assert.That(vm.RunCommand("usbip status"), Does.Contain("busid 1-1.1 (0627:0001) usbip_status 1 (available)"), "the keyboard's export is unaffected");
                Assert.That(vm.Log, Does.Not.Contain("would not die"));
                Assert.That(vm.Log, Does.Not.Contain("KERNEL PANIC"));
            }
            finally
            {
                try { File.Delete(image); } catch (IOException) { }
            }
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
