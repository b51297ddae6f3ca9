using System.Runtime.CompilerServices;

namespace System.Threading
{
    /// <summary>Atomic operations. [Intrinsic] methods are expanded by the compiler to lock-prefixed instructions.</summary>
    public static unsafe class Interlocked
    {
        [Intrinsic] public static int CompareExchange(ref int location, int value, int comparand) => CompareExchange(ref location, value, comparand);
        [Intrinsic] public static long CompareExchange(ref long location, long value, long comparand) => CompareExchange(ref location, value, comparand);
        [Intrinsic] public static int Exchange(ref int location, int value) => Exchange(ref location, value);
        [Intrinsic] public static long Exchange(ref long location, long value) => Exchange(ref location, value);
        [Intrinsic] public static int ExchangeAdd(ref int location, int value) => ExchangeAdd(ref location, value);
        [Intrinsic] public static long ExchangeAdd(ref long location, long value) => ExchangeAdd(ref location, value);

        public static uint CompareExchange(ref uint location, uint value, uint comparand) =>
            (uint)CompareExchange(ref Unsafe.As<uint, int>(ref location), (int)value, (int)comparand);
        public static ulong CompareExchange(ref ulong location, ulong value, ulong comparand) =>
            (ulong)CompareExchange(ref Unsafe.As<ulong, long>(ref location), (long)value, (long)comparand);

        public static object CompareExchange(ref object location, object value, object comparand) =>
            CompareExchange<object>(ref location, value, comparand);

        public static T CompareExchange<T>(ref T location, T value, T comparand) where T : class
        {
            long result = CompareExchange(ref Unsafe.As<T, long>(ref location), Unsafe.As<T, long>(ref value), Unsafe.As<T, long>(ref comparand));
            return Unsafe.As<long, T>(ref result);
        }

        public static T Exchange<T>(ref T location, T value) where T : class
        {
            long result = Exchange(ref Unsafe.As<T, long>(ref location), Unsafe.As<T, long>(ref value));
            return Unsafe.As<long, T>(ref result);
        }

        public static int Increment(ref int location) => ExchangeAdd(ref location, 1) + 1;
        public static int Decrement(ref int location) => ExchangeAdd(ref location, -1) - 1;
        public static long Increment(ref long location) => ExchangeAdd(ref location, 1) + 1;
        public static long Decrement(ref long location) => ExchangeAdd(ref location, -1) - 1;
        public static int Add(ref int location, int value) => ExchangeAdd(ref location, value) + value;
        public static long Add(ref long location, long value) => ExchangeAdd(ref location, value) + value;
        public static long Read(ref long location) => CompareExchange(ref location, 0, 0);
        public static void MemoryBarrier() { int x = 0; Exchange(ref x, 0); }
    }

    /// <summary>Volatile accesses: each call re-reads memory (never hoisted out of a loop).</summary>
    public static unsafe class Volatile
    {
        struct VolatileInt32 { public volatile int Value; }
        struct VolatileUInt32 { public volatile uint Value; }
        struct VolatileIntPtr { public volatile nint Value; }
        struct VolatileBoolean { public volatile bool Value; }
        struct VolatileObject { public volatile object Value; }

        [Intrinsic] public static int Read(ref int location) => Unsafe.As<int, VolatileInt32>(ref location).Value;
        [Intrinsic] public static uint Read(ref uint location) => Unsafe.As<uint, VolatileUInt32>(ref location).Value;
        [Intrinsic] public static long Read(ref long location) => Unsafe.As<long, VolatileIntPtr>(ref location).Value;
        [Intrinsic] public static ulong Read(ref ulong location) => (ulong)Unsafe.As<ulong, VolatileIntPtr>(ref location).Value;
        [Intrinsic] public static bool Read(ref bool location) => Unsafe.As<bool, VolatileBoolean>(ref location).Value;
        [Intrinsic] public static void Write(ref int location, int value) => Unsafe.As<int, VolatileInt32>(ref location).Value = value;
        [Intrinsic] public static void Write(ref uint location, uint value) => Unsafe.As<uint, VolatileUInt32>(ref location).Value = value;
        [Intrinsic] public static void Write(ref long location, long value) => Unsafe.As<long, VolatileIntPtr>(ref location).Value = (nint)value;
        [Intrinsic] public static void Write(ref ulong location, ulong value) => Unsafe.As<ulong, VolatileIntPtr>(ref location).Value = (nint)value;
        [Intrinsic] public static void Write(ref bool location, bool value) => Unsafe.As<bool, VolatileBoolean>(ref location).Value = value;
        public static T Read<T>(ref T location) where T : class => Unsafe.As<T>(Unsafe.As<T, VolatileObject>(ref location).Value);
        public static void Write<T>(ref T location, T value) where T : class => Unsafe.As<T, VolatileObject>(ref location).Value = value;
    }

    /// <summary>
    /// The lock statement. The kernel installs the implementation (Kernel/Threading) at boot;
    /// before that (single thread, interrupts off) locks are no-ops.
    /// </summary>
    public static class Monitor
    {
        public interface IImplementation
        {
            void Enter(object obj);
            void Exit(object obj);
        }

        static IImplementation s_implementation;

        public static void Install(IImplementation implementation) => s_implementation = implementation;

        public static void Enter(object obj)
        {
            IImplementation impl = s_implementation;
            if (impl != null) impl.Enter(obj);
        }

        public static void Enter(object obj, ref bool lockTaken)
        {
            Enter(obj);
            lockTaken = true;
        }

        public static void Exit(object obj)
        {
            IImplementation impl = s_implementation;
            if (impl != null) impl.Exit(obj);
        }
    }
}
