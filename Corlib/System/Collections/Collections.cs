namespace System.Collections
{
    public interface IEnumerable { IEnumerator GetEnumerator(); }
    public interface IEnumerator
    {
        object Current { get; }
        bool MoveNext();
        void Reset();
    }
}

namespace System.Collections.Generic
{
    public interface IEnumerable<out T> : IEnumerable { new IEnumerator<T> GetEnumerator(); }
    public interface IEnumerator<out T> : IEnumerator, IDisposable { new T Current { get; } }
    public interface IReadOnlyCollection<out T> : IEnumerable<T> { int Count { get; } }
    public interface IReadOnlyList<out T> : IReadOnlyCollection<T> { T this[int index] { get; } }
    public interface IEqualityComparer<in T>
    {
        bool Equals(T x, T y);
        int GetHashCode(T obj);
    }

    /// <summary>Equality for generic collections. Value types are compared through Equals(object).</summary>
    public static class EqualityComparer<T>
    {
        public static bool Equal(T a, T b)
        {
            if (a == null) return b == null;
            if (b == null) return false;
            return a.Equals(b);
        }

        public static int Hash(T value) => value == null ? 0 : value.GetHashCode();
    }

    public struct KeyValuePair<TKey, TValue>
    {
        public KeyValuePair(TKey key, TValue value) { Key = key; Value = value; }
        public TKey Key { get; }
        public TValue Value { get; }
    }
}
