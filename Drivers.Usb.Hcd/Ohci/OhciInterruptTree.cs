namespace Drivers.Usb.Hcd.Ohci
{
    /// <summary>
    /// The periodic schedule's tree of static EDs (OpenHCI 1.0a 3.3.2 and 5.2.7.2, figure 3-4): the
    /// shared <see cref="PeriodicTree"/> with OHCI's numbers. HCCA interrupt table entry i points to
    /// static ED (5, i); an interrupt ED's level is the largest power of two not above its bInterval
    /// (ms); its slot balances the bytes per frame (max packet size booked; no per-frame limit, the
    /// core admits the 90% per bus).
    /// </summary>
    public sealed class OhciInterruptTree : PeriodicTree
    {
        /// <summary>Longest interval (ms): one static ED of the last level per HCCA interrupt table entry.</summary>
        public const int LargestInterval = OhciHcca.InterruptTableEntries;
        /// <summary>Static EDs in the tree: 1 + 2 + 4 + 8 + 16 + 32.</summary>
        public const int StaticEdCount = NodeCount;

        /// <summary>Tree level for an endpoint's bInterval (ms): the largest power of two not above it, at most 32.</summary>
        public static int LevelFor(int intervalMs) => LevelAtMost(intervalMs);

        public static int IntervalOfLevel(int level) => PeriodOfLevel(level);
    }
}
