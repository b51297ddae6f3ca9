namespace Drivers.Usb.Hcd
{
    /// <summary>
    /// The per-packet results of an isochronous request, as every controller reports them (Linux:
    /// urb->iso_frame_desc[i].status and actual_length; Documentation/driver-api/usb/URB.rst): a
    /// packet whose descriptor the controller ran gets its status and length; one it never ran had
    /// its frame go by and completes with <see cref="UsbStatus.CrossedFrame"/> (-EXDEV) and no data,
    /// unless the request was cancelled before that frame came: then it is left for the core to
    /// mark with the cancel status.
    /// </summary>
    public static class IsoPacketResults
    {
        /// <summary>The controller did not run the packet; <paramref name="framesPassed"/>: its frame has gone by.</summary>
        public static void NotRun(ref UsbIsoPacket packet, bool framesPassed)
        {
            if (!framesPassed)
                return;
            packet.Status = UsbStatus.CrossedFrame;
            packet.ActualLength = 0;
        }

        /// <summary>The controller ran the packet and counted <paramref name="actualLength"/> bytes (UHCI counts both directions).</summary>
        public static void Ran(ref UsbIsoPacket packet, UsbStatus status, int actualLength)
        {
            packet.Status = status;
            packet.ActualLength = actualLength;
        }

        /// <summary>
        /// The controller ran the packet; it reports bytes for IN only (OHCI PSW size, EHCI iTD/siTD
        /// lengths): an OUT packet moved all its bytes when it went out well, none otherwise.
        /// </summary>
        public static void Ran(ref UsbIsoPacket packet, UsbStatus status, bool directionIn, int bytesIn) =>
            Ran(ref packet, status, directionIn ? bytesIn : status == UsbStatus.Ok ? packet.Length : 0);
    }
}
