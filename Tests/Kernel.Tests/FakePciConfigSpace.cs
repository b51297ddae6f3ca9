using System.Collections.Generic;
using Platform.Pci;

namespace Kernel.Tests
{
    /// <summary>
    /// An in-memory PCI configuration space: functions with 256-byte headers and BARs that
    /// behave like hardware (writable address bits only; all-ones probing reveals the size).
    /// </summary>
    public sealed class FakePciConfigSpace : IPciConfigSpace
    {
        sealed class Function
        {
            public readonly byte[] Header = new byte[256];
            public readonly ulong[] BarSizes = new ulong[6];
        }

        readonly Dictionary<int, Function> _functions = new Dictionary<int, Function>();
        public int Reads;

        static int Key(PciAddress a) => a.Bus << 8 | a.Device << 3 | a.Function;

        public FakePciConfigSpace Add(PciAddress a, ushort vendor, ushort device, byte classCode, byte subclass, byte progIf,
                                      bool multiFunction = false, byte headerType = 0)
        {
            var f = new Function();
            Set16(f, PciConfig.VendorId, vendor);
            Set16(f, PciConfig.DeviceId, device);
            f.Header[PciConfig.ClassCode] = classCode;
            f.Header[PciConfig.Subclass] = subclass;
            f.Header[PciConfig.ProgIf] = progIf;
            f.Header[PciConfig.HeaderType] = (byte)(headerType | (multiFunction ? PciConfig.HeaderTypeMultiFunction : 0));
            _functions[Key(a)] = f;
            return this;
        }

        /// <summary>Programs a BAR: its current address (with type bits) and its size.</summary>
        public FakePciConfigSpace Bar(PciAddress a, int index, uint lowValue, ulong size, uint highValue = 0)
        {
            Function f = _functions[Key(a)];
            Set32(f, (ushort)(PciConfig.Bar0 + index * 4), lowValue);
            f.BarSizes[index] = size;
            if ((lowValue & 1) == 0 && (lowValue & PciConfig.BarMemoryTypeMask) == PciConfig.BarMemoryType64)
                Set32(f, (ushort)(PciConfig.Bar0 + index * 4 + 4), highValue);
            return this;
        }

        public ushort Command(PciAddress a) => Get16(_functions[Key(a)], PciConfig.Command);
        public uint Raw32(PciAddress a, ushort offset) => Get32(_functions[Key(a)], offset);

        public uint Read32(PciAddress a, ushort offset)
        {
            Reads++;
            return _functions.TryGetValue(Key(a), out Function f) ? Get32(f, offset) : 0xFFFFFFFF;
        }

        public ushort Read16(PciAddress a, ushort offset) => (ushort)(Read32(a, (ushort)(offset & ~3)) >> ((offset & 2) * 8));
        public byte Read8(PciAddress a, ushort offset) => (byte)(Read32(a, (ushort)(offset & ~3)) >> ((offset & 3) * 8));

        public void Write32(PciAddress a, ushort offset, uint value)
        {
            if (!_functions.TryGetValue(Key(a), out Function f)) return;
            if (offset >= PciConfig.Bar0 && offset < PciConfig.Bar0 + 24)
            {
                WriteBar(f, (offset - PciConfig.Bar0) / 4, value);
                return;
            }
            Set32(f, offset, value);
        }

        public void Write16(PciAddress a, ushort offset, ushort value)
        {
            uint old = Read32(a, (ushort)(offset & ~3));
            int shift = (offset & 2) * 8;
            Write32(a, (ushort)(offset & ~3), (old & ~(0xFFFFu << shift)) | (uint)value << shift);
        }

        public void Write8(PciAddress a, ushort offset, byte value)
        {
            uint old = Read32(a, (ushort)(offset & ~3));
            int shift = (offset & 3) * 8;
            Write32(a, (ushort)(offset & ~3), (old & ~(0xFFu << shift)) | (uint)value << shift);
        }

        void WriteBar(Function f, int index, uint value)
        {
            ushort offset = (ushort)(PciConfig.Bar0 + index * 4);
            // Upper half of a 64-bit BAR: its size bits live in BarSizes of the lower index.
            if (index > 0 && f.BarSizes[index] == 0 && f.BarSizes[index - 1] != 0 &&
                (Get32(f, (ushort)(offset - 4)) & 7) == PciConfig.BarMemoryType64)
            {
                ulong size64 = f.BarSizes[index - 1];
                uint highMask = (uint)(~(size64 - 1) >> 32);
                Set32(f, offset, value & highMask);
                return;
            }
            ulong size = f.BarSizes[index];
            if (size == 0) return; // unimplemented BAR: reads as zero
            uint current = Get32(f, offset);
            bool io = (current & 1) != 0;
            uint typeBits = io ? current & 0x3 : current & 0xF;
            uint mask = (uint)~(size - 1);
            Set32(f, offset, (value & mask & (io ? 0xFFFFFFFC : 0xFFFFFFF0)) | typeBits);
        }

        static uint Get32(Function f, ushort o) => (uint)(f.Header[o] | f.Header[o + 1] << 8 | f.Header[o + 2] << 16 | f.Header[o + 3] << 24);
        static ushort Get16(Function f, ushort o) => (ushort)(f.Header[o] | f.Header[o + 1] << 8);
        static void Set16(Function f, ushort o, ushort v) { f.Header[o] = (byte)v; f.Header[o + 1] = (byte)(v >> 8); }
        static void Set32(Function f, ushort o, uint v) { Set16(f, o, (ushort)v); Set16(f, (ushort)(o + 2), (ushort)(v >> 16)); }
    }
}
