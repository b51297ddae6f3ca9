using System;
using System.Linq;
using System.Text.Json.Nodes;
using System.Threading;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// Checks of the harness and the scenario files that do not depend on the kernel's shell: they pass as
    /// soon as the kernel writes anything to the serial port.
    /// </summary>
    [TestFixture]
    public sealed class HarnessTests : BootTest
    {
        public static string[] ScenarioNames => Scenario.ListNames(RepoPaths.Root).ToArray();

        [TestCaseSource(nameof(ScenarioNames))]
        public void Scenario_IsAcceptedByQemu(string name)
        {
            var vm = Start(name);
            var status = vm.Qmp.Execute("query-status");
            Assert.That(status?["status"]?.GetValue<string>(), Is.EqualTo("running").Or.EqualTo("prelaunch"),
                        $"QEMU state for scenario {name}");
            Assert.That(vm.HasExited, Is.False, "QEMU rejected the scenario's arguments:\n" + vm.Stderr);
        }

        [Test]
        public void Kernel_WritesToSerial_AndQmpQuitStopsQemu()
        {
            var vm = Start("minimal");
            var first = vm.WaitForLine(@"\S", BiosBoot);
            Assert.That(first.Success, Is.True);
            TestContext.Out.WriteLine($"first serial line after {vm.Elapsed.TotalMilliseconds:F0} ms");
            vm.Qmp.Quit();
            Assert.That(vm.WaitForExit(QemuMachine.Scaled(10)), Is.EqualTo(0));
        }

        /// <summary>The ids QEMU 7.2 really reports for the four controller models (ground truth for PciTests).</summary>
        [Test]
        public void AllControllers_QemuReportsTheExpectedPciIds()
        {
            var vm = Start("all-controllers");
            var devices = vm.Qmp.QueryPciDevices();
            foreach (var expected in PciTests.UsbControllers)
            {
                var d = devices.FirstOrDefault(x => x?["qdev_id"]?.GetValue<string>() == expected.QdevId);
                Assert.That(d, Is.Not.Null, $"QEMU has no device with id {expected.QdevId}");
                Assert.That(d["id"]["vendor"].GetValue<int>(), Is.EqualTo(expected.Vendor), expected.Model + " vendor");
                Assert.That(d["id"]["device"].GetValue<int>(), Is.EqualTo(expected.Device), expected.Model + " device");
                Assert.That(d["class_info"]["class"].GetValue<int>(), Is.EqualTo(0x0c03), expected.Model + " class");
            }
            string info = vm.Qmp.HumanMonitorCommand("info pci");
            foreach (var expected in PciTests.UsbControllers)
                Assert.That(info, Does.Contain($"USB controller: PCI device {expected.Vendor:x4}:{expected.Device:x4}"));
        }

        [Test]
        public void Qmp_HotPlugsAndUnplugsAUsbKeyboard()
        {
            var vm = Start("default");
            vm.Qmp.DeviceAdd("usb-kbd", "hotkbd", ("bus", "xhci.0"), ("port", "3"));
            Assert.That(vm.Qmp.HumanMonitorCommand("info usb"), Does.Contain("QEMU USB Keyboard").And.Contain("hotkbd"));
            vm.Qmp.DeviceDel("hotkbd");
            var deadline = DateTime.UtcNow + QemuMachine.Scaled(10);
            while (vm.Qmp.HumanMonitorCommand("info usb").Contains("hotkbd") && DateTime.UtcNow < deadline) Thread.Sleep(100);
            Assert.That(vm.Qmp.HumanMonitorCommand("info usb"), Does.Not.Contain("hotkbd"));
        }
    }
}
