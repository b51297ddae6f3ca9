using System;
using System.Collections.Generic;
using Drivers.Usb.Hcd.Ohci;
using Drivers.Usb.Hcd.Uhci;
using Hcd.Tests.Uhci;
using Platform;
using Tests.Support;

namespace Hcd.Tests.Ohci
{
    /// <summary>
    /// An OHCI controller that runs its schedule like the hardware (OpenHCI 1.0a chapter 6) on top
    /// of <see cref="FakeOhciRegisters"/>: each <see cref="RunFrame"/> advances HcFmNumber (16 bits,
    /// wrapping) and HccaFrameNumber, walks the periodic list of the frame (HCCA interrupt table,
    /// EDs, general TDs and isochronous TDs per 4.3.2.3), then the control and bulk lists, retires
    /// TDs to the done queue and writes HccaDoneHead back as the DelayInterrupt counter says
    /// (6.4.4.4 / 6.5.9). Functions are the UHCI simulator's (<see cref="ISimFunction"/>; PIDs in
    /// UHCI's byte form). A malformed ITD or a second visit to a written PSW throws, so the tests see it.
    /// </summary>
    public sealed unsafe class SimOhci : IRegisterBlock
    {
        readonly TrackingDma _dma;
        public readonly FakeOhciRegisters Registers;
        public readonly object Gate = new object();
        public readonly ISimFunction[] Functions;
        /// <summary>Isochronous packets the simulated bus carried: frame, endpoint, direction and data.</summary>
        public readonly List<(ushort Frame, int Endpoint, bool In, byte[] Data)> IsoRun = new();
        /// <summary>Frames to let pass without running the periodic list (the controller lost bus time).</summary>
        public int SkipFrames;
        /// <summary>
        /// Frames stand still while set: tests set up a frame number and submit without holding
        /// <see cref="Gate"/> (the driver takes its own lock, then the registers').
        /// </summary>
        public volatile bool Paused;
        /// <summary>Bytes an isochronous IN endpoint sends in a frame (a short packet when below the TD's size).</summary>
        public Func<ushort, int> IsoInBytes = frame => 192;
        public int Frames;
        uint _doneHead;
        int _doneCounter = DoneCounterIdle;
        const int DoneCounterIdle = 7;

        public SimOhci(TrackingDma dma, int ports, ushort firstFrame = 0)
        {
            _dma = dma;
            Registers = new FakeOhciRegisters(ports) { ResetReads = 1 };
            Functions = new ISimFunction[ports];
            Registers.Regs[OhciReg.HcFmNumber / 4] = firstFrame;
        }

        public ushort FrameNumber => (ushort)Registers.Regs[OhciReg.HcFmNumber / 4];

        public void Connect(int port, ISimFunction f)
        {
            lock (Gate)
            {
                Functions[port - 1] = f;
                Registers.Connect(port);
            }
        }

        public uint Read32(uint offset) { lock (Gate) return Registers.Read32(offset); }
        public void Write32(uint offset, uint value)
        {
            lock (Gate)
            {
                if (offset >= OhciReg.HcRhPortStatusBase && offset < OhciReg.HcRhPortStatus(Functions.Length + 1))
                {
                    int port = (int)(offset - OhciReg.HcRhPortStatusBase) / 4;
                    if ((value & HcRhPortStatus.SetPortReset) != 0 && port < Functions.Length && Functions[port] != null)
                        Functions[port].BusReset();
                }
                Registers.Write32(offset, value);
            }
        }
        public byte Read8(uint offset) { lock (Gate) return Registers.Read8(offset); }
        public ushort Read16(uint offset) { lock (Gate) return Registers.Read16(offset); }
        public ulong Read64(uint offset) => Registers.Read64(offset);
        public void Write8(uint offset, byte value) => Registers.Write8(offset, value);
        public void Write16(uint offset, ushort value) => Registers.Write16(offset, value);
        public void Write64(uint offset, ulong value) => Registers.Write64(offset, value);

        ref uint R(uint offset) => ref Registers.Regs[offset / 4];
        uint* At(uint physical) => (uint*)_dma.At(physical);

        /// <summary>One 1 ms frame. Returns true when the controller asserts its interrupt line.</summary>
        public bool RunFrame()
        {
            lock (Gate)
            {
                uint control = R(OhciReg.HcControl);
                if ((control & HcControl.FunctionalStateMask) != HcControl.UsbOperational || Paused)
                    return false;
                Frames++;
                ushort frame = (ushort)(FrameNumber + 1);
                R(OhciReg.HcFmNumber) = frame;
                uint hcca = R(OhciReg.HcHCCA);
                *(ushort*)_dma.At(hcca + OhciHcca.FrameNumber) = frame;
                *(ushort*)_dma.At(hcca + OhciHcca.Pad1) = 0;
                R(OhciReg.HcInterruptStatus) |= HcInterrupt.StartOfFrame;
                if (SkipFrames > 0)
                    SkipFrames--;
                else if ((control & HcControl.PeriodicListEnable) != 0)
                    RunList(At(hcca)[frame % OhciHcca.InterruptTableEntries], frame, true, (control & HcControl.IsochronousEnable) != 0);
                if ((control & HcControl.ControlListEnable) != 0)
                    RunList(R(OhciReg.HcControlHeadED), frame, false, false);
                if ((control & HcControl.BulkListEnable) != 0)
                    RunList(R(OhciReg.HcBulkHeadED), frame, false, false);
                WriteBackDoneQueue();
                uint enabled = R(OhciReg.HcInterruptEnable);
                return (enabled & HcInterrupt.MasterInterruptEnable) != 0 && (R(OhciReg.HcInterruptStatus) & enabled & HcInterrupt.AllSources) != 0;
            }
        }

        /// <summary>6.4.4.4: at the end of a frame the counter counts down; at 0, with WDH clear, HccaDoneHead is written.</summary>
        void WriteBackDoneQueue()
        {
            if (_doneHead == 0 || _doneCounter == DoneCounterIdle)
                return;
            if (_doneCounter > 0)
            {
                _doneCounter--;
                return;
            }
            if ((R(OhciReg.HcInterruptStatus) & HcInterrupt.WritebackDoneHead) != 0)
                return;
            At(R(OhciReg.HcHCCA))[OhciHcca.DoneHead / 4] = _doneHead;
            _doneHead = 0;
            _doneCounter = DoneCounterIdle;
            R(OhciReg.HcInterruptStatus) |= HcInterrupt.WritebackDoneHead;
        }

        void RunList(uint ed, ushort frame, bool periodic, bool isochronousEnabled)
        {
            for (int guard = 0; ed != 0; guard++)
            {
                if (guard > 1000)
                    throw new InvalidOperationException("ED list does not end");
                uint* e = At(ed);
                uint control = e[0];
                bool iso = (control & OhciEd.IsochronousFormat) != 0;
                if ((control & OhciEd.Skip) == 0 && (e[2] & OhciEd.Halted) == 0)
                {
                    if (iso)
                    {
                        if (!periodic)
                            throw new InvalidOperationException("isochronous ED on the control or bulk list");
                        if (isochronousEnabled)
                            RunIsochronous(e, frame);
                    }
                    else
                        RunGeneral(e, periodic ? 1 : 16);
                }
                else if (iso && !periodic)
                    throw new InvalidOperationException("isochronous ED on the control or bulk list");
                ed = e[3] & OhciEd.PointerMask;
            }
        }

        void Retire(uint* e, uint td, uint* t, uint delayInterrupt)
        {
            e[2] = (t[2] & OhciEd.PointerMask) | (e[2] & (OhciEd.ToggleCarry | OhciEd.Halted));
            t[2] = _doneHead;
            _doneHead = td;
            if (delayInterrupt < _doneCounter)
                _doneCounter = (int)delayInterrupt;
        }

        /// <summary>Isochronous TDs at the head of an F = 1 ED (4.3.2.3).</summary>
        void RunIsochronous(uint* e, ushort frame)
        {
            for (int guard = 0; guard < 64; guard++)
            {
                uint td = e[2] & OhciEd.PointerMask;
                if (td == (e[1] & OhciEd.PointerMask))
                    return;
                if (td % OhciItd.Alignment != 0)
                    throw new InvalidOperationException("ITD not 32-byte aligned");
                uint* t = At(td);
                uint control = t[0];
                int sf = OhciItd.StartingFrame(control), fc = OhciItd.FrameCount(control);
                short relative = (short)(ushort)(frame - sf);
                uint di = (control & OhciItd.DelayInterruptMask) >> OhciItd.DelayInterruptShift;
                if (relative < 0)
                    return;
                if (relative > fc)
                {
                    // Too late for all of it: DataOverrun, retire, and look at the next ITD in this frame.
                    t[0] = (control & ~OhciItd.ConditionCodeMask) | ((uint)OhciConditionCode.DataOverrun << OhciItd.ConditionCodeShift);
                    Retire(e, td, t, di);
                    continue;
                }
                ushort* offsets = (ushort*)(t + 4);
                ushort offset = offsets[relative];
                if (!OhciItd.PswNotAccessed(offset))
                    throw new InvalidOperationException("PSW " + relative + " of ITD 0x" + td.ToString("x") + " served twice");
                uint bp0 = t[1], be = t[3];
                if ((bp0 & ~OhciItd.PageMask) != 0)
                    throw new InvalidOperationException("BP0 low 12 bits not zero");
                uint start = Address(offset, bp0, be);
                uint end = relative < fc ? Address((ushort)(offsets[relative + 1] - 1), bp0, be) + 1 : be + 1;
                if (relative < fc && !OhciItd.PswNotAccessed(offsets[relative + 1]))
                    throw new InvalidOperationException("next offset already a PSW");
                if (end < start)
                    throw new InvalidOperationException("ITD packet ends before it starts");
                int size = (int)(end - start);
                int maxPacket = OhciEd.MaxPacket(e[0]);
                if (size > maxPacket)
                    throw new InvalidOperationException("ITD packet of " + size + " bytes over MPS " + maxPacket);
                int endpoint = OhciEd.EndpointNumber(e[0]);
                bool directionIn = (e[0] & OhciEd.DirectionMask) == OhciEd.DirectionIn;
                ushort psw;
                if (directionIn)
                {
                    int n = IsoInBytes(frame);
                    var data = new byte[Math.Min(n, size)];
                    for (int i = 0; i < data.Length; i++)
                    {
                        data[i] = (byte)(frame + i);
                        _dma.At(start + (uint)i)[0] = data[i];
                    }
                    IsoRun.Add((frame, endpoint, true, data));
                    int cc = n > size ? OhciConditionCode.DataOverrun : n < size ? OhciConditionCode.DataUnderrun : OhciConditionCode.NoError;
                    psw = (ushort)((cc << OhciItd.PswConditionCodeShift) | Math.Min(n, size));
                }
                else
                {
                    var data = new byte[size];
                    for (int i = 0; i < size; i++)
                        data[i] = _dma.At(start + (uint)i)[0];
                    IsoRun.Add((frame, endpoint, false, data));
                    psw = (ushort)(OhciConditionCode.NoError << OhciItd.PswConditionCodeShift);
                }
                offsets[relative] = psw;
                if (relative == fc)
                {
                    t[0] = control & ~OhciItd.ConditionCodeMask; // NoError
                    Retire(e, td, t, di);
                }
                return;
            }
        }

        /// <summary>4.3.2.3.3: bit 12 of an offset picks BE's page instead of BP0's.</summary>
        static uint Address(ushort offset, uint bp0, uint be) =>
            (((offset & OhciItd.OffsetInEndPage) != 0 ? be : bp0) & OhciItd.PageMask) | (offset & OhciItd.OffsetInPageMask);

        /// <summary>General TDs (4.3.1): each TD runs packet by packet; a NAK leaves it for the next frame.</summary>
        void RunGeneral(uint* e, int maxTds)
        {
            for (int n = 0; n < maxTds; n++)
            {
                uint td = e[2] & OhciEd.PointerMask;
                if (td == (e[1] & OhciEd.PointerMask))
                    return;
                uint* t = At(td);
                uint control = t[0];
                uint cbp = t[1], be = t[3];
                int length = cbp == 0 ? 0 : (int)(be - cbp + 1);
                if (cbp != 0 && !OhciTd.SpansAtMostTwoPages(cbp, length))
                    throw new InvalidOperationException("general TD spans more than two pages");
                int maxPacket = Math.Max(1, OhciEd.MaxPacket(e[0]));
                uint direction = e[0] & OhciEd.DirectionMask;
                uint pid = direction == OhciEd.DirectionIn ? OhciTd.PidIn : direction == OhciEd.DirectionOut ? OhciTd.PidOut : control & OhciTd.PidMask;
                byte uhciPid = pid == OhciTd.PidSetup ? UhciTd.PidSetup : pid == OhciTd.PidIn ? UhciTd.PidIn : UhciTd.PidOut;
                ISimFunction f = FunctionAt(OhciEd.FunctionAddress(e[0]));
                int done = 0;
                int cc = OhciConditionCode.NoError;
                bool toggle = (control & OhciTd.ToggleFromTd) != 0 ? (control & OhciTd.ToggleValue) != 0 : (e[2] & OhciEd.ToggleCarry) != 0;
                while (true)
                {
                    int chunk = Math.Min(maxPacket, length - done);
                    var data = new byte[Math.Max(chunk, 1)];
                    if (uhciPid != UhciTd.PidIn)
                        for (int i = 0; i < chunk; i++) data[i] = _dma.At(cbp + (uint)(done + i))[0];
                    int got = chunk;
                    SimHandshake h = f == null ? SimHandshake.Timeout : f.Transaction(uhciPid, OhciEd.EndpointNumber(e[0]), toggle, data, ref got);
                    if (h == SimHandshake.Nak)
                    {
                        if (done > 0) t[1] = cbp + (uint)done;
                        return;
                    }
                    if (h == SimHandshake.Stall) { cc = OhciConditionCode.Stall; break; }
                    if (h == SimHandshake.Timeout) { cc = OhciConditionCode.DeviceNotResponding; break; }
                    toggle = !toggle;
                    if (uhciPid == UhciTd.PidIn)
                    {
                        if (got > chunk) { cc = OhciConditionCode.DataOverrun; break; }
                        for (int i = 0; i < got; i++) _dma.At(cbp + (uint)(done + i))[0] = data[i];
                        done += got;
                        if (got < chunk || got < maxPacket)
                        {
                            if (done < length && (control & OhciTd.BufferRounding) == 0)
                                cc = OhciConditionCode.DataUnderrun;
                            break;
                        }
                    }
                    else
                        done += chunk;
                    if (done >= length)
                        break;
                }
                t[1] = done >= length || cc == OhciConditionCode.NoError ? 0 : cbp + (uint)done;
                t[0] = (control & ~(OhciTd.ConditionCodeMask | OhciTd.ToggleMask)) | ((uint)cc << OhciTd.ConditionCodeShift) |
                       OhciTd.ToggleFromTd | (toggle ? OhciTd.ToggleValue : 0);
                e[2] = toggle ? e[2] | OhciEd.ToggleCarry : e[2] & ~OhciEd.ToggleCarry;
                uint di = (control & OhciTd.DelayInterruptMask) >> OhciTd.DelayInterruptShift;
                if (cc != OhciConditionCode.NoError)
                {
                    e[2] |= OhciEd.Halted;
                    di = 0;
                }
                Retire(e, td, t, di);
                if (cc != OhciConditionCode.NoError)
                    return;
            }
        }

        ISimFunction FunctionAt(int address)
        {
            for (int i = 0; i < Functions.Length; i++)
                if (Functions[i] != null && (R(OhciReg.HcRhPortStatus(i + 1)) & HcRhPortStatus.PortEnableStatus) != 0 && Functions[i].Address == address)
                    return Functions[i];
            return null;
        }
    }
}
