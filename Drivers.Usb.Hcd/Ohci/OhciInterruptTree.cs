namespace Drivers.Usb.Hcd.Ohci
{
    /// <summary>
    /// The periodic schedule's tree of static EDs (OpenHCI 1.0a 3.3.2 and 5.2.7.2, figure 3-4; Linux
    /// keeps one tree of this shape). Level k (k = 0..5) holds 2^k static EDs for a polling interval
    /// of 2^k ms; static ED (k, j) links to (k-1, j mod 2^(k-1)), level 0 ends the list, and HCCA
    /// interrupt table entry i points to (5, i). Frame f walks (5, f mod 32), (4, f mod 16), ... (0, 0),
    /// so an interrupt ED hung after static ED (k, j) is visited in every frame f with f mod 2^k = j:
    /// once every 2^k ms. Slots are chosen to balance the bytes per frame.
    /// </summary>
    public sealed class OhciInterruptTree
    {
        /// <summary>Levels 0..5: intervals 1, 2, 4, 8, 16, 32 ms.</summary>
        public const int Levels = 6;
        public const int LargestInterval = OhciHcca.InterruptTableEntries;
        /// <summary>Static EDs in the tree: 1 + 2 + 4 + 8 + 16 + 32.</summary>
        public const int StaticEdCount = 2 * LargestInterval - 1;

        readonly int[] _frameLoad = new int[LargestInterval];

        /// <summary>Tree level for an endpoint's bInterval (ms): the largest power of two not above it, at most 32.</summary>
        public static int LevelFor(int intervalMs)
        {
            if (intervalMs < 1) intervalMs = 1;
            if (intervalMs > LargestInterval) intervalMs = LargestInterval;
            int level = 0;
            while ((2 << level) <= intervalMs)
                level++;
            return level;
        }

        public static int IntervalOfLevel(int level) => 1 << level;

        /// <summary>Index of static ED (level, slot) in a flat array: level k starts at 2^k - 1.</summary>
        public static int Index(int level, int slot) => (1 << level) - 1 + slot;

        /// <summary>Flat index of the static ED that (level, slot) links to, or -1 at level 0.</summary>
        public static int NextIndex(int level, int slot)
        {
            if (level == 0) return -1;
            return Index(level - 1, slot % (1 << (level - 1)));
        }

        /// <summary>Flat index of the static ED HCCA interrupt table entry <paramref name="entry"/> points to.</summary>
        public static int TableEntryIndex(int entry) => Index(Levels - 1, entry);

        /// <summary>True when frame <paramref name="frame"/> visits static ED (level, slot).</summary>
        public static bool Visits(int frame, int level, int slot) => (frame % (1 << level)) == slot;

        /// <summary>Chooses the least loaded slot of the level and books <paramref name="bytes"/> in its frames.</summary>
        public int Reserve(int level, int bytes)
        {
            int slots = 1 << level;
            int best = 0, bestLoad = int.MaxValue;
            for (int slot = 0; slot < slots; slot++)
            {
                int worst = 0;
                for (int frame = slot; frame < LargestInterval; frame += slots)
                    if (_frameLoad[frame] > worst) worst = _frameLoad[frame];
                if (worst < bestLoad)
                {
                    bestLoad = worst;
                    best = slot;
                }
            }
            Book(level, best, bytes);
            return best;
        }

        public void Release(int level, int slot, int bytes) => Book(level, slot, -bytes);

        void Book(int level, int slot, int bytes)
        {
            int slots = 1 << level;
            for (int frame = slot; frame < LargestInterval; frame += slots)
                _frameLoad[frame] += bytes;
        }

        /// <summary>Bytes booked in frame <paramref name="frame"/> mod 32.</summary>
        public int Load(int frame) => _frameLoad[frame % LargestInterval];
    }
}
