using System.Collections.Generic;

namespace Net
{
    /// <summary>Receives one UDP datagram (runs on the stack's thread with its lock held; must not block).</summary>
    public delegate void UdpHandler(NetInterface iface, IpEndPoint source, Ip4Address destination, byte[] data, int offset, int length);

    /// <summary>UDP (RFC 768): port demultiplexing to handlers, checksums checked and generated.</summary>
    public sealed class Udp
    {
        public const int SourcePortOffset = 0, DestinationPortOffset = 2, LengthOffset = 4, ChecksumOffset = 6;
        public const int HeaderLength = 8;

        readonly NetStack _stack;
        readonly List<ushort> _ports = new List<ushort>();
        readonly List<UdpHandler> _handlers = new List<UdpHandler>();

        public ulong Received, Sent, NoPort, Malformed;

        internal Udp(NetStack stack) { _stack = stack; }

        /// <summary>Binds a handler to a local port; InUse when taken.</summary>
        public NetStatus Bind(ushort port, UdpHandler handler)
        {
            _stack.Lock();
            try
            {
                if (_ports.IndexOf(port) >= 0) return NetStatus.InUse;
                _ports.Add(port);
                _handlers.Add(handler);
                return NetStatus.Ok;
            }
            finally { _stack.Unlock(); }
        }

        public void Unbind(ushort port)
        {
            _stack.Lock();
            try
            {
                int i = _ports.IndexOf(port);
                if (i >= 0)
                {
                    _ports.RemoveAt(i);
                    _handlers.RemoveAt(i);
                }
            }
            finally { _stack.Unlock(); }
        }

        internal void Input(NetInterface iface, Ip4Address source, Ip4Address destination, byte[] packet, int offset, int length)
        {
            if (length < HeaderLength)
            {
                Malformed++;
                _stack.CountMalformed(iface);
                return;
            }
            int udpLength = Bytes.Read16(packet, offset + LengthOffset);
            if (udpLength < HeaderLength || udpLength > length)
            {
                Malformed++;
                _stack.CountMalformed(iface);
                return;
            }
            ushort checksum = Bytes.Read16(packet, offset + ChecksumOffset);
            if (checksum != 0)
            {
                uint sum = Checksum.PseudoHeader(source, destination, Ipv4.ProtocolUdp, udpLength);
                if (Checksum.Finish(Checksum.Add(sum, packet, offset, udpLength)) != 0)
                {
                    Malformed++;
                    _stack.CountMalformed(iface);
                    return;
                }
            }
            Received++;
            ushort port = Bytes.Read16(packet, offset + DestinationPortOffset);
            int i = _ports.IndexOf(port);
            if (i < 0)
            {
                NoPort++;
                return;
            }
            var from = new IpEndPoint(source, Bytes.Read16(packet, offset + SourcePortOffset));
            _handlers[i](iface, from, destination, packet, offset + HeaderLength, udpLength - HeaderLength);
        }

        /// <summary>
        /// Sends a datagram. With <paramref name="via"/> set it leaves through that interface (DHCP
        /// before the interface has an address: source 0.0.0.0, destination broadcast).
        /// </summary>
        public NetStatus Send(NetInterface via, Ip4Address source, ushort sourcePort, IpEndPoint destination, byte[] data, int offset, int length)
        {
            if (length < 0 || length > NetInterface.DefaultMtu - Ipv4.MinHeaderLength - HeaderLength) return NetStatus.InvalidArgument;
            int total = HeaderLength + length;
            byte[] packet = new byte[total];
            Bytes.Write16(packet, SourcePortOffset, sourcePort);
            Bytes.Write16(packet, DestinationPortOffset, destination.Port);
            Bytes.Write16(packet, LengthOffset, (ushort)total);
            Bytes.Copy(data, offset, packet, HeaderLength, length);
            _stack.Lock();
            try
            {
                Ip4Address src = source;
                if (src.IsAny && via != null) src = via.Address;
                if (src.IsAny && via == null)
                {
                    NetInterface routed = _stack.RouteInterface(destination.Address);
                    if (routed != null) src = routed.Address;
                }
                uint sum = Checksum.PseudoHeader(src, destination.Address, Ipv4.ProtocolUdp, total);
                ushort c = Checksum.Finish(Checksum.Add(sum, packet, 0, total));
                Bytes.Write16(packet, ChecksumOffset, c == 0 ? (ushort)0xFFFF : c);
                NetStatus s = via != null
                    ? _stack.SendIpVia(via, src, destination.Address, Ipv4.ProtocolUdp, packet, 0, total)
                    : _stack.SendIp(src, destination.Address, Ipv4.ProtocolUdp, packet, 0, total);
                if (s == NetStatus.Ok) Sent++;
                return s;
            }
            finally { _stack.Unlock(); }
        }
    }
}
