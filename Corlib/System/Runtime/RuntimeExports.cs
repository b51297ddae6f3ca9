using System.Runtime.CompilerServices;
using Internal.Runtime;

namespace System.Runtime
{
    /// <summary>Allocation, boxing and other helpers ILC-generated code calls.</summary>
    public static unsafe class RuntimeExports
    {
        const int ObjectHeaderSize = 8; // the word before the MethodTable pointer

        internal static object AllocateObject(MethodTable* type)
        {
            byte* memory = RawAllocate(type->BaseSize);
            *(MethodTable**)(memory + ObjectHeaderSize) = type;
            return ObjectAt(memory + ObjectHeaderSize);
        }

        internal static object AllocateObjectForStatics(MethodTable* type) => AllocateObject(type);

        internal static object AllocateArray(MethodTable* type, int length)
        {
            if (length < 0)
                ThrowHelpers.ThrowOverflowException();
            ulong size = type->BaseSize + (ulong)length * type->ComponentSize;
            size = (size + 7) & ~7UL;
            byte* memory = RawAllocate((nuint)size);
            *(MethodTable**)(memory + ObjectHeaderSize) = type;
            *(int*)(memory + ObjectHeaderSize + 8) = length;
            return ObjectAt(memory + ObjectHeaderSize);
        }

        static object ObjectAt(byte* address) => Unsafe.As<IntPtr, object>(ref *(IntPtr*)&address);

        static byte* RawAllocate(nuint size)
        {
            var allocate = RuntimeHooks.Allocate;
            byte* memory = allocate == null ? null : allocate(size);
            if (memory == null)
                ThrowHelpers.Fail("out of memory");
            return memory;
        }

        [RuntimeExport("RhpNewFast")]
        static object RhpNewFast(MethodTable* type) => AllocateObject(type);

        [RuntimeExport("RhpNewFinalizable")]
        static object RhpNewFinalizable(MethodTable* type) => AllocateObject(type);

        [RuntimeExport("RhpNewArrayFast")]
        static object RhpNewArrayFast(MethodTable* type, int length) => AllocateArray(type, length);

        [RuntimeExport("RhpNewPtrArrayFast")]
        static object RhpNewPtrArrayFast(MethodTable* type, int length) => AllocateArray(type, length);

        [RuntimeExport("RhpNewArray")]
        static object RhpNewArray(MethodTable* type, int length) => AllocateArray(type, length);

        [RuntimeExport("RhNewString")]
        static object RhNewString(MethodTable* type, int length) => AllocateArray(type, length);

        [RuntimeExport("RhNewObject")]
        static object RhNewObject(MethodTable* type) => AllocateObject(type);

        [RuntimeExport("RhNewArray")]
        static object RhNewArray(MethodTable* type, int length) => AllocateArray(type, length);

        [RuntimeExport("RhBox")]
        static object RhBox(MethodTable* type, ref byte data)
        {
            object result = AllocateObject(type);
            int size = (int)type->BaseSize - 16; // minus header and MethodTable pointer
            Buffer.Memmove((byte*)Unsafe.AsPointer(ref Unsafe.As<Object.RawData>(result).Data),
                (byte*)Unsafe.AsPointer(ref data), (nuint)size);
            return result;
        }

        [RuntimeExport("RhBoxAny")]
        static object RhBoxAny(ref byte data, MethodTable* type)
        {
            if (type->IsValueType)
                return RhBox(type, ref data);
            return Unsafe.As<byte, object>(ref data);
        }

        [RuntimeExport("RhUnbox2")]
        static ref byte RhUnbox2(MethodTable* type, object obj)
        {
            if (obj == null || obj.GetMethodTable() != type)
                ThrowHelpers.ThrowInvalidCastException();
            return ref Unsafe.As<Object.RawData>(obj).Data;
        }

        [RuntimeExport("RhUnboxTypeTest")]
        static void RhUnboxTypeTest(MethodTable* type, MethodTable* boxType)
        {
            if (type != boxType)
                ThrowHelpers.ThrowInvalidCastException();
        }

        [RuntimeExport("RhUnboxNullable")]
        static void RhUnboxNullable(ref byte data, MethodTable* type, object obj) =>
            ThrowHelpers.ThrowNotSupported("unboxing Nullable<T>");

        [RuntimeExport("RhUnboxAny")]
        static void RhUnboxAny(object obj, ref byte data, MethodTable* type)
        {
            if (type->IsValueType)
            {
                if (obj == null || obj.GetMethodTable() != type)
                    ThrowHelpers.ThrowInvalidCastException();
                Buffer.Memmove((byte*)Unsafe.AsPointer(ref data),
                    (byte*)Unsafe.AsPointer(ref Unsafe.As<Object.RawData>(obj).Data), type->BaseSize - 16);
            }
            else
            {
                Unsafe.As<byte, object>(ref data) = obj;
            }
        }

        [RuntimeExport("RhGetCurrentThreadStackTrace")]
        static int RhGetCurrentThreadStackTrace(IntPtr[] outputBuffer) => 0;

        [RuntimeExport("RhpFallbackFailFast")]
        static void RhpFallbackFailFast() => ThrowHelpers.Fail("fail fast");

        [RuntimeExport("RhpThrowEx")]
        static void RhpThrowEx(object exception) => ThrowHelpers.Fail("exception thrown (exceptions are not supported in the kernel)");

        [RuntimeExport("RhpRethrow")]
        static void RhpRethrow() => ThrowHelpers.Fail("exception rethrown");

        [RuntimeExport("RhpStelemRef")]
        static void RhpStelemRef(object[] array, nint index, object obj) => TypeCast.StelemRef(array, index, obj);

        [RuntimeExport("RhpLdelemaRef")]
        static ref object RhpLdelemaRef(object[] array, nint index, IntPtr elementType) =>
            ref TypeCast.LdelemaRef(array, index, elementType);

        [RuntimeExport("RhTypeCast_IsInstanceOf")]
        static object IsInstanceOf(MethodTable* type, object obj) => TypeCast.IsInstanceOfAny(type, obj);

        [RuntimeExport("RhTypeCast_CheckCast")]
        static object CheckCast(MethodTable* type, object obj) => TypeCast.CheckCastAny(type, obj);
    }

    /// <summary>Casting helpers ILC-generated code calls for is/as/casts and array stores.</summary>
    internal static unsafe class TypeCast
    {
        internal static bool IsAssignable(MethodTable* source, MethodTable* target)
        {
            if (source == target)
                return true;
            if (target->IsInterface)
                return ImplementsInterface(source, target);
            if (source->IsArray)
            {
                if (!target->IsArray)
                    return IsArrayBaseType(target);
                MethodTable* sourceElement = source->ElementTypeHandle;
                MethodTable* targetElement = target->ElementTypeHandle;
                if (sourceElement == targetElement)
                    return true;
                return !sourceElement->IsValueType && !targetElement->IsValueType && IsAssignable(sourceElement, targetElement);
            }
            for (MethodTable* t = source->BaseType; t != null; t = t->BaseType)
                if (t == target)
                    return true;
            return false;
        }

        static bool IsArrayBaseType(MethodTable* target)
        {
            // An array is an Array and an object: the classes without a base or whose base has none.
            return target->BaseType == null || target->BaseType->BaseType == null;
        }

        internal static bool ImplementsInterface(MethodTable* source, MethodTable* target)
        {
            MethodTable** map = source->InterfaceMap;
            for (int i = 0; i < source->NumInterfaces; i++)
                if (map[i] == target)
                    return true;
            return false;
        }

        public static object IsInstanceOfAny(MethodTable* type, object obj) =>
            obj == null || IsAssignable(obj.GetMethodTable(), type) ? obj : null;

        public static object IsInstanceOfClass(MethodTable* type, object obj) => IsInstanceOfAny(type, obj);
        public static object IsInstanceOfInterface(MethodTable* type, object obj) => IsInstanceOfAny(type, obj);
        public static object IsInstanceOfException(MethodTable* type, object obj) => IsInstanceOfAny(type, obj);

        public static object CheckCastAny(MethodTable* type, object obj)
        {
            if (obj != null && !IsAssignable(obj.GetMethodTable(), type))
                ThrowHelpers.ThrowInvalidCastException();
            return obj;
        }

        public static object CheckCastClass(MethodTable* type, object obj) => CheckCastAny(type, obj);
        public static object CheckCastClassSpecial(MethodTable* type, object obj) => CheckCastAny(type, obj);
        public static object CheckCastInterface(MethodTable* type, object obj) => CheckCastAny(type, obj);

        public static void StelemRef(object[] array, nint index, object obj)
        {
            if ((nuint)index >= (nuint)array.Length)
                ThrowHelpers.ThrowIndexOutOfRangeException();
            if (obj != null && !IsAssignable(obj.GetMethodTable(), array.GetMethodTable()->ElementTypeHandle))
                ThrowHelpers.ThrowArrayTypeMismatchException();
            ref object element = ref Unsafe.As<byte, object>(ref Unsafe.Add(ref array.GetRawArrayData(), (int)index * 8));
            element = obj;
        }

        public static ref object LdelemaRef(object[] array, nint index, IntPtr elementType)
        {
            if ((nuint)index >= (nuint)array.Length)
                ThrowHelpers.ThrowIndexOutOfRangeException();
            if ((MethodTable*)elementType != array.GetMethodTable()->ElementTypeHandle)
                ThrowHelpers.ThrowArrayTypeMismatchException();
            return ref Unsafe.As<byte, object>(ref Unsafe.Add(ref array.GetRawArrayData(), (int)index * 8));
        }
    }

    /// <summary>Interface method resolution for ILC's dispatch cells, with a small cache.</summary>
    public static unsafe class InterfaceDispatch
    {
        // Dispatch cell (ILC 10): { stub, cache-or-interface }, a run of cells ends with a cell
        // whose stub is null and whose second word holds (cell type << 16) | interface slot.
        const nuint CachePointerMask = 0x3;
        const nuint IsInterfacePointer = 0x1;
        const nuint IsIndirectedInterfaceRelativePointer = 0x2;
        const nuint IsInterfaceRelativePointer = 0x3;
        const nuint MaxVTableOffsetPlusOne = 0x1000;

        struct CacheEntry
        {
            public nint Cell;
            public MethodTable* Type;
            public nint Target;
        }

        const int CacheSize = 1024; // power of two
        static CacheEntry* s_cache;

        [RuntimeExport("RhpResolveInterfaceDispatch")]
        static nint ResolveExport(object obj, nint cell) => Resolve(obj, cell);

        public static nint Resolve(object obj, nint cell)
        {
            if (obj == null)
                ThrowHelpers.ThrowNullReferenceException();
            MethodTable* type = obj.GetMethodTable();
            if (s_cache == null)
            {
                // Raw memory, not an object: it must not come from the collected heap.
                var allocate = RuntimeHooks.AllocateUnmanaged;
                s_cache = (CacheEntry*)allocate((nuint)(sizeof(CacheEntry) * CacheSize));
            }
            int slotIndex = (int)(((nuint)cell >> 4 ^ (nuint)type >> 3) & (CacheSize - 1));
            CacheEntry* entry = s_cache + slotIndex;
            if (entry->Cell == cell && entry->Type == type)
                return entry->Target;

            nint target = ResolveSlow(type, cell);
            if (target == 0)
                ThrowHelpers.Fail("interface method not found on the object's type");
            // Entries are written cell last so a reader (interrupt handler) never sees a torn entry
            // matching the wrong target.
            entry->Cell = 0;
            entry->Type = type;
            entry->Target = target;
            entry->Cell = cell;
            return target;
        }

        static nint ResolveSlow(MethodTable* type, nint cellAddress)
        {
            nuint* cell = (nuint*)cellAddress;
            nuint cache = cell[1];
            if (cache < MaxVTableOffsetPlusOne && (cache & CachePointerMask) == 0)
                return *(nint*)((byte*)type + cache);

            MethodTable* interfaceType;
            nuint kind = cache & CachePointerMask;
            if (kind == IsInterfacePointer)
            {
                interfaceType = (MethodTable*)(cache & ~CachePointerMask);
            }
            else if (kind == IsInterfaceRelativePointer || kind == IsIndirectedInterfaceRelativePointer)
            {
                byte* field = (byte*)&cell[1];
                nuint pointer = (nuint)(field + (int)(uint)cache) & ~CachePointerMask;
                interfaceType = kind == IsInterfaceRelativePointer ? (MethodTable*)pointer : *(MethodTable**)pointer;
            }
            else
            {
                return 0;
            }

            nuint* terminator = cell;
            while (terminator[0] != 0)
                terminator += 2;
            ushort slot = (ushort)(terminator[1] & 0xFFFF);
            return FindImplementation(type, interfaceType, slot);
        }

        static nint FindImplementation(MethodTable* type, MethodTable* interfaceType, ushort slot)
        {
            // Pass 1: explicit implementations up the hierarchy; pass 2: default interface methods.
            for (int pass = 0; pass < 2; pass++)
            {
                for (MethodTable* current = type; current != null; current = current->BaseType)
                {
                    if (!current->HasDispatchMap)
                        continue;
                    DispatchMap* map = current->DispatchMapPointer;
                    int first = pass == 0 ? 0 : map->StandardEntryCount;
                    int count = pass == 0 ? map->StandardEntryCount : map->DefaultEntryCount;
                    DispatchMap.Entry* entries = map->Entries;
                    for (int i = first; i < first + count; i++)
                    {
                        if (entries[i].InterfaceMethodSlot != slot)
                            continue;
                        if (current->InterfaceMap[entries[i].InterfaceIndex] != interfaceType)
                            continue;
                        ushort impl = entries[i].ImplMethodSlot;
                        if (impl < current->NumVtableSlots)
                            return type->Vtable[impl];
                        return current->GetSealedVirtualSlot(impl - current->NumVtableSlots);
                    }
                }
            }
            return 0;
        }
    }
}
