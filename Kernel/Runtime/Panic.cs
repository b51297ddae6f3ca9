using Kernel.Console;
using Kernel.Hal;
using Kernel.Interrupts;
using Kernel.Memory;
using Kernel.Threading;

namespace Kernel.Runtime
{
    /// <summary>
    /// The crash report: what went wrong, where (RIP mapped to a method name through the symbol
    /// module the build puts on the ISO), the registers and a frame-pointer backtrace. Ends a QEMU
    /// run through isa-debug-exit with <see cref="QemuExit.Panic"/>; a real machine halts.
    /// The report allocates nothing on the heap (the heap may be what failed, or be locked): it is
    /// written piece by piece, numbers formatted into stack buffers, straight to COM1 and the screen.
    /// Page faults and double faults run on their own stacks (<see cref="Cpu.Gdt"/>), so a stack
    /// overflow into a guard page still gets its report: "stack overflow in &lt;method&gt;".
    /// </summary>
    internal static unsafe class Panic
    {
        static bool s_inPanic;
        const ulong PageFaultVector = 14;
        const ulong DoubleFaultVector = 8;
        const int RegisterDigits = 16;
        const int BacktraceDepth = 12;
        // Queued log lines go out first, waiting this long for a stalled serial line to move.
        const ulong LogFlushStallLimitUs = 2_000_000;
        // Page fault error code bits (Intel SDM Vol. 3A, 4.7).
        const ulong PageFaultPresent = 1 << 0, PageFaultWrite = 1 << 1, PageFaultFetch = 1 << 4;

        /// <summary>A CPU exception in kernel code.</summary>
        public static void FromException(InterruptFrame* frame)
        {
            Native.Cli();
            if (s_inPanic) Stop();
            s_inPanic = true;
            KernelConsole.Flush(LogFlushStallLimitUs);

            ulong cr2 = Native.ReadCr2();
            // An overflow faults on a guard page: the page fault (or, if its delivery faulted too,
            // the double fault) runs on its own IST stack, and CR2 names the guard page.
            bool pageFault = frame->Vector == PageFaultVector || frame->Vector == DoubleFaultVector;
            KernelThread overflowed = pageFault ? Scheduler.GuardPageOwner(cr2) : null;
            PanicWriter.Text("\nKERNEL PANIC: ");
            if (overflowed != null)
            {
                PanicWriter.Text("stack overflow in ");
                PanicWriter.Symbol(frame->Rip);
                PanicWriter.Text(" (thread ");
                PanicWriter.Text(overflowed.Name);
                PanicWriter.Text(" hit its guard page): ");
            }
            PanicWriter.Text(ExceptionName(frame->Vector));
            if (frame->Vector > LastNamedVector)
            {
                PanicWriter.Char(' ');
                PanicWriter.Decimal(frame->Vector);
            }
            PanicWriter.Text(" (vector ");
            PanicWriter.Decimal(frame->Vector);
            PanicWriter.Text(", error code 0x");
            PanicWriter.Hex(frame->ErrorCode);
            PanicWriter.Text(")\n  RIP    0x");
            PanicWriter.Hex(frame->Rip, RegisterDigits);
            PanicWriter.Text("  ");
            PanicWriter.Symbol(frame->Rip);
            PanicWriter.Text("\n  CR2    0x");
            PanicWriter.Hex(cr2, RegisterDigits);
            if (frame->Vector == PageFaultVector) PageFaultReason(frame->ErrorCode);
            PanicWriter.Text("\n  thread ");
            PanicWriter.Text(Scheduler.CurrentName);
            PanicWriter.Char('\n');
            Reg("RAX", frame->Rax); Reg("RBX", frame->Rbx); Reg("RCX", frame->Rcx); Reg("RDX", frame->Rdx); PanicWriter.Char('\n');
            Reg("RSI", frame->Rsi); Reg("RDI", frame->Rdi); Reg("RBP", frame->Rbp); Reg("RSP", frame->Rsp); PanicWriter.Char('\n');
            Reg("R8 ", frame->R8); Reg("R9 ", frame->R9); Reg("R10", frame->R10); Reg("R11", frame->R11); PanicWriter.Char('\n');
            Reg("R12", frame->R12); Reg("R13", frame->R13); Reg("R14", frame->R14); Reg("R15", frame->R15); PanicWriter.Char('\n');
            Reg("CS ", frame->Cs); Reg("SS ", frame->Ss); Reg("RFL", frame->Rflags); Reg("CR3", Native.ReadCr3()); PanicWriter.Char('\n');
            Backtrace(frame->Rbp);
            Stop();
        }

        /// <summary>A failed runtime check (index out of range, null reference, out of memory ...).</summary>
        public static void FromRuntime(string message) => FromRuntime(message, null, 0);

        /// <summary>The same with a number after the message (written without allocating: "... thread 3").</summary>
        public static void FromRuntime(string message, string numberLabel, ulong number)
        {
            Native.Cli();
            if (s_inPanic) Stop();
            s_inPanic = true;
            KernelConsole.Flush(LogFlushStallLimitUs);
            PanicWriter.Text("\nKERNEL PANIC: ");
            PanicWriter.Text(message);
            if (numberLabel != null)
            {
                PanicWriter.Text(numberLabel);
                PanicWriter.Decimal(number);
            }
            PanicWriter.Text("\n  thread ");
            PanicWriter.Text(Scheduler.CurrentName);
            PanicWriter.Char('\n');
            Backtrace(Native.ReadRbp());
            Stop();
        }

        const ulong LastNamedVector = 21;

        /// <summary>The SDM's name of an exception vector (Intel SDM Vol. 3A, table 6-1); literals only, no allocation.</summary>
        static string ExceptionName(ulong vector) => vector switch
        {
            0 => "Divide error", 1 => "Debug", 2 => "NMI", 3 => "Breakpoint", 4 => "Overflow",
            5 => "BOUND range exceeded", 6 => "Invalid opcode", 7 => "Device not available", 8 => "Double fault",
            9 => "Coprocessor segment overrun", 10 => "Invalid TSS", 11 => "Segment not present",
            12 => "Stack-segment fault", 13 => "General protection fault", 14 => "Page fault", 15 => "Reserved",
            16 => "x87 floating-point error", 17 => "Alignment check", 18 => "Machine check",
            19 => "SIMD floating-point exception", 20 => "Virtualization exception", 21 => "Control protection exception",
            _ => "Exception",
        };

        static void PageFaultReason(ulong errorCode)
        {
            PanicWriter.Text("  (");
            PanicWriter.Text((errorCode & PageFaultWrite) != 0 ? "write" : (errorCode & PageFaultFetch) != 0 ? "instruction fetch" : "read");
            PanicWriter.Text(", ");
            PanicWriter.Text((errorCode & PageFaultPresent) != 0 ? "protection violation" : "page not present");
            PanicWriter.Char(')');
        }

        static void Reg(string name, ulong value)
        {
            PanicWriter.Text("  ");
            PanicWriter.Text(name);
            PanicWriter.Char(' ');
            PanicWriter.Hex(value, RegisterDigits);
        }

        static void Backtrace(ulong rbp)
        {
            PanicWriter.Text("  backtrace:\n");
            for (int depth = 0; depth < BacktraceDepth && rbp != 0 && (rbp & 7) == 0 && Paging.IsMapped(rbp) && Paging.IsMapped(rbp + 8); depth++)
            {
                ulong returnAddress = *(ulong*)(rbp + 8);
                if (returnAddress == 0) break;
                PanicWriter.Text("    0x");
                PanicWriter.Hex(returnAddress, RegisterDigits);
                PanicWriter.Text("  ");
                PanicWriter.Symbol(returnAddress);
                PanicWriter.Char('\n');
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

    /// <summary>
    /// The crash report's output: characters straight to COM1 (waiting for the UART, bounded) and the
    /// screen, bypassing the console queue. Numbers are formatted into stack buffers; nothing here
    /// touches the heap.
    /// </summary>
    internal static unsafe class PanicWriter
    {
        const int MaxHexDigits = 16, MaxDecimalDigits = 20;

        public static void Char(char c)
        {
            Serial.Write(c);
            Screen.Write(c);
        }

        public static void Text(string text)
        {
            for (int i = 0; i < text.Length; i++) Char(text[i]);
        }

        /// <summary>Lower-case hexadecimal with exactly <paramref name="digits"/> digits.</summary>
        public static void Hex(ulong value, int digits)
        {
            for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4)
                Char(HexDigit((int)(value >> shift) & 0xF));
        }

        /// <summary>Lower-case hexadecimal with as many digits as needed.</summary>
        public static void Hex(ulong value)
        {
            int digits = 1;
            for (ulong v = value >> 4; v != 0 && digits < MaxHexDigits; v >>= 4) digits++;
            Hex(value, digits);
        }

        public static void Decimal(ulong value)
        {
            char* buffer = stackalloc char[MaxDecimalDigits];
            int position = MaxDecimalDigits;
            do
            {
                buffer[--position] = (char)('0' + (int)(value % 10));
                value /= 10;
            } while (value != 0);
            while (position < MaxDecimalDigits) Char(buffer[position++]);
        }

        /// <summary>"Name+0x1c" from the symbols module, or "?".</summary>
        public static void Symbol(ulong address)
        {
            if (!Symbols.Lookup(address, out byte* name, out int length, out ulong offset))
            {
                Char('?');
                return;
            }
            for (int i = 0; i < length; i++) Char((char)name[i]);
            Text("+0x");
            Hex(offset);
        }

        static char HexDigit(int value) => (char)(value < 10 ? '0' + value : 'a' + value - 10);
    }

    /// <summary>Ends a QEMU run through isa-debug-exit (port 0xf4): QEMU exits with (value &lt;&lt; 1) | 1.</summary>
    internal static class QemuExit
    {
        const ushort DebugExitPort = 0xF4;
        public const byte Success = 0x10; // QEMU exit status 33
        public const byte Panic = 0x11;   // QEMU exit status 35

        /// <summary>Sends the queued log lines first, so the last lines before the exit are not lost.</summary>
        public static void Exit(byte value)
        {
            KernelConsole.Flush();
            Native.PortOut32(DebugExitPort, value);
        }
    }
}
