using Kernel.Hal;
using Kernel.Interrupts;
using Kernel.Threading;
using Platform;

namespace Kernel.Time
{
    /// <summary>
    /// The monotonic clock: the 8254 PIT's channel 0 ticks at 1000 Hz on IRQ 0 (8254 datasheet,
    /// mode 2); microseconds between ticks come from the TSC, calibrated against the PIT at boot.
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

        static ulong s_ticks;
        static ulong s_tscAtTick;
        static ulong s_tscPerMicrosecond;

        public static ulong Ticks => s_ticks;

        public ulong Milliseconds => s_ticks;

        public ulong Microseconds
        {
            get
            {
                ulong flags = InterruptGuard.Enter();
                ulong ticks = s_ticks, tscAtTick = s_tscAtTick;
                InterruptGuard.Exit(flags);
                ulong within = s_tscPerMicrosecond == 0 ? 0 : (Native.ReadTsc() - tscAtTick) / s_tscPerMicrosecond;
                if (within > 999) within = 999;
                return ticks * 1000 + within;
            }
        }

        public static void Initialize()
        {
            CalibrateTsc();
            uint divisor = PitFrequency / TicksPerSecond;
            Native.PortOut8(PitCommand, PitChannel0RateGenerator);
            Native.PortOut8(PitChannel0, (byte)divisor);
            Native.PortOut8(PitChannel0, (byte)(divisor >> 8));
            InterruptDispatcher.AttachIrq(InterruptDispatcher.TimerIrq, OnTick);
        }

        static bool OnTick()
        {
            s_ticks++;
            s_tscAtTick = Native.ReadTsc();
            return true;
        }

        /// <summary>Counts TSC cycles across a 10 ms one-shot of PIT channel 2 (bounded).</summary>
        static void CalibrateTsc()
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
            s_tscPerMicrosecond = elapsed / (CalibrationMs * 1000);
            if (s_tscPerMicrosecond == 0) s_tscPerMicrosecond = 1;
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
