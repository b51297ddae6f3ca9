using System;
using System.Collections.Generic;
using System.Threading;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Hcd.Uhci
{
    /// <summary>
    /// A UHCI host controller (UHCI Design Guide 1.1; Linux uhci-hcd, Haiku uhci.cpp): the frame
    /// list and skeleton queue heads in DMA memory, one queue head per endpoint, TDs per request,
    /// completion from the interrupt handler with a bounded polling fallback thread, and the root
    /// hub emulation of <see cref="UhciRootHub"/>.
    /// </summary>
    public sealed unsafe partial class UhciHostController : IHostController
    {
        /// <summary>Polling fallback: the worker scans the schedule this often in case an interrupt is lost (ms).</summary>
        public const uint ScanPeriodMs = 10;
        /// <summary>While an unlinked queue head waits for the next frame, the worker looks every millisecond.</summary>
        public const uint UnlinkPollMs = 1;
        /// <summary>
        /// Root ports are polled this often (UHCI has no port-change interrupt) (ms): two register
        /// reads on every pass of the worker, so a plug or an unplug is noticed within 10 ms, 5 ms on
        /// average, of the 200 ms a hot-plugged device may take to be bound (Linux polls every 250 ms).
        /// </summary>
        public const uint PortPollMs = ScanPeriodMs;
        /// <summary>Global reset is driven at least 10 ms (2.1.1 GRESET; Linux uses 50 ms).</summary>
        public const uint GlobalResetMs = 50;
        /// <summary>Bound for HCRESET to self-clear and for Run/Stop to take effect (ms).</summary>
        public const uint ResetTimeoutMs = 50;
        /// <summary>
        /// Bound for one frame to pass when a queue head is taken out of the schedule (ms): 1 ms on
        /// a real controller, with a margin for an emulated one whose host is busy.
        /// </summary>
        public const uint FrameWaitTimeoutMs = 200;
        /// <summary>
        /// Frames a TD out of the schedule stays allocated: the controller may have fetched its link
        /// in the frame it left in (3.4), and is past it once FRNUM moved on.
        /// </summary>
        const int TdFreeDelayFrames = 1;
        /// <summary>Bound for the worker thread to stop (ms).</summary>
        public const uint StopTimeoutMs = 1000;
        /// <summary>Frames of the load table's cycle (Linux MAX_PHASE): longer periods are booked as 32 frames.</summary>
        public const int MaxPhase = 32;
        const long NsPerUs = 1000;
        /// <summary>UHCI can only address the low 4 GiB (32-bit pointers everywhere, 3.1-3.3).</summary>
        const ulong AddressLimit = 1UL << 32;

        readonly IRegisterBlock _regs;
        readonly IClock _clock;
        readonly IThreading _threading;
        readonly IDmaAllocator _dma;
        readonly string _busId;
        readonly string _logPrefix;
        readonly UhciRootHub _rootHub;
        readonly object _lock = new object();

        UsbBus _bus;
        DmaBuffer _frameList;
        DmaBuffer _skeletons;
        readonly List<UhciEndpoint>[] _skeletonLists = new List<UhciEndpoint>[UhciSchedule.SkeletonCount];
        readonly List<UhciEndpoint> _endpoints = new List<UhciEndpoint>();
        /// <summary>
        /// Periodic microseconds booked in each frame of a 32-frame cycle (Linux uhci-q.c uhci-&gt;load[MAX_PHASE]),
        /// at most 900 us per frame (USB 1.1: 90% of a frame): interrupt QHs and isochronous streams.
        /// </summary>
        readonly PeriodicBudget _load = new PeriodicBudget(MaxPhase, 1, UsbBandwidth.FullSpeedBudgetUs);
        /// <summary>TDs out of the schedule, freed once the frame they left in has passed.</summary>
        readonly FrameDelayedFree _delayedFree;
        /// <summary>
        /// Finished requests on their way back to the core, delivered after the lock is released.
        /// Requests cancelled before they reached the hardware wait here for the worker's next scan.
        /// </summary>
        readonly GiveBackQueue _giveBack = new GiveBackQueue();
        IEvent _wake;
        volatile bool _stopping;
        volatile bool _workerExited;
        volatile bool _dead;
        volatile bool _portsDirty;
        bool _running;
        /// <summary>Counters for the shell and tests.</summary>
        public int Interrupts, Scans;

        public UhciHostController(IRegisterBlock regs, IClock clock, IThreading threading, IDmaAllocator dma, string busId)
        {
            _regs = regs;
            _clock = clock;
            _threading = threading;
            _dma = dma;
            _busId = busId;
            _logPrefix = "uhci_hcd " + busId + ": ";
            _rootHub = new UhciRootHub(regs, clock);
            _delayedFree = new FrameDelayedFree(dma, UhciFrame.FrameNumberMask, TdFreeDelayFrames);
            for (int i = 0; i < _skeletonLists.Length; i++)
                _skeletonLists[i] = new List<UhciEndpoint>();
        }

        public string DriverName => "uhci_hcd";
        public string HcdDescription => "uhci_hcd";
        public string Description => "UHCI Host Controller";
        public string BusId => _busId;
        public UsbSpeed RootHubSpeed => UsbSpeed.Full;
        public int RootPortCount => UhciRegisters.PortCount;
        public bool AssignsAddresses => false;
        public bool RootHubHasTt => false;
        public uint FrameNumber => (uint)(_regs.Read16(UhciRegisters.FRNUM) & UhciFrame.FrameNumberMask);
        public UhciRootHub RootHub => _rootHub;
        public bool IsDead => _dead;

        // ---- Bring-up -------------------------------------------------------------------------

        /// <summary>
        /// Takes the controller from the firmware: stop it, global reset, HCRESET (Linux
        /// uhci_reset_hc), every wait bounded. The caller has already cleared USBLEGSUP.
        /// Returns false when the controller does not come out of reset.
        /// </summary>
        public bool Reset()
        {
            _regs.Write16(UhciRegisters.USBINTR, 0);
            _regs.Write16(UhciRegisters.USBCMD, 0);
            WaitFor(UhciRegisters.USBSTS, UsbSts.HCHalted, UsbSts.HCHalted, ResetTimeoutMs);
            _regs.Write16(UhciRegisters.USBCMD, UsbCmd.GRESET);
            _clock.Sleep(GlobalResetMs);
            _regs.Write16(UhciRegisters.USBCMD, 0);
            _regs.Write16(UhciRegisters.USBCMD, UsbCmd.HCRESET);
            bool ok = WaitFor(UhciRegisters.USBCMD, UsbCmd.HCRESET, 0, ResetTimeoutMs);
            if (!ok)
                Log.Warning(_logPrefix + "HCRESET not completed yet");
            _regs.Write16(UhciRegisters.USBINTR, 0);
            _regs.Write16(UhciRegisters.USBCMD, 0);
            _regs.Write16(UhciRegisters.USBSTS, UsbSts.AllClearable);
            return ok;
        }

        bool WaitFor(uint register, ushort mask, ushort value, uint timeoutMs)
        {
            ulong start = _clock.Milliseconds;
            while (true)
            {
                ushort v = _regs.Read16(register);
                if (v != 0xFFFF && (v & mask) == value)
                    return true;
                if (_clock.Milliseconds - start >= timeoutMs)
                    return false;
                _clock.Stall(100);
            }
        }

        /// <summary>Allocates the frame list and the skeleton (3.1, 3.4). Returns false when DMA memory is short.</summary>
        public bool AllocateSchedule()
        {
            _frameList = _dma.Allocate(UhciFrame.FrameListBytes, UhciFrame.FrameListAlignment, DmaLimit.Below4G);
            _skeletons = _dma.Allocate(UhciQh.Size * UhciSchedule.SkeletonCount, UhciLink.Alignment, DmaLimit.Below4G);
            if (_frameList.IsNull || _skeletons.IsNull || !Below4G(_frameList) || !Below4G(_skeletons))
            {
                FreeSchedule();
                return false;
            }
            for (int s = 0; s < UhciSchedule.SkeletonCount; s++)
            {
                int next = UhciSchedule.NextSkeleton(s);
                WriteQh(SkeletonPointer(s), UhciQh.LinkOffset, next < 0 ? UhciLink.Terminate : UhciLink.ToQueueHead(SkeletonPhysical(next)));
                WriteQh(SkeletonPointer(s), UhciQh.ElementOffset, UhciLink.Terminate);
            }
            uint* frames = (uint*)_frameList.Virtual;
            for (int i = 0; i < UhciFrame.FrameListEntries; i++)
                frames[i] = UhciLink.ToQueueHead(SkeletonPhysical(UhciSchedule.LevelForFrame(i)));
            return true;
        }

        void FreeSchedule()
        {
            if (!_frameList.IsNull) _dma.Free(_frameList);
            if (!_skeletons.IsNull) _dma.Free(_skeletons);
            _frameList = default;
            _skeletons = default;
        }

        static bool Below4G(DmaBuffer b) => b.Physical + b.Size <= AddressLimit;

        /// <summary>DMA memory the controller can address (below 4 GiB), or a null buffer.</summary>
        DmaBuffer AllocateBelow4G(uint size)
        {
            DmaBuffer b = _dma.Allocate(size, UhciLink.Alignment, DmaLimit.Below4G);
            if (b.IsNull || Below4G(b))
                return b;
            _dma.Free(b);
            return default(DmaBuffer);
        }

        byte* SkeletonPointer(int s) => (byte*)_skeletons.Virtual + s * (int)UhciQh.Size;
        uint SkeletonPhysical(int s) => (uint)_skeletons.Physical + (uint)s * UhciQh.Size;

        static void WriteQh(byte* qh, int offset, uint value) => Volatile.Write(ref *(uint*)(qh + offset), value);
        static uint ReadQh(byte* qh, int offset) => Volatile.Read(ref *(uint*)(qh + offset));

        /// <summary>Physical address of the frame list (for tests and the log).</summary>
        public ulong FrameListPhysical => _frameList.Physical;
        public ulong SkeletonsPhysical => _skeletons.Physical;

        public void Start(UsbBus bus)
        {
            _bus = bus;
            _wake = _threading.CreateEvent(true);
            _regs.Write32(UhciRegisters.FRBASEADD, (uint)_frameList.Physical);
            _regs.Write16(UhciRegisters.FRNUM, 0);
            _regs.Write8(UhciRegisters.SOFMOD, UhciFrame.SofModDefault);
            _regs.Write16(UhciRegisters.USBSTS, UsbSts.AllClearable);
            _regs.Write16(UhciRegisters.USBINTR, UsbIntr.All);
            _regs.Write16(UhciRegisters.USBCMD, UsbCmd.RS | UsbCmd.CF | UsbCmd.MAXP);
            if (!WaitFor(UhciRegisters.USBSTS, UsbSts.HCHalted, 0, ResetTimeoutMs))
                Log.Error(_logPrefix + "controller did not start");
            _running = true;
            _watchdog = new InterruptWatchdog(_clock, _logPrefix);
            if (_threading.StartThread("uhci " + _busId, Worker) == 0)
            {
                _workerExited = true;
                Log.Error(_logPrefix + "no worker thread: completions depend on interrupts only");
            }
        }

        public void Stop()
        {
            _stopping = true;
            if (_wake != null)
                _wake.Signal();
            ulong start = _clock.Milliseconds;
            while (!_workerExited && _clock.Milliseconds - start < StopTimeoutMs)
                _clock.Sleep(1);
            _regs.Write16(UhciRegisters.USBINTR, 0);
            _regs.Write16(UhciRegisters.USBCMD, 0);
            WaitFor(UhciRegisters.USBSTS, UsbSts.HCHalted, UsbSts.HCHalted, ResetTimeoutMs);
            _running = false;
            lock (_lock)
            {
                for (int i = 0; i < _endpoints.Count; i++)
                    _endpoints[i].Queue.CompleteAll(UsbStatus.Shutdown, false, _giveBack, _bus, DropUnsent);
                StopIso();
            }
            _giveBack.Deliver();
        }

        // ---- Interrupts and the worker ----------------------------------------------------------

        /// <summary>
        /// The PCI interrupt handler: returns false when USBSTS shows nothing of ours (the line is
        /// shared). Acknowledges the status bits and completes finished requests.
        /// </summary>
        public bool HandleInterrupt()
        {
            InterruptWatchdog watchdog = _watchdog;
            if (watchdog != null)
                watchdog.HandlerCalled();
            ushort status = _regs.Read16(UhciRegisters.USBSTS);
            if (status == 0xFFFF || (status & UsbSts.InterruptSources) == 0)
                return false;
            _regs.Write16(UhciRegisters.USBSTS, (ushort)(status & UsbSts.AllClearable));
            Interrupts++;
            if ((status & (UsbSts.HSE | UsbSts.HCPE)) != 0 && !_dead)
            {
                _dead = true;
                Log.Error(_logPrefix + ((status & UsbSts.HSE) != 0 ? "host system error" : "host controller process error") +
                          ", USBSTS 0x" + Format.Hex(status, 4));
            }
            if ((status & UsbSts.RD) != 0)
                _portsDirty = true;
            ScanAndGiveBack();
            if (_portsDirty && _wake != null)
                _wake.Signal();
            return true;
        }

        void Worker()
        {
            ulong lastPortPoll = 0;
            Span<byte> bitmap = stackalloc byte[1];
            while (!_stopping)
            {
                bool unlinking;
                lock (_lock)
                    unlinking = AnyUnlinking() || _delayedFree.Count > 0;
                _wake.Wait(unlinking || !InterruptAttached ? UnlinkPollMs : ScanPeriodMs);
                if (_stopping)
                    break;
                CheckInterruptLine();
                ScanAndGiveBack();
                ulong now = _clock.Milliseconds;
                if (_portsDirty || now - lastPortPoll >= PortPollMs)
                {
                    _portsDirty = false;
                    lastPortPoll = now;
                    if (_rootHub.StatusData(bitmap) > 0 && _bus != null)
                        _bus.RootHubStatusChanged();
                }
            }
            _workerExited = true;
        }

        /// <summary>Set by the PCI driver when the interrupt is attached; cleared when the line turns out dead.</summary>
        public bool InterruptAttached;
        /// <summary>Gives the interrupt line up when it never delivers (set when the controller starts).</summary>
        InterruptWatchdog _watchdog;
        public bool InterruptLineDead => _watchdog != null && _watchdog.LineDead;

        /// <summary>
        /// Status pending in USBSTS with no interrupt for too long: the line is wrong or missing, so the
        /// worker scans every millisecond from then on (the handler acknowledges USBSTS; the worker does not).
        /// </summary>
        public void CheckInterruptLine()
        {
            if (!InterruptAttached || _watchdog == null)
                return;
            ushort status = _regs.Read16(UhciRegisters.USBSTS);
            if (_watchdog.Observe(status != 0xFFFF && (status & UsbSts.InterruptSources) != 0))
                InterruptAttached = false;
        }

        bool AnyUnlinking()
        {
            for (int i = 0; i < _endpoints.Count; i++)
                if (_endpoints[i].Unlinking)
                    return true;
            return false;
        }

        /// <summary>Scans the schedule (interrupt handler and polling fallback) and gives back what finished.</summary>
        public void ScanAndGiveBack()
        {
            lock (_lock)
            {
                Scans++;
                ScanLocked();
            }
            _giveBack.Deliver();
        }

        void ScanLocked()
        {
            uint frame = _running ? FrameNumber : 0;
            bool halted = !_running || (_regs.Read16(UhciRegisters.USBSTS) & UsbSts.HCHalted) != 0;
            ScanIso(frame, halted);
            for (int i = 0; i < _endpoints.Count; i++)
            {
                UhciEndpoint ep = _endpoints[i];
                if (ep.Unlinking)
                {
                    if (!halted && frame == ep.UnlinkFrame)
                        continue;
                    FinishUnlink(ep, frame);
                    continue;
                }
                if (ep.Queue.Count == 0)
                    continue;
                UhciTransfer head = ep.Queue[0];
                if (!head.Started)
                {
                    StartHead(ep);
                    continue;
                }
                if (Evaluate(head, false))
                    Retire(ep, head, frame);
            }
            _delayedFree.FreeDue(frame, halted);
        }

        /// <summary>The queue head left the schedule a frame ago: retire cancelled requests, then put it back.</summary>
        void FinishUnlink(UhciEndpoint ep, uint frame)
        {
            ep.Unlinking = false;
            if (ep.Queue.Count > 0)
            {
                UhciTransfer head = ep.Queue[0];
                if (head.Started && (head.IsCancelled || Evaluate(head, false)))
                {
                    if (head.IsCancelled)
                    {
                        Evaluate(head, true);
                        head.FinalStatus = head.CancelStatus;
                    }
                    Retire(ep, head, frame);
                }
            }
            if (!ep.Disabled)
            {
                LinkQh(ep);
                StartHead(ep);
            }
        }

        /// <summary>
        /// Looks at a started transfer's TDs (3.2.2). Returns true when it is finished (all TDs done,
        /// an error, or a short packet) and sets FinalStatus, Actual and the endpoint's toggle.
        /// A control transfer whose data stage ended short continues with its status stage.
        /// With <paramref name="force"/> the transfer is finished wherever it stands (cancel).
        /// </summary>
        bool Evaluate(UhciTransfer t, bool force)
        {
            UhciEndpoint ep = t.Endpoint;
            int actual = 0;
            bool lastToggleValid = false, lastToggle = false;
            for (int i = 0; i < t.TdCount; i++)
            {
                byte* td = (byte*)t.Tds.Virtual + i * (int)UhciTd.Size;
                uint cs = Volatile.Read(ref *(uint*)(td + UhciTd.ControlStatusOffset));
                uint token = *(uint*)(td + UhciTd.TokenOffset);
                bool data = i >= t.FirstData && i < t.EndData;
                if (UhciTd.IsActive(cs))
                {
                    if (!force)
                        return false;
                    break;
                }
                if (UhciTd.HasError(cs))
                {
                    t.FinalStatus = UhciTd.MapStatus(cs, UhciTd.Pid(token) != UhciTd.PidIn);
                    t.Actual = actual;
                    if (!t.IsControl)
                        ep.Toggle = UhciTd.Toggle(token);
                    return true;
                }
                if (!data)
                    continue;
                int length = UhciTd.ActualLength(cs);
                actual += length;
                lastToggleValid = true;
                lastToggle = UhciTd.Toggle(token);
                if (UhciTd.Pid(token) == UhciTd.PidIn && length < UhciTd.MaxLength(token))
                {
                    if (t.IsControl)
                    {
                        int status = t.TdCount - 1;
                        if (!t.ShortFixed && !force)
                        {
                            t.ShortFixed = true;
                            WriteQh((byte*)t.Endpoint.Qh.Virtual, UhciQh.ElementOffset,
                                    UhciLink.ToTransferDescriptor(t.TdPhysical(status), true));
                        }
                        i = status - 1;
                        continue;
                    }
                    break;
                }
            }
            if (!t.IsControl && lastToggleValid)
                ep.Toggle = !lastToggle;
            t.FinalStatus = UsbStatus.Ok;
            t.Actual = actual;
            return true;
        }

        /// <summary>Takes a finished head transfer off its endpoint and starts the next one (unless the queue must stop).</summary>
        void Retire(UhciEndpoint ep, UhciTransfer t, uint frame)
        {
            if (!ep.Qh.IsNull)
                WriteQh((byte*)ep.Qh.Virtual, UhciQh.ElementOffset, UhciLink.Terminate);
            t.Started = false;
            FreeLater(t.Tds, frame);
            t.Tds = default;
            UsbStatus status = t.FinalStatus;
            if (status == UsbStatus.Ok && t.Request.DirectionIn && t.Actual < t.Request.Length &&
                t.Request.HasFlag(UsbRequestFlags.ShortNotOk))
                status = UsbStatus.ShortPacket;
            if (UsbStatusNames.HaltsQueue(status))
                ep.Halted = true;
            ep.Queue.Complete(t, t.FinalStatus, _giveBack, _bus);
            if (ep.Linked)
                StartHead(ep);
        }

        void FreeLater(DmaBuffer buffer, uint frame) => _delayedFree.Add(buffer, frame);

        void FreeNow(UhciTransfer t)
        {
            if (!t.Tds.IsNull)
                _dma.Free(t.Tds);
            t.Tds = default;
        }

        /// <summary>A transfer going back with no data (controller stopped): its TDs are freed at once.</summary>
        void DropUnsent(UhciTransfer t)
        {
            t.Actual = 0;
            FreeNow(t);
        }

        /// <summary>A transfer of an endpoint out of the schedule for a frame: what it moved counts, its TDs are freed at once.</summary>
        void DropEvaluated(UhciTransfer t)
        {
            if (t.Started)
                Evaluate(t, true);
            else
                t.Actual = 0;
            FreeNow(t);
        }

        /// <summary>Points the endpoint's queue head at its first request, with the endpoint's data toggles (USB 2.0 8.6).</summary>
        void StartHead(UhciEndpoint ep)
        {
            if (ep.Halted || ep.Disabled || ep.Unlinking || !ep.Linked || ep.Queue.Count == 0)
                return;
            UhciTransfer t = ep.Queue[0];
            if (t.Started)
                return;
            if (!t.IsControl)
            {
                bool toggle = ep.Toggle;
                for (int i = t.FirstData; i < t.EndData; i++)
                {
                    uint* token = (uint*)((byte*)t.Tds.Virtual + i * (int)UhciTd.Size + UhciTd.TokenOffset);
                    *token = toggle ? (*token | UhciTd.DataToggle) : (*token & ~UhciTd.DataToggle);
                    toggle = !toggle;
                }
            }
            t.Started = true;
            WriteQh((byte*)ep.Qh.Virtual, UhciQh.ElementOffset, UhciLink.ToTransferDescriptor(t.TdPhysical(0), true));
        }

        // ---- Schedule: queue heads ------------------------------------------------------------------

        /// <summary>Appends the endpoint's queue head behind its skeleton (new QH's link first, then the predecessor's).</summary>
        void LinkQh(UhciEndpoint ep)
        {
            if (ep.Linked)
                return;
            List<UhciEndpoint> list = _skeletonLists[ep.Skeleton];
            byte* pred = list.Count == 0 ? SkeletonPointer(ep.Skeleton) : (byte*)list[list.Count - 1].Qh.Virtual;
            WriteQh((byte*)ep.Qh.Virtual, UhciQh.LinkOffset, ReadQh(pred, UhciQh.LinkOffset));
            WriteQh(pred, UhciQh.LinkOffset, UhciLink.ToQueueHead(ep.QhPhysical));
            list.Add(ep);
            ep.Linked = true;
        }

        /// <summary>Takes the queue head out of the schedule; the controller may still be in it until the frame number changes.</summary>
        void UnlinkQh(UhciEndpoint ep)
        {
            if (!ep.Linked)
                return;
            List<UhciEndpoint> list = _skeletonLists[ep.Skeleton];
            int index = list.IndexOf(ep);
            byte* pred = index <= 0 ? SkeletonPointer(ep.Skeleton) : (byte*)list[index - 1].Qh.Virtual;
            WriteQh(pred, UhciQh.LinkOffset, ReadQh((byte*)ep.Qh.Virtual, UhciQh.LinkOffset));
            if (index >= 0)
                list.RemoveAt(index);
            ep.Linked = false;
            ep.Unlinking = true;
            ep.UnlinkFrame = _running ? FrameNumber : 0;
        }

        // ---- IHostController: devices and endpoints ------------------------------------------------

        public UsbStatus AllocateDevice(UsbDevice device) => UsbStatus.Ok;
        public void FreeDevice(UsbDevice device) { }

        public UsbStatus AddressDevice(UsbDevice device, byte address, out byte assigned)
        {
            assigned = address;
            return _bus.SendSetAddress(device, address);
        }

        public UsbStatus EnableEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            if (endpoint.HcdPrivate is UhciEndpoint)
                return UsbStatus.Ok; // endpoint 0 again: the packet size is read per request
            if (endpoint.Type == TransferType.Isochronous)
                return EnableIsoEndpoint(device, endpoint);
            DmaBuffer qh = AllocateBelow4G(UhciQh.Size);
            if (qh.IsNull)
                return UsbStatus.NoMemory;
            var ep = new UhciEndpoint
            {
                Endpoint = endpoint,
                Qh = qh,
                QhPhysical = (uint)qh.Physical,
                IsControl = endpoint.Type == TransferType.Control,
            };
            if (endpoint.Type == TransferType.Control)
                ep.Skeleton = UhciSchedule.ControlSkeleton;
            else if (endpoint.Type == TransferType.Bulk)
                ep.Skeleton = UhciSchedule.BulkSkeleton;
            else
                ep.Skeleton = UhciSchedule.LevelForInterval(endpoint.Interval);
            WriteQh((byte*)qh.Virtual, UhciQh.LinkOffset, UhciLink.Terminate);
            WriteQh((byte*)qh.Virtual, UhciQh.ElementOffset, UhciLink.Terminate);
            lock (_lock)
            {
                if (endpoint.Type == TransferType.Interrupt)
                {
                    // The skeleton fixes the frames: book them there or refuse (Linux uhci_submit_interrupt).
                    int period = UhciSchedule.IntervalOfLevel(ep.Skeleton);
                    if (!ReserveBandwidth(ep, device, endpoint, period, UhciSchedule.PhaseOfLevel(ep.Skeleton)))
                    {
                        _dma.Free(qh);
                        return UsbStatus.NoBandwidth;
                    }
                }
                LinkQh(ep);
                _endpoints.Add(ep);
                endpoint.HcdPrivate = ep;
            }
            return UsbStatus.Ok;
        }

        public void DisableEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            UhciEndpoint ep = endpoint.HcdPrivate as UhciEndpoint;
            if (ep == null)
                return;
            if (ep.IsIso)
            {
                DisableIsoEndpoint(ep);
                return;
            }
            uint frame;
            lock (_lock)
            {
                ep.Disabled = true;
                UnlinkQh(ep);
                frame = ep.UnlinkFrame;
            }
            WaitForFrameAfter(frame);
            lock (_lock)
            {
                ep.Unlinking = false;
                ep.Queue.CompleteAll(UsbStatus.Shutdown, true, _giveBack, _bus, DropEvaluated);
                _endpoints.Remove(ep);
                endpoint.HcdPrivate = null;
                _load.Release(ep.Bandwidth);
                _dma.Free(ep.Qh);
                ep.Qh = default;
            }
            _giveBack.Deliver();
        }

        /// <summary>
        /// Microseconds one transaction of the endpoint books in each frame it is served in (Linux
        /// uhci-q.c uhci_alloc_qh: <c>usb_calc_bus_time(...) / 1000 + 1</c> of wMaxPacketSize).
        /// </summary>
        public static int LoadUs(UsbSpeed speed, bool isInput, bool isochronous, int maxPacket) =>
            (int)(UsbBandwidth.BusTimeNs(speed, isInput, isochronous, maxPacket) / NsPerUs) + 1;

        /// <summary>
        /// Books the endpoint's time in the load table (Linux uhci_check_bandwidth, then
        /// uhci_reserve_bandwidth): at <paramref name="phase"/>, or, when it is -1, at the phase
        /// whose busiest frame is least loaded (isochronous streams). False, with a warning and
        /// nothing booked, when a frame would pass 900 us. Holds the lock.
        /// </summary>
        bool ReserveBandwidth(UhciEndpoint ep, UsbDevice device, UsbEndpoint endpoint, int period, int phase)
        {
            bool iso = endpoint.Type == TransferType.Isochronous;
            int us = LoadUs(device.Speed, endpoint.IsIn, iso, endpoint.MaxPacketSize);
            bool booked = phase >= 0
                ? _load.PlaceAt(ep.Bandwidth, period, phase, 1, 0, us, 0)
                : _load.Place(ep.Bandwidth, period, 1, 0, 0, us, 0);
            if (booked)
                return true;
            if (phase < 0)
            {
                // The phase Linux reports: the least loaded one, which still did not fit.
                phase = 0;
                for (int p = 1; p < _load.PeriodIn(period); p++)
                    if (_load.HighestLoad(period, p) < _load.HighestLoad(period, phase))
                        phase = p;
            }
            int busiest = _load.HighestLoad(period, phase);
            Log.Warning(_logPrefix + "no frame left for " + (iso ? "isochronous" : "interrupt") + " endpoint " +
                        Format.Hex(endpoint.Address, 2) + " (period " + Format.Decimal((ulong)period) + ", phase " +
                        Format.Decimal((ulong)phase) + ": " + Format.Decimal((ulong)busiest) + " + " + Format.Decimal((ulong)us) +
                        " us would pass " + Format.Decimal((ulong)UsbBandwidth.FullSpeedBudgetUs) + " us)");
            return false;
        }

        /// <summary>Periodic microseconds booked in frame <paramref name="frame"/> mod 32 (tests, diagnostics; Linux uhci-&gt;load[]).</summary>
        public int FrameLoadUs(int frame)
        {
            lock (_lock)
                return _load.Load(frame, 0);
        }

        /// <summary>Waits (bounded) until the frame number differs from <paramref name="frame"/> or the controller is halted.</summary>
        void WaitForFrameAfter(uint frame)
        {
            ulong start = _clock.Milliseconds;
            while (_running && FrameNumber == frame)
            {
                if ((_regs.Read16(UhciRegisters.USBSTS) & UsbSts.HCHalted) != 0)
                    return;
                if (_clock.Milliseconds - start >= FrameWaitTimeoutMs)
                {
                    Log.Warning(_logPrefix + "frame number stuck at " + Format.Decimal(frame));
                    return;
                }
                _clock.Sleep(1);
            }
        }

        public void ResetEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            UhciEndpoint ep = endpoint.HcdPrivate as UhciEndpoint;
            if (ep != null)
                lock (_lock)
                    ep.Toggle = false;
        }

        public void EndpointResumed(UsbEndpoint endpoint)
        {
            UhciEndpoint ep = endpoint.HcdPrivate as UhciEndpoint;
            if (ep == null)
                return;
            lock (_lock)
            {
                ep.Halted = false;
                StartHead(ep);
            }
        }

        // ---- IHostController: requests ----------------------------------------------------------------

        public UsbStatus Submit(UsbRequest request)
        {
            UhciEndpoint ep = request.Endpoint.HcdPrivate as UhciEndpoint;
            if (ep == null || ep.Disabled)
                return UsbStatus.Shutdown;
            if (_dead)
                return UsbStatus.Shutdown;
            if (ep.IsIso)
                return SubmitIso(request, ep);
            int maxPacket = request.Endpoint.MaxPacketSize;
            if (maxPacket <= 0 || maxPacket > UhciTd.MaxPacketLength)
                return UsbStatus.InvalidArgument;
            if (request.Length > 0 && request.Buffer.Physical + (ulong)request.Length > AddressLimit)
                return UsbStatus.InvalidArgument;
            bool control = ep.IsControl;
            if (control && request.Setup.Physical + SetupPacket.Size > AddressLimit)
                return UsbStatus.InvalidArgument;

            int length = request.Length;
            int dataTds = (length + maxPacket - 1) / maxPacket;
            if (!control)
            {
                if (dataTds == 0)
                    dataTds = 1; // a zero-length packet
                else if (!request.DirectionIn && request.HasFlag(UsbRequestFlags.ZeroPacket) && length % maxPacket == 0)
                    dataTds++;
            }
            int count = control ? dataTds + 2 : dataTds;
            DmaBuffer tds = AllocateBelow4G((uint)count * UhciTd.Size);
            if (tds.IsNull)
                return UsbStatus.NoMemory;
            var t = new UhciTransfer
            {
                Request = request,
                Endpoint = ep,
                Tds = tds,
                TdCount = count,
                FirstData = control ? 1 : 0,
                EndData = control ? 1 + dataTds : dataTds,
                IsControl = control,
            };
            BuildTds(t, maxPacket);
            request.HcdPrivate = t;
            lock (_lock)
            {
                if (ep.Disabled)
                {
                    _dma.Free(tds);
                    request.HcdPrivate = null;
                    return UsbStatus.Shutdown;
                }
                ep.Queue.Add(t);
                if (ep.Queue.Count == 1)
                    StartHead(ep);
            }
            return UsbStatus.Ok;
        }

        /// <summary>Fills the transfer's TDs (3.2): setup, data packets, status; linked depth first, IOC on the last.</summary>
        void BuildTds(UhciTransfer t, int maxPacket)
        {
            UsbRequest r = t.Request;
            bool lowSpeed = r.Device.Speed == UsbSpeed.Low;
            int address = r.Device.WireAddress;
            int endpoint = r.Endpoint.Number;
            int index = 0;
            if (t.IsControl)
            {
                WriteTd(t, index++, UhciTd.ControlStatus(lowSpeed, false, false),
                        UhciTd.Token(UhciTd.PidSetup, address, endpoint, false, SetupPacket.Size), (uint)r.Setup.Physical);
            }
            byte dataPid = r.DirectionIn ? UhciTd.PidIn : UhciTd.PidOut;
            bool toggle = t.IsControl; // control data stage starts with DATA1; others get the endpoint's toggle at start
            int offset = 0;
            for (int i = t.FirstData; i < t.EndData; i++)
            {
                int n = r.Length - offset;
                if (n > maxPacket) n = maxPacket;
                if (n < 0) n = 0;
                bool last = !t.IsControl && i == t.EndData - 1;
                uint buffer = n > 0 ? (uint)(r.Buffer.Physical + (ulong)offset) : 0;
                WriteTd(t, index++, UhciTd.ControlStatus(lowSpeed, r.DirectionIn, last),
                        UhciTd.Token(dataPid, address, endpoint, toggle, n), buffer);
                toggle = !toggle;
                offset += n;
            }
            if (t.IsControl)
            {
                byte statusPid = r.DirectionIn && r.Length > 0 ? UhciTd.PidOut : UhciTd.PidIn;
                WriteTd(t, index++, UhciTd.ControlStatus(lowSpeed, false, true),
                        UhciTd.Token(statusPid, address, endpoint, true, 0), 0);
            }
        }

        void WriteTd(UhciTransfer t, int index, uint controlStatus, uint token, uint buffer)
        {
            uint* td = (uint*)((byte*)t.Tds.Virtual + index * (int)UhciTd.Size);
            td[UhciTd.LinkOffset / 4] = index + 1 < t.TdCount ? UhciLink.ToTransferDescriptor(t.TdPhysical(index + 1), true) : UhciLink.Terminate;
            td[UhciTd.TokenOffset / 4] = token;
            td[UhciTd.BufferOffset / 4] = buffer;
            td[UhciTd.ControlStatusOffset / 4] = controlStatus;
        }

        public UsbStatus Cancel(UsbRequest request, UsbStatus status)
        {
            UhciEndpoint ep = request.Endpoint.HcdPrivate as UhciEndpoint;
            if (ep == null)
                return UsbStatus.NotQueued;
            if (ep.IsIso)
                return CancelIso(request, ep, status);
            lock (_lock)
            {
                UhciTransfer t = request.HcdPrivate as UhciTransfer;
                if (t == null || !ep.Queue.Contains(t))
                    return UsbStatus.NotQueued;
                UsbStatus state = HcdRequest.BeginCancel(t, request, status);
                if (state != UsbStatus.InProgress)
                    return state;
                if (!t.Started)
                {
                    // Never seen by the controller: out at once, given back by the next scan.
                    DropUnsent(t);
                    ep.Queue.Complete(t, status, _giveBack, _bus);
                }
                else if (ep.Linked)
                {
                    UnlinkQh(ep);
                }
            }
            if (_wake != null)
                _wake.Signal();
            return UsbStatus.Ok;
        }

        // ---- Root hub -----------------------------------------------------------------------------

        public UsbStatus RootHubControl(SetupPacket setup, Span<byte> data, out int actualLength) =>
            _rootHub.Control(setup, data, out actualLength);

        public int RootHubStatusData(Span<byte> bitmap) => _rootHub.StatusData(bitmap);
    }
}
