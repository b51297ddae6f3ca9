using System;
using System.Runtime;
using System.Runtime.CompilerServices;
using Internal.Runtime;

namespace System
{
    /// <summary>Where failed checks go. Without an unwinder every "throw" stops the kernel with a report.</summary>
    internal static unsafe class ThrowHelpers
    {
        public static void Fail(string message)
        {
            var fail = RuntimeHooks.Fail;
            if (fail != null)
                fail(message);
            while (true) { }
        }

        public static void ThrowIndexOutOfRangeException() => Fail("index out of range");
        public static void ThrowArgumentOutOfRangeException() => Fail("argument out of range");
        public static void ThrowArgumentException(string what) => Fail("invalid argument: " + what);
        public static void ThrowNullReferenceException() => Fail("null reference");
        public static void ThrowInvalidCastException() => Fail("invalid cast");
        public static void ThrowArrayTypeMismatchException() => Fail("array type mismatch");
        public static void ThrowOverflowException() => Fail("arithmetic overflow");
        public static void ThrowInvalidOperationException() => Fail("invalid operation");
        public static void ThrowKeyNotFoundException() => Fail("key not found");
        public static void ThrowNotSupported(string what) => Fail("not supported: " + what);
    }

}

namespace System.Runtime.InteropServices
{
    public interface IDynamicInterfaceCastable
    {
        bool IsInterfaceImplemented(RuntimeTypeHandle interfaceType, bool throwIfNotImplemented);
        RuntimeTypeHandle GetInterfaceImplementation(RuntimeTypeHandle interfaceType);

        // ILC looks this helper up by name even when no type implements the interface.
        private static IntPtr GetDynamicInterfaceImplementation(object instance, IntPtr interfaceType, ushort slot) => IntPtr.Zero;
    }
}

namespace Internal.Runtime.CompilerHelpers
{
    /// <summary>Targets of the range/overflow/null checks ILC emits.</summary>
    internal static class ThrowHelpers
    {
        private static void ThrowOverflowException() => System.ThrowHelpers.ThrowOverflowException();
        private static void ThrowIndexOutOfRangeException() => System.ThrowHelpers.ThrowIndexOutOfRangeException();
        private static void ThrowNullReferenceException() => System.ThrowHelpers.ThrowNullReferenceException();
        private static void ThrowDivideByZeroException() => System.ThrowHelpers.Fail("division by zero");
        private static void ThrowArrayTypeMismatchException() => System.ThrowHelpers.ThrowArrayTypeMismatchException();
        private static void ThrowPlatformNotSupportedException() => System.ThrowHelpers.Fail("platform not supported");
        private static void ThrowTypeLoadException() => System.ThrowHelpers.Fail("type load");
        private static void ThrowArgumentException() => System.ThrowHelpers.Fail("argument");
        private static void ThrowArgumentOutOfRangeException() => System.ThrowHelpers.ThrowArgumentOutOfRangeException();
        private static void ThrowInvalidProgramException() => System.ThrowHelpers.Fail("invalid program");
        private static void ThrowInvalidProgramExceptionWithArgument(int id, string methodName) => System.ThrowHelpers.Fail("invalid program");
        private static void ThrowTypeLoadExceptionWithArgument(int id, string className, string typeName) => System.ThrowHelpers.Fail("type load");
        private static void ThrowMissingMethodException(int id, string methodName) => System.ThrowHelpers.Fail("missing method");
        private static void ThrowMissingFieldException(int id, string fieldName) => System.ThrowHelpers.Fail("missing field");
        private static void ThrowFileNotFoundException(int id, string fileName) => System.ThrowHelpers.Fail("file not found");
        private static void ThrowBadImageFormatException(int id) => System.ThrowHelpers.Fail("bad image format");
        private static void ThrowMarshalDirectiveException(int id) => System.ThrowHelpers.Fail("marshal directive");
        private static void ThrowAmbiguousMatchException(int id) => System.ThrowHelpers.Fail("ambiguous match");
        private static void ThrowNotImplementedException() => System.ThrowHelpers.Fail("not implemented");
        private static void ThrowNotSupportedException() => System.ThrowHelpers.Fail("not supported");
        private static void ThrowFeatureBodyRemoved() => System.ThrowHelpers.Fail("feature body removed");
    }

    internal static unsafe class ArrayHelpers
    {
        /// <summary>Multi-dimensional arrays are not supported: only jagged ones.</summary>
        public static object NewObjArray(IntPtr type, int rank, int* pDimensions)
        {
            System.ThrowHelpers.Fail("multi-dimensional arrays are not supported");
            return null;
        }
    }

    /// <summary>
    /// Runs before any managed code: walks ILC's module headers (the __modules section) and
    /// allocates and initializes the blocks that hold static reference fields.
    /// </summary>
    public static unsafe class StartupCodeHelpers
    {
        // ReadyToRunSectionType values (ILC's ModuleHeaders.cs).
        const int GCStaticRegion = 201;
        const int FrozenObjectRegion = 206;

        const nint Uninitialized = 0x1;
        const nint HasPreInitializedData = 0x2;
        const nint FlagsMask = 0x3;
        const uint ReadyToRunSignature = 0x00525452; // "RTR"

        struct ReadyToRunHeader
        {
            public uint Signature;
            public ushort MajorVersion;
            public ushort MinorVersion;
            public uint Flags;
            public ushort NumberOfSections;
            public byte EntrySize;
            public byte EntryType;
        }

        struct ModuleInfoRow
        {
            public int SectionId;
            public int Flags;
            public byte* Start;
            public byte* End;
        }

        static IntPtr* s_modulesStart, s_modulesEnd;

        /// <summary>Initializes every module listed between modulesStart and modulesEnd; returns false on a bad header.</summary>
        public static bool InitializeModules(IntPtr* modulesStart, IntPtr* modulesEnd)
        {
            s_modulesStart = modulesStart;
            s_modulesEnd = modulesEnd;
            for (IntPtr* module = modulesStart; module < modulesEnd; module++)
            {
                var header = (ReadyToRunHeader*)*module;
                if (header == null)
                    continue;
                if (header->Signature != ReadyToRunSignature)
                    return false;
                var rows = (ModuleInfoRow*)(header + 1);
                for (int i = 0; i < header->NumberOfSections; i++)
                {
                    if (rows[i].SectionId == GCStaticRegion)
                        InitializeStatics(rows[i].Start, rows[i].End);
                }
            }
            return true;
        }

        /// <summary>
        /// Calls <paramref name="visit"/> with every static base object (the roots of all static
        /// reference fields), for the garbage collector.
        /// </summary>
        public static void EnumerateStaticBases(delegate*<nint, void> visit)
        {
            for (IntPtr* module = s_modulesStart; module < s_modulesEnd; module++)
            {
                var header = (ReadyToRunHeader*)*module;
                if (header == null || header->Signature != ReadyToRunSignature)
                    continue;
                var rows = (ModuleInfoRow*)(header + 1);
                for (int i = 0; i < header->NumberOfSections; i++)
                {
                    if (rows[i].SectionId != GCStaticRegion)
                        continue;
                    for (byte* block = rows[i].Start; block < rows[i].End; block += sizeof(int))
                    {
                        nint* pBlock = (nint*)ReadRelPtr32(block);
                        if ((*pBlock & Uninitialized) == 0)
                            visit(*pBlock);
                    }
                }
            }
        }

        static byte* ReadRelPtr32(void* address) => (byte*)address + *(int*)address;

        static void InitializeStatics(byte* start, byte* end)
        {
            for (byte* block = start; block < end; block += sizeof(int))
            {
                nint* pBlock = (nint*)ReadRelPtr32(block);
                nint blockAddr = (nint)ReadRelPtr32(pBlock);
                if ((blockAddr & Uninitialized) == 0)
                    continue;
                var type = (MethodTable*)(blockAddr & ~FlagsMask);
                object obj = RuntimeExports.AllocateObjectForStatics(type);
                if ((blockAddr & HasPreInitializedData) != 0)
                {
                    byte* preInitialized = ReadRelPtr32((int*)pBlock + 1);
                    Buffer.Memmove((byte*)Unsafe.AsPointer(ref Unsafe.As<Object.RawData>(obj).Data), preInitialized,
                        type->BaseSize - 16);
                }
                *pBlock = Unsafe.As<object, nint>(ref obj);
            }
        }
    }
}
