using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb
{
    /// <summary>Device states (USB 2.0 9.1.1, figure 9-1), plus Linux's "not attached".</summary>
    public enum UsbDeviceState
    {
        NotAttached,
        Attached,
        Powered,
        Default,
        Addressed,
        Configured,
    }

    /// <summary>
    /// A USB device on a bus: Haiku's Device, Linux's struct usb_device. Holds its descriptors,
    /// configurations, place in the tree (parent hub, port, level, transaction translator),
    /// address, speed and the endpoint table the core routes requests through.
    /// </summary>
    public sealed class UsbDevice
    {
        public const int EndpointSlots = EndpointBits.MaxEndpointNumber + 1;
        /// <summary>Linux gives root hubs device number 1.</summary>
        public const byte RootHubAddress = 1;
        /// <summary>Endpoint 0 packet sizes by speed (USB 2.0 5.5.3, USB 3.2 9.6.1).</summary>
        public const int MaxPacket0LowSpeed = 8;
        public const int MaxPacket0Default = 64;
        public const int MaxPacket0SuperSpeed = 512;

        public UsbBus Bus;
        /// <summary>Hub this device is plugged into; null for a root hub.</summary>
        public UsbDevice Parent;
        /// <summary>1-based port on the parent hub; 0 for a root hub.</summary>
        public int PortNumber;
        /// <summary>Tier below the root hub: 0 for the root hub, 1 for devices on root ports.</summary>
        public int Level;
        public UsbSpeed Speed;
        /// <summary>
        /// Device number on its bus (Linux devnum): what listings and logs show, allocated by the
        /// core; also the address on the wire unless the controller chose its own (xHCI).
        /// 0 until the device is addressed.
        /// </summary>
        public byte Address;
        /// <summary>The address the controller assigned itself (xHCI Address Device), or 0.</summary>
        public byte ControllerAddress;
        /// <summary>The address packets carry on the bus.</summary>
        public byte WireAddress => ControllerAddress != 0 ? ControllerAddress : Address;
        public UsbDeviceState State;
        public bool IsRootHub;

        /// <summary>Nearest high-speed hub whose transaction translator serves this low/full-speed device, or null.</summary>
        public UsbDevice TtHub;
        /// <summary>Port of <see cref="TtHub"/> the device's subtree hangs off (1-based), 0 if no TT.</summary>
        public int TtPort;

        public DeviceDescriptor Descriptor;
        public UsbConfiguration[] Configurations = new UsbConfiguration[0];
        public UsbConfiguration ActiveConfiguration;
        public bool HasBos;
        public BosDescriptor Bos;
        public ushort LanguageId;
        public string Manufacturer;
        public string Product;
        public string SerialNumber;

        /// <summary>
        /// Devices on this hub's ports, indexed port - 1; empty for non-hubs. Copy-on-write: the
        /// core replaces the whole array under <see cref="UsbStack.TopologyLock"/> and never changes
        /// one in place, so a reader that loads it once walks a consistent snapshot.
        /// </summary>
        public UsbDevice[] Children = new UsbDevice[0];
        /// <summary>Hub driver state when this device is a hub in use.</summary>
        public Hub.UsbHub Hub;

        /// <summary>Bound device driver ("usb" by default), or null.</summary>
        public UsbDeviceDriver Driver;
        public object DriverData;
        /// <summary>Controller's per-device state (xHCI slot, ...).</summary>
        public object HcdPrivate;

        public readonly UsbEndpoint Endpoint0;
        public readonly UsbEndpoint[] EndpointsIn = new UsbEndpoint[EndpointSlots];
        public readonly UsbEndpoint[] EndpointsOut = new UsbEndpoint[EndpointSlots];

        /// <summary>
        /// Serializes binding, unbinding, configuration changes and removal of this device (Linux
        /// usb_lock_device); taken parent before child. Null only for devices built without a bus
        /// (encoding tests).
        /// </summary>
        public readonly IMutex Lock;

        /// <summary>Set when the device has been unplugged: new requests fail with NoDevice.</summary>
        volatile bool _gone;
        /// <summary>Set after removal finished and the object left the tree.</summary>
        public bool Destroyed;

        public UsbDevice(UsbBus bus, UsbDevice parent, int port, UsbSpeed speed)
        {
            Bus = bus;
            Parent = parent;
            PortNumber = port;
            Speed = speed;
            Level = parent == null ? 0 : parent.Level + 1;
            if (bus != null && bus.Stack != null)
                Lock = bus.Stack.Threading.CreateMutex();
            IsRootHub = parent == null;
            State = UsbDeviceState.Default;
            Endpoint0 = new UsbEndpoint(EndpointDescriptor.Control0(DefaultMaxPacket0(speed)));
            Endpoint0.Device = this;
            EndpointsIn[0] = Endpoint0;
            EndpointsOut[0] = Endpoint0;
            ComputeTransactionTranslator();
        }

        public bool IsGone => _gone;
        internal void MarkGone() => _gone = true;
        public bool IsHub => Hub != null;

        /// <summary>Initial endpoint 0 packet size before the device descriptor is known (USB 2.0 5.5.3).</summary>
        public static int DefaultMaxPacket0(UsbSpeed speed)
        {
            switch (speed)
            {
                case UsbSpeed.Low: return MaxPacket0LowSpeed;
                case UsbSpeed.Super:
                case UsbSpeed.SuperPlus: return MaxPacket0SuperSpeed;
                default: return MaxPacket0Default;
            }
        }

        /// <summary>
        /// Transaction translator (USB 2.0 11.14): a low/full-speed device is served by the TT of
        /// the NEAREST high-speed hub above it, at the port its subtree hangs off, not by its
        /// immediate parent if that is a full-speed hub. Root hubs have no TT unless integrated.
        /// </summary>
        void ComputeTransactionTranslator()
        {
            TtHub = null;
            TtPort = 0;
            if (Parent == null || (Speed != UsbSpeed.Low && Speed != UsbSpeed.Full))
                return;
            bool parentHasTt = Parent.Speed == UsbSpeed.High &&
                               (!Parent.IsRootHub || (Bus != null && Bus.Controller != null && Bus.Controller.RootHubHasTt));
            if (parentHasTt)
            {
                TtHub = Parent;
                TtPort = PortNumber;
                return;
            }
            TtHub = Parent.TtHub;
            TtPort = Parent.TtPort;
        }

        /// <summary>Linux's devpath: "0" for a root hub, "1", "1.3", "1.3.2" below it.</summary>
        public string DevicePath
        {
            get
            {
                if (Parent == null)
                    return "0";
                if (Parent.Parent == null)
                    return Format.Decimal((ulong)PortNumber);
                return Parent.DevicePath + "." + Format.Decimal((ulong)PortNumber);
            }
        }

        public int BusNumber => Bus != null ? Bus.Number : 0;

        /// <summary>"1-0" for a root hub, "1-1.3" below it: the prefix of interface names.</summary>
        public string BusDevicePath => Format.Decimal((ulong)BusNumber) + "-" + DevicePath;

        /// <summary>Linux's device name: "usb1" for a root hub, "1-1.3" otherwise.</summary>
        public string Name => Parent == null ? "usb" + Format.Decimal((ulong)BusNumber) : BusDevicePath;

        /// <summary>Number of ports if this is a hub the hub driver serves.</summary>
        public int PortCount => Children.Length;

        public UsbDevice Child(int port)
        {
            UsbDevice[] children = Children;
            return port >= 1 && port <= children.Length ? children[port - 1] : null;
        }


        /// <summary>Looks an endpoint up by address (bit 7 = IN) in the active endpoint tables.</summary>
        public UsbEndpoint FindEndpoint(byte address)
        {
            int number = address & EndpointBits.NumberMask;
            if (number == 0)
                return Endpoint0;
            return (address & EndpointBits.DirectionIn) != 0 ? EndpointsIn[number] : EndpointsOut[number];
        }

        public UsbConfiguration FindConfiguration(int value)
        {
            for (int i = 0; i < Configurations.Length; i++)
                if (Configurations[i].Value == value)
                    return Configurations[i];
            return null;
        }

        /// <summary>
        /// Interfaces of the active configuration (empty when unconfigured). Listings call this
        /// without the topology lock while unbinding clears <see cref="ActiveConfiguration"/>, so
        /// the field is read once.
        /// </summary>
        public UsbInterface[] Interfaces
        {
            get
            {
                UsbConfiguration active = ActiveConfiguration;
                return active != null ? active.Interfaces : NoInterfaces;
            }
        }

        static readonly UsbInterface[] NoInterfaces = new UsbInterface[0];
    }
}
