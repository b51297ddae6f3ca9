using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// Stack overflows end in a clear crash report instead of silent corruption: every kernel stack
    /// has an unmapped guard page below it, and the page fault runs on its own IST stack, so the
    /// report prints and names the method that overflowed. Both for a thread the scheduler created
    /// (<c>test stack</c>) and for the boot stack the shell runs on (<c>test stack boot</c>).
    /// </summary>
    [TestFixture]
    public sealed class StackGuardTests : BootTest
    {
        const string OverflowInRecurse = @"KERNEL PANIC: stack overflow in \S*SelfTests__Recurse\+0x[0-9a-f]+ \(thread {0} hit its guard page\): Page fault \(vector 14, error code 0x[0-9a-f]+\)";

        [Test]
        public void CreatedThread_OverflowIsReportedWithTheMethod_AndExitsWithStatus35()
        {
            AssertOverflowReported("test stack", "deep");
        }

        [Test]
        public void BootStack_OverflowIsReportedWithTheMethod_AndExitsWithStatus35()
        {
            AssertOverflowReported("test stack boot", "main");
        }

        void AssertOverflowReported(string command, string thread)
        {
            var vm = BootToPrompt("minimal");
            vm.SendLine(command);
            int status = vm.WaitForExit(QemuMachine.Scaled(30));
            string log = vm.Log;
            Assert.That(log, Does.Match(string.Format(OverflowInRecurse, thread)), "the panic line names the overflowing method and thread");
            string report = log.Substring(log.IndexOf("KERNEL PANIC: "));
            Assert.That(report, Does.Match(@"RIP\s+0x[0-9a-f]{16}\s+\S*SelfTests__Recurse\+0x"), "RIP is in the recursing method");
            Assert.That(report, Does.Contain("(write, page not present)"), "the overflowing push wrote into the unmapped guard page");
            Assert.That(report, Does.Contain("  thread " + thread + "\n"));
            Assert.That(report, Does.Contain("backtrace:"));
            Assert.That(status, Is.EqualTo(QemuCommandLine.ExitPanic), "isa-debug-exit 0x11 → QEMU status 35");
        }
    }
}
