namespace Drivers.Usb.Hcd.Uhci
{
    /// <summary>
    /// UHCI I/O register offsets (Universal Host Controller Interface Design Guide, revision 1.1,
    /// section 2.1, table 2 "USB I/O Registers"). The registers live in the I/O space BAR4
    /// (section 2.0.2 "USBBA"). Every access goes through <see cref="Platform.IRegisterBlock"/> with
    /// the width the spec gives each register.
    /// </summary>
    public static class UhciRegisters
    {
        /// <summary>USB Command register, 16 bits (2.1.1).</summary>
        public const uint USBCMD = 0x00;
        /// <summary>USB Status register, 16 bits, bits 0-5 write-1-to-clear (2.1.2).</summary>
        public const uint USBSTS = 0x02;
        /// <summary>USB Interrupt Enable register, 16 bits (2.1.3).</summary>
        public const uint USBINTR = 0x04;
        /// <summary>Frame Number register, 16 bits, bits 10:0 (2.1.4).</summary>
        public const uint FRNUM = 0x06;
        /// <summary>Frame List Base Address register, 32 bits, 4 KiB aligned (2.1.5).</summary>
        public const uint FRBASEADD = 0x08;
        /// <summary>Start Of Frame Modify register, 8 bits (2.1.6).</summary>
        public const uint SOFMOD = 0x0C;
        /// <summary>Port 1 Status/Control, 16 bits (2.1.7).</summary>
        public const uint PORTSC1 = 0x10;
        /// <summary>Port 2 Status/Control, 16 bits (2.1.7).</summary>
        public const uint PORTSC2 = 0x12;
        /// <summary>Distance between consecutive PORTSC registers.</summary>
        public const uint PortStride = 2;
        /// <summary>The UHCI 1.1 root hub has two ports (2.1.7).</summary>
        public const int PortCount = 2;

        /// <summary>PORTSCn offset for a 1-based port number.</summary>
        public static uint PORTSC(int port) => PORTSC1 + (uint)(port - 1) * PortStride;
    }

    /// <summary>USBCMD bits (2.1.1, table 3).</summary>
    public static class UsbCmd
    {
        /// <summary>Run/Stop: 1 = execute the schedule.</summary>
        public const ushort RS = 1 << 0;
        /// <summary>Host Controller Reset: resets the controller, self-clearing.</summary>
        public const ushort HCRESET = 1 << 1;
        /// <summary>Global Reset: drives reset on every port; software clears it after at least 10 ms.</summary>
        public const ushort GRESET = 1 << 2;
        /// <summary>Enter Global Suspend Mode.</summary>
        public const ushort EGSM = 1 << 3;
        /// <summary>Force Global Resume.</summary>
        public const ushort FGR = 1 << 4;
        /// <summary>Software Debug.</summary>
        public const ushort SWDBG = 1 << 5;
        /// <summary>Configure Flag: semaphore for software, set when configuration is finished.</summary>
        public const ushort CF = 1 << 6;
        /// <summary>Max Packet for full-speed bandwidth reclamation: 1 = 64 bytes, 0 = 32 bytes.</summary>
        public const ushort MAXP = 1 << 7;
    }

    /// <summary>USBSTS bits (2.1.2, table 4). Bits 0-5 are write-1-to-clear.</summary>
    public static class UsbSts
    {
        /// <summary>USB Interrupt: a TD with IOC completed, or a short packet was detected (SPD).</summary>
        public const ushort USBINT = 1 << 0;
        /// <summary>USB Error Interrupt: a transaction ended in error (error counter reached zero).</summary>
        public const ushort USBERRINT = 1 << 1;
        /// <summary>Resume Detect: a device signalled resume while the controller was suspended.</summary>
        public const ushort RD = 1 << 2;
        /// <summary>Host System Error: PCI error during DMA; the controller halts.</summary>
        public const ushort HSE = 1 << 3;
        /// <summary>Host Controller Process Error: corrupted schedule; the controller halts.</summary>
        public const ushort HCPE = 1 << 4;
        /// <summary>HCHalted: the controller stopped (Run/Stop cleared or an error).</summary>
        public const ushort HCHalted = 1 << 5;
        /// <summary>Every write-1-to-clear bit.</summary>
        public const ushort AllClearable = USBINT | USBERRINT | RD | HSE | HCPE | HCHalted;
        /// <summary>The bits that mean "this controller raised the interrupt".</summary>
        public const ushort InterruptSources = USBINT | USBERRINT | RD | HSE | HCPE;
    }

    /// <summary>USBINTR bits (2.1.3, table 5).</summary>
    public static class UsbIntr
    {
        /// <summary>Timeout/CRC Interrupt Enable.</summary>
        public const ushort TimeoutCrc = 1 << 0;
        /// <summary>Resume Interrupt Enable.</summary>
        public const ushort Resume = 1 << 1;
        /// <summary>Interrupt On Complete (IOC) Enable.</summary>
        public const ushort InterruptOnComplete = 1 << 2;
        /// <summary>Short Packet Interrupt Enable.</summary>
        public const ushort ShortPacket = 1 << 3;
        public const ushort All = TimeoutCrc | Resume | InterruptOnComplete | ShortPacket;
    }

    /// <summary>FRNUM / FRBASEADD / SOFMOD fields (2.1.4 - 2.1.6).</summary>
    public static class UhciFrame
    {
        /// <summary>FRNUM bits 10:0: the frame list index is bits 9:0, bit 10 counts wraps.</summary>
        public const ushort FrameNumberMask = 0x07FF;
        /// <summary>Index into the 1024-entry frame list (FRNUM bits 9:0).</summary>
        public const ushort FrameIndexMask = 0x03FF;
        /// <summary>Frame list entries (3.1).</summary>
        public const int FrameListEntries = 1024;
        /// <summary>Frame list size in bytes: 1024 32-bit pointers.</summary>
        public const uint FrameListBytes = FrameListEntries * 4;
        /// <summary>FRBASEADD must be 4 KiB aligned (2.1.5: bits 11:0 reserved).</summary>
        public const uint FrameListAlignment = 4096;
        /// <summary>SOFMOD reset value 64: a 12000-bit-time frame (2.1.6, table 7).</summary>
        public const byte SofModDefault = 0x40;
    }

    /// <summary>PORTSC bits (2.1.7, table 8; over-current bits from Intel PIIX4 and later, as Linux uses them).</summary>
    public static class PortSc
    {
        /// <summary>Current Connect Status (read only).</summary>
        public const ushort CCS = 1 << 0;
        /// <summary>Connect Status Change (write 1 to clear).</summary>
        public const ushort CSC = 1 << 1;
        /// <summary>Port Enabled/Disabled.</summary>
        public const ushort PE = 1 << 2;
        /// <summary>Port Enable/Disable Change (write 1 to clear).</summary>
        public const ushort PEC = 1 << 3;
        /// <summary>Line Status: D+ (read only).</summary>
        public const ushort LineStatusDPlus = 1 << 4;
        /// <summary>Line Status: D- (read only).</summary>
        public const ushort LineStatusDMinus = 1 << 5;
        /// <summary>Resume Detect (software writes 1 to drive resume signalling).</summary>
        public const ushort RD = 1 << 6;
        /// <summary>Reserved, always reads 1.</summary>
        public const ushort Reserved1 = 1 << 7;
        /// <summary>Low Speed Device Attached (read only).</summary>
        public const ushort LSDA = 1 << 8;
        /// <summary>Port Reset: 1 = port is in reset.</summary>
        public const ushort PR = 1 << 9;
        /// <summary>Over-current indicator (not in UHCI 1.1; PIIX4 and later).</summary>
        public const ushort OC = 1 << 10;
        /// <summary>Over-current change, write 1 to clear (not in UHCI 1.1; PIIX4 and later).</summary>
        public const ushort OCC = 1 << 11;
        /// <summary>Suspend.</summary>
        public const ushort SUSP = 1 << 12;
        /// <summary>Reserved bits that must be written as zero (bits 15:13).</summary>
        public const ushort WriteZero = (1 << 13) | (1 << 14) | (1 << 15);
        /// <summary>Write-1-to-clear bits: writing back what was read would clear them.</summary>
        public const ushort WriteClear = CSC | PEC | OCC;
    }

    /// <summary>PCI configuration registers of the UHCI function (UHCI 1.1, 2.0; PIIX4 datasheet 2.2.12).</summary>
    public static class UhciPciConfig
    {
        /// <summary>Serial Bus Release Number register (2.0.1).</summary>
        public const ushort SBRN = 0x60;
        /// <summary>Legacy Support register, 16 bits (PIIX4 USBLEGSUP; Linux UHCI_USBLEGSUP).</summary>
        public const ushort USBLEGSUP = 0xC0;
        /// <summary>Every write-1-to-clear status bit, and zero in every SMI/trap enable (Linux USBLEGSUP_RWC).</summary>
        public const ushort LegacySupportClear = 0x8F00;
        /// <summary>PIRQ enable (bit 13) only: the controller interrupts through its PCI line (Linux USBLEGSUP_DEFAULT).</summary>
        public const ushort LegacySupportPirqEnable = 0x2000;
        /// <summary>I/O BAR holding the registers (2.0.2 "USBBA", offset 20h = BAR4).</summary>
        public const int IoBarIndex = 4;
    }
}
