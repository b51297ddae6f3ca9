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
            => Lookup(address, code: true, out name, out nameLength, out offset);

        /// <summary>
        /// The name of the type whose MethodTable is at <paramref name="methodTable"/>: ILC labels each one
        /// with a data symbol <c>_ZTV&lt;length&gt;&lt;name&gt;</c> (for example <c>_ZTV28Kernel_Drivers_Usb_UsbDevice</c>),
        /// printed without that prefix; "type@0x..." when no symbol starts there.
        /// </summary>
        public static string TypeName(ulong methodTable)
        {
            if (!Lookup(methodTable, code: false, out byte* name, out int length, out ulong offset) || offset != 0)
                return "type@0x" + Format.Hex(methodTable);
            const string VtablePrefix = "_ZTV";
            int skip = 0;
            if (length > VtablePrefix.Length && name[0] == '_' && name[1] == 'Z' && name[2] == 'T' && name[3] == 'V')
            {
                skip = VtablePrefix.Length;
                while (skip < length && name[skip] >= '0' && name[skip] <= '9') skip++;
            }
            return string.FromAscii(name + skip, length - skip);
        }

        /// <summary>The symbol at or below <paramref name="address"/> among code (t/T) or data (d/D/r/R/b/B) symbols.</summary>
        static bool Lookup(ulong address, bool code, out byte* name, out int nameLength, out ulong offset)
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
                bool kindMatches = i + 2 < s_length && IsKind(s_text[i + 1], code);
                if (digits > 0 && kindMatches && value <= address && value >= bestAddress)
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

        static bool IsKind(byte type, bool code)
        {
            if (code) return type == 'T' || type == 't';
            return type == 'D' || type == 'd' || type == 'R' || type == 'r' || type == 'B' || type == 'b';
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
