using Drivers.Usb.Descriptors;

namespace Drivers.Usb
{
    /// <summary>Which fields of a <see cref="UsbDeviceId"/> are compared (Linux USB_DEVICE_ID_MATCH_*).</summary>
    public static class UsbMatch
    {
        public const ushort Vendor = 0x0001;
        public const ushort Product = 0x0002;
        public const ushort DeviceLow = 0x0004;
        public const ushort DeviceHigh = 0x0008;
        public const ushort DeviceClass = 0x0010;
        public const ushort DeviceSubClass = 0x0020;
        public const ushort DeviceProtocol = 0x0040;
        public const ushort InterfaceClass = 0x0080;
        public const ushort InterfaceSubClass = 0x0100;
        public const ushort InterfaceProtocol = 0x0200;
        public const ushort InterfaceNumber = 0x0400;

        public const ushort DeviceAndProduct = Vendor | Product;
        public const ushort DeviceInfo = DeviceClass | DeviceSubClass | DeviceProtocol;
        public const ushort InterfaceInfo = InterfaceClass | InterfaceSubClass | InterfaceProtocol;
    }

    /// <summary>
    /// One entry of a driver's id table (Linux struct usb_device_id, seed 001). The bcdDevice range
    /// is inclusive. Flags 0 matches everything.
    /// </summary>
    public struct UsbDeviceId
    {
        public ushort MatchFlags;
        public ushort idVendor;
        public ushort idProduct;
        public ushort bcdDeviceLow;
        public ushort bcdDeviceHigh;
        public byte bDeviceClass;
        public byte bDeviceSubClass;
        public byte bDeviceProtocol;
        public byte bInterfaceClass;
        public byte bInterfaceSubClass;
        public byte bInterfaceProtocol;
        public byte bInterfaceNumber;
        /// <summary>Free for the driver (Linux driver_info).</summary>
        public int DriverInfo;

        /// <summary>USB_DEVICE(vendor, product).</summary>
        public static UsbDeviceId Device(ushort vendor, ushort product) =>
            new UsbDeviceId { MatchFlags = UsbMatch.DeviceAndProduct, idVendor = vendor, idProduct = product };

        /// <summary>USB_DEVICE_VER(vendor, product, lo, hi).</summary>
        public static UsbDeviceId DeviceVersion(ushort vendor, ushort product, ushort low, ushort high) =>
            new UsbDeviceId
            {
                MatchFlags = UsbMatch.DeviceAndProduct | UsbMatch.DeviceLow | UsbMatch.DeviceHigh,
                idVendor = vendor, idProduct = product, bcdDeviceLow = low, bcdDeviceHigh = high,
            };

        /// <summary>USB_DEVICE_INFO(class, subclass, protocol).</summary>
        public static UsbDeviceId DeviceInfo(byte cls, byte subclass, byte protocol) =>
            new UsbDeviceId { MatchFlags = UsbMatch.DeviceInfo, bDeviceClass = cls, bDeviceSubClass = subclass, bDeviceProtocol = protocol };

        /// <summary>USB_INTERFACE_INFO(class, subclass, protocol).</summary>
        public static UsbDeviceId InterfaceInfo(byte cls, byte subclass, byte protocol) =>
            new UsbDeviceId { MatchFlags = UsbMatch.InterfaceInfo, bInterfaceClass = cls, bInterfaceSubClass = subclass, bInterfaceProtocol = protocol };

        /// <summary>USB_INTERFACE_CLASS(class).</summary>
        public static UsbDeviceId InterfaceClass(byte cls) =>
            new UsbDeviceId { MatchFlags = UsbMatch.InterfaceClass, bInterfaceClass = cls };

        /// <summary>USB_VENDOR_AND_INTERFACE_INFO(vendor, class, subclass, protocol).</summary>
        public static UsbDeviceId VendorAndInterfaceInfo(ushort vendor, byte cls, byte subclass, byte protocol) =>
            new UsbDeviceId
            {
                MatchFlags = (ushort)(UsbMatch.Vendor | UsbMatch.InterfaceInfo),
                idVendor = vendor, bInterfaceClass = cls, bInterfaceSubClass = subclass, bInterfaceProtocol = protocol,
            };

        /// <summary>USB_DEVICE_INTERFACE_NUMBER(vendor, product, number).</summary>
        public static UsbDeviceId DeviceInterfaceNumber(ushort vendor, ushort product, byte number) =>
            new UsbDeviceId
            {
                MatchFlags = (ushort)(UsbMatch.DeviceAndProduct | UsbMatch.InterfaceNumber),
                idVendor = vendor, idProduct = product, bInterfaceNumber = number,
            };

        bool Has(ushort flag) => (MatchFlags & flag) != 0;

        /// <summary>Device-level fields only (Linux usb_match_device).</summary>
        public bool MatchesDevice(in DeviceDescriptor d)
        {
            if (Has(UsbMatch.Vendor) && idVendor != d.idVendor) return false;
            if (Has(UsbMatch.Product) && idProduct != d.idProduct) return false;
            if (Has(UsbMatch.DeviceLow) && d.bcdDevice < bcdDeviceLow) return false;
            if (Has(UsbMatch.DeviceHigh) && d.bcdDevice > bcdDeviceHigh) return false;
            if (Has(UsbMatch.DeviceClass) && bDeviceClass != d.bDeviceClass) return false;
            if (Has(UsbMatch.DeviceSubClass) && bDeviceSubClass != d.bDeviceSubClass) return false;
            if (Has(UsbMatch.DeviceProtocol) && bDeviceProtocol != d.bDeviceProtocol) return false;
            return true;
        }

        /// <summary>Interface-level fields only (Linux usb_match_one_id_intf).</summary>
        public bool MatchesInterface(in DeviceDescriptor device, in InterfaceDescriptor i)
        {
            // A vendor-specific device class matches interface entries only when they also name the vendor.
            if (device.bDeviceClass == UsbClass.VendorSpecific && !Has(UsbMatch.Vendor) &&
                (MatchFlags & (UsbMatch.InterfaceInfo | UsbMatch.InterfaceNumber)) != 0)
                return false;
            if (Has(UsbMatch.InterfaceClass) && bInterfaceClass != i.bInterfaceClass) return false;
            if (Has(UsbMatch.InterfaceSubClass) && bInterfaceSubClass != i.bInterfaceSubClass) return false;
            if (Has(UsbMatch.InterfaceProtocol) && bInterfaceProtocol != i.bInterfaceProtocol) return false;
            if (Has(UsbMatch.InterfaceNumber) && bInterfaceNumber != i.bInterfaceNumber) return false;
            return true;
        }

        /// <summary>Linux usb_match_one_id: device fields, then the interface's active setting.</summary>
        public bool Matches(in DeviceDescriptor device, in InterfaceDescriptor intf) =>
            MatchesDevice(device) && MatchesInterface(device, intf);
    }
}
