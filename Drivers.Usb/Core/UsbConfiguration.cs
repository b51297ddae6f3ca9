using Drivers.Usb.Descriptors;

namespace Drivers.Usb
{
    /// <summary>
    /// One configuration of a device (USB 2.0 9.6.3) with everything its descriptor set holds:
    /// interfaces, their alternate settings, endpoints, interface associations and the
    /// class-specific descriptors ("extra") in between. Linux: struct usb_host_config.
    /// </summary>
    public sealed class UsbConfiguration
    {
        public ConfigurationDescriptor Descriptor;
        /// <summary>Interfaces in the order their first alternate setting appeared.</summary>
        public UsbInterface[] Interfaces = new UsbInterface[0];
        public InterfaceAssociationDescriptor[] Associations = new InterfaceAssociationDescriptor[0];
        /// <summary>Class/vendor descriptors between the configuration descriptor and the first interface.</summary>
        public byte[] Extra = new byte[0];
        /// <summary>The whole descriptor set as received (wTotalLength bytes).</summary>
        public byte[] Raw = new byte[0];
        /// <summary>iConfiguration text, or null.</summary>
        public string Text;
        public UsbDevice Device;

        public byte Value => Descriptor.bConfigurationValue;

        public UsbInterface FindInterface(int number)
        {
            for (int i = 0; i < Interfaces.Length; i++)
                if (Interfaces[i].Number == number)
                    return Interfaces[i];
            return null;
        }

        /// <summary>Maximum power in mA (bMaxPower is in 2 mA units, 8 mA at SuperSpeed).</summary>
        public int MaxPowerMilliamps(UsbSpeed speed) =>
            Descriptor.bMaxPower * (speed >= UsbSpeed.Super ? ConfigurationBits.PowerUnitSuperSpeed : ConfigurationBits.PowerUnitUsb2);
    }

    /// <summary>
    /// An interface of a configuration with all its alternate settings (USB 2.0 9.6.5). Interface
    /// drivers bind to these. Linux: struct usb_interface; named "bus-port.port:config.interface".
    /// </summary>
    public sealed class UsbInterface
    {
        public UsbConfiguration Configuration;
        public byte Number;
        public UsbAltSetting[] AltSettings = new UsbAltSetting[0];
        /// <summary>The active alternate setting (setting 0 after SET_CONFIGURATION).</summary>
        public UsbAltSetting Current;
        /// <summary>Index into Configuration.Associations of the IAD covering this interface, or -1.</summary>
        public int AssociationIndex = -1;

        /// <summary>Bound interface driver, or null.</summary>
        public UsbInterfaceDriver Driver;
        /// <summary>Free for the bound driver.</summary>
        public object DriverData;
        /// <summary>True while the interface exists on the bus (its configuration is active).</summary>
        public bool Registered;

        public UsbDevice Device => Configuration.Device;

        /// <summary>Linux's interface name: "1-1.2:1.0", root hub "1-0:1.0".</summary>
        public string Name => Device.BusDevicePath + ":" + Platform.Format.Decimal((ulong)Configuration.Value) + "." + Platform.Format.Decimal((ulong)Number);

        public UsbAltSetting FindAltSetting(int alternate)
        {
            for (int i = 0; i < AltSettings.Length; i++)
                if (AltSettings[i].Descriptor.bAlternateSetting == alternate)
                    return AltSettings[i];
            return null;
        }
    }

    /// <summary>An alternate setting: interface descriptor plus its endpoints (USB 2.0 9.6.5). Linux: usb_host_interface.</summary>
    public sealed class UsbAltSetting
    {
        public InterfaceDescriptor Descriptor;
        public UsbEndpoint[] Endpoints = new UsbEndpoint[0];
        /// <summary>Class-specific descriptors after the interface descriptor (HID, CDC functional...).</summary>
        public byte[] Extra = new byte[0];
        public bool HasHid;
        public HidDescriptor Hid;
        /// <summary>iInterface text, or null.</summary>
        public string Text;
        public UsbInterface Interface;

        public UsbEndpoint FindEndpoint(byte address)
        {
            for (int i = 0; i < Endpoints.Length; i++)
                if (Endpoints[i].Address == address)
                    return Endpoints[i];
            return null;
        }
    }
}
