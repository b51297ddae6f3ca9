using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb
{
    /// <summary>Called when a request completes. May run in interrupt context: must not block.</summary>
    public delegate void UsbCompletion(UsbRequest request);

    /// <summary>Request flags (Linux URB_* transfer_flags).</summary>
    public static class UsbRequestFlags
    {
        public const int None = 0;
        /// <summary>A short IN transfer ends with <see cref="UsbStatus.ShortPacket"/> (URB_SHORT_NOT_OK).</summary>
        public const int ShortNotOk = 1 << 0;
        /// <summary>An OUT transfer that is a multiple of wMaxPacketSize ends with a zero-length packet (URB_ZERO_PACKET).</summary>
        public const int ZeroPacket = 1 << 1;
        /// <summary>
        /// Hint: no interrupt needed on completion (URB_NO_INTERRUPT). Honoured on isochronous
        /// requests queued behind others (the controller interrupts for the last one queued); the
        /// completion still runs, at the latest with the next interrupt or poll.
        /// </summary>
        public const int NoInterrupt = 1 << 2;
        /// <summary>
        /// Isochronous: start in the first free slot after the endpoint's previous request, or as
        /// soon as possible when the stream is idle (URB_ISO_ASAP); otherwise at <see cref="UsbRequest.StartFrame"/>.
        /// </summary>
        public const int IsoAsap = 1 << 3;
    }

    /// <summary>
    /// One packet of an isochronous request (Linux struct usb_iso_packet_descriptor): where it
    /// lies in the request's buffer and, after completion, what happened to it. Packets go out one
    /// per service interval, whatever happens to the others.
    /// </summary>
    public struct UsbIsoPacket
    {
        /// <summary>Offset of the packet's data in the request's buffer.</summary>
        public int Offset;
        /// <summary>Bytes to send (OUT) or room for (IN); at most the endpoint's payload per interval.</summary>
        public int Length;
        /// <summary>Bytes transferred (valid in the completion).</summary>
        public int ActualLength;
        /// <summary>Per-packet result: Ok, CrossedFrame (its frame had passed, -EXDEV), Overrun/Underrun, ...</summary>
        public UsbStatus Status;
    }

    /// <summary>
    /// An asynchronous transfer on one endpoint: Linux's URB, Haiku's Transfer. The submitter
    /// fills device, endpoint, buffer, length, flags and completion; the core and host controller
    /// fill status and actual length. The buffer is DMA memory the controller reads or writes
    /// directly; control requests carry their 8-byte SETUP packet in <see cref="Setup"/>.
    /// </summary>
    public sealed class UsbRequest
    {
        public UsbDevice Device;
        public UsbEndpoint Endpoint;
        /// <summary>Data stage direction (from bmRequestType for control, else the endpoint's).</summary>
        public bool DirectionIn;
        /// <summary>Data buffer (DMA memory); may be null when Length is 0.</summary>
        public DmaBuffer Buffer;
        /// <summary>Bytes to transfer, at most Buffer.Size.</summary>
        public int Length;
        public int Flags;
        /// <summary>SETUP packet for control requests (8 bytes of DMA memory).</summary>
        public DmaBuffer Setup;
        public UsbCompletion Completion;
        /// <summary>Free for the submitter.</summary>
        public object Context;
        /// <summary>
        /// Interrupt: polling interval in bInterval units (the endpoint's <see cref="UsbEndpoint.Interval"/>,
        /// which a driver shortens with <see cref="UsbBus.SetPollingInterval"/>). Isochronous:
        /// service period in frames (full speed) or microframes (high speed and up), Linux's
        /// urb->interval; 0 asks for the descriptor's period.
        /// </summary>
        public int Interval;
        /// <summary>
        /// Bulk streams: the Stream ID (1..n) of an endpoint that has streams (<see cref="UsbBus.AllocStreams"/>);
        /// 0 on every other endpoint (Linux urb->stream_id).
        /// </summary>
        public uint StreamId;

        /// <summary>Isochronous packets (the first <see cref="NumberOfPackets"/> are used).</summary>
        public UsbIsoPacket[] IsoPackets;
        /// <summary>Isochronous: number of packets, one per service interval.</summary>
        public int NumberOfPackets;
        /// <summary>
        /// Isochronous: the (micro)frame of the first packet, in the controller's frame counter
        /// (<see cref="UsbBus.CurrentFrame"/>, wrapping). Input without <see cref="UsbRequestFlags.IsoAsap"/>,
        /// set by the controller otherwise.
        /// </summary>
        public int StartFrame;
        /// <summary>Isochronous: packets that did not end Ok (valid in the completion).</summary>
        public int ErrorCount;

        /// <summary>Bytes actually transferred (valid in the completion).</summary>
        public int ActualLength;
        /// <summary>Final status (valid in the completion); InProgress while queued.</summary>
        public UsbStatus Status;

        /// <summary>Host controller's private state for this request.</summary>
        public object HcdPrivate;

        // Core bookkeeping, guarded by the bus lock.
        internal bool Linked;
        /// <summary>Status an unlink asked for; InProgress when not being unlinked.</summary>
        internal UsbStatus UnlinkStatus = UsbStatus.InProgress;
        /// <summary>Submitted and completion not yet returned.</summary>
        internal int UseCount;
        /// <summary>Kill in progress: resubmission is refused.</summary>
        internal int Reject;
        internal IEvent IdleEvent;
        /// <summary>usbmon's URB tag for this request (Linux uses the URB's address); 0 until first recorded.</summary>
        internal ulong MonitorTag;

        public TransferType Type => Endpoint.Type;
        public bool IsLinked => Linked;
        /// <summary>True while an unlink of this request is pending.</summary>
        public bool IsUnlinking => UnlinkStatus != UsbStatus.InProgress;
        public bool HasFlag(int flag) => (Flags & flag) != 0;

        public bool IsIsochronous => Endpoint != null && Endpoint.Type == TransferType.Isochronous;

        /// <summary>
        /// Lays out <paramref name="count"/> packets of <paramref name="packetLength"/> bytes back to
        /// back in the buffer (Linux drivers' usual loop); reuses the packet array when it is big enough.
        /// </summary>
        public void SetIsoPackets(int count, int packetLength)
        {
            if (IsoPackets == null || IsoPackets.Length < count)
                IsoPackets = new UsbIsoPacket[count];
            NumberOfPackets = count;
            for (int i = 0; i < count; i++)
            {
                IsoPackets[i].Offset = i * packetLength;
                IsoPackets[i].Length = packetLength;
                IsoPackets[i].ActualLength = 0;
                IsoPackets[i].Status = UsbStatus.InProgress;
            }
            Length = count * packetLength;
        }

        /// <summary>Copies the SETUP packet out of DMA memory.</summary>
        public SetupPacket ReadSetup() => SetupPacket.Read(Setup.AsSpan());
    }
}
