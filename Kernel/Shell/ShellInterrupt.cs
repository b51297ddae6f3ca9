using System.Threading;

namespace Kernel.Shell
{
    /// <summary>
    /// Ctrl-C while a shell command runs: the cancellation token of the shell. The command keeps the
    /// shell thread, so nobody reads the console meanwhile; instead the input path (COM1 interrupt,
    /// USB keyboard, a USB serial console) hands Ctrl-C here at once, and long-running commands poll
    /// <see cref="KernelShell.Interrupted"/> in their loops, print "&lt;command&gt;: interrupted" and
    /// return. At the prompt Ctrl-C is an ordinary input character (the line editor abandons the line).
    /// </summary>
    internal static class ShellInterrupt
    {
        static bool s_commandRunning;
        static bool s_requested;

        /// <summary>True once Ctrl-C was typed during the current command.</summary>
        public static bool Requested => Volatile.Read(ref s_requested);

        /// <summary>
        /// Called by the input path for Ctrl-C, in any context: true if a command runs and is now asked
        /// to stop (the character is then consumed), false if it should go to the line editor.
        /// </summary>
        public static bool TryRequest()
        {
            if (!Volatile.Read(ref s_commandRunning)) return false;
            Volatile.Write(ref s_requested, true);
            return true;
        }

        public static void CommandStarted()
        {
            Volatile.Write(ref s_requested, false);
            Volatile.Write(ref s_commandRunning, true);
        }

        public static void CommandEnded()
        {
            Volatile.Write(ref s_commandRunning, false);
            Volatile.Write(ref s_requested, false);
        }
    }
}
