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

        /// <summary>Copies bytes between arrays (8 bytes at a time: Span.CopyTo in the kernel's corlib copies byte by byte).</summary>
        public static unsafe void Copy(byte[] src, int srcOffset, byte[] dst, int dstOffset, int count)
        {
            if (count <= 0) return;
            if ((uint)srcOffset > (uint)src.Length || count > src.Length - srcOffset ||
                (uint)dstOffset > (uint)dst.Length || count > dst.Length - dstOffset)
            {
                // Out of range: let the span constructor report it like an indexer would.
                new System.ReadOnlySpan<byte>(src, srcOffset, count).CopyTo(new System.Span<byte>(dst, dstOffset, count));
                return;
            }
            fixed (byte* s = &src[srcOffset])
            fixed (byte* d = &dst[dstOffset])
                System.Buffer.MemoryCopy(s, d, count, count);
        }

        /// <summary>Copies from unmanaged memory (a DMA buffer) into an array.</summary>
        public static unsafe void CopyFrom(byte* src, byte[] dst, int dstOffset, int count)
        {
            if (count <= 0) return;
            if ((uint)dstOffset > (uint)dst.Length || count > dst.Length - dstOffset) { new System.Span<byte>(dst, dstOffset, count).Clear(); return; }
            fixed (byte* d = &dst[dstOffset])
                System.Buffer.MemoryCopy(src, d, count, count);
        }

        /// <summary>Copies from an array into unmanaged memory (a DMA buffer).</summary>
        public static unsafe void CopyTo(byte[] src, int srcOffset, byte* dst, int count)
        {
            if (count <= 0) return;
            if ((uint)srcOffset > (uint)src.Length || count > src.Length - srcOffset) { new System.ReadOnlySpan<byte>(src, srcOffset, count).ToArray(); return; }
            fixed (byte* s = &src[srcOffset])
                System.Buffer.MemoryCopy(s, dst, count, count);
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
        /// <summary>
        /// Adds bytes (as big-endian 16-bit words; an odd final byte padded with zero) to a running sum.
        /// Sums 8 bytes per step in native (little-endian) order and byte-swaps the folded result,
        /// which RFC 1071 2(B) shows is equivalent.
        /// </summary>
        public static unsafe uint Add(uint sum, byte[] b, int offset, int length)
        {
            if (length <= 0) return sum;
            if ((uint)offset >= (uint)b.Length || length > b.Length - offset) return sum + b[offset + length - 1]; // indexer reports the bad range
            ulong acc = 0;
            fixed (byte* start = &b[offset])
            {
                byte* p = start;
                int n = length;
                while (n >= 8)
                {
                    ulong v = *(ulong*)p;
                    acc += (v & 0xFFFFFFFF) + (v >> 32);
                    p += 8;
                    n -= 8;
                }
                while (n >= 2)
                {
                    acc += *(ushort*)p;
                    p += 2;
                    n -= 2;
                }
                if (n == 1) acc += *p;
            }
            while ((acc >> 16) != 0)
                acc = (acc & 0xFFFF) + (acc >> 16);
            uint swapped = (uint)((acc >> 8) | ((acc & 0xFF) << 8));
            return Fold32(sum + swapped);
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
