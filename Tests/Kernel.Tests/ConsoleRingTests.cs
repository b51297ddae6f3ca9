using System.Collections.Generic;
using System.Text;
using System.Threading;
using NUnit.Framework;
using Platform;

namespace Kernel.Tests
{
    /// <summary>The console output queue: whole-or-nothing appends, byte order, CR LF, drop accounting.</summary>
    [TestFixture]
    public sealed class ConsoleRingTests
    {
        static string Drain(ConsoleRing ring, int max = int.MaxValue)
        {
            var sb = new StringBuilder();
            while (sb.Length < max && ring.TryTake(out byte b)) sb.Append((char)b);
            return sb.ToString();
        }

        [Test]
        public void Append_EncodesNewlineAsCrLf_AndNonAsciiAsQuestionMark()
        {
            var ring = new ConsoleRing(64);
            Assert.That(ring.TryAppend("a\nb\u00e9\n"), Is.True);
            Assert.That(ring.Count, Is.EqualTo(ConsoleRing.EncodedLength("a\nb\u00e9\n")).And.EqualTo(7));
            Assert.That(Drain(ring), Is.EqualTo("a\r\nb?\r\n"));
            Assert.That(ring.IsEmpty, Is.True);
        }

        [Test]
        public void Append_IsAllOrNothing_WhenTheTextDoesNotFit()
        {
            var ring = new ConsoleRing(10);
            Assert.That(ring.TryAppend("12345"), Is.True);
            Assert.That(ring.TryAppend("abcd\n"), Is.False, "6 bytes with CR LF do not fit in the 5 left");
            Assert.That(ring.Count, Is.EqualTo(5), "nothing of the refused text is queued");
            Assert.That(ring.TryAppend("abc\n"), Is.True, "exactly 5 bytes fit");
            Assert.That(ring.Free, Is.EqualTo(0));
            Assert.That(Drain(ring), Is.EqualTo("12345abc\r\n"));
        }

        [Test]
        public void Bytes_ComeOutInOrder_AcrossTheWrapAround()
        {
            var ring = new ConsoleRing(16);
            var expected = new StringBuilder();
            var actual = new StringBuilder();
            for (int i = 0; i < 200; i++)
            {
                string line = "line " + i;
                while (!ring.TryAppend(line + "\n")) actual.Append(Drain(ring, 3));
                expected.Append(line).Append("\r\n");
            }
            actual.Append(Drain(ring));
            Assert.That(actual.ToString(), Is.EqualTo(expected.ToString()));
        }

        [Test]
        public void TryTake_OnEmptyQueue_ReturnsFalse()
        {
            var ring = new ConsoleRing(4);
            Assert.That(ring.TryTake(out byte b), Is.False);
            Assert.That(b, Is.EqualTo(0));
        }

        [Test]
        public void DroppedLines_AreReportedOnceByTheNotice()
        {
            var ring = new ConsoleRing(64);
            ring.CountDroppedLine();
            ring.CountDroppedLine();
            ring.CountDroppedLine();
            Assert.That(ring.DroppedLines, Is.EqualTo(3));
            Assert.That(ring.UnreportedDrops, Is.EqualTo(3));
            string notice = ConsoleRing.DropNotice(3) + "\n";
            Assert.That(notice, Is.EqualTo("log: 3 lines dropped\n"));
            Assert.That(ring.TryAppendDropNotice(notice, 3), Is.True);
            Assert.That(ring.UnreportedDrops, Is.EqualTo(0));
            Assert.That(ring.DroppedLines, Is.EqualTo(3), "the total since boot stays");
            Assert.That(ring.TryAppendDropNotice(notice, 3), Is.False, "the same drops are not reported twice");
            Assert.That(Drain(ring), Is.EqualTo("log: 3 lines dropped\r\n"));
        }

        [Test]
        public void DropNotice_ThatDoesNotFit_KeepsTheDropsUnreported()
        {
            var ring = new ConsoleRing(8);
            ring.CountDroppedLine();
            Assert.That(ring.TryAppendDropNotice(ConsoleRing.DropNotice(1) + "\n", 1), Is.False);
            Assert.That(ring.UnreportedDrops, Is.EqualTo(1));
            Assert.That(ring.IsEmpty, Is.True);
        }

        /// <summary>
        /// The kernel's use, with a lock standing in for "interrupts disabled": writers append whole
        /// lines while a drainer takes a few bytes at a time; every line arrives whole and exactly once.
        /// </summary>
        [Test]
        public void ConcurrentWriters_LinesNeverMix()
        {
            const int Writers = 4, LinesEach = 2000;
            var ring = new ConsoleRing(256);
            var gate = new object();
            var output = new StringBuilder();
            int finished = 0;
            var threads = new List<Thread>();
            for (int w = 0; w < Writers; w++)
            {
                int writer = w;
                var t = new Thread(() =>
                {
                    for (int n = 0; n < LinesEach; n++)
                    {
                        string line = $"w{writer} n{n:D5} {new string((char)('a' + writer), 20 + n % 30)}\n";
                        while (true)
                        {
                            lock (gate) if (ring.TryAppend(line)) break;
                            Thread.Yield();
                        }
                    }
                    Interlocked.Increment(ref finished);
                });
                threads.Add(t);
                t.Start();
            }
            while (true)
            {
                bool done = Volatile.Read(ref finished) == Writers;
                lock (gate)
                    for (int i = 0; i < 16 && ring.TryTake(out byte b); i++) output.Append((char)b);
                lock (gate) if (done && ring.IsEmpty) break;
            }
            foreach (var t in threads) t.Join();

            var seen = new HashSet<string>();
            string[] lines = output.ToString().Split("\r\n");
            Assert.That(lines[^1], Is.Empty, "output ends with a complete line");
            for (int i = 0; i < lines.Length - 1; i++)
            {
                string line = lines[i];
                var m = System.Text.RegularExpressions.Regex.Match(line, @"^w(\d) n(\d{5}) ([a-z]+)$");
                Assert.That(m.Success, Is.True, $"mixed line: '{line}'");
                int writer = int.Parse(m.Groups[1].Value), n = int.Parse(m.Groups[2].Value);
                Assert.That(m.Groups[3].Value, Is.EqualTo(new string((char)('a' + writer), 20 + n % 30)));
                Assert.That(seen.Add(line), Is.True, $"duplicated: '{line}'");
            }
            Assert.That(seen.Count, Is.EqualTo(Writers * LinesEach));
        }
    }
}
