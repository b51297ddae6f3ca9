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
        /// <summary>Hint: no interrupt needed on completion (URB_NO_INTERRUPT).</summary>
        public const int NoInterrupt = 1 << 2;
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
        /// <summary>Polling interval in frames/microframes chosen by the core for interrupt endpoints.</summary>
        public int Interval;

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

        /// <summary>Copies the SETUP packet out of DMA memory.</summary>
        public SetupPacket ReadSetup() => SetupPacket.Read(Setup.AsSpan());
    }
}
