using System.Collections.Generic;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Hcd.Xhci
{
    /// <summary>
    /// xHCI host controller driver (xHCI 1.2; structure after Linux xhci-hcd). One controller
    /// serves two buses (<see cref="XhciRootHub"/>: the USB 2 and the USB 3 root hub). Commands go
    /// through the command ring and are matched to their completion events by TRB address; every
    /// endpoint has its own transfer ring with any number of TDs queued; completions come from the
    /// event ring (interrupter 0; MSI/MSI-X/INTx or the poll thread). Managed objects hold every
    /// reference; TRB physical addresses map back to TDs and commands through dictionaries.
    /// </summary>
    public sealed unsafe class XhciController
    {
        public const string DriverName = "xhci_hcd";
        public const string ProductName = "xHCI Host Controller";
        /// <summary>Bound of a command (Linux XHCI_CMD_DEFAULT_TIMEOUT is 5 s).</summary>
        public const uint CommandTimeoutMs = 5000;
        /// <summary>HCH after R/S = 0 within 16 ms (5.4.1); bounded a little longer.</summary>
        public const uint HaltTimeoutMs = 32;
        /// <summary>HCRST and CNR clear (Linux waits up to 10 s; 1 s here).</summary>
        public const uint ResetTimeoutMs = 1000;
        /// <summary>Poll thread period with and without a working interrupt (ms).</summary>
        public const uint PollPeriodMs = 20;
        public const uint PollPeriodNoIrqMs = 1;
        /// <summary>Bound of one pass over the event ring.</summary>
        const int MaxEventsPerPass = 1024;
        /// <summary>Bound of the wait for an endpoint's command (stop/reset/set dequeue) before it is torn down.</summary>
        const uint EndpointIdleTimeoutMs = 1000;
        const uint CommandPollSliceMs = 2;
        /// <summary>Slots the driver enables at most (CONFIG.MaxSlotsEn).</summary>
        public const int MaxSlotsLimit = 64;
        const uint RegisterGone = 0xFFFFFFFF;
        const uint PageAlignment = 4096;

        /// <summary>A device slot (4.5.3) and its contexts.</summary>
        sealed class Slot
        {
            public int Id;
            public UsbDevice Device;
            public XhciRootHub Bus;
            public DmaBuffer Output;
            public DmaBuffer Input;
            public readonly Ep[] Eps = new Ep[XhciContext.DeviceContextEntries];
            public bool IsHub;
            public int HubPorts;
            public int ThinkTime;
            public bool Disabled;
        }

        /// <summary>One endpoint: its transfer ring and the TDs on it in order.</summary>
        sealed class Ep
        {
            public Slot Slot;
            public int Dci;
            public UsbEndpoint Endpoint;
            public XhciRing Ring;
            public int MaxPacket;
            public readonly RequestQueue<Td> Tds = new RequestQueue<Td>();
            /// <summary>The controller halted the endpoint (error); it is reset after EndpointResumed.</summary>
            public bool Halted;
            /// <summary>A request ended in error and its completion has not returned yet.</summary>
            public bool WaitingResume;
            /// <summary>A Stop Endpoint / Reset Endpoint / Set TR Dequeue Pointer command is outstanding.</summary>
            public bool CommandInFlight;
            public bool CancelPending;
            public bool Removed;
            /// <summary>Isochronous endpoints: where the stream stands (slots: frames, microframes at high speed and up).</summary>
            public UsbIsoStream IsoStream;
            public bool IsoMicroframes;
            /// <summary>Bulk streams (4.12): one ring per Stream ID (index 0 unused); null without streams.</summary>
            public Ep[] Streams;
            /// <summary>The Primary Stream Context Array the endpoint context points to.</summary>
            public DmaBuffer StreamArray;
            /// <summary>A stream's ring: the endpoint it belongs to (whose state it shares) and its Stream ID.</summary>
            public Ep Parent;
            public int StreamId;
            /// <summary>After a stop: streams whose dequeue pointer is still to be set, one command at a time.</summary>
            public List<Ep> DequeueFixups;
            /// <summary>The endpoint whose state (halted, commands, removal) this ring follows: itself, or a stream's endpoint.</summary>
            public Ep Top => Parent ?? this;
        }

        /// <summary>One request on a transfer ring (UsbRequest.HcdPrivate): the shared lifecycle plus its TRBs.</summary>
        sealed class Td : HcdRequest
        {
            public Ep Ep;
            public ulong[] Phys;
            public int[] Index;
            public int[] DataBefore;
            public int[] DataLength;
            public bool[] IsData;
            public int Count;
            public int Length;
            public int Slots;
            public bool Control;
            public bool FirstCycle;
            public bool ShortSeen;
            public int ShortActual;
            /// <summary>Isochronous: the request's packet each TRB belongs to (one TD per packet, 4.11.2.5).</summary>
            public bool Iso;
            public int[] PacketOf;

            public bool Contains(ulong physical)
            {
                for (int i = 0; i < Count; i++)
                    if (Phys[i] == physical)
                        return true;
                return false;
            }

            public int IndexOf(ulong physical)
            {
                for (int i = 0; i < Count; i++)
                    if (Phys[i] == physical)
                        return i;
                return -1;
            }
        }

        sealed class Command
        {
            public ulong Trb;
            public uint Type;
            public Ep Ep;
            public bool Sync;
            public bool Completed;
            public int Code;
            public int SlotId;
        }

        readonly IRegisterBlock _regs;
        readonly IClock _clock;
        readonly IThreading _threading;
        readonly IDmaAllocator _dma;
        readonly string _busId;
        readonly object _lock = new object();
        readonly Dictionary<ulong, Td> _trbs = new Dictionary<ulong, Td>();
        readonly Dictionary<ulong, Command> _commands = new Dictionary<ulong, Command>();
        readonly GiveBackQueue _giveBack = new GiveBackQueue();
        uint _op, _rt, _db;
        uint _hcc1;
        /// <summary>Isochronous Scheduling Threshold (microframes) from HCSPARAMS2.</summary>
        int _istMicroframes;
        uint _contextBytes = 32;
        int _maxSlots, _maxPorts;
        DmaBuffer _dcbaa;
        DmaBuffer _scratchArray;
        DmaBuffer[] _scratchPages = new DmaBuffer[0];
        XhciRing _commandRing;
        XhciEventRing _events;
        Slot[] _slots = new Slot[0];
        IMutex _commandMutex;
        IEvent _commandEvent;
        volatile bool _running;
        volatile bool _stopping;
        public bool InterruptAttached;
        public XhciPortMap Ports = new XhciPortMap();
        public XhciRootHub Usb2, Usb3;
        public ushort HciVersion;
        public int ScratchpadCount => _scratchPages.Length;
        public uint ContextBytes => _contextBytes;
        public int MaxSlots => _maxSlots;
        public bool IsRunning => _running;
        /// <summary>Live TDs (tests and leak diagnostics).</summary>
        public int LiveTds => _trbs.Count;

        public XhciController(IRegisterBlock regs, IClock clock, IThreading threading, IDmaAllocator dma, string busId)
        {
            _regs = regs;
            _clock = clock;
            _threading = threading;
            _dma = dma;
            _busId = busId;
        }

        public string BusId => _busId;
        string Tag => DriverName + " " + _busId + ": ";
        public uint OperationalBase => _op;
        public uint FrameIndex => _regs.Read32(_rt + XhciRt.MfIndex);

        // ---- Bring-up (4.2) --------------------------------------------------------------------

        /// <summary>
        /// BIOS hand-off, halt, reset, then DCBAA (+ scratchpads), command ring, event ring and
        /// interrupter 0; the controller is left running with interrupts enabled.
        /// </summary>
        public UsbStatus Init()
        {
            uint cap0 = _regs.Read32(XhciCap.CapLengthVersion);
            if (cap0 == RegisterGone)
                return UsbStatus.NoDevice;
            _op = cap0 & XhciCap.CapLengthMask;
            HciVersion = (ushort)(cap0 >> XhciCap.HciVersionShift);
            uint hcs1 = _regs.Read32(XhciCap.HcsParams1);
            uint hcs2 = _regs.Read32(XhciCap.HcsParams2);
            _hcc1 = _regs.Read32(XhciCap.HccParams1);
            _db = _regs.Read32(XhciCap.DbOff) & XhciCap.DoorbellOffsetMask;
            _rt = _regs.Read32(XhciCap.RtsOff) & XhciCap.RuntimeOffsetMask;
            _contextBytes = XhciCap.ContextBytes(_hcc1);
            _istMicroframes = XhciCap.IsochSchedulingThresholdMicroframes(hcs2);
            _maxPorts = XhciCap.MaxPorts(hcs1);
            _maxSlots = XhciCap.MaxSlots(hcs1);
            if (_maxSlots > MaxSlotsLimit) _maxSlots = MaxSlotsLimit;
            Log.Info(Tag + ProductName);
            Log.Info(Tag + "hcc params 0x" + Format.Hex(_hcc1, 8) + " hci version 0x" + Format.Hex(HciVersion) + " quirks 0x" + Format.Hex(0, 16));

            uint xecp = XhciCap.ExtendedCapabilitiesOffset(_hcc1);
            if (xecp != 0)
            {
                uint legacy = XhciExtCap.Find(_regs, xecp, XhciExtCap.IdLegacySupport);
                if (legacy != 0 && !XhciLegacy.TakeOwnership(_regs, legacy, _clock))
                    Log.Warning(Tag + "xHCI BIOS handoff failed (BIOS bug?)");
                Ports = XhciPortMap.Parse(_regs, xecp, _maxPorts);
            }
            else
            {
                Ports = XhciPortMap.Parse(_regs, 0, _maxPorts);
            }

            UsbStatus status = Halt();
            if (status != UsbStatus.Ok)
                return status;
            status = ResetController();
            if (status != UsbStatus.Ok)
                return status;
            status = AllocateStructures(hcs2);
            if (status != UsbStatus.Ok)
                return status;
            _commandMutex = _threading.CreateMutex();
            _commandEvent = _threading.CreateEvent(true);

            _regs.Write32(_op + XhciOp.Config, (_regs.Read32(_op + XhciOp.Config) & ~XhciOp.MaxSlotsEnabledMask) | (uint)_maxSlots);
            _regs.Write32(_op + XhciOp.Dcbaap, (uint)_dcbaa.Physical);
            _regs.Write32(_op + XhciOp.DcbaapHigh, (uint)(_dcbaa.Physical >> 32));
            _regs.Write32(_op + XhciOp.Crcr, (uint)_commandRing.Base | Crcr.RingCycleState);
            _regs.Write32(_op + XhciOp.CrcrHigh, (uint)(_commandRing.Base >> 32));
            _regs.Write32(_op + XhciOp.DnCtrl, 0);
            uint ir = _rt + XhciRt.Interrupter(0);
            _regs.Write32(ir + XhciRt.ErstSz, 1);
            _regs.Write32(ir + XhciRt.Erdp, (uint)_events.Segment.Physical);
            _regs.Write32(ir + XhciRt.ErdpHigh, (uint)(_events.Segment.Physical >> 32));
            _regs.Write32(ir + XhciRt.Erstba, (uint)_events.Table.Physical);
            _regs.Write32(ir + XhciRt.ErstbaHigh, (uint)(_events.Table.Physical >> 32));
            _regs.Write32(ir + XhciRt.Imod, XhciRt.DefaultModerationInterval);
            _regs.Write32(ir + XhciRt.Iman, XhciRt.InterruptEnable | XhciRt.InterruptPending);
            _regs.Write32(_op + XhciOp.UsbSts, UsbSts.EventInterrupt | UsbSts.PortChangeDetect | UsbSts.HostSystemError);

            _running = true;
            _regs.Write32(_op + XhciOp.UsbCmd, UsbCmd.RunStop | UsbCmd.InterrupterEnable | UsbCmd.HostSystemErrorEnable);
            ulong start = _clock.Milliseconds;
            int polls = 0;
            while ((_regs.Read32(_op + XhciOp.UsbSts) & UsbSts.HcHalted) != 0)
            {
                if (_clock.Milliseconds - start >= HaltTimeoutMs || ++polls > (int)HaltTimeoutMs * 2)
                {
                    _running = false;
                    Log.Error(Tag + "controller did not start");
                    return UsbStatus.Timeout;
                }
                _clock.Sleep(1);
            }
            if ((_hcc1 & XhciCap.PortPowerControl) != 0)
                for (int port = 1; port <= _maxPorts; port++)
                {
                    uint sc = _regs.Read32(_op + XhciOp.PortSc(port));
                    if ((sc & PortSc.PortPower) == 0)
                        _regs.Write32(_op + XhciOp.PortSc(port), PortSc.Neutral(sc) | PortSc.PortPower);
                }
            _watchdog = new InterruptWatchdog(_clock, Tag);
            if (_threading.StartThread("xhci-poll", PollLoop) == 0)
                Log.Warning(Tag + "no poll thread");
            return UsbStatus.Ok;
        }

        UsbStatus Halt()
        {
            uint cmd = _regs.Read32(_op + XhciOp.UsbCmd);
            if ((_regs.Read32(_op + XhciOp.UsbSts) & UsbSts.HcHalted) != 0)
                return UsbStatus.Ok;
            _regs.Write32(_op + XhciOp.UsbCmd, cmd & ~(UsbCmd.RunStop | UsbCmd.InterrupterEnable | UsbCmd.HostSystemErrorEnable));
            ulong start = _clock.Milliseconds;
            int polls = 0;
            while ((_regs.Read32(_op + XhciOp.UsbSts) & UsbSts.HcHalted) == 0)
            {
                if (_clock.Milliseconds - start >= HaltTimeoutMs || ++polls > (int)HaltTimeoutMs * 2)
                {
                    Log.Error(Tag + "Host halt failed");
                    return UsbStatus.Timeout;
                }
                _clock.Sleep(1);
            }
            return UsbStatus.Ok;
        }

        UsbStatus ResetController()
        {
            _regs.Write32(_op + XhciOp.UsbCmd, UsbCmd.HostControllerReset);
            // Some controllers need a moment before the register can be read again (Linux: 1 ms).
            _clock.Sleep(1);
            ulong start = _clock.Milliseconds;
            int polls = 0;
            while ((_regs.Read32(_op + XhciOp.UsbCmd) & UsbCmd.HostControllerReset) != 0 ||
                   (_regs.Read32(_op + XhciOp.UsbSts) & UsbSts.ControllerNotReady) != 0)
            {
                if (_clock.Milliseconds - start >= ResetTimeoutMs || ++polls > (int)ResetTimeoutMs * 2)
                {
                    Log.Error(Tag + "Host controller reset timed out");
                    return UsbStatus.Timeout;
                }
                _clock.Sleep(1);
            }
            return UsbStatus.Ok;
        }

        UsbStatus AllocateStructures(uint hcs2)
        {
            if (!_dcbaa.IsNull)
                return UsbStatus.Ok;
            _slots = new Slot[_maxSlots + 1];
            _dcbaa = _dma.Allocate((uint)(_maxSlots + 1) * 8, XhciContext.Alignment, DmaLimit.Below4G, PageAlignment);
            if (_dcbaa.IsNull)
                return UsbStatus.NoMemory;
            int scratch = XhciCap.MaxScratchpadBuffers(hcs2);
            if (scratch > 0)
            {
                uint pageBits = _regs.Read32(_op + XhciOp.PageSize) & 0xFFFF;
                uint pageSize = PageAlignment;
                for (int bit = 0; bit < 16; bit++)
                    if ((pageBits & (1u << bit)) != 0)
                    {
                        pageSize = 1u << (bit + XhciOp.PageSizeShift);
                        break;
                    }
                _scratchArray = _dma.Allocate((uint)scratch * 8, XhciContext.Alignment, DmaLimit.Below4G, pageSize);
                if (_scratchArray.IsNull)
                    return UsbStatus.NoMemory;
                _scratchPages = new DmaBuffer[scratch];
                for (int i = 0; i < scratch; i++)
                {
                    _scratchPages[i] = _dma.Allocate(pageSize, pageSize, DmaLimit.Below4G, pageSize);
                    if (_scratchPages[i].IsNull)
                        return UsbStatus.NoMemory;
                    XhciMemory.Write64(_scratchArray, (uint)i * 8, _scratchPages[i].Physical);
                }
                XhciMemory.Write64(_dcbaa, 0, _scratchArray.Physical);
            }
            _commandRing = XhciRing.Allocate(_dma);
            _events = XhciEventRing.Allocate(_dma);
            if (_commandRing == null || _events == null)
                return UsbStatus.NoMemory;
            return UsbStatus.Ok;
        }

        /// <summary>Stops the controller; every queued request is given back with Shutdown.</summary>
        public void Stop()
        {
            if (_stopping)
                return;
            _stopping = true;
            lock (_lock)
            {
                _running = false;
                _regs.Write32(_op + XhciOp.UsbCmd, _regs.Read32(_op + XhciOp.UsbCmd) & ~(UsbCmd.RunStop | UsbCmd.InterrupterEnable));
                for (int s = 1; s < _slots.Length; s++)
                {
                    Slot slot = _slots[s];
                    if (slot == null) continue;
                    for (int e = 1; e < slot.Eps.Length; e++)
                    {
                        Ep ep = slot.Eps[e];
                        if (ep == null) continue;
                        FinishAll(ep, UsbStatus.Shutdown);   // its streams' TDs too
                    }
                }
                foreach (var pair in _commands)
                    pair.Value.Completed = true;
            }
            if (_commandEvent != null)
                _commandEvent.Signal();
            DeliverCompletions();
        }

        // ---- Interrupts and events (4.9.4, 4.17) ---------------------------------------------

        /// <summary>Interrupt handler: true when this controller raised the interrupt (USBSTS.EINT or IMAN.IP).</summary>
        public bool HandleInterrupt()
        {
            InterruptWatchdog watchdog = _watchdog;
            if (watchdog != null)
                watchdog.HandlerCalled();
            if (_events == null)
                return false; // not initialized yet (a shared line, or MSI routed before Init)
            uint status = _regs.Read32(_op + XhciOp.UsbSts);
            if (status == RegisterGone)
                return false;
            uint iman = _regs.Read32(_rt + XhciRt.Interrupter(0) + XhciRt.Iman);
            bool ours = (status & UsbSts.EventInterrupt) != 0 || (iman & XhciRt.InterruptPending) != 0;
            if ((status & UsbSts.HostSystemError) != 0)
                Log.Error(Tag + "host system error");
            if (ours)
            {
                _regs.Write32(_op + XhciOp.UsbSts, status & (UsbSts.EventInterrupt | UsbSts.PortChangeDetect));
                _regs.Write32(_rt + XhciRt.Interrupter(0) + XhciRt.Iman, (iman & XhciRt.InterruptEnable) | XhciRt.InterruptPending);
            }
            ProcessEvents(ours);
            return ours;
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
        /// One pass of the poll thread: checks that the interrupt line works (an event interrupt pending
        /// with no interrupt for too long: poll every millisecond from then on), then takes the events.
        /// </summary>
        public void Poll()
        {
            if (InterruptAttached && _watchdog != null && _watchdog.Observe(InterruptPending()))
                InterruptAttached = false;
            if (!InterruptAttached)
                HandleInterrupt();
            else
                ProcessEvents(false);
        }

        /// <summary>USBSTS.EINT or the primary interrupter's IMAN.IP is set (so an interrupt should have been raised).</summary>
        bool InterruptPending()
        {
            if (_events == null)
                return false;
            uint status = _regs.Read32(_op + XhciOp.UsbSts);
            if (status == RegisterGone)
                return false;
            uint iman = _regs.Read32(_rt + XhciRt.Interrupter(0) + XhciRt.Iman);
            return (status & UsbSts.EventInterrupt) != 0 || ((iman & XhciRt.InterruptPending) != 0 && (iman & XhciRt.InterruptEnable) != 0);
        }

        /// <summary>Gives the interrupt line up when it never delivers (set in Init).</summary>
        InterruptWatchdog _watchdog;
        public bool InterruptLineDead => _watchdog != null && _watchdog.LineDead;

        /// <summary>Consumes the event ring; ERDP (with EHB cleared) is written after each pass.</summary>
        public void ProcessEvents(bool fromInterrupt)
        {
            bool portChange = false;
            lock (_lock)
            {
                if (_events == null)
                    return;
                int handled = 0;
                while (handled < MaxEventsPerPass && _events.HasEvent)
                {
                    uint control = _events.Read(Trb.Control);
                    uint status = _events.Read(Trb.Status);
                    ulong parameter = _events.ReadParameter();
                    switch (Trb.TypeOf(control))
                    {
                        case Trb.TypeTransferEvent:
                            HandleTransferEvent(parameter, status, control);
                            break;
                        case Trb.TypeCommandCompletion:
                            HandleCommandCompletion(parameter, status, control);
                            break;
                        case Trb.TypePortStatusChange:
                            portChange = true;
                            break;
                        case Trb.TypeHostController:
                            Log.Error(Tag + "host controller event: " + XhciCompletion.Name(Trb.CompletionCodeOf(status)));
                            break;
                    }
                    _events.Advance();
                    handled++;
                }
                if (handled > 0 || fromInterrupt)
                {
                    uint ir = _rt + XhciRt.Interrupter(0);
                    ulong erdp = _events.DequeuePhysical;
                    _regs.Write32(ir + XhciRt.Erdp, (uint)erdp | XhciRt.EventHandlerBusy);
                    _regs.Write32(ir + XhciRt.ErdpHigh, (uint)(erdp >> 32));
                }
            }
            if (portChange)
            {
                if (Usb2 != null) Usb2.PortChanged();
                if (Usb3 != null) Usb3.PortChanged();
            }
            DeliverCompletions();
        }

        void HandleCommandCompletion(ulong parameter, uint status, uint control)
        {
            if (!_commands.TryGetValue(parameter, out Command cmd))
                return;
            _commands.Remove(parameter);
            _commandRing.Used--;
            cmd.Code = Trb.CompletionCodeOf(status);
            cmd.SlotId = Trb.SlotOf(control);
            cmd.Completed = true;
            if (cmd.Sync)
            {
                _commandEvent.Signal();
                return;
            }
            Ep ep = cmd.Ep;
            if (ep == null)
                return;
            ep.CommandInFlight = false;
            switch (cmd.Type)
            {
                case Trb.TypeStopEndpoint:
                case Trb.TypeResetEndpoint:
                    AfterStopped(ep);
                    break;
                case Trb.TypeSetTrDequeue:
                    if (cmd.Code != XhciCompletion.Success)
                        Log.Debug(Tag + "Set TR Dequeue: " + XhciCompletion.Name(cmd.Code));
                    if (ep.CancelPending)
                        IssueStop(ep);
                    else if (ep.Streams != null && ep.DequeueFixups != null && ep.DequeueFixups.Count > 0)
                        NextStreamDequeue(ep);
                    else
                        MaybeRing(ep);
                    break;
            }
        }

        void HandleTransferEvent(ulong parameter, uint status, uint control)
        {
            int code = Trb.CompletionCodeOf(status);
            if ((control & Trb.EventData) != 0)
                return;
            if (!_trbs.TryGetValue(parameter, out Td td) || td.Finished)
                return; // stopped/cancelled TD, or a spurious success after a short packet
            if (code == XhciCompletion.Stopped || code == XhciCompletion.StoppedLengthInvalid || code == XhciCompletion.StoppedShortPacket)
                return; // the Stop Endpoint completion takes care of it
            int k = td.IndexOf(parameter);
            int residual = (int)(status & Trb.EventLengthMask);
            if (td.Iso)
            {
                if (k >= 0)
                    HandleIsoEvent(td, k, code, residual);
                return;
            }
            int actual = ActualAt(td, k, residual);
            bool last = k == td.Count - 1;
            if (code == XhciCompletion.Success)
            {
                if (last)
                    Finish(td, UsbStatus.Ok, td.ShortSeen ? td.ShortActual : actual);
                return;
            }
            if (code == XhciCompletion.ShortPacket)
            {
                td.ShortSeen = true;
                td.ShortActual = actual;
                if (td.Control && !last)
                    return; // the status stage still runs and reports
                Finish(td, UsbStatus.Ok, actual);
                return;
            }
            Ep ep = td.Ep;
            UsbStatus result = XhciCompletion.ToStatus(code);
            if (code != XhciCompletion.StallError)
                Log.Debug(Tag + "transfer error " + XhciCompletion.Name(code) + " slot " + Format.Decimal((ulong)ep.Slot.Id) +
                          " ep " + Format.Decimal((ulong)ep.Dci));
            if (XhciCompletion.Halts(code) || EndpointState(ep) == EndpointContext.StateHalted)
                ep.Top.Halted = true;
            Finish(td, result, actual);
        }

        /// <summary>Bytes transferred up to the event's TRB (data TRBs count, SETUP/status stages do not).</summary>
        static int ActualAt(Td td, int k, int residual)
        {
            if (k < 0)
                return 0;
            if (td.IsData[k])
            {
                int done = td.DataLength[k] - residual;
                if (done < 0) done = 0;
                return td.DataBefore[k] + done;
            }
            if (td.ShortSeen)
                return td.ShortActual;
            return k == td.Count - 1 ? td.Length : td.DataBefore[k];
        }

        void Finish(Td td, UsbStatus status, int actual)
        {
            if (td.Finished)
                return;
            UsbStatus final = td.CancelledOr(status);
            td.Actual = actual;
            for (int i = 0; i < td.Count; i++)
                _trbs.Remove(td.Phys[i]);
            Ep ep = td.Ep;
            ep.Ring.Used -= td.Slots;
            if (UsbStatusNames.HaltsQueue(final))
                ep.Top.WaitingResume = true;
            ep.Tds.Complete(td, final, _giveBack, ep.Slot.Bus.Bus);
        }

        void DeliverCompletions() => _giveBack.Deliver();

        // ---- Commands (4.6) --------------------------------------------------------------------

        Command Issue(ulong parameter, uint status, uint control, Ep ep, bool sync)
        {
            if (_commandRing.Free < 2 || !_running)
                return null;
            var cmd = new Command { Type = Trb.TypeOf(control), Ep = ep, Sync = sync };
            _commandRing.BeginTd();
            int used = _commandRing.Used;
            int index = _commandRing.Push(parameter, status, control);
            _commandRing.CommitTd();
            // The command ring keeps one slot per outstanding command (a passed Link TRB is released at once).
            _commandRing.Used = used + 1;
            cmd.Trb = _commandRing.PhysicalAt(index);
            _commands[cmd.Trb] = cmd;
            _regs.Write32(_db + XhciDoorbell.Offset(0), XhciDoorbell.HostControllerCommand);
            return cmd;
        }

        /// <summary>Issues a command and waits for its completion (thread context, bounded).</summary>
        UsbStatus Run(ulong parameter, uint status, uint control, out Command done)
        {
            done = null;
            if (!_running)
                return UsbStatus.Shutdown;
            _commandMutex.Lock();
            Command cmd;
            lock (_lock)
                cmd = Issue(parameter, status, control, null, true);
            if (cmd == null)
            {
                _commandMutex.Unlock();
                return _running ? UsbStatus.NoMemory : UsbStatus.Shutdown;
            }
            ulong start = _clock.Milliseconds;
            while (!cmd.Completed)
            {
                _commandEvent.Wait(CommandPollSliceMs);
                if (cmd.Completed)
                    break;
                ProcessEvents(false);
                if (_clock.Milliseconds - start >= CommandTimeoutMs)
                    break;
            }
            if (!cmd.Completed)
            {
                Log.Error(Tag + "command " + Format.Decimal(Trb.TypeOf(control)) + " timed out");
                AbortCommandRing();
                lock (_lock)
                    _commands.Remove(cmd.Trb);
                _commandMutex.Unlock();
                return UsbStatus.Timeout;
            }
            _commandMutex.Unlock();
            done = cmd;
            if (!_running && cmd.Code == 0)
                return UsbStatus.Shutdown;
            return cmd.Code == XhciCompletion.Success ? UsbStatus.Ok : XhciCompletion.ToStatus(cmd.Code);
        }

        /// <summary>CRCR.CA (4.6.1.2): stops the command ring after a command timed out; bounded wait for CRR.</summary>
        void AbortCommandRing()
        {
            lock (_lock)
            {
                _regs.Write32(_op + XhciOp.Crcr, Crcr.CommandAbort);
                _regs.Write32(_op + XhciOp.CrcrHigh, 0);
            }
            ulong start = _clock.Milliseconds;
            while ((_regs.Read32(_op + XhciOp.Crcr) & Crcr.CommandRingRunning) != 0 && _clock.Milliseconds - start < CommandTimeoutMs)
                _clock.Sleep(1);
            ProcessEvents(false);
        }

        void IssueStop(Ep ep)
        {
            ep.CancelPending = true;
            if (ep.CommandInFlight || ep.Removed)
                return;
            Command cmd = Issue(0, 0, Trb.TypeField(Trb.TypeStopEndpoint) | Trb.SlotField(ep.Slot.Id) | Trb.EndpointField(ep.Dci), ep, false);
            if (cmd != null)
            {
                ep.CommandInFlight = true;
                ep.CancelPending = false;
            }
            else if (!_running)
            {
                AfterStopped(ep);
            }
        }

        void StartRecovery(Ep ep)
        {
            if (ep.CommandInFlight || ep.Removed)
                return;
            // Reset Endpoint (4.6.8) moves Halted to Stopped and clears the host side sequence state.
            Command cmd = Issue(0, 0, Trb.TypeField(Trb.TypeResetEndpoint) | Trb.SlotField(ep.Slot.Id) | Trb.EndpointField(ep.Dci), ep, false);
            if (cmd != null)
                ep.CommandInFlight = true;
        }

        uint EndpointState(Ep ep) =>
            EndpointContext.State(XhciMemory.Read(ep.Slot.Output, XhciContext.DeviceEndpoint(_contextBytes, ep.Dci)));

        ulong HardwareDequeue(Ep ep) =>
            XhciMemory.Read64(ep.Slot.Output, XhciContext.DeviceEndpoint(_contextBytes, ep.Dci) + EndpointContext.DequeueOffset) & Trb.DequeuePointerMask;

        /// <summary>
        /// The endpoint is stopped (Stop Endpoint or Reset Endpoint done): cancelled TDs become
        /// No-Ops and are given back; then the ring continues at the first live TD (Set TR Dequeue
        /// Pointer when the controller's dequeue pointer is elsewhere, 4.6.10) or at once.
        /// </summary>
        void AfterStopped(Ep ep)
        {
            ep.CancelPending = false;
            if (ep.Streams != null)
            {
                for (int s = 1; s < ep.Streams.Length; s++)
                    if (ep.Streams[s] != null)
                        DropCancelled(ep.Streams[s]);
            }
            else
                DropCancelled(ep);
            if (ep.Removed || !_running || ep.Slot.Disabled)
                return;
            uint state = EndpointState(ep);
            if (state == EndpointContext.StateHalted)
            {
                ep.Halted = true;
                if (!ep.WaitingResume)
                    StartRecovery(ep);
                return;
            }
            ep.Halted = false;
            if (state != EndpointContext.StateStopped)
            {
                MaybeRing(ep);
                return;
            }
            if (ep.Streams != null)
            {
                // A stop ends the transfers of every stream (QEMU drops the TDs it had fetched):
                // each stream with TDs restarts at its first live one.
                if (ep.DequeueFixups == null)
                    ep.DequeueFixups = new List<Ep>();
                ep.DequeueFixups.Clear();
                for (int s = 1; s < ep.Streams.Length; s++)
                    if (ep.Streams[s] != null && ep.Streams[s].Tds.Count > 0)
                        ep.DequeueFixups.Add(ep.Streams[s]);
                NextStreamDequeue(ep);
                return;
            }
            ulong hardware = HardwareDequeue(ep);
            ulong target;
            bool cycle;
            if (ep.Tds.Count > 0)
            {
                Td first = ep.Tds[0];
                if (first.Contains(hardware))
                {
                    MaybeRing(ep);
                    return;
                }
                target = first.Phys[0];
                cycle = first.FirstCycle;
            }
            else
            {
                target = ep.Ring.EnqueuePhysical;
                cycle = ep.Ring.Cycle;
                if (hardware == target)
                    return;
            }
            Command cmd = Issue(target | (cycle ? Trb.DequeueCycleState : 0), 0,
                                Trb.TypeField(Trb.TypeSetTrDequeue) | Trb.SlotField(ep.Slot.Id) | Trb.EndpointField(ep.Dci), ep, false);
            if (cmd != null)
                ep.CommandInFlight = true;
        }

        /// <summary>Cancelled TDs of one ring become No-Ops and are given back, in queue order.</summary>
        void DropCancelled(Ep ep)
        {
            for (int i = ep.Tds.Count - 1; i >= 0; i--)
            {
                Td td = ep.Tds[i];
                if (!td.IsCancelled)
                    continue;
                for (int t = 0; t < td.Count; t++)
                    ep.Ring.MakeNoOp(td.Index[t]);
            }
            for (int i = 0; i < ep.Tds.Count;)
            {
                Td td = ep.Tds[i];
                if (td.IsCancelled)
                    Finish(td, td.CancelStatus, 0);
                else
                    i++;
            }
        }

        /// <summary>Set TR Dequeue Pointer (with its Stream ID and SCT, 6.4.3.9) for the next stream waiting for it; the doorbells when none is left.</summary>
        void NextStreamDequeue(Ep ep)
        {
            while (ep.DequeueFixups.Count > 0)
            {
                Ep stream = ep.DequeueFixups[0];
                ep.DequeueFixups.RemoveAt(0);
                if (stream.Tds.Count == 0)
                    continue;
                Td first = stream.Tds[0];
                Command cmd = Issue(StreamContext.Dequeue(first.Phys[0], first.FirstCycle), Trb.StreamField(stream.StreamId),
                                    Trb.TypeField(Trb.TypeSetTrDequeue) | Trb.SlotField(ep.Slot.Id) | Trb.EndpointField(ep.Dci), ep, false);
                if (cmd != null)
                {
                    ep.CommandInFlight = true;
                    return;
                }
                break;
            }
            ep.DequeueFixups.Clear();
            MaybeRing(ep);
        }

        /// <summary>Rings the doorbell of a ring with TDs (DB Stream ID for a stream, 5.6), or of every stream of an endpoint with streams.</summary>
        void MaybeRing(Ep ep)
        {
            Ep top = ep.Top;
            if (top.Removed || top.Halted || top.WaitingResume || top.CommandInFlight || !_running || ep.Slot.Disabled)
                return;
            if (ep.Streams != null)
            {
                for (int s = 1; s < ep.Streams.Length; s++)
                    if (ep.Streams[s] != null && ep.Streams[s].Tds.Count > 0)
                        _regs.Write32(_db + XhciDoorbell.Offset(ep.Slot.Id), XhciDoorbell.Value(ep.Dci, s));
                return;
            }
            if (ep.Tds.Count == 0)
                return;
            _regs.Write32(_db + XhciDoorbell.Offset(ep.Slot.Id), XhciDoorbell.Value(ep.Dci, ep.StreamId));
        }

        // ---- Devices (4.3, 4.5) ----------------------------------------------------------------

        public UsbStatus AllocateDevice(XhciRootHub bus, UsbDevice device)
        {
            // A device the route string can't address would get another device's route (8.9):
            // refuse it before it gets a slot.
            if (SlotContext.RouteString(device, out uint _, out int _) != UsbStatus.Ok)
            {
                Log.Error(Tag + "device " + device.Name + " can't be addressed: " + SlotContext.RouteProblem(device));
                return UsbStatus.NotSupported;
            }
            // A device behind an external hub: tell the controller about the hub first (Linux xhci_update_hub_device).
            if (device.Parent != null && !device.Parent.IsRootHub && device.Parent.HcdPrivate is Slot parent && !parent.IsHub)
                UpdateHub(parent);
            uint slotType = bus.SuperSpeed ? Ports.Usb3SlotType : Ports.Usb2SlotType;
            UsbStatus status = Run(0, 0, Trb.TypeField(Trb.TypeEnableSlot) | (slotType << Trb.SlotTypeShift), out Command cmd);
            if (status != UsbStatus.Ok)
            {
                Log.Error(Tag + "Error while assigning device slot ID: " + UsbStatusNames.Name(status));
                return status;
            }
            int id = cmd.SlotId;
            if (id <= 0 || id > _maxSlots)
                return UsbStatus.NoMemory;
            uint deviceSize = XhciContext.DeviceContextSize(_contextBytes);
            DmaBuffer output = _dma.Allocate(deviceSize, XhciContext.Alignment, DmaLimit.Below4G, PageAlignment);
            DmaBuffer input = _dma.Allocate(XhciContext.InputContextSize(_contextBytes), XhciContext.Alignment, DmaLimit.Below4G, PageAlignment);
            if (output.IsNull || input.IsNull)
            {
                if (!output.IsNull) _dma.Free(output);
                if (!input.IsNull) _dma.Free(input);
                Run(0, 0, Trb.TypeField(Trb.TypeDisableSlot) | Trb.SlotField(id), out Command _);
                return UsbStatus.NoMemory;
            }
            var slot = new Slot { Id = id, Device = device, Bus = bus, Output = output, Input = input };
            lock (_lock)
            {
                _slots[id] = slot;
                XhciMemory.Write64(_dcbaa, (uint)id * 8, output.Physical);
            }
            device.HcdPrivate = slot;
            return UsbStatus.Ok;
        }

        public void FreeDevice(UsbDevice device)
        {
            var slot = device.HcdPrivate as Slot;
            if (slot == null)
                return;
            WaitEndpointsIdle(slot);
            if (_running)
                Run(0, 0, Trb.TypeField(Trb.TypeDisableSlot) | Trb.SlotField(slot.Id), out Command _);
            lock (_lock)
            {
                slot.Disabled = true;
                for (int e = 1; e < slot.Eps.Length; e++)
                {
                    Ep ep = slot.Eps[e];
                    if (ep == null) continue;
                    ep.Removed = true;
                    FinishAll(ep, UsbStatus.Shutdown);
                    if (ep.Endpoint != null && ep.Endpoint.HcdPrivate == ep)
                        ep.Endpoint.HcdPrivate = null;
                    FreeStreamRings(ep);
                    _dma.Free(ep.Ring.Memory);
                    slot.Eps[e] = null;
                }
                XhciMemory.Write64(_dcbaa, (uint)slot.Id * 8, 0);
                if (_slots[slot.Id] == slot)
                    _slots[slot.Id] = null;
                _dma.Free(slot.Output);
                _dma.Free(slot.Input);
            }
            device.HcdPrivate = null;
            DeliverCompletions();
        }

        void WaitEndpointsIdle(Slot slot)
        {
            ulong start = _clock.Milliseconds;
            while (_clock.Milliseconds - start < EndpointIdleTimeoutMs)
            {
                bool busy = false;
                lock (_lock)
                    for (int e = 1; e < slot.Eps.Length; e++)
                        if (slot.Eps[e] != null && slot.Eps[e].CommandInFlight)
                            busy = true;
                if (!busy)
                    return;
                ProcessEvents(false);
                _clock.Sleep(1);
            }
        }

        /// <summary>Fills the input context's slot context from the device's place in the tree (6.2.2, 4.3.3).</summary>
        void WriteSlotContext(Slot slot, int contextEntries)
        {
            UsbDevice d = slot.Device;
            // AllocateDevice refused every device whose route string can't be encoded.
            SlotContext.RouteString(d, out uint route, out int busPort);
            int rootPort = slot.Bus.ControllerPort(busPort);
            int ttSlot = 0, ttPort = 0;
            if ((d.Speed == UsbSpeed.Low || d.Speed == UsbSpeed.Full) && d.TtHub != null && d.TtHub.HcdPrivate is Slot tt)
            {
                ttSlot = tt.Id;
                ttPort = d.TtPort;
            }
            uint offset = XhciContext.InputSlot(_contextBytes);
            XhciMemory.Write(slot.Input, offset, SlotContext.Dword0(route, PortSc.FromUsbSpeed(d.Speed), slot.IsHub, false, contextEntries));
            XhciMemory.Write(slot.Input, offset + 4, SlotContext.Dword1(rootPort, slot.IsHub ? slot.HubPorts : 0));
            XhciMemory.Write(slot.Input, offset + 8, SlotContext.Dword2(ttSlot, ttPort, slot.IsHub ? slot.ThinkTime : 0));
            XhciMemory.Write(slot.Input, offset + 12, 0);
        }

        void ClearInput(Slot slot) => slot.Input.AsSpan().Clear();

        int CurrentContextEntries(Slot slot)
        {
            int n = SlotContext.ContextEntries(XhciMemory.Read(slot.Output, 0));
            return n < 1 ? 1 : n;
        }

        /// <summary>Hub fields of the slot context (Hub, Number of Ports, TTT) via Configure Endpoint (6.2.2.2, 4.6.6).</summary>
        void UpdateHub(Slot slot)
        {
            UsbDevice hub = slot.Device;
            if (hub.Hub == null)
                return;
            slot.IsHub = true;
            slot.HubPorts = hub.Hub.PortCount;
            slot.ThinkTime = hub.Speed == UsbSpeed.High
                ? (hub.Hub.Descriptor.wHubCharacteristics & HubDescriptor.TtThinkTimeMask) >> HubDescriptor.TtThinkTimeShift
                : 0;
            lock (_lock)
            {
                ClearInput(slot);
                XhciMemory.Write(slot.Input, XhciContext.AddFlags, XhciContext.SlotFlag);
                WriteSlotContext(slot, CurrentContextEntries(slot));
            }
            UsbStatus status = Run(slot.Input.Physical, 0, Trb.TypeField(Trb.TypeConfigureEndpoint) | Trb.SlotField(slot.Id), out Command _);
            if (status != UsbStatus.Ok)
                Log.Warning(Tag + "can't update hub slot " + Format.Decimal((ulong)slot.Id) + ": " + UsbStatusNames.Name(status));
        }

        /// <summary>Address Device (4.6.5) with BSR = 0: the controller sends SET_ADDRESS and reports the address.</summary>
        public UsbStatus AddressDevice(UsbDevice device, out byte assigned)
        {
            assigned = 0;
            var slot = device.HcdPrivate as Slot;
            if (slot == null || slot.Eps[1] == null)
                return UsbStatus.Shutdown;
            Ep ep0 = slot.Eps[1];
            lock (_lock)
            {
                ClearInput(slot);
                XhciMemory.Write(slot.Input, XhciContext.AddFlags, XhciContext.SlotFlag | XhciContext.EndpointFlag(1));
                WriteSlotContext(slot, 1);
                EndpointContext.Write(slot.Input, XhciContext.InputEndpoint(_contextBytes, 1), device.Speed, ep0.Endpoint, ep0.MaxPacket,
                                      ep0.Ring.EnqueuePhysical, ep0.Ring.Cycle);
            }
            UsbStatus status = Run(slot.Input.Physical, 0, Trb.TypeField(Trb.TypeAddressDevice) | Trb.SlotField(slot.Id), out Command _);
            if (status != UsbStatus.Ok)
                return status;
            assigned = (byte)(XhciMemory.Read(slot.Output, 12) & SlotContext.DeviceAddressMask);
            return UsbStatus.Ok;
        }

        // ---- Endpoints (4.6.6, 4.6.7) ----------------------------------------------------------

        public UsbStatus EnableEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            var slot = device.HcdPrivate as Slot;
            if (slot == null || !_running)
                return UsbStatus.Shutdown;
            int dci = XhciContext.DciOf(endpoint);
            int maxPacket = endpoint.MaxPacketSize;
            if (maxPacket <= 0) maxPacket = UsbDevice.DefaultMaxPacket0(device.Speed);
            Ep ep = slot.Eps[dci];
            if (dci == 1 && ep != null)
            {
                endpoint.HcdPrivate = ep;
                ep.Endpoint = endpoint;
                ep.Removed = false;
                if (ep.MaxPacket == maxPacket)
                    return UsbStatus.Ok;
                // Evaluate Context (4.6.7): endpoint 0's max packet size after the first descriptor read.
                lock (_lock)
                {
                    ClearInput(slot);
                    XhciMemory.Write(slot.Input, XhciContext.AddFlags, XhciContext.EndpointFlag(1));
                    EndpointContext.Write(slot.Input, XhciContext.InputEndpoint(_contextBytes, 1), device.Speed, endpoint, maxPacket,
                                          ep.Ring.EnqueuePhysical, ep.Ring.Cycle);
                }
                UsbStatus eval = Run(slot.Input.Physical, 0, Trb.TypeField(Trb.TypeEvaluateContext) | Trb.SlotField(slot.Id), out Command _);
                if (eval == UsbStatus.Ok)
                    ep.MaxPacket = maxPacket;
                return eval;
            }
            if (ep != null)
                return UsbStatus.Busy;
            XhciRing ring = XhciRing.Allocate(_dma);
            if (ring == null)
                return UsbStatus.NoMemory;
            ep = new Ep { Slot = slot, Dci = dci, Endpoint = endpoint, Ring = ring, MaxPacket = maxPacket };
            if (endpoint.Type == TransferType.Isochronous)
                ep.IsoStream = NewIsoStream(device.Speed, out ep.IsoMicroframes);
            uint command;
            lock (_lock)
            {
                ClearInput(slot);
                if (dci == 1)
                {
                    // Address Device with BSR = 1 (4.6.5): slot to Default, endpoint 0 usable at address 0.
                    XhciMemory.Write(slot.Input, XhciContext.AddFlags, XhciContext.SlotFlag | XhciContext.EndpointFlag(1));
                    WriteSlotContext(slot, 1);
                    command = Trb.TypeField(Trb.TypeAddressDevice) | Trb.BlockSetAddress;
                }
                else
                {
                    int entries = CurrentContextEntries(slot);
                    if (dci > entries) entries = dci;
                    XhciMemory.Write(slot.Input, XhciContext.AddFlags, XhciContext.SlotFlag | XhciContext.EndpointFlag(dci));
                    WriteSlotContext(slot, entries);
                    command = Trb.TypeField(Trb.TypeConfigureEndpoint);
                }
                EndpointContext.Write(slot.Input, XhciContext.InputEndpoint(_contextBytes, dci), device.Speed, endpoint, maxPacket,
                                      ring.Base, ring.Cycle);
            }
            UsbStatus status = Run(slot.Input.Physical, 0, command | Trb.SlotField(slot.Id), out Command _);
            if (status != UsbStatus.Ok)
            {
                _dma.Free(ring.Memory);
                Log.Warning(Tag + "can't enable endpoint " + Format.Hex(endpoint.Address, 2) + " of slot " +
                            Format.Decimal((ulong)slot.Id) + ": " + UsbStatusNames.Name(status));
                return status;
            }
            lock (_lock)
                slot.Eps[dci] = ep;
            endpoint.HcdPrivate = ep;
            return UsbStatus.Ok;
        }

        public void DisableEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            var ep = endpoint.HcdPrivate as Ep;
            if (ep == null)
                return;
            Slot slot = ep.Slot;
            WaitEndpointsIdle(slot);
            lock (_lock)
            {
                endpoint.HcdPrivate = null;
                FinishAll(ep, UsbStatus.Shutdown);
                if (ep.Dci != 1)
                    ep.Removed = true;
                else
                    ep.Endpoint = null; // endpoint 0 lives as long as the slot
            }
            if (ep.Dci == 1)
            {
                DeliverCompletions();
                return;
            }
            if (_running && !slot.Disabled)
            {
                lock (_lock)
                {
                    ClearInput(slot);
                    int entries = 1;
                    for (int e = 2; e < slot.Eps.Length; e++)
                        if (slot.Eps[e] != null && e != ep.Dci)
                            entries = e;
                    XhciMemory.Write(slot.Input, XhciContext.DropFlags, XhciContext.EndpointFlag(ep.Dci));
                    XhciMemory.Write(slot.Input, XhciContext.AddFlags, XhciContext.SlotFlag);
                    WriteSlotContext(slot, entries);
                }
                Run(slot.Input.Physical, 0, Trb.TypeField(Trb.TypeConfigureEndpoint) | Trb.SlotField(slot.Id), out Command _);
            }
            lock (_lock)
            {
                if (slot.Eps[ep.Dci] == ep)
                    slot.Eps[ep.Dci] = null;
                FreeStreamRings(ep);
                _dma.Free(ep.Ring.Memory);
            }
            DeliverCompletions();
        }

        public void EndpointResumed(UsbEndpoint endpoint)
        {
            lock (_lock)
            {
                var ep = endpoint.HcdPrivate as Ep;
                if (ep == null || ep.Removed)
                    return;
                ep.WaitingResume = false;
                if (ep.CommandInFlight || !_running || ep.Slot.Disabled)
                    return;
                uint state = EndpointState(ep);
                if (state == EndpointContext.StateHalted)
                {
                    ep.Halted = true;
                    StartRecovery(ep);
                }
                else if (ep.Halted || state == EndpointContext.StateStopped)
                {
                    ep.Halted = false;
                    AfterStopped(ep);
                }
                else
                {
                    MaybeRing(ep);
                }
            }
            DeliverCompletions();
        }

        // ---- Requests (4.11) -------------------------------------------------------------------

        public UsbStatus Submit(UsbRequest request)
        {
            lock (_lock)
            {
                if (!_running)
                    return UsbStatus.Shutdown;
                var ep = request.Endpoint.HcdPrivate as Ep;
                if (ep == null || ep.Removed || ep.Slot.Disabled)
                    return UsbStatus.Shutdown;
                if (ep.Streams != null)
                {
                    // A stream endpoint: the request goes on its Stream ID's ring (4.12.2).
                    uint id = request.StreamId;
                    if (id == 0 || id >= (uint)ep.Streams.Length || ep.Streams[id] == null)
                        return UsbStatus.InvalidArgument;
                    ep = ep.Streams[id];
                }
                else if (request.StreamId != 0)
                    return UsbStatus.InvalidArgument;
                if (ep.IsoStream != null)
                    return SubmitIso(request, ep);
                XhciRing ring = ep.Ring;
                bool control = request.Endpoint.Type == TransferType.Control;
                bool directionIn = request.DirectionIn;
                int length = request.Length;
                ulong buffer = length > 0 ? request.Buffer.Physical : 0;
                int maxPacket = ep.MaxPacket > 0 ? ep.MaxPacket : UsbDevice.MaxPacket0Default;
                bool zeroPacket = !control && !directionIn && length > 0 && length % maxPacket == 0 &&
                                  request.HasFlag(UsbRequestFlags.ZeroPacket);
                int dataTrbs = length > 0 ? Trb.CountChunks(buffer, length) : (control ? 0 : 1);
                int count = control ? dataTrbs + 2 : dataTrbs + (zeroPacket ? 1 : 0);
                if (ring.Free < ring.SlotsFor(count))
                    return UsbStatus.NoMemory;
                var td = new Td
                {
                    Request = request,
                    Ep = ep,
                    Phys = new ulong[count],
                    Index = new int[count],
                    DataBefore = new int[count],
                    DataLength = new int[count],
                    IsData = new bool[count],
                    Length = length,
                    Control = control,
                    FirstCycle = ring.Cycle,
                };
                int usedBefore = ring.Used;
                ring.BeginTd();
                if (control)
                {
                    ulong setup = XhciMemory.Read64(request.Setup, 0);
                    Add(td, ring.Push(setup, Trb.TransferStatus(SetupPacket.Size, 0), Trb.SetupControl(length > 0, directionIn)), 0, 0, false);
                }
                int offset = 0;
                bool first = true;
                while (offset < length || (first && !control && length == 0))
                {
                    int n = length > 0 ? Trb.ChunkAt(buffer + (ulong)offset, length - offset) : 0;
                    bool lastChunk = offset + n >= length;
                    int tdSize = Trb.TdSize(offset + n, length, maxPacket, lastChunk);
                    uint trbControl;
                    if (control)
                        trbControl = first ? Trb.DataControl(directionIn, !lastChunk) : Trb.NormalControl(directionIn, !lastChunk, false);
                    else
                        trbControl = Trb.NormalControl(directionIn, !lastChunk || zeroPacket, lastChunk && !zeroPacket);
                    Add(td, ring.Push(n > 0 ? buffer + (ulong)offset : 0, Trb.TransferStatus(n, tdSize), trbControl), offset, n, true);
                    offset += n;
                    first = false;
                    if (n == 0)
                        break;
                }
                if (zeroPacket)
                    Add(td, ring.Push(0, Trb.TransferStatus(0, 0), Trb.NormalControl(false, false, true)), length, 0, true);
                if (control)
                    Add(td, ring.Push(0, 0, Trb.StatusControl(length > 0, directionIn)), length, 0, false);
                ring.CommitTd();
                td.Slots = ring.Used - usedBefore;
                for (int i = 0; i < td.Count; i++)
                    _trbs[td.Phys[i]] = td;
                ep.Tds.Add(td);
                request.HcdPrivate = td;
                MaybeRing(ep);
                return UsbStatus.Ok;
            }
        }

        // ---- Isochronous (4.11.2.5, 4.14.2) ----------------------------------------------------

        /// <summary>Frame ID counter (MFINDEX bits 13:3) and MFINDEX itself (14 bits).</summary>
        const uint FrameCounterMask = 0x7FF;
        const uint MicroframeCounterMask = 0x3FFF;
        const int MicroframesPerFrame = 8;
        /// <summary>How far ahead a Frame ID may point: Linux keeps TDs within 895 ms of MFINDEX (4.11.2.5).</summary>
        const int IsoWindowFrames = 895;

        /// <summary>The stream bookkeeping of an isochronous endpoint: frames below high speed, microframes from high speed on.</summary>
        UsbIsoStream NewIsoStream(UsbSpeed speed, out bool microframes)
        {
            microframes = speed >= UsbSpeed.High;
            // TDs must be on the ring an IST ahead of the controller, plus a frame of margin.
            int leadMicroframes = _istMicroframes + MicroframesPerFrame;
            if (microframes)
                return new UsbIsoStream(MicroframeCounterMask, leadMicroframes, IsoWindowFrames * MicroframesPerFrame);
            return new UsbIsoStream(FrameCounterMask, (leadMicroframes + MicroframesPerFrame - 1) / MicroframesPerFrame, IsoWindowFrames);
        }

        uint IsoNow(Ep ep)
        {
            uint mfindex = FrameIndex;
            return ep.IsoMicroframes ? mfindex & MicroframeCounterMask : (mfindex >> 3) & FrameCounterMask;
        }

        /// <summary>
        /// Queues an isochronous request: one TD per packet, each an Isoch TRB (plus Normal TRBs if
        /// the packet crosses a 64 KiB boundary), SIA for ASAP requests and a Frame ID otherwise;
        /// IOC on the last TD (BEI with NoInterrupt), ISP on IN TDs so short packets report.
        /// Packets already late (<see cref="UsbIsoStream"/>) never reach the ring. Caller holds the lock.
        /// </summary>
        UsbStatus SubmitIso(UsbRequest request, Ep ep)
        {
            XhciRing ring = ep.Ring;
            int interval = request.Interval;
            UsbStatus scheduled = ep.IsoStream.Schedule(request, IsoNow(ep), interval, out int skip, true);
            if (scheduled != UsbStatus.Ok)
                return scheduled;
            bool asap = request.HasFlag(UsbRequestFlags.IsoAsap);
            int packets = request.NumberOfPackets;
            ulong buffer = request.Length > 0 ? request.Buffer.Physical : 0;
            int count = 0;
            for (int p = skip; p < packets; p++)
            {
                UsbIsoPacket packet = request.IsoPackets[p];
                count += packet.Length > 0 ? Trb.CountChunks(buffer + (ulong)packet.Offset, packet.Length) : 1;
            }
            if (count == 0 || ring.Free < ring.SlotsFor(count))
                return count == 0 ? UsbStatus.CrossedFrame : UsbStatus.NoMemory;
            var td = new Td
            {
                Request = request,
                Ep = ep,
                Phys = new ulong[count],
                Index = new int[count],
                DataBefore = new int[count],
                DataLength = new int[count],
                IsData = new bool[count],
                PacketOf = new int[count],
                Length = request.Length,
                Iso = true,
                FirstCycle = ring.Cycle,
            };
            bool directionIn = request.DirectionIn;
            bool superSpeed = request.Device.Speed >= UsbSpeed.Super;
            int maxBurst = (int)EndpointContext.MaxBurst(request.Device.Speed, request.Endpoint);
            bool blockInterrupt = request.HasFlag(UsbRequestFlags.NoInterrupt);
            int usedBefore = ring.Used;
            ring.BeginTd();
            for (int p = skip; p < packets; p++)
            {
                UsbIsoPacket packet = request.IsoPackets[p];
                bool lastPacket = p == packets - 1;
                uint slot = ep.IsoStream.SlotOf(request, p, interval);
                int frameId = (int)(ep.IsoMicroframes ? slot >> 3 : slot);
                Trb.IsochBurst(packet.Length, ep.MaxPacket, maxBurst, superSpeed, out int burstCount, out int lastBurst);
                int offset = 0;
                bool first = true;
                while (first || offset < packet.Length)
                {
                    ulong address = buffer + (ulong)(packet.Offset + offset);
                    int n = packet.Length > 0 ? Trb.ChunkAt(address, packet.Length - offset) : 0;
                    bool lastChunk = offset + n >= packet.Length;
                    int tdSize = Trb.TdSize(offset + n, packet.Length, ep.MaxPacket, lastChunk);
                    bool ioc = lastChunk && lastPacket;
                    uint control = first
                        ? Trb.IsochControl(directionIn, !lastChunk, ioc, ioc && blockInterrupt, burstCount, lastBurst, asap, frameId)
                        : Trb.NormalControl(directionIn, !lastChunk, ioc);
                    if (!first && ioc && blockInterrupt)
                        control |= Trb.BlockEventInterrupt;
                    int i = td.Count;
                    Add(td, ring.Push(n > 0 ? address : 0, Trb.TransferStatus(n, tdSize), control), packet.Offset + offset, n, true);
                    td.PacketOf[i] = p;
                    offset += n;
                    first = false;
                    if (n == 0)
                        break;
                }
            }
            ring.CommitTd();
            td.Slots = ring.Used - usedBefore;
            for (int i = 0; i < td.Count; i++)
                _trbs[td.Phys[i]] = td;
            ep.Tds.Add(td);
            request.HcdPrivate = td;
            MaybeRing(ep);
            return UsbStatus.Ok;
        }

        /// <summary>
        /// A transfer event on an isochronous TD (4.10.1.1, 4.11.2.5): the packet it names gets its
        /// length and status (Missed Service = CrossedFrame); packets before it without an event
        /// went out whole. The event of the request's last TRB gives the request back. An iso
        /// endpoint only halts on babble/transaction errors: it is reset at once (the core does
        /// not stop isochronous queues).
        /// </summary>
        void HandleIsoEvent(Td td, int k, int code, int residual)
        {
            UsbRequest request = td.Request;
            int p = td.PacketOf[k];
            ref UsbIsoPacket packet = ref request.IsoPackets[p];
            int done = td.DataLength[k] - residual;
            if (done < 0) done = 0;
            if (code == XhciCompletion.MissedService)
                IsoPacketResults.NotRun(ref packet, true); // its service interval went by unserved
            else
                IsoPacketResults.Ran(ref packet, code == XhciCompletion.Success || code == XhciCompletion.ShortPacket ? UsbStatus.Ok : XhciCompletion.ToStatus(code),
                                     td.DataBefore[k] - packet.Offset + done);
            // Every packet queued before this one without an event completed in full.
            for (int i = 0; i < k; i++)
            {
                ref UsbIsoPacket before = ref request.IsoPackets[td.PacketOf[i]];
                if (before.Status == UsbStatus.InProgress)
                {
                    before.Status = UsbStatus.Ok;
                    before.ActualLength = before.Length;
                }
            }
            Ep ep = td.Ep;
            if (code != XhciCompletion.Success && code != XhciCompletion.ShortPacket && code != XhciCompletion.MissedService &&
                EndpointState(ep) == EndpointContext.StateHalted)
            {
                ep.Halted = true;
                StartRecovery(ep);
            }
            // The last packet's event (IOC, or a short/missed/failed packet) ends the request.
            if (p == td.PacketOf[td.Count - 1])
                Finish(td, UsbStatus.Ok, 0);
        }

        void Add(Td td, int index, int before, int length, bool isData)
        {
            int i = td.Count++;
            td.Index[i] = index;
            td.Phys[i] = td.Ep.Ring.PhysicalAt(index);
            td.DataBefore[i] = before;
            td.DataLength[i] = length;
            td.IsData[i] = isData;
        }

        /// <summary>Cancels a queued request: Stop Endpoint, then the TD becomes No-Ops and is given back (4.6.9).</summary>
        public UsbStatus Cancel(UsbRequest request, UsbStatus status)
        {
            lock (_lock)
            {
                var td = request.HcdPrivate as Td;
                UsbStatus state = HcdRequest.BeginCancel(td, request, status);
                if (state != UsbStatus.InProgress)
                    return state;
                Ep ep = td.Ep;
                if (!_running || ep.Top.Removed || ep.Slot.Disabled)
                {
                    for (int t = 0; t < td.Count; t++)
                        ep.Ring.MakeNoOp(td.Index[t]);
                    Finish(td, status, 0);
                }
                else
                {
                    IssueStop(ep.Top);   // Stop Endpoint stops every stream of the endpoint
                }
            }
            DeliverCompletions();
            return UsbStatus.Ok;
        }

        // ---- Bulk streams (4.12) ---------------------------------------------------------------

        /// <summary>Gives back every TD of an endpoint, those of its streams included. Lock held.</summary>
        void FinishAll(Ep ep, UsbStatus status)
        {
            while (ep.Tds.Count > 0)
                Finish(ep.Tds[0], status, 0);
            if (ep.Streams != null)
                for (int s = 1; s < ep.Streams.Length; s++)
                    if (ep.Streams[s] != null)
                        while (ep.Streams[s].Tds.Count > 0)
                            Finish(ep.Streams[s].Tds[0], status, 0);
        }

        /// <summary>Frees the stream rings and the stream context array (the controller no longer uses them). Lock held.</summary>
        void FreeStreamRings(Ep ep)
        {
            if (ep.Streams == null)
                return;
            for (int s = 1; s < ep.Streams.Length; s++)
                if (ep.Streams[s] != null)
                    _dma.Free(ep.Streams[s].Ring.Memory);
            _dma.Free(ep.StreamArray);
            ep.Streams = null;
            ep.StreamArray = default(DmaBuffer);
        }

        /// <summary>
        /// Streams on idle SuperSpeed bulk endpoints (Linux xhci_alloc_streams): a linear Primary
        /// Stream Context Array of 2^(MaxPStreams+1) entries per endpoint, one ring per Stream ID
        /// 1..entries-1, and one Configure Endpoint that drops and re-adds the endpoints with
        /// MaxPStreams, LSA and the array pointer (6.2.3, 4.12.2). The array is the smallest power of
        /// two above <paramref name="streams"/>, bounded by MaxPSASize (HCCPARAMS1) and by what every
        /// endpoint's companion descriptor offers; <paramref name="allocated"/> = entries - 1.
        /// </summary>
        public UsbStatus AllocStreams(UsbDevice device, UsbEndpoint[] endpoints, int streams, out int allocated)
        {
            allocated = 0;
            var slot = device.HcdPrivate as Slot;
            if (slot == null || !_running || slot.Disabled)
                return UsbStatus.Shutdown;
            int psa = XhciCap.MaxPsaSize(_hcc1);
            if (psa == 0 || device.Speed < UsbSpeed.Super)
                return UsbStatus.NotSupported;
            int limit = 1 << (psa + 1);
            for (int i = 0; i < endpoints.Length; i++)
            {
                int supported = UsbStreams.Supported(endpoints[i]);
                if (supported < limit)
                    limit = supported;
            }
            if (limit < MinStreamArrayEntries)
                return UsbStatus.NotSupported;
            int entries = MinStreamArrayEntries, maxPStreams = 0;
            while (entries < streams + 1 && entries < limit)
            {
                entries <<= 1;
                maxPStreams++;
            }
            var eps = new Ep[endpoints.Length];
            lock (_lock)
            {
                for (int i = 0; i < endpoints.Length; i++)
                {
                    var ep = endpoints[i].HcdPrivate as Ep;
                    if (ep == null || ep.Removed || ep.Dci == 1 || ep.IsoStream != null)
                        return UsbStatus.InvalidArgument;
                    if (ep.Streams != null || ep.Tds.Count > 0 || ep.CommandInFlight)
                        return UsbStatus.Busy;
                    eps[i] = ep;
                }
            }
            var arrays = new DmaBuffer[eps.Length];
            var rings = new Ep[eps.Length][];
            bool ok = true;
            for (int i = 0; i < eps.Length && ok; i++)
            {
                arrays[i] = _dma.Allocate((uint)entries * StreamContext.Size, StreamContext.Alignment, DmaLimit.Below4G);
                ok = !arrays[i].IsNull;
                if (!ok) break;
                arrays[i].AsSpan().Clear();
                rings[i] = new Ep[entries];
                for (int id = 1; id < entries && ok; id++)
                {
                    XhciRing ring = XhciRing.Allocate(_dma, StreamRingSlots);
                    ok = ring != null;
                    if (!ok) break;
                    rings[i][id] = new Ep { Slot = slot, Dci = eps[i].Dci, Endpoint = eps[i].Endpoint, Ring = ring, MaxPacket = eps[i].MaxPacket,
                                            Parent = eps[i], StreamId = id };
                    StreamContext.Write(arrays[i], id, ring.Base, ring.Cycle);
                }
            }
            UsbStatus status = UsbStatus.NoMemory;
            if (ok)
            {
                lock (_lock)
                {
                    ClearInput(slot);
                    uint flags = 0;
                    for (int i = 0; i < eps.Length; i++)
                    {
                        flags |= XhciContext.EndpointFlag(eps[i].Dci);
                        uint offset = XhciContext.InputEndpoint(_contextBytes, eps[i].Dci);
                        EndpointContext.Write(slot.Input, offset, device.Speed, eps[i].Endpoint, eps[i].MaxPacket, 0, false);
                        EndpointContext.SetStreams(slot.Input, offset, maxPStreams, arrays[i].Physical);
                    }
                    XhciMemory.Write(slot.Input, XhciContext.DropFlags, flags);
                    XhciMemory.Write(slot.Input, XhciContext.AddFlags, XhciContext.SlotFlag | flags);
                    WriteSlotContext(slot, CurrentContextEntries(slot));
                }
                status = Run(slot.Input.Physical, 0, Trb.TypeField(Trb.TypeConfigureEndpoint) | Trb.SlotField(slot.Id), out Command _);
            }
            if (status != UsbStatus.Ok)
            {
                Log.Warning(Tag + "can't allocate " + Format.Decimal((ulong)(entries - 1)) + " streams on slot " + Format.Decimal((ulong)slot.Id) +
                            ": " + UsbStatusNames.Name(status));
                for (int i = 0; i < eps.Length; i++)
                {
                    if (rings[i] != null)
                        for (int id = 1; id < entries; id++)
                            if (rings[i][id] != null)
                                _dma.Free(rings[i][id].Ring.Memory);
                    if (!arrays[i].IsNull)
                        _dma.Free(arrays[i]);
                }
                return status;
            }
            lock (_lock)
            {
                for (int i = 0; i < eps.Length; i++)
                {
                    eps[i].Streams = rings[i];
                    eps[i].StreamArray = arrays[i];
                }
            }
            allocated = entries - 1;
            Log.Debug(Tag + "slot " + Format.Decimal((ulong)slot.Id) + ": " + Format.Decimal((ulong)allocated) + " streams on " +
                      Format.Decimal((ulong)eps.Length) + " endpoints");
            return UsbStatus.Ok;
        }

        /// <summary>
        /// Back to one ring per endpoint (Linux xhci_free_streams): Configure Endpoint drops and
        /// re-adds the endpoints with their own ring, then the stream rings are freed. TDs still on
        /// the streams are given back with Shutdown.
        /// </summary>
        public UsbStatus FreeStreams(UsbDevice device, UsbEndpoint[] endpoints)
        {
            var slot = device.HcdPrivate as Slot;
            if (slot == null)
                return UsbStatus.Shutdown;
            var eps = new List<Ep>();
            lock (_lock)
            {
                for (int i = 0; i < endpoints.Length; i++)
                {
                    var ep = endpoints[i].HcdPrivate as Ep;
                    if (ep != null && ep.Streams != null && !ep.Removed)
                    {
                        FinishAll(ep, UsbStatus.Shutdown);
                        eps.Add(ep);
                    }
                }
            }
            DeliverCompletions();
            if (eps.Count == 0)
                return UsbStatus.Ok;
            WaitEndpointsIdle(slot);
            UsbStatus status = UsbStatus.Ok;
            if (_running && !slot.Disabled && !device.IsGone)
            {
                lock (_lock)
                {
                    ClearInput(slot);
                    uint flags = 0;
                    for (int i = 0; i < eps.Count; i++)
                    {
                        flags |= XhciContext.EndpointFlag(eps[i].Dci);
                        EndpointContext.Write(slot.Input, XhciContext.InputEndpoint(_contextBytes, eps[i].Dci), device.Speed, eps[i].Endpoint,
                                              eps[i].MaxPacket, eps[i].Ring.EnqueuePhysical, eps[i].Ring.Cycle);
                    }
                    XhciMemory.Write(slot.Input, XhciContext.DropFlags, flags);
                    XhciMemory.Write(slot.Input, XhciContext.AddFlags, XhciContext.SlotFlag | flags);
                    WriteSlotContext(slot, CurrentContextEntries(slot));
                }
                status = Run(slot.Input.Physical, 0, Trb.TypeField(Trb.TypeConfigureEndpoint) | Trb.SlotField(slot.Id), out Command _);
            }
            lock (_lock)
                for (int i = 0; i < eps.Count; i++)
                    FreeStreamRings(eps[i]);
            return status;
        }

        /// <summary>MaxPSASize is not 0: the controller has stream context arrays (5.3.6).</summary>
        public bool CanDoStreams => XhciCap.MaxPsaSize(_hcc1) != 0;

        /// <summary>The smallest Primary Stream Array: MaxPStreams 0 = 2 entries, Stream ID 1 only (6.2.3).</summary>
        const int MinStreamArrayEntries = 2;
        /// <summary>Stream rings are small: UAS queues one command's data (at most 17 TRBs for 1 MiB) or status per stream.</summary>
        const int StreamRingSlots = 64;

        // ---- Ports ---------------------------------------------------------------------------

        public uint ReadPortSc(int controllerPort) => _regs.Read32(_op + XhciOp.PortSc(controllerPort));
        public void WritePortSc(int controllerPort, uint value) => _regs.Write32(_op + XhciOp.PortSc(controllerPort), value);
        public bool PortPowerControl => (_hcc1 & XhciCap.PortPowerControl) != 0;
    }
}
