namespace System.Text
{
    public sealed class StringBuilder
    {
        char[] _chars;
        int _length;

        public StringBuilder() : this(16) { }
        public StringBuilder(int capacity) { _chars = new char[capacity < 16 ? 16 : capacity]; }
        public StringBuilder(string value) : this(value == null ? 16 : value.Length + 16) { Append(value); }

        public int Length
        {
            get => _length;
            set { if (value >= 0 && value <= _length) _length = value; }
        }

        public char this[int index] => _chars[index];

        void Grow(int extra)
        {
            if (_length + extra <= _chars.Length) return;
            int size = _chars.Length * 2;
            while (size < _length + extra) size *= 2;
            char[] larger = new char[size];
            for (int i = 0; i < _length; i++) larger[i] = _chars[i];
            _chars = larger;
        }

        public StringBuilder Append(char c)
        {
            Grow(1);
            _chars[_length++] = c;
            return this;
        }

        public StringBuilder Append(char c, int repeat)
        {
            for (int i = 0; i < repeat; i++) Append(c);
            return this;
        }

        public StringBuilder Append(string s)
        {
            if (s == null) return this;
            Grow(s.Length);
            for (int i = 0; i < s.Length; i++) _chars[_length++] = s[i];
            return this;
        }

        public StringBuilder Append(int value) => Append(value.ToString());
        public StringBuilder Append(uint value) => Append(value.ToString());
        public StringBuilder Append(long value) => Append(value.ToString());
        public StringBuilder Append(ulong value) => Append(value.ToString());
        public StringBuilder Append(object value) => value == null ? this : Append(value.ToString());
        public StringBuilder AppendLine() => Append('\n');
        public StringBuilder AppendLine(string s) => Append(s).Append('\n');
        public StringBuilder Clear() { _length = 0; return this; }
        public override string ToString() => new string(_chars, 0, _length);
    }
}
