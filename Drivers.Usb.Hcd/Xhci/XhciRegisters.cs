using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Hcd.Xhci
{
    /// <summary>Host controller capability registers (xHCI 1.2 5.3), offsets from the MMIO base.</summary>
    public static class XhciCap
    {
        /// <summary>CAPLENGTH (bits 7..0) and HCIVERSION (bits 31..16) share the first dword.</summary>
        public const uint CapLengthVersion = 0x00;
        public const uint CapLengthMask = 0xFF;
        public const int HciVersionShift = 16;
        public const uint HcsParams1 = 0x04;
        public const uint HcsParams2 = 0x08;
        public const uint HcsParams3 = 0x0C;
        public const uint HccParams1 = 0x10;
        public const uint DbOff = 0x14;
        public const uint RtsOff = 0x18;
        public const uint HccParams2 = 0x1C;

        // HCSPARAMS1 (5.3.3).
        public const uint MaxSlotsMask = 0xFF;
        public const int MaxIntrsShift = 8;
        public const uint MaxIntrsMask = 0x7FF;
        public const int MaxPortsShift = 24;
        public const uint MaxPortsMask = 0xFF;

        // HCSPARAMS2 (5.3.4).
        public const int MaxScratchpadHiShift = 21;
        public const uint MaxScratchpadHiMask = 0x1F;
        public const int MaxScratchpadLoShift = 27;
        public const uint MaxScratchpadLoMask = 0x1F;
        public const int ErstMaxShift = 4;
        public const uint ErstMaxMask = 0xF;

        // HCCPARAMS1 (5.3.6).
        /// <summary>AC64: 64-bit addressing capability.</summary>
        public const uint AddressingCapability64 = 1u << 0;
        /// <summary>CSZ: contexts are 64 bytes (else 32).</summary>
        public const uint ContextSize = 1u << 2;
        /// <summary>PPC: port power control.</summary>
        public const uint PortPowerControl = 1u << 3;
        /// <summary>MaxPSASize bits 15..12: the largest Primary Stream Array has 2^(MaxPSASize+1) entries; 0 = no streams.</summary>
        public const int MaxPsaSizeShift = 12;
        public const uint MaxPsaSizeMask = 0xF;
        /// <summary>xECP: extended capabilities pointer in dwords, bits 31..16.</summary>
        public const int ExtendedCapabilitiesShift = 16;
        public const uint ExtendedCapabilitiesMask = 0xFFFF;

        /// <summary>DBOFF bits 31..2 (5.3.7), RTSOFF bits 31..5 (5.3.8).</summary>
        public const uint DoorbellOffsetMask = 0xFFFFFFFC;
        public const uint RuntimeOffsetMask = 0xFFFFFFE0;

        public static int MaxSlots(uint hcs1) => (int)(hcs1 & MaxSlotsMask);
        public static int MaxInterrupters(uint hcs1) => (int)((hcs1 >> MaxIntrsShift) & MaxIntrsMask);
        public static int MaxPorts(uint hcs1) => (int)((hcs1 >> MaxPortsShift) & MaxPortsMask);
        /// <summary>Max Scratchpad Buffers = Hi (bits 25..21) &lt;&lt; 5 | Lo (bits 31..27).</summary>
        public static int MaxScratchpadBuffers(uint hcs2) =>
            (int)((((hcs2 >> MaxScratchpadHiShift) & MaxScratchpadHiMask) << 5) | ((hcs2 >> MaxScratchpadLoShift) & MaxScratchpadLoMask));
        /// <summary>IST (HCSPARAMS2 bits 3:0, 5.3.4): bit 3 set = the low bits count frames, clear = microframes.</summary>
        const uint IstMask = 0xF;
        const uint IstFrameUnit = 0x8;
        const int MicroframesPerFrame = 8;

        /// <summary>
        /// Isochronous Scheduling Threshold in microframes: how far ahead of MFINDEX software must
        /// have a TD on the ring for the controller to still run it (4.14.2.1.4).
        /// </summary>
        public static int IsochSchedulingThresholdMicroframes(uint hcs2)
        {
            uint ist = hcs2 & IstMask;
            return (ist & IstFrameUnit) != 0 ? (int)(ist & ~IstFrameUnit) * MicroframesPerFrame : (int)ist;
        }

        public static uint ExtendedCapabilitiesOffset(uint hcc1) => ((hcc1 >> ExtendedCapabilitiesShift) & ExtendedCapabilitiesMask) * 4;
        public static uint ContextBytes(uint hcc1) => (hcc1 & ContextSize) != 0 ? 64u : 32u;
        public static int MaxPsaSize(uint hcc1) => (int)((hcc1 >> MaxPsaSizeShift) & MaxPsaSizeMask);
    }

    /// <summary>Host controller operational registers (xHCI 1.2 5.4), offsets from CAPLENGTH.</summary>
    public static class XhciOp
    {
        public const uint UsbCmd = 0x00;
        public const uint UsbSts = 0x04;
        public const uint PageSize = 0x08;
        public const uint DnCtrl = 0x14;
        /// <summary>CRCR, 64-bit (low dword then high dword).</summary>
        public const uint Crcr = 0x18;
        public const uint CrcrHigh = 0x1C;
        /// <summary>DCBAAP, 64-bit.</summary>
        public const uint Dcbaap = 0x30;
        public const uint DcbaapHigh = 0x34;
        public const uint Config = 0x38;
        /// <summary>Port register set n (1-based) at 0x400 + 0x10 * (n - 1) (5.4.8).</summary>
        public const uint PortRegisterBase = 0x400;
        public const uint PortRegisterStride = 0x10;
        public const uint PortScOffset = 0x0;
        public const uint PortPmscOffset = 0x4;

        public static uint PortSc(int port) => PortRegisterBase + PortRegisterStride * (uint)(port - 1) + PortScOffset;
        public static uint PortPmsc(int port) => PortRegisterBase + PortRegisterStride * (uint)(port - 1) + PortPmscOffset;

        /// <summary>CONFIG.MaxSlotsEn bits 7..0.</summary>
        public const uint MaxSlotsEnabledMask = 0xFF;
        /// <summary>PAGESIZE: bit n set = 2^(n+12) bytes.</summary>
        public const int PageSizeShift = 12;
    }

    /// <summary>USBCMD bits (5.4.1).</summary>
    public static class UsbCmd
    {
        public const uint RunStop = 1u << 0;
        public const uint HostControllerReset = 1u << 1;
        public const uint InterrupterEnable = 1u << 2;
        public const uint HostSystemErrorEnable = 1u << 3;
    }

    /// <summary>USBSTS bits (5.4.2); HSE, EINT, PCD and SRE are RW1C.</summary>
    public static class UsbSts
    {
        public const uint HcHalted = 1u << 0;
        public const uint HostSystemError = 1u << 2;
        public const uint EventInterrupt = 1u << 3;
        public const uint PortChangeDetect = 1u << 4;
        public const uint SaveRestoreError = 1u << 10;
        public const uint ControllerNotReady = 1u << 11;
        public const uint HostControllerError = 1u << 12;
    }

    /// <summary>CRCR bits (5.4.5).</summary>
    public static class Crcr
    {
        public const uint RingCycleState = 1u << 0;
        public const uint CommandStop = 1u << 1;
        public const uint CommandAbort = 1u << 2;
        public const uint CommandRingRunning = 1u << 3;
        public const ulong PointerMask = ~0x3FUL;
    }

    /// <summary>
    /// PORTSC (5.4.8). Change bits 23..17 and PED are RW1C: a write must carry 0 in every bit it
    /// does not mean to clear (<see cref="Neutral"/>).
    /// </summary>
    public static class PortSc
    {
        public const uint CurrentConnectStatus = 1u << 0;
        /// <summary>PED: RW1CS, writing 1 disables the port.</summary>
        public const uint PortEnabled = 1u << 1;
        public const uint OverCurrentActive = 1u << 3;
        /// <summary>PR: RW1S, starts a (hot) reset.</summary>
        public const uint PortReset = 1u << 4;
        public const int LinkStateShift = 5;
        public const uint LinkStateMask = 0xFu << LinkStateShift;
        public const uint PortPower = 1u << 9;
        public const int SpeedShift = 10;
        public const uint SpeedMask = 0xFu << SpeedShift;
        public const uint IndicatorMask = 0x3u << 14;
        /// <summary>LWS: link state write strobe (PLS is written only with it).</summary>
        public const uint LinkWriteStrobe = 1u << 16;
        public const uint ConnectStatusChange = 1u << 17;
        public const uint PortEnabledChange = 1u << 18;
        public const uint WarmResetChange = 1u << 19;
        public const uint OverCurrentChange = 1u << 20;
        public const uint PortResetChange = 1u << 21;
        public const uint LinkStateChange = 1u << 22;
        public const uint ConfigErrorChange = 1u << 23;
        public const uint ColdAttachStatus = 1u << 24;
        public const uint WakeOnConnect = 1u << 25;
        public const uint WakeOnDisconnect = 1u << 26;
        public const uint WakeOnOverCurrent = 1u << 27;
        public const uint DeviceRemovable = 1u << 30;
        /// <summary>WPR: warm port reset (USB3 ports only).</summary>
        public const uint WarmPortReset = 1u << 31;

        public const uint ChangeMask = ConnectStatusChange | PortEnabledChange | WarmResetChange | OverCurrentChange |
                                       PortResetChange | LinkStateChange | ConfigErrorChange;
        /// <summary>Bits preserved on a read-modify-write (RWS bits; Linux xhci_port_state_to_neutral).</summary>
        const uint Preserve = PortPower | IndicatorMask | WakeOnConnect | WakeOnDisconnect | WakeOnOverCurrent;

        /// <summary>The value to write back that changes nothing: no RW1C bit, no PED, no PR, no LWS.</summary>
        public static uint Neutral(uint portsc) => portsc & Preserve;

        public static uint LinkState(uint portsc) => (portsc & LinkStateMask) >> LinkStateShift;
        public static uint Speed(uint portsc) => (portsc & SpeedMask) >> SpeedShift;

        // Port link states (PLS, 5.4.8 table 5-27).
        public const uint LinkU0 = 0;
        public const uint LinkU3 = 3;
        public const uint LinkDisabled = 4;
        public const uint LinkRxDetect = 5;
        public const uint LinkPolling = 7;
        public const uint LinkResume = 15;

        // Default protocol speed IDs (7.2.2.1.1).
        public const uint SpeedFull = 1;
        public const uint SpeedLow = 2;
        public const uint SpeedHigh = 3;
        public const uint SpeedSuper = 4;
        public const uint SpeedSuperPlus = 5;

        public static UsbSpeed ToUsbSpeed(uint psi)
        {
            switch (psi)
            {
                case SpeedFull: return UsbSpeed.Full;
                case SpeedLow: return UsbSpeed.Low;
                case SpeedHigh: return UsbSpeed.High;
                case SpeedSuper: return UsbSpeed.Super;
                case SpeedSuperPlus: return UsbSpeed.SuperPlus;
                default: return UsbSpeed.Unknown;
            }
        }

        public static uint FromUsbSpeed(UsbSpeed speed)
        {
            switch (speed)
            {
                case UsbSpeed.Low: return SpeedLow;
                case UsbSpeed.High: return SpeedHigh;
                case UsbSpeed.Super: return SpeedSuper;
                case UsbSpeed.SuperPlus: return SpeedSuperPlus;
                default: return SpeedFull;
            }
        }
    }

    /// <summary>Runtime registers (5.5): interrupter register sets from RTSOFF + 0x20.</summary>
    public static class XhciRt
    {
        public const uint MfIndex = 0x00;
        public const uint InterrupterBase = 0x20;
        public const uint InterrupterStride = 0x20;
        public const uint Iman = 0x00;
        public const uint Imod = 0x04;
        public const uint ErstSz = 0x08;
        public const uint Erstba = 0x10;
        public const uint ErstbaHigh = 0x14;
        public const uint Erdp = 0x18;
        public const uint ErdpHigh = 0x1C;

        public static uint Interrupter(int index) => InterrupterBase + InterrupterStride * (uint)index;

        /// <summary>IMAN.IP (RW1C) and IMAN.IE (5.5.2.1).</summary>
        public const uint InterruptPending = 1u << 0;
        public const uint InterruptEnable = 1u << 1;
        /// <summary>IMOD interval in 250 ns units: 160 = 40 us (Linux's default).</summary>
        public const uint DefaultModerationInterval = 160;
        /// <summary>ERDP.EHB (RW1C) and the pointer's low flag bits (5.5.2.3.3).</summary>
        public const uint EventHandlerBusy = 1u << 3;
        public const uint DequeueSegmentIndexMask = 0x7;
    }

    /// <summary>Doorbell registers (5.6): DB0 = command ring, DBn = device slot n, target = DCI.</summary>
    public static class XhciDoorbell
    {
        public const uint Stride = 4;
        public const uint HostControllerCommand = 0;
        public static uint Offset(int slot) => Stride * (uint)slot;
        /// <summary>DB Stream ID: bits 31..16 of a device doorbell (5.6).</summary>
        public const int StreamIdShift = 16;
        public static uint Value(int dci, int streamId) => (uint)dci | ((uint)streamId << StreamIdShift);
    }

    /// <summary>Extended capabilities (7): the list, USB Legacy Support (7.1), Supported Protocol (7.2).</summary>
    public static class XhciExtCap
    {
        public const uint IdMask = 0xFF;
        public const int NextShift = 8;
        public const uint NextMask = 0xFF;

        public const uint IdLegacySupport = 1;
        public const uint IdSupportedProtocol = 2;

        // USBLEGSUP (7.1.1) and USBLEGCTLSTS (7.1.2).
        public const uint BiosOwnedSemaphore = 1u << 16;
        public const uint OsOwnedSemaphore = 1u << 24;
        public const uint LegacyControlOffset = 4;
        public const uint SmiUsbEnable = 1u << 0;
        public const uint SmiHostSystemErrorEnable = 1u << 4;
        public const uint SmiOsOwnershipEnable = 1u << 13;
        public const uint SmiPciCommandEnable = 1u << 14;
        public const uint SmiBarEnable = 1u << 15;
        public const uint SmiEnables = SmiUsbEnable | SmiHostSystemErrorEnable | SmiOsOwnershipEnable | SmiPciCommandEnable | SmiBarEnable;
        /// <summary>RW1C SMI status bits: OS ownership change, PCI command, BAR.</summary>
        public const uint SmiEvents = (1u << 29) | (1u << 30) | (1u << 31);

        // Supported Protocol (7.2).
        public const int RevisionMajorShift = 24;
        public const uint RevisionMask = 0xFF;
        public const uint CompatiblePortOffsetMask = 0xFF;
        public const int CompatiblePortCountShift = 8;
        public const uint CompatiblePortCountMask = 0xFF;
        public const uint ProtocolSlotTypeMask = 0x1F;

        /// <summary>Bound on list walks (protects against loops in broken hardware).</summary>
        public const int MaxCapabilities = 64;

        /// <summary>Finds the first capability with <paramref name="id"/> at or after <paramref name="start"/>; 0 if none.</summary>
        public static uint Find(IRegisterBlock regs, uint first, uint id, uint after = 0)
        {
            uint offset = first;
            bool passed = after == 0;
            for (int i = 0; i < MaxCapabilities && offset != 0; i++)
            {
                uint header = regs.Read32(offset);
                if (header == 0xFFFFFFFF)
                    return 0;
                if (passed && (header & IdMask) == id)
                    return offset;
                if (offset == after)
                    passed = true;
                uint next = (header >> NextShift) & NextMask;
                if (next == 0)
                    return 0;
                offset += next * 4;
            }
            return 0;
        }
    }

    /// <summary>Which controller ports speak USB 2 and which USB 3 (Supported Protocol capabilities, 7.2).</summary>
    public sealed class XhciPortMap
    {
        /// <summary>Controller port numbers (1-based) of the USB 2 root hub's ports 1..n, in order.</summary>
        public int[] Usb2 = new int[0];
        /// <summary>Controller port numbers of the USB 3 root hub's ports 1..n.</summary>
        public int[] Usb3 = new int[0];
        /// <summary>Protocol Slot Type of each bus (7.2.2.1.4), for Enable Slot.</summary>
        public uint Usb2SlotType, Usb3SlotType;

        /// <summary>
        /// Walks the Supported Protocol capabilities. Ports that no capability names are treated as
        /// USB 2 (as Linux does for broken tables); ports beyond MaxPorts are ignored.
        /// </summary>
        public static XhciPortMap Parse(IRegisterBlock regs, uint firstCapability, int maxPorts)
        {
            var map = new XhciPortMap();
            byte[] major = new byte[maxPorts + 1];
            uint offset = 0;
            for (int i = 0; i < XhciExtCap.MaxCapabilities; i++)
            {
                offset = XhciExtCap.Find(regs, firstCapability, XhciExtCap.IdSupportedProtocol, offset);
                if (offset == 0)
                    break;
                uint header = regs.Read32(offset);
                uint revision = (header >> XhciExtCap.RevisionMajorShift) & XhciExtCap.RevisionMask;
                uint ports = regs.Read32(offset + 8);
                uint slotType = regs.Read32(offset + 12) & XhciExtCap.ProtocolSlotTypeMask;
                int first = (int)(ports & XhciExtCap.CompatiblePortOffsetMask);
                int count = (int)((ports >> XhciExtCap.CompatiblePortCountShift) & XhciExtCap.CompatiblePortCountMask);
                if (revision == 3) map.Usb3SlotType = slotType;
                else map.Usb2SlotType = slotType;
                for (int p = first; p < first + count && p <= maxPorts; p++)
                    if (p >= 1 && major[p] == 0)
                        major[p] = (byte)revision;
            }
            int n2 = 0, n3 = 0;
            for (int p = 1; p <= maxPorts; p++)
                if (major[p] >= 3) n3++; else n2++;
            // Like Linux (xhci-mem.c xhci_setup_port_arrays): a SuperSpeed root hub has at most
            // USB_SS_MAXPORTS ports (hub descriptors and route strings can't describe more), a
            // USB 2 one at most USB_MAXCHILDREN; the ports beyond stay unused.
            if (n3 > UsbLimits.MaxSuperSpeedPorts)
            {
                Log.Warning("xhci_hcd: limiting USB 3 root hub ports to " + Format.Decimal((ulong)UsbLimits.MaxSuperSpeedPorts) +
                            " of " + Format.Decimal((ulong)n3));
                n3 = UsbLimits.MaxSuperSpeedPorts;
            }
            if (n2 > UsbLimits.MaxPorts)
            {
                Log.Warning("xhci_hcd: limiting USB 2 root hub ports to " + Format.Decimal((ulong)UsbLimits.MaxPorts) +
                            " of " + Format.Decimal((ulong)n2));
                n2 = UsbLimits.MaxPorts;
            }
            map.Usb2 = new int[n2];
            map.Usb3 = new int[n3];
            int i2 = 0, i3 = 0;
            for (int p = 1; p <= maxPorts; p++)
            {
                if (major[p] >= 3) { if (i3 < n3) map.Usb3[i3++] = p; }
                else if (i2 < n2) map.Usb2[i2++] = p;
            }
            return map;
        }
    }

    /// <summary>BIOS hand-off through the USB Legacy Support capability (7.1; Linux pci-quirks.c).</summary>
    public static class XhciLegacy
    {
        /// <summary>Bound of the wait for the BIOS to release the controller (Linux: 1 s in quirks, 5 s here as the spec allows).</summary>
        public const uint HandoffTimeoutMs = 5000;
        const uint PollMs = 10;

        /// <summary>
        /// Sets the OS semaphore, waits (bounded) for the BIOS semaphore to clear, forces it off if it
        /// does not, then disables the SMIs and acknowledges pending SMI events. Returns false when the
        /// BIOS did not let go in time (the controller is taken anyway).
        /// </summary>
        public static bool TakeOwnership(IRegisterBlock regs, uint capability, IClock clock)
        {
            uint value = regs.Read32(capability);
            bool released = true;
            if ((value & XhciExtCap.BiosOwnedSemaphore) != 0 || (value & XhciExtCap.OsOwnedSemaphore) == 0)
            {
                regs.Write32(capability, value | XhciExtCap.OsOwnedSemaphore);
                ulong start = clock.Milliseconds;
                int polls = 0;
                while ((regs.Read32(capability) & XhciExtCap.BiosOwnedSemaphore) != 0)
                {
                    if (clock.Milliseconds - start >= HandoffTimeoutMs || ++polls > (int)(HandoffTimeoutMs / PollMs) + 1)
                    {
                        released = false;
                        regs.Write32(capability, (regs.Read32(capability) & ~XhciExtCap.BiosOwnedSemaphore) | XhciExtCap.OsOwnedSemaphore);
                        break;
                    }
                    clock.Sleep(PollMs);
                }
            }
            uint control = regs.Read32(capability + XhciExtCap.LegacyControlOffset);
            regs.Write32(capability + XhciExtCap.LegacyControlOffset, (control & ~XhciExtCap.SmiEnables) | XhciExtCap.SmiEvents);
            return released;
        }
    }
}
