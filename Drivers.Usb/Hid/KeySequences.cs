namespace Drivers.Usb.Hid
{
    /// <summary>
    /// The editing keys as a VT100/xterm terminal sends them (xterm ctlseqs, "PC-Style Function
    /// Keys", normal cursor mode): a USB keyboard then feeds the shell exactly the bytes a serial
    /// terminal would, so one line editor serves both. Keypad digits without Num Lock are the
    /// navigation keys printed on them, as on a PC console.
    /// </summary>
    public static class KeySequences
    {
        public const string Up = "\x1b[A", Down = "\x1b[B", Right = "\x1b[C", Left = "\x1b[D";
        public const string Home = "\x1b[H", End = "\x1b[F";
        public const string Insert = "\x1b[2~", Delete = "\x1b[3~", PageUp = "\x1b[5~", PageDown = "\x1b[6~";

        /// <summary>
        /// The sequence a pressed key sends, or null for keys that type a character (or nothing).
        /// Constant strings: safe in interrupt context, nothing is allocated.
        /// </summary>
        public static string For(int usage, int locks)
        {
            switch (usage)
            {
                case HidKey.UpArrow: return Up;
                case HidKey.DownArrow: return Down;
                case HidKey.RightArrow: return Right;
                case HidKey.LeftArrow: return Left;
                case HidKey.Home: return Home;
                case HidKey.End: return End;
                case HidKey.Insert: return Insert;
                case HidKey.Delete: return Delete;
                case HidKey.PageUp: return PageUp;
                case HidKey.PageDown: return PageDown;
            }
            if ((locks & HidLocks.NumLock) != 0) return null;
            switch (usage)
            {
                case HidKey.Keypad1: return End;
                case HidKey.Keypad2: return Down;
                case HidKey.Keypad3: return PageDown;
                case HidKey.Keypad4: return Left;
                case HidKey.Keypad6: return Right;
                case HidKey.Keypad7: return Home;
                case HidKey.Keypad8: return Up;
                case HidKey.Keypad9: return PageUp;
                case HidKey.Keypad0: return Insert;
                case HidKey.KeypadDot: return Delete;
            }
            return null;
        }
    }
}
