using System;
using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hub;
using Platform;

namespace UsbIp
{
    /// <summary>Why a session ended (for logs and tests).</summary>
    public enum UsbIpSessionEnd
    {
        /// <summary>Still running.</summary>
        None,
        /// <summary>OP_REP_DEVLIST sent; a list connection ends there.</summary>
        ListSent,
        /// <summary>OP_REQ_IMPORT refused (no such device, or in use).</summary>
        ImportRefused,
        /// <summary>The client closed the connection (or it broke).</summary>
        PeerClosed,
        /// <summary>The client sent something the protocol does not allow; the connection was closed.</summary>
        ProtocolError,
        /// <summary>A packet or an operation did not arrive in time.</summary>
        Timeout,
        /// <summary>The exported device was unplugged, reset or unbound from usbip-host.</summary>
        DeviceGone,
        /// <summary>The server is stopping.</summary>
        Stopped,
    }

    /// <summary>
    /// One client connection of the USB/IP server: the state machine of Linux's usbipd (one
    /// operation: OP_REQ_DEVLIST or OP_REQ_IMPORT) followed, after a successful import, by the
    /// URB phase of Linux's stub (stub_rx.c receives CMD_SUBMIT / CMD_UNLINK and submits requests
    /// to the USB core; stub_tx.c sends RET_SUBMIT / RET_UNLINK as they complete).
    ///
    /// Threads: <see cref="Run"/> is the receive side (the connection's thread); in the URB phase a
    /// transmit thread ("usbip_tx") sends the replies that completions queue (completions may run
    /// in interrupt context, so they only queue and signal). Bounds: every length field is checked
    /// before anything is allocated (<see cref="MaxTransferLength"/>, <see cref="UsbIpProtocol.MaxIsoPackets"/>);
    /// requests in flight plus replies not yet sent are limited in number and bytes, and the
    /// receive side stops reading while the client does not take its replies; every wait is bounded.
    /// </summary>
    public sealed class UsbIpSession
    {
        /// <summary>A client sends its operation right after connecting (usbip list/attach).</summary>
        public const uint OperationTimeoutMs = 10000;
        /// <summary>Once a packet has started, the rest of it must arrive within this time.</summary>
        public const uint PacketTimeoutMs = 10000;
        /// <summary>How long one wait lasts while idle, between checks for the end of the session.</summary>
        public const uint IdleSliceMs = 500;
        /// <summary>A client that takes no data for this long is considered gone.</summary>
        public const uint WriteTimeoutMs = 30000;
        /// <summary>Bound for the transmit thread to end when the session ends.</summary>
        public const uint TxStopTimeoutMs = 5000;
        /// <summary>
        /// Largest transfer_buffer_length accepted (Linux usb-storage's largest request at
        /// SuperSpeed: 2048 sectors); larger is a protocol error that ends the connection (Linux
        /// kills the connection when it cannot allocate the buffer).
        /// </summary>
        public const int MaxTransferLength = 1 << 20;
        /// <summary>Data bytes of all requests in flight and replies not yet sent.</summary>
        public const int MaxInFlightBytes = 4 << 20;
        /// <summary>Requests in flight plus replies not yet sent.</summary>
        public const int MaxInFlightRequests = 256;
        /// <summary>Bytes moved between the connection and DMA memory per copy.</summary>
        const int ChunkSize = 64 * 1024;

        readonly UsbIpHostDriver _host;
        readonly IUsbIpConnection _connection;
        readonly IThreading _threading;
        readonly IClock _clock;
        readonly string _peer;

        UsbIpExport _export;
        UsbDevice _device;
        IDmaAllocator _dma;

        /// <summary>Guards the lists and counters below; never held while calling out.</summary>
        readonly object _lock = new object();
        /// <summary>Submitted to the core, completion not yet run (Linux priv_init).</summary>
        readonly List<Urb> _pending = new List<Urb>();
        /// <summary>Ready to be sent, in order (Linux priv_tx + unlink_tx).</summary>
        readonly List<Urb> _replies = new List<Urb>();
        int _inFlightCount;
        long _inFlightBytes;
        IEvent _txWake;
        IEvent _budgetFreed;
        IEvent _txStopped;
        bool _txStop;
        volatile bool _txBroken;
        volatile bool _stopping;
        volatile bool _deviceGone;

        readonly byte[] _rxHeader = new byte[UsbIpHeader.Size];
        byte[] _rxChunk;
        byte[] _txBuffer;

        public UsbIpSessionEnd EndReason { get; private set; }
        /// <summary>Last log line that explains the end (tests read it).</summary>
        public string EndMessage { get; private set; }
        /// <summary>Replies sent (RET_SUBMIT + RET_UNLINK).</summary>
        public int RepliesSent { get; private set; }
        public string Peer => _peer;
        public UsbIpExport Export => _export;

        /// <summary>One CMD_SUBMIT (Linux struct stub_priv), or an immediate reply to a CMD_UNLINK.</summary>
        sealed class Urb
        {
            public UsbIpSession Session;
            public uint SeqNum;
            public bool DirectionIn;
            /// <summary>Null for a reply that needed no USB request (handled here, refused, or a RET_UNLINK).</summary>
            public UsbRequest Request;
            /// <summary>Errno for a reply without a request.</summary>
            public int Status;
            public bool IsUnlinkReply;
            /// <summary>A CMD_UNLINK named this request: it is answered with RET_UNLINK(<see cref="UnlinkSeqNum"/>), not RET_SUBMIT.</summary>
            public bool Unlinking;
            public uint UnlinkSeqNum;
            public int StartFrame;
            public int NumberOfPackets;
            /// <summary>
            /// The isochronous packet descriptors as received: echoed with the error status when no
            /// request was submitted, else rewritten with each packet's result for the RET_SUBMIT.
            /// </summary>
            public byte[] IsoDescriptors;
            /// <summary>Bytes charged against <see cref="MaxInFlightBytes"/>.</summary>
            public int Charged;
            /// <summary>The controller may still own the buffers (a kill timed out): never free them.</summary>
            public bool Leaked;
            /// <summary>Clock at submission and at completion (µs), for the end-of-session statistics.</summary>
            public ulong SubmittedUs, CompletedUs;
        }

        public UsbIpSession(UsbIpHostDriver host, IUsbIpConnection connection)
        {
            _host = host;
            _connection = connection;
            _threading = host.Stack.Threading;
            _clock = host.Stack.Clock;
            _peer = connection.PeerName != null ? connection.PeerName : "?";
        }

        /// <summary>
        /// Serves the connection until it ends and closes it. Runs on the connection's own thread.
        /// </summary>
        public void Run()
        {
            byte[] op = new byte[OpHeader.Size];
            ReadResult r = ReadExact(op, 0, OpHeader.Size, OperationTimeoutMs, false);
            if (r != ReadResult.Ok)
            {
                End(r, "no operation");
                _connection.Close();
                return;
            }
            OpHeader header = OpHeader.Parse(op);
            if (header.Version != UsbIpProtocol.Version)
            {
                Fail(UsbIpSessionEnd.ProtocolError, "usbip: version mismatch: " + Format.Hex(header.Version, 4) + " from " + _peer + ", closing connection");
                _connection.Close();
                return;
            }
            if (header.Code == UsbIpProtocol.OpReqDevList)
            {
                SendDevList();
                _connection.Close();
                return;
            }
            if (header.Code == UsbIpProtocol.OpReqImport)
            {
                if (Import())
                    RunUrbPhase();
                _connection.Close();
                return;
            }
            Fail(UsbIpSessionEnd.ProtocolError, "usbip: unknown operation code " + Format.Hex(header.Code, 4) + " from " + _peer + ", closing connection");
            _connection.Close();
        }

        /// <summary>The exported device went away (unplug, reset, unbind): the connection is shut down. Any thread; does not block.</summary>
        internal void DeviceGone()
        {
            _deviceGone = true;
            _stopping = true;
            _connection.Close();
            IEvent wake = _txWake;
            if (wake != null)
                wake.Signal();
            IEvent budget = _budgetFreed;
            if (budget != null)
                budget.Signal();
        }

        /// <summary>Ends the session from outside (server stop).</summary>
        public void Stop()
        {
            _stopping = true;
            _connection.Close();
        }

        // ---- Operations ----------------------------------------------------------------------------

        /// <summary>OP_REP_DEVLIST: every device bound to usbip-host (and only those), with its interfaces.</summary>
        void SendDevList()
        {
            UsbIpExport[] exports = _host.Exports;
            int count = 0;
            int size = OpHeader.Size + sizeof(uint);
            var interfaces = new UsbIpInterfaceRecord[exports.Length][];
            for (int i = 0; i < exports.Length; i++)
            {
                if (exports[i].IsGone)
                    continue;
                interfaces[i] = exports[i].InterfaceRecords();
                size += UsbIpDeviceRecord.Size + interfaces[i].Length * UsbIpInterfaceRecord.Size;
                count++;
            }
            byte[] reply = new byte[size];
            var span = new Span<byte>(reply);
            new OpHeader(UsbIpProtocol.OpRepDevList, UsbIpProtocol.StatusOk).Write(span);
            BigEndian.Put32(span, OpHeader.Size, (uint)count);
            int offset = OpHeader.Size + sizeof(uint);
            for (int i = 0; i < exports.Length; i++)
            {
                if (interfaces[i] == null)
                    continue;
                UsbIpDeviceRecord record = exports[i].Record();
                record.bNumInterfaces = (byte)interfaces[i].Length;
                record.Write(span.Slice(offset, UsbIpDeviceRecord.Size));
                offset += UsbIpDeviceRecord.Size;
                for (int j = 0; j < interfaces[i].Length; j++)
                {
                    interfaces[i][j].Write(span.Slice(offset, UsbIpInterfaceRecord.Size));
                    offset += UsbIpInterfaceRecord.Size;
                }
            }
            _connection.Write(reply, 0, offset, WriteTimeoutMs);
            End(UsbIpSessionEnd.ListSent, "usbip: sent the device list (" + Format.Decimal((ulong)count) + " devices) to " + _peer);
        }

        /// <summary>OP_REQ_IMPORT: claims the exported device and answers OP_REP_IMPORT. True when the URB phase follows.</summary>
        bool Import()
        {
            byte[] busIdField = new byte[UsbIpProtocol.BusIdSize];
            ReadResult r = ReadExact(busIdField, 0, busIdField.Length, OperationTimeoutMs, false);
            if (r != ReadResult.Ok)
            {
                End(r, "truncated OP_REQ_IMPORT");
                return false;
            }
            string busId = BigEndian.FixedString(busIdField);
            uint status = UsbIpProtocol.StatusNoDevice;
            UsbIpExport export = null;
            if (busId != null)
                status = _host.Claim(busId, this, _peer, out export);
            if (status != UsbIpProtocol.StatusOk)
            {
                byte[] refusal = new byte[OpHeader.Size];
                new OpHeader(UsbIpProtocol.OpRepImport, status).Write(refusal);
                _connection.Write(refusal, 0, refusal.Length, WriteTimeoutMs);
                string shown = busId != null ? busId : "(malformed)";
                End(UsbIpSessionEnd.ImportRefused, "usbip: import of " + shown + " by " + _peer + " refused: " +
                    (status == UsbIpProtocol.StatusDeviceBusy ? "device busy" : "requested device not found"));
                return false;
            }
            _export = export;
            _device = export.Device;
            _dma = _device.Bus.Dma;
            _txWake = _threading.CreateEvent(true);
            _budgetFreed = _threading.CreateEvent(true);
            _txStopped = _threading.CreateEvent(false);
            byte[] reply = new byte[OpHeader.Size + UsbIpDeviceRecord.Size];
            var span = new Span<byte>(reply);
            new OpHeader(UsbIpProtocol.OpRepImport, UsbIpProtocol.StatusOk).Write(span);
            export.Record().Write(span.Slice(OpHeader.Size, UsbIpDeviceRecord.Size));
            if (!_connection.Write(reply, 0, reply.Length, WriteTimeoutMs))
            {
                _host.Release(export, this);
                End(UsbIpSessionEnd.PeerClosed, "usbip: " + _peer + " went away during import");
                return false;
            }
            Log.Info("usbip-host " + export.BusId + ": imported by " + _peer + " (devid " + Format.Hex(export.DevId, 8) + ")");
            _importedUs = _clock.Microseconds;
            return true;
        }

        // ---- URB phase: receive side (Linux stub_rx.c) --------------------------------------------

        void RunUrbPhase()
        {
            if (_threading.StartThread("usbip_tx", TxLoop) == 0)
            {
                _host.Release(_export, this);
                Fail(UsbIpSessionEnd.Stopped, "usbip-host " + _export.BusId + ": can't start the transmit thread");
                return;
            }
            while (true)
            {
                ReadResult r = ReadExact(_rxHeader, 0, UsbIpHeader.Size, PacketTimeoutMs, true);
                if (r != ReadResult.Ok)
                {
                    End(r, "usbip-host " + _export.BusId + ": connection from " + _peer + " ended");
                    break;
                }
                UsbIpHeader h = UsbIpHeader.Parse(_rxHeader);
                // Linux valid_request: the devid must be the exported device's.
                if (h.DevId != _export.DevId)
                {
                    Fail(UsbIpSessionEnd.ProtocolError, "usbip-host " + _export.BusId + ": recv invalid request (devid " + Format.Hex(h.DevId, 8) +
                         ") from " + _peer + ", closing connection");
                    break;
                }
                bool keepGoing;
                if (h.Command == UsbIpProtocol.CmdSubmit)
                    keepGoing = ReceiveSubmit(h);
                else if (h.Command == UsbIpProtocol.CmdUnlink)
                    keepGoing = ReceiveUnlink(h);
                else
                {
                    Fail(UsbIpSessionEnd.ProtocolError, "usbip-host " + _export.BusId + ": unknown command " + Format.Hex(h.Command, 8) +
                         " from " + _peer + ", closing connection");
                    keepGoing = false;
                }
                if (!keepGoing)
                    break;
            }
            Shutdown();
        }

        /// <summary>CMD_SUBMIT: validate, read the OUT data and iso descriptors, then submit (or answer here). False ends the session.</summary>
        bool ReceiveSubmit(UsbIpHeader h)
        {
            string name = _export.BusId;
            if (h.Direction != UsbIpProtocol.DirIn && h.Direction != UsbIpProtocol.DirOut)
                return ProtocolError("CMD_SUBMIT: invalid direction " + Format.Decimal((ulong)h.Direction));
            if (h.Ep > UsbIpProtocol.MaxEndpointNumber)
                return ProtocolError("CMD_SUBMIT: invalid epnum " + Format.Decimal((ulong)h.Ep));
            if (h.TransferBufferLength < 0 || h.TransferBufferLength > MaxTransferLength)
                return ProtocolError("CMD_SUBMIT: transfer_buffer_length " + Format.Decimal((ulong)(uint)h.TransferBufferLength) + " out of bounds");
            bool dirIn = h.Direction == UsbIpProtocol.DirIn;
            byte address = (byte)(h.Ep | (uint)(dirIn ? EndpointBits.DirectionIn : 0));
            UsbEndpoint endpoint = _device.FindEndpoint(address);
            bool iso = endpoint != null && endpoint.Type == TransferType.Isochronous;
            int isoPackets = 0;
            if (iso)
            {
                if (h.NumberOfPackets < 0 || h.NumberOfPackets > UsbIpProtocol.MaxIsoPackets)
                    return ProtocolError("CMD_SUBMIT: isoc invalid num packets " + Format.Decimal((long)h.NumberOfPackets));
                isoPackets = h.NumberOfPackets;
            }
            else if (endpoint == null && h.NumberOfPackets > 0 && h.NumberOfPackets <= UsbIpProtocol.MaxIsoPackets)
            {
                // An endpoint this configuration does not have: a client sets number_of_packets only
                // for isochronous endpoints, so descriptors follow.
                isoPackets = h.NumberOfPackets;
            }
            int length = h.TransferBufferLength;
            if (!WaitForBudget(length))
                return false;

            var urb = new Urb();
            urb.Session = this;
            urb.SeqNum = h.SeqNum;
            urb.DirectionIn = dirIn;
            urb.StartFrame = h.StartFrame;
            urb.NumberOfPackets = h.NumberOfPackets;
            urb.Charged = length;
            lock (_lock)
            {
                _inFlightCount++;
                _inFlightBytes += length;
            }

            DmaBuffer buffer = default(DmaBuffer);
            if (length > 0)
                buffer = _dma.Allocate((uint)length, UsbBus.DmaAlignment, DmaLimit.Below4G);
            // The OUT data is read even when it cannot be used, so the stream stays in step.
            if (!dirIn && length > 0 && ReadInto(buffer, length) != ReadResult.Ok)
            {
                FreeDma(buffer);
                Release(urb);
                return End(ReadResult.Closed, "usbip-host " + name + ": connection from " + _peer + " ended in a CMD_SUBMIT");
            }
            if (isoPackets > 0)
            {
                urb.IsoDescriptors = new byte[isoPackets * UsbIpIsoPacket.Size];
                if (ReadExact(urb.IsoDescriptors, 0, urb.IsoDescriptors.Length, PacketTimeoutMs, false) != ReadResult.Ok)
                {
                    FreeDma(buffer);
                    Release(urb);
                    return End(ReadResult.Closed, "usbip-host " + name + ": connection from " + _peer + " ended in a CMD_SUBMIT");
                }
            }
            UsbIsoPacket[] packets = null;
            if (iso)
            {
                packets = ParseIsoPackets(urb.IsoDescriptors, isoPackets, length, out string problem);
                if (packets == null)
                {
                    FreeDma(buffer);
                    Release(urb);
                    return ProtocolError("CMD_SUBMIT: " + problem);
                }
            }
            if (length > 0 && buffer.IsNull)
                return ReplyNow(urb, UsbErrno.Of(UsbStatus.NoMemory));
            if (endpoint == null)
            {
                FreeDma(buffer);
                // Linux usb_submit_urb: no such endpoint.
                return ReplyNow(urb, -UsbErrno.ENOENT);
            }

            var request = new UsbRequest();
            request.Device = _device;
            request.Endpoint = endpoint;
            request.Buffer = buffer;
            request.Length = length;
            request.Context = urb;
            request.Completion = s_complete;
            if (dirIn && (h.TransferFlags & UsbIpProtocol.UrbShortNotOk) != 0)
                request.Flags |= UsbRequestFlags.ShortNotOk;
            if (!dirIn && endpoint.Type == TransferType.Bulk && (h.TransferFlags & UsbIpProtocol.UrbZeroPacket) != 0)
                request.Flags |= UsbRequestFlags.ZeroPacket;
            if ((h.TransferFlags & UsbIpProtocol.UrbNoInterrupt) != 0)
                request.Flags |= UsbRequestFlags.NoInterrupt;
            if (iso)
            {
                // Linux stub_rx: number_of_packets, start_frame, interval and the descriptors
                // become the URB's; usb_submit_urb rounds the interval down to a power of two.
                request.IsoPackets = packets;
                request.NumberOfPackets = isoPackets;
                request.StartFrame = h.StartFrame;
                request.Interval = IsoInterval(h.Interval);
                if ((h.TransferFlags & UsbIpProtocol.UrbIsoAsap) != 0)
                    request.Flags |= UsbRequestFlags.IsoAsap;
            }
            urb.Request = request;

            if (endpoint.Type == TransferType.Control)
            {
                request.Setup = _dma.Allocate(SetupPacket.Size, UsbBus.DmaAlignment, DmaLimit.Below4G);
                if (request.Setup.IsNull)
                {
                    return ReplyNow(urb, UsbErrno.Of(UsbStatus.NoMemory));
                }
                Span<byte> setupBytes = request.Setup.AsSpan();
                h.CopySetup(setupBytes);
                SetupPacket setup = SetupPacket.Read(setupBytes);
                // A data stage against the command's direction (Linux warns "BOGUS control dir").
                if (setup.wLength != 0 && setup.IsIn != dirIn)
                    return ReplyNow(urb, -UsbErrno.EINVAL);
                if (HandleSpecialRequest(setup, out int status))
                    return ReplyNow(urb, status);
            }

            lock (_lock)
                _pending.Add(urb);
            urb.SubmittedUs = _clock.Microseconds;
            UsbStatus submitted = _device.Bus.Submit(request);
            if (submitted != UsbStatus.Ok)
            {
                lock (_lock)
                    _pending.Remove(urb);
                return ReplyNow(urb, UsbErrno.Of(submitted));
            }
            return true;
        }

        /// <summary>
        /// The descriptors of an isochronous CMD_SUBMIT (Linux usbip_recv_iso) as the request's
        /// packets: offset and length of each, which must lie inside the transfer buffer (the
        /// controller reads or writes there). The received actual_length and status are ignored.
        /// Null (with the reason) when a packet reaches past the buffer.
        /// </summary>
        static UsbIsoPacket[] ParseIsoPackets(byte[] descriptors, int count, int bufferLength, out string problem)
        {
            problem = null;
            var packets = new UsbIsoPacket[count];
            for (int i = 0; i < count; i++)
            {
                UsbIpIsoPacket d = UsbIpIsoPacket.Parse(new ReadOnlySpan<byte>(descriptors, i * UsbIpIsoPacket.Size, UsbIpIsoPacket.Size));
                // Unsigned: an offset or length above int.MaxValue is out of bounds too.
                if (d.Offset > (uint)bufferLength || d.Length > (uint)bufferLength - d.Offset)
                {
                    problem = "iso packet " + Format.Decimal((ulong)i) + " (offset " + Format.Decimal((ulong)d.Offset) + " length " +
                              Format.Decimal((ulong)d.Length) + ") beyond transfer_buffer_length " + Format.Decimal((ulong)bufferLength);
                    return null;
                }
                packets[i].Offset = (int)d.Offset;
                packets[i].Length = (int)d.Length;
                packets[i].Status = UsbStatus.InProgress;
            }
            return packets;
        }

        /// <summary>Largest isochronous interval usb_submit_urb accepts ((micro)frames, high speed).</summary>
        const int MaxIsoInterval = 1 << 15;

        /// <summary>
        /// urb->interval as Linux usb_submit_urb uses it: rounded down to a power of two, at most
        /// <see cref="MaxIsoInterval"/>; 0 or less is left for the core (0: the descriptor's period,
        /// negative: refused with -EINVAL).
        /// </summary>
        static int IsoInterval(int interval)
        {
            if (interval <= 0)
                return interval;
            if (interval >= MaxIsoInterval)
                return MaxIsoInterval;
            int power = 1;
            while (power * 2 <= interval)
                power *= 2;
            return power;
        }

        /// <summary>
        /// The requests Linux's stub_rx handles itself instead of passing them to the device
        /// (tweak_special_requests), so that the server's USB core knows about the change:
        /// CLEAR_FEATURE(ENDPOINT_HALT), SET_INTERFACE, SET_CONFIGURATION, SET_FEATURE(PORT_RESET).
        /// SET_ADDRESS is refused: the server's core owns the address (vhci never sends it).
        /// </summary>
        bool HandleSpecialRequest(SetupPacket setup, out int status)
        {
            status = 0;
            UsbStack stack = _host.Stack;
            UsbStatus result;
            if (setup.bRequest == UsbRequestCode.ClearFeature && setup.bmRequestType == RequestType.RecipientEndpoint &&
                setup.wValue == FeatureSelector.EndpointHalt)
            {
                byte target = (byte)(setup.wIndex & (EndpointBits.NumberMask | EndpointBits.DirectionIn));
                result = UsbMessages.ClearHalt(_device, target);
                Log.Info("usbip-host " + _export.BusId + ": usb_clear_halt " + (result == UsbStatus.Ok ? "done" : "error") + ": endp " +
                         Format.Decimal((ulong)(target & EndpointBits.NumberMask)) + (result == UsbStatus.Ok ? "" : " " + UsbStatusNames.Name(result)));
            }
            else if (setup.bRequest == UsbRequestCode.SetInterface && setup.bmRequestType == RequestType.RecipientInterface)
            {
                result = WithDeviceLock(SpecialSetInterface, setup);
                Log.Info("usbip-host " + _export.BusId + ": usb_set_interface " + (result == UsbStatus.Ok ? "done" : "error") + ": inf " +
                         Format.Decimal((ulong)setup.wIndex) + " alt " + Format.Decimal((ulong)setup.wValue) +
                         (result == UsbStatus.Ok ? "" : " " + UsbStatusNames.Name(result)));
            }
            else if (setup.bRequest == UsbRequestCode.SetConfiguration && setup.bmRequestType == RequestType.RecipientDevice)
            {
                result = WithDeviceLock(SpecialSetConfiguration, setup);
                if (result != UsbStatus.Ok && result != UsbStatus.NoDevice)
                    Log.Error("usbip-host " + _export.BusId + ": can't set config #" + Format.Decimal((ulong)(setup.wValue & 0xFF)) + ", error " + UsbStatusNames.Name(result));
            }
            else if (setup.bRequest == UsbRequestCode.SetFeature && setup.bmRequestType == HubClass.ToPort && setup.wValue == HubClass.PortReset)
            {
                // Our core resets a device by re-enumerating its port: this device object goes
                // away (the connection ends as for an unplug) and the re-enumerated device is
                // bound to usbip-host again because its bus id is still listed.
                Log.Info("usbip-host " + _export.BusId + ": usb_queue_reset_device");
                result = stack.ResetDevice(_device);
            }
            else if (setup.bRequest == UsbRequestCode.SetAddress && (setup.bmRequestType & RequestType.TypeMask) == RequestType.TypeStandard &&
                     (setup.bmRequestType & RequestType.RecipientMask) == RequestType.RecipientDevice)
            {
                result = UsbStatus.Stall;
            }
            else
                return false;
            status = UsbErrno.Of(result);
            return true;
        }

        delegate UsbStatus LockedOperation(SetupPacket setup);

        /// <summary>
        /// Runs a change of the device's model under its lock, only while it is still bound to
        /// usbip-host (an unbind may be waiting for the same lock).
        /// </summary>
        UsbStatus WithDeviceLock(LockedOperation operation, SetupPacket setup)
        {
            _device.Lock.Lock();
            UsbStatus result = _device.IsGone || _device.Driver != _host || _stopping ? UsbStatus.NoDevice : operation(setup);
            _device.Lock.Unlock();
            return result;
        }

        UsbStatus SpecialSetConfiguration(SetupPacket setup) => _host.Stack.SetConfiguration(_device, setup.wValue & 0xFF);

        UsbStatus SpecialSetInterface(SetupPacket setup)
        {
            UsbConfiguration active = _device.ActiveConfiguration;
            UsbInterface intf = active != null ? active.FindInterface(setup.wIndex & 0xFF) : null;
            if (intf == null || setup.wIndex > byte.MaxValue)
                return UsbStatus.InvalidArgument;
            return _host.Stack.SetInterface(intf, setup.wValue);
        }

        /// <summary>CMD_UNLINK (Linux stub_recv_cmd_unlink): unlink the pending request, or answer 0 if it already completed.</summary>
        bool ReceiveUnlink(UsbIpHeader h)
        {
            if (!WaitForBudget(0))
                return false;
            Urb target = null;
            lock (_lock)
            {
                for (int i = 0; i < _pending.Count; i++)
                {
                    if (_pending[i].SeqNum == h.UnlinkSeqNum && !_pending[i].Unlinking)
                    {
                        target = _pending[i];
                        // Answered with RET_UNLINK(this seqnum) instead of RET_SUBMIT when it completes.
                        target.Unlinking = true;
                        target.UnlinkSeqNum = h.SeqNum;
                        break;
                    }
                }
            }
            if (target != null)
            {
                _device.Bus.Unlink(target.Request, UsbStatus.Cancelled);
                return true;
            }
            var reply = new Urb();
            reply.Session = this;
            reply.SeqNum = h.SeqNum;
            reply.IsUnlinkReply = true;
            reply.Status = 0;
            lock (_lock)
                _inFlightCount++;
            return ReplyNow(reply, 0);
        }

        bool ProtocolError(string message)
        {
            Fail(UsbIpSessionEnd.ProtocolError, "usbip-host " + _export.BusId + ": " + message + " from " + _peer + ", closing connection");
            return false;
        }

        /// <summary>
        /// Queues a RET_SUBMIT (or RET_UNLINK) that needs no USB request: handled here, refused,
        /// or failed to submit. Frees the request's buffers. Always true (the session goes on).
        /// </summary>
        bool ReplyNow(Urb urb, int status)
        {
            FreeRequestBuffers(urb);
            urb.Request = null;
            urb.Status = status;
            lock (_lock)
                _replies.Add(urb);
            _txWake.Signal();
            return true;
        }

        /// <summary>
        /// Waits (in bounded slices, while the session lives) until one more request with
        /// <paramref name="bytes"/> of data fits the budget. False when the session is ending.
        /// </summary>
        bool WaitForBudget(int bytes)
        {
            while (true)
            {
                if (_stopping || _txBroken)
                    return false;
                lock (_lock)
                {
                    if (_inFlightCount == 0 || (_inFlightCount < MaxInFlightRequests && _inFlightBytes + bytes <= MaxInFlightBytes))
                        return true;
                }
                _budgetFreed.Wait(IdleSliceMs);
            }
        }

        // ---- Completions and the transmit side (Linux stub_complete, stub_tx.c) -------------------

        static readonly UsbCompletion s_complete = Complete;

        /// <summary>May run in interrupt context: only moves the request to the reply list.</summary>
        static void Complete(UsbRequest request)
        {
            var urb = (Urb)request.Context;
            UsbIpSession session = urb.Session;
            urb.CompletedUs = session._clock.Microseconds;
            lock (session._lock)
            {
                session._pending.Remove(urb);
                session._replies.Add(urb);
            }
            session._txWake.Signal();
        }

        void TxLoop()
        {
            while (true)
            {
                Urb next = null;
                bool stop = false;
                lock (_lock)
                {
                    if (_replies.Count > 0)
                    {
                        next = _replies[0];
                        _replies.RemoveAt(0);
                    }
                    else
                        stop = _txStop;
                }
                if (next == null)
                {
                    if (stop)
                        break;
                    _txWake.Wait(IdleSliceMs);
                    continue;
                }
                if (!_txBroken && !Send(next))
                {
                    // The client is gone or stopped reading: end the session.
                    _txBroken = true;
                    _connection.Close();
                }
                Release(next);
            }
            _txStopped.Signal();
        }

        /// <summary>RET_SUBMIT (with IN data and iso descriptors) or RET_UNLINK for one finished URB.</summary>
        bool Send(Urb urb)
        {
            if (_txBuffer == null)
                _txBuffer = new byte[UsbIpHeader.Size + ChunkSize];
            byte[] tx = _txBuffer;
            var span = new Span<byte>(tx);
            UsbRequest request = urb.Request;
            if (urb.IsUnlinkReply)
            {
                UsbIpHeader.WriteRetUnlink(span, urb.SeqNum, urb.Status);
                return WriteReply(tx, UsbIpHeader.Size);
            }
            if (urb.Unlinking)
            {
                // Linux stub_complete: the unlinked request answers RET_UNLINK with its own status.
                UsbIpHeader.WriteRetUnlink(span, urb.UnlinkSeqNum, UsbErrno.Of(request.Status));
                return WriteReply(tx, UsbIpHeader.Size);
            }
            if (request != null && request.IsIsochronous)
                return SendIso(urb, request);
            int status = request != null ? UsbErrno.Of(request.Status) : urb.Status;
            int actual = request != null ? request.ActualLength : 0;
            if (actual < 0 || actual > (request != null ? request.Length : 0))
                actual = 0;
            int data = urb.DirectionIn ? actual : 0;
            UsbIpHeader.WriteRetSubmit(span, urb.SeqNum, status, actual, urb.StartFrame, urb.NumberOfPackets, urb.IsoDescriptors != null ? urb.NumberOfPackets : 0);
            // The header and the first chunk of data go out in one write (one TCP segment when they fit).
            int first = data < ChunkSize ? data : ChunkSize;
            if (first > 0)
                request.Buffer.AsSpan().Slice(0, first).CopyTo(span.Slice(UsbIpHeader.Size, first));
            if (!_connection.Write(tx, 0, UsbIpHeader.Size + first, WriteTimeoutMs))
                return false;
            for (int sent = first; sent < data;)
            {
                int n = data - sent < ChunkSize ? data - sent : ChunkSize;
                request.Buffer.AsSpan().Slice(sent, n).CopyTo(span.Slice(0, n));
                if (!_connection.Write(tx, 0, n, WriteTimeoutMs))
                    return false;
                sent += n;
            }
            if (urb.IsoDescriptors != null)
            {
                // Never submitted (no such endpoint, no memory): every packet failed with the
                // request's status, nothing transferred.
                byte[] iso = urb.IsoDescriptors;
                for (int i = 0; i + UsbIpIsoPacket.Size <= iso.Length; i += UsbIpIsoPacket.Size)
                {
                    var slice = new Span<byte>(iso, i, UsbIpIsoPacket.Size);
                    UsbIpIsoPacket p = UsbIpIsoPacket.Parse(slice);
                    p.ActualLength = 0;
                    p.Status = status;
                    p.Write(slice);
                }
                if (!_connection.Write(iso, 0, iso.Length, WriteTimeoutMs))
                    return false;
            }
            Sent(urb, request, actual);
            return true;
        }

        /// <summary>Counts one reply sent and, for a completed request, its statistics.</summary>
        void Sent(Urb urb, UsbRequest request, int actual)
        {
            RepliesSent++;
            if (request != null && urb.CompletedUs >= urb.SubmittedUs)
            {
                _urbs++;
                _dataBytes += actual;
                _deviceUs += urb.CompletedUs - urb.SubmittedUs;
                _sendUs += _clock.Microseconds - urb.CompletedUs;
            }
        }

        /// <summary>
        /// A packet's actual length kept within its length (which was checked against the buffer
        /// on receipt), so a controller's bad figure can never make the reply read past the buffer.
        /// </summary>
        static int SentLength(UsbIsoPacket packet)
        {
            int n = packet.ActualLength;
            return n < 0 ? 0 : n > packet.Length ? packet.Length : n;
        }

        /// <summary>
        /// RET_SUBMIT of a completed isochronous request (Linux stub_send_ret_submit): the header
        /// with status, actual_length (the packets' sum), start_frame, number_of_packets and
        /// error_count; for IN the data of each packet back to back (its actual_length bytes from
        /// its offset: the gaps between packets are not sent); then every packet's descriptor
        /// with its offset, length, actual_length and status.
        /// </summary>
        bool SendIso(Urb urb, UsbRequest request)
        {
            byte[] tx = _txBuffer;
            var span = new Span<byte>(tx);
            int count = request.NumberOfPackets;
            UsbIsoPacket[] packets = request.IsoPackets;
            // The core keeps each packet's actual length within its length and the packets inside
            // the buffer; the sum is taken here so the header always matches the data sent.
            int actual = 0;
            for (int i = 0; i < count; i++)
                actual += SentLength(packets[i]);
            UsbIpHeader.WriteRetSubmit(span, urb.SeqNum, UsbErrno.Of(request.Status), actual, request.StartFrame, count, request.ErrorCount);
            int used = UsbIpHeader.Size;
            if (urb.DirectionIn && actual > 0)
            {
                Span<byte> data = request.Buffer.AsSpan();
                for (int i = 0; i < count; i++)
                {
                    int offset = packets[i].Offset;
                    int left = SentLength(packets[i]);
                    while (left > 0)
                    {
                        if (used == tx.Length)
                        {
                            if (!_connection.Write(tx, 0, used, WriteTimeoutMs))
                                return false;
                            used = 0;
                        }
                        int n = tx.Length - used < left ? tx.Length - used : left;
                        data.Slice(offset, n).CopyTo(span.Slice(used, n));
                        used += n;
                        offset += n;
                        left -= n;
                    }
                }
            }
            if (used > 0 && !_connection.Write(tx, 0, used, WriteTimeoutMs))
                return false;
            byte[] descriptors = urb.IsoDescriptors;
            for (int i = 0; i < count; i++)
            {
                var d = new UsbIpIsoPacket
                {
                    Offset = (uint)packets[i].Offset,
                    Length = (uint)packets[i].Length,
                    ActualLength = (uint)SentLength(packets[i]),
                    Status = UsbErrno.Of(packets[i].Status),
                };
                d.Write(new Span<byte>(descriptors, i * UsbIpIsoPacket.Size, UsbIpIsoPacket.Size));
            }
            if (!_connection.Write(descriptors, 0, count * UsbIpIsoPacket.Size, WriteTimeoutMs))
                return false;
            Sent(urb, request, actual);
            return true;
        }

        // Statistics for the end-of-session line (transmit thread only).
        long _urbs, _dataBytes;
        ulong _deviceUs, _sendUs, _importedUs;

        bool WriteReply(byte[] buffer, int count)
        {
            if (!_connection.Write(buffer, 0, count, WriteTimeoutMs))
                return false;
            RepliesSent++;
            return true;
        }

        /// <summary>Frees what a finished URB holds and returns its share of the budget.</summary>
        void Release(Urb urb)
        {
            if (!urb.Leaked)
                FreeRequestBuffers(urb);
            lock (_lock)
            {
                _inFlightCount--;
                _inFlightBytes -= urb.Charged;
            }
            IEvent budget = _budgetFreed;
            if (budget != null)
                budget.Signal();
        }

        void FreeRequestBuffers(Urb urb)
        {
            UsbRequest request = urb.Request;
            if (request == null)
                return;
            FreeDma(request.Buffer);
            FreeDma(request.Setup);
            request.Buffer = default(DmaBuffer);
            request.Setup = default(DmaBuffer);
        }

        void FreeDma(DmaBuffer buffer)
        {
            if (!buffer.IsNull)
                _dma.Free(buffer);
        }

        // ---- End of the URB phase (Linux stub_shutdown_connection + stub_device_cleanup_urbs) ------

        void Shutdown()
        {
            _stopping = true;
            _connection.Close();
            // Kill every request still in flight; their completions queue them for the (failing) transmit side.
            while (true)
            {
                Urb victim = null;
                lock (_lock)
                {
                    for (int i = 0; i < _pending.Count; i++)
                    {
                        if (!_pending[i].Leaked)
                        {
                            victim = _pending[i];
                            break;
                        }
                    }
                }
                if (victim == null)
                    break;
                _device.Bus.Kill(victim.Request);
                bool stuck;
                lock (_lock)
                {
                    stuck = _pending.Contains(victim);
                    if (stuck)
                        victim.Leaked = true;
                }
                // Its completion never ran: the controller may still own the buffers, so they leak.
                if (stuck)
                    Log.Error("usbip-host " + _export.BusId + ": request " + Format.Decimal((ulong)victim.SeqNum) + " would not die; leaking its buffers");
            }
            lock (_lock)
                _txStop = true;
            _txWake.Signal();
            if (!_txStopped.Wait(TxStopTimeoutMs))
                Log.Error("usbip-host " + _export.BusId + ": transmit thread did not stop");
            else
            {
                // Anything queued after the transmit side stopped.
                while (true)
                {
                    Urb rest = null;
                    lock (_lock)
                    {
                        if (_replies.Count > 0)
                        {
                            rest = _replies[0];
                            _replies.RemoveAt(0);
                        }
                    }
                    if (rest == null)
                        break;
                    Release(rest);
                }
            }
            // Where the time went: in the device (submit to completion) and in sending the replies
            // (completion to the end of the write): the rest is the client and the network.
            Log.Info("usbip-host " + _export.BusId + ": " + _peer + ": " + Format.Decimal((ulong)_urbs) + " URBs, " +
                     Format.Decimal((ulong)_dataBytes) + " data bytes in " + Format.Decimal((_clock.Microseconds - _importedUs) / 1000) +
                     " ms; device " + Format.Decimal(_deviceUs / 1000) + " ms, replies " + Format.Decimal(_sendUs / 1000) + " ms");
            _host.Release(_export, this);
            // Linux stub_device_reset: the next client gets the device in a clean state, not in the
            // middle of whatever the last one left (a Bulk-Only disk stuck in a data stage).
            // This core resets by re-enumerating the port; the device comes back bound to
            // usbip-host because its bus id stays listed.
            bool reset = !_deviceGone && !_device.IsGone && _host.Stack.ResetDevice(_device) == UsbStatus.Ok;
            End(_deviceGone ? UsbIpSessionEnd.DeviceGone : EndReason,
                "usbip-host " + _export.BusId + ": connection to " + _peer + " closed" +
                (_deviceGone ? " (device gone)" : reset ? ", device reset for the next import" : ", device available for the next import"));
        }

        /// <summary>Requests in flight plus replies not yet sent (tests check it returns to 0).</summary>
        public int InFlight
        {
            get
            {
                lock (_lock)
                    return _inFlightCount;
            }
        }

        // ---- Reading --------------------------------------------------------------------------------

        enum ReadResult { Ok, Closed, Timeout, Stopped }

        /// <summary>
        /// Reads exactly <paramref name="count"/> bytes. With <paramref name="waitForStart"/> the
        /// first byte may take forever (an idle client), checked in slices for the session's end;
        /// then the rest must come within <paramref name="timeoutMs"/>.
        /// </summary>
        ReadResult ReadExact(byte[] buffer, int offset, int count, uint timeoutMs, bool waitForStart)
        {
            int done = 0;
            ulong start = _clock.Milliseconds;
            while (done < count)
            {
                if (_stopping)
                    return ReadResult.Stopped;
                uint slice = IdleSliceMs;
                if (done > 0 || !waitForStart)
                {
                    ulong elapsed = _clock.Milliseconds - start;
                    if (elapsed >= timeoutMs)
                        return ReadResult.Timeout;
                    ulong left = timeoutMs - elapsed;
                    slice = left < IdleSliceMs ? (uint)left : IdleSliceMs;
                }
                int n = _connection.Read(buffer, offset + done, count - done, slice);
                if (n < 0)
                    return _stopping ? ReadResult.Stopped : ReadResult.Closed;
                if (n > count - done)
                    return ReadResult.Closed;
                if (n > 0 && done == 0 && waitForStart)
                    start = _clock.Milliseconds;
                done += n;
            }
            return ReadResult.Ok;
        }

        /// <summary>Reads <paramref name="length"/> bytes of OUT data into the DMA buffer (or discards them when there is none).</summary>
        ReadResult ReadInto(DmaBuffer buffer, int length)
        {
            if (_rxChunk == null)
                _rxChunk = new byte[ChunkSize];
            for (int done = 0; done < length;)
            {
                int n = length - done < ChunkSize ? length - done : ChunkSize;
                ReadResult r = ReadExact(_rxChunk, 0, n, PacketTimeoutMs, false);
                if (r != ReadResult.Ok)
                    return r;
                if (!buffer.IsNull)
                    new Span<byte>(_rxChunk, 0, n).CopyTo(buffer.AsSpan().Slice(done, n));
                done += n;
            }
            return ReadResult.Ok;
        }

        // ---- Ending ---------------------------------------------------------------------------------

        bool End(ReadResult r, string message)
        {
            UsbIpSessionEnd reason = r == ReadResult.Timeout ? UsbIpSessionEnd.Timeout
                : r == ReadResult.Stopped ? (_deviceGone ? UsbIpSessionEnd.DeviceGone : UsbIpSessionEnd.Stopped)
                : UsbIpSessionEnd.PeerClosed;
            End(reason, r == ReadResult.Timeout ? message + " (timeout)" : message);
            return false;
        }

        /// <summary>Records why the session ends (the first reason wins, except that a gone device explains everything) and logs it.</summary>
        void End(UsbIpSessionEnd reason, string message)
        {
            if (EndReason == UsbIpSessionEnd.None || reason == UsbIpSessionEnd.DeviceGone)
            {
                EndReason = reason;
                EndMessage = message;
            }
            Log.Info(message);
        }

        /// <summary>Like <see cref="End(UsbIpSessionEnd, string)"/> for the client's faults: logged as a warning.</summary>
        void Fail(UsbIpSessionEnd reason, string message)
        {
            if (EndReason == UsbIpSessionEnd.None)
            {
                EndReason = reason;
                EndMessage = message;
            }
            Log.Warning(message);
        }
    }
}
