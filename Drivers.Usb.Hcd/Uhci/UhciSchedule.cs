namespace Drivers.Usb.Hcd.Uhci
{
    /// <summary>
    /// Shape of the schedule (UHCI 1.1, 3.4 "Data Structures / Schedule" and figure 3; Linux
    /// uhci-hcd.c uhci_frame_skel_link and configure_hc): eight interrupt skeleton queue heads
    /// (intervals 128, 64, ... 1 frames), then the control and the bulk skeleton. The levels are
    /// interleaved as Linux does it: a frame list entry points to one skeleton of interval 2 or
    /// more, which links straight to the 1-frame skeleton, then control, then bulk. Frame f enters
    /// at interval 2^(k+1) when f has exactly k trailing zero bits (odd frames: interval 2, frames
    /// 2 mod 4: interval 4, ...), and frames that are multiples of 128 at the 1-frame skeleton, so
    /// a queue head behind the skeleton of interval 2^k is visited exactly once every 2^k frames,
    /// in the frames f with f mod 2^k = 2^k / 2 (its phase), and no frame carries more than two
    /// interrupt levels.
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
        /// off the frame list layout (<see cref="LevelForFrame"/>): the first frame that visits it,
        /// period / 2 (0 for the 1-frame level), as Linux uhci-q.c uhci_submit_interrupt sets
        /// qh->phase. Interrupt queue heads book their bandwidth there ("For now, interrupt phase
        /// is fixed by the layout of the QH lists").
        /// </summary>
        public static int PhaseOfLevel(int level)
        {
            int period = IntervalOfLevel(level);
            for (int frame = 0; frame < period; frame++)
                if (LevelForFrame(frame) == level || level == 0)
                    return frame;
            return 0;
        }

        /// <summary>
        /// Interrupt skeleton a frame list entry points to (Linux uhci_frame_skel_link): one more
        /// than the number of trailing zero bits of the frame index, or level 0 (every frame's
        /// skeleton) for multiples of 128.
        /// </summary>
        public static int LevelForFrame(int frameIndex)
        {
            int zeros = 0;
            while (zeros < InterruptLevels - 1 && (frameIndex & (1 << zeros)) == 0)
                zeros++;
            return zeros == InterruptLevels - 1 ? 0 : zeros + 1;
        }

        /// <summary>The skeleton a skeleton links to: interrupt levels to the 1-frame level, that one to control, control to bulk, bulk to none (-1).</summary>
        public static int NextSkeleton(int skeleton)
        {
            if (skeleton > 0 && skeleton < InterruptLevels)
                return 0;
            if (skeleton == 0)
                return ControlSkeleton;
            if (skeleton == ControlSkeleton)
                return BulkSkeleton;
            return -1;
        }
    }
}
