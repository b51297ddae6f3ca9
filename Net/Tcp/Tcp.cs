using System.Collections.Generic;
using Platform;

namespace Net
{
    /// <summary>
    /// The TCP layer: demultiplexes segments to connections and listeners, answers segments for
    /// nobody with RST, opens connections (<see cref="Connect"/>) and listeners (<see cref="Listen"/>),
    /// and runs every connection's timers. The per-connection state machine is in <see cref="TcpConnection"/>.
    /// </summary>
    public sealed class Tcp
    {
        /// <summary>Most connections in any state at once (each holds two 64 KiB buffers).</summary>
        public const int MaxConnections = 64;
        public const int MaxListeners = 16;
        /// <summary>Local ports for active opens (IANA dynamic range, RFC 6335).</summary>
        const ushort EphemeralFirst = 49152, EphemeralCount = 16384;

        readonly NetStack _stack;
        internal readonly List<TcpConnection> Connections = new List<TcpConnection>();
        internal readonly List<TcpListener> Listeners = new List<TcpListener>();
        readonly List<TcpConnection> _notify = new List<TcpConnection>();
        readonly List<NetStatus> _notifyStatus = new List<NetStatus>();
        internal readonly byte[] Scratch = new byte[TcpHeader.MaxLength + NetInterface.DefaultMtu];
        ushort _nextEphemeral;

        public readonly TcpCounters Counters = new TcpCounters();

        internal Tcp(NetStack stack)
        {
            _stack = stack;
            _nextEphemeral = (ushort)(EphemeralFirst + stack.NextRandom() % EphemeralCount);
        }

        internal NetStack Stack => _stack;

        /// <summary>
        /// Starts listening on a local port for connections to any local address. Up to
        /// <paramref name="backlog"/> connections (handshaking or waiting in <see cref="TcpListener.Accept"/>)
        /// are held; SYNs beyond that are dropped (the peer retries).
        /// </summary>
        public NetStatus Listen(ushort port, int backlog, out TcpListener listener)
        {
            listener = null;
            if (port == 0 || backlog < 1) return NetStatus.InvalidArgument;
            _stack.Lock();
            try
            {
                if (FindListener(port) != null) return NetStatus.InUse;
                if (Listeners.Count >= MaxListeners) return NetStatus.NoResources;
                listener = new TcpListener(this, port, backlog);
                Listeners.Add(listener);
                return NetStatus.Ok;
            }
            finally { _stack.Unlock(); }
        }

        /// <summary>Active open: sends SYN and waits (bounded) for the handshake. Thread context only.</summary>
        public NetStatus Connect(IpEndPoint remote, uint timeoutMs, out TcpConnection connection)
        {
            NetStatus s = BeginConnect(remote, out TcpConnection c);
            connection = null;
            if (s != NetStatus.Ok) return s;
            if (!_stack.WaitUntil(() => c.State != TcpState.SynSent && c.State != TcpState.SynReceived, c.Wakeup, timeoutMs))
            {
                c.Abort();
                return NetStatus.Timeout;
            }
            _stack.Lock();
            try
            {
                if (c.State == TcpState.Established || c.State == TcpState.CloseWait)
                {
                    connection = c;
                    return NetStatus.Ok;
                }
                return c.Error == NetStatus.Ok ? NetStatus.Reset : c.Error;
            }
            finally { _stack.Unlock(); }
        }

        /// <summary>Active open without waiting: the SYN is sent and the connection returned in SYN_SENT.</summary>
        public NetStatus BeginConnect(IpEndPoint remote, out TcpConnection connection)
        {
            connection = null;
            if (remote.Port == 0 || remote.Address.IsAny || remote.Address.IsBroadcast) return NetStatus.InvalidArgument;
            _stack.Lock();
            try
            {
                NetInterface iface = _stack.RouteInterface(remote.Address);
                if (iface == null) return NetStatus.Unreachable;
                if (Connections.Count >= MaxConnections) return NetStatus.NoResources;
                ushort port = 0;
                for (int tries = 0; tries < EphemeralCount && port == 0; tries++)
                {
                    ushort candidate = _nextEphemeral;
                    _nextEphemeral = (ushort)(candidate + 1 >= EphemeralFirst + EphemeralCount ? EphemeralFirst : candidate + 1);
                    if (Find(new IpEndPoint(iface.Address, candidate), remote) == null && FindListener(candidate) == null)
                        port = candidate;
                }
                if (port == 0) return NetStatus.NoResources;
                var c = new TcpConnection(this, new IpEndPoint(iface.Address, port), remote, iface.Mtu, null);
                Connections.Add(c);
                Counters.ActiveOpens++;
                c.StartActiveOpen();
                connection = c;
                return NetStatus.Ok;
            }
            finally { _stack.Unlock(); }
        }

        internal TcpListener FindListener(ushort port)
        {
            for (int i = 0; i < Listeners.Count; i++)
                if (Listeners[i].Port == port) return Listeners[i];
            return null;
        }

        TcpConnection Find(IpEndPoint local, IpEndPoint remote)
        {
            for (int i = 0; i < Connections.Count; i++)
            {
                TcpConnection c = Connections[i];
                if (c.LocalEndPoint.Port == local.Port && c.RemoteEndPoint.Port == remote.Port &&
                    c.RemoteEndPoint.Address == remote.Address && c.LocalEndPoint.Address == local.Address)
                    return c;
            }
            return null;
        }

        /// <summary>Connections for the shell (a copy).</summary>
        public List<TcpConnection> Snapshot()
        {
            _stack.Lock();
            try { return Lists.Copy(Connections); }
            finally { _stack.Unlock(); }
        }

        /// <summary>One segment from IP (lock held). Header, options and checksum are checked before anything trusts them.</summary>
        internal void Input(NetInterface iface, Ip4Address source, Ip4Address destination, byte[] p, int o, int length)
        {
            if (length < TcpHeader.MinLength)
            {
                Counters.Malformed++;
                _stack.CountMalformed(iface);
                return;
            }
            int headerLength = (p[o + TcpHeader.DataOffsetOffset] >> 4) * 4;
            if (headerLength < TcpHeader.MinLength || headerLength > length)
            {
                Counters.Malformed++;
                _stack.CountMalformed(iface);
                return;
            }
            uint sum = Checksum.PseudoHeader(source, destination, Ipv4.ProtocolTcp, length);
            if (Checksum.Finish(Checksum.Add(sum, p, o, length)) != 0)
            {
                Counters.ChecksumErrors++;
                _stack.CountMalformed(iface);
                return;
            }
            var seg = new TcpSegment
            {
                SourcePort = Bytes.Read16(p, o + TcpHeader.SourcePortOffset),
                DestinationPort = Bytes.Read16(p, o + TcpHeader.DestinationPortOffset),
                Sequence = Bytes.Read32(p, o + TcpHeader.SequenceOffset),
                Ack = Bytes.Read32(p, o + TcpHeader.AckOffset),
                Flags = p[o + TcpHeader.FlagsOffset],
                Window = Bytes.Read16(p, o + TcpHeader.WindowOffset),
                Data = p,
                DataOffset = o + headerLength,
                DataLength = length - headerLength,
            };
            if (seg.SourcePort == 0 || seg.DestinationPort == 0 || source.IsAny)
            {
                Counters.Malformed++;
                _stack.CountMalformed(iface);
                return;
            }
            // Options: only MSS matters (on SYN). Each option's length is bounded by the header.
            for (int i = o + TcpHeader.MinLength, end = o + headerLength; i < end;)
            {
                byte kind = p[i];
                if (kind == TcpHeader.OptionEnd) break;
                if (kind == TcpHeader.OptionNop) { i++; continue; }
                if (i + 1 >= end) break;
                int n = p[i + 1];
                if (n < 2 || i + n > end) break;
                if (kind == TcpHeader.OptionMss && n == TcpHeader.OptionMssLength)
                    seg.Mss = Bytes.Read16(p, i + 2);
                i += n;
            }
            Counters.SegmentsReceived++;
            var local = new IpEndPoint(destination, seg.DestinationPort);
            var remote = new IpEndPoint(source, seg.SourcePort);
            TcpConnection c = Find(local, remote);
            if (c != null)
            {
                c.Input(ref seg);
                return;
            }
            TcpListener listener = FindListener(seg.DestinationPort);
            if (listener != null && (seg.Flags & (TcpHeader.Syn | TcpHeader.Ack | TcpHeader.Rst)) == TcpHeader.Syn)
            {
                if (listener.Closed || listener.Pending >= listener.Backlog || Connections.Count >= MaxConnections)
                {
                    Counters.BacklogDrops++;
                    return; // the peer's SYN retransmission tries again later
                }
                c = new TcpConnection(this, local, remote, iface.Mtu, listener);
                Connections.Add(c);
                listener.HalfOpen++;
                Counters.PassiveOpens++;
                c.StartPassiveOpen(ref seg);
                return;
            }
            if ((seg.Flags & TcpHeader.Rst) != 0) return;
            Counters.NoListener++;
            // RFC 793 "If the state is CLOSED": reset everything else.
            if ((seg.Flags & TcpHeader.Ack) != 0)
                SendSegment(local, remote, seg.Ack, 0, TcpHeader.Rst, 0, null, 0, 0, 0);
            else
                SendSegment(local, remote, 0, seg.Sequence + seg.Length, TcpHeader.Rst | TcpHeader.Ack, 0, null, 0, 0, 0);
            Counters.ResetsSent++;
        }

        /// <summary>
        /// Builds and sends one segment. Data comes from a ring buffer (<paramref name="ring"/>,
        /// starting at <paramref name="ringOffset"/> modulo its length). <paramref name="mss"/> != 0
        /// adds the MSS option (SYN segments).
        /// </summary>
        internal NetStatus SendSegment(IpEndPoint local, IpEndPoint remote, uint seq, uint ack, byte flags, ushort window,
                                       byte[] ring, int ringOffset, int length, ushort mss)
        {
            byte[] s = Scratch;
            int header = TcpHeader.MinLength + (mss != 0 ? TcpHeader.OptionMssLength : 0);
            Bytes.Write16(s, TcpHeader.SourcePortOffset, local.Port);
            Bytes.Write16(s, TcpHeader.DestinationPortOffset, remote.Port);
            Bytes.Write32(s, TcpHeader.SequenceOffset, seq);
            Bytes.Write32(s, TcpHeader.AckOffset, ack);
            s[TcpHeader.DataOffsetOffset] = (byte)((header / 4) << 4);
            s[TcpHeader.FlagsOffset] = flags;
            Bytes.Write16(s, TcpHeader.WindowOffset, window);
            Bytes.Write16(s, TcpHeader.ChecksumOffset, 0);
            Bytes.Write16(s, TcpHeader.UrgentOffset, 0);
            if (mss != 0)
            {
                s[TcpHeader.MinLength] = TcpHeader.OptionMss;
                s[TcpHeader.MinLength + 1] = TcpHeader.OptionMssLength;
                Bytes.Write16(s, TcpHeader.MinLength + 2, mss);
            }
            if (length > 0)
            {
                int first = ring.Length - ringOffset;
                if (first >= length) Bytes.Copy(ring, ringOffset, s, header, length);
                else
                {
                    Bytes.Copy(ring, ringOffset, s, header, first);
                    Bytes.Copy(ring, 0, s, header + first, length - first);
                }
            }
            int total = header + length;
            uint sum = Checksum.PseudoHeader(local.Address, remote.Address, Ipv4.ProtocolTcp, total);
            Bytes.Write16(s, TcpHeader.ChecksumOffset, Checksum.Finish(Checksum.Add(sum, s, 0, total)));
            Counters.SegmentsSent++;
            return _stack.SendIp(local.Address, remote.Address, Ipv4.ProtocolTcp, s, 0, total);
        }

        internal void Tick(ulong now)
        {
            for (int i = Connections.Count - 1; i >= 0; i--)
                if (i < Connections.Count) Connections[i].Tick(now);
        }

        internal void FlushAcks()
        {
            for (int i = 0; i < Connections.Count; i++)
                Connections[i].FlushAck();
        }

        internal void Remove(TcpConnection c)
        {
            Connections.Remove(c);
        }

        /// <summary>Queues a PeerClosed notification, raised after the lock is released.</summary>
        internal void Notify(TcpConnection c, NetStatus status)
        {
            _notify.Add(c);
            _notifyStatus.Add(status);
        }

        internal void RaiseNotifications()
        {
            while (true)
            {
                TcpConnection c;
                NetStatus status;
                _stack.Lock();
                try
                {
                    if (_notify.Count == 0) return;
                    c = _notify[0];
                    status = _notifyStatus[0];
                    _notify.RemoveAt(0);
                    _notifyStatus.RemoveAt(0);
                }
                finally { _stack.Unlock(); }
                c.RaisePeerClosed(status);
            }
        }

        internal void OnUnreachable(Ip4Address ip)
        {
            for (int i = Connections.Count - 1; i >= 0; i--)
                if (i < Connections.Count && Connections[i].RemoteEndPoint.Address == ip && Connections[i].State == TcpState.SynSent)
                    Connections[i].Fail(NetStatus.Unreachable);
        }

        /// <summary>One line per connection and listener for the shell.</summary>
        public List<string> Describe()
        {
            var lines = new List<string>();
            _stack.Lock();
            try
            {
                for (int i = 0; i < Listeners.Count; i++)
                    lines.Add("tcp  0.0.0.0:" + Format.Decimal(Listeners[i].Port) + "  LISTEN  backlog " + Format.Decimal((ulong)Listeners[i].Backlog) +
                              ", " + Format.Decimal((ulong)Listeners[i].Pending) + " pending");
                for (int i = 0; i < Connections.Count; i++)
                    lines.Add(Connections[i].Describe());
            }
            finally { _stack.Unlock(); }
            return lines;
        }
    }

    /// <summary>A parsed incoming segment; <see cref="Data"/> points into the received frame.</summary>
    internal struct TcpSegment
    {
        public ushort SourcePort, DestinationPort, Window, Mss;
        public uint Sequence, Ack;
        public byte Flags;
        public byte[] Data;
        public int DataOffset, DataLength;

        public bool Has(byte flag) => (Flags & flag) != 0;
        /// <summary>Sequence space the segment occupies: data plus one each for SYN and FIN.</summary>
        public uint Length => (uint)DataLength + (Has(TcpHeader.Syn) ? 1u : 0u) + (Has(TcpHeader.Fin) ? 1u : 0u);
    }
}
