using System;
using System.Collections.Generic;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Hcd.Ohci
{
    /// <summary>
    /// OHCI host controller driver (OpenHCI 1.0a; structure after Linux ohci-hcd). Control and bulk
    /// EDs hang off permanent skipped head EDs, interrupt EDs off the static tree
    /// (<see cref="OhciInterruptTree"/>). Every ED keeps a dummy tail TD (4.6: the controller
    /// stops at TailP). Completions come from the done queue (4.4.2.3, 6.4.4.4), root hub changes
    /// from RHSC; cancellations set sKip and wait for the next start of frame before TDs are
    /// touched. Isochronous EDs and TDs: <c>OhciIsochronous.cs</c>. Managed objects (<see cref="Td"/>, <see cref="Req"/>, <see cref="Ep"/>) hold every
    /// reference; TD physical addresses map back to them through a dictionary.
    /// </summary>
    public sealed unsafe partial class OhciController : IHostController
    {
        /// <summary>Bound of the SMM hand-off wait (Linux: 500 ms in the PCI quirk, 5 s in ohci_run).</summary>
        public const uint HandoffTimeoutMs = 1000;
        /// <summary>Polls of HCR after HostControllerReset (spec: done within 10 us), 1 us apart.</summary>
        public const int ResetPolls = 100;
        /// <summary>Start-of-frames to see before TDs of a skipped ED may be touched (5.2.7.1.2).</summary>
        public const int UnlinkFrames = 2;
        /// <summary>
        /// Bound on an unlink when frames do not advance (controller stopped) (ms). A real
        /// controller passes two frames in 2 ms; the margin is for an emulated one whose host is
        /// busy (the kernel's clock keeps real time while the emulation may be starved).
        /// </summary>
        public const uint UnlinkTimeoutMs = 200;
        /// <summary>Bound of the wait before a removed ED is freed (ms); the same margin.</summary>
        public const uint EdRemoveTimeoutMs = 250;
        /// <summary>Fallback poll period with and without a working interrupt (ms).</summary>
        public const uint PollPeriodMs = 50;
        public const uint PollPeriodNoIrqMs = 1;
        /// <summary>Bound of a done-queue walk (protects against corrupt links).</summary>
        const int MaxDoneWalk = 4096;
        /// <summary>An MMIO read of all ones: the controller is gone (surprise removal, PCI error).</summary>
        const uint RegisterGone = 0xFFFFFFFF;
        /// <summary>Static EDs: the interrupt tree plus the control and bulk list heads.</summary>
        const int ControlHeadIndex = OhciInterruptTree.StaticEdCount;
        const int BulkHeadIndex = OhciInterruptTree.StaticEdCount + 1;
        const int StaticEds = OhciInterruptTree.StaticEdCount + 2;

        /// <summary>One TD in DMA memory (general, or isochronous on an F = 1 ED) and what it carries.</summary>
        sealed class Td
        {
            /// <summary>An isochronous TD (4.3.2) carrying packets FirstPacket .. FirstPacket + PacketCount - 1.</summary>
            public bool IsIso;
            public int FirstPacket, PacketCount;
            public DmaBuffer Mem;
            public Req Request;
            public uint BufferStart;
            public int Length;
            /// <summary>Counts towards the request's actual length (not SETUP/status stages).</summary>
            public bool IsData;
            /// <summary>Still linked in the ED's hardware queue (set while rebuilding).</summary>
            public bool InHardware;
            public uint Physical => (uint)Mem.Physical;
        }

        /// <summary>Controller state of one request (UsbRequest.HcdPrivate): the shared lifecycle plus its TDs.</summary>
        sealed class Req : HcdRequest
        {
            public Ep Endpoint;
            public readonly List<Td> Tds = new List<Td>();
        }

        /// <summary>Controller state of one endpoint (UsbEndpoint.HcdPrivate): its ED and queue.</summary>
        sealed class Ep
        {
            public UsbEndpoint Endpoint;
            public UsbDevice Device;
            public DmaBuffer Ed;
            public Td Dummy;
            public readonly RequestQueue<Req> Queue = new RequestQueue<Req>();
            public TransferType Type;
            /// <summary>
            /// Periodic EDs: the tree level and branch (slot) the bandwidth is booked on, and the
            /// microseconds booked in each of its frames (Linux ed-&gt;interval, branch, load); Level
            /// -1 when nothing is booked. An interrupt ED hangs after static ED (Level, Slot); an
            /// isochronous ED hangs at the end of the 1 ms list and its packets go only into the
            /// frames of its branch.
            /// </summary>
            public int Level = -1, Slot, LoadUs;
            /// <summary>Isochronous endpoints: where the stream stands in (16-bit) frame time.</summary>
            public UsbIsoStream IsoStream;
            /// <summary>Index of the static ED it hangs after (interrupt), or a list head.</summary>
            public int Anchor;
            public bool UnlinkPending;
            public ushort UnlinkFrame;
            public ulong UnlinkMs;
            public bool Removed;
            public uint Physical => (uint)Ed.Physical;
        }

        readonly IRegisterBlock _regs;
        readonly IClock _clock;
        readonly IThreading _threading;
        readonly IDmaAllocator _dma;
        readonly string _busId;
        readonly object _lock = new object();
        readonly Dictionary<uint, Td> _tds = new Dictionary<uint, Td>();
        readonly List<Ep> _unlinking = new List<Ep>();
        /// <summary>EDs hung after each static ED, in hardware order (index as in the static array).</summary>
        readonly List<Ep>[] _chains = new List<Ep>[StaticEds];
        readonly OhciInterruptTree _tree = new OhciInterruptTree();
        readonly GiveBackQueue _giveBack = new GiveBackQueue();
        DmaBuffer _hcca;
        DmaBuffer _static;
        OhciRootHub _rootHub;
        UsbBus _bus;
        uint _frameInterval;
        volatile bool _running;
        volatile bool _stopping;
        public bool InterruptAttached;
        public int LiveTds, LiveEds;

        public OhciController(IRegisterBlock regs, IClock clock, IThreading threading, IDmaAllocator dma, string busId)
        {
            _regs = regs;
            _clock = clock;
            _threading = threading;
            _dma = dma;
            _busId = busId;
            for (int i = 0; i < StaticEds; i++)
                _chains[i] = new List<Ep>();
        }

        public string DriverName => OhciPciDriver.DriverName;
        public string HcdDescription => "ohci_hcd";
        public string Description => "OHCI PCI host controller";
        public string BusId => _busId;
        public UsbSpeed RootHubSpeed => UsbSpeed.Full;
        public int RootPortCount => _rootHub != null ? _rootHub.PortCount : 0;
        public bool AssignsAddresses => false;
        public bool RootHubHasTt => false;
        public uint FrameNumber => _regs.Read32(OhciReg.HcFmNumber) & HcFmInterval.FrameNumberMask;
        public bool IsRunning => _running;

        static string Tag(string busId) => "ohci-pci " + busId + ": ";

        // ---- Bring-up (5.1.1) ------------------------------------------------------------------

        /// <summary>
        /// Takes the controller from the firmware (<see cref="TakeOverFromSmm"/>), resets it (HCR,
        /// bounded), keeps FmInterval, and builds HCCA and the static EDs. The controller is left in
        /// UsbSuspend with interrupts off; <see cref="Start"/> runs it.
        /// </summary>
        public UsbStatus Reset()
        {
            uint revision = _regs.Read32(OhciReg.HcRevision);
            if (revision == RegisterGone)
                return UsbStatus.NoDevice;
            uint control = _regs.Read32(OhciReg.HcControl);
            if ((control & HcControl.InterruptRouting) != 0)
                TakeOverFromSmm();
            _regs.Write32(OhciReg.HcInterruptDisable, HcInterrupt.MasterInterruptEnable | HcInterrupt.AllSources);

            if (_hcca.IsNull)
            {
                _hcca = _dma.Allocate(OhciHcca.Size, OhciHcca.Alignment, DmaLimit.Below4G);
                _static = _dma.Allocate(StaticEds * OhciEd.Size, OhciEd.Alignment, DmaLimit.Below4G);
                if (_hcca.IsNull || _static.IsNull)
                    return UsbStatus.NoMemory;
                BuildStaticEds();
            }

            uint fm = _regs.Read32(OhciReg.HcFmInterval);
            _frameInterval = fm & HcFmInterval.FrameIntervalMask;
            if (_frameInterval == 0)
                _frameInterval = HcFmInterval.DefaultFrameInterval;
            // Put the bus in reset first (firmware may have left schedules running), then HCR.
            // RemoteWakeupConnected is the firmware's statement about the board (7.1.2): kept, as Linux
            // does (OHCI_CTRL_RWC); InterruptRouting is cleared, so a BIOS that would not let go
            // loses its interrupts anyway.
            _regs.Write32(OhciReg.HcControl, HcControl.UsbReset | FirmwareControlBits());
            _regs.Write32(OhciReg.HcCommandStatus, HcCommandStatus.HostControllerReset);
            int poll = 0;
            while ((_regs.Read32(OhciReg.HcCommandStatus) & HcCommandStatus.HostControllerReset) != 0)
            {
                if (++poll > ResetPolls)
                {
                    Log.Error(Tag(_busId) + "USB HC reset timed out!");
                    return UsbStatus.Timeout;
                }
                _clock.Stall(1);
            }
            // Now in UsbSuspend: the rest of the set-up must follow within 2 ms (5.1.1.4).
            _regs.Write32(OhciReg.HcFmInterval, HcFmInterval.Compose(_frameInterval, _regs.Read32(OhciReg.HcFmInterval)));
            _regs.Write32(OhciReg.HcPeriodicStart, HcFmInterval.PeriodicStart(_frameInterval));
            _regs.Write32(OhciReg.HcHCCA, (uint)_hcca.Physical);
            _regs.Write32(OhciReg.HcControlHeadED, StaticPhysical(ControlHeadIndex));
            _regs.Write32(OhciReg.HcControlCurrentED, 0);
            _regs.Write32(OhciReg.HcBulkHeadED, StaticPhysical(BulkHeadIndex));
            _regs.Write32(OhciReg.HcBulkCurrentED, 0);
            _regs.Write32(OhciReg.HcInterruptStatus, HcInterrupt.AllSources);
            _rootHub = new OhciRootHub(_regs, _clock);
            return UsbStatus.Ok;
        }

        /// <summary>
        /// OpenHCI 1.0a 5.1.1.3.3, an SMM driver owns the controller (InterruptRouting set): unmask the
        /// OwnershipChange interrupt, which the controller turns into an SMI, set
        /// OwnershipChangeRequest, and wait (bounded by <see cref="HandoffTimeoutMs"/>) for the SMM
        /// code to clear InterruptRouting. Linux quirk_usb_handoff_ohci and ohci_run do the same.
        /// Returns false, after a log line, when the firmware kept the controller.
        /// </summary>
        bool TakeOverFromSmm()
        {
            _regs.Write32(OhciReg.HcInterruptEnable, HcInterrupt.OwnershipChange);
            _regs.Write32(OhciReg.HcCommandStatus, HcCommandStatus.OwnershipChangeRequest);
            ulong start = _clock.Milliseconds;
            int polls = 0;
            while ((_regs.Read32(OhciReg.HcControl) & HcControl.InterruptRouting) != 0)
            {
                if (_clock.Milliseconds - start >= HandoffTimeoutMs || ++polls > (int)HandoffTimeoutMs * 2)
                {
                    Log.Warning(Tag(_busId) + "USB HC takeover failed! (BIOS/SMM bug) HcControl " +
                                Format.Hex(_regs.Read32(OhciReg.HcControl), 8) + "; resetting it anyway");
                    return false;
                }
                _clock.Sleep(1);
            }
            Log.Info(Tag(_busId) + "USB HC taken over from SMM firmware");
            return true;
        }

        /// <summary>
        /// HcControl bits every write keeps: RemoteWakeupConnected is the firmware's statement about
        /// the board, which a software reset leaves alone (7.1.2; Linux OHCI_CTRL_RWC).
        /// </summary>
        uint FirmwareControlBits() => _regs.Read32(OhciReg.HcControl) & HcControl.RemoteWakeupConnected;

        uint StaticPhysical(int index) => (uint)_static.Physical + (uint)index * OhciEd.Size;
        uint StaticOffset(int index) => (uint)index * OhciEd.Size;

        /// <summary>Static EDs: skipped, no TDs, linked as the tree; HCCA entries point at level 5.</summary>
        void BuildStaticEds()
        {
            for (int level = 0; level < OhciInterruptTree.Levels; level++)
            {
                for (int slot = 0; slot < (1 << level); slot++)
                {
                    int index = OhciInterruptTree.Index(level, slot);
                    int next = OhciInterruptTree.NextIndex(level, slot);
                    OhciMemory.Write(_static, StaticOffset(index) + OhciEd.Control, OhciEd.Skip);
                    OhciMemory.Write(_static, StaticOffset(index) + OhciEd.NextED, next < 0 ? 0 : StaticPhysical(next));
                }
            }
            OhciMemory.Write(_static, StaticOffset(ControlHeadIndex) + OhciEd.Control, OhciEd.Skip);
            OhciMemory.Write(_static, StaticOffset(BulkHeadIndex) + OhciEd.Control, OhciEd.Skip);
            for (int entry = 0; entry < OhciHcca.InterruptTableEntries; entry++)
                OhciMemory.Write(_hcca, OhciHcca.InterruptTable + (uint)entry * 4, StaticPhysical(OhciInterruptTree.TableEntryIndex(entry)));
        }

        /// <summary>Called by the core on registration: go UsbOperational, enable interrupts, power the ports.</summary>
        public void Start(UsbBus bus)
        {
            _bus = bus;
            _regs.Write32(OhciReg.HcControl, HcControl.ControlBulkRatio4To1 | HcControl.PeriodicListEnable | HcControl.IsochronousEnable |
                                             HcControl.ControlListEnable | HcControl.BulkListEnable | HcControl.UsbOperational |
                                             FirmwareControlBits());
            _running = true;
            _regs.Write32(OhciReg.HcInterruptStatus, HcInterrupt.AllSources);
            _regs.Write32(OhciReg.HcInterruptEnable, HcInterrupt.Default);
            _rootHub.PowerOn();
            _clock.Sleep(_rootHub.PowerOnToPowerGoodMs);
            _watchdog = new InterruptWatchdog(_clock, Tag(_busId));
            if (_threading.StartThread("ohci-poll", PollLoop) == 0)
                Log.Warning(Tag(_busId) + "no poll thread");
        }

        public void Stop()
        {
            _stopping = true;
            lock (_lock)
            {
                _running = false;
                _regs.Write32(OhciReg.HcInterruptDisable, HcInterrupt.MasterInterruptEnable | HcInterrupt.AllSources);
                _regs.Write32(OhciReg.HcControl, HcControl.UsbReset | FirmwareControlBits());
                for (int i = 0; i < StaticEds; i++)
                    for (int j = 0; j < _chains[i].Count; j++)
                    {
                        Ep ep = _chains[i][j];
                        ep.Queue.CompleteAll(UsbStatus.Shutdown, false, _giveBack, _bus, null);
                    }
            }
            DeliverCompletions();
        }

        void PollLoop()
        {
            while (!_stopping)
            {
                _clock.Sleep(InterruptAttached ? PollPeriodMs : PollPeriodNoIrqMs);
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
            Service(PollSources, true);
        }

        /// <summary>An enabled interrupt condition is set in HcInterruptStatus (so the line should be asserted).</summary>
        bool InterruptPending()
        {
            uint enabled = _regs.Read32(OhciReg.HcInterruptEnable);
            uint status = _regs.Read32(OhciReg.HcInterruptStatus);
            return status != RegisterGone && (enabled & HcInterrupt.MasterInterruptEnable) != 0 && (status & enabled & HcInterrupt.AllSources) != 0;
        }

        /// <summary>Gives the interrupt line up when it never delivers (set in <see cref="Start"/>).</summary>
        InterruptWatchdog _watchdog;
        public bool InterruptLineDead => _watchdog != null && _watchdog.LineDead;

        // ---- Interrupts (7.1.4) --------------------------------------------------------------

        /// <summary>Interrupt handler; returns true when this controller raised the (possibly shared) line.</summary>
        public bool HandleInterrupt()
        {
            InterruptWatchdog watchdog = _watchdog;
            if (watchdog != null)
                watchdog.HandlerCalled();
            if (!_running)
                return false;
            uint status = _regs.Read32(OhciReg.HcInterruptStatus);
            if (status == RegisterGone)
                return false;
            uint enabled = _regs.Read32(OhciReg.HcInterruptEnable);
            if ((enabled & HcInterrupt.MasterInterruptEnable) == 0)
                return false;
            status &= enabled & HcInterrupt.AllSources;
            if (status == 0)
                return false;
            Service(enabled & HcInterrupt.AllSources, false);
            return true;
        }

        const uint PollSources = HcInterrupt.WritebackDoneHead | HcInterrupt.RootHubStatusChange | HcInterrupt.StartOfFrame |
                                 HcInterrupt.UnrecoverableError | HcInterrupt.SchedulingOverrun;

        /// <summary>
        /// Handles the sources in <paramref name="mask"/>. The status register is read under the lock
        /// so that WDH is only acknowledged after the done head it announced has been taken.
        /// </summary>
        void Service(uint mask, bool poll)
        {
            bool rootHub = false;
            lock (_lock)
            {
                if (!_running)
                    return;
                uint status = _regs.Read32(OhciReg.HcInterruptStatus);
                if (status == RegisterGone)
                    return;
                status &= mask;
                if ((status & HcInterrupt.WritebackDoneHead) != 0)
                    ProcessDoneQueue();
                if ((status & HcInterrupt.UnrecoverableError) != 0)
                    Log.Error(Tag(_busId) + "OHCI Unrecoverable Error, disabled");
                if ((status & HcInterrupt.RootHubStatusChange) != 0)
                    rootHub = true;
                if (status != 0)
                    _regs.Write32(OhciReg.HcInterruptStatus, status);
                if (_unlinking.Count > 0)
                    ProcessUnlinks();
            }
            if ((rootHub || poll) && _bus != null)
                _bus.RootHubStatusChanged();
            DeliverCompletions();
        }

        void DeliverCompletions() => _giveBack.Deliver();

        void Complete(Req r, UsbStatus status)
        {
            if (r.Endpoint.Type == TransferType.Isochronous && status != UsbStatus.Ok)
                EvaluateRemainingItds(r);
            r.Endpoint.Queue.Complete(r, status, _giveBack, _bus);
        }

        /// <summary>
        /// Reads HccaDoneHead (4.4.2.3), reverses the LIFO list into completion order and retires
        /// each TD: actual length from CBP, status from the condition code (4.3.3).
        /// </summary>
        void ProcessDoneQueue()
        {
            uint head = OhciMemory.Read(_hcca, OhciHcca.DoneHead) & OhciEd.PointerMask;
            OhciMemory.Write(_hcca, OhciHcca.DoneHead, 0);
            var order = new List<Td>();
            int guard = 0;
            while (head != 0 && guard++ < MaxDoneWalk)
            {
                if (!_tds.TryGetValue(head, out Td td))
                {
                    Log.Error(Tag(_busId) + "done queue holds an unknown TD 0x" + Format.Hex(head));
                    break;
                }
                order.Add(td);
                head = OhciMemory.Read(td.Mem, OhciTd.NextTD) & OhciEd.PointerMask;
            }
            for (int i = order.Count - 1; i >= 0; i--)
                Retire(order[i]);
        }

        void Retire(Td td)
        {
            if (td.IsIso)
            {
                RetireIso(td);
                return;
            }
            Req r = td.Request;
            uint control = OhciMemory.Read(td.Mem, OhciTd.Control);
            uint cbp = OhciMemory.Read(td.Mem, OhciTd.CurrentBufferPointer);
            int cc = OhciTd.ConditionCode(control);
            r.Tds.Remove(td);
            FreeTd(td);
            if (r.Finished)
                return; // cancelled or failed earlier; the TD was already in flight
            if (td.IsData)
                r.Actual += OhciTd.Transferred(cbp, td.BufferStart, td.Length);
            Ep ep = r.Endpoint;
            if (cc == OhciConditionCode.NoError)
            {
                if (r.Tds.Count == 0)
                    Complete(r, UsbStatus.Ok);
                return;
            }
            // The controller halted the ED (4.3.3 / 6.4.4.3). Drop the rest of this request.
            Complete(r, cc == OhciConditionCode.DataUnderrun ? UsbStatus.Ok : OhciConditionCode.ToStatus(cc));
            RebuildQueue(ep, r);
            if (cc == OhciConditionCode.DataUnderrun)
            {
                // Short packet on a TD without bufferRounding: not an error (Linux ed_halted).
                ClearHalt(ep);
            }
            else if (cc != OhciConditionCode.Stall)
            {
                Log.Debug(Tag(_busId) + "TD error " + OhciConditionCode.Name(cc) + " ep " + Format.Hex(ep.Endpoint.Address, 2) +
                          " EC " + Format.Decimal((ulong)OhciTd.ErrorCount(control)));
            }
        }

        void ClearHalt(Ep ep)
        {
            uint head = OhciMemory.Read(ep.Ed, OhciEd.HeadP);
            OhciMemory.Write(ep.Ed, OhciEd.HeadP, head & ~OhciEd.Halted);
            Kick(ep);
        }

        void Kick(Ep ep)
        {
            if (ep.Type == TransferType.Control)
                _regs.Write32(OhciReg.HcCommandStatus, HcCommandStatus.ControlListFilled);
            else if (ep.Type == TransferType.Bulk)
                _regs.Write32(OhciReg.HcCommandStatus, HcCommandStatus.BulkListFilled);
        }

        /// <summary>
        /// Rewrites the ED's TD chain (only while the controller cannot be using it: halted, or
        /// skipped for a frame): TDs still linked in hardware that belong to finished requests are
        /// freed (toggle saved as Linux does), the rest are relinked in queue order before the dummy.
        /// </summary>
        void RebuildQueue(Ep ep, Req finished)
        {
            uint tail = ep.Dummy.Physical;
            uint headWord = OhciMemory.Read(ep.Ed, OhciEd.HeadP);
            uint cursor = headWord & OhciEd.PointerMask;
            int guard = 0;
            while (cursor != tail && cursor != 0 && guard++ < MaxDoneWalk)
            {
                if (!_tds.TryGetValue(cursor, out Td td))
                    break;
                td.InHardware = true;
                cursor = OhciMemory.Read(td.Mem, OhciTd.NextTD) & OhciEd.PointerMask;
            }
            uint flags = headWord & (OhciEd.ToggleCarry | OhciEd.Halted);
            if (finished != null)
                DropLinked(finished, ref flags);
            for (int i = 0; i < _unlinkDropped.Count; i++)
                DropLinked(_unlinkDropped[i], ref flags);
            uint first = tail;
            Td previous = null;
            for (int i = 0; i < ep.Queue.Count; i++)
            {
                List<Td> tds = ep.Queue[i].Tds;
                for (int j = 0; j < tds.Count; j++)
                {
                    Td td = tds[j];
                    if (!td.InHardware)
                        continue;
                    td.InHardware = false;
                    if (previous == null)
                        first = td.Physical;
                    else
                        OhciMemory.Write(previous.Mem, OhciTd.NextTD, td.Physical);
                    previous = td;
                }
            }
            if (previous != null)
                OhciMemory.Write(previous.Mem, OhciTd.NextTD, tail);
            OhciMemory.Write(ep.Ed, OhciEd.HeadP, first | flags);
        }

        readonly List<Req> _unlinkDropped = new List<Req>();

        void DropLinked(Req r, ref uint flags)
        {
            for (int j = r.Tds.Count - 1; j >= 0; j--)
            {
                Td td = r.Tds[j];
                if (!td.InHardware)
                    continue; // retired, still on its way through the done queue
                td.InHardware = false;
                uint control = OhciMemory.Read(td.Mem, OhciTd.Control);
                if ((control & OhciTd.ToggleFromTd) != 0 && r.Endpoint.Type != TransferType.Control && !td.IsIso)
                    flags = (control & OhciTd.ToggleValue) != 0 ? flags | OhciEd.ToggleCarry : flags & ~OhciEd.ToggleCarry;
                r.Tds.RemoveAt(j);
                FreeTd(td);
            }
        }

        ushort CurrentFrame() => (ushort)(_regs.Read32(OhciReg.HcFmNumber) & HcFmInterval.FrameNumberMask);

        /// <summary>HcFmNumber's 16-bit frame counter (5.2.7.1.2 unlink waits count in it).</summary>
        static readonly FrameCounter Frames = new FrameCounter(HcFmInterval.FrameNumberMask);

        /// <summary>Finishes cancellations whose ED has been skipped for <see cref="UnlinkFrames"/> frames.</summary>
        void ProcessUnlinks()
        {
            ushort frame = CurrentFrame();
            ulong now = _clock.Milliseconds;
            for (int i = _unlinking.Count - 1; i >= 0; i--)
            {
                Ep ep = _unlinking[i];
                bool framesPassed = Frames.Elapsed(frame, ep.UnlinkFrame) >= UnlinkFrames;
                if (!framesPassed && now - ep.UnlinkMs < UnlinkTimeoutMs)
                    continue;
                _unlinking.RemoveAt(i);
                ep.UnlinkPending = false;
                _unlinkDropped.Clear();
                ep.Queue.TakeCancelled(_unlinkDropped);
                for (int j = 0; j < _unlinkDropped.Count; j++)
                    Complete(_unlinkDropped[j], _unlinkDropped[j].CancelStatus);
                RebuildQueue(ep, null);
                _unlinkDropped.Clear();
                if (!ep.Removed)
                {
                    OhciMemory.Write(ep.Ed, OhciEd.Control, OhciMemory.Read(ep.Ed, OhciEd.Control) & ~OhciEd.Skip);
                    Kick(ep);
                }
            }
            if (_unlinking.Count == 0)
                _regs.Write32(OhciReg.HcInterruptDisable, HcInterrupt.StartOfFrame);
        }

        void FreeTd(Td td)
        {
            _tds.Remove(td.Physical);
            if (!td.Mem.IsNull)
            {
                _dma.Free(td.Mem);
                LiveTds--;
            }
            td.Mem = default(DmaBuffer);
            td.Request = null;
            td.IsIso = false;
        }

        Td NewTd() => NewTd(OhciTd.Size, OhciTd.Alignment);

        /// <summary>A TD of <paramref name="size"/> bytes (16 for a general TD, 32 for an isochronous one).</summary>
        Td NewTd(uint size, uint alignment)
        {
            DmaBuffer mem = _dma.Allocate(size, alignment, DmaLimit.Below4G);
            if (mem.IsNull)
                return null;
            LiveTds++;
            return new Td { Mem = mem };
        }

        // ---- Devices and endpoints -----------------------------------------------------------

        public UsbStatus AllocateDevice(UsbDevice device) => UsbStatus.Ok;
        public void FreeDevice(UsbDevice device) { }

        public UsbStatus AddressDevice(UsbDevice device, byte address, out byte assigned)
        {
            assigned = address;
            return _bus.SendSetAddress(device, address);
        }

        uint EdControlFor(Ep ep, bool skip)
        {
            UsbEndpoint e = ep.Endpoint;
            uint direction = ep.Type == TransferType.Control ? OhciEd.DirectionFromTd : e.IsIn ? OhciEd.DirectionIn : OhciEd.DirectionOut;
            int maxPacket = e.MaxPacketSize;
            if (maxPacket == 0) maxPacket = UsbDevice.MaxPacket0LowSpeed;
            uint control = OhciEd.Encode(ep.Device.WireAddress, e.Number, direction, ep.Device.Speed == UsbSpeed.Low, skip, maxPacket);
            return ep.Type == TransferType.Isochronous ? control | OhciEd.IsochronousFormat : control;
        }

        public UsbStatus EnableEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            if (endpoint.Type == TransferType.Isochronous && device.Speed != UsbSpeed.Full)
                return UsbStatus.NotSupported;
            lock (_lock)
            {
                if (!_running)
                    return UsbStatus.Shutdown;
                if (endpoint.HcdPrivate is Ep existing)
                {
                    existing.Device = device;
                    UpdateEdControl(existing);
                    return UsbStatus.Ok;
                }
                DmaBuffer ed = _dma.Allocate(OhciEd.Size, OhciEd.Alignment, DmaLimit.Below4G);
                if (ed.IsNull)
                    return UsbStatus.NoMemory;
                bool iso = endpoint.Type == TransferType.Isochronous;
                // The dummy becomes the next request's first TD, so an isochronous ED's dummy is ITD-sized.
                Td dummy = iso ? NewTd(OhciItd.Size, OhciItd.Alignment) : NewTd();
                if (dummy == null)
                {
                    _dma.Free(ed);
                    return UsbStatus.NoMemory;
                }
                LiveEds++;
                var ep = new Ep { Endpoint = endpoint, Device = device, Ed = ed, Dummy = dummy, Type = endpoint.Type };
                OhciMemory.Write(ed, OhciEd.Control, EdControlFor(ep, false));
                OhciMemory.Write(ed, OhciEd.TailP, dummy.Physical);
                OhciMemory.Write(ed, OhciEd.HeadP, dummy.Physical);
                if (ep.Type == TransferType.Control)
                    ep.Anchor = ControlHeadIndex;
                else if (ep.Type == TransferType.Bulk)
                    ep.Anchor = BulkHeadIndex;
                else
                {
                    // Interrupt EDs: the level of their bInterval. Isochronous EDs are visited every
                    // frame (their ITDs say which frames carry packets), after every interrupt ED:
                    // the end of the 1 ms list (3.3.2). Both book their bus time in the frames of
                    // the branch Linux's balance() picks for their period, or are refused.
                    if (iso)
                        ep.IsoStream = new UsbIsoStream(HcFmInterval.FrameNumberMask, IsoMinLeadFrames, IsoWindowFrames);
                    int level = OhciInterruptTree.LevelFor(iso ? endpoint.IsoPeriod : endpoint.Interval);
                    int loadUs = OhciInterruptTree.LoadUs(device.Speed, endpoint.IsIn, iso, endpoint.MaxPacketSize);
                    int branch = _tree.Balance(level, loadUs);
                    if (branch < 0)
                    {
                        LiveEds--;
                        FreeTd(dummy);
                        _dma.Free(ed);
                        Log.Warning(Tag(_busId) + "no frame left for " + (iso ? "isochronous" : "interrupt") + " endpoint " +
                                    Format.Hex(endpoint.Address, 2) + " (period " + Format.Decimal((ulong)OhciInterruptTree.IntervalOfLevel(level)) +
                                    " ms, " + Format.Decimal((ulong)loadUs) + " us a frame: every branch would pass " +
                                    Format.Decimal((ulong)OhciInterruptTree.FrameBudgetUs) + " us)");
                        return UsbStatus.NoBandwidth;
                    }
                    _tree.Book(level, branch, loadUs);
                    ep.Level = level;
                    ep.Slot = branch;
                    ep.LoadUs = loadUs;
                    ep.Anchor = iso ? OhciInterruptTree.Index(0, 0) : OhciInterruptTree.Index(level, branch);
                }
                // Interrupt, control and bulk EDs go right after the anchor, isochronous EDs at the
                // end of its chain; either way the new ED is complete before the controller can reach it.
                List<Ep> chain = _chains[ep.Anchor];
                uint predecessorNext;
                DmaBuffer predecessor;
                if (iso && chain.Count > 0)
                {
                    predecessor = chain[chain.Count - 1].Ed;
                    predecessorNext = OhciEd.NextED;
                }
                else
                {
                    predecessor = _static;
                    predecessorNext = StaticOffset(ep.Anchor) + OhciEd.NextED;
                }
                OhciMemory.Write(ed, OhciEd.NextED, OhciMemory.Read(predecessor, predecessorNext));
                OhciMemory.Write(predecessor, predecessorNext, ep.Physical);
                if (iso)
                    chain.Add(ep);
                else
                    chain.Insert(0, ep);
                endpoint.HcdPrivate = ep;
                return UsbStatus.Ok;
            }
        }

        /// <summary>Refreshes FA/MPS/S (address and bMaxPacketSize0 change during enumeration) while the queue is idle.</summary>
        void UpdateEdControl(Ep ep)
        {
            if (ep.Queue.Count != 0)
                return;
            uint current = OhciMemory.Read(ep.Ed, OhciEd.Control);
            uint wanted = EdControlFor(ep, (current & OhciEd.Skip) != 0);
            if (current != wanted)
                OhciMemory.Write(ep.Ed, OhciEd.Control, wanted);
        }

        /// <summary>
        /// Removes the ED (5.2.7.1.2): sKip, unlink from its list, wait for start of frames (and
        /// for the list's current-ED register to move on), then free it. Thread context.
        /// </summary>
        public void DisableEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            Ep ep;
            lock (_lock)
            {
                ep = endpoint.HcdPrivate as Ep;
                if (ep == null)
                    return;
                endpoint.HcdPrivate = null;
                ep.Removed = true;
                OhciMemory.Write(ep.Ed, OhciEd.Control, OhciMemory.Read(ep.Ed, OhciEd.Control) | OhciEd.Skip);
                Unlink(ep);
            }
            WaitForFrames(ep);
            lock (_lock)
            {
                if (ep.UnlinkPending)
                {
                    _unlinking.Remove(ep);
                    ep.UnlinkPending = false;
                }
                // The core flushed the queue already; anything left goes back as shut down.
                _unlinkDropped.Clear();
                ep.Queue.TakeAll(_unlinkDropped);
                for (int i = 0; i < _unlinkDropped.Count; i++)
                {
                    Req r = _unlinkDropped[i];
                    Complete(r, r.CancelledOr(UsbStatus.Shutdown));
                }
                RebuildQueue(ep, null);
                _unlinkDropped.Clear();
                FreeTd(ep.Dummy);
                if (StillCurrent(ep))
                {
                    Log.Warning(Tag(_busId) + "ED still current after removal; leaking it");
                }
                else
                {
                    _dma.Free(ep.Ed);
                    LiveEds--;
                }
                ep.Ed = default(DmaBuffer);
                if (ep.Level >= 0)
                    _tree.Release(ep.Level, ep.Slot, ep.LoadUs);
                ep.Level = -1;
            }
            DeliverCompletions();
        }

        void Unlink(Ep ep)
        {
            List<Ep> chain = _chains[ep.Anchor];
            int index = chain.IndexOf(ep);
            if (index < 0)
                return;
            uint next = OhciMemory.Read(ep.Ed, OhciEd.NextED);
            if (index == 0)
                OhciMemory.Write(_static, StaticOffset(ep.Anchor) + OhciEd.NextED, next);
            else
                OhciMemory.Write(chain[index - 1].Ed, OhciEd.NextED, next);
            chain.RemoveAt(index);
        }

        bool StillCurrent(Ep ep)
        {
            if (!_running)
                return false;
            if (ep.Type == TransferType.Control)
                return _regs.Read32(OhciReg.HcControlCurrentED) == ep.Physical;
            if (ep.Type == TransferType.Bulk)
                return _regs.Read32(OhciReg.HcBulkCurrentED) == ep.Physical;
            return _regs.Read32(OhciReg.HcPeriodCurrentED) == ep.Physical;
        }

        /// <summary>Waits (bounded, sleeping) until <see cref="UnlinkFrames"/> frames passed and the controller left the ED.</summary>
        void WaitForFrames(Ep ep)
        {
            if (!_running)
                return;
            ushort start = CurrentFrame();
            ulong startMs = _clock.Milliseconds;
            while (_clock.Milliseconds - startMs < EdRemoveTimeoutMs)
            {
                if (Frames.Elapsed(CurrentFrame(), start) >= UnlinkFrames && !StillCurrent(ep))
                    return;
                _clock.Sleep(1);
            }
        }

        public void ResetEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            lock (_lock)
            {
                if (!(endpoint.HcdPrivate is Ep ep))
                    return;
                uint head = OhciMemory.Read(ep.Ed, OhciEd.HeadP);
                OhciMemory.Write(ep.Ed, OhciEd.HeadP, head & ~OhciEd.ToggleCarry);
            }
        }

        public void EndpointResumed(UsbEndpoint endpoint)
        {
            lock (_lock)
            {
                if (!(endpoint.HcdPrivate is Ep ep) || !_running)
                    return;
                if ((OhciMemory.Read(ep.Ed, OhciEd.HeadP) & OhciEd.Halted) != 0)
                    ClearHalt(ep);
            }
        }

        // ---- Requests ------------------------------------------------------------------------

        /// <summary>One TD to build: PID, toggle, rounding, buffer.</summary>
        struct TdPlan
        {
            public uint Pid, Toggle;
            public bool Rounding, IsData;
            public uint Buffer;
            public int Length;
        }

        /// <summary>
        /// Splits a transfer into TDs of at most <see cref="OhciTd.ChunkSize"/> bytes (each spans at
        /// most two pages, 4.3.1.3.1); returns how many were written to <paramref name="plan"/>.
        /// </summary>
        static int PlanData(TdPlan[] plan, int count, uint pid, uint firstToggle, uint buffer, int length, int maxPacket, bool roundAll)
        {
            int chunk = OhciTd.ChunkSize(maxPacket);
            int offset = 0;
            bool first = true;
            do
            {
                int n = length - offset;
                if (n > chunk) n = chunk;
                bool last = offset + n >= length;
                plan[count++] = new TdPlan
                {
                    Pid = pid,
                    Toggle = first ? firstToggle : OhciTd.ToggleFromEd,
                    Rounding = roundAll || last,
                    IsData = true,
                    Buffer = buffer + (uint)offset,
                    Length = n,
                };
                first = false;
                offset += n;
            } while (offset < length);
            return count;
        }

        /// <summary>Number of TDs a transfer of <paramref name="length"/> bytes needs (data stage only).</summary>
        public static int DataTdCount(int length, int maxPacket)
        {
            if (length <= 0) return 1;
            int chunk = OhciTd.ChunkSize(maxPacket);
            return (length + chunk - 1) / chunk;
        }

        public UsbStatus Submit(UsbRequest request)
        {
            lock (_lock)
            {
                if (!_running)
                    return UsbStatus.Shutdown;
                var ep = request.Endpoint.HcdPrivate as Ep;
                if (ep == null || ep.Removed)
                    return UsbStatus.Shutdown;
                UpdateEdControl(ep);
                if (ep.Type == TransferType.Isochronous)
                    return SubmitIso(request, ep);
                int maxPacket = request.Endpoint.MaxPacketSize;
                if (maxPacket <= 0) maxPacket = UsbDevice.MaxPacket0LowSpeed;
                uint buffer = (uint)request.Buffer.Physical;
                int length = request.Length;
                bool zeroPacket = !request.DirectionIn && length > 0 && length % maxPacket == 0 &&
                                  request.HasFlag(UsbRequestFlags.ZeroPacket) && ep.Type != TransferType.Control;
                var plan = new TdPlan[DataTdCount(length, maxPacket) + 2];
                int count = 0;
                if (ep.Type == TransferType.Control)
                {
                    plan[count++] = new TdPlan { Pid = OhciTd.PidSetup, Toggle = OhciTd.ToggleData0, Buffer = (uint)request.Setup.Physical, Length = SetupPacket.Size };
                    if (length > 0)
                        count = PlanData(plan, count, request.DirectionIn ? OhciTd.PidIn : OhciTd.PidOut, OhciTd.ToggleData1, buffer, length, maxPacket, true);
                    // Status stage: opposite direction, DATA1 (USB 2.0 8.5.3).
                    plan[count++] = new TdPlan { Pid = request.DirectionIn && length > 0 ? OhciTd.PidOut : OhciTd.PidIn, Toggle = OhciTd.ToggleData1 };
                }
                else
                {
                    uint pid = request.DirectionIn ? OhciTd.PidIn : OhciTd.PidOut;
                    count = PlanData(plan, count, pid, OhciTd.ToggleFromEd, buffer, length, maxPacket, false);
                    if (zeroPacket)
                        plan[count++] = new TdPlan { Pid = pid, Toggle = OhciTd.ToggleFromEd, Rounding = true, IsData = true };
                }

                // The current dummy takes the first TD; count new TDs are needed (the last is the new dummy).
                var tds = new Td[count + 1];
                tds[0] = ep.Dummy;
                for (int i = 1; i <= count; i++)
                {
                    tds[i] = NewTd();
                    if (tds[i] == null)
                    {
                        for (int j = 1; j < i; j++)
                            FreeTd(tds[j]);
                        return UsbStatus.NoMemory;
                    }
                }
                var r = new Req { Request = request, Endpoint = ep };
                for (int i = 0; i < count; i++)
                {
                    Td td = tds[i];
                    TdPlan p = plan[i];
                    td.Request = r;
                    td.BufferStart = p.Length > 0 ? p.Buffer : 0;
                    td.Length = p.Length;
                    td.IsData = p.IsData;
                    bool lastTd = i == count - 1;
                    OhciMemory.Write(td.Mem, OhciTd.Control, OhciTd.Encode(p.Pid, p.Toggle, p.Rounding, lastTd ? 0 : OhciTd.NoInterrupt));
                    OhciMemory.Write(td.Mem, OhciTd.CurrentBufferPointer, p.Length > 0 ? p.Buffer : 0);
                    OhciMemory.Write(td.Mem, OhciTd.BufferEnd, p.Length > 0 ? p.Buffer + (uint)p.Length - 1 : 0);
                    OhciMemory.Write(td.Mem, OhciTd.NextTD, tds[i + 1].Physical);
                    r.Tds.Add(td);
                    _tds[td.Physical] = td;
                }
                Td dummy = tds[count];
                OhciMemory.Write(dummy.Mem, OhciTd.NextTD, 0);
                ep.Dummy = dummy;
                ep.Queue.Add(r);
                request.HcdPrivate = r;
                // Publishing the new tail hands the TDs to the controller (4.6).
                OhciMemory.Write(ep.Ed, OhciEd.TailP, dummy.Physical);
                Kick(ep);
                return UsbStatus.Ok;
            }
        }

        public UsbStatus Cancel(UsbRequest request, UsbStatus status)
        {
            lock (_lock)
            {
                var r = request.HcdPrivate as Req;
                UsbStatus state = HcdRequest.BeginCancel(r, request, status);
                if (state != UsbStatus.InProgress)
                    return state;
                Ep ep = r.Endpoint;
                if (!ep.UnlinkPending)
                {
                    OhciMemory.Write(ep.Ed, OhciEd.Control, OhciMemory.Read(ep.Ed, OhciEd.Control) | OhciEd.Skip);
                    ep.UnlinkPending = true;
                    ep.UnlinkFrame = CurrentFrame();
                    ep.UnlinkMs = _clock.Milliseconds;
                    _unlinking.Add(ep);
                }
                if (!_running)
                    ProcessUnlinks();
                else
                    _regs.Write32(OhciReg.HcInterruptEnable, HcInterrupt.StartOfFrame);
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
