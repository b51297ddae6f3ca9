using Kernel.Hal;
using Platform.Pci;

namespace Kernel.Pci
{
    /// <summary>
    /// Configuration mechanism #1: the address goes to port 0xCF8, the dword comes through 0xCFC
    /// (PCI Local Bus Spec 3.0, 3.2.2.3.2). Narrow accesses use the matching byte lanes of 0xCFC.
    /// </summary>
    internal sealed class PciConfigPorts : IPciConfigSpace
    {
        public static readonly PciConfigPorts Instance = new PciConfigPorts();

        const ushort ConfigAddress = 0xCF8;
        const ushort ConfigData = 0xCFC;
        const uint EnableBit = 0x80000000;

        static uint AddressOf(PciAddress a, ushort offset) =>
            EnableBit | (uint)a.Bus << 16 | (uint)a.Device << 11 | (uint)a.Function << 8 | (uint)(offset & 0xFC);

        public uint Read32(PciAddress address, ushort offset)
        {
            ulong flags = InterruptGuard.Enter();
            Native.PortOut32(ConfigAddress, AddressOf(address, offset));
            uint value = Native.PortIn32(ConfigData);
            InterruptGuard.Exit(flags);
            return value;
        }

        public void Write32(PciAddress address, ushort offset, uint value)
        {
            ulong flags = InterruptGuard.Enter();
            Native.PortOut32(ConfigAddress, AddressOf(address, offset));
            Native.PortOut32(ConfigData, value);
            InterruptGuard.Exit(flags);
        }

        public ushort Read16(PciAddress address, ushort offset)
        {
            ulong flags = InterruptGuard.Enter();
            Native.PortOut32(ConfigAddress, AddressOf(address, offset));
            ushort value = Native.PortIn16((ushort)(ConfigData + (offset & 2)));
            InterruptGuard.Exit(flags);
            return value;
        }

        public void Write16(PciAddress address, ushort offset, ushort value)
        {
            ulong flags = InterruptGuard.Enter();
            Native.PortOut32(ConfigAddress, AddressOf(address, offset));
            Native.PortOut16((ushort)(ConfigData + (offset & 2)), value);
            InterruptGuard.Exit(flags);
        }

        public byte Read8(PciAddress address, ushort offset)
        {
            ulong flags = InterruptGuard.Enter();
            Native.PortOut32(ConfigAddress, AddressOf(address, offset));
            byte value = Native.PortIn8((ushort)(ConfigData + (offset & 3)));
            InterruptGuard.Exit(flags);
            return value;
        }

        public void Write8(PciAddress address, ushort offset, byte value)
        {
            ulong flags = InterruptGuard.Enter();
            Native.PortOut32(ConfigAddress, AddressOf(address, offset));
            Native.PortOut8((ushort)(ConfigData + (offset & 3)), value);
            InterruptGuard.Exit(flags);
        }
    }
}
