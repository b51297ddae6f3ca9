using Drivers.Usb.Descriptors;

namespace Drivers.Usb.Hcd.Ohci
{
    /// <summary>
    /// The periodic schedule's tree of static EDs (OpenHCI 1.0a 3.3.2 and 5.2.7.2, figure 3-4): the
    /// shared <see cref="PeriodicTree"/> with OHCI's numbers. HCCA interrupt table entry i points to
    /// static ED (5, i); an interrupt ED's level is the largest power of two not above its bInterval
    /// (ms). Every interrupt and isochronous ED books its bus time in microseconds in the frames of
    /// its branch, at most <see cref="FrameBudgetUs"/> per frame (Linux ohci-q.c: ed_get computes
    /// <c>ed-&gt;load</c>, balance picks the branch, periodic_link / periodic_unlink add and take
    /// <c>ohci-&gt;load[]</c>).
    /// </summary>
    public sealed class OhciInterruptTree : PeriodicTree
    {
        /// <summary>Longest interval (ms): one static ED of the last level per HCCA interrupt table entry.</summary>
        public const int LargestInterval = OhciHcca.InterruptTableEntries;
        /// <summary>Static EDs in the tree: 1 + 2 + 4 + 8 + 16 + 32.</summary>
        public const int StaticEdCount = NodeCount;
        /// <summary>Periodic microseconds a frame may carry: "usb 1.1 says 90% of one frame" (Linux balance), 900 us.</summary>
        public const int FrameBudgetUs = UsbBandwidth.FullSpeedBudgetUs;
        const long NsPerUs = 1000;

        public OhciInterruptTree() : base(FrameBudgetUs)
        {
        }

        /// <summary>Tree level for an endpoint's bInterval (ms): the largest power of two not above it, at most 32.</summary>
        public static int LevelFor(int intervalMs) => LevelAtMost(intervalMs);

        public static int IntervalOfLevel(int level) => PeriodOfLevel(level);

        /// <summary>
        /// Bus time one transaction of the endpoint books in each frame of its branch, in whole
        /// microseconds rounded down (Linux ed_get: <c>usb_calc_bus_time(...) / 1000</c> of
        /// wMaxPacketSize).
        /// </summary>
        public static int LoadUs(UsbSpeed speed, bool isInput, bool isochronous, int maxPacket) =>
            (int)(UsbBandwidth.BusTimeNs(speed, isInput, isochronous, maxPacket) / NsPerUs);

        /// <summary>
        /// The branch (slot) of <paramref name="level"/> for an endpoint of <paramref name="loadUs"/>,
        /// as Linux ohci-q.c balance() picks it: of the branches whose every frame stays at or under
        /// <see cref="FrameBudgetUs"/> with the load added, the one whose first frame carries the
        /// least (ties: the lowest branch). -1 when no branch has room (Linux -ENOSPC). Books nothing.
        /// </summary>
        public int Balance(int level, int loadUs)
        {
            int period = PeriodOfLevel(level);
            int branch = -1;
            for (int i = 0; i < period; i++)
            {
                if (branch >= 0 && Load(branch) <= Load(i))
                    continue;
                bool fits = true;
                for (int j = i; j < LargestPeriod; j += period)
                    if (Load(j) + loadUs > FrameLimit)
                        fits = false;
                if (fits)
                    branch = i;
            }
            return branch;
        }
    }
}
