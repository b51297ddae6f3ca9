using Platform;

namespace Net
{
    /// <summary>
    /// DHCP client (RFC 2131) for one interface: DISCOVER → OFFER → REQUEST → ACK, renewal at T1
    /// (half the lease), restart on NAK. If no lease arrives within <see cref="FallbackAfterMs"/> the
    /// static fallback address is applied and discovery continues in the background (slower), so a
    /// server that appears later still configures the interface. Driven by <see cref="Tick"/> on the
    /// net thread; all methods run with the stack lock held.
    /// </summary>
    public sealed class DhcpClient
    {
        // Message layout (RFC 2131 2, figure 1).
        public const int OpOffset = 0, HtypeOffset = 1, HlenOffset = 2, XidOffset = 4, FlagsOffset = 10;
        public const int CiaddrOffset = 12, YiaddrOffset = 16, SiaddrOffset = 20, ChaddrOffset = 28, MagicOffset = 236, OptionsOffset = 240;
        public const uint MagicCookie = 0x63825363;
        public const byte OpRequest = 1, OpReply = 2, HtypeEthernet = 1, HlenEthernet = 6;
        public const ushort FlagBroadcast = 0x8000;
        public const ushort ServerPort = 67, ClientPort = 68;
        // Options (RFC 2132).
        public const byte OptionPad = 0, OptionSubnetMask = 1, OptionRouter = 3, OptionDns = 6, OptionRequestedIp = 50;
        public const byte OptionLeaseTime = 51, OptionMessageType = 53, OptionServerId = 54, OptionParameterList = 55, OptionEnd = 255;
        public const byte Discover = 1, Offer = 2, Request = 3, Ack = 5, Nak = 6;

        const int MessageLength = 300;
        /// <summary>First retransmission interval; doubled per attempt up to <see cref="MaxRetryMs"/> (RFC 2131 4.1 suggests 4 s doubling; shorter for a fast boot).</summary>
        const ulong FirstRetryMs = 1_000, MaxRetryMs = 4_000;
        /// <summary>Without a lease by then the static fallback applies.</summary>
        public const ulong FallbackAfterMs = 8_000;
        /// <summary>Discovery interval once the fallback is in use.</summary>
        const ulong BackgroundRetryMs = 30_000;
        const uint DefaultLeaseSeconds = 3600;

        public enum State { Init, Selecting, Requesting, Bound }

        readonly NetStack _stack;
        public readonly NetInterface Interface;
        readonly Ip4Address _fallbackAddress, _fallbackNetmask, _fallbackGateway;
        readonly ulong _startMs;

        public State Current = State.Init;
        public Ip4Address Server, Offered, OfferedMask, OfferedRouter, Dns;
        public uint LeaseSeconds;
        public bool FallbackApplied;
        public ulong Leases, Naks, Malformed;
        uint _xid;
        ulong _nextSendMs, _retryMs = FirstRetryMs, _renewAtMs;

        internal DhcpClient(NetStack stack, NetInterface iface, Ip4Address fallbackAddress, Ip4Address fallbackNetmask, Ip4Address fallbackGateway)
        {
            _stack = stack;
            Interface = iface;
            _fallbackAddress = fallbackAddress;
            _fallbackNetmask = fallbackNetmask;
            _fallbackGateway = fallbackGateway;
            _startMs = stack.Clock.Milliseconds;
            stack.Udp.Bind(ClientPort, Input);
        }

        internal void Tick(ulong now)
        {
            if (!FallbackApplied && Current != State.Bound && now - _startMs >= FallbackAfterMs && !_fallbackAddress.IsAny)
            {
                FallbackApplied = true;
                Log.Warning("net: " + Interface.Name + " no DHCP lease after " + Format.Decimal(FallbackAfterMs / 1000) +
                            " s, using static " + _fallbackAddress.ToString());
                _stack.SetAddress(Interface, _fallbackAddress, _fallbackNetmask, _fallbackGateway, "static");
            }
            if (Current == State.Bound)
            {
                if (now >= _renewAtMs)
                {
                    Current = State.Requesting;
                    _retryMs = FirstRetryMs;
                    _nextSendMs = now;
                }
                else return;
            }
            if (now < _nextSendMs || !Interface.LinkUp) return;
            if (Current == State.Init || Current == State.Selecting)
            {
                _xid = _stack.NextRandom();
                Current = State.Selecting;
                Send(Discover);
            }
            else if (Current == State.Requesting)
                Send(Request);
            _nextSendMs = now + (FallbackApplied ? BackgroundRetryMs : _retryMs);
            _retryMs = _retryMs * 2 > MaxRetryMs ? MaxRetryMs : _retryMs * 2;
            if (Current == State.Requesting && _retryMs == MaxRetryMs && now - _renewAtMs > 4 * MaxRetryMs)
                Current = State.Init; // the server stopped answering our requests: start over
        }

        void Send(byte type)
        {
            byte[] m = new byte[MessageLength];
            m[OpOffset] = OpRequest;
            m[HtypeOffset] = HtypeEthernet;
            m[HlenOffset] = HlenEthernet;
            Bytes.Write32(m, XidOffset, _xid);
            Bytes.Write16(m, FlagsOffset, FlagBroadcast);
            Interface.Mac.Write(m, ChaddrOffset);
            Bytes.Write32(m, MagicOffset, MagicCookie);
            int o = OptionsOffset;
            m[o++] = OptionMessageType; m[o++] = 1; m[o++] = type;
            if (type == Request)
            {
                m[o++] = OptionRequestedIp; m[o++] = 4; Offered.Write(m, o); o += 4;
                if (!Server.IsAny) { m[o++] = OptionServerId; m[o++] = 4; Server.Write(m, o); o += 4; }
            }
            m[o++] = OptionParameterList; m[o++] = 3; m[o++] = OptionSubnetMask; m[o++] = OptionRouter; m[o++] = OptionDns;
            m[o++] = OptionEnd;
            _stack.Udp.Send(Interface, Ip4Address.Any, ClientPort, new IpEndPoint(Ip4Address.Broadcast, ServerPort), m, 0, MessageLength);
        }

        void Input(NetInterface iface, IpEndPoint source, Ip4Address destination, byte[] p, int o, int length)
        {
            if (iface != Interface) return;
            if (length < OptionsOffset || p[o + OpOffset] != OpReply || Bytes.Read32(p, o + MagicOffset) != MagicCookie)
            {
                Malformed++;
                return;
            }
            if (Bytes.Read32(p, o + XidOffset) != _xid || MacAddress.Read(p, o + ChaddrOffset) != Interface.Mac) return;
            byte type = 0;
            Ip4Address mask = new Ip4Address(0xFFFFFF00), router = Ip4Address.Any, server = Ip4Address.Any, dns = Ip4Address.Any;
            uint lease = DefaultLeaseSeconds;
            // Options: code, length, value; every length is checked against the datagram's end.
            int i = o + OptionsOffset, end = o + length;
            while (i < end)
            {
                byte code = p[i++];
                if (code == OptionPad) continue;
                if (code == OptionEnd) break;
                if (i >= end) { Malformed++; return; }
                int n = p[i++];
                if (i + n > end) { Malformed++; return; }
                if (code == OptionMessageType && n >= 1) type = p[i];
                else if (code == OptionSubnetMask && n >= 4) mask = Ip4Address.Read(p, i);
                else if (code == OptionRouter && n >= 4) router = Ip4Address.Read(p, i);
                else if (code == OptionServerId && n >= 4) server = Ip4Address.Read(p, i);
                else if (code == OptionDns && n >= 4) dns = Ip4Address.Read(p, i);
                else if (code == OptionLeaseTime && n >= 4) lease = Bytes.Read32(p, i);
                i += n;
            }
            Ip4Address yiaddr = Ip4Address.Read(p, o + YiaddrOffset);
            if (type == Offer && Current == State.Selecting)
            {
                if (yiaddr.IsAny || yiaddr.IsBroadcast || yiaddr.IsMulticast) { Malformed++; return; }
                Offered = yiaddr;
                Server = server.IsAny ? source.Address : server;
                Current = State.Requesting;
                _retryMs = FirstRetryMs;
                _nextSendMs = _stack.Clock.Milliseconds;
                Send(Request);
                _nextSendMs = _stack.Clock.Milliseconds + _retryMs;
            }
            else if (type == Ack && Current == State.Requesting)
            {
                if (yiaddr.IsAny || yiaddr.IsBroadcast || yiaddr.IsMulticast) { Malformed++; return; }
                Offered = yiaddr;
                OfferedMask = mask;
                OfferedRouter = router;
                Dns = dns;
                LeaseSeconds = lease < 60 ? 60 : lease;
                Current = State.Bound;
                Leases++;
                ulong leaseMs = (ulong)LeaseSeconds * 1000;
                _renewAtMs = _stack.Clock.Milliseconds + leaseMs / 2;
                bool changed = Interface.Address != yiaddr || Interface.AddressSource != "dhcp";
                FallbackApplied = true; // never fall back once a server has answered
                if (changed)
                {
                    Log.Info("net: " + Interface.Name + " DHCP lease " + yiaddr.ToString() + " netmask " + mask.ToString() +
                             " gateway " + router.ToString() + " from " + Server.ToString() + " for " + Format.Decimal(LeaseSeconds) + " s");
                    _stack.SetAddress(Interface, yiaddr, mask, router, "dhcp");
                }
            }
            else if (type == Nak && Current == State.Requesting)
            {
                Naks++;
                Current = State.Init;
                _retryMs = FirstRetryMs;
                _nextSendMs = _stack.Clock.Milliseconds;
            }
        }
    }
}
