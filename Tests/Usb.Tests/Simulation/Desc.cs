using System;
using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Descriptors;

namespace Usb.Tests.Simulation
{
    /// <summary>Builders for descriptor bytes (USB 2.0 ch. 9 layouts) used by the simulator and the tests.</summary>
    public static class Desc
    {
        public static byte[] Device(ushort vid, ushort pid, byte cls = 0, byte sub = 0, byte proto = 0, byte maxPacket0 = 64,
                                    ushort bcdUsb = 0x0200, ushort bcdDevice = 0x0100, byte iManufacturer = 1, byte iProduct = 2,
                                    byte iSerial = 3, byte numConfigs = 1)
        {
            var d = new DeviceDescriptor
            {
                bcdUSB = bcdUsb, bDeviceClass = cls, bDeviceSubClass = sub, bDeviceProtocol = proto, bMaxPacketSize0 = maxPacket0,
                idVendor = vid, idProduct = pid, bcdDevice = bcdDevice, iManufacturer = iManufacturer, iProduct = iProduct,
                iSerialNumber = iSerial, bNumConfigurations = numConfigs,
            };
            byte[] bytes = new byte[DeviceDescriptor.Size];
            d.Write(bytes);
            return bytes;
        }

        /// <summary>A configuration: header with wTotalLength and bNumInterfaces computed (unless given) + parts.</summary>
        public static byte[] Config(byte value, byte attributes, byte maxPower, params byte[][] parts) =>
            ConfigWith(value, attributes, maxPower, -1, -1, parts);

        public static byte[] ConfigWith(byte value, byte attributes, byte maxPower, int numInterfaces, int totalLength, params byte[][] parts)
        {
            var body = new List<byte>();
            int interfaces = 0;
            var seen = new HashSet<int>();
            foreach (byte[] p in parts)
            {
                if (p.Length >= 3 && p[1] == DescriptorType.Interface && seen.Add(p[2]))
                    interfaces++;
                body.AddRange(p);
            }
            int total = ConfigurationDescriptor.Size + body.Count;
            var c = new List<byte>
            {
                ConfigurationDescriptor.Size, DescriptorType.Configuration,
                (byte)(totalLength >= 0 ? totalLength : total), (byte)((totalLength >= 0 ? totalLength : total) >> 8),
                (byte)(numInterfaces >= 0 ? numInterfaces : interfaces), value, 0, attributes, maxPower,
            };
            c.AddRange(body);
            return c.ToArray();
        }

        public static byte[] Interface(byte number, byte alt, byte numEndpoints, byte cls, byte sub = 0, byte proto = 0, byte iInterface = 0) =>
            new byte[] { InterfaceDescriptor.Size, DescriptorType.Interface, number, alt, numEndpoints, cls, sub, proto, iInterface };

        public static byte[] Endpoint(byte address, TransferType type, ushort maxPacket, byte interval) =>
            new byte[] { EndpointDescriptor.Size, DescriptorType.Endpoint, address, (byte)type, (byte)maxPacket, (byte)(maxPacket >> 8), interval };

        public static byte[] Hid(ushort reportLength, byte country = 0) =>
            new byte[] { 9, DescriptorType.Hid, 0x11, 0x01, country, 1, DescriptorType.HidReport, (byte)reportLength, (byte)(reportLength >> 8) };

        public static byte[] Iad(byte first, byte count, byte cls, byte sub, byte proto) =>
            new byte[] { InterfaceAssociationDescriptor.Size, DescriptorType.InterfaceAssociation, first, count, cls, sub, proto, 0 };

        public static byte[] Companion(byte maxBurst, byte attributes, ushort bytesPerInterval) =>
            new byte[] { SuperSpeedEndpointCompanionDescriptor.Size, DescriptorType.SuperSpeedEndpointCompanion, maxBurst, attributes,
                         (byte)bytesPerInterval, (byte)(bytesPerInterval >> 8) };

        public static byte[] Raw(params byte[] bytes) => bytes;

        public static byte[] Concat(params byte[][] parts)
        {
            var all = new List<byte>();
            foreach (byte[] p in parts)
                all.AddRange(p);
            return all.ToArray();
        }

        // ---- Typical devices (like QEMU's) ---------------------------------------------------

        public static byte[] KeyboardConfig() => Config(1, 0xA0, 50,
            Interface(0, 0, 1, UsbClass.Hid, 1, 1),
            Hid(63),
            Endpoint(0x81, TransferType.Interrupt, 8, 7));

        public static byte[] MouseConfig() => Config(1, 0xA0, 50,
            Interface(0, 0, 1, UsbClass.Hid, 1, 2),
            Hid(52),
            Endpoint(0x81, TransferType.Interrupt, 4, 7));

        public static byte[] StorageConfig(ushort maxPacket = 512) => Config(1, 0xC0, 50,
            Interface(0, 0, 2, UsbClass.MassStorage, 6, 0x50),
            Endpoint(0x81, TransferType.Bulk, maxPacket, 0),
            Endpoint(0x02, TransferType.Bulk, maxPacket, 0));
    }
}
