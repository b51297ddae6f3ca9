using System.Runtime.CompilerServices;
using Internal.Runtime;

namespace System
{
    /// <summary>Root of the type hierarchy. An object starts with its MethodTable pointer.</summary>
    public unsafe class Object
    {
#pragma warning disable 169
        // ILC requires this exact field: the object's type (its MethodTable).
        internal MethodTable* m_pEEType;
#pragma warning restore 169

        public Object() { }

        internal MethodTable* GetMethodTable() => m_pEEType;

        public virtual bool Equals(object obj) => ReferenceEquals(this, obj);

        public virtual int GetHashCode() => (int)(nint)Unsafe.AsPointer(ref Unsafe.As<RawData>(this).Data);

        public virtual string ToString() => "object";

        public static bool ReferenceEquals(object a, object b) => a == b;

        // Finalizers are not supported: nothing ever calls this.
        ~Object() { }

        internal sealed class RawData
        {
            public byte Data;
        }
    }

    public abstract class ValueType
    {
    }

    public abstract class Enum : ValueType
    {
    }

    public struct Void { }


    public abstract class Attribute { }

    [AttributeUsage(AttributeTargets.Class, Inherited = true)]
    public sealed class AttributeUsageAttribute : Attribute
    {
        public AttributeUsageAttribute(AttributeTargets validOn) { }
        public bool AllowMultiple { get; set; }
        public bool Inherited { get; set; }
    }

    [Flags]
    public enum AttributeTargets
    {
        Assembly = 0x0001, Module = 0x0002, Class = 0x0004, Struct = 0x0008, Enum = 0x0010,
        Constructor = 0x0020, Method = 0x0040, Property = 0x0080, Field = 0x0100, Event = 0x0200,
        Interface = 0x0400, Parameter = 0x0800, Delegate = 0x1000, ReturnValue = 0x2000,
        GenericParameter = 0x4000, All = 0x7FFF,
    }

    public sealed class FlagsAttribute : Attribute { }
    public sealed class ParamArrayAttribute : Attribute { }
    public sealed class ObsoleteAttribute : Attribute
    {
        public ObsoleteAttribute() { }
        public ObsoleteAttribute(string message) { }
        public ObsoleteAttribute(string message, bool error) { }
    }
    public sealed class CLSCompliantAttribute : Attribute { public CLSCompliantAttribute(bool isCompliant) { } }
    public sealed class ThreadStaticAttribute : Attribute { }

    public struct RuntimeTypeHandle
    {
        internal IntPtr _value;
        internal RuntimeTypeHandle(IntPtr value) { _value = value; }
    }

    public struct RuntimeMethodHandle { internal IntPtr _value; }
    public struct RuntimeFieldHandle { internal IntPtr _value; }

    /// <summary>Types exist only as handles here: there is no reflection.</summary>
    public abstract class Type
    {
        public abstract RuntimeTypeHandle TypeHandle { get; }
        [Intrinsic]
        public static Type GetTypeFromHandle(RuntimeTypeHandle handle) => null;
        public static bool operator ==(Type left, Type right) => (object)left == (object)right;
        public static bool operator !=(Type left, Type right) => (object)left != (object)right;
    }

    internal sealed class RuntimeType : Type
    {
        internal RuntimeTypeHandle _handle;
        public override RuntimeTypeHandle TypeHandle => _handle;
    }

    public interface IDisposable { void Dispose(); }
    public interface IEquatable<T> { bool Equals(T other); }
    public interface IComparable { int CompareTo(object obj); }
    public interface IComparable<in T> { int CompareTo(T other); }
    public interface ICloneable { object Clone(); }
    public interface IFormatProvider { }
    public interface IFormattable { string ToString(string format, IFormatProvider formatProvider); }

    public struct Nullable<T> where T : struct
    {
        private readonly bool hasValue;
        internal T value;

        public Nullable(T value)
        {
            this.value = value;
            hasValue = true;
        }

        public bool HasValue => hasValue;
        public T Value => value;
        public T GetValueOrDefault() => value;
        public T GetValueOrDefault(T defaultValue) => hasValue ? value : defaultValue;

        public static implicit operator T?(T value) => new T?(value);
        public static explicit operator T(T? value) => value.Value;
    }

    public readonly ref struct TypedReferencePlaceholder { }

    public static class Environment
    {
        public static string NewLine => "\n";
    }
}
