namespace Drivers.Usb.Hcd
{
    /// <summary>
    /// The part of a controller's per-request state that is the same on every controller (Linux:
    /// the urb fields usbcore and the HCDs share, urb->unlinked and the "given back" rule of
    /// usb_hcd_giveback_urb). Each driver derives its own class from it (UHCI <c>UhciTransfer</c>,
    /// OHCI and EHCI <c>Req</c>, EHCI <c>IsoReq</c>, xHCI <c>Td</c>) and adds its hardware
    /// descriptors; the object is <see cref="UsbRequest.HcdPrivate"/> while the request is queued.
    /// Life of a request:
    /// 1. submit: the driver builds descriptors, queues it on its endpoint's <see cref="RequestQueue{T}"/>,
    ///    hands it to the hardware;
    /// 2. cancel: <see cref="BeginCancel"/> marks it (the first cancel wins); the driver then takes
    ///    its endpoint off the schedule and waits until the controller cannot touch the descriptors
    ///    (OHCI: frames, EHCI: async advance or frames, UHCI: a frame, xHCI: Stop Endpoint). Until
    ///    then the request, its descriptors and its data buffer stay where they are: DMA may still
    ///    reach them;
    /// 3. completion: <see cref="GiveBackQueue.Finish"/> gives it back exactly once, with its
    ///    cancel status when it was cancelled, from under the driver's lock; the completion callback
    ///    runs after the lock is released (<see cref="GiveBackQueue.Deliver"/>).
    /// </summary>
    public class HcdRequest
    {
        public UsbRequest Request;
        /// <summary>Bytes moved so far (the data stage only).</summary>
        public int Actual;
        /// <summary>Given back (or queued to be): nothing may complete it again.</summary>
        public bool Finished;
        /// <summary>The status an unlink asked for; <see cref="UsbStatus.InProgress"/> while none did.</summary>
        public UsbStatus CancelStatus = UsbStatus.InProgress;
        /// <summary>The status it was given back with.</summary>
        public UsbStatus FinalStatus;

        /// <summary>A cancel has been asked for (the request may still be on the hardware).</summary>
        public bool IsCancelled => CancelStatus != UsbStatus.InProgress;

        /// <summary>
        /// The status a request goes back with when its endpoint or controller goes away under it:
        /// its cancel status when it was cancelled, else <paramref name="otherwise"/>.
        /// </summary>
        public UsbStatus CancelledOr(UsbStatus otherwise) => IsCancelled ? CancelStatus : otherwise;

        /// <summary>
        /// The first half of <see cref="IHostController.Cancel"/>, under the driver's lock (Linux
        /// usb_hcd_check_unlink_urb): <see cref="UsbStatus.NotQueued"/> when <paramref name="r"/> is
        /// not the controller's state of <paramref name="request"/> or was already given back;
        /// <see cref="UsbStatus.Ok"/> when a cancel is already under way (nothing more to do);
        /// <see cref="UsbStatus.InProgress"/> when this is the first cancel: the request is marked
        /// with <paramref name="status"/> and the caller takes it off the hardware.
        /// </summary>
        public static UsbStatus BeginCancel(HcdRequest r, UsbRequest request, UsbStatus status)
        {
            if (r == null || r.Finished || r.Request != request)
                return UsbStatus.NotQueued;
            if (r.IsCancelled)
                return UsbStatus.Ok;
            r.CancelStatus = status;
            return UsbStatus.InProgress;
        }
    }
}
