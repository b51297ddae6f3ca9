using Platform;

namespace Drivers.Usb.Hcd.Ohci
{
    /// <summary>
    /// Endpoint Descriptor (OpenHCI 1.0a 4.2, figure 4-1, table 4-1): four little-endian dwords,
    /// 16-byte aligned.
    /// </summary>
    public static class OhciEd
    {
        public const uint Size = 16;
        public const uint Alignment = 16;

        // Dword offsets.
        public const uint Control = 0;
        public const uint TailP = 4;
        public const uint HeadP = 8;
        public const uint NextED = 12;

        // Dword 0.
        /// <summary>FA: FunctionAddress, bits 6..0.</summary>
        public const uint FunctionAddressMask = 0x7F;
        /// <summary>EN: EndpointNumber, bits 10..7.</summary>
        public const int EndpointNumberShift = 7;
        public const uint EndpointNumberMask = 0xFu << EndpointNumberShift;
        /// <summary>D: Direction, bits 12..11 (00/11 = from TD, 01 = OUT, 10 = IN).</summary>
        public const int DirectionShift = 11;
        public const uint DirectionMask = 0x3u << DirectionShift;
        public const uint DirectionFromTd = 0x0u << DirectionShift;
        public const uint DirectionOut = 0x1u << DirectionShift;
        public const uint DirectionIn = 0x2u << DirectionShift;
        /// <summary>S: Speed (1 = low speed).</summary>
        public const uint LowSpeed = 1u << 13;
        /// <summary>K: sKip (the controller passes over this ED).</summary>
        public const uint Skip = 1u << 14;
        /// <summary>F: Format (1 = isochronous TDs).</summary>
        public const uint IsochronousFormat = 1u << 15;
        /// <summary>MPS: MaximumPacketSize, bits 26..16.</summary>
        public const int MaxPacketShift = 16;
        public const uint MaxPacketMask = 0x7FFu << MaxPacketShift;

        // Dword 1/2/3: 16-byte aligned pointers; HeadP carries two flags in its low bits.
        public const uint PointerMask = 0xFFFFFFF0;
        /// <summary>H: Halted (HeadP bit 0), set by the controller on a TD error.</summary>
        public const uint Halted = 1u << 0;
        /// <summary>C: toggleCarry (HeadP bit 1).</summary>
        public const uint ToggleCarry = 1u << 1;

        /// <summary>Dword 0 for an endpoint.</summary>
        public static uint Encode(int functionAddress, int endpointNumber, uint direction, bool lowSpeed, bool skip, int maxPacket)
        {
            uint value = ((uint)functionAddress & FunctionAddressMask) |
                         (((uint)endpointNumber << EndpointNumberShift) & EndpointNumberMask) |
                         (direction & DirectionMask) |
                         (((uint)maxPacket << MaxPacketShift) & MaxPacketMask);
            if (lowSpeed) value |= LowSpeed;
            if (skip) value |= Skip;
            return value;
        }

        public static int FunctionAddress(uint control) => (int)(control & FunctionAddressMask);
        public static int EndpointNumber(uint control) => (int)((control & EndpointNumberMask) >> EndpointNumberShift);
        public static int MaxPacket(uint control) => (int)((control & MaxPacketMask) >> MaxPacketShift);
    }

    /// <summary>
    /// General Transfer Descriptor (OpenHCI 1.0a 4.3.1, figure 4-2, table 4-2): four little-endian
    /// dwords, 16-byte aligned. The buffer CBP..BE may span at most two 4 KiB pages (4.3.1.3.1).
    /// </summary>
    public static class OhciTd
    {
        public const uint Size = 16;
        public const uint Alignment = 16;

        // Dword offsets.
        public const uint Control = 0;
        /// <summary>CBP: CurrentBufferPointer (0 = zero-length packet, or everything transferred).</summary>
        public const uint CurrentBufferPointer = 4;
        public const uint NextTD = 8;
        /// <summary>BE: BufferEnd (address of the last byte).</summary>
        public const uint BufferEnd = 12;

        // Dword 0.
        /// <summary>R: bufferRounding (a short last packet is not an error).</summary>
        public const uint BufferRounding = 1u << 18;
        /// <summary>DP: Direction/PID, bits 20..19.</summary>
        public const int PidShift = 19;
        public const uint PidMask = 0x3u << PidShift;
        public const uint PidSetup = 0x0u << PidShift;
        public const uint PidOut = 0x1u << PidShift;
        public const uint PidIn = 0x2u << PidShift;
        /// <summary>DI: DelayInterrupt, bits 23..21 (7 = no interrupt for this TD).</summary>
        public const int DelayInterruptShift = 21;
        public const uint DelayInterruptMask = 0x7u << DelayInterruptShift;
        public const uint NoInterrupt = 7;
        /// <summary>T: DataToggle, bits 25..24 (0x = from the ED's toggleCarry, 10 = DATA0, 11 = DATA1).</summary>
        public const int ToggleShift = 24;
        public const uint ToggleMask = 0x3u << ToggleShift;
        public const uint ToggleFromEd = 0x0u << ToggleShift;
        public const uint ToggleData0 = 0x2u << ToggleShift;
        public const uint ToggleData1 = 0x3u << ToggleShift;
        /// <summary>MSb of T: the toggle comes from the TD's LSb (set by the controller after a packet).</summary>
        public const uint ToggleFromTd = 0x2u << ToggleShift;
        public const uint ToggleValue = 0x1u << ToggleShift;
        /// <summary>EC: ErrorCount, bits 27..26 (three consecutive errors retire the TD).</summary>
        public const int ErrorCountShift = 26;
        public const uint ErrorCountMask = 0x3u << ErrorCountShift;
        /// <summary>CC: ConditionCode, bits 31..28.</summary>
        public const int ConditionCodeShift = 28;
        public const uint ConditionCodeMask = 0xFu << ConditionCodeShift;

        /// <summary>Page size for the CBP/BE two-page rule.</summary>
        public const uint PageSize = 4096;
        /// <summary>Largest TD this driver builds: one page, which always spans at most two pages.</summary>
        public const int MaxTransfer = 4096;

        /// <summary>Dword 0 of a general TD; the condition code starts as NotAccessed (4.3.3).</summary>
        public static uint Encode(uint pid, uint toggle, bool rounding, uint delayInterrupt)
        {
            uint value = (pid & PidMask) | (toggle & ToggleMask) |
                         ((delayInterrupt << DelayInterruptShift) & DelayInterruptMask) |
                         ((uint)OhciConditionCode.NotAccessed << ConditionCodeShift);
            if (rounding) value |= BufferRounding;
            return value;
        }

        public static int ConditionCode(uint control) => (int)((control & ConditionCodeMask) >> ConditionCodeShift);
        public static int ErrorCount(uint control) => (int)((control & ErrorCountMask) >> ErrorCountShift);

        /// <summary>True when the buffer [start, start + length) obeys the two-page rule of 4.3.1.3.1.</summary>
        public static bool SpansAtMostTwoPages(ulong start, int length)
        {
            if (length <= 0) return true;
            ulong firstPage = start / PageSize;
            ulong lastPage = (start + (ulong)length - 1) / PageSize;
            return lastPage - firstPage <= 1;
        }

        /// <summary>
        /// Largest chunk a single TD of a multi-TD transfer may carry: a whole number of packets
        /// (so that only the last TD ends in a short packet) and at most <see cref="MaxTransfer"/>.
        /// </summary>
        public static int ChunkSize(int maxPacket)
        {
            if (maxPacket <= 0 || maxPacket > MaxTransfer) return MaxTransfer;
            return MaxTransfer / maxPacket * maxPacket;
        }

        /// <summary>
        /// Number of bytes the controller moved for a retired TD (4.3.1.3.5: CBP is 0 once every
        /// byte went, else the next byte to move).
        /// </summary>
        public static int Transferred(uint currentBufferPointer, uint bufferStart, int length)
        {
            if (length == 0 || currentBufferPointer == 0) return length;
            int moved = (int)(currentBufferPointer - bufferStart);
            if (moved < 0) return 0;
            return moved > length ? length : moved;
        }
    }

    /// <summary>
    /// Isochronous Transfer Descriptor (OpenHCI 1.0a 4.3.2, figure 4-3, table 4-3): eight
    /// little-endian dwords, 32-byte aligned. One ITD carries up to eight packets for consecutive
    /// frames StartingFrame .. StartingFrame + FrameCount. Its data lies in at most two 4 KiB
    /// pages: the page of BufferPage0 and the page of BufferEnd; packet N starts at Offset[N] (12
    /// bits inside the page, bit 12 choosing BE's page) and ends where packet N + 1 starts (the
    /// last one at BufferEnd), so the packets of one ITD are contiguous. After the frame the
    /// controller replaces Offset[N] with PacketStatusWord[N]: condition code and size.
    /// </summary>
    public static class OhciItd
    {
        public const uint Size = 32;
        public const uint Alignment = 32;
        /// <summary>Most packets (frames) in one ITD: FrameCount is 3 bits (FC + 1).</summary>
        public const int MaxPackets = 8;

        // Dword offsets.
        public const uint Control = 0;
        /// <summary>BP0: BufferPage0, bits 31..12 (the low 12 bits are reserved, written 0).</summary>
        public const uint BufferPage0 = 4;
        /// <summary>NextTD (bits 31..5), at the same place as in a general TD, so the done queue links both kinds.</summary>
        public const uint NextTD = 8;
        /// <summary>BE: BufferEnd, the address of the ITD's last byte.</summary>
        public const uint BufferEnd = 12;
        /// <summary>Offset0/PSW0; Offset[N] is the 16-bit halfword at this offset + 2N.</summary>
        public const uint OffsetPsw = 16;
        /// <summary>Two 16-bit Offset/PSW fields per dword: the even one in bits 15..0, the odd one in bits 31..16.</summary>
        public const int HalfwordShift = 16;
        public const uint HalfwordMask = 0xFFFF;

        // Dword 0.
        /// <summary>SF: StartingFrame, bits 15..0 (compared with the 16-bit HcFmNumber).</summary>
        public const uint StartingFrameMask = 0xFFFF;
        /// <summary>DI: DelayInterrupt, bits 23..21 (as in a general TD).</summary>
        public const int DelayInterruptShift = 21;
        public const uint DelayInterruptMask = 0x7u << DelayInterruptShift;
        /// <summary>FC: FrameCount, bits 26..24 (packets - 1).</summary>
        public const int FrameCountShift = 24;
        public const uint FrameCountMask = 0x7u << FrameCountShift;
        /// <summary>CC: ConditionCode, bits 31..28 (DataOverrun: the ITD was reached after its last frame).</summary>
        public const int ConditionCodeShift = 28;
        public const uint ConditionCodeMask = 0xFu << ConditionCodeShift;

        public const uint PageSize = 4096;
        public const uint PageMask = ~(PageSize - 1);

        // Offset (before the frame) and PacketStatusWord (after), 4.3.2.1 / 4.3.2.3.5.
        /// <summary>Offset bits 11..0: the byte inside the page.</summary>
        public const uint OffsetInPageMask = 0xFFF;
        /// <summary>Offset bit 12: the byte is in BufferEnd's page, not BufferPage0's.</summary>
        public const uint OffsetInEndPage = 1u << 12;
        /// <summary>Offset bits 15..13 start as 111b, so the PSW's condition code reads NotAccessed (0xE/0xF) until the controller writes it.</summary>
        public const uint OffsetNotAccessed = 0x7u << 13;
        /// <summary>PSW bits 15..12: the packet's ConditionCode.</summary>
        public const int PswConditionCodeShift = 12;
        /// <summary>PSW bits 10..0: Size, the bytes received (IN); 0 for a sent OUT packet.</summary>
        public const uint PswSizeMask = 0x7FF;
        /// <summary>Condition codes at or above this one mean "not accessed" (0xE and 0xF).</summary>
        public const int NotAccessedMin = 0xE;

        /// <summary>Dword 0 of an ITD; CC starts as NotAccessed (4.3.3).</summary>
        public static uint Encode(int startingFrame, int packets, uint delayInterrupt) =>
            ((uint)startingFrame & StartingFrameMask) |
            ((delayInterrupt << DelayInterruptShift) & DelayInterruptMask) |
            (((uint)(packets - 1) << FrameCountShift) & FrameCountMask) |
            ((uint)OhciConditionCode.NotAccessed << ConditionCodeShift);

        public static int StartingFrame(uint control) => (int)(control & StartingFrameMask);
        public static int FrameCount(uint control) => (int)((control & FrameCountMask) >> FrameCountShift);
        public static int ConditionCode(uint control) => (int)((control & ConditionCodeMask) >> ConditionCodeShift);

        /// <summary>Offset[N] for a packet starting at <paramref name="address"/> in an ITD whose first byte is <paramref name="firstByte"/>.</summary>
        public static ushort Offset(uint address, uint firstByte)
        {
            uint value = OffsetNotAccessed | (address & OffsetInPageMask);
            if ((address & PageMask) != (firstByte & PageMask))
                value |= OffsetInEndPage;
            return (ushort)value;
        }

        /// <summary>True when [first, end) lies in at most two consecutive pages (one BP0 page and one BE page).</summary>
        public static bool FitsTwoPages(ulong first, ulong end) => end <= first || ((end - 1) / PageSize) - (first / PageSize) <= 1;

        public static int PswConditionCode(ushort psw) => psw >> PswConditionCodeShift;
        public static int PswSize(ushort psw) => (int)(psw & PswSizeMask);
        public static bool PswNotAccessed(ushort psw) => PswConditionCode(psw) >= NotAccessedMin;

        /// <summary>
        /// A packet's status from its PSW, as Linux ohci-q.c td_done maps it for isochronous TDs: a
        /// short IN packet is fine; the other codes as for general TDs (cc_to_error).
        /// </summary>
        public static UsbStatus PacketStatus(int cc, bool directionIn)
        {
            if (cc == OhciConditionCode.DataUnderrun && directionIn)
                return UsbStatus.Ok;
            return OhciConditionCode.ToStatus(cc);
        }
    }

    /// <summary>TD ConditionCode values (OpenHCI 1.0a 4.3.3, table 4-7).</summary>
    public static class OhciConditionCode
    {
        public const int NoError = 0x0;
        public const int Crc = 0x1;
        public const int BitStuffing = 0x2;
        public const int DataToggleMismatch = 0x3;
        public const int Stall = 0x4;
        public const int DeviceNotResponding = 0x5;
        public const int PidCheckFailure = 0x6;
        public const int UnexpectedPid = 0x7;
        public const int DataOverrun = 0x8;
        public const int DataUnderrun = 0x9;
        public const int BufferOverrun = 0xC;
        public const int BufferUnderrun = 0xD;
        /// <summary>Set by software before the TD is queued (0xE or 0xF).</summary>
        public const int NotAccessed = 0xF;

        /// <summary>
        /// The core's status for a condition code (Linux ohci cc_to_error). DataUnderrun is a short
        /// packet: callers treat it as success unless the request forbids short packets.
        /// </summary>
        public static UsbStatus ToStatus(int cc)
        {
            switch (cc)
            {
                case NoError: return UsbStatus.Ok;
                case Crc: return UsbStatus.DataError;
                case BitStuffing: return UsbStatus.TransactionError;
                case DataToggleMismatch: return UsbStatus.DataError;
                case Stall: return UsbStatus.Stall;
                case DeviceNotResponding: return UsbStatus.TransactionError;
                case PidCheckFailure: return UsbStatus.TransactionError;
                case UnexpectedPid: return UsbStatus.TransactionError;
                case DataOverrun: return UsbStatus.Babble;
                case DataUnderrun: return UsbStatus.ShortPacket;
                case BufferOverrun: return UsbStatus.Overrun;
                case BufferUnderrun: return UsbStatus.Underrun;
                default: return UsbStatus.TransactionError;
            }
        }

        public static string Name(int cc)
        {
            switch (cc)
            {
                case NoError: return "NoError";
                case Crc: return "CRC";
                case BitStuffing: return "BitStuffing";
                case DataToggleMismatch: return "DataToggleMismatch";
                case Stall: return "Stall";
                case DeviceNotResponding: return "DeviceNotResponding";
                case PidCheckFailure: return "PIDCheckFailure";
                case UnexpectedPid: return "UnexpectedPID";
                case DataOverrun: return "DataOverrun";
                case DataUnderrun: return "DataUnderrun";
                case BufferOverrun: return "BufferOverrun";
                case BufferUnderrun: return "BufferUnderrun";
                default: return "NotAccessed";
            }
        }
    }

    /// <summary>Host Controller Communications Area (OpenHCI 1.0a 4.4, table 4-9): 256 bytes, 256-byte aligned.</summary>
    public static class OhciHcca
    {
        public const uint Size = 256;
        public const uint Alignment = 256;
        /// <summary>HccaInterruptTable: 32 pointers to interrupt EDs (offset 0x00).</summary>
        public const uint InterruptTable = 0x00;
        public const int InterruptTableEntries = 32;
        /// <summary>HccaFrameNumber: 16 bits (offset 0x80).</summary>
        public const uint FrameNumber = 0x80;
        /// <summary>HccaPad1: written 0 by the controller with the frame number (offset 0x82).</summary>
        public const uint Pad1 = 0x82;
        /// <summary>HccaDoneHead (offset 0x84); bit 0 set = other interrupt sources pending too.</summary>
        public const uint DoneHead = 0x84;
        public const uint DoneHeadOtherInterrupts = 1u << 0;
    }

    /// <summary>Little-endian dword access to descriptors in DMA memory.</summary>
    public static unsafe class OhciMemory
    {
        public static uint Read(DmaBuffer buffer, uint offset) => System.Threading.Volatile.Read(ref *(uint*)(buffer.Pointer + offset));
        public static void Write(DmaBuffer buffer, uint offset, uint value) => System.Threading.Volatile.Write(ref *(uint*)(buffer.Pointer + offset), value);
    }
}
