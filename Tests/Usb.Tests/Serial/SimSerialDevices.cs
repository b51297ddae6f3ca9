using System;
using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Serial;
using Usb.Tests.Simulation;

namespace Usb.Tests.Serial
{
    /// <summary>
    /// QEMU's usb-serial (hw/usb/dev-serial.c), an FT232BM: the same descriptors (0403:6001,
    /// bcdDevice 0x0400, one vendor-class interface, bulk 0x81 IN and 0x02 OUT of 64 bytes), the
    /// vendor requests it accepts, and its IN framing: each 64-byte packet starts with the modem
    /// status byte (| 1) and the line status byte, then up to 62 data bytes; without data it NAKs,
    /// except <see cref="StatusOnlyPackets"/> (what a real FT232 sends every latency period).
    /// Baud rates are decoded from the divisor as QEMU does, so a test sees what the chip would run at.
    /// </summary>
    public sealed class SimFtdiDevice : SimDevice
    {
        public const byte BulkIn = 0x81, BulkOut = 0x02;
        readonly int PacketSize;

        public readonly Queue<byte> Line = new Queue<byte>();
        public readonly List<byte> Received = new List<byte>();
        public readonly List<(byte Request, ushort Value, ushort Index)> VendorLog = new List<(byte, ushort, ushort)>();
        public int Baud;
        public ushort DataValue;
        public ushort ModemControl;
        public byte ModemStatus = 0x10 | 0x20;    // CTS, DSR
        public byte LineStatus;
        public int StatusOnlyPackets;
        /// <summary>The bulk OUT endpoint NAKs (a chip whose line is flow-controlled off).</summary>
        public bool HoldOut;

        public SimFtdiDevice(ushort bcdDevice = 0x0400, ushort product = Ftdi.FT232Product)
            : base("FT232 USB-Serial (UART) IC", UsbSpeed.Full,
                   Desc.Device(Ftdi.VendorId, product, maxPacket0: 8, bcdDevice: bcdDevice),
                   Desc.Config(1, 0x80, 50,
                       Desc.Interface(0, 0, 2, 0xFF, 0xFF, 0xFF, 2),
                       Desc.Endpoint(BulkIn, TransferType.Bulk, 64, 0),
                       Desc.Endpoint(BulkOut, TransferType.Bulk, 64, 0)))
        {
            PacketSize = 64;
            OnControl = Vendor;
        }

        /// <summary>
        /// A high-speed FT2232H (0403:6010, bcdDevice 0x0700) as it describes itself: two vendor-class
        /// interfaces, A with bulk 0x81/0x02 and B with 0x83/0x04, 512-byte packets. Line and Received
        /// belong to port A.
        /// </summary>
        public static SimFtdiDevice FT2232H() => new SimFtdiDevice(dual: true);

        SimFtdiDevice(bool dual)
            : base("Dual RS232-HS", UsbSpeed.High,
                   Desc.Device(Ftdi.VendorId, Ftdi.FT2232Product, maxPacket0: 64, bcdDevice: 0x0700),
                   Desc.Config(1, 0x80, 50,
                       Desc.Interface(0, 0, 2, 0xFF, 0xFF, 0xFF, 2),
                       Desc.Endpoint(BulkIn, TransferType.Bulk, 512, 0),
                       Desc.Endpoint(BulkOut, TransferType.Bulk, 512, 0),
                       Desc.Interface(1, 0, 2, 0xFF, 0xFF, 0xFF, 2),
                       Desc.Endpoint(0x83, TransferType.Bulk, 512, 0),
                       Desc.Endpoint(0x04, TransferType.Bulk, 512, 0)))
        {
            PacketSize = 512;
            OnControl = Vendor;
        }

        SimResult? Vendor(SetupPacket setup, byte[] data)
        {
            if ((setup.bmRequestType & RequestType.TypeMask) != RequestType.TypeVendor) return null;
            VendorLog.Add((setup.bRequest, setup.wValue, setup.wIndex));
            switch (setup.bRequest)
            {
                case Ftdi.RequestSetBaudRate:
                {
                    // QEMU usb_serial_handle_control FTDI_SET_BAUD.
                    int[] subdivisors8 = { 0, 4, 2, 1, 3, 5, 6, 7 };
                    int subdivisor8 = subdivisors8[((setup.wValue & 0xC000) >> 14) | ((setup.wIndex & 1) << 2)];
                    int divisor = setup.wValue & 0x3FFF;
                    if (divisor == 1 && subdivisor8 == 0) subdivisor8 = 4;
                    if (divisor == 0 && subdivisor8 == 0) divisor = 1;
                    Baud = (48000000 / 2) / (8 * divisor + subdivisor8);
                    return SimResult.Ok(0);
                }
                case Ftdi.RequestSetData: DataValue = setup.wValue; return SimResult.Ok(0);
                case Ftdi.RequestModemControl: ModemControl = setup.wValue; return SimResult.Ok(0);
                case Ftdi.RequestReset:
                case Ftdi.RequestSetFlowControl:
                case Ftdi.RequestSetLatencyTimer:
                    return SimResult.Ok(0);
                case Ftdi.RequestGetModemStatus:
                    data[0] = (byte)(ModemStatus | 1);
                    data[1] = Ftdi.LineStatusThre | Ftdi.LineStatusTemt;
                    return SimResult.Ok(2);
                default:
                    return SimResult.Stall;
            }
        }

        public override SimResult HandleData(byte address, bool isIn, byte[] buffer, int length)
        {
            if (address == BulkOut && !isIn)
            {
                if (HoldOut) return SimResult.Nak;
                lock (Received) for (int i = 0; i < length; i++) Received.Add(buffer[i]);
                return SimResult.Ok(length);
            }
            if (address != BulkIn || !isIn) return base.HandleData(address, isIn, buffer, length);
            lock (Line) return FrameIn(buffer, length);
        }

        SimResult FrameIn(byte[] buffer, int length)
        {
            if (Line.Count == 0)
            {
                if (StatusOnlyPackets == 0 || length < 2) return SimResult.Nak;
                StatusOnlyPackets--;
                buffer[0] = (byte)(ModemStatus | 1);
                buffer[1] = LineStatus;
                return SimResult.Ok(2);
            }
            int o = 0;
            while (Line.Count > 0 && length - o > 2)
            {
                int chunk = Math.Min(PacketSize, length - o) - 2;
                buffer[o++] = (byte)(ModemStatus | 1);
                buffer[o++] = LineStatus;
                for (int i = 0; i < chunk && Line.Count > 0; i++) buffer[o++] = Line.Dequeue();
            }
            return SimResult.Ok(o);
        }
    }

    /// <summary>
    /// A CDC-ACM device with the descriptors of ST's STM32 "Virtual COM Port" (0483:5740, the USB
    /// device library's CDC class: communication interface 0 with header, call management, ACM and
    /// union functional descriptors and interrupt IN 0x82; data interface 1 with bulk 0x01 OUT and
    /// 0x81 IN of 64 bytes). Answers SET/GET_LINE_CODING and SET_CONTROL_LINE_STATE.
    /// </summary>
    public sealed class SimAcmDevice : SimDevice
    {
        public const byte Notify = 0x82, BulkIn = 0x81, BulkOut = 0x01;

        /// <summary>The configuration descriptor exactly as the STM32 CDC example sends it (67 bytes).</summary>
        public static readonly byte[] Stm32VcpConfiguration =
        {
            0x09, 0x02, 0x43, 0x00, 0x02, 0x01, 0x00, 0xC0, 0x32,
            0x09, 0x04, 0x00, 0x00, 0x01, 0x02, 0x02, 0x01, 0x00,
            0x05, 0x24, 0x00, 0x10, 0x01,           // header, CDC 1.10
            0x05, 0x24, 0x01, 0x00, 0x01,           // call management: data interface 1
            0x04, 0x24, 0x02, 0x02,                 // ACM: line coding and serial state
            0x05, 0x24, 0x06, 0x00, 0x01,           // union: control 0, subordinate 1
            0x07, 0x05, 0x82, 0x03, 0x08, 0x00, 0x10,
            0x09, 0x04, 0x01, 0x00, 0x02, 0x0A, 0x00, 0x00, 0x00,
            0x07, 0x05, 0x01, 0x02, 0x40, 0x00, 0x00,
            0x07, 0x05, 0x81, 0x02, 0x40, 0x00, 0x00,
        };

        public readonly Queue<byte> Line = new Queue<byte>();
        public readonly List<byte> Received = new List<byte>();
        public byte[] LineCoding = { 0, 0, 0, 0, 0, 0, 0 };
        public int LineCodingSets;
        public ushort ControlLineState;
        public int ControlLineStateSets;

        public SimAcmDevice() : this(Stm32VcpConfiguration) { }

        /// <summary>The same device with another configuration descriptor (the endpoints keep their addresses: 0x82 notification, 0x81/0x01 bulk).</summary>
        public SimAcmDevice(byte[] configuration)
            : base("STM32 Virtual ComPort", UsbSpeed.Full,
                   Desc.Device(0x0483, 0x5740, cls: UsbClass.Communications, sub: 0x02, maxPacket0: 64, bcdDevice: 0x0200),
                   configuration)
        {
            Strings[1] = "STMicroelectronics";
        }

        protected override SimResult Class(SetupPacket setup, byte[] data)
        {
            switch (setup.bRequest)
            {
                case CdcAcm.RequestSetLineCoding:
                    Array.Copy(data, LineCoding, CdcAcm.LineCodingLength);
                    LineCodingSets++;
                    return SimResult.Ok(CdcAcm.LineCodingLength);
                case CdcAcm.RequestGetLineCoding:
                    Array.Copy(LineCoding, data, CdcAcm.LineCodingLength);
                    return SimResult.Ok(CdcAcm.LineCodingLength);
                case CdcAcm.RequestSetControlLineState:
                    ControlLineState = setup.wValue;
                    ControlLineStateSets++;
                    return SimResult.Ok(0);
                default:
                    return SimResult.Stall;
            }
        }

        /// <summary>Queues a SERIAL_STATE notification (PSTN 1.2 6.5.4) on the interrupt endpoint.</summary>
        public void NotifySerialState(ushort state) =>
            Endpoint(Notify).InData.Enqueue(new byte[] { 0xA1, CdcAcm.NotificationSerialState, 0, 0, 0, 0, 2, 0, (byte)state, (byte)(state >> 8) });

        public override SimResult HandleData(byte address, bool isIn, byte[] buffer, int length)
        {
            if (address == BulkOut && !isIn)
            {
                lock (Received) for (int i = 0; i < length; i++) Received.Add(buffer[i]);
                return SimResult.Ok(length);
            }
            if (address == BulkIn && isIn)
            {
                lock (Line)
                {
                    if (Line.Count == 0) return SimResult.Nak;
                    int n = 0;
                    while (n < Math.Min(length, 64) && Line.Count > 0) buffer[n++] = Line.Dequeue();
                    return SimResult.Ok(n);
                }
            }
            return base.HandleData(address, isIn, buffer, length);
        }
    }
}
