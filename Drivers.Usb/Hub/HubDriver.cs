using System;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Hub
{
    /// <summary>
    /// The hub class driver (USB 2.0 ch. 11; Linux hub.c; Haiku Hub.cpp): one driver for root hubs
    /// (whose hub-class requests the controller emulates) and external hubs. Binds to hub-class
    /// interfaces, powers the ports, keeps the status-change request queued, and, called from the
    /// explore thread, handles port changes: debounce, reset, enumeration with retries and a power
    /// cycle, removal of everything below a port, over-current.
    /// </summary>
    public sealed class HubDriver : UsbInterfaceDriver
    {
        public const string DriverName = "hub";
        /// <summary>Bytes of the status-change bitmap the core tracks (bit 0 hub, bits 1..31 ports).</summary>
        const int EventBitmapBytes = 4;
        static readonly UsbDeviceId[] s_ids = new UsbDeviceId[] { UsbDeviceId.InterfaceClass(UsbClass.Hub) };

        public override string Name => DriverName;
        public override UsbDeviceId[] IdTable => s_ids;

        public override UsbStatus Probe(UsbInterface intf, UsbDeviceId id)
        {
            UsbDevice device = intf.Device;
            UsbStack stack = Stack;
            if (device.Level >= UsbLimits.MaxTopologyLevel)
            {
                Log.Error("hub " + intf.Name + ": Unsupported bus topology: hub nested too deep");
                return UsbStatus.NoMatch;
            }
            UsbAltSetting alt = intf.Current;
            if (alt.Endpoints.Length != 1 || alt.Endpoints[0].Type != TransferType.Interrupt || !alt.Endpoints[0].IsIn)
            {
                Log.Error("hub " + intf.Name + ": bad descriptor, ignoring hub");
                return UsbStatus.NoMatch;
            }
            byte descriptorType = device.Speed >= UsbSpeed.Super ? DescriptorType.SuperSpeedHub : DescriptorType.Hub;
            byte[] buffer = new byte[StringDescriptor.MaxSize];
            UsbStatus status = UsbMessages.Control(device, HubClass.FromHub, UsbRequestCode.GetDescriptor,
                                                   (ushort)(descriptorType << 8), 0, new Span<byte>(buffer),
                                                   UsbMessages.ControlTimeoutMs, out int actual);
            if (status != UsbStatus.Ok)
            {
                Log.Error("hub " + intf.Name + ": can't read hub descriptor: " + UsbStatusNames.Name(status));
                return status;
            }
            DescriptorProblem p = HubDescriptor.Parse(new ReadOnlySpan<byte>(buffer, 0, actual), out HubDescriptor hd);
            if (!p.IsOk)
            {
                Log.Error("hub " + intf.Name + ": bad hub descriptor: " + p.Describe());
                return UsbStatus.BadDescriptor;
            }
            var hub = new UsbHub(device, intf, hd);
            hub.StatusEndpoint = alt.Endpoints[0];
            // Hubs ask for long status periods (QEMU's and most full-speed hubs 255 ms, high-speed
            // hubs 256 ms): poll faster so that a plug or an unplug below the hub is seen within
            // StatusPollMs. One short IN transaction per period costs next to nothing.
            if (!device.IsRootHub)
            {
                UsbStatus polled = device.Bus.SetPollingInterval(hub.StatusEndpoint,
                                                                 UsbEndpoint.IntervalForPeriodMs(device.Speed, (int)HubTimings.StatusPollMs));
                if (polled != UsbStatus.Ok)
                    Log.Warning("hub " + intf.Name + ": keeping the status interval of the descriptor: " + UsbStatusNames.Name(polled));
            }
            // One bit per port plus the hub bit (USB 2.0 11.12.4).
            int length = (hd.bNbrPorts + 1 + 7) / 8;
            hub.StatusBuffer = device.Bus.Dma.Allocate((uint)length, UsbBus.DmaAlignment, DmaLimit.Below4G);
            if (hub.StatusBuffer.IsNull)
                return UsbStatus.NoMemory;
            var request = new UsbRequest();
            request.Device = device;
            request.Endpoint = hub.StatusEndpoint;
            request.Buffer = hub.StatusBuffer;
            request.Length = length;
            request.Context = hub;
            request.Completion = StatusComplete;
            hub.StatusRequest = request;

            stack.SetChildren(device, new UsbDevice[hd.bNbrPorts]);
            device.Hub = hub;
            intf.DriverData = hub;
            Log.Info("hub " + intf.Name + ": " + Format.Decimal((ulong)hd.bNbrPorts) + " port" +
                     (hd.bNbrPorts == 1 ? "" : "s") + " detected");

            // Power every port; the ports are good bPwrOn2PwrGood later (USB 2.0 11.11, 11.23.2.1).
            // Linux hub_power_on_good_delay: root hubs report their own delay truthfully, external
            // hubs get at least 100 ms. The first events pass waits for it, not the probe.
            for (int port = 1; port <= hd.bNbrPorts; port++)
                SetPortFeature(hub, port, HubClass.PortPower);
            hub.PowerGoodAtMs = stack.Clock.Milliseconds + PowerOnToGood(hub);

            // Look at every port on the first explore pass (Linux hub_activate HUB_INIT).
            hub.AddEvents(hub.AllPorts);
            stack.AddHub(hub);
            SubmitStatus(hub);
            stack.RequestExplore();
            return UsbStatus.Ok;
        }

        public override void Disconnect(UsbInterface intf)
        {
            var hub = intf.DriverData as UsbHub;
            if (hub == null)
                return;
            UsbDevice device = hub.Device;
            hub.Disconnected = true;
            Stack.RemoveHub(hub);
            UsbStatus killed = device.Bus.Kill(hub.StatusRequest);
            UsbDevice[] children = device.Children;
            for (int port = 1; port <= children.Length; port++)
                if (children[port - 1] != null)
                    Stack.RemoveDevice(children[port - 1]);
            // Port jobs of this hub end quickly now (the hub is gone or disconnected); wait for them
            // so that nothing enumerates below a hub whose driver state is being torn down.
            Stack.WaitHubIdle(hub);
            device.Hub = null;
            Stack.SetChildren(device, new UsbDevice[0]);
            // The controller may still own the status buffer if the kill did not finish: leak it
            // rather than let the controller write into memory that was given to someone else.
            if (killed == UsbStatus.Ok && !hub.StatusBuffer.IsNull)
                device.Bus.Dma.Free(hub.StatusBuffer);
            else if (!hub.StatusBuffer.IsNull)
                Log.Error("hub " + intf.Name + ": status request would not die; leaking its buffer");
            hub.StatusBuffer = default(DmaBuffer);
            intf.DriverData = null;
        }

        /// <summary>Status-change completion: interrupt context, records the bitmap and wakes explore.</summary>
        static void StatusComplete(UsbRequest request)
        {
            var hub = (UsbHub)request.Context;
            hub.StatusCompletions++;
            if (request.Status == UsbStatus.Ok)
            {
                uint bits = 0;
                Span<byte> data = request.Buffer.AsSpan();
                for (int i = 0; i < request.ActualLength && i < EventBitmapBytes; i++)
                    bits |= (uint)data[i] << (8 * i);
                hub.AddEvents(bits);
            }
            else if (request.Status != UsbStatus.Cancelled && request.Status != UsbStatus.Killed &&
                     request.Status != UsbStatus.NoDevice && request.Status != UsbStatus.Shutdown)
            {
                // Poll every port on the next pass and restart the request from thread context.
                hub.StatusFailed = true;
                hub.AddEvents(hub.AllPorts);
            }
            UsbStack stack = hub.Device.Bus.Stack;
            stack.RequestExplore();
        }

        internal static void SubmitStatus(UsbHub hub)
        {
            if (hub.Disconnected || hub.Device.IsGone || hub.StatusRequest.IsLinked)
                return;
            if (hub.StatusFailed)
            {
                hub.StatusFailed = false;
                UsbMessages.ClearHalt(hub.Device, hub.StatusEndpoint.Address);
            }
            UsbStatus status = hub.Device.Bus.Submit(hub.StatusRequest);
            if (status != UsbStatus.Ok && status != UsbStatus.Busy)
                Log.Warning("hub " + hub.Interface.Name + ": can't resubmit status request: " + UsbStatusNames.Name(status));
        }

        // ---- Hub-class requests (USB 2.0 11.24.2) --------------------------------------------

        public static UsbStatus SetPortFeature(UsbHub hub, int port, ushort feature) =>
            UsbMessages.Control(hub.Device, HubClass.ToPort, UsbRequestCode.SetFeature, feature, (ushort)port,
                                UsbMessages.NoData, UsbMessages.ControlTimeoutMs, out int _);

        public static UsbStatus ClearPortFeature(UsbHub hub, int port, ushort feature) =>
            UsbMessages.Control(hub.Device, HubClass.ToPort, UsbRequestCode.ClearFeature, feature, (ushort)port,
                                UsbMessages.NoData, UsbMessages.ControlTimeoutMs, out int _);

        public static UsbStatus GetPortStatus(UsbHub hub, int port, out ushort status, out ushort change) =>
            GetPortStatus(hub, port, out status, out change, UsbMessages.ControlTimeoutMs);

        static UsbStatus GetPortStatus(UsbHub hub, int port, out ushort status, out ushort change, uint timeoutMs)
        {
            status = 0;
            change = 0;
            byte[] buffer = new byte[HubClass.StatusSize];
            UsbStatus result = UsbMessages.Control(hub.Device, HubClass.FromPort, UsbRequestCode.GetStatus, 0, (ushort)port,
                                                   new Span<byte>(buffer), timeoutMs, out int actual);
            if (result != UsbStatus.Ok)
                return result;
            if (actual < HubClass.StatusSize)
                return UsbStatus.ShortPacket;
            status = Le.U16(buffer, 0);
            change = Le.U16(buffer, 2);
            return UsbStatus.Ok;
        }

        public static UsbStatus GetHubStatus(UsbHub hub, out ushort status, out ushort change)
        {
            status = 0;
            change = 0;
            byte[] buffer = new byte[HubClass.StatusSize];
            UsbStatus result = UsbMessages.Control(hub.Device, HubClass.FromHub, UsbRequestCode.GetStatus, 0, 0,
                                                   new Span<byte>(buffer), UsbMessages.ControlTimeoutMs, out int actual);
            if (result != UsbStatus.Ok)
                return result;
            if (actual < HubClass.StatusSize)
                return UsbStatus.ShortPacket;
            status = Le.U16(buffer, 0);
            change = Le.U16(buffer, 2);
            return UsbStatus.Ok;
        }

        static UsbStatus ClearHubFeature(UsbHub hub, ushort feature) =>
            UsbMessages.Control(hub.Device, HubClass.ToHub, UsbRequestCode.ClearFeature, feature, 0,
                                UsbMessages.NoData, UsbMessages.ControlTimeoutMs, out int _);

        // ---- Explore: port events (Linux port_event / hub_port_connect_change) ----------------
        //
        // Who waits on what: the explore thread only decides which hubs have events and queues one
        // HubEventsWork per such hub. That job reads the changed ports' status (a few short control
        // requests to this hub only), clears the change bits and, for each port whose device must
        // be removed or enumerated, queues one PortWork. Port jobs run concurrently on the work
        // queue's threads: debounce and reset waits of different ports and buses overlap; only the
        // steps at the default address are serialized, by the bus's Address0Lock (Linux's per-bus
        // address0 mutex). No lock is held across device I/O except a device's own lock while its
        // drivers bind, so a NAKing device, a failing hub or a slow driver delays nobody else.

        /// <summary>One hub's pending events (Linux hub_event).</summary>
        internal sealed class HubEventsWork : UsbWork
        {
            readonly UsbStack _stack;
            readonly UsbHub _hub;
            readonly bool _pollAll;

            public HubEventsWork(UsbStack stack, UsbHub hub, bool pollAll)
            {
                _stack = stack;
                _hub = hub;
                _pollAll = pollAll;
            }

            public override string Describe() => "hub " + _hub.Interface.Name;

            public override void Run()
            {
                if (!_hub.Disconnected && !_hub.Device.IsGone)
                    HandleEvents(_stack, _hub, _pollAll);
                lock (_hub)
                    _hub.EventsBusy = false;
                // Events that arrived while this job ran are picked up by the next pass.
                if (_hub.HasEvents)
                    _stack.RequestExplore();
            }
        }

        /// <summary>One port's disconnect and/or connect handling (Linux hub_port_connect_change).</summary>
        internal sealed class PortWork : UsbWork
        {
            readonly UsbStack _stack;
            readonly UsbHub _hub;
            readonly int _port;
            readonly bool _connected;
            /// <summary>
            /// Device number reserved when the job was queued (0: none). Jobs are queued in port
            /// order, so devices get their numbers in port order as under Linux's sequential
            /// hub_event, however the concurrent enumerations interleave.
            /// </summary>
            byte _reserved;

            public PortWork(UsbStack stack, UsbHub hub, int port, bool connected)
            {
                _stack = stack;
                _hub = hub;
                _port = port;
                _connected = connected;
                if (connected)
                    _reserved = hub.Device.Bus.AllocateAddress();
            }

            public override string Describe() => "port " + PortName(_hub, _port);

            public override void Run()
            {
                UsbDevice child = _hub.Device.Child(_port);
                if (child != null)
                    _stack.RemoveDevice(child);
                if (_connected && !_hub.Disconnected && !_hub.Device.IsGone)
                    ConnectPort(_stack, _hub, _port, ref _reserved);
                if (_reserved != 0)
                    _hub.Device.Bus.FreeAddress(_reserved);
                _reserved = 0;
                if (_hub.ReleasePort(_port))
                    _stack.RequestExplore();
            }
        }

        /// <summary>
        /// Handles the hub's pending events, or every port when <paramref name="pollAll"/>: reads
        /// the status of each changed port and queues the port's connect/disconnect job. Ports
        /// with a job in flight keep their events until it ends.
        /// </summary>
        internal static void HandleEvents(UsbStack stack, UsbHub hub, bool pollAll)
        {
            if (!WaitForPowerGood(stack, hub))
                return;
            uint bits = hub.TakeEvents();
            if (pollAll)
                bits |= hub.AllPorts | 1u;
            // A port that could not be disabled may still hold a device at address 0: disable it
            // before anything else enumerates on this bus.
            for (int port = 1; port <= hub.PortCount; port++)
                if (hub.DisablePending[port] && !hub.IsPortBusy(port) && hub.Device.Child(port) == null)
                    DisablePort(hub, port);
            if ((bits & 1u) != 0)
                HandleHubStatus(hub);
            bool statusRead = false;
            for (int port = 1; port <= hub.PortCount; port++)
            {
                if (hub.Disconnected || hub.Device.IsGone)
                    return;
                if ((bits & (1u << port)) == 0)
                    continue;
                if (hub.IsPortBusy(port))
                {
                    hub.Defer(port);
                    continue;
                }
                statusRead |= HandlePort(stack, hub, port);
            }
            if (!hub.IsRoot && !hub.Device.IsGone && HandleHubError(stack, hub, statusRead))
                return;
            SubmitStatus(hub);
        }

        /// <summary>
        /// Linux hub_event: a hub that failed to report a port's status is reset (enumerated again
        /// from its parent's port), at most <see cref="HubTimings.MaxErrorResets"/> times in a row;
        /// a pass that read every status fine ends the series. True when a reset was requested.
        /// </summary>
        static bool HandleHubError(UsbStack stack, UsbHub hub, bool statusRead)
        {
            UsbHub parent = hub.Device.Parent?.Hub;
            int port = hub.Device.PortNumber;
            bool tracked = parent != null && port >= 1 && port <= parent.PortCount;
            if (!hub.Error)
            {
                if (statusRead && tracked)
                    parent.ErrorResets[port] = 0;
                return false;
            }
            hub.Error = false;
            if (tracked && parent.ErrorResets[port] >= HubTimings.MaxErrorResets)
            {
                if (parent.ErrorResets[port] == HubTimings.MaxErrorResets)
                {
                    parent.ErrorResets[port]++;
                    Log.Error("hub " + hub.Interface.Name + ": still failing after " + Format.Decimal((ulong)HubTimings.MaxErrorResets) +
                              " resets; leaving it as it is");
                }
                return false;
            }
            if (tracked)
                parent.ErrorResets[port]++;
            Log.Warning("hub " + hub.Interface.Name + ": resetting for errors");
            stack.ResetDevice(hub.Device);
            return true;
        }

        static void HandleHubStatus(UsbHub hub)
        {
            if (GetHubStatus(hub, out ushort status, out ushort change) != UsbStatus.Ok)
                return;
            if ((change & HubClass.HubLocalPower) != 0)
                ClearHubFeature(hub, HubClass.CHubLocalPower);
            if ((change & HubClass.HubOverCurrent) != 0)
            {
                Log.Warning("hub " + hub.Interface.Name + ": over-current condition");
                ClearHubFeature(hub, HubClass.CHubOverCurrent);
            }
        }

        /// <summary>
        /// GET_PORT_STATUS with Linux's bounded retries (hub.c USB_STS_RETRIES with a 1 s timeout):
        /// a timeout, STALL or transaction error is tried again, a gone device is not.
        /// </summary>
        static UsbStatus ReadPortStatus(UsbHub hub, int port, out ushort status, out ushort change)
        {
            UsbStatus result = UsbStatus.Timeout;
            status = 0;
            change = 0;
            for (int attempt = 0; attempt < HubTimings.PortStatusTries; attempt++)
            {
                if (hub.Disconnected || hub.Device.IsGone)
                    return UsbStatus.NoDevice;
                result = GetPortStatus(hub, port, out status, out change, HubTimings.PortStatusTimeoutMs);
                if (result == UsbStatus.Ok || result == UsbStatus.NoDevice)
                    return result;
            }
            return result;
        }

        /// <summary>Handles one port's status and changes; false when its status could not be read.</summary>
        static bool HandlePort(UsbStack stack, UsbHub hub, int port)
        {
            UsbStatus result = ReadPortStatus(hub, port, out ushort status, out ushort change);
            if (result != UsbStatus.Ok)
            {
                if (result == UsbStatus.NoDevice || hub.Device.IsGone)
                    return false;
                // The hub does not answer for this port: whatever was there cannot be used. Treat
                // the port as disconnected and reset the hub at the end of this pass (Linux hub->error).
                Log.Write(hub.StatusFailed ? LogLevel.Debug : LogLevel.Warning,
                          "hub " + hub.Interface.Name + ": can't get port " + Format.Decimal((ulong)port) + " status: " + UsbStatusNames.Name(result));
                hub.Error = true;
                if (hub.Device.Child(port) != null && hub.TryClaimPort(port))
                    stack.Work.Queue(new PortWork(stack, hub, port, false));
                return false;
            }
            if (change != 0)
                stack.NoteActivity();
            if (RestorePower(stack, hub, port, status))
                return true;
            bool connectChange = (change & HubClass.ChangeConnection) != 0;
            if (connectChange)
                hub.ErrorResets[port] = 0;   // another device: its own series of error resets
            if (connectChange)
                ClearPortFeature(hub, port, HubClass.CPortConnection);
            if ((change & HubClass.ChangeEnable) != 0)
            {
                ClearPortFeature(hub, port, HubClass.CPortEnable);
                // A port disabled by the hardware while a device is there (EMI): re-enumerate it.
                if ((status & HubClass.StatusEnable) == 0 && (status & HubClass.StatusConnection) != 0 && hub.Device.Child(port) != null)
                    connectChange = true;
            }
            if ((change & HubClass.ChangeSuspend) != 0)
                ClearPortFeature(hub, port, HubClass.CPortSuspend);
            if ((change & HubClass.ChangeOverCurrent) != 0)
            {
                Log.Warning("usb " + PortName(hub, port) + ": over-current condition");
                ClearPortFeature(hub, port, HubClass.CPortOverCurrent);
                stack.Clock.Sleep(HubTimings.OverCurrentRecoveryMs);
                // Linux hub_power_on after over-current: power the port again.
                SetPortFeature(hub, port, HubClass.PortPower);
            }
            if ((change & HubClass.ChangeReset) != 0)
                ClearPortFeature(hub, port, HubClass.CPortReset);
            if ((change & HubClass.ChangeBhReset) != 0)
                ClearPortFeature(hub, port, HubClass.CBhPortReset);
            if ((change & HubClass.ChangeLinkState) != 0)
                ClearPortFeature(hub, port, HubClass.CPortLinkState);
            if ((change & HubClass.ChangeConfigError) != 0)
                ClearPortFeature(hub, port, HubClass.CPortConfigError);

            bool connected = (status & HubClass.StatusConnection) != 0;
            UsbDevice child = hub.Device.Child(port);
            if (hub.ResetRequested[port])
            {
                // A requested reset: disconnect the device and enumerate the port again (which resets it).
                hub.ResetRequested[port] = false;
                connectChange = true;
            }
            if (connectChange)
                hub.GaveUp[port] = false;
            bool needsWork = connectChange || (child != null && !connected) ||
                             (child == null && connected && !hub.GaveUp[port]);
            if (!needsWork)
                return true;
            Log.Debug("usb " + PortName(hub, port) + ": status " + Format.Hex(status, 4) + " change " + Format.Hex(change, 4) +
                      (connected ? ", connected" : ", disconnected"));
            if (hub.TryClaimPort(port))
                stack.Work.Queue(new PortWork(stack, hub, port, connected));
            else
                hub.Defer(port);
            return true;
        }

        /// <summary>
        /// A port that lost its power without an over-current (a failed SET_FEATURE(PORT_POWER), a
        /// hub that browned out) would hide whatever is plugged there forever: power it again, a
        /// bounded number of times until it stays powered. True when the port was re-powered.
        /// </summary>
        static bool RestorePower(UsbStack stack, UsbHub hub, int port, ushort status)
        {
            ushort powerBit = hub.IsSuperSpeed ? HubClass.SuperSpeedStatusPower : HubClass.StatusPower;
            if ((status & powerBit) != 0)
            {
                hub.PowerRestores[port] = 0;
                return false;
            }
            if ((status & HubClass.StatusOverCurrent) != 0)
                return false;
            ulong now = stack.Clock.Milliseconds;
            if (hub.PowerRestores[port] >= HubTimings.PowerRestoreTries)
            {
                // The budget is spent: try again only after a quiet while (the fault may have healed).
                if (now - hub.PowerRestoredAt[port] < HubTimings.PowerRestoreQuietMs)
                    return false;
                hub.PowerRestores[port] = 0;
            }
            hub.PowerRestores[port]++;
            hub.PowerRestoredAt[port] = now;
            Log.Warning("usb " + PortName(hub, port) + ": port lost power, powering it again");
            if (SetPortFeature(hub, port, HubClass.PortPower) == UsbStatus.Ok)
                stack.Clock.Sleep(PowerOnToGood(hub));
            stack.NoteActivity();
            // Look at the port again on the next pass, when the connection shows.
            hub.AddEvents(1u << port);
            return true;
        }

        /// <summary>"1-1.2 port 3" style name for logs.</summary>
        public static string PortName(UsbHub hub, int port) =>
            hub.Device.BusDevicePath + "-port" + Format.Decimal((ulong)port);

        // ---- Enumeration (Linux hub_port_connect / hub_port_init) ----------------------------

        /// <summary>Debounces, then initialises the port with retries and a power cycle half way; gives up by disabling it.</summary>
        static void ConnectPort(UsbStack stack, UsbHub hub, int port, ref byte reserved)
        {
            // Linux hub_port_connect_change: a failed debounce counts as "not connected"; the port is
            // looked at again on its next change or poll.
            if (!Debounce(stack, hub, port, out bool connected))
            {
                Log.Warning("usb " + PortName(hub, port) + ": connect-debounce failed");
                return;
            }
            if (!connected)
                return;
            Log.Debug("usb " + PortName(hub, port) + ": connection stable");
            UsbBus bus = hub.Device.Bus;
            for (int attempt = 0; attempt < HubTimings.PortInitTries; attempt++)
            {
                if (hub.Disconnected || hub.Device.IsGone)
                    return;
                if (attempt == HubTimings.PortInitTries / 2)
                    PowerCycle(stack, hub, port);
                UsbDevice device;
                bus.Address0Lock.Lock();
                // This attempt resets the port: a disable still pending from an earlier one is moot.
                hub.DisablePending[port] = false;
                UsbStatus status = PortInit(stack, hub, port, ref reserved, out device);
                // A failed attempt may leave the device answering at address 0: disable its port
                // before another port of this bus may use the default address.
                if (status != UsbStatus.Ok && status != UsbStatus.NoDevice && status != UsbStatus.NotConnected)
                    DisablePort(hub, port);
                bus.Address0Lock.Unlock();
                if (status == UsbStatus.Ok)
                {
                    status = stack.NewDevice(device);
                    if (status == UsbStatus.Ok)
                        return;
                }
                if (device != null)
                    stack.DiscardDevice(device);
                if (status == UsbStatus.NotConnected || status == UsbStatus.NoDevice)
                {
                    // Unplugged meanwhile: nothing to give up on.
                    if (ReadPortStatus(hub, port, out ushort ps, out ushort _) == UsbStatus.Ok && (ps & HubClass.StatusConnection) == 0)
                        return;
                }
                // The controller cannot serve this device at all (an xHCI route string it cannot
                // encode): trying again would only repeat the refusal.
                if (status == UsbStatus.NotSupported)
                    break;
                Log.Warning("usb " + PortName(hub, port) + ": device not accepting address or descriptors (" +
                            UsbStatusNames.Name(status) + "), attempt " + Format.Decimal((ulong)(attempt + 1)));
            }
            Log.Error("usb " + PortName(hub, port) + ": unable to enumerate USB device");
            hub.GaveUp[port] = true;
            DisablePort(hub, port);
        }

        /// <summary>
        /// CLEAR_FEATURE(PORT_ENABLE) (USB 2.0 11.24.2.2). If the hub does not take it, the port
        /// is marked and the disable is tried again at the start of each of its events jobs, so a
        /// device left at the default address cannot collide with later enumerations for long.
        /// </summary>
        static void DisablePort(UsbHub hub, int port)
        {
            UsbStatus status = ClearPortFeature(hub, port, HubClass.PortEnable);
            bool failed = status != UsbStatus.Ok && status != UsbStatus.NoDevice;
            if (failed && !hub.DisablePending[port])
                Log.Warning("usb " + PortName(hub, port) + ": cannot disable (" + UsbStatusNames.Name(status) + "), will try again");
            hub.DisablePending[port] = failed;
        }

        /// <summary>Waits until the connection has been stable for TATTDB (USB 2.0 7.1.7.3), bounded.</summary>
        static bool Debounce(UsbStack stack, UsbHub hub, int port, out bool connected)
        {
            connected = false;
            uint stable = 0;
            bool last = false;
            bool first = true;
            // Bounded by the clock, not by counting steps: each step's requests may take long on a
            // hub that does not answer.
            ulong start = stack.Clock.Milliseconds;
            while (stack.Clock.Milliseconds - start < HubTimings.DebounceTimeoutMs)
            {
                if (ReadPortStatus(hub, port, out ushort status, out ushort change) != UsbStatus.Ok)
                    return false;
                bool now = (status & HubClass.StatusConnection) != 0;
                if ((change & HubClass.ChangeConnection) != 0)
                {
                    if (ClearPortFeature(hub, port, HubClass.CPortConnection) != UsbStatus.Ok)
                        return false;
                    stable = 0;
                }
                else if (!first && now == last)
                {
                    stable += HubTimings.DebounceStepMs;
                    if (stable >= HubTimings.DebounceStableMs)
                    {
                        connected = now;
                        return true;
                    }
                }
                else
                    stable = 0;
                first = false;
                last = now;
                stack.Clock.Sleep(HubTimings.DebounceStepMs);
            }
            connected = last;
            return false;
        }

        /// <summary>Longest sleep while waiting for the ports' power to be good: a hub unplugged meanwhile is let go within it.</summary>
        const uint PowerGoodStepMs = 10;

        /// <summary>
        /// Waits until the ports powered at probe are good; false when the hub went away meanwhile (its
        /// removal then waits at most one step for this job).
        /// </summary>
        static bool WaitForPowerGood(UsbStack stack, UsbHub hub)
        {
            while (true)
            {
                if (hub.Disconnected || hub.Device.IsGone)
                    return false;
                ulong now = stack.Clock.Milliseconds;
                if (now >= hub.PowerGoodAtMs)
                    return true;
                ulong left = hub.PowerGoodAtMs - now;
                stack.Clock.Sleep(left < PowerGoodStepMs ? (uint)left : PowerGoodStepMs);
            }
        }

        /// <summary>Wait after switching port power on (Linux hub_power_on_good_delay).</summary>
        static uint PowerOnToGood(UsbHub hub)
        {
            uint good = (uint)hub.Descriptor.PowerOnToGoodMs;
            if (!hub.IsRoot && good < HubTimings.MinimumPowerOnMs)
                good = HubTimings.MinimumPowerOnMs;
            return good;
        }

        static void PowerCycle(UsbStack stack, UsbHub hub, int port)
        {
            uint good = PowerOnToGood(hub);
            if (good < HubTimings.MinimumPowerOnMs)
                good = HubTimings.MinimumPowerOnMs;
            Log.Info("usb " + PortName(hub, port) + ": power cycling port");
            ClearPortFeature(hub, port, HubClass.PortPower);
            stack.Clock.Sleep(2 * good);
            SetPortFeature(hub, port, HubClass.PortPower);
            stack.Clock.Sleep(good);
            // The connection change this caused is ours, not a new plug: once the port is given
            // up on, only a real reconnection may start it over.
            ClearPortFeature(hub, port, HubClass.CPortConnection);
        }

        /// <summary>Resets the port (USB 2.0 11.5.1.5) and reports the speed the device came up at.</summary>
        public static UsbStatus ResetPort(UsbStack stack, UsbHub hub, int port, out UsbSpeed speed)
        {
            speed = UsbSpeed.Unknown;
            UsbStatus last = UsbStatus.Timeout;
            for (int attempt = 0; attempt < HubTimings.ResetTries; attempt++)
            {
                UsbStatus result = SetPortFeature(hub, port, HubClass.PortReset);
                if (result != UsbStatus.Ok)
                    return result;
                // The reset's own length is the hub's business (TDRST in an external hub, TDRSTR in
                // the controller's root hub emulation or hardware), so looking early costs nothing:
                // at once (a root hub emulation that timed the reset itself is done already), then
                // like Linux's hub_port_wait_reset after 10 ms, 10 ms, then in 200 ms steps.
                uint delay = 0;
                for (int poll = 0; poll < HubTimings.ResetPolls; poll++)
                {
                    if (delay > 0)
                        stack.Clock.Sleep(delay);
                    result = ReadPortStatus(hub, port, out ushort status, out ushort change);
                    if (result != UsbStatus.Ok)
                        return result;
                    if ((status & HubClass.StatusConnection) == 0)
                        return UsbStatus.NotConnected;
                    // At the immediate look only C_PORT_RESET proves this reset ended: an enabled
                    // port may still show the state from before a hub started resetting it.
                    bool resetDone = (status & HubClass.StatusReset) == 0 &&
                                     ((change & HubClass.ChangeReset) != 0 || (poll > 0 && (status & HubClass.StatusEnable) != 0));
                    if (resetDone)
                    {
                        if ((change & HubClass.ChangeReset) != 0)
                            ClearPortFeature(hub, port, HubClass.CPortReset);
                        if ((status & HubClass.StatusEnable) == 0)
                        {
                            last = UsbStatus.NotConnected;
                            break;
                        }
                        if (hub.IsSuperSpeed)
                            speed = UsbSpeed.Super;
                        else if ((status & HubClass.StatusLowSpeed) != 0)
                            speed = UsbSpeed.Low;
                        else if ((status & HubClass.StatusHighSpeed) != 0)
                            speed = UsbSpeed.High;
                        else
                            speed = UsbSpeed.Full;
                        if (speed == UsbSpeed.High && hub.Device.Speed < UsbSpeed.High)
                            speed = UsbSpeed.Full;
                        Log.Debug("usb " + PortName(hub, port) + ": reset done, " + UsbSpeedNames.Name(speed));
                        // TRSTRCY (USB 2.0 7.1.7.5).
                        stack.Clock.Sleep(HubTimings.ResetRecoveryMs);
                        return UsbStatus.Ok;
                    }
                    delay = poll < HubTimings.ShortResetPolls ? HubTimings.ShortResetMs : HubTimings.LongResetMs;
                }
            }
            return last;
        }

        /// <summary>
        /// Reset, first descriptor read at address 0, SET_ADDRESS, full device descriptor.
        /// Runs with the bus's address-0 lock held.
        /// </summary>
        static UsbStatus PortInit(UsbStack stack, UsbHub hub, int port, ref byte reserved, out UsbDevice device)
        {
            device = null;
            UsbBus bus = hub.Device.Bus;
            UsbStatus status = ResetPort(stack, hub, port, out UsbSpeed speed);
            if (status != UsbStatus.Ok)
                return status;
            device = new UsbDevice(bus, hub.Device, port, speed);
            status = bus.Controller.AllocateDevice(device);
            if (status != UsbStatus.Ok)
                return status;
            status = bus.EnableEndpoint(device, device.Endpoint0);
            if (status != UsbStatus.Ok)
                return status;

            // First read at address 0: 64 bytes, of which 8 give bMaxPacketSize0 (USB 2.0 5.5.3, 9.4.3).
            byte[] buffer = new byte[HubTimings.FirstDescriptorLength];
            DeviceDescriptor header = default;
            status = UsbStatus.TransactionError;
            for (int attempt = 0; attempt < HubTimings.FirstDescriptorTries; attempt++)
            {
                if (attempt > 0)
                {
                    UsbStatus reset = ResetPort(stack, hub, port, out UsbSpeed _);
                    if (reset != UsbStatus.Ok)
                        return reset;
                }
                status = UsbMessages.GetDescriptorOnce(device, DescriptorType.Device, 0, new Span<byte>(buffer),
                                                       HubTimings.EnumerationTimeoutMs, out int actual);
                if (status == UsbStatus.Ok)
                {
                    DescriptorProblem p = DeviceDescriptor.ParseHeader(new ReadOnlySpan<byte>(buffer, 0, actual), out header);
                    if (p.IsOk && DeviceDescriptor.IsValidMaxPacket0(header.bMaxPacketSize0, speed))
                        break;
                    Log.Warning("usb " + PortName(hub, port) + ": bad first device descriptor: " +
                                (p.IsOk ? "invalid bMaxPacketSize0 " + Format.Decimal((ulong)header.bMaxPacketSize0) : p.Describe()));
                    status = UsbStatus.BadDescriptor;
                }
                if (status == UsbStatus.NoDevice)
                    return status;
            }
            if (status != UsbStatus.Ok)
                return status;

            int maxPacket0 = speed >= UsbSpeed.Super ? 1 << header.bMaxPacketSize0 : header.bMaxPacketSize0;
            if (maxPacket0 != device.Endpoint0.MaxPacketSize)
            {
                device.Endpoint0.Descriptor.wMaxPacketSize = (ushort)maxPacket0;
                status = bus.EnableEndpoint(device, device.Endpoint0);
                if (status != UsbStatus.Ok)
                    return status;
            }

            // The number reserved for this port if any (first attempt), else the next free one.
            byte address = reserved != 0 ? reserved : bus.AllocateAddress();
            reserved = 0;
            if (address == 0)
            {
                Log.Error("usb " + PortName(hub, port) + ": no free device address");
                return UsbStatus.NoAddress;
            }
            byte assigned = 0;
            for (int attempt = 0; attempt < HubTimings.SetAddressTries; attempt++)
            {
                if (attempt > 0)
                    stack.Clock.Sleep(HubTimings.SetAddressRetryMs);
                status = bus.Controller.AddressDevice(device, address, out assigned);
                if (status == UsbStatus.Ok || status == UsbStatus.NoDevice)
                    break;
            }
            if (status != UsbStatus.Ok)
            {
                bus.FreeAddress(address);
                Log.Warning("usb " + PortName(hub, port) + ": device descriptor read/SET_ADDRESS failed: " + UsbStatusNames.Name(status));
                return status;
            }
            // Like Linux, the device keeps the number the core chose (listings, logs) even when the
            // controller picked another address on the wire (xHCI: typically the slot id).
            device.Address = address;
            device.ControllerAddress = assigned != address ? assigned : (byte)0;
            device.State = UsbDeviceState.Addressed;
            stack.Clock.Sleep(HubTimings.SetAddressRecoveryMs);

            byte[] full = new byte[DeviceDescriptor.Size];
            status = UsbMessages.GetDescriptor(device, DescriptorType.Device, 0, 0, new Span<byte>(full),
                                               HubTimings.EnumerationTimeoutMs, out int got);
            if (status != UsbStatus.Ok)
                return status;
            DescriptorProblem problem = DeviceDescriptor.Parse(new ReadOnlySpan<byte>(full, 0, got), out DeviceDescriptor d);
            if (!problem.IsOk)
            {
                Log.Warning("usb " + PortName(hub, port) + ": bad device descriptor: " + problem.Describe());
                return UsbStatus.BadDescriptor;
            }
            if (d.bMaxPacketSize0 != header.bMaxPacketSize0)
                return UsbStatus.BadDescriptor;
            device.Descriptor = d;
            return UsbStatus.Ok;
        }
    }
}
