using System.Linq;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// A short hot-plug storm (the same engine as `./build.sh bench storm`): UHCI, OHCI, EHCI and xHCI in one
    /// machine, keyboards, mice, tablets, disks and hubs with children plugged and unplugged through QMP, hubs
    /// unplugged with their children attached and disks unplugged under `disk read`/`disk bench`. Asserts
    /// correctness with generous bounds; latencies are printed, not asserted (they depend on the machine's load).
    /// </summary>
    [TestFixture]
    public sealed class StormTests : BootTest
    {
        const int Cycles = 60;

        [Test]
        public void Storm_MixedHotPlugOnAllControllers_EverythingBoundAndGone_MemoryFlat_ListingMatchesQemu()
        {
            var vm = BootToPrompt(HotPlugStorm.ScenarioName);
            var report = HotPlugStorm.Run(vm, new StormOptions { Cycles = Cycles, Seed = 60 });
            TestContext.Out.WriteLine(report.Format());

            Assert.That(report.Panicked, Is.False, "kernel panic");
            Assert.That(report.Failures, Is.Empty, "every device bound within 10 s, every unplug gone within 5 s, every disk command ends in an error");
            Assert.That(report.DevicesPlugged, Is.GreaterThan(Cycles), "hubs bring children: more devices than cycles");
            Assert.That(report.DevicesUnplugged, Is.EqualTo(report.DevicesPlugged), "every plugged device was unplugged");
            Assert.That(report.AddToBound.Select(x => x.Controller).Distinct(), Is.EquivalentTo(new[] { "uhci", "ohci", "ehci", "xhci" }), "devices on every controller");
            Assert.That(report.HubUnplugsWithChildren, Is.GreaterThan(0), "a hub was unplugged with children attached");
            Assert.That(report.DiskUnplugsUnderIo, Is.GreaterThan(0), "a disk was unplugged under I/O");
            Assert.That(report.DiskCommandsEndedInError + report.DiskCommandsFinishedFirst, Is.EqualTo(report.DiskUnplugsUnderIo), "every disk command returned");
            Assert.That(report.ListingProblemLoaded, Is.Null, "listing with devices plugged vs QEMU info usb");
            Assert.That(report.ListedDevicesLoaded, Is.GreaterThan(0), "devices were still plugged at the loaded listing check");
            Assert.That(report.ListingProblemEmpty, Is.Null, "listing after the last unplug vs QEMU info usb");
            Assert.That(report.MemoryFlat, Is.True, $"memory flat: start {report.MemoryStart}, end {report.MemoryEnd}");
            Assert.That(vm.RunCommand("uptime"), Does.Match(@"\d"), "the shell still answers");
        }
    }
}
