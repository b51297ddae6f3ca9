namespace Drivers.Usb.Hcd.Ehci
{
    /// <summary>Host controller capability registers (EHCI 1.0, 2.2), offsets from the start of BAR0.</summary>
    public static class EhciCap
    {
        /// <summary>CAPLENGTH (byte 0) and HCIVERSION (bytes 2-3), read as one dword (2.2.1, 2.2.2).</summary>
        public const uint CAPLENGTH = 0x00;
        public const uint HCSPARAMS = 0x04;
        public const uint HCCPARAMS = 0x08;
        public const uint HCSP_PORTROUTE = 0x0C;

        public const uint CapLengthMask = 0xFF;
        public const int HciVersionShift = 16;
        /// <summary>Smallest BAR that holds capability + operational registers for one port.</summary>
        public const ulong MinimumBarSize = 0x64;

        public static uint CapLength(uint dword0) => dword0 & CapLengthMask;
        public static uint HciVersion(uint dword0) => dword0 >> HciVersionShift;
    }

    /// <summary>HCSPARAMS fields (2.2.3).</summary>
    public static class HcsParams
    {
        public const uint N_PORTS_Mask = 0xF;
        /// <summary>Port Power Control: ports have power switches.</summary>
        public const uint PPC = 1u << 4;
        public const uint PortRoutingRules = 1u << 7;
        public const int N_PCC_Shift = 8;
        public const uint N_PCC_Mask = 0xF;
        public const int N_CC_Shift = 12;
        public const uint N_CC_Mask = 0xF;
        public const uint P_INDICATOR = 1u << 16;

        public static int Ports(uint v) => (int)(v & N_PORTS_Mask);
        public static int PortsPerCompanion(uint v) => (int)((v >> N_PCC_Shift) & N_PCC_Mask);
        public static int Companions(uint v) => (int)((v >> N_CC_Shift) & N_CC_Mask);
    }

    /// <summary>HCCPARAMS fields (2.2.4).</summary>
    public static class HccParams
    {
        public const uint AddressingCapability64 = 1u << 0;
        public const uint ProgrammableFrameList = 1u << 1;
        public const uint AsyncParkCapability = 1u << 2;
        public const int IsochronousThresholdShift = 4;
        public const int EECP_Shift = 8;
        public const uint EECP_Mask = 0xFF;

        public static byte Eecp(uint v) => (byte)((v >> EECP_Shift) & EECP_Mask);

        /// <summary>IST (bits 7..4): bit 7 set = the controller may hold a whole frame of the schedule, bits 6..4 count frames; clear = microframes.</summary>
        public const uint IsochronousThresholdMask = 0xF;
        public const uint IsochronousThresholdFrames = 0x8;
        public const uint IsochronousThresholdCountMask = 0x7;

        /// <summary>
        /// Whole frames ahead of FRINDEX that software must stay to add isochronous descriptors
        /// safely (2.2.4; Linux ehci->i_thresh): the IST in frames, rounded up to a frame when it
        /// counts microframes, plus the frame in progress.
        /// </summary>
        public static int IsochronousThresholdLeadFrames(uint hccParams)
        {
            uint ist = (hccParams >> IsochronousThresholdShift) & IsochronousThresholdMask;
            int count = (int)(ist & IsochronousThresholdCountMask);
            int frames = (ist & IsochronousThresholdFrames) != 0 ? count : (count > 0 ? 1 : 0);
            return frames + 1;
        }
    }

    /// <summary>Operational registers (2.3), offsets from CAPLENGTH. All are 32-bit.</summary>
    public static class EhciOp
    {
        public const uint USBCMD = 0x00;
        public const uint USBSTS = 0x04;
        public const uint USBINTR = 0x08;
        public const uint FRINDEX = 0x0C;
        public const uint CTRLDSSEGMENT = 0x10;
        public const uint PERIODICLISTBASE = 0x14;
        public const uint ASYNCLISTADDR = 0x18;
        public const uint CONFIGFLAG = 0x40;
        public const uint PORTSC_Base = 0x44;
        public const uint PORTSC_Stride = 4;
        /// <summary>Most ports a controller may have (HCSPARAMS.N_PORTS is 4 bits).</summary>
        public const int MaxPorts = 15;

        /// <summary>PORTSC of port <paramref name="port"/> (1-based).</summary>
        public static uint PORTSC(int port) => PORTSC_Base + (uint)(port - 1) * PORTSC_Stride;
    }

    /// <summary>USBCMD bits (2.3.1).</summary>
    public static class UsbCmd
    {
        public const uint RunStop = 1u << 0;
        public const uint HCRESET = 1u << 1;
        /// <summary>Frame List Size (bits 3:2): 00 = 1024 elements.</summary>
        public const uint FrameListSizeMask = 3u << 2;
        public const uint FrameListSize1024 = 0;
        public const uint PeriodicScheduleEnable = 1u << 4;
        public const uint AsyncScheduleEnable = 1u << 5;
        /// <summary>Interrupt on Async Advance Doorbell.</summary>
        public const uint IAAD = 1u << 6;
        public const uint LightHostControllerReset = 1u << 7;
        public const int InterruptThresholdShift = 16;
        public const uint InterruptThresholdMask = 0xFFu << InterruptThresholdShift;
        /// <summary>ITC = 1 microframe (interrupts as soon as possible).</summary>
        public const uint InterruptThreshold1 = 1u << InterruptThresholdShift;
    }

    /// <summary>USBSTS bits (2.3.2) and the same positions in USBINTR (2.3.3).</summary>
    public static class UsbSts
    {
        public const uint USBINT = 1u << 0;
        public const uint USBERRINT = 1u << 1;
        public const uint PortChangeDetect = 1u << 2;
        public const uint FrameListRollover = 1u << 3;
        public const uint HostSystemError = 1u << 4;
        public const uint InterruptOnAsyncAdvance = 1u << 5;
        public const uint HCHalted = 1u << 12;
        public const uint Reclamation = 1u << 13;
        public const uint PeriodicScheduleStatus = 1u << 14;
        public const uint AsyncScheduleStatus = 1u << 15;
        /// <summary>The write-1-to-clear interrupt sources (bits 5:0).</summary>
        public const uint InterruptMask = 0x3F;
        /// <summary>What the driver enables in USBINTR (frame list rollover is not needed).</summary>
        public const uint Enabled = USBINT | USBERRINT | PortChangeDetect | HostSystemError | InterruptOnAsyncAdvance;
    }

    /// <summary>FRINDEX (2.3.4): bits 2:0 microframe, bits 13:3 frame (1024-entry list).</summary>
    public static class FrIndex
    {
        public const uint Mask = 0x3FFF;
        public const int MicroframeBits = 3;
        public const uint MicroframesPerFrame = 8;
    }

    /// <summary>CONFIGFLAG (2.3.8).</summary>
    public static class ConfigFlag
    {
        /// <summary>Route all ports to this controller (else to the companions).</summary>
        public const uint ConfigureFlag = 1u << 0;
    }

    /// <summary>PORTSC bits (2.3.9).</summary>
    public static class PortSc
    {
        public const uint CurrentConnectStatus = 1u << 0;
        public const uint ConnectStatusChange = 1u << 1;
        public const uint PortEnabled = 1u << 2;
        public const uint PortEnableChange = 1u << 3;
        public const uint OverCurrentActive = 1u << 4;
        public const uint OverCurrentChange = 1u << 5;
        public const uint ForcePortResume = 1u << 6;
        public const uint Suspend = 1u << 7;
        public const uint PortReset = 1u << 8;
        public const int LineStatusShift = 10;
        public const uint LineStatusMask = 3u << LineStatusShift;
        /// <summary>Line status K-state: a low-speed device (2.3.9 table 2-16).</summary>
        public const uint LineStatusK = 1u << LineStatusShift;
        public const uint LineStatusJ = 2u << LineStatusShift;
        public const uint LineStatusSE0 = 0;
        public const uint PortPower = 1u << 12;
        public const uint PortOwner = 1u << 13;
        public const int IndicatorShift = 14;
        public const int TestControlShift = 16;
        public const uint WakeOnConnect = 1u << 20;
        public const uint WakeOnDisconnect = 1u << 21;
        public const uint WakeOnOverCurrent = 1u << 22;

        /// <summary>Write-1-to-clear change bits: masked out of every read-modify-write.</summary>
        public const uint ChangeBits = ConnectStatusChange | PortEnableChange | OverCurrentChange;
    }

    /// <summary>EHCI extended capabilities in PCI configuration space (2.1.7, 2.1.8 / 5.1).</summary>
    public static class EhciExtCap
    {
        public const uint CapabilityIdMask = 0xFF;
        public const int NextShift = 8;
        public const uint NextMask = 0xFF;
        /// <summary>Capability ID of USBLEGSUP (legacy support).</summary>
        public const uint LegacySupportId = 1;
        /// <summary>First offset an extended capability may live at (above the PCI header).</summary>
        public const byte MinimumOffset = 0x40;
        /// <summary>Bound on the capability walk (protects against loops).</summary>
        public const int MaxCapabilities = 48;

        /// <summary>USBLEGSUP bit 16: HC BIOS Owned Semaphore.</summary>
        public const uint BiosOwnedSemaphore = 1u << 16;
        /// <summary>USBLEGSUP bit 24: HC OS Owned Semaphore.</summary>
        public const uint OsOwnedSemaphore = 1u << 24;
        /// <summary>USBLEGCTLSTS follows USBLEGSUP.</summary>
        public const ushort LegacyControlStatusOffset = 4;
        /// <summary>OS semaphore byte within USBLEGSUP (a byte write leaves the BIOS byte alone).</summary>
        public const ushort OsSemaphoreByte = 3;
        public const ushort BiosSemaphoreByte = 2;
        /// <summary>USBLEGCTLSTS: SMI enables are bits 15:0; bits 31:29 are write-1-to-clear SMI status.</summary>
        public const uint SmiStatusWriteClear = 0xE0000000;
        /// <summary>USBLEGCTLSTS bit 13: SMI on OS Ownership Enable (the BIOS's code runs when the OS semaphore changes).</summary>
        public const uint SmiOnOsOwnershipEnable = 1u << 13;
    }
}
