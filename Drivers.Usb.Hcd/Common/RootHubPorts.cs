using System;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hub;
using Platform;

namespace Drivers.Usb.Hcd
{
    /// <summary>
    /// Hub-class half of a root hub emulation, shared by the UHCI, OHCI, EHCI and xHCI root hubs
    /// (Linux: the hub_control switch each of uhci-hub.c, ohci-hub.c, ehci-hub.c and xhci-hub.c
    /// repeats). The split: the core's <c>Drivers.Usb.RootHubEmulation</c> answers the standard
    /// requests (USB 2.0 9.4) for every controller; this class decodes the hub-class requests
    /// (USB 2.0 11.24.2, SuperSpeed USB 3.2 10.16.2) — GET_HUB_DESCRIPTOR, GET_STATUS,
    /// SET_FEATURE and CLEAR_FEATURE for the hub (bmRequestType 0xA0/0x20) and its ports
    /// (0xA3/0x23), the port range check of wIndex — and calls the controller-specific port
    /// operations of the subclass. Anything it does not recognise is answered with STALL.
    /// </summary>
    public abstract class RootHubPorts
    {
        /// <summary>wIndex bits 7..0 select the port of a port request (USB 2.0 11.24.2).</summary>
        const int PortSelectorMask = 0xFF;
        /// <summary>wIndex bits 15..8 of a port SET_FEATURE: the selector (link state, test mode; USB 3.2 10.16.2.10).</summary>
        const int FeatureSelectorShift = 8;
        /// <summary>wHubChange / wPortChange sit in the upper half of the 4-byte status reply (USB 2.0 11.24.2.6/7).</summary>
        protected const int ChangeShift = 16;

        protected RootHubPorts(int portCount)
        {
            PortCount = portCount;
        }

        /// <summary>Number of downstream ports, numbered 1..PortCount in wIndex.</summary>
        public int PortCount { get; }

        /// <summary>Answers a hub-class request (USB 2.0 11.24.2) for the root hub.</summary>
        public UsbStatus Control(SetupPacket setup, Span<byte> data, out int actual)
        {
            actual = 0;
            int port = setup.wIndex & PortSelectorMask;
            bool portValid = port >= 1 && port <= PortCount;
            switch (setup.bmRequestType)
            {
                case HubClass.FromHub:
                    if (setup.bRequest == UsbRequestCode.GetDescriptor)
                    {
                        if (!AcceptsDescriptorRequest(setup.wValue))
                            return UsbStatus.Stall;
                        actual = HubDescriptorBytes(data);
                        return UsbStatus.Ok;
                    }
                    if (setup.bRequest == UsbRequestCode.GetStatus)
                        return Reply32(data, HubStatus(), out actual);
                    return UsbStatus.Stall;
                case HubClass.ToHub:
                    if (setup.bRequest == UsbRequestCode.SetFeature)
                        return SetHubFeature(setup.wValue);
                    if (setup.bRequest == UsbRequestCode.ClearFeature)
                        return ClearHubFeature(setup.wValue);
                    return UsbStatus.Stall;
                case HubClass.FromPort:
                    if (setup.bRequest != UsbRequestCode.GetStatus || !portValid)
                        return UsbStatus.Stall;
                    PortStatus(port, out ushort status, out ushort change);
                    return Reply32(data, status | ((uint)change << ChangeShift), out actual);
                case HubClass.ToPort:
                    if (!portValid)
                        return UsbStatus.Stall;
                    if (setup.bRequest == UsbRequestCode.SetFeature)
                        return SetPortFeature(port, setup.wValue, setup.wIndex >> FeatureSelectorShift);
                    if (setup.bRequest == UsbRequestCode.ClearFeature)
                        return ClearPortFeature(port, setup.wValue);
                    return UsbStatus.Stall;
                default:
                    return UsbStatus.Stall;
            }
        }

        /// <summary>The 4-byte GET_STATUS reply: status in bytes 0..1, change in bytes 2..3 (little endian).</summary>
        static UsbStatus Reply32(Span<byte> data, uint value, out int actual)
        {
            actual = 0;
            if (data.Length < HubClass.StatusSize)
                return UsbStatus.Stall;
            Le.Put32(data, 0, value);
            actual = HubClass.StatusSize;
            return UsbStatus.Ok;
        }

        /// <summary>
        /// Whether GET_DESCRIPTOR answers for this wValue. Default: any descriptor type (OHCI,
        /// xHCI); UHCI and EHCI accept only the hub descriptor type (USB 2.0 11.24.2.5).
        /// </summary>
        protected virtual bool AcceptsDescriptorRequest(ushort wValue) => true;

        /// <summary>Hub descriptor (USB 2.0 11.23.2.1 or SuperSpeed 10.15.2.1), truncated to <paramref name="data"/>; returns the bytes written.</summary>
        public abstract int HubDescriptorBytes(Span<byte> data);

        /// <summary>wHubStatus | wHubChange &lt;&lt; 16 (USB 2.0 tables 11-19/11-20). Default: nothing to report.</summary>
        protected virtual uint HubStatus() => 0;

        /// <summary>SET_FEATURE to the hub (USB 2.0 11.24.2.12). Default: STALL (root hubs have no hub features to set).</summary>
        protected virtual UsbStatus SetHubFeature(ushort feature) => UsbStatus.Stall;

        /// <summary>
        /// CLEAR_FEATURE to the hub (USB 2.0 11.24.2.1). Default: C_HUB_LOCAL_POWER and
        /// C_HUB_OVER_CURRENT are accepted (nothing to acknowledge), anything else is a STALL.
        /// </summary>
        protected virtual UsbStatus ClearHubFeature(ushort feature)
        {
            if (feature == HubClass.CHubLocalPower || feature == HubClass.CHubOverCurrent)
                return UsbStatus.Ok;
            return UsbStatus.Stall;
        }

        /// <summary>wPortStatus and wPortChange (USB 2.0 11.24.2.7, tables 11-21/11-22) of port 1..PortCount.</summary>
        public abstract void PortStatus(int port, out ushort status, out ushort change);

        /// <summary>
        /// SET_FEATURE to port 1..PortCount (USB 2.0 11.24.2.13). <paramref name="selector"/> is
        /// wIndex bits 15..8: the link state of PORT_LINK_STATE (USB 3.2 10.16.2.10) or a test selector.
        /// </summary>
        protected abstract UsbStatus SetPortFeature(int port, ushort feature, int selector);

        /// <summary>CLEAR_FEATURE to port 1..PortCount (USB 2.0 11.24.2.2).</summary>
        protected abstract UsbStatus ClearPortFeature(int port, ushort feature);
    }
}
