using System.Runtime.InteropServices;

namespace Kernel.Interrupts
{
    /// <summary>
    /// What Boot/native.asm's interrupt_common saves, lowest address first: the general registers
    /// it pushes, then the vector and error code, then what the CPU pushes (Intel SDM Vol. 3A, 6.14.1).
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct InterruptFrame
    {
        public ulong R15, R14, R13, R12, R11, R10, R9, R8, Rbp, Rdi, Rsi, Rdx, Rcx, Rbx, Rax;
        public ulong Vector, ErrorCode;
        public ulong Rip, Cs, Rflags, Rsp, Ss;
    }

    /// <summary>The saved context handed to InterruptDispatch: the FXSAVE area, then a pointer to the registers.</summary>
    internal unsafe struct SavedContext
    {
        public const int FxsaveSize = 512;
        public static InterruptFrame* Registers(ulong context) => *(InterruptFrame**)(context + FxsaveSize);
    }
}
