namespace Platform
{
    /// <summary>
    /// Number and text formatting that behaves the same in the kernel and on the host, without
    /// format strings or culture: the kernel's corlib has no general-purpose number formatter.
    /// </summary>
    public static class Format
    {
        const string HexDigits = "0123456789abcdef";
        const ulong DecimalRadix = 10;

        /// <summary>Parses an unsigned decimal number (digits only); false on anything else or on overflow, never a wrapped value.</summary>
        public static bool TryParseDecimal(string text, out ulong value)
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
                if (value > (ulong.MaxValue - digit) / DecimalRadix)
                {
                    value = 0;
                    return false;
                }
                value = value * DecimalRadix + digit;
            }
            return true;
        }

        /// <summary>Parses an unsigned hexadecimal number, with or without "0x"; false on anything else or on more than 16 digits.</summary>
        public static bool TryParseHex(string text, out ulong value)
        {
            value = 0;
            if (text == null)
                return false;
            int start = text.Length > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X') ? 2 : 0;
            const int MaxDigits = 16;
            if (text.Length == start || text.Length - start > MaxDigits)
                return false;
            for (int i = start; i < text.Length; i++)
            {
                char c = text[i];
                int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                if (digit < 0)
                {
                    value = 0;
                    return false;
                }
                value = (value << 4) | (uint)digit;
            }
            return true;
        }

        public static string Decimal(ulong value)
        {
            if (value == 0)
                return "0";
            char[] buffer = new char[20];
            int position = buffer.Length;
            while (value != 0)
            {
                buffer[--position] = (char)('0' + (int)(value % 10));
                value /= 10;
            }
            return new string(buffer, position, buffer.Length - position);
        }

        public static string Decimal(long value) =>
            value < 0 ? "-" + Decimal((ulong)(-value)) : Decimal((ulong)value);

        /// <summary>Lower-case hexadecimal with exactly <paramref name="digits"/> digits (leading zeros).</summary>
        public static string Hex(ulong value, int digits)
        {
            char[] buffer = new char[digits];
            for (int i = digits - 1; i >= 0; i--)
            {
                buffer[i] = HexDigits[(int)(value & 0xF)];
                value >>= 4;
            }
            return new string(buffer);
        }

        /// <summary>Lower-case hexadecimal with as many digits as needed.</summary>
        public static string Hex(ulong value)
        {
            int digits = 1;
            for (ulong v = value >> 4; v != 0; v >>= 4)
                digits++;
            return Hex(value, digits);
        }

        public static string PadLeft(string text, int width, char pad)
        {
            if (text.Length >= width)
                return text;
            return new string(pad, width - text.Length) + text;
        }

        public static string PadRight(string text, int width, char pad = ' ')
        {
            if (text.Length >= width)
                return text;
            return text + new string(pad, width - text.Length);
        }

        /// <summary>"512 KiB", "3 MiB": sizes as a person reads them (whole units, rounded down).</summary>
        public static string Size(ulong bytes)
        {
            if (bytes >= (1UL << 30) && bytes % (1UL << 30) == 0) return Decimal(bytes >> 30) + " GiB";
            if (bytes >= (1UL << 20)) return Decimal(bytes >> 20) + " MiB";
            if (bytes >= (1UL << 10)) return Decimal(bytes >> 10) + " KiB";
            return Decimal(bytes) + " B";
        }
    }
}
