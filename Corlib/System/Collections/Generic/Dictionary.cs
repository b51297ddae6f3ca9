namespace System.Collections.Generic
{
    /// <summary>Hash map with separate chaining over index arrays (no per-entry allocation).</summary>
    public class Dictionary<TKey, TValue> : IEnumerable<KeyValuePair<TKey, TValue>>
    {
        struct Entry
        {
            public int HashCode; // -1 when the slot is free
            public int Next;
            public TKey Key;
            public TValue Value;
        }

        int[] _buckets;   // 1-based index into _entries, 0 = empty
        Entry[] _entries;
        int _count;       // slots used in _entries (including freed ones)
        int _freeList = -1;
        int _freeCount;

        public Dictionary() : this(8) { }

        public Dictionary(int capacity)
        {
            int size = 8;
            while (size < capacity) size *= 2;
            _buckets = new int[size];
            _entries = new Entry[size];
        }

        public int Count => _count - _freeCount;

        static int HashOf(TKey key) => EqualityComparer<TKey>.Hash(key) & 0x7FFFFFFF;

        int FindEntry(TKey key)
        {
            int hash = HashOf(key);
            for (int i = _buckets[hash % _buckets.Length] - 1; i >= 0; i = _entries[i].Next)
                if (_entries[i].HashCode == hash && EqualityComparer<TKey>.Equal(_entries[i].Key, key))
                    return i;
            return -1;
        }

        public bool ContainsKey(TKey key) => FindEntry(key) >= 0;

        public bool TryGetValue(TKey key, out TValue value)
        {
            int i = FindEntry(key);
            if (i >= 0) { value = _entries[i].Value; return true; }
            value = default;
            return false;
        }

        public TValue this[TKey key]
        {
            get
            {
                int i = FindEntry(key);
                if (i < 0) ThrowHelpers.ThrowKeyNotFoundException();
                return _entries[i].Value;
            }
            set => Insert(key, value, false);
        }

        public void Add(TKey key, TValue value) => Insert(key, value, true);

        public bool TryAdd(TKey key, TValue value)
        {
            if (FindEntry(key) >= 0) return false;
            Insert(key, value, true);
            return true;
        }

        void Insert(TKey key, TValue value, bool add)
        {
            int existing = FindEntry(key);
            if (existing >= 0)
            {
                if (add) ThrowHelpers.ThrowArgumentException("duplicate key");
                _entries[existing].Value = value;
                return;
            }
            int index;
            if (_freeCount > 0)
            {
                index = _freeList;
                _freeList = _entries[index].Next;
                _freeCount--;
            }
            else
            {
                if (_count == _entries.Length) Resize();
                index = _count++;
            }
            int hash = HashOf(key);
            int bucket = hash % _buckets.Length;
            _entries[index].HashCode = hash;
            _entries[index].Key = key;
            _entries[index].Value = value;
            _entries[index].Next = _buckets[bucket] - 1;
            _buckets[bucket] = index + 1;
        }

        void Resize()
        {
            int size = _entries.Length * 2;
            var entries = new Entry[size];
            for (int i = 0; i < _count; i++) entries[i] = _entries[i];
            var buckets = new int[size];
            for (int i = 0; i < _count; i++)
            {
                if (entries[i].HashCode < 0) continue;
                int bucket = entries[i].HashCode % size;
                entries[i].Next = buckets[bucket] - 1;
                buckets[bucket] = i + 1;
            }
            _entries = entries;
            _buckets = buckets;
        }

        public bool Remove(TKey key)
        {
            int hash = HashOf(key);
            int bucket = hash % _buckets.Length;
            int previous = -1;
            for (int i = _buckets[bucket] - 1; i >= 0; previous = i, i = _entries[i].Next)
            {
                if (_entries[i].HashCode != hash || !EqualityComparer<TKey>.Equal(_entries[i].Key, key))
                    continue;
                if (previous < 0) _buckets[bucket] = _entries[i].Next + 1;
                else _entries[previous].Next = _entries[i].Next;
                _entries[i].HashCode = -1;
                _entries[i].Key = default;
                _entries[i].Value = default;
                _entries[i].Next = _freeList;
                _freeList = i;
                _freeCount++;
                return true;
            }
            return false;
        }

        public void Clear()
        {
            for (int i = 0; i < _buckets.Length; i++) _buckets[i] = 0;
            for (int i = 0; i < _count; i++) _entries[i] = default;
            _count = 0;
            _freeList = -1;
            _freeCount = 0;
        }

        public List<TKey> KeysList()
        {
            var keys = new List<TKey>(Count);
            for (int i = 0; i < _count; i++)
                if (_entries[i].HashCode >= 0) keys.Add(_entries[i].Key);
            return keys;
        }

        public Enumerator GetEnumerator() => new Enumerator(this);
        IEnumerator<KeyValuePair<TKey, TValue>> IEnumerable<KeyValuePair<TKey, TValue>>.GetEnumerator() => new BoxedEnumerator(this);
        IEnumerator IEnumerable.GetEnumerator() => new BoxedEnumerator(this);

        public struct Enumerator
        {
            readonly Dictionary<TKey, TValue> _dictionary;
            int _index;
            public Enumerator(Dictionary<TKey, TValue> dictionary) { _dictionary = dictionary; _index = -1; }
            public KeyValuePair<TKey, TValue> Current =>
                new KeyValuePair<TKey, TValue>(_dictionary._entries[_index].Key, _dictionary._entries[_index].Value);
            public bool MoveNext()
            {
                while (++_index < _dictionary._count)
                    if (_dictionary._entries[_index].HashCode >= 0) return true;
                return false;
            }
            public void Dispose() { }
        }

        sealed class BoxedEnumerator : IEnumerator<KeyValuePair<TKey, TValue>>
        {
            Enumerator _inner;
            public BoxedEnumerator(Dictionary<TKey, TValue> d) { _inner = new Enumerator(d); }
            public KeyValuePair<TKey, TValue> Current => _inner.Current;
            object IEnumerator.Current => null;
            public bool MoveNext() => _inner.MoveNext();
            public void Reset() { }
            public void Dispose() { }
        }
    }
}
