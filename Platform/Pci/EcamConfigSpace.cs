using Platform.Acpi;

namespace Platform.Pci
{
    /// <summary>
    /// PCI configuration space through the Enhanced Configuration Access Mechanism (PCIe Base 4.0,
    /// 7.2.2): each function's 4 KiB of configuration space is memory at
    /// base + (bus - start bus) &lt;&lt; 20 | device &lt;&lt; 15 | function &lt;&lt; 12 | offset, the window the
    /// ACPI MCFG table describes. Unlike configuration mechanism #1 (ports CF8h/CFCh) it reaches the
    /// extended space above offset 255 and needs no index/data pair. Buses outside the window go
    /// to <c>fallback</c>.
    /// </summary>
    public sealed class EcamConfigSpace : IPciConfigSpace
    {
        public const int DeviceShift = 15;
        public const int FunctionShift = 12;
        /// <summary>Configuration space per function.</summary>
        public const int FunctionBytes = 4096;
        const ushort OffsetMask = FunctionBytes - 1;

        readonly IRegisterBlock _window;
        readonly EcamRegion _region;
        readonly IPciConfigSpace _fallback;

        /// <param name="window">The region's memory, mapped uncached, offsets relative to its base.</param>
        public EcamConfigSpace(IRegisterBlock window, EcamRegion region, IPciConfigSpace fallback)
        {
            _window = window;
            _region = region;
            _fallback = fallback;
        }

        public EcamRegion Region => _region;

        /// <summary>Offset of a register in the window (<paramref name="offset"/> already aligned to the access width).</summary>
        public static uint WindowOffset(EcamRegion region, PciAddress address, ushort offset) =>
            (uint)(address.Bus - region.StartBus) << EcamRegion.BusShift | (uint)address.Device << DeviceShift |
            (uint)address.Function << FunctionShift | (uint)(offset & OffsetMask);

        bool Covers(PciAddress address) => address.Bus >= _region.StartBus && address.Bus <= _region.EndBus;

        public uint Read32(PciAddress address, ushort offset) =>
            Covers(address) ? _window.Read32(WindowOffset(_region, address, (ushort)(offset & ~3))) : _fallback.Read32(address, offset);

        public void Write32(PciAddress address, ushort offset, uint value)
        {
            if (Covers(address)) _window.Write32(WindowOffset(_region, address, (ushort)(offset & ~3)), value);
            else _fallback.Write32(address, offset, value);
        }

        public ushort Read16(PciAddress address, ushort offset) =>
            Covers(address) ? _window.Read16(WindowOffset(_region, address, (ushort)(offset & ~1))) : _fallback.Read16(address, offset);

        public void Write16(PciAddress address, ushort offset, ushort value)
        {
            if (Covers(address)) _window.Write16(WindowOffset(_region, address, (ushort)(offset & ~1)), value);
            else _fallback.Write16(address, offset, value);
        }

        public byte Read8(PciAddress address, ushort offset) =>
            Covers(address) ? _window.Read8(WindowOffset(_region, address, offset)) : _fallback.Read8(address, offset);

        public void Write8(PciAddress address, ushort offset, byte value)
        {
            if (Covers(address)) _window.Write8(WindowOffset(_region, address, offset), value);
            else _fallback.Write8(address, offset, value);
        }
    }
}
