namespace Platform.Pci
{
    /// <summary>Bus/device/function of one PCI function (PCI Local Bus Spec 3.0, 3.2.2.3.2).</summary>
    public struct PciAddress
    {
        public byte Bus;
        public byte Device;   // 0..31
        public byte Function; // 0..7

        public PciAddress(int bus, int device, int function)
        {
            Bus = (byte)bus;
            Device = (byte)device;
            Function = (byte)function;
        }

        /// <summary>Linux's name for the function: "0000:00:1d.7".</summary>
        public override string ToString() =>
            "0000:" + Format.Hex(Bus, 2) + ":" + Format.Hex(Device, 2) + "." + Format.Hex(Function, 1);
    }

    /// <summary>
    /// Access to configuration space. The kernel implements it with configuration mechanism 1
    /// (ports 0xCF8/0xCFC); tests with an in-memory fake. Offsets are byte offsets; 16-bit accesses
    /// must be 2-aligned and 32-bit accesses 4-aligned.
    /// </summary>
    public interface IPciConfigSpace
    {
        uint Read32(PciAddress address, ushort offset);
        void Write32(PciAddress address, ushort offset, uint value);
        ushort Read16(PciAddress address, ushort offset);
        void Write16(PciAddress address, ushort offset, ushort value);
        byte Read8(PciAddress address, ushort offset);
        void Write8(PciAddress address, ushort offset, byte value);
    }

    /// <summary>Type 0/1 configuration header offsets (PCI Local Bus Spec 3.0, 6.1).</summary>
    public static class PciConfig
    {
        public const ushort VendorId = 0x00;
        public const ushort DeviceId = 0x02;
        public const ushort Command = 0x04;
        public const ushort Status = 0x06;
        public const ushort RevisionId = 0x08;
        public const ushort ProgIf = 0x09;
        public const ushort Subclass = 0x0A;
        public const ushort ClassCode = 0x0B;
        public const ushort HeaderType = 0x0E;
        public const ushort Bar0 = 0x10;
        public const ushort SubsystemVendorId = 0x2C;
        public const ushort SubsystemId = 0x2E;
        public const ushort CapabilitiesPointer = 0x34;
        public const ushort InterruptLine = 0x3C;
        public const ushort InterruptPin = 0x3D;

        /// <summary>Type 1 (PCI-to-PCI bridge) header: secondary bus number (PCI-to-PCI Bridge Spec 1.2, 3.2).</summary>
        public const ushort SecondaryBus = 0x19;

        public const ushort InvalidVendor = 0xFFFF;
        public const byte HeaderTypeMask = 0x7F;
        public const byte HeaderTypeMultiFunction = 0x80;
        public const byte HeaderTypeBridge = 0x01;

        // Command register bits (6.2.2).
        public const ushort CommandIoSpace = 1 << 0;
        public const ushort CommandMemorySpace = 1 << 1;
        public const ushort CommandBusMaster = 1 << 2;
        public const ushort CommandInterruptDisable = 1 << 10;

        // Status register bits (6.2.3).
        public const ushort StatusCapabilitiesList = 1 << 4;

        // Base address register bits (6.2.5.1).
        public const uint BarIoSpace = 1 << 0;
        public const uint BarMemoryTypeMask = 0x6;
        public const uint BarMemoryType64 = 0x4;
        public const uint BarPrefetchable = 1 << 3;
        public const uint BarIoAddressMask = 0xFFFFFFFC;
        public const uint BarMemoryAddressMask = 0xFFFFFFF0;

        // Capability IDs (PCI Code and ID Assignment Spec, 2).
        public const byte CapabilityMsi = 0x05;
        public const byte CapabilityMsiX = 0x11;

        public const byte ClassSerialBus = 0x0C;
        public const byte SubclassUsb = 0x03;
        public const byte ProgIfUhci = 0x00;
        public const byte ProgIfOhci = 0x10;
        public const byte ProgIfEhci = 0x20;
        public const byte ProgIfXhci = 0x30;
        public const byte ClassBridge = 0x06;
        public const byte SubclassPciBridge = 0x04;
    }
}
