using System.Collections.Generic;
using Kernel.Hal;
using Kernel.Interrupts;
using Platform;

namespace Kernel.Shell
{
    /// <summary>
    /// `irq`: the interrupt lines as Linux's /proc/interrupts shows them (count, chip: IO-APIC with its pin and
    /// edge/fasteoi, XT-PIC, PCI-MSI; the handlers' names), then spurious interrupts and thread yields.
    /// `irqmask &lt;line&gt;`: masks an interrupt line where it arrives (its I/O APIC entry, or the 8259 line), so
    /// the handlers attached to it never run again: what a wrong PCI Interrupt Line does on a real PC. The USB
    /// controllers on that line must notice (Drivers.Usb.Hcd/Common/InterruptWatchdog.cs) and go on by polling
    /// (InterruptWatchdogBootTests).
    /// </summary>
    internal static class InterruptShell
    {
        const int TimerLine = 0, CascadeLine = 2, SerialLine = 4;
        const int CountWidth = 10, ChipWidth = 8, PinWidth = 11;

        public static void Register()
        {
            KernelShell.Register("irq", "irq", "interrupt lines and counts, like /proc/interrupts", List);
            KernelShell.Register("irqmask", "irqmask <line>", "mask an interrupt line (simulates a wrong PCI Interrupt Line)", Mask);
        }

        static void List(List<string> args)
        {
            KernelShell.Print("           CPU0");
            for (int irq = 0; irq < InterruptDispatcher.MaxIrqs; irq++)
            {
                IrqLine line = InterruptDispatcher.Line(irq);
                if (line == null) continue;
                string chip, pin;
                if (line.ViaIoApic)
                {
                    chip = "IO-APIC";
                    // Linux: handle_edge_irq for edge lines, handle_fasteoi_irq for level lines.
                    pin = Format.Decimal(line.Gsi) + (line.Level ? "-fasteoi" : "-edge");
                }
                else
                {
                    chip = "XT-PIC";
                    pin = Format.Decimal((ulong)irq);
                }
                KernelShell.Print(Format.PadLeft(Format.Decimal((ulong)irq), 4, ' ') + ": " + Format.PadLeft(Format.Decimal(line.Count), CountWidth, ' ') + "   " +
                                  Format.PadRight(chip, ChipWidth) + Format.PadLeft(pin, PinWidth, ' ') + "   " + Names(line.Names));
            }
            for (int v = Idt.MsiFirst; v <= Idt.MsiLast; v++)
            {
                string name = InterruptDispatcher.MsiName(v);
                if (name == null) continue;
                KernelShell.Print(Format.PadLeft(Format.Decimal((ulong)v), 4, ' ') + ": " + Format.PadLeft(Format.Decimal(InterruptDispatcher.Count(v)), CountWidth, ' ') + "   " +
                                  Format.PadRight("PCI-MSI", ChipWidth) + Format.PadLeft(Format.Decimal((ulong)v) + "-edge", PinWidth, ' ') + "   " + name);
            }
            KernelShell.Print(" SPU: " + Format.PadLeft(Format.Decimal(InterruptDispatcher.Spurious), CountWidth, ' ') + "   Spurious interrupts");
            KernelShell.Print(" YLD: " + Format.PadLeft(Format.Decimal(InterruptDispatcher.Count(Idt.YieldVector)), CountWidth, ' ') + "   Thread yields (vector 0x81)");
            KernelShell.Print("mode: " + (IoApic.Enabled ? "IO-APIC (8259 masked)" : "legacy 8259 PIC"));
        }

        static string Names(List<string> names)
        {
            var text = new System.Text.StringBuilder();
            for (int i = 0; i < names.Count; i++)
            {
                if (i > 0) text.Append(", ");
                text.Append(names[i]);
            }
            return text.ToString();
        }

        static void Mask(List<string> args)
        {
            if (args.Count < 2 || !ParseLine(args[1], out ulong line))
            {
                KernelShell.Print("usage: irqmask <IRQ 1-255, not 2 or 4>");
                return;
            }
            if (line == TimerLine || line == CascadeLine || line == SerialLine)
            {
                KernelShell.Print("irqmask: line " + Format.Decimal(line) + " carries the clock, the cascade or the console; refused");
                return;
            }
            if (!InterruptDispatcher.Mask((int)line))
            {
                KernelShell.Print("irqmask: IRQ " + Format.Decimal(line) + " is not attached");
                return;
            }
            IrqLine attached = InterruptDispatcher.Line((int)line);
            KernelShell.Print("irqmask: IRQ " + Format.Decimal(line) + " masked" +
                              (attached != null && attached.ViaIoApic ? " (IO-APIC GSI " + Format.Decimal(attached.Gsi) + ")" : " (XT-PIC)"));
        }

        /// <summary>A decimal IRQ number below 256.</summary>
        static bool ParseLine(string text, out ulong line)
        {
            line = 0;
            if (text.Length == 0 || text.Length > 3)
                return false;
            for (int i = 0; i < text.Length; i++)
            {
                if (text[i] < '0' || text[i] > '9')
                    return false;
                line = line * 10 + (ulong)(text[i] - '0');
            }
            return line < InterruptDispatcher.MaxIrqs;
        }
    }
}
