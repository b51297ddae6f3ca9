using System.Runtime.CompilerServices;

namespace System.Collections.Generic
{
    public class List<T> : IReadOnlyList<T>
    {
        T[] _items;
        int _size;
        int _version;

        public List() { _items = new T[4]; }
        public List(int capacity) { _items = new T[capacity < 4 ? 4 : capacity]; }

        public int Count => _size;
        public int Capacity => _items.Length;

        public T this[int index]
        {
            get
            {
                if ((uint)index >= (uint)_size) ThrowHelpers.ThrowArgumentOutOfRangeException();
                return _items[index];
            }
            set
            {
                if ((uint)index >= (uint)_size) ThrowHelpers.ThrowArgumentOutOfRangeException();
                _items[index] = value;
                _version++;
            }
        }

        void EnsureCapacity(int min)
        {
            if (min <= _items.Length) return;
            int size = _items.Length * 2;
            if (size < min) size = min;
            T[] larger = new T[size];
            for (int i = 0; i < _size; i++) larger[i] = _items[i];
            _items = larger;
        }

        public void Add(T item)
        {
            EnsureCapacity(_size + 1);
            _items[_size++] = item;
            _version++;
        }

        public void AddRange(List<T> items)
        {
            for (int i = 0; i < items.Count; i++) Add(items[i]);
        }

        public void Insert(int index, T item)
        {
            if ((uint)index > (uint)_size) ThrowHelpers.ThrowArgumentOutOfRangeException();
            EnsureCapacity(_size + 1);
            for (int i = _size; i > index; i--) _items[i] = _items[i - 1];
            _items[index] = item;
            _size++;
            _version++;
        }

        public int IndexOf(T item)
        {
            for (int i = 0; i < _size; i++)
                if (EqualityComparer<T>.Equal(_items[i], item)) return i;
            return -1;
        }

        public bool Contains(T item) => IndexOf(item) >= 0;

        public bool Remove(T item)
        {
            int index = IndexOf(item);
            if (index < 0) return false;
            RemoveAt(index);
            return true;
        }

        public void RemoveAt(int index)
        {
            if ((uint)index >= (uint)_size) ThrowHelpers.ThrowArgumentOutOfRangeException();
            _size--;
            for (int i = index; i < _size; i++) _items[i] = _items[i + 1];
            _items[_size] = default;
            _version++;
        }

        public int RemoveAll(Predicate<T> match)
        {
            int kept = 0;
            for (int i = 0; i < _size; i++)
                if (!match(_items[i])) _items[kept++] = _items[i];
            int removed = _size - kept;
            for (int i = kept; i < _size; i++) _items[i] = default;
            _size = kept;
            _version++;
            return removed;
        }

        public T Find(Predicate<T> match)
        {
            for (int i = 0; i < _size; i++)
                if (match(_items[i])) return _items[i];
            return default;
        }

        public int FindIndex(Predicate<T> match)
        {
            for (int i = 0; i < _size; i++)
                if (match(_items[i])) return i;
            return -1;
        }

        public bool Exists(Predicate<T> match) => FindIndex(match) >= 0;

        public void Clear()
        {
            for (int i = 0; i < _size; i++) _items[i] = default;
            _size = 0;
            _version++;
        }

        public T[] ToArray()
        {
            T[] result = new T[_size];
            for (int i = 0; i < _size; i++) result[i] = _items[i];
            return result;
        }

        /// <summary>Insertion sort: stable, allocation-free, fine for the small lists the kernel keeps.</summary>
        public void Sort(Comparison<T> comparison)
        {
            for (int i = 1; i < _size; i++)
            {
                T item = _items[i];
                int j = i - 1;
                while (j >= 0 && comparison(_items[j], item) > 0)
                {
                    _items[j + 1] = _items[j];
                    j--;
                }
                _items[j + 1] = item;
            }
            _version++;
        }

        public void Reverse()
        {
            for (int i = 0, j = _size - 1; i < j; i++, j--)
            {
                T t = _items[i];
                _items[i] = _items[j];
                _items[j] = t;
            }
        }

        public Enumerator GetEnumerator() => new Enumerator(this);
        IEnumerator<T> IEnumerable<T>.GetEnumerator() => new BoxedEnumerator(this);
        IEnumerator IEnumerable.GetEnumerator() => new BoxedEnumerator(this);

        public struct Enumerator
        {
            readonly List<T> _list;
            int _index;
            public Enumerator(List<T> list) { _list = list; _index = -1; }
            public T Current => _list._items[_index];
            public bool MoveNext() => ++_index < _list._size;
            public void Dispose() { }
        }

        sealed class BoxedEnumerator : IEnumerator<T>
        {
            readonly List<T> _list;
            int _index = -1;
            public BoxedEnumerator(List<T> list) { _list = list; }
            public T Current => _list._items[_index];
            object IEnumerator.Current => Current;
            public bool MoveNext() => ++_index < _list._size;
            public void Reset() => _index = -1;
            public void Dispose() { }
        }
    }

    public class Queue<T>
    {
        T[] _items = new T[8];
        int _head, _count;

        public int Count => _count;

        public void Enqueue(T item)
        {
            if (_count == _items.Length)
            {
                T[] larger = new T[_items.Length * 2];
                for (int i = 0; i < _count; i++) larger[i] = _items[(_head + i) % _items.Length];
                _items = larger;
                _head = 0;
            }
            _items[(_head + _count) % _items.Length] = item;
            _count++;
        }

        public T Dequeue()
        {
            if (_count == 0) ThrowHelpers.ThrowInvalidOperationException();
            T item = _items[_head];
            _items[_head] = default;
            _head = (_head + 1) % _items.Length;
            _count--;
            return item;
        }

        public bool TryDequeue(out T item)
        {
            if (_count == 0) { item = default; return false; }
            item = Dequeue();
            return true;
        }

        public T Peek()
        {
            if (_count == 0) ThrowHelpers.ThrowInvalidOperationException();
            return _items[_head];
        }

        public void Clear()
        {
            for (int i = 0; i < _items.Length; i++) _items[i] = default;
            _head = _count = 0;
        }
    }
}
