namespace System
{
    public static unsafe class Buffer
    {
        /// <summary>Copies bytes; handles overlapping ranges.</summary>
        public static void Memmove(byte* destination, byte* source, nuint length)
        {
            if (destination == source || length == 0) return;
            if (destination < source || destination >= source + length)
            {
                nuint i = 0;
                for (; i + 8 <= length; i += 8) *(ulong*)(destination + i) = *(ulong*)(source + i);
                for (; i < length; i++) destination[i] = source[i];
            }
            else
            {
                nuint i = length;
                while (i >= 8) { i -= 8; *(ulong*)(destination + i) = *(ulong*)(source + i); }
                while (i > 0) { i--; destination[i] = source[i]; }
            }
        }

        public static void ZeroMemory(byte* destination, nuint length)
        {
            nuint i = 0;
            for (; i + 8 <= length; i += 8) *(ulong*)(destination + i) = 0;
            for (; i < length; i++) destination[i] = 0;
        }

        // ILC helpers: block copies (with a write barrier for references: a plain copy here).
        internal static void BulkMoveWithWriteBarrier(ref byte destination, ref byte source, nuint byteCount) =>
            Memmove((byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref destination), (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref source), byteCount);

        public static void MemoryCopy(void* source, void* destination, long destinationSizeInBytes, long sourceBytesToCopy) =>
            Memmove((byte*)destination, (byte*)source, (nuint)sourceBytesToCopy);
    }

    public static class Math
    {
        public static int Min(int a, int b) => a < b ? a : b;
        public static int Max(int a, int b) => a > b ? a : b;
        public static uint Min(uint a, uint b) => a < b ? a : b;
        public static uint Max(uint a, uint b) => a > b ? a : b;
        public static long Min(long a, long b) => a < b ? a : b;
        public static long Max(long a, long b) => a > b ? a : b;
        public static ulong Min(ulong a, ulong b) => a < b ? a : b;
        public static ulong Max(ulong a, ulong b) => a > b ? a : b;
        public static int Abs(int value) => value < 0 ? -value : value;
        public static long Abs(long value) => value < 0 ? -value : value;
        public static int Clamp(int value, int min, int max) => value < min ? min : value > max ? max : value;
    }

    // Exceptions exist so that code compiles; throwing one stops the kernel with a report
    // (see ThrowHelpers and Kernel/Runtime/Panic.cs): there is no unwinder.
    public class Exception
    {
        public Exception() { }
        public Exception(string message) { Message = message; }
        public Exception(string message, Exception inner) { Message = message; }
        public virtual string Message { get; }
    }
    public class SystemException : Exception { public SystemException() { } public SystemException(string m) : base(m) { } }
    public sealed class NotSupportedException : SystemException { public NotSupportedException() { } public NotSupportedException(string m) : base(m) { } }
    public sealed class NotImplementedException : SystemException { public NotImplementedException() { } public NotImplementedException(string m) : base(m) { } }
    public sealed class InvalidOperationException : SystemException { public InvalidOperationException() { } public InvalidOperationException(string m) : base(m) { } }
    public class ArgumentException : SystemException { public ArgumentException() { } public ArgumentException(string m) : base(m) { } }
    public sealed class ArgumentNullException : ArgumentException { public ArgumentNullException() { } public ArgumentNullException(string m) : base(m) { } }
    public sealed class ArgumentOutOfRangeException : ArgumentException { public ArgumentOutOfRangeException() { } public ArgumentOutOfRangeException(string m) : base(m) { } }
    public sealed class IndexOutOfRangeException : SystemException { public IndexOutOfRangeException() { } }
    public sealed class NullReferenceException : SystemException { public NullReferenceException() { } }
    public sealed class OverflowException : SystemException { public OverflowException() { } }
    public sealed class InvalidCastException : SystemException { public InvalidCastException() { } }
    public sealed class OutOfMemoryException : SystemException { public OutOfMemoryException() { } }
    public sealed class DivideByZeroException : SystemException { public DivideByZeroException() { } }
    public sealed class PlatformNotSupportedException : SystemException { public PlatformNotSupportedException() { } }
}
