namespace Platform.Pci
{
    public enum PciBarKind : byte { None, Io, Memory32, Memory64 }

    /// <summary>One decoded base address register (PCI Local Bus Spec 3.0, 6.2.5.1).</summary>
    public struct PciBar
    {
        public PciBarKind Kind;
        public ulong Address;
        public ulong Size;
        public bool Prefetchable;

        public bool IsPresent => Kind != PciBarKind.None && Size != 0;
        public bool IsIo => Kind == PciBarKind.Io;

        public string Describe()
        {
            if (!IsPresent)
                return "";
            string kind = Kind == PciBarKind.Io ? "io" : Kind == PciBarKind.Memory64 ? "mem64" : "mem32";
            string text = kind + " 0x" + Format.Hex(Address) + " size 0x" + Format.Hex(Size);
            return Prefetchable ? text + " pref" : text;
        }
    }

    /// <summary>A discovered PCI function and what its configuration header says about it.</summary>
    public sealed class PciFunction
    {
        public const int BarCount = 6;

        public PciAddress Address;
        public ushort VendorId;
        public ushort DeviceId;
        public byte ClassCode;
        public byte Subclass;
        public byte ProgIf;
        public byte Revision;
        public byte HeaderType;
        public byte InterruptLine;
        /// <summary>0 = none, 1..4 = INTA#..INTD#.</summary>
        public byte InterruptPin;
        public readonly PciBar[] Bars = new PciBar[BarCount];

        /// <summary>The driver that took this function, or null.</summary>
        public PciDriver Driver;

        public bool IsBridge => (HeaderType & PciConfig.HeaderTypeMask) == PciConfig.HeaderTypeBridge;

        /// <summary>"0000:00:1d.7 0c03: 8086:24cd (rev 10) prog-if 20 [USB controller: EHCI]"</summary>
        public string Describe()
        {
            string text = Address.ToString() + " " + Format.Hex(ClassCode, 2) + Format.Hex(Subclass, 2) + ": " +
                          Format.Hex(VendorId, 4) + ":" + Format.Hex(DeviceId, 4) +
                          " (rev " + Format.Hex(Revision, 2) + ") prog-if " + Format.Hex(ProgIf, 2) +
                          " [" + PciClassNames.Describe(ClassCode, Subclass, ProgIf) + "]";
            return text;
        }
    }

    /// <summary>Human-readable class names for the listing (PCI Code and ID Assignment Spec, 1).</summary>
    public static class PciClassNames
    {
        public static string Describe(byte classCode, byte subclass, byte progIf)
        {
            switch (classCode)
            {
                case 0x00: return "Unclassified device";
                case 0x01:
                    switch (subclass)
                    {
                        case 0x01: return "IDE interface";
                        case 0x06: return "SATA controller";
                        case 0x08: return "Non-Volatile memory controller";
                        default: return "Mass storage controller";
                    }
                case 0x02: return subclass == 0x00 ? "Ethernet controller" : "Network controller";
                case 0x03: return "VGA compatible controller";
                case 0x04: return "Multimedia controller";
                case 0x05: return "Memory controller";
                case PciConfig.ClassBridge:
                    switch (subclass)
                    {
                        case 0x00: return "Host bridge";
                        case 0x01: return "ISA bridge";
                        case PciConfig.SubclassPciBridge: return "PCI bridge";
                        default: return "Bridge";
                    }
                case 0x07: return "Communication controller";
                case 0x08: return "System peripheral";
                case PciConfig.ClassSerialBus:
                    if (subclass == PciConfig.SubclassUsb)
                    {
                        switch (progIf)
                        {
                            case PciConfig.ProgIfUhci: return "USB controller: UHCI";
                            case PciConfig.ProgIfOhci: return "USB controller: OHCI";
                            case PciConfig.ProgIfEhci: return "USB controller: EHCI";
                            case PciConfig.ProgIfXhci: return "USB controller: xHCI";
                            default: return "USB controller";
                        }
                    }
                    if (subclass == 0x05) return "SMBus";
                    return "Serial bus controller";
                default: return "Class " + Format.Hex(classCode, 2);
            }
        }
    }
}
