using System.Runtime.CompilerServices;

namespace System
{
    /// <summary>Block memory helpers ILC calls for struct copies and initialization.</summary>
    internal static unsafe class SpanHelpers
    {
        public static void Memmove(ref byte destination, ref byte source, nuint length) =>
            Buffer.Memmove((byte*)Unsafe.AsPointer(ref destination), (byte*)Unsafe.AsPointer(ref source), length);

        public static void Fill(ref byte destination, nuint length, byte value)
        {
            byte* p = (byte*)Unsafe.AsPointer(ref destination);
            for (nuint i = 0; i < length; i++) p[i] = value;
        }

        public static void ClearWithoutReferences(ref byte destination, nuint length) =>
            Buffer.ZeroMemory((byte*)Unsafe.AsPointer(ref destination), length);
    }
}

namespace Internal.Runtime.CompilerHelpers
{
    using System;

    internal static class LdTokenHelpers
    {
        private static RuntimeTypeHandle GetRuntimeTypeHandle(IntPtr type) => new RuntimeTypeHandle(type);
        private static Type GetRuntimeType(IntPtr type) => new RuntimeType { _handle = new RuntimeTypeHandle(type) };
        private static RuntimeMethodHandle GetRuntimeMethodHandle(IntPtr method) => default;
        private static RuntimeFieldHandle GetRuntimeFieldHandle(IntPtr field) => default;
    }
}
