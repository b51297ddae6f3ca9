using System;
using Drivers.Usb.Descriptors;

namespace Drivers.Usb
{
    /// <summary>
    /// Standard requests of the root hub, answered by the core for every controller (Linux hcd.c:
    /// usbN_rh_dev_descriptor, fs/hs/ss_rh_config_descriptor, rh_string). Hub-class requests go to
    /// the controller's <see cref="IHostController.RootHubControl"/>.
    /// </summary>
    internal sealed class RootHubEmulation
    {
        /// <summary>Linux Foundation's vendor ID, used by every Linux root hub (lsusb shows "1d6b:0002").</summary>
        public const ushort RootHubVendor = 0x1D6B;
        public const ushort ProductUsb11 = 0x0001;
        public const ushort ProductUsb20 = 0x0002;
        public const ushort ProductUsb30 = 0x0003;
        /// <summary>bcdDevice: this stack's version, 1.00.</summary>
        public const ushort Release = 0x0100;
        public const ushort BcdUsb11 = 0x0110;
        public const ushort BcdUsb20 = 0x0200;
        public const ushort BcdUsb30 = 0x0300;
        /// <summary>bDeviceProtocol of a high-speed hub with a single TT (USB 2.0 11.23.1).</summary>
        public const byte ProtocolSingleTt = 1;
        public const byte ProtocolSuperSpeedHub = 3;
        public const byte StatusEndpointAddress = 0x81;
        /// <summary>bInterval 12 at high speed = 2^11 microframes = 256 ms (Linux hs_rh_config_descriptor).</summary>
        public const byte HighSpeedStatusInterval = 0x0C;
        /// <summary>bInterval 255 ms at full speed (Linux fs_rh_config_descriptor).</summary>
        public const byte FullSpeedStatusInterval = 0xFF;
        /// <summary>Status endpoint wMaxPacketSize (and SuperSpeed wBytesPerInterval) of Linux 6.1's root hubs.</summary>
        public const int FullSpeedStatusBytes = 2, HighSpeedStatusBytes = 4, SuperSpeedStatusBytes = 2;
        public const byte StringManufacturer = 1;
        public const byte StringProduct = 2;
        public const byte StringSerial = 3;
        /// <summary>Self-powered, remote wakeup (bmAttributes 0xE0).</summary>
        const byte ConfigAttributes = ConfigurationBits.Reserved1 | ConfigurationBits.SelfPowered | ConfigurationBits.RemoteWakeup;
        const byte ConfigurationValue = 1;
        const int StatusSize = 2;
        /// <summary>GET_STATUS device bit 0: self powered (USB 2.0 figure 9-4).</summary>
        const byte StatusSelfPowered = 0x01;

        readonly IHostController _hc;
        readonly byte[] _deviceDescriptor = new byte[DeviceDescriptor.Size];
        readonly byte[] _configuration;
        byte _activeConfiguration;

        public RootHubEmulation(IHostController hc)
        {
            _hc = hc;
            UsbSpeed speed = hc.RootHubSpeed;
            bool super = speed >= UsbSpeed.Super;
            var d = new DeviceDescriptor();
            d.bcdUSB = super ? BcdUsb30 : speed == UsbSpeed.High ? BcdUsb20 : BcdUsb11;
            d.bDeviceClass = UsbClass.Hub;
            // Linux patches bDeviceProtocol to 1 only for a root hub with an integrated TT (hcd->has_tt: xHCI's
            // USB 2 root hub, some EHCIs); a plain EHCI root hub says 0, a SuperSpeed one 3.
            d.bDeviceProtocol = super ? ProtocolSuperSpeedHub : speed == UsbSpeed.High && hc.RootHubHasTt ? ProtocolSingleTt : (byte)0;
            d.bMaxPacketSize0 = super ? DeviceDescriptor.SuperSpeedMaxPacket0Exponent : (byte)UsbDevice.MaxPacket0Default;
            d.idVendor = RootHubVendor;
            d.idProduct = super ? ProductUsb30 : speed == UsbSpeed.High ? ProductUsb20 : ProductUsb11;
            d.bcdDevice = Release;
            d.iManufacturer = StringManufacturer;
            d.iProduct = StringProduct;
            d.iSerialNumber = StringSerial;
            d.bNumConfigurations = 1;
            d.Write(_deviceDescriptor);

            // The status endpoint's size as Linux's fixed root hub descriptors give it (hcd.c fs/hs/ss_rh_config_descriptor:
            // room for 1 + USB_MAXCHILDREN bits at high speed, 2 bytes at full speed and SuperSpeed), whatever the port count.
            // More room only for a controller with more ports than Linux's descriptor covers (its bits never get cut off).
            int statusBytes = super ? SuperSpeedStatusBytes : speed == UsbSpeed.High ? HighSpeedStatusBytes : FullSpeedStatusBytes;
            int needed = (hc.RootPortCount + 1 + 7) / 8;
            if (needed > statusBytes)
                statusBytes = needed;
            int total = ConfigurationDescriptor.Size + InterfaceDescriptor.Size + EndpointDescriptor.Size +
                        (super ? SuperSpeedEndpointCompanionDescriptor.Size : 0);
            byte[] c = new byte[total];
            int o = 0;
            c[o++] = ConfigurationDescriptor.Size; c[o++] = DescriptorType.Configuration;
            c[o++] = (byte)total; c[o++] = (byte)(total >> 8);
            c[o++] = 1; c[o++] = ConfigurationValue; c[o++] = 0; c[o++] = ConfigAttributes; c[o++] = 0;
            c[o++] = InterfaceDescriptor.Size; c[o++] = DescriptorType.Interface;
            c[o++] = 0; c[o++] = 0; c[o++] = 1; c[o++] = UsbClass.Hub; c[o++] = 0; c[o++] = 0; c[o++] = 0;
            c[o++] = EndpointDescriptor.Size; c[o++] = DescriptorType.Endpoint;
            c[o++] = StatusEndpointAddress; c[o++] = (byte)TransferType.Interrupt;
            c[o++] = (byte)statusBytes; c[o++] = 0;
            c[o++] = speed >= UsbSpeed.High ? HighSpeedStatusInterval : FullSpeedStatusInterval;
            if (super)
            {
                c[o++] = SuperSpeedEndpointCompanionDescriptor.Size; c[o++] = DescriptorType.SuperSpeedEndpointCompanion;
                c[o++] = 0; c[o++] = 0; c[o++] = (byte)statusBytes; c[o++] = 0;
            }
            _configuration = c;
        }

        public UsbStatus Standard(SetupPacket setup, Span<byte> data, out int actual)
        {
            actual = 0;
            int recipient = setup.bmRequestType & RequestType.RecipientMask;
            switch (setup.bRequest)
            {
                case UsbRequestCode.GetDescriptor:
                    if (recipient != RequestType.RecipientDevice)
                        return UsbStatus.Stall;
                    return GetDescriptor((byte)(setup.wValue >> 8), (byte)setup.wValue, data, out actual);
                case UsbRequestCode.SetAddress:
                    return UsbStatus.Ok;
                case UsbRequestCode.SetConfiguration:
                    if (setup.wValue > ConfigurationValue)
                        return UsbStatus.Stall;
                    _activeConfiguration = (byte)setup.wValue;
                    return UsbStatus.Ok;
                case UsbRequestCode.GetConfiguration:
                    return Reply(data, _activeConfiguration, out actual);
                case UsbRequestCode.GetInterface:
                    return Reply(data, 0, out actual);
                case UsbRequestCode.SetInterface:
                    return setup.wValue == 0 ? UsbStatus.Ok : UsbStatus.Stall;
                case UsbRequestCode.GetStatus:
                    if (data.Length < StatusSize)
                        return UsbStatus.Stall;
                    data[0] = recipient == RequestType.RecipientDevice ? StatusSelfPowered : (byte)0;
                    data[1] = 0;
                    actual = StatusSize;
                    return UsbStatus.Ok;
                case UsbRequestCode.ClearFeature:
                case UsbRequestCode.SetFeature:
                    return UsbStatus.Ok;
                default:
                    return UsbStatus.Stall;
            }
        }

        static UsbStatus Reply(Span<byte> data, byte value, out int actual)
        {
            actual = 0;
            if (data.Length < 1)
                return UsbStatus.Stall;
            data[0] = value;
            actual = 1;
            return UsbStatus.Ok;
        }

        UsbStatus GetDescriptor(byte type, byte index, Span<byte> data, out int actual)
        {
            actual = 0;
            byte[] source;
            switch (type)
            {
                case DescriptorType.Device: source = _deviceDescriptor; break;
                case DescriptorType.Configuration: source = _configuration; break;
                case DescriptorType.String:
                    switch (index)
                    {
                        case 0: source = StringDescriptor.EncodeLanguages(LanguageId.EnglishUs); break;
                        case StringManufacturer: source = StringDescriptor.Encode("Drivers.Usb " + _hc.HcdDescription); break;
                        case StringProduct: source = StringDescriptor.Encode(_hc.Description); break;
                        case StringSerial: source = StringDescriptor.Encode(_hc.BusId); break;
                        default: return UsbStatus.Stall;
                    }
                    break;
                default:
                    return UsbStatus.Stall;
            }
            int n = Le.Min(source.Length, data.Length);
            for (int i = 0; i < n; i++)
                data[i] = source[i];
            actual = n;
            return UsbStatus.Ok;
        }
    }
}
