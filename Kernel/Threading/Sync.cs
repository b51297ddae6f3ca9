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

        /// <summary>Wakes the first waiter that has not timed out; false if there is none.</summary>
        public bool WakeOne()
        {
            while (_waiters.Count > 0)
            {
                KernelThread t = _waiters[0];
                _waiters.RemoveAt(0);
                if (Scheduler.Wake(t)) return true;
            }
            return false;
        }

        /// <summary>Wakes the first live waiter and makes it the mutex owner; false if there is none.</summary>
        public bool WakeOneAndTransfer(KernelMutex mutex)
        {
            while (_waiters.Count > 0)
            {
                KernelThread t = _waiters[0];
                _waiters.RemoveAt(0);
                if (Scheduler.Wake(t))
                {
                    mutex.TransferTo(t);
                    return true;
                }
            }
            return false;
        }

        public void WakeAll()
        {
            while (WakeOne()) { }
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
                if (!_queue.WakeOne()) _signalled = true;
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
            if (!_queue.WakeOne()) _count++;
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
                _owner = null;
                _queue.WakeOneAndTransfer(this);
            }
            InterruptGuard.Exit(flags);
        }

        internal void TransferTo(KernelThread thread)
        {
            _owner = thread;
            _recursion = 1;
        }
    }

    /// <summary>The lock statement: one kernel mutex per locked object, created on first use.</summary>
    internal sealed class KernelMonitor : System.Threading.Monitor.IImplementation
    {
        readonly Dictionary<object, KernelMutex> _mutexes = new Dictionary<object, KernelMutex>();

        public void Enter(object obj) => MutexFor(obj).Lock();
        public void Exit(object obj) => MutexFor(obj).Unlock();

        KernelMutex MutexFor(object obj)
        {
            ulong flags = InterruptGuard.Enter();
            if (!_mutexes.TryGetValue(obj, out KernelMutex mutex))
            {
                mutex = new KernelMutex();
                _mutexes.Add(obj, mutex);
            }
            InterruptGuard.Exit(flags);
            return mutex;
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
