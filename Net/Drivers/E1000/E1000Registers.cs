namespace Net.Drivers.E1000
{
    /// <summary>
    /// Register offsets and bits of the Intel 8254x family (82540EM = QEMU's `-device e1000`), from
    /// the "PCI/PCI-X Family of Gigabit Ethernet Controllers Software Developer's Manual"
    /// (Intel 317453, rev. 4.0): section numbers below refer to it. All registers are 32-bit, in BAR0 (MMIO).
    /// </summary>
    public static class E1000Reg
    {
        /// <summary>Device Control (13.4.1).</summary>
        public const uint Ctrl = 0x0000;
        /// <summary>Device Status (13.4.2).</summary>
        public const uint Status = 0x0008;
        /// <summary>EEPROM Read (13.4.4; 82540/82545 layout).</summary>
        public const uint Eerd = 0x0014;
        /// <summary>Interrupt Cause Read, cleared by reading (13.4.17).</summary>
        public const uint Icr = 0x00C0;
        /// <summary>Interrupt Throttling (13.4.18): minimum interval between interrupts in 256 ns units.</summary>
        public const uint Itr = 0x00C4;
        /// <summary>Interrupt Mask Set/Read (13.4.20) and Clear (13.4.21).</summary>
        public const uint Ims = 0x00D0, Imc = 0x00D8;
        /// <summary>Receive Control (13.4.22).</summary>
        public const uint Rctl = 0x0100;
        /// <summary>Transmit Control (13.4.33) and Inter Packet Gap (13.4.34).</summary>
        public const uint Tctl = 0x0400, Tipg = 0x0410;
        /// <summary>Receive descriptor ring: base low/high, length in bytes, head, tail (13.4.27-13.4.31).</summary>
        public const uint Rdbal = 0x2800, Rdbah = 0x2804, Rdlen = 0x2808, Rdh = 0x2810, Rdt = 0x2818;
        /// <summary>Receive Delay Timer (13.4.30): 0 = interrupt per packet.</summary>
        public const uint Rdtr = 0x2820;
        /// <summary>Transmit descriptor ring (13.4.38-13.4.42).</summary>
        public const uint Tdbal = 0x3800, Tdbah = 0x3804, Tdlen = 0x3808, Tdh = 0x3810, Tdt = 0x3818;
        /// <summary>Multicast Table Array, 128 dwords (13.4.28).</summary>
        public const uint Mta = 0x5200;
        public const int MtaEntries = 128;
        /// <summary>Receive Address 0 low/high (13.4.29): the station MAC; RAH bit 31 = Address Valid.</summary>
        public const uint Ral0 = 0x5400, Rah0 = 0x5404;
        /// <summary>Statistics (13.7), clear on read: CRC errors, missed packets (no descriptor), receive length errors.</summary>
        public const uint Crcerrs = 0x4000, Mpc = 0x4010, Rlec = 0x4040;
    }

    /// <summary>CTRL bits (13.4.1).</summary>
    public static class E1000Ctrl
    {
        public const uint FullDuplex = 1u << 0;
        public const uint LinkReset = 1u << 3;
        public const uint AutoSpeedDetect = 1u << 5;
        public const uint SetLinkUp = 1u << 6;
        /// <summary>Device reset; self-clearing; wait 1 us before touching registers (14.5).</summary>
        public const uint Reset = 1u << 26;
        public const uint PhyReset = 1u << 31;
    }

    /// <summary>STATUS bits (13.4.2).</summary>
    public static class E1000Status
    {
        public const uint FullDuplex = 1u << 0;
        public const uint LinkUp = 1u << 1;
    }

    /// <summary>EERD fields (13.4.4, 82540EM): start, done, word address, data.</summary>
    public static class E1000Eerd
    {
        public const uint Start = 1u << 0;
        public const uint Done = 1u << 4;
        public const int AddressShift = 8;
        public const int DataShift = 16;
        /// <summary>EEPROM words 0-2 hold the Ethernet address (5.6.1).</summary>
        public const uint MacWord0 = 0;
    }

    /// <summary>Interrupt cause bits, shared by ICR/ICS/IMS/IMC (13.4.17).</summary>
    public static class E1000Int
    {
        public const uint TxDescriptorWritten = 1u << 0;
        public const uint TxQueueEmpty = 1u << 1;
        public const uint LinkStatusChange = 1u << 2;
        public const uint RxSequenceError = 1u << 3;
        public const uint RxDescriptorMinThreshold = 1u << 4;
        public const uint RxOverrun = 1u << 6;
        public const uint RxTimer = 1u << 7;
        /// <summary>What this driver wants: received packets, ring running low or overrun, link changes.</summary>
        public const uint Enabled = RxTimer | RxOverrun | RxDescriptorMinThreshold | LinkStatusChange | RxSequenceError;
        public const uint All = 0xFFFFFFFF;
    }

    /// <summary>RCTL bits (13.4.22).</summary>
    public static class E1000Rctl
    {
        public const uint Enable = 1u << 1;
        public const uint StoreBadPackets = 1u << 2;
        public const uint UnicastPromiscuous = 1u << 3;
        public const uint MulticastPromiscuous = 1u << 4;
        public const uint LongPacket = 1u << 5;
        /// <summary>Descriptor minimum threshold: interrupt when half the ring is free (RDMTS = 00).</summary>
        public const uint MinThresholdHalf = 0u << 8;
        public const uint BroadcastAccept = 1u << 15;
        /// <summary>Buffer size 2048 bytes: BSIZE = 00 with BSEX = 0.</summary>
        public const uint BufferSize2048 = 0u << 16;
        public const uint StripCrc = 1u << 26;
    }

    /// <summary>TCTL fields (13.4.33) and TIPG values (13.4.34).</summary>
    public static class E1000Tctl
    {
        public const uint Enable = 1u << 1;
        public const uint PadShortPackets = 1u << 3;
        public const int CollisionThresholdShift = 4;
        /// <summary>Retries before giving up on a half-duplex collision (manual recommends 0x0F).</summary>
        public const uint CollisionThreshold = 0x0F;
        public const int CollisionDistanceShift = 12;
        /// <summary>Collision distance for full duplex (0x40; 0x200 for half duplex at 1000 Mb/s).</summary>
        public const uint CollisionDistanceFullDuplex = 0x40;
        public const uint ReTransmitOnLateCollision = 1u << 24;
        /// <summary>IEEE 802.3 IPG values for copper 82540EM: IPGT 10, IPGR1 8, IPGR2 6.</summary>
        public const uint TipgCopper = 10u | (8u << 10) | (6u << 20);
    }

    /// <summary>
    /// Legacy receive descriptor, 16 bytes (3.2.3): buffer address (8), length (2), packet checksum (2),
    /// status (1), errors (1), special (2).
    /// </summary>
    public static class E1000RxDesc
    {
        public const int Size = 16;
        public const int AddressOffset = 0;
        /// <summary>Dword at offset 8: length in bits 0-15, checksum in 16-31.</summary>
        public const int LengthOffset = 8;
        /// <summary>Dword at offset 12: status bits 0-7, errors 8-15, special 16-31.</summary>
        public const int StatusOffset = 12;
        public const uint StatusDone = 1u << 0;
        public const uint StatusEndOfPacket = 1u << 1;
        public const int ErrorsShift = 8;
        /// <summary>Errors (3.2.3.2): CRC/alignment, symbol, sequence, carrier extension, RX data error.</summary>
        public const uint ErrorsFrame = (1u << 0) | (1u << 1) | (1u << 2) | (1u << 4) | (1u << 7);
    }

    /// <summary>
    /// Legacy transmit descriptor, 16 bytes (3.3.3): buffer address (8), length (2), CSO (1), CMD (1),
    /// status (4 bits) + reserved (4 bits), CSS (1), special (2).
    /// </summary>
    public static class E1000TxDesc
    {
        public const int Size = 16;
        public const int AddressOffset = 0;
        /// <summary>Dword at offset 8: length bits 0-15, CSO 16-23, CMD 24-31.</summary>
        public const int CommandOffset = 8;
        public const int CommandShift = 24;
        /// <summary>Dword at offset 12: status bits 0-3.</summary>
        public const int StatusOffset = 12;
        public const uint CommandEndOfPacket = 1u << 0;
        public const uint CommandInsertFcs = 1u << 1;
        public const uint CommandReportStatus = 1u << 3;
        public const uint StatusDone = 1u << 0;
    }
}
