using Kernel.Hal;
using Kernel.Interrupts;
using Kernel.Threading;
using Platform;

namespace Kernel.Time
{
    /// <summary>
    /// The monotonic clock: the 8254 PIT's channel 0 interrupts at 1000 Hz on IRQ 0 (8254
    /// datasheet, mode 2) and drives scheduling; the time itself is read from the TSC, calibrated
    /// against PIT channel 2 at boot. A tick lost while interrupts were off (or while a virtual
    /// CPU was not running) therefore never makes the clock slow: the next tick catches up.
    /// </summary>
    internal sealed class Clock : IClock
    {
        public static readonly Clock Instance = new Clock();

        public const int TicksPerSecond = 1000;
        const uint PitFrequency = 1193182;
        const ushort PitChannel0 = 0x40, PitCommand = 0x43;
        const byte PitChannel0RateGenerator = 0x34; // channel 0, lobyte/hibyte, mode 2, binary
        const byte PitChannel2OneShot = 0xB0;       // channel 2, lobyte/hibyte, mode 0
        const ushort PitChannel2 = 0x42, SpeakerPort = 0x61;
        const byte SpeakerGate = 0x01, SpeakerOut = 0x20, SpeakerData = 0x02;
        const uint CalibrationMs = 10;

        /// <summary>Calibration runs; the median is kept (odd, so there is one).</summary>
        const int CalibrationRuns = 5;

        static ulong s_ticks;
        static ulong s_tscAtBoot;
        static ulong s_tscPerMicrosecond;

        /// <summary>Milliseconds since boot as of the last timer interrupt (what sleeps and timeouts count).</summary>
        public static ulong Ticks => s_ticks;

        public ulong Milliseconds => Microseconds / 1000;

        public ulong Microseconds => s_tscPerMicrosecond == 0 ? s_ticks * 1000 : (Native.ReadTsc() - s_tscAtBoot) / s_tscPerMicrosecond;

        public static void Initialize()
        {
            CalibrateTsc();
            uint divisor = PitFrequency / TicksPerSecond;
            Native.PortOut8(PitCommand, PitChannel0RateGenerator);
            Native.PortOut8(PitChannel0, (byte)divisor);
            Native.PortOut8(PitChannel0, (byte)(divisor >> 8));
            InterruptDispatcher.AttachIrq(InterruptDispatcher.TimerIrq, OnTick, "timer");
        }

        static bool OnTick()
        {
            // Catch up with the TSC when ticks were lost; never go backwards.
            ulong now = Instance.Milliseconds;
            s_ticks = now > s_ticks ? now : s_ticks + 1;
            return true;
        }

        /// <summary>
        /// TSC rate: the median of a few 10 ms one-shots of PIT channel 2 (bounded). The median, not the
        /// shortest: one one-shot whose output read high too early once gave 13 MHz instead of 2.4 GHz, and
        /// the clock then ran 190 times too fast; a run the host delayed is as far off the other way.
        /// </summary>
        static unsafe void CalibrateTsc()
        {
            ulong* rates = stackalloc ulong[CalibrationRuns];
            for (int run = 0; run < CalibrationRuns; run++)
            {
                ulong rate = MeasureTscRate();
                int at = run;
                while (at > 0 && rates[at - 1] > rate)
                {
                    rates[at] = rates[at - 1];
                    at--;
                }
                rates[at] = rate;
            }
            ulong median = rates[CalibrationRuns / 2];
            s_tscPerMicrosecond = median == 0 ? 1 : median;
            s_tscAtBoot = Native.ReadTsc();
        }

        /// <summary>Counts TSC cycles per microsecond across a 10 ms one-shot of PIT channel 2 (bounded).</summary>
        static ulong MeasureTscRate()
        {
            byte speaker = Native.PortIn8(SpeakerPort);
            Native.PortOut8(SpeakerPort, (byte)((speaker & ~SpeakerData) | SpeakerGate));
            uint count = PitFrequency * CalibrationMs / 1000;
            Native.PortOut8(PitCommand, PitChannel2OneShot);
            Native.PortOut8(PitChannel2, (byte)count);
            Native.PortOut8(PitChannel2, (byte)(count >> 8));
            ulong start = Native.ReadTsc();
            ulong limit = start + 10_000_000_000UL; // never spin forever on a broken PIT
            while ((Native.PortIn8(SpeakerPort) & SpeakerOut) == 0 && Native.ReadTsc() < limit) { }
            ulong elapsed = Native.ReadTsc() - start;
            Native.PortOut8(SpeakerPort, speaker);
            return elapsed / (CalibrationMs * 1000);
        }

        public void Sleep(uint ms) => Scheduler.Sleep(ms);

        public void Stall(uint us)
        {
            ulong end = Native.ReadTsc() + us * s_tscPerMicrosecond;
            while (Native.ReadTsc() < end) Native.Pause();
        }

        public static ulong TscPerMicrosecond => s_tscPerMicrosecond;
    }
}
