using System;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Storage
{
    /// <summary>
    /// One UAS command (or task management function) in flight: its tag, its requests and what the
    /// device answered. Owned by <see cref="UasTransport"/>; callers get one from
    /// <see cref="UasTransport.Start"/> and hand it back to <see cref="UasTransport.Finish"/>.
    /// </summary>
    public sealed class UasCommand
    {
        /// <summary>The IU TAG (1..n); with streams also the Stream ID of its status and data (UAS 4.3).</summary>
        public readonly ushort Tag;
        internal readonly UsbRequest CommandRequest = new UsbRequest();
        internal readonly UsbRequest StatusRequest = new UsbRequest();
        internal readonly UsbRequest DataRequest = new UsbRequest();
        internal DmaBuffer Iu;
        internal DmaBuffer StatusIu;
        internal IEvent Done;

        // State, guarded by the transport's _sync.
        internal bool Busy;
        internal bool IsTaskManagement;
        internal byte Lun;
        internal bool DataIn;
        internal int Length;
        internal DmaBuffer Data;
        internal bool CommandSent;
        /// <summary>How the Command IU transfer ended when it failed (a STALLed command pipe is cleared in recovery).</summary>
        internal UsbStatus CommandStatus;
        internal bool DataPending;
        internal bool DataSubmitted;
        internal bool GotStatus;
        /// <summary>A transport-level failure seen by a completion (the waiting thread recovers).</summary>
        internal StorageStatus Failure;
        internal UsbStatus DataStatus;
        internal int Moved;
        internal byte ScsiStatus;
        internal byte ResponseCode;
        internal readonly byte[] Sense = new byte[Uas.SenseIuMaxLength - Uas.SenseData];
        internal int SenseLength;

        internal UasCommand(ushort tag) { Tag = tag; }

        /// <summary>A Response IU answered a Command IU: the device refused it.</summary>
        internal bool Refused;

        /// <summary>
        /// Nothing more to wait for: a failure, or the status arrived for a sent command and its data
        /// stage ended (after a CHECK CONDITION the data stage is not awaited: it is killed, as uas.c
        /// cancels the data transfers of a failed command).
        /// </summary>
        internal bool IsComplete =>
            Failure != StorageStatus.Ok ||
            (GotStatus && CommandSent && (!DataPending || IsTaskManagement || ScsiStatus != Uas.StatusGood));
    }

    /// <summary>
    /// USB Attached SCSI (UAS r04 / T10 UAS-2) on one interface, Linux's "uas": Command IUs on the
    /// command pipe, status (Sense / Response / Read Ready / Write Ready IUs) on the status pipe, data
    /// on the data-in and data-out pipes, found by their Pipe Usage descriptors. Several tagged
    /// commands are in flight at once (<see cref="Start"/> / <see cref="Finish"/>).
    ///
    /// Two forms (UAS 4.3, 4.4): on SuperSpeed the status and data pipes use bulk streams, the tag is
    /// the Stream ID and every command has its own status and data requests queued before its Command
    /// IU (Linux uas_submit_urbs); below SuperSpeed there are no streams: one status request is kept
    /// queued, and the data request of a command is queued when its Read Ready / Write Ready IU
    /// arrives (QEMU's usb-uas, and every high-speed UAS device, works so).
    ///
    /// Error handling like uas.c: a STALLed data pipe is cleared and the Sense IU still awaited; a
    /// command that times out is aborted (ABORT TASK), then its logical unit reset (LOGICAL UNIT
    /// RESET), then the device reset; every wait is bounded. Malformed IUs (short, unknown ID, a tag
    /// with no command) are logged and fail only the command they name.
    /// </summary>
    public sealed class UasTransport : IQueuedScsiTransport
    {
        /// <summary>Commands in flight at most (tags 1..MaxCommands); one more tag is kept for task management.</summary>
        public const int MaxCommands = 8;
        /// <summary>
        /// READ/WRITE commands one disk request keeps in flight (<see cref="QueueDepth"/>): enough for the
        /// device to hold the next command while one moves its data, and few enough that the other
        /// tags stay free for REQUEST SENSE, other LUNs and a second request.
        /// </summary>
        public const int DiskQueueDepth = 4;
        /// <summary>Streams asked for: the command tags plus the task management tag (QEMU's usb-uas offers 16).</summary>
        public const int StreamsWanted = MaxCommands + 1;
        /// <summary>Largest data stage per command: 1 MiB, as for Bulk-Only at high speed and up.</summary>
        public const int MaxTransferBytes = BulkOnlyTransport.MaxTransferBytes;
        public const int SmallBufferBytes = BulkOnlyTransport.SmallBufferBytes;
        /// <summary>A command's whole life (data of up to 1 MiB included), like the Bulk-Only data stage.</summary>
        public const uint CommandTimeoutMs = BulkOnlyTransport.DataTimeoutMs;
        /// <summary>Waiting for the Response IU of a task management function.</summary>
        public const uint TaskManagementTimeoutMs = 5000;
        const uint CommandIuBufferBytes = 64;

        public readonly UsbInterface Interface;
        public UsbDevice Device { get; }
        public readonly UsbEndpoint CommandPipe, StatusPipe, DataInPipe, DataOutPipe;
        public string Name { get; }
        public string DriverName => UasDriver.DriverName;
        public IMutex Lock { get; }
        /// <summary>
        /// The data buffer: <see cref="QueueDepth"/> commands of <see cref="CommandBytes"/> each, so a queued
        /// request keeps commands as large as a single one (many small commands cost more than queueing gains).
        /// </summary>
        public int TransferBytes { get; private set; }
        /// <summary>Largest data stage of one queued READ/WRITE: 1 MiB, 256 KiB at full speed (as Bulk-Only).</summary>
        public int CommandBytes { get; }
        /// <summary>True on SuperSpeed with bulk streams allocated (tags are Stream IDs).</summary>
        public bool UsesStreams { get; private set; }
        /// <summary>Commands that may be in flight at once (fewer when the endpoints support fewer streams).</summary>
        public int CommandSlots { get; private set; }
        /// <summary>Commands a disk request queues at once: <see cref="DiskQueueDepth"/>, fewer when fewer slots (one always stays free).</summary>
        public int QueueDepth => CommandSlots - 1 < DiskQueueDepth ? (CommandSlots > 1 ? CommandSlots - 1 : 1) : DiskQueueDepth;

        public int Aborts, LunResets, DeviceResets, ClearedHalts, MalformedIus;

        readonly object _sync = new object();
        readonly IMutex _recovery;
        UasCommand[] _commands = new UasCommand[0];
        UasCommand _tmf;
        // Below SuperSpeed: the one status request that is kept queued (UAS 4.4).
        readonly UsbRequest _status = new UsbRequest();
        DmaBuffer _statusIu;
        bool _statusQueued;
        DmaBuffer _data, _small;
        volatile bool _gone;
        bool _stuck;
        readonly byte[] _lastSense = new byte[Uas.SenseIuMaxLength - Uas.SenseData];
        int _lastSenseLength;

        public UasTransport(UsbInterface intf, UsbEndpoint command, UsbEndpoint status, UsbEndpoint dataIn, UsbEndpoint dataOut)
        {
            Interface = intf;
            Device = intf.Device;
            CommandPipe = command;
            StatusPipe = status;
            DataInPipe = dataIn;
            DataOutPipe = dataOut;
            Name = intf.Name;
            Lock = Device.Bus.Stack.Threading.CreateMutex();
            _recovery = Device.Bus.Stack.Threading.CreateMutex();
            CommandBytes = Device.Speed == UsbSpeed.Low || Device.Speed == UsbSpeed.Full ? BulkOnlyTransport.FullSpeedTransferBytes : MaxTransferBytes;
            TransferBytes = CommandBytes;
        }

        public bool IsGone => _gone || Device.IsGone;
        public Span<byte> Data => _data.AsSpan();
        public Span<byte> Small => _small.AsSpan();
        /// <summary>The DMA buffer behind <see cref="Data"/> (for <see cref="Start"/>).</summary>
        public DmaBuffer DataBuffer => _data;

        /// <summary>
        /// Finds the four pipes of a UAS alternate setting by their Pipe Usage descriptors (UAS 5.3.3.1):
        /// command (bulk OUT), status (bulk IN), data-in (bulk IN), data-out (bulk OUT). False when one is
        /// missing or of the wrong type/direction.
        /// </summary>
        public static bool FindPipes(UsbAltSetting alt, out UsbEndpoint command, out UsbEndpoint status, out UsbEndpoint dataIn, out UsbEndpoint dataOut)
        {
            command = status = dataIn = dataOut = null;
            for (int i = 0; i < alt.Endpoints.Length; i++)
            {
                UsbEndpoint e = alt.Endpoints[i];
                if (e.Type != TransferType.Bulk)
                    continue;
                byte pipe = Uas.PipeId(e.Extra);
                if (pipe == Uas.PipeCommand && !e.IsIn) command = e;
                else if (pipe == Uas.PipeStatus && e.IsIn) status = e;
                else if (pipe == Uas.PipeDataIn && e.IsIn) dataIn = e;
                else if (pipe == Uas.PipeDataOut && !e.IsIn) dataOut = e;
            }
            return command != null && status != null && dataIn != null && dataOut != null;
        }

        /// <summary>
        /// Streams on SuperSpeed (status, data-in, data-out: Linux uas_configure_endpoints), DMA buffers,
        /// command slots. NotSupported when a SuperSpeed device's streams cannot be had (the device
        /// then needs them: UAS 4.3).
        /// </summary>
        public StorageStatus Allocate()
        {
            int slots = MaxCommands;
            if (Device.Speed >= UsbSpeed.Super)
            {
                var eps = new UsbEndpoint[] { StatusPipe, DataInPipe, DataOutPipe };
                UsbStatus s = Device.Bus.AllocStreams(Device, eps, StreamsWanted, out int allocated);
                if (s != UsbStatus.Ok || allocated < 2)
                {
                    Log.Error("uas " + Name + ": bulk streams: " + UsbStatusNames.Name(s) + "; a SuperSpeed UAS device needs them");
                    return s == UsbStatus.NoDevice ? StorageStatus.NoDevice : StorageStatus.Unsupported;
                }
                UsesStreams = true;
                if (allocated - 1 < slots)
                    slots = allocated - 1;   // the last stream is the task management tag's
            }
            CommandSlots = slots;
            TransferBytes = CommandBytes * QueueDepth;
            IDmaAllocator dma = Device.Bus.Dma;
            _data = dma.Allocate((uint)TransferBytes, UsbBus.DmaAlignment, DmaLimit.Below4G);
            _small = dma.Allocate(SmallBufferBytes, UsbBus.DmaAlignment, DmaLimit.Below4G);
            _statusIu = dma.Allocate(Uas.SenseIuMaxLength, UsbBus.DmaAlignment, DmaLimit.Below4G);
            bool ok = !_data.IsNull && !_small.IsNull && !_statusIu.IsNull;
            _commands = new UasCommand[slots];
            for (int i = 0; i <= slots && ok; i++)
            {
                var c = new UasCommand((ushort)(i + 1));
                c.Iu = dma.Allocate(CommandIuBufferBytes, UsbBus.DmaAlignment, DmaLimit.Below4G);
                c.StatusIu = dma.Allocate(Uas.SenseIuMaxLength, UsbBus.DmaAlignment, DmaLimit.Below4G);
                c.Done = Device.Bus.Stack.Threading.CreateEvent(true);
                ok = !c.Iu.IsNull && !c.StatusIu.IsNull;
                if (i < slots) _commands[i] = c;
                else _tmf = c;
                if (!ok && i == slots) _tmf = c;
            }
            if (!ok)
            {
                FreeBuffers();
                if (UsesStreams)
                    Device.Bus.FreeStreams(Device, new UsbEndpoint[] { StatusPipe, DataInPipe, DataOutPipe });
                UsesStreams = false;
                return StorageStatus.NoMemory;
            }
            return StorageStatus.Ok;
        }

        void FreeBuffers()
        {
            IDmaAllocator dma = Device.Bus.Dma;
            Free(dma, ref _data);
            Free(dma, ref _small);
            Free(dma, ref _statusIu);
            for (int i = 0; i < _commands.Length; i++)
                if (_commands[i] != null)
                {
                    Free(dma, ref _commands[i].Iu);
                    Free(dma, ref _commands[i].StatusIu);
                }
            if (_tmf != null)
            {
                Free(dma, ref _tmf.Iu);
                Free(dma, ref _tmf.StatusIu);
            }
        }

        static void Free(IDmaAllocator dma, ref DmaBuffer buffer)
        {
            if (!buffer.IsNull)
                dma.Free(buffer);
            buffer = default(DmaBuffer);
        }

        /// <summary>Marks the transport gone, ends every request (bounded), frees streams and buffers.</summary>
        public void Release()
        {
            _gone = true;
            Lock.Lock();
            _recovery.Lock();
            UsbBus bus = Device.Bus;
            bool stuck = _stuck;
            for (int i = 0; i <= _commands.Length; i++)
            {
                UasCommand c = i < _commands.Length ? _commands[i] : _tmf;
                if (c == null) continue;
                stuck |= bus.Kill(c.CommandRequest) != UsbStatus.Ok;
                stuck |= bus.Kill(c.StatusRequest) != UsbStatus.Ok;
                stuck |= bus.Kill(c.DataRequest) != UsbStatus.Ok;
            }
            stuck |= bus.Kill(_status) != UsbStatus.Ok;
            if (UsesStreams && !Device.IsGone)
                bus.FreeStreams(Device, new UsbEndpoint[] { StatusPipe, DataInPipe, DataOutPipe });
            if (stuck)
                Log.Error("uas " + Name + ": leaking its buffers: a request on them would not die");
            else
                FreeBuffers();
            _recovery.Unlock();
            Lock.Unlock();
        }

        // ---- Starting commands -----------------------------------------------------------------

        UasCommand TakeSlot()
        {
            lock (_sync)
            {
                for (int i = 0; i < _commands.Length; i++)
                    if (!_commands[i].Busy)
                    {
                        Reset(_commands[i]);
                        _commands[i].Busy = true;
                        return _commands[i];
                    }
            }
            return null;
        }

        static void Reset(UasCommand c)
        {
            c.CommandSent = false;
            c.CommandStatus = UsbStatus.Ok;
            c.DataPending = false;
            c.DataSubmitted = false;
            c.GotStatus = false;
            c.Failure = StorageStatus.Ok;
            c.DataStatus = UsbStatus.Ok;
            c.Moved = 0;
            c.ScsiStatus = 0;
            c.ResponseCode = 0;
            c.SenseLength = 0;
            c.IsTaskManagement = false;
            c.Refused = false;
            c.Done.Reset();
        }

        void Prepare(UsbRequest r, UsbEndpoint endpoint, DmaBuffer buffer, int length, uint stream, UsbCompletion completion, object context)
        {
            r.Device = Device;
            r.Endpoint = endpoint;
            r.Buffer = buffer;
            r.Length = length;
            r.Flags = UsbRequestFlags.None;
            r.StreamId = stream;
            r.Completion = completion;
            r.Context = context;
        }

        /// <summary>
        /// Queues one command (UAS 6.2.2) without waiting: <paramref name="data"/> (DMA memory, at least
        /// <paramref name="length"/> bytes) is its data buffer. Several may be in flight, up to
        /// <see cref="CommandSlots"/>; <paramref name="command"/> is null when none is free (Busy) or
        /// the queueing failed. Every started command must be handed to <see cref="Finish"/>.
        /// </summary>
        public StorageStatus Start(byte lun, ReadOnlySpan<byte> cdb, bool dataIn, DmaBuffer data, int length, out UasCommand command)
        {
            command = null;
            if (IsGone)
                return StorageStatus.NoDevice;
            if (_stuck)
                return StorageStatus.TransportError;
            if (cdb.Length == 0 || cdb.Length > Uas.CommandCdbLength || length < 0 || (length > 0 && (data.IsNull || length > (int)data.Size)))
                return StorageStatus.InvalidArgument;
            UasCommand c = TakeSlot();
            if (c == null)
                return StorageStatus.Busy;
            c.Lun = lun;
            c.DataIn = dataIn;
            c.Length = length;
            c.Data = data;
            Uas.WriteCommand(c.Iu.AsSpan(), c.Tag, lun, cdb);
            command = c;
            return Queue(c);
        }

        /// <summary>Submits a command's (or TMF's) requests in Linux's order: status and data first (streams), then the IU.</summary>
        StorageStatus Queue(UasCommand c)
        {
            UsbBus bus = Device.Bus;
            int iuLength = c.IsTaskManagement ? Uas.TaskManagementIuLength : Uas.CommandIuLength;
            if (UsesStreams)
            {
                Prepare(c.StatusRequest, StatusPipe, c.StatusIu, Uas.SenseIuMaxLength, c.Tag, OnStatus, c);
                if (bus.Submit(c.StatusRequest) != UsbStatus.Ok)
                    return FailStart(c, "status");
                if (c.Length > 0)
                {
                    Prepare(c.DataRequest, c.DataIn ? DataInPipe : DataOutPipe, c.Data, c.Length, c.Tag, OnData, c);
                    lock (_sync) { c.DataPending = c.DataSubmitted = true; }
                    if (bus.Submit(c.DataRequest) != UsbStatus.Ok)
                    {
                        lock (_sync) { c.DataPending = false; }
                        return FailStart(c, "data");
                    }
                }
            }
            Prepare(c.CommandRequest, CommandPipe, c.Iu, iuLength, 0, OnCommand, c);
            if (bus.Submit(c.CommandRequest) != UsbStatus.Ok)
                return FailStart(c, "command");
            if (!UsesStreams)
                EnsureStatusQueued();
            return StorageStatus.Ok;
        }

        StorageStatus FailStart(UasCommand c, string what)
        {
            StorageStatus failure = IsGone ? StorageStatus.NoDevice : StorageStatus.TransportError;
            lock (_sync)
            {
                if (c.Failure == StorageStatus.Ok)
                    c.Failure = failure;
            }
            if (failure != StorageStatus.NoDevice)
                Log.Warning("uas " + Name + ": tag " + Format.Decimal(c.Tag) + ": could not queue the " + what + " request");
            c.Done.Signal();
            return StorageStatus.Ok;   // Finish reports the failure and cleans up
        }

        /// <summary>Below SuperSpeed: keeps the one status request queued while a command waits for status.</summary>
        void EnsureStatusQueued()
        {
            lock (_sync)
            {
                if (_statusQueued || !AnyWaitingForStatus() || _gone)
                    return;
                _statusQueued = true;
            }
            Prepare(_status, StatusPipe, _statusIu, Uas.SenseIuMaxLength, 0, OnStatus, null);
            UsbStatus s = Device.Bus.Submit(_status);
            if (s != UsbStatus.Ok)
            {
                lock (_sync)
                    _statusQueued = false;
                FailAll(s == UsbStatus.NoDevice || IsGone ? StorageStatus.NoDevice : StorageStatus.TransportError);
            }
        }

        bool AnyWaitingForStatus()
        {
            for (int i = 0; i < _commands.Length; i++)
                if (_commands[i].Busy && !_commands[i].GotStatus && _commands[i].Failure == StorageStatus.Ok)
                    return true;
            return _tmf != null && _tmf.Busy && !_tmf.GotStatus && _tmf.Failure == StorageStatus.Ok;
        }

        void FailAll(StorageStatus failure)
        {
            for (int i = 0; i <= _commands.Length; i++)
            {
                UasCommand c = i < _commands.Length ? _commands[i] : _tmf;
                if (c == null) continue;
                bool signal = false;
                lock (_sync)
                {
                    if (c.Busy && !c.GotStatus && c.Failure == StorageStatus.Ok)
                    {
                        c.Failure = failure;
                        signal = true;
                    }
                }
                if (signal)
                    c.Done.Signal();
            }
        }

        UasCommand FindTag(ushort tag)
        {
            for (int i = 0; i < _commands.Length; i++)
                if (_commands[i].Tag == tag && _commands[i].Busy)
                    return _commands[i];
            if (_tmf != null && _tmf.Tag == tag && _tmf.Busy)
                return _tmf;
            return null;
        }

        // ---- Completions (may run in interrupt context: no blocking) --------------------------

        void OnCommand(UsbRequest request)
        {
            var c = (UasCommand)request.Context;
            lock (_sync)
            {
                if (request.Status == UsbStatus.Ok)
                    c.CommandSent = true;
                else if (c.Failure == StorageStatus.Ok)
                {
                    c.CommandStatus = request.Status;
                    c.Failure = request.Status == UsbStatus.NoDevice ? StorageStatus.NoDevice :
                                request.Status == UsbStatus.Killed ? StorageStatus.Timeout : StorageStatus.TransportError;
                }
            }
            c.Done.Signal();
        }

        void OnData(UsbRequest request)
        {
            var c = (UasCommand)request.Context;
            lock (_sync)
            {
                c.DataPending = false;
                c.DataStatus = request.Status;
                c.Moved = request.ActualLength;
                // A STALL ends the data stage (the Sense IU still comes; the waiter clears the halt);
                // any other error fails the command.
                if (request.Status != UsbStatus.Ok && request.Status != UsbStatus.Stall && c.Failure == StorageStatus.Ok)
                    c.Failure = request.Status == UsbStatus.NoDevice ? StorageStatus.NoDevice :
                                request.Status == UsbStatus.Killed ? StorageStatus.Timeout : StorageStatus.TransportError;
            }
            c.Done.Signal();
        }

        void OnStatus(UsbRequest request)
        {
            UasCommand owner = request.Context as UasCommand;   // streams: the command of this stream; else null
            UasCommand signal = owner;
            UasCommand submitData = null;
            bool requeueShared = false, requeueOwn = false;
            lock (_sync)
            {
                if (owner == null)
                    _statusQueued = false;
                if (request.Status != UsbStatus.Ok)
                {
                    StorageStatus failure = request.Status == UsbStatus.NoDevice ? StorageStatus.NoDevice :
                                            request.Status == UsbStatus.Killed ? StorageStatus.Timeout : StorageStatus.TransportError;
                    if (owner != null)
                    {
                        if (owner.Failure == StorageStatus.Ok && !owner.GotStatus) owner.Failure = failure;
                    }
                    else if (request.Status != UsbStatus.Killed)
                        MarkAllLocked(failure);
                    if (request.Status != UsbStatus.NoDevice && request.Status != UsbStatus.Killed)
                        _statusError = request.Status;
                }
                else
                {
                    ReadOnlySpan<byte> iu = (owner != null ? owner.StatusIu : _statusIu).AsSpan().Slice(0, request.ActualLength);
                    string problem = Uas.CheckStatusIu(iu);
                    UasCommand c = iu.Length >= Uas.HeaderLength ? FindTag(Uas.ReadTag(iu)) : null;
                    if (owner != null)
                    {
                        // Streams: the stream says whose status it is, and the IU must agree.
                        if (problem == null && Uas.ReadTag(iu) != owner.Tag)
                            problem = "IU for tag " + Format.Decimal(Uas.ReadTag(iu)) + " on stream " + Format.Decimal(owner.Tag);
                        c = owner;
                    }
                    if (problem != null)
                    {
                        MalformedIus++;
                        _malformed = problem;
                        if (c != null && c.Failure == StorageStatus.Ok && !c.GotStatus)
                            c.Failure = StorageStatus.TransportError;
                        signal = c;
                    }
                    else if (c == null)
                    {
                        MalformedIus++;
                        _malformed = "status IU for tag " + Format.Decimal(Uas.ReadTag(iu)) + " with no command";
                    }
                    else
                    {
                        signal = c;
                        byte id = Uas.ReadId(iu);
                        if (id == Uas.IuSense && !c.IsTaskManagement)
                        {
                            c.GotStatus = true;
                            c.ScsiStatus = Uas.ReadSenseStatus(iu);
                            ReadOnlySpan<byte> sense = Uas.ReadSenseData(iu);
                            int n = sense.Length > c.Sense.Length ? c.Sense.Length : sense.Length;
                            for (int i = 0; i < n; i++) c.Sense[i] = sense[i];
                            c.SenseLength = n;
                        }
                        else if (id == Uas.IuResponse)
                        {
                            c.GotStatus = true;
                            c.ResponseCode = Uas.ReadResponseCode(iu);
                            if (!c.IsTaskManagement && c.Failure == StorageStatus.Ok)
                            {
                                c.Refused = true;   // the device refused the Command IU (bad tag, LUN...)
                                c.Failure = StorageStatus.TransportError;
                            }
                        }
                        else if ((id == Uas.IuReadReady || id == Uas.IuWriteReady) && !c.IsTaskManagement)
                        {
                            bool wantIn = id == Uas.IuReadReady;
                            if (c.Length == 0 || c.DataIn != wantIn || c.DataSubmitted)
                            {
                                if (!UsesStreams || c.Length == 0 || c.DataIn != wantIn)
                                {
                                    MalformedIus++;
                                    _malformed = (wantIn ? "Read Ready" : "Write Ready") + " IU for tag " + Format.Decimal(c.Tag) + " that has no such data stage";
                                    if (c.Failure == StorageStatus.Ok) c.Failure = StorageStatus.TransportError;
                                }
                                else
                                    requeueOwn = true;   // streams: data already queued; keep waiting for the Sense IU
                            }
                            else if (c.Failure == StorageStatus.Ok)
                            {
                                c.DataSubmitted = c.DataPending = true;
                                submitData = c;
                                requeueOwn = UsesStreams;
                            }
                        }
                        else
                        {
                            MalformedIus++;
                            _malformed = "unexpected IU 0x" + Format.Hex(id, 2) + " for tag " + Format.Decimal(c.Tag);
                            if (c.Failure == StorageStatus.Ok) c.Failure = StorageStatus.TransportError;
                        }
                    }
                    requeueShared = owner == null;
                }
            }
            if (submitData != null)
            {
                Prepare(submitData.DataRequest, submitData.DataIn ? DataInPipe : DataOutPipe, submitData.Data, submitData.Length,
                        UsesStreams ? submitData.Tag : 0u, OnData, submitData);
                UsbStatus s = Device.Bus.Submit(submitData.DataRequest);
                if (s != UsbStatus.Ok)
                    lock (_sync)
                    {
                        submitData.DataPending = false;
                        if (submitData.Failure == StorageStatus.Ok)
                            submitData.Failure = s == UsbStatus.NoDevice ? StorageStatus.NoDevice : StorageStatus.TransportError;
                    }
            }
            if (requeueOwn && owner != null)
            {
                Prepare(owner.StatusRequest, StatusPipe, owner.StatusIu, Uas.SenseIuMaxLength, owner.Tag, OnStatus, owner);
                if (Device.Bus.Submit(owner.StatusRequest) != UsbStatus.Ok)
                    lock (_sync)
                    {
                        if (owner.Failure == StorageStatus.Ok) owner.Failure = StorageStatus.TransportError;
                    }
            }
            if (requeueShared && !_gone)
                EnsureStatusQueued();
            if (signal != null)
                signal.Done.Signal();
        }

        UsbStatus _statusError = UsbStatus.Ok;
        string _malformed;

        void MarkAllLocked(StorageStatus failure)
        {
            for (int i = 0; i <= _commands.Length; i++)
            {
                UasCommand c = i < _commands.Length ? _commands[i] : _tmf;
                if (c != null && c.Busy && !c.GotStatus && c.Failure == StorageStatus.Ok)
                {
                    c.Failure = failure;
                    c.Done.Signal();
                }
            }
        }

        // ---- Waiting and recovery (thread context) --------------------------------------------

        /// <summary>
        /// Waits (bounded by <see cref="CommandTimeoutMs"/>) for a started command's status and data,
        /// recovers from what went wrong, and frees its slot. Ok or CheckCondition (its sense is then
        /// what <see cref="TakeSense"/> returns) or a failure. <paramref name="transferred"/> is what
        /// the data stage moved.
        /// </summary>
        public StorageStatus Finish(UasCommand c, out int transferred) => Finish(c, CommandTimeoutMs, out transferred);

        StorageStatus Finish(UasCommand c, uint timeoutMs, out int transferred)
        {
            transferred = 0;
            IClock clock = Device.Bus.Clock;
            ulong start = clock.Milliseconds;
            bool timedOut = false;
            while (true)
            {
                bool complete;
                lock (_sync)
                    complete = c.IsComplete;
                if (complete)
                    break;
                ulong elapsed = clock.Milliseconds - start;
                if (elapsed >= timeoutMs)
                {
                    timedOut = true;
                    break;
                }
                c.Done.Wait((uint)(timeoutMs - elapsed));
            }
            StorageStatus result = Conclude(c, timedOut, out transferred);
            lock (_sync)
                c.Busy = false;
            return result;
        }

        StorageStatus Conclude(UasCommand c, bool timedOut, out int transferred)
        {
            transferred = 0;
            if (_malformed != null)
            {
                Log.Warning("uas " + Name + ": malformed status: " + _malformed);
                _malformed = null;
            }
            if (IsGone)
            {
                KillRequests(c);
                return StorageStatus.NoDevice;
            }
            if (timedOut || c.Failure != StorageStatus.Ok)
            {
                StorageStatus failure = timedOut ? StorageStatus.Timeout : c.Failure;
                if (failure == StorageStatus.NoDevice)
                {
                    KillRequests(c);
                    return failure;
                }
                if (c.Refused)
                    Log.Warning("uas " + Name + ": tag " + Format.Decimal(c.Tag) + ": " + Uas.ResponseName(c.ResponseCode));
                else if (timedOut)
                    Log.Warning("uas " + Name + ": tag " + Format.Decimal(c.Tag) + ": command timed out");
                Recover(c, timedOut);
                return IsGone ? StorageStatus.NoDevice : failure;
            }
            if (c.DataStatus == UsbStatus.Stall)
            {
                ClearedHalts++;
                UsbStatus clear = UsbMessages.ClearHalt(Device, (c.DataIn ? DataInPipe : DataOutPipe).Address);
                if (clear == UsbStatus.NoDevice)
                    return StorageStatus.NoDevice;
            }
            if (c.DataPending)
                KillRequests(c);   // CHECK CONDITION before the data stage ended
            transferred = c.Moved;
            if (c.ScsiStatus == Uas.StatusGood)
                return StorageStatus.Ok;
            if (c.ScsiStatus == Uas.StatusCheckCondition)
            {
                int n = c.SenseLength;
                for (int i = 0; i < n; i++) _lastSense[i] = c.Sense[i];
                _lastSenseLength = n;
                return StorageStatus.CheckCondition;
            }
            Log.Warning("uas " + Name + ": tag " + Format.Decimal(c.Tag) + ": SCSI status 0x" + Format.Hex(c.ScsiStatus, 2));
            return StorageStatus.CheckCondition;
        }

        /// <summary>Ends the command's own requests (bounded kills); a request that will not die makes the transport unusable.</summary>
        void KillRequests(UasCommand c)
        {
            UsbBus bus = Device.Bus;
            if (bus.Kill(c.DataRequest) != UsbStatus.Ok) _stuck = true;
            if (bus.Kill(c.CommandRequest) != UsbStatus.Ok) _stuck = true;
            if (UsesStreams && bus.Kill(c.StatusRequest) != UsbStatus.Ok) _stuck = true;
            if (_stuck)
                Log.Error("uas " + Name + ": a request would not die; no more commands");
        }

        /// <summary>
        /// After a timeout or transport failure (uas.c's error handler, bounded at every step): the
        /// command's requests are killed, halted pipes cleared, then ABORT TASK for a command the device
        /// may still hold (timed out, status lost, overlapped tag), LOGICAL UNIT RESET if that fails,
        /// and a device reset when the device answers nothing.
        /// </summary>
        void Recover(UasCommand c, bool timedOut)
        {
            _recovery.Lock();
            KillRequests(c);
            bool ok = !_stuck;
            if (ok && _statusError != UsbStatus.Ok)
            {
                UsbStatus st = _statusError;
                _statusError = UsbStatus.Ok;
                if (st == UsbStatus.Stall)
                {
                    ClearedHalts++;
                    ok = UsbMessages.ClearHalt(Device, StatusPipe.Address) == UsbStatus.Ok;
                }
                if (!UsesStreams)
                    EnsureStatusQueued();
            }
            // A data pipe that STALLed or failed on the wire (not one we killed) is cleared.
            if (ok && c.DataSubmitted && c.DataStatus != UsbStatus.Ok && c.DataStatus != UsbStatus.Killed &&
                c.DataStatus != UsbStatus.Cancelled && c.DataStatus != UsbStatus.NoDevice)
            {
                ClearedHalts++;
                ok = UsbMessages.ClearHalt(Device, (c.DataIn ? DataInPipe : DataOutPipe).Address) == UsbStatus.Ok;
            }
            if (ok && c.CommandStatus == UsbStatus.Stall)
            {
                ClearedHalts++;
                ok = UsbMessages.ClearHalt(Device, CommandPipe.Address) == UsbStatus.Ok;
            }
            // The device may still hold the task: the command went out and no Sense IU ended it (timed
            // out, its status lost to a malformed IU, or a Response IU refused it, e.g. overlapped tag).
            // Abort it, or its tag could never be used again.
            bool endedBySense = c.GotStatus && !c.Refused;
            bool deviceHoldsTask = !c.IsTaskManagement && (c.CommandSent || c.Refused) && !endedBySense;
            if (ok && (timedOut || deviceHoldsTask) && !c.IsTaskManagement)
            {
                Aborts++;
                Log.Warning("uas " + Name + ": ABORT TASK tag " + Format.Decimal(c.Tag));
                ok = TaskManagement(Uas.TmfAbortTask, c.Tag, c.Lun);
                if (!ok)
                {
                    LunResets++;
                    Log.Warning("uas " + Name + ": LOGICAL UNIT RESET LUN " + Format.Decimal(c.Lun));
                    ok = TaskManagement(Uas.TmfLogicalUnitReset, 0, c.Lun);
                }
            }
            if (!ok && !IsGone)
            {
                DeviceResets++;
                Log.Error("uas " + Name + ": device not responding, resetting it");
                Device.Bus.Stack.ResetDevice(Device);
            }
            _recovery.Unlock();
        }

        /// <summary>One task management function (UAS 6.2.3) on the reserved tag; true when the Response IU said it completed or succeeded.</summary>
        public bool TaskManagement(byte function, ushort managedTag, byte lun)
        {
            UasCommand t = _tmf;
            if (t == null || IsGone || _stuck)
                return false;
            lock (_sync)
            {
                if (t.Busy)
                    return false;
                Reset(t);
                t.Busy = true;
                t.IsTaskManagement = true;
            }
            t.Lun = lun;
            t.Length = 0;
            Uas.WriteTaskManagement(t.Iu.AsSpan(), t.Tag, function, managedTag, lun);
            Queue(t);
            IClock clock = Device.Bus.Clock;
            ulong start = clock.Milliseconds;
            bool complete = false;
            while (!complete)
            {
                lock (_sync)
                    complete = t.IsComplete;
                ulong elapsed = clock.Milliseconds - start;
                if (complete || elapsed >= TaskManagementTimeoutMs)
                    break;
                t.Done.Wait((uint)(TaskManagementTimeoutMs - elapsed));
            }
            bool ok = complete && t.Failure == StorageStatus.Ok && t.GotStatus &&
                      (t.ResponseCode == Uas.ResponseTmfComplete || t.ResponseCode == Uas.ResponseTmfSucceeded);
            if (complete && t.GotStatus && !ok)
                Log.Warning("uas " + Name + ": task management 0x" + Format.Hex(function, 2) + ": " + Uas.ResponseName(t.ResponseCode));
            if (!complete)
                KillRequests(t);
            lock (_sync)
                t.Busy = false;
            return ok;
        }

        // ---- IScsiTransport -------------------------------------------------------------------

        public StorageStatus Command(byte lun, ReadOnlySpan<byte> cdb, bool dataIn, bool small, int length, out int transferred)
        {
            transferred = 0;
            if (IsGone)
                return StorageStatus.NoDevice;
            if (length < 0 || length > (small ? SmallBufferBytes : TransferBytes))
                return StorageStatus.InvalidArgument;
            _lastSenseLength = 0;
            StorageStatus status = Start(lun, cdb, dataIn, small ? _small : _data, length, out UasCommand c);
            if (c == null)
                return status;
            return Finish(c, out transferred);
        }

        public StorageStatus Start(byte lun, ReadOnlySpan<byte> cdb, bool dataIn, int offset, int length, out int handle)
        {
            handle = 0;
            if (IsGone)
                return StorageStatus.NoDevice;
            if (offset < 0 || length < 0 || offset > TransferBytes || length > TransferBytes - offset)
                return StorageStatus.InvalidArgument;
            // The command's slice of the data buffer (DMA memory in place: no copy).
            DmaBuffer slice = new DmaBuffer
            {
                Virtual = _data.Virtual + offset,
                Physical = _data.Physical + (ulong)offset,
                Size = (uint)length,
            };
            StorageStatus status = Start(lun, cdb, dataIn, slice, length, out UasCommand c);
            if (c != null)
                handle = c.Tag;
            return status;
        }

        public StorageStatus Finish(int handle, out int transferred)
        {
            transferred = 0;
            UasCommand c = handle >= 1 && handle <= _commands.Length ? _commands[handle - 1] : null;
            bool busy;
            lock (_sync)
                busy = c != null && c.Busy;
            if (!busy)
                return StorageStatus.InvalidArgument;
            _lastSenseLength = 0;
            return Finish(c, out transferred);
        }

        public int TakeSense(Span<byte> destination)
        {
            int n = _lastSenseLength < destination.Length ? _lastSenseLength : destination.Length;
            for (int i = 0; i < n; i++) destination[i] = _lastSense[i];
            _lastSenseLength = 0;
            return n;
        }

        /// <summary>
        /// REPORT LUNS (SPC-4 6.33) for the highest LUN to scan (UAS has no GET MAX LUN); 0 when the
        /// device refuses it. Caller holds <see cref="Lock"/>.
        /// </summary>
        public int ReportMaxLun()
        {
            var cdb = new byte[Scsi.ReportLunsCdbLength];
            cdb[0] = Scsi.ReportLuns;
            Bytes.Be32(new Span<byte>(cdb), Scsi.ReportLunsAllocationOffset, SmallBufferBytes);
            StorageStatus status = Command(0, new ReadOnlySpan<byte>(cdb), true, true, SmallBufferBytes, out int n);
            if (status == StorageStatus.CheckCondition)
                TakeSense(Span<byte>.Empty);
            if (status != StorageStatus.Ok || n < Scsi.ReportLunsHeaderLength)
                return 0;
            return Scsi.ParseReportLunsMax(Small.Slice(0, n), MassStorage.MaxLun);
        }
    }
}
