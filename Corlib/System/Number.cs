namespace System
{
    /// <summary>
    /// Integer formatting for ToString() and interpolation. Supported format strings: null/"" or
    /// "D"/"Dn" (decimal, n = minimum digits), "X"/"x" with optional digit count (hexadecimal).
    /// Floating point prints integer part and three decimals.
    /// </summary>
    internal static class Number
    {
        public static string FormatUnsigned(ulong value) => FormatDecimal(value, false, 1);

        public static string FormatSigned(long value) =>
            value < 0 ? FormatDecimal((ulong)(-value), true, 1) : FormatDecimal((ulong)value, false, 1);

        static string FormatDecimal(ulong value, bool negative, int minDigits)
        {
            char[] buffer = new char[24 + (minDigits > 24 ? minDigits : 0)];
            int pos = buffer.Length;
            int digits = 0;
            do
            {
                buffer[--pos] = (char)('0' + (int)(value % 10));
                value /= 10;
                digits++;
            } while (value != 0 || digits < minDigits);
            if (negative)
                buffer[--pos] = '-';
            return new string(buffer, pos, buffer.Length - pos);
        }

        static string FormatHex(ulong value, bool upper, int minDigits)
        {
            char[] buffer = new char[16 + (minDigits > 16 ? minDigits : 0)];
            int pos = buffer.Length;
            int digits = 0;
            do
            {
                int nibble = (int)(value & 0xF);
                buffer[--pos] = (char)(nibble < 10 ? '0' + nibble : (upper ? 'A' : 'a') + nibble - 10);
                value >>= 4;
                digits++;
            } while (value != 0 || digits < minDigits);
            return new string(buffer, pos, buffer.Length - pos);
        }

        /// <param name="raw">The value widened to 64 bits (sign-extended when signed).</param>
        /// <param name="size">Size of the original type in bytes, to mask hexadecimal output.</param>
        public static string Format(long raw, string format, bool signed, int size) =>
            FormatCore((ulong)raw, format, signed, size);

        public static string Format(ulong raw, string format, bool signed, int size) =>
            FormatCore(raw, format, signed, size);

        static string FormatCore(ulong raw, string format, bool signed, int size)
        {
            char kind = format == null || format.Length == 0 ? 'D' : format[0];
            int minDigits = 1;
            if (format != null && format.Length > 1)
            {
                minDigits = 0;
                for (int i = 1; i < format.Length; i++)
                    minDigits = minDigits * 10 + (format[i] - '0');
            }
            if (kind == 'X' || kind == 'x')
            {
                ulong masked = size >= 8 ? raw : raw & ((1UL << (size * 8)) - 1);
                return FormatHex(masked, kind == 'X', minDigits);
            }
            if (signed && (long)raw < 0)
                return FormatDecimal((ulong)(-(long)raw), true, minDigits);
            return FormatDecimal(raw, false, minDigits);
        }

        public static string FormatDouble(double value)
        {
            bool negative = value < 0;
            if (negative) value = -value;
            ulong whole = (ulong)value;
            ulong thousandths = (ulong)((value - whole) * 1000 + 0.5);
            if (thousandths >= 1000) { whole++; thousandths -= 1000; }
            string text = FormatDecimal(whole, negative, 1) + "." + FormatDecimal(thousandths, false, 3);
            return text;
        }
    }
}
