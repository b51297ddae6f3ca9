using System.Collections.Generic;
using Drivers.Usb.Hcd;
using NUnit.Framework;

namespace Hcd.Tests.Common
{
    /// <summary>
    /// The shared periodic bookkeeping (<see cref="PeriodicBudget"/>, <see cref="PeriodicTree"/>)
    /// on its own, with numbers of neither controller: limits accepted exactly, refused one above,
    /// least-loaded placement, periods clamped to the cycle, masks kept inside their slots.
    /// </summary>
    public class PeriodicBudgetTests
    {
        [Test]
        public void FrameTableAcceptsUpToTheLimitAndRefusesOneMore()
        {
            var b = new PeriodicBudget(8, 1, 900);
            Assert.That(b.Choose(1, 1, 0, 0, 600, 0, out int phase, out int shift), Is.True);
            b.Book(1, phase, 1, 600, 0, 0);
            Assert.That(b.Choose(1, 1, 0, 0, 300, 0, out _, out _), Is.True, "600 + 300 = 900 is within the limit");
            Assert.That(b.Choose(1, 1, 0, 0, 301, 0, out phase, out shift), Is.False, "901 is over");
            Assert.That((phase, shift), Is.EqualTo((0, 0)), "nothing chosen on refusal");
        }

        [Test]
        public void ChooseBooksNothing()
        {
            var b = new PeriodicBudget(4, 8, 100);
            Assert.That(b.Choose(2, 0x01, 0x0C, 6, 30, 20, out _, out _), Is.True);
            for (int f = 0; f < 4; f++)
                for (int u = 0; u < 8; u++)
                    Assert.That(b.Load(f, u), Is.Zero);
        }

        [Test]
        public void PlacementGoesToTheLeastLoadedPhase()
        {
            var b = new PeriodicBudget(16, 1, PeriodicBudget.NoLimit);
            b.Book(4, 0, 1, 10, 0, 0);
            b.Book(4, 1, 1, 10, 0, 0);
            b.Book(4, 3, 1, 5, 0, 0);
            Assert.That(b.Choose(4, 1, 0, 0, 7, 0, out int phase, out _), Is.True);
            Assert.That(phase, Is.EqualTo(2), "phase 2 carries nothing");
            b.Book(4, 2, 1, 7, 0, 0);
            Assert.That(b.Choose(4, 1, 0, 0, 1, 0, out phase, out _), Is.True);
            Assert.That(phase, Is.EqualTo(3), "5 is the least of 10, 10, 7, 5");
            // A shorter period sees the frames of the longer ones: with phase 0 of period 4 empty,
            // even frames peak at 7 (phase 2) and odd frames at 10 (phase 1).
            b.Release(4, 0, 1, 10, 0, 0);
            Assert.That(b.Choose(2, 1, 0, 0, 1, 0, out phase, out _), Is.True);
            Assert.That(phase, Is.EqualTo(0));
        }

        [Test]
        public void TiesGoToTheLowestPhaseAndShift()
        {
            var b = new PeriodicBudget(32, 8, 100);
            Assert.That(b.Choose(8, 0x01, 0, 7, 10, 0, out int phase, out int shift), Is.True);
            Assert.That((phase, shift), Is.EqualTo((0, 0)));
        }

        [Test]
        public void ShiftFindsTheFreeMicroframeAndStaysWithinTheLastSlot()
        {
            var b = new PeriodicBudget(32, 8, 100);
            b.Book(1, 0, 0x01, 60, 0, 0);
            Assert.That(b.Choose(1, 0x01, 0x1C, 6, 40, 40, out _, out int shift), Is.True);
            Assert.That(shift, Is.EqualTo(1), "shift 0 peaks at 100 us in microframe 0, shift 1 at 40");
            Assert.That(b.Choose(1, 0x80, 0, 6, 1, 0, out _, out _), Is.False, "a mask past the last slot is never placed");
            var unlimited = new PeriodicBudget(32, 8, PeriodicBudget.NoLimit);
            Assert.That(unlimited.Choose(1, 0x80, 0, 6, 1, 0, out _, out _), Is.False, "not even without a limit");
        }

        [Test]
        public void PeriodsClampToPowersOfTwoWithinTheCycle()
        {
            var b = new PeriodicBudget(32, 1, PeriodicBudget.NoLimit);
            Assert.That(b.PeriodIn(0), Is.EqualTo(1));
            Assert.That(b.PeriodIn(1), Is.EqualTo(1));
            Assert.That(b.PeriodIn(3), Is.EqualTo(2));
            Assert.That(b.PeriodIn(10), Is.EqualTo(8));
            Assert.That(b.PeriodIn(255), Is.EqualTo(32));
            b.Book(255, 5, 1, 3, 0, 0);
            for (int f = 0; f < 64; f++)
                Assert.That(b.Load(f, 0), Is.EqualTo(f % 32 == 5 ? 3 : 0), $"frame {f}");
        }

        [Test]
        public void ReleaseRestoresTheTable()
        {
            var b = new PeriodicBudget(32, 8, 100);
            b.Book(4, 3, 0x05, 20, 0x30, 7);
            Assert.That(b.Load(7, 0), Is.EqualTo(20));
            Assert.That(b.Load(7, 4), Is.EqualTo(7));
            Assert.That(b.Load(8, 0), Is.Zero);
            b.Release(4, 3, 0x05, 20, 0x30, 7);
            for (int f = 0; f < 32; f++)
                for (int u = 0; u < 8; u++)
                    Assert.That(b.Load(f, u), Is.Zero);
        }
    }

    public class PeriodicPlacementTests
    {
        [Test]
        public void PlaceBooksTheShiftedMasksAndReleaseTakesThemOutOnce()
        {
            var b = new PeriodicBudget(32, 8, 100);
            b.Book(1, 0, 0x01, 60, 0, 0);
            var p = new PeriodicPlacement();
            Assert.That(b.Place(p, 4, 0x01, 0x1C, 6, 40, 30), Is.True);
            Assert.That((p.PeriodFrames, p.Phase, p.Shift), Is.EqualTo((4, 0, 1)), "microframe 0 carries 60 us already");
            Assert.That((p.StartMask, p.CompleteMask), Is.EqualTo((0x02u, 0x38u)));
            Assert.That(b.Load(4, 1), Is.EqualTo(40));
            Assert.That(b.Load(4, 3), Is.EqualTo(30));
            Assert.That(b.Load(5, 1), Is.Zero, "only the frames of its phase");
            b.Release(p);
            b.Release(p);
            Assert.That(b.Load(4, 1), Is.Zero);
            Assert.That(b.Load(4, 0), Is.EqualTo(60), "released once, the rest untouched");
        }

        [Test]
        public void PlaceAtBooksTheGivenPhaseOrNothing()
        {
            // Linux uhci_check_bandwidth with the phase fixed: only that phase's frames count.
            var b = new PeriodicBudget(32, 1, 900);
            b.Book(4, 2, 1, 850, 0, 0);
            var p = new PeriodicPlacement();
            Assert.That(b.HighestLoad(8, 2), Is.EqualTo(850));
            Assert.That(b.HighestLoad(8, 6), Is.EqualTo(850), "frames 6, 14, ... are frames of phase 2 of period 4");
            Assert.That(b.HighestLoad(8, 1), Is.Zero);
            Assert.That(b.PlaceAt(p, 8, 2, 1, 0, 51, 0), Is.False, "851 + 51 > 900");
            Assert.That(p.Booked, Is.False);
            Assert.That(b.PlaceAt(p, 8, 2, 1, 0, 50, 0), Is.True);
            Assert.That((p.PeriodFrames, p.Phase), Is.EqualTo((8, 2)));
            Assert.That(b.Load(2, 0), Is.EqualTo(900));
            Assert.That(b.Load(6, 0), Is.EqualTo(850), "not in the other frames of the shorter period");
            b.Release(p);
            Assert.That(b.Load(2, 0), Is.EqualTo(850));
        }

        [Test]
        public void CandidateMasksArePlacedAsGiven()
        {
            var b = new PeriodicBudget(32, 8, 100);
            b.Book(1, 0, 0x01, 60, 0, 0);
            var p = new PeriodicPlacement();
            uint[] starts = { 0x01, 0x20 }, completes = { 0x1C, 0x80 };
            Assert.That(b.Place(p, 1, starts, completes, 40, 30, null, 0), Is.True);
            Assert.That((p.StartMask, p.CompleteMask, p.Shift), Is.EqualTo((0x20u, 0x80u, 5)), "the second pair, cut short, is the least loaded");
            Assert.That(b.Load(3, 5), Is.EqualTo(40));
            Assert.That(b.Load(3, 7), Is.EqualTo(30));
            b.Release(p);
            Assert.That(b.Load(3, 7), Is.Zero);
        }

        [Test]
        public void RefusedPlacementBooksNothing()
        {
            var b = new PeriodicBudget(8, 1, 100);
            var p = new PeriodicPlacement();
            Assert.That(b.Place(p, 1, 1, 0, 0, 101, 0), Is.False);
            Assert.That(p.Booked, Is.False);
            b.Release(p);
            for (int f = 0; f < 8; f++)
                Assert.That(b.Load(f, 0), Is.Zero);
        }
    }

    public class PeriodicTreeTests
    {
        [Test]
        public void EachFrameWalksOneNodePerLevelAndEveryNodeIsReached()
        {
            var seen = new HashSet<int>();
            for (int frame = 0; frame < 64; frame++)
            {
                int index = PeriodicTree.TableEntryIndex(frame);
                for (int level = PeriodicTree.Levels - 1; level >= 0; level--)
                {
                    int slot = frame % PeriodicTree.PeriodOfLevel(level);
                    Assert.That(index, Is.EqualTo(PeriodicTree.Index(level, slot)));
                    Assert.That(PeriodicTree.Visits(frame, level, slot), Is.True);
                    seen.Add(index);
                    index = PeriodicTree.NextIndex(level, slot);
                }
                Assert.That(index, Is.EqualTo(-1));
            }
            Assert.That(seen.Count, Is.EqualTo(PeriodicTree.NodeCount));
        }

        [TestCase(0, 0)] [TestCase(1, 0)] [TestCase(3, 1)] [TestCase(4, 2)] [TestCase(31, 4)] [TestCase(32, 5)] [TestCase(1000, 5)]
        public void LevelAtMostIsTheLargestPeriodNotAbove(int period, int level)
        {
            Assert.That(PeriodicTree.LevelAtMost(period), Is.EqualTo(level));
        }

        [Test]
        public void ReserveRefusesWhenTheTreeHasAFrameLimit()
        {
            var tree = new PeriodicTree(100);
            Assert.That(tree.Reserve(0, 60), Is.EqualTo(0));
            Assert.That(tree.Reserve(3, 41), Is.EqualTo(-1), "every frame already carries 60");
            Assert.That(tree.Reserve(3, 40), Is.EqualTo(0));
            Assert.That(tree.Load(8), Is.EqualTo(100));
            Assert.That(tree.Load(9), Is.EqualTo(60));
        }

        [Test]
        public void ReserveBalancesFramesAcrossLevels()
        {
            var tree = new PeriodicTree();
            // A 1-frame endpoint loads every frame; four 4-frame endpoints then take the four slots.
            Assert.That(tree.Reserve(0, 10), Is.EqualTo(0));
            var slots = new HashSet<int>();
            for (int i = 0; i < 4; i++)
                slots.Add(tree.Reserve(2, 5));
            Assert.That(slots.Count, Is.EqualTo(4));
            for (int f = 0; f < 32; f++)
                Assert.That(tree.Load(f), Is.EqualTo(15), $"frame {f}");
            Assert.That(tree.Booked(0, 0), Is.EqualTo(10));
            Assert.That(tree.Booked(2, 1), Is.EqualTo(5));
            // A 2-frame endpoint: both phases peak at 15, so phase 0; then a second one goes to phase 1.
            Assert.That(tree.Reserve(1, 3), Is.EqualTo(0));
            Assert.That(tree.Reserve(1, 3), Is.EqualTo(1));
            tree.Release(1, 0, 3);
            tree.Release(1, 1, 3);
            Assert.That(tree.Load(0), Is.EqualTo(15));
            Assert.That(tree.Booked(1, 0), Is.Zero);
        }
    }
}
