using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Hcd.Xhci
{
    /// <summary>
    /// Device, Input and Slot/Endpoint contexts (xHCI 1.2 6.2). Contexts are 32 or 64 bytes
    /// (HCCPARAMS1.CSZ); only the first 32 bytes carry fields. Device context: Slot at index 0,
    /// endpoint DCI n at index n. Input context: Input Control Context at 0, Slot at 1, DCI n at n + 1.
    /// </summary>
    public static class XhciContext
    {
        /// <summary>Endpoint contexts per device (DCI 1..31) plus the slot context.</summary>
        public const int DeviceContextEntries = 32;
        public const int InputContextEntries = 33;
        public const uint Alignment = 64;

        public static uint DeviceContextSize(uint contextBytes) => DeviceContextEntries * contextBytes;
        public static uint InputContextSize(uint contextBytes) => InputContextEntries * contextBytes;

        /// <summary>Offset of the slot context in an input context.</summary>
        public static uint InputSlot(uint contextBytes) => contextBytes;
        /// <summary>Offset of endpoint DCI <paramref name="dci"/> in an input context.</summary>
        public static uint InputEndpoint(uint contextBytes, int dci) => (uint)(dci + 1) * contextBytes;
        /// <summary>Offset of endpoint DCI <paramref name="dci"/> in a device (output) context.</summary>
        public static uint DeviceEndpoint(uint contextBytes, int dci) => (uint)dci * contextBytes;

        // Input Control Context (6.2.5.1): dword 0 Drop flags, dword 1 Add flags.
        public const uint DropFlags = 0;
        public const uint AddFlags = 4;
        public const uint SlotFlag = 1u << 0;
        public static uint EndpointFlag(int dci) => 1u << dci;

        /// <summary>Device Context Index (4.5.1): EP0 = 1, else 2 * number + (IN ? 1 : 0).</summary>
        public static int Dci(int endpointNumber, bool directionIn) =>
            endpointNumber == 0 ? 1 : 2 * endpointNumber + (directionIn ? 1 : 0);

        public static int DciOf(UsbEndpoint endpoint) =>
            endpoint.Type == TransferType.Control ? Dci(endpoint.Number, false) : Dci(endpoint.Number, endpoint.IsIn);
    }

    /// <summary>Slot Context (6.2.2).</summary>
    public static class SlotContext
    {
        // Dword 0.
        public const uint RouteStringMask = 0xFFFFF;
        public const int SpeedShift = 20;
        public const uint MultiTt = 1u << 25;
        public const uint Hub = 1u << 26;
        public const int ContextEntriesShift = 27;
        public const uint ContextEntriesMask = 0x1Fu << ContextEntriesShift;
        // Dword 1.
        public const uint MaxExitLatencyMask = 0xFFFF;
        public const int RootHubPortShift = 16;
        public const int NumberOfPortsShift = 24;
        // Dword 2.
        public const uint ParentHubSlotMask = 0xFF;
        public const int ParentPortShift = 8;
        public const int TtThinkTimeShift = 16;
        public const int InterrupterTargetShift = 22;
        // Dword 3.
        public const uint DeviceAddressMask = 0xFF;
        public const int SlotStateShift = 27;

        /// <summary>Hub tiers the 20-bit route string holds (xHCI 8.9): five external hubs.</summary>
        public const int MaxRouteTiers = 5;
        /// <summary>Largest port a 4-bit route string tier encodes (USB 3.2 10.1.3.2, USB_SS_MAXPORTS).</summary>
        public const int MaxRoutePort = 15;

        /// <summary>Slot states (6.2.2, dword 3 bits 31..27).</summary>
        public const uint StateDisabled = 0;
        public const uint StateDefault = 1;
        public const uint StateAddressed = 2;
        public const uint StateConfigured = 3;

        public static uint Dword0(uint routeString, uint speedId, bool hub, bool multiTt, int contextEntries) =>
            (routeString & RouteStringMask) | (speedId << SpeedShift) | (hub ? Hub : 0) | (multiTt ? MultiTt : 0) |
            (((uint)contextEntries << ContextEntriesShift) & ContextEntriesMask);

        public static uint Dword1(int rootHubPort, int numberOfPorts) =>
            ((uint)rootHubPort << RootHubPortShift) | ((uint)numberOfPorts << NumberOfPortsShift);

        public static uint Dword2(int ttHubSlot, int ttPort, int thinkTime) =>
            ((uint)ttHubSlot & ParentHubSlotMask) | ((uint)ttPort << ParentPortShift) | ((uint)thinkTime << TtThinkTimeShift);

        public static int ContextEntries(uint dword0) => (int)((dword0 & ContextEntriesMask) >> ContextEntriesShift);

        /// <summary>
        /// Route string (xHCI 1.2 4.3.3, 8.9; USB 3.2 8.9, 10.1.3.2): 4 bits per hub tier below the
        /// root port, tier 1 in bits 3..0, at most <see cref="MaxRouteTiers"/> tiers. SuperSpeed hubs
        /// route packets by these 4 bits, so a port above 15 below a SuperSpeed hub, or a sixth
        /// tier, cannot be encoded: the device is unreachable and this returns NotSupported (the
        /// controller then refuses to give it a slot). USB 2.0 hubs route by address, not by the
        /// route string: like Linux (hub.c usb_alloc_dev) their ports above 15 encode as 15.
        /// </summary>
        public static UsbStatus RouteString(UsbDevice device, out uint route, out int rootPort)
        {
            route = 0;
            rootPort = 0;
            // Walk from the device up to the device on the root port, counting the hub tiers.
            int tiers = 0;
            UsbDevice d = device;
            while (d != null && d.Parent != null && !d.Parent.IsRootHub)
            {
                tiers++;
                d = d.Parent;
            }
            if (d != null && d.Parent != null)
                rootPort = d.PortNumber;
            if (tiers > MaxRouteTiers)
                return UsbStatus.NotSupported;
            // Walk again, now placing each port in its tier's nibble (the deepest hub is the last tier).
            d = device;
            for (int tier = tiers - 1; tier >= 0; tier--)
            {
                int port = d.PortNumber;
                if (port > MaxRoutePort)
                {
                    if (d.Parent.Speed >= UsbSpeed.Super)
                        return UsbStatus.NotSupported;
                    port = MaxRoutePort;
                }
                route |= (uint)port << (RouteTierBits * tier);
                d = d.Parent;
            }
            return UsbStatus.Ok;
        }

        /// <summary>Why <see cref="RouteString"/> refused a device, for the log.</summary>
        public static string RouteProblem(UsbDevice device)
        {
            int tiers = 0;
            for (UsbDevice d = device; d != null && d.Parent != null && !d.Parent.IsRootHub; d = d.Parent)
            {
                tiers++;
                if (d.PortNumber > MaxRoutePort && d.Parent.Speed >= UsbSpeed.Super)
                    return "port " + Format.Decimal((ulong)d.PortNumber) + " of SuperSpeed hub " + d.Parent.Name +
                           " does not fit the route string's 4 bits per tier (ports 1-15, xHCI 8.9)";
            }
            if (tiers > MaxRouteTiers)
                return "device is " + Format.Decimal((ulong)tiers) + " hubs below its root port, the route string holds " +
                       Format.Decimal((ulong)MaxRouteTiers) + " tiers (xHCI 8.9)";
            return "route string ok";
        }

        /// <summary>Bits per hub tier in the route string (xHCI 8.9).</summary>
        const int RouteTierBits = 4;
    }

    /// <summary>Endpoint Context (6.2.3).</summary>
    public static class EndpointContext
    {
        // Dword 0.
        public const uint StateMask = 0x7;
        public const int MultShift = 8;
        public const int IntervalShift = 16;
        public const int MaxEsitPayloadHiShift = 24;
        // Dword 1.
        public const int ErrorCountShift = 1;
        public const int TypeShift = 3;
        public const int MaxBurstShift = 8;
        public const int MaxPacketShift = 16;
        // Dwords 2-3: TR Dequeue Pointer | DCS.
        public const uint DequeueOffset = 8;
        // Dword 4.
        public const uint Dword4Offset = 16;
        public const int MaxEsitPayloadLoShift = 16;

        /// <summary>CErr: three retries for everything but isochronous (4.10.2.7).</summary>
        public const uint DefaultErrorCount = 3;

        // Endpoint states (6.2.3, table 6-8).
        public const uint StateDisabled = 0;
        public const uint StateRunning = 1;
        public const uint StateHalted = 2;
        public const uint StateStopped = 3;
        public const uint StateError = 4;

        // Endpoint types (table 6-9).
        public const uint TypeIsochOut = 1;
        public const uint TypeBulkOut = 2;
        public const uint TypeInterruptOut = 3;
        public const uint TypeControl = 4;
        public const uint TypeIsochIn = 5;
        public const uint TypeBulkIn = 6;
        public const uint TypeInterruptIn = 7;

        // Average TRB Length suggestions (4.14.1.1).
        public const uint AverageControl = 8;
        public const uint AverageInterrupt = 1024;
        public const uint AverageBulk = 3072;

        public static uint EndpointType(TransferType type, bool directionIn)
        {
            switch (type)
            {
                case TransferType.Control: return TypeControl;
                case TransferType.Isochronous: return directionIn ? TypeIsochIn : TypeIsochOut;
                case TransferType.Bulk: return directionIn ? TypeBulkIn : TypeBulkOut;
                default: return directionIn ? TypeInterruptIn : TypeInterruptOut;
            }
        }

        /// <summary>
        /// Interval field (6.2.3.6): the period is 2^Interval x 125 us. High/SuperSpeed periodic and
        /// full-speed isochronous: bInterval - 1 (+3 for full-speed isochronous, whose unit is 1 ms).
        /// Full/low-speed interrupt: bInterval in ms → floor(log2(bInterval * 8)), clamped 3..10.
        /// Control and bulk: 0.
        /// </summary>
        public static uint Interval(UsbSpeed speed, TransferType type, byte bInterval)
        {
            if (type != TransferType.Interrupt && type != TransferType.Isochronous)
                return 0;
            if (speed >= UsbSpeed.High || type == TransferType.Isochronous)
            {
                int b = bInterval;
                if (b < 1) b = 1;
                if (b > 16) b = 16;
                uint value = (uint)(b - 1);
                if (speed < UsbSpeed.High)
                    value += 3;
                return value;
            }
            uint frames = bInterval == 0 ? 1u : bInterval;
            uint microframes = frames * 8;
            uint log = 0;
            while ((microframes >> 1) != 0)
            {
                microframes >>= 1;
                log++;
            }
            if (log < 3) log = 3;
            if (log > 10) log = 10;
            return log;
        }

        /// <summary>Max Burst Size (6.2.3.4): SuperSpeed from the companion, high-speed periodic from wMaxPacketSize bits 12..11.</summary>
        public static uint MaxBurst(UsbSpeed speed, UsbEndpoint endpoint)
        {
            if (speed >= UsbSpeed.Super)
                return endpoint.HasCompanion ? endpoint.Companion.bMaxBurst : 0u;
            if (speed == UsbSpeed.High && (endpoint.Type == TransferType.Interrupt || endpoint.Type == TransferType.Isochronous))
                return (uint)(endpoint.Descriptor.Mult - 1);
            return 0;
        }

        /// <summary>Max ESIT Payload (6.2.3.8): bytes per service interval of a periodic endpoint.</summary>
        public static uint MaxEsitPayload(UsbSpeed speed, UsbEndpoint endpoint)
        {
            if (endpoint.Type != TransferType.Interrupt && endpoint.Type != TransferType.Isochronous)
                return 0;
            if (speed >= UsbSpeed.Super && endpoint.HasCompanion)
                return endpoint.Companion.wBytesPerInterval;
            return (uint)endpoint.MaxPacketSize * (MaxBurst(speed, endpoint) + 1);
        }

        /// <summary>Writes the five dwords of an endpoint context at <paramref name="offset"/>.</summary>
        public static void Write(DmaBuffer context, uint offset, UsbSpeed speed, UsbEndpoint endpoint, int maxPacket, ulong dequeue, bool cycle)
        {
            TransferType type = endpoint.Type;
            bool directionIn = type == TransferType.Control || endpoint.IsIn;
            uint esit = MaxEsitPayload(speed, endpoint);
            uint interval = Interval(speed, type, endpoint.Interval);
            uint dword0 = (interval << IntervalShift) | ((esit >> 16) << MaxEsitPayloadHiShift);
            uint errors = type == TransferType.Isochronous ? 0 : DefaultErrorCount;
            uint dword1 = (errors << ErrorCountShift) | (EndpointType(type, directionIn) << TypeShift) |
                          (MaxBurst(speed, endpoint) << MaxBurstShift) | ((uint)maxPacket << MaxPacketShift);
            uint average = type == TransferType.Control ? AverageControl : type == TransferType.Bulk ? AverageBulk : AverageInterrupt;
            if (esit != 0 && esit < average) average = esit;
            XhciMemory.Write(context, offset, dword0);
            XhciMemory.Write(context, offset + 4, dword1);
            XhciMemory.Write64(context, offset + DequeueOffset, (dequeue & Trb.DequeuePointerMask) | (cycle ? Trb.DequeueCycleState : 0));
            XhciMemory.Write(context, offset + Dword4Offset, average | ((esit & 0xFFFF) << MaxEsitPayloadLoShift));
        }

        public static uint State(uint dword0) => dword0 & StateMask;

        // Streams (6.2.3, 4.12.2): dword 0 MaxPStreams bits 14..10 and LSA bit 15; dwords 2-3 then
        // point to the Stream Context Array instead of a ring.
        public const int MaxPStreamsShift = 10;
        public const uint MaxPStreamsMask = 0x1F;
        public const uint LinearStreamArray = 1u << 15;

        /// <summary>Turns an endpoint context written by <see cref="Write"/> into a stream endpoint: MaxPStreams, LSA, the array pointer.</summary>
        public static void SetStreams(DmaBuffer context, uint offset, int maxPStreams, ulong streamArray)
        {
            uint dword0 = XhciMemory.Read(context, offset);
            dword0 = (dword0 & ~(MaxPStreamsMask << MaxPStreamsShift)) | (((uint)maxPStreams & MaxPStreamsMask) << MaxPStreamsShift) | LinearStreamArray;
            XhciMemory.Write(context, offset, dword0);
            XhciMemory.Write64(context, offset + DequeueOffset, streamArray & Trb.DequeuePointerMask);
        }
    }

    /// <summary>Stream Context (6.2.4.1): 16 bytes per Stream ID in the Primary Stream Context Array.</summary>
    public static class StreamContext
    {
        public const uint Size = 16;
        /// <summary>Stream Context Type (SCT, bits 3..1): 1 = Primary Transfer Ring (table 6-13).</summary>
        public const ulong TypePrimaryRing = 1;
        public const int TypeShift = 1;
        /// <summary>Array alignment (6.2.4: 16 bytes).</summary>
        public const uint Alignment = 16;

        /// <summary>The dequeue field of a stream whose ring starts at <paramref name="ring"/> (DCS = cycle, SCT = primary ring).</summary>
        public static ulong Dequeue(ulong ring, bool cycle) =>
            (ring & Trb.DequeuePointerMask) | (TypePrimaryRing << TypeShift) | (cycle ? Trb.DequeueCycleState : 0);

        public static void Write(DmaBuffer array, int streamId, ulong ring, bool cycle)
        {
            uint offset = (uint)streamId * Size;
            XhciMemory.Write64(array, offset, Dequeue(ring, cycle));
            XhciMemory.Write64(array, offset + 8, 0);
        }
    }
}
