using System.Collections.Generic;
using Platform;

namespace Drivers.Usb.Hcd.Ehci
{
    /// <summary>Link pointers (EHCI 1.0, 3.1 frame list element, 3.6 QH horizontal link).</summary>
    public static class EhciLink
    {
        public const uint Terminate = 1u << 0;
        public const int TypeShift = 1;
        public const uint TypeItd = 0u << TypeShift;
        public const uint TypeQh = 1u << TypeShift;
        public const uint TypeSitd = 2u << TypeShift;
        public const uint TypeFstn = 3u << TypeShift;
        public const uint PointerMask = 0xFFFFFFE0;

        public static uint Qh(uint physical) => (physical & PointerMask) | TypeQh;
        public static uint Qtd(uint physical) => physical & PointerMask;
    }

    /// <summary>
    /// Queue element transfer descriptor (3.5; 64-bit layout Appendix B). 32-byte aligned; the
    /// driver always allocates the 64-bit size so one layout serves both kinds of controller.
    /// </summary>
    public static class EhciQtd
    {
        public const uint NextQtd = 0x00;
        public const uint AlternateNextQtd = 0x04;
        public const uint Token = 0x08;
        /// <summary>Buffer Pointer (Page 0..4) at 0x0C + 4 * page.</summary>
        public const uint BufferPointer0 = 0x0C;
        /// <summary>Extended Buffer Pointer (Page 0..4) at 0x20 + 4 * page (Appendix B).</summary>
        public const uint ExtendedBufferPointer0 = 0x20;
        public const uint Size = 0x34;
        public const uint AllocationSize = 64;
        public const uint Alignment = 32;

        public const int Pages = 5;
        public const uint PageSize = 4096;
        public const uint PageOffsetMask = PageSize - 1;
        /// <summary>Most bytes one qTD can move: five pages (3.5.3).</summary>
        public const int MaxBytes = Pages * (int)PageSize;

        // Token (3.5.3).
        public const uint DataToggle = 1u << 31;
        public const int TotalBytesShift = 16;
        public const uint TotalBytesMask = 0x7FFF;
        public const uint InterruptOnComplete = 1u << 15;
        public const int CurrentPageShift = 12;
        public const int ErrorCounterShift = 10;
        public const uint ErrorCounterMask = 3;
        /// <summary>CERR = 3: three strikes before Halted (Linux EHCI_TUNE_CERR).</summary>
        public const uint ErrorCounterDefault = 3;
        public const int PidShift = 8;
        public const uint PidMask = 3;
        public const uint PidOut = 0;
        public const uint PidIn = 1;
        public const uint PidSetup = 2;

        // Status (3.5.3 bits 7:0).
        public const uint Active = 1u << 7;
        public const uint Halted = 1u << 6;
        public const uint DataBufferError = 1u << 5;
        public const uint Babble = 1u << 4;
        public const uint TransactionError = 1u << 3;
        public const uint MissedMicroframe = 1u << 2;
        public const uint SplitTransactionState = 1u << 1;
        public const uint PingState = 1u << 0;
        public const uint StatusMask = 0xFF;

        /// <summary>Token of a new, active qTD.</summary>
        public static uint EncodeToken(uint pid, int bytes, bool toggle, bool ioc)
        {
            uint token = ((uint)bytes & TotalBytesMask) << TotalBytesShift;
            token |= (pid & PidMask) << PidShift;
            token |= ErrorCounterDefault << ErrorCounterShift;
            token |= Active;
            if (toggle) token |= DataToggle;
            if (ioc) token |= InterruptOnComplete;
            return token;
        }

        public static int TotalBytes(uint token) => (int)((token >> TotalBytesShift) & TotalBytesMask);
        public static uint Pid(uint token) => (token >> PidShift) & PidMask;
        public static int ErrorCount(uint token) => (int)((token >> ErrorCounterShift) & ErrorCounterMask);

        /// <summary>Bytes the qTD actually moved: asked minus what is left in Total Bytes (3.5.3).</summary>
        public static int Transferred(uint token, int asked)
        {
            int left = TotalBytes(token);
            return left > asked ? 0 : asked - left;
        }

        /// <summary>
        /// Fills the five buffer pointers for <paramref name="length"/> bytes at <paramref name="physical"/>
        /// (page 0 keeps the offset, pages 1-4 are page aligned, 3.5.4). <paramref name="pointers"/>
        /// and <paramref name="high"/> receive the low and high 32 bits of each page pointer.
        /// </summary>
        public static void BufferPointers(ulong physical, int length, uint[] pointers, uint[] high)
        {
            ulong page = physical & ~(ulong)PageOffsetMask;
            for (int i = 0; i < Pages; i++)
            {
                ulong value = i == 0 ? physical : page + (ulong)i * PageSize;
                bool used = length > 0 && (i == 0 || page + (ulong)i * PageSize < physical + (ulong)length);
                pointers[i] = used ? (uint)value : 0;
                high[i] = used ? (uint)(value >> 32) : 0;
            }
        }

        /// <summary>Bytes one qTD may carry starting at <paramref name="physical"/>: up to the end of the fifth page.</summary>
        public static int Capacity(ulong physical) => MaxBytes - (int)(physical & PageOffsetMask);

        /// <summary>
        /// Length of the next qTD of a transfer: as much as fits, but a qTD that is not the last
        /// must end on a packet boundary so a short packet only ever happens at its end (4.10.6).
        /// </summary>
        public static int ChunkLength(ulong physical, int remaining, int maxPacket)
        {
            int capacity = Capacity(physical);
            if (remaining <= capacity)
                return remaining;
            if (maxPacket <= 0)
                return capacity;
            return capacity - capacity % maxPacket;
        }

        /// <summary>Status bits to <see cref="UsbStatus"/> (Linux qtd_copy_status). Ok when not halted.</summary>
        public static UsbStatus ToStatus(uint token, bool isIn)
        {
            if ((token & Halted) == 0)
                return UsbStatus.Ok;
            if ((token & Babble) != 0)
                return UsbStatus.Babble;
            if ((token & DataBufferError) != 0)
                return isIn ? UsbStatus.Overrun : UsbStatus.Underrun;
            if ((token & MissedMicroframe) != 0)
                return UsbStatus.TransactionError;
            if ((token & TransactionError) != 0)
                return UsbStatus.TransactionError;
            // Halted with no error bit: the device answered STALL (or CERR was 0).
            return UsbStatus.Stall;
        }
    }

    /// <summary>Queue head (3.6; 64-bit layout Appendix B). 32-byte aligned, must not cross a 4 KiB page.</summary>
    public static class EhciQh
    {
        public const uint HorizontalLink = 0x00;
        public const uint EndpointCharacteristics = 0x04;
        public const uint EndpointCapabilities = 0x08;
        public const uint CurrentQtd = 0x0C;
        /// <summary>Transfer overlay (3.6.3): the layout of a qTD from here on.</summary>
        public const uint Overlay = 0x10;
        public const uint OverlayNextQtd = Overlay + EhciQtd.NextQtd;
        public const uint OverlayAlternateNextQtd = Overlay + EhciQtd.AlternateNextQtd;
        public const uint OverlayToken = Overlay + EhciQtd.Token;
        public const uint OverlayBufferPointer0 = Overlay + EhciQtd.BufferPointer0;
        public const uint Size = 0x44;
        public const uint AllocationSize = 96;
        public const uint Alignment = 32;
        public const uint Boundary = 4096;

        // Endpoint characteristics (DWord 1).
        public const int NakReloadShift = 28;
        /// <summary>RL = 4 NAKs between reloads on the async schedule (Linux EHCI_TUNE_RL_HS); 0 on periodic QHs.</summary>
        public const uint NakReloadAsync = 4;
        public const uint ControlEndpointFlag = 1u << 27;
        public const int MaxPacketShift = 16;
        public const uint MaxPacketMask = 0x7FF;
        public const uint HeadOfReclamationList = 1u << 15;
        public const uint DataToggleControl = 1u << 14;
        public const int SpeedShift = 12;
        public const uint SpeedFull = 0u << SpeedShift;
        public const uint SpeedLow = 1u << SpeedShift;
        public const uint SpeedHigh = 2u << SpeedShift;
        public const uint SpeedMask = 3u << SpeedShift;
        public const int EndpointShift = 8;
        public const uint EndpointMask = 0xF;
        public const uint InactivateOnNextTransaction = 1u << 7;
        public const uint DeviceAddressMask = 0x7F;

        // Endpoint capabilities (DWord 2).
        public const int MultShift = 30;
        /// <summary>Mult = 1 transaction per microframe (3 is the most for high-bandwidth endpoints).</summary>
        public const uint MultOne = 1;
        public const int PortNumberShift = 23;
        public const uint PortNumberMask = 0x7F;
        public const int HubAddressShift = 16;
        public const uint HubAddressMask = 0x7F;
        public const int CMaskShift = 8;
        public const uint MicroframeMask = 0xFF;
        public const int SMaskShift = 0;

        public static uint SpeedBits(UsbSpeed speed)
        {
            if (speed == UsbSpeed.High) return SpeedHigh;
            if (speed == UsbSpeed.Low) return SpeedLow;
            return SpeedFull;
        }

        /// <summary>
        /// DWord 1. Control endpoints take their toggle from the qTDs (DTC); full/low-speed control
        /// endpoints set the Control Endpoint Flag (3.6.2). H marks the reclamation head.
        /// </summary>
        public static uint EncodeCharacteristics(int address, int endpoint, UsbSpeed speed, int maxPacket, bool control, bool asyncSchedule, bool head)
        {
            uint v = (uint)address & DeviceAddressMask;
            v |= ((uint)endpoint & EndpointMask) << EndpointShift;
            v |= SpeedBits(speed);
            v |= ((uint)maxPacket & MaxPacketMask) << MaxPacketShift;
            if (control)
            {
                v |= DataToggleControl;
                if (speed != UsbSpeed.High)
                    v |= ControlEndpointFlag;
            }
            if (asyncSchedule)
                v |= NakReloadAsync << NakReloadShift;
            if (head)
                v |= HeadOfReclamationList;
            return v;
        }

        /// <summary>DWord 2: Mult, the TT's hub address and port (split transactions), C-mask and S-mask.</summary>
        public static uint EncodeCapabilities(int hubAddress, int hubPort, uint sMask, uint cMask)
        {
            uint v = MultOne << MultShift;
            v |= ((uint)hubPort & PortNumberMask) << PortNumberShift;
            v |= ((uint)hubAddress & HubAddressMask) << HubAddressShift;
            v |= (cMask & MicroframeMask) << CMaskShift;
            v |= (sMask & MicroframeMask) << SMaskShift;
            return v;
        }

        public static int HubAddress(uint capabilities) => (int)((capabilities >> HubAddressShift) & HubAddressMask);
        public static int HubPort(uint capabilities) => (int)((capabilities >> PortNumberShift) & PortNumberMask);
        public static uint SMask(uint capabilities) => (capabilities >> SMaskShift) & MicroframeMask;
        public static uint CMask(uint capabilities) => (capabilities >> CMaskShift) & MicroframeMask;
    }

    /// <summary>
    /// Interrupt scheduling: polling periods, S-mask/C-mask (4.12.2 split transactions) and the
    /// static tree of the periodic schedule (4.6: frame list entries lead to QHs of longer periods
    /// first, then shorter ones).
    /// </summary>
    public static class EhciInterval
    {
        /// <summary>Longest period the tree serves (frames); longer intervals are polled this often.</summary>
        public const int MaxPeriodFrames = 32;
        /// <summary>Start-split microframe for split interrupt transactions (Linux uses 0 when free).</summary>
        public const int SplitStartMicroframe = 0;
        /// <summary>Complete-splits go in the 2nd, 3rd and 4th microframe after the start-split (4.12.2.1).</summary>
        public const int CompleteSplitDelay = 2;
        public const int CompleteSplitCount = 3;
        /// <summary>High-speed bInterval range (USB 2.0 9.6.6: 1..16, period 2^(bInterval-1) microframes).</summary>
        public const int MaxHighSpeedInterval = 16;

        /// <summary>Period in microframes of a high-speed interrupt endpoint (USB 2.0 9.6.6).</summary>
        public static int HighSpeedPeriodMicroframes(int bInterval)
        {
            if (bInterval < 1) bInterval = 1;
            if (bInterval > MaxHighSpeedInterval) bInterval = MaxHighSpeedInterval;
            return 1 << (bInterval - 1);
        }

        /// <summary>Largest power of two not above <paramref name="frames"/>, within 1..<see cref="MaxPeriodFrames"/>.</summary>
        public static int ClampFrames(int frames)
        {
            if (frames < 1) return 1;
            int p = 1;
            while (p * 2 <= frames && p * 2 <= MaxPeriodFrames)
                p *= 2;
            return p;
        }

        /// <summary>
        /// The S-mask/C-mask pairs a split interrupt QH may use, one per start microframe 0..5, as
        /// Linux ehci-sched.c check_intr_schedule allows them: the start split in microframe u
        /// (none from 6 on: "FSTN territory"), complete splits in u + 2 .. u + 4 but never past
        /// microframe 7 (the mask is cut short there: "this may need FSTN for SSPLIT in uframe 5").
        /// </summary>
        public static void SplitPlacements(out uint[] sMasks, out uint[] cMasks)
        {
            int count = EhciMicroframeBudget.LastSplitStartMicroframe + 1;
            sMasks = new uint[count];
            cMasks = new uint[count];
            for (int u = 0; u < count; u++)
            {
                sMasks[u] = 1u << u;
                for (int i = 0; i < CompleteSplitCount && u + CompleteSplitDelay + i <= EhciMicroframeBudget.LastMicroframe; i++)
                    cMasks[u] |= 1u << (u + CompleteSplitDelay + i);
            }
        }

        /// <summary>
        /// Period in frames of the tree level an endpoint hangs at, and its S-mask/C-mask. High speed:
        /// periods below a frame poll in several microframes of every frame (S-mask with one bit per
        /// poll); full/low speed behind a TT: one start-split, three complete-splits.
        /// </summary>
        public static void Schedule(UsbSpeed speed, int bInterval, out int periodFrames, out uint sMask, out uint cMask)
        {
            cMask = 0;
            if (speed == UsbSpeed.High)
            {
                int micro = HighSpeedPeriodMicroframes(bInterval);
                if (micro < (int)FrIndex.MicroframesPerFrame)
                {
                    periodFrames = 1;
                    sMask = 0;
                    for (int m = 0; m < (int)FrIndex.MicroframesPerFrame; m += micro)
                        sMask |= 1u << m;
                }
                else
                {
                    periodFrames = ClampFrames(micro / (int)FrIndex.MicroframesPerFrame);
                    sMask = 1;
                }
                return;
            }
            periodFrames = ClampFrames(bInterval);
            sMask = 1u << SplitStartMicroframe;
            for (int i = 0; i < CompleteSplitCount; i++)
                cMask |= 1u << (SplitStartMicroframe + CompleteSplitDelay + i);
        }
    }

    /// <summary>
    /// The static interrupt tree: one skeleton QH per (period, slot) for periods 32, 16, 8, 4, 2, 1
    /// frames (63 QHs), the shared <see cref="PeriodicTree"/> with EHCI's names. Frame list entry f
    /// points at the 32-frame QH of slot f % 32; each skeleton QH links on to the QH of half the
    /// period, so a frame visits exactly one QH of each period. The slot of an interrupt QH is
    /// chosen by the per-microframe budget (<see cref="EhciMicroframeBudget"/>), not by this tree.
    /// </summary>
    public sealed class EhciPeriodicTree : PeriodicTree
    {
        public const int StaticQhCount = NodeCount;

        /// <summary>Level of a period: 0 = 1 frame, 5 = 32 frames (the smallest period not below it).</summary>
        public static int LevelFor(int periodFrames)
        {
            int level = 0;
            while ((1 << level) < periodFrames && level < Levels - 1)
                level++;
            return level;
        }

        /// <summary>Skeleton QH frame list entry <paramref name="frame"/> points at.</summary>
        public static int FrameEntryIndex(int frame) => TableEntryIndex(frame);

        /// <summary>True when frame <paramref name="frame"/> visits slot <paramref name="slot"/> of <paramref name="level"/>.</summary>
        public static bool FrameVisits(int frame, int level, int slot) => Visits(frame, level, slot);
    }

    /// <summary>Dword access to descriptors in DMA memory (one 32-bit access each).</summary>
    public static unsafe class EhciMemory
    {
        public static uint Read(DmaBuffer buffer, uint offset) => System.Threading.Volatile.Read(ref *(uint*)(buffer.Pointer + offset));
        public static void Write(DmaBuffer buffer, uint offset, uint value) => System.Threading.Volatile.Write(ref *(uint*)(buffer.Pointer + offset), value);
    }
}

namespace Drivers.Usb.Hcd.Ehci
{
    /// <summary>
    /// High-speed isochronous transfer descriptor, iTD (EHCI 1.0 3.3, figure 3-4; 64-bit layout
    /// Appendix B). One iTD serves one endpoint for one frame: eight transaction slots, one per
    /// microframe, over up to seven 4 KiB buffer pages. 32-byte aligned; allocated at the 64-bit
    /// size so one layout serves both kinds of controller.
    /// </summary>
    public static class EhciItd
    {
        public const uint NextLink = 0x00;
        /// <summary>iTD Transaction Status and Control for microframe n at 0x04 + 4 * n (3.3.2).</summary>
        public const uint Transaction0 = 0x04;
        /// <summary>iTD Buffer Page Pointer n at 0x24 + 4 * n (3.3.3).</summary>
        public const uint BufferPointer0 = 0x24;
        /// <summary>Extended Buffer Pointer n at 0x40 + 4 * n (Appendix B).</summary>
        public const uint ExtendedBufferPointer0 = 0x40;
        public const uint AllocationSize = 96;
        public const uint Alignment = 32;
        public const int Microframes = 8;
        public const int Pages = 7;
        public const uint PageSize = 4096;
        public const uint PageMask = ~(PageSize - 1);

        // Transaction Status and Control (3.3.2, table 3-4).
        public const uint Active = 1u << 31;
        public const uint DataBufferError = 1u << 30;
        public const uint Babble = 1u << 29;
        public const uint TransactionError = 1u << 28;
        public const uint ErrorBits = DataBufferError | Babble | TransactionError;
        public const int LengthShift = 16;
        /// <summary>Transaction Length, bits 27..16: bytes to move; for IN the controller writes back the bytes received.</summary>
        public const uint LengthMask = 0xFFFu << LengthShift;
        public const uint InterruptOnComplete = 1u << 15;
        public const int PageSelectShift = 12;
        public const uint PageSelectMask = 0x7u << PageSelectShift;
        public const uint OffsetMask = 0xFFF;

        // Buffer Page Pointer List (3.3.3, tables 3-5 to 3-7).
        /// <summary>Page 0: Device Address bits 6..0, EndPt bits 11..8.</summary>
        public const uint DeviceAddressMask = 0x7F;
        public const int EndpointShift = 8;
        public const uint EndpointMask = 0xFu << EndpointShift;
        /// <summary>Page 1: I/O (1 = IN) bit 11, Maximum Packet Size bits 10..0.</summary>
        public const uint DirectionIn = 1u << 11;
        public const uint MaxPacketMask = 0x7FF;
        /// <summary>Page 2: Mult bits 1..0 (transactions per microframe).</summary>
        public const uint MultMask = 0x3;

        /// <summary>One microframe's Transaction Status and Control word, Active.</summary>
        public static uint Transaction(int length, int page, uint offset, bool interrupt)
        {
            uint value = Active | (((uint)length << LengthShift) & LengthMask) |
                         (((uint)page << PageSelectShift) & PageSelectMask) | (offset & OffsetMask);
            return interrupt ? value | InterruptOnComplete : value;
        }

        public static int Length(uint transaction) => (int)((transaction & LengthMask) >> LengthShift);

        /// <summary>Buffer Page Pointer 0/1/2 words: the endpoint fields share the dwords with the page addresses.</summary>
        public static uint Page0Fields(int deviceAddress, int endpoint) =>
            ((uint)deviceAddress & DeviceAddressMask) | (((uint)endpoint << EndpointShift) & EndpointMask);
        public static uint Page1Fields(bool directionIn, int maxPacket) =>
            (directionIn ? DirectionIn : 0) | ((uint)maxPacket & MaxPacketMask);
        public static uint Page2Fields(int mult) => (uint)mult & MultMask;

        /// <summary>
        /// A finished transaction's status (Linux ehci-sched.c itd_complete; the data buffer error
        /// maps as this driver's qTDs do: IN overrun, OUT underrun).
        /// </summary>
        public static UsbStatus ToStatus(uint transaction, bool directionIn)
        {
            if ((transaction & DataBufferError) != 0)
                return directionIn ? UsbStatus.Overrun : UsbStatus.Underrun;
            if ((transaction & Babble) != 0)
                return UsbStatus.Babble;
            if ((transaction & TransactionError) != 0)
                return UsbStatus.TransactionError;
            return UsbStatus.Ok;
        }
    }

    /// <summary>
    /// Split-transaction isochronous transfer descriptor, siTD (EHCI 1.0 3.4, figure 3-5; 64-bit
    /// layout Appendix B): one full-speed packet in one frame through a high-speed hub's
    /// transaction translator, scheduled in microframes by S-mask (start splits) and C-mask
    /// (complete splits, IN only). 32-byte aligned.
    /// </summary>
    public static class EhciSitd
    {
        public const uint NextLink = 0x00;
        public const uint EndpointCharacteristics = 0x04;
        public const uint MicroframeSchedule = 0x08;
        public const uint TransferState = 0x0C;
        public const uint BufferPointer0 = 0x10;
        public const uint BufferPointer1 = 0x14;
        public const uint BackPointer = 0x18;
        public const uint ExtendedBufferPointer0 = 0x1C;
        public const uint ExtendedBufferPointer1 = 0x20;
        public const uint AllocationSize = 64;
        public const uint Alignment = 32;
        public const uint PageMask = ~0xFFFu;

        // Endpoint Capabilities/Characteristics (3.4.2, table 3-9).
        public const uint DirectionIn = 1u << 31;
        public const int PortShift = 24;
        public const uint PortMask = 0x7Fu << PortShift;
        public const int HubAddressShift = 16;
        public const uint HubAddressMask = 0x7Fu << HubAddressShift;
        public const int EndpointShift = 8;
        public const uint EndpointMask = 0xFu << EndpointShift;
        public const uint DeviceAddressMask = 0x7F;

        // Micro-frame Schedule Control (table 3-10).
        public const int CMaskShift = 8;
        public const uint SMaskMask = 0xFF;

        // Transfer State (3.4.3, table 3-11).
        public const uint InterruptOnComplete = 1u << 31;
        public const uint PageSelect = 1u << 30;
        public const int TotalBytesShift = 16;
        /// <summary>Total Bytes To Transfer, bits 25..16: decremented by the controller as bytes move.</summary>
        public const uint TotalBytesMask = 0x3FFu << TotalBytesShift;
        public const int CProgMaskShift = 8;
        public const uint Active = 1u << 7;
        public const uint Err = 1u << 6;
        public const uint DataBufferError = 1u << 5;
        public const uint Babble = 1u << 4;
        public const uint TransactionError = 1u << 3;
        public const uint MissedMicroframe = 1u << 2;
        public const uint SplitXState = 1u << 1;

        // Buffer Pointer Page 1 (table 3-12).
        public const int TransactionPositionShift = 3;
        public const uint TransactionPositionAll = 0u << TransactionPositionShift;
        public const uint TransactionPositionBegin = 1u << TransactionPositionShift;
        public const uint TransactionPositionMask = 3u << TransactionPositionShift;
        public const uint TransactionCountMask = 0x7;

        /// <summary>Back Pointer T bit: no back pointer (no FSTN, the complete splits stay in the frame).</summary>
        public const uint BackPointerTerminate = 1u;
        /// <summary>Full-speed bytes one start split carries (USB 2.0 11.18.4: 188 per microframe).</summary>
        public const int BytesPerMicroframe = 188;

        public static uint Characteristics(bool directionIn, int hubPort, int hubAddress, int endpoint, int deviceAddress) =>
            (directionIn ? DirectionIn : 0) | (((uint)hubPort << PortShift) & PortMask) |
            (((uint)hubAddress << HubAddressShift) & HubAddressMask) | (((uint)endpoint << EndpointShift) & EndpointMask) |
            ((uint)deviceAddress & DeviceAddressMask);

        /// <summary>Microframes a packet of <paramref name="maxPacket"/> bytes occupies on the high-speed side (at least one).</summary>
        public static int SplitMicroframes(int maxPacket)
        {
            int n = (maxPacket + BytesPerMicroframe - 1) / BytesPerMicroframe;
            return n < 1 ? 1 : n;
        }

        /// <summary>
        /// S-mask and C-mask for a stream starting its splits in microframe <paramref name="start"/>
        /// (Linux ehci-sched.c iso_stream_init): OUT sends one start split per 188 bytes in
        /// consecutive microframes and no complete split; IN sends one start split and complete
        /// splits from start + 2 for the microframes the data needs plus two (USB 2.0 11.18.4 3.c).
        /// False when the masks would run past microframe 7 (a complete split in the next frame
        /// needs the siTD back pointer, which this driver, like mainline Linux, does not build).
        /// </summary>
        public static bool Masks(bool directionIn, int maxPacket, int start, out uint sMask, out uint cMask)
        {
            int transfers = SplitMicroframes(maxPacket);
            if (directionIn)
            {
                sMask = 1u << start;
                cMask = ((1u << (transfers + 2)) - 1) << (start + 2);
            }
            else
            {
                sMask = ((1u << transfers) - 1) << start;
                cMask = 0;
            }
            return (sMask | cMask) <= SMaskMask;
        }

        /// <summary>
        /// The S-mask/C-mask pairs an siTD stream may use, one per start microframe, as Linux
        /// ehci-sched.c allows them: iso_stream_init's masks (<see cref="Masks"/>) moved to start
        /// microframe 0..<see cref="EhciMicroframeBudget.LastSplitStartMicroframe"/>
        /// (iso_stream_schedule), where sitd_slot_ok forbids (a) an OUT start split in microframe 7
        /// and (b) an IN complete split past microframe 7 (<c>mask &amp; ~0xffff</c>: the next
        /// frame, which would need the siTD back pointer). An IN packet of up to 752 bytes
        /// (4 x 188) fits with its start split in microframe 0 and complete splits in 2..7; 753
        /// and more fit nowhere: false.
        /// </summary>
        public static bool Placements(bool directionIn, int maxPacket, out uint[] sMasks, out uint[] cMasks)
        {
            var starts = new List<uint>();
            var completes = new List<uint>();
            for (int start = 0; start <= EhciMicroframeBudget.LastSplitStartMicroframe; start++)
            {
                if (!Masks(directionIn, maxPacket, start, out uint s, out uint c))
                    continue;
                if (!directionIn && (s >> (EhciMicroframeBudget.LastOutStartSplitMicroframe + 1)) != 0)
                    continue;
                starts.Add(s);
                completes.Add(c);
            }
            sMasks = starts.ToArray();
            cMasks = completes.ToArray();
            return sMasks.Length > 0;
        }

        /// <summary>Transfer State word for a packet, Active.</summary>
        public static uint State(int length, bool interrupt) =>
            Active | (((uint)length << TotalBytesShift) & TotalBytesMask) | (interrupt ? InterruptOnComplete : 0);

        public static int TotalBytes(uint state) => (int)((state & TotalBytesMask) >> TotalBytesShift);

        /// <summary>Buffer Pointer Page 1 low bits for an OUT packet: transaction position and count of start splits.</summary>
        public static uint OutPosition(int length)
        {
            int count = SplitMicroframes(length);
            return (count == 1 ? TransactionPositionAll : TransactionPositionBegin) | ((uint)count & TransactionCountMask);
        }

        /// <summary>A finished siTD's status (Linux sitd_complete; data buffer error as this driver's qTDs map it).</summary>
        public static UsbStatus ToStatus(uint state, bool directionIn)
        {
            if ((state & DataBufferError) != 0)
                return directionIn ? UsbStatus.Overrun : UsbStatus.Underrun;
            if ((state & Babble) != 0)
                return UsbStatus.Babble;
            if ((state & (TransactionError | Err | MissedMicroframe)) != 0)
                return UsbStatus.TransactionError;
            return UsbStatus.Ok;
        }
    }
}
