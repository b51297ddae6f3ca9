using System.Collections.Generic;
using System.Runtime.InteropServices;
using Kernel.Hal;
using Kernel.Threading;
using Platform;

namespace Kernel.Interrupts
{
    /// <summary>
    /// Routes every interrupt: CPU exceptions to the crash report, legacy IRQ lines (shared, as
    /// PCI INTx lines are) and MSI vectors to their handlers, the timer and the yield vector to
    /// the scheduler, which may return another thread's context to resume.
    /// </summary>
    internal static unsafe class InterruptDispatcher
    {
        const int IrqLines = 16;
        static readonly List<InterruptHandler>[] s_irqHandlers = new List<InterruptHandler>[IrqLines];
        static readonly InterruptHandler[] s_msiHandlers = new InterruptHandler[Idt.MsiLast - Idt.MsiFirst + 1];
        static int s_nextMsi;
        static ulong s_spurious;
        static readonly ulong[] s_counts = new ulong[256];

        /// <summary>Called on every timer tick with the interrupted context; returns the context to resume.</summary>
        public static delegate*<ulong, ulong> TimerTick;
        public const int TimerIrq = 0;

        public static ulong Count(int vector) => s_counts[vector];

        /// <summary>How many interrupt handlers are running (nested) right now; 0 in thread context.</summary>
        public static int Depth;

        /// <summary>Attaches a handler to a legacy IRQ line (shared) and unmasks it.</summary>
        public static void AttachIrq(int irq, InterruptHandler handler)
        {
            if ((uint)irq >= IrqLines) return;
            ulong flags = InterruptGuard.Enter();
            if (s_irqHandlers[irq] == null) s_irqHandlers[irq] = new List<InterruptHandler>();
            s_irqHandlers[irq].Add(handler);
            Pic.Unmask(irq);
            InterruptGuard.Exit(flags);
        }

        /// <summary>Allocates an MSI vector for the handler; returns 0 when none is left or there is no local APIC.</summary>
        public static int AllocateMsiVector(InterruptHandler handler)
        {
            if (!LocalApic.Present || s_nextMsi >= s_msiHandlers.Length) return 0;
            ulong flags = InterruptGuard.Enter();
            int index = s_nextMsi++;
            s_msiHandlers[index] = handler;
            InterruptGuard.Exit(flags);
            return Idt.MsiFirst + index;
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
            if (vector >= Idt.PicBase && vector < Idt.PicBase + IrqLines)
            {
                int irq = vector - Idt.PicBase;
                if (Pic.IsSpurious(irq))
                {
                    s_spurious++;
                    return context;
                }
                List<InterruptHandler> handlers = s_irqHandlers[irq];
                if (handlers != null)
                    for (int i = 0; i < handlers.Count; i++)
                        handlers[i]();
                Pic.EndOfInterruptFor(irq);
                if (irq == TimerIrq)
                {
                    // Log lines queued while the UART was busy go out even if nobody writes again.
                    Console.KernelConsole.OnTimerTick();
                    if (TimerTick != null)
                        context = TimerTick(context);
                }
                return Scheduler.AfterInterrupt(context);
            }
            if (vector >= Idt.MsiFirst && vector <= Idt.MsiLast)
            {
                InterruptHandler handler = s_msiHandlers[vector - Idt.MsiFirst];
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
    }
}
