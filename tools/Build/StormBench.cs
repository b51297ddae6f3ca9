using System;
using Boot.Tests.Harness;

namespace KernelBuild
{
    /// <summary>
    /// `build.sh bench storm [--cycles N]`: boots the `storm` scenario (UHCI + OHCI + EHCI + xHCI, empty) and runs
    /// <see cref="HotPlugStorm"/> on it: mixed QMP hot-plug cycles on every controller, hubs unplugged with their
    /// children, disks unplugged under I/O; prints latencies, memory before/after and the listing checks.
    /// </summary>
    static class StormBench
    {
        public static int Run(string root, Options o, string iso)
        {
            var lo = new QemuLaunchOptions { RepoRoot = root, Scenario = Scenario.Load(root, HotPlugStorm.ScenarioName), Iso = iso };
            using var vm = QemuMachine.Start(lo);
            try
            {
                vm.WaitForBoot(QemuMachine.Scaled(60));
            }
            catch (QemuWaitException e)
            {
                throw new BuildException($"bench storm: the kernel did not reach the prompt: {e.Message}\n{vm.DescribeForFailure()}");
            }
            Console.WriteLine($"bench storm: scenario {lo.Scenario.Name}, {o.Cycles} cycles (one cycle = a device or a hub with children plugged, then unplugged)");
            var report = HotPlugStorm.Run(vm, new StormOptions { Cycles = o.Cycles, Progress = Console.WriteLine });
            string logFile = System.IO.Path.Combine(root, "out", "bench-storm.log");
            System.IO.Directory.CreateDirectory(System.IO.Path.GetDirectoryName(logFile));
            System.IO.File.WriteAllText(logFile, "# " + vm.CommandLine + "\n" + vm.Log);
            Console.WriteLine();
            Console.Write(report.Format());
            Console.WriteLine($"serial log: {Program.Rel(root, logFile)}");
            bool ok = report.Failures.Count == 0 && report.MemoryFlat && report.ListingProblemLoaded == null && report.ListingProblemEmpty == null && !report.Panicked;
            Console.WriteLine(ok ? "storm: PASS" : "storm: FAIL");
            return ok ? 0 : 1;
        }
    }
}
