using System;
using System.Runtime;
using System.Runtime.InteropServices;
using Internal.Runtime.CompilerHelpers;

namespace Kernel.Runtime
{
    /// <summary>The first C# code: called by Boot/boot.asm in long mode on the boot stack.</summary>
    internal static unsafe class Entry
    {
        [UnmanagedCallersOnly(EntryPoint = "KernelMain")]
        static void KernelMain(uint multibootMagic, uint multibootInfo, IntPtr* modulesStart, IntPtr* modulesEnd)
        {
            Kernel.Hal.Native.PortOut8(0x3F8, (byte)'H');
            Kernel.Hal.Native.PortOut8(0x3F8, (byte)'\n');
            while (true) Kernel.Hal.Native.Hlt();
        }
    }
}
namespace Kernel.Runtime
{
    internal static unsafe class TempStubs
    {
        [UnmanagedCallersOnly(EntryPoint = "InterruptDispatch")]
        static ulong InterruptDispatch(ulong frame) => frame;
        [UnmanagedCallersOnly(EntryPoint = "ThreadTrampoline")]
        static void ThreadTrampoline() { }
    }
}
