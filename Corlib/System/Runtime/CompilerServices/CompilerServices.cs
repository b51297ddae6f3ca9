namespace System.Runtime.CompilerServices
{
    [AttributeUsage(AttributeTargets.All)] public sealed class IntrinsicAttribute : Attribute { }
    public sealed class IsVolatile { }
    public sealed class IsConst { }
    public sealed class IsExternalInit { }
    public sealed class ExtensionAttribute : Attribute { }
    public sealed class IsReadOnlyAttribute : Attribute { }
    public sealed class IsByRefLikeAttribute : Attribute { }
    public sealed class IsUnmanagedAttribute : Attribute { }
    public sealed class CompilerGeneratedAttribute : Attribute { }
    public sealed class ScopedRefAttribute : Attribute { }
    public sealed class RequiresLocationAttribute : Attribute { }
    public sealed class ParamCollectionAttribute : Attribute { }
    public sealed class NullableAttribute : Attribute { public NullableAttribute(byte b) { } public NullableAttribute(byte[] b) { } }
    public sealed class NullableContextAttribute : Attribute { public NullableContextAttribute(byte b) { } }
    public sealed class NullablePublicOnlyAttribute : Attribute { public NullablePublicOnlyAttribute(bool b) { } }
    public sealed class RefSafetyRulesAttribute : Attribute { public RefSafetyRulesAttribute(int version) { } }
    public sealed class IteratorStateMachineAttribute : Attribute { public IteratorStateMachineAttribute(Type t) { } }
    public sealed class AsyncStateMachineAttribute : Attribute { public AsyncStateMachineAttribute(Type t) { } }
    public sealed class CallerMemberNameAttribute : Attribute { }
    public sealed class CallerFilePathAttribute : Attribute { }
    public sealed class CallerLineNumberAttribute : Attribute { }
    public sealed class CallerArgumentExpressionAttribute : Attribute { public CallerArgumentExpressionAttribute(string p) { } }
    public sealed class InterpolatedStringHandlerAttribute : Attribute { }
    public sealed class InterpolatedStringHandlerArgumentAttribute : Attribute { public InterpolatedStringHandlerArgumentAttribute(string a) { } }
    public sealed class TupleElementNamesAttribute : Attribute { public TupleElementNamesAttribute(string[] names) { } }
    public sealed class SkipLocalsInitAttribute : Attribute { }
    public sealed class InlineArrayAttribute : Attribute { public InlineArrayAttribute(int length) { } }
    public sealed class IndexerNameAttribute : Attribute { public IndexerNameAttribute(string name) { } }
    public sealed class FixedBufferAttribute : Attribute { public FixedBufferAttribute(Type t, int length) { } }
    public sealed class UnsafeValueTypeAttribute : Attribute { }
    public sealed class RuntimeCompatibilityAttribute : Attribute { public bool WrapNonExceptionThrows { get; set; } }
    public sealed class CompilationRelaxationsAttribute : Attribute { public CompilationRelaxationsAttribute(int r) { } }

    public static class RuntimeFeature
    {
        public const string ByRefFields = nameof(ByRefFields);
        public const string DefaultImplementationsOfInterfaces = nameof(DefaultImplementationsOfInterfaces);
        public const string UnmanagedSignatureCallingConvention = nameof(UnmanagedSignatureCallingConvention);
        public const string NumericIntPtr = nameof(NumericIntPtr);
        public const string VirtualStaticsInInterfaces = nameof(VirtualStaticsInInterfaces);
    }

    public enum MethodImplOptions
    {
        Unmanaged = 0x0004, NoInlining = 0x0008, ForwardRef = 0x0010, Synchronized = 0x0020,
        NoOptimization = 0x0040, PreserveSig = 0x0080, AggressiveInlining = 0x0100,
        AggressiveOptimization = 0x0200, InternalCall = 0x1000,
    }

    [AttributeUsage(AttributeTargets.Method | AttributeTargets.Constructor)]
    public sealed class MethodImplAttribute : Attribute
    {
        public MethodImplAttribute(MethodImplOptions options) { }
        public MethodImplAttribute() { }
    }

    public static unsafe class RuntimeHelpers
    {
        [Intrinsic]
        public static void InitializeArray(Array array, RuntimeFieldHandle fieldHandle) =>
            ThrowHelpers.ThrowNotSupported("RuntimeHelpers.InitializeArray was not expanded by the compiler");

        public static int OffsetToStringData => 12;

        [Intrinsic]
        public static bool IsReferenceOrContainsReferences<T>() => true;

        public static int GetHashCode(object o) => o == null ? 0 : (int)(long)Unsafe.AsPointer(ref Unsafe.As<Object.RawData>(o).Data);

        public static bool Equals(object a, object b) => a == b;

        [Intrinsic]
        public static bool IsKnownConstant(int value) => false;
    }

    /// <summary>Raw memory tricks. The compiler replaces each [Intrinsic] with inline code.</summary>
    public static unsafe class Unsafe
    {
        [Intrinsic] public static extern T As<T>(object o) where T : class;
        [Intrinsic] public static extern ref TTo As<TFrom, TTo>(ref TFrom source);
        [Intrinsic] public static extern void* AsPointer<T>(ref T value);
        [Intrinsic] public static extern ref T AsRef<T>(void* source);
        [Intrinsic] public static extern ref T AsRef<T>(scoped ref readonly T source);
        [Intrinsic] public static extern int SizeOf<T>();
        [Intrinsic] public static extern ref T Add<T>(ref T source, int elementOffset);
        [Intrinsic] public static extern ref T Add<T>(ref T source, nint elementOffset);
        [Intrinsic] public static extern void* Add<T>(void* source, int elementOffset);
        [Intrinsic] public static extern ref T AddByteOffset<T>(ref T source, nint byteOffset);
        [Intrinsic] public static extern ref T AddByteOffset<T>(ref T source, nuint byteOffset);
        [Intrinsic] public static extern nint ByteOffset<T>(ref readonly T origin, ref readonly T target);
        [Intrinsic] public static extern bool AreSame<T>(ref readonly T left, ref readonly T right);
        [Intrinsic] public static extern bool IsAddressGreaterThan<T>(ref readonly T left, ref readonly T right);
        [Intrinsic] public static extern bool IsAddressLessThan<T>(ref readonly T left, ref readonly T right);
        [Intrinsic] public static extern bool IsNullRef<T>(ref readonly T source);
        [Intrinsic] public static extern ref T NullRef<T>();
        [Intrinsic] public static extern T Read<T>(void* source);
        [Intrinsic] public static extern void Write<T>(void* destination, T value);
        [Intrinsic] public static extern T ReadUnaligned<T>(void* source);
        [Intrinsic] public static extern T ReadUnaligned<T>(ref readonly byte source);
        [Intrinsic] public static extern void WriteUnaligned<T>(void* destination, T value);
        [Intrinsic] public static extern void WriteUnaligned<T>(ref byte destination, T value);
        [Intrinsic] public static extern void SkipInit<T>(out T value);
    }

    /// <summary>Builds interpolated strings ($"..."): literals and values appended in order.</summary>
    [InterpolatedStringHandler]
    public ref struct DefaultInterpolatedStringHandler
    {
        System.Text.StringBuilder _builder;

        public DefaultInterpolatedStringHandler(int literalLength, int formattedCount)
        {
            _builder = new System.Text.StringBuilder(literalLength + formattedCount * 8);
        }

        public void AppendLiteral(string value) => _builder.Append(value);

        public void AppendFormatted(string value) => _builder.Append(value);

        public void AppendFormatted<T>(T value)
        {
            if (value != null) _builder.Append(value.ToString());
        }

        public void AppendFormatted<T>(T value, string format)
        {
            if (value is IFormattable formattable) _builder.Append(formattable.ToString(format, null));
            else if (value != null) _builder.Append(value.ToString());
        }

        public void AppendFormatted<T>(T value, int alignment)
        {
            string text = value == null ? "" : value.ToString();
            Align(text, alignment);
        }

        public void AppendFormatted<T>(T value, int alignment, string format)
        {
            string text = value is IFormattable f ? f.ToString(format, null) : value == null ? "" : value.ToString();
            Align(text, alignment);
        }

        void Align(string text, int alignment)
        {
            if (alignment > 0) _builder.Append(' ', alignment - text.Length).Append(text);
            else _builder.Append(text).Append(' ', -alignment - text.Length);
        }

        public override string ToString() => _builder.ToString();
        public string ToStringAndClear() => _builder.ToString();
    }

    /// <summary>Runs static constructors lazily, on first use of the type (ILC calls these).</summary>
    internal static unsafe class ClassConstructorRunner
    {
        private static object CheckStaticClassConstructionReturnGCStaticBase(StaticClassConstructionContext* context, object gcStaticBase)
        {
            EnsureClassConstructorRun(context);
            return gcStaticBase;
        }

        private static IntPtr CheckStaticClassConstructionReturnNonGCStaticBase(StaticClassConstructionContext* context, IntPtr nonGcStaticBase)
        {
            EnsureClassConstructorRun(context);
            return nonGcStaticBase;
        }

        public static void EnsureClassConstructorRun(StaticClassConstructionContext* context)
        {
            IntPtr cctor = context->cctorMethodAddress;
            if (cctor == IntPtr.Zero)
                return;
            // Mark first so a recursive use during the constructor sees it as run (as the CLR does
            // on the same thread).
            context->cctorMethodAddress = IntPtr.Zero;
            ((delegate*<void>)cctor)();
        }
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    public struct StaticClassConstructionContext
    {
        public IntPtr cctorMethodAddress;
    }
}

namespace System.Runtime.InteropServices
{
    using System.Runtime.CompilerServices;

    public enum LayoutKind { Sequential = 0, Explicit = 2, Auto = 3 }
    public enum CharSet { None = 1, Ansi = 2, Unicode = 3, Auto = 4 }
    public enum CallingConvention { Winapi = 1, Cdecl = 2, StdCall = 3, ThisCall = 4, FastCall = 5 }

    public sealed class StructLayoutAttribute : Attribute
    {
        public StructLayoutAttribute(LayoutKind layoutKind) { }
        public int Pack;
        public int Size;
        public CharSet CharSet;
    }

    public sealed class FieldOffsetAttribute : Attribute { public FieldOffsetAttribute(int offset) { } }
    public sealed class InAttribute : Attribute { }
    public sealed class OutAttribute : Attribute { }
    public sealed class OptionalAttribute : Attribute { }
    public sealed class UnmanagedCallersOnlyAttribute : Attribute
    {
        public string EntryPoint;
        public Type[] CallConvs;
    }
    public sealed class DllImportAttribute : Attribute
    {
        public DllImportAttribute(string dllName) { }
        public string EntryPoint;
        public CallingConvention CallingConvention;
    }

    public static unsafe class MemoryMarshal
    {
        [Intrinsic]
        public static ref T GetArrayDataReference<T>(T[] array) =>
            ref Unsafe.As<byte, T>(ref array.GetRawArrayData());

        public static Span<T> CreateSpan<T>(ref T reference, int length) => new Span<T>(ref reference, length);
        public static ReadOnlySpan<T> CreateReadOnlySpan<T>(ref readonly T reference, int length) =>
            new ReadOnlySpan<T>(ref Unsafe.AsRef(in reference), length);
        public static ref T GetReference<T>(Span<T> span) => ref span._reference;
        public static ref T GetReference<T>(ReadOnlySpan<T> span) => ref span._reference;

        public static Span<TTo> Cast<TFrom, TTo>(Span<TFrom> span) where TFrom : struct where TTo : struct =>
            new Span<TTo>(ref Unsafe.As<TFrom, TTo>(ref span._reference), span.Length * Unsafe.SizeOf<TFrom>() / Unsafe.SizeOf<TTo>());
    }
}

namespace System.Runtime
{
    /// <summary>Exports a method under a symbol name for native (assembly) callers.</summary>
    [AttributeUsage(AttributeTargets.Method)]
    public sealed class RuntimeExportAttribute : Attribute
    {
        public RuntimeExportAttribute(string entry) { }
    }

    [AttributeUsage(AttributeTargets.Method)]
    public sealed class RuntimeImportAttribute : Attribute
    {
        public RuntimeImportAttribute(string entry) { }
        public RuntimeImportAttribute(string dllName, string entry) { }
    }
}

namespace System.Diagnostics.CodeAnalysis
{
    public sealed class UnscopedRefAttribute : Attribute { }
    public sealed class NotNullWhenAttribute : Attribute { public NotNullWhenAttribute(bool b) { } }
    public sealed class MaybeNullWhenAttribute : Attribute { public MaybeNullWhenAttribute(bool b) { } }
    public sealed class DoesNotReturnAttribute : Attribute { }
}

namespace System.Diagnostics
{
    public sealed class ConditionalAttribute : Attribute { public ConditionalAttribute(string s) { } }
    public sealed class DebuggerHiddenAttribute : Attribute { }
    public sealed class DebuggerStepThroughAttribute : Attribute { }
    public sealed class DebuggableAttribute : Attribute
    {
        public enum DebuggingModes { None = 0, Default = 1, DisableOptimizations = 256, IgnoreSymbolStoreSequencePoints = 2, EnableEditAndContinue = 4 }
        public DebuggableAttribute(DebuggingModes modes) { }
        public DebuggableAttribute(bool a, bool b) { }
    }
}

namespace System.Reflection
{
    public sealed class DefaultMemberAttribute : Attribute { public DefaultMemberAttribute(string memberName) { } }
    public sealed class AssemblyTitleAttribute : Attribute { public AssemblyTitleAttribute(string s) { } }
}

namespace System.Runtime.Versioning
{
    public sealed class TargetFrameworkAttribute : Attribute { public TargetFrameworkAttribute(string s) { } public string FrameworkDisplayName { get; set; } }
    public sealed class NonVersionableAttribute : Attribute { }
}
