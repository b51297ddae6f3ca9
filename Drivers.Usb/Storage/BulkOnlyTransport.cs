using System;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Storage
{
    /// <summary>Outcome of one SCSI command over the transport.</summary>
    public enum StorageStatus
    {
        Ok,
        /// <summary>CSW status 1: the command failed; REQUEST SENSE tells why.</summary>
        CheckCondition,
        /// <summary>CSW status 2 or an invalid CSW (BOT 6.3, 6.5): reset recovery was done.</summary>
        PhaseError,
        /// <summary>A transfer failed (transaction error, babble, ...): reset recovery was done.</summary>
        TransportError,
        /// <summary>Not ready, medium not present (sense 02/3A): no card in the reader, disk ejected.</summary>
        NoMedium,
        /// <summary>The medium is write protected (MODE SENSE WP bit, or sense DATA PROTECT / 27h).</summary>
        WriteProtected,
        Timeout,
        NoDevice,
        InvalidArgument,
        NoMemory,
        /// <summary>The blocks asked for lie (partly) beyond the end of the disk or of READ(10)'s 32-bit LBA.</summary>
        OutOfRange,
        /// <summary>The device reported something the driver refuses to work with (e.g. an absurd block size).</summary>
        Unsupported,
        /// <summary>Every command tag of a queueing transport is in use: finish a command first.</summary>
        Busy,
    }

    public static class StorageStatusNames
    {
        public static string Name(StorageStatus status)
        {
            switch (status)
            {
                case StorageStatus.Ok: return "ok";
                case StorageStatus.CheckCondition: return "check condition (-EIO)";
                case StorageStatus.PhaseError: return "phase error (-EIO)";
                case StorageStatus.TransportError: return "transport error (-EIO)";
                case StorageStatus.NoMedium: return "no medium (-ENOMEDIUM)";
                case StorageStatus.WriteProtected: return "write protected (-EROFS)";
                case StorageStatus.Timeout: return "timeout (-ETIMEDOUT)";
                case StorageStatus.NoDevice: return "no device (-ENODEV)";
                case StorageStatus.InvalidArgument: return "invalid argument (-EINVAL)";
                case StorageStatus.NoMemory: return "out of memory (-ENOMEM)";
                case StorageStatus.OutOfRange: return "beyond the end of the device (-EINVAL)";
                case StorageStatus.Unsupported: return "unsupported device (-EOPNOTSUPP)";
                case StorageStatus.Busy: return "no free command tag (-EBUSY)";
                default: return "unknown";
            }
        }
    }

    /// <summary>
    /// Bulk-Only Transport (USB MSC BOT 1.0) on one interface: CBW on bulk OUT, optional data stage,
    /// CSW on bulk IN, with the error handling of BOT 5.3 and 6.6 (STALL in the data stage: clear the
    /// halt and read the CSW; STALL on the CSW: clear and read once more; phase error, invalid CSW or
    /// a failed transfer: reset recovery = Bulk-Only Mass Storage Reset + CLEAR_FEATURE(HALT) on both
    /// endpoints). One command at a time (callers hold <see cref="Lock"/>); every transfer is bounded
    /// by a timeout and killed when it expires. DMA buffers come from the bus's allocator.
    /// </summary>
    public sealed class BulkOnlyTransport : IScsiTransport
    {
        /// <summary>
        /// Largest data stage per command on high-speed and faster devices: 1 MiB, as Linux's
        /// usb-storage allows SuperSpeed devices (max_sectors 2048). Few large commands instead of
        /// many small ones: each command costs three transfers and three completions.
        /// </summary>
        public const int MaxTransferBytes = 1024 * 1024;
        /// <summary>
        /// Largest data stage on full- and low-speed devices: 256 KiB (about 215 ms on the wire at full
        /// speed). A command costs about three frames besides its data (CBW, CSW, the data's last
        /// partial frame, each queued after the one before completed): with 64 KiB that was 7 % of a
        /// UHCI's time (55 frames per 51 of data) and two thirds of an OHCI's under QEMU, which runs
        /// each phase in one frame; with 256 KiB it is 2 % on UHCI (Linux's 64 KiB dd gets 1.2 MB/s
        /// of QEMU's 1.28) and a quarter of the commands on OHCI.
        /// </summary>
        public const int FullSpeedTransferBytes = 256 * 1024;
        /// <summary>Buffer for the small commands (INQUIRY, REQUEST SENSE, READ CAPACITY, MODE SENSE), so they never touch the data buffer.</summary>
        public const int SmallBufferBytes = 256;
        /// <summary>CBW and CSW transfers.</summary>
        public const uint WrapperTimeoutMs = 5000;
        /// <summary>
        /// Data stage of up to <see cref="MaxTransferBytes"/> (1 MiB at high speed is about 20 ms on
        /// the wire, 256 KiB at full speed about 215 ms; real media may spin up first).
        /// </summary>
        public const uint DataTimeoutMs = 20000;
        const int WrapperBufferSize = 64;

        public readonly UsbInterface Interface;
        public UsbDevice Device { get; }
        public readonly UsbEndpoint BulkIn;
        public readonly UsbEndpoint BulkOut;
        public string Name { get; }
        public string DriverName => UsbStorageDriver.DriverName;
        /// <summary>Serializes commands; Disconnect takes it before freeing the buffers.</summary>
        public IMutex Lock { get; }
        readonly IEvent _done;
        DmaBuffer _cbw;
        DmaBuffer _csw;
        DmaBuffer _data;
        DmaBuffer _small;
        uint _tag;
        volatile bool _gone;
        // Buffers a request still holds after its kill timed out: the controller may still write
        // into them (DMA), so they are never freed, and no command runs any more.
        bool _cbwStuck, _cswStuck, _dataStuck, _smallStuck;
        public int ResetRecoveries;
        public int ClearedHalts;

        public BulkOnlyTransport(UsbInterface intf, UsbEndpoint bulkIn, UsbEndpoint bulkOut)
        {
            Interface = intf;
            Device = intf.Device;
            BulkIn = bulkIn;
            BulkOut = bulkOut;
            Name = intf.Name;
            Lock = Device.Bus.Stack.Threading.CreateMutex();
            _done = Device.Bus.Stack.Threading.CreateEvent(true);
            TransferBytes = Device.Speed == UsbSpeed.Low || Device.Speed == UsbSpeed.Full ? FullSpeedTransferBytes : MaxTransferBytes;
        }

        /// <summary>Largest data stage of one command on this device (by its speed): the size of <see cref="Data"/>.</summary>
        public int TransferBytes { get; }

        public bool IsGone => _gone || Device.IsGone;

        /// <summary>A killed request would not die: its buffer is the controller's, the transport is unusable.</summary>
        public bool HasStuckRequest => _cbwStuck || _cswStuck || _dataStuck || _smallStuck;

        /// <summary>
        /// The DMA data buffer of READ and WRITE (valid between a successful <see cref="Allocate"/> and
        /// <see cref="Release"/>, <see cref="TransferBytes"/> long). Callers that stream through it
        /// (ScsiDisk.Stream) read and fill it in place: no copy between the device and the caller.
        /// </summary>
        public Span<byte> Data => _data.AsSpan();

        /// <summary>The DMA buffer of the small commands (INQUIRY, REQUEST SENSE, READ CAPACITY, MODE SENSE).</summary>
        public Span<byte> Small => _small.AsSpan();

        public StorageStatus Allocate()
        {
            IDmaAllocator dma = Device.Bus.Dma;
            _cbw = dma.Allocate(WrapperBufferSize, UsbBus.DmaAlignment, DmaLimit.Below4G);
            _csw = dma.Allocate(WrapperBufferSize, UsbBus.DmaAlignment, DmaLimit.Below4G);
            _data = dma.Allocate((uint)TransferBytes, UsbBus.DmaAlignment, DmaLimit.Below4G);
            _small = dma.Allocate(SmallBufferBytes, UsbBus.DmaAlignment, DmaLimit.Below4G);
            if (_cbw.IsNull || _csw.IsNull || _data.IsNull || _small.IsNull)
            {
                FreeBuffers();
                return StorageStatus.NoMemory;
            }
            return StorageStatus.Ok;
        }

        void FreeBuffers()
        {
            IDmaAllocator dma = Device.Bus.Dma;
            if (!_cbw.IsNull) dma.Free(_cbw);
            if (!_csw.IsNull) dma.Free(_csw);
            if (!_data.IsNull) dma.Free(_data);
            if (!_small.IsNull) dma.Free(_small);
            _cbw = default(DmaBuffer);
            _csw = default(DmaBuffer);
            _data = default(DmaBuffer);
            _small = default(DmaBuffer);
        }

        /// <summary>Marks the transport gone, waits for the command in flight (its requests end with NoDevice or time out), frees the buffers.</summary>
        public void Release()
        {
            _gone = true;
            Lock.Lock();
            IDmaAllocator dma = Device.Bus.Dma;
            FreeOrLeak(dma, ref _cbw, _cbwStuck, "CBW");
            FreeOrLeak(dma, ref _csw, _cswStuck, "CSW");
            FreeOrLeak(dma, ref _data, _dataStuck, "data");
            FreeOrLeak(dma, ref _small, _smallStuck, "small command");
            Lock.Unlock();
        }

        /// <summary>Frees a buffer, unless a request that would not die still holds it: that one is leaked on purpose.</summary>
        void FreeOrLeak(IDmaAllocator dma, ref DmaBuffer buffer, bool stuck, string what)
        {
            if (stuck)
                Log.Error("usb-storage " + Name + ": leaking its " + what + " buffer: a request on it would not die");
            else if (!buffer.IsNull)
                dma.Free(buffer);
            buffer = default(DmaBuffer);
        }

        void MarkStuck(DmaBuffer buffer)
        {
            if (buffer.Physical == _cbw.Physical) _cbwStuck = true;
            else if (buffer.Physical == _csw.Physical) _cswStuck = true;
            else if (buffer.Physical == _small.Physical) _smallStuck = true;
            else _dataStuck = true;
            Log.Error("usb-storage " + Name + ": request would not die; its buffer stays with the controller, no more commands");
        }

        /// <summary>Per-request completion flag (the request's Context).</summary>
        sealed class Pending
        {
            public BulkOnlyTransport Transport;
            public volatile bool Done;
        }

        static void Wake(UsbRequest request)
        {
            var pending = (Pending)request.Context;
            pending.Done = true;
            pending.Transport._done.Signal();
        }

        /// <summary>One bulk transfer on our own DMA buffer, bounded by <paramref name="timeoutMs"/>.</summary>
        UsbStatus Bulk(UsbEndpoint endpoint, DmaBuffer buffer, int length, uint timeoutMs, out int actual)
        {
            actual = 0;
            if (IsGone)
                return UsbStatus.NoDevice;
            if (HasStuckRequest)
                return UsbStatus.Shutdown;
            var pending = new Pending();
            pending.Transport = this;
            var request = new UsbRequest();
            request.Device = Device;
            request.Endpoint = endpoint;
            request.Buffer = buffer;
            request.Length = length;
            request.Context = pending;
            request.Completion = Wake;
            _done.Reset();
            UsbBus bus = Device.Bus;
            IClock clock = bus.Clock;
            ulong start = clock.Milliseconds;
            UsbStatus status = bus.Submit(request);
            if (status != UsbStatus.Ok)
                return status;
            while (!pending.Done)
            {
                ulong elapsed = clock.Milliseconds - start;
                if (elapsed >= timeoutMs)
                    break;
                _done.Wait((uint)(timeoutMs - elapsed));
            }
            if (!pending.Done)
            {
                if (bus.Kill(request) != UsbStatus.Ok)
                {
                    MarkStuck(buffer);
                    return UsbStatus.Timeout;
                }
                status = request.Status == UsbStatus.Killed ? UsbStatus.Timeout : request.Status;
            }
            else
                status = request.Status;
            actual = request.ActualLength;
            return status;
        }

        /// <summary>Bulk-Only has no autosense: the disk asks with REQUEST SENSE.</summary>
        public int TakeSense(Span<byte> destination) => 0;

        static StorageStatus FromUsb(UsbStatus status) =>
            status == UsbStatus.NoDevice ? StorageStatus.NoDevice :
            status == UsbStatus.Timeout ? StorageStatus.Timeout : StorageStatus.TransportError;

        /// <summary>GET MAX LUN (BOT 3.2); a STALL means the device has only LUN 0.</summary>
        public UsbStatus GetMaxLun(out int maxLun)
        {
            maxLun = 0;
            byte[] buffer = new byte[1];
            UsbStatus status = UsbMessages.Control(Device, MassStorage.ClassInterfaceIn, MassStorage.RequestGetMaxLun, 0, Interface.Number,
                                                   new Span<byte>(buffer), UsbMessages.ControlTimeoutMs, out int actual);
            if (status == UsbStatus.NoDevice)
                return status;
            if (status == UsbStatus.Ok && actual == 1 && buffer[0] <= MassStorage.MaxLun)
                maxLun = buffer[0];
            return UsbStatus.Ok;
        }

        /// <summary>
        /// Reset recovery in the order BOT 5.3.4 gives: (a) Bulk-Only Mass Storage Reset, (b) CLEAR_FEATURE
        /// (ENDPOINT_HALT) on the bulk IN endpoint, (c) CLEAR_FEATURE(ENDPOINT_HALT) on the bulk OUT endpoint.
        /// The halts are cleared even when the reset request failed (Linux usb_stor_reset_common does too).
        /// </summary>
        public UsbStatus ResetRecovery()
        {
            if (IsGone)
                return UsbStatus.NoDevice;
            ResetRecoveries++;
            Log.Warning("usb-storage " + Name + ": reset recovery");
            UsbStatus status = UsbMessages.Control(Device, MassStorage.ClassInterfaceOut, MassStorage.RequestReset, 0, Interface.Number,
                                                   UsbMessages.NoData, UsbMessages.ControlTimeoutMs, out int _);
            if (status != UsbStatus.Ok)
                Log.Warning("usb-storage " + Name + ": Bulk-Only Mass Storage Reset: " + UsbStatusNames.Name(status));
            if (status == UsbStatus.NoDevice)
                return status;
            UsbStatus a = UsbMessages.ClearHalt(Device, BulkIn.Address);
            UsbStatus b = UsbMessages.ClearHalt(Device, BulkOut.Address);
            if (a == UsbStatus.NoDevice || b == UsbStatus.NoDevice)
                return UsbStatus.NoDevice;
            return status != UsbStatus.Ok ? status : a != UsbStatus.Ok ? a : b;
        }

        UsbStatus ClearHalt(UsbEndpoint endpoint)
        {
            ClearedHalts++;
            return UsbMessages.ClearHalt(Device, endpoint.Address);
        }

        /// <summary>
        /// Runs one command (BOT 5, 6): the data stage moves <paramref name="length"/> bytes through
        /// <see cref="Data"/> (fill it first for OUT). <paramref name="transferred"/> is what the
        /// device processed (length minus dCSWDataResidue, at most what moved). Caller holds <see cref="Lock"/>.
        /// </summary>
        public StorageStatus Command(byte lun, ReadOnlySpan<byte> cdb, bool dataIn, int length, out int transferred) =>
            Command(lun, cdb, dataIn, false, length, out transferred);

        /// <summary>
        /// As above; <paramref name="small"/> moves the data stage through <see cref="Small"/> instead of
        /// <see cref="Data"/> (REQUEST SENSE after a failed WRITE then leaves the data to write intact).
        /// A command with a data-out stage is reported done only when its CSW said so (BOT 5.2).
        /// </summary>
        public StorageStatus Command(byte lun, ReadOnlySpan<byte> cdb, bool dataIn, bool small, int length, out int transferred)
        {
            transferred = 0;
            if (IsGone)
                return StorageStatus.NoDevice;
            if (length < 0 || length > (small ? SmallBufferBytes : TransferBytes) || cdb.Length == 0 ||
                cdb.Length > CommandBlockWrapper.MaxCommandLength)
                return StorageStatus.InvalidArgument;
            DmaBuffer data = small ? _small : _data;
            uint tag = ++_tag;
            CommandBlockWrapper.Write(_cbw.AsSpan(), tag, (uint)length, dataIn, lun, cdb);

            // Command transport (BOT 5.1, 6.2).
            UsbStatus status = Bulk(BulkOut, _cbw, CommandBlockWrapper.Size, WrapperTimeoutMs, out int actual);
            if (status == UsbStatus.Ok && actual != CommandBlockWrapper.Size)
                status = UsbStatus.ShortPacket;
            if (status != UsbStatus.Ok)
                return Fail("CBW", status);

            // Data transport (BOT 6.7.2 / 6.7.3): a STALL ends the data stage; clear it and read the CSW.
            int moved = 0;
            if (length > 0)
            {
                status = Bulk(dataIn ? BulkIn : BulkOut, data, length, DataTimeoutMs, out moved);
                if (status == UsbStatus.Stall)
                {
                    UsbStatus clear = ClearHalt(dataIn ? BulkIn : BulkOut);
                    if (clear == UsbStatus.NoDevice)
                        return StorageStatus.NoDevice;
                }
                else if (status != UsbStatus.Ok)
                    return Fail("data stage", status);
            }

            // Status transport (BOT 5.2, 6.3): a STALL on the CSW is cleared and the CSW read once more.
            status = Bulk(BulkIn, _csw, CommandStatusWrapper.Size, WrapperTimeoutMs, out actual);
            if (status == UsbStatus.Stall)
            {
                UsbStatus clear = ClearHalt(BulkIn);
                if (clear == UsbStatus.NoDevice)
                    return StorageStatus.NoDevice;
                status = Bulk(BulkIn, _csw, CommandStatusWrapper.Size, WrapperTimeoutMs, out actual);
            }
            if (status != UsbStatus.Ok)
                return Fail("CSW", status);

            // Valid and meaningful CSW (BOT 6.3.1, 6.3.2).
            ReadOnlySpan<byte> csw = _csw.AsSpan().Slice(0, CommandStatusWrapper.Size);
            if (actual != CommandStatusWrapper.Size || CommandStatusWrapper.ReadSignature(csw) != CommandStatusWrapper.Signature ||
                CommandStatusWrapper.ReadTag(csw) != tag)
            {
                Log.Warning("usb-storage " + Name + ": invalid CSW (" + Format.Decimal((ulong)actual) + " bytes, signature " +
                            Format.Hex(CommandStatusWrapper.ReadSignature(csw), 8) + ", tag " + Format.Decimal((ulong)CommandStatusWrapper.ReadTag(csw)) +
                            " for " + Format.Decimal((ulong)tag) + ")");
                return Recover(StorageStatus.PhaseError);
            }
            byte cswStatus = CommandStatusWrapper.ReadStatus(csw);
            if (cswStatus == CommandStatusWrapper.StatusPhaseError || cswStatus > CommandStatusWrapper.StatusPhaseError)
            {
                Log.Warning("usb-storage " + Name + ": phase error (CSW status " + Format.Decimal((ulong)cswStatus) + ")");
                return Recover(StorageStatus.PhaseError);
            }
            uint residue = CommandStatusWrapper.ReadResidue(csw);
            int done = residue >= (uint)length ? 0 : length - (int)residue;
            transferred = done < moved ? done : moved;
            return cswStatus == CommandStatusWrapper.StatusPassed ? StorageStatus.Ok : StorageStatus.CheckCondition;
        }

        StorageStatus Fail(string stage, UsbStatus status)
        {
            if (status == UsbStatus.NoDevice || IsGone)
                return StorageStatus.NoDevice;
            Log.Warning("usb-storage " + Name + ": " + stage + ": " + UsbStatusNames.Name(status));
            return Recover(FromUsb(status));
        }

        StorageStatus Recover(StorageStatus result)
        {
            if (HasStuckRequest)
                return result;
            return ResetRecovery() == UsbStatus.NoDevice ? StorageStatus.NoDevice : result;
        }
    }
}
