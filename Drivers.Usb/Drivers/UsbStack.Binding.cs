using System.Collections.Generic;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb
{
    /// <summary>
    /// Driver registration, matching and binding (Linux driver.c, generic.c, message.c
    /// usb_set_configuration): matching runs when a device or interface appears and when a driver
    /// registers; a declined probe passes the candidate to the next driver; manual bind/unbind and
    /// configuration changes are the APIs the shell exposes (sysfs bind/unbind/bConfigurationValue).
    /// </summary>
    public sealed partial class UsbStack
    {
        /// <summary>Registered drivers in registration order; copy-on-write like the device lists.</summary>
        UsbDriver[] _drivers = new UsbDriver[0];

        public UsbDriver[] Drivers => _drivers;

        public UsbDriver FindDriver(string name)
        {
            UsbDriver[] drivers = _drivers;
            for (int i = 0; i < drivers.Length; i++)
                if (drivers[i].Name == name)
                    return drivers[i];
            return null;
        }

        /// <summary>Registers a driver and offers it every unbound device or interface it matches.</summary>
        public UsbStatus RegisterDriver(UsbDriver driver)
        {
            if (driver == null)
                return UsbStatus.Busy;
            TopologyLock.Lock();
            if (FindDriver(driver.Name) != null)
            {
                TopologyLock.Unlock();
                return UsbStatus.Busy;
            }
            driver.Stack = this;
            _drivers = CopyOnWrite.Append(_drivers, driver);
            TopologyLock.Unlock();
            Log.Info("usbcore: registered new " + (driver.IsDeviceDriver ? "device" : "interface") + " driver " + driver.Name);
            for (int b = 0; b < Buses.Count; b++)
            {
                UsbDevice[] devices = Buses[b].Devices;
                for (int i = 0; i < devices.Length; i++)
                {
                    UsbDevice device = devices[i];
                    device.Lock.Lock();
                    if (!device.IsGone && !device.Destroyed)
                    {
                        if (driver.IsDeviceDriver)
                        {
                            if (device.Driver == null)
                                TryBindDevice(device, (UsbDeviceDriver)driver);
                        }
                        else
                        {
                            UsbInterface[] interfaces = device.Interfaces;
                            for (int j = 0; j < interfaces.Length; j++)
                                if (interfaces[j].Registered && interfaces[j].Driver == null)
                                    TryBindInterface(interfaces[j], (UsbInterfaceDriver)driver);
                        }
                    }
                    device.Lock.Unlock();
                }
            }
            return UsbStatus.Ok;
        }

        /// <summary>Unbinds the driver from everything and forgets it.</summary>
        public UsbStatus DeregisterDriver(UsbDriver driver)
        {
            TopologyLock.Lock();
            UsbDriver[] remaining = CopyOnWrite.Remove(_drivers, driver);
            if (remaining == _drivers)
            {
                TopologyLock.Unlock();
                return UsbStatus.NotFound;
            }
            _drivers = remaining;
            TopologyLock.Unlock();
            for (int b = 0; b < Buses.Count; b++)
            {
                UsbDevice[] devices = Buses[b].Devices;
                for (int i = 0; i < devices.Length; i++)
                {
                    devices[i].Lock.Lock();
                    if (devices[i].Driver == driver)
                        UnbindDeviceInternal(devices[i]);
                    UsbInterface[] interfaces = devices[i].Interfaces;
                    for (int j = 0; j < interfaces.Length; j++)
                        if (interfaces[j].Driver == driver)
                            UnbindInterfaceInternal(interfaces[j]);
                    devices[i].Lock.Unlock();
                }
            }
            driver.Stack = null;
            return UsbStatus.Ok;
        }

        // ---- Matching ------------------------------------------------------------------------

        /// <summary>First id entry of a device driver's table matching the device; the generic driver matches all.</summary>
        public static bool MatchDevice(UsbDeviceDriver driver, UsbDevice device, out UsbDeviceId id)
        {
            id = default;
            if (driver.IsGeneric)
                return true;
            UsbDeviceId[] table = driver.IdTable;
            if (table == null)
                return driver.Matches(device);
            for (int i = 0; i < table.Length; i++)
            {
                // Device drivers never match on interface fields (usbdrv_wrap.for_devices).
                if ((table[i].MatchFlags & (UsbMatch.InterfaceInfo | UsbMatch.InterfaceNumber)) != 0)
                    continue;
                if (table[i].MatchesDevice(device.Descriptor))
                {
                    id = table[i];
                    return true;
                }
            }
            return false;
        }

        /// <summary>First id entry of an interface driver's table matching the interface's active setting.</summary>
        public static bool MatchInterface(UsbInterfaceDriver driver, UsbInterface intf, out UsbDeviceId id)
        {
            id = default;
            // The device's driver owns its interfaces (usbip-host): no interface driver binds.
            UsbDeviceDriver owner = intf.Device.Driver;
            if (owner != null && owner.OwnsInterfaces)
                return false;
            UsbDeviceId[] table = driver.IdTable;
            if (table == null)
                return false;
            DeviceDescriptor device = intf.Device.Descriptor;
            for (int i = 0; i < table.Length; i++)
            {
                if (table[i].Matches(device, intf.Current.Descriptor))
                {
                    id = table[i];
                    return true;
                }
            }
            return false;
        }

        bool TryBindDevice(UsbDevice device, UsbDeviceDriver driver)
        {
            if (!MatchDevice(driver, device, out UsbDeviceId id))
                return false;
            UsbStatus status = driver.Probe(device, id);
            if (status != UsbStatus.Ok)
            {
                Log.Info("usb " + device.Name + ": driver " + driver.Name + " declined: " + UsbStatusNames.Name(status));
                return false;
            }
            device.Driver = driver;
            Log.Info("usb " + device.Name + ": bound to driver " + driver.Name);
            return true;
        }

        bool TryBindInterface(UsbInterface intf, UsbInterfaceDriver driver)
        {
            if (!MatchInterface(driver, intf, out UsbDeviceId id))
                return false;
            UsbStatus status = driver.Probe(intf, id);
            if (status != UsbStatus.Ok)
            {
                Log.Info("usb " + intf.Name + ": driver " + driver.Name + " declined: " + UsbStatusNames.Name(status));
                return false;
            }
            intf.Driver = driver;
            Log.Info("usb " + intf.Name + ": bound to driver " + driver.Name);
            return true;
        }

        /// <summary>Specific device drivers first (registration order), the generic "usb" driver last.</summary>
        internal void BindDevice(UsbDevice device)
        {
            if (device.Driver != null || device.IsGone)
                return;
            UsbDriver[] drivers = _drivers;
            for (int i = 0; i < drivers.Length; i++)
            {
                var driver = drivers[i] as UsbDeviceDriver;
                if (driver != null && !driver.IsGeneric && TryBindDevice(device, driver))
                    return;
            }
            for (int i = 0; i < drivers.Length; i++)
            {
                var driver = drivers[i] as UsbDeviceDriver;
                if (driver != null && driver.IsGeneric && TryBindDevice(device, driver))
                    return;
            }
        }

        internal void BindInterface(UsbInterface intf)
        {
            if (intf.Driver != null || !intf.Registered || intf.Device.IsGone)
                return;
            UsbDriver[] drivers = _drivers;
            for (int i = 0; i < drivers.Length; i++)
            {
                var driver = drivers[i] as UsbInterfaceDriver;
                if (driver != null && TryBindInterface(intf, driver))
                    return;
            }
        }

        void UnbindDeviceInternal(UsbDevice device)
        {
            UsbDeviceDriver driver = device.Driver;
            if (driver != null)
            {
                driver.Disconnect(device);
                device.Driver = null;
                device.DriverData = null;
                Log.Info("usb " + device.Name + ": unbound from driver " + driver.Name);
            }
            // Whatever the driver did, no interface outlives the device's binding.
            if (device.ActiveConfiguration != null)
                Deconfigure(device);
        }

        void UnbindInterfaceInternal(UsbInterface intf)
        {
            UsbInterfaceDriver driver = intf.Driver;
            if (driver == null)
                return;
            driver.Disconnect(intf);
            intf.Driver = null;
            intf.DriverData = null;
            Log.Info("usb " + intf.Name + ": unbound from driver " + driver.Name);
            FlushInterface(intf);
        }

        /// <summary>
        /// No request of the old driver outlives its binding (Linux usb_unbind_interface): disable the
        /// interface's endpoints (flushing them, refusing resubmission), then enable them again.
        /// </summary>
        void FlushInterface(UsbInterface intf)
        {
            UsbDevice device = intf.Device;
            DisableAltSetting(device, intf.Current, device.IsGone ? UsbStatus.NoDevice : UsbStatus.Shutdown);
            if (!device.IsGone && intf.Registered)
                EnableAltSetting(device, intf.Current);
        }

        // ---- Claiming more interfaces (Linux usb_driver_claim_interface / release) -----------

        /// <summary>
        /// A driver bound to one interface of a function takes another interface of it too, without a probe
        /// (Linux usb_driver_claim_interface): CDC's data interface, audio streaming interfaces. The claimed
        /// interface then lists the driver, no other driver binds it, and the driver's
        /// <see cref="UsbInterfaceDriver.Disconnect"/> is called for it when it goes (unplug, unbind,
        /// configuration change) as for the interface it probed. Busy when another driver holds it.
        /// Called from the driver's Probe or later under the device's lock, like the binding core.
        /// </summary>
        public UsbStatus ClaimInterface(UsbInterfaceDriver driver, UsbInterface intf, object driverData)
        {
            if (driver == null || intf == null || !intf.Registered)
                return UsbStatus.InvalidArgument;
            if (intf.Device.IsGone)
                return UsbStatus.NoDevice;
            if (intf.Driver != null)
                return UsbStatus.Busy;
            intf.Driver = driver;
            intf.DriverData = driverData;
            return UsbStatus.Ok;
        }

        /// <summary>
        /// Gives a claimed interface back without calling the driver's Disconnect (Linux
        /// usb_driver_release_interface: the driver is the one letting go, usually from its own Disconnect
        /// of the other interface). As on unbind, no request of the driver outlives it on that interface.
        /// </summary>
        public void ReleaseInterface(UsbInterfaceDriver driver, UsbInterface intf)
        {
            if (intf == null || driver == null || intf.Driver != driver)
                return;
            intf.Driver = null;
            intf.DriverData = null;
            FlushInterface(intf);
        }

        // ---- Manual bind / unbind (sysfs bind, unbind) ---------------------------------------

        public UsbStatus Unbind(UsbDevice device)
        {
            if (device == null)
                return UsbStatus.InvalidArgument;
            device.Lock.Lock();
            UsbStatus status = device.Driver == null ? UsbStatus.NotFound : UsbStatus.Ok;
            UnbindDeviceInternal(device);
            device.Lock.Unlock();
            return status;
        }

        /// <summary>Binds an unbound device to the named device driver, which must match and accept it.</summary>
        public UsbStatus Bind(UsbDevice device, string driverName)
        {
            if (device == null)
                return UsbStatus.InvalidArgument;
            device.Lock.Lock();
            UsbStatus status = BindDeviceTo(device, driverName);
            device.Lock.Unlock();
            return status;
        }

        UsbStatus BindDeviceTo(UsbDevice device, string driverName)
        {
            if (device.IsGone)
                return UsbStatus.NoDevice;
            if (device.Driver != null)
                return UsbStatus.Busy;
            var driver = FindDriver(driverName) as UsbDeviceDriver;
            if (driver == null)
                return UsbStatus.NotFound;
            if (!MatchDevice(driver, device, out UsbDeviceId id))
                return UsbStatus.NoMatch;
            UsbStatus status = driver.Probe(device, id);
            if (status != UsbStatus.Ok)
                return status;
            device.Driver = driver;
            return UsbStatus.Ok;
        }

        public UsbStatus Unbind(UsbInterface intf)
        {
            if (intf == null)
                return UsbStatus.InvalidArgument;
            intf.Device.Lock.Lock();
            UsbStatus status = intf.Driver == null ? UsbStatus.NotFound : UsbStatus.Ok;
            UnbindInterfaceInternal(intf);
            intf.Device.Lock.Unlock();
            return status;
        }

        /// <summary>Binds an unbound interface of the active configuration to the named interface driver.</summary>
        public UsbStatus Bind(UsbInterface intf, string driverName)
        {
            if (intf == null)
                return UsbStatus.InvalidArgument;
            intf.Device.Lock.Lock();
            UsbStatus status;
            var driver = FindDriver(driverName) as UsbInterfaceDriver;
            if (intf.Device.IsGone)
                status = UsbStatus.NoDevice;
            else if (!intf.Registered)
                status = UsbStatus.NotFound;
            else if (intf.Driver != null)
                status = UsbStatus.Busy;
            else if (driver == null)
                status = UsbStatus.NotFound;
            else if (!MatchInterface(driver, intf, out UsbDeviceId id))
                status = UsbStatus.NoMatch;
            else
            {
                status = driver.Probe(intf, id);
                if (status == UsbStatus.Ok)
                    intf.Driver = driver;
            }
            intf.Device.Lock.Unlock();
            return status;
        }

        // ---- Configurations and alternate settings -------------------------------------------

        /// <summary>
        /// Changes the active configuration (what writing bConfigurationValue does): interface
        /// drivers are disconnected and the old endpoints flushed, SET_CONFIGURATION is sent, the
        /// new interfaces appear and interface drivers are matched. 0 unconfigures.
        /// </summary>
        public UsbStatus SetConfiguration(UsbDevice device, int value)
        {
            if (device == null)
                return UsbStatus.InvalidArgument;
            device.Lock.Lock();
            UsbStatus status = device.Destroyed ? UsbStatus.NoDevice : SetConfigurationLocked(device, value);
            device.Lock.Unlock();
            return status;
        }

        UsbStatus SetConfigurationLocked(UsbDevice device, int value)
        {
            UsbConfiguration config = null;
            if (value != 0)
            {
                config = device.FindConfiguration(value);
                if (config == null)
                    return UsbStatus.NotFound;
            }
            if (device.ActiveConfiguration != null)
                Deconfigure(device);
            if (device.IsGone)
                return UsbStatus.NoDevice;
            UsbStatus status = UsbMessages.SetConfigurationRequest(device, (byte)value);
            if (status != UsbStatus.Ok)
            {
                Log.Error("usb " + device.Name + ": can't set config #" + Format.Decimal((long)value) + ", error " + UsbStatusNames.Name(status));
                return status;
            }
            if (config == null)
                return UsbStatus.Ok;
            UsbInterface[] interfaces = config.Interfaces;
            // Every interface has its setting before the configuration is published: listings read
            // ActiveConfiguration from other threads.
            for (int i = 0; i < interfaces.Length; i++)
            {
                UsbInterface intf = interfaces[i];
                UsbAltSetting first = intf.FindAltSetting(0);
                intf.Current = first != null ? first : intf.AltSettings[0];
            }
            device.ActiveConfiguration = config;
            device.State = UsbDeviceState.Configured;
            for (int i = 0; i < interfaces.Length; i++)
            {
                EnableAltSetting(device, interfaces[i].Current);
                interfaces[i].Registered = true;
            }
            for (int i = 0; i < interfaces.Length; i++)
                BindInterface(interfaces[i]);
            _activity++;
            return UsbStatus.Ok;
        }

        /// <summary>Unbinds interface drivers, flushes and disables the configuration's endpoints.</summary>
        void Deconfigure(UsbDevice device)
        {
            UsbConfiguration config = device.ActiveConfiguration;
            if (config == null)
                return;
            UsbInterface[] interfaces = config.Interfaces;
            for (int i = 0; i < interfaces.Length; i++)
                UnbindInterfaceInternal(interfaces[i]);
            UsbStatus status = device.IsGone ? UsbStatus.NoDevice : UsbStatus.Shutdown;
            for (int i = 0; i < interfaces.Length; i++)
            {
                DisableAltSetting(device, interfaces[i].Current, status);
                interfaces[i].Registered = false;
            }
            device.ActiveConfiguration = null;
            if (device.State == UsbDeviceState.Configured)
                device.State = UsbDeviceState.Addressed;
        }

        void EnableAltSetting(UsbDevice device, UsbAltSetting alt)
        {
            for (int e = 0; e < alt.Endpoints.Length; e++)
            {
                UsbStatus status = device.Bus.EnableEndpoint(device, alt.Endpoints[e]);
                if (status != UsbStatus.Ok)
                    Log.Warning("usb " + device.Name + ": can't enable endpoint " + Format.Hex(alt.Endpoints[e].Address, 2) + ": " + UsbStatusNames.Name(status));
            }
        }

        /// <summary>Enables every endpoint of the setting, or none: the first failure disables those already enabled.</summary>
        static UsbStatus EnableAltSettingStrict(UsbDevice device, UsbAltSetting alt)
        {
            for (int e = 0; e < alt.Endpoints.Length; e++)
            {
                UsbStatus status = device.Bus.EnableEndpoint(device, alt.Endpoints[e]);
                if (status != UsbStatus.Ok)
                {
                    DisableAltSetting(device, alt, UsbStatus.Shutdown);
                    return status;
                }
            }
            return UsbStatus.Ok;
        }

        static void DisableAltSetting(UsbDevice device, UsbAltSetting alt, UsbStatus status)
        {
            for (int e = 0; e < alt.Endpoints.Length; e++)
                if (alt.Endpoints[e].Enabled)
                    device.Bus.DisableEndpoint(device, alt.Endpoints[e], status);
        }

        /// <summary>SET_INTERFACE (USB 2.0 9.4.10): switches an interface to another alternate setting.</summary>
        public UsbStatus SetInterface(UsbInterface intf, int alternate)
        {
            if (intf == null || !intf.Registered)
                return UsbStatus.InvalidArgument;
            UsbAltSetting alt = intf.FindAltSetting(alternate);
            if (alt == null)
                return UsbStatus.NotFound;
            UsbDevice device = intf.Device;
            if (device.IsGone)
                return UsbStatus.NoDevice;
            // Linux usb_set_interface: the controller takes the new endpoints first (bandwidth,
            // xHCI Configure Endpoint); a setting it cannot schedule is refused (NoBandwidth,
            // NotSupported) before the device hears of it, and the old setting stays.
            UsbAltSetting old = intf.Current;
            DisableAltSetting(device, old, UsbStatus.Shutdown);
            UsbStatus status = EnableAltSettingStrict(device, alt);
            if (status == UsbStatus.Ok)
            {
                status = UsbMessages.SetInterfaceRequest(device, intf.Number, (byte)alternate);
                // Linux: a STALL from a single-setting interface means "not supported", which is fine.
                if (status == UsbStatus.Stall && intf.AltSettings.Length == 1)
                    status = UsbStatus.Ok;
                if (status != UsbStatus.Ok)
                    DisableAltSetting(device, alt, UsbStatus.Shutdown);
            }
            if (status != UsbStatus.Ok)
            {
                Log.Warning("usb " + intf.Name + ": can't select alternate setting " + Format.Decimal((ulong)alternate) + ": " + UsbStatusNames.Name(status));
                EnableAltSetting(device, old);
                return status;
            }
            intf.Current = alt;
            return UsbStatus.Ok;
        }
    }
}
