using Platform;

namespace Kernel.Runtime
{
    /// <summary>
    /// Maps code addresses to symbol names using the "symbols" boot module: the output of
    /// <c>nm -n --defined-only kernel.elf</c> that the build places on the ISO
    /// ("&lt;hex address&gt; &lt;type&gt; &lt;name&gt;" per line, sorted by address).
    /// </summary>
    internal static unsafe class Symbols
    {
        static byte* s_text;
        static ulong s_length;

        public static void Attach(ulong start, ulong end)
        {
            s_text = (byte*)start;
            s_length = end - start;
        }

        public static bool Available => s_text != null;

        /// <summary>"Name+0x1c", or "?" when unknown.</summary>
        public static string Describe(ulong address)
        {
            if (!Lookup(address, out byte* name, out int length, out ulong offset))
                return "?";
            return string.FromAscii(name, length) + "+0x" + Format.Hex(offset);
        }

        /// <summary>
        /// Finds the code symbol at or below <paramref name="address"/>: its name (ASCII, inside the
        /// symbols module, not terminated) and the offset into it. Allocates nothing, so the crash
        /// report can use it whatever state the heap is in.
        /// </summary>
        public static bool Lookup(ulong address, out byte* name, out int nameLength, out ulong offset)
        {
            name = null;
            nameLength = 0;
            offset = 0;
            if (s_text == null)
                return false;
            ulong bestAddress = 0, bestLine = 0;
            bool found = false;
            ulong line = 0;
            while (line < s_length)
            {
                ulong value = 0, i = line;
                int digits = 0;
                while (i < s_length && HexValue(s_text[i]) >= 0) { value = value << 4 | (uint)HexValue(s_text[i]); i++; digits++; }
                bool code = i + 2 < s_length && (s_text[i + 1] == 'T' || s_text[i + 1] == 't');
                if (digits > 0 && code && value <= address && value >= bestAddress)
                {
                    bestAddress = value;
                    bestLine = i + 3;
                    found = true;
                }
                while (i < s_length && s_text[i] != '\n') i++;
                line = i + 1;
            }
            if (!found)
                return false;
            ulong end = bestLine;
            while (end < s_length && s_text[end] != '\n' && s_text[end] != '\r') end++;
            name = s_text + bestLine;
            nameLength = (int)(end - bestLine);
            offset = address - bestAddress;
            return true;
        }

        static int HexValue(byte c)
        {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        }
    }
}
