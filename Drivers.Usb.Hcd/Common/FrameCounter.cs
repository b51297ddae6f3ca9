namespace Drivers.Usb.Hcd
{
    /// <summary>
    /// Arithmetic on a controller's wrapping frame counter (UHCI FRNUM and OHCI HcFmNumber count
    /// frames, EHCI FRINDEX microframes, each wrapping at a power of two): how many frames have
    /// gone by since a recorded one, and which of two frames comes first. Every answer assumes the
    /// two frames are less than half a lap apart, which the schedule windows guarantee.
    /// </summary>
    public sealed class FrameCounter
    {
        /// <summary>Counter width minus one (a power of two minus one).</summary>
        public readonly uint Mask;

        public FrameCounter(uint mask)
        {
            Mask = mask;
        }

        /// <summary>Frames from <paramref name="since"/> to <paramref name="now"/>, 0 .. <see cref="Mask"/>.</summary>
        public uint Elapsed(uint now, uint since) => (now - since) & Mask;

        /// <summary>Signed distance <paramref name="a"/> - <paramref name="b"/> on the wrapping counter, in [-half, half).</summary>
        public int Delta(uint a, uint b)
        {
            uint half = (Mask + 1) >> 1;
            uint d = (a - b) & Mask;
            return d >= half ? (int)d - (int)(Mask + 1) : (int)d;
        }

        /// <summary>True when <paramref name="frame"/> lies strictly behind <paramref name="now"/>: the controller is done with it.</summary>
        public bool HasPassed(uint now, uint frame) => Delta(now, frame) > 0;
    }
}
