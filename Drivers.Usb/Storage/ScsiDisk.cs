using System;
using Platform;

namespace Drivers.Usb.Storage
{
    /// <summary>
    /// A SCSI direct-access device (SBC-3) behind a Bulk-Only Transport: INQUIRY, TEST UNIT READY with
    /// REQUEST SENSE, READ CAPACITY(10), READ(10)/WRITE(10) split into transfers of at most
    /// <see cref="BulkOnlyTransport.MaxTransferBytes"/>. Named like Linux's sd: sda, sdb, ...
    /// Thread context only; commands are serialized by the transport's lock.
    /// </summary>
    public sealed class ScsiDisk
    {
        /// <summary>TEST UNIT READY attempts while the unit reports not ready / unit attention.</summary>
        public const int ReadyTries = 25;
        public const uint NotReadyDelayMs = 100;
        /// <summary>Times a READ/WRITE that ended with CHECK CONDITION (e.g. a unit attention) is retried.</summary>
        public const int CommandRetries = 2;
        /// <summary>
        /// Logical block lengths the driver serves: powers of two from 512 bytes (the smallest
        /// Linux's sd accepts) to one data buffer (<see cref="BulkOnlyTransport.MaxTransferBytes"/>).
        /// </summary>
        public const uint MinBlockSize = 512;
        public const uint MaxBlockSize = BulkOnlyTransport.MaxTransferBytes;
        /// <summary>Blocks READ(10)/WRITE(10) address: the LBA field is 32 bits (SBC-3 5.11).</summary>
        public const ulong Read10BlockLimit = 0x1_0000_0000UL;
        /// <summary>Largest TRANSFER LENGTH of READ(10)/WRITE(10): a 16-bit field (0 means no blocks).</summary>
        public const int Read10MaxBlocks = 0xFFFF;
        /// <summary>READ CAPACITY(10)'s last LBA when the disk is too big for it (SBC-3 5.16).</summary>
        const uint LastLbaTooBig = 0xFFFFFFFF;

        public readonly BulkOnlyTransport Transport;
        public readonly byte Lun;
        /// <summary>"sda".</summary>
        public string Name;
        /// <summary>SCSI host number (scsiN) and the address "H:0:0:L" Linux prints.</summary>
        public int Host;
        public string Vendor = "";
        public string Product = "";
        public string Revision = "";
        public int DeviceType;
        public bool Removable;
        public int AnsiVersion;
        public uint BlockSize;
        public ulong BlockCount;
        /// <summary>Sense key, ASC and ASCQ of the last REQUEST SENSE.</summary>
        public byte SenseKey, Asc, Ascq;
        public ulong BlocksRead, BlocksWritten;

        readonly byte[] _cdb = new byte[10];

        public ScsiDisk(BulkOnlyTransport transport, byte lun)
        {
            Transport = transport;
            Lun = lun;
        }

        public string Address => Format.Decimal((ulong)Host) + ":0:0:" + Format.Decimal((ulong)Lun);
        public ulong CapacityBytes => BlockCount * BlockSize;
        public bool IsGone => Transport.IsGone;

        void Cdb(byte opcode)
        {
            for (int i = 0; i < _cdb.Length; i++) _cdb[i] = 0;
            _cdb[0] = opcode;
        }

        StorageStatus Run(int cdbLength, bool dataIn, int length, out int transferred) =>
            Transport.Command(Lun, new ReadOnlySpan<byte>(_cdb, 0, cdbLength), dataIn, length, out transferred);

        static string Ascii(ReadOnlySpan<byte> bytes)
        {
            var chars = new char[bytes.Length];
            for (int i = 0; i < bytes.Length; i++)
                chars[i] = bytes[i] >= 0x20 && bytes[i] < 0x7F ? (char)bytes[i] : ' ';
            return new string(chars);
        }

        /// <summary>INQUIRY (SPC-4 6.6): peripheral type, RMB, version, vendor, product, revision. Lock held.</summary>
        public StorageStatus Inquiry()
        {
            Cdb(Scsi.Inquiry);
            _cdb[4] = Scsi.InquiryLength;
            StorageStatus status = Run(6, true, Scsi.InquiryLength, out int n);
            if (status != StorageStatus.Ok)
                return status;
            if (n < 5)
                return StorageStatus.TransportError;
            Span<byte> d = Transport.Data;
            DeviceType = d[0] & 0x1F;
            Removable = (d[1] & 0x80) != 0;
            AnsiVersion = d[2] & 0x07;
            if (n >= 16) Vendor = Ascii(d.Slice(8, 8));
            if (n >= 32) Product = Ascii(d.Slice(16, 16));
            if (n >= 36) Revision = Ascii(d.Slice(32, 4));
            return StorageStatus.Ok;
        }

        /// <summary>REQUEST SENSE (SPC-4 6.29), fixed format. Lock held.</summary>
        public StorageStatus RequestSense()
        {
            Cdb(Scsi.RequestSense);
            _cdb[4] = Scsi.SenseLength;
            StorageStatus status = Run(6, true, Scsi.SenseLength, out int n);
            if (status != StorageStatus.Ok)
                return status;
            Span<byte> d = Transport.Data;
            SenseKey = n > 2 ? (byte)(d[2] & 0x0F) : (byte)0;
            Asc = n > 12 ? d[12] : (byte)0;
            Ascq = n > 13 ? d[13] : (byte)0;
            return StorageStatus.Ok;
        }

        /// <summary>TEST UNIT READY until ready (bounded), REQUEST SENSE after each failure. Lock held.</summary>
        public StorageStatus WaitUntilReady(IClock clock)
        {
            StorageStatus status = StorageStatus.CheckCondition;
            for (int attempt = 0; attempt < ReadyTries; attempt++)
            {
                Cdb(Scsi.TestUnitReady);
                status = Run(6, false, 0, out int _);
                if (status != StorageStatus.CheckCondition)
                    return status;
                StorageStatus sense = RequestSense();
                if (sense != StorageStatus.Ok)
                    return sense;
                if (SenseKey == Scsi.SenseNotReady)
                    clock.Sleep(NotReadyDelayMs);
                else if (SenseKey != Scsi.SenseUnitAttention && SenseKey != Scsi.SenseNoSense)
                    return status;
            }
            return status;
        }

        /// <summary>READ CAPACITY(10) (SBC-3 5.16). Lock held.</summary>
        public StorageStatus ReadCapacity()
        {
            StorageStatus status = StorageStatus.CheckCondition;
            for (int attempt = 0; attempt <= CommandRetries; attempt++)
            {
                Cdb(Scsi.ReadCapacity10);
                status = Run(10, true, Scsi.ReadCapacityLength, out int n);
                if (status == StorageStatus.Ok)
                {
                    if (n < Scsi.ReadCapacityLength)
                        return StorageStatus.TransportError;
                    Span<byte> d = Transport.Data;
                    uint last = Bytes.ReadBe32(d, 0);
                    uint blockSize = Bytes.ReadBe32(d, 4);
                    if (!IsValidBlockSize(blockSize))
                    {
                        // Linux sd: "Unsupported sector size": the disk is not attached.
                        Log.Error("sd " + Address + ": unsupported logical block size " + Format.Decimal((ulong)blockSize) +
                                  " (READ CAPACITY(10)): a power of two from " + Format.Decimal((ulong)MinBlockSize) + " to " +
                                  Format.Decimal((ulong)MaxBlockSize) + " bytes is needed; disk refused");
                        return StorageStatus.Unsupported;
                    }
                    BlockSize = blockSize;
                    // 0xFFFFFFFF asks for READ CAPACITY(16); READ(10) reaches only 2^32 blocks anyway.
                    if (last == LastLbaTooBig)
                        Log.Warning("sd " + Address + ": disk larger than READ(10) can address; using its first " +
                                    Format.Decimal(Read10BlockLimit) + " blocks");
                    BlockCount = (ulong)last + 1;
                    return StorageStatus.Ok;
                }
                if (status != StorageStatus.CheckCondition)
                    return status;
                StorageStatus sense = RequestSense();
                if (sense != StorageStatus.Ok)
                    return sense;
            }
            return status;
        }

        /// <summary>A block length READ CAPACITY may report: a power of two within [MinBlockSize, MaxBlockSize].</summary>
        public static bool IsValidBlockSize(uint size) =>
            size >= MinBlockSize && size <= MaxBlockSize && (size & (size - 1)) == 0;

        /// <summary>Blocks per command: what the data buffer holds, and never more than READ(10) can count.</summary>
        public int BlocksPerCommand
        {
            get
            {
                if (BlockSize == 0)
                    return 0;
                int blocks = BulkOnlyTransport.MaxTransferBytes / (int)BlockSize;
                return blocks > Read10MaxBlocks ? Read10MaxBlocks : blocks;
            }
        }

        /// <summary>
        /// Whether blocks [lba, lba + count) exist on the disk and READ(10)/WRITE(10) can address
        /// them, computed without overflow (lba + count may exceed 2^64): Ok or OutOfRange;
        /// InvalidArgument before the capacity is known.
        /// </summary>
        public StorageStatus CheckRange(ulong lba, ulong count)
        {
            if (BlockSize == 0)
                return StorageStatus.InvalidArgument;
            ulong end = BlockCount < Read10BlockLimit ? BlockCount : Read10BlockLimit;
            if (lba >= end || count > end - lba)
                return StorageStatus.OutOfRange;
            return StorageStatus.Ok;
        }

        /// <summary>
        /// Reads <paramref name="count"/> blocks from <paramref name="lba"/> into <paramref name="destination"/>
        /// (at least count × BlockSize bytes) with READ(10) commands of at most 64 KiB.
        /// </summary>
        public StorageStatus Read(ulong lba, int count, Span<byte> destination) =>
            ReadWrite(false, lba, count, destination, default(ReadOnlySpan<byte>));

        /// <summary>Writes <paramref name="count"/> blocks from <paramref name="source"/> with WRITE(10).</summary>
        public StorageStatus Write(ulong lba, int count, ReadOnlySpan<byte> source) =>
            ReadWrite(true, lba, count, default(Span<byte>), source);

        StorageStatus ReadWrite(bool write, ulong lba, int count, Span<byte> destination, ReadOnlySpan<byte> source)
        {
            int length = write ? source.Length : destination.Length;
            if (count < 0 || BlockSize == 0 || (ulong)length < (ulong)count * BlockSize)
                return StorageStatus.InvalidArgument;
            StorageStatus range = CheckRange(lba, (ulong)count);
            if (range != StorageStatus.Ok)
                return range;
            int per = BlocksPerCommand;
            int done = 0;
            StorageStatus status = StorageStatus.Ok;
            Transport.Lock.Lock();
            while (done < count)
            {
                if (Transport.IsGone)
                {
                    status = StorageStatus.NoDevice;
                    break;
                }
                int blocks = count - done < per ? count - done : per;
                int bytes = blocks * (int)BlockSize;
                int offset = done * (int)BlockSize;
                status = write ? WriteChunk(lba + (ulong)done, blocks, source.Slice(offset, bytes))
                               : ReadChunk(lba + (ulong)done, blocks, destination.Slice(offset, bytes));
                if (status != StorageStatus.Ok)
                    break;
                done += blocks;
            }
            Transport.Lock.Unlock();
            if (write) BlocksWritten += (ulong)done;
            else BlocksRead += (ulong)done;
            return status;
        }

        StorageStatus ReadChunk(ulong lba, int blocks, Span<byte> part)
        {
            StorageStatus status = Chunk(false, lba, blocks, part.Length, default(ReadOnlySpan<byte>));
            if (status == StorageStatus.Ok)
                Transport.Data.Slice(0, part.Length).CopyTo(part);
            return status;
        }

        StorageStatus WriteChunk(ulong lba, int blocks, ReadOnlySpan<byte> part)
        {
            return Chunk(true, lba, blocks, part.Length, part);
        }

        StorageStatus Chunk(bool write, ulong lba, int blocks, int bytes, ReadOnlySpan<byte> source)
        {
            StorageStatus status = StorageStatus.CheckCondition;
            for (int attempt = 0; attempt <= CommandRetries; attempt++)
            {
                if (write)
                    source.CopyTo(Transport.Data);   // REQUEST SENSE reuses the buffer: copy on every attempt
                Cdb(write ? Scsi.Write10 : Scsi.Read10);
                Bytes.Be32(new Span<byte>(_cdb), 2, (uint)lba);
                Bytes.Be16(new Span<byte>(_cdb), 7, (ushort)blocks);
                status = Run(10, !write, bytes, out int n);
                if (status == StorageStatus.Ok)
                {
                    return n < bytes ? StorageStatus.TransportError : StorageStatus.Ok;
                }
                if (status != StorageStatus.CheckCondition)
                    return status;
                StorageStatus sense = RequestSense();
                if (sense != StorageStatus.Ok)
                    return sense;
                Log.Warning("sd " + Address + ": [" + Name + "] " + (write ? "WRITE(10)" : "READ(10)") + " LBA " + Format.Decimal(lba) +
                            " failed: " + Scsi.SenseKeyName(SenseKey) + " ASC " + Format.Hex(Asc, 2) + " ASCQ " + Format.Hex(Ascq, 2));
                if (SenseKey != Scsi.SenseUnitAttention && SenseKey != Scsi.SenseNotReady)
                    return status;
            }
            return status;
        }

        /// <summary>"16.8 MB/16.0 MiB" like Linux's string_get_size (one decimal, decimal and binary units).</summary>
        public static string SizeText(ulong bytes)
        {
            return Scaled(bytes, 1000, " kB", " MB", " GB", " TB") + "/" + Scaled(bytes, 1024, " KiB", " MiB", " GiB", " TiB");
        }

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
