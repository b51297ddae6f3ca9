using System.Diagnostics;
using System.Threading;
using Platform;

namespace Tests.Support
{
    /// <summary>
    /// Time that moves only when the code under test sleeps or stalls, or when a test calls
    /// <see cref="Advance"/>: timers are deterministic and bounded waits end at once.
    /// </summary>
    public sealed class ManualClock : IClock
    {
        /// <summary>Microseconds since "boot"; tests may set it directly.</summary>
        public ulong Us;
        public ulong Milliseconds => Us / 1000;
        public ulong Microseconds => Us;
        /// <summary>Advances time by <paramref name="ms"/> and returns at once.</summary>
        public void Sleep(uint ms) => Us += ms * 1000UL;
        /// <summary>Advances time by <paramref name="us"/> and returns at once.</summary>
        public void Stall(uint us) => Us += us;
        /// <summary>Moves time forward by <paramref name="ms"/> milliseconds (what a test does between steps).</summary>
        public void Advance(ulong ms) => Us += ms * 1000;
    }

    /// <summary>Wall-clock time for tests with real threads (a simulated controller on its own thread).</summary>
    public sealed class RealClock : IClock
    {
        readonly Stopwatch _watch = Stopwatch.StartNew();
        public ulong Milliseconds => (ulong)_watch.ElapsedMilliseconds;
        public ulong Microseconds => (ulong)(_watch.ElapsedTicks * 1000000 / Stopwatch.Frequency);
        public void Sleep(uint ms) => Thread.Sleep((int)ms);
        /// <summary>A short spin, not the full time: the simulated hardware needs no settling time.</summary>
        public void Stall(uint us) => Thread.SpinWait(10);
    }
}
