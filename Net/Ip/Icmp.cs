using System.Collections.Generic;

namespace Net
{
    /// <summary>
    /// ICMP (RFC 792): answers echo requests and runs the `ping` client (one outstanding echo per
    /// caller, matched by identifier and sequence). Other messages are counted and ignored.
    /// </summary>
    public sealed class Icmp
    {
        public const int TypeOffset = 0, CodeOffset = 1, ChecksumOffset = 2, IdentifierOffset = 4, SequenceOffset = 6;
        public const int EchoHeaderLength = 8;
        public const byte TypeEchoReply = 0, TypeDestinationUnreachable = 3, TypeEchoRequest = 8;
        /// <summary>Largest echo payload ping sends (fits one Ethernet frame).</summary>
        public const int MaxPingPayload = 1400;

        sealed class PendingEcho
        {
            public ushort Identifier, Sequence;
            public Ip4Address Target;
            public bool Answered;
            public ulong AnsweredUs;
            public Platform.IEvent Done;
        }

        readonly NetStack _stack;
        readonly List<PendingEcho> _pending = new List<PendingEcho>();
        ushort _nextIdentifier = 0x4B00;

        public ulong EchoRequestsReceived, EchoRepliesSent, EchoRepliesReceived, Malformed, Other;

        internal Icmp(NetStack stack) { _stack = stack; }

        internal void Input(NetInterface iface, Ip4Address source, Ip4Address destination, byte[] packet, int offset, int length)
        {
            if (length < EchoHeaderLength || Checksum.Finish(Checksum.Add(0, packet, offset, length)) != 0)
            {
                Malformed++;
                _stack.CountMalformed(iface);
                return;
            }
            byte type = packet[offset + TypeOffset];
            if (type == TypeEchoRequest)
            {
                EchoRequestsReceived++;
                if (destination.IsBroadcast || destination.IsMulticast) return; // no smurf amplification
                byte[] reply = new byte[length];
                Bytes.Copy(packet, offset, reply, 0, length);
                reply[TypeOffset] = TypeEchoReply;
                reply[CodeOffset] = 0;
                Bytes.Write16(reply, ChecksumOffset, 0);
                Bytes.Write16(reply, ChecksumOffset, Checksum.Finish(Checksum.Add(0, reply, 0, length)));
                if (_stack.SendIp(destination, source, Ipv4.ProtocolIcmp, reply, 0, length) == NetStatus.Ok)
                    EchoRepliesSent++;
            }
            else if (type == TypeEchoReply)
            {
                EchoRepliesReceived++;
                ushort id = Bytes.Read16(packet, offset + IdentifierOffset), seq = Bytes.Read16(packet, offset + SequenceOffset);
                for (int i = 0; i < _pending.Count; i++)
                {
                    PendingEcho p = _pending[i];
                    if (p.Identifier == id && p.Sequence == seq && p.Target == source && !p.Answered)
                    {
                        p.Answered = true;
                        p.AnsweredUs = _stack.Clock.Microseconds;
                        p.Done.Signal();
                    }
                }
            }
            else Other++;
        }

        /// <summary>
        /// Sends one echo request of <paramref name="payloadLength"/> bytes and waits (bounded) for its
        /// reply. Returns Ok with the round-trip time, Timeout, or Unreachable. Blocking: thread context only.
        /// </summary>
        public NetStatus Ping(Ip4Address target, ushort sequence, int payloadLength, uint timeoutMs, out ulong roundTripUs)
        {
            roundTripUs = 0;
            if (payloadLength < 0 || payloadLength > MaxPingPayload) return NetStatus.InvalidArgument;
            var p = new PendingEcho { Sequence = sequence, Target = target, Done = _stack.Threading.CreateEvent(false) };
            int length = EchoHeaderLength + payloadLength;
            byte[] packet = new byte[length];
            ulong sentUs;
            NetStatus status;
            _stack.Lock();
            try
            {
                p.Identifier = _nextIdentifier++;
                _pending.Add(p);
                packet[TypeOffset] = TypeEchoRequest;
                Bytes.Write16(packet, IdentifierOffset, p.Identifier);
                Bytes.Write16(packet, SequenceOffset, sequence);
                for (int i = 0; i < payloadLength; i++) packet[EchoHeaderLength + i] = (byte)i;
                Bytes.Write16(packet, ChecksumOffset, Checksum.Finish(Checksum.Add(0, packet, 0, length)));
                sentUs = _stack.Clock.Microseconds;
                status = _stack.SendIp(Ip4Address.Any, target, Ipv4.ProtocolIcmp, packet, 0, length);
            }
            finally { _stack.Unlock(); }
            if (status == NetStatus.Ok)
                status = _stack.WaitUntil(() => p.Answered, p.Done, timeoutMs) ? NetStatus.Ok : NetStatus.Timeout;
            _stack.Lock();
            try
            {
                _pending.Remove(p);
                if (p.Answered)
                {
                    status = NetStatus.Ok;
                    roundTripUs = p.AnsweredUs - sentUs;
                }
            }
            finally { _stack.Unlock(); }
            return status;
        }
    }
}
