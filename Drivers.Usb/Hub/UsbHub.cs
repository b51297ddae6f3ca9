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
        /// <summary>Ports whose CLEAR_FEATURE(PORT_ENABLE) failed: tried again before other work (a device may sit at address 0).</summary>
        public readonly bool[] DisablePending;
        /// <summary>Times each port was powered again after losing power (bounded by HubTimings.PowerRestoreTries).</summary>
        public readonly int[] PowerRestores;
        /// <summary>When each port was last powered again (ms).</summary>
        public readonly ulong[] PowerRestoredAt;
        /// <summary>
        /// Resets in a row of the hub downstream of each port because its port status could not be
        /// read (bounded by <see cref="HubTimings.MaxErrorResets"/>); cleared when that hub answers
        /// again or the port's connection changes.
        /// </summary>
        public readonly int[] ErrorResets;
        /// <summary>Ports whose device must be reset and enumerated again (<see cref="UsbStack.ResetDevice"/>).</summary>
        public readonly bool[] ResetRequested;
        /// <summary>
        /// When the ports powered at probe are good (ms, the stack clock): the first look at the ports waits
        /// for it, not the probe (Linux hub_activate's HUB_INIT2 delayed work), so the hub binds at once.
        /// </summary>
        public ulong PowerGoodAtMs;
        /// <summary>Set when the status-change request ended in error and must be restarted.</summary>
        public volatile bool StatusFailed;
        public volatile bool Disconnected;
        /// <summary>Number of status-change completions (for tests and diagnostics).</summary>
        public volatile int StatusCompletions;
        /// <summary>A job handling this hub's events is queued or running (at most one at a time).</summary>
        internal bool EventsBusy;
        /// <summary>Ports (bit n) with a connect/disconnect job queued or running (at most one per port).</summary>
        uint _busyPorts;
        /// <summary>Events of busy ports, handed back to <see cref="_eventBits"/> when their job ends.</summary>
        uint _deferredBits;
        /// <summary>Set when a port status read failed after its retries: the hub is reset (Linux hub->error).</summary>
        internal volatile bool Error;

        public UsbHub(UsbDevice device, UsbInterface intf, HubDescriptor descriptor)
        {
            Device = device;
            Interface = intf;
            Descriptor = descriptor;
            GaveUp = new bool[descriptor.bNbrPorts + 1];
            ResetRequested = new bool[descriptor.bNbrPorts + 1];
            ErrorResets = new int[descriptor.bNbrPorts + 1];
            PowerRestores = new int[descriptor.bNbrPorts + 1];
            PowerRestoredAt = new ulong[descriptor.bNbrPorts + 1];
            DisablePending = new bool[descriptor.bNbrPorts + 1];
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

        /// <summary>True when events are waiting to be handled.</summary>
        public bool HasEvents
        {
            get
            {
                lock (this)
                    return _eventBits != 0;
            }
        }

        /// <summary>Claims the port for a connect/disconnect job; false if one is already queued or running.</summary>
        internal bool TryClaimPort(int port)
        {
            lock (this)
            {
                uint bit = 1u << port;
                if ((_busyPorts & bit) != 0)
                    return false;
                _busyPorts |= bit;
                return true;
            }
        }

        /// <summary>True while a job works on the port.</summary>
        public bool IsPortBusy(int port)
        {
            lock (this)
                return (_busyPorts & (1u << port)) != 0;
        }

        /// <summary>True while any port job or the events job of this hub is queued or running.</summary>
        public bool IsBusy
        {
            get
            {
                lock (this)
                    return _busyPorts != 0 || EventsBusy;
            }
        }

        /// <summary>An event for a busy port waits until its job ends.</summary>
        internal void Defer(int port)
        {
            lock (this)
                _deferredBits |= 1u << port;
        }

        /// <summary>Ends a port job; returns true when events arrived for the port meanwhile.</summary>
        internal bool ReleasePort(int port)
        {
            lock (this)
            {
                uint bit = 1u << port;
                _busyPorts &= ~bit;
                if ((_deferredBits & bit) == 0)
                    return false;
                _deferredBits &= ~bit;
                _eventBits |= bit;
                return true;
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
