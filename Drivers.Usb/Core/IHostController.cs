using System;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb
{
    /// <summary>
    /// What every host controller driver (UHCI, OHCI, EHCI, xHCI, the simulator) implements.
    /// Linux: struct hc_driver; Haiku: BusManager's virtual methods.
    ///
    /// Contract:
    /// - Submit queues a request and returns at once; the controller later calls
    ///   <see cref="UsbBus.GiveBack"/> exactly once per accepted request, possibly from interrupt
    ///   context, possibly before Submit has returned.
    /// - Requests on one endpoint complete in submission order. When one ends in error the core
    ///   marks the endpoint stopped for the duration of its completion; the controller must not
    ///   start or complete later requests on that endpoint until <see cref="EndpointResumed"/>.
    /// - Request flags: the controller honours ZeroPacket (a trailing zero-length packet on OUT
    ///   transfers that are a multiple of wMaxPacketSize); ShortNotOk is applied by the core.
    ///   Isochronous requests: the core validated the packets and the interval; the controller
    ///   schedules them (<see cref="UsbIsoStream"/> gives the start-frame rules), fills each
    ///   packet's ActualLength and Status, and gives the request back with Ok (or the cancel
    ///   status); the core sums the lengths and counts the errors. A controller that cannot do
    ///   isochronous transfers refuses the endpoint in EnableEndpoint (NotSupported).
    /// - Cancel removes a queued request from the hardware and gives it back with the status the
    ///   core passed (asynchronously is fine).
    /// - Requests to the root hub never reach Submit: the core emulates the root hub's standard
    ///   requests and forwards hub-class requests to <see cref="RootHubControl"/>; its status
    ///   interrupt endpoint is served from <see cref="RootHubStatusData"/> whenever the controller
    ///   calls <see cref="UsbBus.RootHubStatusChanged"/>.
    /// </summary>
    public interface IHostController
    {
        /// <summary>Driver name as Linux shows it in listings: "uhci_hcd", "ehci-pci", "xhci_hcd".</summary>
        string DriverName { get; }
        /// <summary>
        /// Linux's hc_driver description ("uhci_hcd", "ohci_hcd", "ehci_hcd", "xhci-hcd"): the root hub's
        /// manufacturer string ends with it, as Linux's "&lt;kernel&gt; &lt;description&gt;".
        /// </summary>
        string HcdDescription { get; }
        /// <summary>Product string of the root hub: "UHCI Host Controller".</summary>
        string Description { get; }
        /// <summary>Serial string of the root hub: the PCI address "0000:00:1d.0".</summary>
        string BusId { get; }
        /// <summary>Speed of the root hub (Full for UHCI/OHCI, High for EHCI and xHCI's USB 2 part, Super for xHCI's USB 3 part).</summary>
        UsbSpeed RootHubSpeed { get; }
        /// <summary>Number of root ports.</summary>
        int RootPortCount { get; }
        /// <summary>True for xHCI: the controller assigns device addresses itself (Address Device command).</summary>
        bool AssignsAddresses { get; }
        /// <summary>True when the root hub has an integrated transaction translator (some EHCIs, xHCI's USB 2 root hub).</summary>
        bool RootHubHasTt { get; }
        /// <summary>Current (micro)frame number.</summary>
        uint FrameNumber { get; }

        /// <summary>Called once by the core when the controller is registered.</summary>
        void Start(UsbBus bus);
        /// <summary>Stops the controller; every queued request is given back with Shutdown.</summary>
        void Stop();

        /// <summary>Prepares controller state for a new device (xHCI: Enable Slot). Default address 0.</summary>
        UsbStatus AllocateDevice(UsbDevice device);
        /// <summary>Releases everything the controller holds for the device (xHCI: Disable Slot).</summary>
        void FreeDevice(UsbDevice device);
        /// <summary>
        /// Moves the device from the default address to <paramref name="address"/>. UHCI/OHCI/EHCI
        /// call <see cref="UsbBus.SendSetAddress"/>; xHCI issues Address Device and reports the
        /// address it chose in <paramref name="assigned"/>.
        /// </summary>
        UsbStatus AddressDevice(UsbDevice device, byte address, out byte assigned);

        /// <summary>Makes the endpoint usable (called again for endpoint 0 when bMaxPacketSize0 becomes known).</summary>
        UsbStatus EnableEndpoint(UsbDevice device, UsbEndpoint endpoint);
        /// <summary>Tears the endpoint down; the core has already given back its requests.</summary>
        void DisableEndpoint(UsbDevice device, UsbEndpoint endpoint);
        /// <summary>Resets the host side data toggle/sequence after CLEAR_FEATURE(ENDPOINT_HALT).</summary>
        void ResetEndpoint(UsbDevice device, UsbEndpoint endpoint);
        /// <summary>The endpoint's queue may continue after a failed request's completion returned.</summary>
        void EndpointResumed(UsbEndpoint endpoint);

        UsbStatus Submit(UsbRequest request);
        /// <summary>Removes the request from the hardware and gives it back with <paramref name="status"/>.</summary>
        UsbStatus Cancel(UsbRequest request, UsbStatus status);

        /// <summary>
        /// Root hub emulation: answers a hub-class request (USB 2.0 11.24.2: GET_HUB_DESCRIPTOR,
        /// GET_STATUS, SET/CLEAR_FEATURE for the hub and its ports) from the controller's registers.
        /// </summary>
        UsbStatus RootHubControl(SetupPacket setup, Span<byte> data, out int actualLength);
        /// <summary>
        /// Root hub status-change bitmap (USB 2.0 11.12.4: bit 0 hub, bit n port n); returns its
        /// length in bytes, or 0 when nothing changed (Linux hub_status_data).
        /// </summary>
        int RootHubStatusData(Span<byte> bitmap);
    }
}
