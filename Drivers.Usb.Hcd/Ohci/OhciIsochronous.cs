using System.Collections.Generic;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Hcd.Ohci
{
    /// <summary>
    /// Isochronous transfers on OHCI (OpenHCI 1.0a 4.3.2, 5.2.7.1.3, 6.4.4.1 / 6.4.4.2; Linux
    /// ohci-q.c): an isochronous endpoint is an ED with F = 1 hung at the end of the 1 ms list of
    /// the interrupt tree, so every frame visits it after all interrupt EDs (3.3.2: "isochronous EDs
    /// are at the end of the periodic list"). Its TD queue holds isochronous TDs (ITDs) in frame
    /// order, each covering up to eight consecutive frames; the controller only looks at the head
    /// ITD: too early, the ED is passed over; in one of its frames, that frame's packet runs; its
    /// last frame gone, it retires to the done queue (with CC DataOverrun when the controller came
    /// too late for any of its frames). Completion therefore comes through the same done queue as
    /// general TDs; cancel uses the same sKip-and-wait unlink.
    /// </summary>
    public sealed unsafe partial class OhciController
    {
        /// <summary>Frames between HcFmNumber and the first frame a new ITD may start in (the controller may be past the ED already in this frame).</summary>
        public const int IsoMinLeadFrames = 4;
        /// <summary>
        /// Frames ahead a request may reach. The controller compares frames as a signed 16-bit
        /// difference (4.3.2.3.1), so anything below 32768 works; 1024 frames (1 s) is ample for
        /// streaming and is the window UHCI's frame list gives.
        /// </summary>
        public const int IsoWindowFrames = 1024;
        /// <summary>Delay interrupt for the last ITD of a request with NoInterrupt: the done queue is still written back within 6 frames (Linux td_fill).</summary>
        public const uint IsoLazyDelayInterrupt = 6;
        /// <summary>Bytes the controller can address (32-bit BP0/BE).</summary>
        const ulong AddressLimit = 0x1_0000_0000UL;

        /// <summary>Periodic microseconds booked in frame <paramref name="frame"/> mod 32 (tests, diagnostics; Linux ohci-&gt;load[]).</summary>
        public int FrameLoadUs(int frame)
        {
            lock (_lock)
                return _tree.Load(frame);
        }

        /// <summary>ITDs linked on isochronous EDs (tests and leak checks).</summary>
        public int IsoTdsQueued
        {
            get
            {
                int n = 0;
                lock (_lock)
                    for (int i = 0; i < _chains.Length; i++)
                        for (int j = 0; j < _chains[i].Count; j++)
                        {
                            Ep ep = _chains[i][j];
                            if (ep.Type != TransferType.Isochronous)
                                continue;
                            for (int k = 0; k < ep.Queue.Count; k++)
                                n += ep.Queue[k].Tds.Count;
                        }
                return n;
            }
        }

        /// <summary>One ITD to build: its packets (consecutive in the request and in memory) and first frame.</summary>
        struct ItdPlan
        {
            public int FirstPacket, Packets;
            public uint FirstByte, EndByte;
            public int Frame;
        }

        /// <summary>
        /// Groups the packets from <paramref name="skip"/> on into ITDs: with an interval of one
        /// frame, up to eight packets that follow each other in memory and stay within two pages;
        /// otherwise one packet per ITD (an ITD's frames are consecutive).
        /// </summary>
        static List<ItdPlan> PlanItds(UsbRequest request, UsbIsoStream stream, int skip, int interval)
        {
            var plans = new List<ItdPlan>();
            ulong buffer = request.Buffer.Physical;
            int count = request.NumberOfPackets;
            int p = skip;
            while (p < count)
            {
                UsbIsoPacket first = request.IsoPackets[p];
                ulong start = buffer + (ulong)first.Offset;
                ulong end = start + (ulong)first.Length;
                int n = 1;
                if (interval == 1)
                {
                    while (n < OhciItd.MaxPackets && p + n < count)
                    {
                        UsbIsoPacket next = request.IsoPackets[p + n];
                        ulong at = buffer + (ulong)next.Offset;
                        ulong nextEnd = at + (ulong)next.Length;
                        if (at != end || !OhciItd.FitsTwoPages(start, nextEnd))
                            break;
                        end = nextEnd;
                        n++;
                    }
                }
                plans.Add(new ItdPlan
                {
                    FirstPacket = p,
                    Packets = n,
                    FirstByte = (uint)start,
                    EndByte = (uint)end,
                    Frame = (int)stream.SlotOf(request, p, interval),
                });
                p += n;
            }
            return plans;
        }

        /// <summary>Writes one ITD (4.3.2.1): SF/DI/FC/CC, BP0, BE, the offsets; NextTD is written by the caller.</summary>
        static void WriteItd(DmaBuffer mem, UsbRequest request, ItdPlan plan, uint delayInterrupt)
        {
            OhciMemory.Write(mem, OhciItd.Control, OhciItd.Encode(plan.Frame, plan.Packets, delayInterrupt));
            OhciMemory.Write(mem, OhciItd.BufferPage0, plan.FirstByte & OhciItd.PageMask);
            // The last packet ends at BE (inclusive): a zero-length last packet makes BE the byte before it.
            OhciMemory.Write(mem, OhciItd.BufferEnd, plan.EndByte - 1);
            uint buffer = (uint)request.Buffer.Physical;
            // Offset[2k] is the low half of dword 4 + k, Offset[2k + 1] the high half (little endian).
            for (int pair = 0; pair < OhciItd.MaxPackets / 2; pair++)
            {
                uint low = OhciItd.Offset(PacketAddress(request, plan, 2 * pair, buffer), plan.FirstByte);
                uint high = OhciItd.Offset(PacketAddress(request, plan, 2 * pair + 1, buffer), plan.FirstByte);
                OhciMemory.Write(mem, OhciItd.OffsetPsw + (uint)pair * 4, low | (high << OhciItd.HalfwordShift));
            }
        }

        /// <summary>Start address of packet <paramref name="index"/> of the ITD; unused slots repeat the end (the controller never reads past FC).</summary>
        static uint PacketAddress(UsbRequest request, ItdPlan plan, int index, uint buffer) =>
            index < plan.Packets ? buffer + (uint)request.IsoPackets[plan.FirstPacket + index].Offset : plan.EndByte;

        /// <summary>Offset/PSW halfword <paramref name="index"/> of an ITD.</summary>
        static ushort ReadPsw(DmaBuffer mem, int index)
        {
            uint pair = OhciMemory.Read(mem, OhciItd.OffsetPsw + (uint)(index / 2) * 4);
            return (ushort)((index & 1) == 0 ? pair & OhciItd.HalfwordMask : pair >> OhciItd.HalfwordShift);
        }

        /// <summary>Queues an isochronous request as ITDs behind the ED's dummy (caller holds the lock).</summary>
        UsbStatus SubmitIso(UsbRequest request, Ep ep)
        {
            if (request.Length > 0 && request.Buffer.Physical + (ulong)request.Length > AddressLimit)
                return UsbStatus.InvalidArgument;
            // An idle ED starts afresh (Linux ohci: ASAP on an idle ED begins a few frames from now).
            if (ep.Queue.Count == 0)
                ep.IsoStream.Reset();
            // Packets go only into the frames of the ED's branch, where its bandwidth is booked.
            int period = OhciInterruptTree.IntervalOfLevel(ep.Level);
            bool wasRunning = ep.IsoStream.Running;
            uint previousEnd = ep.IsoStream.NextFrame;
            int interval = request.Interval;
            uint now = CurrentFrame();
            UsbStatus scheduled = IsoPhase.Schedule(ep.IsoStream, request, now, period, ep.Slot, out int skip);
            if (scheduled != UsbStatus.Ok)
                return scheduled;
            // The controller only ever looks at the head ITD, so requests must follow each other in time.
            if (wasRunning && ep.Queue.Count > 0 && ep.IsoStream.Delta(ep.IsoStream.SlotOf(request, skip, interval), previousEnd) < 0)
            {
                ep.IsoStream.NextFrame = previousEnd;
                return UsbStatus.InvalidArgument;
            }
            List<ItdPlan> plans = PlanItds(request, ep.IsoStream, skip, interval);
            var r = new Req { Request = request, Endpoint = ep };
            request.HcdPrivate = r;
            if (plans.Count == 0)
            {
                // Every packet was too late (an ASAP restart never gets here): nothing for the hardware.
                _giveBack.Finish(_bus, r, UsbStatus.Ok);
                return UsbStatus.Ok;
            }
            var tds = new Td[plans.Count + 1];
            tds[0] = ep.Dummy;
            for (int i = 1; i <= plans.Count; i++)
            {
                tds[i] = NewTd(OhciItd.Size, OhciItd.Alignment);
                if (tds[i] == null)
                {
                    for (int j = 1; j < i; j++)
                        FreeTd(tds[j]);
                    request.HcdPrivate = null;
                    return UsbStatus.NoMemory;
                }
            }
            for (int i = 0; i < plans.Count; i++)
            {
                Td td = tds[i];
                bool last = i == plans.Count - 1;
                uint delay = !last ? OhciTd.NoInterrupt : request.HasFlag(UsbRequestFlags.NoInterrupt) ? IsoLazyDelayInterrupt : 0;
                WriteItd(td.Mem, request, plans[i], delay);
                OhciMemory.Write(td.Mem, OhciItd.NextTD, tds[i + 1].Physical);
                td.Request = r;
                td.IsIso = true;
                td.FirstPacket = plans[i].FirstPacket;
                td.PacketCount = plans[i].Packets;
                r.Tds.Add(td);
                _tds[td.Physical] = td;
            }
            Td dummy = tds[plans.Count];
            OhciMemory.Write(dummy.Mem, OhciItd.NextTD, 0);
            ep.Dummy = dummy;
            ep.Queue.Add(r);
            // Publishing the new tail hands the ITDs to the controller (4.6).
            OhciMemory.Write(ep.Ed, OhciEd.TailP, dummy.Physical);
            return UsbStatus.Ok;
        }

        /// <summary>
        /// Per-packet results of one ITD (4.3.2.3.5). A PSW the controller wrote gives the packet's
        /// condition code and, for IN, its size; one it did not write still reads NotAccessed: with
        /// <paramref name="retired"/> (the ITD came back from the controller) that packet's frame
        /// went by unserved (-EXDEV), otherwise (cancel) it stays for the core to mark.
        /// </summary>
        void EvaluateItd(Td td, bool retired)
        {
            UsbRequest request = td.Request.Request;
            for (int i = 0; i < td.PacketCount; i++)
            {
                ushort word = ReadPsw(td.Mem, i);
                ref UsbIsoPacket packet = ref request.IsoPackets[td.FirstPacket + i];
                if (OhciItd.PswNotAccessed(word))
                    IsoPacketResults.NotRun(ref packet, retired);
                else
                    IsoPacketResults.Ran(ref packet, OhciItd.PacketStatus(OhciItd.PswConditionCode(word), request.DirectionIn),
                                         request.DirectionIn, OhciItd.PswSize(word));
            }
        }

        /// <summary>An ITD came through the done queue: record its packets; the request is done with its last ITD.</summary>
        void RetireIso(Td td)
        {
            Req r = td.Request;
            if (!r.Finished)
                EvaluateItd(td, true);
            r.Tds.Remove(td);
            FreeTd(td);
            if (r.Finished)
                return; // cancelled earlier; the ITD was already retired by the controller
            if (r.Tds.Count == 0)
                Complete(r, UsbStatus.Ok);
        }

        /// <summary>Before a cancelled or shut-down request goes back: the packets its retired ITDs already report.</summary>
        void EvaluateRemainingItds(Req r)
        {
            for (int i = 0; i < r.Tds.Count; i++)
                if (r.Tds[i].IsIso && !r.Tds[i].Mem.IsNull)
                    EvaluateItd(r.Tds[i], false);
        }
    }
}
