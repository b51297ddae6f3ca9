using System;
using System.Collections.Generic;
using NUnit.Framework;
using Platform.Memory;

namespace Kernel.Tests
{
    public class RangeAllocatorTests
    {
        [Test]
        public void AllocatesAlignedAndWithinLimit()
        {
            var a = new RangeAllocator();
            a.AddRange(0x1000, 0x10000);
            a.AddRange(0x1_0000_0000, 0x100000);
            ulong p = a.Allocate(0x100, 0x1000);
            Assert.That(p % 0x1000, Is.Zero);
            ulong high = a.Allocate(0x20000, 0x1000, limit: 1UL << 32);
            Assert.That(high, Is.Zero, "does not fit below 4 GiB");
            ulong any = a.Allocate(0x20000, 0x1000);
            Assert.That(any, Is.GreaterThanOrEqualTo(0x1_0000_0000UL));
        }

        [Test]
        public void NeverCrossesBoundary()
        {
            var a = new RangeAllocator();
            a.AddRange(0x1000, 0x4000);
            a.Allocate(0xF00, 16); // push the next allocation close to the 4 KiB line
            ulong p = a.Allocate(0x200, 64, boundary: 0x1000);
            Assert.That(p / 0x1000, Is.EqualTo((p + 0x200 - 1) / 0x1000));
        }

        [Test]
        public void FreeCoalescesAndRefusesDoubleFree()
        {
            var a = new RangeAllocator();
            a.AddRange(0x10000, 0x10000);
            ulong x = a.Allocate(0x1000, 0x1000), y = a.Allocate(0x1000, 0x1000), z = a.Allocate(0x1000, 0x1000);
            Assert.That(a.Free(y, 0x1000), Is.True);
            Assert.That(a.Free(y, 0x1000), Is.False, "double free");
            Assert.That(a.Free(x, 0x1000), Is.True);
            Assert.That(a.Free(z, 0x1000), Is.True);
            Assert.That(a.FreeRangeCount, Is.EqualTo(1));
            Assert.That(a.UsedBytes, Is.Zero);
            Assert.That(a.FreeBytes, Is.EqualTo(0x10000UL));
        }

        [Test]
        public void ExcludeAndReserveCarveOutRanges()
        {
            var a = new RangeAllocator();
            a.AddRange(0x100000, 0x100000);
            a.Exclude(0x100000, 0x30000); // kernel image
            Assert.That(a.TotalBytes, Is.EqualTo(0xD0000UL));
            Assert.That(a.Reserve(0x100000, 0x1000), Is.False, "excluded memory is not free");
            Assert.That(a.Reserve(0x180000, 0x1000), Is.True);
            ulong p = a.Allocate(0x1000, 0x1000);
            Assert.That(p, Is.EqualTo(0x130000UL));
        }

        [Test]
        public void RandomizedInvariants()
        {
            var random = new Random(1234);
            var a = new RangeAllocator();
            const ulong Base = 0x100000, Size = 0x400000;
            a.AddRange(Base, Size);
            var live = new List<(ulong start, ulong length)>();
            for (int step = 0; step < 5000; step++)
            {
                if (live.Count > 0 && random.Next(3) == 0)
                {
                    int i = random.Next(live.Count);
                    Assert.That(a.Free(live[i].start, live[i].length), Is.True);
                    live.RemoveAt(i);
                }
                else
                {
                    ulong length = (ulong)random.Next(1, 5000);
                    ulong alignment = 1UL << random.Next(4, 13);
                    ulong boundary = random.Next(2) == 0 ? 0UL : 0x1000UL;
                    if (boundary != 0 && length > boundary) length = boundary;
                    ulong p = a.Allocate(length, alignment, ulong.MaxValue, boundary);
                    if (p == 0) continue;
                    Assert.That(p % alignment, Is.Zero);
                    Assert.That(p >= Base && p + length <= Base + Size);
                    if (boundary != 0) Assert.That(p / boundary, Is.EqualTo((p + length - 1) / boundary));
                    foreach (var (s, l) in live)
                        Assert.That(p + length <= s || s + l <= p, "overlap");
                    live.Add((p, length));
                }
                ulong used = 0;
                foreach (var (_, l) in live) used += l;
                Assert.That(a.UsedBytes, Is.EqualTo(used));
            }
            foreach (var (s, l) in live) a.Free(s, l);
            Assert.That(a.FreeRangeCount, Is.EqualTo(1), "everything coalesces back");
            Assert.That(a.FreeBytes, Is.EqualTo(Size));
        }
    }
}
