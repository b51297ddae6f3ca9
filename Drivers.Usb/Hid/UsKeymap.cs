namespace Drivers.Usb.Hid
{
    /// <summary>
    /// US keyboard layout: Keyboard page usages (HID Usage Tables 1.x section 10) to characters,
    /// with Shift, Caps Lock (letters only), Num Lock (keypad) and Ctrl (control characters).
    /// </summary>
    public static class UsKeymap
    {
        // Usages 0x1E..0x38: digits row and punctuation, unshifted and shifted.
        const string Plain = "1234567890\n\x1b\b\t -=[]\\\\;'`,./";
        const string Shifted = "!@#$%^&*()\n\x1b\b\t _+{}||:\"~<>?";
        // Keypad 0x54..0x63 with Num Lock: / * - + Enter 1..9 0 .
        const string Keypad = "/*-+\n1234567890.";
        const char Delete = (char)0x7F;

        public static bool IsModifier(int usage) => usage >= HidKey.LeftControl && usage <= HidKey.RightGui;

        public static bool IsLock(int usage) =>
            usage == HidKey.CapsLock || usage == HidKey.NumLock || usage == HidKey.ScrollLock;

        /// <summary>Character for <paramref name="usage"/>, or '\0' when the key types none.</summary>
        public static char Translate(int usage, int modifiers, int locks)
        {
            bool shift = (modifiers & HidModifiers.Shift) != 0;
            bool control = (modifiers & HidModifiers.Control) != 0;
            if (usage >= HidKey.A && usage <= HidKey.Z)
            {
                char letter = (char)('a' + (usage - HidKey.A));
                if (control)
                    return (char)(letter & 0x1F);
                bool upper = shift ^ ((locks & HidLocks.CapsLock) != 0);
                return upper ? (char)(letter - 'a' + 'A') : letter;
            }
            if (usage >= HidKey.Digit1 && usage < HidKey.Digit1 + Plain.Length)
            {
                int i = usage - HidKey.Digit1;
                return shift ? Shifted[i] : Plain[i];
            }
            if (usage == HidKey.Delete)
                return Delete;
            if (usage >= HidKey.KeypadSlash && usage <= HidKey.KeypadDot)
            {
                int i = usage - HidKey.KeypadSlash;
                // Digits and '.' need Num Lock (without it they are navigation keys).
                if (usage >= HidKey.Keypad1 && (locks & HidLocks.NumLock) == 0)
                    return '\0';
                return Keypad[i];
            }
            if (usage == 0x64)
                return shift ? '|' : '\\'; // Keyboard Non-US \ and |
            if (usage == HidKey.KeypadEquals)
                return '=';
            return '\0';
        }
    }
}
