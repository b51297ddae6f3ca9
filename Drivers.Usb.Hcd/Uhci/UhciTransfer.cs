using System.Collections.Generic;
using Platform;

namespace Drivers.Usb.Hcd.Uhci
{
    /// <summary>
    /// Driver state of one endpoint (Linux struct uhci_qh): its queue head in DMA memory, the
    /// skeleton it hangs behind, the data toggle, and the requests queued on it. Only the head of
    /// <see cref="Queue"/> is ever in the hardware; the next one starts when it retires.
    /// </summary>
    internal sealed class UhciEndpoint
    {
        public UsbEndpoint Endpoint;
        public DmaBuffer Qh;
        public uint QhPhysical;
        /// <summary>Skeleton index (<see cref="UhciSchedule"/>).</summary>
        public int Skeleton;
        public bool IsControl;
        /// <summary>Queue head reachable from the frame list.</summary>
        public bool Linked;
        /// <summary>Taken out of the schedule; waiting until the frame number passes <see cref="UnlinkFrame"/>.</summary>
        public bool Unlinking;
        public uint UnlinkFrame;
        /// <summary>DATA0/DATA1 of the next data packet (bulk and interrupt; USB 2.0 8.6).</summary>
        public bool Toggle;
        /// <summary>A request ended in error: the queue waits for EndpointResumed.</summary>
        public bool Halted;
        public bool Disabled;
        /// <summary>Isochronous endpoint: no queue head; its TDs hang in the frame list (<see cref="UhciHostController"/> UhciIsochronous.cs).</summary>
        public bool IsIso;
        public UsbIsoStream IsoStream;
        /// <summary>Interrupt and isochronous endpoints: the period, phase and microseconds booked in the frame load table (Linux qh-&gt;period, phase, load).</summary>
        public readonly PeriodicPlacement Bandwidth = new PeriodicPlacement();
        public readonly RequestQueue<UhciTransfer> Queue = new RequestQueue<UhciTransfer>();
    }

    /// <summary>
    /// One request in the schedule (Linux struct urb_priv): the shared lifecycle (<see cref="HcdRequest"/>)
    /// plus its TDs, which live in one DMA block, in order; the setup and status TDs of control
    /// transfers are the first and last. <see cref="HcdRequest.FinalStatus"/> and
    /// <see cref="HcdRequest.Actual"/> hold the evaluation until the request is given back.
    /// </summary>
    internal sealed class UhciTransfer : HcdRequest
    {
        public UhciEndpoint Endpoint;
        public DmaBuffer Tds;
        public int TdCount;
        /// <summary>Index of the first and one past the last data TD.</summary>
        public int FirstData;
        public int EndData;
        public bool IsControl;
        /// <summary>The queue head points at this transfer's TDs.</summary>
        public bool Started;
        /// <summary>Control transfer whose data stage ended short: the queue was pointed at the status TD.</summary>
        public bool ShortFixed;

        // Isochronous transfers: one TD per packet sent, each in the frame list entry of its frame.
        public bool IsIso;
        /// <summary>Frame number (FRNUM bits 10:0) and request packet of each TD.</summary>
        public uint[] TdFrame;
        public int[] TdPacket;
        /// <summary>The TDs are in the frame list.</summary>
        public bool IsoLinked;

        public uint TdPhysical(int index) => (uint)Tds.Physical + (uint)index * UhciTd.Size;
    }
}
