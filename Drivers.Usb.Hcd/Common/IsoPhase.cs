namespace Drivers.Usb.Hcd
{
    /// <summary>
    /// Keeps a full-speed isochronous stream in the frames its bandwidth was booked in: the frames f
    /// with f mod <c>period</c> = <c>phase</c> of a <see cref="PeriodicPlacement"/> (UHCI: Linux
    /// uhci-q.c uhci_submit_isochronous moves an ASAP start "forward to the first frame having the
    /// correct phase"; OHCI: Linux ohci-q.c ohci_urb_enqueue starts a new stream at a frame
    /// <c>|= ed-&gt;branch</c>). The frame counters (11 and 16 bits) wrap at a multiple of every
    /// period (at most 32 frames), so the phase survives the wrap. With a period of 1 frame every
    /// frame is booked and nothing changes.
    /// </summary>
    public static class IsoPhase
    {
        /// <summary>True when a frame belongs to the booked phase.</summary>
        public static bool InPhase(uint frame, int period, int phase) => period <= 1 || (int)(frame % (uint)period) == phase;

        /// <summary>
        /// Checks a request stays in the booked frames: its interval is a whole number of booked
        /// periods (Linux UHCI: "Can't change the period", -EINVAL) and an explicit start frame is
        /// on the phase (Linux UHCI takes the phase from the start frame; this driver booked at
        /// enable time, so another phase is refused).
        /// </summary>
        static UsbStatus Check(UsbRequest request, int period, int phase)
        {
            if (period <= 1)
                return UsbStatus.Ok;
            if (request.Interval % period != 0)
                return UsbStatus.InvalidArgument;
            if (!request.HasFlag(UsbRequestFlags.IsoAsap) && !InPhase((uint)request.StartFrame, period, phase))
                return UsbStatus.InvalidArgument;
            return UsbStatus.Ok;
        }

        /// <summary>
        /// Schedules the request (<see cref="UsbIsoStream.Schedule"/>) so that an ASAP start (idle
        /// stream, or a stream that fell a whole request behind and restarts) lands on the phase: the
        /// "now" handed to the stream is moved forward by up to period - 1 frames. A running stream
        /// continues where it was, which is on the phase already. A request that would leave the
        /// booked frames is refused first (<see cref="Check"/>), with the stream untouched.
        /// </summary>
        public static UsbStatus Schedule(UsbIsoStream stream, UsbRequest request, uint now, int period, int phase, out int skip)
        {
            skip = 0;
            UsbStatus inPhase = Check(request, period, phase);
            if (inPhase != UsbStatus.Ok)
                return inPhase;
            bool asap = request.HasFlag(UsbRequestFlags.IsoAsap);
            UsbStatus status = stream.Schedule(request, stream.Running ? now : AlignedNow(stream, now, period, phase), request.Interval, out skip);
            if (status != UsbStatus.Ok || !asap || InPhase((uint)request.StartFrame, period, phase))
                return status;
            // The stream restarted at "now + lead", off the phase: start it again on the phase (a
            // restart skips no packet, so nothing was marked late).
            stream.Reset();
            return stream.Schedule(request, AlignedNow(stream, now, period, phase), request.Interval, out skip);
        }

        /// <summary>The "now" whose first usable frame (now + lead) is the next frame of the phase.</summary>
        static uint AlignedNow(UsbIsoStream stream, uint now, int period, int phase)
        {
            if (period <= 1)
                return now;
            uint earliest = (now + (uint)stream.MinLead) & stream.FrameMask;
            uint wait = (uint)((phase - (int)(earliest % (uint)period)) & (period - 1));
            return (now + wait) & stream.FrameMask;
        }
    }
}
