using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>How the kernel ends a QEMU run: halt (33), panic (35), reboot (0 with -no-reboot).</summary>
    [TestFixture]
    public sealed class ExitTests : BootTest
    {
        [Test]
        public void Fault_PrintsCrashReport_AndExitsWithStatus35()
        {
            var vm = BootToPrompt("minimal");
            vm.SendLine("test fault");
            vm.WaitForLine(@"KERNEL PANIC: ", QemuMachine.Scaled(10));
            int status = vm.WaitForExit(QemuMachine.Scaled(20));
            string report = vm.Log.Substring(vm.Log.IndexOf("KERNEL PANIC: "));
            Assert.That(report, Does.Match(@"(?m)^.*vector.*$"), "crash report names the vector");
            Assert.That(report, Does.Match(@"(?m)^.*RIP.*$"), "crash report shows RIP");
            Assert.That(report, Does.Match(@"(?m)^.*CR2.*$"), "crash report shows CR2");
            Assert.That(status, Is.EqualTo(QemuCommandLine.ExitPanic), "isa-debug-exit 0x11 → QEMU status 35");
        }

        [Test]
        public void Fault_ReportNamesTheFaultingMethod()
        {
            var vm = BootToPrompt("minimal");
            vm.SendLine("test fault");
            vm.WaitForExit(QemuMachine.Scaled(20));
            string report = vm.Log.Substring(vm.Log.IndexOf("KERNEL PANIC: "));
            Assert.That(report, Does.Contain("Page fault (vector 14"));
            Assert.That(report, Does.Match(@"RIP\s+0x[0-9a-f]{16}\s+\S*SelfTests__Fault\+0x[0-9a-f]+"), "RIP is mapped to the method through the symbols module");
            Assert.That(report, Does.Contain("(read, page not present)"));
            Assert.That(report, Does.Contain("backtrace:"));
        }

        [Test]
        public void StackOverflow_HitsTheGuardPageAndIsReportedAsSuch()
        {
            var vm = BootToPrompt("minimal");
            vm.SendLine("test stack");
            int status = vm.WaitForExit(QemuMachine.Scaled(30));
            Assert.That(vm.Log, Does.Match(@"KERNEL PANIC: stack overflow in \S+ \(thread deep hit its guard page\)"));
            Assert.That(status, Is.EqualTo(QemuCommandLine.ExitPanic));
        }

        [Test]
        public void Halt_ExitsWithStatus33()
        {
            var vm = BootToPrompt("minimal");
            vm.SendLine("halt");
            Assert.That(vm.WaitForExit(QemuMachine.Scaled(10)), Is.EqualTo(QemuCommandLine.ExitHalt), "isa-debug-exit 0x10 → QEMU status 33");
        }

        [Test]
        public void Reboot_ResetsTheMachine()
        {
            var vm = BootToPrompt("minimal");
            vm.SendLine("reboot");
            Assert.That(vm.WaitForExit(QemuMachine.Scaled(10)), Is.EqualTo(0), "a reset under -no-reboot ends QEMU with status 0");
        }
    }
}
