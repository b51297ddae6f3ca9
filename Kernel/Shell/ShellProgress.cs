using Kernel.Console;
using Platform;

namespace Kernel.Shell
{
    /// <summary>
    /// Progress of a long command on one console line that updates in place ("\r"), at most every
    /// <see cref="MinimumIntervalMs"/> so a fast loop does not flood a 115200-baud line; log lines
    /// from other threads may interleave, the next update redraws the line below them.
    /// Usage: <c>var p = new ShellProgress(); while (...) { p.Update("read " + n + " MiB"); } p.Finish("done");</c>
    /// </summary>
    internal sealed class ShellProgress
    {
        public const ulong MinimumIntervalMs = 250;

        readonly ProgressLine _line = new ProgressLine();
        ulong _lastUpdateMs;
        bool _any;

        /// <summary>True when an update would show (callers may skip building the text otherwise).</summary>
        public bool Due => !_any || Time.Clock.Instance.Milliseconds - _lastUpdateMs >= MinimumIntervalMs;

        /// <summary>Shows <paramref name="text"/> unless the last update is more recent than the interval.</summary>
        public void Update(string text)
        {
            if (!Due) return;
            ulong now = Time.Clock.Instance.Milliseconds;
            _any = true;
            _lastUpdateMs = now;
            KernelConsole.Write(_line.Update(text));
        }

        /// <summary>Replaces the progress with <paramref name="text"/> and ends the line.</summary>
        public void Finish(string text) => KernelConsole.Write(_line.Finish(text));
    }
}
