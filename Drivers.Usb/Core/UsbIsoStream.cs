namespace Drivers.Usb
{
    /// <summary>
    /// Where an endpoint's isochronous stream stands in time, and the start-frame rules every
    /// controller applies the same way (Linux ehci-sched.c iso_stream_schedule, xhci-ring.c
    /// xhci_get_isoc_frame_id; Documentation/driver-api/usb/URB.rst):
    /// - <see cref="UsbRequestFlags.IsoAsap"/>: the request continues the stream right after the
    ///   previous request's last slot; when the stream is idle it starts <see cref="MinLead"/>
    ///   slots from now.
    /// - Otherwise the request starts at its <see cref="UsbRequest.StartFrame"/>.
    /// - Packets whose slot is no longer ahead of the controller are not sent: they complete with
    ///   <see cref="UsbStatus.CrossedFrame"/> (-EXDEV). When every packet is late, a request with
    ///   an explicit start frame is refused with CrossedFrame; an ASAP request restarts the stream.
    /// - A request reaching beyond the controller's schedule window is refused (FrameTooFar, -EFBIG).
    /// A "slot" is whatever the controller counts: frames (UHCI, OHCI, xHCI frame IDs) or
    /// microframes (EHCI high speed); the counter wraps at <see cref="FrameMask"/> + 1.
    /// </summary>
    public sealed class UsbIsoStream
    {
        /// <summary>Counter width minus one (a power of two minus one).</summary>
        public readonly uint FrameMask;
        /// <summary>Slots between "now" and the first one the controller can still be given safely.</summary>
        public readonly int MinLead;
        /// <summary>How many slots ahead of now the schedule reaches (UHCI/OHCI: the frame list length).</summary>
        public readonly int Window;

        /// <summary>A request is scheduled and <see cref="NextFrame"/> is the slot after its last packet.</summary>
        public bool Running;
        public uint NextFrame;

        public UsbIsoStream(uint frameMask, int minLead, int window)
        {
            FrameMask = frameMask;
            MinLead = minLead;
            Window = window;
        }

        /// <summary>Signed distance a - b on the wrapping counter (in [-half, half)).</summary>
        public int Delta(uint a, uint b)
        {
            uint half = (FrameMask + 1) >> 1;
            uint d = (a - b) & FrameMask;
            return d >= half ? (int)d - (int)(FrameMask + 1) : (int)d;
        }

        /// <summary>
        /// Chooses the request's start slot (written to <see cref="UsbRequest.StartFrame"/>) and how
        /// many leading packets are too late (<paramref name="skip"/>; they are already marked
        /// CrossedFrame). <paramref name="now"/> is the controller's current slot, <paramref name="interval"/>
        /// the service period in slots. On success the stream moves past the request.
        /// </summary>
        /// <remarks>
        /// With <paramref name="controllerPlacesAsap"/> (xHCI's Start Isoch ASAP) a late ASAP
        /// request skips nothing: the controller itself runs its first packet in the next slot it
        /// can still make, and reports the ones it misses (Missed Service Error).
        /// </remarks>
        public UsbStatus Schedule(UsbRequest request, uint now, int interval, out int skip, bool controllerPlacesAsap = false)
        {
            skip = 0;
            if (interval < 1)
                interval = 1;
            int packets = request.NumberOfPackets;
            uint earliest = (now + (uint)MinLead) & FrameMask;
            bool asap = request.HasFlag(UsbRequestFlags.IsoAsap);
            uint start = asap ? (Running ? NextFrame : earliest) : (uint)request.StartFrame & FrameMask;
            int late = Delta(earliest, start);
            if (late > 0 && asap && controllerPlacesAsap)
            {
                start = earliest;
                late = 0;
            }
            if (late > 0)
            {
                skip = (late + interval - 1) / interval;
                if (skip >= packets)
                {
                    if (!asap)
                    {
                        skip = 0;
                        return UsbStatus.CrossedFrame;
                    }
                    // The stream fell behind by more than a whole request: start it again.
                    start = earliest;
                    skip = 0;
                }
            }
            uint end = (start + (uint)(packets * interval)) & FrameMask;
            if (Delta(start, now) + packets * interval > Window)
            {
                skip = 0;
                return UsbStatus.FrameTooFar;
            }
            request.StartFrame = (int)start;
            for (int i = 0; i < skip; i++)
            {
                request.IsoPackets[i].Status = UsbStatus.CrossedFrame;
                request.IsoPackets[i].ActualLength = 0;
            }
            NextFrame = end;
            Running = true;
            return UsbStatus.Ok;
        }

        /// <summary>The slot of packet <paramref name="index"/> of a scheduled request.</summary>
        public uint SlotOf(UsbRequest request, int index, int interval) =>
            ((uint)request.StartFrame + (uint)(index * interval)) & FrameMask;

        /// <summary>Forgets the stream (endpoint disabled, queue flushed): the next ASAP request starts afresh.</summary>
        public void Reset() => Running = false;
    }
}
