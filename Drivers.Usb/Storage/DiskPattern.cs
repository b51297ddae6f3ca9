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
                    for (int i = 2; i < words; i++)
                        p[i] = mixed ^ ((ulong)i * IndexMix);
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
                    bool ok = p[0] == block && p[1] == seed;
                    for (int i = 2; i < words && ok; i++)
                        ok = p[i] == (mixed ^ ((ulong)i * IndexMix));
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
