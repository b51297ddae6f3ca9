using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Storage;
using Kernel.Shell;
using Platform;

namespace Kernel.Usb
{
    /// <summary>
    /// The kernel's end of the usb-storage driver: the `disk` shell command lists the disks and
    /// their partitions, reads (hex dump of the first block, a checksum over many), writes a text
    /// block and measures the sequential read or write throughput (a write run overwrites the start
    /// of the disk with a pattern, then reads it back and verifies every block).
    /// </summary>
    internal static class StorageShell
    {
        public static UsbStorageDriver Driver;
        /// <summary>Bytes per read call of `disk read` (the driver splits them into its own commands).</summary>
        const int ReadChunkBytes = 128 * 1024;
        /// <summary>
        /// `disk read`'s buffer, allocated once at boot and reused by every command (the shell runs one at a
        /// time). A fresh 128 KiB array per command was garbage that a stale word on some thread's stack (the
        /// collector scans stacks conservatively) could keep alive after a disk was unplugged mid-read,
        /// showing as heap growth in the hot-plug storm.
        /// </summary>
        static byte[] s_readChunk;

        /// <summary>Registers the usb-storage driver and the `disk` command.</summary>
        public static void Register(UsbStack stack)
        {
            Driver = UsbStorageDriver.Register(stack);
            s_readChunk = new byte[ReadChunkBytes];
            KernelShell.Register("disk", "disk [read|write|bench <disk> ...]",
                                 "USB disks and partitions; read <disk> <lba> [count] (hex dump), write <disk> <lba> <text>, " +
                                 "bench <disk> [MiB] [read|write] (MB/s; write OVERWRITES the first MiB of the disk, then reads them back and verifies)", Run);
        }

        static void Run(List<string> args)
        {
            string verb = args.Count > 1 ? args[1] : "";
            if (verb == "")
                List();
            else if (verb == "read" && args.Count > 3)
                Read(args);
            else if (verb == "write" && args.Count > 4)
                Write(args);
            else if (verb == "bench" && args.Count > 2)
                Bench(args);
            else
                KernelShell.Print("usage: disk | disk read <disk> <lba> [count] | disk write <disk> <lba> <text> | disk bench <disk> [MiB] [read|write]" +
                                  " (write overwrites the first MiB of the disk, then reads them back and verifies)");
        }

        static void List()
        {
            KernelShell.Print(BootMedium.Describe());
            ScsiDisk[] disks = Driver.Disks;
            if (disks.Length == 0)
            {
                KernelShell.Print("disk: no disks");
                return;
            }
            for (int i = 0; i < disks.Length; i++)
            {
                ScsiDisk d = disks[i];
                KernelShell.Print(Format.PadRight(d.Name, 6) + Format.PadRight(d.Transport.Name, 14) + Format.PadRight(d.Address, 9) +
                                  d.Vendor.Trim() + " " + d.Product.Trim() + ", " + Format.Decimal(d.BlockCount) + " x " +
                                  Format.Decimal((ulong)d.BlockSize) + " bytes (" + ScsiDisk.SizeText(d.CapacityBytes) + ")");
                StorageListing.PrintDetails(d);
            }
        }

        static ScsiDisk Find(string name)
        {
            ScsiDisk disk = Driver.FindDisk(name);
            if (disk == null)
                KernelShell.Print("disk: no disk " + name);
            return disk;
        }

        /// <summary>Decimal only; a number too big for 64 bits is refused rather than wrapped.</summary>
        static bool ParseNumber(string text, out ulong value) => DiskArguments.ParseNumber(text, out value);

        /// <summary>Prints why [lba, lba + count) can't be accessed; false then (no overflow: ScsiDisk.CheckRange).</summary>
        static bool InRange(string verb, ScsiDisk disk, ulong lba, ulong count)
        {
            StorageStatus medium = disk.CheckMedium();     // a removable disk's new medium has a new size
            if (medium != StorageStatus.Ok)
            {
                KernelShell.Print("disk " + verb + ": " + disk.Name + " LBA " + Format.Decimal(lba) + ": " + StorageStatusNames.Name(medium));
                return false;
            }
            if (disk.CheckRange(lba, count) == StorageStatus.Ok)
                return true;
            KernelShell.Print("disk " + verb + ": LBA " + Format.Decimal(lba) + " + " + Format.Decimal(count) + " block(s) is beyond the end of " +
                              disk.Name + " (" + Format.Decimal(disk.BlockCount) + " blocks)");
            return false;
        }

        static void Read(List<string> args)
        {
            ScsiDisk disk = Find(args[2]);
            if (disk == null) return;
            ulong count = 1;
            if (!ParseNumber(args[3], out ulong lba) || (args.Count > 4 && (!ParseNumber(args[4], out count) || count == 0)))
            {
                KernelShell.Print("disk read: bad number");
                return;
            }
            if (!InRange("read", disk, lba, count))
                return;
            int chunkBlocks = ReadChunkBytes / (int)disk.BlockSize;
            if (chunkBlocks == 0)
            {
                KernelShell.Print("disk read: " + disk.Name + ": blocks of " + Format.Decimal(disk.BlockSize) + " bytes are larger than the read buffer");
                return;
            }
            byte[] buffer = s_readChunk;
            var first = new byte[disk.BlockSize];
            uint checksum = 2166136261;    // FNV-1a over every byte read
            ulong done = 0;
            while (done < count)
            {
                if (KernelShell.Interrupted) { KernelShell.Print("disk read: interrupted"); return; }
                int n = count - done < (ulong)chunkBlocks ? (int)(count - done) : chunkBlocks;
                StorageStatus status = disk.Read(lba + done, n, buffer);
                if (status != StorageStatus.Ok)
                {
                    KernelShell.Print("disk read: " + disk.Name + " LBA " + Format.Decimal(lba + done) + ": " + StorageStatusNames.Name(status));
                    return;
                }
                if (done == 0)
                    for (int i = 0; i < first.Length; i++) first[i] = buffer[i];
                int bytes = n * (int)disk.BlockSize;
                for (int i = 0; i < bytes; i++)
                {
                    checksum ^= buffer[i];
                    checksum *= 16777619;
                }
                done += (ulong)n;
            }
            KernelShell.Print("disk read: " + disk.Name + " LBA " + Format.Decimal(lba) + ", " + Format.Decimal(count) + " block(s):");
            HexDump(first);
            if (count > 1)
                KernelShell.Print("disk read: fnv1a32 " + Format.Hex(checksum, 8) + " over " + Format.Decimal(count * disk.BlockSize) + " bytes");
        }

        static void HexDump(byte[] data)
        {
            var sb = new System.Text.StringBuilder();
            for (int line = 0; line < data.Length; line += 16)
            {
                sb.Clear();
                sb.Append(Format.Hex((ulong)line, 8));
                sb.Append(' ');
                for (int i = 0; i < 16; i++)
                {
                    sb.Append(' ');
                    sb.Append(Format.Hex(data[line + i], 2));
                }
                sb.Append("  |");
                for (int i = 0; i < 16; i++)
                {
                    byte b = data[line + i];
                    sb.Append(b >= 0x20 && b < 0x7F ? (char)b : '.');
                }
                sb.Append('|');
                KernelShell.Print(sb.ToString());
            }
        }

        static void Write(List<string> args)
        {
            ScsiDisk disk = Find(args[2]);
            if (disk == null) return;
            if (!ParseNumber(args[3], out ulong lba))
            {
                KernelShell.Print("disk write: bad LBA");
                return;
            }
            if (!InRange("write", disk, lba, 1))
                return;
            var block = new byte[disk.BlockSize];
            int o = 0;
            for (int a = 4; a < args.Count; a++)
            {
                if (a > 4 && o < block.Length) block[o++] = (byte)' ';
                for (int i = 0; i < args[a].Length && o < block.Length; i++) block[o++] = (byte)args[a][i];
            }
            StorageStatus status = disk.Write(lba, 1, block);
            KernelShell.Print("disk write: " + disk.Name + " LBA " + Format.Decimal(lba) + ": " + StorageStatusNames.Name(status));
        }

        static void Bench(List<string> args) => StorageBench.Run(args);
    }
}
