namespace Drivers.Usb.Hcd
{
    /// <summary>
    /// The periodic load table every controller that places interrupt and isochronous endpoints
    /// itself keeps (Linux: ohci->load[], ehci->bandwidth[]): the load booked in each slot of a
    /// cycle of <see cref="Frames"/> frames, where a slot is a frame (<see cref="SlotsPerFrame"/> = 1,
    /// full speed: OHCI) or a microframe (8 per frame, high speed: EHCI). A placement is a period in
    /// frames with a phase (the frames f with f mod period = phase) and, inside each of those
    /// frames, the slots of a start mask (transactions or start splits, <c>startCost</c> each) and
    /// of a complete mask (complete splits, <c>completeCost</c> each).
    /// <see cref="Choose"/> tries every phase and every shift of the masks and keeps the placement
    /// whose busiest slot is least loaded (ties: lowest phase, then lowest shift, so the first
    /// endpoint lands in frame 0, slot 0); it refuses when that slot would exceed
    /// <see cref="SlotLimit"/>. Each controller gives only its numbers: the cycle, the slots per
    /// frame, the limit and the unit (EHCI: 100 us per microframe, the 80% rule of USB 2.0 5.7.3;
    /// UHCI and OHCI: 900 us per frame, USB 1.1's 90%). A controller whose schedule fixes the phase
    /// books there (<see cref="PlaceAt"/>, UHCI interrupt QHs); one whose masks change shape near the
    /// end of the frame gives its candidate mask pairs (EHCI splits).
    /// </summary>
    public class PeriodicBudget
    {
        /// <summary>Largest <see cref="SlotsPerFrame"/>: a mask is a 32-bit word and must stay below its top bit.</summary>
        public const int MaxSlotsPerFrame = 16;
        /// <summary><see cref="SlotLimit"/> of a table that only balances (never refuses).</summary>
        public const int NoLimit = int.MaxValue;

        /// <summary>Frames in the cycle the table repeats (a power of two: the longest period it places).</summary>
        public readonly int Frames;
        /// <summary>Slots in a frame: 1 (frames) or 8 (microframes).</summary>
        public readonly int SlotsPerFrame;
        /// <summary>Most load any one slot may carry.</summary>
        public readonly int SlotLimit;

        readonly int[] _load;

        public PeriodicBudget(int frames, int slotsPerFrame, int slotLimit)
        {
            Frames = frames;
            SlotsPerFrame = slotsPerFrame < 1 ? 1 : slotsPerFrame > MaxSlotsPerFrame ? MaxSlotsPerFrame : slotsPerFrame;
            SlotLimit = slotLimit;
            _load = new int[frames * SlotsPerFrame];
        }

        /// <summary>True when nothing is booked anywhere in the table.</summary>
        public bool IsEmpty
        {
            get
            {
                for (int i = 0; i < _load.Length; i++)
                    if (_load[i] != 0)
                        return false;
                return true;
            }
        }

        /// <summary>Load booked in slot <paramref name="slot"/> of frame <paramref name="frame"/> (mod <see cref="Frames"/>).</summary>
        public int Load(int frame, int slot) => _load[(frame % Frames) * SlotsPerFrame + slot];

        /// <summary>The period the table can express: the largest power of two not above <paramref name="periodFrames"/>, from 1 to <see cref="Frames"/>.</summary>
        public int PeriodIn(int periodFrames)
        {
            int p = 1;
            while (p * 2 <= periodFrames && p * 2 <= Frames)
                p *= 2;
            return p;
        }

        /// <summary>Busiest slot the placement touches, counting the placement itself.</summary>
        int WorstWith(int period, int phase, uint startMask, int startCost, uint completeMask, int completeCost)
        {
            int worst = 0;
            for (int f = phase; f < Frames; f += period)
                for (int u = 0; u < SlotsPerFrame; u++)
                {
                    uint bit = 1u << u;
                    if (((startMask | completeMask) & bit) == 0)
                        continue;
                    int load = _load[f * SlotsPerFrame + u];
                    if ((startMask & bit) != 0) load += startCost;
                    if ((completeMask & bit) != 0) load += completeCost;
                    if (load > worst) worst = load;
                }
            return worst;
        }

        /// <summary>
        /// Chooses phase and shift for masks given at slot 0 (the shifted masks must stay at or
        /// below slot <paramref name="lastSlot"/>). False, with nothing chosen, when no placement
        /// keeps every slot within <see cref="SlotLimit"/>. Nothing is booked: see <see cref="Book"/>.
        /// </summary>
        public bool Choose(int periodFrames, uint startMask, uint completeMask, int lastSlot, int startCost, int completeCost,
                           out int phase, out int shift) =>
            Choose(periodFrames, startMask, completeMask, lastSlot, startCost, completeCost, null, 0, out phase, out shift);

        /// <summary>
        /// <see cref="Choose(int, uint, uint, int, int, int, out int, out int)"/>, skipping the placements a second
        /// table does not admit with <paramref name="frameCost"/> more (<see cref="AdmitsAsSecondTable"/>; EHCI: a
        /// transaction translator's full-speed frames; null: no second table).
        /// </summary>
        public bool Choose(int periodFrames, uint startMask, uint completeMask, int lastSlot, int startCost, int completeCost,
                           PeriodicBudget frameTable, int frameCost, out int phase, out int shift)
        {
            // The candidates are the shifts of the masks that stay at or below the last slot.
            uint allowed = (2u << lastSlot) - 1;
            var starts = new uint[SlotsPerFrame];
            var completes = new uint[SlotsPerFrame];
            int count = 0;
            while (count < SlotsPerFrame && (((startMask | completeMask) << count) & ~allowed) == 0)
            {
                starts[count] = startMask << count;
                completes[count] = completeMask << count;
                count++;
            }
            return ChooseAmong(periodFrames, starts, completes, count, startCost, completeCost, frameTable, frameCost, out phase, out shift);
        }

        /// <summary>
        /// Chooses a phase and one of the controller's candidate mask pairs (<paramref name="startMasks"/>[i]
        /// with <paramref name="completeMasks"/>[i], already in their slots: EHCI splits, whose complete
        /// mask is cut short near the end of the frame rather than shifted whole) the same way: least
        /// loaded busiest slot, ties to the lowest phase, then the first candidate. <paramref name="candidate"/>
        /// is the index of the chosen pair. False, with nothing chosen, when none fits.
        /// </summary>
        public bool Choose(int periodFrames, uint[] startMasks, uint[] completeMasks, int startCost, int completeCost,
                           PeriodicBudget frameTable, int frameCost, out int phase, out int candidate) =>
            ChooseAmong(periodFrames, startMasks, completeMasks, startMasks.Length, startCost, completeCost, frameTable, frameCost,
                        out phase, out candidate);

        bool ChooseAmong(int periodFrames, uint[] startMasks, uint[] completeMasks, int count, int startCost, int completeCost,
                         PeriodicBudget frameTable, int frameCost, out int phase, out int candidate)
        {
            int period = PeriodIn(periodFrames);
            phase = 0;
            candidate = 0;
            bool found = false;
            int best = 0;
            for (int p = 0; p < period; p++)
            {
                for (int c = 0; c < count; c++)
                {
                    if (frameTable != null && !frameTable.AdmitsAsSecondTable(periodFrames, p, startMasks[c], frameCost))
                        continue;
                    int worst = WorstWith(period, p, startMasks[c], startCost, completeMasks[c], completeCost);
                    if (!found || worst < best)
                    {
                        found = true;
                        best = worst;
                        phase = p;
                        candidate = c;
                    }
                }
            }
            if (found && best <= SlotLimit)
                return true;
            phase = 0;
            candidate = 0;
            return false;
        }

        /// <summary>
        /// The busiest slot in the frames of a phase (Linux uhci-q.c uhci_highest_load): what a
        /// placement there would come on top of.
        /// </summary>
        public int HighestLoad(int periodFrames, int phase)
        {
            int period = PeriodIn(periodFrames);
            return WorstWith(period, phase % period, (1u << SlotsPerFrame) - 1, 0, 0, 0);
        }

        /// <summary>Adds a placement (masks already shifted) to the table.</summary>
        public void Book(int periodFrames, int phase, uint startMask, int startCost, uint completeMask, int completeCost) =>
            Add(periodFrames, phase, startMask, startCost, completeMask, completeCost, 1);

        /// <summary>Takes a placement booked with the same arguments out of the table.</summary>
        public void Release(int periodFrames, int phase, uint startMask, int startCost, uint completeMask, int completeCost) =>
            Add(periodFrames, phase, startMask, startCost, completeMask, completeCost, -1);

        /// <summary>
        /// Chooses (<see cref="Choose"/>) and books a placement for masks given at slot 0, and
        /// records it in <paramref name="placement"/>: period, phase, shift, the shifted masks and
        /// the costs, which is all <see cref="Release(PeriodicPlacement)"/> needs. False, with
        /// nothing booked, when nothing fits.
        /// </summary>
        public bool Place(PeriodicPlacement placement, int periodFrames, uint startMask, uint completeMask, int lastSlot,
                          int startCost, int completeCost) =>
            Place(placement, periodFrames, startMask, completeMask, lastSlot, startCost, completeCost, null, 0);

        /// <summary>
        /// <see cref="Place(PeriodicPlacement, int, uint, uint, int, int, int)"/> in this table and, in the same
        /// frames, <paramref name="frameCost"/> in <paramref name="frameTable"/> (EHCI: the full-speed time a
        /// transaction translator spends on a split endpoint); both are released together.
        /// </summary>
        public bool Place(PeriodicPlacement placement, int periodFrames, uint startMask, uint completeMask, int lastSlot,
                          int startCost, int completeCost, PeriodicBudget frameTable, int frameCost)
        {
            if (!Choose(periodFrames, startMask, completeMask, lastSlot, startCost, completeCost, frameTable, frameCost, out int phase, out int shift))
                return false;
            Record(placement, periodFrames, phase, shift, startMask << shift, completeMask << shift, startCost, completeCost, frameTable, frameCost);
            return true;
        }

        /// <summary>
        /// <see cref="Place(PeriodicPlacement, int, uint, uint, int, int, int, PeriodicBudget, int)"/> with the
        /// controller's candidate mask pairs (<see cref="Choose(int, uint[], uint[], int, int, PeriodicBudget, int, out int, out int)"/>);
        /// the placement's <see cref="PeriodicPlacement.Shift"/> is the first slot of the chosen start mask.
        /// </summary>
        public bool Place(PeriodicPlacement placement, int periodFrames, uint[] startMasks, uint[] completeMasks,
                          int startCost, int completeCost, PeriodicBudget frameTable, int frameCost)
        {
            if (!Choose(periodFrames, startMasks, completeMasks, startCost, completeCost, frameTable, frameCost, out int phase, out int candidate))
                return false;
            int first = 0;
            while (first < SlotsPerFrame - 1 && (startMasks[candidate] & (1u << first)) == 0)
                first++;
            Record(placement, periodFrames, phase, first, startMasks[candidate], completeMasks[candidate], startCost, completeCost, frameTable, frameCost);
            return true;
        }

        /// <summary>
        /// Books a placement at a phase the controller's schedule fixes (Linux uhci-q.c
        /// uhci_check_bandwidth with qh-&gt;phase already set: interrupt QHs sit where the skeleton
        /// visits them). False, with nothing booked, when a slot of those frames would exceed
        /// <see cref="SlotLimit"/>.
        /// </summary>
        public bool PlaceAt(PeriodicPlacement placement, int periodFrames, int phase, uint startMask, uint completeMask,
                            int startCost, int completeCost)
        {
            int period = PeriodIn(periodFrames);
            if (WorstWith(period, phase % period, startMask, startCost, completeMask, completeCost) > SlotLimit)
                return false;
            Record(placement, periodFrames, phase % period, 0, startMask, completeMask, startCost, completeCost, null, 0);
            return true;
        }

        void Record(PeriodicPlacement placement, int periodFrames, int phase, int shift, uint startMask, uint completeMask,
                    int startCost, int completeCost, PeriodicBudget frameTable, int frameCost)
        {
            if (frameTable != null)
            {
                frameTable.BookAsSecondTable(periodFrames, phase, startMask, frameCost, 1);
                placement.FrameTable = frameTable;
                placement.FrameCost = frameCost;
            }
            placement.PeriodFrames = PeriodIn(periodFrames);
            placement.Phase = phase;
            placement.Shift = shift;
            placement.StartMask = startMask;
            placement.CompleteMask = completeMask;
            placement.StartCost = startCost;
            placement.CompleteCost = completeCost;
            Book(placement.PeriodFrames, phase, startMask, startCost, completeMask, completeCost);
            placement.Booked = true;
        }

        /// <summary>Takes a placement made by <see cref="Place"/> out of the table (once; nothing when it was never booked).</summary>
        public void Release(PeriodicPlacement placement)
        {
            if (!placement.Booked)
                return;
            Release(placement.PeriodFrames, placement.Phase, placement.StartMask, placement.StartCost,
                    placement.CompleteMask, placement.CompleteCost);
            if (placement.FrameTable != null)
                placement.FrameTable.BookAsSecondTable(placement.PeriodFrames, placement.Phase, placement.StartMask, placement.FrameCost, -1);
            placement.Booked = false;
        }

        /// <summary>
        /// As the second table of a placement (<see cref="Place(PeriodicPlacement, int, uint, uint, int, int, int, PeriodicBudget, int)"/>):
        /// whether the frames of <paramref name="phase"/> can take <paramref name="cost"/> more for a
        /// placement whose start mask is <paramref name="startMask"/>. Here: in slot 0 of each frame,
        /// within <see cref="SlotLimit"/>. A table with its own rule overrides it with
        /// <see cref="BookAsSecondTable"/> (EHCI: a transaction translator's microframe pipeline).
        /// </summary>
        protected internal virtual bool AdmitsAsSecondTable(int periodFrames, int phase, uint startMask, int cost)
        {
            int period = PeriodIn(periodFrames);
            return WorstWith(period, phase % period, 1, cost, 0, 0) <= SlotLimit;
        }

        /// <summary>Books (<paramref name="sign"/> 1) or releases (-1) what <see cref="AdmitsAsSecondTable"/> admitted.</summary>
        protected internal virtual void BookAsSecondTable(int periodFrames, int phase, uint startMask, int cost, int sign) =>
            Add(periodFrames, phase, 1, cost, 0, 0, sign);

        /// <summary>Adds (<paramref name="sign"/> 1) or takes out (-1) a placement's costs in the frames of its phase.</summary>
        protected void Add(int periodFrames, int phase, uint startMask, int startCost, uint completeMask, int completeCost, int sign)
        {
            int period = PeriodIn(periodFrames);
            uint slots = (1u << SlotsPerFrame) - 1;
            for (int f = phase % period; f < Frames; f += period)
                for (int u = 0; u < SlotsPerFrame; u++)
                {
                    uint bit = 1u << u;
                    if ((startMask & slots & bit) != 0) _load[f * SlotsPerFrame + u] += sign * startCost;
                    if ((completeMask & slots & bit) != 0) _load[f * SlotsPerFrame + u] += sign * completeCost;
                }
        }
    }

    /// <summary>
    /// Where one endpoint sits in a <see cref="PeriodicBudget"/> (Linux: the qh/stream's period,
    /// phase, S-mask, C-mask and usecs): set by <see cref="PeriodicBudget.Place"/>, released with
    /// <see cref="PeriodicBudget.Release(PeriodicPlacement)"/>. The controller programs its hardware
    /// from it (EHCI: the phase picks the skeleton slot, the masks go into the QH or siTD).
    /// </summary>
    public sealed class PeriodicPlacement
    {
        /// <summary>Period in frames as the table expresses it (a power of two up to its cycle).</summary>
        public int PeriodFrames;
        /// <summary>The frames f with f mod <see cref="PeriodFrames"/> = Phase.</summary>
        public int Phase;
        /// <summary>How far the masks moved from slot 0.</summary>
        public int Shift;
        /// <summary>Start and complete masks after the shift.</summary>
        public uint StartMask, CompleteMask;
        public int StartCost, CompleteCost;
        /// <summary>In the table (released at most once).</summary>
        public bool Booked;
        /// <summary>The second, per-frame table booked with it (EHCI: the transaction translator's), and what it took there.</summary>
        public PeriodicBudget FrameTable;
        public int FrameCost;
    }
}
