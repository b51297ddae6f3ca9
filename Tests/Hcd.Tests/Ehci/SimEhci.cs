using System;
using System.Collections.Generic;
using Drivers.Usb.Hcd.Ehci;
using Platform;
using Tests.Support;

namespace Hcd.Tests.Ehci
{
    /// <summary>
    /// An EHCI controller that runs the isochronous part of its periodic schedule like the hardware
    /// (EHCI 1.0 4.7): each <see cref="RunMicroframe"/> advances FRINDEX (14 bits, wrapping) and
    /// walks the frame list entry of the current frame: an iTD runs the transaction of the current
    /// microframe (4.7.1), an siTD runs its full-speed packet in the first microframe of its S-mask
    /// (4.12.3, the TT's work folded into one step); the walk stops at the first QH (the interrupt
    /// tree, which this simulator does not serve). Registers are <see cref="FakeEhciRegisters"/>.
    /// Descriptors that break the spec's encoding rules throw, so the tests see them.
    /// </summary>
    public sealed unsafe class SimEhci : IRegisterBlock
    {
        readonly TrackingDma _dma;
        public readonly FakeEhciRegisters Registers;
        public readonly object Gate = new object();
        /// <summary>A packet the bus carried: frame (11 bits), microframe, endpoint, direction, data; for splits the TT's hub and port and the masks.</summary>
        public readonly List<(int Frame, int Microframe, int Endpoint, bool In, byte[] Data, bool Split, int HubAddress, int HubPort, uint SMask, uint CMask)> Run = new();
        /// <summary>Frames to let pass without running the periodic schedule.</summary>
        public int SkipFrames;
        bool _skipping;
        /// <summary>
        /// Frames stand still (FRINDEX does not move) while set: tests set up a frame number and
        /// submit without holding <see cref="Gate"/> (the driver takes its own lock, then the
        /// registers': holding Gate around a submit would invert that order).
        /// </summary>
        public volatile bool Paused;
        /// <summary>Error bits the bus adds to an iTD transaction (3.3.2) or an siTD's status (3.4.3) in a (frame, microframe).</summary>
        public Func<int, int, uint> ItdErrorBits = (frame, microframe) => 0;
        public Func<int, uint> SitdErrorBits = frame => 0;
        /// <summary>Bytes an IN endpoint sends in a transaction.</summary>
        public Func<int, int> InBytes = frame => 192;

        public SimEhci(TrackingDma dma, int ports)
        {
            _dma = dma;
            Registers = new FakeEhciRegisters(ports) { ResetReads = 1 };
        }

        public uint Read32(uint offset) { lock (Gate) return Registers.Read32(offset); }
        public void Write32(uint offset, uint value) { lock (Gate) Registers.Write32(offset, value); }
        public byte Read8(uint offset) => Registers.Read8(offset);
        public ushort Read16(uint offset) => Registers.Read16(offset);
        public ulong Read64(uint offset) => Registers.Read64(offset);
        public void Write8(uint offset, byte value) => Registers.Write8(offset, value);
        public void Write16(uint offset, ushort value) => Registers.Write16(offset, value);
        public void Write64(uint offset, ulong value) => Registers.Write64(offset, value);

        public uint FrIndexValue
        {
            get { lock (Gate) return Registers.OpReg(EhciOp.FRINDEX); }
            set { lock (Gate) Registers.OpReg(EhciOp.FRINDEX) = value & FrIndex.Mask; }
        }

        uint* At(uint physical) => (uint*)_dma.At(physical);

        /// <summary>One 125 us microframe. Returns true when the controller asserts its interrupt.</summary>
        public bool RunMicroframe()
        {
            lock (Gate)
            {
                uint cmd = Registers.OpReg(EhciOp.USBCMD);
                if ((cmd & UsbCmd.RunStop) == 0 || Paused)
                    return false;
                uint index = (Registers.OpReg(EhciOp.FRINDEX) + 1) & FrIndex.Mask;
                Registers.OpReg(EhciOp.FRINDEX) = index;
                int microframe = (int)(index & 7);
                int frame = (int)(index >> FrIndex.MicroframeBits);
                if (microframe == 0)
                {
                    _skipping = SkipFrames > 0;
                    if (_skipping) SkipFrames--;
                }
                if (!_skipping && (cmd & UsbCmd.PeriodicScheduleEnable) != 0)
                {
                    uint link = At(Registers.OpReg(EhciOp.PERIODICLISTBASE))[frame & 1023];
                    for (int guard = 0; (link & EhciLink.Terminate) == 0; guard++)
                    {
                        if (guard > 256)
                            throw new InvalidOperationException("isochronous list does not end");
                        uint type = link & (3u << EhciLink.TypeShift);
                        uint address = link & EhciLink.PointerMask;
                        if (type == EhciLink.TypeQh)
                            break;
                        if (type == EhciLink.TypeItd)
                            RunItd(At(address), frame, microframe);
                        else if (type == EhciLink.TypeSitd)
                            RunSitd(At(address), frame, microframe);
                        else
                            throw new InvalidOperationException("FSTN in the frame list");
                        link = At(address)[0];
                    }
                }
                uint status = Registers.OpReg(EhciOp.USBSTS);
                return (status & Registers.OpReg(EhciOp.USBINTR) & UsbSts.InterruptMask) != 0;
            }
        }

        /// <summary>The byte at <paramref name="offset"/> of a transaction starting at page <paramref name="page"/>: crossing a page boundary moves to the next page pointer (3.3.3).</summary>
        byte* ItdByte(uint* itd, int page, uint start, int offset)
        {
            uint linear = (start & 0xFFF) + (uint)offset;
            int p = page + (int)(linear / 4096);
            if (p >= EhciItd.Pages)
                throw new InvalidOperationException("iTD transaction runs past page 6");
            uint pointer = itd[EhciItd.BufferPointer0 / 4 + p] & EhciItd.PageMask;
            return _dma.At(pointer + (linear & 0xFFF));
        }

        void RunItd(uint* itd, int frame, int microframe)
        {
            uint word = itd[EhciItd.Transaction0 / 4 + microframe];
            if ((word & EhciItd.Active) == 0)
                return;
            uint page0 = itd[EhciItd.BufferPointer0 / 4], page1 = itd[EhciItd.BufferPointer0 / 4 + 1], page2 = itd[EhciItd.BufferPointer0 / 4 + 2];
            int maxPacket = (int)(page1 & EhciItd.MaxPacketMask);
            int mult = (int)(page2 & EhciItd.MultMask);
            if (mult == 0)
                throw new InvalidOperationException("iTD Mult 0 is undefined (3.3.3)");
            int length = EhciItd.Length(word);
            if (length > maxPacket * mult)
                throw new InvalidOperationException("iTD transaction longer than Mult x Maximum Packet Size");
            int page = (int)((word & EhciItd.PageSelectMask) >> EhciItd.PageSelectShift);
            uint offset = word & EhciItd.OffsetMask;
            bool directionIn = (page1 & EhciItd.DirectionIn) != 0;
            int endpoint = (int)((page0 & EhciItd.EndpointMask) >> EhciItd.EndpointShift);
            byte[] data;
            if (directionIn)
            {
                int n = Math.Min(InBytes(frame), length);
                data = new byte[n];
                for (int i = 0; i < n; i++)
                    *ItdByte(itd, page, offset, i) = data[i] = (byte)(frame + i);
                word = (word & ~(EhciItd.Active | EhciItd.LengthMask)) | ((uint)n << EhciItd.LengthShift);
            }
            else
            {
                data = new byte[length];
                for (int i = 0; i < length; i++)
                    data[i] = *ItdByte(itd, page, offset, i);
                word &= ~EhciItd.Active;
            }
            word |= ItdErrorBits(frame & 0x7FF, microframe) & EhciItd.ErrorBits;
            itd[EhciItd.Transaction0 / 4 + microframe] = word;
            Run.Add((frame & 0x7FF, microframe, endpoint, directionIn, data, false, 0, 0, 0, 0));
            if ((word & EhciItd.InterruptOnComplete) != 0)
                Registers.OpReg(EhciOp.USBSTS) |= UsbSts.USBINT;
        }

        void RunSitd(uint* sitd, int frame, int microframe)
        {
            uint state = sitd[EhciSitd.TransferState / 4];
            if ((state & EhciSitd.Active) == 0)
                return;
            uint schedule = sitd[EhciSitd.MicroframeSchedule / 4];
            uint sMask = schedule & EhciSitd.SMaskMask, cMask = (schedule >> EhciSitd.CMaskShift) & EhciSitd.SMaskMask;
            if (sMask == 0)
                throw new InvalidOperationException("siTD without start splits");
            int firstStart = 0;
            while ((sMask & (1u << firstStart)) == 0) firstStart++;
            if (microframe != firstStart)
                return;
            if ((sitd[EhciSitd.BackPointer / 4] & EhciSitd.BackPointerTerminate) == 0)
                throw new InvalidOperationException("siTD back pointer without T (no FSTN here)");
            uint characteristics = sitd[EhciSitd.EndpointCharacteristics / 4];
            bool directionIn = (characteristics & EhciSitd.DirectionIn) != 0;
            int hubAddress = (int)((characteristics & EhciSitd.HubAddressMask) >> EhciSitd.HubAddressShift);
            int hubPort = (int)((characteristics & EhciSitd.PortMask) >> EhciSitd.PortShift);
            int endpoint = (int)((characteristics & EhciSitd.EndpointMask) >> EhciSitd.EndpointShift);
            if (hubAddress == 0 || hubPort == 0)
                throw new InvalidOperationException("siTD without a transaction translator");
            int total = EhciSitd.TotalBytes(state);
            int splits = EhciSitd.SplitMicroframes(total);
            uint page1 = sitd[EhciSitd.BufferPointer1 / 4];
            if (directionIn)
            {
                if (cMask == 0)
                    throw new InvalidOperationException("IN siTD without complete splits");
            }
            else
            {
                if (cMask != 0)
                    throw new InvalidOperationException("OUT siTD with complete splits");
                if ((int)(page1 & EhciSitd.TransactionCountMask) != splits)
                    throw new InvalidOperationException("T-count is not the number of start splits");
                uint tp = page1 & EhciSitd.TransactionPositionMask;
                if (tp != (splits == 1 ? EhciSitd.TransactionPositionAll : EhciSitd.TransactionPositionBegin))
                    throw new InvalidOperationException("wrong transaction position");
                if (System.Numerics.BitOperations.PopCount(sMask) != splits)
                    throw new InvalidOperationException("S-mask does not hold one start split per 188 bytes");
            }
            uint start = sitd[EhciSitd.BufferPointer0 / 4];
            byte* Byte(int i)
            {
                uint linear = (start & 0xFFF) + (uint)i;
                uint page = linear < 4096 ? start & EhciSitd.PageMask : page1 & EhciSitd.PageMask;
                return _dma.At(page + (linear & 0xFFF));
            }
            byte[] data;
            if (directionIn)
            {
                int n = Math.Min(InBytes(frame), total);
                data = new byte[n];
                for (int i = 0; i < n; i++)
                    *Byte(i) = data[i] = (byte)(frame + i);
                state = (state & ~(EhciSitd.Active | EhciSitd.TotalBytesMask)) | ((uint)(total - n) << EhciSitd.TotalBytesShift);
            }
            else
            {
                data = new byte[total];
                for (int i = 0; i < total; i++)
                    data[i] = *Byte(i);
                state &= ~(EhciSitd.Active | EhciSitd.TotalBytesMask);
            }
            state |= SitdErrorBits(frame & 0x7FF);
            sitd[EhciSitd.TransferState / 4] = state;
            Run.Add((frame & 0x7FF, microframe, endpoint, directionIn, data, true, hubAddress, hubPort, sMask, cMask));
            if ((state & EhciSitd.InterruptOnComplete) != 0)
                Registers.OpReg(EhciOp.USBSTS) |= UsbSts.USBINT;
        }
    }
}
