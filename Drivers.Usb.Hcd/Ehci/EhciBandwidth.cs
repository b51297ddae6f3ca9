namespace Drivers.Usb.Hcd.Ehci
{
    /// <summary>
    /// Periodic load per microframe over the schedule's 32-frame cycle (Linux ehci-sched.c keeps
    /// the same table, ehci->bandwidth[]): the shared <see cref="PeriodicBudget"/> with EHCI's
    /// numbers: 8 slots (microframes) per frame, each limited to 80% of 125 us (USB 2.0 5.7.3,
    /// Linux uframe_periodic_max), costs in high-speed microseconds. Masks are S-masks (transactions
    /// or start splits) and C-masks (complete splits); the interrupt tree's slot is the phase.
    /// </summary>
    public sealed class EhciMicroframeBudget : PeriodicBudget
    {
        public const int Microframes = (int)FrIndex.MicroframesPerFrame;
        /// <summary>Periodic microseconds per microframe: the 80% of a frame (USB 2.0 5.7.3) spread over its 8 microframes, 100 us.</summary>
        public const int MicroframeBudgetUs = UsbBandwidth.HighSpeedBudgetUs / Microframes;
        /// <summary>Last microframe a high-speed transaction may use.</summary>
        public const int LastMicroframe = Microframes - 1;
        /// <summary>
        /// Last microframe a full-/low-speed transaction's start split may go in (Linux ehci-sched.c:
        /// check_intr_schedule refuses uframe &gt;= 6 as "FSTN territory", iso_stream_schedule skips
        /// start microframes 6 and 7 of siTD streams).
        /// </summary>
        public const int LastSplitStartMicroframe = Microframes - 3;
        /// <summary>
        /// Last microframe an isochronous OUT start split may reach (Linux sitd_slot_ok: "for OUT,
        /// don't wrap SSPLIT into H-microframe 7"). Complete splits may use microframe 7
        /// (<see cref="LastMicroframe"/>); none may reach into the next frame, which would need an
        /// FSTN or an siTD back pointer (mainline Linux builds neither).
        /// </summary>
        public const int LastOutStartSplitMicroframe = Microframes - 2;

        public EhciMicroframeBudget() : base(EhciInterval.MaxPeriodFrames, Microframes, MicroframeBudgetUs)
        {
        }

        /// <summary>The period the table can express: a power of two from 1 to 32 frames.</summary>
        public static int ClampPeriod(int periodFrames) => EhciInterval.ClampFrames(periodFrames);

        /// <summary>High-speed microseconds of one transaction or split carrying <paramref name="bytes"/> (Linux HS_USECS / HS_USECS_ISO).</summary>
        public static int HighSpeedUs(bool isInput, bool isochronous, int bytes) =>
            UsbBandwidth.BusTimeUs(UsbSpeed.High, isInput, isochronous, bytes);
    }
}
