namespace Platform
{
    public enum LogLevel { Debug, Info, Warning, Error }

    /// <summary>
    /// Where log lines go: the kernel's serial and screen consoles, or a test's buffer. Lines arrive
    /// from any thread and from interrupt handlers: a sink must emit each line whole, never mixed
    /// with another (the kernel's console queues whole lines, see <see cref="ConsoleRing"/>).
    /// </summary>
    public interface ILogSink
    {
        void WriteLine(LogLevel level, string line);
    }

    /// <summary>
    /// The kernel log. Lines look like Linux's dmesg: "[    1.234567] pci 0000:00:01.2: ...".
    /// Until a clock and a sink are attached, lines are dropped (host tests attach their own).
    /// </summary>
    public static class Log
    {
        static ILogSink s_sink;
        static IClock s_clock;

        /// <summary>Lines below this level are dropped.</summary>
        public static LogLevel MinimumLevel = LogLevel.Info;

        public static void Attach(ILogSink sink, IClock clock)
        {
            s_sink = sink;
            s_clock = clock;
        }

        public static void Debug(string message) => Write(LogLevel.Debug, message);
        public static void Info(string message) => Write(LogLevel.Info, message);
        public static void Warning(string message) => Write(LogLevel.Warning, message);
        public static void Error(string message) => Write(LogLevel.Error, message);

        public static void Write(LogLevel level, string message)
        {
            ILogSink sink = s_sink;
            if (sink == null || level < MinimumLevel)
                return;
            ulong us = s_clock != null ? s_clock.Microseconds : 0;
            sink.WriteLine(level, Timestamp(us) + message);
        }

        /// <summary>Formats microseconds as dmesg does: "[%5lu.%06lu] ".</summary>
        public static string Timestamp(ulong microseconds)
        {
            ulong seconds = microseconds / 1000000;
            ulong fraction = microseconds % 1000000;
            return "[" + Format.PadLeft(Format.Decimal(seconds), 5, ' ') + "." + Format.PadLeft(Format.Decimal(fraction), 6, '0') + "] ";
        }
    }
}
