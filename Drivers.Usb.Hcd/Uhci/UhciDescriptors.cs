namespace Drivers.Usb.Hcd.Uhci
{
    /// <summary>
    /// Frame list and link pointer fields (UHCI 1.1, 3.1 "Frame List Pointer", 3.2.1 "TD Link
    /// Pointer", 3.3.1 "Queue Head Link Pointer", 3.3.2 "Queue Element Link Pointer"). All are
    /// 32-bit words: bits 31:4 a 16-byte aligned physical address, bit 2 Vf (TDs only), bit 1 Q,
    /// bit 0 T.
    /// </summary>
    public static class UhciLink
    {
        /// <summary>T: terminate, the pointer is not valid.</summary>
        public const uint Terminate = 1 << 0;
        /// <summary>Q: the pointer refers to a queue head (0 = a transfer descriptor).</summary>
        public const uint QueueHead = 1 << 1;
        /// <summary>Vf (TD link only): 1 = depth first (run the next TD of this queue), 0 = breadth first.</summary>
        public const uint DepthFirst = 1 << 2;
        /// <summary>Bits 31:4: the address.</summary>
        public const uint AddressMask = 0xFFFFFFF0;
        /// <summary>Descriptors are 16-byte aligned (3.2, 3.3).</summary>
        public const uint Alignment = 16;

        public static uint ToQueueHead(uint physical) => (physical & AddressMask) | QueueHead;
        public static uint ToTransferDescriptor(uint physical, bool depthFirst) =>
            (physical & AddressMask) | (depthFirst ? DepthFirst : 0);
        public static bool IsTerminate(uint link) => (link & Terminate) != 0;
        public static uint Address(uint link) => link & AddressMask;
    }

    /// <summary>
    /// Transfer descriptor layout (UHCI 1.1, 3.2, figure 5): four 32-bit words. The controller
    /// reads them all and writes back the control/status word; the rest is the driver's.
    /// </summary>
    public static class UhciTd
    {
        /// <summary>Hardware part of a TD in bytes (3.2: 4 dwords, 16-byte aligned).</summary>
        public const uint Size = 16;

        /// <summary>TD Link Pointer word (3.2.1).</summary>
        public const int LinkOffset = 0;
        /// <summary>TD Control and Status word (3.2.2).</summary>
        public const int ControlStatusOffset = 4;
        /// <summary>TD Token word (3.2.3).</summary>
        public const int TokenOffset = 8;
        /// <summary>TD Buffer Pointer word (3.2.4).</summary>
        public const int BufferOffset = 12;

        // ---- Control and Status (3.2.2, table 10) ---------------------------------------
        /// <summary>Bits 10:0 ActLen: bytes transferred minus one (7FFh = none), written by the controller.</summary>
        public const uint ActualLengthMask = 0x7FF;
        /// <summary>Bit 16 reserved; bits 23:17 status; bit 23 Active.</summary>
        public const uint StatusBitstuff = 1u << 17;
        /// <summary>CRC/Time Out Error: no handshake or a corrupted packet (bit 18).</summary>
        public const uint StatusCrcTimeout = 1u << 18;
        /// <summary>NAK Received (bit 19), informational.</summary>
        public const uint StatusNak = 1u << 19;
        /// <summary>Babble Detected (bit 20): the device talked past the end of the packet or frame.</summary>
        public const uint StatusBabble = 1u << 20;
        /// <summary>Data Buffer Error (bit 21): the controller could not keep up with the data (overrun/underrun).</summary>
        public const uint StatusDataBuffer = 1u << 21;
        /// <summary>Stalled (bit 22): a STALL handshake, or the error counter reached zero (with another error bit).</summary>
        public const uint StatusStalled = 1u << 22;
        /// <summary>Active (bit 23): the controller executes the TD while it is set.</summary>
        public const uint StatusActive = 1u << 23;
        /// <summary>Every error bit (bits 22:17 except NAK).</summary>
        public const uint StatusErrorMask = StatusBitstuff | StatusCrcTimeout | StatusBabble | StatusDataBuffer | StatusStalled;
        /// <summary>Bits 23:16: the status field.</summary>
        public const uint StatusMask = 0x00FF0000;
        /// <summary>IOC (bit 24): interrupt on complete at the end of the frame.</summary>
        public const uint InterruptOnComplete = 1u << 24;
        /// <summary>IOS (bit 25): isochronous select.</summary>
        public const uint Isochronous = 1u << 25;
        /// <summary>LS (bit 26): low speed device (the controller sends a PRE packet through hubs).</summary>
        public const uint LowSpeed = 1u << 26;
        /// <summary>C_ERR (bits 28:27): errors allowed before the TD is stopped; 0 = unlimited.</summary>
        public const int ErrorCounterShift = 27;
        public const uint ErrorCounterMask = 3u << ErrorCounterShift;
        /// <summary>Three strikes (the value Linux and the spec's examples use).</summary>
        public const uint ErrorCounterThree = 3u << ErrorCounterShift;
        /// <summary>SPD (bit 29): short packet detect, stop the queue on a short IN packet.</summary>
        public const uint ShortPacketDetect = 1u << 29;

        // ---- Token (3.2.3, table 11) -----------------------------------------------------
        /// <summary>Bits 7:0 packet identification.</summary>
        public const uint PidMask = 0xFF;
        /// <summary>Bits 14:8 device address.</summary>
        public const int DeviceAddressShift = 8;
        public const uint DeviceAddressMask = 0x7F;
        /// <summary>Bits 18:15 endpoint number.</summary>
        public const int EndpointShift = 15;
        public const uint EndpointMask = 0xF;
        /// <summary>Bit 19 data toggle (DATA0/DATA1).</summary>
        public const int DataToggleShift = 19;
        public const uint DataToggle = 1u << DataToggleShift;
        /// <summary>Bits 31:21 MaxLen: packet length minus one; 7FFh = null data packet.</summary>
        public const int MaxLengthShift = 21;
        public const uint MaxLengthMask = 0x7FF;
        /// <summary>Largest MaxLen the spec allows: 1280 bytes (4FFh).</summary>
        public const int MaxPacketLength = 1280;
        /// <summary>The n-1 encoding of a zero-length packet.</summary>
        public const uint NullLength = 0x7FF;

        /// <summary>USB PIDs (USB 2.0 table 8-1) as the token's PID field holds them.</summary>
        public const byte PidSetup = 0x2D;
        public const byte PidIn = 0x69;
        public const byte PidOut = 0xE1;

        /// <summary>Encodes a length as the n-1 field (MaxLen, ActLen): 0 becomes 7FFh.</summary>
        public static uint EncodeLength(int length) => (uint)(length - 1) & MaxLengthMask;

        /// <summary>Decodes an n-1 field: 7FFh is 0.</summary>
        public static int DecodeLength(uint field) => (int)((field + 1) & MaxLengthMask);

        /// <summary>Builds a TD token (3.2.3).</summary>
        public static uint Token(byte pid, int address, int endpoint, bool toggle, int maxLength) =>
            (EncodeLength(maxLength) << MaxLengthShift) |
            (toggle ? DataToggle : 0) |
            (((uint)endpoint & EndpointMask) << EndpointShift) |
            (((uint)address & DeviceAddressMask) << DeviceAddressShift) |
            pid;

        /// <summary>Builds an active control/status word (3.2.2) with three strikes.</summary>
        public static uint ControlStatus(bool lowSpeed, bool shortPacketDetect, bool interruptOnComplete) =>
            ErrorCounterThree | StatusActive |
            (lowSpeed ? LowSpeed : 0) |
            (shortPacketDetect ? ShortPacketDetect : 0) |
            (interruptOnComplete ? InterruptOnComplete : 0);

        /// <summary>
        /// An active isochronous TD's control/status word (3.2.2): IOS set, no error counter (the
        /// controller never retries an isochronous packet), no SPD; IOC when asked.
        /// </summary>
        public static uint IsochronousControlStatus(bool interruptOnComplete) =>
            StatusActive | Isochronous | (interruptOnComplete ? InterruptOnComplete : 0);

        public static int ActualLength(uint controlStatus) => DecodeLength(controlStatus & ActualLengthMask);
        public static int MaxLength(uint token) => DecodeLength((token >> MaxLengthShift) & MaxLengthMask);
        public static bool Toggle(uint token) => (token & DataToggle) != 0;
        public static byte Pid(uint token) => (byte)(token & PidMask);
        public static int DeviceAddress(uint token) => (int)((token >> DeviceAddressShift) & DeviceAddressMask);
        public static int Endpoint(uint token) => (int)((token >> EndpointShift) & EndpointMask);
        public static bool IsActive(uint controlStatus) => (controlStatus & StatusActive) != 0;
        public static bool HasError(uint controlStatus) => (controlStatus & StatusErrorMask) != 0;

        /// <summary>
        /// Maps a finished TD's status bits to the core's status (Linux uhci_map_status): bitstuff is
        /// a protocol error; CRC/timeout is a protocol error on OUT (no handshake) and a data error on
        /// IN; babble; data buffer errors are underruns on OUT (-ENOSR) and overruns on IN (-ECOMM); a stall last, because the controller
        /// also sets Stalled when the error counter runs out.
        /// </summary>
        public static UsbStatus MapStatus(uint controlStatus, bool directionOut)
        {
            if ((controlStatus & StatusErrorMask) == 0)
                return UsbStatus.Ok;
            if ((controlStatus & StatusBitstuff) != 0)
                return UsbStatus.TransactionError;
            if ((controlStatus & StatusCrcTimeout) != 0)
                return directionOut ? UsbStatus.TransactionError : UsbStatus.DataError;
            if ((controlStatus & StatusBabble) != 0)
                return UsbStatus.Babble;
            if ((controlStatus & StatusDataBuffer) != 0)
                return directionOut ? UsbStatus.Underrun : UsbStatus.Overrun;
            return UsbStatus.Stall;
        }
    }

    /// <summary>Queue head layout (UHCI 1.1, 3.3, figure 7): two 32-bit words, 16-byte aligned.</summary>
    public static class UhciQh
    {
        /// <summary>The hardware uses 8 bytes; we allocate 16 to keep the alignment unit.</summary>
        public const uint Size = 16;
        /// <summary>Queue Head Link Pointer: the next QH/TD horizontally (3.3.1).</summary>
        public const int LinkOffset = 0;
        /// <summary>Queue Element Link Pointer: the first TD of this queue, written back by the controller (3.3.2).</summary>
        public const int ElementOffset = 4;
    }
}
