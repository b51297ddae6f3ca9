using System.Collections.Generic;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Storage
{
    /// <summary>
    /// The mass-storage interface driver, "usb-storage" as on Linux: SCSI transparent command set
    /// (subclass 6) over Bulk-Only Transport (protocol 0x50). Probe: bulk endpoints, GET MAX LUN,
    /// DMA buffers, then every LUN is scanned like Linux's SCSI midlayer and sd do it (INQUIRY, TEST
    /// UNIT READY, READ CAPACITY, MODE SENSE for write protect) and becomes a disk sda, sdb, ... (a
    /// removable one without medium too, with no capacity), whose partition table is read then.
    /// Disconnect: the disks disappear, the command in flight ends (its requests complete with
    /// NoDevice on unplug), buffers are freed.
    /// </summary>
    public sealed class UsbStorageDriver : UsbInterfaceDriver
    {
        public const string DriverName = "usb-storage";
        static readonly UsbDeviceId[] s_ids = new UsbDeviceId[]
        {
            UsbDeviceId.InterfaceInfo(UsbClass.MassStorage, MassStorage.SubclassScsi, MassStorage.ProtocolBulkOnly),
        };

        readonly List<ScsiDisk> _disks = new List<ScsiDisk>();
        /// <summary>Disks named but not listed yet (their partitions are being read); guarded by _disks like it.</summary>
        readonly List<ScsiDisk> _reserved = new List<ScsiDisk>();
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
                    return NamedSnapshot.Sorted(_disks, DiskFamily, DiskName);
            }
        }

        public ScsiDisk FindDisk(string name)
        {
            lock (_disks)
                return NamedSnapshot.Find(_disks, DiskName, name);
        }

        static string DiskName(ScsiDisk disk) => disk.Name;
        static string DiskFamily(ScsiDisk disk) => "sd";

        /// <summary>Lowest free name: sda..sdz, then sdaa... (Linux sd_format_disk_name).</summary>
        string AllocateName()
        {
            for (int index = 0; ; index++)
            {
                string name = "sd" + DiskLetters(index);
                bool used = false;
                for (int i = 0; i < _disks.Count; i++)
                    if (_disks[i].Name == name) used = true;
                for (int i = 0; i < _reserved.Count; i++)
                    if (_reserved[i].Name == name) used = true;
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

        /// <summary>Set when the uas driver registered: an interface with a UAS alternate setting is left to it (Linux uas_use_uas_driver).</summary>
        public bool UasRegistered;

        public override UsbStatus Probe(UsbInterface intf, UsbDeviceId id)
        {
            if (UasRegistered && UasDriver.FindUasSetting(intf) != null)
            {
                if (UasDriver.StreamsUsable(intf.Device))
                    return UsbStatus.NoMatch;   // Linux: usb-storage returns -ENXIO, uas binds
                UasDriver.WarnNoStreams(intf);   // Linux: Bulk-Only then, on the setting that offers it
            }
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
            intf.DriverData = transport;
            AddHost(transport, maxLun, "usb-stor-scan");
            return UsbStatus.Ok;
        }

        /// <summary>
        /// A new SCSI host (scsiN) on <paramref name="transport"/>: its LUNs 0..<paramref name="maxLun"/> are
        /// scanned in the background and become disks named from the one sda, sdb, ... sequence that
        /// Bulk-Only and UAS devices share. Called by both drivers' probes.
        /// </summary>
        public void AddHost(IScsiTransport transport, int maxLun, string threadName)
        {
            int host;
            lock (_disks)
                host = _nextHost++;
            Log.Info("scsi host" + Format.Decimal((ulong)host) + ": " + transport.DriverName + " " + transport.Name +
                     (maxLun > 0 ? " (" + Format.Decimal((ulong)(maxLun + 1)) + " LUNs)" : ""));
            // Like Linux's usb-stor-scan thread: the SCSI scan runs in the background, so probing
            // (and the explore thread) is not held up by INQUIRY / TEST UNIT READY / READ CAPACITY.
            var scan = new ScanJob();
            scan.Driver = this;
            scan.Transport = transport;
            scan.Host = host;
            scan.MaxLun = maxLun;
            if (transport.Device.Bus.Stack.Threading.StartThread(threadName, scan.Run) <= 0)
                scan.Run();
        }

        sealed class ScanJob
        {
            public UsbStorageDriver Driver;
            public IScsiTransport Transport;
            public int Host;
            public int MaxLun;
            public void Run()
            {
                // Every LUN GET MAX LUN reported, in order (Linux scsi_scan_target with max_lun).
                for (int lun = 0; lun <= MaxLun && !Transport.IsGone; lun++)
                {
                    var disk = new ScsiDisk(Transport, (byte)lun);
                    disk.Host = Host;
                    Driver.ScanAndAttach(disk);
                }
            }
        }

        /// <summary>
        /// Scans one LUN and attaches it as the next sdX; true when it was attached. The name is reserved
        /// first, the partition table read, and only then is the disk listed (and "Attached SCSI" logged,
        /// after " sda: sda1 sda2" as on Linux): whoever sees the disk sees it complete.
        /// </summary>
        bool ScanAndAttach(ScsiDisk disk)
        {
            IScsiTransport transport = disk.Transport;
            transport.Lock.Lock();
            StorageStatus scan = transport.IsGone ? StorageStatus.NoDevice : Scan(disk);
            bool found = (scan == StorageStatus.Ok || scan == StorageStatus.NoMedium) && !transport.IsGone;
            if (found)
            {
                lock (_disks)
                {
                    disk.Name = AllocateName();
                    _reserved.Add(disk);
                }
                if (scan == StorageStatus.NoMedium)
                    Log.Info("sd " + disk.Address + ": [" + disk.Name + "] Media removed, stopped polling");
                else
                {
                    Log.Info("sd " + disk.Address + ": [" + disk.Name + "] " + Format.Decimal(disk.BlockCount) + " " +
                             Format.Decimal((ulong)disk.BlockSize) + "-byte logical blocks: (" + ScsiDisk.SizeText(disk.CapacityBytes) + ")");
                    Log.Info("sd " + disk.Address + ": [" + disk.Name + "] Write Protect is " + (disk.WriteProtected ? "on" : "off"));
                }
            }
            else if (scan != StorageStatus.NoDevice && disk.Qualifier != ScsiDisk.QualifierNotConnected && !transport.IsGone)
                Log.Error(transport.DriverName + " " + transport.Name + ": scan failed" + (disk.Lun > 0 ? " (LUN " + Format.Decimal(disk.Lun) + ")" : "") +
                          ": " + StorageStatusNames.Name(scan));
            transport.Lock.Unlock();
            if (!found)
                return false;
            disk.ReadPartitions();   // through the disk's own Read: without the lock
            bool attached;
            lock (_disks)
            {
                _reserved.Remove(disk);
                // Disconnect marks the transport gone before it takes this lock to remove its disks.
                attached = !transport.IsGone;
                if (attached)
                    _disks.Add(disk);
            }
            if (attached)
                Log.Info("sd " + disk.Address + ": [" + disk.Name + "] Attached SCSI " + (disk.Removable ? "removable " : "") + "disk");
            return attached;
        }

        StorageStatus Scan(ScsiDisk disk)
        {
            StorageStatus status = disk.Inquiry();
            if (status != StorageStatus.Ok)
                return status;
            if (disk.Qualifier == ScsiDisk.QualifierNotConnected)
                return StorageStatus.Unsupported;    // no logical unit at this LUN (SPC-4 6.6.2)
            Log.Info("scsi " + disk.Address + ": " + Format.PadRight(Scsi.DeviceTypeName(disk.DeviceType), 17) + " " + disk.Vendor + " " +
                     disk.Product + " " + disk.Revision + " PQ: 0 ANSI: " + Format.Decimal((ulong)disk.AnsiVersion));
            if (disk.DeviceType != ScsiDisk.TypeDirectAccess && disk.DeviceType != ScsiDisk.TypeRbc)
            {
                Log.Warning("scsi " + disk.Address + ": not a direct-access device; ignored");
                return StorageStatus.Unsupported;
            }
            status = disk.WaitUntilReady(_clock);
            if (status == StorageStatus.NoMedium || status == StorageStatus.NoDevice)
                return status;
            if (status != StorageStatus.Ok)
                Log.Warning("sd " + disk.Address + ": not ready: " + StorageStatusNames.Name(status) + ", sense " + disk.Sense.Describe());
            status = disk.ReadCapacity();
            if (status != StorageStatus.Ok)
                return status;
            return disk.ReadWriteProtect();
        }

        public override void Disconnect(UsbInterface intf)
        {
            var transport = intf.DriverData as BulkOnlyTransport;
            if (transport == null)
                return;
            intf.DriverData = null;
            RemoveHost(transport);
        }

        /// <summary>A host's device went away or its driver unbinds: the transport is released (waiting for a scan or command in flight) and its disks detached.</summary>
        public void RemoveHost(IScsiTransport transport)
        {
            transport.Release();   // waits for a scan or command in flight
            var gone = new List<ScsiDisk>();
            lock (_disks)
            {
                for (int i = _disks.Count - 1; i >= 0; i--)
                    if (_disks[i].Transport == transport)
                    {
                        gone.Add(_disks[i]);
                        _disks.RemoveAt(i);
                    }
            }
            for (int i = gone.Count - 1; i >= 0; i--)
                Log.Info("sd " + gone[i].Address + ": [" + gone[i].Name + "] detached");
        }
    }
}
