using System;
using System.Collections.Generic;
using System.Diagnostics;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Storage;
using Usb.Tests.Simulation;

namespace Usb.Tests.Storage
{
    /// <summary>
    /// A simulated high-speed UAS disk with the descriptors of a real USB 3 SATA bridge seen on a
    /// USB 2 port (JMicron JMS567 / ASMedia ASM1153 layout): interface 0 alternate setting 0 is
    /// Bulk-Only (0x81 IN, 0x02 OUT), alternate setting 1 is UAS with four bulk endpoints each
    /// followed by its Pipe Usage descriptor: 0x81 data-in (3), 0x02 data-out (4), 0x83 status (2),
    /// 0x04 command (1). It behaves like QEMU's usb-uas: Command IUs are queued as tasks; without
    /// streams (high speed) one Read Ready / Write Ready IU per direction at a time announces the
    /// data stage; with streams (SuperSpeed: companion descriptors with MaxStreams 4, like QEMU's)
    /// the data and status requests of Stream ID n belong to the task with tag n and no Ready IUs
    /// are sent. A Sense IU ends every command; ABORT TASK and LOGICAL UNIT RESET answer with a
    /// Response IU.
    /// Runs on the simulated controller's thread under its lock (tests change it through Mutate).
    /// </summary>
    public sealed class SimUasDevice : SimDevice
    {
        public const int BlockSize = 512;
        public const byte DataIn = 0x81, DataOut = 0x02, Status = 0x83, CommandPipe = 0x04;

        sealed class Task
        {
            public ushort Tag;
            public int Lun;
            public byte[] Cdb;
            public byte[] DataIn;       // READ data / INQUIRY... (null: no data-in stage)
            public int DataOutLength;   // WRITE: bytes expected
            public ulong WriteLba;
            public int Offset;
            public bool Announced;
        }

        public readonly byte[] Image;
        readonly List<Task> _tasks = new List<Task>();
        readonly Queue<byte[]> _status = new Queue<byte[]>();
        /// <summary>Streams: the status IUs waiting for their stream's status request, by Stream ID (= tag).</summary>
        readonly Dictionary<int, Queue<byte[]>> _streamStatus = new Dictionary<int, Queue<byte[]>>();
        public readonly bool UsesStreams;
        /// <summary>Stream IDs of the data and status transfers served, in order.</summary>
        public readonly List<(byte Endpoint, uint Stream)> StreamTransfers = new List<(byte, uint)>();
        public int ReadyIus;
        Task _activeIn, _activeOut;

        // Observations.
        public readonly List<byte[]> CommandIus = new List<byte[]>();
        public readonly List<byte[]> TaskManagementIus = new List<byte[]>();
        public int MostTasksInFlight;
        public int ReadWriteCommands;

        // Faults and holds.
        /// <summary>The status pipe NAKs (the device is "busy"): Command IUs pile up as tasks.</summary>
        public bool HoldStatus;
        /// <summary>The data pipes NAK forever (a device that stopped mid-transfer: the command times out).</summary>
        public bool HoldData;
        /// <summary>The next data-in transfer STALLs; the command ends with CHECK CONDITION (aborted command).</summary>
        public bool StallNextDataIn;
        /// <summary>Rewrites the next status IU once (fuzzing: any bytes, any length).</summary>
        public Func<byte[], byte[]> MutateNextStatus;
        /// <summary>The next status IU is cut to this many bytes (malformed).</summary>
        public int? TruncateNextStatus;
        /// <summary>The next Sense IU carries this tag instead of the command's.</summary>
        public ushort? WrongTagNextSense;
        /// <summary>The next command gets CHECK CONDITION with this sense key / ASC.</summary>
        public (byte Key, byte Asc)? CheckNext;
        /// <summary>ABORT TASK is answered "TMF failed" (the driver then resets the logical unit).</summary>
        public bool FailAbort;
        /// <summary>Task management IUs get no Response IU at all (a hung device: the driver resets it).</summary>
        public bool IgnoreTaskManagement;
        /// <summary>Called once when the next Command IU arrives (e.g. to unplug the device), then cleared.</summary>
        public Action OnCommand;
        /// <summary>A READ or WRITE whose blocks include this LBA ends with CHECK CONDITION <see cref="CheckAtLbaSense"/> (no data moves).</summary>
        public ulong? CheckAtLba;
        public (byte Key, byte Asc) CheckAtLbaSense = (Scsi.SenseMediumError, 0x11);
        /// <summary><see cref="CheckAtLba"/> fails one command only (then is cleared): a unit attention the host retries.</summary>
        public bool CheckAtLbaOnce;
        /// <summary>
        /// Sense IUs of READ/WRITE commands are held until this many are held (or no other READ/WRITE is
        /// in flight), then sent newest first: the commands complete in the reverse of their order.
        /// </summary>
        public int ReverseStatusBatch;
        readonly List<(ushort Tag, byte[] Iu)> _heldSense = new List<(ushort, byte[])>();
        Stopwatch _heldSince = new Stopwatch();
        const int HeldSenseIdleMs = 50;
        /// <summary>Command IUs that named a tag still in flight (answered OVERLAPPED TAG ATTEMPTED).</summary>
        public int OverlappedTags;
        /// <summary>Largest number of READ/WRITE commands in flight at once (started, status not yet sent).</summary>
        public int MostReadWritesInFlight;

        public SimUasDevice(int blocks = 8192, bool superSpeed = false)
            : base("USB 3.0 SATA bridge", superSpeed ? UsbSpeed.Super : UsbSpeed.High,
                   Desc.Device(0x152d, 0x0567, maxPacket0: superSpeed ? (byte)9 : (byte)64, bcdUsb: superSpeed ? (ushort)0x0310 : (ushort)0x0210),
                   UasConfig(superSpeed))
        {
            Image = SimLun.Pattern(blocks, 0);
            UsesStreams = superSpeed;
        }

        static byte[] PipeUsage(byte pipe) => Desc.Raw(Uas.PipeUsageLength, Uas.DescriptorPipeUsage, pipe, 0);

        /// <summary>MaxStreams 4 (16 streams) on the status and data pipes, as QEMU's usb-uas (UAS_STREAM_BM_ATTR).</summary>
        const byte CompanionStreams = 4;

        /// <summary>Alternate setting 0 Bulk-Only, 1 UAS, as USB 3 SATA bridges report them (SuperSpeed: companions, streams on status and data).</summary>
        public static byte[] UasConfig(bool superSpeed = false)
        {
            ushort mps = superSpeed ? (ushort)1024 : (ushort)512;
            byte[] Ep(byte address, byte streams) => superSpeed
                ? Desc.Concat(Desc.Endpoint(address, TransferType.Bulk, mps, 0), Desc.Companion(15, streams, 0))
                : Desc.Endpoint(address, TransferType.Bulk, mps, 0);
            return Desc.Config(1, 0xC0, 1,
                Desc.Interface(0, 0, 2, UsbClass.MassStorage, MassStorage.SubclassScsi, MassStorage.ProtocolBulkOnly),
                Ep(DataIn, 0),
                Ep(DataOut, 0),
                Desc.Interface(0, 1, 4, UsbClass.MassStorage, MassStorage.SubclassScsi, Uas.ProtocolUas),
                Ep(DataIn, CompanionStreams), PipeUsage(Uas.PipeDataIn),
                Ep(DataOut, CompanionStreams), PipeUsage(Uas.PipeDataOut),
                Ep(Status, CompanionStreams), PipeUsage(Uas.PipeStatus),
                Ep(CommandPipe, 0), PipeUsage(Uas.PipeCommand));
        }

        public int TasksInFlight => _tasks.Count;

        public override void Reset()
        {
            base.Reset();
            _tasks.Clear();
            _status.Clear();
            _streamStatus.Clear();
            _heldSense.Clear();
            _activeIn = _activeOut = null;
        }

        public override SimResult HandleData(byte address, bool isIn, byte[] buffer, int length)
        {
            if (Configuration == 0 || !Endpoints.TryGetValue(address, out SimEndpoint e))
                return SimResult.Fail(UsbStatus.TransactionError);
            if (e.Halted)
                return SimResult.Stall;
            switch (address)
            {
                case CommandPipe:
                    return CommandIu(buffer, length);
                case Status:
                {
                    FlushHeldSenseIfIdle();
                    Queue<byte[]> queue = _status;
                    if (UsesStreams && !_streamStatus.TryGetValue((int)StreamId, out queue))
                        return SimResult.Nak;
                    if (HoldStatus || queue.Count == 0)
                        return SimResult.Nak;
                    StreamTransfers.Add((address, StreamId));
                    byte[] iu = queue.Dequeue();
                    if (MutateNextStatus != null)
                    {
                        iu = MutateNextStatus(iu);
                        MutateNextStatus = null;
                    }
                    int n = Math.Min(iu.Length, length);
                    if (TruncateNextStatus.HasValue)
                    {
                        n = Math.Min(n, TruncateNextStatus.Value);
                        TruncateNextStatus = null;
                    }
                    Array.Copy(iu, buffer, n);
                    return SimResult.Ok(n);
                }
                case DataIn:
                    if (HoldData) return SimResult.Nak;
                    if (UsesStreams)
                    {
                        // The data of Stream ID n is task n's; until it exists the request waits (QEMU: data3[n]).
                        _activeIn = _tasks.Find(t => t.Tag == StreamId && t.DataIn != null);
                        if (_activeIn == null) return SimResult.Nak;
                        StreamTransfers.Add((address, StreamId));
                    }
                    if (_activeIn == null) { e.Halted = true; return SimResult.Stall; }   // QEMU: "no inflight request"
                    if (StallNextDataIn)
                    {
                        StallNextDataIn = false;
                        e.Halted = true;
                        Task t = _activeIn;
                        _activeIn = null;
                        Complete(t, 0x06, 0x29);   // UNIT ATTENTION (as SimBotDevice): the host retries
                        return SimResult.Stall;
                    }
                    {
                        Task t = _activeIn;
                        int m = Math.Min(length, t.DataIn.Length - t.Offset);
                        Array.Copy(t.DataIn, t.Offset, buffer, 0, m);
                        t.Offset += m;
                        if (t.Offset >= t.DataIn.Length)
                        {
                            _activeIn = null;
                            Complete(t, 0, 0);
                        }
                        return SimResult.Ok(m);
                    }
                case DataOut:
                    if (HoldData) return SimResult.Nak;
                    if (UsesStreams)
                    {
                        _activeOut = _tasks.Find(t => t.Tag == StreamId && t.DataOutLength > 0);
                        if (_activeOut == null) return SimResult.Nak;
                        StreamTransfers.Add((address, StreamId));
                    }
                    if (_activeOut == null) { e.Halted = true; return SimResult.Stall; }
                    {
                        Task t = _activeOut;
                        int m = Math.Min(length, t.DataOutLength - t.Offset);
                        Array.Copy(buffer, 0, Image, (long)t.WriteLba * BlockSize + t.Offset, m);
                        t.Offset += m;
                        if (t.Offset >= t.DataOutLength)
                        {
                            _activeOut = null;
                            Complete(t, 0, 0);
                        }
                        return SimResult.Ok(m);
                    }
            }
            return SimResult.Stall;
        }

        SimResult CommandIu(byte[] b, int length)
        {
            var copy = new byte[length];
            Array.Copy(b, copy, length);
            if (OnCommand != null)
            {
                Action hook = OnCommand;
                OnCommand = null;
                hook();
            }
            if (length < Uas.HeaderLength)
            {
                Endpoint(CommandPipe).Halted = true;
                return SimResult.Stall;
            }
            ushort tag = (ushort)(b[2] << 8 | b[3]);
            if (b[0] == Uas.IuTaskManagement)
            {
                TaskManagementIus.Add(copy);
                if (IgnoreTaskManagement)
                    return SimResult.Ok(length);
                byte function = b[4];
                ushort managed = (ushort)(b[6] << 8 | b[7]);
                byte code = Uas.ResponseTmfNotSupported;
                if (function == Uas.TmfAbortTask)
                {
                    code = FailAbort ? Uas.ResponseTmfFailed : Uas.ResponseTmfComplete;
                    if (!FailAbort)
                        Drop(_tasks.Find(t => t.Tag == managed));
                }
                else if (function == Uas.TmfLogicalUnitReset)
                {
                    code = Uas.ResponseTmfComplete;
                    foreach (Task t in _tasks.ToArray())
                        Drop(t);
                }
                Post(tag, new byte[] { Uas.IuResponse, 0, (byte)(tag >> 8), (byte)tag, 0, 0, 0, code });
                return SimResult.Ok(length);
            }
            if (b[0] != Uas.IuCommand)
            {
                Endpoint(CommandPipe).Halted = true;   // QEMU: unknown command IU → STALL
                return SimResult.Stall;
            }
            CommandIus.Add(copy);
            if (_tasks.Exists(t => t.Tag == tag))
            {
                OverlappedTags++;
                Post(tag, new byte[] { Uas.IuResponse, 0, (byte)(tag >> 8), (byte)tag, 0, 0, 0, Uas.ResponseOverlappedTag });
                return SimResult.Ok(length);
            }
            var task = new Task { Tag = tag, Lun = b[9], Cdb = new byte[16] };
            Array.Copy(b, 16, task.Cdb, 0, 16);
            _tasks.Add(task);
            MostTasksInFlight = Math.Max(MostTasksInFlight, _tasks.Count);
            MostReadWritesInFlight = Math.Max(MostReadWritesInFlight, _tasks.FindAll(IsReadWrite).Count + _heldSense.Count);
            Execute(task);
            Announce();
            return SimResult.Ok(length);
        }

        static bool IsReadWrite(Task t) => t.Cdb[0] == Scsi.Read10 || t.Cdb[0] == Scsi.Write10;

        /// <summary>Whether the READ/WRITE of <paramref name="count"/> blocks at <paramref name="lba"/> hits <see cref="CheckAtLba"/>: it then ends with CHECK CONDITION.</summary>
        bool FailsAt(Task t, uint lba, int count)
        {
            if (!CheckAtLba.HasValue || CheckAtLba.Value < lba || CheckAtLba.Value >= lba + (ulong)count)
                return false;
            if (CheckAtLbaOnce)
                CheckAtLba = null;
            Complete(t, CheckAtLbaSense.Key, CheckAtLbaSense.Asc);
            return true;
        }

        void Drop(Task t)
        {
            if (t == null) return;
            _tasks.Remove(t);
            if (_activeIn == t) _activeIn = null;
            if (_activeOut == t) _activeOut = null;
        }

        void Execute(Task t)
        {
            byte[] cdb = t.Cdb;
            if (CheckNext.HasValue)
            {
                (byte key, byte asc) = CheckNext.Value;
                CheckNext = null;
                Complete(t, key, asc);
                return;
            }
            if (t.Lun != 0 && cdb[0] != Scsi.ReportLuns)
            {
                Complete(t, 0x05, 0x25);
                return;
            }
            int blocks = Image.Length / BlockSize;
            switch (cdb[0])
            {
                case Scsi.TestUnitReady:
                case Scsi.SynchronizeCache10:
                    Complete(t, 0, 0);
                    return;
                case Scsi.Inquiry:
                {
                    var r = new byte[36];
                    r[2] = 6; r[3] = 2; r[4] = 31;
                    Ascii(r, 8, "JMicron Generic         0508");
                    t.DataIn = Clip(r, cdb[4]);
                    return;
                }
                case Scsi.ReportLuns:
                {
                    var r = new byte[16];
                    r[3] = 8;   // one LUN: 0
                    t.DataIn = Clip(r, (int)Bytes.ReadBe32(cdb, 6));
                    return;
                }
                case Scsi.ModeSense6:
                    t.DataIn = Clip(new byte[] { 3, 0, 0, 0 }, cdb[4]);
                    return;
                case Scsi.ReadCapacity10:
                {
                    var r = new byte[8];
                    Bytes.Be32(r, 0, (uint)(blocks - 1));
                    Bytes.Be32(r, 4, BlockSize);
                    t.DataIn = r;
                    return;
                }
                case Scsi.Read10:
                {
                    ReadWriteCommands++;
                    uint lba = Bytes.ReadBe32(cdb, 2);
                    int count = Bytes.ReadBe16(cdb, 7);
                    if (lba + count > blocks) { Complete(t, 0x05, 0x21); return; }
                    if (FailsAt(t, lba, count)) return;
                    t.DataIn = new byte[count * BlockSize];
                    Array.Copy(Image, (long)lba * BlockSize, t.DataIn, 0, t.DataIn.Length);
                    if (t.DataIn.Length == 0) Complete(t, 0, 0);
                    return;
                }
                case Scsi.Write10:
                {
                    ReadWriteCommands++;
                    uint lba = Bytes.ReadBe32(cdb, 2);
                    int count = Bytes.ReadBe16(cdb, 7);
                    if (lba + count > blocks) { Complete(t, 0x05, 0x21); return; }
                    if (FailsAt(t, lba, count)) return;
                    t.WriteLba = lba;
                    t.DataOutLength = count * BlockSize;
                    if (count == 0) Complete(t, 0, 0);
                    return;
                }
                default:
                    Complete(t, 0x05, 0x20);
                    return;
            }
        }

        static byte[] Clip(byte[] r, int allocation)
        {
            var c = new byte[Math.Min(r.Length, allocation)];
            Array.Copy(r, c, c.Length);
            return c;
        }

        static void Ascii(byte[] b, int at, string s)
        {
            for (int i = 0; i < s.Length; i++) b[at + i] = (byte)s[i];
        }

        /// <summary>Like QEMU's usb_uas_start_next_transfer: one Read Ready and one Write Ready outstanding at a time, in command order.</summary>
        void Announce()
        {
            if (UsesStreams)
                return;   // with streams the data requests name their task: no Ready IUs (QEMU usb_uas_start_next_transfer)
            foreach (Task t in _tasks)
            {
                if (t.Announced) continue;
                if (t.DataIn != null && _activeIn == null)
                {
                    _activeIn = t;
                    t.Announced = true;
                    _status.Enqueue(new byte[] { Uas.IuReadReady, 0, (byte)(t.Tag >> 8), (byte)t.Tag });
                    ReadyIus++;
                }
                else if (t.DataOutLength > 0 && _activeOut == null)
                {
                    _activeOut = t;
                    t.Announced = true;
                    _status.Enqueue(new byte[] { Uas.IuWriteReady, 0, (byte)(t.Tag >> 8), (byte)t.Tag });
                    ReadyIus++;
                }
            }
        }

        /// <summary>Sense IU (fixed-format sense when not GOOD), the task leaves, the next data stage is announced.</summary>
        void Complete(Task t, byte key, byte asc)
        {
            _tasks.Remove(t);
            ushort tag = WrongTagNextSense ?? t.Tag;
            WrongTagNextSense = null;
            byte[] iu;
            if (key == 0)
                iu = new byte[Uas.SenseIuHeaderLength];
            else
            {
                iu = new byte[Uas.SenseIuHeaderLength + 18];
                iu[6] = Uas.StatusCheckCondition;
                iu[15] = 18;
                iu[16] = 0x70; iu[16 + 2] = key; iu[16 + 7] = 10; iu[16 + 12] = asc;
            }
            iu[0] = Uas.IuSense;
            iu[2] = (byte)(tag >> 8);
            iu[3] = (byte)tag;
            if (ReverseStatusBatch > 0 && IsReadWrite(t))
            {
                _heldSense.Add((t.Tag, iu));
                if (_heldSense.Count == 1)
                    _heldSince = Stopwatch.StartNew();
                if (_heldSense.Count >= ReverseStatusBatch)
                    FlushHeldSense();
            }
            else
                Post(t.Tag, iu);
            Announce();
        }

        /// <summary>The held Sense IUs go out, newest first.</summary>
        void FlushHeldSense()
        {
            for (int i = _heldSense.Count - 1; i >= 0; i--)
                Post(_heldSense[i].Tag, _heldSense[i].Iu);
            _heldSense.Clear();
        }

        /// <summary>
        /// A batch smaller than <see cref="ReverseStatusBatch"/> (the end of a request) goes out once no
        /// READ/WRITE is left and none arrived for <see cref="HeldSenseIdleMs"/>: the host started all it would.
        /// </summary>
        void FlushHeldSenseIfIdle()
        {
            if (_heldSense.Count > 0 && !_tasks.Exists(IsReadWrite) && _heldSince.ElapsedMilliseconds >= HeldSenseIdleMs)
                FlushHeldSense();
        }

        /// <summary>A status IU for the task with <paramref name="stream"/>'s tag: its stream's queue with streams, the one queue without.</summary>
        void Post(ushort stream, byte[] iu)
        {
            if (!UsesStreams)
            {
                _status.Enqueue(iu);
                return;
            }
            if (!_streamStatus.TryGetValue(stream, out Queue<byte[]> queue))
                _streamStatus[stream] = queue = new Queue<byte[]>();
            queue.Enqueue(iu);
        }
    }
}
