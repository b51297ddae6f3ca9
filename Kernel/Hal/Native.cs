using System.Runtime;
using System.Runtime.InteropServices;

namespace Kernel.Hal
{
    /// <summary>The assembly helpers in Boot/native.asm. Each performs exactly one instruction's work.</summary>
    internal static unsafe class Native
    {
        [DllImport("*", EntryPoint = "PortIn8")] public static extern byte PortIn8(ushort port);
        [DllImport("*", EntryPoint = "PortIn16")] public static extern ushort PortIn16(ushort port);
        [DllImport("*", EntryPoint = "PortIn32")] public static extern uint PortIn32(ushort port);
        [DllImport("*", EntryPoint = "PortOut8")] public static extern void PortOut8(ushort port, byte value);
        [DllImport("*", EntryPoint = "PortOut16")] public static extern void PortOut16(ushort port, ushort value);
        [DllImport("*", EntryPoint = "PortOut32")] public static extern void PortOut32(ushort port, uint value);

        [DllImport("*", EntryPoint = "MmioRead8")] public static extern byte MmioRead8(ulong address);
        [DllImport("*", EntryPoint = "MmioRead16")] public static extern ushort MmioRead16(ulong address);
        [DllImport("*", EntryPoint = "MmioRead32")] public static extern uint MmioRead32(ulong address);
        [DllImport("*", EntryPoint = "MmioRead64")] public static extern ulong MmioRead64(ulong address);
        [DllImport("*", EntryPoint = "MmioWrite8")] public static extern void MmioWrite8(ulong address, byte value);
        [DllImport("*", EntryPoint = "MmioWrite16")] public static extern void MmioWrite16(ulong address, ushort value);
        [DllImport("*", EntryPoint = "MmioWrite32")] public static extern void MmioWrite32(ulong address, uint value);
        [DllImport("*", EntryPoint = "MmioWrite64")] public static extern void MmioWrite64(ulong address, ulong value);

        [DllImport("*", EntryPoint = "CpuCli")] public static extern void Cli();
        [DllImport("*", EntryPoint = "CpuSti")] public static extern void Sti();
        [DllImport("*", EntryPoint = "CpuHlt")] public static extern void Hlt();
        [DllImport("*", EntryPoint = "CpuStiHlt")] public static extern void StiHlt();
        [DllImport("*", EntryPoint = "CpuPause")] public static extern void Pause();
        [DllImport("*", EntryPoint = "CpuSaveFlagsCli")] public static extern ulong SaveFlagsAndDisableInterrupts();
        [DllImport("*", EntryPoint = "CpuRestoreFlags")] public static extern void RestoreFlags(ulong flags);
        [DllImport("*", EntryPoint = "CpuReadCr0")] public static extern ulong ReadCr0();
        [DllImport("*", EntryPoint = "CpuReadCr2")] public static extern ulong ReadCr2();
        [DllImport("*", EntryPoint = "CpuReadCr3")] public static extern ulong ReadCr3();
        [DllImport("*", EntryPoint = "CpuReadCr4")] public static extern ulong ReadCr4();
        [DllImport("*", EntryPoint = "CpuWriteCr3")] public static extern void WriteCr3(ulong value);
        [DllImport("*", EntryPoint = "CpuInvlpg")] public static extern void Invlpg(ulong address);
        [DllImport("*", EntryPoint = "CpuLoadIdt")] public static extern void LoadIdt(void* pointer);
        [DllImport("*", EntryPoint = "CpuLoadGdt")] public static extern void LoadGdt(void* pointer);
        [DllImport("*", EntryPoint = "CpuLoadTr")] public static extern void LoadTr(ushort selector);
        [DllImport("*", EntryPoint = "CpuReloadSegments")] public static extern void ReloadSegments(ulong codeSelector, ulong dataSelector);
        [DllImport("*", EntryPoint = "CpuReadTsc")] public static extern ulong ReadTsc();
        [DllImport("*", EntryPoint = "CpuReadMsr")] public static extern ulong ReadMsr(uint msr);
        [DllImport("*", EntryPoint = "CpuWriteMsr")] public static extern void WriteMsr(uint msr, ulong value);
        [DllImport("*", EntryPoint = "CpuId")] public static extern void CpuId(uint leaf, uint subleaf, uint* result);
        [DllImport("*", EntryPoint = "CpuReadRbp")] public static extern ulong ReadRbp();
        [DllImport("*", EntryPoint = "GetEarlyHeap")] public static extern byte* GetEarlyHeap();
        [DllImport("*", EntryPoint = "CpuYield")] public static extern void Yield();
        [DllImport("*", EntryPoint = "KernelImageStart")] public static extern ulong KernelImageStart();
        [DllImport("*", EntryPoint = "KernelImageEnd")] public static extern ulong KernelImageEnd();
    }
}
