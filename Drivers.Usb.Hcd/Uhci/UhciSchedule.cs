namespace Drivers.Usb.Hcd.Uhci
{
    /// <summary>
    /// Shape of the schedule (UHCI 1.1, 3.4 "Data Structures / Schedule" and figure 3; Linux
    /// uhci-q.c "skeleton"): every frame list entry points to one of eight interrupt skeleton
    /// queue heads (intervals 128, 64, ... 1 frames), each linking to the next shorter interval,
    /// the 1-frame skeleton links to the control skeleton, which links to the bulk skeleton.
    /// Endpoint queue heads hang behind the skeleton of their interval (interrupt) or type.
    /// A queue head behind the skeleton of interval 2^k is visited in every frame whose number
    /// has at least k trailing zero bits: exactly once every 2^k frames.
    /// </summary>
    public static class UhciSchedule
    {
        /// <summary>Interrupt levels: skeleton k serves an interval of 2^k frames, k = 0..7.</summary>
        public const int InterruptLevels = 8;
        /// <summary>Longest interrupt period the tree serves (frames); longer bIntervals poll faster.</summary>
        public const int MaxInterval = 1 << (InterruptLevels - 1);
        /// <summary>Skeleton index of the control queue (after every interrupt level).</summary>
        public const int ControlSkeleton = InterruptLevels;
        /// <summary>Skeleton index of the bulk queue (last).</summary>
        public const int BulkSkeleton = InterruptLevels + 1;
        /// <summary>Number of skeleton queue heads.</summary>
        public const int SkeletonCount = InterruptLevels + 2;

        /// <summary>
        /// Interrupt level for an endpoint's bInterval in frames (USB 2.0 9.6.6: 1..255 for
        /// full/low speed): the largest power of two not above it, at most 128. 0 counts as 1.
        /// </summary>
        public static int LevelForInterval(int intervalFrames)
        {
            int level = 0;
            while (level < InterruptLevels - 1 && (2 << level) <= intervalFrames)
                level++;
            return level;
        }

        /// <summary>Polling period (frames) the level gives.</summary>
        public static int IntervalOfLevel(int level) => 1 << level;

        /// <summary>
        /// The phase of a level's skeleton: the frames f with f mod 2^level = phase visit it. Read
        /// off the frame list layout (<see cref="LevelForFrame"/>): the first frame that enters at
        /// this level or above. With "trailing zero bits" every level's phase is 0 (Linux's layout
        /// interleaves the levels instead, phase = period / 2, uhci-hcd.c uhci_frame_skel_link).
        /// Interrupt queue heads book their bandwidth there (Linux uhci-q.c uhci_submit_interrupt:
        /// "For now, interrupt phase is fixed by the layout of the QH lists").
        /// </summary>
        public static int PhaseOfLevel(int level)
        {
            int period = IntervalOfLevel(level);
            for (int frame = 0; frame < period; frame++)
                if (LevelForFrame(frame) >= level)
                    return frame;
            return 0;
        }

        /// <summary>
        /// Skeleton a frame list entry points to: the number of trailing zero bits of the frame
        /// index, at most 7 (frame 0 also gets 7).
        /// </summary>
        public static int LevelForFrame(int frameIndex)
        {
            int level = 0;
            while (level < InterruptLevels - 1 && (frameIndex & (1 << level)) == 0)
                level++;
            return level;
        }

        /// <summary>The skeleton a skeleton links to: the next shorter interval, then control, then bulk, then none (-1).</summary>
        public static int NextSkeleton(int skeleton)
        {
            if (skeleton > 0 && skeleton < InterruptLevels)
                return skeleton - 1;
            if (skeleton == 0)
                return ControlSkeleton;
            if (skeleton == ControlSkeleton)
                return BulkSkeleton;
            return -1;
        }
    }
}
