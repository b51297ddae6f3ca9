using Kernel.Hal;
using Platform;

namespace Kernel.Console
{
    /// <summary>The kernel's output: every line goes to COM1 and the screen, whole lines at a time.</summary>
    internal sealed class KernelConsole : ILogSink
    {
        public static readonly KernelConsole Instance = new KernelConsole();
        public static ulong DroppedLines => 0;

        public void WriteLine(LogLevel level, string line) => Write(line + "\n");

        /// <summary>Writes text atomically with respect to other threads and interrupt handlers.</summary>
        public static void Write(string text)
        {
            ulong flags = InterruptGuard.Enter();
            Serial.Write(text);
            Screen.Write(text);
            InterruptGuard.Exit(flags);
        }

        public static void WriteLine(string text) => Write(text + "\n");
    }
}
