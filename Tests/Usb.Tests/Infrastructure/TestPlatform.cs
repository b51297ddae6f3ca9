using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading;
using Platform;

namespace Usb.Tests.Infrastructure
{
    /// <summary>
    /// Clock whose time runs <see cref="Scale"/> times faster than real time and whose Sleep returns
    /// at once after advancing virtual time: spec delays are requested (and recorded) but cost nothing.
    /// </summary>
    public sealed class TestClock : IClock
    {
        readonly Stopwatch _watch = Stopwatch.StartNew();
        long _offsetMs;
        public readonly int Scale;
        public readonly ConcurrentQueue<uint> Sleeps = new ConcurrentQueue<uint>();

        public TestClock(int scale = 20) { Scale = scale; }

        public ulong Milliseconds => (ulong)(_watch.ElapsedMilliseconds * Scale + Interlocked.Read(ref _offsetMs));
        public ulong Microseconds => Milliseconds * 1000;

        public void Sleep(uint ms)
        {
            Sleeps.Enqueue(ms);
            Interlocked.Add(ref _offsetMs, ms);
            Thread.Yield();
        }

        public void Stall(uint us) { }

        /// <summary>Real milliseconds to wait for a virtual timeout.</summary>
        public int RealTimeout(uint virtualMs) => virtualMs == uint.MaxValue ? Timeout.Infinite : (int)Math.Max(1, virtualMs / (uint)Scale);

        public List<uint> SleepList() => new List<uint>(Sleeps.ToArray());
    }

    public sealed class TestEvent : IEvent
    {
        readonly EventWaitHandle _handle;
        readonly TestClock _clock;

        public TestEvent(TestClock clock, bool autoReset)
        {
            _clock = clock;
            _handle = new EventWaitHandle(false, autoReset ? EventResetMode.AutoReset : EventResetMode.ManualReset);
        }

        public void Signal() => _handle.Set();
        public void Reset() => _handle.Reset();
        public bool Wait(uint timeoutMs) => _handle.WaitOne(_clock.RealTimeout(timeoutMs));
    }

    public sealed class TestSemaphore : ISemaphore
    {
        readonly SemaphoreSlim _semaphore;
        readonly TestClock _clock;

        public TestSemaphore(TestClock clock, int initial)
        {
            _clock = clock;
            _semaphore = new SemaphoreSlim(initial);
        }

        public void Release() => _semaphore.Release();
        public bool Wait(uint timeoutMs) => _semaphore.Wait(_clock.RealTimeout(timeoutMs));
    }

    public sealed class TestMutex : IMutex
    {
        readonly object _lock = new object();
        public void Lock() => Monitor.Enter(_lock);
        public void Unlock() => Monitor.Exit(_lock);
    }

    public sealed class TestThreading : IThreading
    {
        readonly TestClock _clock;
        int _nextId;
        public readonly List<Thread> Threads = new List<Thread>();

        public TestThreading(TestClock clock) { _clock = clock; }

        public int StartThread(string name, ThreadEntry entry)
        {
            var thread = new Thread(() => entry()) { IsBackground = true, Name = name };
            lock (Threads)
                Threads.Add(thread);
            thread.Start();
            return Interlocked.Increment(ref _nextId);
        }

        public IEvent CreateEvent(bool autoReset) => new TestEvent(_clock, autoReset);
        public ISemaphore CreateSemaphore(int initialCount) => new TestSemaphore(_clock, initialCount);
        public IMutex CreateMutex() => new TestMutex();
        public void Yield() => Thread.Yield();
    }

    /// <summary>DMA memory from the native heap; physical = virtual. Counts outstanding buffers for leak checks.</summary>
    public sealed unsafe class HeapDma : IDmaAllocator
    {
        int _outstanding;
        public int Outstanding => Volatile.Read(ref _outstanding);
        public int FailAfter = -1;

        public DmaBuffer Allocate(uint size, uint alignment, DmaLimit limit, uint boundary = 0)
        {
            if (FailAfter == 0)
                return default;
            if (FailAfter > 0)
                FailAfter--;
            // calloc, aligned by hand (the block's start is kept just below the buffer): a large
            // block comes zeroed from the system without touching its pages, where an aligned
            // allocation plus a clear wrote every byte of each 1 MiB storage buffer (profiled).
            nuint align = Math.Max(alignment, (uint)sizeof(nint));
            byte* block = (byte*)NativeMemory.AllocZeroed(Math.Max(size, 1) + align + (nuint)sizeof(nint));
            nint p = ((nint)block + sizeof(nint) + (nint)align - 1) & ~((nint)align - 1);
            ((nint*)p)[-1] = (nint)block;
            Interlocked.Increment(ref _outstanding);
            return new DmaBuffer { Virtual = p, Physical = (ulong)p, Size = size };
        }

        public void Free(DmaBuffer buffer)
        {
            if (buffer.IsNull)
                return;
            Interlocked.Decrement(ref _outstanding);
            NativeMemory.Free((void*)((nint*)buffer.Virtual)[-1]);
        }
    }

    public sealed class TestLogSink : ILogSink
    {
        public readonly ConcurrentQueue<string> Lines = new ConcurrentQueue<string>();
        public bool Echo;

        public void WriteLine(LogLevel level, string line)
        {
            Lines.Enqueue(line);
            if (Echo)
                Console.WriteLine(line);
        }

        public bool Contains(string fragment)
        {
            foreach (string line in Lines)
                if (line.Contains(fragment))
                    return true;
            return false;
        }

        public string All() => string.Join("\n", Lines.ToArray());
    }
}
