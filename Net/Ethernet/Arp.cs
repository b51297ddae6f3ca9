using System.Collections.Generic;

namespace Net
{
    /// <summary>
    /// ARP (RFC 826) for IPv4 over Ethernet: answers requests for our address, resolves next hops
    /// with a cache whose entries time out, and holds the packets that wait for a resolution
    /// (a bounded queue per entry; they are sent when the reply arrives, dropped when it never does).
    /// All methods run with the stack lock held.
    /// </summary>
    public sealed class Arp
    {
        // Packet layout (RFC 826 "Packet format"), for Ethernet/IPv4.
        public const int HardwareTypeOffset = 0, ProtocolTypeOffset = 2, HardwareLengthOffset = 4, ProtocolLengthOffset = 5;
        public const int OperationOffset = 6, SenderMacOffset = 8, SenderIpOffset = 14, TargetMacOffset = 18, TargetIpOffset = 24;
        public const int PacketLength = 28;
        public const ushort HardwareEthernet = 1;
        public const ushort OperationRequest = 1, OperationReply = 2;
        const byte MacLength = 6, Ip4Length = 4;

        /// <summary>How long a learned mapping is trusted (Linux's base_reachable_time is 30 s; BSD keeps 20 min).</summary>
        public const ulong EntryLifetimeMs = 60_000;
        /// <summary>Interval between requests for an unresolved address, and how many are sent before giving up.</summary>
        public const ulong RetryIntervalMs = 1_000;
        public const int MaxRequests = 3;
        /// <summary>Packets held per unresolved address (Linux: unres_qlen_bytes, here by count).</summary>
        public const int MaxPendingPerEntry = 8;
        public const int MaxEntries = 64;

        sealed class Entry
        {
            public NetInterface Iface;
            public Ip4Address Ip;
            public MacAddress Mac;
            public bool Resolved;
            public ulong ExpiresMs;
            public ulong NextRequestMs;
            public int RequestsSent;
            public readonly List<byte[]> Pending = new List<byte[]>();
            public readonly List<int> PendingLengths = new List<int>();
        }

        readonly NetStack _stack;
        readonly List<Entry> _entries = new List<Entry>();
        readonly byte[] _frame = new byte[Ethernet.MinFrameLength];

        public ulong RequestsSent, RepliesSent, Resolutions, Failures, PendingDropped, Malformed;

        internal Arp(NetStack stack) { _stack = stack; }

        public int Count => _entries.Count;

        /// <summary>The cached MAC of <paramref name="ip"/> on an interface, if resolved and not expired.</summary>
        public bool TryLookup(NetInterface iface, Ip4Address ip, out MacAddress mac)
        {
            Entry e = Find(iface, ip);
            if (e != null && e.Resolved)
            {
                mac = e.Mac;
                return true;
            }
            mac = MacAddress.Zero;
            return false;
        }

        /// <summary>Lists the cache for the shell: one line per entry.</summary>
        public List<string> Describe()
        {
            var lines = new List<string>();
            ulong now = _stack.Clock.Milliseconds;
            for (int i = 0; i < _entries.Count; i++)
            {
                Entry e = _entries[i];
                lines.Add(e.Iface.Name + " " + e.Ip.ToString() + " " + (e.Resolved ? e.Mac.ToString() + " expires in " +
                          Platform.Format.Decimal((e.ExpiresMs > now ? e.ExpiresMs - now : 0) / 1000) + " s" :
                          "(incomplete, " + Platform.Format.Decimal((ulong)e.Pending.Count) + " queued)"));
            }
            return lines;
        }

        Entry Find(NetInterface iface, Ip4Address ip)
        {
            for (int i = 0; i < _entries.Count; i++)
                if (_entries[i].Iface == iface && _entries[i].Ip == ip)
                    return _entries[i];
            return null;
        }

        /// <summary>
        /// Sends a frame whose Ethernet header still lacks the destination: at once when the next
        /// hop is cached, else queued (a copy) behind an ARP request.
        /// </summary>
        internal bool Send(NetInterface iface, Ip4Address nextHop, byte[] frame, int length)
        {
            Entry e = Find(iface, nextHop);
            if (e != null && e.Resolved)
            {
                e.Mac.Write(frame, Ethernet.DestinationOffset);
                return iface.Send(frame, length);
            }
            if (e == null)
            {
                e = Allocate(iface, nextHop);
                if (e == null)
                {
                    PendingDropped++;
                    iface.Counters.TxDropped++;
                    return false;
                }
            }
            if (e.Pending.Count >= MaxPendingPerEntry)
            {
                // Like Linux, the oldest packet makes room for the newest.
                e.Pending.RemoveAt(0);
                e.PendingLengths.RemoveAt(0);
                PendingDropped++;
                iface.Counters.TxDropped++;
            }
            byte[] copy = new byte[length];
            Bytes.Copy(frame, 0, copy, 0, length);
            e.Pending.Add(copy);
            e.PendingLengths.Add(length);
            if (e.RequestsSent == 0)
                SendRequest(e);
            return true;
        }

        Entry Allocate(NetInterface iface, Ip4Address ip)
        {
            if (_entries.Count >= MaxEntries)
            {
                // Evict the resolved entry closest to expiry; never an entry with packets waiting.
                int victim = -1;
                for (int i = 0; i < _entries.Count; i++)
                    if (_entries[i].Resolved && (victim < 0 || _entries[i].ExpiresMs < _entries[victim].ExpiresMs))
                        victim = i;
                if (victim < 0) return null;
                _entries.RemoveAt(victim);
            }
            var e = new Entry { Iface = iface, Ip = ip };
            _entries.Add(e);
            return e;
        }

        void SendRequest(Entry e)
        {
            e.RequestsSent++;
            e.NextRequestMs = _stack.Clock.Milliseconds + RetryIntervalMs;
            SendPacket(e.Iface, OperationRequest, MacAddress.Broadcast, MacAddress.Zero, e.Ip);
            RequestsSent++;
        }

        void SendPacket(NetInterface iface, ushort operation, MacAddress ethernetDestination, MacAddress targetMac, Ip4Address targetIp)
        {
            byte[] f = _frame;
            Bytes.Clear(f, 0, f.Length);
            int o = Ethernet.WriteHeader(f, ethernetDestination, iface.Mac, Ethernet.TypeArp);
            Bytes.Write16(f, o + HardwareTypeOffset, HardwareEthernet);
            Bytes.Write16(f, o + ProtocolTypeOffset, Ethernet.TypeIpv4);
            f[o + HardwareLengthOffset] = MacLength;
            f[o + ProtocolLengthOffset] = Ip4Length;
            Bytes.Write16(f, o + OperationOffset, operation);
            iface.Mac.Write(f, o + SenderMacOffset);
            iface.Address.Write(f, o + SenderIpOffset);
            targetMac.Write(f, o + TargetMacOffset);
            targetIp.Write(f, o + TargetIpOffset);
            iface.Send(f, Ethernet.MinFrameLength);
        }

        /// <summary>An ARP packet from the wire (payload after the Ethernet header).</summary>
        internal void Input(NetInterface iface, byte[] frame, int offset, int length)
        {
            if (length < PacketLength || Bytes.Read16(frame, offset + HardwareTypeOffset) != HardwareEthernet ||
                Bytes.Read16(frame, offset + ProtocolTypeOffset) != Ethernet.TypeIpv4 ||
                frame[offset + HardwareLengthOffset] != MacLength || frame[offset + ProtocolLengthOffset] != Ip4Length)
            {
                Malformed++;
                _stack.CountMalformed(iface);
                return;
            }
            ushort operation = Bytes.Read16(frame, offset + OperationOffset);
            MacAddress senderMac = MacAddress.Read(frame, offset + SenderMacOffset);
            Ip4Address senderIp = Ip4Address.Read(frame, offset + SenderIpOffset);
            Ip4Address targetIp = Ip4Address.Read(frame, offset + TargetIpOffset);
            // Never learn a group MAC, a broadcast/multicast IP, our own address, or (once configured) a sender
            // outside the interface's subnet: such packets only poison the cache (Linux arp_process drops them too).
            bool offSubnet = iface.IsConfigured && !senderIp.IsAny && !senderIp.SameSubnet(iface.Address, iface.Netmask);
            bool ours = iface.IsConfigured && senderIp == iface.Address;
            if (senderMac.IsMulticast || senderMac == MacAddress.Zero || senderIp.IsBroadcast || senderIp.IsMulticast || offSubnet || ours)
            {
                Malformed++;
                _stack.CountMalformed(iface);
                return;
            }
            bool forUs = iface.IsConfigured && targetIp == iface.Address;
            // RFC 826 "Packet Reception": update an existing entry; add one only when we are the target.
            Entry e = senderIp.IsAny ? null : Find(iface, senderIp);
            if (e != null)
                Learn(e, senderMac);
            else if (forUs && !senderIp.IsAny)
            {
                e = Allocate(iface, senderIp);
                if (e != null) Learn(e, senderMac);
            }
            if (forUs && operation == OperationRequest)
            {
                SendPacket(iface, OperationReply, senderMac, senderMac, senderIp);
                RepliesSent++;
            }
        }

        void Learn(Entry e, MacAddress mac)
        {
            if (!e.Resolved) Resolutions++;
            e.Mac = mac;
            e.Resolved = true;
            e.ExpiresMs = _stack.Clock.Milliseconds + EntryLifetimeMs;
            e.RequestsSent = 0;
            for (int i = 0; i < e.Pending.Count; i++)
            {
                byte[] f = e.Pending[i];
                mac.Write(f, Ethernet.DestinationOffset);
                e.Iface.Send(f, e.PendingLengths[i]);
            }
            e.Pending.Clear();
            e.PendingLengths.Clear();
        }

        /// <summary>Retries requests, gives up on silent addresses (dropping their queue), expires old entries.</summary>
        internal void Tick(ulong now)
        {
            for (int i = _entries.Count - 1; i >= 0; i--)
            {
                Entry e = _entries[i];
                if (e.Resolved)
                {
                    if (now >= e.ExpiresMs)
                        _entries.RemoveAt(i);
                    continue;
                }
                if (now < e.NextRequestMs) continue;
                if (e.RequestsSent >= MaxRequests)
                {
                    Failures++;
                    PendingDropped += (ulong)e.Pending.Count;
                    e.Iface.Counters.TxDropped += (ulong)e.Pending.Count;
                    _entries.RemoveAt(i);
                    _stack.OnResolutionFailed(e.Iface, e.Ip);
                    continue;
                }
                SendRequest(e);
            }
        }

        /// <summary>Forgets every entry of an interface (its address changed).</summary>
        internal void Flush(NetInterface iface)
        {
            for (int i = _entries.Count - 1; i >= 0; i--)
                if (_entries[i].Iface == iface && _entries[i].Pending.Count == 0)
                    _entries.RemoveAt(i);
        }
    }
}
