using System.Runtime.InteropServices;
using Kernel.Hal;
using Kernel.Memory;

namespace Kernel.Cpu
{
    /// <summary>
    /// Global descriptor table with a 64-bit TSS whose interrupt stack table gives page faults,
    /// double faults, NMIs and machine checks known-good stacks (Intel SDM Vol. 3A, 3.4.5, 6.14.5
    /// and 7.7): a kernel stack that overflows into its guard page faults, and the page fault must
    /// not be delivered onto that same exhausted stack, or the crash report could never print.
    /// Each IST stack has an unmapped guard page below it too.
    /// </summary>
    internal static unsafe class Gdt
    {
        public const ushort KernelCode = 0x08;
        public const ushort KernelData = 0x10;
        public const ushort TaskState = 0x18;

        // IST indexes (1-7; 0 in a gate means "stay on the current stack").
        public const int DoubleFaultStack = 1; // double fault, NMI, machine check
        public const int PageFaultStack = 2;
        const ulong IstStackSize = 16 * 1024;
        const ulong GuardSize = 4096;

        [StructLayout(LayoutKind.Sequential, Pack = 1)]
        struct TaskStateSegment
        {
            public uint Reserved0;
            public ulong Rsp0, Rsp1, Rsp2;
            public ulong Reserved1;
            public ulong Ist1, Ist2, Ist3, Ist4, Ist5, Ist6, Ist7;
            public ulong Reserved2;
            public ushort Reserved3;
            public ushort IoMapBase;
        }

        [StructLayout(LayoutKind.Sequential, Pack = 1)]
        struct Pointer
        {
            public ushort Limit;
            public ulong Base;
        }

        static ulong* s_table;
        static TaskStateSegment* s_tss;

        public static void Initialize()
        {
            s_table = (ulong*)PhysicalMemory.AllocatePages(4096);
            s_tss = (TaskStateSegment*)PhysicalMemory.AllocatePages(4096);
            s_tss->Ist1 = AllocateIstStack();
            s_tss->Ist2 = AllocateIstStack();
            s_tss->IoMapBase = (ushort)sizeof(TaskStateSegment);

            s_table[0] = 0;
            s_table[1] = 0x00AF9A000000FFFF; // 64-bit code, present, ring 0
            s_table[2] = 0x00CF92000000FFFF; // data, present, writable
            ulong tssBase = (ulong)s_tss;
            ulong tssLimit = (ulong)sizeof(TaskStateSegment) - 1;
            const ulong TssAvailable64 = 0x89UL << 40;
            s_table[3] = (tssLimit & 0xFFFF) | (tssBase & 0xFFFFFF) << 16 | TssAvailable64 |
                         ((tssLimit >> 16) & 0xF) << 48 | ((tssBase >> 24) & 0xFF) << 56;
            s_table[4] = tssBase >> 32;

            Pointer pointer;
            pointer.Limit = 5 * 8 - 1;
            pointer.Base = (ulong)s_table;
            Native.LoadGdt(&pointer);
            Native.ReloadSegments(KernelCode, KernelData);
            Native.LoadTr(TaskState);
        }

        /// <summary>A guard page (unmapped) and a stack above it; returns the stack top (the IST entry).</summary>
        static ulong AllocateIstStack()
        {
            ulong allocation = PhysicalMemory.AllocatePages(GuardSize + IstStackSize);
            Paging.UnmapPage(allocation);
            return allocation + GuardSize + IstStackSize;
        }
    }
}
