using Kernel.Console;
using Kernel.Hal;
using Kernel.Interrupts;
using Kernel.Memory;
using Platform;

namespace Kernel.Runtime
{
    /// <summary>
    /// The crash report: what went wrong, where (RIP mapped to a method name through the symbol
    /// module the build puts on the ISO), the registers and a frame-pointer backtrace. Ends a QEMU
    /// run through isa-debug-exit with <see cref="QemuExit.Panic"/>; a real machine halts.
    /// </summary>
    internal static unsafe class Panic
    {
        static bool s_inPanic;
        const ulong PageFaultVector = 14;
        const ulong DoubleFaultVector = 8;

        static readonly string[] ExceptionNames =
        {
            "Divide error", "Debug", "NMI", "Breakpoint", "Overflow", "BOUND range exceeded", "Invalid opcode",
            "Device not available", "Double fault", "Coprocessor segment overrun", "Invalid TSS",
            "Segment not present", "Stack-segment fault", "General protection fault", "Page fault", "Reserved",
            "x87 floating-point error", "Alignment check", "Machine check", "SIMD floating-point exception",
            "Virtualization exception", "Control protection exception",
        };

        public static string ExceptionName(ulong vector) =>
            vector < (ulong)ExceptionNames.Length ? ExceptionNames[(int)vector] : "Exception " + Format.Decimal(vector);

        /// <summary>A CPU exception in kernel code.</summary>
        public static void FromException(InterruptFrame* frame)
        {
            Native.Cli();
            if (s_inPanic) Stop();
            s_inPanic = true;
            var w = new System.Text.StringBuilder();
            // An overflow faults on the guard page; pushing that fault's frame faults again, which the
            // CPU turns into a double fault on its own stack: CR2 still names the guard page.
            bool pageFault = frame->Vector == PageFaultVector || frame->Vector == DoubleFaultVector;
            Threading.KernelThread overflowed = pageFault ? Threading.Scheduler.GuardPageOwner(Native.ReadCr2()) : null;
            w.Append("\nKERNEL PANIC: ");
            if (overflowed != null)
                w.Append("stack overflow in thread ").Append(overflowed.Name).Append(" (hit its guard page): ");
            w.Append(ExceptionName(frame->Vector)).Append(" (vector ")
             .Append(Format.Decimal(frame->Vector)).Append(", error code 0x").Append(Format.Hex(frame->ErrorCode)).Append(")\n");
            w.Append("  RIP    0x").Append(Format.Hex(frame->Rip, 16)).Append("  ").Append(Symbols.Describe(frame->Rip)).Append('\n');
            w.Append("  CR2    0x").Append(Format.Hex(Native.ReadCr2(), 16)).Append(frame->Vector == PageFaultVector ? PageFaultReason(frame->ErrorCode) : "").Append('\n');
            w.Append("  thread ").Append(Threading.Scheduler.CurrentName).Append('\n');
            Reg(w, "RAX", frame->Rax); Reg(w, "RBX", frame->Rbx); Reg(w, "RCX", frame->Rcx); Reg(w, "RDX", frame->Rdx); w.Append('\n');
            Reg(w, "RSI", frame->Rsi); Reg(w, "RDI", frame->Rdi); Reg(w, "RBP", frame->Rbp); Reg(w, "RSP", frame->Rsp); w.Append('\n');
            Reg(w, "R8 ", frame->R8); Reg(w, "R9 ", frame->R9); Reg(w, "R10", frame->R10); Reg(w, "R11", frame->R11); w.Append('\n');
            Reg(w, "R12", frame->R12); Reg(w, "R13", frame->R13); Reg(w, "R14", frame->R14); Reg(w, "R15", frame->R15); w.Append('\n');
            Reg(w, "CS ", frame->Cs); Reg(w, "SS ", frame->Ss); Reg(w, "RFL", frame->Rflags); Reg(w, "CR3", Native.ReadCr3()); w.Append('\n');
            Backtrace(w, frame->Rbp);
            KernelConsole.Write(w.ToString());
            Stop();
        }

        /// <summary>A failed runtime check (index out of range, null reference, out of memory ...).</summary>
        public static void FromRuntime(string message)
        {
            Native.Cli();
            if (s_inPanic) Stop();
            s_inPanic = true;
            var w = new System.Text.StringBuilder();
            w.Append("\nKERNEL PANIC: ").Append(message).Append('\n');
            w.Append("  thread ").Append(Threading.Scheduler.CurrentName).Append('\n');
            Backtrace(w, Native.ReadRbp());
            KernelConsole.Write(w.ToString());
            Stop();
        }

        static string PageFaultReason(ulong errorCode)
        {
            string access = (errorCode & 2) != 0 ? "write" : (errorCode & 16) != 0 ? "instruction fetch" : "read";
            string kind = (errorCode & 1) != 0 ? "protection violation" : "page not present";
            return "  (" + access + ", " + kind + ")";
        }

        static void Reg(System.Text.StringBuilder w, string name, ulong value) =>
            w.Append("  ").Append(name).Append(' ').Append(Format.Hex(value, 16));

        static void Backtrace(System.Text.StringBuilder w, ulong rbp)
        {
            w.Append("  backtrace:\n");
            for (int depth = 0; depth < 12 && rbp != 0 && (rbp & 7) == 0 && Paging.IsMapped(rbp) && Paging.IsMapped(rbp + 8); depth++)
            {
                ulong returnAddress = *(ulong*)(rbp + 8);
                if (returnAddress == 0) break;
                w.Append("    0x").Append(Format.Hex(returnAddress, 16)).Append("  ").Append(Symbols.Describe(returnAddress)).Append('\n');
                ulong next = *(ulong*)rbp;
                if (next <= rbp) break;
                rbp = next;
            }
        }

        static void Stop()
        {
            QemuExit.Exit(QemuExit.Panic);
            while (true) Native.Hlt();
        }
    }

    /// <summary>Ends a QEMU run through isa-debug-exit (port 0xf4): QEMU exits with (value &lt;&lt; 1) | 1.</summary>
    internal static class QemuExit
    {
        const ushort DebugExitPort = 0xF4;
        public const byte Success = 0x10; // QEMU exit status 33
        public const byte Panic = 0x11;   // QEMU exit status 35

        public static void Exit(byte value) => Native.PortOut32(DebugExitPort, value);
    }
}
