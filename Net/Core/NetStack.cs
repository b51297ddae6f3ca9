using System.Collections.Generic;
using Platform;

namespace Net
{
    /// <summary>
    /// The IPv4 network stack: its interfaces, Ethernet demultiplexing, IPv4 input and output with
    /// routing, and the protocols (<see cref="Arp"/>, <see cref="Icmp"/>, <see cref="Udp"/>,
    /// <see cref="Tcp"/>, one <see cref="DhcpClient"/> per interface).
    ///
    /// Concurrency: one lock (a recursive <see cref="IMutex"/>) guards all protocol state. One
    /// thread ("net", started by <see cref="Start"/>) drains the drivers' receive paths and runs the
    /// timers in <see cref="Poll"/>; it wakes on <see cref="Wake"/> (drivers call it from their
    /// interrupt handler) or every <see cref="TickMs"/>. Socket calls from other threads take the
    /// same lock and block on per-connection events, never while holding the lock.
    /// Host tests call <see cref="Poll"/> themselves and never start the thread.
    /// </summary>
    public sealed class NetStack
    {
        /// <summary>Timer granularity: TCP retransmission, ARP and DHCP timers run at this period at least.</summary>
        public const uint TickMs = 10;
        /// <summary>Frames taken from one interface per pass, so one busy interface cannot starve the timers.</summary>
        public const int ReceiveBudget = 64;

        public readonly IClock Clock;
        public readonly IThreading Threading;
        public readonly Arp Arp;
        public readonly Icmp Icmp;
        public readonly Udp Udp;
        public readonly Tcp Tcp;
        public readonly IpCounters IpCounters = new IpCounters();

        readonly IMutex _lock;
        readonly IEvent _wake;
        readonly List<NetInterface> _interfaces = new List<NetInterface>();
        readonly List<DhcpClient> _dhcp = new List<DhcpClient>();
        readonly byte[] _txFrame = new byte[Ethernet.MaxFrameLength];
        ulong _random;
        ushort _nextIpId;
        bool _running;

        /// <summary>Raised (on the net thread) when an interface gets or changes its address.</summary>
        public event System.Action<NetInterface> AddressChanged;

        public NetStack(IClock clock, IThreading threading)
        {
            Clock = clock;
            Threading = threading;
            _lock = threading.CreateMutex();
            _wake = threading.CreateEvent(true);
            _random = 0x9E3779B97F4A7C15UL ^ clock.Microseconds;
            Arp = new Arp(this);
            Icmp = new Icmp(this);
            Udp = new Udp(this);
            Tcp = new Tcp(this);
        }

        /// <summary>Starts the "net" thread; returns false when the thread could not start.</summary>
        public bool Start()
        {
            if (_running) return true;
            _running = true;
            return Threading.StartThread("net", Worker) != 0;
        }

        void Worker()
        {
            while (true)
            {
                _wake.Wait(TickMs);
                Poll();
            }
        }

        /// <summary>Wakes the net thread (interrupt context allowed).</summary>
        public void Wake() => _wake.Signal();

        internal void Lock() => _lock.Lock();
        internal void Unlock() => _lock.Unlock();

        /// <summary>A copy of the interface list.</summary>
        public List<NetInterface> Interfaces
        {
            get
            {
                Lock();
                try { return Lists.Copy(_interfaces); }
                finally { Unlock(); }
            }
        }

        /// <summary>The next free interface name with this prefix ("eth0", "eth1", ...).</summary>
        public string AllocateName(string prefix)
        {
            for (uint n = 0; ; n++)
            {
                string name = prefix + Format.Decimal(n);
                if (FindInterface(name) == null && _reservedNames.IndexOf(name) < 0)
                {
                    _reservedNames.Add(name);
                    return name;
                }
            }
        }

        readonly List<string> _reservedNames = new List<string>();

        public NetInterface FindInterface(string name)
        {
            List<NetInterface> list = Interfaces;
            for (int i = 0; i < list.Count; i++)
                if (list[i].Name == name) return list[i];
            return null;
        }

        public DhcpClient DhcpOf(NetInterface iface)
        {
            Lock();
            try
            {
                for (int i = 0; i < _dhcp.Count; i++)
                    if (_dhcp[i].Interface == iface) return _dhcp[i];
                return null;
            }
            finally { Unlock(); }
        }

        /// <summary>
        /// Adds an interface. With <paramref name="useDhcp"/> a DHCP client configures it; if no lease
        /// comes within <see cref="DhcpClient.FallbackAfterMs"/> the static fallback is applied
        /// (when given, i.e. not 0.0.0.0). Without DHCP the fallback is applied at once.
        /// </summary>
        public void AddInterface(NetInterface iface, bool useDhcp, Ip4Address fallbackAddress, Ip4Address fallbackNetmask, Ip4Address fallbackGateway)
        {
            Lock();
            try
            {
                iface.Stack = this;
                _interfaces.Add(iface);
                if (useDhcp)
                    _dhcp.Add(new DhcpClient(this, iface, fallbackAddress, fallbackNetmask, fallbackGateway));
                else if (!fallbackAddress.IsAny)
                    SetAddress(iface, fallbackAddress, fallbackNetmask, fallbackGateway, "static");
            }
            finally { Unlock(); }
            Wake();
        }

        /// <summary>Configures an interface's address (lock held or not).</summary>
        public void SetAddress(NetInterface iface, Ip4Address address, Ip4Address netmask, Ip4Address gateway, string source)
        {
            Lock();
            try
            {
                bool changed = iface.Address != address;
                iface.Configure(address, netmask, gateway, source);
                if (changed) Arp.Flush(iface);
            }
            finally { Unlock(); }
            System.Action<NetInterface> handler = AddressChanged;
            if (handler != null) handler(iface);
        }

        /// <summary>A pseudo-random 32-bit number (xorshift; seeds ISNs, ports, DHCP transaction ids).</summary>
        internal uint NextRandom()
        {
            ulong x = _random ^ Clock.Microseconds;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            _random = x;
            return (uint)(x >> 16);
        }

        /// <summary>
        /// One pass of the net thread: every interface's received frames, then the timers. Host tests
        /// call it directly.
        /// </summary>
        public void Poll()
        {
            Lock();
            try
            {
                for (int i = 0; i < _interfaces.Count; i++)
                    _interfaces[i].Device.PollReceive(_interfaces[i], ReceiveBudget);
                ulong now = Clock.Milliseconds;
                Arp.Tick(now);
                for (int i = 0; i < _dhcp.Count; i++)
                    _dhcp[i].Tick(now);
                Tcp.Tick(now);
                Tcp.FlushAcks();
            }
            finally { Unlock(); }
            Tcp.RaiseNotifications();
        }

        /// <summary>
        /// Waits until <paramref name="condition"/> (evaluated with the lock held) is true, sleeping on
        /// <paramref name="wakeup"/> between checks; false after <paramref name="timeoutMs"/>.
        /// </summary>
        internal bool WaitUntil(System.Func<bool> condition, IEvent wakeup, uint timeoutMs)
        {
            ulong deadline = Clock.Milliseconds + timeoutMs;
            while (true)
            {
                Lock();
                bool done;
                try { done = condition(); }
                finally { Unlock(); }
                if (done) return true;
                ulong now = Clock.Milliseconds;
                if (now >= deadline) return false;
                ulong left = deadline - now;
                // Bounded slices: a lost wake-up costs at most one slice.
                wakeup.Wait(left > 100 ? 100u : (uint)left);
            }
        }

        internal void CountMalformed(NetInterface iface)
        {
            iface.Counters.RxErrors++;
            iface.Counters.RxMalformed++;
        }

        /// <summary>A frame from a driver (lock held, inside Poll). Every length is checked before use.</summary>
        internal void InputFrame(NetInterface iface, byte[] frame, int length)
        {
            if (frame == null || length < Ethernet.HeaderLength || length > frame.Length)
            {
                if (frame != null) CountMalformed(iface);
                return;
            }
            MacAddress destination = MacAddress.Read(frame, Ethernet.DestinationOffset);
            if (destination != iface.Mac && !destination.IsBroadcast)
            {
                iface.Counters.RxDropped++; // multicast or someone else's (promiscuous device)
                return;
            }
            ushort type = Bytes.Read16(frame, Ethernet.TypeOffset);
            int payload = length - Ethernet.HeaderLength;
            if (type == Ethernet.TypeArp)
                Arp.Input(iface, frame, Ethernet.HeaderLength, payload);
            else if (type == Ethernet.TypeIpv4)
                InputIp(iface, frame, Ethernet.HeaderLength, payload);
            else
                iface.Counters.RxDropped++;
        }

        void InputIp(NetInterface iface, byte[] p, int o, int length)
        {
            IpCounters.Received++;
            if (length < Ipv4.MinHeaderLength || (p[o + Ipv4.VersionIhlOffset] >> 4) != Ipv4.Version)
            {
                IpCounters.HeaderErrors++;
                CountMalformed(iface);
                return;
            }
            int headerLength = (p[o + Ipv4.VersionIhlOffset] & 0xF) * 4;
            int total = Bytes.Read16(p, o + Ipv4.TotalLengthOffset);
            // Ethernet pads short packets, so the frame may be longer than the IP packet, never shorter.
            if (headerLength < Ipv4.MinHeaderLength || total < headerLength || total > length)
            {
                IpCounters.HeaderErrors++;
                CountMalformed(iface);
                return;
            }
            if (Checksum.Finish(Checksum.Add(0, p, o, headerLength)) != 0)
            {
                IpCounters.ChecksumErrors++;
                CountMalformed(iface);
                return;
            }
            ushort fragment = Bytes.Read16(p, o + Ipv4.FlagsFragmentOffset);
            if ((fragment & (Ipv4.FlagMoreFragments | Ipv4.FragmentOffsetMask)) != 0)
            {
                // No reassembly: nothing here sends datagrams larger than the MTU, and TCP uses MSS.
                IpCounters.FragmentsDropped++;
                iface.Counters.RxDropped++;
                return;
            }
            Ip4Address source = Ip4Address.Read(p, o + Ipv4.SourceOffset);
            Ip4Address destination = Ip4Address.Read(p, o + Ipv4.DestinationOffset);
            bool forUs = destination.IsBroadcast || (iface.IsConfigured ? destination == iface.Address ||
                         (destination.Value | iface.Netmask.Value) == 0xFFFFFFFF && destination.SameSubnet(iface.Address, iface.Netmask)
                         : true); // unconfigured (DHCP in progress): accept what reaches our MAC
            if (!forUs || source.IsBroadcast || source.IsMulticast)
            {
                IpCounters.NotForUs++;
                iface.Counters.RxDropped++;
                return;
            }
            byte protocol = p[o + Ipv4.ProtocolOffset];
            int payload = o + headerLength, payloadLength = total - headerLength;
            IpCounters.Delivered++;
            if (protocol == Ipv4.ProtocolIcmp) Icmp.Input(iface, source, destination, p, payload, payloadLength);
            else if (protocol == Ipv4.ProtocolUdp) Udp.Input(iface, source, destination, p, payload, payloadLength);
            else if (protocol == Ipv4.ProtocolTcp)
            {
                if (destination.IsBroadcast || !iface.IsConfigured) { iface.Counters.RxDropped++; return; }
                Tcp.Input(iface, source, destination, p, payload, payloadLength);
            }
            else
            {
                IpCounters.UnknownProtocol++;
                IpCounters.Delivered--;
                iface.Counters.RxDropped++;
            }
        }

        /// <summary>The interface a packet to <paramref name="destination"/> leaves by (null: no route). Lock held.</summary>
        internal NetInterface RouteInterface(Ip4Address destination) => Route(destination, out _);

        NetInterface Route(Ip4Address destination, out Ip4Address nextHop)
        {
            nextHop = destination;
            for (int i = 0; i < _interfaces.Count; i++)
            {
                NetInterface f = _interfaces[i];
                if (f.IsConfigured && (destination == f.Address || destination.SameSubnet(f.Address, f.Netmask)))
                    return f;
            }
            for (int i = 0; i < _interfaces.Count; i++)
            {
                NetInterface f = _interfaces[i];
                if (f.IsConfigured && !f.Gateway.IsAny)
                {
                    nextHop = f.Gateway;
                    return f;
                }
            }
            return null;
        }

        /// <summary>Sends an IP packet by the routing table (lock held or not). Source Any = the interface's address.</summary>
        internal NetStatus SendIp(Ip4Address source, Ip4Address destination, byte protocol, byte[] payload, int offset, int length)
        {
            Lock();
            try
            {
                NetInterface iface = Route(destination, out Ip4Address nextHop);
                if (iface == null)
                {
                    IpCounters.NoRoute++;
                    return NetStatus.Unreachable;
                }
                return Transmit(iface, source.IsAny ? iface.Address : source, destination, nextHop, protocol, payload, offset, length);
            }
            finally { Unlock(); }
        }

        /// <summary>Sends an IP packet through a given interface (DHCP: limited broadcast before any address).</summary>
        internal NetStatus SendIpVia(NetInterface iface, Ip4Address source, Ip4Address destination, byte protocol, byte[] payload, int offset, int length)
        {
            Lock();
            try { return Transmit(iface, source, destination, destination, protocol, payload, offset, length); }
            finally { Unlock(); }
        }

        NetStatus Transmit(NetInterface iface, Ip4Address source, Ip4Address destination, Ip4Address nextHop, byte protocol, byte[] payload, int offset, int length)
        {
            int total = Ipv4.MinHeaderLength + length;
            if (length < 0 || total > iface.Mtu) return NetStatus.InvalidArgument;
            byte[] f = _txFrame;
            int o = Ethernet.WriteHeader(f, MacAddress.Zero, iface.Mac, Ethernet.TypeIpv4);
            f[o + Ipv4.VersionIhlOffset] = Ipv4.VersionIhlNoOptions;
            f[o + Ipv4.TosOffset] = 0;
            Bytes.Write16(f, o + Ipv4.TotalLengthOffset, (ushort)total);
            Bytes.Write16(f, o + Ipv4.IdentificationOffset, _nextIpId++);
            Bytes.Write16(f, o + Ipv4.FlagsFragmentOffset, Ipv4.FlagDontFragment);
            f[o + Ipv4.TtlOffset] = Ipv4.DefaultTtl;
            f[o + Ipv4.ProtocolOffset] = protocol;
            Bytes.Write16(f, o + Ipv4.ChecksumOffset, 0);
            source.Write(f, o + Ipv4.SourceOffset);
            destination.Write(f, o + Ipv4.DestinationOffset);
            Bytes.Write16(f, o + Ipv4.ChecksumOffset, Checksum.Finish(Checksum.Add(0, f, o, Ipv4.MinHeaderLength)));
            Bytes.Copy(payload, offset, f, o + Ipv4.MinHeaderLength, length);
            int frameLength = Ethernet.HeaderLength + total;
            if (frameLength < Ethernet.MinFrameLength)
            {
                Bytes.Clear(f, frameLength, Ethernet.MinFrameLength - frameLength);
                frameLength = Ethernet.MinFrameLength;
            }
            IpCounters.Sent++;
            bool broadcast = destination.IsBroadcast || (iface.IsConfigured && (destination.Value | iface.Netmask.Value) == 0xFFFFFFFF &&
                                                         destination.SameSubnet(iface.Address, iface.Netmask));
            if (broadcast)
            {
                MacAddress.Broadcast.Write(f, Ethernet.DestinationOffset);
                return iface.Send(f, frameLength) ? NetStatus.Ok : NetStatus.NoResources;
            }
            if (destination == iface.Address)
            {
                // To ourselves: loop back through the input path.
                iface.Mac.Write(f, Ethernet.DestinationOffset);
                byte[] copy = new byte[frameLength];
                Bytes.Copy(f, 0, copy, 0, frameLength);
                InputFrame(iface, copy, frameLength);
                return NetStatus.Ok;
            }
            return Arp.Send(iface, nextHop, f, frameLength) ? NetStatus.Ok : NetStatus.NoResources;
        }

        internal void OnResolutionFailed(NetInterface iface, Ip4Address ip) => Tcp.OnUnreachable(ip);
    }
}
