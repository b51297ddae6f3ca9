namespace Drivers.Usb
{
    /// <summary>
    /// Bulk streams (USB 3.2 8.12.1.4, xHCI 4.12): a SuperSpeed bulk endpoint multiplexes several
    /// transfer queues selected by a Stream ID (1..n). A controller that supports them implements
    /// this next to <see cref="IHostController"/> (Linux hc_driver.alloc_streams / free_streams);
    /// drivers call <see cref="UsbBus.AllocStreams"/> and set <see cref="UsbRequest.StreamId"/>.
    /// </summary>
    public interface IStreamController
    {
        /// <summary>The controller can give streams at all (xHCI: MaxPSASize in HCCPARAMS1 is not 0; Linux hcd->can_do_streams).</summary>
        bool CanDoStreams { get; }

        /// <summary>
        /// Gives each endpoint (enabled, bulk, SuperSpeed, companion MaxStreams > 0) at least
        /// <paramref name="streams"/> stream IDs (1..streams); <paramref name="allocated"/> is how many
        /// each one got (the controller may round up, or give fewer when the endpoint supports fewer).
        /// The endpoints must be idle.
        /// </summary>
        UsbStatus AllocStreams(UsbDevice device, UsbEndpoint[] endpoints, int streams, out int allocated);
        /// <summary>Returns the endpoints to ordinary single-queue operation (idle endpoints).</summary>
        UsbStatus FreeStreams(UsbDevice device, UsbEndpoint[] endpoints);
    }

    /// <summary>Limits of bulk streams (USB 3.2 9.6.7: companion bmAttributes bits 4:0 = MaxStreams, 2^MaxStreams streams).</summary>
    public static class UsbStreams
    {
        public const int CompanionMaxStreamsMask = 0x1F;
        /// <summary>Stream ID 0 means "no stream" and 0xFFFF/0xFFFE are reserved (USB 3.2 8.12.1.4).</summary>
        public const int MaxStreamId = 0xFFFD;

        /// <summary>Streams the endpoint supports (0: none), from its SuperSpeed companion descriptor.</summary>
        public static int Supported(UsbEndpoint endpoint)
        {
            if (endpoint == null || !endpoint.HasCompanion || endpoint.Type != Descriptors.TransferType.Bulk)
                return 0;
            int exponent = endpoint.Companion.bmAttributes & CompanionMaxStreamsMask;
            return exponent == 0 ? 0 : 1 << (exponent > 16 ? 16 : exponent);
        }
    }
}
