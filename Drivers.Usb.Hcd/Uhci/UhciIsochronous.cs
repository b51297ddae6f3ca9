using System.Collections.Generic;
using System.Threading;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Hcd.Uhci
{
    /// <summary>
    /// Isochronous transfers on UHCI (UHCI 1.1, 3.2 and 3.4 "isochronous TDs", Linux uhci-q.c
    /// uhci_submit_isochronous): an isochronous endpoint has no queue head; each packet is one TD
    /// with IOS set, linked at the head of the frame list entry of the frame it belongs to (the
    /// controller runs the isochronous TDs of a frame before that frame's interrupt skeleton). A
    /// TD is never retried; one still Active after its frame passed was not sent (-EXDEV). A
    /// request is done when the frame of its last TD has passed; its TDs then leave the frame
    /// list, and their memory is freed a frame later.
    /// </summary>
    public sealed unsafe partial class UhciHostController
    {
        /// <summary>Frames between FRNUM and the first frame a new TD may go in (the controller may already be fetching the next one).</summary>
        public const int IsoMinLeadFrames = 4;
        /// <summary>Frames ahead a TD may be scheduled: less than the frame list, so a TD is never in the list for a second lap.</summary>
        public const int IsoWindowFrames = UhciFrame.FrameListEntries - 2 * IsoMinLeadFrames;

        /// <summary>One TD in a frame list entry's isochronous chain.</summary>
        struct IsoLink
        {
            public UhciTransfer Transfer;
            public int Index;
        }

        readonly List<UhciEndpoint> _isoEndpoints = new List<UhciEndpoint>();
        /// <summary>Per frame list entry: the isochronous TDs linked there, in chain order (null when none).</summary>
        readonly FrameListChains<IsoLink> _isoChains = new FrameListChains<IsoLink>(UhciFrame.FrameListEntries);

        /// <summary>Isochronous TDs in the frame list (tests and leak checks).</summary>
        public int IsoTdsLinked
        {
            get
            {
                lock (_lock)
                    return _isoChains.Count;
            }
        }

        /// <summary>
        /// An isochronous endpoint books its time in the least loaded phase of its period (Linux
        /// uhci_submit_isochronous with qh-&gt;phase = -1); its packets then go only into the frames
        /// of that phase (<see cref="IsoPhase"/>). Refused with NoBandwidth when every phase has a
        /// frame that would pass 900 us.
        /// </summary>
        UsbStatus EnableIsoEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            if (endpoint.MaxPacketSize > UhciTd.MaxPacketLength)
                return UsbStatus.InvalidArgument;
            var ep = new UhciEndpoint
            {
                Endpoint = endpoint,
                IsIso = true,
                IsoStream = new UsbIsoStream(UhciFrame.FrameNumberMask, IsoMinLeadFrames, IsoWindowFrames),
            };
            lock (_lock)
            {
                if (!ReserveBandwidth(ep, device, endpoint, endpoint.IsoPeriod, -1))
                    return UsbStatus.NoBandwidth;
                _isoEndpoints.Add(ep);
                endpoint.HcdPrivate = ep;
            }
            return UsbStatus.Ok;
        }

        void DisableIsoEndpoint(UhciEndpoint ep)
        {
            uint frame;
            lock (_lock)
            {
                ep.Disabled = true;
                frame = _running ? FrameNumber : 0;
                for (int i = 0; i < ep.Queue.Count; i++)
                    UnlinkIso(ep.Queue[i]);
            }
            // The controller may be inside this frame's chain: let it pass before the TDs go.
            WaitForFrameAfter(frame);
            lock (_lock)
            {
                ep.Queue.CompleteAll(UsbStatus.Shutdown, true, _giveBack, _bus, t =>
                {
                    EvaluateIso(t, false);
                    FreeNow(t);
                });
                _isoEndpoints.Remove(ep);
                ep.Endpoint.HcdPrivate = null;
                _load.Release(ep.Bandwidth);
            }
            _giveBack.Deliver();
        }

        UsbStatus SubmitIso(UsbRequest request, UhciEndpoint ep)
        {
            if (request.Length > 0 && request.Buffer.Physical + (ulong)request.Length > AddressLimit)
                return UsbStatus.InvalidArgument;
            int packets = request.NumberOfPackets;
            lock (_lock)
            {
                if (ep.Disabled)
                    return UsbStatus.Shutdown;
                uint now = _running ? FrameNumber : 0;
                int interval = request.Interval;
                // Packets go only into the frames of the booked phase.
                UsbStatus scheduled = IsoPhase.Schedule(ep.IsoStream, request, now, ep.Bandwidth.PeriodFrames, ep.Bandwidth.Phase, out int skip);
                if (scheduled != UsbStatus.Ok)
                    return scheduled;
                int count = packets - skip;
                DmaBuffer tds = AllocateBelow4G((uint)count * UhciTd.Size);
                if (tds.IsNull)
                    return UsbStatus.NoMemory;
                var t = new UhciTransfer
                {
                    Request = request,
                    Endpoint = ep,
                    Tds = tds,
                    TdCount = count,
                    IsIso = true,
                    TdFrame = new uint[count],
                    TdPacket = new int[count],
                };
                byte pid = request.DirectionIn ? UhciTd.PidIn : UhciTd.PidOut;
                int address = request.Device.WireAddress;
                int endpoint = request.Endpoint.Number;
                for (int k = 0; k < count; k++)
                {
                    int p = skip + k;
                    UsbIsoPacket packet = request.IsoPackets[p];
                    t.TdPacket[k] = p;
                    t.TdFrame[k] = ep.IsoStream.SlotOf(request, p, interval);
                    uint* td = (uint*)((byte*)tds.Virtual + k * (int)UhciTd.Size);
                    td[UhciTd.TokenOffset / 4] = UhciTd.Token(pid, address, endpoint, false, packet.Length);
                    td[UhciTd.BufferOffset / 4] = packet.Length > 0 ? (uint)(request.Buffer.Physical + (ulong)packet.Offset) : 0;
                    // IOC on the last packet only, unless the driver asked for no interrupt at all.
                    bool ioc = k == count - 1 && !request.HasFlag(UsbRequestFlags.NoInterrupt);
                    td[UhciTd.ControlStatusOffset / 4] = UhciTd.IsochronousControlStatus(ioc);
                }
                request.HcdPrivate = t;
                ep.Queue.Add(t);
                LinkIso(t);
            }
            return UsbStatus.Ok;
        }

        /// <summary>Puts each TD at the head of its frame's chain: its link first, then the frame list entry (3.1).</summary>
        void LinkIso(UhciTransfer t)
        {
            uint* frames = (uint*)_frameList.Virtual;
            for (int k = 0; k < t.TdCount; k++)
            {
                int index = (int)(t.TdFrame[k] & UhciFrame.FrameIndexMask);
                uint* td = (uint*)((byte*)t.Tds.Virtual + k * (int)UhciTd.Size);
                Volatile.Write(ref td[UhciTd.LinkOffset / 4], Volatile.Read(ref frames[index]));
                Volatile.Write(ref frames[index], UhciLink.ToTransferDescriptor(t.TdPhysical(k), false));
                _isoChains.LinkFirst(index, new IsoLink { Transfer = t, Index = k });
            }
            t.IsoLinked = true;
        }

        /// <summary>Takes every TD of the transfer out of the frame list (its predecessor skips it). The memory stays until a frame passed.</summary>
        void UnlinkIso(UhciTransfer t)
        {
            if (!t.IsoLinked)
                return;
            uint* frames = (uint*)_frameList.Virtual;
            for (int k = 0; k < t.TdCount; k++)
            {
                int index = (int)(t.TdFrame[k] & UhciFrame.FrameIndexMask);
                List<IsoLink> chain = _isoChains.Chain(index);
                if (chain == null)
                    continue;
                int at = -1;
                for (int j = 0; j < chain.Count; j++)
                    if (chain[j].Transfer == t && chain[j].Index == k)
                        at = j;
                if (at < 0)
                    continue;
                uint next = Volatile.Read(ref *(uint*)((byte*)t.Tds.Virtual + k * (int)UhciTd.Size + UhciTd.LinkOffset));
                if (at == 0)
                    Volatile.Write(ref frames[index], next);
                else
                {
                    IsoLink pred = chain[at - 1];
                    Volatile.Write(ref *(uint*)((byte*)pred.Transfer.Tds.Virtual + pred.Index * (int)UhciTd.Size + UhciTd.LinkOffset), next);
                }
                _isoChains.RemoveAt(index, at);
            }
            t.IsoLinked = false;
        }

        /// <summary>
        /// Per-packet results from the TDs (3.2.2): an inactive TD ran (ActLen, error bits); an
        /// active one did not. With <paramref name="framesPassed"/> the unsent packets are marked
        /// CrossedFrame, otherwise they stay for the core to mark with the cancel status.
        /// </summary>
        void EvaluateIso(UhciTransfer t, bool framesPassed)
        {
            UsbRequest r = t.Request;
            bool directionOut = !r.DirectionIn;
            for (int k = 0; k < t.TdCount; k++)
            {
                uint cs = Volatile.Read(ref *(uint*)((byte*)t.Tds.Virtual + k * (int)UhciTd.Size + UhciTd.ControlStatusOffset));
                ref UsbIsoPacket packet = ref r.IsoPackets[t.TdPacket[k]];
                if (UhciTd.IsActive(cs))
                    IsoPacketResults.NotRun(ref packet, framesPassed);
                else
                    IsoPacketResults.Ran(ref packet, UhciTd.MapStatus(cs, directionOut), UhciTd.ActualLength(cs));
            }
        }

        /// <summary>Retires isochronous requests whose last frame has passed, in order per endpoint.</summary>
        void ScanIso(uint frame, bool halted)
        {
            for (int i = 0; i < _isoEndpoints.Count; i++)
            {
                UhciEndpoint ep = _isoEndpoints[i];
                while (ep.Queue.Count > 0)
                {
                    UhciTransfer t = ep.Queue[0];
                    uint last = t.TdFrame[t.TdCount - 1];
                    if (!halted && ep.IsoStream.Delta(frame, last) <= 0 && !AllInactive(t))
                        break;
                    UnlinkIso(t);
                    EvaluateIso(t, true);
                    t.Actual = 0;
                    FreeLater(t.Tds, frame);
                    t.Tds = default;
                    ep.Queue.Complete(t, UsbStatus.Ok, _giveBack, _bus);
                }
            }
        }

        bool AllInactive(UhciTransfer t)
        {
            for (int k = 0; k < t.TdCount; k++)
                if (UhciTd.IsActive(Volatile.Read(ref *(uint*)((byte*)t.Tds.Virtual + k * (int)UhciTd.Size + UhciTd.ControlStatusOffset))))
                    return false;
            return true;
        }

        UsbStatus CancelIso(UsbRequest request, UhciEndpoint ep, UsbStatus status)
        {
            lock (_lock)
            {
                UhciTransfer t = request.HcdPrivate as UhciTransfer;
                if (t == null || !ep.Queue.Contains(t))
                    return UsbStatus.NotQueued;
                UsbStatus state = HcdRequest.BeginCancel(t, request, status);
                if (state != UsbStatus.InProgress)
                    return state;
                UnlinkIso(t);
                EvaluateIso(t, false);
                // The controller may be reading a TD of the current frame: free a frame later.
                FreeLater(t.Tds, _running ? FrameNumber : 0);
                t.Tds = default;
                t.Actual = 0;
                ep.Queue.Complete(t, status, _giveBack, _bus);
            }
            if (_wake != null)
                _wake.Signal();
            return UsbStatus.Ok;
        }

        /// <summary>Controller stopping: every isochronous request goes back with Shutdown.</summary>
        void StopIso()
        {
            for (int i = 0; i < _isoEndpoints.Count; i++)
                _isoEndpoints[i].Queue.CompleteAll(UsbStatus.Shutdown, false, _giveBack, _bus, t =>
                {
                    UnlinkIso(t);
                    DropUnsent(t);
                });
        }
    }
}
