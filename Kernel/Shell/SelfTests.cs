using System.Collections.Generic;
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
            else KernelShell.Print("usage: test timer|threads|fault");
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

        static void Fault()
        {
            KernelShell.Print("test: reading unmapped address 0x" + Format.Hex(UnmappedAddress));
            ulong value = *(ulong*)UnmappedAddress;
            KernelShell.Print("test: read returned " + Format.Hex(value) + " (no fault?)");
        }
    }
}
