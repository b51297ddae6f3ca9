namespace Drivers.Usb.Descriptors
{
    /// <summary>Descriptor types (USB 2.0 table 9-5, USB 3.2 table 9-6, HID 1.11 7.1, USB 2.0 11.23.2.1).</summary>
    public static class DescriptorType
    {
        public const byte Device = 0x01;
        public const byte Configuration = 0x02;
        public const byte String = 0x03;
        public const byte Interface = 0x04;
        public const byte Endpoint = 0x05;
        public const byte DeviceQualifier = 0x06;
        public const byte OtherSpeedConfiguration = 0x07;
        public const byte InterfacePower = 0x08;
        public const byte Otg = 0x09;
        public const byte Debug = 0x0A;
        public const byte InterfaceAssociation = 0x0B;
        public const byte Bos = 0x0F;
        public const byte DeviceCapability = 0x10;
        public const byte Hid = 0x21;
        public const byte HidReport = 0x22;
        public const byte HidPhysical = 0x23;
        public const byte Hub = 0x29;
        public const byte SuperSpeedHub = 0x2A;
        public const byte SuperSpeedEndpointCompanion = 0x30;
    }

    /// <summary>Standard request codes (USB 2.0 table 9-4).</summary>
    public static class UsbRequestCode
    {
        public const byte GetStatus = 0x00;
        public const byte ClearFeature = 0x01;
        public const byte SetFeature = 0x03;
        public const byte SetAddress = 0x05;
        public const byte GetDescriptor = 0x06;
        public const byte SetDescriptor = 0x07;
        public const byte GetConfiguration = 0x08;
        public const byte SetConfiguration = 0x09;
        public const byte GetInterface = 0x0A;
        public const byte SetInterface = 0x0B;
        public const byte SynchFrame = 0x0C;
    }

    /// <summary>bmRequestType fields (USB 2.0 table 9-2).</summary>
    public static class RequestType
    {
        public const byte DirectionIn = 0x80;
        public const byte DirectionOut = 0x00;
        public const byte TypeMask = 0x60;
        public const byte TypeStandard = 0x00;
        public const byte TypeClass = 0x20;
        public const byte TypeVendor = 0x40;
        public const byte RecipientMask = 0x1F;
        public const byte RecipientDevice = 0x00;
        public const byte RecipientInterface = 0x01;
        public const byte RecipientEndpoint = 0x02;
        public const byte RecipientOther = 0x03;
    }

    /// <summary>Standard feature selectors (USB 2.0 table 9-6).</summary>
    public static class FeatureSelector
    {
        public const ushort EndpointHalt = 0;
        public const ushort DeviceRemoteWakeup = 1;
        public const ushort TestMode = 2;
    }

    /// <summary>Class codes (usb.org "Defined Class Codes").</summary>
    public static class UsbClass
    {
        public const byte PerInterface = 0x00;
        public const byte Audio = 0x01;
        public const byte Communications = 0x02;
        public const byte Hid = 0x03;
        public const byte Physical = 0x05;
        public const byte StillImage = 0x06;
        public const byte Printer = 0x07;
        public const byte MassStorage = 0x08;
        public const byte Hub = 0x09;
        public const byte CdcData = 0x0A;
        public const byte SmartCard = 0x0B;
        public const byte ContentSecurity = 0x0D;
        public const byte Video = 0x0E;
        public const byte PersonalHealthcare = 0x0F;
        public const byte AudioVideo = 0x10;
        public const byte Billboard = 0x11;
        public const byte TypeCBridge = 0x12;
        public const byte Diagnostic = 0xDC;
        public const byte WirelessController = 0xE0;
        public const byte Miscellaneous = 0xEF;
        public const byte ApplicationSpecific = 0xFE;
        public const byte VendorSpecific = 0xFF;
    }

    /// <summary>Endpoint address and attribute bits (USB 2.0 9.6.6).</summary>
    public static class EndpointBits
    {
        public const byte DirectionIn = 0x80;
        public const byte NumberMask = 0x0F;
        public const byte TransferTypeMask = 0x03;
        public const ushort MaxPacketSizeMask = 0x07FF;
        /// <summary>Largest packet any speed allows (USB 2.0 9.6.6, USB 3.2 9.6.6): 1024 bytes.</summary>
        public const int MaxPacketSizeLimit = 1024;
        /// <summary>bEndpointAddress bits 6..4 are reserved and zero (USB 2.0 table 9-13).</summary>
        public const byte ReservedAddressBits = 0x70;
        public const int MultShift = 11;
        public const ushort MultMask = 0x3;
        public const int MaxEndpointNumber = 15;
    }

    /// <summary>Transfer type as encoded in bmAttributes bits 1..0 (USB 2.0 table 9-13).</summary>
    public enum TransferType : byte
    {
        Control = 0,
        Isochronous = 1,
        Bulk = 2,
        Interrupt = 3,
    }

    /// <summary>Configuration bmAttributes bits (USB 2.0 9.6.3).</summary>
    public static class ConfigurationBits
    {
        public const byte Reserved1 = 0x80;
        public const byte SelfPowered = 0x40;
        public const byte RemoteWakeup = 0x20;
        /// <summary>bMaxPower unit, mA: 2 for USB 2.0, 8 for SuperSpeed (USB 3.2 9.6.3).</summary>
        public const int PowerUnitUsb2 = 2;
        public const int PowerUnitSuperSpeed = 8;
    }

    /// <summary>Language IDs (USB LANGIDs 1.0).</summary>
    public static class LanguageId
    {
        public const ushort EnglishUs = 0x0409;
    }

    /// <summary>Limits the core enforces, as Linux's usbcore does (include/linux/usb.h).</summary>
    public static class UsbLimits
    {
        /// <summary>USB_MAXCONFIG.</summary>
        public const int MaxConfigurations = 8;
        /// <summary>USB_MAXINTERFACES.</summary>
        public const int MaxInterfaces = 32;
        /// <summary>USB_MAXALTSETTING.</summary>
        public const int MaxAltSettings = 128;
        /// <summary>USB_MAXENDPOINTS (30 besides endpoint 0).</summary>
        public const int MaxEndpoints = 30;
        /// <summary>Largest descriptor buffer the core will ask for (wLength is 16 bits).</summary>
        public const int MaxDescriptorLength = 0xFFFF;
        /// <summary>Largest device address (USB 2.0 9.4.6).</summary>
        public const int MaxAddress = 127;
        /// <summary>Root hub is tier 1; at most five external hubs (USB 2.0 4.1.1), Linux MAX_TOPO_LEVEL.</summary>
        public const int MaxTopologyLevel = 6;
        /// <summary>Ports per hub (USB 2.0 11.23.2.1: bNbrPorts, Linux USB_MAXCHILDREN).</summary>
        public const int MaxPorts = 31;
        /// <summary>
        /// Ports per SuperSpeed hub (USB 3.2 10.15.2.1, Linux USB_SS_MAXPORTS): SuperSpeed packets
        /// are routed by a 4-bit port number per tier (USB 3.2 8.9, xHCI 8.9).
        /// </summary>
        public const int MaxSuperSpeedPorts = 15;
    }
}
