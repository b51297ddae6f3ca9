using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>The kernel boots to its shell prompt under SeaBIOS and OVMF.</summary>
    [TestFixture]
    public sealed class BootTests : BootTest
    {
        const string DmesgLine = @"^\[\s*\d+\.\d{6}\] ";

        [TestCase("default")]
        [TestCase("minimal")]
        [TestCase("all-controllers")]
        public void Bios_ReachesPrompt(string scenario)
        {
            var vm = Start(scenario);
            var done = vm.WaitForLine(@"kernel: boot complete\s*$", BiosBoot);
            Assert.That(Regex.IsMatch(vm.Log, DmesgLine + @".*kernel: boot complete\s*$", RegexOptions.Multiline),
                        Is.True, "the boot-complete line must look like dmesg: [    0.123456] ... kernel: boot complete");
            vm.WaitForPrompt(QemuMachine.Scaled(10));
            TestContext.Out.WriteLine($"{scenario}: prompt after {vm.Elapsed.TotalMilliseconds:F0} ms");
        }

        [Test]
        public void Uefi_ReachesPrompt()
        {
            var vm = Start("default", uefi: true);
            vm.WaitForBoot(UefiBoot);
            TestContext.Out.WriteLine($"UEFI: prompt after {vm.Elapsed.TotalMilliseconds:F0} ms");
            // The shell works under UEFI too.
            Assert.That(vm.RunCommand("uptime"), Does.Match(@"uptime: \d+ ms"));
        }
    }
}
