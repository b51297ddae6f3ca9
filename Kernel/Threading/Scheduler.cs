using System.Collections.Generic;
using System.Runtime.InteropServices;
using Kernel.Hal;
using Kernel.Interrupts;
using Kernel.Memory;
using Kernel.Time;
using Platform;

namespace Kernel.Threading
{
    internal enum ThreadState { Ready, Running, Sleeping, Blocked, Dead }

    /// <summary>A kernel thread: its own stack and, while not running, its saved context.</summary>
    internal sealed class KernelThread
    {
        public int Id;
        public string Name;
        public ThreadEntry Entry;
        public ThreadState State;
        public ulong Context;      // saved context (see InterruptFrame / SavedContext) while not running
        public ulong WakeAt;       // tick at which a sleeping or blocked thread wakes; ulong.MaxValue = never
        public bool WaitSucceeded; // set by whoever wakes a blocked thread
        public ulong StackBase;
        public ulong StackSize;
        public ulong SwitchCount;
        /// <summary>Time this thread has run (interrupt handlers count to the thread they interrupted), like top's TIME.</summary>
        public ulong CpuMicroseconds;
    }

    /// <summary>
    /// Preemptive round-robin scheduling on one CPU. A thread switch happens only inside
    /// InterruptDispatch: on the timer tick when the time slice is used up, or on the yield
    /// vector when a thread sleeps, blocks or yields. Everything here runs with interrupts off.
    /// </summary>
    internal static unsafe class Scheduler
    {
        const ulong StackSize = 64 * 1024;
        // An unmapped page below every thread stack (the boot stack's is reserved in Boot/boot.asm)
        // turns a stack overflow into a clear page fault.
        const ulong GuardSize = 4096;
        const int TimeSliceTicks = 10;
        const ulong InitialRflags = 0x202; // IF set, reserved bit 1
        const ushort FpuControlDefault = 0x037F;
        const uint MxcsrDefault = 0x1F80;
        const int FxsaveMxcsrOffset = 24;
        const int FrameQwords = 22;        // sizeof(InterruptFrame) / 8

        static readonly List<KernelThread> s_threads = new List<KernelThread>();
        static KernelThread s_current;
        static KernelThread s_idle;
        static int s_nextId;
        static int s_sliceLeft = TimeSliceTicks;
        static int s_roundRobin;
        static bool s_running;
        /// <summary>When the current thread was switched in (clock microseconds): its CPU time runs from here.</summary>
        static ulong s_switchedInAt;

        [DllImport("*", EntryPoint = "GetThreadStartAddress")]
        static extern ulong ThreadStartAddress();
        [DllImport("*", EntryPoint = "GetBootStackLow")]
        static extern ulong BootStackLow();
        [DllImport("*", EntryPoint = "GetBootStackHigh")]
        static extern ulong BootStackHigh();

        public static string CurrentName => s_current == null ? "boot" : s_current.Name;

        /// <summary>
        /// Time the CPU spent idle since boot (the idle thread's CPU time, including its current run):
        /// busy time over an interval is the elapsed time minus the idle time over it.
        /// </summary>
        public static ulong IdleMicroseconds
        {
            get
            {
                ulong flags = InterruptGuard.Enter();
                ulong idle = s_idle == null ? 0 : s_idle.CpuMicroseconds;
                if (s_current != null && s_current == s_idle) idle += Clock.Instance.Microseconds - s_switchedInAt;
                InterruptGuard.Exit(flags);
                return idle;
            }
        }
        public static KernelThread Current => s_current;
        public static bool IsRunning => s_running;

        /// <summary>
        /// The calling (boot) code becomes thread "main", whose stack (Boot/boot.asm) gets its guard
        /// page unmapped now that page tables can be split; an idle thread is created; the timer drives preemption.
        /// </summary>
        public static void Initialize()
        {
            Paging.UnmapPage(BootStackLow() - GuardSize);
            s_current = new KernelThread
            {
                Id = s_nextId++, Name = "main", State = ThreadState.Running, WakeAt = ulong.MaxValue,
                StackBase = BootStackLow(), StackSize = BootStackHigh() - BootStackLow(),
            };
            s_threads.Add(s_current);
            s_idle = Create("idle", IdleLoop);
            InterruptDispatcher.TimerTick = &OnTick;
            s_running = true;
        }

        static void IdleLoop()
        {
            while (true) Native.StiHlt();
        }

        public static int Start(string name, ThreadEntry entry)
        {
            KernelThread thread = Create(name, entry);
            if (thread == null) return 0;
            ulong flags = InterruptGuard.Enter();
            s_threads.Add(thread);
            InterruptGuard.Exit(flags);
            return thread.Id;
        }

        static KernelThread Create(string name, ThreadEntry entry)
        {
            ulong allocation = PhysicalMemory.AllocatePages(GuardSize + StackSize);
            if (allocation == 0) return null;
            Paging.UnmapPage(allocation);
            ulong stack = allocation + GuardSize;
            var thread = new KernelThread
            {
                Id = s_nextId++, Name = name, Entry = entry, State = ThreadState.Ready,
                WakeAt = ulong.MaxValue, StackBase = stack, StackSize = StackSize,
            };
            ulong top = stack + StackSize;
            var frame = (InterruptFrame*)(top - (ulong)FrameQwords * 8 - 64);
            frame->Rip = ThreadStartAddress();
            frame->Cs = Cpu.Gdt.KernelCode;
            frame->Ss = Cpu.Gdt.KernelData;
            frame->Rflags = InitialRflags;
            ulong context = ((ulong)frame - SavedContext.FxsaveSize - 16) & ~15UL;
            frame->Rsp = context - 16;
            *(ushort*)context = FpuControlDefault;
            *(uint*)(context + FxsaveMxcsrOffset) = MxcsrDefault;
            *(InterruptFrame**)(context + SavedContext.FxsaveSize) = frame;
            thread.Context = context;
            return thread;
        }

        [UnmanagedCallersOnly(EntryPoint = "ThreadTrampoline")]
        static void ThreadTrampoline()
        {
            KernelThread self = s_current;
            self.Entry();
            Exit();
        }

        /// <summary>Ends the calling thread.</summary>
        public static void Exit()
        {
            Native.Cli();
            s_current.State = ThreadState.Dead;
            while (true) Native.Yield();
        }

        public static void Yield() => Native.Yield();

        public static void Sleep(uint ms)
        {
            if (!s_running)
            {
                Clock.Instance.Stall(ms * 1000);
                return;
            }
            ulong flags = InterruptGuard.Enter();
            s_current.State = ThreadState.Sleeping;
            s_current.WakeAt = Clock.Ticks + (ms == 0 ? 1 : ms);
            Native.Yield();
            InterruptGuard.Exit(flags);
        }

        /// <summary>
        /// Blocks the current thread until <see cref="Wake"/> or the timeout. Interrupts must be
        /// disabled by the caller (who registered the thread as a waiter under the same guard).
        /// Returns whether it was woken (true) rather than timed out (false).
        /// </summary>
        public static bool Block(uint timeoutMs)
        {
            s_current.State = ThreadState.Blocked;
            s_current.WaitSucceeded = false;
            s_current.WakeAt = timeoutMs == uint.MaxValue ? ulong.MaxValue : Clock.Ticks + timeoutMs;
            Native.Yield();
            return s_current.WaitSucceeded;
        }

        /// <summary>Makes a blocked thread ready (interrupts disabled). Returns false if it already timed out.</summary>
        public static bool Wake(KernelThread thread)
        {
            if (thread.State != ThreadState.Blocked) return false;
            thread.WaitSucceeded = true;
            thread.State = ThreadState.Ready;
            s_wakePending = true;
            return true;
        }

        static bool s_wakePending;

        /// <summary>
        /// Called at the end of every device interrupt: if the handler woke a thread (a transfer
        /// completed, input arrived), switch to it now instead of at the end of the time slice, so
        /// that a thread waiting for a completion runs within microseconds. Returns the context to resume.
        /// </summary>
        public static ulong AfterInterrupt(ulong context)
        {
            if (!s_running || !s_wakePending)
                return context;
            s_wakePending = false;
            return Switch(context);
        }

        static ulong OnTick(ulong context)
        {
            if (--s_sliceLeft > 0 && !HasExpiredTimer())
                return context;
            return Switch(context);
        }

        static bool HasExpiredTimer()
        {
            ulong now = Clock.Ticks;
            for (int i = 0; i < s_threads.Count; i++)
            {
                KernelThread t = s_threads[i];
                if ((t.State == ThreadState.Sleeping || t.State == ThreadState.Blocked) && t.WakeAt <= now)
                    return true;
            }
            return false;
        }

        /// <summary>Saves the current context and returns the context of the thread to run next.</summary>
        public static ulong Switch(ulong context)
        {
            KernelThread previous = s_current;
            previous.Context = context;
            ulong nowUs = Clock.Instance.Microseconds;
            previous.CpuMicroseconds += nowUs - s_switchedInAt;
            s_switchedInAt = nowUs;
            if (previous.State == ThreadState.Running) previous.State = ThreadState.Ready;

            ulong now = Clock.Ticks;
            for (int i = 0; i < s_threads.Count; i++)
            {
                KernelThread t = s_threads[i];
                if ((t.State == ThreadState.Sleeping || t.State == ThreadState.Blocked) && t.WakeAt <= now)
                {
                    t.State = ThreadState.Ready;
                    t.WaitSucceeded = false;
                }
            }
            ReapDead(previous);

            KernelThread next = null;
            int count = s_threads.Count;
            for (int n = 1; n <= count; n++)
            {
                KernelThread t = s_threads[(s_roundRobin + n) % count];
                if (t.State == ThreadState.Ready && t != s_idle)
                {
                    next = t;
                    s_roundRobin = (s_roundRobin + n) % count;
                    break;
                }
            }
            if (next == null) next = s_idle;
            next.State = ThreadState.Running;
            next.SwitchCount++;
            s_current = next;
            s_sliceLeft = TimeSliceTicks;
            return next.Context;
        }

        /// <summary>Frees dead threads' stacks, except the one we are still running on.</summary>
        static void ReapDead(KernelThread current)
        {
            for (int i = s_threads.Count - 1; i >= 0; i--)
            {
                KernelThread t = s_threads[i];
                if (t.State != ThreadState.Dead) continue;
                if (t == current) continue;
                s_threads.RemoveAt(i);
                Paging.RemapPage(t.StackBase - GuardSize);
                PhysicalMemory.FreePages(t.StackBase - GuardSize, GuardSize + t.StackSize);
            }
        }

        /// <summary>
        /// Reports each live thread's stack in use, for the garbage collector: the running thread
        /// from <paramref name="currentStackPointer"/>, the others from their saved context (which
        /// holds their registers) up to the stack top. Interrupts are disabled by the caller.
        /// </summary>
        public static void EnumerateStacks(ulong currentStackPointer, delegate*<ulong, ulong, void> visit)
        {
            for (int i = 0; i < s_threads.Count; i++)
                if (StackInUse(s_threads[i], currentStackPointer, out ulong low, out ulong top))
                    visit(low, top);
        }

        /// <summary>
        /// The part of <paramref name="t"/>'s stack in use, as the collector scans it: from
        /// <paramref name="currentStackPointer"/> for the running thread, else from its saved context, up to
        /// the top (all of it when the position is unknown). False for a dead thread.
        /// </summary>
        public static bool StackInUse(KernelThread t, ulong currentStackPointer, out ulong low, out ulong top)
        {
            top = t.StackBase + t.StackSize;
            low = t == s_current ? currentStackPointer : t.Context;
            if (t.State == ThreadState.Dead && t != s_current) return false;
            if (low < t.StackBase || low >= top) low = t.StackBase; // unknown position: scan it all
            return true;
        }

        /// <summary>The thread whose stack guard page contains <paramref name="address"/>, or null.</summary>
        public static KernelThread GuardPageOwner(ulong address)
        {
            for (int i = 0; i < s_threads.Count; i++)
            {
                KernelThread t = s_threads[i];
                if (address >= t.StackBase - GuardSize && address < t.StackBase)
                    return t;
            }
            return null;
        }

        public static List<KernelThread> Snapshot()
        {
            ulong flags = InterruptGuard.Enter();
            var list = new List<KernelThread>(s_threads.Count);
            for (int i = 0; i < s_threads.Count; i++) list.Add(s_threads[i]);
            InterruptGuard.Exit(flags);
            return list;
        }
    }
}
