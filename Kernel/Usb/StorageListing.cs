using Drivers.Usb.Storage;
using Kernel.Shell;
using Platform;

namespace Kernel.Usb
{
    /// <summary>
    /// The lines `disk` prints under each disk, like `lsblk -i -o NAME,SIZE,START,PARTTYPENAME,PARTLABEL,PARTUUID`:
    /// the disk's state (partition table type and id, removable, write protected, no medium), then one
    /// line per partition (sda1, sda2, ...) with its size, first LBA, type, label and unique id.
    /// </summary>
    internal static class StorageListing
    {
        public static void PrintDetails(ScsiDisk d)
        {
            PartitionTable table = d.Partitions;
            string state = "  " + (table.Type == PartitionTable.TypeNone ? "no partition table" : table.Type + " " + table.DiskId);
            if (d.Removable) state += ", removable";
            if (!d.MediumPresent) state += ", no medium";
            if (d.WriteProtected) state += ", write protected";
            if (d.Use16) state += ", READ(16)/WRITE(16)";
            KernelShell.Print(state);
            for (int i = 0; i < table.Partitions.Length; i++)
            {
                Partition p = table.Partitions[i];
                string tree = i + 1 < table.Partitions.Length ? "  |-" : "  `-";
                string label = p.Label.Length > 0 ? "\"" + p.Label + "\"" : "-";
                KernelShell.Print(tree + Format.PadRight(d.Name + Format.Decimal((ulong)p.Number), 8) + " " +
                                  Format.PadLeft(ScsiDisk.ShortSize(p.Blocks * d.BlockSize), 7, ' ') + "  start " +
                                  Format.PadRight(Format.Decimal(p.FirstLba), 10) + " " + Format.PadRight(p.TypeName + (p.Bootable ? " *" : ""), 22) + " " +
                                  Format.PadRight(label, 18) + " " + p.Uuid);
            }
        }
    }
}
