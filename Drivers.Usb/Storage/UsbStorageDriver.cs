using System.Collections.Generic;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Storage
{
    /// <summary>
    /// The mass-storage interface driver, "usb-storage" as on Linux: SCSI transparent command set
    /// (subclass 6) over Bulk-Only Transport (protocol 0x50). Probe: bulk endpoints, GET MAX LUN,
    /// DMA buffers, then LUN 0 is scanned like Linux's SCSI midlayer and sd do it (INQUIRY, TEST UNIT
    /// READY, READ CAPACITY(10)) and becomes a disk sda, sdb, ... Disconnect: the disk disappears,
    /// the command in flight ends (its requests complete with NoDevice on unplug), buffers are freed.
    /// </summary>
    public sealed class UsbStorageDriver : UsbInterfaceDriver
    {
        public const string DriverName = "usb-storage";
        static readonly UsbDeviceId[] s_ids = new UsbDeviceId[]
        {
            UsbDeviceId.InterfaceInfo(UsbClass.MassStorage, MassStorage.SubclassScsi, MassStorage.ProtocolBulkOnly),
        };

        readonly List<ScsiDisk> _disks = new List<ScsiDisk>();
        readonly IClock _clock;
        int _nextHost;

        public UsbStorageDriver(IClock clock)
        {
            _clock = clock;
        }

        public override string Name => DriverName;
        public override UsbDeviceId[] IdTable => s_ids;

        /// <summary>Registers the driver with a stack.</summary>
        public static UsbStorageDriver Register(UsbStack stack)
        {
            var driver = new UsbStorageDriver(stack.Clock);
            stack.RegisterDriver(driver);
            return driver;
        }

        /// <summary>The disks present now, sorted by name.</summary>
        public ScsiDisk[] Disks
        {
            get
            {
                lock (_disks)
                {
                    var list = new ScsiDisk[_disks.Count];
                    for (int i = 0; i < list.Length; i++) list[i] = _disks[i];
                    for (int i = 1; i < list.Length; i++)
                        for (int j = i; j > 0 && string.CompareOrdinal(list[j - 1].Name, list[j].Name) > 0; j--)
                        {
                            ScsiDisk t = list[j]; list[j] = list[j - 1]; list[j - 1] = t;
                        }
                    return list;
                }
            }
        }

        public ScsiDisk FindDisk(string name)
        {
            lock (_disks)
                for (int i = 0; i < _disks.Count; i++)
                    if (_disks[i].Name == name)
                        return _disks[i];
            return null;
        }

        /// <summary>Lowest free name: sda..sdz, then sdaa... (Linux sd_format_disk_name).</summary>
        string AllocateName()
        {
            for (int index = 0; ; index++)
            {
                string name = "sd" + DiskLetters(index);
                bool used = false;
                for (int i = 0; i < _disks.Count; i++)
                    if (_disks[i].Name == name) used = true;
                if (!used)
                    return name;
            }
        }

        static string DiskLetters(int index)
        {
            string s = new string((char)('a' + index % 26), 1);
            index = index / 26;
            while (index > 0)
            {
                index--;
                s = new string((char)('a' + index % 26), 1) + s;
                index /= 26;
            }
            return s;
        }

        static void FindBulk(UsbAltSetting alt, out UsbEndpoint bulkIn, out UsbEndpoint bulkOut)
        {
            bulkIn = null;
            bulkOut = null;
            for (int i = 0; i < alt.Endpoints.Length; i++)
            {
                UsbEndpoint e = alt.Endpoints[i];
                if (e.Type != TransferType.Bulk) continue;
                if (e.IsIn && bulkIn == null) bulkIn = e;
                if (!e.IsIn && bulkOut == null) bulkOut = e;
            }
        }

        public override UsbStatus Probe(UsbInterface intf, UsbDeviceId id)
        {
            FindBulk(intf.Current, out UsbEndpoint bulkIn, out UsbEndpoint bulkOut);
            if (bulkIn == null || bulkOut == null)
            {
                Log.Warning("usb-storage " + intf.Name + ": no bulk IN and OUT endpoints");
                return UsbStatus.NoMatch;
            }
            Log.Info("usb-storage " + intf.Name + ": USB Mass Storage device detected");
            var transport = new BulkOnlyTransport(intf, bulkIn, bulkOut);
            UsbStatus status = transport.GetMaxLun(out int maxLun);
            if (status == UsbStatus.NoDevice)
                return status;
            if (transport.Allocate() != StorageStatus.Ok)
            {
                Log.Error("usb-storage " + intf.Name + ": no DMA memory for the transfer buffers");
                return UsbStatus.NoMemory;
            }
            int host;
            lock (_disks)
                host = _nextHost++;
            Log.Info("scsi host" + Format.Decimal((ulong)host) + ": usb-storage " + intf.Name +
                     (maxLun > 0 ? " (" + Format.Decimal((ulong)(maxLun + 1)) + " LUNs, using LUN 0)" : ""));

            var disk = new ScsiDisk(transport, 0);
            disk.Host = host;
            transport.Lock.Lock();
            StorageStatus scan = Scan(disk);
            transport.Lock.Unlock();
            if (scan != StorageStatus.Ok)
            {
                if (scan != StorageStatus.NoDevice)
                    Log.Error("usb-storage " + intf.Name + ": scan failed: " + StorageStatusNames.Name(scan));
                transport.Release();
                return scan == StorageStatus.NoDevice ? UsbStatus.NoDevice : UsbStatus.NoMatch;
            }
            lock (_disks)
            {
                disk.Name = AllocateName();
                _disks.Add(disk);
            }
            intf.DriverData = disk;
            Log.Info("sd " + disk.Address + ": [" + disk.Name + "] " + Format.Decimal(disk.BlockCount) + " " +
                     Format.Decimal((ulong)disk.BlockSize) + "-byte logical blocks: (" + ScsiDisk.SizeText(disk.CapacityBytes) + ")");
            Log.Info("sd " + disk.Address + ": [" + disk.Name + "] Attached SCSI " + (disk.Removable ? "removable " : "") + "disk");
            return UsbStatus.Ok;
        }

        StorageStatus Scan(ScsiDisk disk)
        {
            StorageStatus status = disk.Inquiry();
            if (status != StorageStatus.Ok)
                return status;
            Log.Info("scsi " + disk.Address + ": " + Format.PadRight(Scsi.DeviceTypeName(disk.DeviceType), 17) + " " + disk.Vendor + " " +
                     disk.Product + " " + disk.Revision + " PQ: 0 ANSI: " + Format.Decimal((ulong)disk.AnsiVersion));
            if (disk.DeviceType != 0x00 && disk.DeviceType != 0x0E)
            {
                Log.Warning("scsi " + disk.Address + ": not a direct-access device; ignored");
                return StorageStatus.InvalidArgument;
            }
            status = disk.WaitUntilReady(_clock);
            if (status != StorageStatus.Ok)
            {
                if (status == StorageStatus.NoDevice)
                    return status;
                Log.Warning("sd " + disk.Address + ": not ready: " + StorageStatusNames.Name(status) + ", sense " +
                            Scsi.SenseKeyName(disk.SenseKey));
            }
            return disk.ReadCapacity();
        }

        public override void Disconnect(UsbInterface intf)
        {
            var disk = intf.DriverData as ScsiDisk;
            if (disk == null)
                return;
            lock (_disks)
                _disks.Remove(disk);
            intf.DriverData = null;
            disk.Transport.Release();
            Log.Info("sd " + disk.Address + ": [" + disk.Name + "] detached");
        }
    }
}
