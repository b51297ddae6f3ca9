using System.Collections.Generic;
using Kernel.Console;
using Kernel.Hal;
using Kernel.Threading;
using Kernel.Time;
using Platform;

namespace Kernel.Shell
{
    /// <summary>Self tests the boot tests drive: the clock ticks, threads interleave, a fault is reported.</summary>
    internal static unsafe class SelfTests
    {
        const ulong UnmappedAddress = 0xDEAD0000000;

        public static void Run(List<string> args)
        {
            string what = args.Count > 1 ? args[1] : "";
            if (what == "timer") Timer();
            else if (what == "threads") Threads();
            else if (what == "fault") Fault();
            else if (what == "gc") GarbageCollector();
            else if (what == "bars") MapBars();
            else if (what == "sync") Synchronization();
            else if (what == "stack") StackOverflow(args.Count > 2 ? args[2] : "");
            else if (what == "log") ConcurrentLog(args);
            else KernelShell.Print("usage: test timer|threads|fault|gc|bars|sync|stack [boot]|log [threads] [lines] [atomic]");
        }

        const int LogTestDefaultThreads = 4, LogTestDefaultLines = 250, LogTestPayloadLength = 48;
        const uint LogTestTimeoutMs = 120000;

        /// <summary>
        /// Several threads log numbered lines at once ("logtest t2 n0017 &lt;payload&gt;", the payload a
        /// function of both numbers): the boot tests check that every line arrives whole, exactly once.
        /// </summary>
        static void ConcurrentLog(List<string> args)
        {
            int threads = ParseCount(args, 2, LogTestDefaultThreads);
            int lines = ParseCount(args, 3, LogTestDefaultLines);
            // "atomic": log with interrupts disabled, as an interrupt handler does: such a writer
            // cannot wait for a stalled UART, so its lines may be dropped, but must then be counted.
            bool atomic = args.Count > 4 && args[4] == "atomic";
            ulong droppedBefore = KernelConsole.DroppedLines;
            var done = new KernelSemaphore(0);
            ThreadEntry writer(int t) => () =>
            {
                for (int n = 0; n < lines; n++)
                {
                    string line = LogTestLine(t, n);
                    ulong flags = atomic ? InterruptGuard.Enter() : 0;
                    Log.Info(line);
                    if (atomic) InterruptGuard.Exit(flags);
                }
                done.Release();
            };
            KernelShell.Print("log test: " + Format.Decimal((ulong)threads) + " threads x " + Format.Decimal((ulong)lines) + " lines" +
                              (atomic ? ", interrupts disabled" : ""));
            for (int t = 0; t < threads; t++)
                Scheduler.Start("log-" + Format.Decimal((ulong)t), writer(t));
            bool all = true;
            for (int t = 0; t < threads; t++) all &= done.Wait(LogTestTimeoutMs);
            KernelShell.Print("log test: " + (all ? "all threads finished" : "timed out") + ", " +
                              Format.Decimal(KernelConsole.DroppedLines - droppedBefore) + " lines dropped");
            KernelShell.Print("log test: done");
        }

        /// <summary>"logtest t&lt;thread&gt; n&lt;4-digit number&gt; &lt;payload&gt; end"; the payload letters depend on both numbers.</summary>
        static string LogTestLine(int thread, int number)
        {
            var payload = new char[LogTestPayloadLength];
            for (int i = 0; i < payload.Length; i++)
                payload[i] = (char)('a' + (thread * 7 + number + i) % 26);
            return "logtest t" + Format.Decimal((ulong)thread) + " n" + Format.PadLeft(Format.Decimal((ulong)number), 4, '0') + " " + new string(payload) + " end";
        }

        static int ParseCount(List<string> args, int index, int fallback)
        {
            if (args.Count <= index) return fallback;
            int value = 0;
            string text = args[index];
            for (int i = 0; i < text.Length; i++)
            {
                if (text[i] < '0' || text[i] > '9' || value > 100000) return fallback;
                value = value * 10 + (text[i] - '0');
            }
            return value == 0 ? fallback : value;
        }

        static void Timer()
        {
            ulong start = Clock.Ticks;
            Scheduler.Sleep(100);
            KernelShell.Print("timer: " + Format.Decimal(Clock.Ticks - start) + " ticks in 100 ms");
        }

        static void Threads()
        {
            const int Rounds = 5;
            var done = new KernelSemaphore(0);
            ThreadEntry worker(string name) => () =>
            {
                for (int i = 1; i <= Rounds; i++)
                {
                    KernelShell.Print("thread " + name + " " + Format.Decimal((ulong)i));
                    Scheduler.Sleep(20);
                }
                done.Release();
            };
            Scheduler.Start("test-A", worker("A"));
            Scheduler.Start("test-B", worker("B"));
            bool ok = done.Wait(5000) && done.Wait(5000);
            KernelShell.Print(ok ? "threads: ok" : "threads: timed out");
        }

        /// <summary>
        /// Allocates far more garbage than the heap has while a worker thread does the same, and
        /// checks that a live linked structure survives every collection intact and that the heap
        /// did not grow by the garbage.
        /// </summary>
        static void GarbageCollector()
        {
            const int LiveNodes = 2000, Rounds = 40000;
            Memory.KernelHeap.Collect();
            ulong reservedBefore = Memory.KernelHeap.ReservedBytes;
            ulong collectionsBefore = Memory.KernelHeap.Collections;
            var live = new List<string>();
            for (int i = 0; i < LiveNodes; i++) live.Add("node " + Format.Decimal((ulong)i));
            var done = new KernelSemaphore(0);
            bool workerOk = true;
            Scheduler.Start("gc-worker", () =>
            {
                var mine = new int[64];
                for (int i = 0; i < mine.Length; i++) mine[i] = i * 7;
                for (int round = 0; round < Rounds; round++)
                {
                    var garbage = new byte[1000 + round % 3000];
                    garbage[0] = 1;
                    if (round % 1000 == 0) Scheduler.Yield();
                }
                for (int i = 0; i < mine.Length; i++) if (mine[i] != i * 7) workerOk = false;
                done.Release();
            });
            for (int round = 0; round < Rounds; round++)
            {
                string garbage = "garbage " + Format.Decimal((ulong)round);
                if (garbage.Length == 0) break;
                var list = new List<object>();
                list.Add(garbage);
            }
            bool finished = done.Wait(60000);
            bool intact = true;
            for (int i = 0; i < LiveNodes; i++)
                if (live[i] != "node " + Format.Decimal((ulong)i)) intact = false;
            Memory.KernelHeap.Collect();
            ulong growth = Memory.KernelHeap.ReservedBytes - reservedBefore;
            KernelShell.Print("gc: " + Format.Decimal(Memory.KernelHeap.Collections - collectionsBefore) + " collections, heap grew by " +
                              Format.Decimal(growth) + " bytes, live data " + (intact && workerOk ? "intact" : "CORRUPTED") +
                              (finished ? "" : ", worker timed out"));
            KernelShell.Print(intact && workerOk && finished ? "gc: ok" : "gc: FAILED");
        }

        /// <summary>
        /// Events and semaphores time out after (at least) their timeout and wake on a signal from
        /// another thread; a mutex keeps a counter consistent across threads that sleep inside it.
        /// </summary>
        static void Synchronization()
        {
            const uint TimeoutMs = 50;
            var idle = new KernelEvent(autoReset: true);
            ulong start = Clock.Ticks;
            bool signalled = idle.Wait(TimeoutMs);
            ulong waited = Clock.Ticks - start;
            KernelShell.Print("sync: event timeout " + (signalled ? "signalled?!" : "after " + Format.Decimal(waited) + " ms"));

            var ping = new KernelEvent(autoReset: true);
            Scheduler.Start("sync-signaller", () => { Scheduler.Sleep(20); ping.Signal(); });
            start = Clock.Ticks;
            bool woke = ping.Wait(2000);
            KernelShell.Print("sync: event signalled by another thread " + (woke ? "after " + Format.Decimal(Clock.Ticks - start) + " ms" : "never"));

            var empty = new KernelSemaphore(0);
            bool taken = empty.Wait(TimeoutMs);

            const int Workers = 3, Rounds = 20;
            var mutex = new KernelMutex();
            var finished = new KernelSemaphore(0);
            int counter = 0;
            for (int w = 0; w < Workers; w++)
                Scheduler.Start("sync-worker", () =>
                {
                    for (int i = 0; i < Rounds; i++)
                    {
                        mutex.Lock();
                        int seen = counter;
                        Scheduler.Sleep(1); // let the others run while the mutex is held
                        counter = seen + 1;
                        mutex.Unlock();
                    }
                    finished.Release();
                });
            bool all = true;
            for (int w = 0; w < Workers; w++) all &= finished.Wait(10000);
            KernelShell.Print("sync: mutex counter " + Format.Decimal((ulong)counter) + " of " + Format.Decimal(Workers * Rounds));
            bool ok = !signalled && waited >= TimeoutMs && woke && !taken && all && counter == Workers * Rounds;
            KernelShell.Print(ok ? "sync: ok" : "sync: FAILED");
        }

        /// <summary>Maps every memory BAR of every PCI function (uncached) and reads its first dword.</summary>
        static void MapBars()
        {
            var host = Pci.KernelPciHost.Instance;
            int mapped = 0;
            for (int i = 0; i < host.Functions.Count; i++)
            {
                Platform.Pci.PciFunction f = host.Functions[i];
                for (int b = 0; b < Platform.Pci.PciFunction.BarCount; b++)
                {
                    if (!f.Bars[b].IsPresent || f.Bars[b].IsIo) continue;
                    Platform.IRegisterBlock regs = host.MapBar(f, b);
                    if (regs == null)
                    {
                        KernelShell.Print("bars: " + f.Address.ToString() + " BAR" + Format.Decimal((ulong)b) + " could not be mapped");
                        continue;
                    }
                    uint first = regs.Read32(0);
                    KernelShell.Print("bars: " + f.Address.ToString() + " BAR" + Format.Decimal((ulong)b) + " at 0x" +
                                      Format.Hex(f.Bars[b].Address) + " reads 0x" + Format.Hex(first, 8));
                    mapped++;
                }
            }
            KernelShell.Print("bars: " + Format.Decimal((ulong)mapped) + " mapped");
        }

        /// <summary>
        /// Recurses without end in a new thread, or with "boot" on the shell's own stack (the boot
        /// stack from Boot/boot.asm): the guard page must stop it with a report naming the method.
        /// </summary>
        static void StackOverflow(string where)
        {
            if (where == "boot")
            {
                KernelShell.Print("test: recursing without end on the shell's stack (thread " + Scheduler.CurrentName + ")");
                Recurse(1);
                KernelShell.Print("test: no stack overflow detected?");
                return;
            }
            KernelShell.Print("test: recursing without end in thread 'deep'");
            Scheduler.Start("deep", () => Recurse(1));
            Scheduler.Sleep(5000);
            KernelShell.Print("test: no stack overflow detected?");
        }

        static ulong Recurse(ulong depth)
        {
            // Enough locals that the frame is not optimized into a loop.
            ulong* frame = stackalloc ulong[16];
            for (int i = 0; i < 16; i++) frame[i] = depth + (ulong)i;
            return frame[(int)(depth & 15)] + Recurse(depth + 1);
        }

        static void Fault()
        {
            KernelShell.Print("test: reading unmapped address 0x" + Format.Hex(UnmappedAddress));
            ulong value = *(ulong*)UnmappedAddress;
            KernelShell.Print("test: read returned " + Format.Hex(value) + " (no fault?)");
        }
    }
}
