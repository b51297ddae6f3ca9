using System.Collections.Generic;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hub;
using Platform;

namespace Drivers.Usb
{
    public delegate void UsbDeviceEvent(UsbDevice device);

    /// <summary>
    /// The USB core: Haiku's Stack, Linux's usbcore. Holds the buses (numbered usb1, usb2, ...),
    /// the registered drivers and the explore thread, which sleeps on a semaphore that hub
    /// status-change completions release (with a timed fallback that polls every hub) and queues
    /// each hub's events on <see cref="Work"/>, where hub and port jobs run concurrently (see
    /// HubDriver for who waits on what). Drivers hear about a removal before the device object is
    /// destroyed. Locks: <see cref="TopologyLock"/> guards only the shape of the tree (children
    /// arrays, bus device lists, hubs) and is never held across device I/O; a device's own
    /// <see cref="UsbDevice.Lock"/> serializes binding, unbinding, configuration changes and
    /// removal of that device (parents before children, as Linux's usb_lock_device).
    /// </summary>
    public sealed partial class UsbStack
    {
        /// <summary>Fallback period of the explore thread (Haiku: 1 s).</summary>
        public const uint ExploreFallbackMs = 1000;
        /// <summary>
        /// Pause after a pass triggered by a wake-up, so a port whose change bit never clears (a
        /// change the hub driver does not know) cannot make the thread spin.
        /// </summary>
        public const uint ExploreThrottleMs = 5;
        /// <summary>Bound for stopping the explore thread.</summary>
        public const uint StopTimeoutMs = 5000;

        public readonly IClock Clock;
        public readonly IThreading Threading;
        /// <summary>Guards the tree's shape (children arrays, bus device lists, hubs, buses); held briefly, never across I/O.</summary>
        public readonly IMutex TopologyLock;
        /// <summary>Where hub and port jobs run (threads once <see cref="Start"/> ran, inline before).</summary>
        public readonly UsbWorkQueue Work;
        public readonly List<UsbBus> Buses = new List<UsbBus>();
        readonly List<UsbHub> _hubs = new List<UsbHub>();
        readonly ISemaphore _exploreWake;
        IEvent _exploreStopped;
        volatile bool _stopping;
        volatile bool _running;
        public uint ExplorePeriodMs = ExploreFallbackMs;
        /// <summary>Number of completed explore passes.</summary>
        public volatile int ExplorePasses;

        /// <summary>A device was added and registered (its driver, if any, is bound).</summary>
        public event UsbDeviceEvent DeviceAdded;
        /// <summary>A device is being removed; it is still valid while handlers run.</summary>
        public event UsbDeviceEvent DeviceRemoved;

        public readonly HubDriver HubDriver = new HubDriver();
        public readonly GenericDeviceDriver GenericDriver = new GenericDeviceDriver();

        public UsbStack(IClock clock, IThreading threading)
        {
            Clock = clock;
            Threading = threading;
            TopologyLock = threading.CreateMutex();
            Work = new UsbWorkQueue(threading);
            _exploreWake = threading.CreateSemaphore(0);
            RegisterDriver(GenericDriver);
            RegisterDriver(HubDriver);
        }

        // ---- Buses ---------------------------------------------------------------------------

        /// <summary>
        /// Registers a host controller: numbers its bus (lowest free, from 1), starts it, and
        /// registers its root hub, to which the hub driver binds. Port enumeration follows in
        /// the explore thread (or <see cref="ExploreNow"/>).
        /// </summary>
        public UsbBus AddController(IHostController controller, IDmaAllocator dma)
        {
            TopologyLock.Lock();
            int number = 1;
            while (FindBus(number) != null)
                number++;
            var bus = new UsbBus(this, number, controller, dma);
            bus.RootHubEmulation = new RootHubEmulation(controller);
            Buses.Add(bus);
            TopologyLock.Unlock();
            controller.Start(bus);
            // Linux: "uhci_hcd 0000:00:1d.0: new USB bus registered, assigned bus number 1".
            Log.Info(controller.DriverName + " " + controller.BusId + ": new USB bus registered, assigned bus number " +
                     Format.Decimal((ulong)number));

            var root = new UsbDevice(bus, null, 0, controller.RootHubSpeed);
            root.Address = UsbDevice.RootHubAddress;
            root.State = UsbDeviceState.Addressed;
            bus.RootHub = root;
            bus.EnableEndpoint(root, root.Endpoint0);
            byte[] buffer = new byte[DeviceDescriptor.Size];
            UsbStatus status = UsbMessages.GetDescriptor(root, DescriptorType.Device, 0, 0, new System.Span<byte>(buffer),
                                                         UsbMessages.ControlTimeoutMs, out int actual);
            if (status == UsbStatus.Ok)
                status = DeviceDescriptor.Parse(new System.ReadOnlySpan<byte>(buffer, 0, actual), out root.Descriptor).IsOk
                    ? UsbStatus.Ok : UsbStatus.BadDescriptor;
            if (status == UsbStatus.Ok)
                status = NewDevice(root);
            if (status != UsbStatus.Ok)
                Log.Error("usb usb" + Format.Decimal((ulong)number) + ": can't register root hub: " + UsbStatusNames.Name(status));
            RequestExplore();
            return bus;
        }

        /// <summary>Removes a controller: every device on it is removed (drivers first), then the controller stops.</summary>
        public void RemoveController(UsbBus bus)
        {
            if (bus.RootHub != null && !bus.RootHub.Destroyed)
                RemoveDevice(bus.RootHub);
            bus.Controller.Stop();
            TopologyLock.Lock();
            Buses.Remove(bus);
            TopologyLock.Unlock();
        }

        public UsbBus FindBus(int number)
        {
            for (int i = 0; i < Buses.Count; i++)
                if (Buses[i].Number == number)
                    return Buses[i];
            return null;
        }

        // ---- Hubs and the explore thread -----------------------------------------------------

        internal void AddHub(UsbHub hub)
        {
            lock (_hubs)
                _hubs.Add(hub);
        }

        internal void RemoveHub(UsbHub hub)
        {
            lock (_hubs)
                _hubs.Remove(hub);
        }

        public UsbHub[] Hubs
        {
            get
            {
                lock (_hubs)
                    return _hubs.ToArray();
            }
        }

        /// <summary>Wakes the explore thread. Interrupt context allowed.</summary>
        public void RequestExplore() => _exploreWake.Release();

        /// <summary>Starts the explore thread ("usb_explore"); from now on hub and port jobs run on worker threads.</summary>
        public bool Start()
        {
            if (_running)
                return true;
            _stopping = false;
            _exploreStopped = Threading.CreateEvent(false);
            _running = true;
            Work.StartThreads();
            if (Threading.StartThread("usb_explore", ExploreLoop) == 0)
            {
                _running = false;
                Work.StopThreads();
                Log.Error("usb: can't start the explore thread");
                return false;
            }
            return true;
        }

        /// <summary>Stops the explore thread (bounded wait); jobs already queued still finish.</summary>
        public bool Stop()
        {
            if (!_running)
                return true;
            _stopping = true;
            _exploreWake.Release();
            bool stopped = _exploreStopped.Wait(StopTimeoutMs);
            _running = false;
            Work.StopThreads();
            return stopped;
        }

        void ExploreLoop()
        {
            ulong lastPollAll = Clock.Milliseconds;
            while (!_stopping)
            {
                bool woken = _exploreWake.Wait(ExplorePeriodMs);
                if (_stopping)
                    break;
                // A wake-up is a flag, not a count: one pass serves every request made so far.
                while (woken && _exploreWake.Wait(0))
                {
                }
                // The fallback poll of every port is due after a period however many wake-ups came
                // meanwhile (a steady stream of status changes must not starve it).
                ulong now = Clock.Milliseconds;
                bool pollAll = !woken || now - lastPollAll >= ExplorePeriodMs;
                if (pollAll)
                    lastPollAll = now;
                Explore(pollAll);
                if (woken)
                    Clock.Sleep(ExploreThrottleMs);
            }
            _exploreStopped.Signal();
        }

        /// <summary>One explore pass over every hub (parents before children), polling all ports.</summary>
        public void ExploreNow() => Explore(true);

        /// <summary>
        /// Runs full explore passes until one finds nothing to do and no job is in flight
        /// (bounded): the deterministic way for tests and boot code to wait for enumeration to
        /// settle. Without the explore thread every job runs inline on the caller.
        /// </summary>
        public void ExploreUntilIdle(int maxPasses = 16)
        {
            for (int i = 0; i < maxPasses; i++)
            {
                WaitJobsIdle();
                int before = _activity;
                Explore(true);
                WaitJobsIdle();
                if (_activity == before)
                    return;
            }
        }

        /// <summary>Waits (bounded) until the work queue has nothing queued or running.</summary>
        void WaitJobsIdle()
        {
            ulong start = Clock.Milliseconds;
            while (Work.Pending > 0 && Clock.Milliseconds - start < JobsIdleTimeoutMs)
                Clock.Sleep(JobsIdlePollMs);
        }

        /// <summary>Bound and poll step of <see cref="ExploreUntilIdle"/>'s wait for in-flight jobs.</summary>
        const uint JobsIdleTimeoutMs = 30000;
        const uint JobsIdlePollMs = 5;
        /// <summary>Bound for a hub's own jobs to end once it is being disconnected.</summary>
        const uint HubIdleTimeoutMs = 5000;

        /// <summary>
        /// Counts what may need another explore pass: topology changes and port changes handled
        /// (a port powered again reports its connection only later). <see cref="ExploreUntilIdle"/>
        /// stops after a pass that saw none.
        /// </summary>
        volatile int _activity;

        internal void NoteActivity() => _activity++;

        /// <summary>
        /// Queues one events job per hub that has events (all hubs when <paramref name="pollAll"/>),
        /// parents first. A hub whose events job is still running keeps its events for the next pass.
        /// </summary>
        void Explore(bool pollAll)
        {
            UsbHub[] hubs = Hubs;
            SortByLevel(hubs);
            for (int i = 0; i < hubs.Length; i++)
            {
                UsbHub hub = hubs[i];
                if (hub.Disconnected || hub.Device.IsGone || hub.Device.Destroyed)
                    continue;
                if (!pollAll && !hub.HasEvents)
                    continue;
                lock (hub)
                {
                    if (hub.EventsBusy)
                        continue;
                    hub.EventsBusy = true;
                }
                Work.Queue(new HubDriver.HubEventsWork(this, hub, pollAll));
            }
            ExplorePasses++;
        }

        /// <summary>Waits (bounded) until no job of the hub is queued or running. Not from the hub's own jobs.</summary>
        internal void WaitHubIdle(UsbHub hub)
        {
            ulong start = Clock.Milliseconds;
            while (hub.IsBusy)
            {
                if (Clock.Milliseconds - start >= HubIdleTimeoutMs)
                {
                    Log.Error("hub " + hub.Interface.Name + ": port work did not end");
                    return;
                }
                Clock.Sleep(JobsIdlePollMs);
            }
        }

        /// <summary>Installs a new children array (copy-on-write: readers keep a consistent snapshot).</summary>
        internal void SetChildren(UsbDevice hub, UsbDevice[] children)
        {
            TopologyLock.Lock();
            hub.Children = children;
            _activity++;
            TopologyLock.Unlock();
        }

        static void SortByLevel(UsbHub[] hubs)
        {
            for (int i = 1; i < hubs.Length; i++)
            {
                UsbHub key = hubs[i];
                int j = i - 1;
                while (j >= 0 && hubs[j].Device.Level > key.Device.Level)
                {
                    hubs[j + 1] = hubs[j];
                    j--;
                }
                hubs[j + 1] = key;
            }
        }

        // ---- Devices -------------------------------------------------------------------------

        /// <summary>
        /// Completes enumeration of an addressed device (Linux usb_new_device): configurations,
        /// BOS, strings, registration in the tree, then driver binding. Explore thread.
        /// </summary>
        internal UsbStatus NewDevice(UsbDevice device)
        {
            UsbStatus status = ReadConfigurations(device);
            if (status != UsbStatus.Ok)
                return status;
            ReadBos(device);
            ReadStrings(device);
            // Registration and the parent's state are checked under the topology lock: a parent
            // being removed is marked gone before its children are collected, so either it sees
            // this device or this device sees it gone.
            TopologyLock.Lock();
            UsbDevice parent = device.Parent;
            if (parent != null)
            {
                if (parent.IsGone || parent.Destroyed || device.PortNumber > parent.Children.Length)
                {
                    TopologyLock.Unlock();
                    return UsbStatus.NoDevice;
                }
                parent.Children = CopyOnWrite.With(parent.Children, device.PortNumber - 1, device);
            }
            device.Bus.AddDevice(device);
            _activity++;
            TopologyLock.Unlock();
            Log.Info("usb " + device.Name + ": new " + UsbSpeedNames.Name(device.Speed) + " USB device number " +
                     Format.Decimal((ulong)device.Address) + " using " + device.Bus.Controller.DriverName);
            Log.Info("usb " + device.Name + ": New USB device found, idVendor=" + Format.Hex(device.Descriptor.idVendor, 4) +
                     ", idProduct=" + Format.Hex(device.Descriptor.idProduct, 4));
            device.Lock.Lock();
            BindDevice(device);
            device.Lock.Unlock();
            UsbDeviceEvent added = DeviceAdded;
            if (added != null && !device.IsGone)
                added(device);
            return UsbStatus.Ok;
        }

        UsbStatus ReadConfigurations(UsbDevice device)
        {
            int count = device.Descriptor.bNumConfigurations;
            if (count == 0)
            {
                Log.Error("usb " + device.Name + ": no configurations");
                return UsbStatus.BadDescriptor;
            }
            if (count > UsbLimits.MaxConfigurations)
            {
                Log.Warning("usb " + device.Name + ": too many configurations: " + Format.Decimal((ulong)count) + ", using maximum allowed: " +
                            Format.Decimal((ulong)UsbLimits.MaxConfigurations));
                count = UsbLimits.MaxConfigurations;
            }
            var configs = new UsbConfiguration[count];
            byte[] header = new byte[ConfigurationDescriptor.Size];
            for (int i = 0; i < count; i++)
            {
                UsbStatus status = UsbMessages.GetDescriptor(device, DescriptorType.Configuration, (byte)i, 0,
                                                             new System.Span<byte>(header), HubTimings.EnumerationTimeoutMs, out int actual);
                if (status != UsbStatus.Ok)
                {
                    Log.Error("usb " + device.Name + ": unable to read config index " + Format.Decimal((ulong)i) + " descriptor/start: " + UsbStatusNames.Name(status));
                    return status;
                }
                DescriptorProblem p = ConfigurationDescriptor.ParseHeader(new System.ReadOnlySpan<byte>(header, 0, actual), out ConfigurationDescriptor cd);
                if (!p.IsOk)
                {
                    Log.Error("usb " + device.Name + ": config index " + Format.Decimal((ulong)i) + ": " + p.Describe());
                    return UsbStatus.BadDescriptor;
                }
                byte[] full = new byte[cd.wTotalLength];
                status = UsbMessages.GetDescriptor(device, DescriptorType.Configuration, (byte)i, 0,
                                                   new System.Span<byte>(full), HubTimings.EnumerationTimeoutMs, out actual);
                if (status != UsbStatus.Ok)
                {
                    Log.Error("usb " + device.Name + ": unable to read config index " + Format.Decimal((ulong)i) + " descriptor/all: " + UsbStatusNames.Name(status));
                    return status;
                }
                p = ConfigurationParser.Parse(new System.ReadOnlySpan<byte>(full, 0, actual), out UsbConfiguration config, device.Name);
                if (!p.IsOk)
                {
                    Log.Error("usb " + device.Name + ": config index " + Format.Decimal((ulong)i) + ": " + p.Describe());
                    return UsbStatus.BadDescriptor;
                }
                config.Device = device;
                configs[i] = config;
            }
            device.Configurations = configs;
            return UsbStatus.Ok;
        }

        const ushort BcdUsbWithBos = 0x0201;

        static void ReadBos(UsbDevice device)
        {
            if (device.Descriptor.bcdUSB < BcdUsbWithBos || device.IsRootHub)
                return;
            byte[] header = new byte[BosDescriptor.Size];
            if (UsbMessages.GetDescriptor(device, DescriptorType.Bos, 0, 0, new System.Span<byte>(header), UsbMessages.ControlTimeoutMs, out int actual) != UsbStatus.Ok)
                return;
            if (!BosDescriptor.ParseHeader(new System.ReadOnlySpan<byte>(header, 0, actual), out BosDescriptor b).IsOk)
                return;
            byte[] full = new byte[b.wTotalLength];
            if (UsbMessages.GetDescriptor(device, DescriptorType.Bos, 0, 0, new System.Span<byte>(full), UsbMessages.ControlTimeoutMs, out actual) != UsbStatus.Ok)
                return;
            DescriptorProblem p = BosDescriptor.Parse(new System.ReadOnlySpan<byte>(full, 0, actual), out b);
            if (!p.IsOk)
            {
                Log.Warning("usb " + device.Name + ": bad BOS descriptor: " + p.Describe());
                return;
            }
            device.Bos = b;
            device.HasBos = true;
        }

        /// <summary>Strings are optional: failures leave them null (Linux does the same).</summary>
        static void ReadStrings(UsbDevice device)
        {
            DeviceDescriptor d = device.Descriptor;
            if (d.iManufacturer == 0 && d.iProduct == 0 && d.iSerialNumber == 0)
                return;
            if (UsbMessages.GetLanguages(device, out ushort[] languages) != UsbStatus.Ok || languages.Length == 0)
                return;
            device.LanguageId = languages[0];
            for (int i = 0; i < languages.Length; i++)
                if (languages[i] == LanguageId.EnglishUs)
                    device.LanguageId = LanguageId.EnglishUs;
            string text;
            if (d.iManufacturer != 0 && UsbMessages.GetString(device, d.iManufacturer, device.LanguageId, out text) == UsbStatus.Ok)
                device.Manufacturer = text;
            if (d.iProduct != 0 && UsbMessages.GetString(device, d.iProduct, device.LanguageId, out text) == UsbStatus.Ok)
                device.Product = text;
            if (d.iSerialNumber != 0 && UsbMessages.GetString(device, d.iSerialNumber, device.LanguageId, out text) == UsbStatus.Ok)
                device.SerialNumber = text;
        }

        /// <summary>Releases a device that failed enumeration before it was registered.</summary>
        internal void DiscardDevice(UsbDevice device)
        {
            device.MarkGone();
            device.Bus.DisableEndpoint(device, device.Endpoint0, UsbStatus.NoDevice);
            device.Bus.Controller.FreeDevice(device);
            device.Bus.FreeAddress(device.Address);
            device.State = UsbDeviceState.NotAttached;
            device.Destroyed = true;
        }

        /// <summary>
        /// Removes a device and everything below it (Linux usb_disconnect), bottom-up: the whole
        /// subtree is marked gone first (new requests fail, requests in flight are flushed, so a
        /// driver blocked on the device returns at once); then children go first; for each device
        /// queued requests complete with NoDevice, interface drivers and then the device driver are
        /// disconnected and the removal event fires, all while the object is still valid; only
        /// then endpoints, controller state and the address are released and the device leaves
        /// the tree. Takes the device's lock (waiting for a probe in progress to return).
        /// </summary>
        public void RemoveDevice(UsbDevice device)
        {
            if (device == null || device.Destroyed)
                return;
            MarkSubtreeGone(device);
            FlushAll(device, UsbStatus.NoDevice);
            device.Lock.Lock();
            if (device.Destroyed)
            {
                // Removed meanwhile by another path (an ancestor's removal, the same port's job).
                device.Lock.Unlock();
                return;
            }
            Log.Info("usb " + device.Name + ": USB disconnect, device number " + Format.Decimal((ulong)device.Address));
            UsbDevice[] children = device.Children;
            for (int port = 1; port <= children.Length; port++)
                if (children[port - 1] != null)
                    RemoveDevice(children[port - 1]);
            UsbBus bus = device.Bus;
            FlushAll(device, UsbStatus.NoDevice);
            UnbindDeviceInternal(device);
            UsbDeviceEvent removed = DeviceRemoved;
            if (removed != null)
                removed(device);
            for (int n = 1; n < UsbDevice.EndpointSlots; n++)
            {
                if (device.EndpointsIn[n] != null)
                    bus.DisableEndpoint(device, device.EndpointsIn[n], UsbStatus.NoDevice);
                if (device.EndpointsOut[n] != null)
                    bus.DisableEndpoint(device, device.EndpointsOut[n], UsbStatus.NoDevice);
            }
            bus.DisableEndpoint(device, device.Endpoint0, UsbStatus.NoDevice);
            if (!device.IsRootHub)
                bus.Controller.FreeDevice(device);
            bus.FreeAddress(device.Address);
            TopologyLock.Lock();
            UsbDevice parent = device.Parent;
            if (parent != null && device.PortNumber >= 1 && device.PortNumber <= parent.Children.Length &&
                parent.Children[device.PortNumber - 1] == device)
            {
                parent.Children = CopyOnWrite.With(parent.Children, device.PortNumber - 1, null);
            }
            bus.RemoveDevice(device);
            device.State = UsbDeviceState.NotAttached;
            device.Destroyed = true;
            _activity++;
            TopologyLock.Unlock();
            device.Lock.Unlock();
        }

        /// <summary>Marks a device and everything below it gone: from now on their requests fail with NoDevice.</summary>
        static void MarkSubtreeGone(UsbDevice device)
        {
            device.MarkGone();
            UsbDevice[] children = device.Children;
            for (int i = 0; i < children.Length; i++)
                if (children[i] != null)
                    MarkSubtreeGone(children[i]);
        }

        /// <summary>Gives back every queued request of the device with <paramref name="status"/>.</summary>
        static void FlushAll(UsbDevice device, UsbStatus status)
        {
            UsbBus bus = device.Bus;
            bus.FlushEndpoint(device.Endpoint0, status);
            for (int n = 1; n < UsbDevice.EndpointSlots; n++)
            {
                if (device.EndpointsIn[n] != null)
                    bus.FlushEndpoint(device.EndpointsIn[n], status);
                if (device.EndpointsOut[n] != null)
                    bus.FlushEndpoint(device.EndpointsOut[n], status);
            }
        }

        /// <summary>
        /// Resets a device's port and enumerates it again, as unplugging and replugging it would
        /// (drivers are disconnected, then the new device is probed). Asynchronous: the explore
        /// thread does the work. Root hubs cannot be reset this way.
        /// </summary>
        public UsbStatus ResetDevice(UsbDevice device)
        {
            if (device == null || device.IsGone)
                return UsbStatus.NoDevice;
            if (device.IsRootHub || device.Parent == null)
                return UsbStatus.InvalidArgument;
            UsbHub[] hubs = Hubs;
            for (int i = 0; i < hubs.Length; i++)
            {
                if (hubs[i].Device != device.Parent || device.PortNumber < 1 || device.PortNumber > hubs[i].PortCount)
                    continue;
                Log.Info("usb " + device.Name + ": reset requested");
                hubs[i].ResetRequested[device.PortNumber] = true;
                hubs[i].AddEvents(1u << device.PortNumber);
                NoteActivity();   // the port needs another explore pass
                RequestExplore();
                return UsbStatus.Ok;
            }
            return UsbStatus.NotFound;
        }

        /// <summary>Finds a device by its Linux name ("usb1", "1-1.2").</summary>
        public UsbDevice FindDevice(string name)
        {
            for (int b = 0; b < Buses.Count; b++)
            {
                UsbDevice[] devices = Buses[b].Devices;
                for (int i = 0; i < devices.Length; i++)
                    if (devices[i].Name == name)
                        return devices[i];
            }
            return null;
        }

        /// <summary>Finds an interface of an active configuration by its Linux name ("1-1.2:1.0").</summary>
        public UsbInterface FindInterface(string name)
        {
            for (int b = 0; b < Buses.Count; b++)
            {
                UsbDevice[] devices = Buses[b].Devices;
                for (int i = 0; i < devices.Length; i++)
                {
                    UsbInterface[] interfaces = devices[i].Interfaces;
                    for (int j = 0; j < interfaces.Length; j++)
                        if (interfaces[j].Registered && interfaces[j].Name == name)
                            return interfaces[j];
                }
            }
            return null;
        }
    }
}
