using System;
using System.Runtime.InteropServices;

namespace Internal.Runtime
{
    /// <summary>
    /// The runtime type descriptor ILC 10 emits for every type (what an object's first word points to).
    /// Layout: flags, base size, related type, vtable slot count, interface count, hash, then the
    /// vtable, the interface map and optional relative pointers (type manager, writable data,
    /// dispatch map, finalizer, sealed virtual slots).
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct MethodTable
    {
        public uint Flags;
        public uint BaseSize;
        public MethodTable* RelatedType;   // base type, or element type for arrays
        public ushort NumVtableSlots;
        public ushort NumInterfaces;
        public uint HashCode;

        public const int HeaderSize = 24;

        // Flag bits (ILC 10: Internal.Runtime.EETypeFlags).
        const uint EETypeKindMask = 0x00030000;
        const uint HasDispatchMapFlag = 0x00040000;
        const uint IsDynamicTypeFlag = 0x00080000;
        const uint HasFinalizerFlag = 0x00100000;
        const uint HasSealedVTableEntriesFlag = 0x00400000;
        const uint GenericVarianceFlag = 0x00800000;
        const uint HasPointersFlag = 0x01000000;
        const uint IsGenericFlag = 0x02000000;
        const uint ElementTypeMask = 0x7C000000;
        const int ElementTypeShift = 26;
        const uint HasComponentSizeFlag = 0x80000000;

        // Element types (EETypeElementType).
        public const int ElementTypeClass = 0x14;
        public const int ElementTypeInterface = 0x15;
        public const int ElementTypeArray = 0x17;
        public const int ElementTypeSzArray = 0x18;
        public const int ElementTypeNullable = 0x12;

        public ushort ComponentSize => HasComponentSize ? (ushort)(Flags & 0xFFFF) : (ushort)0;
        public bool HasComponentSize => (Flags & HasComponentSizeFlag) != 0;
        public bool HasDispatchMap => (Flags & HasDispatchMapFlag) != 0;
        public bool HasFinalizer => (Flags & HasFinalizerFlag) != 0;
        public bool HasSealedVirtuals => (Flags & HasSealedVTableEntriesFlag) != 0;
        public bool HasPointers => (Flags & HasPointersFlag) != 0;
        public int ElementType => (int)((Flags & ElementTypeMask) >> ElementTypeShift);
        public bool IsInterface => ElementType == ElementTypeInterface;
        public bool IsArray => ElementType == ElementTypeArray || ElementType == ElementTypeSzArray;
        public bool IsValueType => ElementType < ElementTypeClass;
        public bool IsNullable => ElementType == ElementTypeNullable;
        public bool IsParameterized => (Flags & EETypeKindMask) == 0x00020000;

        /// <summary>The base class (null for object and interfaces); arrays derive from System.Array.</summary>
        public MethodTable* BaseType => IsArray || IsParameterized ? null : RelatedType;

        /// <summary>The element type of an array.</summary>
        public MethodTable* ElementTypeHandle => RelatedType;

        public nint* Vtable
        {
            get { fixed (MethodTable* self = &this) return (nint*)((byte*)self + HeaderSize); }
        }

        public MethodTable** InterfaceMap => (MethodTable**)(Vtable + NumVtableSlots);

        /// <summary>Address just after the interface map, where optional relative pointers start.</summary>
        byte* OptionalFields => (byte*)(InterfaceMap + NumInterfaces);

        static void* ReadRelativePointer(byte* location) => location + *(int*)location;

        public DispatchMap* DispatchMapPointer
        {
            get
            {
                // type manager (rel32), writable data (rel32), then the dispatch map (rel32)
                byte* p = OptionalFields + 4 + 4;
                return (DispatchMap*)ReadRelativePointer(p);
            }
        }

        public nint GetSealedVirtualSlot(int index)
        {
            byte* p = OptionalFields + 4 + 4;
            if (HasDispatchMap) p += 4;
            if (HasFinalizer) p += 4;
            int* table = (int*)ReadRelativePointer(p);
            return (nint)((byte*)&table[index] + table[index]);
        }
    }

    /// <summary>Interface slot -> implementation slot map of a type (ILC's DispatchMap).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct DispatchMap
    {
        public ushort StandardEntryCount;
        public ushort DefaultEntryCount;
        public ushort StandardStaticEntryCount;
        public ushort DefaultStaticEntryCount;

        [StructLayout(LayoutKind.Sequential)]
        public struct Entry
        {
            public ushort InterfaceIndex;
            public ushort InterfaceMethodSlot;
            public ushort ImplMethodSlot;
        }

        public Entry* Entries
        {
            get { fixed (DispatchMap* self = &this) return (Entry*)((byte*)self + 8); }
        }
    }

    /// <summary>Hooks the kernel installs into the runtime before the first allocation.</summary>
    public static unsafe class RuntimeHooks
    {
        /// <summary>Returns zeroed memory for an object of the given size (header included), or null.</summary>
        public static delegate*<nuint, byte*> Allocate;

        /// <summary>Returns zeroed memory that is never collected or moved (runtime tables), or null.</summary>
        public static delegate*<nuint, byte*> AllocateUnmanaged;

        /// <summary>Stops the system with a message (never returns).</summary>
        public static delegate*<string, void> Fail;
    }
}
