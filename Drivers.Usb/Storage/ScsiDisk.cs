using System;
using Platform;

namespace Drivers.Usb.Storage
{
    /// <summary>Reads whole blocks; what the partition table parser needs from a disk (tests give it a byte array).</summary>
    public interface IBlockReader
    {
        uint BlockSize { get; }
        ulong BlockCount { get; }
        StorageStatus Read(ulong lba, int count, Span<byte> destination);
    }

    /// <summary>
    /// Receives the chunks of a streamed transfer (<see cref="ScsiDisk.Stream"/>) in the transport's DMA
    /// buffer itself: no copy between the device and the caller, which is what makes a disk as fast
    /// as the controller (a byte copy of every block cost more than the whole USB transfer).
    /// </summary>
    public interface IBlockStream
    {
        /// <summary>
        /// READ: <paramref name="data"/> holds blocks [lba, lba + blocks) just read. WRITE: fill it with
        /// those blocks before they are sent. Runs with the transport's lock held: no disk calls here.
        /// Return false to stop the stream after this chunk.
        /// </summary>
        bool Chunk(ulong lba, int blocks, Span<byte> data);
    }

    /// <summary>
    /// A SCSI direct-access device (SBC-3) behind a transport (<see cref="IScsiTransport"/>: Bulk-Only
    /// or UAS), one per logical unit:
    /// INQUIRY, TEST UNIT READY with REQUEST SENSE (sense decoded: not ready, unit attention, medium
    /// not present, write protect), READ CAPACITY(10) and (16), MODE SENSE(6) for the write-protect
    /// bit, READ/WRITE (10), or (16) when the disk has more blocks than 32 bits address (Linux sd's
    /// use_16_for_rw), SYNCHRONIZE CACHE(10), and removable media (a disk without medium stays
    /// attached with no capacity and is looked at again at its next use or unit attention).
    /// Named like Linux's sd: sda, sdb, ... Thread context only; commands are serialized by the
    /// transport's lock (all LUNs of a device share it).
    /// </summary>
    public sealed class ScsiDisk : IBlockReader
    {
        /// <summary>TEST UNIT READY attempts while the unit reports not ready / unit attention.</summary>
        public const int ReadyTries = 25;
        public const uint NotReadyDelayMs = 100;
        /// <summary>Times a READ/WRITE that ended with CHECK CONDITION (e.g. a unit attention) is retried.</summary>
        public const int CommandRetries = 2;
        /// <summary>
        /// Logical block lengths the driver serves: powers of two from 512 bytes (the smallest
        /// Linux's sd accepts) to 64 KiB (a quarter of the full-speed data buffer
        /// <see cref="BulkOnlyTransport.FullSpeedTransferBytes"/>, so a queued command's slice still holds one).
        /// </summary>
        public const uint MinBlockSize = 512;
        public const uint MaxBlockSize = 64 * 1024;
        /// <summary>Blocks READ(10)/WRITE(10) address: the LBA field is 32 bits (SBC-3 5.11).</summary>
        public const ulong Read10BlockLimit = 0x1_0000_0000UL;
        /// <summary>Largest TRANSFER LENGTH of READ(10)/WRITE(10): a 16-bit field (0 means no blocks).</summary>
        public const int Read10MaxBlocks = 0xFFFF;
        /// <summary>Peripheral device types the disk driver takes (SPC-4 6.6.2): direct access and RBC.</summary>
        public const int TypeDirectAccess = 0x00, TypeRbc = 0x0E;
        const int InquiryTypeMask = 0x1F, InquiryRemovable = 0x80, InquiryVersionMask = 0x07;
        const int InquiryVendor = 8, InquiryProduct = 16, InquiryRevision = 32;
        const int InquiryVendorLength = 8, InquiryProductLength = 16, InquiryRevisionLength = 4;
        /// <summary>A peripheral qualifier of 3 in INQUIRY byte 0 (bits 7-5): no logical unit here (SPC-4 6.6.2).</summary>
        public const int QualifierNotConnected = 0x60, QualifierMask = 0xE0;

        public readonly IScsiTransport Transport;
        public readonly byte Lun;
        /// <summary>"sda".</summary>
        public string Name;
        /// <summary>SCSI host number (scsiN) and the address "H:0:0:L" Linux prints.</summary>
        public int Host;
        public string Vendor = "";
        public string Product = "";
        public string Revision = "";
        public int DeviceType;
        /// <summary>INQUIRY byte 0 bits 7-5.</summary>
        public int Qualifier;
        public bool Removable;
        public int AnsiVersion;
        public uint BlockSize { get; set; }
        public ulong BlockCount { get; set; }
        /// <summary>READ(16)/WRITE(16) instead of (10): the disk has more blocks than 32 bits address.</summary>
        public bool Use16;
        /// <summary>MODE SENSE's WP bit, or a write that failed with DATA PROTECT.</summary>
        public bool WriteProtected;
        /// <summary>False for a removable disk without medium (capacity 0 then); looked at again on the next use.</summary>
        public bool MediumPresent = true;
        /// <summary>The last REQUEST SENSE, decoded.</summary>
        public SenseData Sense;
        public byte SenseKey => Sense.Key;
        public byte Asc => Sense.Asc;
        public byte Ascq => Sense.Ascq;
        public ulong BlocksRead, BlocksWritten;
        /// <summary>The partition table read at attach time or after a medium change (never null).</summary>
        public PartitionTable Partitions = PartitionTable.None;
        /// <summary>Set by a unit attention "medium may have changed": capacity and partitions are re-read before the next I/O.</summary>
        public bool NeedsRevalidation;

        readonly byte[] _cdb = new byte[Scsi.Cdb16Length];

        public ScsiDisk(IScsiTransport transport, byte lun)
        {
            Transport = transport;
            Lun = lun;
        }

        public string Address => Format.Decimal((ulong)Host) + ":0:0:" + Format.Decimal((ulong)Lun);
        public ulong CapacityBytes => BlockCount * BlockSize;
        public bool IsGone => Transport.IsGone;
        IClock Clock => Transport.Device.Bus.Clock;

        void Cdb(byte opcode)
        {
            for (int i = 0; i < _cdb.Length; i++) _cdb[i] = 0;
            _cdb[0] = opcode;
        }

        /// <summary>A command whose data stage uses the small buffer (everything but READ and WRITE).</summary>
        StorageStatus RunSmall(int cdbLength, bool dataIn, int length, out int transferred) =>
            Transport.Command(Lun, new ReadOnlySpan<byte>(_cdb, 0, cdbLength), dataIn, true, length, out transferred);

        static string Ascii(ReadOnlySpan<byte> bytes)
        {
            var chars = new char[bytes.Length];
            for (int i = 0; i < bytes.Length; i++)
                chars[i] = bytes[i] >= 0x20 && bytes[i] < 0x7F ? (char)bytes[i] : ' ';
            return new string(chars);
        }

        /// <summary>INQUIRY (SPC-4 6.6): qualifier, peripheral type, RMB, version, vendor, product, revision. Lock held.</summary>
        public StorageStatus Inquiry()
        {
            Cdb(Scsi.Inquiry);
            _cdb[4] = Scsi.InquiryLength;
            StorageStatus status = RunSmall(Scsi.Cdb6Length, true, Scsi.InquiryLength, out int n);
            if (status == StorageStatus.CheckCondition)
                RequestSense();
            if (status != StorageStatus.Ok)
                return status;
            if (n < 5)
                return StorageStatus.TransportError;
            Span<byte> d = Transport.Small;
            Qualifier = d[0] & QualifierMask;
            DeviceType = d[0] & InquiryTypeMask;
            Removable = (d[1] & InquiryRemovable) != 0;
            AnsiVersion = d[2] & InquiryVersionMask;
            if (n >= InquiryVendor + InquiryVendorLength) Vendor = Ascii(d.Slice(InquiryVendor, InquiryVendorLength));
            if (n >= InquiryProduct + InquiryProductLength) Product = Ascii(d.Slice(InquiryProduct, InquiryProductLength));
            if (n >= InquiryRevision + InquiryRevisionLength) Revision = Ascii(d.Slice(InquiryRevision, InquiryRevisionLength));
            return StorageStatus.Ok;
        }

        /// <summary>REQUEST SENSE (SPC-4 6.29), fixed or descriptor format, into <see cref="Sense"/>. Lock held.</summary>
        public StorageStatus RequestSense()
        {
            Cdb(Scsi.RequestSense);
            _cdb[4] = Scsi.SenseLength;
            Sense = default(SenseData);
            // UAS delivers the sense with the status (Sense IU): asking again would find it cleared.
            int auto = Transport.TakeSense(Transport.Small);
            if (auto > 0)
            {
                Sense = SenseData.Parse(Transport.Small.Slice(0, auto));
                return StorageStatus.Ok;
            }
            StorageStatus status = RunSmall(Scsi.Cdb6Length, true, Scsi.SenseLength, out int n);
            if (status != StorageStatus.Ok)
                return status;
            Sense = SenseData.Parse(Transport.Small.Slice(0, n));
            return StorageStatus.Ok;
        }

        /// <summary>What a CHECK CONDITION means, after REQUEST SENSE; records no medium / write protect / medium change.</summary>
        StorageStatus Classify(StorageStatus failed, out SenseAction action)
        {
            action = SenseAction.Fail;
            StorageStatus sense = RequestSense();
            if (sense != StorageStatus.Ok)
                return sense;
            action = Sense.Action;
            switch (action)
            {
                case SenseAction.NoMedium:
                    if (MediumPresent)
                        Log.Info("sd " + Address + ": [" + Name + "] Media removed");
                    MediumPresent = false;
                    BlockCount = 0;     // BlockSize stays: ranges are checked only after the next revalidation
                    Partitions = PartitionTable.None;
                    return StorageStatus.NoMedium;
                case SenseAction.WriteProtected:
                    WriteProtected = true;
                    return StorageStatus.WriteProtected;
                case SenseAction.UnitAttention:
                    if (Sense.Asc == Scsi.AscMediumMayHaveChanged)
                        NeedsRevalidation = true;
                    return failed;
                default:
                    return failed;
            }
        }

        /// <summary>
        /// TEST UNIT READY until ready (bounded): a unit attention or "becoming ready" is waited out,
        /// "medium not present" ends it with <see cref="StorageStatus.NoMedium"/>. Lock held.
        /// </summary>
        public StorageStatus WaitUntilReady(IClock clock)
        {
            StorageStatus status = StorageStatus.CheckCondition;
            for (int attempt = 0; attempt < ReadyTries; attempt++)
            {
                Cdb(Scsi.TestUnitReady);
                status = RunSmall(Scsi.Cdb6Length, false, 0, out int _);
                if (status != StorageStatus.CheckCondition)
                {
                    if (status == StorageStatus.Ok)
                        MediumPresent = true;
                    return status;
                }
                status = Classify(status, out SenseAction action);
                if (action == SenseAction.WaitAndRetry)
                    clock.Sleep(NotReadyDelayMs);
                else if (action != SenseAction.UnitAttention && action != SenseAction.Retry)
                    return status;
            }
            return status;
        }

        /// <summary>
        /// READ CAPACITY(10) (SBC-3 5.15), and READ CAPACITY(16) (5.16) when the disk is too big for
        /// the 10-byte form: sets BlockSize, BlockCount and Use16. Lock held.
        /// </summary>
        public StorageStatus ReadCapacity()
        {
            StorageStatus status = StorageStatus.CheckCondition;
            for (int attempt = 0; attempt <= CommandRetries; attempt++)
            {
                Cdb(Scsi.ReadCapacity10);
                status = RunSmall(Scsi.Cdb10Length, true, Scsi.ReadCapacityLength, out int n);
                if (status == StorageStatus.Ok)
                {
                    if (!ReadCapacityData.Parse10(Transport.Small.Slice(0, n), out ulong last, out uint blockSize))
                        return StorageStatus.TransportError;
                    if (last == ReadCapacityData.LastLbaTooBig)
                    {
                        if (ReadCapacity16(out ulong last16, out uint size16) == StorageStatus.Ok && last16 >= last)
                        {
                            last = last16;
                            blockSize = size16;
                        }
                        else
                            Log.Warning("sd " + Address + ": READ CAPACITY(16) failed; using the first " +
                                        Format.Decimal(Read10BlockLimit) + " blocks");
                    }
                    return SetCapacity(last, blockSize);
                }
                if (status != StorageStatus.CheckCondition)
                    return status;
                status = Classify(status, out SenseAction action);
                if (action != SenseAction.UnitAttention && action != SenseAction.Retry && action != SenseAction.WaitAndRetry)
                    return status;
            }
            return status;
        }

        StorageStatus ReadCapacity16(out ulong last, out uint blockSize)
        {
            last = 0;
            blockSize = 0;
            Cdb(Scsi.ServiceActionIn16);
            _cdb[1] = Scsi.ServiceActionReadCapacity16;
            Bytes.Be32(new Span<byte>(_cdb), 10, Scsi.ReadCapacity16Length);
            StorageStatus status = RunSmall(Scsi.Cdb16Length, true, Scsi.ReadCapacity16Length, out int n);
            if (status == StorageStatus.CheckCondition)
                RequestSense();
            if (status != StorageStatus.Ok)
                return status;
            return ReadCapacityData.Parse16(Transport.Small.Slice(0, n), out last, out blockSize) ? StorageStatus.Ok : StorageStatus.TransportError;
        }

        StorageStatus SetCapacity(ulong last, uint blockSize)
        {
            if (!IsValidBlockSize(blockSize))
            {
                // Linux sd: "Unsupported sector size": the disk is not attached.
                Log.Error("sd " + Address + ": unsupported logical block size " + Format.Decimal((ulong)blockSize) +
                          " (READ CAPACITY): a power of two from " + Format.Decimal((ulong)MinBlockSize) + " to " +
                          Format.Decimal((ulong)MaxBlockSize) + " bytes is needed; disk refused");
                return StorageStatus.Unsupported;
            }
            if (last == ulong.MaxValue)
                return StorageStatus.Unsupported;
            BlockSize = blockSize;
            BlockCount = last + 1;
            Use16 = BlockCount > Read10BlockLimit;
            MediumPresent = true;
            return StorageStatus.Ok;
        }

        /// <summary>MODE SENSE(6) of all pages (SPC-4 6.11): the header's WP bit (SBC-3 6.4.1). A device that refuses it counts as writable. Lock held.</summary>
        public StorageStatus ReadWriteProtect()
        {
            Cdb(Scsi.ModeSense6);
            _cdb[2] = Scsi.ModePageAll;
            _cdb[4] = Scsi.ModeSenseLength;
            StorageStatus status = RunSmall(Scsi.Cdb6Length, true, Scsi.ModeSenseLength, out int n);
            if (status == StorageStatus.CheckCondition)
            {
                RequestSense();
                return StorageStatus.Ok;
            }
            if (status != StorageStatus.Ok)
                return status;
            if (n > Scsi.ModeHeaderDeviceSpecific)
                WriteProtected = (Transport.Small[Scsi.ModeHeaderDeviceSpecific] & Scsi.ModeWriteProtect) != 0;
            return StorageStatus.Ok;
        }

        /// <summary>
        /// SYNCHRONIZE CACHE(10) over the whole disk (SBC-3 5.22): returns once the device says its
        /// cache is on the medium. A device without the command (ILLEGAL REQUEST) has nothing to flush.
        /// </summary>
        public StorageStatus SynchronizeCache()
        {
            Transport.Lock.Lock();
            StorageStatus status;
            if (Transport.IsGone)
                status = StorageStatus.NoDevice;
            else
            {
                Cdb(Scsi.SynchronizeCache10);
                status = RunSmall(Scsi.Cdb10Length, false, 0, out int _);
                if (status == StorageStatus.CheckCondition)
                {
                    status = Classify(status, out SenseAction action);
                    if (Sense.Key == Scsi.SenseIllegalRequest)
                        status = StorageStatus.Ok;
                }
            }
            Transport.Lock.Unlock();
            return status;
        }

        /// <summary>
        /// Re-reads a removable disk's state (TEST UNIT READY, READ CAPACITY, MODE SENSE) after "no
        /// medium" or a medium change. Lock held. The caller re-reads the partitions when this says Ok.
        /// </summary>
        StorageStatus Revalidate()
        {
            NeedsRevalidation = false;
            StorageStatus status = WaitUntilReady(Clock);
            if (status != StorageStatus.Ok)
            {
                if (status == StorageStatus.NoMedium)
                    BlockCount = 0;
                return status;
            }
            status = ReadCapacity();
            if (status != StorageStatus.Ok)
                return status;
            ReadWriteProtect();
            Log.Info("sd " + Address + ": [" + Name + "] " + Format.Decimal(BlockCount) + " " + Format.Decimal((ulong)BlockSize) +
                     "-byte logical blocks: (" + SizeText(CapacityBytes) + ")");
            return StorageStatus.Ok;
        }

        /// <summary>A block length READ CAPACITY may report: a power of two within [MinBlockSize, MaxBlockSize].</summary>
        public static bool IsValidBlockSize(uint size) =>
            size >= MinBlockSize && size <= MaxBlockSize && (size & (size - 1)) == 0;

        /// <summary>Blocks per command: what the data buffer holds, and never more than the 10-byte CDB's 16-bit count.</summary>
        public int BlocksPerCommand
        {
            get
            {
                if (BlockSize == 0)
                    return 0;
                int blocks = Transport.TransferBytes / (int)BlockSize;
                return blocks > Read10MaxBlocks ? Read10MaxBlocks : blocks;
            }
        }

        /// <summary>
        /// Whether blocks [lba, lba + count) exist on the disk and the chosen READ/WRITE form can
        /// address them, computed without overflow (lba + count may exceed 2^64): Ok or OutOfRange;
        /// InvalidArgument before the capacity is known.
        /// </summary>
        public StorageStatus CheckRange(ulong lba, ulong count)
        {
            if (BlockSize == 0)
                return StorageStatus.InvalidArgument;
            ulong end = Use16 || BlockCount < Read10BlockLimit ? BlockCount : Read10BlockLimit;
            if (lba >= end || count > end - lba)
                return StorageStatus.OutOfRange;
            return StorageStatus.Ok;
        }

        /// <summary>
        /// Reads <paramref name="count"/> blocks from <paramref name="lba"/> into <paramref name="destination"/>
        /// (at least count × BlockSize bytes), copying out of the DMA buffer. Large transfers should use
        /// <see cref="Stream"/>, which does not copy.
        /// </summary>
        public StorageStatus Read(ulong lba, int count, Span<byte> destination)
        {
            if (count < 0 || (MediumPresent && BlockSize == 0))
                return StorageStatus.InvalidArgument;
            return Transfer(false, lba, (ulong)count, null, destination, default(ReadOnlySpan<byte>), out ulong _);
        }

        /// <summary>Writes <paramref name="count"/> blocks from <paramref name="source"/>; Ok only once the device's CSW said every block passed.</summary>
        public StorageStatus Write(ulong lba, int count, ReadOnlySpan<byte> source)
        {
            if (count < 0 || (MediumPresent && BlockSize == 0))
                return StorageStatus.InvalidArgument;
            return Transfer(true, lba, (ulong)count, null, default(Span<byte>), source, out ulong _);
        }

        /// <summary>
        /// Streams <paramref name="count"/> blocks from <paramref name="lba"/> through the DMA buffer in
        /// commands of <see cref="BlocksPerCommand"/> blocks (on a queueing transport, UAS, several
        /// commands of a slice each are in flight: <see cref="TransferQueued"/>): <paramref name="stream"/>
        /// consumes (READ) or fills (WRITE) each chunk in place, in LBA order. <paramref name="done"/> counts the blocks the device
        /// confirmed (a WRITE's blocks count only once its CSW passed). The lock is taken per command,
        /// so other LUNs of the device interleave.
        /// </summary>
        public StorageStatus Stream(bool write, ulong lba, ulong count, IBlockStream stream, out ulong done)
        {
            done = 0;
            if (stream == null)
                return StorageStatus.InvalidArgument;
            return Transfer(write, lba, count, stream, default(Span<byte>), default(ReadOnlySpan<byte>), out done);
        }

        /// <summary>
        /// Looks at a removable disk again when its medium was missing or has changed (TEST UNIT READY,
        /// READ CAPACITY, MODE SENSE, then the partitions); costs nothing otherwise. Ok when there is a
        /// medium. Callers that check ranges against <see cref="BlockCount"/> call this first.
        /// </summary>
        public StorageStatus CheckMedium()
        {
            Transport.Lock.Lock();
            StorageStatus status = Prepare(false, out bool revalidated);
            Transport.Lock.Unlock();
            if (revalidated)
                ReadPartitions();
            return status;
        }

        /// <summary>Before I/O (lock held): the device is there, a missing or changed medium is looked at again, a write-protected one refuses writes.</summary>
        StorageStatus Prepare(bool write, out bool revalidated)
        {
            revalidated = false;
            if (Transport.IsGone)
                return StorageStatus.NoDevice;
            if (!MediumPresent || NeedsRevalidation)
            {
                StorageStatus status = Revalidate();
                if (status != StorageStatus.Ok)
                    return status;
                revalidated = true;
            }
            if (write && WriteProtected)
                return StorageStatus.WriteProtected;
            return StorageStatus.Ok;
        }

        /// <summary>One copy or stream transfer: stream != null streams in place, else copies into/out of the spans.</summary>
        StorageStatus Transfer(bool write, ulong lba, ulong count, IBlockStream stream, Span<byte> readInto, ReadOnlySpan<byte> writeFrom, out ulong done)
        {
            done = 0;
            Transport.Lock.Lock();
            StorageStatus status = Prepare(write, out bool revalidated);
            Transport.Lock.Unlock();
            if (revalidated)
                ReadPartitions();
            if (status != StorageStatus.Ok)
                return status;
            // The copy forms need room for every block (checked once the block length is known).
            if (stream == null && (ulong)(write ? writeFrom.Length : readInto.Length) < count * BlockSize)
                return StorageStatus.InvalidArgument;
            status = CheckRange(lba, count);
            if (status != StorageStatus.Ok)
                return status;
            IQueuedScsiTransport queued = Transport as IQueuedScsiTransport;
            // Queued when the request needs more than one command and a slice of the buffer holds a block.
            int slice = queued != null && queued.QueueDepth > 1 ? BlocksPerCommand / queued.QueueDepth : 0;
            if (slice > 0 && count > (ulong)slice)
            {
                status = TransferQueued(queued, write, lba, count, stream, readInto, writeFrom, out done);
                if (write) BlocksWritten += done;
                else BlocksRead += done;
                return status;
            }
            int per = BlocksPerCommand;
            int blockSize = (int)BlockSize;
            while (done < count)
            {
                ulong left = count - done;
                int blocks = left < (ulong)per ? (int)left : per;
                int bytes = blocks * blockSize;
                ulong at = lba + done;
                bool more = true;
                Transport.Lock.Lock();
                if (Transport.IsGone)
                    status = StorageStatus.NoDevice;
                else if (NeedsRevalidation || !MediumPresent)
                    status = MediumPresent ? StorageStatus.CheckCondition : StorageStatus.NoMedium;   // the medium changed under the transfer
                else
                {
                    Span<byte> data = Transport.Data.Slice(0, bytes);
                    if (write)
                    {
                        if (stream != null) more = stream.Chunk(at, blocks, data);
                        else writeFrom.Slice((int)done * blockSize, bytes).CopyTo(data);
                    }
                    status = ReadWriteCommand(write, at, blocks, bytes);
                    if (status == StorageStatus.Ok && !write)
                    {
                        if (stream != null) more = stream.Chunk(at, blocks, data);
                        else data.CopyTo(readInto.Slice((int)done * blockSize, bytes));
                    }
                }
                Transport.Lock.Unlock();
                if (status != StorageStatus.Ok)
                    break;
                done += (ulong)blocks;
                if (!more)
                    break;
            }
            if (write) BlocksWritten += done;
            else BlocksRead += done;
            return status;
        }

        /// <summary>Times <see cref="TransferQueued"/> waits for a free command tag while none of its own commands is in flight (1 ms apart: bounded).</summary>
        public const int BusyRetries = 1000;
        /// <summary>Commands a queued request starts before it lets the other users of the transport in (its queue drains first).</summary>
        public const int LockWindowCommands = 16;
        const uint BusyDelayMs = 1;

        /// <summary>
        /// A READ or WRITE of [lba, lba + count) with several commands in flight (a transport that
        /// queues: UAS). The data buffer is cut into <see cref="IQueuedScsiTransport.QueueDepth"/>
        /// slices, one per command; the commands are finished in the order they were started (whatever
        /// order the device completes them in), so a READ's blocks reach the caller in order and a
        /// WRITE's blocks count as done only once their own status and every earlier one passed.
        /// The first command that fails ends the request: the commands behind it are waited for (each
        /// bounded by the transport's timeout; at once when the device is gone) and their results
        /// dropped, and <paramref name="done"/> counts only the blocks before it. A unit attention or
        /// "becoming ready" restarts from the failed command, up to <see cref="CommandRetries"/> times,
        /// as the one-command path retries.
        /// The slices are the transport's one data buffer, which every command of the device (all
        /// LUNs, every caller) uses, so the lock is held while any of ours is in flight; it is let go
        /// after every <see cref="LockWindowCommands"/> commands once they drained, so other LUNs
        /// interleave (one command at a time used to).
        /// </summary>
        StorageStatus TransferQueued(IQueuedScsiTransport q, bool write, ulong lba, ulong count, IBlockStream stream,
                                     Span<byte> readInto, ReadOnlySpan<byte> writeFrom, out ulong done)
        {
            done = 0;
            int depth = q.QueueDepth;
            int blockSize = (int)BlockSize;
            int per = BlocksPerCommand / depth;     // blocks per command: one slice of the data buffer
            int sliceBytes = per * blockSize;
            var handles = new int[depth];
            var starts = new ulong[depth];          // first block (counted from lba) of each command in flight
            var sizes = new int[depth];
            int attempts = 0;
            bool more = true;                       // false once the stream asked to stop
            while (done < count && more)
            {
                // One pass of the pipeline from `done`: to the end, the first failure or a stop.
                ulong issued = done;
                int oldest = 0, inFlight = 0, busyWaits = 0;
                int windowLeft = LockWindowCommands;
                Transport.Lock.Lock();
                StorageStatus failed = StorageStatus.Ok;        // the first command that ended badly
                StorageStatus notStarted = StorageStatus.Ok;    // why the next command could not start
                bool retry = false, sleep = false;
                while (true)
                {
                    // Start commands while a slice is free.
                    while (failed == StorageStatus.Ok && notStarted == StorageStatus.Ok && more && inFlight < depth && issued < count && windowLeft > 0)
                    {
                        int slot = (oldest + inFlight) % depth;
                        ulong left = count - issued;
                        int blocks = left < (ulong)per ? (int)left : per;
                        int bytes = blocks * blockSize;
                        StorageStatus s;
                        int handle = 0;
                        if (Transport.IsGone)
                            s = StorageStatus.NoDevice;
                        else if (NeedsRevalidation || !MediumPresent)
                            s = MediumPresent ? StorageStatus.CheckCondition : StorageStatus.NoMedium;   // the medium changed under the transfer
                        else
                        {
                            if (write)
                            {
                                Span<byte> data = Transport.Data.Slice(slot * sliceBytes, bytes);
                                if (stream != null) more = stream.Chunk(lba + issued, blocks, data);
                                else writeFrom.Slice((int)issued * blockSize, bytes).CopyTo(data);
                            }
                            int length = Scsi.BuildReadWrite(new Span<byte>(_cdb), write, lba + issued, (uint)blocks, Use16);
                            s = length == 0 ? StorageStatus.OutOfRange
                                : q.Start(Lun, new ReadOnlySpan<byte>(_cdb, 0, length), !write, slot * sliceBytes, bytes, out handle);
                        }
                        if (s == StorageStatus.Busy)
                        {
                            // Every tag is taken (left by a command that timed out): finish one of ours first, or wait a little.
                            if (inFlight > 0)
                                break;
                            if (++busyWaits > BusyRetries)
                            {
                                notStarted = StorageStatus.Busy;
                                break;
                            }
                            Clock.Sleep(BusyDelayMs);
                            continue;
                        }
                        if (s != StorageStatus.Ok)
                        {
                            notStarted = s;     // the commands already in flight still count
                            break;
                        }
                        handles[slot] = handle;
                        starts[slot] = issued;
                        sizes[slot] = blocks;
                        issued += (ulong)blocks;
                        inFlight++;
                        windowLeft--;
                    }
                    if (inFlight == 0)
                    {
                        if (windowLeft > 0 || failed != StorageStatus.Ok || notStarted != StorageStatus.Ok || !more || issued >= count)
                            break;
                        // The window's commands drained: let the other LUNs in, then go on.
                        Transport.Lock.Unlock();
                        Transport.Lock.Lock();
                        windowLeft = LockWindowCommands;
                        continue;
                    }

                    // Finish the oldest command (the device may have completed later ones first).
                    int o = oldest;
                    oldest = (oldest + 1) % depth;
                    inFlight--;
                    // Behind a failure or a stop the rest is only waited for: results dropped.
                    bool wanted = failed == StorageStatus.Ok && (more || write);
                    SenseAction action = SenseAction.Fail;
                    StorageStatus r = q.Finish(handles[o], out int n);
                    if (r == StorageStatus.Ok && n < sizes[o] * blockSize)
                        r = StorageStatus.TransportError;
                    if (wanted && r == StorageStatus.Ok && !write)
                    {
                        Span<byte> data = Transport.Data.Slice(o * sliceBytes, sizes[o] * blockSize);
                        if (stream != null) more = stream.Chunk(lba + starts[o], sizes[o], data);
                        else data.CopyTo(readInto.Slice((int)starts[o] * blockSize, sizes[o] * blockSize));
                    }
                    else if (wanted && r == StorageStatus.CheckCondition)
                    {
                        // Its sense is the transport's only until the next Finish: read it now.
                        r = Classify(r, out action);
                        Log.Warning("sd " + Address + ": [" + Name + "] " + (write ? "WRITE" : "READ") + (Use16 ? "(16)" : "(10)") + " LBA " +
                                    Format.Decimal(lba + starts[o]) + " failed: " + Sense.Describe());
                    }
                    if (!wanted)
                        continue;
                    if (r == StorageStatus.Ok)
                    {
                        done = starts[o] + (ulong)sizes[o];
                        continue;
                    }
                    failed = r;
                    retry = r == StorageStatus.CheckCondition && !NeedsRevalidation && attempts < CommandRetries &&
                            (action == SenseAction.UnitAttention || action == SenseAction.Retry || action == SenseAction.WaitAndRetry);
                    sleep = action == SenseAction.WaitAndRetry;
                }
                Transport.Lock.Unlock();
                if (failed == StorageStatus.Ok)
                {
                    if (notStarted != StorageStatus.Ok)
                        return notStarted;
                    continue;           // every command passed (or the stream stopped)
                }
                if (!retry)
                    return failed;
                attempts++;
                more = true;            // a WRITE stream that said "last chunk" is asked again from the failed command
                if (sleep)
                    Clock.Sleep(NotReadyDelayMs);
            }
            return StorageStatus.Ok;
        }

        /// <summary>One READ or WRITE of [lba, lba + blocks) through the data buffer, repeated after a unit attention or "becoming ready". Lock held.</summary>
        StorageStatus ReadWriteCommand(bool write, ulong lba, int blocks, int bytes)
        {
            StorageStatus status = StorageStatus.CheckCondition;
            for (int attempt = 0; attempt <= CommandRetries; attempt++)
            {
                int length = Scsi.BuildReadWrite(new Span<byte>(_cdb), write, lba, (uint)blocks, Use16);
                if (length == 0)
                    return StorageStatus.OutOfRange;
                status = Transport.Command(Lun, new ReadOnlySpan<byte>(_cdb, 0, length), !write, false, bytes, out int n);
                if (status == StorageStatus.Ok)
                    return n < bytes ? StorageStatus.TransportError : StorageStatus.Ok;
                if (status != StorageStatus.CheckCondition)
                    return status;
                status = Classify(status, out SenseAction action);
                Log.Warning("sd " + Address + ": [" + Name + "] " + (write ? "WRITE" : "READ") + (Use16 ? "(16)" : "(10)") + " LBA " + Format.Decimal(lba) +
                            " failed: " + Sense.Describe());
                if (action == SenseAction.WaitAndRetry)
                    Clock.Sleep(NotReadyDelayMs);
                else if (action != SenseAction.UnitAttention && action != SenseAction.Retry)
                    return status;
                if (NeedsRevalidation)
                    return status;      // a new medium: never write the old medium's blocks to it
            }
            return status;
        }

        /// <summary>
        /// Reads the partition table (MBR or GPT) and logs the partitions as Linux does (" sda: sda1 sda2").
        /// Called without the lock (it reads through <see cref="Read"/>).
        /// </summary>
        public void ReadPartitions()
        {
            if (!MediumPresent || BlockCount == 0)
            {
                Partitions = PartitionTable.None;
                return;
            }
            PartitionTable table = PartitionTable.Read(this);
            Partitions = table;
            if (table.Problem != null)
                Log.Warning("sd " + Address + ": [" + Name + "] " + table.Problem);
            string line = " " + Name + ":";
            for (int i = 0; i < table.Partitions.Length; i++)
                line += " " + Name + Format.Decimal((ulong)table.Partitions[i].Number);
            Log.Info(line);
        }

        /// <summary>"16.8 MB/16.0 MiB" like Linux's string_get_size (one decimal, decimal and binary units).</summary>
        public static string SizeText(ulong bytes)
        {
            return Scaled(bytes, 1000, " kB", " MB", " GB", " TB") + "/" + Scaled(bytes, 1024, " KiB", " MiB", " GiB", " TiB");
        }

        /// <summary>"64.0M" like lsblk's SIZE column (binary units, one letter).</summary>
        public static string ShortSize(ulong bytes) => bytes < 1024 ? Format.Decimal(bytes) + "B" : Scaled(bytes, 1024, "K", "M", "G", "T");

        static string Scaled(ulong bytes, ulong unit, string k, string m, string g, string t)
        {
            string suffix = " B";
            ulong divisor = 1;
            if (bytes >= unit * unit * unit * unit) { divisor = unit * unit * unit * unit; suffix = t; }
            else if (bytes >= unit * unit * unit) { divisor = unit * unit * unit; suffix = g; }
            else if (bytes >= unit * unit) { divisor = unit * unit; suffix = m; }
            else if (bytes >= unit) { divisor = unit; suffix = k; }
            if (divisor == 1)
                return Format.Decimal(bytes) + suffix;
            ulong tenths = (bytes * 10 + divisor / 2) / divisor;
            return Format.Decimal(tenths / 10) + "." + Format.Decimal(tenths % 10) + suffix;
        }
    }
}
