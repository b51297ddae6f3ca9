namespace Net
{
    /// <summary>
    /// Network byte order (big-endian) reads and writes and bounded copies. Callers check lengths
    /// before reading: these helpers trust their offsets (the array indexer still bounds-checks).
    /// </summary>
    public static class Bytes
    {
        public static ushort Read16(byte[] b, int o) => (ushort)((b[o] << 8) | b[o + 1]);
        public static uint Read32(byte[] b, int o) => ((uint)b[o] << 24) | ((uint)b[o + 1] << 16) | ((uint)b[o + 2] << 8) | b[o + 3];

        public static void Write16(byte[] b, int o, ushort v)
        {
            b[o] = (byte)(v >> 8);
            b[o + 1] = (byte)v;
        }

        public static void Write32(byte[] b, int o, uint v)
        {
            b[o] = (byte)(v >> 24);
            b[o + 1] = (byte)(v >> 16);
            b[o + 2] = (byte)(v >> 8);
            b[o + 3] = (byte)v;
        }

        public static void Copy(byte[] src, int srcOffset, byte[] dst, int dstOffset, int count)
        {
            if (count <= 0) return;
            new System.ReadOnlySpan<byte>(src, srcOffset, count).CopyTo(new System.Span<byte>(dst, dstOffset, count));
        }

        public static void Clear(byte[] b, int o, int count)
        {
            if (count <= 0) return;
            new System.Span<byte>(b, o, count).Clear();
        }

        public static bool Equal(byte[] a, int ao, byte[] b, int bo, int count)
        {
            for (int i = 0; i < count; i++)
                if (a[ao + i] != b[bo + i]) return false;
            return true;
        }
    }

    /// <summary>The Internet checksum (RFC 1071): one's complement sum of 16-bit words.</summary>
    public static class Checksum
    {
        /// <summary>Adds bytes to a running 32-bit sum (an odd final byte is padded with zero).</summary>
        public static uint Add(uint sum, byte[] b, int offset, int length)
        {
            int i = 0;
            for (; i + 1 < length; i += 2)
                sum += (uint)((b[offset + i] << 8) | b[offset + i + 1]);
            if (i < length)
                sum += (uint)(b[offset + i] << 8);
            // Fold regularly so huge buffers cannot overflow (a frame never comes close).
            return Fold32(sum);
        }

        static uint Fold32(uint sum)
        {
            while ((sum >> 16) != 0 && sum > 0xFFFFFF)
                sum = (sum & 0xFFFF) + (sum >> 16);
            return sum;
        }

        /// <summary>Folds the sum to 16 bits and complements it: the value that goes into the header.</summary>
        public static ushort Finish(uint sum)
        {
            while ((sum >> 16) != 0)
                sum = (sum & 0xFFFF) + (sum >> 16);
            return (ushort)~sum;
        }

        /// <summary>The pseudo-header sum for TCP and UDP (RFC 793 3.1, RFC 768).</summary>
        public static uint PseudoHeader(Ip4Address source, Ip4Address destination, byte protocol, int length)
        {
            uint s = (source.Value >> 16) + (source.Value & 0xFFFF) + (destination.Value >> 16) + (destination.Value & 0xFFFF);
            return s + protocol + (uint)length;
        }
    }
}

namespace Net
{
    /// <summary>List helpers the kernel's corlib lacks (its List&lt;T&gt; has no copy constructor).</summary>
    internal static class Lists
    {
        public static System.Collections.Generic.List<T> Copy<T>(System.Collections.Generic.List<T> source)
        {
            var copy = new System.Collections.Generic.List<T>();
            for (int i = 0; i < source.Count; i++) copy.Add(source[i]);
            return copy;
        }
    }
}
