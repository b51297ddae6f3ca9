using System.Collections;
using System.Collections.Generic;
using System.Runtime;
using System.Runtime.CompilerServices;
using Internal.Runtime;

namespace System
{
    /// <summary>Base of all arrays. Layout fixed by ILC: MethodTable, 32-bit length, padding, elements.</summary>
    public abstract unsafe class Array
    {
        // ILC requires this exact field.
        private readonly int _numComponents;

        public int Length => _numComponents;
        public long LongLength => _numComponents;
        public int Rank => 1;

        public static T[] Empty<T>() => EmptyArray<T>.Value;

        static class EmptyArray<T>
        {
            internal static readonly T[] Value = new T[0];
        }

        internal ref byte GetRawArrayData() =>
            ref Unsafe.AddByteOffset(ref Unsafe.As<RawArrayData>(this).Data, 0);

        internal sealed class RawArrayData
        {
            public uint Length;
            public uint Padding;
            public byte Data;
        }

        internal int ElementSize => GetMethodTable()->ComponentSize;

        /// <summary>Copies elements between arrays of the same element type (overlap allowed).</summary>
        public static void Copy(Array source, int sourceIndex, Array destination, int destinationIndex, int length)
        {
            if (source == null || destination == null || length < 0 || sourceIndex < 0 || destinationIndex < 0 ||
                sourceIndex + length > source.Length || destinationIndex + length > destination.Length ||
                source.GetMethodTable() != destination.GetMethodTable())
                ThrowHelpers.ThrowArgumentOutOfRangeException();
            int size = source.ElementSize;
            byte* src = (byte*)Unsafe.AsPointer(ref source.GetRawArrayData()) + sourceIndex * size;
            byte* dst = (byte*)Unsafe.AsPointer(ref destination.GetRawArrayData()) + destinationIndex * size;
            Buffer.Memmove(dst, src, (nuint)(length * size));
        }

        public static void Copy(Array source, Array destination, int length) => Copy(source, 0, destination, 0, length);

        public static void Clear(Array array, int index, int length)
        {
            if (array == null || index < 0 || length < 0 || index + length > array.Length)
                ThrowHelpers.ThrowArgumentOutOfRangeException();
            int size = array.ElementSize;
            Buffer.ZeroMemory((byte*)Unsafe.AsPointer(ref array.GetRawArrayData()) + index * size, (nuint)(length * size));
        }

        public static void Clear(Array array) => Clear(array, 0, array.Length);

        public static int IndexOf<T>(T[] array, T value)
        {
            for (int i = 0; i < array.Length; i++)
                if (EqualityComparer<T>.Equal(array[i], value)) return i;
            return -1;
        }

        public static void Resize<T>(ref T[] array, int newSize)
        {
            T[] larger = new T[newSize];
            if (array != null)
            {
                int count = array.Length < newSize ? array.Length : newSize;
                for (int i = 0; i < count; i++) larger[i] = array[i];
            }
            array = larger;
        }
    }

    // ILC requires Array<T>: the base of T[] for generic interface purposes.
    public class Array<T> : Array, IEnumerable<T>
    {
        public IEnumerator<T> GetEnumerator() => new ArrayEnumerator<T>(Unsafe.As<T[]>(this));
        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    internal sealed class ArrayEnumerator<T> : IEnumerator<T>
    {
        readonly T[] _array;
        int _index = -1;
        public ArrayEnumerator(T[] array) { _array = array; }
        public T Current => _array[_index];
        object IEnumerator.Current => Current;
        public bool MoveNext() => ++_index < _array.Length;
        public void Reset() => _index = -1;
        public void Dispose() { }
    }
}
