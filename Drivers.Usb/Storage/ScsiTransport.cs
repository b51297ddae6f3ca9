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
    /// share it); the data stage goes through the transport's own DMA buffers.
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
}
