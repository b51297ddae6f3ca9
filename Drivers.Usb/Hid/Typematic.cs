namespace Drivers.Usb.Hid
{
    /// <summary>
    /// Typematic repeat (the PC keyboard's auto-repeat, done by the host for USB keyboards, which
    /// report only changes once SET_IDLE(0) is in force, HID 1.11 7.2.4): the last key pressed
    /// repeats after <see cref="DelayMs"/> every <see cref="PeriodMs"/> until it is released or
    /// another key is pressed. Modifiers and lock keys never repeat. Pure logic over a time the
    /// caller passes in; the caller serialises access.
    /// </summary>
    public sealed class Typematic
    {
        /// <summary>Defaults close to a PC's (IBM AT: 250-1000 ms delay, 2-30 characters/s; Linux uses 250 ms / 33 ms).</summary>
        public const uint DefaultDelayMs = 500;
        public const uint DefaultPeriodMs = 33;

        public uint DelayMs = DefaultDelayMs;
        public uint PeriodMs = DefaultPeriodMs;

        object _owner;
        int _usage;
        ulong _due;
        bool _active;

        public bool IsActive => _active;
        public int Usage => _usage;
        public object Owner => _owner;

        public void Press(object owner, int usage, ulong now)
        {
            if (UsKeymap.IsModifier(usage) || UsKeymap.IsLock(usage))
                return;
            _owner = owner;
            _usage = usage;
            _due = now + DelayMs;
            _active = true;
        }

        public void Release(object owner, int usage)
        {
            if (_active && _owner == owner && _usage == usage)
                Cancel();
        }

        /// <summary>Stops the repeat if it belongs to <paramref name="owner"/> (keyboard unplugged).</summary>
        public void ReleaseOwner(object owner)
        {
            if (_active && _owner == owner)
                Cancel();
        }

        public void Cancel()
        {
            _active = false;
            _owner = null;
            _usage = 0;
        }

        /// <summary>True when a repeat is due at <paramref name="now"/>; schedules the next one.</summary>
        public bool Poll(ulong now, out object owner, out int usage)
        {
            owner = null;
            usage = 0;
            if (!_active || now < _due)
                return false;
            owner = _owner;
            usage = _usage;
            _due += PeriodMs;
            if (_due <= now)
                _due = now + PeriodMs; // fell behind (long stall): no burst of repeats
            return true;
        }

        /// <summary>Milliseconds until the next repeat, or <paramref name="idle"/> when none is pending.</summary>
        public uint MillisecondsUntilDue(ulong now, uint idle)
        {
            if (!_active)
                return idle;
            if (_due <= now)
                return 0;
            ulong left = _due - now;
            return left < idle ? (uint)left : idle;
        }
    }
}
