using System.Collections.Generic;
using System.Threading;
using Platform;

namespace Tests.Support
{
    /// <summary>
    /// Threading for single-threaded tests: no thread is started, events and semaphores are never
    /// signalled (every wait times out at once) and mutexes do nothing. For code under test that
    /// must not really block (callers poll, or wait with timeout 0).
    /// </summary>
    public sealed class InlineThreading : IThreading
    {
        sealed class Primitive : IEvent, ISemaphore, IMutex
        {
            public void Signal() { }
            public void Reset() { }
            public bool Wait(uint timeoutMs) => false;
            public void Release() { }
            public void Lock() { }
            public void Unlock() { }
        }

        public int StartThread(string name, ThreadEntry entry) => 0;
        public IEvent CreateEvent(bool autoReset) => new Primitive();
        public ISemaphore CreateSemaphore(int initialCount) => new Primitive();
        public IMutex CreateMutex() => new Primitive();
        public void Yield() { }
    }

    /// <summary>
    /// Real threads and primitives (background threads, wait handles, monitors) with timeouts in
    /// real milliseconds: goes with <see cref="RealClock"/>.
    /// </summary>
    public sealed class RealThreading : IThreading
    {
        sealed class Event : IEvent
        {
            readonly EventWaitHandle _handle;
            public Event(bool autoReset) { _handle = new EventWaitHandle(false, autoReset ? EventResetMode.AutoReset : EventResetMode.ManualReset); }
            public void Signal() => _handle.Set();
            public void Reset() => _handle.Reset();
            public bool Wait(uint timeoutMs) => _handle.WaitOne((int)timeoutMs);
        }

        sealed class Semaphore : ISemaphore
        {
            readonly SemaphoreSlim _semaphore;
            public Semaphore(int initialCount) { _semaphore = new SemaphoreSlim(initialCount); }
            public void Release() => _semaphore.Release();
            public bool Wait(uint timeoutMs) => _semaphore.Wait((int)timeoutMs);
        }

        /// <summary>Recursive, like the kernel's (Monitor is).</summary>
        sealed class Mutex : IMutex
        {
            readonly object _lock = new object();
            public void Lock() => Monitor.Enter(_lock);
            public void Unlock() => Monitor.Exit(_lock);
        }

        /// <summary>Every thread started, in order (thread ids are positions in this list, from 1).</summary>
        public readonly List<Thread> Threads = new List<Thread>();

        public int StartThread(string name, ThreadEntry entry)
        {
            var thread = new Thread(() => entry()) { IsBackground = true, Name = name };
            int id;
            lock (Threads)
            {
                Threads.Add(thread);
                id = Threads.Count;
            }
            thread.Start();
            return id;
        }

        public IEvent CreateEvent(bool autoReset) => new Event(autoReset);
        public ISemaphore CreateSemaphore(int initialCount) => new Semaphore(initialCount);
        public IMutex CreateMutex() => new Mutex();
        public void Yield() => Thread.Yield();
    }
}
