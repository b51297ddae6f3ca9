using System;
using System.Collections.Generic;
using System.IO;
using Boot.Tests.Harness;
using NUnit.Framework;
using NUnit.Framework.Interfaces;

[assembly: Parallelizable(ParallelScope.All)]
[assembly: LevelOfParallelism(2)]
[assembly: FixtureLifeCycle(LifeCycle.InstancePerTestCase)]

namespace Boot.Tests
{
    /// <summary>Copies the kernel image once per run so a concurrent rebuild cannot change it under running tests.</summary>
    [SetUpFixture]
    public sealed class ImageSnapshot
    {
        static readonly object Gate = new();
        static string _path;
        static string _dir;

        public static string Iso
        {
            get
            {
                lock (Gate)
                {
                    if (_path != null) return _path;
                    string source = RepoPaths.Iso;
                    if (!File.Exists(source))
                        Assert.Fail($"kernel image {source} does not exist: run ./build.sh iso first (./build.sh test does it for you)");
                    _dir = Path.Combine(Path.GetTempPath(), "kboot-iso-" + Guid.NewGuid().ToString("N").Substring(0, 8));
                    Directory.CreateDirectory(_dir);
                    string copy = Path.Combine(_dir, "kernel.iso");
                    File.Copy(source, copy);
                    TestContext.Progress.WriteLine($"Boot.Tests: image {source} ({new FileInfo(copy).Length / 1024} KiB, built {File.GetLastWriteTime(source):yyyy-MM-dd HH:mm:ss})");
                    return _path = copy;
                }
            }
        }

        [OneTimeTearDown]
        public void DeleteSnapshot()
        {
            lock (Gate)
                if (_dir != null)
                    try { Directory.Delete(_dir, true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Base of every boot test: boots machines, always kills them, and on any failure prints the QEMU command
    /// line, QEMU's stderr and the WHOLE serial log of every machine the test started.
    /// </summary>
    public abstract class BootTest
    {
        public static readonly TimeSpan BiosBoot = QemuMachine.Scaled(30);
        public static readonly TimeSpan UefiBoot = QemuMachine.Scaled(90);

        readonly List<QemuMachine> _machines = new();

        /// <summary>Starts QEMU with a scenario (qemu/scenarios/NAME.json) without waiting for anything.</summary>
        protected QemuMachine Start(string scenario = "default", bool? uefi = null, params string[] extraArgs)
        {
            var vm = QemuMachine.Start(scenario, uefi, ImageSnapshot.Iso, extraArgs);
            lock (_machines) _machines.Add(vm);
            return vm;
        }

        /// <summary>Starts QEMU with launch options built by the test (e.g. no CD-ROM) without waiting for anything.</summary>
        protected QemuMachine Start(QemuLaunchOptions options)
        {
            var vm = QemuMachine.Start(options);
            lock (_machines) _machines.Add(vm);
            return vm;
        }

        /// <summary>Starts QEMU and waits for "kernel: boot complete" and the prompt.</summary>
        protected QemuMachine BootToPrompt(string scenario = "default", bool uefi = false)
        {
            var vm = Start(scenario, uefi ? true : null);
            vm.WaitForBoot(uefi ? UefiBoot : BiosBoot);
            return vm;
        }

        [TearDown]
        public void StopMachines()
        {
            var outcome = TestContext.CurrentContext.Result.Outcome.Status;
            bool failed = outcome == TestStatus.Failed || outcome == TestStatus.Warning;
            List<QemuMachine> machines;
            lock (_machines) { machines = new List<QemuMachine>(_machines); _machines.Clear(); }
            int i = 0;
            foreach (var vm in machines)
            {
                try
                {
                    if (failed)
                    {
                        string report = vm.DescribeForFailure();
                        TestContext.Out.WriteLine($"==== machine {++i} of {machines.Count} ====");
                        TestContext.Out.WriteLine(report);
                        try
                        {
                            string file = Path.Combine(Path.GetTempPath(), $"{Sanitize(TestContext.CurrentContext.Test.Name)}-{i}-{Guid.NewGuid():N}.serial.log");
                            File.WriteAllText(file, report);
                            TestContext.AddTestAttachment(file, "QEMU command line and serial log");
                        }
                        catch (Exception e) { TestContext.Out.WriteLine("(could not attach the log: " + e.Message + ")"); }
                    }
                }
                finally
                {
                    vm.Dispose();
                }
            }
        }

        static string Sanitize(string s)
        {
            foreach (char c in Path.GetInvalidFileNameChars()) s = s.Replace(c, '_');
            return s.Replace(' ', '_').Replace('"', '_').Replace('(', '_').Replace(')', '_');
        }
    }
}
