using System;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Serial
{
    /// <summary>
    /// CDC Abstract Control Model (USB CDC 1.2 and its PSTN subclass 1.2): a communication interface
    /// (class 2, subclass 2) with an interrupt IN notification endpoint and class-specific functional
    /// descriptors, and a data interface (class 0x0A) with the bulk endpoints. Names after the spec.
    /// </summary>
    public static class CdcAcm
    {
        public const byte SubclassAcm = 0x02;

        // Class-specific descriptors (CDC 1.2 table 12/13): CS_INTERFACE, subtypes.
        public const byte CsInterface = 0x24;
        public const byte SubtypeHeader = 0x00, SubtypeCallManagement = 0x01, SubtypeAcm = 0x02, SubtypeUnion = 0x06;
        const int UnionControlInterfaceOffset = 3, UnionFirstSubordinateOffset = 4, UnionMinimumLength = 5;

        // Requests (PSTN 1.2 table 13), bmRequestType class/interface.
        public const byte RequestSetLineCoding = 0x20, RequestGetLineCoding = 0x21, RequestSetControlLineState = 0x22, RequestSendBreak = 0x23;
        public const byte RequestTypeOut = RequestType.TypeClass | RequestType.RecipientInterface | RequestType.DirectionOut;
        public const byte RequestTypeIn = RequestType.TypeClass | RequestType.RecipientInterface | RequestType.DirectionIn;

        /// <summary>Line coding structure (PSTN 1.2 table 17): dwDTERate, bCharFormat, bParityType, bDataBits.</summary>
        public const int LineCodingLength = 7;

        // SET_CONTROL_LINE_STATE wValue (PSTN 1.2 table 18).
        public const ushort ControlDtr = 0x0001, ControlRts = 0x0002;

        // Notifications (PSTN 1.2 table 30 / CDC 1.2 6.3): an 8-byte header like a SETUP packet, then data.
        public const int NotificationHeaderLength = 8;
        public const byte NotificationNetworkConnection = 0x00, NotificationResponseAvailable = 0x01, NotificationSerialState = 0x20;
        const int NotificationCodeOffset = 1, NotificationLengthOffset = 6;
        public const int SerialStateLength = 2;
        // SERIAL_STATE bitmap (PSTN 1.2 table 31).
        public const ushort StateRxCarrier = 0x01, StateTxCarrier = 0x02, StateBreak = 0x04, StateRingSignal = 0x08;
        public const ushort StateFraming = 0x10, StateParity = 0x20, StateOverRun = 0x40;

        /// <summary>Writes the 7-byte line coding for <paramref name="s"/>.</summary>
        public static void EncodeLineCoding(SerialLineSettings s, Span<byte> coding)
        {
            coding[0] = (byte)s.Baud;
            coding[1] = (byte)(s.Baud >> 8);
            coding[2] = (byte)(s.Baud >> 16);
            coding[3] = (byte)(s.Baud >> 24);
            coding[4] = (byte)s.StopBits;
            coding[5] = (byte)s.Parity;
            coding[6] = s.DataBits;
        }

        public static SerialLineSettings DecodeLineCoding(ReadOnlySpan<byte> coding) => new SerialLineSettings
        {
            Baud = (uint)(coding[0] | coding[1] << 8 | coding[2] << 16 | coding[3] << 24),
            StopBits = (SerialStopBits)coding[4],
            Parity = (SerialParity)coding[5],
            DataBits = coding[6],
        };

        /// <summary>
        /// The data interface named by the Union functional descriptor (bSubordinateInterface0) in the
        /// communication interface's class-specific descriptors; -1 without one.
        /// </summary>
        public static int UnionDataInterface(byte[] extra)
        {
            int offset = 0;
            while (offset + 2 < extra.Length)
            {
                int length = extra[offset];
                if (length < 2 || offset + length > extra.Length) return -1;
                if (extra[offset + 1] == CsInterface && extra[offset + 2] == SubtypeUnion && length >= UnionMinimumLength)
                    return extra[offset + UnionFirstSubordinateOffset];
                offset += length;
            }
            return -1;
        }

        /// <summary>Decodes a SERIAL_STATE notification into its bitmap; false for other or truncated notifications.</summary>
        public static bool TrySerialState(ReadOnlySpan<byte> notification, out ushort state)
        {
            state = 0;
            if (notification.Length < NotificationHeaderLength + SerialStateLength) return false;
            if (notification[NotificationCodeOffset] != NotificationSerialState) return false;
            int length = notification[NotificationLengthOffset] | notification[NotificationLengthOffset + 1] << 8;
            if (length < SerialStateLength) return false;
            state = (ushort)(notification[NotificationHeaderLength] | notification[NotificationHeaderLength + 1] << 8);
            return true;
        }

        /// <summary><see cref="SerialModemLines"/> from a SERIAL_STATE bitmap (Linux acm_process_notification).</summary>
        public static int ModemLines(ushort state) =>
            ((state & StateRxCarrier) != 0 ? SerialModemLines.Dcd : 0) |
            ((state & StateTxCarrier) != 0 ? SerialModemLines.Dsr : 0) |
            ((state & StateRingSignal) != 0 ? SerialModemLines.Ring : 0);
    }

    /// <summary>A CDC-ACM port (Linux cdc-acm): class requests for line coding and control lines, SERIAL_STATE notifications.</summary>
    public sealed class CdcAcmPort : UsbSerialPort
    {
        public readonly UsbInterface DataInterface;
        public readonly UsbEndpoint Notification;
        public int NotificationsReceived;
        /// <summary>Last SERIAL_STATE bitmap.</summary>
        public ushort SerialState;
        UsbRequest _notify;
        volatile bool _stopping;

        public CdcAcmPort(UsbInterface control, UsbInterface data, UsbEndpoint notification, UsbEndpoint bulkIn, UsbEndpoint bulkOut)
            : base(control, bulkIn, bulkOut)
        {
            DataInterface = data;
            Notification = notification;
        }

        public override string DriverName => CdcAcmDriver.DriverName;
        public override string Kind => "ACM";
        public override string NamePrefix => "ttyACM";

        protected override UsbStatus ApplySettings(SerialLineSettings settings)
        {
            if (settings.Baud == 0 || settings.DataBits < 5 || settings.DataBits > 8) return UsbStatus.InvalidArgument;
            var coding = new byte[CdcAcm.LineCodingLength];
            CdcAcm.EncodeLineCoding(settings, new Span<byte>(coding));
            return UsbMessages.Control(Device, CdcAcm.RequestTypeOut, CdcAcm.RequestSetLineCoding, 0, Interface.Number,
                                       new Span<byte>(coding), UsbMessages.ControlTimeoutMs, out int _);
        }

        protected override UsbStatus ApplyControlLines(bool dtr, bool rts)
        {
            ushort value = (ushort)((dtr ? CdcAcm.ControlDtr : 0) | (rts ? CdcAcm.ControlRts : 0));
            return UsbMessages.Control(Device, CdcAcm.RequestTypeOut, CdcAcm.RequestSetControlLineState, value, Interface.Number,
                                       UsbMessages.NoData, UsbMessages.ControlTimeoutMs, out int _);
        }

        protected override UsbStatus StartExtra()
        {
            if (Notification == null) return UsbStatus.Ok;
            var r = new UsbRequest();
            r.Device = Device;
            r.Endpoint = Notification;
            int length = Notification.MaxPacketSize < CdcAcm.NotificationHeaderLength + CdcAcm.SerialStateLength
                ? CdcAcm.NotificationHeaderLength + CdcAcm.SerialStateLength : Notification.MaxPacketSize;
            r.Buffer = Device.Bus.Dma.Allocate((uint)length, UsbBus.DmaAlignment, DmaLimit.Below4G);
            if (r.Buffer.IsNull) return UsbStatus.NoMemory;
            r.Length = length;
            r.Context = this;
            r.Completion = NotificationComplete;
            _notify = r;
            return Device.Bus.Submit(r);
        }

        static void NotificationComplete(UsbRequest request)
        {
            var port = (CdcAcmPort)request.Context;
            UsbStatus status = request.Status;
            if (status == UsbStatus.Cancelled || status == UsbStatus.Killed || status == UsbStatus.NoDevice || status == UsbStatus.Shutdown)
                return;
            if (status == UsbStatus.Ok)
            {
                port.NotificationsReceived++;
                if (CdcAcm.TrySerialState(request.Buffer.AsSpan().Slice(0, request.ActualLength), out ushort state))
                {
                    port.SerialState = state;
                    port.ModemLines = CdcAcm.ModemLines(state);
                    if ((state & CdcAcm.StateBreak) != 0) port.Breaks++;
                    if ((state & CdcAcm.StateFraming) != 0) port.FramingErrors++;
                    if ((state & CdcAcm.StateParity) != 0) port.ParityErrors++;
                    if ((state & CdcAcm.StateOverRun) != 0) port.OverrunErrors++;
                }
                if (!port._stopping) request.Device.Bus.Submit(request);
            }
            else
                port.TransferErrors++;    // a failing notification endpoint is left alone: data still flows
        }

        protected override void StopExtra()
        {
            _stopping = true;
            KillAndFree(ref _notify);
        }
    }

    /// <summary>
    /// The "cdc_acm" interface driver: binds a CDC-ACM communication interface, finds its data
    /// interface through the Union functional descriptor (or takes the next interface, as Linux
    /// does for devices without one) and claims it too; one port, named ttyACM&lt;n&gt;.
    /// </summary>
    public sealed class CdcAcmDriver : UsbInterfaceDriver
    {
        public const string DriverName = "cdc_acm";
        static readonly UsbDeviceId[] s_ids = new UsbDeviceId[]
        {
            new UsbDeviceId { MatchFlags = UsbMatch.InterfaceClass | UsbMatch.InterfaceSubClass, bInterfaceClass = UsbClass.Communications, bInterfaceSubClass = CdcAcm.SubclassAcm },
            // The data interface: accepted only when it belongs to a port this driver already runs (Linux usb_driver_claim_interface).
            UsbDeviceId.InterfaceClass(UsbClass.CdcData),
        };

        readonly SerialPortRegistry _ports;

        public CdcAcmDriver(SerialPortRegistry ports)
        {
            _ports = ports;
        }

        public override string Name => DriverName;
        public override UsbDeviceId[] IdTable => s_ids;

        public override UsbStatus Probe(UsbInterface intf, UsbDeviceId id)
        {
            UsbAltSetting alt = intf.Current;
            if (alt.Descriptor.bInterfaceClass == UsbClass.CdcData)
                return OwnsDataInterface(intf) ? UsbStatus.Ok : UsbStatus.NoMatch;

            UsbEndpoint notification = null;
            for (int i = 0; i < alt.Endpoints.Length; i++)
                if (alt.Endpoints[i].Type == TransferType.Interrupt && alt.Endpoints[i].IsIn)
                    notification = alt.Endpoints[i];
            int dataNumber = CdcAcm.UnionDataInterface(alt.Extra);
            if (dataNumber < 0) dataNumber = intf.Number + 1;
            UsbInterface data = intf.Configuration.FindInterface(dataNumber);
            if (data == null || data.Current == null)
            {
                Log.Warning(DriverName + " " + intf.Name + ": no data interface " + Format.Decimal((ulong)dataNumber));
                return UsbStatus.NoMatch;
            }
            UsbSerialPort.FindBulk(data.Current, out UsbEndpoint bulkIn, out UsbEndpoint bulkOut);
            if (bulkIn == null || bulkOut == null)
            {
                Log.Warning(DriverName + " " + intf.Name + ": data interface has no bulk IN and OUT endpoints");
                return UsbStatus.NoMatch;
            }
            var port = new CdcAcmPort(intf, data, notification, bulkIn, bulkOut);
            UsbStatus status = port.Start();
            if (status != UsbStatus.Ok)
            {
                port.Stop();
                Log.Error(DriverName + " " + intf.Name + ": can't open the port: " + UsbStatusNames.Name(status));
                return status;
            }
            intf.DriverData = port;
            _ports.Add(port);
            Log.Info(DriverName + " " + intf.Name + ": " + port.Name + ": USB ACM device");
            return UsbStatus.Ok;
        }

        bool OwnsDataInterface(UsbInterface data)
        {
            UsbSerialPort[] ports = _ports.Ports;
            for (int i = 0; i < ports.Length; i++)
                if (ports[i] is CdcAcmPort acm && acm.DataInterface == data) return true;
            return false;
        }

        public override void Disconnect(UsbInterface intf)
        {
            var port = intf.DriverData as CdcAcmPort;
            if (port == null) return;    // the claimed data interface: the port goes with its control interface
            intf.DriverData = null;
            _ports.Remove(port);
            port.Stop();
            Log.Info(DriverName + " " + intf.Name + ": " + port.Name + ": disconnected");
        }
    }
}
