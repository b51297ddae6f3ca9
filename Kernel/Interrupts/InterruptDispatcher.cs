using System.Collections.Generic;
using System.Runtime.InteropServices;
using Kernel.Hal;
using Kernel.Threading;
using Platform;
using Platform.Acpi;

namespace Kernel.Interrupts
{
    /// <summary>
    /// One interrupt line as the kernel numbers it (Linux's irq_desc in miniature): its IRQ number (the ISA IRQ
    /// for legacy devices, the GSI for other I/O APIC inputs, as Linux numbers them), the chip it arrives on,
    /// its vector, and the handlers sharing it.
    /// </summary>
    internal sealed class IrqLine
    {
        public int Irq;
        public int Vector;
        /// <summary>True: an I/O APIC input (GSI, trigger, polarity below); false: an 8259 line (IRQ = pin).</summary>
        public bool ViaIoApic;
        public uint Gsi;
        public bool Level;
        public bool ActiveLow;
        public readonly List<InterruptHandler> Handlers = new List<InterruptHandler>();
        public readonly List<string> Names = new List<string>();
        public ulong Count;
        /// <summary>Interrupts nobody claimed: a stuck line is disabled ("nobody cared").</summary>
        public readonly UnhandledInterruptCounter Unhandled = new UnhandledInterruptCounter();
        /// <summary>True once disabled because nobody cared.</summary>
        public bool Disabled;
    }

    /// <summary>
    /// Routes every interrupt: CPU exceptions to the crash report, IRQ lines (shared, as PCI INTx lines are)
    /// and MSI vectors to their handlers, the timer and the yield vector to the scheduler, which may return
    /// another thread's context to resume. IRQ lines arrive through the I/O APIC in APIC mode (IoApic.cs:
    /// vectors allocated from 48 up, EOI to the local APIC) or through the 8259 (vectors 32-47, EOI to the 8259).
    /// </summary>
    internal static unsafe class InterruptDispatcher
    {
        /// <summary>IRQ numbers 0-255 (GSIs above 255 are not used by any PC chipset this kernel meets).</summary>
        public const int MaxIrqs = 256;
        const int PicLines = 16;
        static readonly IrqLine[] s_lines = new IrqLine[MaxIrqs];
        static readonly IrqLine[] s_vectorLines = new IrqLine[256];
        static readonly InterruptHandler[] s_msiHandlers = new InterruptHandler[256];
        static readonly string[] s_msiNames = new string[256];
        static int s_nextVector = Idt.MsiFirst;
        static ulong s_spurious;
        static readonly ulong[] s_counts = new ulong[256];

        /// <summary>Called on every timer tick with the interrupted context; returns the context to resume.</summary>
        public static delegate*<ulong, ulong> TimerTick;
        public const int TimerIrq = 0;

        public static ulong Count(int vector) => s_counts[vector];
        public static ulong Spurious => s_spurious;

        /// <summary>The line with that IRQ number, or null.</summary>
        public static IrqLine Line(int irq) => (uint)irq < MaxIrqs ? s_lines[irq] : null;

        /// <summary>The MSI handler's name on that vector, or null.</summary>
        public static string MsiName(int vector) => s_msiHandlers[vector & 255] != null ? s_msiNames[vector & 255] : null;

        /// <summary>How many interrupt handlers are running (nested) right now; 0 in thread context.</summary>
        public static int Depth;

        /// <summary>
        /// Attaches a handler to a legacy ISA IRQ (shared) and unmasks it: the 8259 line in 8259 mode, the GSI the
        /// MADT's interrupt source overrides give it in APIC mode.
        /// </summary>
        public static void AttachIrq(int irq, InterruptHandler handler, string name = null)
        {
            if ((uint)irq >= PicLines) return;
            if (IoApic.Enabled)
            {
                AttachRouted(irq, InterruptRouting.IsaIrq(IoApic.Acpi, irq), handler, name);
                return;
            }
            ulong flags = InterruptGuard.Enter();
            IrqLine line = s_lines[irq];
            if (line == null)
            {
                line = new IrqLine { Irq = irq, Vector = Idt.PicBase + irq, Gsi = (uint)irq };
                s_lines[irq] = line;
                s_vectorLines[line.Vector] = line;
            }
            line.Handlers.Add(handler);
            line.Names.Add(name ?? "");
            Pic.Unmask(irq);
            InterruptGuard.Exit(flags);
        }

        /// <summary>
        /// APIC mode: attaches a handler to a routed I/O APIC input (a PCI INTx line); returns the IRQ number, or -1
        /// when the GSI has no IRQ number, no I/O APIC has it or no vector is left.
        /// </summary>
        public static int AttachGsi(InterruptRoute route, InterruptHandler handler, string name)
        {
            int irq = InterruptRouting.IrqForGsi(IoApic.Acpi, route.Gsi);
            if (!IoApic.Enabled || irq < 0 || irq >= MaxIrqs)
                return -1;
            return AttachRouted(irq, route, handler, name) ? irq : -1;
        }

        static bool AttachRouted(int irq, InterruptRoute route, InterruptHandler handler, string name)
        {
            ulong flags = InterruptGuard.Enter();
            IrqLine line = s_lines[irq];
            bool ok = true;
            if (line == null)
            {
                int vector = s_nextVector <= Idt.MsiLast ? s_nextVector++ : 0;
                line = new IrqLine { Irq = irq, Vector = vector, ViaIoApic = true, Gsi = route.Gsi, Level = route.Level, ActiveLow = route.ActiveLow };
                ok = vector != 0 && IoApic.Route(route.Gsi, vector, route.Level, route.ActiveLow);
                if (ok)
                {
                    s_lines[irq] = line;
                    s_vectorLines[vector] = line;
                }
            }
            else if (line.Level != route.Level || line.ActiveLow != route.ActiveLow || line.Gsi != route.Gsi)
            {
                Log.Warning("irq " + Format.Decimal((ulong)irq) + ": " + (name ?? "?") + " wants GSI " + Format.Decimal(route.Gsi) + " (" + route.Describe() +
                            "), the line is GSI " + Format.Decimal(line.Gsi) + " (" + (line.Level ? "level" : "edge") + ", " + (line.ActiveLow ? "low" : "high") + "); kept as it is");
            }
            if (ok)
            {
                line.Handlers.Add(handler);
                line.Names.Add(name ?? "");
            }
            InterruptGuard.Exit(flags);
            if (!ok)
                Log.Warning("irq " + Format.Decimal((ulong)irq) + ": GSI " + Format.Decimal(route.Gsi) + " has no IOAPIC input or no vector is left");
            return ok;
        }

        /// <summary>Masks an IRQ line where it arrives (I/O APIC entry or 8259 line): `irqmask`. False when nothing is attached in APIC mode.</summary>
        public static bool Mask(int irq)
        {
            if ((uint)irq >= MaxIrqs) return false;
            ulong flags = InterruptGuard.Enter();
            IrqLine line = s_lines[irq];
            bool done = true;
            if (line != null && line.ViaIoApic)
                IoApic.SetMasked(line.Gsi, true);
            else if (irq < PicLines && !IoApic.Enabled)
                Pic.Mask(irq);
            else
                done = false;
            InterruptGuard.Exit(flags);
            return done;
        }

        /// <summary>
        /// Back to the 8259 (the timer did not arrive through the I/O APIC): every line attached so far (ISA lines only:
        /// this runs before the PCI scan) moves to its 8259 pin and vector.
        /// </summary>
        public static void FallBackToPic()
        {
            ulong flags = InterruptGuard.Enter();
            IoApic.Disable();
            for (int irq = 0; irq < MaxIrqs; irq++)
            {
                IrqLine line = s_lines[irq];
                if (line == null || !line.ViaIoApic) continue;
                s_vectorLines[line.Vector] = null;
                if (irq >= PicLines)
                {
                    s_lines[irq] = null;
                    continue;
                }
                line.ViaIoApic = false;
                line.Vector = Idt.PicBase + irq;
                line.Gsi = (uint)irq;
                line.Level = line.ActiveLow = false;
                s_vectorLines[line.Vector] = line;
                Pic.Unmask(irq);
            }
            Pic.Unmask(2); // the cascade
            InterruptGuard.Exit(flags);
        }

        /// <summary>Allocates a vector for an MSI handler; returns 0 when none is left or there is no local APIC.</summary>
        public static int AllocateMsiVector(InterruptHandler handler, string name = null)
        {
            if (!LocalApic.Present) return 0;
            ulong flags = InterruptGuard.Enter();
            int vector = s_nextVector <= Idt.MsiLast ? s_nextVector++ : 0;
            if (vector != 0)
            {
                s_msiHandlers[vector] = handler;
                s_msiNames[vector] = name ?? "";
            }
            InterruptGuard.Exit(flags);
            return vector;
        }

        [UnmanagedCallersOnly(EntryPoint = "InterruptDispatch")]
        static ulong InterruptDispatch(ulong context)
        {
            InterruptFrame* frame = SavedContext.Registers(context);
            int vector = (int)frame->Vector;
            s_counts[vector & 255]++;
            Depth++;
            ulong resume = Dispatch(frame, vector, context);
            Depth--;
            return resume;
        }

        static ulong Dispatch(InterruptFrame* frame, int vector, ulong context)
        {
            if (vector < Idt.ExceptionCount)
            {
                Runtime.Panic.FromException(frame);
                return context;
            }
            if (vector == Idt.YieldVector)
                return Scheduler.Switch(context);
            if (vector >= Idt.PicBase && vector < Idt.PicBase + PicLines)
            {
                int irq = vector - Idt.PicBase;
                if (Pic.IsSpurious(irq))
                {
                    s_spurious++;
                    return context;
                }
                IrqLine line = s_vectorLines[vector];
                if (line == null)
                {
                    // Nothing attached (every 8259 line is masked in APIC mode): acknowledge and count it.
                    s_spurious++;
                    Pic.EndOfInterruptFor(irq);
                    return context;
                }
                RunHandlers(line);
                Pic.EndOfInterruptFor(irq);
                return AfterLine(line, context);
            }
            if (vector >= Idt.MsiFirst && vector <= Idt.MsiLast)
            {
                IrqLine line = s_vectorLines[vector];
                if (line != null)
                {
                    RunHandlers(line);
                    // Level-triggered: the local APIC's EOI is broadcast to the I/O APICs and clears Remote IRR (82093AA 3.2.4).
                    LocalApic.EndOfInterrupt();
                    return AfterLine(line, context);
                }
                InterruptHandler handler = s_msiHandlers[vector];
                if (handler != null) handler();
                LocalApic.EndOfInterrupt();
                return Scheduler.AfterInterrupt(context);
            }
            if (vector == Idt.SpuriousVector)
            {
                s_spurious++;
                return context;
            }
            LocalApic.EndOfInterrupt();
            return context;
        }

        static void RunHandlers(IrqLine line)
        {
            line.Count++;
            List<InterruptHandler> handlers = line.Handlers;
            bool handled = false;
            for (int i = 0; i < handlers.Count; i++)
                handled |= handlers[i]();
            if (line.Unhandled.Note(handled, Time.Clock.Ticks) && !line.Disabled && line.Irq != TimerIrq)
            {
                // Linux's wording (kernel/irq/spurious.c); the masked line's controllers go on by polling.
                line.Disabled = true;
                Log.Error("irq " + Format.Decimal((ulong)line.Irq) + ": nobody cared (" + Format.Decimal((ulong)UnhandledInterruptCounter.Limit) +
                          "+ of " + Format.Decimal((ulong)UnhandledInterruptCounter.Window) + " interrupts unclaimed; try booting with the \"noapic\" option)");
                Log.Error("Disabling IRQ #" + Format.Decimal((ulong)line.Irq));
                if (line.ViaIoApic)
                    IoApic.SetMasked(line.Gsi, true);
                else
                    Pic.Mask(line.Irq);
            }
        }

        static ulong AfterLine(IrqLine line, ulong context)
        {
            if (line.Irq == TimerIrq)
            {
                // Log lines queued while the UART was busy go out even if nobody writes again.
                Console.KernelConsole.OnTimerTick();
                if (TimerTick != null)
                    context = TimerTick(context);
            }
            return Scheduler.AfterInterrupt(context);
        }
    }
}
