using System;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Serial
{
    /// <summary>FTDI chip generations, told apart by bcdDevice (Linux ftdi_sio.c ftdi_determine_type).</summary>
    public enum FtdiChip { Sio, FT8U232AM, FT232BM, FT2232C, FT232RL, FT2232H, FT4232H, FT232H, FTX }

    /// <summary>
    /// The FTDI vendor protocol (FTDI application note AN232B-05 and Linux ftdi_sio.h/.c, whose
    /// names these are): vendor requests on endpoint 0 for reset, modem control, flow control,
    /// baud divisor, data format and latency; every bulk IN packet starts with two status bytes
    /// (modem status, line status) before its data; OUT data goes unframed (FT232 family).
    /// </summary>
    public static class Ftdi
    {
        public const ushort VendorId = 0x0403;
        public const ushort FT232Product = 0x6001, FT2232Product = 0x6010, FT4232Product = 0x6011, FT232HProduct = 0x6014, FTXProduct = 0x6015;

        // Requests (ftdi_sio.h FTDI_SIO_*_REQUEST), bmRequestType vendor/device.
        public const byte RequestReset = 0, RequestModemControl = 1, RequestSetFlowControl = 2, RequestSetBaudRate = 3, RequestSetData = 4;
        public const byte RequestGetModemStatus = 5, RequestSetLatencyTimer = 9, RequestGetLatencyTimer = 10;
        public const byte RequestTypeOut = RequestType.TypeVendor | RequestType.RecipientDevice | RequestType.DirectionOut;
        public const byte RequestTypeIn = RequestType.TypeVendor | RequestType.RecipientDevice | RequestType.DirectionIn;

        // RESET wValue.
        public const ushort ResetSio = 0, ResetPurgeRx = 1, ResetPurgeTx = 2;

        // MODEM_CTRL wValue: low byte the levels, high byte which of them to change.
        public const ushort ModemDtr = 0x0001, ModemRts = 0x0002, ModemDtrEnable = 0x0100, ModemRtsEnable = 0x0200;

        // SET_FLOW_CTRL wIndex high byte: 0 = no flow control.
        public const ushort FlowControlNone = 0;

        // SET_DATA wValue: bits 0-7 data bits, 8-10 parity, 11-12 stop bits, 14 break.
        public const int DataParityShift = 8, DataStopBitsShift = 11;
        public const ushort DataBreak = 1 << 14;

        /// <summary>Latency timer Linux programs (ms): how long the chip holds a partly filled IN packet.</summary>
        public const ushort DefaultLatencyMs = 16;

        // Bulk IN packet header (ftdi_sio.h "Modem Status" / "Line Status" bytes).
        public const int PacketHeaderLength = 2;
        public const byte ModemStatusCts = 0x10, ModemStatusDsr = 0x20, ModemStatusRi = 0x40, ModemStatusRlsd = 0x80;
        public const byte LineStatusDataReady = 0x01, LineStatusOverrun = 0x02, LineStatusParity = 0x04, LineStatusFraming = 0x08, LineStatusBreak = 0x10;
        public const byte LineStatusThre = 0x20, LineStatusTemt = 0x40, LineStatusFifoError = 0x80;

        // Baud clocks: the FT232 family divides 48 MHz / 16 (base 3 MBd); H chips 120 MHz / 10 (12 MBd).
        public const int ClockBM = 48000000, ClockH = 120000000;
        public const uint MaxBaudBM = 3000000, MaxBaudH = 12000000, MinBaudHFast = 1200;
        /// <summary>Bit 17 of an H chip divisor: clock divided by 10 instead of 16 (no divide-by-2.5 prescaler).</summary>
        public const uint DivisorHighSpeedClock = 0x00020000;
        /// <summary>Fraction code of eighths (divisor3 &amp; 7) in bits 14-16 (AN232B-05 section 2.3; Linux divfrac { 0, 3, 2, 4, 1, 5, 6, 7 }).</summary>
        static uint FractionCode(int eighths)
        {
            switch (eighths)
            {
                case 1: return 3;    // 0.125
                case 2: return 2;    // 0.25
                case 3: return 4;    // 0.375
                case 4: return 1;    // 0.5
                default: return (uint)eighths;    // 0, and 0.625..0.875 code as themselves
            }
        }

        /// <summary>Eighths of a fraction code (Linux divfrac_inv { 0, 4, 2, 1, 3, 5, 6, 7 }).</summary>
        static uint FractionEighths(uint code)
        {
            switch (code)
            {
                case 1: return 4;
                case 2: return 2;
                case 3: return 1;
                case 4: return 3;
                default: return code;
            }
        }
        const uint DivisorOne = 1, DivisorOneAndHalf = 0x4001, FractionShift = 14;
        /// <summary>SIO: fixed divisor codes 0..9 (ftdi_sio.h ftdi_sio_b300 .. ftdi_sio_b115200), -1 for other rates.</summary>
        static int SioCode(uint baud)
        {
            switch (baud)
            {
                case 300: return 0;
                case 600: return 1;
                case 1200: return 2;
                case 2400: return 3;
                case 4800: return 4;
                case 9600: return 5;
                case 19200: return 6;
                case 38400: return 7;
                case 57600: return 8;
                case 115200: return 9;
                default: return -1;
            }
        }

        /// <summary>The chip from bcdDevice (Linux ftdi_determine_type; FT232BM with bcdDevice 0x200 is taken for an AM).</summary>
        public static FtdiChip ChipFromVersion(ushort bcdDevice)
        {
            switch (bcdDevice)
            {
                case 0x200: return FtdiChip.FT8U232AM;
                case 0x400: return FtdiChip.FT232BM;
                case 0x500: return FtdiChip.FT2232C;
                case 0x600: return FtdiChip.FT232RL;
                case 0x700: return FtdiChip.FT2232H;
                case 0x800: return FtdiChip.FT4232H;
                case 0x900: return FtdiChip.FT232H;
                case 0x1000: return FtdiChip.FTX;
                default: return bcdDevice < 0x200 ? FtdiChip.Sio : FtdiChip.FT232BM;
            }
        }

        /// <summary>Linux 6.1's names (ftdi_chip_name).</summary>
        public static string ChipName(FtdiChip chip)
        {
            switch (chip)
            {
                case FtdiChip.Sio: return "SIO";
                case FtdiChip.FT8U232AM: return "FT8U232AM";
                case FtdiChip.FT232BM: return "FT232BM";
                case FtdiChip.FT2232C: return "FT2232C";
                case FtdiChip.FT232RL: return "FT232RL";
                case FtdiChip.FT2232H: return "FT2232H";
                case FtdiChip.FT4232H: return "FT4232H";
                case FtdiChip.FT232H: return "FT232H";
                default: return "FT-X";
            }
        }

        /// <summary>
        /// Channel (wIndex low byte) of an interface: 0 on single-port legacy chips, A=1, B=2, ... on
        /// multi-port and H/X chips (Linux priv->channel = CHANNEL_A + ifnum).
        /// </summary>
        public static ushort Channel(FtdiChip chip, int interfaceNumber)
        {
            if (chip == FtdiChip.Sio || chip == FtdiChip.FT8U232AM || chip == FtdiChip.FT232BM || chip == FtdiChip.FT232RL) return 0;
            return (ushort)(1 + interfaceNumber);
        }

        static int DivRoundClosest(long dividend, long divisor) => (int)((dividend + divisor / 2) / divisor);

        /// <summary>FT8U232AM: eighths rounded to the quarters the AM can do (Linux ftdi_232am_baud_base_to_divisor).</summary>
        public static uint Divisor232AM(uint baud)
        {
            int divisor3 = DivRoundClosest(ClockBM, 2L * baud);
            if ((divisor3 & 0x7) == 7) divisor3++;    // round x.7/8 up to x+1
            uint divisor = (uint)(divisor3 >> 3);
            divisor3 &= 0x7;
            if (divisor3 == 1) divisor |= 0xC000;           // +0.125
            else if (divisor3 >= 4) divisor |= 0x4000;      // +0.5
            else if (divisor3 != 0) divisor |= 0x8000;      // +0.25
            else if (divisor == 1) divisor = 0;              // maximum rate
            return divisor;
        }

        /// <summary>FT232BM and later: 14-bit integer part, eighths coded in bits 14-16 (Linux ftdi_232bm_baud_base_to_divisor).</summary>
        public static uint Divisor232BM(uint baud)
        {
            int divisor3 = DivRoundClosest(ClockBM, 2L * baud);
            uint divisor = (uint)(divisor3 >> 3) | (FractionCode(divisor3 & 0x7) << (int)FractionShift);
            if (divisor == DivisorOne) divisor = 0;                // 3 MBd
            else if (divisor == DivisorOneAndHalf) divisor = 1;    // 2 MBd
            return divisor;
        }

        /// <summary>H chips from 1200 baud: the 120 MHz clock with 10-bit sampling (Linux ftdi_2232h_baud_base_to_divisor).</summary>
        public static uint Divisor2232H(uint baud)
        {
            int divisor3 = DivRoundClosest(8L * ClockH, 10L * baud);
            uint divisor = (uint)(divisor3 >> 3) | (FractionCode(divisor3 & 0x7) << (int)FractionShift);
            if (divisor == DivisorOne) divisor = 0;
            else if (divisor == DivisorOneAndHalf) divisor = 1;
            return divisor | DivisorHighSpeedClock;
        }

        /// <summary>
        /// The divisor for <paramref name="baud"/> on <paramref name="chip"/> (Linux get_ftdi_divisor), or
        /// false when the chip can't do that rate.
        /// </summary>
        public static bool TryDivisor(FtdiChip chip, uint baud, out uint divisor)
        {
            divisor = 0;
            if (baud == 0) return false;
            switch (chip)
            {
                case FtdiChip.Sio:
                    int code = SioCode(baud);
                    if (code < 0) return false;
                    divisor = (uint)code;
                    return true;
                case FtdiChip.FT8U232AM:
                    if (baud > MaxBaudBM) return false;
                    divisor = Divisor232AM(baud);
                    return true;
                case FtdiChip.FT232BM:
                case FtdiChip.FT2232C:
                case FtdiChip.FT232RL:
                case FtdiChip.FTX:
                    if (baud > MaxBaudBM) return false;
                    divisor = Divisor232BM(baud);
                    return true;
                default:
                    if (baud > MaxBaudH) return false;
                    divisor = baud >= MinBaudHFast ? Divisor2232H(baud) : Divisor232BM(baud);
                    return true;
            }
        }

        /// <summary>
        /// SET_BAUD_RATE's wValue and wIndex (Linux change_speed): the divisor's low 16 bits, then its
        /// high bits, moved to the high byte when a channel number takes the low byte.
        /// </summary>
        public static void BaudRequest(uint divisor, ushort channel, out ushort value, out ushort index)
        {
            value = (ushort)divisor;
            index = (ushort)(divisor >> 16);
            if (channel != 0) index = (ushort)((index << 8) | channel);
        }

        /// <summary>The rate a divisor really gives on a BM-family chip (Linux ftdi_232bm_divisor_to_baud): shows rounding.</summary>
        public static uint BaudFromDivisor232BM(uint divisor)
        {
            if (divisor == 0) divisor = DivisorOne;
            else if (divisor == 1) divisor = DivisorOneAndHalf;
            uint divisor3 = ((divisor & 0x3FFF) << 3) | FractionEighths((divisor >> (int)FractionShift) & 0x7);
            return (uint)DivRoundClosest(ClockBM, 2L * divisor3);
        }

        /// <summary>SET_DATA's wValue for a character format, or false for one FTDI chips lack (5/6 data bits).</summary>
        public static bool TryDataValue(SerialLineSettings s, out ushort value)
        {
            value = 0;
            if (s.DataBits != 7 && s.DataBits != 8) return false;
            value = (ushort)(s.DataBits | ((int)s.Parity << DataParityShift) | ((int)s.StopBits << DataStopBitsShift));
            return true;
        }

        /// <summary><see cref="SerialModemLines"/> bits from a modem status byte.</summary>
        public static int ModemLines(byte modemStatus) =>
            ((modemStatus & ModemStatusCts) != 0 ? SerialModemLines.Cts : 0) |
            ((modemStatus & ModemStatusDsr) != 0 ? SerialModemLines.Dsr : 0) |
            ((modemStatus & ModemStatusRi) != 0 ? SerialModemLines.Ring : 0) |
            ((modemStatus & ModemStatusRlsd) != 0 ? SerialModemLines.Dcd : 0);
    }

    /// <summary>An FTDI port (Linux ftdi_sio port): status bytes stripped from every IN packet, vendor requests for settings.</summary>
    public sealed class FtdiSerialPort : UsbSerialPort
    {
        public readonly FtdiChip Chip;
        public readonly ushort Channel;
        /// <summary>Packets too short to hold the status bytes (Linux: "malformed packet").</summary>
        public int MalformedPackets;
        /// <summary>Last line status byte.</summary>
        public byte LineStatus;

        public FtdiSerialPort(UsbInterface intf, UsbEndpoint bulkIn, UsbEndpoint bulkOut, FtdiChip chip)
            : base(intf, bulkIn, bulkOut)
        {
            Chip = chip;
            Channel = Ftdi.Channel(chip, intf.Number);
        }

        public override string DriverName => FtdiSerialDriver.DriverName;
        public override string Kind => Ftdi.ChipName(Chip);
        public override string NamePrefix => "ttyUSB";

        UsbStatus Vendor(byte request, ushort value, ushort index) =>
            UsbMessages.Control(Device, Ftdi.RequestTypeOut, request, value, index, UsbMessages.NoData, UsbMessages.ControlTimeoutMs, out int _);

        protected override UsbStatus ApplySettings(SerialLineSettings settings)
        {
            if (!Ftdi.TryDivisor(Chip, settings.Baud, out uint divisor)) return UsbStatus.InvalidArgument;
            if (!Ftdi.TryDataValue(settings, out ushort data)) return UsbStatus.InvalidArgument;
            Ftdi.BaudRequest(divisor, Channel, out ushort value, out ushort index);
            UsbStatus status = Vendor(Ftdi.RequestSetBaudRate, value, index);
            if (status != UsbStatus.Ok) return status;
            status = Vendor(Ftdi.RequestSetData, data, Channel);
            if (status != UsbStatus.Ok) return status;
            return Vendor(Ftdi.RequestSetFlowControl, 0, (ushort)((Ftdi.FlowControlNone << 8) | Channel));
        }

        protected override UsbStatus ApplyControlLines(bool dtr, bool rts)
        {
            ushort value = (ushort)(Ftdi.ModemDtrEnable | Ftdi.ModemRtsEnable | (dtr ? Ftdi.ModemDtr : 0) | (rts ? Ftdi.ModemRts : 0));
            return Vendor(Ftdi.RequestModemControl, value, Channel);
        }

        /// <summary>Latency timer (SIO and AM have none), as Linux ftdi_sio_port_probe writes it.</summary>
        internal UsbStatus WriteLatencyTimer()
        {
            if (Chip == FtdiChip.Sio || Chip == FtdiChip.FT8U232AM) return UsbStatus.Ok;
            return Vendor(Ftdi.RequestSetLatencyTimer, Ftdi.DefaultLatencyMs, Channel);
        }

        /// <summary>
        /// A transfer holds one or more packets of wMaxPacketSize, each with its own two status bytes
        /// (Linux ftdi_process_read_urb / ftdi_process_packet).
        /// </summary>
        protected override void ProcessIn(ReadOnlySpan<byte> transfer)
        {
            int packetSize = BulkIn.MaxPacketSize;
            if (packetSize <= Ftdi.PacketHeaderLength) packetSize = transfer.Length;
            for (int offset = 0; offset < transfer.Length; offset += packetSize)
            {
                int length = transfer.Length - offset < packetSize ? transfer.Length - offset : packetSize;
                ProcessPacket(transfer.Slice(offset, length));
            }
        }

        void ProcessPacket(ReadOnlySpan<byte> packet)
        {
            if (packet.Length < Ftdi.PacketHeaderLength)
            {
                MalformedPackets++;
                return;
            }
            ModemLines = Ftdi.ModemLines(packet[0]);
            byte line = packet[1];
            LineStatus = line;
            if ((line & Ftdi.LineStatusBreak) != 0) Breaks++;
            if ((line & Ftdi.LineStatusParity) != 0) ParityErrors++;
            if ((line & Ftdi.LineStatusFraming) != 0) FramingErrors++;
            if ((line & Ftdi.LineStatusOverrun) != 0) OverrunErrors++;
            Deliver(packet.Slice(Ftdi.PacketHeaderLength));
        }
    }

    /// <summary>
    /// The "ftdi_sio" interface driver: FT232/FT2232/FT4232/FT232H/FT-X with FTDI's own ids; one
    /// port per interface, named ttyUSB&lt;n&gt;, opened at once (9600 8N1, DTR and RTS raised).
    /// </summary>
    public sealed class FtdiSerialDriver : UsbInterfaceDriver
    {
        public const string DriverName = "ftdi_sio";
        static readonly UsbDeviceId[] s_ids = new UsbDeviceId[]
        {
            UsbDeviceId.Device(Ftdi.VendorId, Ftdi.FT232Product),
            UsbDeviceId.Device(Ftdi.VendorId, Ftdi.FT2232Product),
            UsbDeviceId.Device(Ftdi.VendorId, Ftdi.FT4232Product),
            UsbDeviceId.Device(Ftdi.VendorId, Ftdi.FT232HProduct),
            UsbDeviceId.Device(Ftdi.VendorId, Ftdi.FTXProduct),
        };

        readonly SerialPortRegistry _ports;

        public FtdiSerialDriver(SerialPortRegistry ports)
        {
            _ports = ports;
        }

        public override string Name => DriverName;
        public override UsbDeviceId[] IdTable => s_ids;

        public override UsbStatus Probe(UsbInterface intf, UsbDeviceId id)
        {
            UsbSerialPort.FindBulk(intf.Current, out UsbEndpoint bulkIn, out UsbEndpoint bulkOut);
            if (bulkIn == null || bulkOut == null)
            {
                Log.Warning(DriverName + " " + intf.Name + ": no bulk IN and OUT endpoints");
                return UsbStatus.NoMatch;
            }
            UsbDevice device = intf.Device;
            Log.Info(DriverName + " " + intf.Name + ": FTDI USB Serial Device converter detected");
            FtdiChip chip = Ftdi.ChipFromVersion(device.Descriptor.bcdDevice);
            Log.Info("usb " + device.Name + ": Detected " + Ftdi.ChipName(chip));
            var port = new FtdiSerialPort(intf, bulkIn, bulkOut, chip);
            UsbStatus status = port.WriteLatencyTimer();
            if (status == UsbStatus.Ok) status = port.Start();
            if (status != UsbStatus.Ok)
            {
                port.Stop();
                Log.Error(DriverName + " " + intf.Name + ": can't open the port: " + UsbStatusNames.Name(status));
                return status;
            }
            intf.DriverData = port;
            _ports.Add(port);
            Log.Info("usb " + device.Name + ": FTDI USB Serial Device converter now attached to " + port.Name);
            return UsbStatus.Ok;
        }

        public override void Disconnect(UsbInterface intf)
        {
            var port = intf.DriverData as FtdiSerialPort;
            if (port == null) return;
            intf.DriverData = null;
            _ports.Remove(port);
            port.Stop();
            Log.Info(DriverName + " " + port.Name + ": FTDI USB Serial Device converter now disconnected from " + port.Name);
            Log.Info(DriverName + " " + intf.Name + ": device disconnected");
        }
    }
}
