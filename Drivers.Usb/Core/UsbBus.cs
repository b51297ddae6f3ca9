using System;
using System.Collections.Generic;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Usbmon;
using Platform;

namespace Drivers.Usb
{
    /// <summary>
    /// One host controller's bus: Haiku's BusManager, Linux's usb_bus/usb_hcd. Numbers the bus,
    /// owns the address space (1..127, root hub = 1), serializes "address 0", and is the gate every
    /// request passes: it validates and queues requests, routes root hub requests to the
    /// emulation, and runs give-back with Linux's unlink/kill/halted-queue semantics.
    /// </summary>
    public sealed class UsbBus
    {
        /// <summary>Bound for a kill to wait for the completion of a request (ms).</summary>
        public const uint KillTimeoutMs = 5000;
        /// <summary>Bound for flushing an endpoint's queue (ms).</summary>
        public const uint FlushTimeoutMs = 5000;
        const uint WaitSliceMs = 10;
        /// <summary>Alignment of DMA buffers the core allocates for requests.</summary>
        public const uint DmaAlignment = 64;
        const int RootHubStatusBytes = (UsbLimits.MaxPorts + 1 + 7) / 8;

        public readonly int Number;
        public readonly IHostController Controller;
        public readonly UsbStack Stack;
        public readonly IDmaAllocator Dma;
        public UsbDevice RootHub;
        /// <summary>Held while a device is at the default address (one "address 0" per bus).</summary>
        public readonly IMutex Address0Lock;
        /// <summary>Guards request queues and bookkeeping; never held while calling out.</summary>
        readonly object _lock = new object();
        readonly bool[] _addressUsed = new bool[UsbLimits.MaxAddress + 1];
        int _nextAddress = UsbDevice.RootHubAddress + 1;
        /// <summary>
        /// Every device on the bus (root hub included), in the order they appeared. A snapshot:
        /// the array is replaced (under the topology lock), never changed in place.
        /// </summary>
        public UsbDevice[] Devices => _devices;
        UsbDevice[] _devices = new UsbDevice[0];

        // Periodic bandwidth (Linux usb_bus.bandwidth_allocated, bandwidth_int_reqs, bandwidth_isoc_reqs).
        int _periodicUs, _interruptEndpoints, _isoEndpoints;
        /// <summary>Microseconds per frame held by enabled interrupt and isochronous endpoints.</summary>
        public int PeriodicAllocatedUs => _periodicUs;
        public int PeriodicBudgetUs => UsbBandwidth.BudgetUs(Controller.RootHubSpeed);
        public int InterruptEndpointCount => _interruptEndpoints;
        public int IsoEndpointCount => _isoEndpoints;

        UsbRequest _rootHubStatusRequest;
        readonly byte[] _statusBitmap = new byte[RootHubStatusBytes];
        internal RootHubEmulation RootHubEmulation;
        /// <summary>usbmon (Monitor/UsbMonitor.cs): records this bus's requests while a reader is attached.</summary>
        public readonly UsbMonitor Monitor;

        internal UsbBus(UsbStack stack, int number, IHostController controller, IDmaAllocator dma)
        {
            Stack = stack;
            Number = number;
            Controller = controller;
            Dma = dma;
            Address0Lock = stack.Threading.CreateMutex();
            Monitor = new UsbMonitor(this, stack.Threading.CreateEvent(true));
            _addressUsed[0] = true;
            _addressUsed[UsbDevice.RootHubAddress] = true;
        }

        public IClock Clock => Stack.Clock;

        // ---- Addresses (USB 2.0 9.4.6) -------------------------------------------------------

        /// <summary>Next free address, round robin like Linux's devnum_next; 0 when all are used.</summary>
        public byte AllocateAddress()
        {
            lock (_lock)
            {
                for (int i = 0; i < UsbLimits.MaxAddress; i++)
                {
                    int candidate = _nextAddress;
                    _nextAddress = _nextAddress >= UsbLimits.MaxAddress ? UsbDevice.RootHubAddress + 1 : _nextAddress + 1;
                    if (!_addressUsed[candidate])
                    {
                        _addressUsed[candidate] = true;
                        return (byte)candidate;
                    }
                }
                return 0;
            }
        }

        public void FreeAddress(byte address)
        {
            if (address <= UsbDevice.RootHubAddress)
                return;
            lock (_lock)
                _addressUsed[address] = false;
        }

        /// <summary>Standard SET_ADDRESS for controllers that do not assign addresses (USB 2.0 9.4.6).</summary>
        public UsbStatus SendSetAddress(UsbDevice device, byte address)
        {
            var setup = new SetupPacket(RequestType.DirectionOut | RequestType.TypeStandard | RequestType.RecipientDevice,
                                        UsbRequestCode.SetAddress, address, 0, 0);
            return UsbMessages.Control(device, setup, UsbMessages.NoData, UsbMessages.ControlTimeoutMs, out int _);
        }

        /// <summary>Adds a registered device to <see cref="Devices"/>. Caller holds the topology lock.</summary>
        internal void AddDevice(UsbDevice device) => _devices = CopyOnWrite.Append(_devices, device);

        /// <summary>Removes a device from <see cref="Devices"/>. Caller holds the topology lock.</summary>
        internal void RemoveDevice(UsbDevice device) => _devices = CopyOnWrite.Remove(_devices, device);

        // ---- Requests ------------------------------------------------------------------------

        /// <summary>
        /// Queues a request (Linux usb_submit_urb). On success the completion runs exactly once
        /// later; on failure it never runs. Requests to a gone device fail with NoDevice.
        /// </summary>
        public UsbStatus Submit(UsbRequest request)
        {
            if (request == null || request.Device == null || request.Endpoint == null)
                return UsbStatus.InvalidArgument;
            UsbDevice device = request.Device;
            UsbEndpoint endpoint = request.Endpoint;
            if (device.Bus != this)
                return UsbStatus.InvalidArgument;
            if (request.Length < 0 || (request.Length > 0 && (request.Buffer.IsNull || request.Length > request.Buffer.Size)))
                return UsbStatus.InvalidArgument;
            TransferType type = endpoint.Type;
            if (type == TransferType.Control)
            {
                if (request.Setup.IsNull || request.Setup.Size < SetupPacket.Size)
                    return UsbStatus.InvalidArgument;
                SetupPacket setup = request.ReadSetup();
                if (setup.wLength < request.Length)
                    return UsbStatus.InvalidArgument;
                request.DirectionIn = setup.IsIn;
            }
            else
            {
                request.DirectionIn = endpoint.IsIn;
                if (type == TransferType.Isochronous)
                {
                    UsbStatus iso = ValidateIso(request, device, endpoint);
                    if (iso != UsbStatus.Ok)
                        return iso;
                }
                if (type == TransferType.Interrupt)
                    request.Interval = endpoint.Interval;
            }

            lock (_lock)
            {
                if (device.IsGone)
                    return UsbStatus.NoDevice;
                if (request.Reject > 0)
                    return UsbStatus.Rejected;
                if (request.Linked)
                    return UsbStatus.Busy;
                if (!endpoint.Enabled || endpoint.Device != device)
                    return UsbStatus.Shutdown;
                request.Linked = true;
                request.UseCount++;
                request.Status = UsbStatus.InProgress;
                request.ActualLength = 0;
                request.UnlinkStatus = UsbStatus.InProgress;
                lock (endpoint.Queue)
                    endpoint.Queue.Add(request);
            }

            if (Monitor.Active)
                Monitor.Submitted(request);
            UsbStatus status = device.IsRootHub ? RootHubSubmit(request) : Controller.Submit(request);
            if (status != UsbStatus.Ok)
            {
                if (Monitor.Active)
                    Monitor.SubmitFailed(request, status);
                lock (_lock)
                {
                    if (request.Linked)
                    {
                        request.Linked = false;
                        request.UseCount--;
                        lock (endpoint.Queue)
                            endpoint.Queue.Remove(request);
                    }
                }
                return status;
            }
            return UsbStatus.Ok;
        }

        /// <summary>Most packets one isochronous request may carry (a bound for the controllers' descriptor allocations).</summary>
        public const int MaxIsoPackets = 1024;

        /// <summary>The controller's frame counter (<see cref="IHostController.FrameNumber"/>), for start frames.</summary>
        public uint CurrentFrame => Controller.FrameNumber;

        /// <summary>
        /// Checks an isochronous request (Linux usb_submit_urb): packets inside the buffer, each at
        /// most the endpoint's payload per interval, a positive interval (the descriptor's when 0);
        /// resets the per-packet results.
        /// </summary>
        static UsbStatus ValidateIso(UsbRequest request, UsbDevice device, UsbEndpoint endpoint)
        {
            int count = request.NumberOfPackets;
            if (count <= 0 || count > MaxIsoPackets || request.IsoPackets == null || request.IsoPackets.Length < count)
                return UsbStatus.InvalidArgument;
            int payload = endpoint.MaxPayloadPerInterval(device.Speed);
            for (int i = 0; i < count; i++)
            {
                UsbIsoPacket p = request.IsoPackets[i];
                if (p.Offset < 0 || p.Length < 0 || p.Length > payload || p.Offset + p.Length > request.Length)
                    return UsbStatus.InvalidArgument;
            }
            if (request.Interval < 0)
                return UsbStatus.InvalidArgument;
            if (request.Interval == 0)
                request.Interval = endpoint.IsoPeriod;
            for (int i = 0; i < count; i++)
            {
                request.IsoPackets[i].ActualLength = 0;
                request.IsoPackets[i].Status = UsbStatus.InProgress;
            }
            request.ErrorCount = 0;
            return UsbStatus.Ok;
        }

        /// <summary>
        /// Final figures of an isochronous request (Linux: actual_length is the sum, error_count the
        /// packets not Ok). Packets the controller never reached take CrossedFrame when the request
        /// itself ended Ok, else the request's status (unlinked, device gone). A short IN packet
        /// with ShortNotOk ends ShortPacket.
        /// </summary>
        static int FinishIso(UsbRequest request, UsbStatus status)
        {
            int total = 0, errors = 0;
            bool shortNotOk = request.DirectionIn && request.HasFlag(UsbRequestFlags.ShortNotOk);
            for (int i = 0; i < request.NumberOfPackets; i++)
            {
                ref UsbIsoPacket p = ref request.IsoPackets[i];
                if (p.Status == UsbStatus.InProgress)
                {
                    p.Status = status == UsbStatus.Ok ? UsbStatus.CrossedFrame : status;
                    p.ActualLength = 0;
                }
                if (p.ActualLength < 0) p.ActualLength = 0;
                if (p.ActualLength > p.Length) p.ActualLength = p.Length;
                if (p.Status == UsbStatus.Ok && shortNotOk && p.ActualLength < p.Length)
                    p.Status = UsbStatus.ShortPacket;
                total += p.ActualLength;
                if (p.Status != UsbStatus.Ok)
                    errors++;
            }
            request.ErrorCount = errors;
            return total;
        }

        /// <summary>
        /// Called by the host controller when a request is done (Linux usb_hcd_giveback_urb). Runs
        /// the completion; after an error the endpoint stays stopped until the completion returned.
        /// </summary>
        public void GiveBack(UsbRequest request, UsbStatus status, int actualLength)
        {
            UsbEndpoint endpoint = request.Endpoint;
            bool halts;
            lock (_lock)
            {
                if (!request.Linked)
                {
                    Log.Warning("usb " + Format.Decimal((ulong)Number) + ": request given back twice");
                    return;
                }
                request.Linked = false;
                lock (endpoint.Queue)
                    endpoint.Queue.Remove(request);
                if (request.UnlinkStatus != UsbStatus.InProgress)
                    status = request.UnlinkStatus;
                bool iso = endpoint.Type == TransferType.Isochronous;
                if (iso)
                    actualLength = FinishIso(request, status);
                if (actualLength < 0)
                    actualLength = 0;
                if (actualLength > request.Length)
                    actualLength = request.Length;
                if (!iso && status == UsbStatus.Ok && request.DirectionIn && actualLength < request.Length &&
                    request.HasFlag(UsbRequestFlags.ShortNotOk))
                    status = UsbStatus.ShortPacket;
                request.Status = status;
                request.ActualLength = actualLength;
                // Isochronous errors are per packet; the stream never stops for them (Linux).
                halts = !iso && UsbStatusNames.HaltsQueue(status);
                if (halts)
                    endpoint.SetStopped(true);
            }

            if (Monitor.Active)
                Monitor.Completed(request);
            UsbCompletion completion = request.Completion;
            if (completion != null)
                completion(request);

            if (halts)
            {
                endpoint.SetStopped(false);
                if (!request.Device.IsRootHub)
                    Controller.EndpointResumed(endpoint);
            }

            IEvent idle;
            lock (_lock)
            {
                request.UseCount--;
                idle = request.IdleEvent;
            }
            if (idle != null)
                idle.Signal();
        }

        /// <summary>
        /// Asynchronous unlink (Linux usb_unlink_urb): the request completes later with
        /// <paramref name="status"/> (Cancelled by default). Returns NotQueued when it is not queued.
        /// </summary>
        public UsbStatus Unlink(UsbRequest request, UsbStatus status = UsbStatus.Cancelled)
        {
            if (request == null)
                return UsbStatus.InvalidArgument;
            lock (_lock)
            {
                if (!request.Linked)
                    return UsbStatus.NotQueued;
                if (request.UnlinkStatus != UsbStatus.InProgress)
                    return UsbStatus.Busy;
                request.UnlinkStatus = status;
            }
            if (request.Device.IsRootHub)
                return RootHubCancel(request, status);
            return Controller.Cancel(request, status);
        }

        /// <summary>
        /// Synchronous kill (Linux usb_kill_urb): cancels the request, waits (bounded) until its
        /// completion has returned, and refuses resubmission meanwhile. Thread context only.
        /// </summary>
        public UsbStatus Kill(UsbRequest request)
        {
            if (request == null)
                return UsbStatus.InvalidArgument;
            lock (_lock)
            {
                if (request.UseCount == 0)
                    return UsbStatus.Ok;
                request.Reject++;
                if (request.IdleEvent == null)
                    request.IdleEvent = Stack.Threading.CreateEvent(true);
            }
            Unlink(request, UsbStatus.Killed);
            UsbStatus result = WaitIdle(request);
            lock (_lock)
                request.Reject--;
            return result;
        }

        UsbStatus WaitIdle(UsbRequest request)
        {
            ulong start = Clock.Milliseconds;
            while (true)
            {
                lock (_lock)
                {
                    if (request.UseCount == 0)
                        return UsbStatus.Ok;
                }
                ulong elapsed = Clock.Milliseconds - start;
                if (elapsed >= KillTimeoutMs)
                {
                    Log.Error("usb " + Format.Decimal((ulong)Number) + ": request did not complete after kill");
                    return UsbStatus.Timeout;
                }
                request.IdleEvent.Wait(WaitSliceMs);
            }
        }

        /// <summary>
        /// Bulk streams for the endpoints of one interface (Linux usb_alloc_streams): NotSupported when
        /// the controller has none (only xHCI does) or an endpoint is not a SuperSpeed bulk endpoint
        /// with streams. <paramref name="allocated"/> is the number of Stream IDs (1..allocated) usable.
        /// </summary>
        public UsbStatus AllocStreams(UsbDevice device, UsbEndpoint[] endpoints, int streams, out int allocated)
        {
            allocated = 0;
            var controller = Controller as IStreamController;
            if (device == null || endpoints == null || endpoints.Length == 0 || streams < 1 || streams > UsbStreams.MaxStreamId)
                return UsbStatus.InvalidArgument;
            if (controller == null || device.IsRootHub)
                return UsbStatus.NotSupported;
            for (int i = 0; i < endpoints.Length; i++)
                if (endpoints[i] == null || !endpoints[i].Enabled || UsbStreams.Supported(endpoints[i]) == 0)
                    return UsbStatus.NotSupported;
            if (device.IsGone)
                return UsbStatus.NoDevice;
            return controller.AllocStreams(device, endpoints, streams, out allocated);
        }

        /// <summary>Whether the bus's controller can do bulk streams (Linux hcd->can_do_streams).</summary>
        public bool CanDoStreams => Controller is IStreamController streams && streams.CanDoStreams;

        /// <summary>Gives the endpoints their single queue back (Linux usb_free_streams); nothing to do without streams.</summary>
        public UsbStatus FreeStreams(UsbDevice device, UsbEndpoint[] endpoints)
        {
            var controller = Controller as IStreamController;
            if (controller == null || device == null || endpoints == null)
                return UsbStatus.NotSupported;
            return controller.FreeStreams(device, endpoints);
        }

        /// <summary>Gives back every request queued on the endpoint with <paramref name="status"/> and waits for them (bounded).</summary>
        public UsbStatus FlushEndpoint(UsbEndpoint endpoint, UsbStatus status)
        {
            UsbRequest[] pending;
            lock (endpoint.Queue)
                pending = endpoint.Queue.ToArray();
            for (int i = 0; i < pending.Length; i++)
                Unlink(pending[i], status);
            ulong start = Clock.Milliseconds;
            // Wait until the queue is empty and every flushed request's completion has returned.
            while (endpoint.QueuedCount > 0 || AnyInUse(pending))
            {
                if (Clock.Milliseconds - start >= FlushTimeoutMs)
                {
                    Log.Error("usb " + Format.Decimal((ulong)Number) + ": endpoint did not flush");
                    return UsbStatus.Timeout;
                }
                Stack.Threading.Yield();
                Clock.Sleep(1);
            }
            return UsbStatus.Ok;
        }

        bool AnyInUse(UsbRequest[] requests)
        {
            lock (_lock)
            {
                for (int i = 0; i < requests.Length; i++)
                    if (requests[i].UseCount > 0 && !requests[i].Linked)
                        return true;
            }
            return false;
        }

        /// <summary>Installs the endpoint in the device's table and tells the controller.</summary>
        internal UsbStatus EnableEndpoint(UsbDevice device, UsbEndpoint endpoint)
        {
            UsbEndpoint[] table = endpoint.IsIn ? device.EndpointsIn : device.EndpointsOut;
            if (endpoint.Number != 0)
            {
                // Another enabled endpoint owns the address: never overwrite it (its requests and
                // controller state would be orphaned).
                UsbEndpoint holder = table[endpoint.Number];
                if (holder != null && holder != endpoint && holder.Enabled)
                    return UsbStatus.Busy;
            }
            endpoint.Device = device;
            UsbStatus status = ReserveBandwidth(device, endpoint);
            if (status != UsbStatus.Ok)
                return status;
            status = device.IsRootHub ? UsbStatus.Ok : Controller.EnableEndpoint(device, endpoint);
            if (status != UsbStatus.Ok)
            {
                ReleaseBandwidth(endpoint);
                return status;
            }
            if (endpoint.Number != 0)
                table[endpoint.Number] = endpoint;
            endpoint.Enabled = true;
            return status;
        }

        /// <summary>
        /// Claims the endpoint's periodic bandwidth (Linux usb_hcd_alloc_bandwidth): refused with
        /// NoBandwidth (-ENOSPC) when the bus's periodic budget would be exceeded. Root hub
        /// endpoints are emulated and take nothing.
        /// </summary>
        UsbStatus ReserveBandwidth(UsbDevice device, UsbEndpoint endpoint)
        {
            if (device.IsRootHub || !UsbBandwidth.IsPeriodic(endpoint) || endpoint.BandwidthUs > 0)
                return UsbStatus.Ok;
            int us = UsbBandwidth.FrameLoadUs(device, endpoint);
            if (us < 1)
                us = 1;
            lock (_lock)
            {
                int budget = PeriodicBudgetUs;
                if (_periodicUs + us > budget)
                {
                    Log.Warning("usb " + device.Name + ": not enough bandwidth for endpoint " + Format.Hex(endpoint.Address, 2) + ": " +
                                Format.Decimal((ulong)us) + " us needed, " + Format.Decimal((ulong)(budget - _periodicUs)) + " of " +
                                Format.Decimal((ulong)budget) + " us per frame left");
                    return UsbStatus.NoBandwidth;
                }
                _periodicUs += us;
                if (endpoint.Type == TransferType.Isochronous) _isoEndpoints++; else _interruptEndpoints++;
                endpoint.BandwidthUs = us;
            }
            return UsbStatus.Ok;
        }

        void ReleaseBandwidth(UsbEndpoint endpoint)
        {
            lock (_lock)
            {
                if (endpoint.BandwidthUs <= 0)
                    return;
                _periodicUs -= endpoint.BandwidthUs;
                if (endpoint.Type == TransferType.Isochronous) _isoEndpoints--; else _interruptEndpoints--;
                endpoint.BandwidthUs = 0;
            }
        }

        /// <summary>
        /// Polls an idle, enabled interrupt endpoint more often than its descriptor asks (Linux
        /// lets a driver choose urb->interval the same way): the controller schedules it again.
        /// Only shortening is allowed; root hub endpoints are emulated and need nothing.
        /// </summary>
        public UsbStatus SetPollingInterval(UsbEndpoint endpoint, byte interval)
        {
            UsbDevice device = endpoint.Device;
            if (device == null || endpoint.Type != TransferType.Interrupt || interval == 0)
                return UsbStatus.InvalidArgument;
            if (interval >= endpoint.Interval)
                return UsbStatus.Ok;
            if (!endpoint.Enabled || endpoint.QueuedCount > 0)
                return UsbStatus.Busy;
            // The same disable/enable the core does around SET_INTERFACE: the controller schedules
            // the endpoint afresh with the new interval.
            DisableEndpoint(device, endpoint, UsbStatus.Shutdown);
            endpoint.Interval = interval;
            return EnableEndpoint(device, endpoint);
        }

        /// <summary>Flushes the endpoint's requests with <paramref name="status"/>, then disables it.</summary>
        internal void DisableEndpoint(UsbDevice device, UsbEndpoint endpoint, UsbStatus status)
        {
            // Disabled first, so completions that resubmit while the queue flushes are refused.
            lock (_lock)
                endpoint.Enabled = false;
            FlushEndpoint(endpoint, status);
            if (!device.IsRootHub)
                Controller.DisableEndpoint(device, endpoint);
            ReleaseBandwidth(endpoint);
            if (endpoint.Number != 0)
            {
                if (endpoint.IsIn && device.EndpointsIn[endpoint.Number] == endpoint)
                    device.EndpointsIn[endpoint.Number] = null;
                if (!endpoint.IsIn && device.EndpointsOut[endpoint.Number] == endpoint)
                    device.EndpointsOut[endpoint.Number] = null;
            }
        }

        // ---- Root hub glue (Linux hcd.c rh_call_control / rh_queue_status) -------------------

        UsbStatus RootHubSubmit(UsbRequest request)
        {
            UsbEndpoint endpoint = request.Endpoint;
            if (endpoint.Number == 0)
            {
                SetupPacket setup = request.ReadSetup();
                Span<byte> data = request.Length > 0 ? request.Buffer.AsSpan().Slice(0, request.Length) : UsbMessages.NoData;
                int actual;
                UsbStatus status;
                if ((setup.bmRequestType & RequestType.TypeMask) == RequestType.TypeStandard)
                    status = RootHubEmulation.Standard(setup, data, out actual);
                else
                    status = Controller.RootHubControl(setup, data, out actual);
                GiveBack(request, status, actual);
                return UsbStatus.Ok;
            }
            if (endpoint.Type != TransferType.Interrupt || !endpoint.IsIn)
                return UsbStatus.InvalidArgument;
            lock (_lock)
            {
                if (_rootHubStatusRequest != null)
                    return UsbStatus.Busy;
                _rootHubStatusRequest = request;
            }
            RootHubStatusChanged();
            return UsbStatus.Ok;
        }

        UsbStatus RootHubCancel(UsbRequest request, UsbStatus status)
        {
            lock (_lock)
            {
                if (_rootHubStatusRequest != request)
                    return UsbStatus.NotQueued;
                _rootHubStatusRequest = null;
            }
            GiveBack(request, status, 0);
            return UsbStatus.Ok;
        }

        /// <summary>
        /// Called by the host controller (any context) when a root port's status changed: completes
        /// the root hub's status-change request with the controller's bitmap, which wakes the hub
        /// driver exactly as an external hub's interrupt endpoint would.
        /// </summary>
        public void RootHubStatusChanged()
        {
            UsbRequest request;
            int copy;
            lock (_lock)
            {
                request = _rootHubStatusRequest;
                if (request == null)
                    return;
                Span<byte> bitmap = new Span<byte>(_statusBitmap);
                for (int i = 0; i < bitmap.Length; i++)
                    bitmap[i] = 0;
                int length = Controller.RootHubStatusData(bitmap);
                if (length <= 0)
                    return;
                _rootHubStatusRequest = null;
                copy = Le.Min(Le.Min(length, bitmap.Length), request.Length);
                Span<byte> destination = request.Buffer.AsSpan();
                for (int i = 0; i < copy; i++)
                    destination[i] = bitmap[i];
            }
            GiveBack(request, UsbStatus.Ok, copy);
        }
    }
}
