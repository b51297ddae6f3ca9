using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// The USB shell commands behave as their Linux counterparts (lsusb, sysfs bind/unbind,
    /// bConfigurationValue, authorized/reset), on the default machine (UHCI: keyboard on port 1,
    /// mouse on port 2; OHCI: tablet on port 1, disk on port 2). Bus numbers come from the log, as
    /// they depend on the order the controllers' drivers register (EHCI first, like Linux).
    /// </summary>
    [TestFixture]
    public sealed class UsbShellTests : BootTest
    {
        int _uhciBus, _ohciBus;
        /// <summary>The disk's name: "&lt;OHCI bus&gt;-2".</summary>
        string Disk => _ohciBus + "-2";

        static int BusOf(QemuMachine vm, string driver)
        {
            var m = Regex.Match(vm.Log, Regex.Escape(driver) + @" \S+: new USB bus registered, assigned bus number (\d+)");
            Assert.That(m.Success, Is.True, driver + " registered no bus\n" + vm.DescribeForFailure());
            return int.Parse(m.Groups[1].Value);
        }

        QemuMachine Enumerated()
        {
            var vm = BootToPrompt("default");
            _uhciBus = BusOf(vm, "uhci_hcd");
            _ohciBus = BusOf(vm, "ohci-pci");
            var deadline = System.Diagnostics.Stopwatch.StartNew();
            string[] devices = { _uhciBus + "-1", _uhciBus + "-2", _ohciBus + "-1", Disk };
            while (!System.Array.TrueForAll(devices, d => vm.Log.Contains("usb " + d + ": bound to driver usb")))
            {
                if (deadline.Elapsed > QemuMachine.Scaled(30))
                    Assert.Fail("the default machine's four devices were not all bound within 30 s\n" + vm.DescribeForFailure());
                System.Threading.Thread.Sleep(100);
            }
            return vm;
        }

        static string TreeLine(QemuMachine vm, int bus, int port)
        {
            string tree = vm.RunCommand("lsusb -t");
            bool inBus = false;
            foreach (string line in tree.Split('\n'))
            {
                if (line.StartsWith("/:")) inBus = line.Contains("Bus " + bus.ToString("00") + ".");
                else if (inBus && line.Contains("Port " + port + ":")) return line;
            }
            Assert.Fail("no lsusb -t line for bus " + bus + " port " + port + ":\n" + tree);
            return null;
        }

        [Test]
        public void UnbindAndBindTheGenericDriver_RemovesAndRestoresTheInterfaces()
        {
            var vm = Enumerated();
            Assert.That(TreeLine(vm, _ohciBus, 2), Does.Contain("If 0, Class=Mass Storage"));
            Assert.That(vm.RunCommand("usb unbind usb " + Disk), Does.Contain("usb unbind: ok"));
            Assert.That(vm.Log, Does.Contain("usb " + Disk + ": unbound from driver usb"));
            string unbound = TreeLine(vm, _ohciBus, 2);
            Assert.That(unbound, Does.Contain("Driver=[none]").And.Not.Contain("If 0"), "an unbound device has no configuration, so no interfaces");
            Assert.That(vm.RunCommand("usb bind usb " + Disk), Does.Contain("usb bind: ok"));
            Assert.That(TreeLine(vm, _ohciBus, 2), Does.Contain("If 0, Class=Mass Storage"));
        }

        [Test]
        public void ConfigurationZeroUnconfiguresAndOneConfiguresAgain()
        {
            var vm = Enumerated();
            Assert.That(vm.RunCommand("usb config " + Disk + " 0"), Does.Contain("usb config: ok"));
            Assert.That(TreeLine(vm, _ohciBus, 2), Does.Not.Contain("If 0"));
            string devices = vm.RunCommand("usb devices");
            Assert.That(Regex.IsMatch(devices, @"Vendor=46f4 ProdID=0001(?:(?!\nT:)[\s\S])*?\nC:\* "), Is.False, "no active configuration marked after config 0");
            Assert.That(vm.RunCommand("usb config " + Disk + " 1"), Does.Contain("usb config: ok"));
            Assert.That(TreeLine(vm, _ohciBus, 2), Does.Contain("If 0, Class=Mass Storage"));
            Assert.That(vm.RunCommand("usb config " + Disk + " 7"), Does.Not.Contain("usb config: ok"), "a configuration the device does not have is refused");
        }

        [Test]
        public void BindRefusesADriverThatDoesNotMatch_AndBadNamesAreReported()
        {
            var vm = Enumerated();
            Assert.That(vm.RunCommand("usb bind hub " + Disk + ":1.0"), Does.Match(@"usb bind: (?!ok)\S+"), "the hub driver does not match a mass-storage interface");
            Assert.That(vm.RunCommand("usb bind nosuchdriver " + Disk), Does.Match(@"usb bind: (?!ok)\S+"));
            Assert.That(vm.RunCommand("usb config 9-9 1"), Does.Match(@"usb config: (?!ok)\S+"));
            Assert.That(vm.RunCommand("usb frobnicate"), Does.Contain("usage: usb devices"));
            Assert.That(vm.RunCommand("lsusb -v 9-9"), Does.Contain("lsusb: no device 9-9"));
            Assert.That(vm.RunCommand("uptime"), Does.Match(@"uptime: \d+ ms"), "the shell keeps working after bad commands");
        }

        [Test]
        public void ResetReenumeratesTheDevice()
        {
            var vm = Enumerated();
            int mark = vm.Log.Length;
            Assert.That(vm.RunCommand("usb reset " + Disk), Does.Contain("usb reset: ok"));
            // The explore thread may log the disconnect before the command's prompt comes back, so
            // look at everything printed since the command, in order.
            string[] expected =
            {
                "usb " + Disk + ": USB disconnect",
                "usb " + Disk + ": New USB device found, idVendor=46f4, idProduct=0001",
                "usb " + Disk + ": bound to driver usb",
            };
            var deadline = System.Diagnostics.Stopwatch.StartNew();
            while (true)
            {
                string since = vm.Log.Substring(mark);
                int at = 0;
                foreach (string line in expected)
                    at = at < 0 ? -1 : since.IndexOf(line, at, System.StringComparison.Ordinal);
                if (at >= 0) break;
                if (deadline.Elapsed > QemuMachine.Scaled(20))
                    Assert.Fail("the reset device was not disconnected, found and bound again in order\n" + vm.DescribeForFailure());
                System.Threading.Thread.Sleep(100);
            }
            Assert.That(vm.RunCommand("usb reset usb1"), Does.Match(@"usb reset: (?!ok)\S+"), "a root hub cannot be reset");
        }

        [Test]
        public void DriversAndVerboseListing()
        {
            var vm = Enumerated();
            string drivers = vm.RunCommand("usb drivers");
            Assert.That(drivers, Does.Match(@"(?m)^\s+usb\s+device driver"));
            Assert.That(drivers, Does.Match(@"(?m)^\s+hub\s+interface driver"));
            string verbose = vm.RunCommand("lsusb -v " + Disk);
            Assert.That(verbose, Does.Contain("      bInterfaceClass         8 Mass Storage"));
            Assert.That(verbose, Does.Contain("        bEndpointAddress     0x81  EP 1 IN"));
        }
    }
}
