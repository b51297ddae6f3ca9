using System.Runtime.InteropServices;
using Kernel.Cpu;
using Kernel.Hal;
using Kernel.Memory;

namespace Kernel.Interrupts
{
    /// <summary>
    /// The interrupt descriptor table: 256 interrupt gates pointing at the stubs in
    /// Boot/native.asm (Intel SDM Vol. 3A, 6.14.1). Vector map: 0-31 CPU exceptions,
    /// 32-47 the 8259's IRQs 0-15 (masked in APIC mode), 48-239 allocated in order to I/O APIC
    /// lines and MSI/MSI-X vectors, 0x81 thread yield, 255 APIC spurious.
    /// </summary>
    internal static unsafe class Idt
    {
        public const int ExceptionCount = 32;
        public const int PicBase = 32;
        public const int MsiFirst = 48;
        public const int MsiLast = 239;
        public const int YieldVector = 0x81;
        public const int SpuriousVector = 255;
        public const int DoubleFault = 8;
        public const int PageFault = 14;
        public const int Nmi = 2;
        public const int MachineCheck = 18;

        const byte InterruptGatePresent = 0x8E;

        [StructLayout(LayoutKind.Sequential, Pack = 1)]
        struct Gate
        {
            public ushort OffsetLow;
            public ushort Selector;
            public byte Ist;
            public byte TypeAttributes;
            public ushort OffsetMiddle;
            public uint OffsetHigh;
            public uint Reserved;
        }

        [StructLayout(LayoutKind.Sequential, Pack = 1)]
        struct Pointer
        {
            public ushort Limit;
            public ulong Base;
        }

        [DllImport("*", EntryPoint = "GetInterruptStubTable")]
        static extern ulong* GetStubTable();

        public static void Initialize()
        {
            var gates = (Gate*)PhysicalMemory.AllocatePages(4096);
            ulong* stubs = GetStubTable();
            for (int v = 0; v < 256; v++)
            {
                ulong target = stubs[v];
                gates[v].OffsetLow = (ushort)target;
                gates[v].Selector = Gdt.KernelCode;
                gates[v].Ist = (byte)(v == PageFault ? Gdt.PageFaultStack :
                                      v == DoubleFault || v == Nmi || v == MachineCheck ? Gdt.DoubleFaultStack : 0);
                gates[v].TypeAttributes = InterruptGatePresent;
                gates[v].OffsetMiddle = (ushort)(target >> 16);
                gates[v].OffsetHigh = (uint)(target >> 32);
            }
            Pointer pointer;
            pointer.Limit = 256 * 16 - 1;
            pointer.Base = (ulong)gates;
            Native.LoadIdt(&pointer);
        }
    }
}
