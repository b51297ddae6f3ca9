namespace Drivers.Usb.Hcd.Ehci
{
    /// <summary>
    /// One transaction translator's full-speed periodic time (USB 2.0 11.18.1 and figure 11-60; Linux
    /// ehci-sched.c with CONFIG_USB_EHCI_TT_NEWSCHED: tt->bandwidth[], compute_tt_budget,
    /// tt_available). Each split endpoint books its full-speed bus time in the frames of its phase, in
    /// the microframe its first start split is sent (a start split in H-microframe u makes the TT run
    /// the transaction in B-microframe u, EHCI 4.5 and figure 4-7). A new endpoint is admitted when,
    /// in every frame of its phase:
    /// - the frame's periodic full-speed time stays at or under 900 us (90%, 5.7.4);
    /// - its start microframe is not already full (125 us per microframe, 30 us in microframe 6 and
    ///   none in 7: a transaction must end inside the frame, before the next SOF);
    /// - a transaction longer than a microframe starts into microframes where nothing is budgeted yet
    ///   (it would delay transactions already scheduled there);
    /// - after time that does not fit a microframe is carried into the next ones, nothing is left in
    ///   microframe 7.
    /// </summary>
    internal sealed class EhciTtBudget : PeriodicBudget
    {
        /// <summary>Periodic full-speed time a TT may spend per frame (USB 2.0 5.7.4: 90%).</summary>
        public const int FrameBudgetUs = UsbBandwidth.FullSpeedBudgetUs;
        /// <summary>Full-speed time a microframe holds (125 us).</summary>
        public const int MicroframeUs = 125;
        const int Microframes = (int)FrIndex.MicroframesPerFrame;

        /// <summary>Linux max_tt_usecs: what each B-microframe may hold (microframe 6: 30 us; 7: none).</summary>
        static readonly int[] MaxMicroframeUs = { 125, 125, 125, 125, 125, 125, 30, 0 };

        /// <summary>One frame's microframe budget line (Linux tt_usecs[8]); used under the controller's lock.</summary>
        readonly int[] _line = new int[Microframes];

        public EhciTtBudget() : base(EhciInterval.MaxPeriodFrames, Microframes, NoLimit)
        {
        }

        /// <summary>Full-speed microseconds booked in a frame (Linux tt->bandwidth[frame]).</summary>
        public int FrameUs(int frame)
        {
            int sum = 0;
            for (int u = 0; u < Microframes; u++)
                sum += Load(frame, u);
            return sum;
        }

        /// <summary>Linux tt_available for an endpoint of <paramref name="us"/> whose first start split is the lowest bit of <paramref name="startMask"/>.</summary>
        protected internal override bool AdmitsAsSecondTable(int periodFrames, int phase, uint startMask, int us)
        {
            int start = FirstMicroframe(startMask);
            if (start < 0 || start >= Microframes - 1)
                return false;
            int period = PeriodIn(periodFrames);
            for (int frame = phase % period; frame < Frames; frame += period)
            {
                if (FrameUs(frame) + us > FrameBudgetUs)
                    return false;
                FillLine(frame);
                if (MaxMicroframeUs[start] <= _line[start])
                    return false;
                // Longer than a microframe: the microframes it fills must be empty so far.
                if (us > MicroframeUs)
                    for (int u = start; u < start + us / MicroframeUs && u < Microframes; u++)
                        if (_line[u] > 0)
                            return false;
                _line[start] += us;
                CarryOver(_line);
                if (_line[Microframes - 1] > MaxMicroframeUs[Microframes - 1])
                    return false;
            }
            return true;
        }

        protected internal override void BookAsSecondTable(int periodFrames, int phase, uint startMask, int us, int sign) =>
            Add(periodFrames, phase, 1u << FirstMicroframe(startMask), us, 0, 0, sign);

        /// <summary>
        /// Linux compute_tt_budget for one frame: the booked time of each microframe, what does not fit
        /// in 125 us moved on to the next (the same for any order of the endpoints), dropped after microframe 7.
        /// </summary>
        void FillLine(int frame)
        {
            int carry = 0;
            for (int u = 0; u < Microframes; u++)
            {
                int x = Load(frame, u) + carry;
                _line[u] = x < MicroframeUs ? x : MicroframeUs;
                carry = x - _line[u];
            }
        }

        /// <summary>Linux carryover_tt_bandwidth: time past a microframe's limit moves to the next microframe.</summary>
        static void CarryOver(int[] line)
        {
            for (int u = 0; u < Microframes - 1; u++)
                if (line[u] > MaxMicroframeUs[u])
                {
                    line[u + 1] += line[u] - MaxMicroframeUs[u];
                    line[u] = MaxMicroframeUs[u];
                }
        }

        static int FirstMicroframe(uint startMask)
        {
            for (int u = 0; u < Microframes; u++)
                if ((startMask & (1u << u)) != 0)
                    return u;
            return -1;
        }
    }
}
