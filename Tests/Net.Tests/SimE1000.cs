using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Net.Drivers.E1000;
using Platform;
using Tests.Support;

namespace Net.Tests
{
    /// <summary>
    /// An 82540EM register block that behaves like the hardware (and QEMU's e1000.c) for what the
    /// driver uses: CTRL.RST self-clears, RAL0/RAH0 hold the MAC, ICR clears on read, a TDT write
    /// transmits descriptors up to it (DD written back), <see cref="Deliver"/> fills the next
    /// receive descriptor the driver gave the hardware and raises RXT0.
    /// </summary>
    public sealed unsafe class SimE1000 : IRegisterBlock
    {
        readonly ArenaDma _dma;
        readonly Dictionary<uint, uint> _r = new Dictionary<uint, uint>();
        public readonly List<byte[]> Transmitted = new List<byte[]>();
        public bool Link = true;
        public int ResetCount;
        public uint MissedPackets;
        public bool ResetStuck;

        public SimE1000(ArenaDma dma, ulong mac)
        {
            _dma = dma;
            _r[E1000Reg.Ral0] = (uint)((mac >> 40) & 0xFF) | (uint)((mac >> 32) & 0xFF) << 8 | (uint)((mac >> 24) & 0xFF) << 16 | (uint)((mac >> 16) & 0xFF) << 24;
            _r[E1000Reg.Rah0] = (uint)((mac >> 8) & 0xFF) | (uint)(mac & 0xFF) << 8 | 1u << 31;
        }

        public uint Reg(uint offset) => _r.TryGetValue(offset, out uint v) ? v : 0;

        public uint Read32(uint offset)
        {
            switch (offset)
            {
                case E1000Reg.Status: return Link ? E1000Status.LinkUp | E1000Status.FullDuplex : 0;
                case E1000Reg.Icr: { uint v = Reg(E1000Reg.Icr); _r[E1000Reg.Icr] = 0; return v; }
                case E1000Reg.Mpc: { uint v = MissedPackets; MissedPackets = 0; return v; }
                case E1000Reg.Ims: return Reg(E1000Reg.Ims);
            }
            return Reg(offset);
        }

        public void Write32(uint offset, uint value)
        {
            switch (offset)
            {
                case E1000Reg.Ctrl:
                    if ((value & E1000Ctrl.Reset) != 0)
                    {
                        ResetCount++;
                        uint ral = Reg(E1000Reg.Ral0), rah = Reg(E1000Reg.Rah0);
                        _r.Clear();
                        _r[E1000Reg.Ral0] = ral;
                        _r[E1000Reg.Rah0] = rah;
                        if (ResetStuck) _r[E1000Reg.Ctrl] = value;
                        return;
                    }
                    _r[offset] = value;
                    return;
                case E1000Reg.Ims: _r[E1000Reg.Ims] = Reg(E1000Reg.Ims) | value; return;
                case E1000Reg.Imc: _r[E1000Reg.Ims] = Reg(E1000Reg.Ims) & ~value; return;
                case E1000Reg.Tdt:
                    _r[offset] = value;
                    RunTransmit();
                    return;
            }
            _r[offset] = value;
        }

        ulong RingBase(uint lo, uint hi) => Reg(lo) | (ulong)Reg(hi) << 32;

        void RunTransmit()
        {
            if ((Reg(E1000Reg.Tctl) & E1000Tctl.Enable) == 0) return;
            uint count = Reg(E1000Reg.Tdlen) / E1000TxDesc.Size;
            ulong ring = RingBase(E1000Reg.Tdbal, E1000Reg.Tdbah);
            while (Reg(E1000Reg.Tdh) != Reg(E1000Reg.Tdt))
            {
                byte* d = _dma.At(ring + Reg(E1000Reg.Tdh) * E1000TxDesc.Size);
                ulong address = *(ulong*)d;
                uint word = *(uint*)(d + E1000TxDesc.CommandOffset);
                int length = (int)(word & 0xFFFF);
                byte cmd = (byte)(word >> E1000TxDesc.CommandShift);
                if ((cmd & E1000TxDesc.CommandEndOfPacket) == 0) throw new InvalidOperationException("multi-descriptor packets not expected");
                var frame = new byte[length];
                Marshal.Copy((IntPtr)_dma.At(address), frame, 0, length);
                Transmitted.Add(frame);
                if ((cmd & E1000TxDesc.CommandReportStatus) != 0) *(uint*)(d + E1000TxDesc.StatusOffset) |= E1000TxDesc.StatusDone;
                _r[E1000Reg.Tdh] = (Reg(E1000Reg.Tdh) + 1) % count;
            }
            Raise(E1000Int.TxDescriptorWritten);
        }

        void Raise(uint cause) => _r[E1000Reg.Icr] = Reg(E1000Reg.Icr) | cause;

        /// <summary>Interrupt line level: a cause that is unmasked.</summary>
        public bool InterruptPending => (Reg(E1000Reg.Icr) & Reg(E1000Reg.Ims)) != 0;

        /// <summary>Receives a frame the way the hardware does; false (and a missed packet) when no descriptor is free.</summary>
        public bool Deliver(byte[] frame, byte errors = 0)
        {
            if ((Reg(E1000Reg.Rctl) & E1000Rctl.Enable) == 0) return false;
            uint count = Reg(E1000Reg.Rdlen) / E1000RxDesc.Size;
            uint head = Reg(E1000Reg.Rdh);
            if (head == Reg(E1000Reg.Rdt))
            {
                MissedPackets++;
                Raise(E1000Int.RxOverrun);
                return false;
            }
            byte* d = _dma.At(RingBase(E1000Reg.Rdbal, E1000Reg.Rdbah) + head * E1000RxDesc.Size);
            ulong address = *(ulong*)d;
            Marshal.Copy(frame, 0, (IntPtr)_dma.At(address), frame.Length);
            *(uint*)(d + E1000RxDesc.LengthOffset) = (uint)frame.Length;
            *(uint*)(d + E1000RxDesc.StatusOffset) = E1000RxDesc.StatusDone | E1000RxDesc.StatusEndOfPacket | (uint)errors << E1000RxDesc.ErrorsShift;
            _r[E1000Reg.Rdh] = (head + 1) % count;
            Raise(E1000Int.RxTimer);
            return true;
        }

        public void RaiseLinkChange(bool up)
        {
            Link = up;
            Raise(E1000Int.LinkStatusChange);
        }

        public byte Read8(uint offset) => throw new InvalidOperationException("8-bit access to e1000 registers");
        public ushort Read16(uint offset) => throw new InvalidOperationException("16-bit access to e1000 registers");
        public ulong Read64(uint offset) => throw new InvalidOperationException("64-bit access to e1000 registers");
        public void Write8(uint offset, byte value) => throw new InvalidOperationException("8-bit access to e1000 registers");
        public void Write16(uint offset, ushort value) => throw new InvalidOperationException("16-bit access to e1000 registers");
        public void Write64(uint offset, ulong value) => throw new InvalidOperationException("64-bit access to e1000 registers");
    }
}
