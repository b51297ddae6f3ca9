using System.Runtime;
using System.Runtime.CompilerServices;
using Internal.Runtime;

namespace System
{
    /// <summary>UTF-16 string. Layout fixed by ILC: length, then the characters (NUL-terminated).</summary>
    public sealed unsafe class String : IEquatable<string>
    {
        // ILC requires these exact fields.
        private readonly int _stringLength;
        private char _firstChar;

#pragma warning disable CS0824
        public static readonly string Empty = "";
#pragma warning restore CS0824

        public int Length => _stringLength;

        [IndexerName("Chars")]
        public char this[int index]
        {
            get
            {
                if ((uint)index >= (uint)_stringLength)
                    ThrowHelpers.ThrowIndexOutOfRangeException();
                return Unsafe.Add(ref _firstChar, index);
            }
        }

        public ref readonly char GetPinnableReference() => ref _firstChar;

        // Constructors are implemented by the static Ctor methods below (ILC convention).
        [MethodImpl(MethodImplOptions.InternalCall)] public extern String(char[] value);
        [MethodImpl(MethodImplOptions.InternalCall)] public extern String(char[] value, int startIndex, int length);
        [MethodImpl(MethodImplOptions.InternalCall)] public extern String(char c, int count);
        [MethodImpl(MethodImplOptions.InternalCall)] public extern String(char* value, int startIndex, int length);
        [MethodImpl(MethodImplOptions.InternalCall)] public extern String(ReadOnlySpan<char> value);

        private static string Ctor(char[] value) => value == null ? Empty : Ctor(value, 0, value.Length);

        private static string Ctor(char[] value, int startIndex, int length)
        {
            if (length <= 0) return Empty;
            string s = FastAllocateString(length);
            fixed (char* src = &value[startIndex])
                Buffer.Memmove((byte*)CharsOf(s), (byte*)src, (nuint)length * 2);
            return s;
        }

        private static string Ctor(char c, int count)
        {
            if (count <= 0) return Empty;
            string s = FastAllocateString(count);
            char* p = CharsOf(s);
            for (int i = 0; i < count; i++) p[i] = c;
            return s;
        }

        private static string Ctor(char* value, int startIndex, int length)
        {
            if (length <= 0) return Empty;
            string s = FastAllocateString(length);
            Buffer.Memmove((byte*)CharsOf(s), (byte*)(value + startIndex), (nuint)length * 2);
            return s;
        }

        private static string Ctor(ReadOnlySpan<char> value)
        {
            if (value.Length == 0) return Empty;
            string s = FastAllocateString(value.Length);
            for (int i = 0; i < value.Length; i++) CharsOf(s)[i] = value[i];
            return s;
        }

        internal static string FastAllocateString(int length)
        {
            // The empty literal is a frozen string: its MethodTable is string's.
            MethodTable* stringType = ((object)"").GetMethodTable();
            return Unsafe.As<string>(RuntimeExports.AllocateArray(stringType, length));
        }

        /// <summary>Makes a string from a NUL-terminated ASCII (Latin-1) buffer.</summary>
        public static string FromAscii(byte* text, int maxLength)
        {
            int length = 0;
            while (length < maxLength && text[length] != 0) length++;
            if (length == 0) return Empty;
            string s = FastAllocateString(length);
            for (int i = 0; i < length; i++) CharsOf(s)[i] = (char)text[i];
            return s;
        }

        // Objects never move (no compacting collector), so a raw pointer to the characters stays valid.
        static char* CharsOf(string s) => (char*)Unsafe.AsPointer(ref s._firstChar);

        public static bool IsNullOrEmpty(string value) => value == null || value.Length == 0;

        public static string Concat(string a, string b)
        {
            if (IsNullOrEmpty(a)) return b ?? Empty;
            if (IsNullOrEmpty(b)) return a;
            string s = FastAllocateString(a.Length + b.Length);
            Copy(s, 0, a);
            Copy(s, a.Length, b);
            return s;
        }

        public static string Concat(string a, string b, string c) => Concat(Concat(a, b), c);
        public static string Concat(string a, string b, string c, string d) => Concat(Concat(a, b), Concat(c, d));

        public static string Concat(params string[] values)
        {
            int length = 0;
            for (int i = 0; i < values.Length; i++)
                if (values[i] != null) length += values[i].Length;
            if (length == 0) return Empty;
            string s = FastAllocateString(length);
            int pos = 0;
            for (int i = 0; i < values.Length; i++)
            {
                if (values[i] == null) continue;
                Copy(s, pos, values[i]);
                pos += values[i].Length;
            }
            return s;
        }

        public static string Concat(object a, object b) => Concat(a?.ToString(), b?.ToString());
        public static string Concat(object a, object b, object c) => Concat(a?.ToString(), b?.ToString(), c?.ToString());
        public static string Concat(ReadOnlySpan<char> a, ReadOnlySpan<char> b) => Concat(new string(a), new string(b));

        static void Copy(string destination, int offset, string source)
        {
            fixed (char* d = &destination._firstChar)
            fixed (char* s = &source._firstChar)
                Buffer.Memmove((byte*)(d + offset), (byte*)s, (nuint)source.Length * 2);
        }

        public static bool Equals(string a, string b)
        {
            if ((object)a == (object)b) return true;
            if (a is null || b is null || a._stringLength != b._stringLength) return false;
            for (int i = 0; i < a._stringLength; i++)
                if (a[i] != b[i]) return false;
            return true;
        }

        public bool Equals(string other) => Equals(this, other);
        public override bool Equals(object obj) => obj is string s && Equals(this, s);
        public static bool operator ==(string a, string b) => Equals(a, b);
        public static bool operator !=(string a, string b) => !Equals(a, b);

        public override int GetHashCode()
        {
            // FNV-1a over the UTF-16 code units.
            uint hash = 2166136261;
            for (int i = 0; i < _stringLength; i++)
                hash = (hash ^ this[i]) * 16777619;
            return (int)hash;
        }

        public override string ToString() => this;

        public string Substring(int startIndex) => Substring(startIndex, _stringLength - startIndex);

        public string Substring(int startIndex, int length)
        {
            if ((uint)startIndex > (uint)_stringLength || length < 0 || startIndex + length > _stringLength)
                ThrowHelpers.ThrowArgumentOutOfRangeException();
            if (length == 0) return Empty;
            if (startIndex == 0 && length == _stringLength) return this;
            fixed (char* p = &_firstChar)
                return new string(p, startIndex, length);
        }

        public int IndexOf(char value) => IndexOf(value, 0);

        public int IndexOf(char value, int startIndex)
        {
            for (int i = startIndex; i < _stringLength; i++)
                if (this[i] == value) return i;
            return -1;
        }

        public int IndexOf(string value)
        {
            for (int i = 0; i + value.Length <= _stringLength; i++)
                if (MatchesAt(i, value)) return i;
            return -1;
        }

        public int LastIndexOf(char value)
        {
            for (int i = _stringLength - 1; i >= 0; i--)
                if (this[i] == value) return i;
            return -1;
        }

        public bool Contains(string value) => IndexOf(value) >= 0;
        public bool Contains(char value) => IndexOf(value) >= 0;

        bool MatchesAt(int offset, string value)
        {
            if (offset < 0 || offset + value.Length > _stringLength) return false;
            for (int i = 0; i < value.Length; i++)
                if (this[offset + i] != value[i]) return false;
            return true;
        }

        public bool StartsWith(string value) => MatchesAt(0, value);
        public bool EndsWith(string value) => MatchesAt(_stringLength - value.Length, value);
        public bool StartsWith(char value) => _stringLength > 0 && this[0] == value;
        public bool EndsWith(char value) => _stringLength > 0 && this[_stringLength - 1] == value;

        public string Trim()
        {
            int start = 0, end = _stringLength;
            while (start < end && IsWhiteSpace(this[start])) start++;
            while (end > start && IsWhiteSpace(this[end - 1])) end--;
            return Substring(start, end - start);
        }

        static bool IsWhiteSpace(char c) => c == ' ' || c == '\t' || c == '\r' || c == '\n';

        public string ToLowerInvariant()
        {
            string s = FastAllocateString(_stringLength);
            for (int i = 0; i < _stringLength; i++)
            {
                char c = this[i];
                CharsOf(s)[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
            }
            return s;
        }

        public string ToUpperInvariant()
        {
            string s = FastAllocateString(_stringLength);
            for (int i = 0; i < _stringLength; i++)
            {
                char c = this[i];
                CharsOf(s)[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
            }
            return s;
        }

        public string PadLeft(int totalWidth, char paddingChar = ' ') =>
            _stringLength >= totalWidth ? this : Concat(new string(paddingChar, totalWidth - _stringLength), this);

        public string PadRight(int totalWidth, char paddingChar = ' ') =>
            _stringLength >= totalWidth ? this : Concat(this, new string(paddingChar, totalWidth - _stringLength));

        public char[] ToCharArray()
        {
            char[] result = new char[_stringLength];
            for (int i = 0; i < _stringLength; i++) result[i] = this[i];
            return result;
        }

        public static implicit operator ReadOnlySpan<char>(string value) =>
            value == null ? default : new ReadOnlySpan<char>(ref Unsafe.AsRef(in value._firstChar), value._stringLength);

        public static int CompareOrdinal(string a, string b)
        {
            int length = a.Length < b.Length ? a.Length : b.Length;
            for (int i = 0; i < length; i++)
                if (a[i] != b[i]) return a[i] - b[i];
            return a.Length - b.Length;
        }
    }
}
