using Platform;

namespace Drivers.Usb.Hcd.Xhci
{
    /// <summary>DMA memory accessors (little-endian dwords, one access each).</summary>
    public static unsafe class XhciMemory
    {
        public static uint Read(DmaBuffer buffer, uint offset) => System.Threading.Volatile.Read(ref *(uint*)(buffer.Pointer + offset));
        public static void Write(DmaBuffer buffer, uint offset, uint value) => System.Threading.Volatile.Write(ref *(uint*)(buffer.Pointer + offset), value);
        public static ulong Read64(DmaBuffer buffer, uint offset) => Read(buffer, offset) | ((ulong)Read(buffer, offset + 4) << 32);
        public static void Write64(DmaBuffer buffer, uint offset, ulong value)
        {
            Write(buffer, offset, (uint)value);
            Write(buffer, offset + 4, (uint)(value >> 32));
        }
    }

    /// <summary>
    /// Transfer Request Block (xHCI 1.2 4.11, 6.4): 16 bytes = parameter (dwords 0-1), status
    /// (dword 2), control (dword 3: cycle bit 0, TRB type bits 15..10).
    /// </summary>
    public static class Trb
    {
        public const uint Size = 16;
        public const uint Parameter = 0;
        public const uint Status = 8;
        public const uint Control = 12;

        // Control dword bits common to transfer TRBs (6.4.1).
        public const uint Cycle = 1u << 0;
        /// <summary>ENT (transfer TRBs) / TC toggle cycle (Link TRB).</summary>
        public const uint EvaluateNext = 1u << 1;
        public const uint ToggleCycle = 1u << 1;
        /// <summary>ISP: interrupt on short packet.</summary>
        public const uint InterruptOnShortPacket = 1u << 2;
        public const uint NoSnoop = 1u << 3;
        /// <summary>CH: chain (the next TRB belongs to the same TD).</summary>
        public const uint Chain = 1u << 4;
        /// <summary>IOC: interrupt on completion.</summary>
        public const uint InterruptOnCompletion = 1u << 5;
        /// <summary>IDT: the parameter holds the data (Setup Stage TRB).</summary>
        public const uint ImmediateData = 1u << 6;
        public const uint BlockEventInterrupt = 1u << 9;
        public const int TypeShift = 10;
        public const uint TypeMask = 0x3Fu << TypeShift;
        /// <summary>Setup Stage TRB: TRT bits 17..16 (6.4.1.2.1).</summary>
        public const int TransferTypeShift = 16;
        public const uint TransferTypeNoData = 0;
        public const uint TransferTypeOut = 2;
        public const uint TransferTypeIn = 3;
        /// <summary>Data/Status Stage TRB: DIR bit 16 (1 = IN).</summary>
        public const uint DirectionIn = 1u << 16;

        // Status dword (6.4.1.1).
        public const uint TransferLengthMask = 0x1FFFF;
        public const int TdSizeShift = 17;
        public const uint TdSizeMax = 31;
        public const int InterrupterTargetShift = 22;

        // Command TRB fields (6.4.3).
        public const int SlotIdShift = 24;
        public const uint SlotIdMask = 0xFF;
        public const int EndpointIdShift = 16;
        public const uint EndpointIdMask = 0x1F;
        /// <summary>Address Device BSR (block SET_ADDRESS), Configure Endpoint DC, Reset Endpoint TSP: bit 9.</summary>
        public const uint BlockSetAddress = 1u << 9;
        public const uint Deconfigure = 1u << 9;
        public const uint TransferStatePreserve = 1u << 9;
        /// <summary>Stop Endpoint SP (suspend): bit 23.</summary>
        public const uint Suspend = 1u << 23;
        public const int SlotTypeShift = 16;
        /// <summary>Set TR Dequeue Pointer: DCS in bit 0 of the pointer, SCT bits 3..1.</summary>
        public const ulong DequeueCycleState = 1;
        public const ulong DequeuePointerMask = ~0xFUL;
        /// <summary>Set TR Dequeue Pointer: Stream ID in bits 31..16 of the status dword (6.4.3.9).</summary>
        public const int StreamIdShift = 16;
        public static uint StreamField(int streamId) => (uint)streamId << StreamIdShift;

        // Event TRB fields (6.4.2).
        public const int CompletionCodeShift = 24;
        public const uint CompletionCodeMask = 0xFF;
        public const uint EventLengthMask = 0xFFFFFF;
        /// <summary>ED: the event's pointer is an Event Data TRB's parameter.</summary>
        public const uint EventData = 1u << 2;
        /// <summary>Port Status Change Event: Port ID in parameter bits 31..24.</summary>
        public const int PortIdShift = 24;

        // TRB types (6.4.6, table 6-91).
        public const uint TypeNormal = 1;
        public const uint TypeSetupStage = 2;
        public const uint TypeDataStage = 3;
        public const uint TypeStatusStage = 4;
        public const uint TypeIsoch = 5;
        public const uint TypeLink = 6;
        public const uint TypeEventData = 7;
        public const uint TypeNoOp = 8;
        public const uint TypeEnableSlot = 9;
        public const uint TypeDisableSlot = 10;
        public const uint TypeAddressDevice = 11;
        public const uint TypeConfigureEndpoint = 12;
        public const uint TypeEvaluateContext = 13;
        public const uint TypeResetEndpoint = 14;
        public const uint TypeStopEndpoint = 15;
        public const uint TypeSetTrDequeue = 16;
        public const uint TypeResetDevice = 17;
        public const uint TypeNoOpCommand = 23;
        public const uint TypeTransferEvent = 32;
        public const uint TypeCommandCompletion = 33;
        public const uint TypePortStatusChange = 34;
        public const uint TypeBandwidthRequest = 35;
        public const uint TypeDoorbellEvent = 36;
        public const uint TypeHostController = 37;
        public const uint TypeDeviceNotification = 38;
        public const uint TypeMfindexWrap = 39;

        public static uint TypeField(uint type) => type << TypeShift;
        public static uint TypeOf(uint control) => (control & TypeMask) >> TypeShift;
        public static uint SlotField(int slot) => ((uint)slot & SlotIdMask) << SlotIdShift;
        public static uint EndpointField(int dci) => ((uint)dci & EndpointIdMask) << EndpointIdShift;
        public static int SlotOf(uint control) => (int)((control >> SlotIdShift) & SlotIdMask);
        public static int EndpointOf(uint control) => (int)((control >> EndpointIdShift) & EndpointIdMask);
        public static int CompletionCodeOf(uint status) => (int)((status >> CompletionCodeShift) & CompletionCodeMask);

        /// <summary>Status dword of a transfer TRB: length, TD Size (clamped to 31), interrupter 0.</summary>
        public static uint TransferStatus(int length, int tdSize)
        {
            uint size = tdSize < 0 ? 0 : (uint)tdSize;
            if (size > TdSizeMax) size = TdSizeMax;
            return ((uint)length & TransferLengthMask) | (size << TdSizeShift);
        }

        /// <summary>
        /// TD Size (4.11.2.4): packets still to transfer after this TRB, for xHCI 1.0+:
        /// ceil((total - bytes up to and including this TRB) / max packet), 0 for the last TRB.
        /// </summary>
        public static int TdSize(int transferredIncludingThis, int total, int maxPacket, bool last)
        {
            if (last || maxPacket <= 0)
                return 0;
            int remaining = total - transferredIncludingThis;
            if (remaining <= 0)
                return 0;
            int packets = (remaining + maxPacket - 1) / maxPacket;
            return packets > (int)TdSizeMax ? (int)TdSizeMax : packets;
        }

        /// <summary>Setup Stage TRB control dword (6.4.1.2.1).</summary>
        public static uint SetupControl(bool hasData, bool directionIn)
        {
            uint trt = !hasData ? TransferTypeNoData : directionIn ? TransferTypeIn : TransferTypeOut;
            return TypeField(TypeSetupStage) | ImmediateData | (trt << TransferTypeShift);
        }

        /// <summary>Data Stage TRB control dword (6.4.1.2.2).</summary>
        public static uint DataControl(bool directionIn, bool chain) =>
            TypeField(TypeDataStage) | (directionIn ? DirectionIn | InterruptOnShortPacket : 0) | (chain ? Chain : 0);

        /// <summary>Status Stage TRB (6.4.1.2.3): IN unless the data stage was IN.</summary>
        public static uint StatusControl(bool hasData, bool dataIn) =>
            TypeField(TypeStatusStage) | (hasData && dataIn ? 0 : DirectionIn) | InterruptOnCompletion;

        // Isoch TRB (6.4.1.3) control fields.
        /// <summary>TBC (bits 8:7): Transfer Burst Count (SuperSpeed bursts - 1).</summary>
        public const int TransferBurstCountShift = 7;
        public const uint TransferBurstCountMask = 0x3;
        /// <summary>TLBPC (bits 19:16): Transfer Last Burst Packet Count.</summary>
        public const int LastBurstPacketCountShift = 16;
        public const uint LastBurstPacketCountMask = 0xF;
        /// <summary>Frame ID (bits 30:20): the 1 ms frame (MFINDEX bits 13:3) the TD is for.</summary>
        public const int FrameIdShift = 20;
        public const uint FrameIdMask = 0x7FF;
        /// <summary>SIA (bit 31): Start Isoch ASAP, right after the previous TD's interval (4.11.2.5).</summary>
        public const uint StartIsochAsap = 1u << 31;

        /// <summary>
        /// Isoch TRB control dword (6.4.1.3): the first TRB of each isochronous TD (one TD per
        /// packet). <paramref name="frameId"/> is used when <paramref name="asap"/> is false.
        /// ISP on IN so a short packet reports its length; IOC/BEI as the caller asks.
        /// </summary>
        public static uint IsochControl(bool directionIn, bool chain, bool interruptOnCompletion, bool blockEventInterrupt,
                                        int burstCount, int lastBurstPacketCount, bool asap, int frameId)
        {
            uint control = TypeField(TypeIsoch) |
                           (directionIn ? InterruptOnShortPacket : 0) |
                           (chain ? Chain : 0) |
                           (interruptOnCompletion ? InterruptOnCompletion : 0) |
                           (blockEventInterrupt ? BlockEventInterrupt : 0) |
                           (((uint)burstCount & TransferBurstCountMask) << TransferBurstCountShift) |
                           (((uint)lastBurstPacketCount & LastBurstPacketCountMask) << LastBurstPacketCountShift);
            if (asap)
                control |= StartIsochAsap;
            else
                control |= ((uint)frameId & FrameIdMask) << FrameIdShift;
            return control;
        }

        /// <summary>
        /// TBC and TLBPC of an isochronous TD of <paramref name="length"/> bytes (4.11.2.3, Linux
        /// xhci_get_burst_count / xhci_get_last_burst_packet_count): below SuperSpeed TBC is 0 and
        /// TLBPC the number of packets - 1; at SuperSpeed packets are grouped in bursts of MaxBurst + 1.
        /// </summary>
        public static void IsochBurst(int length, int maxPacket, int maxBurst, bool superSpeed, out int burstCount, out int lastBurstPacketCount)
        {
            int packets = maxPacket > 0 ? (length + maxPacket - 1) / maxPacket : 1;
            if (packets < 1)
                packets = 1;
            if (!superSpeed)
            {
                burstCount = 0;
                lastBurstPacketCount = packets - 1;
                return;
            }
            int burst = maxBurst + 1;
            burstCount = (packets + burst - 1) / burst - 1;
            int rest = packets % burst;
            lastBurstPacketCount = rest == 0 ? burst - 1 : rest - 1;
        }

        /// <summary>Normal TRB control dword (6.4.1.1).</summary>
        public static uint NormalControl(bool directionIn, bool chain, bool interruptOnCompletion) =>
            TypeField(TypeNormal) | (directionIn ? InterruptOnShortPacket : 0) | (chain ? Chain : 0) |
            (interruptOnCompletion ? InterruptOnCompletion : 0);

        /// <summary>Largest TRB data buffer: none may cross a 64 KiB boundary (4.11.7.1, 6.4.1.1).</summary>
        public const uint BoundarySize = 0x10000;

        /// <summary>Bytes the TRB starting at <paramref name="address"/> may carry before the next 64 KiB boundary.</summary>
        public static int ChunkAt(ulong address, int remaining)
        {
            ulong room = BoundarySize - (address & (BoundarySize - 1));
            return (ulong)remaining < room ? remaining : (int)room;
        }

        /// <summary>Number of TRBs a buffer needs when split at 64 KiB boundaries (at least one).</summary>
        public static int CountChunks(ulong address, int length)
        {
            if (length <= 0)
                return 1;
            int count = 0;
            while (length > 0)
            {
                int n = ChunkAt(address, length);
                address += (ulong)n;
                length -= n;
                count++;
            }
            return count;
        }
    }

    /// <summary>Completion codes (6.4.5, table 6-90) and their UsbStatus.</summary>
    public static class XhciCompletion
    {
        public const int Invalid = 0;
        public const int Success = 1;
        public const int DataBufferError = 2;
        public const int BabbleDetected = 3;
        public const int UsbTransactionError = 4;
        public const int TrbError = 5;
        public const int StallError = 6;
        public const int ResourceError = 7;
        public const int BandwidthError = 8;
        public const int NoSlotsAvailable = 9;
        public const int InvalidStreamType = 10;
        public const int SlotNotEnabled = 11;
        public const int EndpointNotEnabled = 12;
        public const int ShortPacket = 13;
        public const int RingUnderrun = 14;
        public const int RingOverrun = 15;
        public const int VfEventRingFull = 16;
        public const int ParameterError = 17;
        public const int BandwidthOverrun = 18;
        public const int ContextStateError = 19;
        public const int NoPingResponse = 20;
        public const int EventRingFull = 21;
        public const int IncompatibleDevice = 22;
        public const int MissedService = 23;
        public const int CommandRingStopped = 24;
        public const int CommandAborted = 25;
        public const int Stopped = 26;
        public const int StoppedLengthInvalid = 27;
        public const int StoppedShortPacket = 28;
        public const int MaxExitLatencyTooLarge = 29;
        public const int IsochBufferOverrun = 31;
        public const int EventLost = 32;
        public const int UndefinedError = 33;
        public const int InvalidStreamId = 34;
        public const int SecondaryBandwidthError = 35;
        public const int SplitTransactionError = 36;

        /// <summary>Transfer completion code → request status (Linux xhci-ring.c mapping).</summary>
        public static UsbStatus ToStatus(int code)
        {
            switch (code)
            {
                case Success:
                case ShortPacket:
                    return UsbStatus.Ok;
                case StallError: return UsbStatus.Stall;
                case BabbleDetected: return UsbStatus.Babble;
                case UsbTransactionError:
                case SplitTransactionError:
                case NoPingResponse:
                    return UsbStatus.TransactionError;
                case DataBufferError: return UsbStatus.Overflow;
                case RingUnderrun:
                    return UsbStatus.Underrun;
                case RingOverrun:
                case IsochBufferOverrun:
                    return UsbStatus.Overrun;
                case MissedService:
                    return UsbStatus.CrossedFrame;
                case Stopped:
                case StoppedLengthInvalid:
                case StoppedShortPacket:
                    return UsbStatus.Cancelled;
                case SlotNotEnabled:
                case EndpointNotEnabled:
                case IncompatibleDevice:
                    return UsbStatus.NoDevice;
                case BandwidthError:
                case BandwidthOverrun:
                case SecondaryBandwidthError:
                    return UsbStatus.NoBandwidth;
                case ResourceError:
                case NoSlotsAvailable:
                    return UsbStatus.NoMemory;
                case ParameterError:
                case TrbError:
                case ContextStateError:
                    return UsbStatus.InvalidArgument;
                default:
                    return UsbStatus.TransactionError;
            }
        }

        /// <summary>True for codes after which the endpoint is Halted (4.10.2: stall, babble, transaction/split errors).</summary>
        public static bool Halts(int code) =>
            code == StallError || code == BabbleDetected || code == UsbTransactionError || code == SplitTransactionError;

        public static string Name(int code)
        {
            switch (code)
            {
                case Success: return "success";
                case DataBufferError: return "data buffer error";
                case BabbleDetected: return "babble";
                case UsbTransactionError: return "transaction error";
                case TrbError: return "TRB error";
                case StallError: return "stall";
                case ResourceError: return "resource error";
                case BandwidthError: return "bandwidth error";
                case NoSlotsAvailable: return "no slots available";
                case SlotNotEnabled: return "slot not enabled";
                case EndpointNotEnabled: return "endpoint not enabled";
                case ShortPacket: return "short packet";
                case ParameterError: return "parameter error";
                case ContextStateError: return "context state error";
                case CommandRingStopped: return "command ring stopped";
                case CommandAborted: return "command aborted";
                case Stopped: return "stopped";
                case SplitTransactionError: return "split transaction error";
                default: return "completion code " + Format.Decimal((ulong)code);
            }
        }
    }

    /// <summary>
    /// A producer TRB ring of one segment (4.9.2): the last slot is a Link TRB back to the start
    /// with Toggle Cycle. Software owns the enqueue pointer and the producer cycle state (PCS); a TD
    /// is handed over by writing the cycle bit of its first TRB last (<see cref="BeginTd"/> /
    /// <see cref="CommitTd"/>). <see cref="Used"/> counts slots not yet released by completions.
    /// </summary>
    public sealed class XhciRing
    {
        /// <summary>Slots per ring: one 4 KiB page of TRBs (the last one is the Link TRB).</summary>
        public const int DefaultSlots = 256;
        public const uint Alignment = 64;

        public DmaBuffer Memory;
        public readonly int Slots;
        public int Enqueue;
        public bool Cycle = true;
        public int Used;
        int _tdStart = -1;
        bool _tdStartCycle;

        public XhciRing(DmaBuffer memory, int slots)
        {
            Memory = memory;
            Slots = slots;
            WriteLink();
        }

        /// <summary>Allocates a ring that never crosses a 64 KiB boundary (4.9.2, table 6-1); null when out of memory.</summary>
        public static XhciRing Allocate(IDmaAllocator dma, int slots = DefaultSlots)
        {
            DmaBuffer mem = dma.Allocate((uint)slots * Trb.Size, Alignment, DmaLimit.Below4G, Trb.BoundarySize);
            if (mem.IsNull)
                return null;
            return new XhciRing(mem, slots);
        }

        public int LinkIndex => Slots - 1;
        public ulong Base => Memory.Physical;
        public ulong PhysicalAt(int index) => Memory.Physical + (ulong)index * Trb.Size;
        public ulong EnqueuePhysical => PhysicalAt(Enqueue);
        /// <summary>TRBs that can still be queued (the link slots a wrap needs are counted as used).</summary>
        public int Free => LinkIndex - Used - 1;

        void WriteLink()
        {
            uint link = (uint)LinkIndex * Trb.Size;
            XhciMemory.Write64(Memory, link + Trb.Parameter, Memory.Physical);
            XhciMemory.Write(Memory, link + Trb.Status, 0);
            XhciMemory.Write(Memory, link + Trb.Control, Trb.TypeField(Trb.TypeLink) | Trb.ToggleCycle | (Cycle ? 0 : Trb.Cycle));
        }

        /// <summary>Starts a TD: its first TRB is written with the wrong cycle bit until <see cref="CommitTd"/>.</summary>
        public void BeginTd() => _tdStart = -1;

        /// <summary>
        /// Writes one TRB at the enqueue pointer and returns its index. The cycle bit is added here;
        /// the control dword is written last. Passing the Link TRB hands it over (chain bit copied
        /// from this TRB so a TD may span it) and toggles the cycle state.
        /// </summary>
        public int Push(ulong parameter, uint status, uint control)
        {
            int index = Enqueue;
            uint offset = (uint)index * Trb.Size;
            XhciMemory.Write64(Memory, offset + Trb.Parameter, parameter);
            XhciMemory.Write(Memory, offset + Trb.Status, status);
            uint cycle = Cycle ? Trb.Cycle : 0;
            if (_tdStart < 0)
            {
                _tdStart = index;
                _tdStartCycle = Cycle;
                cycle ^= Trb.Cycle; // not yet the controller's
            }
            XhciMemory.Write(Memory, offset + Trb.Control, (control & ~Trb.Cycle) | cycle);
            Used++;
            Enqueue++;
            if (Enqueue == LinkIndex)
            {
                uint link = (uint)LinkIndex * Trb.Size;
                uint linkControl = Trb.TypeField(Trb.TypeLink) | Trb.ToggleCycle | (control & Trb.Chain) | (Cycle ? Trb.Cycle : 0);
                XhciMemory.Write(Memory, link + Trb.Control, linkControl);
                Used++;
                Enqueue = 0;
                Cycle = !Cycle;
            }
            return index;
        }

        /// <summary>Gives the TD to the controller by setting its first TRB's cycle bit.</summary>
        public void CommitTd()
        {
            if (_tdStart < 0)
                return;
            uint offset = (uint)_tdStart * Trb.Size;
            uint control = XhciMemory.Read(Memory, offset + Trb.Control) & ~Trb.Cycle;
            XhciMemory.Write(Memory, offset + Trb.Control, control | (_tdStartCycle ? Trb.Cycle : 0));
            _tdStart = -1;
        }

        /// <summary>Cycle state the TRB at <paramref name="index"/> was written with (for Set TR Dequeue Pointer).</summary>
        public bool CycleAt(int index) => (XhciMemory.Read(Memory, (uint)index * Trb.Size + Trb.Control) & Trb.Cycle) != 0;

        /// <summary>Slots a TD of <paramref name="trbs"/> TRBs would use starting at the enqueue pointer (link included).</summary>
        public int SlotsFor(int trbs) => Enqueue + trbs >= LinkIndex ? trbs + 1 : trbs;

        /// <summary>Index of a TRB from its physical address, or -1 when it is not in this ring.</summary>
        public int IndexOf(ulong physical)
        {
            if (physical < Memory.Physical)
                return -1;
            ulong index = (physical - Memory.Physical) / Trb.Size;
            return index < (ulong)Slots ? (int)index : -1;
        }

        /// <summary>Turns a queued TRB into a No-Op (keeps its cycle and chain bits) (4.6.9).</summary>
        public void MakeNoOp(int index)
        {
            uint offset = (uint)index * Trb.Size;
            uint control = XhciMemory.Read(Memory, offset + Trb.Control);
            XhciMemory.Write(Memory, offset + Trb.Status, 0);
            XhciMemory.Write(Memory, offset + Trb.Control, (control & (Trb.Cycle | Trb.Chain)) | Trb.TypeField(Trb.TypeNoOp));
        }
    }

    /// <summary>
    /// The event ring consumer (4.9.4): one segment, the Event Ring Segment Table (6.5) with one
    /// entry, the dequeue index and the consumer cycle state.
    /// </summary>
    public sealed class XhciEventRing
    {
        public const int DefaultSlots = 256;
        /// <summary>ERST entry: base (64), size (16 bits), reserved (6.5).</summary>
        public const uint ErstEntrySize = 16;
        public const uint ErstSegmentSize = 8;

        public DmaBuffer Segment;
        public DmaBuffer Table;
        public readonly int Slots;
        public int Dequeue;
        public bool Cycle = true;

        public XhciEventRing(DmaBuffer segment, DmaBuffer table, int slots)
        {
            Segment = segment;
            Table = table;
            Slots = slots;
            XhciMemory.Write64(table, 0, segment.Physical);
            XhciMemory.Write(table, ErstSegmentSize, (uint)slots);
            XhciMemory.Write(table, ErstSegmentSize + 4, 0);
        }

        public static XhciEventRing Allocate(IDmaAllocator dma, int slots = DefaultSlots)
        {
            DmaBuffer segment = dma.Allocate((uint)slots * Trb.Size, XhciRing.Alignment, DmaLimit.Below4G, Trb.BoundarySize);
            DmaBuffer table = dma.Allocate(ErstEntrySize, XhciRing.Alignment, DmaLimit.Below4G, Trb.BoundarySize);
            if (segment.IsNull || table.IsNull)
            {
                if (!segment.IsNull) dma.Free(segment);
                if (!table.IsNull) dma.Free(table);
                return null;
            }
            return new XhciEventRing(segment, table, slots);
        }

        public ulong DequeuePhysical => Segment.Physical + (ulong)Dequeue * Trb.Size;

        /// <summary>True when the TRB at the dequeue pointer belongs to software (its cycle bit matches).</summary>
        public bool HasEvent => ((XhciMemory.Read(Segment, (uint)Dequeue * Trb.Size + Trb.Control) & Trb.Cycle) != 0) == Cycle;

        public uint Read(uint field) => XhciMemory.Read(Segment, (uint)Dequeue * Trb.Size + field);
        public ulong ReadParameter() => XhciMemory.Read64(Segment, (uint)Dequeue * Trb.Size + Trb.Parameter);

        public void Advance()
        {
            Dequeue++;
            if (Dequeue == Slots)
            {
                Dequeue = 0;
                Cycle = !Cycle;
            }
        }
    }
}
