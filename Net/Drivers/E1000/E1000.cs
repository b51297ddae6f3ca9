using System.Threading;
using Platform;

namespace Net.Drivers.E1000
{
    /// <summary>
    /// Driver for the Intel 8254x gigabit controllers (82540EM: QEMU `-device e1000`). Follows the
    /// manual's general initialization (14): reset, MAC from RAL0/RAH0 (or the EEPROM), receive and
    /// transmit rings of legacy descriptors with one 2 KiB DMA buffer per descriptor, interrupts
    /// for received packets and link changes. Frames are copied between the rings and the stack.
    /// The interrupt handler only acknowledges and wakes the stack's thread, which calls
    /// <see cref="PollReceive"/>; <see cref="Transmit"/> and <see cref="PollReceive"/> run with
    /// the stack lock held (never concurrently).
    /// </summary>
    public sealed unsafe class E1000 : INetDevice
    {
        /// <summary>Descriptors per ring: a multiple of 8 so the ring length is a multiple of 128 bytes (13.4.29/13.4.40).</summary>
        public const int RxRingSize = 64, TxRingSize = 64;
        public const int BufferSize = 2048;
        const uint RingAlignment = 128;
        /// <summary>After CTRL.RST the manual asks for 1 us before register access (14.5); QEMU is instant. Bounded poll.</summary>
        const uint ResetPollUs = 10, ResetTimeoutUs = 10_000;
        const uint EepromPollUs = 5, EepromTimeoutUs = 10_000;
        /// <summary>ITR in 256 ns units: at most ~20000 interrupts/s (Linux's default "dynamic conservative" is similar).</summary>
        const uint InterruptThrottle = 196;

        readonly IRegisterBlock _regs;
        readonly IDmaAllocator _dma;
        readonly IClock _clock;
        DmaBuffer _rxRing, _txRing, _rxBuffers, _txBuffers;
        int _rxNext;           // next descriptor software looks at
        int _txTail;           // next descriptor software fills
        int _txClean;          // oldest descriptor not yet seen done
        int _txInUse;
        readonly byte[] _frame = new byte[BufferSize];
        NetInterface _iface;

        public MacAddress Mac { get; private set; }
        public ulong Interrupts, RxErrors, RxOversize, MissedPackets, TxRingFull;

        public E1000(IRegisterBlock regs, IDmaAllocator dma, IClock clock)
        {
            _regs = regs;
            _dma = dma;
            _clock = clock;
        }

        /// <summary>Resets and programs the controller. False (with a log line) when it does not respond or DMA is short.</summary>
        public bool Initialize()
        {
            // 14.5: mask interrupts, reset, mask again (reset unmasks nothing but clears state).
            _regs.Write32(E1000Reg.Imc, E1000Int.All);
            _regs.Write32(E1000Reg.Ctrl, _regs.Read32(E1000Reg.Ctrl) | E1000Ctrl.Reset);
            uint waited = 0;
            _clock.Stall(ResetPollUs);
            while ((_regs.Read32(E1000Reg.Ctrl) & E1000Ctrl.Reset) != 0)
            {
                if (waited >= ResetTimeoutUs)
                {
                    Log.Error("e1000: reset did not complete");
                    return false;
                }
                _clock.Stall(ResetPollUs);
                waited += ResetPollUs;
            }
            _regs.Write32(E1000Reg.Imc, E1000Int.All);
            _regs.Read32(E1000Reg.Icr);

            Mac = ReadMac();
            if (Mac == MacAddress.Zero || Mac.IsMulticast)
            {
                Log.Error("e1000: no valid MAC address");
                return false;
            }
            // 14.3 link: auto speed detection, set link up; the PHY auto-negotiates (LSC interrupt when done).
            uint ctrl = _regs.Read32(E1000Reg.Ctrl);
            ctrl &= ~(E1000Ctrl.LinkReset | E1000Ctrl.PhyReset);
            _regs.Write32(E1000Reg.Ctrl, ctrl | E1000Ctrl.AutoSpeedDetect | E1000Ctrl.SetLinkUp);

            for (int i = 0; i < E1000Reg.MtaEntries; i++)
                _regs.Write32(E1000Reg.Mta + (uint)(i * 4), 0);

            _rxRing = _dma.Allocate(RxRingSize * E1000RxDesc.Size, RingAlignment, DmaLimit.Any64);
            _txRing = _dma.Allocate(TxRingSize * E1000TxDesc.Size, RingAlignment, DmaLimit.Any64);
            _rxBuffers = _dma.Allocate(RxRingSize * BufferSize, BufferSize, DmaLimit.Any64);
            _txBuffers = _dma.Allocate(TxRingSize * BufferSize, BufferSize, DmaLimit.Any64);
            if (_rxRing.IsNull || _txRing.IsNull || _rxBuffers.IsNull || _txBuffers.IsNull)
            {
                Log.Error("e1000: out of DMA memory");
                FreeDma();
                return false;
            }
            InitializeReceive();
            InitializeTransmit();
            _regs.Write32(E1000Reg.Itr, InterruptThrottle);
            _regs.Write32(E1000Reg.Rdtr, 0);
            return true;
        }

        void FreeDma()
        {
            if (!_rxRing.IsNull) _dma.Free(_rxRing);
            if (!_txRing.IsNull) _dma.Free(_txRing);
            if (!_rxBuffers.IsNull) _dma.Free(_rxBuffers);
            if (!_txBuffers.IsNull) _dma.Free(_txBuffers);
            _rxRing = _txRing = _rxBuffers = _txBuffers = default;
        }

        MacAddress ReadMac()
        {
            // QEMU and most firmware load RAL0/RAH0 from the EEPROM at reset (13.4.29); else read words 0-2.
            uint rah = _regs.Read32(E1000Reg.Rah0);
            const uint AddressValid = 1u << 31;
            if ((rah & AddressValid) != 0)
            {
                uint ral = _regs.Read32(E1000Reg.Ral0);
                ulong v = 0;
                for (int i = 0; i < 4; i++) v = (v << 8) | ((ral >> (8 * i)) & 0xFF);
                for (int i = 0; i < 2; i++) v = (v << 8) | ((rah >> (8 * i)) & 0xFF);
                var mac = new MacAddress(v);
                if (mac != MacAddress.Zero) return mac;
            }
            ulong value = 0;
            for (uint w = 0; w < 3; w++)
            {
                if (!ReadEeprom(E1000Eerd.MacWord0 + w, out ushort word)) return MacAddress.Zero;
                value = (value << 16) | (uint)((word & 0xFF) << 8) | (uint)(word >> 8); // words are little-endian byte pairs
            }
            var m = new MacAddress(value);
            // Program it so the receive filter accepts our unicast frames.
            uint lo = (uint)(m[0] | (m[1] << 8) | (m[2] << 16) | (m[3] << 24));
            _regs.Write32(E1000Reg.Ral0, lo);
            _regs.Write32(E1000Reg.Rah0, (uint)(m[4] | (m[5] << 8)) | AddressValid);
            return m;
        }

        bool ReadEeprom(uint word, out ushort data)
        {
            _regs.Write32(E1000Reg.Eerd, E1000Eerd.Start | (word << E1000Eerd.AddressShift));
            for (uint waited = 0; waited < EepromTimeoutUs; waited += EepromPollUs)
            {
                uint v = _regs.Read32(E1000Reg.Eerd);
                if ((v & E1000Eerd.Done) != 0)
                {
                    data = (ushort)(v >> E1000Eerd.DataShift);
                    return true;
                }
                _clock.Stall(EepromPollUs);
            }
            data = 0;
            return false;
        }

        void InitializeReceive()
        {
            // 14.4: ring base/length, head 0, tail at the last descriptor (all but one owned by hardware).
            for (int i = 0; i < RxRingSize; i++)
            {
                byte* d = _rxRing.Pointer + i * E1000RxDesc.Size;
                ulong address = _rxBuffers.PhysicalAt((uint)(i * BufferSize));
                Volatile.Write(ref *(uint*)(d + E1000RxDesc.AddressOffset), (uint)address);
                Volatile.Write(ref *(uint*)(d + E1000RxDesc.AddressOffset + 4), (uint)(address >> 32));
                Volatile.Write(ref *(uint*)(d + E1000RxDesc.LengthOffset), 0);
                Volatile.Write(ref *(uint*)(d + E1000RxDesc.StatusOffset), 0);
            }
            _regs.Write32(E1000Reg.Rdbal, (uint)_rxRing.Physical);
            _regs.Write32(E1000Reg.Rdbah, (uint)(_rxRing.Physical >> 32));
            _regs.Write32(E1000Reg.Rdlen, RxRingSize * E1000RxDesc.Size);
            _regs.Write32(E1000Reg.Rdh, 0);
            _regs.Write32(E1000Reg.Rdt, RxRingSize - 1);
            _rxNext = 0;
            _regs.Write32(E1000Reg.Rctl, E1000Rctl.Enable | E1000Rctl.BroadcastAccept | E1000Rctl.BufferSize2048 |
                                         E1000Rctl.StripCrc | E1000Rctl.MinThresholdHalf);
        }

        void InitializeTransmit()
        {
            // 14.5: ring, head = tail = 0, then TCTL and TIPG.
            for (int i = 0; i < TxRingSize; i++)
            {
                byte* d = _txRing.Pointer + i * E1000TxDesc.Size;
                ulong address = _txBuffers.PhysicalAt((uint)(i * BufferSize));
                Volatile.Write(ref *(uint*)(d + E1000TxDesc.AddressOffset), (uint)address);
                Volatile.Write(ref *(uint*)(d + E1000TxDesc.AddressOffset + 4), (uint)(address >> 32));
                Volatile.Write(ref *(uint*)(d + E1000TxDesc.CommandOffset), 0);
                Volatile.Write(ref *(uint*)(d + E1000TxDesc.StatusOffset), E1000TxDesc.StatusDone);
            }
            _regs.Write32(E1000Reg.Tdbal, (uint)_txRing.Physical);
            _regs.Write32(E1000Reg.Tdbah, (uint)(_txRing.Physical >> 32));
            _regs.Write32(E1000Reg.Tdlen, TxRingSize * E1000TxDesc.Size);
            _regs.Write32(E1000Reg.Tdh, 0);
            _regs.Write32(E1000Reg.Tdt, 0);
            _txTail = _txClean = _txInUse = 0;
            _regs.Write32(E1000Reg.Tctl, E1000Tctl.Enable | E1000Tctl.PadShortPackets |
                                         (E1000Tctl.CollisionThreshold << E1000Tctl.CollisionThresholdShift) |
                                         (E1000Tctl.CollisionDistanceFullDuplex << E1000Tctl.CollisionDistanceShift) |
                                         E1000Tctl.ReTransmitOnLateCollision);
            _regs.Write32(E1000Reg.Tipg, E1000Tctl.TipgCopper);
        }

        /// <summary>Connects the driver to its interface and unmasks interrupts.</summary>
        public void Attach(NetInterface iface)
        {
            _iface = iface;
            _regs.Write32(E1000Reg.Ims, E1000Int.Enabled);
        }

        /// <summary>Interrupt handler: reads (and so clears) ICR; wakes the stack. False when the cause is not ours (shared line).</summary>
        public bool HandleInterrupt()
        {
            uint cause = _regs.Read32(E1000Reg.Icr);
            if (cause == 0) return false;
            Interrupts++;
            NetInterface iface = _iface;
            if (iface != null) iface.RequestPoll();
            return true;
        }

        public bool LinkUp => (_regs.Read32(E1000Reg.Status) & E1000Status.LinkUp) != 0;

        public bool Transmit(byte[] frame, int length)
        {
            if (length <= 0 || length > BufferSize || length > frame.Length) return false;
            ReclaimTransmitted();
            if (_txInUse >= TxRingSize - 1)
            {
                TxRingFull++;
                return false;
            }
            int i = _txTail;
            byte* d = _txRing.Pointer + i * E1000TxDesc.Size;
            byte* buffer = _txBuffers.Pointer + i * BufferSize;
            for (int b = 0; b < length; b++) buffer[b] = frame[b];
            uint command = E1000TxDesc.CommandEndOfPacket | E1000TxDesc.CommandInsertFcs | E1000TxDesc.CommandReportStatus;
            Volatile.Write(ref *(uint*)(d + E1000TxDesc.StatusOffset), 0);
            Volatile.Write(ref *(uint*)(d + E1000TxDesc.CommandOffset), (uint)length | (command << E1000TxDesc.CommandShift));
            _txTail = (i + 1) % TxRingSize;
            _txInUse++;
            _regs.Write32(E1000Reg.Tdt, (uint)_txTail);
            return true;
        }

        /// <summary>Counts descriptors the hardware finished (DD written back, 3.3.3.2).</summary>
        void ReclaimTransmitted()
        {
            while (_txInUse > 0)
            {
                byte* d = _txRing.Pointer + _txClean * E1000TxDesc.Size;
                if ((Volatile.Read(ref *(uint*)(d + E1000TxDesc.StatusOffset)) & E1000TxDesc.StatusDone) == 0) break;
                _txClean = (_txClean + 1) % TxRingSize;
                _txInUse--;
            }
        }

        public int PollReceive(NetInterface iface, int budget)
        {
            int delivered = 0;
            while (delivered < budget)
            {
                byte* d = _rxRing.Pointer + _rxNext * E1000RxDesc.Size;
                uint status = Volatile.Read(ref *(uint*)(d + E1000RxDesc.StatusOffset));
                if ((status & E1000RxDesc.StatusDone) == 0) break;
                int length = (int)(Volatile.Read(ref *(uint*)(d + E1000RxDesc.LengthOffset)) & 0xFFFF);
                uint errors = (status >> E1000RxDesc.ErrorsShift) & 0xFF;
                if ((errors & E1000RxDesc.ErrorsFrame) != 0 || (status & E1000RxDesc.StatusEndOfPacket) == 0 ||
                    length <= 0 || length > BufferSize)
                {
                    // Bad frame, or one spanning descriptors (cannot happen below 2 KiB without LPE): drop it.
                    if (length > BufferSize || (status & E1000RxDesc.StatusEndOfPacket) == 0) RxOversize++;
                    RxErrors++;
                    iface.Counters.RxErrors++;
                }
                else
                {
                    byte* buffer = _rxBuffers.Pointer + _rxNext * BufferSize;
                    for (int b = 0; b < length; b++) _frame[b] = buffer[b];
                    iface.Input(_frame, length);
                    delivered++;
                }
                // Give the descriptor back: clear status, move the tail onto it (3.2.6).
                Volatile.Write(ref *(uint*)(d + E1000RxDesc.StatusOffset), 0);
                _regs.Write32(E1000Reg.Rdt, (uint)_rxNext);
                _rxNext = (_rxNext + 1) % RxRingSize;
            }
            ulong missed = _regs.Read32(E1000Reg.Mpc);
            if (missed != 0)
            {
                MissedPackets += missed;
                iface.Counters.RxDropped += missed;
            }
            return delivered;
        }
    }
}
