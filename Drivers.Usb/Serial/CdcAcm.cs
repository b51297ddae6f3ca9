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
        /// <summary>Call Management functional descriptor (PSTN 1.2 table 3): bmCapabilities, bDataInterface.</summary>
        const int CallManagementDataInterfaceOffset = 4, CallManagementMinimumLength = 5;
        const int FunctionalTypeOffset = 1, FunctionalSubtypeOffset = 2, MinimumFunctionalLength = 3;

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
        public static int UnionDataInterface(byte[] extra) => FunctionalField(extra, SubtypeUnion, UnionMinimumLength, UnionFirstSubordinateOffset);

        /// <summary>The Union functional descriptor's bControlInterface (bMasterInterface0); -1 without one.</summary>
        public static int UnionControlInterface(byte[] extra) => FunctionalField(extra, SubtypeUnion, UnionMinimumLength, UnionControlInterfaceOffset);

        /// <summary>The Call Management functional descriptor's bDataInterface; -1 without one.</summary>
        public static int CallManagementDataInterface(byte[] extra) =>
            FunctionalField(extra, SubtypeCallManagement, CallManagementMinimumLength, CallManagementDataInterfaceOffset);

        /// <summary>
        /// One byte of the first CS_INTERFACE functional descriptor of <paramref name="subtype"/> in
        /// <paramref name="extra"/> that is at least <paramref name="minimumLength"/> long; -1 when
        /// there is none or the descriptors are malformed.
        /// </summary>
        static int FunctionalField(byte[] extra, byte subtype, int minimumLength, int fieldOffset)
        {
            if (extra == null) return -1;
            int offset = 0;
            while (offset + MinimumFunctionalLength <= extra.Length)
            {
                int length = extra[offset];
                if (length < 2 || offset + length > extra.Length) return -1;
                if (extra[offset + FunctionalTypeOffset] == CsInterface && length >= minimumLength && extra[offset + FunctionalSubtypeOffset] == subtype)
                    return extra[offset + fieldOffset];
                offset += length;
            }
            return -1;
        }

        /// <summary>Endpoints a communication interface without a Union descriptor needs to be a whole ACM function on its own (Linux acm_probe).</summary>
        public const int CombinedInterfaceEndpoints = 3;

        /// <summary>
        /// Finds the two interfaces of the ACM function that <paramref name="communication"/> (a
        /// class 2 subclass 2 interface) heads, as Linux's acm_probe does: the Union descriptor names
        /// the control and data interfaces (a union naming an interface of another class means one
        /// combined interface); without a union, an interface with three endpoints is the whole
        /// function, else the Call Management descriptor's bDataInterface is the data interface.
        /// The two may come in either order in the configuration, and a union that has them swapped
        /// (the data interface as control) is put right. False (and why) when no function can be made.
        /// </summary>
        public static bool FindFunction(UsbInterface communication, out UsbInterface control, out UsbInterface data, out string problem)
        {
            control = data = null;
            problem = null;
            UsbConfiguration configuration = communication.Configuration;
            byte[] extra = communication.Current.Extra;
            int unionControl = UnionControlInterface(extra), unionData = UnionDataInterface(extra);
            if (unionControl < 0 || unionData < 0)
            {
                if (communication.Current.Endpoints.Length == CombinedInterfaceEndpoints)
                {
                    control = data = communication;    // "No union descriptor, assuming single interface"
                    return true;
                }
                int callData = CallManagementDataInterface(extra);
                if (callData <= 0)
                {
                    problem = "no union descriptor and no call management data interface";
                    return false;
                }
                control = communication;
                data = configuration.FindInterface(callData);
            }
            else
            {
                control = configuration.FindInterface(unionControl);
                data = configuration.FindInterface(unionData);
                byte controlClass = control != null && control.Current != null ? control.Current.Descriptor.bInterfaceClass : (byte)0;
                if (controlClass != UsbClass.Communications && controlClass != UsbClass.CdcData)
                {
                    control = data = communication;    // "Broken union descriptor, assuming single interface"
                    return true;
                }
            }
            if (control == null || data == null || control.Current == null || data.Current == null)
            {
                problem = "no data interface";
                return false;
            }
            if (control == data)
                return true;
            if (data.Current.Descriptor.bInterfaceClass != UsbClass.CdcData)
            {
                if (control.Current.Descriptor.bInterfaceClass != UsbClass.CdcData)
                {
                    problem = "the union names no data interface";
                    return false;
                }
                UsbInterface swap = control;    // "Your device has switched interfaces"
                control = data;
                data = swap;
            }
            if (control != communication)
            {
                problem = "the union names another control interface";
                return false;
            }
            return true;
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
    /// The "cdc_acm" interface driver: probed for the communication interface of a CDC-ACM function
    /// (<see cref="CdcAcm.FindFunction"/>: union, or Linux's fallbacks without one), it claims the data
    /// interface (Linux usb_driver_claim_interface) and runs one port for the two, named ttyACM&lt;n&gt;.
    /// </summary>
    public sealed class CdcAcmDriver : UsbInterfaceDriver
    {
        public const string DriverName = "cdc_acm";
        static readonly UsbDeviceId[] s_ids = new UsbDeviceId[]
        {
            new UsbDeviceId { MatchFlags = UsbMatch.InterfaceClass | UsbMatch.InterfaceSubClass, bInterfaceClass = UsbClass.Communications, bInterfaceSubClass = CdcAcm.SubclassAcm },
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
            if (!CdcAcm.FindFunction(intf, out UsbInterface control, out UsbInterface data, out string problem))
            {
                Log.Warning(DriverName + " " + intf.Name + ": " + problem);
                return UsbStatus.NoMatch;
            }
            UsbEndpoint notification = null;
            UsbAltSetting controlAlt = control.Current;
            for (int i = 0; i < controlAlt.Endpoints.Length; i++)
                if (controlAlt.Endpoints[i].Type == TransferType.Interrupt && controlAlt.Endpoints[i].IsIn)
                    notification = controlAlt.Endpoints[i];
            UsbSerialPort.FindBulk(data.Current, out UsbEndpoint bulkIn, out UsbEndpoint bulkOut);
            if (bulkIn == null || bulkOut == null)
            {
                Log.Warning(DriverName + " " + intf.Name + ": data interface has no bulk IN and OUT endpoints");
                return UsbStatus.NoMatch;
            }
            var port = new CdcAcmPort(control, data, notification, bulkIn, bulkOut);
            UsbStack usb = intf.Device.Bus.Stack;
            // The function is both interfaces: the data interface is ours too (Linux acm_probe).
            if (data != control)
            {
                UsbStatus claimed = usb.ClaimInterface(this, data, port);
                if (claimed != UsbStatus.Ok)
                {
                    Log.Warning(DriverName + " " + intf.Name + ": data interface " + Format.Decimal(data.Number) + " is taken: " + UsbStatusNames.Name(claimed));
                    return claimed;
                }
            }
            UsbStatus status = port.Start();
            if (status != UsbStatus.Ok)
            {
                port.Stop();
                if (data != control)
                    usb.ReleaseInterface(this, data);
                Log.Error(DriverName + " " + control.Name + ": can't open the port: " + UsbStatusNames.Name(status));
                return status;
            }
            intf.DriverData = port;
            _ports.Add(port);
            Log.Info(DriverName + " " + control.Name + ": " + port.Name + ": USB ACM device");
            return UsbStatus.Ok;
        }

        /// <summary>Either interface going (unplug, unbind, configuration change) takes the whole port down and gives the other one back.</summary>
        public override void Disconnect(UsbInterface intf)
        {
            var port = intf.DriverData as CdcAcmPort;
            intf.DriverData = null;
            if (port == null) return;
            UsbInterface other = intf == port.Interface ? port.DataInterface : port.Interface;
            if (other != null && other != intf && other.DriverData == port)
                other.Device.Bus.Stack.ReleaseInterface(this, other);
            if (!_ports.Remove(port)) return;
            port.Stop();
            Log.Info(DriverName + " " + port.Interface.Name + ": " + port.Name + ": disconnected");
        }
    }
}
