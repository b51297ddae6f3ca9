using System;
using System.Diagnostics;
using System.IO;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// usbmon in one boot of the default machine with a second serial port (COM2 → a file):
    /// `usbmon &lt;bus&gt;u` prints Linux's text format live and stops at a key typed on the USB
    /// keyboard; `usbmon capture` of the EHCI bus while a keyboard is hot-plugged writes a pcap
    /// that tshark decodes as a Linux usbmon capture showing the enumeration's GET_DESCRIPTOR
    /// sequence and the keyboard's device and configuration descriptors; then the same capture
    /// streamed over TCP (`usbmon capture ... tcp PORT`, e1000 with QEMU hostfwd) to the test as
    /// the client while a second keyboard is plugged, decoded by tshark the same way.
    /// </summary>
    [TestFixture]
    public sealed class UsbmonTests : BootTest
    {
        string _dir;

        [SetUp]
        public void MakeDirectory() => _dir = Directory.CreateTempSubdirectory("usbmon-").FullName;

        [TearDown]
        public void RemoveDirectory()
        {
            try { Directory.Delete(_dir, true); } catch (IOException) { }
        }

        static int BusOf(QemuMachine vm, string driver)
        {
            var m = Regex.Match(vm.Log, Regex.Escape(driver) + @" \S+: new USB bus registered, assigned bus number (\d+)");
            Assert.That(m.Success, Is.True, driver + " registered no bus\n" + vm.DescribeForFailure());
            return int.Parse(m.Groups[1].Value);
        }

        static void WaitForLog(QemuMachine vm, string text, double seconds)
        {
            var sw = Stopwatch.StartNew();
            while (!vm.Log.Contains(text))
            {
                if (sw.Elapsed > QemuMachine.Scaled(seconds))
                    Assert.Fail("no '" + text + "' in the log within " + seconds + " s\n" + vm.DescribeForFailure());
                System.Threading.Thread.Sleep(100);
            }
        }

        [Test]
        public void TextFormatLiveAndPcapOfAnEnumerationDecodedByTshark()
        {
            string com2 = Path.Combine(_dir, "com2.bin");
            string qemuPcap = Path.Combine(_dir, "qemu-device.pcap");
            int tcpPort = FreeHostPort();
            var vm = Start("default", null, "-serial", "file:" + com2,
                           "-netdev", $"user,id=n0,hostfwd=tcp:127.0.0.1:{tcpPort}-:{GuestCapturePort}", "-device", "e1000,netdev=n0");
            vm.WaitForBoot(BiosBoot);
            int uhci = BusOf(vm, "uhci_hcd");
            int ehci = BusOf(vm, "ehci-pci");
            WaitForLog(vm, "usb " + uhci + "-1: bound to driver usb", 30);

            // Text: live until a key is pressed; the key is typed on the monitored USB keyboard
            // itself, so its report is the event shown: Linux's "C Ii:bus:dev:1 0:8 8 = ..." (an
            // interrupt callback, status 0, interval 8 frames for bInterval 10, 8 bytes with usage
            // 0x04 = 'a'), and the driver's resubmission "S Ii:... -115:8 8 <" with the same tag.
            vm.SendLine("usbmon " + uhci + "u");
            vm.WaitForLine("usbmon: bus " + uhci + " in text format; press a key to stop");
            int textStart = vm.LogLength;
            vm.Qmp.SendKey("a");
            vm.WaitForLine(@"usbmon: \d+ events, 0 dropped", QemuMachine.Scaled(20));
            vm.WaitForPrompt();
            string text = vm.LogSince(textStart);
            var report = Regex.Match(text, @"^([0-9a-f]+) \d+ C Ii:" + uhci + @":(\d{3}):1 0:8 8 = 00000400 00000000$", RegexOptions.Multiline);
            Assert.That(report.Success, Is.True, "no usbmon line for the key's report:\n" + text);
            Assert.That(text, Does.Match(@"(?m)^" + report.Groups[1].Value + @" \d+ S Ii:" + uhci + ":" + report.Groups[2].Value + @":1 -115:8 8 <$"),
                        "the resubmission of the same request, with the same tag");

            // Capture of the EHCI bus while a keyboard is plugged into it; QEMU records the same
            // device's traffic on its side (pcap= of the device) as the reference.
            vm.SendLine("usbmon capture " + ehci + " 6");
            vm.WaitForLine("usbmon: capturing bus " + ehci + " to COM2");
            vm.Qmp.DeviceAdd("usb-kbd", "hotkbd", ("bus", "ehci.0"), ("port", "1"), ("pcap", qemuPcap));
            var summary = vm.WaitForLine(@"usbmon: capture of bus \d+: (\d+) packets, (\d+) bytes at COM2 offset (\d+), 0 events dropped", QemuMachine.Scaled(30));
            vm.WaitForPrompt();
            long bytes = long.Parse(summary.Groups[2].Value), offset = long.Parse(summary.Groups[3].Value);
            byte[] all = File.ReadAllBytes(com2);
            Assert.That(all.Length, Is.GreaterThanOrEqualTo(offset + bytes), "COM2 holds the whole capture");
            string pcap = Path.Combine(_dir, "capture.pcap");
            File.WriteAllBytes(pcap, all.AsSpan((int)offset, (int)bytes).ToArray());
            Assert.That(BitConverter.ToUInt32(all, (int)offset), Is.EqualTo(0xA1B2C3D4u), "pcap magic");
            Assert.That(BitConverter.ToUInt32(all, (int)offset + 20), Is.EqualTo(220u), "LINKTYPE_USB_LINUX_MMAPPED");
            string listing = Tshark(pcap);
            Assert.That(listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length, Is.EqualTo(int.Parse(summary.Groups[1].Value)),
                        "tshark reads every packet the kernel wrote");

            CheckEnumerationSequence(pcap, listing);

            // The descriptors decoded from the responses: the keyboard's, byte for byte what QEMU sent.
            const string descriptorFields = "usb.bDescriptorType == 1 || usb.bDescriptorType == 2";
            string[] fields = { "usb.bDescriptorType", "usb.bcdUSB", "usb.idVendor", "usb.idProduct", "usb.bNumConfigurations", "usb.wTotalLength",
                                "usb.bNumInterfaces", "usb.bInterfaceClass", "usb.bInterfaceSubClass", "usb.bInterfaceProtocol", "usb.bEndpointAddress",
                                "usb.bmAttributes", "usb.wMaxPacketSize", "usb.bInterval" };
            string ours = Fields(pcap, "usb.urb_type == 'C' && (" + descriptorFields + ")", fields);
            Assert.That(ours, Does.Contain("0x01\t0x0200\t0x0627\t0x0001\t1\t"), "device descriptor of QEMU's keyboard (0627:0001, USB 2.0, one configuration)");
            Assert.That(ours, Does.Match(@"0x02,0x04,0x21,0x05\t+34\t1\t0x03\t0x01\t0x01\t0x81\t[^\n]*0x03"),
                        "configuration descriptor: 34 bytes, one HID boot keyboard interface, interrupt IN endpoint 0x81");
            string reference = Fields(qemuPcap, "usb.urb_type == 'C' && (" + descriptorFields + ")", fields);
            Assert.That(Distinct(ours), Is.EqualTo(Distinct(reference)), "the same descriptors as QEMU's own capture of the device");

            // The same capture streamed over TCP (`nc host port | wireshark -k -i -`): the test is
            // the client, through QEMU's hostfwd; a second keyboard is plugged while it reads.
            WaitForLog(vm, "net: eth0 DHCP lease 10.0.2.15", 20);
            vm.SendLine("usbmon capture " + ehci + " 6 tcp " + GuestCapturePort);
            vm.WaitForLine("usbmon: waiting for a client on tcp port " + GuestCapturePort);
            using var client = new System.Net.Sockets.TcpClient();
            client.Connect(System.Net.IPAddress.Loopback, tcpPort);
            client.ReceiveTimeout = (int)QemuMachine.Scaled(40).TotalMilliseconds;
            var stream = new MemoryStream();
            var readTask = System.Threading.Tasks.Task.Run(() => client.GetStream().CopyTo(stream));
            vm.WaitForLine("usbmon: streaming bus " + ehci + " to 10.0.2.2:");
            vm.Qmp.DeviceAdd("usb-kbd", "hotkbd2", ("bus", "ehci.0"), ("port", "2"));
            var tcpSummary = vm.WaitForLine(@"usbmon: capture of bus \d+ to tcp port \d+: (\d+) packets, (\d+) bytes, 0 events dropped", QemuMachine.Scaled(30));
            vm.WaitForPrompt();
            Assert.That(readTask.Wait(QemuMachine.Scaled(20)), Is.True, "the kernel closes the stream after the capture");
            byte[] streamed = stream.ToArray();
            Assert.That(streamed.Length, Is.EqualTo(long.Parse(tcpSummary.Groups[2].Value)), "every byte the kernel sent arrived");
            string tcpPcap = Path.Combine(_dir, "tcp.pcap");
            File.WriteAllBytes(tcpPcap, streamed);
            string tcpListing = Tshark(tcpPcap);
            Assert.That(tcpListing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length, Is.EqualTo(int.Parse(tcpSummary.Groups[1].Value)),
                        "tshark reads every packet streamed");
            CheckEnumerationSequence(tcpPcap, tcpListing);
            Assert.That(Fields(tcpPcap, "usb.urb_type == 'C' && usb.bDescriptorType == 1", "usb.idVendor", "usb.idProduct"), Does.Contain("0x0627\t0x0001"),
                        "the second keyboard's device descriptor");
        }

        const int GuestCapturePort = 5000;

        static int FreeHostPort()
        {
            var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            l.Start();
            int port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            return port;
        }

        /// <summary>
        /// The enumeration's control requests of a capture, in order: device address (SET_ADDRESS
        /// also shows the new one), bRequest, descriptor type, wLength.
        /// </summary>
        static void CheckEnumerationSequence(string pcap, string listing)
        {
            string requests = Fields(pcap, "usb.setup.bRequest && usb.device_address != 1",
                                     "usb.device_address", "usb.setup.bRequest", "usb.bDescriptorType", "usb.setup.wLength");
            var m = Regex.Match(requests,
                @"^0\t6\t0x01\t64\n0,(\d+)\t5\t\t0\n(\d+)\t6\t0x01\t18\n\2\t6\t0x02\t9\n\2\t6\t0x02\t34\n(?:\2\t6\t0x03\t255\n)*\2\t9\t\t0\n");
            Assert.That(m.Success, Is.True, "GET_DESCRIPTOR(device, 64) at address 0, SET_ADDRESS, GET_DESCRIPTOR(device, 18), " +
                        "GET_DESCRIPTOR(configuration, 9 then 34), strings, SET_CONFIGURATION:\n" + requests + "\n" + listing);
            Assert.That(m.Groups[2].Value, Is.EqualTo(m.Groups[1].Value), "the device answers at the address SET_ADDRESS gave it");
        }

        /// <summary>The distinct lines, sorted: the descriptors seen, whatever the number of reads.</summary>
        static string Distinct(string lines)
        {
            var set = new System.Collections.Generic.SortedSet<string>(lines.Split('\n', StringSplitOptions.RemoveEmptyEntries), StringComparer.Ordinal);
            return string.Join("\n", set);
        }

        /// <summary>tshark's fields (tab-separated, one line per matching packet).</summary>
        static string Fields(string file, string filter, params string[] fields)
        {
            var args = new System.Collections.Generic.List<string> { "-Y", filter, "-T", "fields" };
            foreach (var f in fields) { args.Add("-e"); args.Add(f); }
            return Tshark(file, args.ToArray());
        }

        static string Tshark(string file, params string[] extra)
        {
            var psi = new ProcessStartInfo("tshark") { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add("-r");
            psi.ArgumentList.Add(file);
            foreach (var e in extra) psi.ArgumentList.Add(e);
            Process started;
            try { started = Process.Start(psi); }
            catch (System.ComponentModel.Win32Exception e)
            {
                Assert.Fail("tshark could not run (" + e.Message + "); ./build.sh installs it with the other system packages (tools/Build/Prerequisites.cs)");
                return null;
            }
            using var p = started;
            string output = p.StandardOutput.ReadToEnd();
            string error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.That(p.ExitCode, Is.Zero, "tshark failed: " + error);
            return output;
        }
    }
}
