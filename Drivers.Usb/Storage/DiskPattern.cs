using System;

namespace Drivers.Usb.Storage
{
    /// <summary>
    /// The data `disk bench ... write` puts on a disk and checks when it reads it back: every 64-bit
    /// word depends on the block's LBA, its place in the block and a per-run seed, so a block written
    /// to the wrong place, a stale block from an earlier run or a torn block all show as bad. Word 0
    /// of a block is its LBA and word 1 the seed (readable in a hex dump and from the host's image
    /// file). Words are written and compared 8 bytes at a time: per-byte loops cost more than the
    /// USB transfer itself.
    /// </summary>
    public static unsafe class DiskPattern
    {
        const int WordBytes = 8;
        const ulong LbaMix = 0x9E3779B97F4A7C15;   // 2^64 / golden ratio: spreads consecutive LBAs
        const ulong IndexMix = 0xC2B2AE3D27D4EB4F;
        // Multiples of IndexMix (mod 2^64) for the unrolled loops.
        const ulong IndexMix2 = unchecked(2 * IndexMix), IndexMix3 = unchecked(3 * IndexMix), IndexMix4 = unchecked(4 * IndexMix);

        /// <summary>Word <paramref name="index"/> of block <paramref name="lba"/> in a run with <paramref name="seed"/> (little-endian on disk).</summary>
        public static ulong Word(ulong lba, int index, ulong seed)
        {
            if (index == 0) return lba;
            if (index == 1) return seed;
            return (lba * LbaMix) ^ ((ulong)index * IndexMix) ^ seed;
        }

        /// <summary>Fills whole blocks [lba, lba + data.Length / blockSize) with the pattern.</summary>
        public static void Fill(Span<byte> data, ulong lba, uint blockSize, ulong seed)
        {
            int words = (int)(blockSize / WordBytes);
            int blocks = data.Length / (int)blockSize;
            fixed (byte* start = data)
            {
                ulong* p = (ulong*)start;
                for (int b = 0; b < blocks; b++)
                {
                    ulong block = lba + (ulong)b;
                    ulong mixed = (block * LbaMix) ^ seed;
                    p[0] = block;
                    p[1] = seed;
                    // i × IndexMix by repeated addition, four words a step (blocks are at least 512 bytes: 64 words).
                    ulong k = IndexMix2;
                    int i = 2;
                    for (; i + 4 <= words; i += 4)
                    {
                        p[i] = mixed ^ k;
                        p[i + 1] = mixed ^ (k + IndexMix);
                        p[i + 2] = mixed ^ (k + IndexMix2);
                        p[i + 3] = mixed ^ (k + IndexMix3);
                        k += IndexMix4;
                    }
                    for (; i < words; i++, k += IndexMix)
                        p[i] = mixed ^ k;
                    p += words;
                }
            }
        }

        /// <summary>Counts the blocks of <paramref name="data"/> that differ from the pattern anywhere; <paramref name="firstBad"/> is the first one's LBA.</summary>
        public static int CountBad(ReadOnlySpan<byte> data, ulong lba, uint blockSize, ulong seed, out ulong firstBad)
        {
            firstBad = 0;
            int words = (int)(blockSize / WordBytes);
            int blocks = data.Length / (int)blockSize;
            int bad = 0;
            fixed (byte* start = data)
            {
                ulong* p = (ulong*)start;
                for (int b = 0; b < blocks; b++)
                {
                    ulong block = lba + (ulong)b;
                    ulong mixed = (block * LbaMix) ^ seed;
                    // Differences are OR-ed together: one branch per block, not per word.
                    ulong diff = (p[0] ^ block) | (p[1] ^ seed);
                    ulong k = IndexMix2;
                    for (int i = 2; i < words; i++, k += IndexMix)
                        diff |= p[i] ^ mixed ^ k;
                    bool ok = diff == 0;
                    if (!ok)
                    {
                        if (bad == 0) firstBad = block;
                        bad++;
                    }
                    p += words;
                }
            }
            return bad;
        }
    }
}
