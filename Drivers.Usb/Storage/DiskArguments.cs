namespace Drivers.Usb.Storage
{
    /// <summary>
    /// Numbers typed at the `disk` shell command (shared so the host tests cover them): decimal
    /// only, and a number too big for 64 bits is refused instead of wrapping around to a small
    /// LBA on the disk.
    /// </summary>
    public static class DiskArguments
    {
        const ulong Radix = 10;

        /// <summary>Parses an unsigned decimal number; false on anything else or on overflow.</summary>
        public static bool ParseNumber(string text, out ulong value)
        {
            value = 0;
            if (text == null || text.Length == 0)
                return false;
            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                if (c < '0' || c > '9')
                    return false;
                ulong digit = (ulong)(c - '0');
                if (value > (ulong.MaxValue - digit) / Radix)
                {
                    value = 0;
                    return false;
                }
                value = value * Radix + digit;
            }
            return true;
        }
    }
}
