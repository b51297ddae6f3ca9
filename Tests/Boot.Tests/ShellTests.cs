using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>Shell basics: help, mem, uptime, timer and threads self tests.</summary>
    [TestFixture]
    public sealed class ShellTests : BootTest
    {
        [Test]
        public void Help_ListsCommands()
        {
            var vm = BootToPrompt("minimal");
            string help = vm.RunCommand("help");
            foreach (var cmd in new[] { "help", "pci", "mem", "uptime", "halt", "reboot", "test" })
                Assert.That(help, Does.Match(@"(?m)^\s*" + cmd + @"\b"), $"help does not list '{cmd}'");
        }

        [Test]
        public void Mem_ShowsHeapAndDma()
        {
            var vm = BootToPrompt("minimal");
            string mem = vm.RunCommand("mem");
            Assert.That(mem, Does.Match(@"(?m)^.*heap:.*\d.*$"), "mem prints a heap: line with figures");
            Assert.That(mem, Does.Match(@"(?m)^.*dma:.*\d.*$"), "mem prints a dma: line with figures");
            Assert.That(mem, Does.Contain("used").And.Contain("free"));
        }

        static long Uptime(QemuMachine vm)
        {
            var m = Regex.Match(vm.RunCommand("uptime"), @"uptime: (\d+) ms");
            Assert.That(m.Success, Is.True, "uptime prints 'uptime: <ms> ms'");
            return long.Parse(m.Groups[1].Value);
        }

        [Test]
        public void LogLevel_ShowsAndSetsTheLowestLevelPrinted()
        {
            var vm = BootToPrompt("minimal");
            Assert.That(vm.RunCommand("loglevel"), Does.Contain("loglevel: info"), "the default, as Linux's console level");
            Assert.That(vm.RunCommand("loglevel debug"), Does.Contain("loglevel: debug"));
            Assert.That(vm.RunCommand("loglevel loud"), Does.Contain("usage: loglevel [debug|info|warning|error]"));
            Assert.That(vm.RunCommand("loglevel"), Does.Contain("loglevel: debug"), "a bad argument changes nothing");
        }

        [Test]
        public void Timer_UptimeAdvancesWithRealTime()
        {
            var vm = BootToPrompt("minimal");
            long t1 = Uptime(vm);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            System.Threading.Thread.Sleep(1500);
            long t2 = Uptime(vm);
            double host = sw.Elapsed.TotalMilliseconds;
            TestContext.Out.WriteLine($"uptime {t1} → {t2} ms (guest +{t2 - t1} ms, host +{host:F0} ms)");
            Assert.That(t2 - t1, Is.GreaterThanOrEqualTo(1000), "uptime grows by about 1.5 s after sleeping 1.5 s");
            Assert.That(t2 - t1, Is.LessThanOrEqualTo((long)host + 2000), "uptime grows no faster than real time");
        }

        [Test]
        public void Timer_SelfTest_CountsAbout100TicksIn100Ms()
        {
            var vm = BootToPrompt("minimal");
            var m = Regex.Match(vm.RunCommand("test timer", QemuMachine.Scaled(10)), @"timer: (\d+) ticks in 100 ms");
            Assert.That(m.Success, Is.True, "test timer prints 'timer: <n> ticks in 100 ms'");
            Assert.That(int.Parse(m.Groups[1].Value), Is.InRange(50, 200));
        }

        [Test]
        public void Sync_EventsSemaphoresTimeOutAndMutexesExclude()
        {
            var vm = BootToPrompt("minimal");
            string output = vm.RunCommand("test sync", QemuMachine.Scaled(30));
            var timeout = Regex.Match(output, @"sync: event timeout after (\d+) ms");
            Assert.That(timeout.Success, Is.True, "an unsignalled event times out");
            Assert.That(int.Parse(timeout.Groups[1].Value), Is.InRange(50, 1000));
            Assert.That(output, Does.Match(@"sync: event signalled by another thread after \d+ ms"));
            Assert.That(output, Does.Contain("sync: mutex counter 60 of 60"));
            Assert.That(output, Does.Contain("sync: ok"));
        }

        [Test]
        public void Threads_SelfTest_Interleaves()
        {
            var vm = BootToPrompt("minimal");
            string output = vm.RunCommand("test threads", QemuMachine.Scaled(30));
            Assert.That(output, Does.Match(@"(?m)^.*threads: ok\s*$"), "test threads ends with 'threads: ok'");
            var order = new System.Collections.Generic.List<char>();
            foreach (Match m in Regex.Matches(output, @"thread ([AB]) \d+"))
                order.Add(m.Groups[1].Value[0]);
            int firstA = order.IndexOf('A'), lastA = order.LastIndexOf('A');
            Assert.That(firstA, Is.GreaterThanOrEqualTo(0), "no 'thread A <i>' lines");
            Assert.That(order.Contains('B'), Is.True, "no 'thread B <i>' lines");
            Assert.That(order.GetRange(firstA, lastA - firstA + 1).Contains('B'), Is.True,
                        "threads did not interleave: no 'thread B' line between the first and last 'thread A' line (" + new string(order.ToArray()) + ")");
        }
    }
}
