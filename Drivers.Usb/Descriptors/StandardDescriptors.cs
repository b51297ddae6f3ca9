using System;

namespace Drivers.Usb.Descriptors
{
    /// <summary>Common two-byte header of every descriptor (USB 2.0 9.5).</summary>
    public static class DescriptorHeader
    {
        public const int Size = 2;
        public const int OffsetLength = 0;
        public const int OffsetType = 1;

        /// <summary>
        /// Checks what every fixed-size descriptor parser checks first: bLength is at least the
        /// descriptor's size, the data holds that many bytes, and bDescriptorType is
        /// <paramref name="type"/> (or <paramref name="alternateType"/>, when not 0).
        /// </summary>
        public static DescriptorProblem Check(ReadOnlySpan<byte> data, int size, byte type, byte alternateType = 0)
        {
            if (data.Length > 0 && data[OffsetLength] < size)
                return new DescriptorProblem(DescriptorError.BadLength, OffsetLength);
            if (data.Length < size)
                return new DescriptorProblem(DescriptorError.TooShort, data.Length);
            if (data[OffsetType] != type && (alternateType == 0 || data[OffsetType] != alternateType))
                return new DescriptorProblem(DescriptorError.WrongType, OffsetType);
            return DescriptorProblem.None;
        }
    }

    /// <summary>SETUP packet (USB 2.0 9.3, table 9-2).</summary>
    public struct SetupPacket
    {
        public const int Size = 8;

        public byte bmRequestType;
        public byte bRequest;
        public ushort wValue;
        public ushort wIndex;
        public ushort wLength;

        public SetupPacket(byte requestType, byte request, ushort value, ushort index, ushort length)
        {
            bmRequestType = requestType;
            bRequest = request;
            wValue = value;
            wIndex = index;
            wLength = length;
        }

        public bool IsIn => (bmRequestType & RequestType.DirectionIn) != 0;

        public void Write(Span<byte> destination)
        {
            destination[0] = bmRequestType;
            destination[1] = bRequest;
            Le.Put16(destination, 2, wValue);
            Le.Put16(destination, 4, wIndex);
            Le.Put16(destination, 6, wLength);
        }

        public static SetupPacket Read(ReadOnlySpan<byte> source) =>
            new SetupPacket(source[0], source[1], Le.U16(source, 2), Le.U16(source, 4), Le.U16(source, 6));
    }

    /// <summary>Standard device descriptor (USB 2.0 9.6.1, table 9-8).</summary>
    public struct DeviceDescriptor
    {
        public const int Size = 18;
        /// <summary>The first read at address 0 needs only this much to learn bMaxPacketSize0 (USB 2.0 5.5.3).</summary>
        public const int MinimumForMaxPacket = 8;

        public byte bLength;
        public byte bDescriptorType;
        public ushort bcdUSB;
        public byte bDeviceClass;
        public byte bDeviceSubClass;
        public byte bDeviceProtocol;
        public byte bMaxPacketSize0;
        public ushort idVendor;
        public ushort idProduct;
        public ushort bcdDevice;
        public byte iManufacturer;
        public byte iProduct;
        public byte iSerialNumber;
        public byte bNumConfigurations;

        /// <summary>Parses a full 18-byte descriptor.</summary>
        public static DescriptorProblem Parse(ReadOnlySpan<byte> data, out DeviceDescriptor d)
        {
            d = default;
            if (data.Length < Size)
                return new DescriptorProblem(DescriptorError.TooShort, data.Length);
            if (data[DescriptorHeader.OffsetLength] < Size)
                return new DescriptorProblem(DescriptorError.BadLength, DescriptorHeader.OffsetLength);
            if (data[DescriptorHeader.OffsetType] != DescriptorType.Device)
                return new DescriptorProblem(DescriptorError.WrongType, DescriptorHeader.OffsetType);
            d.bLength = data[0];
            d.bDescriptorType = data[1];
            d.bcdUSB = Le.U16(data, 2);
            d.bDeviceClass = data[4];
            d.bDeviceSubClass = data[5];
            d.bDeviceProtocol = data[6];
            d.bMaxPacketSize0 = data[7];
            d.idVendor = Le.U16(data, 8);
            d.idProduct = Le.U16(data, 10);
            d.bcdDevice = Le.U16(data, 12);
            d.iManufacturer = data[14];
            d.iProduct = data[15];
            d.iSerialNumber = data[16];
            d.bNumConfigurations = data[17];
            return DescriptorProblem.None;
        }

        /// <summary>Parses the first 8 bytes read at address 0 (enough for bMaxPacketSize0).</summary>
        public static DescriptorProblem ParseHeader(ReadOnlySpan<byte> data, out DeviceDescriptor d)
        {
            d = default;
            if (data.Length < MinimumForMaxPacket)
                return new DescriptorProblem(DescriptorError.TooShort, data.Length);
            if (data[DescriptorHeader.OffsetLength] < Size)
                return new DescriptorProblem(DescriptorError.BadLength, DescriptorHeader.OffsetLength);
            if (data[DescriptorHeader.OffsetType] != DescriptorType.Device)
                return new DescriptorProblem(DescriptorError.WrongType, DescriptorHeader.OffsetType);
            d.bLength = data[0];
            d.bDescriptorType = data[1];
            d.bcdUSB = Le.U16(data, 2);
            d.bDeviceClass = data[4];
            d.bDeviceSubClass = data[5];
            d.bDeviceProtocol = data[6];
            d.bMaxPacketSize0 = data[7];
            return DescriptorProblem.None;
        }

        public void Write(Span<byte> o)
        {
            o[0] = Size; o[1] = DescriptorType.Device; Le.Put16(o, 2, bcdUSB);
            o[4] = bDeviceClass; o[5] = bDeviceSubClass; o[6] = bDeviceProtocol; o[7] = bMaxPacketSize0;
            Le.Put16(o, 8, idVendor); Le.Put16(o, 10, idProduct); Le.Put16(o, 12, bcdDevice);
            o[14] = iManufacturer; o[15] = iProduct; o[16] = iSerialNumber; o[17] = bNumConfigurations;
        }

        /// <summary>bMaxPacketSize0 is valid for the speed (USB 2.0 5.5.3, USB 3.2 9.6.1: exponent 9 = 512).</summary>
        public static bool IsValidMaxPacket0(byte value, UsbSpeed speed)
        {
            switch (speed)
            {
                case UsbSpeed.Low: return value == LowSpeedMaxPacket0;
                case UsbSpeed.Full: return value == 8 || value == 16 || value == 32 || value == 64; // the four sizes 5.5.3 allows
                case UsbSpeed.High: return value == HighSpeedMaxPacket0;
                case UsbSpeed.Super:
                case UsbSpeed.SuperPlus: return value == SuperSpeedMaxPacket0Exponent;
                default: return false;
            }
        }

        public const byte LowSpeedMaxPacket0 = 8;
        public const byte HighSpeedMaxPacket0 = 64;
        /// <summary>SuperSpeed devices encode 512 as the exponent 9.</summary>
        public const byte SuperSpeedMaxPacket0Exponent = 9;
    }

    /// <summary>Standard configuration descriptor header (USB 2.0 9.6.3, table 9-10).</summary>
    public struct ConfigurationDescriptor
    {
        public const int Size = 9;

        public byte bLength;
        public byte bDescriptorType;
        public ushort wTotalLength;
        public byte bNumInterfaces;
        public byte bConfigurationValue;
        public byte iConfiguration;
        public byte bmAttributes;
        public byte bMaxPower;

        public static DescriptorProblem ParseHeader(ReadOnlySpan<byte> data, out ConfigurationDescriptor c)
        {
            c = default;
            DescriptorProblem header = DescriptorHeader.Check(data, Size, DescriptorType.Configuration, DescriptorType.OtherSpeedConfiguration);
            if (!header.IsOk)
                return header;
            c.bLength = data[0];
            c.bDescriptorType = data[1];
            c.wTotalLength = Le.U16(data, 2);
            c.bNumInterfaces = data[4];
            c.bConfigurationValue = data[5];
            c.iConfiguration = data[6];
            c.bmAttributes = data[7];
            c.bMaxPower = data[8];
            if (c.wTotalLength < c.bLength)
                return new DescriptorProblem(DescriptorError.BadTotalLength, 2);
            return DescriptorProblem.None;
        }

        public bool SelfPowered => (bmAttributes & ConfigurationBits.SelfPowered) != 0;
        public bool RemoteWakeup => (bmAttributes & ConfigurationBits.RemoteWakeup) != 0;
    }

    /// <summary>Standard interface descriptor (USB 2.0 9.6.5, table 9-12).</summary>
    public struct InterfaceDescriptor
    {
        public const int Size = 9;

        public byte bLength;
        public byte bDescriptorType;
        public byte bInterfaceNumber;
        public byte bAlternateSetting;
        public byte bNumEndpoints;
        public byte bInterfaceClass;
        public byte bInterfaceSubClass;
        public byte bInterfaceProtocol;
        public byte iInterface;

        public static DescriptorProblem Parse(ReadOnlySpan<byte> data, out InterfaceDescriptor d)
        {
            d = default;
            DescriptorProblem header = DescriptorHeader.Check(data, Size, DescriptorType.Interface);
            if (!header.IsOk)
                return header;
            d.bLength = data[0];
            d.bDescriptorType = data[1];
            d.bInterfaceNumber = data[2];
            d.bAlternateSetting = data[3];
            d.bNumEndpoints = data[4];
            d.bInterfaceClass = data[5];
            d.bInterfaceSubClass = data[6];
            d.bInterfaceProtocol = data[7];
            d.iInterface = data[8];
            return DescriptorProblem.None;
        }
    }

    /// <summary>Standard endpoint descriptor (USB 2.0 9.6.6, table 9-13). Audio 1.0 endpoints are 9 bytes long.</summary>
    public struct EndpointDescriptor
    {
        public const int Size = 7;

        public byte bLength;
        public byte bDescriptorType;
        public byte bEndpointAddress;
        public byte bmAttributes;
        public ushort wMaxPacketSize;
        public byte bInterval;

        public static DescriptorProblem Parse(ReadOnlySpan<byte> data, out EndpointDescriptor d)
        {
            d = default;
            DescriptorProblem header = DescriptorHeader.Check(data, Size, DescriptorType.Endpoint);
            if (!header.IsOk)
                return header;
            d.bLength = data[0];
            d.bDescriptorType = data[1];
            d.bEndpointAddress = data[2];
            d.bmAttributes = data[3];
            d.wMaxPacketSize = Le.U16(data, 4);
            d.bInterval = data[6];
            return DescriptorProblem.None;
        }

        public int Number => bEndpointAddress & EndpointBits.NumberMask;
        public bool IsIn => (bEndpointAddress & EndpointBits.DirectionIn) != 0;
        public TransferType Type => (TransferType)(bmAttributes & EndpointBits.TransferTypeMask);
        /// <summary>Bytes per packet (bits 10..0).</summary>
        public int MaxPacketSize => wMaxPacketSize & EndpointBits.MaxPacketSizeMask;
        /// <summary>High-bandwidth additional transactions per microframe plus one (bits 12..11).</summary>
        public int Mult => ((wMaxPacketSize >> EndpointBits.MultShift) & EndpointBits.MultMask) + 1;

        /// <summary>Endpoint 0 as every device has it (USB 2.0 9.6.6: not described by a descriptor).</summary>
        public static EndpointDescriptor Control0(int maxPacket) => new EndpointDescriptor
        {
            bLength = Size,
            bDescriptorType = DescriptorType.Endpoint,
            bEndpointAddress = 0,
            bmAttributes = (byte)TransferType.Control,
            wMaxPacketSize = (ushort)maxPacket,
            bInterval = 0,
        };
    }

    /// <summary>Interface association descriptor (USB 2.0 ECN IAD, USB 3.2 9.6.4).</summary>
    public struct InterfaceAssociationDescriptor
    {
        public const int Size = 8;

        public byte bLength;
        public byte bDescriptorType;
        public byte bFirstInterface;
        public byte bInterfaceCount;
        public byte bFunctionClass;
        public byte bFunctionSubClass;
        public byte bFunctionProtocol;
        public byte iFunction;

        public static DescriptorProblem Parse(ReadOnlySpan<byte> data, out InterfaceAssociationDescriptor d)
        {
            d = default;
            DescriptorProblem header = DescriptorHeader.Check(data, Size, DescriptorType.InterfaceAssociation);
            if (!header.IsOk)
                return header;
            d.bLength = data[0];
            d.bDescriptorType = data[1];
            d.bFirstInterface = data[2];
            d.bInterfaceCount = data[3];
            d.bFunctionClass = data[4];
            d.bFunctionSubClass = data[5];
            d.bFunctionProtocol = data[6];
            d.iFunction = data[7];
            if (d.bInterfaceCount == 0)
                return new DescriptorProblem(DescriptorError.BadValue, 3);
            return DescriptorProblem.None;
        }
    }

    /// <summary>SuperSpeed endpoint companion descriptor (USB 3.2 9.6.7, table 9-27).</summary>
    public struct SuperSpeedEndpointCompanionDescriptor
    {
        public const int Size = 6;

        public byte bLength;
        public byte bDescriptorType;
        public byte bMaxBurst;
        public byte bmAttributes;
        public ushort wBytesPerInterval;

        /// <summary>bMaxBurst is 0..15 (USB 3.2 9.6.7).</summary>
        public const byte MaxBurstLimit = 15;

        public static DescriptorProblem Parse(ReadOnlySpan<byte> data, out SuperSpeedEndpointCompanionDescriptor d)
        {
            d = default;
            DescriptorProblem header = DescriptorHeader.Check(data, Size, DescriptorType.SuperSpeedEndpointCompanion);
            if (!header.IsOk)
                return header;
            d.bLength = data[0];
            d.bDescriptorType = data[1];
            d.bMaxBurst = data[2];
            d.bmAttributes = data[3];
            d.wBytesPerInterval = Le.U16(data, 4);
            if (d.bMaxBurst > MaxBurstLimit)
                return new DescriptorProblem(DescriptorError.BadValue, 2);
            return DescriptorProblem.None;
        }
    }
}
