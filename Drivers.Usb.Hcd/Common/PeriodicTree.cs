namespace Drivers.Usb.Hcd
{
    /// <summary>
    /// The binary tree of static nodes that OHCI (static EDs, OpenHCI 1.0a 3.3.2 and figure 3-4) and
    /// EHCI (skeleton QHs, EHCI 1.0 4.6; Linux builds the same tree for both) hang their interrupt
    /// endpoints in. Level k (k = 0..5) holds 2^k nodes for a period of 2^k frames; node (k, j)
    /// links to (k-1, j mod 2^(k-1)), level 0 ends the periodic part; the frame table entry for
    /// frame f (OHCI: HCCA interrupt table, EHCI: frame list) points to (5, f mod 32). Frame f
    /// therefore walks (5, f mod 32), (4, f mod 16), ... (0, 0): an endpoint hung after node (k, j)
    /// is visited in every frame f with f mod 2^k = j, once every 2^k frames.
    /// Nodes are numbered flat, level k from 2^k - 1. The slot of a new endpoint is the least
    /// loaded phase of its level, chosen by a frame <see cref="PeriodicBudget"/> that the tree
    /// keeps (each frame's load, plus what hangs after each node). UHCI's skeleton (one node per
    /// level, interleaved by the frames' trailing zero bits) is another shape: <c>UhciSchedule</c>.
    /// </summary>
    public class PeriodicTree
    {
        /// <summary>Levels 0..5: periods 1, 2, 4, 8, 16, 32 frames.</summary>
        public const int Levels = 6;
        /// <summary>Longest period: the number of frame table entries the tree fans out to.</summary>
        public const int LargestPeriod = 1 << (Levels - 1);
        /// <summary>Static nodes in the tree: 1 + 2 + 4 + 8 + 16 + 32.</summary>
        public const int NodeCount = 2 * LargestPeriod - 1;

        readonly PeriodicBudget _frames;
        readonly int[] _booked = new int[NodeCount];

        /// <summary>A tree whose frames may each carry at most <paramref name="frameLimit"/> (default: no limit, balance only).</summary>
        public PeriodicTree(int frameLimit = PeriodicBudget.NoLimit)
        {
            _frames = new PeriodicBudget(LargestPeriod, 1, frameLimit);
        }

        /// <summary>Most load any one frame may carry.</summary>
        public int FrameLimit => _frames.SlotLimit;

        /// <summary>Period in frames of a level.</summary>
        public static int PeriodOfLevel(int level) => 1 << level;

        /// <summary>Level of the largest period not above <paramref name="periodFrames"/> (at least level 0, at most the last).</summary>
        public static int LevelAtMost(int periodFrames)
        {
            int level = 0;
            while (level < Levels - 1 && (2 << level) <= periodFrames)
                level++;
            return level;
        }

        /// <summary>Flat index of node (level, slot): level k starts at 2^k - 1.</summary>
        public static int Index(int level, int slot) => (1 << level) - 1 + slot;

        /// <summary>Flat index of the node (level, slot) links to (half the period), or -1 at level 0.</summary>
        public static int NextIndex(int level, int slot) => level == 0 ? -1 : Index(level - 1, slot % (1 << (level - 1)));

        /// <summary>Flat index of the node the frame table entry of <paramref name="frame"/> points to.</summary>
        public static int TableEntryIndex(int frame) => Index(Levels - 1, frame % LargestPeriod);

        /// <summary>True when frame <paramref name="frame"/> visits node (level, slot).</summary>
        public static bool Visits(int frame, int level, int slot) => frame % (1 << level) == slot;

        /// <summary>
        /// Chooses the slot of <paramref name="level"/> whose busiest frame is least loaded (ties: the
        /// lowest slot), books <paramref name="load"/> there and returns the slot; -1, with nothing
        /// booked, when every slot has a frame that would pass <see cref="FrameLimit"/>.
        /// </summary>
        public int Reserve(int level, int load)
        {
            if (!_frames.Choose(PeriodOfLevel(level), 1, 0, 0, load, 0, out int slot, out int _))
                return -1;
            Book(level, slot, load);
            return slot;
        }

        /// <summary>Books <paramref name="load"/> on a slot chosen elsewhere (EHCI: by its microframe budget).</summary>
        public void Book(int level, int slot, int load)
        {
            _booked[Index(level, slot)] += load;
            _frames.Book(PeriodOfLevel(level), slot, 1, load, 0, 0);
        }

        public void Release(int level, int slot, int load)
        {
            _booked[Index(level, slot)] -= load;
            _frames.Release(PeriodOfLevel(level), slot, 1, load, 0, 0);
        }

        /// <summary>Load booked in frame <paramref name="frame"/> mod 32 (every node the frame visits).</summary>
        public int Load(int frame) => _frames.Load(frame, 0);

        /// <summary>Load booked on node (level, slot) itself.</summary>
        public int Booked(int level, int slot) => _booked[Index(level, slot)];
    }
}
