using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// The USB shell commands behave as their Linux counterparts (lsusb, sysfs bind/unbind,
    /// bConfigurationValue, authorized/reset), on the default machine (UHCI: keyboard 1-1, mouse 1-2;
    /// OHCI: tablet 2-1, disk 2-2).
    /// </summary>
    [TestFixture]
    public sealed class UsbShellTests : BootTest
    {
        QemuMachine Enumerated()
        {
            var vm = BootToPrompt("default");
            var deadline = System.Diagnostics.Stopwatch.StartNew();
            string[] devices = { "1-1", "1-2", "2-1", "2-2" };
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
            Assert.That(TreeLine(vm, 2, 2), Does.Contain("If 0, Class=Mass Storage"));
            Assert.That(vm.RunCommand("usb unbind usb 2-2"), Does.Contain("usb unbind: ok"));
            Assert.That(vm.Log, Does.Contain("usb 2-2: unbound from driver usb"));
            string unbound = TreeLine(vm, 2, 2);
            Assert.That(unbound, Does.Contain("Driver=[none]").And.Not.Contain("If 0"), "an unbound device has no configuration, so no interfaces");
            Assert.That(vm.RunCommand("usb bind usb 2-2"), Does.Contain("usb bind: ok"));
            Assert.That(TreeLine(vm, 2, 2), Does.Contain("If 0, Class=Mass Storage"));
        }

        [Test]
        public void ConfigurationZeroUnconfiguresAndOneConfiguresAgain()
        {
            var vm = Enumerated();
            Assert.That(vm.RunCommand("usb config 2-2 0"), Does.Contain("usb config: ok"));
            Assert.That(TreeLine(vm, 2, 2), Does.Not.Contain("If 0"));
            string devices = vm.RunCommand("usb devices");
            Assert.That(Regex.IsMatch(devices, @"Vendor=46f4 ProdID=0001[\s\S]*?\nC:\* "), Is.False, "no active configuration marked after config 0");
            Assert.That(vm.RunCommand("usb config 2-2 1"), Does.Contain("usb config: ok"));
            Assert.That(TreeLine(vm, 2, 2), Does.Contain("If 0, Class=Mass Storage"));
            Assert.That(vm.RunCommand("usb config 2-2 7"), Does.Not.Contain("usb config: ok"), "a configuration the device does not have is refused");
        }

        [Test]
        public void BindRefusesADriverThatDoesNotMatch_AndBadNamesAreReported()
        {
            var vm = Enumerated();
            Assert.That(vm.RunCommand("usb bind hub 2-2:1.0"), Does.Match(@"usb bind: (?!ok)\S+"), "the hub driver does not match a mass-storage interface");
            Assert.That(vm.RunCommand("usb bind nosuchdriver 2-2"), Does.Match(@"usb bind: (?!ok)\S+"));
            Assert.That(vm.RunCommand("usb config 9-9 1"), Does.Match(@"usb config: (?!ok)\S+"));
            Assert.That(vm.RunCommand("usb frobnicate"), Does.Contain("usage: usb devices"));
            Assert.That(vm.RunCommand("lsusb -v 9-9"), Does.Contain("lsusb: no device 9-9"));
            Assert.That(vm.RunCommand("uptime"), Does.Match(@"uptime: \d+ ms"), "the shell keeps working after bad commands");
        }

        [Test]
        public void ResetReenumeratesTheDevice()
        {
            var vm = Enumerated();
            vm.SkipPending();
            Assert.That(vm.RunCommand("usb reset 2-2"), Does.Contain("usb reset: ok"));
            vm.WaitForLine(@"usb 2-2: USB disconnect", QemuMachine.Scaled(10));
            vm.WaitForLine(@"usb 2-2: New USB device found, idVendor=46f4, idProduct=0001", QemuMachine.Scaled(20));
            vm.WaitForLine(@"usb 2-2: bound to driver usb", QemuMachine.Scaled(20));
            Assert.That(vm.RunCommand("usb reset usb1"), Does.Match(@"usb reset: (?!ok)\S+"), "a root hub cannot be reset");
        }

        [Test]
        public void DriversAndVerboseListing()
        {
            var vm = Enumerated();
            string drivers = vm.RunCommand("usb drivers");
            Assert.That(drivers, Does.Match(@"(?m)^\s+usb\s+device driver"));
            Assert.That(drivers, Does.Match(@"(?m)^\s+hub\s+interface driver"));
            string verbose = vm.RunCommand("lsusb -v 2-2");
            Assert.That(verbose, Does.Contain("Cls=08(stor.)"));
            Assert.That(verbose, Does.Match(@"E:\s+Ad=81\(I\) Atr=02\(Bulk\)"));
        }
    }
}
