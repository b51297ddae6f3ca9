using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Platform;

namespace UsbIp
{
    /// <summary>State of an exported device (Linux usbip_common.h SDEV_ST_*; usbip list shows the number).</summary>
    public enum UsbIpExportState
    {
        /// <summary>Bound to usbip-host, no client (SDEV_ST_AVAILABLE).</summary>
        Available = 1,
        /// <summary>Imported by a client (SDEV_ST_USED).</summary>
        Used = 2,
        /// <summary>Broken (SDEV_ST_ERROR): never set by this driver, listed for the protocol's sake.</summary>
        Error = 3,
    }

    /// <summary>
    /// A device bound to usbip-host (Linux struct stub_device): the device, its state and the
    /// session of the client that imported it.
    /// </summary>
    public sealed class UsbIpExport
    {
        public readonly UsbDevice Device;
        /// <summary>Bus id when bound ("1-1.2"); stays valid after the device is gone.</summary>
        public readonly string BusId;
        public UsbIpExportState State = UsbIpExportState.Available;
        /// <summary>The client while <see cref="State"/> is Used.</summary>
        public string Peer;
        internal UsbIpSession Session;
        volatile bool _gone;

        internal UsbIpExport(UsbDevice device)
        {
            Device = device;
            BusId = device.Name;
        }

        /// <summary>Set when the device was unplugged or unbound from usbip-host.</summary>
        public bool IsGone => _gone;
        internal void MarkGone() => _gone = true;

        /// <summary>(busnum &lt;&lt; 16) | devnum: what the client puts in every URB header.</summary>
        public uint DevId => UsbIpProtocol.DevId((uint)Device.BusNumber, Device.Address);

        /// <summary>
        /// The device as OP_REP_DEVLIST / OP_REP_IMPORT describe it. The path mimics Linux's sysfs
        /// path (/sys/devices/pci0000:00/&lt;controller&gt;/usbN/N-p/N-p.q).
        /// </summary>
        public UsbIpDeviceRecord Record()
        {
            UsbDevice d = Device;
            UsbConfiguration active = d.ActiveConfiguration;
            return new UsbIpDeviceRecord
            {
                Path = SysfsPath(d),
                BusId = BusId,
                BusNum = (uint)d.BusNumber,
                DevNum = d.Address,
                Speed = UsbIpProtocol.SpeedCode(d.Speed),
                idVendor = d.Descriptor.idVendor,
                idProduct = d.Descriptor.idProduct,
                bcdDevice = d.Descriptor.bcdDevice,
                bDeviceClass = d.Descriptor.bDeviceClass,
                bDeviceSubClass = d.Descriptor.bDeviceSubClass,
                bDeviceProtocol = d.Descriptor.bDeviceProtocol,
                bConfigurationValue = active != null ? active.Value : (byte)0,
                bNumConfigurations = d.Descriptor.bNumConfigurations,
                bNumInterfaces = active != null ? (byte)active.Interfaces.Length : (byte)0,
            };
        }

        /// <summary>Interfaces of the active configuration with their current setting's class (none while unconfigured, as Linux).</summary>
        public UsbIpInterfaceRecord[] InterfaceRecords()
        {
            UsbConfiguration active = Device.ActiveConfiguration;
            if (active == null)
                return new UsbIpInterfaceRecord[0];
            UsbInterface[] interfaces = active.Interfaces;
            var records = new UsbIpInterfaceRecord[interfaces.Length];
            for (int i = 0; i < interfaces.Length; i++)
            {
                UsbAltSetting alt = interfaces[i].Current != null ? interfaces[i].Current : interfaces[i].AltSettings[0];
                records[i].bInterfaceClass = alt.Descriptor.bInterfaceClass;
                records[i].bInterfaceSubClass = alt.Descriptor.bInterfaceSubClass;
                records[i].bInterfaceProtocol = alt.Descriptor.bInterfaceProtocol;
            }
            return records;
        }

        static string SysfsPath(UsbDevice d)
        {
            string path = d.Name;
            for (UsbDevice p = d.Parent; p != null && p.Parent != null; p = p.Parent)
                path = p.Name + "/" + path;
            string controller = d.Bus != null && d.Bus.Controller != null ? d.Bus.Controller.BusId : "0000:00:00.0";
            return "/sys/devices/pci0000:00/" + controller + "/usb" + Format.Decimal((ulong)d.BusNumber) + "/" + path;
        }
    }

    /// <summary>
    /// usbip-host, the USB/IP stub driver (Linux drivers/usb/usbip/stub_dev.c, stub_main.c; seed
    /// 000): a DEVICE driver, so an exported device is bound as a whole and its interfaces get no
    /// interface drivers (<see cref="OwnsInterfaces"/>, Linux usb_hub_claim_port). It binds only
    /// to devices whose bus id is in its table (Linux match_busid), which only
    /// <see cref="BindBusId"/> (the shell's `usbip bind -b`) fills: a re-enumerated device at a
    /// listed bus id (after a reset or a re-plug) is bound again, as on Linux. Only bound devices
    /// are ever visible to a client. The device stays unconfigured until a client sets a
    /// configuration, as Linux's stub leaves it.
    /// </summary>
    public sealed class UsbIpHostDriver : UsbDeviceDriver
    {
        public const string DriverName = "usbip-host";

        readonly UsbStack _stack;
        readonly object _lock = new object();
        /// <summary>Bus ids the user asked to export (Linux busid_table).</summary>
        string[] _busIds = new string[0];
        /// <summary>Bound devices; copy-on-write, replaced under <see cref="_lock"/>.</summary>
        UsbIpExport[] _exports = new UsbIpExport[0];

        UsbIpHostDriver(UsbStack stack)
        {
            _stack = stack;
        }

        /// <summary>Creates the driver and registers it with the stack (it binds nothing until asked).</summary>
        public static UsbIpHostDriver Register(UsbStack stack)
        {
            var driver = new UsbIpHostDriver(stack);
            stack.RegisterDriver(driver);
            return driver;
        }

        public UsbStack Stack => _stack;
        public override string Name => DriverName;
        public override UsbDeviceId[] IdTable => null;
        public override bool OwnsInterfaces => true;

        /// <summary>Devices bound to usbip-host, in binding order.</summary>
        public UsbIpExport[] Exports => _exports;

        public bool IsListed(string busId)
        {
            lock (_lock)
                return IndexOf(_busIds, busId) >= 0;
        }

        static bool Exportable(UsbDevice device) =>
            device != null && !device.IsRootHub && device.Parent != null && device.Descriptor.bDeviceClass != UsbClass.Hub;

        public override bool Matches(UsbDevice device) => Exportable(device) && IsListed(device.Name);

        public override UsbStatus Probe(UsbDevice device, UsbDeviceId id)
        {
            if (!Exportable(device))
            {
                // Linux stub_probe: "... is a usb hub device... skip!"
                Log.Info("usbip-host " + device.Name + ": is a usb hub device... skip!");
                return UsbStatus.NoMatch;
            }
            var export = new UsbIpExport(device);
            device.DriverData = export;
            lock (_lock)
            {
                var grown = new UsbIpExport[_exports.Length + 1];
                for (int i = 0; i < _exports.Length; i++)
                    grown[i] = _exports[i];
                grown[_exports.Length] = export;
                _exports = grown;
            }
            Log.Info("usbip-host " + device.Name + ": usbip-host: register new device (bus " + Format.Decimal((ulong)device.BusNumber) +
                     " dev " + Format.Decimal((ulong)device.Address) + ")");
            return UsbStatus.Ok;
        }

        /// <summary>
        /// Unplug or unbind: the export goes away and a client's connection is shut down (its
        /// requests were already flushed by the core); the client sees the device disconnect.
        /// Does not wait for the session's threads: they may be waiting for this device's lock.
        /// </summary>
        public override void Disconnect(UsbDevice device)
        {
            UsbIpExport export = null;
            lock (_lock)
            {
                int index = -1;
                for (int i = 0; i < _exports.Length; i++)
                    if (_exports[i].Device == device)
                        index = i;
                if (index >= 0)
                {
                    export = _exports[index];
                    var shrunk = new UsbIpExport[_exports.Length - 1];
                    for (int i = 0, j = 0; i < _exports.Length; i++)
                        if (i != index)
                            shrunk[j++] = _exports[i];
                    _exports = shrunk;
                }
            }
            if (export == null)
                return;
            export.MarkGone();
            UsbIpSession session;
            lock (_lock)
                session = export.Session;
            if (session != null)
                session.DeviceGone();
            Log.Info("usbip-host " + device.Name + ": usbip-host: device released" + (session != null ? " (connection shut down)" : ""));
        }

        public UsbIpExport FindExport(string busId)
        {
            UsbIpExport[] exports = _exports;
            for (int i = 0; i < exports.Length; i++)
                if (exports[i].BusId == busId && !exports[i].IsGone)
                    return exports[i];
            return null;
        }

        // ---- usbip bind / unbind (Linux tools/usb/usbip/src/usbip_bind.c, usbip_unbind.c) -------

        /// <summary>
        /// `usbip bind -b BUSID`: lists the bus id, unbinds the device's current driver (which
        /// disconnects its interface drivers and deconfigures it) and binds usbip-host.
        /// </summary>
        public UsbStatus BindBusId(string busId)
        {
            UsbDevice device = _stack.FindDevice(busId);
            if (device == null)
                return UsbStatus.NotFound;
            if (!Exportable(device))
                return UsbStatus.NotSupported;
            if (device.Driver == this)
                return UsbStatus.Busy;
            lock (_lock)
            {
                if (IndexOf(_busIds, busId) < 0)
                    _busIds = Append(_busIds, busId);
            }
            if (device.Driver != null)
                _stack.Unbind(device);
            UsbStatus status = _stack.Bind(device, DriverName);
            if (status != UsbStatus.Ok)
            {
                RemoveBusId(busId);
                RebindDefault(device);
                return status;
            }
            return UsbStatus.Ok;
        }

        /// <summary>
        /// `usbip unbind -b BUSID`: forgets the bus id, unbinds usbip-host (a client's connection
        /// is shut down) and gives the device back to its normal drivers.
        /// </summary>
        public UsbStatus UnbindBusId(string busId)
        {
            bool listed = RemoveBusId(busId);
            UsbDevice device = _stack.FindDevice(busId);
            if (device == null || device.Driver != this)
                return listed ? UsbStatus.Ok : UsbStatus.NotFound;
            _stack.Unbind(device);
            RebindDefault(device);
            return UsbStatus.Ok;
        }

        /// <summary>Linux's rebind: specific device drivers first, then the generic "usb" driver (which sets a configuration).</summary>
        void RebindDefault(UsbDevice device)
        {
            if (device.Driver != null || device.IsGone)
                return;
            UsbDriver[] drivers = _stack.Drivers;
            for (int i = 0; i < drivers.Length; i++)
            {
                var candidate = drivers[i] as UsbDeviceDriver;
                if (candidate != null && candidate != this && !candidate.IsGeneric && _stack.Bind(device, candidate.Name) == UsbStatus.Ok)
                    return;
            }
            _stack.Bind(device, GenericDeviceDriver.DriverName);
        }

        bool RemoveBusId(string busId)
        {
            lock (_lock)
            {
                int index = IndexOf(_busIds, busId);
                if (index < 0)
                    return false;
                var shrunk = new string[_busIds.Length - 1];
                for (int i = 0, j = 0; i < _busIds.Length; i++)
                    if (i != index)
                        shrunk[j++] = _busIds[i];
                _busIds = shrunk;
                return true;
            }
        }

        static int IndexOf(string[] list, string value)
        {
            for (int i = 0; i < list.Length; i++)
                if (list[i] == value)
                    return i;
            return -1;
        }

        static string[] Append(string[] list, string value)
        {
            var grown = new string[list.Length + 1];
            for (int i = 0; i < list.Length; i++)
                grown[i] = list[i];
            grown[list.Length] = value;
            return grown;
        }

        // ---- Import (Linux usbipd recv_request_import + usbip_export_device) --------------------

        /// <summary>
        /// Gives the export to a session: Ok, or the OP_REP_IMPORT status (no such device, or in use).
        /// </summary>
        internal uint Claim(string busId, UsbIpSession session, string peer, out UsbIpExport claimed)
        {
            claimed = null;
            lock (_lock)
            {
                UsbIpExport export = FindExport(busId);
                if (export == null || export.Device.IsGone)
                    return UsbIpProtocol.StatusNoDevice;
                if (export.State != UsbIpExportState.Available)
                    return export.State == UsbIpExportState.Used ? UsbIpProtocol.StatusDeviceBusy : UsbIpProtocol.StatusDeviceError;
                export.State = UsbIpExportState.Used;
                export.Session = session;
                export.Peer = peer;
                claimed = export;
                return UsbIpProtocol.StatusOk;
            }
        }

        /// <summary>The session ended: the device stays bound, available for the next import.</summary>
        internal void Release(UsbIpExport export, UsbIpSession session)
        {
            lock (_lock)
            {
                if (export.Session != session)
                    return;
                export.Session = null;
                export.Peer = null;
                export.State = UsbIpExportState.Available;
            }
        }

        // ---- Listings ---------------------------------------------------------------------------

        /// <summary>
        /// `usbip list -l` as Linux's tool prints it: every device that could be exported (hubs
        /// are not), with bus id and vid:pid. Without usb.ids the names come from the device's
        /// strings.
        /// </summary>
        public string ListLocal()
        {
            var sb = new System.Text.StringBuilder();
            for (int b = 0; b < _stack.Buses.Count; b++)
            {
                UsbDevice[] devices = _stack.Buses[b].Devices;
                for (int i = 0; i < devices.Length; i++)
                {
                    UsbDevice d = devices[i];
                    if (!Exportable(d) || d.IsGone)
                        continue;
                    string ids = Format.Hex(d.Descriptor.idVendor, 4) + ":" + Format.Hex(d.Descriptor.idProduct, 4);
                    sb.Append(" - busid " + d.Name + " (" + ids + ")\n");
                    sb.Append("   " + (d.Manufacturer != null ? d.Manufacturer : "unknown vendor") + " : " +
                              (d.Product != null ? d.Product : "unknown product") + " (" + ids + ")\n");
                    sb.Append("\n");
                }
            }
            return sb.ToString();
        }

        /// <summary>Exported devices with their state (what Linux shows in usbip_status: 1 available, 2 in use).</summary>
        public string ListExported()
        {
            var sb = new System.Text.StringBuilder();
            UsbIpExport[] exports = _exports;
            for (int i = 0; i < exports.Length; i++)
            {
                UsbIpExport e = exports[i];
                sb.Append(" - busid " + e.BusId + " (" + Format.Hex(e.Device.Descriptor.idVendor, 4) + ":" + Format.Hex(e.Device.Descriptor.idProduct, 4) +
                          ") usbip_status " + Format.Decimal((ulong)e.State) +
                          (e.State == UsbIpExportState.Used && e.Peer != null ? " (imported by " + e.Peer + ")" : " (available)") + "\n");
            }
            if (exports.Length == 0)
                sb.Append("usbip: no exportable devices bound to usbip-host\n");
            return sb.ToString();
        }
    }
}
