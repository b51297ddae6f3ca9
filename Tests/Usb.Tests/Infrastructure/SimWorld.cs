using System;
using System.Collections.Generic;
using System.Threading;
using Platform;

namespace Usb.Tests.Infrastructure
{
    /// <summary>Thrown inside every thread of a <see cref="SimWorld"/> that was aborted (deadlock, exception, failed check).</summary>
    public sealed class WorldAbortedException : Exception
    {
        public WorldAbortedException(string reason) : base(reason) { }
    }

    /// <summary>
    /// A deterministic, single-CPU world for the USB core: a purely virtual clock and cooperative
    /// threads. Every kernel thread the core starts (<see cref="IThreading.StartThread"/>) is backed
    /// by an OS thread, but only one of them runs at a time; they switch only at the core's blocking
    /// points (event, semaphore and mutex waits, Sleep, Yield), choosing the next thread with a
    /// seeded random generator. Virtual time advances only when every thread is blocked, straight to
    /// the earliest timeout, so a 5 s control timeout costs nothing. At every blocking point the
    /// registered "interrupt sources" (simulated controllers in pumped mode) run first and deliver
    /// completions, like an interrupt arriving while the thread waits.
    /// Given the same seed and the same calls, a run is exactly reproducible. Detects: every thread
    /// blocked forever (deadlock), blocking calls in interrupt context, exceptions in any thread.
    /// </summary>
    public sealed class SimWorld : IClock, IThreading
    {
        public const ulong Forever = ulong.MaxValue;

        sealed class VThread
        {
            public string Name;
            public int Id;
            public bool Daemon;
            public readonly Baton Go = new Baton();
            public Func<bool> Ready;
            public ulong Deadline = Forever;
            public string Waiting = "";
            public bool Started, Finished;
            public ThreadEntry Entry;
        }

        readonly Random _rng;
        readonly List<VThread> _threads = new List<VThread>();
        readonly List<Func<bool>> _interruptSources = new List<Func<bool>>();
        VThread _current;
        ulong _now;
        int _nextId;
        bool _inInterrupt;
        volatile bool _aborted;
        string _failure;

        /// <summary>Percent chance that a thread whose wait is already satisfied still lets another ready thread run first.</summary>
        public int SwitchPercent = 20;
        /// <summary>Number of blocking points passed (the hang watchdog watches it move).</summary>
        public long SchedulingPoints;
        public int Switches;
        /// <summary>Lines logged by code running in this world (see <see cref="WorldLogSink"/>).</summary>
        public readonly List<string> LogLines = new List<string>();
        /// <summary>Called for every line logged in this world (level, line).</summary>
        public Action<LogLevel, string> OnLog;
        /// <summary>Threads whose name is listed here run forever by design (services) and are not waited for.</summary>
        public readonly HashSet<string> DaemonNames = new HashSet<string>(StringComparer.Ordinal) { "hid", "usb_explore" };

        [ThreadStatic] static SimWorld t_world;

        public SimWorld(int seed)
        {
            _rng = new Random(seed);
        }

        /// <summary>The world the calling OS thread belongs to (null outside any world).</summary>
        public static SimWorld Current => t_world;

        public string Failure => _failure;
        public bool Aborted => _aborted;
        public Random Random => _rng;

        // ---- Running --------------------------------------------------------------------------

        /// <summary>Registers a source of "interrupts": returns true when it delivered something.</summary>
        public void AddInterruptSource(Func<bool> pump) => _interruptSources.Add(pump);

        /// <summary>
        /// Runs <paramref name="body"/> as the world's first thread ("main") on the calling OS thread.
        /// Returns null on success, else the failure (the world is then aborted and every thread unwound).
        /// </summary>
        public string Run(Action body)
        {
            var main = new VThread { Name = "main", Id = ++_nextId, Started = true };
            _threads.Add(main);
            _current = main;
            SimWorld previous = t_world;
            t_world = this;
            try
            {
                body();
            }
            catch (WorldAbortedException)
            {
            }
            catch (Exception e)
            {
                Abort("exception in thread main: " + e);
            }
            finally
            {
                main.Finished = true;
                if (_failure != null)
                    Abort(_failure);
                else
                    Abort(null);   // release daemons still parked
                t_world = previous;
            }
            return _failure;
        }

        /// <summary>Records a failure and unwinds every thread of the world (each throws <see cref="WorldAbortedException"/>).</summary>
        public void Abort(string reason)
        {
            if (reason != null && _failure == null)
                _failure = reason;
            _aborted = true;
            foreach (VThread t in _threads.ToArray())
                if (t.Started && !t.Finished && t != _current)
                    t.Go.Release();
        }

        public void Fail(string reason)
        {
            Abort(reason);
            throw new WorldAbortedException(reason);
        }

        void CheckAbort()
        {
            if (_aborted)
                throw new WorldAbortedException(_failure ?? "aborted");
        }

        /// <summary>Descriptions of every unfinished thread ("name: waiting for ...").</summary>
        public string ThreadStates()
        {
            var parts = new List<string>();
            foreach (VThread t in _threads)
                if (!t.Finished)
                    parts.Add(t.Name + "#" + t.Id + (t == _current ? " (running)" : t.Started ? ": " + t.Waiting + (t.Deadline == Forever ? " forever" : " until " + t.Deadline + " ms") : ": not started"));
            return string.Join("; ", parts);
        }

        /// <summary>
        /// A condition for <see cref="WaitUntil"/>: every thread but the caller and daemons has ended. The caller is
        /// captured now: the condition is also evaluated while another thread runs (when it ends and
        /// picks who runs next), where "the current thread" is that one.
        /// </summary>
        public Func<bool> OthersFinishedCondition()
        {
            VThread caller = _current;
            return () => OthersFinished(caller);
        }

        bool OthersFinished(VThread caller)
        {
            foreach (VThread t in _threads)
                if (!t.Finished && !t.Daemon && t != caller)
                    return false;
            return true;
        }

        /// <summary>True when a thread named <paramref name="name"/> is blocked in a wait described as <paramref name="what"/> ("semaphore", "event", ...).</summary>
        public bool IsBlockedIn(string name, string what)
        {
            foreach (VThread t in _threads)
                if (!t.Finished && t.Started && t != _current && t.Name == name && t.Waiting == what && !(t.Ready != null && t.Ready()))
                    return true;
            return false;
        }

        /// <summary>True when no thread named <paramref name="name"/> is still running.</summary>
        public bool NoneRunning(string name)
        {
            foreach (VThread t in _threads)
                if (!t.Finished && t.Name == name)
                    return false;
            return true;
        }

        /// <summary>Blocks the caller until <paramref name="condition"/> holds or <paramref name="virtualMs"/> pass.</summary>
        public bool WaitUntil(Func<bool> condition, ulong virtualMs, string what) =>
            Block(condition, virtualMs == Forever ? Forever : _now + virtualMs, what);

        // ---- Scheduling -----------------------------------------------------------------------

        void PumpInterrupts()
        {
            if (_inInterrupt || _interruptSources.Count == 0)
                return;
            _inInterrupt = true;
            try
            {
                for (int round = 0; round < 64; round++)
                {
                    bool any = false;
                    for (int i = 0; i < _interruptSources.Count; i++)
                        any |= _interruptSources[i]();
                    if (!any)
                        break;
                }
            }
            finally
            {
                _inInterrupt = false;
            }
        }

        /// <summary>Delivers pending "interrupts" now (as a controller would right after a submit).</summary>
        public void Interrupt()
        {
            if (_current != null && !_aborted)
                PumpInterrupts();
        }

        bool Runnable(VThread t) =>
            !t.Finished && (!t.Started || _aborted || _now >= t.Deadline || (t.Ready != null && t.Ready()));

        VThread PickOther(VThread me)
        {
            VThread chosen = null;
            int seen = 0;
            foreach (VThread t in _threads)
            {
                if (t == me || !Runnable(t))
                    continue;
                seen++;
                if (_rng.Next(seen) == 0)
                    chosen = t;
            }
            return chosen;
        }

        ulong EarliestDeadline()
        {
            ulong earliest = Forever;
            foreach (VThread t in _threads)
                if (!t.Finished && t.Started && t.Deadline < earliest)
                    earliest = t.Deadline;
            return earliest;
        }

        /// <summary>
        /// The one blocking point: waits until <paramref name="ready"/> holds (null: never) or the
        /// virtual clock reaches <paramref name="deadline"/>. Returns whether <paramref name="ready"/> held.
        /// </summary>
        bool Block(Func<bool> ready, ulong deadline, string what)
        {
            VThread me = _current;
            if (me == null || t_world != this)
                throw new InvalidOperationException("blocking call from outside the world: " + what);
            CheckAbort();
            if (_inInterrupt)
                Fail("blocking call in interrupt context (a completion): " + what + " in thread " + me.Name);
            SchedulingPoints++;
            bool preempted = false;
            while (true)
            {
                CheckAbort();
                PumpInterrupts();
                bool ok = ready != null && ready();
                if (ok || _now >= deadline)
                {
                    if (preempted || _rng.Next(100) >= SwitchPercent)
                        return ok;
                    preempted = true;
                    VThread other = PickOther(me);
                    if (other == null)
                        return ok;
                    me.Ready = ready; me.Deadline = deadline; me.Waiting = what;
                    SwitchTo(me, other);
                    continue;
                }
                me.Ready = ready;
                me.Deadline = deadline;
                me.Waiting = what;
                VThread next = PickOther(me);
                if (next != null)
                {
                    SwitchTo(me, next);
                    continue;
                }
                ulong t = EarliestDeadline();
                if (t == Forever)
                    Fail("deadlock: every thread is blocked forever: " + ThreadStates());
                if (t > _now)
                    _now = t;
            }
        }

        void SwitchTo(VThread me, VThread next)
        {
            Switches++;
            _current = next;
            Resume(next);
            me.Go.Wait();
            CheckAbort();
        }

        void Resume(VThread next)
        {
            if (!next.Started)
            {
                next.Started = true;
                OsThreadPool.Run(() => ThreadBody(next));
            }
            else
                next.Go.Release();
        }

        void ThreadBody(VThread me)
        {
            t_world = this;
            try
            {
                CheckAbort();
                me.Entry();
            }
            catch (WorldAbortedException)
            {
            }
            catch (Exception e)
            {
                Abort("exception in thread " + me.Name + ": " + e);
            }
            finally
            {
                me.Finished = true;
                t_world = null;
            }
            if (_aborted)
                return;
            // Hand the CPU to someone else: advance time until a thread can run.
            try
            {
                _inInterrupt = false;
                while (true)
                {
                    PumpInterruptsAs(me);
                    VThread next = PickOther(me);
                    if (next != null)
                    {
                        Switches++;
                        _current = next;
                        Resume(next);
                        return;
                    }
                    ulong t = EarliestDeadline();
                    if (t == Forever)
                    {
                        Abort("deadlock: every thread is blocked forever after " + me.Name + " ended: " + ThreadStates());
                        return;
                    }
                    if (t > _now)
                        _now = t;
                }
            }
            catch (Exception e)
            {
                Abort("exception while thread " + me.Name + " ended: " + e);
            }
        }

        void PumpInterruptsAs(VThread me)
        {
            SimWorld previous = t_world;
            t_world = this;
            try { PumpInterrupts(); }
            finally { t_world = previous; }
        }

        // ---- IClock ---------------------------------------------------------------------------

        public ulong Milliseconds => _now;
        public ulong Microseconds => _now * 1000;

        public void Sleep(uint ms) => Block(null, _now + ms, "sleep " + ms + " ms");

        public void Stall(uint us) { }

        /// <summary>Moves virtual time forward (only from the running thread).</summary>
        public void Advance(ulong ms) => Block(null, _now + ms, "advance " + ms + " ms");

        static ulong DeadlineFor(SimWorld w, uint timeoutMs) => timeoutMs == uint.MaxValue ? Forever : w._now + timeoutMs;

        // ---- IThreading -----------------------------------------------------------------------

        public int StartThread(string name, ThreadEntry entry)
        {
            var t = new VThread { Name = name, Id = ++_nextId, Entry = entry, Daemon = DaemonNames.Contains(name) };
            _threads.Add(t);
            return t.Id;
        }

        public IEvent CreateEvent(bool autoReset) => new Event(this, autoReset);
        public ISemaphore CreateSemaphore(int initialCount) => new Semaphore(this, initialCount);
        public IMutex CreateMutex() => new Mutex(this);
        public void Yield() => Block(() => true, _now, "yield");

        sealed class Event : IEvent
        {
            readonly SimWorld _world;
            readonly bool _autoReset;
            readonly Func<bool> _isSet;
            bool _set;

            public Event(SimWorld world, bool autoReset)
            {
                _world = world;
                _autoReset = autoReset;
                _isSet = () => _set;
            }

            public void Signal() => _set = true;
            public void Reset() => _set = false;

            public bool Wait(uint timeoutMs)
            {
                bool ok = _world.Block(_isSet, DeadlineFor(_world, timeoutMs), "event");
                if (ok && _autoReset)
                    _set = false;
                return ok;
            }
        }

        sealed class Semaphore : ISemaphore
        {
            readonly SimWorld _world;
            readonly Func<bool> _available;
            int _count;

            public Semaphore(SimWorld world, int count)
            {
                _world = world;
                _count = count;
                _available = () => _count > 0;
            }

            public void Release() => _count++;

            public bool Wait(uint timeoutMs)
            {
                bool ok = _world.Block(_available, DeadlineFor(_world, timeoutMs), "semaphore");
                if (ok)
                    _count--;
                return ok;
            }
        }

        sealed class Mutex : IMutex
        {
            readonly SimWorld _world;
            readonly Func<bool> _free;
            VThread _owner;
            int _depth;

            public Mutex(SimWorld world)
            {
                _world = world;
                _free = () => _owner == null;
            }

            public void Lock()
            {
                VThread me = _world._current;
                if (_world._inInterrupt)
                    _world.Fail("mutex taken in interrupt context (a completion) in thread " + me.Name);
                if (_owner == me)
                {
                    _depth++;
                    return;
                }
                if (_owner != null)
                    _world.Block(_free, Forever, "mutex held by " + _owner.Name + "#" + _owner.Id);
                else
                    _world.Block(_free, _world._now, "mutex (free)");   // a point where another thread may run first
                if (_owner != null)
                {
                    // Another thread got it while we were preempted at the free mutex: wait properly.
                    _world.Block(_free, Forever, "mutex held by " + _owner.Name + "#" + _owner.Id);
                }
                _owner = me;
                _depth = 1;
            }

            public void Unlock()
            {
                if (_owner != _world._current)
                    _world.Fail("mutex unlocked by " + _world._current.Name + " but held by " + (_owner == null ? "nobody" : _owner.Name));
                if (--_depth == 0)
                    _owner = null;
            }
        }
    }

    /// <summary>
    /// The log sink and timestamp clock to attach (<see cref="Log.Attach"/>) while worlds run: each
    /// line goes to the world of the thread that logs it, stamped with that world's virtual time.
    /// </summary>
    public sealed class WorldLogSink : ILogSink, IClock
    {
        public static readonly WorldLogSink Instance = new WorldLogSink();

        public static void Install(LogLevel minimum)
        {
            Log.Attach(Instance, Instance);
            Log.MinimumLevel = minimum;
        }

        public void WriteLine(LogLevel level, string line)
        {
            SimWorld world = SimWorld.Current;
            if (world == null)
                return;
            world.LogLines.Add(line);
            world.OnLog?.Invoke(level, line);
        }

        public ulong Milliseconds => SimWorld.Current?.Milliseconds ?? 0;
        public ulong Microseconds => SimWorld.Current?.Microseconds ?? 0;
        public void Sleep(uint ms) { }
        public void Stall(uint us) { }
    }

    /// <summary>
    /// OS threads reused for the worlds' cooperative threads (creating a thread per kernel thread is
    /// slow). Threads are kept per CPU lane (<see cref="CpuLanes"/>): a world started on a pinned
    /// worker runs all of its threads on that worker's CPU, so a switch wakes a thread on the same
    /// CPU instead of sending an inter-processor interrupt (profiled: a fifth of the fuzzer's time).
    /// </summary>
    static class OsThreadPool
    {
        sealed class Worker
        {
            public readonly Baton Wake = new Baton();
            public Action Job;
            public int Lane;
        }

        static readonly Dictionary<int, Stack<Worker>> s_idle = new Dictionary<int, Stack<Worker>>();

        public static void Run(Action job)
        {
            int lane = CpuLanes.CurrentLane;
            Worker w = null;
            lock (s_idle)
                if (s_idle.TryGetValue(lane, out Stack<Worker> idle) && idle.Count > 0)
                    w = idle.Pop();
            if (w == null)
            {
                w = new Worker { Lane = lane };
                Worker captured = w;
                new Thread(() => Loop(captured)) { IsBackground = true, Name = "sim-world" }.Start();
            }
            w.Job = job;
            w.Wake.Release();
        }

        static void Loop(Worker w)
        {
            CpuLanes.Enter(w.Lane);
            while (true)
            {
                w.Wake.Wait();
                RunJob(w);
                lock (s_idle)
                {
                    if (!s_idle.TryGetValue(w.Lane, out Stack<Worker> idle))
                        s_idle[w.Lane] = idle = new Stack<Worker>();
                    idle.Push(w);
                }
            }
        }

        /// <summary>Runs the job in its own frame, so an idle thread keeps no reference to a finished world.</summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        static void RunJob(Worker w)
        {
            Action job = w.Job;
            w.Job = null;
            job();
        }
    }

    /// <summary>
    /// Pins OS threads to one CPU each, by lane: lane i is the i-th CPU this process may run on.
    /// Worlds run on one CPU at a time by design, so parallel fuzz workers each take a lane. Lane -1
    /// (the default, and everywhere but Linux) leaves the thread unpinned.
    /// </summary>
    public static unsafe class CpuLanes
    {
        [ThreadStatic] static int t_lanePlusOne;

        /// <summary>The lane of the calling thread (-1: unpinned).</summary>
        public static int CurrentLane => t_lanePlusOne - 1;

        /// <summary>How many lanes there are: the CPUs this process may run on (0 where pinning is not supported).</summary>
        public static int Count
        {
            get
            {
                ulong* mask = stackalloc ulong[16];
                return GetAllowed(mask) ? CountBits(mask) : 0;
            }
        }

        /// <summary>Pins the calling thread to lane <paramref name="lane"/> (-1, or a lane past <see cref="Count"/>: no pinning).</summary>
        public static void Enter(int lane)
        {
            ulong* allowed = stackalloc ulong[16];
            if (lane < 0 || !GetAllowed(allowed) || lane >= CountBits(allowed))
            {
                t_lanePlusOne = 0;
                return;
            }
            int cpu = -1;
            for (int seen = -1; seen < lane;)
                if ((allowed[++cpu / 64] & (1UL << (cpu % 64))) != 0)
                    seen++;
            ulong* one = stackalloc ulong[16];
            one[cpu / 64] = 1UL << (cpu % 64);
            t_lanePlusOne = SchedSetAffinity(0, 16 * sizeof(ulong), one) == 0 ? lane + 1 : 0;
        }

        static bool GetAllowed(ulong* mask)
        {
            if (!OperatingSystem.IsLinux())
                return false;
            for (int i = 0; i < 16; i++)
                mask[i] = 0;
            return SchedGetAffinity(0, 16 * sizeof(ulong), mask) == 0;
        }

        static int CountBits(ulong* mask)
        {
            int n = 0;
            for (int i = 0; i < 16; i++)
                n += System.Numerics.BitOperations.PopCount(mask[i]);
            return n;
        }

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "sched_setaffinity")]
        static extern int SchedSetAffinity(int pid, nuint size, ulong* mask);

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "sched_getaffinity")]
        static extern int SchedGetAffinity(int pid, nuint size, ulong* mask);
    }

    /// <summary>
    /// Hands the right to run from one OS thread to another without spinning. Only one world thread
    /// runs at a time, so the waiter is nearly always asleep already: SemaphoreSlim's spin phase
    /// burnt most of the fuzzer's CPU (profiled: ~80%) without ever finding the baton. On Linux the
    /// handoff is one futex word (one wake and one wait system call per switch); the monitor's own
    /// mutex, condition variable and re-acquisition cost about as much again (profiled).
    /// </summary>
    sealed unsafe class Baton
    {
        const int NotGiven = 0, Given = 1;
        static readonly bool s_futex = OperatingSystem.IsLinux() && System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64;
        readonly int* _word = (int*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(sizeof(int));
        bool _given;

        ~Baton() => System.Runtime.InteropServices.NativeMemory.Free(_word);

        public void Release()
        {
            if (s_futex)
            {
                Volatile.Write(ref *_word, Given);
                Futex.Wake(_word);
                return;
            }
            lock (this)
            {
                _given = true;
                Monitor.Pulse(this);
            }
        }

        public void Wait()
        {
            if (s_futex)
            {
                while (Interlocked.CompareExchange(ref *_word, NotGiven, Given) != Given)
                    Futex.Wait(_word, NotGiven);
                return;
            }
            lock (this)
            {
                while (!_given)
                    Monitor.Wait(this);
                _given = false;
            }
        }
    }

    /// <summary>Linux futex(2) on a private word (x86-64 system call numbers).</summary>
    static unsafe class Futex
    {
        const long SysFutex = 202;
        const int FutexWaitPrivate = 0 | 128, FutexWakePrivate = 1 | 128;

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "syscall", SetLastError = false)]
        static extern long Syscall(long number, int* word, int op, int value, void* timeout, void* word2, int value3);

        /// <summary>Sleeps while *word == expected (returns at once when it differs; may return spuriously).</summary>
        public static void Wait(int* word, int expected) => Syscall(SysFutex, word, FutexWaitPrivate, expected, null, null, 0);

        public static void Wake(int* word) => Syscall(SysFutex, word, FutexWakePrivate, 1, null, null, 0);
    }
}
