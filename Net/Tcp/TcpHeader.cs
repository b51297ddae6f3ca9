namespace Net
{
    /// <summary>TCP header layout and constants (RFC 793 3.1; MSS option RFC 879 / RFC 9293 3.7.1).</summary>
    public static class TcpHeader
    {
        public const int SourcePortOffset = 0, DestinationPortOffset = 2, SequenceOffset = 4, AckOffset = 8;
        public const int DataOffsetOffset = 12, FlagsOffset = 13, WindowOffset = 14, ChecksumOffset = 16, UrgentOffset = 18;
        public const int MinLength = 20;
        public const int MaxLength = 60;

        public const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, Ack = 0x10, Urg = 0x20;

        public const byte OptionEnd = 0, OptionNop = 1, OptionMss = 2;
        public const int OptionMssLength = 4;

        /// <summary>MSS assumed when the peer sends no option (RFC 9293 3.7.1).</summary>
        public const ushort DefaultMss = 536;
        /// <summary>Largest window without the window-scale option.</summary>
        public const int MaxWindow = 65535;
    }

    /// <summary>Connection states (RFC 793 3.2).</summary>
    public enum TcpState
    {
        Closed, Listen, SynSent, SynReceived, Established, FinWait1, FinWait2, CloseWait, Closing, LastAck, TimeWait,
    }

    /// <summary>Sequence-number arithmetic modulo 2^32 (RFC 793 3.3).</summary>
    public static class Seq
    {
        public static bool Lt(uint a, uint b) => (int)(a - b) < 0;
        public static bool Le(uint a, uint b) => (int)(a - b) <= 0;
        public static bool Gt(uint a, uint b) => (int)(a - b) > 0;
        public static bool Ge(uint a, uint b) => (int)(a - b) >= 0;
    }

    /// <summary>TCP counters (like Linux's /proc/net/snmp Tcp: line).</summary>
    public sealed class TcpCounters
    {
        public ulong SegmentsReceived, SegmentsSent, Retransmissions, FastRetransmissions, ZeroWindowProbes;
        public ulong ResetsSent, ResetsReceived, ChecksumErrors, Malformed, NoListener, BacklogDrops;
        public ulong ActiveOpens, PassiveOpens, OutOfOrderSegments, DuplicateSegments, Timeouts;
    }

    internal static class TcpStateNames
    {
        public static string Name(TcpState s)
        {
            switch (s)
            {
                case TcpState.Closed: return "CLOSED";
                case TcpState.Listen: return "LISTEN";
                case TcpState.SynSent: return "SYN_SENT";
                case TcpState.SynReceived: return "SYN_RECV";
                case TcpState.Established: return "ESTABLISHED";
                case TcpState.FinWait1: return "FIN_WAIT1";
                case TcpState.FinWait2: return "FIN_WAIT2";
                case TcpState.CloseWait: return "CLOSE_WAIT";
                case TcpState.Closing: return "CLOSING";
                case TcpState.LastAck: return "LAST_ACK";
                default: return "TIME_WAIT";
            }
        }
    }
}
