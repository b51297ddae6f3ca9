using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>DMA and heap figures the kernel's `gc` and `mem` commands report, for the leak checks of hot-plug tests.</summary>
    public readonly record struct KernelMemory(long DmaBytes, long DmaBuffers, long HeapBytes)
    {
        /// <summary>Equal readings needed before a figure counts as settled, and the bound on trying.</summary>
        const int SettleReadings = 10;
        const int SettlePauseMs = 200;

        /// <summary>Collects garbage and reads the figures (`gc` ends with the `mem` report).</summary>
        public static KernelMemory Read(QemuMachine vm)
        {
            MemoryFigures figures = HotPlugStorm.Memory(vm);
            Assert.That(figures, Is.Not.Null, "gc printed no heap and DMA figures");
            return new KernelMemory(figures.DmaBytes, figures.DmaBuffers, figures.HeapBytes);
        }

        /// <summary>
        /// The figures once the USB stack is quiet: a driver or a hub poll may hold a transient DMA
        /// buffer (a control request in flight) at any moment, so wait (bounded) for two equal
        /// DMA readings in a row.
        /// </summary>
        public static KernelMemory Settled(QemuMachine vm)
        {
            KernelMemory previous = Read(vm);
            for (int i = 0; i < SettleReadings; i++)
            {
                System.Threading.Thread.Sleep(SettlePauseMs);
                KernelMemory now = Read(vm);
                if (now.DmaBytes == previous.DmaBytes && now.DmaBuffers == previous.DmaBuffers)
                    return now;
                previous = now;
            }
            return previous;
        }

        /// <summary>DMA exactly back to <paramref name="start"/>, heap within <paramref name="heapSlack"/> bytes of it.</summary>
        public void AssertBackTo(KernelMemory start, long heapSlack)
        {
            Assert.That(DmaBytes, Is.EqualTo(start.DmaBytes), "DMA bytes back to the start value");
            Assert.That(DmaBuffers, Is.EqualTo(start.DmaBuffers), "DMA buffers back to the start value");
            Assert.That(HeapBytes - start.HeapBytes, Is.LessThan(heapSlack), "heap live bytes back near the start");
        }
    }
}
