using Platform;

namespace Net
{
    /// <summary>
    /// What a network driver (e1000, CDC-ECM, a test double) provides to the stack. The stack calls
    /// these with its lock held, from one thread at a time, so a driver needs no locking of its own
    /// between <see cref="Transmit"/> and <see cref="PollReceive"/>.
    /// </summary>
    public interface INetDevice
    {
        /// <summary>Queues one complete Ethernet frame (no FCS) for transmission; false when the
        /// device has no room or the link is down (the caller counts a drop).</summary>
        bool Transmit(byte[] frame, int length);

        /// <summary>Hands up to <paramref name="budget"/> received frames to <see cref="NetInterface.Input"/>;
        /// returns how many it delivered. Called by the stack's thread after <see cref="NetInterface.RequestPoll"/>.</summary>
        int PollReceive(NetInterface iface, int budget);

        /// <summary>Link state as the hardware reports it now.</summary>
        bool LinkUp { get; }
    }

    /// <summary>Packet, byte, error and drop counters of one interface (like Linux's rtnl_link_stats).</summary>
    public sealed class NetCounters
    {
        public ulong RxPackets, RxBytes, RxErrors, RxDropped;
        public ulong TxPackets, TxBytes, TxErrors, TxDropped;
        /// <summary>Frames dropped because a header or length field was malformed (subset of RxErrors).</summary>
        public ulong RxMalformed;
    }

    /// <summary>
    /// One network interface: the device behind it, its hardware address, MTU, link state,
    /// counters and IPv4 configuration (address, netmask, gateway; set by DHCP or statically).
    /// Drivers create it and add it with <see cref="NetStack.AddInterface"/>.
    /// </summary>
    public sealed class NetInterface
    {
        /// <summary>Ethernet payload size without jumbo frames (IEEE 802.3).</summary>
        public const int DefaultMtu = 1500;

        public readonly string Name;
        public readonly MacAddress Mac;
        public readonly int Mtu;
        public readonly INetDevice Device;
        public readonly NetCounters Counters = new NetCounters();

        public Ip4Address Address;
        public Ip4Address Netmask;
        public Ip4Address Gateway;
        /// <summary>How the address was obtained: "none", "dhcp", "static".</summary>
        public string AddressSource = "none";

        internal NetStack Stack;

        public NetInterface(string name, MacAddress mac, int mtu, INetDevice device)
        {
            Name = name;
            Mac = mac;
            Mtu = mtu;
            Device = device;
        }

        public bool LinkUp => Device.LinkUp;
        public bool IsConfigured => !Address.IsAny;

        /// <summary>Configures the address by hand (also what DHCP's fallback does).</summary>
        public void Configure(Ip4Address address, Ip4Address netmask, Ip4Address gateway, string source)
        {
            Address = address;
            Netmask = netmask;
            Gateway = gateway;
            AddressSource = source;
        }

        /// <summary>Called by the driver (interrupt context allowed) when frames wait: wakes the stack's thread.</summary>
        public void RequestPoll()
        {
            NetStack s = Stack;
            if (s != null) s.Wake();
        }

        /// <summary>One received frame from the driver (called inside <see cref="INetDevice.PollReceive"/>).
        /// The stack copies what it keeps, so the driver may reuse <paramref name="frame"/> afterwards.</summary>
        public void Input(byte[] frame, int length)
        {
            Counters.RxPackets++;
            Counters.RxBytes += (ulong)length;
            NetStack s = Stack;
            if (s == null)
            {
                Counters.RxDropped++;
                return;
            }
            s.InputFrame(this, frame, length);
        }

        /// <summary>Sends one frame through the device, counting it.</summary>
        internal bool Send(byte[] frame, int length)
        {
            if (!Device.LinkUp || !Device.Transmit(frame, length))
            {
                Counters.TxDropped++;
                return false;
            }
            Counters.TxPackets++;
            Counters.TxBytes += (ulong)length;
            return true;
        }
    }
}
