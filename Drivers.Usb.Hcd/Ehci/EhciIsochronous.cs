using System.Collections.Generic;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Hcd.Ehci
{
    /// <summary>
    /// Isochronous transfers on EHCI (EHCI 1.0 3.3, 3.4, 4.7; Linux ehci-sched.c). Isochronous
    /// endpoints have no queue head: each frame of a request gets its own descriptor, linked at the
    /// head of that frame's frame list entry, ahead of the interrupt skeleton QHs (4.7: the
    /// periodic schedule runs isochronous descriptors before the interrupt tree).
    /// - High speed: one iTD per frame with a transaction in each microframe the stream uses
    ///   (interval in microframes), its data in up to seven pages.
    /// - Full speed behind a hub's transaction translator: one siTD per packet, with start splits
    ///   (S-mask) and, for IN, complete splits (C-mask) as Linux's sitd scheduling places them.
    /// A request is retired when the frame of its last descriptor has passed (or every descriptor
    /// is inactive): inactive transactions give length and status; one still active was never
    /// run (-EXDEV). Its descriptors leave the frame list at once and are freed two frames later.
    /// Start frames follow <see cref="UsbIsoStream"/> in microframes (high speed, FRINDEX) or
    /// frames (full speed, FRINDEX / 8).
    /// </summary>
    public sealed unsafe partial class EhciController
    {
        /// <summary>Frames between FRINDEX and the first frame a new descriptor may go in (Linux: the isochronous scheduling threshold plus slack).</summary>
        public const int IsoMinLeadFrames = 4;
        /// <summary>Frames ahead a descriptor may go: less than the frame list, so a descriptor is never met on a second lap.</summary>
        public const int IsoWindowFrames = FrameListEntries - 2 * IsoMaxLeadFrames;
        /// <summary>Largest lead an IST can ask for: 7 frames plus the one in progress (2.2.4).</summary>
        const int IsoMaxLeadFrames = (int)Ehci.HccParams.IsochronousThresholdCountMask + 1;

        /// <summary>The lead new descriptors keep: <see cref="IsoMinLeadFrames"/>, more when the controller's IST asks for it.</summary>
        int IsoLeadFrames
        {
            get
            {
                int ist = Ehci.HccParams.IsochronousThresholdLeadFrames(_hccParams);
                return ist > IsoMinLeadFrames ? ist : IsoMinLeadFrames;
            }
        }
        /// <summary>Frames a descriptor out of the frame list stays allocated (the controller may hold it for the current frame).</summary>
        const int IsoFreeDelayFrames = 2;
        /// <summary>iTD and siTD buffer pointers are 32-bit here (the extended pointers stay 0).</summary>
        const ulong AddressLimit32 = 0x1_0000_0000UL;
        /// <summary>FRINDEX / 8: the 11-bit frame counter full-speed streams count in.</summary>
        const uint FrameMask = FrIndex.Mask >> FrIndex.MicroframeBits;

        /// <summary>One iTD or siTD and the packets it carries.</summary>
        sealed class IsoDesc
        {
            public DmaBuffer Mem;
            public bool Split;
            /// <summary>Frame (11 bits) it is linked in.</summary>
            public uint Frame;
            /// <summary>siTD: the packet; iTD: the packet of each microframe, -1 when unused.</summary>
            public int Packet;
            public int[] PacketOfMicroframe;
            public bool Linked;
            public uint Link => (uint)Mem.Physical | (Split ? EhciLink.TypeSitd : EhciLink.TypeItd);
        }

        /// <summary>Controller state of an isochronous request (UsbRequest.HcdPrivate).</summary>
        sealed class IsoReq : HcdRequest
        {
            public IsoEp Endpoint;
            public readonly List<IsoDesc> Descs = new List<IsoDesc>();
        }

        /// <summary>Controller state of an isochronous endpoint (UsbEndpoint.HcdPrivate).</summary>
        sealed class IsoEp
        {
            public UsbEndpoint Endpoint;
            public UsbDevice Device;
            public bool HighSpeed;
            public UsbIsoStream Stream;
            public readonly RequestQueue<IsoReq> Queue = new RequestQueue<IsoReq>();
            /// <summary>siTD streams: the S-mask/C-mask pairs the stream may use, one per start microframe (<see cref="EhciSitd.Placements"/>); <see cref="Placement"/> holds the one booked.</summary>
            public uint[] SplitStartMasks, SplitCompleteMasks;
            public int StartUs, CompleteUs;
            public readonly PeriodicPlacement Placement = new PeriodicPlacement();
            /// <summary>High speed: ASAP streams start on a slot with slot mod AlignModulus = AlignResidue (the booked microframe and frame phase), for requests of BookedInterval.</summary>
            public int AlignModulus, AlignResidue;
            /// <summary>The endpoint's service period booked (<see cref="UsbEndpoint.IsoPeriod"/>): microframes at high speed, frames for siTD streams.</summary>
            public int BookedInterval;
            public bool Disabled;
        }

        readonly List<IsoEp> _isoEps = new List<IsoEp>();
        /// <summary>Per frame list entry: the isochronous descriptors linked there, in hardware order (null when none).</summary>
        readonly FrameListChains<IsoDesc> _isoChains = new FrameListChains<IsoDesc>(FrameListEntries);
        /// <summary>Descriptors out of the frame list, freed <see cref="IsoFreeDelayFrames"/> frames later (created in the constructor).</summary>
        readonly FrameDelayedFree _isoFree;
        /// <summary>The 11-bit frame counter (FRINDEX / 8) full-speed streams, descriptor frees and periodic unlinks count in.</summary>
        static readonly FrameCounter Frames = new FrameCounter(FrameMask);
        /// <summary>Cancelled requests out of the frame list, given back once their frame passed.</summary>
        readonly List<CancelledIso> _isoCancelled = new List<CancelledIso>();

        struct CancelledIso
        {
            public IsoReq Request;
            public uint Frame;
        }

        uint CurrentIsoFrame => (FrameNumber >> FrIndex.MicroframeBits) & FrameMask;

        /// <summary>iTDs and siTDs in the frame list (tests and leak checks).</summary>
        public int IsoDescriptorsLinked
        {
            get
            {
                lock (_lock)
                    return _isoChains.Count;
            }
        }

        /// <summary>Physical address of the periodic frame list (tests).</summary>
        public ulong FrameListPhysical => _frameList.Physical;

        UsbStatus EnableIsoEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            var ep = new IsoEp { Endpoint = endpoint, Device = device, HighSpeed = device.Speed == UsbSpeed.High };
            int maxPacket = endpoint.MaxPacketSize;
            if (ep.HighSpeed)
            {
                if (maxPacket > EhciItd.MaxPacketMask || endpoint.Descriptor.Mult < 1)
                    return UsbStatus.InvalidArgument;
                ep.Stream = new UsbIsoStream(FrIndex.Mask, IsoLeadFrames * (int)FrIndex.MicroframesPerFrame,
                                             IsoWindowFrames * (int)FrIndex.MicroframesPerFrame);
                ep.StartUs = EhciMicroframeBudget.HighSpeedUs(endpoint.IsIn, true, maxPacket * endpoint.Descriptor.Mult);
                ep.BookedInterval = endpoint.IsoPeriod;
            }
            else
            {
                // Full and low speed reach an EHCI port only behind a high-speed hub's TT.
                if (device.Speed != UsbSpeed.Full || device.TtHub == null)
                    return UsbStatus.NotSupported;
                // Linux sitd_slot_ok's rules: OUT start splits before microframe 7, IN complete
                // splits up to microframe 7 (IN packets up to 752 bytes).
                if (!EhciSitd.Placements(endpoint.IsIn, maxPacket, out ep.SplitStartMasks, out ep.SplitCompleteMasks))
                {
                    Log.Warning(_tag + "isochronous IN endpoint " + Format.Hex(endpoint.Address, 2) + ": " + Format.Decimal((ulong)maxPacket) +
                                " bytes would need complete splits in the next frame (siTD back pointer), which this driver, like mainline Linux, does not support");
                    return UsbStatus.NotSupported;
                }
                ep.Stream = new UsbIsoStream(FrameMask, IsoLeadFrames, IsoWindowFrames);
                ep.BookedInterval = endpoint.IsoPeriod;
                int split = maxPacket < EhciSitd.BytesPerMicroframe ? maxPacket : EhciSitd.BytesPerMicroframe;
                ep.StartUs = EhciMicroframeBudget.HighSpeedUs(false, true, endpoint.IsIn ? 0 : split);
                ep.CompleteUs = endpoint.IsIn ? EhciMicroframeBudget.HighSpeedUs(true, true, split) : 0;
            }
            lock (_lock)
            {
                if (!_running)
                    return UsbStatus.Shutdown;
                if (endpoint.HcdPrivate is IsoEp existing)
                {
                    existing.Device = device;
                    return UsbStatus.Ok;
                }
                if (!PlaceIso(ep))
                {
                    Log.Warning(_tag + "no microframe left for isochronous endpoint " + Format.Hex(endpoint.Address, 2));
                    return UsbStatus.NoBandwidth;
                }
                _isoEps.Add(ep);
                endpoint.HcdPrivate = ep;
            }
            return UsbStatus.Ok;
        }

        /// <summary>
        /// Books the stream in the least loaded microframes (Linux ehci-sched.c iso_stream_schedule /
        /// sitd_slot_ok, simplified): high speed with a period below a frame uses every
        /// period-th microframe from a chosen phase; from a frame up, one microframe of every
        /// period-th frame; a full-speed stream books its split masks and its TT time in every
        /// period-th frame from the least loaded phase (sitd_slot_ok steps by bw_uperiod), and its
        /// packets go only into those frames (<see cref="IsoPhase"/>). False when no placement
        /// fits. Holds the lock.
        /// </summary>
        bool PlaceIso(IsoEp ep)
        {
            PeriodicPlacement placed = ep.Placement;
            if (!ep.HighSpeed)
            {
                PeriodicBudget tt = _ttBudgets.For(ep.Device);
                int ttUs = EhciTtBudgets.FullSpeedUs(ep.Device, ep.Endpoint.IsIn, true, ep.Endpoint.MaxPacketSize);
                if (_budget.Place(placed, ep.BookedInterval, ep.SplitStartMasks, ep.SplitCompleteMasks, ep.StartUs, ep.CompleteUs, tt, ttUs))
                    return true;
                _ttBudgets.DropEmpty();
                return false;
            }
            int interval = ep.BookedInterval;
            int perFrame = (int)FrIndex.MicroframesPerFrame;
            if (interval < perFrame)
            {
                uint pattern = 0;
                for (int u = 0; u < perFrame; u += interval)
                    pattern |= 1u << u;
                if (!_budget.Place(placed, 1, pattern, 0, EhciMicroframeBudget.LastMicroframe, ep.StartUs, 0))
                    return false;
                ep.AlignModulus = interval;
                ep.AlignResidue = placed.Shift;
                return true;
            }
            if (!_budget.Place(placed, interval / perFrame, 1, 0, EhciMicroframeBudget.LastMicroframe, ep.StartUs, 0))
                return false;
            ep.AlignModulus = placed.PeriodFrames * perFrame;
            ep.AlignResidue = placed.Phase * perFrame + placed.Shift;
            return true;
        }

        /// <summary>
        /// High speed, ASAP on an idle stream: the "now" that makes the stream's first slot land on
        /// the booked microframe and frame phase (its later requests keep that phase).
        /// </summary>
        uint AlignedNow(IsoEp ep, UsbRequest request, uint now)
        {
            if (!ep.HighSpeed || ep.Stream.Running || !request.HasFlag(UsbRequestFlags.IsoAsap) ||
                request.Interval != ep.BookedInterval || ep.AlignModulus <= 1)
                return now;
            uint mask = ep.Stream.FrameMask;
            uint earliest = (now + (uint)ep.Stream.MinLead) & mask;
            int modulus = ep.AlignModulus;
            int wait = ((ep.AlignResidue - (int)(earliest % (uint)modulus)) % modulus + modulus) % modulus;
            return (now + (uint)wait) & mask;
        }

        /// <summary>A descriptor in DMA memory below 4 GiB (the high dwords of the 64-bit layout stay 0).</summary>
        IsoDesc NewIsoDesc(bool split)
        {
            DmaBuffer mem = split ? _dma.Allocate(EhciSitd.AllocationSize, EhciSitd.Alignment, DmaLimit.Below4G)
                                  : _dma.Allocate(EhciItd.AllocationSize, EhciItd.Alignment, DmaLimit.Below4G);
            if (mem.IsNull)
                return null;
            // Unused transaction slots and the extended (high) buffer pointers must read 0.
            for (uint offset = 0; offset < mem.Size; offset += 4)
                EhciMemory.Write(mem, offset, 0);
            return new IsoDesc { Mem = mem, Split = split };
        }

        UsbStatus SubmitIso(UsbRequest request, IsoEp ep)
        {
            if (request.Length > 0 && request.Buffer.Physical + (ulong)request.Length > AddressLimit32)
                return UsbStatus.InvalidArgument;
            lock (_lock)
            {
                if (!_running || ep.Disabled)
                    return UsbStatus.Shutdown;
                // An idle stream starts afresh (Linux: ASAP on an empty stream begins past the threshold).
                if (ep.Queue.Count == 0)
                    ep.Stream.Reset();
                int interval = request.Interval;
                // siTD streams stay in the frames their split and TT time is booked in.
                UsbStatus scheduled = ep.HighSpeed
                    ? ep.Stream.Schedule(request, AlignedNow(ep, request, FrameNumber & FrIndex.Mask), interval, out int skip)
                    : IsoPhase.Schedule(ep.Stream, request, CurrentIsoFrame, ep.Placement.PeriodFrames, ep.Placement.Phase, out skip);
                if (scheduled != UsbStatus.Ok)
                    return scheduled;
                var r = new IsoReq { Request = request, Endpoint = ep };
                UsbStatus built = ep.HighSpeed ? BuildItds(r, skip, interval) : BuildSitds(r, skip, interval);
                if (built != UsbStatus.Ok)
                {
                    for (int i = 0; i < r.Descs.Count; i++)
                        _dma.Free(r.Descs[i].Mem);
                    return built;
                }
                request.HcdPrivate = r;
                ep.Queue.Add(r);
                for (int i = 0; i < r.Descs.Count; i++)
                    LinkIso(r.Descs[i]);
            }
            return UsbStatus.Ok;
        }

        /// <summary>One iTD per frame the packets fall in (3.3): transactions in their microframes, pages from the data they span.</summary>
        UsbStatus BuildItds(IsoReq r, int skip, int interval)
        {
            UsbRequest request = r.Request;
            IsoEp ep = r.Endpoint;
            UsbEndpoint e = ep.Endpoint;
            uint buffer = (uint)request.Buffer.Physical;
            int count = request.NumberOfPackets;
            int p = skip;
            bool interruptLast = !request.HasFlag(UsbRequestFlags.NoInterrupt);
            while (p < count)
            {
                uint slot = ep.Stream.SlotOf(request, p, interval);
                uint frame = (slot >> FrIndex.MicroframeBits) & FrameMask;
                // The packets of this frame: p .. last.
                int last = p;
                while (last + 1 < count && ((ep.Stream.SlotOf(request, last + 1, interval) >> FrIndex.MicroframeBits) & FrameMask) == frame)
                    last++;
                uint first = buffer + (uint)request.IsoPackets[p].Offset;
                uint lowest = first, end = first;
                for (int k = p; k <= last; k++)
                {
                    uint at = buffer + (uint)request.IsoPackets[k].Offset;
                    uint atEnd = at + (uint)request.IsoPackets[k].Length;
                    if (at < lowest) lowest = at;
                    if (atEnd > end) end = atEnd;
                }
                uint firstPage = lowest & EhciItd.PageMask;
                uint lastPage = (end > lowest ? end - 1 : lowest) & EhciItd.PageMask;
                if ((lastPage - firstPage) / EhciItd.PageSize >= EhciItd.Pages)
                    return UsbStatus.InvalidArgument;
                IsoDesc d = NewIsoDesc(false);
                if (d == null)
                    return UsbStatus.NoMemory;
                d.Frame = frame;
                d.PacketOfMicroframe = new int[EhciItd.Microframes];
                for (int u = 0; u < EhciItd.Microframes; u++)
                    d.PacketOfMicroframe[u] = -1;
                r.Descs.Add(d);
                for (int page = 0; page < EhciItd.Pages; page++)
                {
                    uint address = firstPage + (uint)page * EhciItd.PageSize;
                    uint fields = page == 0 ? EhciItd.Page0Fields(ep.Device.WireAddress, e.Number)
                                : page == 1 ? EhciItd.Page1Fields(e.IsIn, e.MaxPacketSize)
                                : page == 2 ? EhciItd.Page2Fields(e.Descriptor.Mult) : 0;
                    EhciMemory.Write(d.Mem, EhciItd.BufferPointer0 + (uint)page * 4, address | fields);
                }
                for (int k = p; k <= last; k++)
                {
                    UsbIsoPacket packet = request.IsoPackets[k];
                    int microframe = (int)(ep.Stream.SlotOf(request, k, interval) & (FrIndex.MicroframesPerFrame - 1));
                    uint at = buffer + (uint)packet.Offset;
                    int page = (int)(((at & EhciItd.PageMask) - firstPage) / EhciItd.PageSize);
                    bool interrupt = interruptLast && k == count - 1;
                    EhciMemory.Write(d.Mem, EhciItd.Transaction0 + (uint)microframe * 4, EhciItd.Transaction(packet.Length, page, at, interrupt));
                    d.PacketOfMicroframe[microframe] = k;
                }
                p = last + 1;
            }
            return UsbStatus.Ok;
        }

        /// <summary>One siTD per packet (3.4), in the frame of its slot, split fields from the device's TT.</summary>
        UsbStatus BuildSitds(IsoReq r, int skip, int interval)
        {
            UsbRequest request = r.Request;
            IsoEp ep = r.Endpoint;
            UsbDevice device = ep.Device;
            uint characteristics = EhciSitd.Characteristics(ep.Endpoint.IsIn, device.TtPort, device.TtHub.WireAddress,
                                                            ep.Endpoint.Number, device.WireAddress);
            uint schedule = ep.Placement.StartMask | (ep.Placement.CompleteMask << EhciSitd.CMaskShift);
            uint buffer = (uint)request.Buffer.Physical;
            int count = request.NumberOfPackets;
            bool interruptLast = !request.HasFlag(UsbRequestFlags.NoInterrupt);
            for (int p = skip; p < count; p++)
            {
                UsbIsoPacket packet = request.IsoPackets[p];
                IsoDesc d = NewIsoDesc(true);
                if (d == null)
                    return UsbStatus.NoMemory;
                d.Frame = ep.Stream.SlotOf(request, p, interval);
                d.Packet = p;
                r.Descs.Add(d);
                uint at = buffer + (uint)packet.Offset;
                uint lastByte = packet.Length > 0 ? at + (uint)packet.Length - 1 : at;
                EhciMemory.Write(d.Mem, EhciSitd.EndpointCharacteristics, characteristics);
                EhciMemory.Write(d.Mem, EhciSitd.MicroframeSchedule, schedule);
                EhciMemory.Write(d.Mem, EhciSitd.TransferState, EhciSitd.State(packet.Length, interruptLast && p == count - 1));
                EhciMemory.Write(d.Mem, EhciSitd.BufferPointer0, at);
                uint page1 = lastByte & EhciSitd.PageMask;
                if (!ep.Endpoint.IsIn)
                    page1 |= EhciSitd.OutPosition(packet.Length);
                EhciMemory.Write(d.Mem, EhciSitd.BufferPointer1, page1);
                EhciMemory.Write(d.Mem, EhciSitd.BackPointer, EhciSitd.BackPointerTerminate);
            }
            return UsbStatus.Ok;
        }

        /// <summary>Puts the descriptor at the head of its frame's list: its link first, then the frame list entry (4.7).</summary>
        void LinkIso(IsoDesc d)
        {
            int index = (int)(d.Frame & (FrameListEntries - 1));
            uint entry = EhciMemory.Read(_frameList, (uint)index * 4);
            EhciMemory.Write(d.Mem, EhciItd.NextLink, entry);
            EhciMemory.Write(_frameList, (uint)index * 4, d.Link);
            _isoChains.LinkFirst(index, d);
            d.Linked = true;
        }

        /// <summary>Takes the descriptor out of the frame list (its predecessor skips it); the memory stays until frames passed.</summary>
        void UnlinkIso(IsoDesc d)
        {
            if (!d.Linked)
                return;
            d.Linked = false;
            int index = (int)(d.Frame & (FrameListEntries - 1));
            List<IsoDesc> chain = _isoChains.Chain(index);
            int at = chain == null ? -1 : chain.IndexOf(d);
            if (at < 0)
                return;
            uint next = EhciMemory.Read(d.Mem, EhciItd.NextLink);
            if (at == 0)
                EhciMemory.Write(_frameList, (uint)index * 4, next);
            else
                EhciMemory.Write(chain[at - 1].Mem, EhciItd.NextLink, next);
            _isoChains.RemoveAt(index, at);
        }

        void FreeIsoLater(IsoReq r)
        {
            uint frame = _running ? CurrentIsoFrame : 0;
            for (int i = 0; i < r.Descs.Count; i++)
            {
                UnlinkIso(r.Descs[i]);
                if (_running)
                    _isoFree.Add(r.Descs[i].Mem, frame);
                else
                    _dma.Free(r.Descs[i].Mem);
            }
            r.Descs.Clear();
        }

        /// <summary>Frees descriptors that left the frame list at least <see cref="IsoFreeDelayFrames"/> frames ago.</summary>
        void ProcessIsoFrees() => _isoFree.FreeDue(CurrentIsoFrame, !_running);

        /// <summary>
        /// Per-packet results (3.3.2, 3.4.3): an inactive transaction ran; an active one did not.
        /// With <paramref name="framesPassed"/> the unrun packets are CrossedFrame, otherwise they
        /// stay for the core to mark with the cancel status.
        /// </summary>
        void EvaluateIso(IsoReq r, bool framesPassed)
        {
            UsbRequest request = r.Request;
            bool directionIn = request.DirectionIn;
            for (int i = 0; i < r.Descs.Count; i++)
            {
                IsoDesc d = r.Descs[i];
                if (d.Split)
                    EvaluatePacket(request, d.Packet, EhciMemory.Read(d.Mem, EhciSitd.TransferState), true, directionIn, framesPassed);
                else
                    for (int u = 0; u < EhciItd.Microframes; u++)
                        if (d.PacketOfMicroframe[u] >= 0)
                            EvaluatePacket(request, d.PacketOfMicroframe[u], EhciMemory.Read(d.Mem, EhciItd.Transaction0 + (uint)u * 4), false, directionIn, framesPassed);
            }
        }

        static void EvaluatePacket(UsbRequest request, int index, uint word, bool split, bool directionIn, bool framesPassed)
        {
            ref UsbIsoPacket packet = ref request.IsoPackets[index];
            bool active = (word & (split ? EhciSitd.Active : EhciItd.Active)) != 0;
            if (active)
            {
                IsoPacketResults.NotRun(ref packet, framesPassed);
                return;
            }
            UsbStatus status = split ? EhciSitd.ToStatus(word, directionIn) : EhciItd.ToStatus(word, directionIn);
            // iTD: the controller writes the bytes received; siTD: Total Bytes counts down what is left.
            int received = split ? packet.Length - EhciSitd.TotalBytes(word) : EhciItd.Length(word);
            IsoPacketResults.Ran(ref packet, status, directionIn, received);
        }

        bool AllIsoInactive(IsoReq r)
        {
            for (int i = 0; i < r.Descs.Count; i++)
            {
                IsoDesc d = r.Descs[i];
                if (d.Split)
                {
                    if ((EhciMemory.Read(d.Mem, EhciSitd.TransferState) & EhciSitd.Active) != 0)
                        return false;
                    continue;
                }
                for (int u = 0; u < EhciItd.Microframes; u++)
                    if (d.PacketOfMicroframe[u] >= 0 && (EhciMemory.Read(d.Mem, EhciItd.Transaction0 + (uint)u * 4) & EhciItd.Active) != 0)
                        return false;
            }
            return true;
        }

        /// <summary>Retires isochronous requests whose last frame has passed, in order per endpoint. Holds the lock.</summary>
        void ScanIso()
        {
            if (_isoFree.Count > 0)
                ProcessIsoFrees();
            if (_isoCancelled.Count > 0)
                GiveBackCancelledIso();
            uint frame = CurrentIsoFrame;
            for (int i = 0; i < _isoEps.Count; i++)
            {
                IsoEp ep = _isoEps[i];
                while (ep.Queue.Count > 0)
                {
                    IsoReq r = ep.Queue[0];
                    uint lastFrame = r.Descs.Count > 0 ? r.Descs[r.Descs.Count - 1].Frame : frame;
                    if (!Frames.HasPassed(frame, lastFrame) && !AllIsoInactive(r))
                        break;
                    EvaluateIso(r, true);
                    FreeIsoLater(r);
                    ep.Queue.Complete(r, UsbStatus.Ok, _giveBack, _bus);
                }
            }
        }

        /// <summary>
        /// Takes a queued request out of the frame list. It goes back once the frame in progress
        /// has passed (the controller may still be moving its data in this one), from the scan.
        /// </summary>
        UsbStatus CancelIso(UsbRequest request, IsoReq r, UsbStatus status)
        {
            lock (_lock)
            {
                IsoEp ep = r.Endpoint;
                if (!ep.Queue.Contains(r))
                    return UsbStatus.NotQueued;
                UsbStatus state = HcdRequest.BeginCancel(r, request, status);
                if (state != UsbStatus.InProgress)
                    return state;
                EvaluateIso(r, false);
                ep.Queue.Remove(r);
                FreeIsoLater(r);
                if (!_running)
                    _giveBack.Finish(_bus, r, status);
                else
                    _isoCancelled.Add(new CancelledIso { Request = r, Frame = CurrentIsoFrame });
            }
            DeliverCompletions();
            return UsbStatus.Ok;
        }

        /// <summary>Gives back cancelled requests whose frame has passed. Holds the lock.</summary>
        void GiveBackCancelledIso()
        {
            uint frame = CurrentIsoFrame;
            for (int i = 0; i < _isoCancelled.Count; i++)
            {
                CancelledIso c = _isoCancelled[i];
                if (_running && Frames.Elapsed(frame, c.Frame) == 0)
                    continue;
                _isoCancelled.RemoveAt(i--);
                _giveBack.Finish(_bus, c.Request, c.Request.CancelStatus);
            }
        }

        /// <summary>
        /// Removes the endpoint: its descriptors leave the frame list; after the frame in progress
        /// has passed (bounded wait, thread context) its requests go back, Shutdown unless cancelled.
        /// </summary>
        void DisableIsoEndpoint(UsbEndpoint endpoint, IsoEp ep)
        {
            var flushed = new List<IsoReq>();
            uint frame;
            lock (_lock)
            {
                ep.Disabled = true;
                endpoint.HcdPrivate = null;
                ep.Queue.TakeAll(flushed);
                for (int i = 0; i < flushed.Count; i++)
                {
                    EvaluateIso(flushed[i], false);
                    FreeIsoLater(flushed[i]);
                }
                if (_isoEps.Remove(ep))
                {
                    _budget.Release(ep.Placement);
                    _ttBudgets.DropEmpty();
                }
                frame = CurrentIsoFrame;
            }
            ulong start = _clock.Milliseconds;
            while (_running && flushed.Count > 0 && CurrentIsoFrame == frame && _clock.Milliseconds - start < UnlinkTimeoutMs)
                _clock.Sleep(PollSleepMs);
            lock (_lock)
            {
                for (int i = 0; i < flushed.Count; i++)
                    _giveBack.Finish(_bus, flushed[i], flushed[i].CancelledOr(UsbStatus.Shutdown));
            }
            DeliverCompletions();
        }

        /// <summary>Controller stopping: every isochronous request goes back with Shutdown. Holds the lock.</summary>
        void StopIso()
        {
            for (int i = 0; i < _isoEps.Count; i++)
                _isoEps[i].Queue.CompleteAll(UsbStatus.Shutdown, false, _giveBack, _bus, FreeIsoLater);
            for (int i = 0; i < _isoCancelled.Count; i++)
                _giveBack.Finish(_bus, _isoCancelled[i].Request, _isoCancelled[i].Request.CancelStatus);
            _isoCancelled.Clear();
            _isoFree.FreeAll();
        }
    }
}
