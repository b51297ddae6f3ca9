using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>Memory: the garbage collector under load, RAM and 64-bit BARs above 4 GiB.</summary>
    [TestFixture]
    public sealed class MemoryTests : BootTest
    {
        [Test]
        public void GarbageCollector_ReclaimsGarbageAndKeepsLiveData()
        {
            var vm = BootToPrompt("minimal");
            string output = vm.RunCommand("test gc", QemuMachine.Scaled(120));
            var m = Regex.Match(output, @"gc: (\d+) collections, heap grew by (\d+) bytes, live data intact");
            Assert.That(m.Success, Is.True, "test gc reports collections and intact live data");
            Assert.That(int.Parse(m.Groups[1].Value), Is.GreaterThan(0), "garbage triggered collections");
            Assert.That(long.Parse(m.Groups[2].Value), Is.LessThan(4L * 1024 * 1024), "the heap did not grow by the garbage (~100 MB allocated)");
            Assert.That(output, Does.Contain("gc: ok"));
            string mem = vm.RunCommand("gc");
            Assert.That(mem, Does.Match(@"heap: \d+ bytes used in \d+ objects"));

            // The census walks every live object; its totals must equal the allocator's counters, and the
            // rows name types by their symbols (the census's own table is live while it counts).
            string types = vm.RunCommand("mem types 8");
            Assert.That(types, Does.Match(@"heap types: \d+ bytes in \d+ objects of \d+ types \(the heap's counters agree\)"), types);
            var rows = MemoryFigures.ParseTypes(types);
            Assert.That(rows.Count, Is.EqualTo(8), types);
            Assert.That(rows.Keys, Has.Member("__Array<Kernel_Kernel_Memory_KernelHeap_TypeCount>"), types);
            Assert.That(rows.Keys, Has.None.StartsWith("type@"), "every type resolved to its symbol");

            // What keeps an object alive: a kernel thread is held by the scheduler's thread list (an array field).
            string found = vm.RunCommand("mem find KernelThread 2");
            var thread = Regex.Match(found, @"\d+ live objects of Kernel_Kernel_Threading_KernelThread[^\n]*\n\s+0x([0-9a-f]{16})  \d+ bytes");
            Assert.That(thread.Success, Is.True, found);
            string refs = vm.RunCommand("mem refs " + thread.Groups[1].Value);
            Assert.That(refs, Does.Contain("object 0x" + thread.Groups[1].Value + " Kernel_Kernel_Threading_KernelThread"), refs);
            Assert.That(refs, Does.Match(@"field \+0x[0-9a-f]+ of 0x[0-9a-f]{16} __Array<Kernel_Kernel_Threading_KernelThread>"), refs);
            Assert.That(vm.RunCommand("mem refs 0x10"), Does.Contain("is in no live object"));
            Assert.That(vm.RunCommand("mem find NoSuchType"), Does.Contain("no live object of a type named NoSuchType"));
        }

        [Test]
        public void HighMemory_RamAndA64BitBarAbove4GiBAreMapped()
        {
            var vm = BootToPrompt("high-memory");
            var total = Regex.Match(vm.RunCommand("mem"), @"physical: (\d+) MiB total");
            Assert.That(total.Success, Is.True);
            Assert.That(int.Parse(total.Groups[1].Value), Is.GreaterThan(4096), "RAM above 4 GiB is usable");
            string bars = vm.RunCommand("test bars", QemuMachine.Scaled(30));
            var high = Regex.Match(bars, @"bars: \S+ BAR2 at 0x([0-9a-f]{9,}) reads 0x[0-9a-f]{8}");
            Assert.That(high.Success, Is.True, "a BAR above 4 GiB was mapped and read:\n" + bars);
            Assert.That(System.Convert.ToUInt64(high.Groups[1].Value, 16), Is.GreaterThanOrEqualTo(1UL << 32));
            Assert.That(vm.RunCommand("test gc", QemuMachine.Scaled(120)), Does.Contain("gc: ok"), "heap works with memory above 4 GiB");
        }
    }
}
