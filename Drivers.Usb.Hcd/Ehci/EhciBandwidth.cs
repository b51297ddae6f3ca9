namespace Drivers.Usb.Hcd.Ehci
{
    /// <summary>
    /// Periodic load per microframe over the schedule's 32-frame cycle (Linux ehci-sched.c keeps
    /// the same table, ehci->bandwidth[]): USB 2.0 5.7.3 gives periodic transfers at most 80% of a
    /// microframe, 100 us (Linux uframe_periodic_max). A placement is a period in frames with a
    /// phase (the frames f with f mod period = phase) and, inside each of those frames, the
    /// microframes of its S-mask (transactions or start splits, <c>startUs</c> each) and C-mask
    /// (complete splits, <c>completeUs</c> each). <see cref="Choose"/> tries every phase and every
    /// microframe shift of the masks and keeps the placement whose busiest microframe is least
    /// loaded (ties: lowest phase, then lowest shift, so the first endpoint lands in frame slot 0,
    /// microframe 0 as before). The interrupt tree's slot is the phase.
    /// </summary>
    public sealed class EhciMicroframeBudget
    {
        public const int Frames = EhciInterval.MaxPeriodFrames;
        public const int Microframes = (int)FrIndex.MicroframesPerFrame;
        /// <summary>Periodic microseconds per microframe (USB 2.0 5.7.3: 80% of 125 us).</summary>
        public const int MicroframeBudgetUs = 100;
        /// <summary>Last microframe a high-speed transaction may use.</summary>
        public const int LastMicroframe = Microframes - 1;
        /// <summary>
        /// Last microframe a split may use: none in microframe 7, so a full-speed transaction the TT
        /// runs for it never reaches into the next frame (no FSTN needed; Linux keeps split
        /// transactions inside the frame the same way unless it builds FSTNs).
        /// </summary>
        public const int LastSplitMicroframe = Microframes - 2;
        const uint AllMicroframes = (1u << Microframes) - 1;

        readonly int[] _us = new int[Frames * Microframes];

        /// <summary>Microseconds booked in microframe <paramref name="microframe"/> of frame <paramref name="frame"/> (mod 32).</summary>
        public int Load(int frame, int microframe) => _us[(frame % Frames) * Microframes + microframe];

        /// <summary>The period the table can express: a power of two from 1 to 32 frames.</summary>
        public static int ClampPeriod(int periodFrames) => EhciInterval.ClampFrames(periodFrames);

        /// <summary>Busiest microframe the placement touches, counting the placement itself.</summary>
        int WorstWith(int period, int phase, uint sMask, int startUs, uint cMask, int completeUs)
        {
            int worst = 0;
            for (int f = phase; f < Frames; f += period)
                for (int u = 0; u < Microframes; u++)
                {
                    uint bit = 1u << u;
                    if (((sMask | cMask) & bit) == 0)
                        continue;
                    int load = _us[f * Microframes + u];
                    if ((sMask & bit) != 0) load += startUs;
                    if ((cMask & bit) != 0) load += completeUs;
                    if (load > worst) worst = load;
                }
            return worst;
        }

        /// <summary>
        /// Chooses phase and shift for masks given at microframe 0 (the shifted masks must stay
        /// at or below <paramref name="lastMicroframe"/>). False, with nothing chosen, when no
        /// placement keeps every microframe within <see cref="MicroframeBudgetUs"/>.
        /// </summary>
        public bool Choose(int periodFrames, uint sMask, uint cMask, int lastMicroframe, int startUs, int completeUs, out int phase, out int shift)
        {
            int period = ClampPeriod(periodFrames);
            uint limit = (2u << lastMicroframe) - 1;
            phase = 0;
            shift = 0;
            int best = int.MaxValue;
            for (int p = 0; p < period; p++)
                for (int s = 0; s < Microframes && (((sMask | cMask) << s) & ~limit) == 0; s++)
                {
                    int worst = WorstWith(period, p, sMask << s, startUs, cMask << s, completeUs);
                    if (worst < best)
                    {
                        best = worst;
                        phase = p;
                        shift = s;
                    }
                }
            return best <= MicroframeBudgetUs;
        }

        public void Book(int periodFrames, int phase, uint sMask, int startUs, uint cMask, int completeUs) =>
            Add(periodFrames, phase, sMask, startUs, cMask, completeUs, 1);

        public void Release(int periodFrames, int phase, uint sMask, int startUs, uint cMask, int completeUs) =>
            Add(periodFrames, phase, sMask, startUs, cMask, completeUs, -1);

        void Add(int periodFrames, int phase, uint sMask, int startUs, uint cMask, int completeUs, int sign)
        {
            int period = ClampPeriod(periodFrames);
            for (int f = phase % period; f < Frames; f += period)
                for (int u = 0; u < Microframes; u++)
                {
                    uint bit = 1u << u;
                    if ((sMask & AllMicroframes & bit) != 0) _us[f * Microframes + u] += sign * startUs;
                    if ((cMask & AllMicroframes & bit) != 0) _us[f * Microframes + u] += sign * completeUs;
                }
        }

        /// <summary>High-speed microseconds of one transaction or split carrying <paramref name="bytes"/> (Linux HS_USECS / HS_USECS_ISO).</summary>
        public static int HighSpeedUs(bool isInput, bool isochronous, int bytes)
        {
            long ns = UsbBandwidth.BusTimeNs(UsbSpeed.High, isInput, isochronous, bytes);
            return (int)((ns + NsPerUs - 1) / NsPerUs);
        }

        const long NsPerUs = 1000;
    }
}
