using System.Collections.Generic;
using Kernel.Hal;
using Platform;

namespace Kernel.Threading
{
    /// <summary>Threads waiting on an object, in arrival order. All methods run with interrupts disabled.</summary>
    internal sealed class WaitQueue
    {
        readonly List<KernelThread> _waiters = new List<KernelThread>();

        public bool Wait(uint timeoutMs)
        {
            KernelThread self = Scheduler.Current;
            _waiters.Add(self);
            bool woken = Scheduler.Block(timeoutMs);
            if (!woken) _waiters.Remove(self);
            return woken;
        }

        /// <summary>Wakes the first waiter that has not timed out and returns it; null if there is none.</summary>
        public KernelThread WakeOne()
        {
            while (_waiters.Count > 0)
            {
                KernelThread t = _waiters[0];
                _waiters.RemoveAt(0);
                if (Scheduler.Wake(t)) return t;
            }
            return null;
        }

        public void WakeAll()
        {
            while (WakeOne() != null) { }
        }
    }

    /// <summary>An event; Signal is safe from interrupt handlers.</summary>
    internal sealed class KernelEvent : IEvent
    {
        readonly bool _autoReset;
        readonly WaitQueue _queue = new WaitQueue();
        bool _signalled;

        public KernelEvent(bool autoReset) { _autoReset = autoReset; }

        public void Signal()
        {
            ulong flags = InterruptGuard.Enter();
            if (_autoReset)
            {
                if (_queue.WakeOne() == null) _signalled = true;
            }
            else
            {
                _signalled = true;
                _queue.WakeAll();
            }
            InterruptGuard.Exit(flags);
        }

        public void Reset() => _signalled = false;

        public bool Wait(uint timeoutMs)
        {
            ulong flags = InterruptGuard.Enter();
            bool result;
            if (_signalled)
            {
                if (_autoReset) _signalled = false;
                result = true;
            }
            else
            {
                result = timeoutMs != 0 && _queue.Wait(timeoutMs);
            }
            InterruptGuard.Exit(flags);
            return result;
        }
    }

    /// <summary>A counting semaphore; Release is safe from interrupt handlers.</summary>
    internal sealed class KernelSemaphore : ISemaphore
    {
        readonly WaitQueue _queue = new WaitQueue();
        int _count;

        public KernelSemaphore(int initial) { _count = initial; }

        public void Release()
        {
            ulong flags = InterruptGuard.Enter();
            if (_queue.WakeOne() == null) _count++;
            InterruptGuard.Exit(flags);
        }

        public bool Wait(uint timeoutMs)
        {
            ulong flags = InterruptGuard.Enter();
            bool result;
            if (_count > 0)
            {
                _count--;
                result = true;
            }
            else
            {
                result = timeoutMs != 0 && _queue.Wait(timeoutMs);
            }
            InterruptGuard.Exit(flags);
            return result;
        }
    }

    /// <summary>A recursive mutex for thread context; ownership passes directly to the next waiter.</summary>
    internal sealed class KernelMutex : IMutex
    {
        readonly WaitQueue _queue = new WaitQueue();
        KernelThread _owner;
        int _recursion;

        public void Lock()
        {
            ulong flags = InterruptGuard.Enter();
            KernelThread self = Scheduler.Current;
            if (_owner == null || !Scheduler.IsRunning)
            {
                _owner = self;
                _recursion = 1;
            }
            else if (_owner == self)
            {
                _recursion++;
            }
            else
            {
                // Woken waiters receive ownership from Unlock.
                while (!_queue.Wait(uint.MaxValue)) { }
            }
            InterruptGuard.Exit(flags);
        }

        public void Unlock()
        {
            ulong flags = InterruptGuard.Enter();
            if (--_recursion == 0)
            {
                // Ownership passes directly to the next waiter, so no third thread can barge in.
                _owner = _queue.WakeOne();
                if (_owner != null) _recursion = 1;
            }
            InterruptGuard.Exit(flags);
        }
    }

    /// <summary>
    /// The lock statement, usable from threads and interrupt handlers alike. The lock state lives
    /// in the locked object's header word (the 8 bytes before its MethodTable pointer, otherwise
    /// unused): owner thread, recursion count and whether interrupts were enabled at the outermost
    /// Enter. The holder keeps interrupts disabled until the outermost Exit, so on one CPU no
    /// other thread and no interrupt handler can run inside the critical section; a thread that
    /// blocks while holding a lock keeps it, and others wanting it yield until it is released.
    /// Interrupt handlers must not take a lock a blocked thread holds (that would deadlock on any
    /// OS); this panics with a clear message instead of hanging.
    /// </summary>
    internal sealed unsafe class KernelMonitor : System.Threading.Monitor.IImplementation
    {
        const ulong OwnerMask = 0xFFFFFFFF;
        const int RecursionShift = 32;
        const ulong RecursionUnit = 1UL << RecursionShift;
        const ulong RecursionMask = 0xFFFFUL << RecursionShift;
        const ulong InterruptsWereEnabled = 1UL << 63;
        const ulong RflagsInterruptFlag = 1UL << 9;

        static ulong* HeaderOf(object obj) => (ulong*)(*(nint*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref obj) - 8);

        static ulong Self => (ulong)(Scheduler.Current == null ? 0 : Scheduler.Current.Id) + 1;

        public void Enter(object obj)
        {
            ulong* header = HeaderOf(obj);
            while (true)
            {
                ulong flags = InterruptGuard.Enter();
                ulong state = *header;
                ulong owner = state & OwnerMask;
                if (owner == 0)
                {
                    *header = Self | RecursionUnit | ((flags & RflagsInterruptFlag) != 0 ? InterruptsWereEnabled : 0);
                    return; // interrupts stay disabled until the outermost Exit
                }
                if (owner == Self)
                {
                    *header = state + RecursionUnit;
                    return;
                }
                if (Interrupts.InterruptDispatcher.Depth > 0)
                    Runtime.Panic.FromRuntime("lock taken in an interrupt handler is held by a blocked thread", ": thread ", owner - 1);
                InterruptGuard.Exit(flags);
                Scheduler.Yield();
            }
        }

        public void Exit(object obj)
        {
            ulong* header = HeaderOf(obj);
            ulong state = *header;
            if ((state & OwnerMask) != Self || (state & RecursionMask) == 0)
                Runtime.Panic.FromRuntime("lock released by a thread that does not hold it");
            state -= RecursionUnit;
            if ((state & RecursionMask) != 0)
            {
                *header = state;
                return;
            }
            *header = 0;
            if ((state & InterruptsWereEnabled) != 0)
                Native.Sti();
        }
    }

    internal sealed class KernelThreading : IThreading
    {
        public static readonly KernelThreading Instance = new KernelThreading();
        public int StartThread(string name, ThreadEntry entry) => Scheduler.Start(name, entry);
        public IEvent CreateEvent(bool autoReset) => new KernelEvent(autoReset);
        public ISemaphore CreateSemaphore(int initialCount) => new KernelSemaphore(initialCount);
        public IMutex CreateMutex() => new KernelMutex();
        public void Yield() => Scheduler.Yield();
    }
}
