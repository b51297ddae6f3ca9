using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Hub
{
    /// <summary>
    /// State of one hub in use: root or external alike (Haiku's Hub, Linux's struct usb_hub).
    /// The status-change request's completion records which ports changed and wakes the explore
    /// thread; the explore thread handles the ports and then resubmits the request.
    /// </summary>
    public sealed class UsbHub
    {
        public readonly UsbDevice Device;
        public readonly UsbInterface Interface;
        public HubDescriptor Descriptor;
        public UsbRequest StatusRequest;
        public DmaBuffer StatusBuffer;
        public UsbEndpoint StatusEndpoint;
        /// <summary>Ports (bit n) and hub (bit 0) with pending changes, set in interrupt context.</summary>
        uint _eventBits;
        /// <summary>Ports the hub driver gave up on (disabled) until their connection changes.</summary>
        public readonly bool[] GaveUp;
        /// <summary>Ports whose device must be reset and enumerated again (<see cref="UsbStack.ResetDevice"/>).</summary>
        public readonly bool[] ResetRequested;
        /// <summary>Set when the status-change request ended in error and must be restarted.</summary>
        public volatile bool StatusFailed;
        public volatile bool Disconnected;
        /// <summary>Number of status-change completions (for tests and diagnostics).</summary>
        public volatile int StatusCompletions;

        public UsbHub(UsbDevice device, UsbInterface intf, HubDescriptor descriptor)
        {
            Device = device;
            Interface = intf;
            Descriptor = descriptor;
            GaveUp = new bool[descriptor.bNbrPorts + 1];
            ResetRequested = new bool[descriptor.bNbrPorts + 1];
        }

        public int PortCount => Descriptor.bNbrPorts;
        public bool IsSuperSpeed => Descriptor.IsSuperSpeed;
        public bool IsRoot => Device.IsRootHub;

        public void AddEvents(uint bits)
        {
            lock (this)
                _eventBits |= bits;
        }

        public uint TakeEvents()
        {
            lock (this)
            {
                uint bits = _eventBits;
                _eventBits = 0;
                return bits;
            }
        }

        /// <summary>Bitmap of every port (bits 1..n).</summary>
        public uint AllPorts
        {
            get
            {
                uint bits = 0;
                for (int p = 1; p <= PortCount; p++)
                    bits |= 1u << p;
                return bits;
            }
        }
    }
}
