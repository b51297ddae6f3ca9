using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Storage
{
    /// <summary>
    /// The USB Attached SCSI interface driver, "uas" as on Linux. It matches mass-storage interfaces
    /// whose alternate settings include SCSI over UAS (class 08, subclass 06, protocol 0x62), also when
    /// setting 0 is Bulk-Only: like Linux (uas_use_uas_driver) UAS is preferred, the UAS setting is
    /// selected and usb-storage declines the interface. Its disks join the sda, sdb, ... of
    /// <see cref="UsbStorageDriver"/> (one SCSI disk layer, one `disk` verb).
    /// </summary>
    public sealed class UasDriver : UsbInterfaceDriver
    {
        public const string DriverName = "uas";
        static readonly UsbDeviceId[] s_ids = new UsbDeviceId[]
        {
            UsbDeviceId.InterfaceInfo(UsbClass.MassStorage, MassStorage.SubclassScsi, MassStorage.ProtocolBulkOnly),
            UsbDeviceId.InterfaceInfo(UsbClass.MassStorage, MassStorage.SubclassScsi, Uas.ProtocolUas),
        };

        readonly UsbStorageDriver _storage;
        readonly UsbStack _stack;

        public UasDriver(UsbStack stack, UsbStorageDriver storage)
        {
            _stack = stack;
            _storage = storage;
        }

        public override string Name => DriverName;
        public override UsbDeviceId[] IdTable => s_ids;

        /// <summary>Registers the driver beside <paramref name="storage"/>, which from now on leaves UAS-capable interfaces to it.</summary>
        public static UasDriver Register(UsbStack stack, UsbStorageDriver storage)
        {
            var driver = new UasDriver(stack, storage);
            storage.UasRegistered = true;
            stack.RegisterDriver(driver);
            return driver;
        }

        /// <summary>The interface's UAS alternate setting (SCSI, protocol 0x62, all four pipes), or null.</summary>
        public static UsbAltSetting FindUasSetting(UsbInterface intf)
        {
            for (int i = 0; i < intf.AltSettings.Length; i++)
            {
                UsbAltSetting alt = intf.AltSettings[i];
                InterfaceDescriptor d = alt.Descriptor;
                if (d.bInterfaceClass == UsbClass.MassStorage && d.bInterfaceSubClass == MassStorage.SubclassScsi &&
                    d.bInterfaceProtocol == Uas.ProtocolUas &&
                    UasTransport.FindPipes(alt, out UsbEndpoint _, out UsbEndpoint _, out UsbEndpoint _, out UsbEndpoint _))
                    return alt;
            }
            return null;
        }

        /// <summary>
        /// Streams are there when UAS needs them: below SuperSpeed never, on SuperSpeed the controller
        /// must do streams (Linux uas_use_uas_driver: otherwise usb-storage keeps the device).
        /// </summary>
        public static bool StreamsUsable(UsbDevice device) => device.Speed < UsbSpeed.Super || device.Bus.CanDoStreams;

        /// <summary>Linux's warning when a SuperSpeed UAS device sits on a controller without streams.</summary>
        public static void WarnNoStreams(UsbInterface intf) =>
            Log.Warning("usb " + intf.Device.Name + ": USB controller " + intf.Device.Bus.Controller.BusId +
                        " does not support streams, which are required by the UAS driver.");

        public override UsbStatus Probe(UsbInterface intf, UsbDeviceId id)
        {
            UsbAltSetting alt = FindUasSetting(intf);
            if (alt == null)
                return UsbStatus.NoMatch;   // Bulk-Only only: usb-storage's
            if (!StreamsUsable(intf.Device))
            {
                WarnNoStreams(intf);
                return UsbStatus.NoMatch;
            }
            if (intf.Current != alt)
            {
                UsbStatus set = _stack.SetInterface(intf, alt.Descriptor.bAlternateSetting);
                if (set != UsbStatus.Ok)
                {
                    Log.Error("uas " + intf.Name + ": cannot select the UAS alternate setting " +
                              Format.Decimal(alt.Descriptor.bAlternateSetting) + ": " + UsbStatusNames.Name(set));
                    return set;
                }
            }
            UasTransport.FindPipes(intf.Current, out UsbEndpoint command, out UsbEndpoint status, out UsbEndpoint dataIn, out UsbEndpoint dataOut);
            var transport = new UasTransport(intf, command, status, dataIn, dataOut);
            StorageStatus allocated = transport.Allocate();
            if (allocated != StorageStatus.Ok)
            {
                if (allocated == StorageStatus.NoMemory)
                    Log.Error("uas " + intf.Name + ": no DMA memory for the transfer buffers");
                return allocated == StorageStatus.NoDevice ? UsbStatus.NoDevice :
                       allocated == StorageStatus.NoMemory ? UsbStatus.NoMemory : UsbStatus.NotSupported;
            }
            Log.Info("uas " + intf.Name + ": USB Attached SCSI device, " + (transport.UsesStreams ? "bulk streams, " : "no streams, ") +
                     Format.Decimal((ulong)transport.CommandSlots) + " commands in flight");
            transport.Lock.Lock();
            int maxLun = transport.ReportMaxLun();
            transport.Lock.Unlock();
            if (transport.IsGone)
            {
                transport.Release();
                return UsbStatus.NoDevice;
            }
            intf.DriverData = transport;
            _storage.AddHost(transport, maxLun, "uas-scan");
            return UsbStatus.Ok;
        }

        public override void Disconnect(UsbInterface intf)
        {
            var transport = intf.DriverData as UasTransport;
            if (transport == null)
                return;
            intf.DriverData = null;
            _storage.RemoveHost(transport);
        }
    }
}
