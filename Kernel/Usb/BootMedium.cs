using System.Collections.Generic;
using Drivers.Usb.Storage;
using Kernel.Threading;
using Platform;
using Platform.Boot;

namespace Kernel.Usb
{
    /// <summary>
    /// Finds the USB disk the kernel was booted from. The build stamps a random boot identifier into
    /// each image and onto the kernel command line (Platform/Boot/BootIdentifier.cs); a thread reads
    /// the identifier's spot on every USB disk that attaches while it looks, logs
    /// <c>boot medium: usb 1-1 (sda)</c> for the one that carries ours and stops. The `disk` command
    /// shows the result (<see cref="Describe"/>). Booted from a CD or another disk, it gives up after
    /// <see cref="SearchMs"/> and says so.
    /// </summary>
    internal static class BootMedium
    {
        /// <summary>How long after boot disks are checked: a stick behind a hub on a slow PC attaches within seconds.</summary>
        public const uint SearchMs = 30000;
        const uint PollMs = 50;

        enum State { NoIdentifier, Searching, Found, NotFound, NotUsb }

        static State _state = State.NoIdentifier;
        static string _bootId;
        static UsbStorageDriver _driver;
        /// <summary>The boot disk while it is attached (dropped when it goes, so its objects can be collected).</summary>
        static ScsiDisk _disk;
        /// <summary>"usb 1-1 (sda)".</summary>
        static string _where;

        /// <summary>
        /// Starts the search if the kernel command line carries a boot identifier, unless the BIOS says
        /// it booted a CD-ROM (Multiboot2 BIOS boot device E0h and up): then no USB disk is the medium.
        /// </summary>
        public static void Start(UsbStorageDriver driver, Multiboot2Info boot)
        {
            _driver = driver;
            _bootId = BootIdentifier.FromCommandLine(boot.CommandLine);
            if (_bootId == null)
            {
                Log.Info("boot medium: no " + BootIdentifier.CommandLineKey + " on the kernel command line; not looking for it");
                return;
            }
            if (boot.BiosBootDevice != Multiboot2Info.NoBiosBootDevice && boot.BiosBootDevice >= Multiboot2Info.BiosFirstCdRom)
            {
                _where = "CD-ROM (BIOS drive 0x" + Format.Hex(boot.BiosBootDevice, 2) + "), not a USB disk";
                _state = State.NotUsb;
                Log.Info("boot medium: " + _where);
                return;
            }
            _state = State.Searching;
            if (KernelThreading.Instance.StartThread("boot-medium", Search) <= 0)
            {
                _state = State.NotFound;
                Log.Error("boot medium: cannot start the search thread");
            }
        }

        /// <summary>The line `disk` prints: where the kernel came from, as far as it knows.</summary>
        public static string Describe()
        {
            switch (_state)
            {
                case State.Searching:
                    return "boot medium: looking for boot id " + _bootId + " on the USB disks";
                case State.Found:
                    ScsiDisk disk = _disk;
                    if (disk != null && disk.IsGone)
                        _disk = null;
                    return "boot medium: " + _where + (disk == null || disk.IsGone ? ", unplugged since" : "");
                case State.NotFound:
                    return "boot medium: not a USB disk (none carries boot id " + _bootId + ")";
                case State.NotUsb:
                    return "boot medium: " + _where;
                default:
                    return "boot medium: unknown (no " + BootIdentifier.CommandLineKey + " on the kernel command line)";
            }
        }

        static void Search()
        {
            ulong start = Time.Clock.Instance.Milliseconds;
            // Disks already read, so each is read once; gone ones are dropped right away.
            var checkedDisks = new List<ScsiDisk>();
            while (Time.Clock.Instance.Milliseconds - start < SearchMs)
            {
                for (int i = checkedDisks.Count - 1; i >= 0; i--)
                    if (checkedDisks[i].IsGone)
                        checkedDisks.RemoveAt(i);
                ScsiDisk[] disks = _driver.Disks;
                for (int i = 0; i < disks.Length; i++)
                {
                    ScsiDisk disk = disks[i];
                    if (checkedDisks.Contains(disk))
                        continue;
                    checkedDisks.Add(disk);
                    if (CarriesOurIdentifier(disk))
                    {
                        _where = "usb " + disk.Transport.Device.Name + " (" + disk.Name + ")";
                        _disk = disk;
                        _state = State.Found;
                        Log.Info("boot medium: " + _where);
                        return;
                    }
                }
                Time.Clock.Instance.Sleep(PollMs);
            }
            _state = State.NotFound;
            Log.Info("boot medium: no USB disk carries boot id " + _bootId + " (booted from a CD or another disk)");
        }

        static bool CarriesOurIdentifier(ScsiDisk disk)
        {
            if (!BootIdentifier.StampLocation(disk.BlockSize, out ulong first, out int count) ||
                disk.CheckRange(first, (ulong)count) != StorageStatus.Ok)
                return false;
            var blocks = new byte[count * (int)disk.BlockSize];
            StorageStatus status = disk.Read(first, count, blocks);
            if (status != StorageStatus.Ok)
            {
                if (!disk.IsGone)
                    Log.Warning("boot medium: " + disk.Name + ": cannot read LBA " + Format.Decimal(first) + ": " + StorageStatusNames.Name(status));
                return false;
            }
            return BootIdentifier.ReadStamp(blocks, disk.BlockSize) == _bootId;
        }
    }
}
