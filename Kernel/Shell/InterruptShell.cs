using System.Collections.Generic;
using Kernel.Hal;
using Kernel.Interrupts;
using Platform;

namespace Kernel.Shell
{
    /// <summary>
    /// `irqmask &lt;line&gt;`: masks a legacy interrupt line at the 8259 PIC, so the handlers attached to it
    /// never run again: what a wrong PCI Interrupt Line does on a real PC. The USB controllers on that
    /// line must notice (Drivers.Usb.Hcd/InterruptWatchdog.cs) and go on by polling (InterruptWatchdogBootTests).
    /// </summary>
    internal static class InterruptShell
    {
        const int TimerLine = 0, CascadeLine = 2, SerialLine = 4, Lines = 16;

        public static void Register() =>
            KernelShell.Register("irqmask", "irqmask <line>", "mask a PIC interrupt line (simulates a wrong PCI Interrupt Line)", Mask);

        static void Mask(List<string> args)
        {
            if (args.Count < 2 || !ParseLine(args[1], out ulong line))
            {
                KernelShell.Print("usage: irqmask <line 1-15, not 2 or 4>");
                return;
            }
            if (line == TimerLine || line == CascadeLine || line == SerialLine)
            {
                KernelShell.Print("irqmask: line " + Format.Decimal(line) + " carries the clock, the cascade or the console; refused");
                return;
            }
            ulong flags = InterruptGuard.Enter();
            Pic.Mask((int)line);
            InterruptGuard.Exit(flags);
            KernelShell.Print("irqmask: IRQ " + Format.Decimal(line) + " masked");
        }

        /// <summary>A decimal line number below 16.</summary>
        static bool ParseLine(string text, out ulong line)
        {
            line = 0;
            if (text.Length == 0 || text.Length > 2)
                return false;
            for (int i = 0; i < text.Length; i++)
            {
                if (text[i] < '0' || text[i] > '9')
                    return false;
                line = line * 10 + (ulong)(text[i] - '0');
            }
            return line < Lines;
        }
    }
}
