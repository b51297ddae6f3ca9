using Platform;

namespace Kernel.Hal
{
    /// <summary>An I/O port range as a register block (one IN/OUT instruction per call).</summary>
    internal sealed class PortRegisterBlock : IRegisterBlock
    {
        readonly ushort _base;
        public PortRegisterBlock(ushort basePort) { _base = basePort; }
        public byte Read8(uint offset) => Native.PortIn8((ushort)(_base + offset));
        public ushort Read16(uint offset) => Native.PortIn16((ushort)(_base + offset));
        public uint Read32(uint offset) => Native.PortIn32((ushort)(_base + offset));
        public ulong Read64(uint offset) => Read32(offset) | (ulong)Read32(offset + 4) << 32;
        public void Write8(uint offset, byte value) => Native.PortOut8((ushort)(_base + offset), value);
        public void Write16(uint offset, ushort value) => Native.PortOut16((ushort)(_base + offset), value);
        public void Write32(uint offset, uint value) => Native.PortOut32((ushort)(_base + offset), value);
        public void Write64(uint offset, ulong value)
        {
            Write32(offset, (uint)value);
            Write32(offset + 4, (uint)(value >> 32));
        }
    }

    /// <summary>A memory-mapped register range (mapped uncached); one access of the stated width per call.</summary>
    internal sealed class MmioRegisterBlock : IRegisterBlock
    {
        readonly ulong _base;
        public MmioRegisterBlock(ulong baseAddress) { _base = baseAddress; }
        public ulong Base => _base;
        public byte Read8(uint offset) => Native.MmioRead8(_base + offset);
        public ushort Read16(uint offset) => Native.MmioRead16(_base + offset);
        public uint Read32(uint offset) => Native.MmioRead32(_base + offset);
        public ulong Read64(uint offset) => Native.MmioRead64(_base + offset);
        public void Write8(uint offset, byte value) => Native.MmioWrite8(_base + offset, value);
        public void Write16(uint offset, ushort value) => Native.MmioWrite16(_base + offset, value);
        public void Write32(uint offset, uint value) => Native.MmioWrite32(_base + offset, value);
        public void Write64(uint offset, ulong value) => Native.MmioWrite64(_base + offset, value);
    }

    /// <summary>Disables interrupts for a scope: <c>ulong flags = InterruptGuard.Enter(); ... InterruptGuard.Exit(flags);</c></summary>
    internal static class InterruptGuard
    {
        public static ulong Enter() => Native.SaveFlagsAndDisableInterrupts();
        public static void Exit(ulong flags) => Native.RestoreFlags(flags);
    }
}
