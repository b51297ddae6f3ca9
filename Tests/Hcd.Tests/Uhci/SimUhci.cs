using System;
using System.Collections.Generic;
using Drivers.Usb.Hcd.Uhci;
using Platform;
using Tests.Support;

namespace Hcd.Tests.Uhci
{
    /// <summary>What a simulated function answers to one token.</summary>
    public enum SimHandshake { Ack, Nak, Stall, Timeout }

    /// <summary>A simulated full-speed USB function behind a UHCI root port.</summary>
    public interface ISimFunction
    {
        int Address { get; set; }
        /// <summary>Runs one transaction; for IN fills <paramref name="data"/> and returns its length in <paramref name="length"/>.</summary>
        SimHandshake Transaction(byte pid, int endpoint, bool toggle, byte[] data, ref int length);
        void BusReset();
    }

    /// <summary>
    /// A UHCI register block (UHCI 1.1, 2.1) that executes the schedule like the hardware: each
    /// <see cref="RunFrame"/> walks the frame list entry for FRNUM, queue heads and TDs
    /// (depth first where Vf says so), calls the simulated functions, writes TD status back
    /// and raises USBSTS bits. Port behaviour follows QEMU's hcd-uhci.
    /// </summary>
    public sealed unsafe class SimUhci : IRegisterBlock
    {
        readonly TrackingDma _dma;
        public ushort Cmd, Sts, Intr, FrNum;
        public uint FrBase;
        public byte SofMod;
        public readonly ushort[] Port = new ushort[2];
        public readonly ISimFunction[] Functions = new ISimFunction[2];
        public int Frames, TransactionsRun;
        public readonly List<bool> TogglesSeen = new List<bool>();
        public readonly object Gate = new object();
        /// <summary>Isochronous transactions run: the frame number and the data (OUT).</summary>
        public readonly List<(ushort Frame, byte[] Data)> IsoRun = new List<(ushort, byte[])>();
        /// <summary>Frames to let pass without running the schedule (a controller that lost bus time).</summary>
        public int SkipFrames;

        public SimUhci(TrackingDma dma) { _dma = dma; Sts = UsbSts.HCHalted; }

        public void Connect(int port, ISimFunction f)
        {
            lock (Gate)
            {
                Functions[port - 1] = f;
                Port[port - 1] |= (ushort)(PortSc.CCS | PortSc.CSC);
            }
        }

        public void Disconnect(int port)
        {
            lock (Gate)
            {
                Functions[port - 1] = null;
                ushort v = (ushort)(Port[port - 1] & ~PortSc.CCS);
                if ((v & PortSc.PE) != 0) v = (ushort)((v & ~PortSc.PE) | PortSc.PEC);
                Port[port - 1] = (ushort)(v | PortSc.CSC);
            }
        }

        public byte Read8(uint offset) => offset == UhciRegisters.SOFMOD ? SofMod : (byte)0;
        public ushort Read16(uint offset)
        {
            lock (Gate)
            {
                switch (offset)
                {
                    case UhciRegisters.USBCMD: return Cmd;
                    case UhciRegisters.USBSTS: return Sts;
                    case UhciRegisters.USBINTR: return Intr;
                    case UhciRegisters.FRNUM: return FrNum;
                    case UhciRegisters.PORTSC1: return (ushort)(Port[0] | PortSc.Reserved1);
                    case UhciRegisters.PORTSC2: return (ushort)(Port[1] | PortSc.Reserved1);
                    default: return 0;
                }
            }
        }
        public uint Read32(uint offset) => offset == UhciRegisters.FRBASEADD ? FrBase : 0;
        public ulong Read64(uint offset) => throw new InvalidOperationException("UHCI has no 64-bit registers");
        public void Write8(uint offset, byte value) { if (offset == UhciRegisters.SOFMOD) SofMod = value; }
        public void Write32(uint offset, uint value) { if (offset == UhciRegisters.FRBASEADD) FrBase = value & 0xFFFFF000; }
        public void Write64(uint offset, ulong value) => throw new InvalidOperationException("UHCI has no 64-bit registers");

        public void Write16(uint offset, ushort value)
        {
            lock (Gate)
            {
                switch (offset)
                {
                    case UhciRegisters.USBCMD:
                        if ((value & UsbCmd.HCRESET) != 0)
                        {
                            Cmd = 0; Sts = UsbSts.HCHalted; Intr = 0; FrNum = 0; FrBase = 0;
                            Port[0] = (ushort)(Port[0] & PortSc.CCS); Port[1] = (ushort)(Port[1] & PortSc.CCS);
                            return;
                        }
                        Cmd = value;
                        if ((value & UsbCmd.RS) != 0) Sts &= unchecked((ushort)~UsbSts.HCHalted);
                        else Sts |= UsbSts.HCHalted;
                        return;
                    case UhciRegisters.USBSTS: Sts &= (ushort)~(value & (UsbSts.AllClearable & ~UsbSts.HCHalted)); return;
                    case UhciRegisters.USBINTR: Intr = value; return;
                    case UhciRegisters.FRNUM: FrNum = (ushort)(value & UhciFrame.FrameNumberMask); return;
                    case UhciRegisters.PORTSC1: WritePort(0, value); return;
                    case UhciRegisters.PORTSC2: WritePort(1, value); return;
                }
            }
        }

        void WritePort(int i, ushort value)
        {
            if ((value & PortSc.WriteZero) != 0)
                throw new InvalidOperationException("reserved PORTSC bits written as 1");
            ushort v = Port[i];
            if ((value & PortSc.PR) != 0 && (v & PortSc.PR) == 0 && Functions[i] != null)
                Functions[i].BusReset();
            ushort readOnly = PortSc.CCS | PortSc.CSC | PortSc.PEC | PortSc.LSDA;
            v &= readOnly;
            if ((v & PortSc.CCS) == 0) value = (ushort)(value & ~PortSc.PE);
            v |= (ushort)(value & ~readOnly & (PortSc.PE | PortSc.RD | PortSc.PR | PortSc.SUSP));
            v &= (ushort)~(value & (PortSc.CSC | PortSc.PEC));
            Port[i] = v;
        }

        /// <summary>One 1 ms frame. Returns true when the controller wants to interrupt.</summary>
        public bool RunFrame()
        {
            lock (Gate)
            {
                if ((Cmd & UsbCmd.RS) == 0)
                    return false;
                Frames++;
                if (SkipFrames > 0)
                {
                    SkipFrames--;
                    FrNum = (ushort)((FrNum + 1) & UhciFrame.FrameNumberMask);
                    return false;
                }
                uint link = *(uint*)_dma.At(FrBase + (uint)(FrNum & UhciFrame.FrameIndexMask) * 4);
                for (int guard = 0; guard < 1000 && !UhciLink.IsTerminate(link); guard++)
                {
                    if ((link & UhciLink.QueueHead) == 0)
                    {
                        // 3.4: isochronous TDs hang in the horizontal list, before the queue heads.
                        uint* iso = (uint*)_dma.At(UhciLink.Address(link));
                        if ((iso[1] & UhciTd.Isochronous) == 0)
                            throw new InvalidOperationException("non-isochronous TD directly in the horizontal list");
                        RunIsoTd(iso);
                        link = iso[0];
                        continue;
                    }
                    uint* qh = (uint*)_dma.At(UhciLink.Address(link));
                    RunQueue(qh);
                    link = qh[0];
                }
                FrNum = (ushort)((FrNum + 1) & UhciFrame.FrameNumberMask);
                bool interrupt = (Sts & (UsbSts.USBINT | UsbSts.USBERRINT)) != 0;
                return interrupt && Intr != 0;
            }
        }

        /// <summary>An isochronous TD (3.2.2): run once, whatever the outcome; no handshake, no retry.</summary>
        void RunIsoTd(uint* td)
        {
            uint cs = td[1];
            if (!UhciTd.IsActive(cs))
                return;
            uint token = td[2];
            int max = UhciTd.MaxLength(token);
            var data = new byte[max];
            if (UhciTd.Pid(token) == UhciTd.PidOut)
                for (int i = 0; i < max; i++) data[i] = _dma.At(td[3])[i];
            IsoRun.Add((FrNum, data));
            TransactionsRun++;
            td[1] = (cs & ~(UhciTd.StatusActive | UhciTd.ActualLengthMask)) | UhciTd.EncodeLength(max);
            if ((cs & UhciTd.InterruptOnComplete) != 0) Sts |= UsbSts.USBINT;
        }

        void RunQueue(uint* qh)
        {
            for (int guard = 0; guard < 64; guard++)
            {
                uint element = qh[1];
                if (UhciLink.IsTerminate(element))
                    return;
                uint* td = (uint*)_dma.At(UhciLink.Address(element));
                uint cs = td[1];
                if (!UhciTd.IsActive(cs))
                    return;
                uint token = td[2];
                byte pid = UhciTd.Pid(token);
                int max = UhciTd.MaxLength(token);
                var f = FunctionAt(UhciTd.DeviceAddress(token));
                byte[] data = new byte[Math.Max(max, 1)];
                int length = max;
                if (pid != UhciTd.PidIn)
                    for (int i = 0; i < max; i++) data[i] = _dma.At(td[3])[i];
                TransactionsRun++;
                if (UhciTd.Endpoint(token) != 0) TogglesSeen.Add(UhciTd.Toggle(token));
                SimHandshake h = f == null ? SimHandshake.Timeout : f.Transaction(pid, UhciTd.Endpoint(token), UhciTd.Toggle(token), data, ref length);
                switch (h)
                {
                    case SimHandshake.Nak:
                        td[1] = cs | UhciTd.StatusNak;
                        return;
                    case SimHandshake.Stall:
                        td[1] = (cs & ~UhciTd.StatusActive) | UhciTd.StatusStalled;
                        Sts |= UsbSts.USBERRINT;
                        return;
                    case SimHandshake.Timeout:
                        td[1] = (cs & ~(UhciTd.StatusActive | UhciTd.ErrorCounterMask)) | UhciTd.StatusCrcTimeout | UhciTd.StatusStalled;
                        Sts |= UsbSts.USBERRINT;
                        return;
                }
                if (pid == UhciTd.PidIn)
                {
                    if (length > max) { td[1] = (cs & ~UhciTd.StatusActive) | UhciTd.StatusBabble | UhciTd.StatusStalled; Sts |= UsbSts.USBERRINT; return; }
                    for (int i = 0; i < length; i++) _dma.At(td[3])[i] = data[i];
                }
                else length = max;
                td[1] = (cs & ~(UhciTd.StatusActive | UhciTd.ActualLengthMask)) | UhciTd.EncodeLength(length);
                if ((cs & UhciTd.InterruptOnComplete) != 0) Sts |= UsbSts.USBINT;
                if (pid == UhciTd.PidIn && length < max && (cs & UhciTd.ShortPacketDetect) != 0)
                {
                    Sts |= UsbSts.USBINT;
                    return; // 3.2.2 SPD: the queue head is not advanced
                }
                qh[1] = td[0];
                if ((td[0] & UhciLink.DepthFirst) == 0)
                    return;
            }
        }

        ISimFunction FunctionAt(int address)
        {
            for (int i = 0; i < 2; i++)
                if (Functions[i] != null && (Port[i] & PortSc.PE) != 0 && Functions[i].Address == address)
                    return Functions[i];
            return null;
        }
    }

    /// <summary>
    /// A vendor-specific full-speed function: 8-byte endpoint 0, bulk IN endpoint 1 that sends
    /// <see cref="BulkPayload"/> bytes then a short packet, endpoint 2 that stalls.
    /// </summary>
    public sealed class SimFunction : ISimFunction
    {
        public int Address { get; set; }
        public int BulkPayload = 150;
        public int BulkMaxPacket = 64;
        int _pendingAddress = -1;
        byte[] _reply = new byte[0];
        int _replyOffset;
        int _bulkOffset;
        public int SetupCount;
        /// <summary>The configuration descriptor it reports (the bulk one by default).</summary>
        public byte[] Config = ConfigDescriptor;

        public void BusReset() { Address = 0; _pendingAddress = -1; }

        static readonly byte[] DeviceDescriptor =
            { 18, 1, 0x10, 0x01, 0, 0, 0, 8, 0x34, 0x12, 0x78, 0x56, 0x00, 0x01, 0, 0, 0, 1 };
        static readonly byte[] ConfigDescriptor =
        {
            9, 2, 32, 0, 1, 1, 0, 0x80, 50,
            9, 4, 0, 0, 2, 0xFF, 0, 0, 0,
            7, 5, 0x81, 2, 64, 0, 0,
            7, 5, 0x82, 2, 64, 0, 0,
        };

        public SimHandshake Transaction(byte pid, int endpoint, bool toggle, byte[] data, ref int length)
        {
            if (endpoint == 2)
                return SimHandshake.Stall;
            if (endpoint == 1)
            {
                if (pid != UhciTd.PidIn) return SimHandshake.Stall;
                int n = Math.Min(BulkMaxPacket, BulkPayload - _bulkOffset);
                for (int i = 0; i < n; i++) data[i] = (byte)(_bulkOffset + i);
                _bulkOffset += n;
                if (n < BulkMaxPacket) _bulkOffset = 0;
                length = n;
                return SimHandshake.Ack;
            }
            if (pid == UhciTd.PidSetup)
            {
                SetupCount++;
                byte type = data[0], request = data[1];
                int value = data[2] | data[3] << 8, wLength = data[6] | data[7] << 8;
                _replyOffset = 0;
                _reply = new byte[0];
                if (request == 6 && (value >> 8) == 1) _reply = DeviceDescriptor;
                else if (request == 6 && (value >> 8) == 2) _reply = Config;
                else if (request == 11 && type == 1) { } // SET_INTERFACE
                else if (request == 5) _pendingAddress = value;
                else if (request == 9 && type == 0) { }
                else { _reply = null; }
                if (_reply != null && _reply.Length > wLength) _reply = _reply[..wLength];
                return SimHandshake.Ack;
            }
            if (_reply == null)
                return SimHandshake.Stall;
            if (pid == UhciTd.PidIn)
            {
                int n = Math.Min(length, _reply.Length - _replyOffset);
                Array.Copy(_reply, _replyOffset, data, 0, n);
                _replyOffset += n;
                length = n;
                if (n == 0 && _pendingAddress >= 0) { Address = _pendingAddress; _pendingAddress = -1; }
                return SimHandshake.Ack;
            }
            // OUT: status stage of a no-data request.
            if (_pendingAddress >= 0) { Address = _pendingAddress; _pendingAddress = -1; }
            return SimHandshake.Ack;
        }
    }
}
