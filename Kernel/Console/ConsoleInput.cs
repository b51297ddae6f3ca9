using Kernel.Hal;
using Kernel.Threading;

namespace Kernel.Console
{
    /// <summary>
    /// Characters typed by the user, from any source (COM1, a USB keyboard), in arrival order.
    /// Producers may run in interrupt context; the shell consumes them.
    /// </summary>
    internal static class ConsoleInput
    {
        const int Capacity = 512;
        const char ControlC = (char)0x03;
        static readonly char[] s_buffer = new char[Capacity];
        static int s_head, s_tail;
        static readonly KernelEvent s_arrived = new KernelEvent(autoReset: true);

        /// <summary>
        /// Adds a character (dropped when the buffer is full). Ctrl-C while a shell command runs
        /// interrupts it instead (<see cref="Shell.ShellInterrupt"/>).
        /// </summary>
        public static void Push(char c)
        {
            if (c == ControlC && Shell.ShellInterrupt.TryRequest()) return;
            ulong flags = InterruptGuard.Enter();
            int next = (s_head + 1) % Capacity;
            if (next != s_tail)
            {
                s_buffer[s_head] = c;
                s_head = next;
            }
            InterruptGuard.Exit(flags);
            s_arrived.Signal();
        }

        public static void Push(string text)
        {
            for (int i = 0; i < text.Length; i++) Push(text[i]);
        }

        /// <summary>Takes the next character, waiting up to <paramref name="timeoutMs"/>.</summary>
        public static bool TryRead(out char c, uint timeoutMs)
        {
            if (TryTake(out c)) return true;
            s_arrived.Wait(timeoutMs);
            return TryTake(out c);
        }

        static bool TryTake(out char c)
        {
            ulong flags = InterruptGuard.Enter();
            bool ok = s_tail != s_head;
            c = ok ? s_buffer[s_tail] : '\0';
            if (ok) s_tail = (s_tail + 1) % Capacity;
            InterruptGuard.Exit(flags);
            return ok;
        }
    }
}
