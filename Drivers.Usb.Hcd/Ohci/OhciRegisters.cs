namespace Drivers.Usb.Hcd.Ohci
{
    /// <summary>
    /// Operational registers of an OHCI host controller (OpenHCI 1.0a, chapter 7: offsets from the
    /// base of the memory-mapped BAR0). All registers are 32 bits wide and little-endian.
    /// </summary>
    public static class OhciReg
    {
        // 7.1 Control and Status Partition
        public const uint HcRevision = 0x00;
        public const uint HcControl = 0x04;
        public const uint HcCommandStatus = 0x08;
        public const uint HcInterruptStatus = 0x0C;
        public const uint HcInterruptEnable = 0x10;
        public const uint HcInterruptDisable = 0x14;
        // 7.2 Memory Pointer Partition
        public const uint HcHCCA = 0x18;
        public const uint HcPeriodCurrentED = 0x1C;
        public const uint HcControlHeadED = 0x20;
        public const uint HcControlCurrentED = 0x24;
        public const uint HcBulkHeadED = 0x28;
        public const uint HcBulkCurrentED = 0x2C;
        public const uint HcDoneHead = 0x30;
        // 7.3 Frame Counter Partition
        public const uint HcFmInterval = 0x34;
        public const uint HcFmRemaining = 0x38;
        public const uint HcFmNumber = 0x3C;
        public const uint HcPeriodicStart = 0x40;
        public const uint HcLSThreshold = 0x44;
        // 7.4 Root Hub Partition
        public const uint HcRhDescriptorA = 0x48;
        public const uint HcRhDescriptorB = 0x4C;
        public const uint HcRhStatus = 0x50;
        /// <summary>HcRhPortStatus[1] (7.4.4); port n is at <see cref="HcRhPortStatus"/>(n).</summary>
        public const uint HcRhPortStatusBase = 0x54;
        public const uint PortStatusStride = 4;
        /// <summary>Size of the operational register block (ports 1..15).</summary>
        public const uint BlockSize = 0x100;

        /// <summary>Offset of HcRhPortStatus[port] (port 1-based, 7.4.4).</summary>
        public static uint HcRhPortStatus(int port) => HcRhPortStatusBase + (uint)(port - 1) * PortStatusStride;
    }

    /// <summary>HcRevision (7.1.1).</summary>
    public static class HcRevision
    {
        /// <summary>REV, BCD: 0x10 for OpenHCI 1.0.</summary>
        public const uint RevisionMask = 0xFF;
        /// <summary>L: legacy support registers (HceControl etc.) present.</summary>
        public const uint Legacy = 1u << 8;
    }

    /// <summary>HcControl (7.1.2).</summary>
    public static class HcControl
    {
        /// <summary>CBSR: ControlBulkServiceRatio, bits 1..0 (ratio = value + 1).</summary>
        public const uint ControlBulkServiceRatioMask = 0x3;
        /// <summary>CBSR = 3: four control EDs per bulk ED (what Linux uses).</summary>
        public const uint ControlBulkRatio4To1 = 0x3;
        /// <summary>PLE: PeriodicListEnable.</summary>
        public const uint PeriodicListEnable = 1u << 2;
        /// <summary>IE: IsochronousEnable.</summary>
        public const uint IsochronousEnable = 1u << 3;
        /// <summary>CLE: ControlListEnable.</summary>
        public const uint ControlListEnable = 1u << 4;
        /// <summary>BLE: BulkListEnable.</summary>
        public const uint BulkListEnable = 1u << 5;
        /// <summary>HCFS: HostControllerFunctionalState, bits 7..6.</summary>
        public const uint FunctionalStateMask = 0x3u << 6;
        public const uint UsbReset = 0x0u << 6;
        public const uint UsbResume = 0x1u << 6;
        public const uint UsbOperational = 0x2u << 6;
        public const uint UsbSuspend = 0x3u << 6;
        /// <summary>IR: InterruptRouting (interrupts go to SMI: firmware owns the controller).</summary>
        public const uint InterruptRouting = 1u << 8;
        /// <summary>RWC: RemoteWakeupConnected.</summary>
        public const uint RemoteWakeupConnected = 1u << 9;
        /// <summary>RWE: RemoteWakeupEnable.</summary>
        public const uint RemoteWakeupEnable = 1u << 10;
    }

    /// <summary>HcCommandStatus (7.1.3). Writing 1 sets a bit; writing 0 has no effect.</summary>
    public static class HcCommandStatus
    {
        /// <summary>HCR: HostControllerReset (self-clearing, at most 10 us).</summary>
        public const uint HostControllerReset = 1u << 0;
        /// <summary>CLF: ControlListFilled.</summary>
        public const uint ControlListFilled = 1u << 1;
        /// <summary>BLF: BulkListFilled.</summary>
        public const uint BulkListFilled = 1u << 2;
        /// <summary>OCR: OwnershipChangeRequest (asks SMM firmware to give the controller up).</summary>
        public const uint OwnershipChangeRequest = 1u << 3;
        /// <summary>SOC: SchedulingOverrunCount, bits 17..16.</summary>
        public const uint SchedulingOverrunCountMask = 0x3u << 16;
    }

    /// <summary>
    /// HcInterruptStatus (7.1.4), HcInterruptEnable (7.1.5) and HcInterruptDisable (7.1.6) share
    /// one layout. Status bits are cleared by writing 1.
    /// </summary>
    public static class HcInterrupt
    {
        /// <summary>SO: SchedulingOverrun.</summary>
        public const uint SchedulingOverrun = 1u << 0;
        /// <summary>WDH: WritebackDoneHead (HccaDoneHead was written).</summary>
        public const uint WritebackDoneHead = 1u << 1;
        /// <summary>SF: StartofFrame.</summary>
        public const uint StartOfFrame = 1u << 2;
        /// <summary>RD: ResumeDetected.</summary>
        public const uint ResumeDetected = 1u << 3;
        /// <summary>UE: UnrecoverableError.</summary>
        public const uint UnrecoverableError = 1u << 4;
        /// <summary>FNO: FrameNumberOverflow.</summary>
        public const uint FrameNumberOverflow = 1u << 5;
        /// <summary>RHSC: RootHubStatusChange.</summary>
        public const uint RootHubStatusChange = 1u << 6;
        /// <summary>OC: OwnershipChange.</summary>
        public const uint OwnershipChange = 1u << 30;
        /// <summary>MIE: MasterInterruptEnable (enable/disable registers only).</summary>
        public const uint MasterInterruptEnable = 1u << 31;

        /// <summary>Every interrupt source bit (status register).</summary>
        public const uint AllSources = SchedulingOverrun | WritebackDoneHead | StartOfFrame | ResumeDetected |
                                       UnrecoverableError | FrameNumberOverflow | RootHubStatusChange | OwnershipChange;
        /// <summary>What the driver runs with (Linux OHCI_INTR_INIT plus WDH and SO).</summary>
        public const uint Default = MasterInterruptEnable | WritebackDoneHead | RootHubStatusChange |
                                    UnrecoverableError | SchedulingOverrun;
    }

    /// <summary>HcFmInterval (7.3.1), HcFmNumber (7.3.3), HcPeriodicStart (7.3.4).</summary>
    public static class HcFmInterval
    {
        /// <summary>FI: FrameInterval in 12 MHz bit times minus 1, bits 13..0.</summary>
        public const uint FrameIntervalMask = 0x3FFF;
        /// <summary>FSMPS: FSLargestDataPacket, bits 30..16.</summary>
        public const int LargestDataPacketShift = 16;
        public const uint LargestDataPacketMask = 0x7FFFu << LargestDataPacketShift;
        /// <summary>FIT: FrameIntervalToggle (toggled whenever FI is written).</summary>
        public const uint FrameIntervalToggle = 1u << 31;
        /// <summary>Nominal FI: 12000 bit times per 1 ms frame, minus one (7.3.1).</summary>
        public const uint DefaultFrameInterval = 11999;
        /// <summary>Maximum bit-time overhead of a transaction used to derive FSMPS (5.4, Linux MAX_OVERHEAD).</summary>
        public const uint MaximumOverhead = 210;
        /// <summary>FrameNumber field of HcFmNumber, bits 15..0.</summary>
        public const uint FrameNumberMask = 0xFFFF;
        /// <summary>PeriodicStart: 90% of the frame interval (5.1.1.4; Linux ohci_run).</summary>
        public const uint PeriodicStartPercent = 90;

        /// <summary>FSMPS for a frame interval: (FI - overhead) * 6 / 7 (5.4).</summary>
        public static uint LargestDataPacket(uint frameInterval) => (frameInterval - MaximumOverhead) * 6 / 7;

        /// <summary>HcPeriodicStart value for a frame interval.</summary>
        public static uint PeriodicStart(uint frameInterval) => frameInterval * PeriodicStartPercent / 100;

        /// <summary>Complete HcFmInterval value with FIT toggled relative to <paramref name="previous"/>.</summary>
        public static uint Compose(uint frameInterval, uint previous) =>
            (frameInterval & FrameIntervalMask) |
            ((LargestDataPacket(frameInterval) << LargestDataPacketShift) & LargestDataPacketMask) |
            ((previous & FrameIntervalToggle) ^ FrameIntervalToggle);
    }

    /// <summary>HcRhDescriptorA (7.4.1).</summary>
    public static class HcRhDescriptorA
    {
        /// <summary>NDP: NumberDownstreamPorts, bits 7..0 (1..15).</summary>
        public const uint NumberDownstreamPortsMask = 0xFF;
        /// <summary>PSM: PowerSwitchingMode (1 = per port).</summary>
        public const uint PowerSwitchingMode = 1u << 8;
        /// <summary>NPS: NoPowerSwitching (ports always powered).</summary>
        public const uint NoPowerSwitching = 1u << 9;
        /// <summary>DT: DeviceType (always 0: not a compound device).</summary>
        public const uint DeviceType = 1u << 10;
        /// <summary>OCPM: OverCurrentProtectionMode (1 = per port).</summary>
        public const uint OverCurrentProtectionMode = 1u << 11;
        /// <summary>NOCP: NoOverCurrentProtection.</summary>
        public const uint NoOverCurrentProtection = 1u << 12;
        /// <summary>POTPGT: PowerOnToPowerGoodTime in 2 ms units, bits 31..24.</summary>
        public const int PowerOnToPowerGoodShift = 24;
        public const uint MaximumPorts = 15;
    }

    /// <summary>HcRhDescriptorB (7.4.2).</summary>
    public static class HcRhDescriptorB
    {
        /// <summary>DR: DeviceRemovable, bits 15..0 (bit n = port n non-removable; bit 0 reserved).</summary>
        public const uint DeviceRemovableMask = 0xFFFF;
        /// <summary>PPCM: PortPowerControlMask, bits 31..16.</summary>
        public const int PortPowerControlMaskShift = 16;
    }

    /// <summary>HcRhStatus (7.4.3).</summary>
    public static class HcRhStatus
    {
        /// <summary>LPS (read): LocalPowerStatus; (write 1): ClearGlobalPower.</summary>
        public const uint LocalPowerStatus = 1u << 0;
        public const uint ClearGlobalPower = 1u << 0;
        /// <summary>OCI: OverCurrentIndicator.</summary>
        public const uint OverCurrentIndicator = 1u << 1;
        /// <summary>DRWE: DeviceRemoteWakeupEnable (write 1: SetRemoteWakeupEnable).</summary>
        public const uint DeviceRemoteWakeupEnable = 1u << 15;
        /// <summary>LPSC (read): LocalPowerStatusChange; (write 1): SetGlobalPower.</summary>
        public const uint LocalPowerStatusChange = 1u << 16;
        public const uint SetGlobalPower = 1u << 16;
        /// <summary>OCIC: OverCurrentIndicatorChange (write 1 to clear).</summary>
        public const uint OverCurrentIndicatorChange = 1u << 17;
        /// <summary>CRWE (write 1): ClearRemoteWakeupEnable.</summary>
        public const uint ClearRemoteWakeupEnable = 1u << 31;
    }

    /// <summary>
    /// HcRhPortStatus[n] (7.4.4). Reads report status (bits 9..0) and changes (bits 20..16); the
    /// same bit positions mean a command when written (writing 0 has no effect), and the change bits
    /// are cleared by writing 1. Status and change bits line up with USB 2.0 wPortStatus/wPortChange
    /// (11.24.2.7) so the root hub reports them unchanged.
    /// </summary>
    public static class HcRhPortStatus
    {
        /// <summary>CCS (read): CurrentConnectStatus; (write 1): ClearPortEnable.</summary>
        public const uint CurrentConnectStatus = 1u << 0;
        public const uint ClearPortEnable = 1u << 0;
        /// <summary>PES (read): PortEnableStatus; (write 1): SetPortEnable.</summary>
        public const uint PortEnableStatus = 1u << 1;
        public const uint SetPortEnable = 1u << 1;
        /// <summary>PSS (read): PortSuspendStatus; (write 1): SetPortSuspend.</summary>
        public const uint PortSuspendStatus = 1u << 2;
        public const uint SetPortSuspend = 1u << 2;
        /// <summary>POCI (read): PortOverCurrentIndicator; (write 1): ClearSuspendStatus (resume).</summary>
        public const uint PortOverCurrentIndicator = 1u << 3;
        public const uint ClearSuspendStatus = 1u << 3;
        /// <summary>PRS (read): PortResetStatus; (write 1): SetPortReset (the controller times 10 ms).</summary>
        public const uint PortResetStatus = 1u << 4;
        public const uint SetPortReset = 1u << 4;
        /// <summary>PPS (read): PortPowerStatus; (write 1): SetPortPower.</summary>
        public const uint PortPowerStatus = 1u << 8;
        public const uint SetPortPower = 1u << 8;
        /// <summary>LSDA (read): LowSpeedDeviceAttached; (write 1): ClearPortPower.</summary>
        public const uint LowSpeedDeviceAttached = 1u << 9;
        public const uint ClearPortPower = 1u << 9;
        /// <summary>CSC: ConnectStatusChange.</summary>
        public const uint ConnectStatusChange = 1u << 16;
        /// <summary>PESC: PortEnableStatusChange.</summary>
        public const uint PortEnableStatusChange = 1u << 17;
        /// <summary>PSSC: PortSuspendStatusChange.</summary>
        public const uint PortSuspendStatusChange = 1u << 18;
        /// <summary>OCIC: PortOverCurrentIndicatorChange.</summary>
        public const uint PortOverCurrentIndicatorChange = 1u << 19;
        /// <summary>PRSC: PortResetStatusChange.</summary>
        public const uint PortResetStatusChange = 1u << 20;

        /// <summary>Status bits the root hub reports in wPortStatus.</summary>
        public const uint StatusMask = CurrentConnectStatus | PortEnableStatus | PortSuspendStatus |
                                       PortOverCurrentIndicator | PortResetStatus | PortPowerStatus | LowSpeedDeviceAttached;
        /// <summary>Every change bit (wPortChange after shifting by <see cref="ChangeShift"/>).</summary>
        public const uint ChangeMask = ConnectStatusChange | PortEnableStatusChange | PortSuspendStatusChange |
                                       PortOverCurrentIndicatorChange | PortResetStatusChange;
        public const int ChangeShift = 16;
    }
}
