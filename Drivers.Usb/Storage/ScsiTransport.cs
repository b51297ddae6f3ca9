using System;
using Platform;

namespace Drivers.Usb.Storage
{
    /// <summary>
    /// How a <see cref="ScsiDisk"/> reaches its device: one SCSI command with an optional data stage
    /// (Linux: the SCSI host's queuecommand, the "transport" of usb-storage and uas). Bulk-Only
    /// Transport (<see cref="BulkOnlyTransport"/>) and USB Attached SCSI (<see cref="UasTransport"/>)
    /// implement it, so READ/WRITE(10/16), sense decoding, LUNs, partitions and the `disk` verb are
    /// shared. Commands of the disk layer are serialized by <see cref="Lock"/> (all LUNs of a device
    /// share it; a queued request holds it while any of its commands is in flight, since they use
    /// slices of the same <see cref="Data"/>); the data stage goes through the transport's own DMA buffers.
    /// </summary>
    public interface IScsiTransport
    {
        /// <summary>The interface's Linux name, "1-1:1.0".</summary>
        string Name { get; }
        /// <summary>The transport's driver as Linux names it: "usb-storage" or "uas".</summary>
        string DriverName { get; }
        UsbDevice Device { get; }
        /// <summary>Serializes the disk layer's commands; Release takes it before freeing the buffers.</summary>
        IMutex Lock { get; }
        bool IsGone { get; }
        /// <summary>Largest data stage of one command: the size of <see cref="Data"/>.</summary>
        int TransferBytes { get; }
        /// <summary>The DMA data buffer of READ and WRITE (filled and read in place by ScsiDisk.Stream).</summary>
        Span<byte> Data { get; }
        /// <summary>The DMA buffer of the small commands (INQUIRY, REQUEST SENSE, READ CAPACITY, MODE SENSE).</summary>
        Span<byte> Small { get; }

        /// <summary>
        /// Runs one command to its status: <paramref name="length"/> bytes move through <see cref="Data"/>
        /// (or <see cref="Small"/> when <paramref name="small"/>); <paramref name="transferred"/> is what the
        /// device processed. Ok, CheckCondition (the sense tells why), or a transport failure after the
        /// transport's own recovery. A command with a data-out stage is Ok only once the device's
        /// status said so. Caller holds <see cref="Lock"/>.
        /// </summary>
        StorageStatus Command(byte lun, ReadOnlySpan<byte> cdb, bool dataIn, bool small, int length, out int transferred);

        /// <summary>
        /// Sense data that arrived with the last CHECK CONDITION (autosense: UAS's Sense IU), copied
        /// into <paramref name="destination"/>; 0 when there is none (Bulk-Only: the disk asks with
        /// REQUEST SENSE). Taking it clears it. Caller holds <see cref="Lock"/>.
        /// </summary>
        int TakeSense(Span<byte> destination);

        /// <summary>Marks the transport gone, waits for the command in flight, frees the buffers (driver disconnect).</summary>
        void Release();
    }

    /// <summary>
    /// A transport that keeps several commands in flight (UAS: tagged commands, UAS 4.2; Linux: the
    /// SCSI host's can_queue). <see cref="ScsiDisk"/> splits a large READ or WRITE into up to
    /// <see cref="QueueDepth"/> commands, each on its own slice of <see cref="IScsiTransport.Data"/>,
    /// and starts the next one as soon as the oldest has ended, so the device always has the next
    /// command while the current one moves its data. Bulk-Only cannot (one CBW/CSW at a time).
    /// </summary>
    public interface IQueuedScsiTransport : IScsiTransport
    {
        /// <summary>READ/WRITE commands one disk request keeps in flight at once (1: none queued).</summary>
        int QueueDepth { get; }

        /// <summary>
        /// Queues one command without waiting: its data stage is <see cref="IScsiTransport.Data"/>
        /// [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>), filled
        /// first for a data-out stage. <paramref name="handle"/> names it for <see cref="Finish"/>, which
        /// every Ok start needs. <see cref="StorageStatus.Busy"/> when no tag is free (finish one first).
        /// Caller holds <see cref="IScsiTransport.Lock"/>.
        /// </summary>
        StorageStatus Start(byte lun, ReadOnlySpan<byte> cdb, bool dataIn, int offset, int length, out int handle);

        /// <summary>
        /// Waits (bounded) for a started command to end and frees its tag, in any order: Ok,
        /// CheckCondition (<see cref="IScsiTransport.TakeSense"/> then gives its sense, until the next
        /// Finish) or a failure after the transport's recovery. A data-out command is Ok only once the
        /// device's status said so. Caller holds <see cref="IScsiTransport.Lock"/>.
        /// </summary>
        StorageStatus Finish(int handle, out int transferred);
    }
}
