using System;
using System.Text;

namespace Drivers.Usb.Names
{
    /// <summary>
    /// Lookups in the usb.ids database (http://www.linux-usb.org/usb.ids, as Debian's usb.ids
    /// package ships it): vendor and product names, and class, subclass and protocol names, the
    /// names usbutils' lsusb prints. The text stays as it is (UTF-8, one entry per line: "vvvv  name",
    /// a tab and "pppp  name" for a product, "C cc  name" for a class, one more tab per level);
    /// construction indexes where each vendor and class starts, so a lookup reads only that
    /// entry's lines. Lines of other sections (AT, HID, ...) and comments are skipped.
    /// </summary>
    public sealed unsafe class UsbIds
    {
        const byte Tab = (byte)'\t', Newline = (byte)'\n', Comment = (byte)'#', Space = (byte)' ';
        const int VendorIdDigits = 4, ClassIdDigits = 2;
        /// <summary>"C " starts a class line (the device class section of usb.ids).</summary>
        const byte ClassMarker = (byte)'C';
        /// <summary>Two spaces separate an id from its name.</summary>
        const int NameSeparator = 2;

        readonly byte[] _array;
        readonly byte* _pointer;
        readonly int _length;

        // Index: id and line offset of every vendor and class entry, in file (ascending id) order.
        ushort[] _vendorIds = new ushort[0];
        int[] _vendorLines = new int[0];
        int _vendorCount;
        readonly int[] _classLines = new int[256];

        /// <summary>Parses usb.ids held in a managed array.</summary>
        public UsbIds(byte[] text)
        {
            _array = text;
            _length = text.Length;
            BuildIndex();
        }

        /// <summary>Parses usb.ids held in memory outside the heap (a boot module); it must stay there.</summary>
        public UsbIds(byte* text, int length)
        {
            _pointer = text;
            _length = length;
            BuildIndex();
        }

        ReadOnlySpan<byte> Text => _array != null ? new ReadOnlySpan<byte>(_array) : new ReadOnlySpan<byte>(_pointer, _length);

        /// <summary>Number of vendors in the database.</summary>
        public int VendorCount => _vendorCount;

        void BuildIndex()
        {
            for (int i = 0; i < _classLines.Length; i++)
                _classLines[i] = -1;
            ReadOnlySpan<byte> text = Text;
            int line = 0;
            while (line < text.Length)
            {
                int end = LineEnd(text, line);
                byte first = text[line];
                if (first != Tab && first != Comment)
                {
                    if (first == ClassMarker && end - line > 2 && text[line + 1] == Space)
                    {
                        if (ParseHex(text, line + 2, ClassIdDigits, out int cls) && HasName(text, line + 2 + ClassIdDigits, end))
                            _classLines[cls] = line;
                    }
                    else if (ParseHex(text, line, VendorIdDigits, out int vendor) && HasName(text, line + VendorIdDigits, end))
                    {
                        AddVendor((ushort)vendor, line);
                    }
                }
                line = end + 1;
            }
        }

        void AddVendor(ushort id, int line)
        {
            if (_vendorCount == _vendorIds.Length)
            {
                int size = _vendorIds.Length == 0 ? 1024 : _vendorIds.Length * 2;
                var ids = new ushort[size];
                var lines = new int[size];
                for (int i = 0; i < _vendorCount; i++)
                {
                    ids[i] = _vendorIds[i];
                    lines[i] = _vendorLines[i];
                }
                _vendorIds = ids;
                _vendorLines = lines;
            }
            _vendorIds[_vendorCount] = id;
            _vendorLines[_vendorCount] = line;
            _vendorCount++;
        }

        /// <summary>The vendor's name, or null when the database does not know it.</summary>
        public string Vendor(ushort vendorId)
        {
            int line = FindVendor(vendorId);
            return line < 0 ? null : NameOf(Text, line + VendorIdDigits);
        }

        /// <summary>The product's name, or null when the database does not know it.</summary>
        public string Product(ushort vendorId, ushort productId)
        {
            int line = FindVendor(vendorId);
            if (line < 0) return null;
            return FindChild(line, 1, VendorIdDigits, productId);
        }

        /// <summary>The class name ("Human Interface Device"), or null.</summary>
        public string Class(byte cls)
        {
            int line = _classLines[cls];
            return line < 0 ? null : NameOf(Text, line + 2 + ClassIdDigits);
        }

        /// <summary>The subclass name within a class, or null.</summary>
        public string SubClass(byte cls, byte subClass)
        {
            int line = _classLines[cls];
            return line < 0 ? null : FindChild(line, 1, ClassIdDigits, subClass);
        }

        /// <summary>The protocol name within a class and subclass, or null.</summary>
        public string Protocol(byte cls, byte subClass, byte protocol)
        {
            int line = _classLines[cls];
            if (line < 0) return null;
            int sub = FindChildLine(line, 1, ClassIdDigits, subClass);
            return sub < 0 ? null : FindChild(sub, 2, ClassIdDigits, protocol);
        }

        /// <summary>
        /// A name from one of the tagged sections after the classes ("HCC 00  Not supported",
        /// "HID 22  Report", "L 0409  English"): tag, a space, <paramref name="digits"/> hex digits.
        /// Read by scanning, for the verbose listing only.
        /// </summary>
        public string Tagged(string tag, int id, int digits)
        {
            ReadOnlySpan<byte> text = Text;
            int line = 0;
            while (line < text.Length)
            {
                int end = LineEnd(text, line);
                int idStart = line + tag.Length + 1;
                if (idStart + digits <= end && text[line + tag.Length] == Space && StartsWith(text, line, tag) &&
                    ParseHex(text, idStart, digits, out int value) && value == id && HasName(text, idStart + digits, end))
                    return NameOf(text, idStart + digits);
                line = end + 1;
            }
            return null;
        }

        static bool StartsWith(ReadOnlySpan<byte> text, int start, string prefix)
        {
            for (int i = 0; i < prefix.Length; i++)
                if (start + i >= text.Length || text[start + i] != prefix[i])
                    return false;
            return true;
        }

        int FindVendor(ushort id)
        {
            int lo = 0, hi = _vendorCount - 1;
            while (lo <= hi)
            {
                int mid = (lo + hi) / 2;
                if (_vendorIds[mid] == id) return _vendorLines[mid];
                if (_vendorIds[mid] < id) lo = mid + 1; else hi = mid - 1;
            }
            return -1;
        }

        string FindChild(int parentLine, int depth, int digits, int id)
        {
            int line = FindChildLine(parentLine, depth, digits, id);
            return line < 0 ? null : NameOf(Text, line + depth + digits);
        }

        /// <summary>
        /// The line under <paramref name="parentLine"/> indented by <paramref name="depth"/> tabs whose
        /// id is <paramref name="id"/>; deeper lines are skipped, a shallower one ends the entry.
        /// </summary>
        int FindChildLine(int parentLine, int depth, int digits, int id)
        {
            ReadOnlySpan<byte> text = Text;
            int line = LineEnd(text, parentLine) + 1;
            while (line < text.Length)
            {
                int end = LineEnd(text, line);
                if (text[line] == Comment || end == line)
                {
                    line = end + 1;
                    continue;
                }
                int tabs = 0;
                while (line + tabs < end && text[line + tabs] == Tab) tabs++;
                if (tabs < depth)
                    return -1;
                if (tabs == depth && ParseHex(text, line + tabs, digits, out int value) && value == id && HasName(text, line + tabs + digits, end))
                    return line;
                line = end + 1;
            }
            return -1;
        }

        static int LineEnd(ReadOnlySpan<byte> text, int start)
        {
            int i = start;
            while (i < text.Length && text[i] != Newline) i++;
            return i;
        }

        static bool HasName(ReadOnlySpan<byte> text, int afterId, int end) =>
            afterId + NameSeparator <= end && text[afterId] == Space && text[afterId + 1] == Space;

        static bool ParseHex(ReadOnlySpan<byte> text, int start, int digits, out int value)
        {
            value = 0;
            if (start + digits > text.Length) return false;
            for (int i = 0; i < digits; i++)
            {
                int d = HexDigit(text[start + i]);
                if (d < 0) return false;
                value = (value << 4) | d;
            }
            return true;
        }

        static int HexDigit(byte c)
        {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        }

        /// <summary>The name after the id and its two spaces, up to the end of the line (UTF-8 decoded, trailing CR dropped).</summary>
        static string NameOf(ReadOnlySpan<byte> text, int afterId)
        {
            int start = afterId + NameSeparator;
            int end = LineEnd(text, start);
            if (end > start && text[end - 1] == (byte)'\r') end--;
            return Utf8.Decode(text.Slice(start, end - start));
        }
    }

    /// <summary>UTF-8 to string (the corlib has no Encoding); malformed bytes become U+FFFD. Bit patterns of RFC 3629 section 3.</summary>
    public static class Utf8
    {
        const char Replacement = '\uFFFD';
        const int SupplementaryStart = 0x10000, HighSurrogate = 0xD800, LowSurrogate = 0xDC00, SurrogateBits = 10, SurrogateMask = 0x3FF;

        public static string Decode(ReadOnlySpan<byte> bytes)
        {
            var sb = new StringBuilder();
            int i = 0;
            while (i < bytes.Length)
            {
                int b = bytes[i];
                int extra, code;
                if (b < 0x80) { sb.Append((char)b); i++; continue; }
                if ((b & 0xE0) == 0xC0) { extra = 1; code = b & 0x1F; }
                else if ((b & 0xF0) == 0xE0) { extra = 2; code = b & 0x0F; }
                else if ((b & 0xF8) == 0xF0) { extra = 3; code = b & 0x07; }
                else { sb.Append(Replacement); i++; continue; }
                if (i + extra >= bytes.Length)
                {
                    sb.Append(Replacement);
                    break;
                }
                bool ok = true;
                for (int k = 1; k <= extra; k++)
                {
                    int c = bytes[i + k];
                    if ((c & 0xC0) != 0x80) { ok = false; break; }
                    code = (code << 6) | (c & 0x3F);
                }
                if (!ok) { sb.Append(Replacement); i++; continue; }
                i += extra + 1;
                if (code >= SupplementaryStart)
                {
                    code -= SupplementaryStart;
                    sb.Append((char)(HighSurrogate + (code >> SurrogateBits)));
                    sb.Append((char)(LowSurrogate + (code & SurrogateMask)));
                }
                else
                {
                    sb.Append((char)code);
                }
            }
            return sb.ToString();
        }
    }
}
