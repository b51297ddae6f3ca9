using Kernel.Hal;
using Kernel.Interrupts;
using Kernel.Threading;
using Kernel.Time;
using Platform;

namespace Kernel.Console
{
    /// <summary>
    /// The kernel's output: every line goes to COM1 and the screen, whole lines at a time.
    /// A write puts its text into one queue (<see cref="ConsoleRing"/>) and on the screen in a single
    /// step with interrupts disabled, so lines from threads and interrupt handlers never mix; then
    /// whoever comes by (the writer, the next writer, the timer tick) moves queued bytes into the UART
    /// while it has room, a FIFO's worth at a time, again with interrupts disabled, so the bytes leave
    /// in queue order. Nothing waits for the UART with interrupts disabled, and no byte is written to
    /// a full FIFO. When the queue is full (the host stopped reading the emulated serial line), a
    /// thread waits for room; an interrupt handler, or code running with interrupts disabled, waits
    /// briefly and then drops its line, which is counted and reported as "log: N lines dropped".
    /// </summary>
    /// <summary>
    /// Another device the console can be moved to (a USB serial port: `console ttyUSB0`). It takes
    /// text without blocking, in any context, with interrupts disabled (it queues and sends later).
    /// </summary>
    internal interface IConsoleDevice
    {
        string Name { get; }
        void Append(string text);
    }

    internal sealed class KernelConsole : ILogSink
    {
        public static readonly KernelConsole Instance = new KernelConsole();

        const int QueueBytes = 64 * 1024;
        // How long a writer waits without the UART taking a single byte before it drops its line:
        // a thread can sleep meanwhile; anything else spins with interrupts enabled or not.
        const ulong ThreadStallLimitUs = 10_000_000;
        const ulong AtomicStallLimitUs = 20_000;
        // Before the TSC is calibrated: assume 1 GHz (a faster CPU only shortens the bound).
        const ulong AssumedTscPerMicrosecond = 1000;
        const ulong RflagsInterruptEnable = 1UL << 9;

        static readonly ConsoleRing s_queue = new ConsoleRing(QueueBytes);

        /// <summary>Lines dropped since boot because the queue was full.</summary>
        public static ulong DroppedLines => s_queue.DroppedLines;

        public void WriteLine(LogLevel level, string line) => Write(line + "\n");

        public static void WriteLine(string text) => Write(text + "\n");

        static IConsoleDevice s_device;

        /// <summary>Where output goes instead of COM1 (null: COM1). The screen always shows it too.</summary>
        public static IConsoleDevice Device
        {
            get => s_device;
            set
            {
                ulong flags = InterruptGuard.Enter();
                s_device = value;
                InterruptGuard.Exit(flags);
            }
        }

        /// <summary>Name of the console device: "ttyS0" (COM1) or the USB serial port's.</summary>
        public static string DeviceName => s_device == null ? "ttyS0" : s_device.Name;

        /// <summary>
        /// The line being edited at the prompt (guarded by disabling interrupts, like the queue):
        /// output written while it is active is wrapped so the prompt and the typed text are drawn
        /// again below it (<see cref="ConsoleInputLine"/>).
        /// </summary>
        static readonly ConsoleInputLine s_input = new ConsoleInputLine();

        /// <summary>How a shell write changes the line being edited; applied in the same atomic step as the write.</summary>
        enum InputChange { None, Begin, Update, End }

        /// <summary>Writes text atomically with respect to other threads and interrupt handlers.</summary>
        public static void Write(string text) => Write(text, InputChange.None, null, null, 0);

        /// <summary>Prints the prompt; from now on other output redraws it and the line typed after it.</summary>
        public static void BeginInput(string prompt) => Write(prompt, InputChange.Begin, prompt, "", 0);

        /// <summary>
        /// Writes the line editor's echo for one key and records what the prompt row shows now
        /// (<paramref name="text"/>, cursor at <paramref name="cursor"/>); <paramref name="ended"/>
        /// when the key ended the line (Enter, Ctrl-C): output is then written as it is again.
        /// </summary>
        public static void Echo(string echo, string prompt, string text, int cursor, bool ended) =>
            Write(echo, ended ? InputChange.End : InputChange.Update, prompt, text, cursor);

        /// <summary>The bytes to queue for <paramref name="text"/>: wrapped around the edited line unless the shell itself writes. Interrupts disabled.</summary>
        static string Shown(string text, InputChange change) => change == InputChange.None ? s_input.Wrap(text) : text;

        /// <summary>Records the shell's change of the edited line. Interrupts disabled.</summary>
        static void Apply(InputChange change, string prompt, string text, int cursor)
        {
            if (change == InputChange.Begin) s_input.Begin(prompt);
            else if (change == InputChange.Update) s_input.Update(prompt, text, cursor);
            else if (change == InputChange.End) s_input.End();
        }

        static void Write(string text, InputChange change, string prompt, string inputText, int cursor)
        {
            if (s_device != null)
            {
                ulong deviceFlags = InterruptGuard.Enter();
                IConsoleDevice device = s_device;
                if (device != null)
                {
                    string shown = Shown(text, change);
                    device.Append(shown);
                    Screen.Write(shown);
                    Apply(change, prompt, inputText, cursor);
                    InterruptGuard.Exit(deviceFlags);
                    return;
                }
                InterruptGuard.Exit(deviceFlags);
            }
            if (!Serial.Present)
            {
                ulong screenFlags = InterruptGuard.Enter();
                Screen.Write(Shown(text, change));
                Apply(change, prompt, inputText, cursor);
                InterruptGuard.Exit(screenFlags);
                return;
            }
            ulong drops = s_queue.UnreportedDrops;
            string notice = drops == 0 ? null : Log.Timestamp(Clock.Instance.Microseconds) + ConsoleRing.DropNotice(drops) + "\n";
            bool mayBlock = MayBlock();
            ulong lastProgress = NowUs();
            while (true)
            {
                ulong flags = InterruptGuard.Enter();
                string shown = Shown(text, change);
                if (notice != null && s_queue.Free >= ConsoleRing.EncodedLength(notice) + ConsoleRing.EncodedLength(shown))
                {
                    string shownNotice = s_input.Wrap(notice);
                    if (s_queue.TryAppendDropNotice(shownNotice, drops)) Screen.Write(shownNotice);
                    notice = null;
                }
                bool queued = s_queue.TryAppend(shown);
                if (queued)
                {
                    Screen.Write(shown);
                    Apply(change, prompt, inputText, cursor);
                }
                InterruptGuard.Exit(flags);
                if (queued) break;

                // Full: make room by feeding the UART, waiting for it as long as it makes progress.
                if (Pump() > 0)
                {
                    lastProgress = NowUs();
                    continue;
                }
                if (NowUs() - lastProgress > (mayBlock ? ThreadStallLimitUs : AtomicStallLimitUs))
                {
                    flags = InterruptGuard.Enter();
                    s_queue.CountDroppedLine();
                    Screen.Write(Shown(text, change));
                    Apply(change, prompt, inputText, cursor);
                    InterruptGuard.Exit(flags);
                    return;
                }
                if (mayBlock) Scheduler.Sleep(1);
                else Native.Pause();
            }
            Pump();
        }

        /// <summary>
        /// Moves queued bytes into the UART for as long as it reports room; returns how many went.
        /// Safe from any context (the timer tick calls it so a queue tail never waits for the next writer).
        /// </summary>
        public static int Pump()
        {
            int sent = 0;
            while (true)
            {
                ulong flags = InterruptGuard.Enter();
                int burst = 0;
                if (!s_queue.IsEmpty && Serial.TransmitReady)
                {
                    while (burst < Serial.TransmitBurst && s_queue.TryTake(out byte b))
                    {
                        Serial.Send(b);
                        burst++;
                    }
                }
                InterruptGuard.Exit(flags);
                if (burst == 0) return sent;
                sent += burst;
            }
        }

        /// <summary>Called on every timer tick: sends what is still queued.</summary>
        public static void OnTimerTick()
        {
            if (!s_queue.IsEmpty) Pump();
        }

        /// <summary>
        /// Sends everything queued, waiting for the UART as long as it makes progress within
        /// <paramref name="stallLimitUs"/>: before QEMU exits and before the crash report. Allocates nothing.
        /// </summary>
        public static void Flush(ulong stallLimitUs = ThreadStallLimitUs)
        {
            bool mayBlock = MayBlock();
            ulong lastProgress = NowUs();
            while (!s_queue.IsEmpty)
            {
                if (Pump() > 0)
                {
                    lastProgress = NowUs();
                    continue;
                }
                if (NowUs() - lastProgress > stallLimitUs) return;
                if (mayBlock) Scheduler.Sleep(1);
                else Native.Pause();
            }
        }

        /// <summary>True in a thread with interrupts enabled, once the scheduler runs: such a writer may sleep.</summary>
        static bool MayBlock()
        {
            ulong flags = InterruptGuard.Enter();
            InterruptGuard.Exit(flags);
            return (flags & RflagsInterruptEnable) != 0 && Scheduler.IsRunning && InterruptDispatcher.Depth == 0;
        }

        static ulong NowUs()
        {
            ulong perUs = Clock.TscPerMicrosecond;
            return Native.ReadTsc() / (perUs == 0 ? AssumedTscPerMicrosecond : perUs);
        }
    }
}
