namespace Net
{
    /// <summary>Ethernet II framing (IEEE 802.3 clause 3, DIX EtherType).</summary>
    public static class Ethernet
    {
        public const int DestinationOffset = 0;
        public const int SourceOffset = 6;
        public const int TypeOffset = 12;
        public const int HeaderLength = 14;
        /// <summary>Smallest frame without FCS; shorter ones are padded on transmit.</summary>
        public const int MinFrameLength = 60;
        /// <summary>Largest untagged frame without FCS: header + 1500-byte payload.</summary>
        public const int MaxFrameLength = 1514;

        public const ushort TypeIpv4 = 0x0800;
        public const ushort TypeArp = 0x0806;
        /// <summary>EtherType values below this are IEEE 802.3 lengths, not types.</summary>
        public const ushort MinEtherType = 0x0600;

        /// <summary>Writes the header; returns the offset of the payload.</summary>
        public static int WriteHeader(byte[] frame, MacAddress destination, MacAddress source, ushort type)
        {
            destination.Write(frame, DestinationOffset);
            source.Write(frame, SourceOffset);
            Bytes.Write16(frame, TypeOffset, type);
            return HeaderLength;
        }
    }
}
