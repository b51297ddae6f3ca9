using System.Threading;
using Drivers.Usb.Descriptors;
using global::Net;
using Platform;

namespace Drivers.Usb.Net
{
    /// <summary>
    /// CDC constants for the Ethernet Control Model, from "USB Class Definitions for Communications
    /// Devices" 1.2 (CDC) and its ECM subclass specification 1.2 (ECM). Section numbers refer to them.
    /// </summary>
    public static class CdcEcmConstants
    {
        /// <summary>Communications interface subclass ECM (CDC table 4), protocol none.</summary>
        public const byte SubclassEthernet = 0x06;
        public const byte ProtocolNone = 0x00;
        /// <summary>Class-specific interface descriptor type (CDC table 12) and subtypes (CDC table 13).</summary>
        public const byte CsInterface = 0x24;
        public const byte SubtypeHeader = 0x00, SubtypeUnion = 0x06, SubtypeEthernet = 0x0F;
        /// <summary>Union: bControlInterface at 3, bSubordinateInterface0 at 4 (CDC 5.2.3.2).</summary>
        public const int UnionSubordinateOffset = 4, UnionMinLength = 5;
        /// <summary>Ethernet Networking Functional Descriptor (ECM 5.4): iMACAddress at 3, wMaxSegmentSize at 8.</summary>
        public const int EthernetMacStringOffset = 3, EthernetMaxSegmentOffset = 8, EthernetLength = 13;
        /// <summary>SET_ETHERNET_PACKET_FILTER (ECM 6.2.4) and its bits.</summary>
        public const byte RequestSetEthernetPacketFilter = 0x43;
        public const ushort PacketTypeDirected = 1 << 2, PacketTypeBroadcast = 1 << 3;
        /// <summary>Notifications on the interrupt endpoint (ECM 6.3): 8-byte header, code at 1, wValue at 2.</summary>
        public const byte NotificationNetworkConnection = 0x00, NotificationSpeedChange = 0x2A;
        public const int NotificationHeaderLength = 8;
        /// <summary>The MAC string is 12 hex digits (ECM 5.4, iMACAddress).</summary>
        public const int MacStringLength = 12;
    }

    /// <summary>
    /// The "cdc_ether" interface driver (Linux drivers/net/usb/cdc_ether.c): binds the ECM
    /// communications interface, finds its data interface through the Union descriptor, reads the
    /// MAC from the iMACAddress string, activates the data interface's bulk alternate setting and
    /// adds a network interface ("usb0", ...) behind the same <see cref="INetDevice"/> abstraction
    /// as the e1000. Frames travel one per bulk transfer (ECM 3.3.1), a short or zero-length packet
    /// ending each.
    /// </summary>
    public sealed class CdcEcmDriver : UsbInterfaceDriver
    {
        public const string DriverName = "cdc_ether";
        static readonly UsbDeviceId[] s_ids =
        {
            UsbDeviceId.InterfaceInfo(UsbClass.Communications, CdcEcmConstants.SubclassEthernet, CdcEcmConstants.ProtocolNone),
        };

        readonly NetStack _stack;
        readonly System.Action<NetInterface> _attach;

        /// <param name="attach">Adds the new interface to the stack (the kernel decides DHCP and fallback).</param>
        public CdcEcmDriver(NetStack stack, System.Action<NetInterface> attach)
        {
            _stack = stack;
            _attach = attach;
        }

        public override string Name => DriverName;
        public override UsbDeviceId[] IdTable => s_ids;

        public static CdcEcmDriver Register(UsbStack usb, NetStack stack, System.Action<NetInterface> attach)
        {
            var driver = new CdcEcmDriver(stack, attach);
            usb.RegisterDriver(driver);
            return driver;
        }

        public override UsbStatus Probe(UsbInterface intf, UsbDeviceId id)
        {
            byte[] extra = intf.Current.Extra;
            int dataNumber = -1, macIndex = -1, maxSegment = Ethernet.MaxFrameLength;
            // Walk the class-specific descriptors: every length checked against the buffer.
            for (int i = 0; i + 2 < extra.Length;)
            {
                int length = extra[i];
                if (length < 3 || i + length > extra.Length) break;
                if (extra[i + 1] == CdcEcmConstants.CsInterface)
                {
                    byte subtype = extra[i + 2];
                    if (subtype == CdcEcmConstants.SubtypeUnion && length >= CdcEcmConstants.UnionMinLength)
                        dataNumber = extra[i + CdcEcmConstants.UnionSubordinateOffset];
                    else if (subtype == CdcEcmConstants.SubtypeEthernet && length >= CdcEcmConstants.EthernetLength)
                    {
                        macIndex = extra[i + CdcEcmConstants.EthernetMacStringOffset];
                        maxSegment = extra[i + CdcEcmConstants.EthernetMaxSegmentOffset] | extra[i + CdcEcmConstants.EthernetMaxSegmentOffset + 1] << 8;
                    }
                }
                i += length;
            }
            if (dataNumber < 0 || macIndex <= 0)
            {
                Log.Warning(DriverName + " " + intf.Name + ": no Union or Ethernet functional descriptor");
                return UsbStatus.NoMatch;
            }
            UsbInterface data = intf.Configuration.FindInterface(dataNumber);
            if (data == null || data == intf)
            {
                Log.Warning(DriverName + " " + intf.Name + ": data interface " + Format.Decimal((ulong)dataNumber) + " missing");
                return UsbStatus.NoMatch;
            }
            // ECM 3.3: the data interface's alternate setting with two bulk endpoints carries traffic.
            UsbAltSetting active = null;
            UsbEndpoint bulkIn = null, bulkOut = null;
            for (int a = 0; a < data.AltSettings.Length && active == null; a++)
            {
                UsbEndpoint inEp = null, outEp = null;
                UsbAltSetting alt = data.AltSettings[a];
                for (int e = 0; e < alt.Endpoints.Length; e++)
                {
                    UsbEndpoint ep = alt.Endpoints[e];
                    if (ep.Type != TransferType.Bulk) continue;
                    if (ep.IsIn && inEp == null) inEp = ep;
                    if (!ep.IsIn && outEp == null) outEp = ep;
                }
                if (inEp != null && outEp != null)
                {
                    active = alt;
                    bulkIn = inEp;
                    bulkOut = outEp;
                }
            }
            if (active == null)
            {
                Log.Warning(DriverName + " " + intf.Name + ": data interface has no bulk IN/OUT setting");
                return UsbStatus.NoMatch;
            }
            UsbDevice device = intf.Device;
            UsbStatus status = UsbMessages.GetString(device, (byte)macIndex, device.LanguageId != 0 ? device.LanguageId : LanguageId.EnglishUs, out string macText);
            if (status != UsbStatus.Ok)
                return status;
            if (!ParseMac(macText, out MacAddress mac))
            {
                Log.Warning(DriverName + " " + intf.Name + ": bad MAC address string");
                return UsbStatus.NoMatch;
            }
            UsbStack usb = device.Bus.Stack;
            // The function is both interfaces: the data interface is ours too (Linux usbnet_generic_cdc_bind).
            status = usb.ClaimInterface(this, data, null);
            if (status != UsbStatus.Ok)
            {
                Log.Warning(DriverName + " " + intf.Name + ": data interface " + Format.Decimal((ulong)dataNumber) + " is taken: " + UsbStatusNames.Name(status));
                return status;
            }
            // ECM 3.3: selecting the data interface's zero-bandwidth setting first resets the function's filters.
            status = usb.SetInterface(data, 0);
            if (status == UsbStatus.Ok)
                status = usb.SetInterface(data, active.Descriptor.bAlternateSetting);
            if (status != UsbStatus.Ok)
            {
                Log.Warning(DriverName + " " + intf.Name + ": cannot activate the data interface: " + UsbStatusNames.Name(status));
                usb.ReleaseInterface(this, data);
                return status;
            }
            // Some functions STALL the filter request (optional, ECM 6.2.4): not fatal.
            UsbMessages.Control(device, RequestType.DirectionOut | RequestType.TypeClass | RequestType.RecipientInterface,
                                CdcEcmConstants.RequestSetEthernetPacketFilter,
                                CdcEcmConstants.PacketTypeDirected | CdcEcmConstants.PacketTypeBroadcast, intf.Number,
                                UsbMessages.NoData, UsbMessages.ControlTimeoutMs, out _);
            UsbEndpoint notify = null;
            for (int e = 0; e < intf.Current.Endpoints.Length; e++)
                if (intf.Current.Endpoints[e].Type == TransferType.Interrupt && intf.Current.Endpoints[e].IsIn)
                    notify = intf.Current.Endpoints[e];

            var nic = new CdcEcmDevice(device, bulkIn, bulkOut, notify, mac, maxSegment) { Control = intf, Data = data };
            status = nic.Start();
            if (status != UsbStatus.Ok)
            {
                nic.Stop();
                usb.ReleaseInterface(this, data);
                return status;
            }
            int mtu = maxSegment - Ethernet.HeaderLength;
            if (mtu > NetInterface.DefaultMtu || mtu < 576) mtu = NetInterface.DefaultMtu;
            var iface = new NetInterface(_stack.AllocateName("usb"), mac, mtu, nic);
            nic.Interface = iface;
            intf.DriverData = nic;
            data.DriverData = nic;
            Log.Info(DriverName + " " + intf.Name + ": register '" + DriverName + "' at usb-" + device.BusDevicePath + ", CDC Ethernet Device, " + mac.ToString() +
                     " (" + iface.Name + ")");
            _attach(iface);
            return UsbStatus.Ok;
        }

        /// <summary>Either interface going takes the whole function down and gives the other one back (Linux usbnet_disconnect, usbnet_cdc_unbind).</summary>
        public override void Disconnect(UsbInterface intf)
        {
            var nic = intf.DriverData as CdcEcmDevice;
            intf.DriverData = null;
            if (nic == null) return;
            UsbInterface other = intf == nic.Control ? nic.Data : nic.Control;
            if (other != null && other.DriverData == nic)
                other.Device.Bus.Stack.ReleaseInterface(this, other);
            if (nic.Interface != null) _stack.RemoveInterface(nic.Interface);
            nic.Stop();
            Log.Info(DriverName + " " + nic.Control.Name + ": unregister '" + DriverName + "'" + (nic.Interface != null ? " (" + nic.Interface.Name + ")" : ""));
        }

        /// <summary>"525400123456" → 52:54:00:12:34:56; false unless exactly 12 hex digits.</summary>
        public static bool ParseMac(string text, out MacAddress mac)
        {
            mac = MacAddress.Zero;
            if (text == null || text.Length != CdcEcmConstants.MacStringLength) return false;
            ulong v = 0;
            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                if (d < 0) return false;
                v = (v << 4) | (uint)d;
            }
            mac = new MacAddress(v);
            return !mac.IsMulticast && mac != MacAddress.Zero;
        }
    }

    /// <summary>
    /// One ECM function's data path. Receive: <see cref="RxRequests"/> bulk IN requests stay queued;
    /// each completion (interrupt context: no locks, no allocation) copies its frame into a
    /// single-producer/single-consumer ring, resubmits and wakes the stack, whose thread takes the
    /// frames in <see cref="PollReceive"/>. Transmit: a pool of bulk OUT requests, one frame each.
    /// </summary>
    public sealed class CdcEcmDevice : INetDevice
    {
        public const int RxRequests = 8, TxRequests = 16, RxRing = 128;
        /// <summary>Transfer buffer: a whole frame, rounded to 2 KiB (a multiple of every bulk packet size).</summary>
        const int BufferSize = 2048;
        const int NotificationBufferSize = 16;
        /// <summary>Consecutive receive errors after which the stream is given up (a function that keeps failing).</summary>
        const int MaxConsecutiveErrors = 16;

        readonly UsbDevice _device;
        readonly UsbEndpoint _in, _out, _notify;
        readonly int _maxFrame;
        public readonly MacAddress Mac;
        public NetInterface Interface;
        /// <summary>The communication interface the driver probed and the data interface it claimed.</summary>
        public UsbInterface Control, Data;
        readonly UsbRequest[] _rx = new UsbRequest[RxRequests];
        readonly UsbRequest[] _tx = new UsbRequest[TxRequests];
        readonly bool[] _txBusy = new bool[TxRequests];
        UsbRequest _notification;
        // Receive ring: the completion writes slot _ringTail, the net thread reads slot _ringHead.
        readonly byte[][] _ring = new byte[RxRing][];
        readonly int[] _ringLength = new int[RxRing];
        int _ringHead, _ringTail;
        bool _gone;
        bool _link = true;
        int _consecutiveErrors;
        public ulong RxOverflows, RxBadLength, RxErrors, TxErrors, Notifications;
        ulong _droppedReported, _errorsReported;

        public CdcEcmDevice(UsbDevice device, UsbEndpoint bulkIn, UsbEndpoint bulkOut, UsbEndpoint notify, MacAddress mac, int maxFrame)
        {
            _device = device;
            _in = bulkIn;
            _out = bulkOut;
            _notify = notify;
            Mac = mac;
            _maxFrame = maxFrame > BufferSize ? BufferSize : maxFrame;
            for (int i = 0; i < RxRing; i++) _ring[i] = new byte[BufferSize];
        }

        public bool LinkUp => _link && !_gone && !_device.IsGone;

        UsbRequest NewRequest(UsbEndpoint ep, int size, UsbCompletion completion)
        {
            DmaBuffer b = _device.Bus.Dma.Allocate((uint)size, UsbBus.DmaAlignment, DmaLimit.Below4G);
            if (b.IsNull) return null;
            return new UsbRequest { Device = _device, Endpoint = ep, Buffer = b, Length = size, Completion = completion, Context = this };
        }

        /// <summary>Allocates the requests and queues the receive and notification ones.</summary>
        public UsbStatus Start()
        {
            for (int i = 0; i < RxRequests; i++)
                if ((_rx[i] = NewRequest(_in, BufferSize, ReceiveDone)) == null) return UsbStatus.NoMemory;
            for (int i = 0; i < TxRequests; i++)
                if ((_tx[i] = NewRequest(_out, BufferSize, TransmitDone)) == null) return UsbStatus.NoMemory;
            if (_notify != null && (_notification = NewRequest(_notify, NotificationBufferSize, NotificationDone)) == null) return UsbStatus.NoMemory;
            for (int i = 0; i < RxRequests; i++)
            {
                UsbStatus s = _device.Bus.Submit(_rx[i]);
                if (s != UsbStatus.Ok) return s;
            }
            if (_notification != null) _device.Bus.Submit(_notification);
            return UsbStatus.Ok;
        }

        /// <summary>Stops the data path (thread context): requests killed, buffers freed once their requests are dead.</summary>
        public void Stop()
        {
            _gone = true;
            Kill(_rx);
            Kill(_tx);
            if (_notification != null) Kill(new[] { _notification });
        }

        void Kill(UsbRequest[] requests)
        {
            for (int i = 0; i < requests.Length; i++)
            {
                UsbRequest r = requests[i];
                if (r == null) continue;
                // A request the controller would not give back keeps its buffer (it may still DMA into it).
                if (_device.Bus.Kill(r) == UsbStatus.Ok && !r.Buffer.IsNull)
                    _device.Bus.Dma.Free(r.Buffer);
                requests[i] = null;
            }
        }

        static void ReceiveDone(UsbRequest r)
        {
            var d = (CdcEcmDevice)r.Context;
            if (r.Status == UsbStatus.Ok)
            {
                d._consecutiveErrors = 0;
                int n = r.ActualLength;
                if (n < Ethernet.HeaderLength || n > d._maxFrame)
                    d.RxBadLength++;
                else
                {
                    int tail = Volatile.Read(ref d._ringTail);
                    int next = (tail + 1) % RxRing;
                    if (next == Volatile.Read(ref d._ringHead))
                        d.RxOverflows++;
                    else
                    {
                        r.Buffer.AsSpan().Slice(0, n).CopyTo(new System.Span<byte>(d._ring[tail], 0, n));
                        d._ringLength[tail] = n;
                        Volatile.Write(ref d._ringTail, next);
                    }
                }
            }
            else if (r.Status == UsbStatus.Cancelled || r.Status == UsbStatus.Killed || r.Status == UsbStatus.NoDevice || r.Status == UsbStatus.Shutdown)
                return; // the stream ends: unplug, unbind or stop
            else
            {
                d.RxErrors++;
                if (++d._consecutiveErrors > MaxConsecutiveErrors)
                {
                    Log.Error(CdcEcmDriver.DriverName + ": too many receive errors, stopping");
                    return;
                }
            }
            if (!d._gone) r.Device.Bus.Submit(r);
            NetInterface iface = d.Interface;
            if (iface != null) iface.RequestPoll();
        }

        static void TransmitDone(UsbRequest r)
        {
            var d = (CdcEcmDevice)r.Context;
            if (r.Status != UsbStatus.Ok) d.TxErrors++;
            for (int i = 0; i < TxRequests; i++)
                if (d._tx[i] == r) Volatile.Write(ref d._txBusy[i], false);
        }

        static void NotificationDone(UsbRequest r)
        {
            var d = (CdcEcmDevice)r.Context;
            if (r.Status != UsbStatus.Ok)
            {
                if (r.Status == UsbStatus.Cancelled || r.Status == UsbStatus.Killed || r.Status == UsbStatus.NoDevice || r.Status == UsbStatus.Shutdown)
                    return;
            }
            else if (r.ActualLength >= CdcEcmConstants.NotificationHeaderLength)
            {
                System.Span<byte> b = r.Buffer.AsSpan();
                d.Notifications++;
                if (b[1] == CdcEcmConstants.NotificationNetworkConnection)
                    d._link = (b[2] | b[3] << 8) != 0;
            }
            if (!d._gone) r.Device.Bus.Submit(r);
        }

        public bool Transmit(byte[] frame, int length)
        {
            if (_gone || length <= 0 || length > _maxFrame || length > frame.Length) return false;
            for (int i = 0; i < TxRequests; i++)
            {
                if (Volatile.Read(ref _txBusy[i])) continue;
                UsbRequest r = _tx[i];
                if (r == null) return false;
                new System.ReadOnlySpan<byte>(frame, 0, length).CopyTo(r.Buffer.AsSpan());
                r.Length = length;
                // ECM 3.3.1: a frame that fills its last packet exactly is ended by a zero-length packet.
                r.Flags = length % _out.MaxPacketSize == 0 ? UsbRequestFlags.ZeroPacket : UsbRequestFlags.None;
                _txBusy[i] = true;
                if (_device.Bus.Submit(r) != UsbStatus.Ok)
                {
                    _txBusy[i] = false;
                    TxErrors++;
                    return false;
                }
                return true;
            }
            return false;
        }

        public int PollReceive(NetInterface iface, int budget)
        {
            int n = 0;
            while (n < budget)
            {
                int head = Volatile.Read(ref _ringHead);
                if (head == Volatile.Read(ref _ringTail)) break;
                iface.Input(_ring[head], _ringLength[head]);
                Volatile.Write(ref _ringHead, (head + 1) % RxRing);
                n++;
            }
            ulong dropped = RxOverflows;
            if (dropped != _droppedReported) { iface.Counters.RxDropped += dropped - _droppedReported; _droppedReported = dropped; }
            ulong errors = RxErrors + RxBadLength;
            if (errors != _errorsReported) { iface.Counters.RxErrors += errors - _errorsReported; _errorsReported = errors; }
            return n;
        }
    }
}
