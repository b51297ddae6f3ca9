using System.Collections.Generic;
using Drivers.Usb.Storage;
using Kernel.Shell;
using Platform;

namespace Kernel.Usb
{
    /// <summary>
    /// `disk bench <disk> [MiB] [read|write]`: sequential throughput through the zero-copy streaming
    /// path (ScsiDisk.Stream, 1 MiB commands at high speed). read: the first MiB (wrapping on a
    /// smaller disk), data left in the DMA buffer as dd to /dev/null leaves it. write: OVERWRITES the
    /// first MiB of the disk (the whole disk if it is smaller) with <see cref="DiskPattern"/>; the time
    /// runs until the last CSW confirmed the last block (Linux dd with O_DIRECT measures the same);
    /// then SYNCHRONIZE CACHE, then every block is read back and checked.
    /// </summary>
    internal static class StorageBench
    {
        const ulong DefaultMiB = 16;
        /// <summary>Largest size: 1 TiB (also keeps MiB → bytes far from 64-bit overflow).</summary>
        const ulong MaxBenchMiB = 1UL << 20;
        const int MiBShift = 20;
        static ulong s_runs;

        /// <summary>Read sink: the data stays in the DMA buffer (what the bench measures is the transfer).</summary>
        sealed class Discard : IBlockStream
        {
            public bool Chunk(ulong lba, int blocks, System.Span<byte> data) => !KernelShell.Interrupted;   // Ctrl-C stops the stream
        }

        sealed class PatternWriter : IBlockStream
        {
            public uint BlockSize;
            public ulong Seed;
            public bool Chunk(ulong lba, int blocks, System.Span<byte> data)
            {
                DiskPattern.Fill(data, lba, BlockSize, Seed);
                return !KernelShell.Interrupted;
            }
        }

        sealed class PatternChecker : IBlockStream
        {
            public uint BlockSize;
            public ulong Seed;
            public ulong Bad;
            public ulong FirstBad = ulong.MaxValue;
            public bool Chunk(ulong lba, int blocks, System.Span<byte> data)
            {
                int bad = DiskPattern.CountBad(data, lba, BlockSize, Seed, out ulong first);
                if (bad > 0 && FirstBad == ulong.MaxValue) FirstBad = first;
                Bad += (ulong)bad;
                return !KernelShell.Interrupted;
            }
        }

        public static void Run(List<string> args)
        {
            ScsiDisk disk = StorageShell.Driver.FindDisk(args[2]);
            if (disk == null)
            {
                KernelShell.Print("disk: no disk " + args[2]);
                return;
            }
            ulong mib = DefaultMiB;
            int next = 3;
            if (args.Count > next && args[next] != "read" && args[next] != "write")
            {
                if (!DiskArguments.ParseNumber(args[next], out mib) || mib == 0 || mib > MaxBenchMiB)
                {
                    KernelShell.Print("disk bench: bad size (1 to " + Format.Decimal(MaxBenchMiB) + " MiB)");
                    return;
                }
                next++;
            }
            bool write = false;
            if (args.Count > next)
            {
                if (args[next] == "write") write = true;
                else if (args[next] != "read")
                {
                    KernelShell.Print("disk bench: read or write, not " + args[next]);
                    return;
                }
            }
            StorageStatus medium = disk.CheckMedium();
            if (medium != StorageStatus.Ok || disk.BlockSize == 0 || disk.BlockCount == 0)
            {
                KernelShell.Print("disk bench: " + disk.Name + ": " + (medium != StorageStatus.Ok ? StorageStatusNames.Name(medium) : "no capacity"));
                return;
            }
            ulong blocks = (mib << MiBShift) / disk.BlockSize;
            if (write) Write(disk, blocks);
            else Read(disk, blocks);
        }

        static void Read(ScsiDisk disk, ulong blocks)
        {
            var sink = new Discard();
            ulong lba = 0, done = 0;
            ulong start = Time.Clock.Instance.Microseconds;
            while (done < blocks)
            {
                if (lba >= disk.BlockCount) lba = 0;    // wrap on small disks
                ulong left = blocks - done;
                ulong n = left < disk.BlockCount - lba ? left : disk.BlockCount - lba;
                StorageStatus status = disk.Stream(false, lba, n, sink, out ulong moved);
                if (KernelShell.Interrupted)
                {
                    KernelShell.Print("disk bench: interrupted");
                    return;
                }
                if (status != StorageStatus.Ok)
                {
                    KernelShell.Print("disk bench: " + disk.Name + " LBA " + Format.Decimal(lba + moved) + ": " + StorageStatusNames.Name(status));
                    return;
                }
                lba += n;
                done += n;
            }
            KernelShell.Print("disk bench: " + Rate(done * disk.BlockSize, Time.Clock.Instance.Microseconds - start, true));
        }

        static void Write(ScsiDisk disk, ulong blocks)
        {
            bool whole = blocks >= disk.BlockCount;
            if (whole) blocks = disk.BlockCount;
            ulong seed = (Time.Clock.Instance.Microseconds << 8) ^ ++s_runs;
            var writer = new PatternWriter { BlockSize = disk.BlockSize, Seed = seed };
            ulong start = Time.Clock.Instance.Microseconds;
            StorageStatus status = disk.Stream(true, 0, blocks, writer, out ulong written);
            ulong writeUs = Time.Clock.Instance.Microseconds - start;
            if (KernelShell.Interrupted)
            {
                KernelShell.Print("disk bench: interrupted after " + Format.Decimal(written) + " blocks written (pattern seed " + Format.Hex(seed, 16) + ")");
                return;
            }
            if (status != StorageStatus.Ok)
            {
                KernelShell.Print("disk bench: " + disk.Name + " write at LBA " + Format.Decimal(written) + ": " + StorageStatusNames.Name(status) +
                                  " (" + Format.Decimal(written) + " blocks confirmed by the device, pattern seed " + Format.Hex(seed, 16) + ")");
                return;
            }
            ulong syncStart = Time.Clock.Instance.Microseconds;
            status = disk.SynchronizeCache();
            ulong syncUs = Time.Clock.Instance.Microseconds - syncStart;
            if (status != StorageStatus.Ok)
            {
                KernelShell.Print("disk bench: " + disk.Name + " SYNCHRONIZE CACHE: " + StorageStatusNames.Name(status));
                return;
            }
            KernelShell.Print("disk bench: " + Rate(written * disk.BlockSize, writeUs, true));
            KernelShell.Print("disk bench: wrote " + Format.Decimal(written) + " blocks at LBA 0-" + Format.Decimal(written - 1) +
                              (whole ? " (whole disk)" : "") + ", pattern seed " + Format.Hex(seed, 16) + ", synchronize cache " +
                              Format.Decimal(syncUs / 1000) + " ms");

            var checker = new PatternChecker { BlockSize = disk.BlockSize, Seed = seed };
            start = Time.Clock.Instance.Microseconds;
            status = disk.Stream(false, 0, blocks, checker, out ulong read);
            ulong readUs = Time.Clock.Instance.Microseconds - start;
            if (KernelShell.Interrupted)
            {
                KernelShell.Print("disk bench: verify interrupted after " + Format.Decimal(read) + " blocks, " + Format.Decimal(checker.Bad) + " bad so far");
                return;
            }
            if (status != StorageStatus.Ok)
            {
                KernelShell.Print("disk bench: " + disk.Name + " verify at LBA " + Format.Decimal(read) + ": " + StorageStatusNames.Name(status));
                return;
            }
            KernelShell.Print("disk bench: verify: " + Rate(read * disk.BlockSize, readUs, false) + ", " + Format.Decimal(checker.Bad) + " bad sectors" +
                              (checker.Bad > 0 ? " (first at LBA " + Format.Decimal(checker.FirstBad) + ")" : ""));
        }

        /// <summary>"64 MiB in 300 ms (223.6 MB/s)" (MB = 10^6 bytes, as dd prints); the MiB figure is dropped for verify.</summary>
        static string Rate(ulong bytes, ulong us, bool mib)
        {
            if (us == 0) us = 1;
            ulong tenths = bytes * 10 / us;     // bytes per microsecond = MB/s
            ulong ms = (us + 500) / 1000;
            return (mib ? Format.Decimal(bytes >> MiBShift) + " MiB" : Format.Decimal(bytes >> MiBShift) + " MiB read back") + " in " +
                   Format.Decimal(ms) + " ms (" + Format.Decimal(tenths / 10) + "." + Format.Decimal(tenths % 10) + " MB/s)";
        }
    }
}
