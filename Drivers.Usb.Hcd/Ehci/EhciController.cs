using System;
using System.Collections.Generic;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Hcd.Ehci
{
    /// <summary>
    /// EHCI host controller driver (EHCI 1.0; structure after Linux ehci-hcd and the OHCI driver
    /// here). Control and bulk QHs hang in the asynchronous ring behind a reclamation head QH
    /// (4.8), interrupt QHs behind the skeleton QHs of the periodic tree (<see cref="EhciPeriodicTree"/>).
    /// Every QH keeps an inactive dummy qTD at its tail: a submit fills the dummy in place (token
    /// last) and appends a fresh dummy, so the controller never sees a half-built chain (4.10.2).
    /// Completions come from USBINT/USBERRINT (and a poll fallback), root port changes from Port
    /// Change Detect. Cancellation unlinks the QH: async QHs wait for Interrupt on Async Advance
    /// (4.8.2), periodic QHs for the frame to change (4.10.7), before qTDs are touched.
    /// Managed objects hold every reference; qTD physical addresses map back to them through a
    /// dictionary.
    /// </summary>
    public sealed unsafe partial class EhciController : IHostController
    {
        /// <summary>Bound of the wait for HCHalted after Run/Stop was cleared (spec: 16 microframes).</summary>
        public const uint HaltTimeoutMs = 20;
        /// <summary>Bound of the wait for HCRESET to clear (Linux: 250 ms).</summary>
        public const uint ResetTimeoutMs = 250;
        /// <summary>Bound of the wait for HCHalted to clear after Run (Linux: 20 ms... we allow 100).</summary>
        public const uint RunTimeoutMs = 100;
        /// <summary>Pause after CONFIGFLAG before the ports are looked at (Linux: msleep(5)).</summary>
        public const uint ConfigFlagSettleMs = 5;
        /// <summary>
        /// Bound of an unlink when IAA or frames do not come (controller stopped or broken) (ms).
        /// Real controllers answer within a few microframes; the margin is for emulated ones whose
        /// host is busy (the kernel's clock keeps real time while the emulation may be starved).
        /// </summary>
        public const uint UnlinkTimeoutMs = 200;
        /// <summary>
        /// Bound of a QH removal: an unlink queued behind the current doorbell waits for two
        /// doorbell rounds, each forced after <see cref="UnlinkTimeoutMs"/>, before it is given up.
        /// </summary>
        const int UnlinkRoundsBound = 3;
        /// <summary>Frames a periodic QH must be out of the schedule before its qTDs are touched.</summary>
        public const int UnlinkFrames = 2;
        /// <summary>Fallback poll period with and without a working interrupt, and while unlinks wait (ms).</summary>
        public const uint PollPeriodMs = 50;
        public const uint PollPeriodFastMs = 1;
        /// <summary>
        /// The async schedule is switched off after this long without a queued control or bulk
        /// request and on again by the next submit (Linux does the same through its async_count):
        /// the controller stops walking an empty ring, and a new request is seen at once
        /// instead of on the controller's next idle pass (QEMU's slows down to 64 ms).
        /// </summary>
        public const uint AsyncIdleOffMs = 2;
        /// <summary>Bound for USBSTS.ASS to follow USBCMD.ASE (4.8: a few microframes), in microseconds.</summary>
        public const uint AsyncStatusTimeoutUs = 2000;
        const uint AsyncStatusPollUs = 10;
        public const int FrameListEntries = 1024;
        const uint FrameListSize = FrameListEntries * 4;
        const uint FrameListAlignment = 4096;
        /// <summary>Stride of the skeleton QHs: 128 divides 4096, so no QH crosses a page (3.6).</summary>
        const uint StaticQhStride = 128;
        const int MaxChainWalk = 4096;
        const uint RegisterGone = 0xFFFFFFFF;
        public const int PollSleepMs = 1;

        /// <summary>One qTD in DMA memory and what it carries.</summary>
        sealed class Qtd
        {
            public DmaBuffer Mem;
            public Req Request;
            public int Length;
            public bool IsData;
            /// <summary>Alternate Next qTD points at the end of the request (short packet: skip the rest).</summary>
            public bool AltToEnd;
            public uint Physical => (uint)Mem.Physical;
        }

        /// <summary>Controller state of one request (UsbRequest.HcdPrivate): the shared lifecycle plus its qTDs.</summary>
        sealed class Req : HcdRequest
        {
            public Ep Endpoint;
            public readonly List<Qtd> Qtds = new List<Qtd>();
        }

        enum Link { Linked, Unlinking, Unlinked }

        /// <summary>Controller state of one endpoint (UsbEndpoint.HcdPrivate): its QH and queue.</summary>
        sealed class Ep
        {
            public UsbEndpoint Endpoint;
            public UsbDevice Device;
            public DmaBuffer Qh;
            public Qtd Dummy;
            public readonly RequestQueue<Req> Queue = new RequestQueue<Req>();
            public TransferType Type;
            public bool Periodic;
            /// <summary>Interrupt QH: the skeleton level it hangs at (its period).</summary>
            public int Level = -1;
            /// <summary>Interrupt QH: its booking in the microframe budget (phase = skeleton slot, S-mask and C-mask).</summary>
            public PeriodicPlacement Placement;
            public int Anchor;
            public Link State;
            public bool Removed;
            /// <summary>The QH halted on an error; restarted in EndpointResumed.</summary>
            public bool Halted;
            public uint UnlinkFrame;
            public ulong UnlinkMs;
            public uint Physical => (uint)Qh.Physical;
        }

        readonly IRegisterBlock _regs;
        readonly IClock _clock;
        readonly IThreading _threading;
        readonly IDmaAllocator _dma;
        readonly string _busId;
        readonly string _tag;
        readonly object _lock = new object();
        readonly Dictionary<uint, Qtd> _qtds = new Dictionary<uint, Qtd>();
        readonly List<Ep> _eps = new List<Ep>();
        /// <summary>Async ring after the head QH, in hardware order.</summary>
        readonly List<Ep> _async = new List<Ep>();
        /// <summary>Periodic QHs hung after each skeleton QH, in hardware order.</summary>
        readonly List<Ep>[] _chains = new List<Ep>[EhciPeriodicTree.StaticQhCount];
        readonly EhciMicroframeBudget _budget = new EhciMicroframeBudget();
        /// <summary>The full-speed frames of each transaction translator split endpoints go through.</summary>
        readonly EhciTtBudgets _ttBudgets = new EhciTtBudgets();
        /// <summary>Async QHs unlinked before the current doorbell was rung (they are free at IAA).</summary>
        readonly List<Ep> _iaaBatch = new List<Ep>();
        /// <summary>Async QHs unlinked after it: they need the next doorbell.</summary>
        readonly List<Ep> _iaaNext = new List<Ep>();
        readonly List<Ep> _frameWait = new List<Ep>();
        readonly GiveBackQueue _giveBack = new GiveBackQueue();
        /// <summary>Cancelled requests taken off a queue whose QH is unlinked (scratch, under the lock).</summary>
        readonly List<Req> _cancelled = new List<Req>();
        readonly uint[] _pointers = new uint[EhciQtd.Pages];
        readonly uint[] _pointersHigh = new uint[EhciQtd.Pages];
        bool _doorbell;
        ulong _doorbellMs;
        /// <summary>What USBCMD.ASE was last set to; USBSTS.ASS has followed it whenever the lock is free.</summary>
        bool _asyncOn;
        /// <summary>When the async schedule became idle (no queued request), 0 while busy.</summary>
        ulong _asyncIdleSinceMs;
        uint _op;
        uint _hcsParams, _hccParams;
        uint _version;
        bool _addressing64;
        DmaBuffer _frameList;
        DmaBuffer _static;
        DmaBuffer _asyncHead;
        EhciRootHub _rootHub;
        UsbBus _bus;
        volatile bool _running;
        volatile bool _stopping;
        public bool InterruptAttached;
        public int LiveQtds, LiveQhs;

        public EhciController(IRegisterBlock regs, IClock clock, IThreading threading, IDmaAllocator dma, string busId)
        {
            _regs = regs;
            _clock = clock;
            _threading = threading;
            _dma = dma;
            _busId = busId;
            _tag = EhciPciDriver.DriverName + " " + busId + ": ";
            _isoFree = new FrameDelayedFree(dma, FrameMask, IsoFreeDelayFrames);
            for (int i = 0; i < _chains.Length; i++)
                _chains[i] = new List<Ep>();
        }

        public string DriverName => EhciPciDriver.DriverName;
        public string HcdDescription => "ehci_hcd";
        public string Description => "EHCI Host Controller";
        public string BusId => _busId;
        public UsbSpeed RootHubSpeed => UsbSpeed.High;
        public int RootPortCount => _rootHub != null ? _rootHub.PortCount : 0;
        public bool AssignsAddresses => false;
        public bool RootHubHasTt => false;
        public uint FrameNumber => ReadOp(EhciOp.FRINDEX) & FrIndex.Mask;
        public bool IsRunning => _running;
        public EhciRootHub RootHub => _rootHub;
        public uint HccParams => _hccParams;
        public uint HcsParams => _hcsParams;
        /// <summary>HCIVERSION as BCD (0x0100 = 1.00).</summary>
        public uint Version => _version;

        uint ReadOp(uint offset) => _regs.Read32(_op + offset);
        void WriteOp(uint offset, uint value) => _regs.Write32(_op + offset, value);

        /// <summary>"1.00" from HCIVERSION (BCD).</summary>
        public static string VersionText(uint version) =>
            Format.Hex((version >> 8) & 0xFF) + "." + Format.Hex(version & 0xFF, 2);

        // ---- Bring-up (4.1) ------------------------------------------------------------------

        /// <summary>Reads the capability registers (2.2). Returns false when the block looks absent.</summary>
        public bool ReadCapabilities()
        {
            uint dword0 = _regs.Read32(EhciCap.CAPLENGTH);
            if (dword0 == RegisterGone)
                return false;
            _op = EhciCap.CapLength(dword0);
            _version = EhciCap.HciVersion(dword0);
            _hcsParams = _regs.Read32(EhciCap.HCSPARAMS);
            _hccParams = _regs.Read32(EhciCap.HCCPARAMS);
            _addressing64 = (_hccParams & Ehci.HccParams.AddressingCapability64) != 0;
            return _op != 0;
        }

        /// <summary>
        /// Halts the controller (bounded wait for HCHalted), resets it (HCRESET, bounded), programs
        /// CTRLDSSEGMENT, builds the periodic frame list, the skeleton QHs and the async head. Left
        /// halted with interrupts off; <see cref="Start"/> runs it.
        /// </summary>
        public UsbStatus Reset()
        {
            if (_op == 0 && !ReadCapabilities())
                return UsbStatus.NoDevice;
            WriteOp(EhciOp.USBINTR, 0);
            uint cmd = ReadOp(EhciOp.USBCMD);
            if (cmd == RegisterGone)
                return UsbStatus.NoDevice;
            WriteOp(EhciOp.USBCMD, cmd & ~(UsbCmd.RunStop | UsbCmd.PeriodicScheduleEnable | UsbCmd.AsyncScheduleEnable));
            if (!WaitStatus(UsbSts.HCHalted, UsbSts.HCHalted, HaltTimeoutMs))
                Log.Warning(_tag + "controller did not halt; resetting anyway");
            WriteOp(EhciOp.USBCMD, UsbCmd.HCRESET);
            ulong start = _clock.Milliseconds;
            int polls = 0;
            while ((ReadOp(EhciOp.USBCMD) & UsbCmd.HCRESET) != 0)
            {
                if (_clock.Milliseconds - start >= ResetTimeoutMs || ++polls > (int)ResetTimeoutMs)
                {
                    Log.Error(_tag + "HCRESET did not complete");
                    return UsbStatus.Timeout;
                }
                _clock.Sleep(1);
            }
            WriteOp(EhciOp.USBINTR, 0);
            WriteOp(EhciOp.USBSTS, UsbSts.InterruptMask);
            if (_addressing64)
                WriteOp(EhciOp.CTRLDSSEGMENT, 0); // every structure lives below 4 GiB

            if (_frameList.IsNull)
            {
                _frameList = _dma.Allocate(FrameListSize, FrameListAlignment, DmaLimit.Below4G);
                _static = _dma.Allocate(EhciPeriodicTree.StaticQhCount * StaticQhStride, FrameListAlignment, DmaLimit.Below4G);
                _asyncHead = _dma.Allocate(EhciQh.AllocationSize, EhciQh.Alignment, DmaLimit.Below4G, EhciQh.Boundary);
                if (_frameList.IsNull || _static.IsNull || _asyncHead.IsNull)
                    return UsbStatus.NoMemory;
                BuildSchedules();
            }
            WriteOp(EhciOp.PERIODICLISTBASE, (uint)_frameList.Physical);
            WriteOp(EhciOp.ASYNCLISTADDR, (uint)_asyncHead.Physical);
            _rootHub = new EhciRootHub(_regs, _op, _clock, _hcsParams, _tag);
            return UsbStatus.Ok;
        }

        /// <summary>Waits (bounded) until USBSTS &amp; mask == value.</summary>
        bool WaitStatus(uint mask, uint value, uint timeoutMs)
        {
            ulong start = _clock.Milliseconds;
            int polls = 0;
            while ((ReadOp(EhciOp.USBSTS) & mask) != value)
            {
                if (_clock.Milliseconds - start >= timeoutMs || ++polls > (int)timeoutMs)
                    return false;
                _clock.Sleep(1);
            }
            return true;
        }

        uint StaticOffset(int index) => (uint)index * StaticQhStride;
        uint StaticPhysical(int index) => (uint)_static.Physical + StaticOffset(index);

        /// <summary>
        /// Skeleton QHs (S-mask 0, halted overlay: the controller only follows their links), the
        /// frame list pointing at the 32-frame level, and the async head (H, halted, links to itself).
        /// </summary>
        void BuildSchedules()
        {
            for (int level = 0; level < EhciPeriodicTree.Levels; level++)
            {
                for (int slot = 0; slot < (1 << level); slot++)
                {
                    int index = EhciPeriodicTree.Index(level, slot);
                    int next = EhciPeriodicTree.NextIndex(level, slot);
                    uint o = StaticOffset(index);
                    EhciMemory.Write(_static, o + EhciQh.HorizontalLink, next < 0 ? EhciLink.Terminate : EhciLink.Qh(StaticPhysical(next)));
                    EhciMemory.Write(_static, o + EhciQh.EndpointCharacteristics, EhciQh.SpeedHigh);
                    EhciMemory.Write(_static, o + EhciQh.EndpointCapabilities, EhciQh.MultOne << EhciQh.MultShift);
                    EhciMemory.Write(_static, o + EhciQh.OverlayNextQtd, EhciLink.Terminate);
                    EhciMemory.Write(_static, o + EhciQh.OverlayAlternateNextQtd, EhciLink.Terminate);
                    EhciMemory.Write(_static, o + EhciQh.OverlayToken, EhciQtd.Halted);
                }
            }
            for (int frame = 0; frame < FrameListEntries; frame++)
                EhciMemory.Write(_frameList, (uint)frame * 4, EhciLink.Qh(StaticPhysical(EhciPeriodicTree.FrameEntryIndex(frame))));
            EhciMemory.Write(_asyncHead, EhciQh.HorizontalLink, EhciLink.Qh((uint)_asyncHead.Physical));
            EhciMemory.Write(_asyncHead, EhciQh.EndpointCharacteristics, EhciQh.HeadOfReclamationList | EhciQh.SpeedHigh);
            EhciMemory.Write(_asyncHead, EhciQh.EndpointCapabilities, EhciQh.MultOne << EhciQh.MultShift);
            EhciMemory.Write(_asyncHead, EhciQh.OverlayNextQtd, EhciLink.Terminate);
            EhciMemory.Write(_asyncHead, EhciQh.OverlayAlternateNextQtd, EhciLink.Terminate);
            EhciMemory.Write(_asyncHead, EhciQh.OverlayToken, EhciQtd.Halted);
        }

        /// <summary>
        /// Called by the core on registration (4.1): run with both schedules, CONFIGFLAG (ports to
        /// EHCI), interrupts, port power.
        /// </summary>
        public void Start(UsbBus bus)
        {
            _bus = bus;
            WriteOp(EhciOp.USBCMD, UsbCmd.InterruptThreshold1 | UsbCmd.FrameListSize1024 | UsbCmd.PeriodicScheduleEnable |
                                   UsbCmd.AsyncScheduleEnable | UsbCmd.RunStop);
            if (!WaitStatus(UsbSts.HCHalted, 0, RunTimeoutMs))
                Log.Warning(_tag + "controller did not start running");
            _asyncOn = true;
            WriteOp(EhciOp.CONFIGFLAG, ConfigFlag.ConfigureFlag);
            ReadOp(EhciOp.USBCMD); // flush the posted write (Linux)
            _clock.Sleep(ConfigFlagSettleMs);
            _running = true;
            WriteOp(EhciOp.USBSTS, UsbSts.InterruptMask);
            WriteOp(EhciOp.USBINTR, UsbSts.Enabled);
            _rootHub.PowerOn();
            Log.Info(_tag + "USB 2.0 started, EHCI " + VersionText(_version));
            _watchdog = new InterruptWatchdog(_clock, _tag);
            if (_threading.StartThread("ehci-poll", PollLoop) == 0)
                Log.Warning(_tag + "no poll thread");
        }

        public void Stop()
        {
            _stopping = true;
            lock (_lock)
            {
                _running = false;
                WriteOp(EhciOp.USBINTR, 0);
                WriteOp(EhciOp.USBCMD, ReadOp(EhciOp.USBCMD) & ~(UsbCmd.RunStop | UsbCmd.PeriodicScheduleEnable | UsbCmd.AsyncScheduleEnable));
                WriteOp(EhciOp.CONFIGFLAG, 0);
                for (int i = 0; i < _eps.Count; i++)
                {
                    Ep ep = _eps[i];
                    ep.Queue.CompleteAll(UsbStatus.Shutdown, false, _giveBack, _bus, null);
                }
                StopIso();
            }
            DeliverCompletions();
        }

        void PollLoop()
        {
            while (!_stopping)
            {
                bool fast = !InterruptAttached;
                lock (_lock)
                    fast |= _doorbell || _frameWait.Count > 0 || _iaaNext.Count > 0 || (_asyncOn && _asyncIdleSinceMs != 0) || _isoCancelled.Count > 0;
                _clock.Sleep(fast ? PollPeriodFastMs : PollPeriodMs);
                Poll();
            }
        }

        /// <summary>
        /// One pass of the poll thread: checks that the interrupt line works (status pending with no
        /// interrupt for too long: poll every millisecond from then on), then services what is pending.
        /// </summary>
        public void Poll()
        {
            if (!_running)
                return;
            if (InterruptAttached && _watchdog != null && _watchdog.Observe(InterruptPending()))
                InterruptAttached = false;
            Service(UsbSts.InterruptMask, true);
        }

        /// <summary>An enabled interrupt condition is set in USBSTS (so the line should be asserted).</summary>
        bool InterruptPending()
        {
            uint status = ReadOp(EhciOp.USBSTS);
            return status != RegisterGone && (status & ReadOp(EhciOp.USBINTR) & UsbSts.InterruptMask) != 0;
        }

        /// <summary>Gives the interrupt line up when it never delivers (set in <see cref="Start"/>).</summary>
        InterruptWatchdog _watchdog;
        public bool InterruptLineDead => _watchdog != null && _watchdog.LineDead;

        // ---- Interrupts (4.15) ---------------------------------------------------------------

        /// <summary>Interrupt handler; returns true when this controller raised the (possibly shared) line.</summary>
        public bool HandleInterrupt()
        {
            InterruptWatchdog watchdog = _watchdog;
            if (watchdog != null)
                watchdog.HandlerCalled();
            if (!_running)
                return false;
            uint status = ReadOp(EhciOp.USBSTS);
            if (status == RegisterGone)
                return false;
            status &= UsbSts.InterruptMask & ReadOp(EhciOp.USBINTR);
            if (status == 0)
                return false;
            Service(UsbSts.InterruptMask, false);
            return true;
        }

        /// <summary>Acknowledges <paramref name="status"/> and handles it: completions, IAA, port changes, unlinks.</summary>
        void Service(uint mask, bool poll)
        {
            bool rootHub = false;
            lock (_lock)
            {
                if (!_running)
                    return;
                uint status = ReadOp(EhciOp.USBSTS);
                if (status == RegisterGone)
                    return;
                status &= mask & UsbSts.InterruptMask;
                if (status != 0)
                    WriteOp(EhciOp.USBSTS, status);
                if ((status & UsbSts.HostSystemError) != 0)
                    Log.Error(_tag + "fatal error: host system error (PCI), controller halted");
                if ((status & UsbSts.PortChangeDetect) != 0)
                    rootHub = true;
                if ((status & UsbSts.InterruptOnAsyncAdvance) != 0 || _doorbell)
                    ProcessDoorbell((status & UsbSts.InterruptOnAsyncAdvance) != 0);
                if (_frameWait.Count > 0)
                    ProcessFrameWaits();
                // Completions: USBINT/USBERRINT, and always on a poll (an interrupt may have been lost).
                ScanAll();
                ScanIso();
                IdleAsyncSchedule();
            }
            if ((rootHub || poll) && _bus != null)
                _bus.RootHubStatusChanged();
            DeliverCompletions();
        }

        void DeliverCompletions() => _giveBack.Deliver();

        void Complete(Req r, UsbStatus status)
        {
            r.Endpoint.Queue.Complete(r, status, _giveBack, _bus);
        }

        // ---- Completion scan (4.10.3 write-back, 4.10.6 short packets) -----------------------

        void ScanAll()
        {
            for (int i = 0; i < _eps.Count; i++)
            {
                Ep ep = _eps[i];
                if (ep.Queue.Count > 0 && !ep.Halted)
                    ScanEndpoint(ep);
            }
        }

        /// <summary>Retires the finished requests at the head of the endpoint's queue, in order.</summary>
        void ScanEndpoint(Ep ep)
        {
            while (ep.Queue.Count > 0 && !ep.Halted)
            {
                Req r = ep.Queue[0];
                if (r.IsCancelled && ep.State != Link.Linked)
                    return; // the unlink finishes it
                if (!Evaluate(r, out UsbStatus status, out int actual, out bool halted))
                    return;
                r.Actual = actual;
                if (halted)
                {
                    ep.Halted = true;
                    if (status != UsbStatus.Stall)
                        Log.Debug(_tag + "qTD error " + UsbStatusNames.Name(status) + " ep " + Format.Hex(ep.Endpoint.Address, 2));
                }
                FreeRequestQtds(r);
                Complete(r, status);
            }
        }

        /// <summary>
        /// Whether the request is finished and how: every qTD retired, a short packet (bulk and
        /// interrupt: the rest is skipped through Alternate Next; control: on to the status stage),
        /// or a halted qTD (3.5.3 status bits).
        /// </summary>
        bool Evaluate(Req r, out UsbStatus status, out int actual, out bool halted)
        {
            status = UsbStatus.Ok;
            actual = 0;
            halted = false;
            bool control = r.Endpoint.Type == TransferType.Control;
            int count = r.Qtds.Count;
            for (int i = 0; i < count; i++)
            {
                Qtd q = r.Qtds[i];
                uint token = EhciMemory.Read(q.Mem, EhciQtd.Token);
                if ((token & EhciQtd.Active) != 0)
                    return false;
                if ((token & EhciQtd.Halted) != 0)
                {
                    if (q.IsData)
                        actual += EhciQtd.Transferred(token, q.Length);
                    status = EhciQtd.ToStatus(token, EhciQtd.Pid(token) == EhciQtd.PidIn);
                    halted = true;
                    return true;
                }
                if (q.IsData)
                {
                    int moved = EhciQtd.Transferred(token, q.Length);
                    actual += moved;
                    if (moved < q.Length)
                    {
                        // Short packet: the controller followed Alternate Next.
                        if (!control)
                            return true;
                        i = count - 2; // continue with the status stage
                    }
                }
            }
            return true;
        }

        void FreeRequestQtds(Req r)
        {
            for (int i = 0; i < r.Qtds.Count; i++)
                FreeQtd(r.Qtds[i]);
            r.Qtds.Clear();
        }

        // ---- Unlinking (4.8.2 async doorbell, 4.10.7 periodic) ----------------------------------

        /// <summary>Takes the endpoint's QH out of the schedule and starts the wait before it may be touched.</summary>
        void StartUnlink(Ep ep)
        {
            if (ep.State != Link.Linked)
                return;
            ep.State = Link.Unlinking;
            ep.UnlinkMs = _clock.Milliseconds;
            if (!ep.Periodic)
            {
                int index = _async.IndexOf(ep);
                uint next = EhciMemory.Read(ep.Qh, EhciQh.HorizontalLink);
                if (index == 0)
                    EhciMemory.Write(_asyncHead, EhciQh.HorizontalLink, next);
                else if (index > 0)
                    EhciMemory.Write(_async[index - 1].Qh, EhciQh.HorizontalLink, next);
                if (index >= 0)
                    _async.RemoveAt(index);
                _iaaNext.Add(ep);
                // Not running, or the async schedule is off (ASS = 0): the controller does not walk
                // the ring, so the QH is free at once (and the doorbell must not be rung, 4.8.2).
                if (!_running || !_asyncOn)
                {
                    FinishUnlinks(_iaaNext);
                    return;
                }
                if (!_doorbell)
                    RingDoorbell();
            }
            else
            {
                List<Ep> chain = _chains[ep.Anchor];
                int index = chain.IndexOf(ep);
                uint next = EhciMemory.Read(ep.Qh, EhciQh.HorizontalLink);
                if (index == 0)
                    EhciMemory.Write(_static, StaticOffset(ep.Anchor) + EhciQh.HorizontalLink, next);
                else if (index > 0)
                    EhciMemory.Write(chain[index - 1].Qh, EhciQh.HorizontalLink, next);
                if (index >= 0)
                    chain.RemoveAt(index);
                ep.UnlinkFrame = FrameNumber >> FrIndex.MicroframeBits;
                _frameWait.Add(ep);
                if (!_running)
                    ProcessFrameWaits();
            }
        }

        // ---- Async schedule on/off (4.8) --------------------------------------------------------

        /// <summary>Switches the async schedule on for a new control or bulk request. Holds the lock.</summary>
        void WakeAsyncSchedule()
        {
            _asyncIdleSinceMs = 0;
            if (_asyncOn || !_running)
                return;
            // ASE may only change once ASS has followed the previous write (4.8).
            WaitAsyncStatus(0);
            WriteOp(EhciOp.USBCMD, ReadOp(EhciOp.USBCMD) | UsbCmd.AsyncScheduleEnable);
            _asyncOn = true;
        }

        /// <summary>Switches the async schedule off once it has been idle for <see cref="AsyncIdleOffMs"/>. Holds the lock.</summary>
        void IdleAsyncSchedule()
        {
            if (!_asyncOn || !_running)
                return;
            bool busy = _doorbell || _iaaNext.Count > 0 || _iaaBatch.Count > 0;
            for (int i = 0; i < _async.Count && !busy; i++)
                busy = _async[i].Queue.Count > 0;
            ulong now = _clock.Milliseconds;
            if (busy)
            {
                _asyncIdleSinceMs = 0;
                return;
            }
            if (_asyncIdleSinceMs == 0)
            {
                _asyncIdleSinceMs = now == 0 ? 1 : now;
                return;
            }
            if (now - _asyncIdleSinceMs < AsyncIdleOffMs)
                return;
            WaitAsyncStatus(UsbSts.AsyncScheduleStatus);
            WriteOp(EhciOp.USBCMD, ReadOp(EhciOp.USBCMD) & ~UsbCmd.AsyncScheduleEnable);
            WaitAsyncStatus(0);
            _asyncOn = false;
            _asyncIdleSinceMs = 0;
        }

        /// <summary>Waits (bounded, busy: a few microframes at most) until USBSTS.ASS equals <paramref name="value"/>.</summary>
        void WaitAsyncStatus(uint value)
        {
            for (uint waited = 0; waited < AsyncStatusTimeoutUs; waited += AsyncStatusPollUs)
            {
                if ((ReadOp(EhciOp.USBSTS) & UsbSts.AsyncScheduleStatus) == value)
                    return;
                _clock.Stall(AsyncStatusPollUs);
            }
        }

        void RingDoorbell()
        {
            for (int i = 0; i < _iaaNext.Count; i++)
                _iaaBatch.Add(_iaaNext[i]);
            _iaaNext.Clear();
            _doorbell = true;
            _doorbellMs = _clock.Milliseconds;
            WriteOp(EhciOp.USBCMD, ReadOp(EhciOp.USBCMD) | UsbCmd.IAAD);
        }

        /// <summary>On IAA (or its timeout) every QH unlinked before the doorbell is free; ring again for later ones.</summary>
        void ProcessDoorbell(bool advanced)
        {
            if (!_doorbell)
                return;
            if (!advanced)
            {
                if (_clock.Milliseconds - _doorbellMs < UnlinkTimeoutMs)
                    return;
                Log.Warning(_tag + "lost IAA, forcing the async unlink");
                WriteOp(EhciOp.USBCMD, ReadOp(EhciOp.USBCMD) & ~UsbCmd.IAAD);
            }
            _doorbell = false;
            var batch = new List<Ep>();
            for (int i = 0; i < _iaaBatch.Count; i++)
                batch.Add(_iaaBatch[i]);
            _iaaBatch.Clear();
            FinishUnlinks(batch);
            if (_iaaNext.Count > 0 && _running)
                RingDoorbell();
        }

        void ProcessFrameWaits()
        {
            uint frame = FrameNumber >> FrIndex.MicroframeBits;
            ulong now = _clock.Milliseconds;
            var done = new List<Ep>();
            for (int i = _frameWait.Count - 1; i >= 0; i--)
            {
                Ep ep = _frameWait[i];
                if (_running && Frames.Elapsed(frame, ep.UnlinkFrame) < UnlinkFrames && now - ep.UnlinkMs < UnlinkTimeoutMs)
                    continue;
                _frameWait.RemoveAt(i);
                done.Add(ep);
            }
            FinishUnlinks(done);
        }

        /// <summary>
        /// The controller no longer sees these QHs: retire what finished, give back cancelled
        /// requests, relink the remaining qTDs, reset the overlay when its request went, and put
        /// the QH back into the schedule (unless the endpoint is being removed).
        /// </summary>
        void FinishUnlinks(List<Ep> eps)
        {
            for (int n = 0; n < eps.Count; n++)
            {
                Ep ep = eps[n];
                ep.State = Link.Unlinked;
                if (ep.Qh.IsNull)
                    continue;
                // Requests the controller finished are retired first, cancelled or not (the core
                // reports a cancelled one with its unlink status anyway).
                while (ep.Queue.Count > 0 && !ep.Halted)
                {
                    Req head = ep.Queue[0];
                    if (!Evaluate(head, out UsbStatus status, out int actual, out bool halted))
                        break;
                    head.Actual = actual;
                    if (halted) ep.Halted = true;
                    FreeRequestQtds(head);
                    Complete(head, status);
                }
                // The head is now unfinished: if it is cancelled the overlay may be inside it.
                bool headCancelled = ep.Queue.Count > 0 && ep.Queue[0].IsCancelled;
                _cancelled.Clear();
                ep.Queue.TakeCancelled(_cancelled);
                for (int i = 0; i < _cancelled.Count; i++)
                {
                    Req r = _cancelled[i];
                    // Partial data of a cancelled request still counts (Linux reports it too).
                    Evaluate(r, out UsbStatus _, out int partial, out bool _);
                    r.Actual = partial;
                    FreeRequestQtds(r);
                    _giveBack.Finish(_bus, r, r.CancelStatus);
                }
                _cancelled.Clear();
                RelinkQueue(ep);
                if (headCancelled && !ep.Halted)
                    ResetOverlay(ep);
                if (!ep.Removed)
                    LinkQh(ep);
            }
        }

        /// <summary>Rewrites the links between the remaining requests: each ends at the next one's first qTD (or the dummy).</summary>
        void RelinkQueue(Ep ep)
        {
            for (int i = 0; i < ep.Queue.Count; i++)
            {
                Req r = ep.Queue[i];
                uint end = i + 1 < ep.Queue.Count && ep.Queue[i + 1].Qtds.Count > 0 ? ep.Queue[i + 1].Qtds[0].Physical : ep.Dummy.Physical;
                SetRequestEnd(r, end);
            }
        }

        void SetRequestEnd(Req r, uint end)
        {
            int last = r.Qtds.Count - 1;
            for (int i = 0; i <= last; i++)
            {
                Qtd q = r.Qtds[i];
                if (q.AltToEnd)
                    EhciMemory.Write(q.Mem, EhciQtd.AlternateNextQtd, EhciLink.Qtd(end));
                if (i == last)
                    EhciMemory.Write(q.Mem, EhciQtd.NextQtd, EhciLink.Qtd(end));
            }
        }

        /// <summary>Points the (idle or halted, unlinked) overlay at the first remaining request; keeps the toggle (3.6.3).</summary>
        void ResetOverlay(Ep ep)
        {
            uint first = ep.Queue.Count > 0 && ep.Queue[0].Qtds.Count > 0 ? ep.Queue[0].Qtds[0].Physical : ep.Dummy.Physical;
            uint toggle = EhciMemory.Read(ep.Qh, EhciQh.OverlayToken) & EhciQtd.DataToggle;
            EhciMemory.Write(ep.Qh, EhciQh.CurrentQtd, 0);
            EhciMemory.Write(ep.Qh, EhciQh.OverlayNextQtd, EhciLink.Qtd(first));
            EhciMemory.Write(ep.Qh, EhciQh.OverlayAlternateNextQtd, EhciLink.Terminate);
            for (int i = 0; i < EhciQtd.Pages; i++)
                EhciMemory.Write(ep.Qh, EhciQh.OverlayBufferPointer0 + (uint)i * 4, 0);
            EhciMemory.Write(ep.Qh, EhciQh.OverlayToken, toggle);
        }

        /// <summary>Inserts the QH into its schedule right after the async head or its skeleton QH.</summary>
        void LinkQh(Ep ep)
        {
            if (ep.Periodic)
            {
                uint anchorLink = StaticOffset(ep.Anchor) + EhciQh.HorizontalLink;
                EhciMemory.Write(ep.Qh, EhciQh.HorizontalLink, EhciMemory.Read(_static, anchorLink));
                EhciMemory.Write(_static, anchorLink, EhciLink.Qh(ep.Physical));
                _chains[ep.Anchor].Insert(0, ep);
            }
            else
            {
                EhciMemory.Write(ep.Qh, EhciQh.HorizontalLink, EhciMemory.Read(_asyncHead, EhciQh.HorizontalLink));
                EhciMemory.Write(_asyncHead, EhciQh.HorizontalLink, EhciLink.Qh(ep.Physical));
                _async.Insert(0, ep);
            }
            ep.State = Link.Linked;
        }

        // ---- qTDs ----------------------------------------------------------------------------

        void FreeQtd(Qtd q)
        {
            if (q.Mem.IsNull)
                return;
            _qtds.Remove(q.Physical);
            _dma.Free(q.Mem);
            LiveQtds--;
            q.Mem = default(DmaBuffer);
            q.Request = null;
        }

        Qtd NewQtd()
        {
            DmaBuffer mem = _dma.Allocate(EhciQtd.AllocationSize, EhciQtd.Alignment, DmaLimit.Below4G);
            if (mem.IsNull)
                return null;
            LiveQtds++;
            var q = new Qtd { Mem = mem };
            // An inactive qTD (a dummy): the controller stops here (4.10.2).
            EhciMemory.Write(mem, EhciQtd.NextQtd, EhciLink.Terminate);
            EhciMemory.Write(mem, EhciQtd.AlternateNextQtd, EhciLink.Terminate);
            EhciMemory.Write(mem, EhciQtd.Token, 0);
            _qtds[q.Physical] = q;
            return q;
        }

        // ---- Devices and endpoints -----------------------------------------------------------

        public UsbStatus AllocateDevice(UsbDevice device) => UsbStatus.Ok;
        public void FreeDevice(UsbDevice device) { }

        public UsbStatus AddressDevice(UsbDevice device, byte address, out byte assigned)
        {
            assigned = address;
            return _bus.SendSetAddress(device, address);
        }

        /// <summary>QH DWord 1 and 2 for the endpoint (3.6.2), split fields from the device's transaction translator.</summary>
        static void QhWords(UsbDevice device, UsbEndpoint e, TransferType type, out uint characteristics, out uint capabilities, out int periodFrames)
        {
            int maxPacket = e.MaxPacketSize;
            if (maxPacket == 0) maxPacket = UsbDevice.DefaultMaxPacket0(device.Speed);
            bool control = type == TransferType.Control;
            bool periodic = type == TransferType.Interrupt;
            characteristics = EhciQh.EncodeCharacteristics(device.WireAddress, e.Number, device.Speed, maxPacket, control, !periodic, false);
            int hubAddress = 0, hubPort = 0;
            if (device.Speed != UsbSpeed.High && device.TtHub != null)
            {
                hubAddress = device.TtHub.WireAddress;
                hubPort = device.TtPort;
            }
            uint sMask = 0, cMask = 0;
            periodFrames = 0;
            if (periodic)
                EhciInterval.Schedule(device.Speed, e.Interval, out periodFrames, out sMask, out cMask);
            capabilities = EhciQh.EncodeCapabilities(hubAddress, hubPort, sMask, cMask);
            if (device.Speed == UsbSpeed.High && periodic && e.Descriptor.Mult > 1)
                capabilities = (capabilities & ~(3u << EhciQh.MultShift)) | ((uint)e.Descriptor.Mult << EhciQh.MultShift);
        }

        /// <summary>
        /// High-speed microseconds an interrupt endpoint takes in its S-mask and C-mask microframes
        /// (Linux ehci-sched.c qh usecs/c_usecs): the transaction itself at high speed; behind a TT
        /// the start split (carrying the data when OUT) and the complete split (carrying it when IN).
        /// </summary>
        static void InterruptCosts(UsbDevice device, UsbEndpoint e, out int startUs, out int completeUs)
        {
            int bytes = e.MaxPacketSize * (device.Speed == UsbSpeed.High ? e.Descriptor.Mult : 1);
            if (device.Speed == UsbSpeed.High)
            {
                startUs = EhciMicroframeBudget.HighSpeedUs(e.IsIn, false, bytes);
                completeUs = 0;
                return;
            }
            startUs = EhciMicroframeBudget.HighSpeedUs(false, false, e.IsIn ? 0 : bytes);
            completeUs = EhciMicroframeBudget.HighSpeedUs(true, false, e.IsIn ? bytes : 0);
        }

        /// <summary>Booked periodic microseconds in a microframe of the 32-frame cycle (tests, diagnostics).</summary>
        public int MicroframeLoadUs(int frame, int microframe)
        {
            lock (_lock)
                return _budget.Load(frame, microframe);
        }

        /// <summary>Public for tests: the QH words the driver would program for an endpoint.</summary>
        public static void EncodeQhFor(UsbDevice device, UsbEndpoint e, out uint characteristics, out uint capabilities, out int periodFrames) =>
            QhWords(device, e, e.Type, out characteristics, out capabilities, out periodFrames);

        public UsbStatus EnableEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            if (endpoint.Type == TransferType.Isochronous)
                return EnableIsoEndpoint(device, endpoint);
            lock (_lock)
            {
                if (!_running)
                    return UsbStatus.Shutdown;
                if (endpoint.HcdPrivate is Ep existing)
                {
                    existing.Device = device;
                    UpdateQh(existing);
                    return UsbStatus.Ok;
                }
                DmaBuffer qh = _dma.Allocate(EhciQh.AllocationSize, EhciQh.Alignment, DmaLimit.Below4G, EhciQh.Boundary);
                if (qh.IsNull)
                    return UsbStatus.NoMemory;
                Qtd dummy = NewQtd();
                if (dummy == null)
                {
                    _dma.Free(qh);
                    return UsbStatus.NoMemory;
                }
                LiveQhs++;
                var ep = new Ep { Endpoint = endpoint, Device = device, Qh = qh, Dummy = dummy, Type = endpoint.Type };
                ep.Periodic = endpoint.Type == TransferType.Interrupt;
                QhWords(device, endpoint, endpoint.Type, out uint chars, out uint caps, out int periodFrames);
                if (ep.Periodic)
                {
                    // The least loaded frame slot and microframe(s) that keep every microframe within budget.
                    ep.Level = EhciPeriodicTree.LevelFor(periodFrames);
                    InterruptCosts(device, endpoint, out int startUs, out int completeUs);
                    uint sMask = EhciQh.SMask(caps), cMask = EhciQh.CMask(caps);
                    ep.Placement = new PeriodicPlacement();
                    PeriodicBudget tt = _ttBudgets.For(device);
                    int ttUs = tt == null ? 0 : EhciTtBudgets.FullSpeedUs(device, endpoint.IsIn, false, endpoint.MaxPacketSize);
                    int period = EhciPeriodicTree.PeriodOfLevel(ep.Level);
                    bool placed;
                    if (device.Speed == UsbSpeed.High)
                        placed = _budget.Place(ep.Placement, period, sMask, cMask, EhciMicroframeBudget.LastMicroframe, startUs, completeUs, tt, ttUs);
                    else
                    {
                        // Splits: Linux check_intr_schedule's start microframes and complete masks.
                        EhciInterval.SplitPlacements(out uint[] sMasks, out uint[] cMasks);
                        placed = _budget.Place(ep.Placement, period, sMasks, cMasks, startUs, completeUs, tt, ttUs);
                    }
                    if (!placed)
                    {
                        _ttBudgets.DropEmpty();
                        FreeQtd(dummy);
                        _dma.Free(qh);
                        LiveQhs--;
                        Log.Warning(_tag + "no microframe left for interrupt endpoint " + Format.Hex(endpoint.Address, 2) +
                                    (tt == null ? "" : " (or no room on its transaction translator)"));
                        return UsbStatus.NoBandwidth;
                    }
                    ep.Anchor = EhciPeriodicTree.Index(ep.Level, ep.Placement.Phase);
                    caps = (caps & ~((EhciQh.MicroframeMask << EhciQh.SMaskShift) | (EhciQh.MicroframeMask << EhciQh.CMaskShift))) |
                           (ep.Placement.StartMask << EhciQh.SMaskShift) | (ep.Placement.CompleteMask << EhciQh.CMaskShift);
                }
                EhciMemory.Write(qh, EhciQh.EndpointCharacteristics, chars);
                EhciMemory.Write(qh, EhciQh.EndpointCapabilities, caps);
                EhciMemory.Write(qh, EhciQh.CurrentQtd, 0);
                EhciMemory.Write(qh, EhciQh.OverlayNextQtd, EhciLink.Qtd(dummy.Physical));
                EhciMemory.Write(qh, EhciQh.OverlayAlternateNextQtd, EhciLink.Terminate);
                EhciMemory.Write(qh, EhciQh.OverlayToken, 0);
                _eps.Add(ep);
                endpoint.HcdPrivate = ep;
                LinkQh(ep);
                return UsbStatus.Ok;
            }
        }

        /// <summary>Refreshes address and max packet (they change during enumeration) while the queue is idle.</summary>
        void UpdateQh(Ep ep)
        {
            if (ep.Queue.Count != 0)
                return;
            QhWords(ep.Device, ep.Endpoint, ep.Type, out uint chars, out uint caps, out int _);
            if (EhciMemory.Read(ep.Qh, EhciQh.EndpointCharacteristics) != chars)
                EhciMemory.Write(ep.Qh, EhciQh.EndpointCharacteristics, chars);
        }

        /// <summary>
        /// Removes the QH: unlink, wait (sleeping, bounded) for IAA or frames, then free it. The core
        /// has flushed the queue; anything left goes back as shut down. Thread context.
        /// </summary>
        public void DisableEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            if (endpoint.HcdPrivate is IsoEp iso)
            {
                DisableIsoEndpoint(endpoint, iso);
                return;
            }
            Ep ep;
            lock (_lock)
            {
                ep = endpoint.HcdPrivate as Ep;
                if (ep == null)
                    return;
                endpoint.HcdPrivate = null;
                ep.Removed = true;
                StartUnlink(ep);
            }
            ulong start = _clock.Milliseconds;
            while (true)
            {
                lock (_lock)
                {
                    if (ep.State != Link.Unlinking)
                        break;
                    if (_clock.Milliseconds - start > UnlinkRoundsBound * UnlinkTimeoutMs)
                    {
                        // Give up waiting; leave the QH allocated (never freed) rather than risk DMA into reused memory.
                        Log.Warning(_tag + "QH unlink timed out; leaking it");
                        _frameWait.Remove(ep);
                        _iaaBatch.Remove(ep);
                        _iaaNext.Remove(ep);
                        ep.State = Link.Unlinked;
                        ep.Qh = default(DmaBuffer);
                        break;
                    }
                }
                if (_running)
                    Service(UsbSts.InterruptMask, false);
                _clock.Sleep(PollSleepMs);
            }
            lock (_lock)
            {
                ep.Queue.CompleteAll(UsbStatus.Shutdown, true, _giveBack, _bus, FreeRequestQtds);
                FreeQtd(ep.Dummy);
                if (!ep.Qh.IsNull)
                {
                    _dma.Free(ep.Qh);
                    LiveQhs--;
                    ep.Qh = default(DmaBuffer);
                }
                _eps.Remove(ep);
                if (ep.Placement != null)
                {
                    _budget.Release(ep.Placement);
                    _ttBudgets.DropEmpty();
                }
            }
            DeliverCompletions();
        }

        /// <summary>Data toggle back to DATA0 after CLEAR_FEATURE(ENDPOINT_HALT) (only while the overlay is not executing).</summary>
        public void ResetEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            lock (_lock)
            {
                if (!(endpoint.HcdPrivate is Ep ep) || ep.Qh.IsNull)
                    return;
                uint token = EhciMemory.Read(ep.Qh, EhciQh.OverlayToken);
                if ((token & EhciQtd.Active) == 0)
                    EhciMemory.Write(ep.Qh, EhciQh.OverlayToken, token & ~EhciQtd.DataToggle);
            }
        }

        /// <summary>The core finished the failed request's completion: restart the halted QH at the next request.</summary>
        public void EndpointResumed(UsbEndpoint endpoint)
        {
            lock (_lock)
            {
                if (!(endpoint.HcdPrivate is Ep ep) || !ep.Halted || ep.Qh.IsNull)
                    return;
                ep.Halted = false;
                RelinkQueue(ep);
                ResetOverlay(ep);
                ScanEndpoint(ep);
            }
            DeliverCompletions();
        }

        // ---- Requests (4.10) -----------------------------------------------------------------

        /// <summary>One qTD to build.</summary>
        struct QtdPlan
        {
            public uint Pid;
            public bool Toggle, IsData, AltToEnd, AltToStatus;
            public ulong Buffer;
            public int Length;
        }

        /// <summary>Splits a data stage into qTDs of up to 20 KiB (five pages, 3.5.4) ending on packet boundaries.</summary>
        static int PlanData(QtdPlan[] plan, int count, uint pid, bool toggle, ulong buffer, int length, int maxPacket, bool control)
        {
            int offset = 0;
            do
            {
                int n = EhciQtd.ChunkLength(buffer + (ulong)offset, length - offset, maxPacket);
                plan[count++] = new QtdPlan
                {
                    Pid = pid,
                    Toggle = toggle,
                    IsData = true,
                    AltToEnd = !control,
                    AltToStatus = control,
                    Buffer = buffer + (ulong)offset,
                    Length = n,
                };
                offset += n;
            } while (offset < length);
            return count;
        }

        /// <summary>Number of data qTDs a transfer needs (at least one).</summary>
        public static int DataQtdCount(ulong buffer, int length, int maxPacket)
        {
            int count = 0, offset = 0;
            do
            {
                offset += EhciQtd.ChunkLength(buffer + (ulong)offset, length - offset, maxPacket);
                count++;
            } while (offset < length);
            return count;
        }

        public UsbStatus Submit(UsbRequest request)
        {
            if (request.Endpoint.HcdPrivate is IsoEp iso)
                return SubmitIso(request, iso);
            lock (_lock)
            {
                if (!_running)
                    return UsbStatus.Shutdown;
                var ep = request.Endpoint.HcdPrivate as Ep;
                if (ep == null || ep.Removed || ep.Qh.IsNull)
                    return UsbStatus.Shutdown;
                if (!ep.Periodic)
                    WakeAsyncSchedule();
                UpdateQh(ep);
                int maxPacket = request.Endpoint.MaxPacketSize;
                if (maxPacket <= 0) maxPacket = UsbDevice.DefaultMaxPacket0(ep.Device.Speed);
                ulong buffer = request.Length > 0 ? request.Buffer.Physical : 0;
                int length = request.Length;
                bool control = ep.Type == TransferType.Control;
                bool zeroPacket = !request.DirectionIn && length > 0 && length % maxPacket == 0 &&
                                  request.HasFlag(UsbRequestFlags.ZeroPacket) && !control;
                var plan = new QtdPlan[DataQtdCount(buffer, length, maxPacket) + 2];
                int count = 0;
                if (control)
                {
                    plan[count++] = new QtdPlan { Pid = EhciQtd.PidSetup, Toggle = false, Buffer = request.Setup.Physical, Length = SetupPacket.Size };
                    if (length > 0)
                        count = PlanData(plan, count, request.DirectionIn ? EhciQtd.PidIn : EhciQtd.PidOut, true, buffer, length, maxPacket, true);
                    // Status stage: opposite direction (IN when there is no data), DATA1 (USB 2.0 8.5.3).
                    plan[count++] = new QtdPlan { Pid = request.DirectionIn && length > 0 ? EhciQtd.PidOut : EhciQtd.PidIn, Toggle = true };
                }
                else
                {
                    uint pid = request.DirectionIn ? EhciQtd.PidIn : EhciQtd.PidOut;
                    count = PlanData(plan, count, pid, false, buffer, length, maxPacket, false);
                    if (zeroPacket)
                        plan[count++] = new QtdPlan { Pid = pid, IsData = true, AltToEnd = true };
                }

                // The current dummy takes the first qTD; the last new one becomes the dummy.
                var qtds = new Qtd[count + 1];
                qtds[0] = ep.Dummy;
                for (int i = 1; i <= count; i++)
                {
                    qtds[i] = NewQtd();
                    if (qtds[i] == null)
                    {
                        for (int j = 1; j < i; j++)
                            FreeQtd(qtds[j]);
                        return UsbStatus.NoMemory;
                    }
                }
                var r = new Req { Request = request, Endpoint = ep };
                uint end = qtds[count].Physical;
                uint status = qtds[count - 1].Physical;
                uint firstToken = 0;
                for (int i = 0; i < count; i++)
                {
                    Qtd q = qtds[i];
                    QtdPlan p = plan[i];
                    q.Request = r;
                    q.Length = p.Length;
                    q.IsData = p.IsData;
                    q.AltToEnd = p.AltToEnd;
                    EhciQtd.BufferPointers(p.Buffer, p.Length, _pointers, _pointersHigh);
                    for (int page = 0; page < EhciQtd.Pages; page++)
                    {
                        EhciMemory.Write(q.Mem, EhciQtd.BufferPointer0 + (uint)page * 4, _pointers[page]);
                        EhciMemory.Write(q.Mem, EhciQtd.ExtendedBufferPointer0 + (uint)page * 4, _pointersHigh[page]);
                    }
                    EhciMemory.Write(q.Mem, EhciQtd.NextQtd, EhciLink.Qtd(qtds[i + 1].Physical));
                    uint alt = p.AltToEnd ? EhciLink.Qtd(end) : p.AltToStatus ? EhciLink.Qtd(status) : EhciLink.Terminate;
                    EhciMemory.Write(q.Mem, EhciQtd.AlternateNextQtd, alt);
                    bool last = i == count - 1;
                    uint token = EhciQtd.EncodeToken(p.Pid, p.Length, p.Toggle, last);
                    if (i == 0)
                        firstToken = token; // written last: that hands the chain to the controller
                    else
                        EhciMemory.Write(q.Mem, EhciQtd.Token, token);
                    r.Qtds.Add(q);
                }
                ep.Dummy = qtds[count];
                ep.Queue.Add(r);
                request.HcdPrivate = r;
                EhciMemory.Write(qtds[0].Mem, EhciQtd.Token, firstToken);
                return UsbStatus.Ok;
            }
        }

        public UsbStatus Cancel(UsbRequest request, UsbStatus status)
        {
            if (request.HcdPrivate is IsoReq iso && iso.Request == request)
                return CancelIso(request, iso, status);
            lock (_lock)
            {
                var r = request.HcdPrivate as Req;
                UsbStatus state = HcdRequest.BeginCancel(r, request, status);
                if (state != UsbStatus.InProgress)
                    return state;
                Ep ep = r.Endpoint;
                // Linked: unlink now. Unlinking: the pending unlink handles it too. Unlinked
                // (endpoint being removed): DisableEndpoint gives it back.
                if (ep.State == Link.Linked)
                    StartUnlink(ep);
            }
            DeliverCompletions();
            return UsbStatus.Ok;
        }

        // ---- Root hub ------------------------------------------------------------------------

        public UsbStatus RootHubControl(SetupPacket setup, Span<byte> data, out int actualLength)
        {
            if (_rootHub == null)
            {
                actualLength = 0;
                return UsbStatus.Shutdown;
            }
            return _rootHub.Control(setup, data, out actualLength);
        }

        public int RootHubStatusData(Span<byte> bitmap) => _rootHub != null && _running ? _rootHub.StatusData(bitmap) : 0;
    }
}
