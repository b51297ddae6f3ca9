using System.Runtime.CompilerServices;

namespace System
{
    public struct Boolean : IEquatable<bool>
    {
        private bool m_value;
        public const string TrueString = "True";
        public const string FalseString = "False";
        public override string ToString() => m_value ? "True" : "False";
        public bool Equals(bool other) => m_value == other;
        public override bool Equals(object obj) => obj is bool b && b == m_value;
        public override int GetHashCode() => m_value ? 1 : 0;
    }

    public struct Char : IEquatable<char>, IComparable<char>
    {
        private char m_value;
        public const char MaxValue = (char)0xFFFF;
        public const char MinValue = (char)0;
        public override string ToString() => new string(m_value, 1);
        public bool Equals(char other) => m_value == other;
        public override bool Equals(object obj) => obj is char c && c == m_value;
        public override int GetHashCode() => m_value;
        public int CompareTo(char other) => m_value - other;
    }

    public struct SByte : IEquatable<sbyte>, IComparable<sbyte>, IFormattable
    {
        private sbyte m_value;
        public const sbyte MaxValue = 127;
        public const sbyte MinValue = -128;
        public override string ToString() => Number.FormatSigned(m_value);
        public string ToString(string format) => Number.Format((long)m_value, format, true, sizeof(sbyte));
        public string ToString(string format, IFormatProvider provider) => ToString(format);
        public bool Equals(sbyte other) => m_value == other;
        public override bool Equals(object obj) => obj is sbyte v && v == m_value;
        public override int GetHashCode() => (int)m_value;
        public int CompareTo(sbyte other) => m_value < other ? -1 : m_value > other ? 1 : 0;
    }

    public struct Byte : IEquatable<byte>, IComparable<byte>, IFormattable
    {
        private byte m_value;
        public const byte MaxValue = 255;
        public const byte MinValue = 0;
        public override string ToString() => Number.FormatUnsigned(m_value);
        public string ToString(string format) => Number.Format((ulong)m_value, format, false, sizeof(byte));
        public string ToString(string format, IFormatProvider provider) => ToString(format);
        public bool Equals(byte other) => m_value == other;
        public override bool Equals(object obj) => obj is byte v && v == m_value;
        public override int GetHashCode() => (int)m_value;
        public int CompareTo(byte other) => m_value < other ? -1 : m_value > other ? 1 : 0;
    }

    public struct Int16 : IEquatable<short>, IComparable<short>, IFormattable
    {
        private short m_value;
        public const short MaxValue = 32767;
        public const short MinValue = -32768;
        public override string ToString() => Number.FormatSigned(m_value);
        public string ToString(string format) => Number.Format((long)m_value, format, true, sizeof(short));
        public string ToString(string format, IFormatProvider provider) => ToString(format);
        public bool Equals(short other) => m_value == other;
        public override bool Equals(object obj) => obj is short v && v == m_value;
        public override int GetHashCode() => (int)m_value;
        public int CompareTo(short other) => m_value < other ? -1 : m_value > other ? 1 : 0;
    }

    public struct UInt16 : IEquatable<ushort>, IComparable<ushort>, IFormattable
    {
        private ushort m_value;
        public const ushort MaxValue = 65535;
        public const ushort MinValue = 0;
        public override string ToString() => Number.FormatUnsigned(m_value);
        public string ToString(string format) => Number.Format((ulong)m_value, format, false, sizeof(ushort));
        public string ToString(string format, IFormatProvider provider) => ToString(format);
        public bool Equals(ushort other) => m_value == other;
        public override bool Equals(object obj) => obj is ushort v && v == m_value;
        public override int GetHashCode() => (int)m_value;
        public int CompareTo(ushort other) => m_value < other ? -1 : m_value > other ? 1 : 0;
    }

    public struct Int32 : IEquatable<int>, IComparable<int>, IFormattable
    {
        private int m_value;
        public const int MaxValue = 2147483647;
        public const int MinValue = -2147483648;
        public override string ToString() => Number.FormatSigned(m_value);
        public string ToString(string format) => Number.Format((long)m_value, format, true, sizeof(int));
        public string ToString(string format, IFormatProvider provider) => ToString(format);
        public bool Equals(int other) => m_value == other;
        public override bool Equals(object obj) => obj is int v && v == m_value;
        public override int GetHashCode() => (int)m_value;
        public int CompareTo(int other) => m_value < other ? -1 : m_value > other ? 1 : 0;
    }

    public struct UInt32 : IEquatable<uint>, IComparable<uint>, IFormattable
    {
        private uint m_value;
        public const uint MaxValue = 4294967295;
        public const uint MinValue = 0;
        public override string ToString() => Number.FormatUnsigned(m_value);
        public string ToString(string format) => Number.Format((ulong)m_value, format, false, sizeof(uint));
        public string ToString(string format, IFormatProvider provider) => ToString(format);
        public bool Equals(uint other) => m_value == other;
        public override bool Equals(object obj) => obj is uint v && v == m_value;
        public override int GetHashCode() => (int)m_value;
        public int CompareTo(uint other) => m_value < other ? -1 : m_value > other ? 1 : 0;
    }

    public struct Int64 : IEquatable<long>, IComparable<long>, IFormattable
    {
        private long m_value;
        public const long MaxValue = 9223372036854775807;
        public const long MinValue = -9223372036854775807 - 1;
        public override string ToString() => Number.FormatSigned(m_value);
        public string ToString(string format) => Number.Format((long)m_value, format, true, sizeof(long));
        public string ToString(string format, IFormatProvider provider) => ToString(format);
        public bool Equals(long other) => m_value == other;
        public override bool Equals(object obj) => obj is long v && v == m_value;
        public override int GetHashCode() => (int)m_value ^ (int)((long)m_value >> 32);
        public int CompareTo(long other) => m_value < other ? -1 : m_value > other ? 1 : 0;
    }

    public struct UInt64 : IEquatable<ulong>, IComparable<ulong>, IFormattable
    {
        private ulong m_value;
        public const ulong MaxValue = 18446744073709551615;
        public const ulong MinValue = 0;
        public override string ToString() => Number.FormatUnsigned(m_value);
        public string ToString(string format) => Number.Format((ulong)m_value, format, false, sizeof(ulong));
        public string ToString(string format, IFormatProvider provider) => ToString(format);
        public bool Equals(ulong other) => m_value == other;
        public override bool Equals(object obj) => obj is ulong v && v == m_value;
        public override int GetHashCode() => (int)m_value ^ (int)((long)m_value >> 32);
        public int CompareTo(ulong other) => m_value < other ? -1 : m_value > other ? 1 : 0;
    }

    public unsafe struct IntPtr : IEquatable<nint>
    {
        private void* _value;
        public static readonly IntPtr Zero;
        public IntPtr(int value) { _value = (void*)value; }
        public IntPtr(long value) { _value = (void*)value; }
        public IntPtr(void* value) { _value = value; }
        public static int Size => 8;
        public void* ToPointer() => _value;
        public long ToInt64() => (long)_value;
        public int ToInt32() => (int)(long)_value;
        public static explicit operator IntPtr(int value) => new IntPtr(value);
        public static explicit operator IntPtr(long value) => new IntPtr(value);
        public static explicit operator IntPtr(void* value) => new IntPtr(value);
        public static explicit operator void*(IntPtr value) => value._value;
        public static explicit operator int(IntPtr value) => (int)(long)value._value;
        public static explicit operator long(IntPtr value) => (long)value._value;
        public static bool operator ==(IntPtr a, IntPtr b) => a._value == b._value;
        public static bool operator !=(IntPtr a, IntPtr b) => a._value != b._value;
        public static IntPtr operator +(IntPtr a, int offset) => new IntPtr((byte*)a._value + offset);
        public bool Equals(nint other) => _value == (void*)other;
        public override bool Equals(object obj) => obj is nint v && (void*)v == _value;
        public override int GetHashCode() => (int)(long)_value ^ (int)((long)_value >> 32);
        public override string ToString() => Number.FormatSigned((long)_value);
    }

    public unsafe struct UIntPtr : IEquatable<nuint>
    {
        private void* _value;
        public static readonly UIntPtr Zero;
        public UIntPtr(uint value) { _value = (void*)value; }
        public UIntPtr(ulong value) { _value = (void*)value; }
        public UIntPtr(void* value) { _value = value; }
        public static int Size => 8;
        public void* ToPointer() => _value;
        public ulong ToUInt64() => (ulong)_value;
        public static explicit operator UIntPtr(uint value) => new UIntPtr(value);
        public static explicit operator UIntPtr(ulong value) => new UIntPtr(value);
        public static explicit operator UIntPtr(void* value) => new UIntPtr(value);
        public static explicit operator void*(UIntPtr value) => value._value;
        public static explicit operator ulong(UIntPtr value) => (ulong)value._value;
        public static explicit operator uint(UIntPtr value) => (uint)(ulong)value._value;
        public static bool operator ==(UIntPtr a, UIntPtr b) => a._value == b._value;
        public static bool operator !=(UIntPtr a, UIntPtr b) => a._value != b._value;
        public bool Equals(nuint other) => _value == (void*)other;
        public override bool Equals(object obj) => obj is nuint v && (void*)v == _value;
        public override int GetHashCode() => (int)(ulong)_value ^ (int)((ulong)_value >> 32);
        public override string ToString() => Number.FormatUnsigned((ulong)_value);
    }

    public struct Single
    {
        private float m_value;
        public override string ToString() => Number.FormatDouble(m_value);
    }

    public struct Double
    {
        private double m_value;
        public override string ToString() => Number.FormatDouble(m_value);
    }
}
