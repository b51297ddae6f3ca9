using System;
using System.Collections.Generic;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hub;
using Platform;

namespace Usb.Tests.Simulation
{
    /// <summary>
    /// A virtual host controller: root ports with simulated devices and hubs behind them. Requests
    /// are executed on a worker thread that stands in for the controller's interrupt context;
    /// a device that NAKs keeps its request queued until it has data, it is cancelled or gone.
    /// </summary>
    public sealed class SimController : IHostController, IStreamController
    {
        readonly object _lock = new object();
        readonly List<UsbRequest> _pending = new List<UsbRequest>();
        readonly List<KeyValuePair<UsbRequest, UsbStatus>> _cancelled = new List<KeyValuePair<UsbRequest, UsbStatus>>();
        readonly Thread _worker;
        volatile bool _stop;
        UsbBus _bus;
        byte _nextXhciAddress = 100;

        public readonly SimPortSet RootPorts;
        public string DriverName { get; set; } = "sim_hcd";
        public string HcdDescription { get; set; } = "sim_hcd";
        public string Description { get; set; } = "Simulated Host Controller";
        public string BusId { get; set; } = "0000:00:01.2";
        public UsbSpeed RootHubSpeed { get; }
        public int RootPortCount => RootPorts.Ports.Length;
        public bool AssignsAddresses { get; set; }
        public bool RootHubHasTt { get; set; }
        /// <summary>
        /// Requests to an address nobody answers stay queued (like an xHCI transfer ring waiting for a
        /// link that went down) instead of failing with a transaction error (EHCI's three strikes).
        /// </summary>
        public bool VanishedDevicesNak { get; set; } = true;
        public uint FrameNumber => IsoClock != null ? IsoClock() & IsoFrameMask : (uint)(Environment.TickCount & IsoFrameMask);
        /// <summary>Frame counter of the simulated bus (11 bits, like SOF numbers); tests set <see cref="IsoClock"/> to steer it.</summary>
        public const uint IsoFrameMask = 0x7FF;
        /// <summary>Slots ahead of "now" an isochronous request may reach (like a 1024-entry frame list).</summary>
        public const int IsoWindow = 1024;
        /// <summary>Frames between now and the first one an isochronous packet may still use.</summary>
        public const int IsoMinLead = 2;
        public Func<uint> IsoClock;
        /// <summary>Keeps isochronous requests queued (their frames have not come yet).</summary>
        public volatile bool IsoHold;
        /// <summary>Per-packet fault hook for isochronous requests: a status for packet i, or null.</summary>
        public Func<UsbRequest, int, UsbStatus?> IsoPacketFault;
        readonly Dictionary<UsbEndpoint, UsbIsoStream> _isoStreams = new Dictionary<UsbEndpoint, UsbIsoStream>();
        /// <summary>
        /// A cancelled request matching this predicate is kept, not given back (hardware that never
        /// reports the stopped endpoint): its buffer stays the controller's, so a Kill times out.
        /// <see cref="ReleaseHeld"/> gives the held requests back later.
        /// </summary>
        public Func<UsbRequest, bool> HoldCancelled { get; set; }
        /// <summary>Status a Submit fails with when this returns one (a controller out of TDs, ...); null = accept.</summary>
        public Func<UsbRequest, UsbStatus?> SubmitFault { get; set; }

        // Counters for balance checks.
        public int AllocatedDevices;
        public int EnabledEndpoints;
        public int AddressZeroCollisions;
        public int Submitted;
        public readonly List<string> Trace = new List<string>();
        readonly List<KeyValuePair<UsbRequest, UsbStatus>> _held = new List<KeyValuePair<UsbRequest, UsbStatus>>();

        /// <summary>Requests kept after a cancel (see <see cref="HoldCancelled"/>).</summary>
        public int HeldCount { get { lock (_lock) return _held.Count; } }

        /// <summary>Gives the held requests back with their cancel status, as a late controller would.</summary>
        public void ReleaseHeld()
        {
            lock (_lock)
            {
                _cancelled.AddRange(_held);
                _held.Clear();
                _dirty = true;
                Monitor.PulseAll(_lock);
            }
        }

        // ---- Pumped mode and request accounting (fault fuzzer) ----------------------------------

        /// <summary>
        /// Pumped mode: no worker thread; requests complete only when <see cref="Pump"/> runs (a
        /// <see cref="Infrastructure.SimWorld"/> calls it at every blocking point). Set before registering.
        /// </summary>
        public bool Pumped { get; set; }
        /// <summary>Called after every accepted submit (pumped mode: may complete requests inline).</summary>
        public Action AfterSubmit;
        /// <summary>Fault hook for hub-class requests to the root hub: a status to fail with, or null.</summary>
        public Func<SetupPacket, UsbStatus?> RootHubFault;
        /// <summary>Requests accepted by <see cref="Submit"/> and not yet given back.</summary>
        readonly List<UsbRequest> _outstanding = new List<UsbRequest>();
        /// <summary>Every request this controller accepted at least once (in order).</summary>
        public readonly List<UsbRequest> SeenRequests = new List<UsbRequest>();
        readonly HashSet<UsbRequest> _seen = new HashSet<UsbRequest>();
        public int GivenBack;
        /// <summary>Give-backs of a request that was not outstanding (must stay 0).</summary>
        public int DoubleGiveBacks;
        /// <summary>Submits of a request that was still outstanding (must stay 0).</summary>
        public int SubmitsWhileOutstanding;
        readonly List<Action> _deferred = new List<Action>();
        bool _dirty = true;

        public int OutstandingCount
        {
            get { lock (_lock) return _outstanding.Count; }
        }

        /// <summary>Runs <paramref name="action"/> after the request being executed was given back (outside the lock).</summary>
        public void Defer(Action action)
        {
            lock (_lock)
                _deferred.Add(action);
        }

        void RunDeferred()
        {
            while (true)
            {
                Action next;
                lock (_lock)
                {
                    if (_deferred.Count == 0)
                        return;
                    next = _deferred[0];
                    _deferred.RemoveAt(0);
                    _dirty = true;
                }
                next();
            }
        }

        /// <summary>Tests of the fuzzer: the next N answered requests are silently dropped (a lost completion).</summary>
        public int LoseGiveBacks;
        /// <summary>Tests of the fuzzer: the next N give-backs are delivered twice.</summary>
        public int DuplicateGiveBacks;

        void CountedGiveBack(UsbRequest request, UsbStatus status, int actual)
        {
            lock (_lock)
            {
                if (LoseGiveBacks > 0)
                {
                    LoseGiveBacks--;
                    return;
                }
                if (_outstanding.Remove(request))
                    GivenBack++;
                else
                    DoubleGiveBacks++;
                _dirty = true;
            }
            _bus.GiveBack(request, status, actual);
            if (DuplicateGiveBacks > 0)
            {
                DuplicateGiveBacks--;
                CountedGiveBack(request, status, actual);
            }
        }

        /// <summary>
        /// Pumped mode: completes what the devices answer now (cancellations first, then the head
        /// request of each endpoint), at most <paramref name="max"/> requests. Returns whether anything completed.
        /// </summary>
        public bool Pump(int max = 256)
        {
            bool any = false;
            RunDeferred();
            for (int i = 0; i < max; i++)
            {
                lock (_lock)
                {
                    if (!_dirty)
                        break;
                }
                if (!TakeNext(out UsbRequest done, out UsbStatus status, out int actual))
                    break;
                any = true;
                CountedGiveBack(done, status, actual);
                RunDeferred();
            }
            return any;
        }

        readonly HashSet<(UsbEndpoint, uint)> _headSeen = new HashSet<(UsbEndpoint, uint)>();

        /// <summary>Picks the next request to give back (a cancellation or an answered head request).</summary>
        bool TakeNext(out UsbRequest done, out UsbStatus status, out int actual)
        {
            done = null;
            status = UsbStatus.Ok;
            actual = 0;
            lock (_lock)
            {
                if (_cancelled.Count > 0)
                {
                    done = _cancelled[0].Key;
                    status = _cancelled[0].Value;
                    _cancelled.RemoveAt(0);
                    return true;
                }
                HashSet<(UsbEndpoint, uint)> seen = _headSeen;
                seen.Clear();
                foreach (UsbRequest r in _pending)
                {
                    if (!seen.Add((r.Endpoint, r.StreamId)) || r.Endpoint.IsStopped)   // each bulk stream is its own queue
                        continue;
                    SimResult result = Execute(r);
                    if (result.Outcome == SimOutcome.Nak)
                        continue;
                    done = r;
                    status = result.Status;
                    actual = result.Actual;
                    break;
                }
                if (done != null)
                {
                    _pending.Remove(done);
                    return true;
                }
                _dirty = false;
                return false;
            }
        }

        public SimController(int ports, UsbSpeed speed)
        {
            RootHubSpeed = speed;
            RootPorts = new SimPortSet(ports, speed, false);
            _worker = new Thread(Run) { IsBackground = true, Name = "sim-hcd" };
        }

        public void Start(UsbBus bus)
        {
            _bus = bus;
            if (!Pumped)
                _worker.Start();
        }

        public void Stop()
        {
            _stop = true;
            lock (_lock)
                Monitor.PulseAll(_lock);
            if (_worker.IsAlive)
                _worker.Join(5000);
            List<UsbRequest> left;
            lock (_lock)
            {
                left = new List<UsbRequest>(_pending);
                _pending.Clear();
            }
            foreach (UsbRequest r in left)
                CountedGiveBack(r, UsbStatus.Shutdown, 0);
        }

        public UsbStatus AllocateDevice(UsbDevice device) { Interlocked.Increment(ref AllocatedDevices); return UsbStatus.Ok; }
        public void FreeDevice(UsbDevice device) { Interlocked.Decrement(ref AllocatedDevices); }

        public UsbStatus AddressDevice(UsbDevice device, byte address, out byte assigned)
        {
            assigned = address;
            if (!AssignsAddresses)
                return _bus.SendSetAddress(device, address);
            lock (_lock)
            {
                SimDevice target = FindLocked(0, out bool collision);
                if (target == null || collision)
                    return UsbStatus.TransactionError;
                assigned = NextFreeAddressLocked();
                if (assigned == 0)
                    return UsbStatus.NoAddress;
                target.Address = assigned;
                target.SetAddressCount++;
                return UsbStatus.Ok;
            }
        }

        public UsbStatus EnableEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            if (!endpoint.IsEnabled)
                Interlocked.Increment(ref EnabledEndpoints);
            return UsbStatus.Ok;
        }

        public void DisableEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            Interlocked.Decrement(ref EnabledEndpoints);
            lock (_lock)
            {
                _isoStreams.Remove(endpoint);
                Streams.Remove(endpoint);
            }
        }
        public void ResetEndpoint(UsbDevice device, UsbEndpoint endpoint) { }

        /// <summary>Bulk streams: Stream IDs per endpoint (1..n), as the xHCI gives them (power-of-two arrays, bounded by the companion).</summary>
        public readonly Dictionary<UsbEndpoint, int> Streams = new Dictionary<UsbEndpoint, int>();
        /// <summary>Refuses streams (a controller without them).</summary>
        public bool NoStreams;

        public bool CanDoStreams => !NoStreams;

        public UsbStatus AllocStreams(UsbDevice device, UsbEndpoint[] endpoints, int streams, out int allocated)
        {
            allocated = 0;
            if (NoStreams)
                return UsbStatus.NotSupported;
            int limit = int.MaxValue;
            foreach (UsbEndpoint e in endpoints)
                limit = Math.Min(limit, UsbStreams.Supported(e));
            int entries = 2;
            while (entries < streams + 1 && entries < limit)
                entries <<= 1;
            if (entries > limit)
                return UsbStatus.NotSupported;
            lock (_lock)
                foreach (UsbEndpoint e in endpoints)
                    Streams[e] = entries - 1;
            allocated = entries - 1;
            return UsbStatus.Ok;
        }

        public UsbStatus FreeStreams(UsbDevice device, UsbEndpoint[] endpoints)
        {
            lock (_lock)
                foreach (UsbEndpoint e in endpoints)
                    Streams.Remove(e);
            return UsbStatus.Ok;
        }
        public void EndpointResumed(UsbEndpoint endpoint) => Kick();

        public UsbStatus Submit(UsbRequest request)
        {
            UsbStatus? fault = SubmitFault?.Invoke(request);
            if (fault.HasValue)
                return fault.Value;
            lock (_lock)
            {
                if (_stop)
                    return UsbStatus.Shutdown;
                Streams.TryGetValue(request.Endpoint, out int streams);
                if ((streams > 0) != (request.StreamId != 0) || request.StreamId > (uint)streams)
                    return UsbStatus.InvalidArgument;   // like xHCI: stream IDs 1..n exactly on stream endpoints
                if (request.Endpoint.Type == TransferType.Isochronous)
                {
                    if (!_isoStreams.TryGetValue(request.Endpoint, out UsbIsoStream stream))
                        _isoStreams[request.Endpoint] = stream = new UsbIsoStream(IsoFrameMask, IsoMinLead, IsoWindow);
                    UsbStatus scheduled = stream.Schedule(request, FrameNumber, request.Interval, out int _);
                    if (scheduled != UsbStatus.Ok)
                        return scheduled;
                }
                _pending.Add(request);
                Submitted++;
                if (_outstanding.Contains(request))
                    SubmitsWhileOutstanding++;
                _outstanding.Add(request);
                if (_seen.Add(request))
                    SeenRequests.Add(request);
                _dirty = true;
                Monitor.PulseAll(_lock);
            }
            AfterSubmit?.Invoke();
            return UsbStatus.Ok;
        }

        /// <summary>When it returns true for a request, cancelling it "succeeds" but the request is never given back (a lost completion).</summary>
        public Func<UsbRequest, bool> LoseCancelled;

        public UsbStatus Cancel(UsbRequest request, UsbStatus status)
        {
            lock (_lock)
            {
                if (LoseCancelled != null && LoseCancelled(request) && _pending.Remove(request))
                    return UsbStatus.Ok;
                if (!_pending.Remove(request))
                    return UsbStatus.NotQueued;
                Func<UsbRequest, bool> hold = HoldCancelled;
                if (hold != null && hold(request))
                {
                    _held.Add(new KeyValuePair<UsbRequest, UsbStatus>(request, status));
                    return UsbStatus.Ok;
                }
                _cancelled.Add(new KeyValuePair<UsbRequest, UsbStatus>(request, status));
                _dirty = true;
                Monitor.PulseAll(_lock);
            }
            return UsbStatus.Ok;
        }

        public UsbStatus RootHubControl(SetupPacket setup, Span<byte> data, out int actualLength)
        {
            // Like the UHCI and EHCI root hubs, hold a root port reset for TDRSTR in software.
            if (setup.bmRequestType == HubClass.ToPort && setup.bRequest == UsbRequestCode.SetFeature && setup.wValue == HubClass.PortReset)
                _bus.Clock.Sleep(HubTimings.RootResetMs);
            byte[] buffer = new byte[data.Length];
            UsbStatus? fault = RootHubFault?.Invoke(setup);
            if (fault.HasValue)
            {
                actualLength = 0;
                return fault.Value;
            }
            SimResult r;
            lock (_lock)
                r = RootPorts.Control(setup, buffer, RootPorts.SuperSpeed
                    ? SimPortSet.SuperSpeedHubDescriptorBytes(RootPorts.Ports.Length)
                    : SimPortSet.HubDescriptorBytes(RootPorts.Ports.Length, 10));
            actualLength = Math.Min(r.Actual, data.Length);
            new Span<byte>(buffer, 0, actualLength).CopyTo(data);
            Kick();
            return r.Outcome == SimOutcome.Nak ? UsbStatus.Timeout : r.Status;
        }

        public int RootHubStatusData(Span<byte> bitmap)
        {
            lock (_lock)
                return RootPorts.ChangeBitmap(bitmap);
        }

        // ---- Test API ------------------------------------------------------------------------

        /// <summary>Plugs a device at "1" (root port 1) or "1.3" (port 3 of the hub on root port 1).</summary>
        public void Plug(string path, SimDevice device)
        {
            bool root;
            lock (_lock)
            {
                Resolve(path, out SimPortSet set, out int port);
                set.Plug(port, device);
                root = set == RootPorts;
                _dirty = true;
                Monitor.PulseAll(_lock);
            }
            if (root)
                _bus.RootHubStatusChanged();
        }

        public SimDevice Unplug(string path)
        {
            SimDevice d;
            bool root;
            lock (_lock)
            {
                Resolve(path, out SimPortSet set, out int port);
                d = set.Unplug(port);
                root = set == RootPorts;
                _dirty = true;
                Monitor.PulseAll(_lock);
            }
            if (root)
                _bus.RootHubStatusChanged();
            return d;
        }

        public void OverCurrent(string path)
        {
            bool root;
            lock (_lock)
            {
                Resolve(path, out SimPortSet set, out int port);
                set.InjectOverCurrent(port);
                root = set == RootPorts;
                _dirty = true;
                Monitor.PulseAll(_lock);
            }
            if (root)
                _bus.RootHubStatusChanged();
        }

        public SimPort PortAt(string path)
        {
            lock (_lock)
            {
                Resolve(path, out SimPortSet set, out int port);
                return set.Port(port);
            }
        }

        /// <summary>Runs an action on simulated state under the controller's lock, then lets the worker look again.</summary>
        public void Mutate(Action action)
        {
            lock (_lock)
            {
                action();
                _dirty = true;
                Monitor.PulseAll(_lock);
            }
        }

        public int PendingCount
        {
            get { lock (_lock) return _pending.Count; }
        }

        public void Kick()
        {
            lock (_lock)
            {
                _dirty = true;
                Monitor.PulseAll(_lock);
            }
        }

        void Resolve(string path, out SimPortSet set, out int port)
        {
            string[] parts = path.Split('.');
            set = RootPorts;
            for (int i = 0; i < parts.Length - 1; i++)
            {
                var hub = set.Port(int.Parse(parts[i])).Device as SimHub;
                if (hub == null)
                    throw new ArgumentException("no hub at " + path);
                set = hub.PortSet;
            }
            port = int.Parse(parts[parts.Length - 1]);
        }

        // ---- Execution -----------------------------------------------------------------------

        /// <summary>
        /// The address an xHCI-like controller gives next: round robin over 2..127 (USB 2.0 9.4.6: seven
        /// bits), skipping addresses devices still hold, as slots are reused; 0 when none is free.
        /// </summary>
        byte NextFreeAddressLocked()
        {
            var used = new HashSet<byte>();
            CollectAddresses(RootPorts, used);
            for (int i = 0; i < UsbLimits.MaxAddress; i++)
            {
                byte candidate = _nextXhciAddress;
                _nextXhciAddress = _nextXhciAddress >= UsbLimits.MaxAddress ? (byte)2 : (byte)(_nextXhciAddress + 1);
                if (!used.Contains(candidate))
                    return candidate;
            }
            return 0;
        }

        static void CollectAddresses(SimPortSet set, HashSet<byte> used)
        {
            foreach (SimPort p in set.Ports)
            {
                if (p.Device == null)
                    continue;
                used.Add(p.Device.Address);
                if (p.Device is SimHub hub)
                    CollectAddresses(hub.PortSet, used);
            }
        }

        readonly List<SimDevice> _found = new List<SimDevice>();

        SimDevice FindLocked(byte address, out bool collision)
        {
            List<SimDevice> found = _found;
            found.Clear();
            Collect(RootPorts, address, found);
            collision = found.Count > 1;
            if (collision && address == 0)
                AddressZeroCollisions++;
            return found.Count > 0 ? found[0] : null;
        }

        static void Collect(SimPortSet set, byte address, List<SimDevice> found)
        {
            foreach (SimPort p in set.Ports)
            {
                if (p.Device == null || !p.Powered || !p.Enabled)
                    continue;
                if (p.Device.Address == address)
                    found.Add(p.Device);
                if (p.Device is SimHub hub && hub.Configuration != 0)
                    Collect(hub.PortSet, address, found);
            }
        }

        void Run()
        {
            while (!_stop)
            {
                if (!TakeNext(out UsbRequest done, out UsbStatus status, out int actual))
                {
                    lock (_lock)
                    {
                        if (!_dirty && _deferred.Count == 0)
                            Monitor.Wait(_lock, 5);
                        _dirty = true;
                    }
                    RunDeferred();
                    continue;
                }
                CountedGiveBack(done, status, actual);
                RunDeferred();
            }
        }

        SimResult Execute(UsbRequest r)
        {
            SimDevice device = FindLocked(r.Device.WireAddress, out bool collision);
            if (collision)
                return SimResult.Fail(UsbStatus.TransactionError);
            if (device == null)
                return VanishedDevicesNak ? SimResult.Nak : SimResult.Fail(UsbStatus.TransactionError);
            if (r.Endpoint.Number == 0)
            {
                SetupPacket setup = r.ReadSetup();
                byte[] data = new byte[setup.wLength];
                if (!setup.IsIn && r.Length > 0)
                    r.Buffer.AsSpan().Slice(0, r.Length).CopyTo(data);
                SimResult result = device.HandleControl(setup, data);
                if (result.Outcome == SimOutcome.Complete && setup.IsIn)
                {
                    int n = Math.Min(Math.Min(result.Actual, r.Length), data.Length);
                    new Span<byte>(data, 0, n).CopyTo(r.Buffer.AsSpan());
                    result.Actual = n;
                }
                return result;
            }
            if (r.Endpoint.Type == TransferType.Isochronous)
                return ExecuteIso(r, device);
            byte[] buffer = new byte[r.Length];
            if (!r.DirectionIn && r.Length > 0)
                r.Buffer.AsSpan().Slice(0, r.Length).CopyTo(buffer);
            device.StreamId = r.StreamId;
            SimResult res = device.HandleData(r.Endpoint.Address, r.DirectionIn, buffer, r.Length);
            if (res.Outcome == SimOutcome.Complete && r.DirectionIn && res.Actual > 0)
                new Span<byte>(buffer, 0, Math.Min(res.Actual, r.Length)).CopyTo(r.Buffer.AsSpan());
            return res;
        }

        /// <summary>
        /// Every scheduled packet of an isochronous request in turn (no handshakes: a device with
        /// nothing to send gives a zero-length packet); skipped packets keep CrossedFrame.
        /// </summary>
        SimResult ExecuteIso(UsbRequest r, SimDevice device)
        {
            if (IsoHold)
                return SimResult.Nak;
            Span<byte> data = r.Length > 0 ? r.Buffer.AsSpan() : Span<byte>.Empty;
            for (int i = 0; i < r.NumberOfPackets; i++)
            {
                ref UsbIsoPacket p = ref r.IsoPackets[i];
                if (p.Status == UsbStatus.CrossedFrame)
                    continue;
                UsbStatus? fault = IsoPacketFault?.Invoke(r, i);
                if (fault.HasValue)
                {
                    p.Status = fault.Value;
                    p.ActualLength = 0;
                    continue;
                }
                byte[] packet = new byte[p.Length];
                if (!r.DirectionIn)
                    data.Slice(p.Offset, p.Length).CopyTo(packet);
                SimResult res = device.HandleData(r.Endpoint.Address, r.DirectionIn, packet, p.Length);
                if (res.Outcome == SimOutcome.Nak)
                    res = SimResult.Ok(0);
                p.Status = res.Status;
                p.ActualLength = res.Actual;
                if (r.DirectionIn && res.Actual > 0)
                    new Span<byte>(packet, 0, Math.Min(res.Actual, p.Length)).CopyTo(data.Slice(p.Offset));
            }
            return SimResult.Ok(0);
        }
    }
}
