namespace Net
{
    /// <summary>IPv4 header layout and constants (RFC 791 3.1).</summary>
    public static class Ipv4
    {
        public const int VersionIhlOffset = 0, TosOffset = 1, TotalLengthOffset = 2, IdentificationOffset = 4;
        public const int FlagsFragmentOffset = 6, TtlOffset = 8, ProtocolOffset = 9, ChecksumOffset = 10;
        public const int SourceOffset = 12, DestinationOffset = 16;
        public const int MinHeaderLength = 20;
        public const int MaxHeaderLength = 60;
        public const byte Version = 4;
        /// <summary>Version 4, IHL 5 words: the header we send (no options).</summary>
        public const byte VersionIhlNoOptions = (Version << 4) | (MinHeaderLength / 4);
        /// <summary>Flags: Don't Fragment and More Fragments bits; the low 13 bits are the fragment offset.</summary>
        public const ushort FlagDontFragment = 0x4000, FlagMoreFragments = 0x2000, FragmentOffsetMask = 0x1FFF;
        /// <summary>Our TTL (RFC 1700 recommends 64).</summary>
        public const byte DefaultTtl = 64;

        public const byte ProtocolIcmp = 1, ProtocolTcp = 6, ProtocolUdp = 17;
    }

    /// <summary>IP-layer counters (like Linux's /proc/net/snmp Ip: line).</summary>
    public sealed class IpCounters
    {
        public ulong Received, Delivered, HeaderErrors, ChecksumErrors, FragmentsDropped, NotForUs, UnknownProtocol;
        public ulong Sent, NoRoute;
    }
}
