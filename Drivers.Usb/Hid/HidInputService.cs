using System.Collections.Generic;
using Platform;

namespace Drivers.Usb.Hid
{
    /// <summary>
    /// Shared state of the HID drivers of one stack: the input sink, the lock keys (Num/Caps/Scroll,
    /// shared by every keyboard like a PC's), typematic repeat, and a worker thread for what cannot
    /// run in a completion (interrupt context): SET_REPORT for the LEDs, clearing a halted endpoint
    /// and resubmitting after errors, and generating repeats on time.
    /// </summary>
    public sealed class HidInputService
    {
        /// <summary>Longest sleep of the worker when nothing is pending.</summary>
        public const uint IdleWaitMs = 1000;
        /// <summary>First retry after a transfer error; doubles per error up to <see cref="MaxRetryDelayMs"/> (Linux hid_io_error: 13, 26, 52, 104 ms).</summary>
        public const uint RetryDelayMs = 13;
        public const uint MaxRetryDelayMs = 104;
        /// <summary>Errors that last this long get the device reset instead of more retries (Linux: one second).</summary>
        public const uint ErrorResetMs = 1000;
        /// <summary>An error this long after the last streak's end starts a new streak (Linux: HZ/2).</summary>
        public const uint ErrorStreakGapMs = 500;
        /// <summary>How long <see cref="Stop"/> waits for the worker.</summary>
        public const uint StopTimeoutMs = 2000;

        public readonly IHidInputSink Sink;
        public readonly IClock Clock;
        public readonly IThreading Threading;
        public readonly Typematic Typematic = new Typematic();

        /// <summary>Serialises the worker's per-interface work with Disconnect (thread context only).</summary>
        internal readonly IMutex WorkLock;
        readonly object _lock = new object();
        readonly List<HidInterface> _interfaces = new List<HidInterface>();
        readonly IEvent _wake;
        readonly IEvent _stopped;
        int _locks;
        volatile bool _stop;
        bool _started;

        public HidInputService(IHidInputSink sink, IClock clock, IThreading threading)
        {
            Sink = sink;
            Clock = clock;
            Threading = threading;
            WorkLock = threading.CreateMutex();
            _wake = threading.CreateEvent(true);
            _stopped = threading.CreateEvent(false);
        }

        /// <summary><see cref="HidLocks"/> bits.</summary>
        public int Locks
        {
            get { lock (_lock) return _locks; }
        }

        /// <summary>Sets the lock keys (and with them every keyboard's LEDs).</summary>
        public void SetLocks(int locks)
        {
            lock (_lock)
            {
                if (_locks == locks)
                    return;
                _locks = locks;
                MarkLedsDirtyLocked();
            }
            _wake.Signal();
        }

        public int InterfaceCount
        {
            get { lock (_lock) return _interfaces.Count; }
        }

        public bool Start()
        {
            if (_started)
                return true;
            _started = true;
            _stop = false;
            return Threading.StartThread("hid", Worker) != 0;
        }

        /// <summary>Stops the worker (bounded wait).</summary>
        public void Stop()
        {
            if (!_started)
                return;
            _stop = true;
            _wake.Signal();
            _stopped.Wait(StopTimeoutMs);
            _started = false;
        }

        /// <summary>Wakes the worker (any context).</summary>
        internal void Wake() => _wake.Signal();

        internal void Attach(HidInterface hid)
        {
            lock (_lock)
            {
                _interfaces.Add(hid);
                if (hid.Kind == HidDeviceKind.Keyboard)
                    hid.LedsDirty = true;
            }
            _wake.Signal();
        }

        internal void Detach(HidInterface hid)
        {
            lock (_lock)
            {
                _interfaces.Remove(hid);
                Typematic.ReleaseOwner(hid);
            }
        }

        void MarkLedsDirtyLocked()
        {
            for (int i = 0; i < _interfaces.Count; i++)
                if (_interfaces[i].Kind == HidDeviceKind.Keyboard)
                    _interfaces[i].LedsDirty = true;
        }

        /// <summary>
        /// A keyboard reports a key change (completion, interrupt context): lock keys toggle on
        /// press, the key is translated and delivered, the typematic repeat follows it.
        /// </summary>
        internal void KeyChanged(HidInterface keyboard, int usage, bool pressed, int modifiers)
        {
            int locks;
            bool ledsChanged = false;
            lock (_lock)
            {
                if (pressed)
                {
                    int toggle = usage == HidKey.CapsLock ? HidLocks.CapsLock
                               : usage == HidKey.NumLock ? HidLocks.NumLock
                               : usage == HidKey.ScrollLock ? HidLocks.ScrollLock : 0;
                    if (toggle != 0)
                    {
                        _locks ^= toggle;
                        MarkLedsDirtyLocked();
                        ledsChanged = true;
                    }
                    Typematic.Press(keyboard, usage, Clock.Milliseconds);
                }
                else
                    Typematic.Release(keyboard, usage);
                locks = _locks;
            }
            Deliver(keyboard, usage, pressed, false, modifiers, locks);
            if (ledsChanged || pressed)
                _wake.Signal();
        }

        void Deliver(HidInterface keyboard, int usage, bool pressed, bool repeat, int modifiers, int locks)
        {
            var e = new HidKeyEvent();
            e.Device = keyboard.Name;
            e.Usage = usage;
            e.Pressed = pressed;
            e.Repeat = repeat;
            e.Modifiers = modifiers;
            e.Locks = locks;
            e.Character = pressed ? UsKeymap.Translate(usage, modifiers, locks) : '\0';
            Sink.Key(e);
        }

        /// <summary>Runs one round of the worker's duties; returns how long it may sleep. Public for tests.</summary>
        public uint RunOnce()
        {
            ulong now = Clock.Milliseconds;
            object owner;
            int usage;
            int locks;
            bool due;
            lock (_lock)
            {
                due = Typematic.Poll(now, out owner, out usage);
                locks = _locks;
            }
            if (due)
            {
                var keyboard = (HidInterface)owner;
                Deliver(keyboard, usage, true, true, keyboard.Modifiers, locks);
            }

            HidInterface[] snapshot;
            lock (_lock)
                snapshot = _interfaces.ToArray();
            uint wait = IdleWaitMs;
            for (int i = 0; i < snapshot.Length; i++)
            {
                HidInterface hid = snapshot[i];
                WorkLock.Lock();
                if (!hid.Disconnected)
                {
                    uint w = hid.Work(this, now);
                    if (w < wait)
                        wait = w;
                }
                WorkLock.Unlock();
            }
            lock (_lock)
                wait = Typematic.MillisecondsUntilDue(Clock.Milliseconds, wait);
            return wait;
        }

        void Worker()
        {
            while (!_stop)
            {
                uint wait = RunOnce();
                if (wait > 0)
                    _wake.Wait(wait);
            }
            _stopped.Signal();
        }
    }
}
