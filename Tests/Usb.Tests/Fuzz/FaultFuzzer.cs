using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hid;
using Drivers.Usb.Hub;
using Drivers.Usb.Storage;
using Platform;
using Usb.Tests.Hid;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;
using Usb.Tests.Storage;

namespace Usb.Tests.Fuzz
{
    /// <summary>Result of a fault-fuzzing run.</summary>
    public sealed class FaultFuzzReport
    {
        public long Sequences;
        public long Operations;
        public double Seconds;
        public long Switches;
        /// <summary>One entry per failing sequence: seed, reason, operations, log tail.</summary>
        public readonly List<string> Failures = new List<string>();
        public readonly List<int> FailedSeeds = new List<int>();
        public double SequencesPerSecond => Seconds > 0 ? Sequences / Seconds : 0;

        public override string ToString() =>
            "faultfuzz: " + Sequences + " sequences (" + Operations + " operations) in " + Seconds.ToString("0.00") + " s (" +
            SequencesPerSecond.ToString("0") + " sequences/s), " + Failures.Count + " failures, " +
            (Sequences > 0 ? (Switches / (double)Sequences).ToString("0.0") : "0") + " thread switches per sequence";
    }

    /// <summary>Outcome of one sequence.</summary>
    public sealed class FaultSequenceResult
    {
        public int Seed;
        /// <summary>Null when every invariant held.</summary>
        public string Failure;
        /// <summary>The operations as executed (replayable with the seed).</summary>
        public readonly List<string> Operations = new List<string>();
        public List<string> Log = new List<string>();
        public int Switches;
        public ulong VirtualMs;

        public string Describe(int logTail = 60)
        {
            var sb = new StringBuilder();
            sb.Append("seed ").Append(Seed).Append(": ").Append(Failure).Append('\n');
            sb.Append("  replay: dotnet run --project Tests/Usb.Tests -c Release -- faultfuzz --replay ").Append(Seed).Append('\n');
            sb.Append("  operations:\n");
            for (int i = 0; i < Operations.Count; i++)
                sb.Append("    ").Append(i + 1).Append(". ").Append(Operations[i]).Append('\n');
            int from = Math.Max(0, Log.Count - logTail);
            sb.Append("  log (last ").Append(Log.Count - from).Append(" of ").Append(Log.Count).Append(" lines):\n");
            for (int i = from; i < Log.Count; i++)
                sb.Append("    ").Append(Log[i]).Append('\n');
            return sb.ToString();
        }
    }

    /// <summary>
    /// Stateful fault-schedule fuzzer: seeded random sequences of plug/unplug (devices and hubs with
    /// children), faults injected at random points of enumeration (STALL, NAK forever, transaction
    /// error, babble, short data, lost handshake, unplug mid-transfer, failing first reads and
    /// SET_ADDRESS, failing resets, flapping contacts, over-current, failing hub port requests),
    /// HID report streams with endpoint faults, and Bulk-Only disk reads/writes in flight on their own
    /// threads with transport faults (bad CSW signature/tag/residue, phase error, STALL on CBW or
    /// data, device that never answers, short data, unplug in the data stage). It runs in a
    /// <see cref="SimWorld"/>: virtual time and cooperative threads, so a sequence costs about a
    /// millisecond and replays exactly from its seed.
    ///
    /// After every sequence: all faults are healed and the bus settles (no enumerated device may
    /// lack a matching simulated device: "ghosts"); every plugged device is re-plugged and must
    /// enumerate with its driver bound (the tree equals the simulated topology, names N-p.p);
    /// everything is unplugged: the tree is the root hub alone, DMA is back to its baseline, the
    /// controller holds no request, no device or endpoint state. Throughout: no exception in any
    /// thread, no log line that only a core bug produces, every request accepted by the controller
    /// given back exactly once, no thread blocked forever, every operation ends within a virtual
    /// time bound.
    /// </summary>
    public static class FaultFuzzer
    {
        /// <summary>An operation longer than this (virtual time) counts as hung.</summary>
        public const ulong OperationBoundMs = 60 * 60 * 1000;
        /// <summary>Virtual time the final phases wait for disk I/O threads and scans.</summary>
        public const ulong QuiesceBoundMs = 10 * 60 * 1000;
        /// <summary>Healthy time the explore thread gets to settle the bus on its own (a lost port power is restored after a quiet period).</summary>
        public const uint ExploreThreadHealMs = HubTimings.PowerRestoreQuietMs + UsbStack.ExploreFallbackMs;
        const uint ExploreThrottleSlackMs = 100;
        const int BusNumber = 1;
        /// <summary>
        /// Share of sequences run with the stack's explore thread (and so its work-queue threads): the
        /// concurrent mode, much slower to simulate (the caller polls the queue every 5 ms of virtual time).
        /// </summary>
        public static int ExploreThreadPercent = 5;

        /// <summary>
        /// Log lines that only a core (or class driver) bug produces against a simulated controller
        /// that honours every cancel: a request that does not die, a double give-back, a queue
        /// that does not flush, address exhaustion with a handful of devices, a root hub that fails.
        /// </summary>
        public static readonly string[] CoreBugLogFragments =
        {
            "request given back twice",
            "request did not complete after kill",
            "endpoint did not flush",
            "request would not die",
            "requests would not die",
            "can't register root hub",
            "can't start the explore thread",
            "worker thread did not start",
            "no free device address",
        };

        // ---- Running many sequences -----------------------------------------------------------

        /// <summary>Runs <paramref name="sequences"/> sequences with seeds seed, seed+1, ... on <paramref name="threads"/> threads.</summary>
        public static FaultFuzzReport Run(long sequences, int seed, int threads = 1, double maxSeconds = 0,
                                          Action<string> progress = null, int maxFailures = 20)
        {
            WorldLogSink.Install(LogLevel.Warning);
            var report = new FaultFuzzReport();
            var watch = Stopwatch.StartNew();
            long next = -1;
            long operations = 0, switches = 0, done = 0;
            var workers = new List<Thread>();
            var current = new string[threads];
            var progressStamp = new long[threads];
            bool stop = false;
            for (int w = 0; w < Math.Max(1, threads); w++)
            {
                int index = w;
                var thread = new Thread(() =>
                {
                    // One CPU per worker when there are enough: a world's thread switches then stay on it.
                    CpuLanes.Enter(threads <= CpuLanes.Count ? index : -1);
                    while (!Volatile.Read(ref stop))
                    {
                        long i = Interlocked.Increment(ref next);
                        if (i >= sequences || (maxSeconds > 0 && watch.Elapsed.TotalSeconds >= maxSeconds))
                            break;
                        int s = unchecked(seed + (int)i);
                        current[index] = "seed " + s;
                        Interlocked.Exchange(ref progressStamp[index], watch.ElapsedMilliseconds);
                        FaultSequenceResult r = RunOne(s);
                        Interlocked.Add(ref operations, r.Operations.Count);
                        Interlocked.Add(ref switches, r.Switches);
                        long n = Interlocked.Increment(ref done);
                        if (r.Failure != null)
                        {
                            lock (report)
                            {
                                if (report.Failures.Count < maxFailures)
                                {
                                    report.Failures.Add(r.Describe());
                                    report.FailedSeeds.Add(s);
                                }
                                if (report.Failures.Count >= maxFailures)
                                    Volatile.Write(ref stop, true);
                            }
                        }
                        if (progress != null && n % 100_000 == 0)
                            progress("faultfuzz: " + n + " sequences, " + (n / watch.Elapsed.TotalSeconds).ToString("0") + " sequences/s");
                    }
                    current[index] = null;
                }, 16 << 20) { IsBackground = true, Name = "faultfuzz-" + w };
                workers.Add(thread);
                thread.Start();
            }
            // Watchdog: a sequence that makes no progress for a minute of real time is a hang
            // (a loop without a blocking point, or an OS-level lock cycle): report it and exit.
            while (true)
            {
                bool alive = false;
                foreach (Thread t in workers)
                    alive |= !t.Join(0);
                if (!alive)
                    break;
                Thread.Sleep(200);
                for (int w = 0; w < current.Length; w++)
                {
                    string c = current[w];
                    if (c != null && watch.ElapsedMilliseconds - Interlocked.Read(ref progressStamp[w]) > 120_000)
                    {
                        Console.Error.WriteLine("faultfuzz: HANG: " + c + " has run for 2 minutes of real time; replay it with --replay");
                        Environment.Exit(3);
                    }
                }
            }
            report.Sequences = done;
            report.Operations = operations;
            report.Switches = switches;
            report.Seconds = watch.Elapsed.TotalSeconds;
            return report;
        }

        /// <summary>
        /// Runs the sequence of one seed (deterministic: the same seed gives the same run whatever
        /// the log level). Bulk runs log warnings and errors only (faster); replays log everything.
        /// </summary>
        /// <param name="sabotage">Tests of the fuzzer: breaks the simulated controller on purpose.</param>
        /// <param name="onStack">Sees the stack right after it is created (tests: subscribe to its events).</param>
        public static FaultSequenceResult RunOne(int seed, bool echo = false, LogLevel logLevel = LogLevel.Warning,
                                                 Action<SimController> sabotage = null, Action<UsbStack> onStack = null)
        {
            WorldLogSink.Install(logLevel);
            var run = new SequenceRun(seed, echo);
            run.Sabotage = sabotage;
            run.OnStack = onStack;
            return run.Execute();
        }

        // ---- One sequence ---------------------------------------------------------------------

        enum Kind { Keyboard, Mouse, Disk, Hub, Gadget }

        enum ControlFault { Stall, TransactionError, Babble, Nak, Short, LostHandshake, Unplug }

        enum ControlFilter { Any, GetDescriptor, SetAddress, SetConfiguration, ClassRequests, HubPortStatus, HubPortFeature }

        /// <summary>A fault armed on a device's (or root hub's) control requests.</summary>
        sealed class ControlPlan
        {
            public ControlFault Fault;
            public ControlFilter Filter;
            public int Skip;
            public bool Sticky;
            public bool Fired;

            public bool Matches(SetupPacket s)
            {
                switch (Filter)
                {
                    case ControlFilter.GetDescriptor: return s.bRequest == UsbRequestCode.GetDescriptor && (s.bmRequestType & RequestType.TypeMask) == RequestType.TypeStandard;
                    case ControlFilter.SetAddress: return s.bRequest == UsbRequestCode.SetAddress && s.bmRequestType == 0;
                    case ControlFilter.SetConfiguration: return s.bRequest == UsbRequestCode.SetConfiguration && s.bmRequestType == 0;
                    case ControlFilter.ClassRequests: return (s.bmRequestType & RequestType.TypeMask) == RequestType.TypeClass;
                    case ControlFilter.HubPortStatus: return s.bmRequestType == HubClass.FromPort && s.bRequest == UsbRequestCode.GetStatus;
                    case ControlFilter.HubPortFeature: return s.bmRequestType == HubClass.ToPort;
                    default: return true;
                }
            }

            /// <summary>True when this request gets the fault.</summary>
            public bool Take(SetupPacket s)
            {
                if ((Fired && !Sticky) || !Matches(s))
                    return false;
                if (Skip > 0)
                {
                    Skip--;
                    return false;
                }
                Fired = true;
                return true;
            }

            public override string ToString() => Fault + " on " + Filter + " after " + Skip + (Sticky ? " (sticky)" : " (once)");
        }

        sealed class Node
        {
            public Kind Kind;
            public SimDevice Device;
            public string Label;
            public readonly List<ControlPlan> Plans = new List<ControlPlan>();
        }

        sealed class SequenceRun
        {
            readonly int _seed;
            readonly bool _echo;
            readonly Random _rng;
            readonly SimWorld _world;
            readonly FaultSequenceResult _result = new FaultSequenceResult();
            readonly Dictionary<SimDevice, Node> _nodes = new Dictionary<SimDevice, Node>();
            readonly List<ControlPlan> _rootPlans = new List<ControlPlan>();
            readonly List<string> _coreBugLines = new List<string>();
            readonly List<string> _errorsWhileHealthy = new List<string>();
            bool _healthy;
            /// <summary>The stack's own explore thread runs (event-driven passes, concurrent with the operations).</summary>
            bool _exploreThread;
            /// <summary>This sequence ends with a re-plug of every device once healed (a full re-enumeration; one sequence in four).</summary>
            bool _replug;
            int _labels;

            readonly CheckingSink _sink = new CheckingSink();
            /// <summary>
            /// Every write started in this sequence and the span of operation events it was in flight. A disk
            /// runs one command at a time, so bytes that a concurrent write also covers may hold either side's
            /// data when a read or a write is checked (seed 31478183: a read checked after an overlapping write
            /// that the device ran second); those bytes are left out of the byte-exact check.
            /// </summary>
            readonly List<DiskWrite> _diskWrites = new List<DiskWrite>();
            int _diskEvents;
            SimController _hc;
            UsbStack _stack;
            HeapDma _dma;
            UsbStorageDriver _storage;
            HidInputService _hid;
            int _maxHubDepth;

            public Action<SimController> Sabotage;
            public Action<UsbStack> OnStack;

            public SequenceRun(int seed, bool echo)
            {
                _seed = seed;
                _echo = echo;
                _rng = new Random(seed);
                _world = new SimWorld(unchecked(seed * 31 + 7));
                _result.Seed = seed;
            }

            void Note(string operation)
            {
                _result.Operations.Add(operation);
                if (_echo)
                    Console.WriteLine("[" + _world.Milliseconds + " ms] >> " + operation);
            }

            void Check(bool condition, string what)
            {
                if (!condition)
                    _world.Fail(what);
            }

            public FaultSequenceResult Execute()
            {
                _world.SwitchPercent = _rng.Next(4) == 0 ? 0 : 5 + _rng.Next(40);
                _replug = _rng.Next(4) == 0;
                _world.OnLog = (level, line) =>
                {
                    if (_echo)
                        Console.WriteLine(line);
                    foreach (string fragment in CoreBugLogFragments)
                        if (line.Contains(fragment))
                            _coreBugLines.Add(line);
                    if (_healthy && level >= LogLevel.Error)
                        _errorsWhileHealthy.Add(line);
                };
                string failure = _world.Run(Body);
                if (failure == null && _sink.Problem != null)
                    failure = "input sink: " + _sink.Problem;
                if (failure == null && _coreBugLines.Count > 0)
                    failure = "log line that only a core bug produces: " + _coreBugLines[0];
                _result.Failure = failure;
                _result.Log = _world.LogLines;
                _result.Switches = _world.Switches;
                _result.VirtualMs = _world.Milliseconds;
                return _result;
            }

            // ---- Setup and the operation loop ----------------------------------------------------

            void Body()
            {
                _dma = new HeapDma();
                _stack = new UsbStack(_world, _world);
                OnStack?.Invoke(_stack);
                _hid = HidDrivers.Register(_stack, _sink);
                _storage = UsbStorageDriver.Register(_stack);
                bool fullSpeedRoot = _rng.Next(4) == 0;
                _hc = new SimController(fullSpeedRoot ? 2 + _rng.Next(2) : 2 + _rng.Next(3), fullSpeedRoot ? UsbSpeed.Full : UsbSpeed.High)
                {
                    Pumped = true,
                    AssignsAddresses = _rng.Next(3) == 0,
                    VanishedDevicesNak = _rng.Next(2) == 0,
                };
                int inline = _rng.Next(3) == 0 ? 0 : _rng.Next(100);
                _hc.AfterSubmit = () =>
                {
                    if (inline > 0 && _world.Random.Next(100) < inline)
                        _world.Interrupt();
                };
                _hc.RootHubFault = setup => RootFault(setup);
                _world.AddInterruptSource(() => _hc.Pump());
                Sabotage?.Invoke(_hc);
                _maxHubDepth = 1 + _rng.Next(2);
                Note("controller: " + _hc.RootPortCount + " ports, " + UsbSpeedNames.Name(_hc.RootHubSpeed) +
                     (_hc.AssignsAddresses ? ", assigns addresses" : "") + (_hc.VanishedDevicesNak ? ", vanished devices NAK" : ", vanished devices: transaction errors") +
                     ", inline completions " + inline + "%, preemption " + _world.SwitchPercent + "%");
                _exploreThread = _rng.Next(100) < ExploreThreadPercent;
                if (_exploreThread)
                {
                    Note("explore thread running");
                    _stack.Start();
                }
                _stack.AddController(_hc, _dma);
                Timed("settle", () => _stack.ExploreUntilIdle());
                Check(_stack.FindDevice("usb" + BusNumber) != null, "root hub not registered");
                int baselineDma = _dma.Outstanding;
                int operations = 3 + _rng.Next(14);
                for (int i = 0; i < operations; i++)
                    RandomOperation();
                FinalChecks(baselineDma);
            }

            void SettleOperation()
            {
                if (_exploreThread && _rng.Next(2) == 0)
                {
                    uint ms = (uint)(10 + _rng.Next(3000));
                    Timed("advance", () => { Note("let the explore thread run " + ms + " ms"); _world.Advance(ms); });
                }
                else
                    Timed("settle", () => { Note("settle"); _stack.ExploreUntilIdle(); });
            }

            void Timed(string what, Action action)
            {
                ulong start = _world.Milliseconds;
                action();
                ulong took = _world.Milliseconds - start;
                Check(took <= OperationBoundMs, what + " took " + took + " ms of virtual time (bound " + OperationBoundMs + " ms)");
            }

            void RandomOperation()
            {
                int roll = _rng.Next(100);
                if (roll < 22) PlugRandom();
                else if (roll < 32) UnplugRandom();
                else if (roll < 50) SettleOperation();
                else if (roll < 60) ArmControlFault();
                else if (roll < 66) PortFault();
                else if (roll < 72) EndpointFault();
                else if (roll < 78) HidReports();
                else if (roll < 86) DiskIo();
                else if (roll < 92) BotFault();
                else if (roll < 95) AdvanceTime();
                else if (roll < 98) ResetDevice();
                else DmaExhaustion();
            }

            // ---- Topology -------------------------------------------------------------------------

            /// <summary>Plugged simulated devices with their paths ("2", "2.3"), parents first.</summary>
            List<KeyValuePair<string, SimDevice>> Plugged()
            {
                var list = new List<KeyValuePair<string, SimDevice>>();
                Walk(_hc.RootPorts, "", list);
                return list;
            }

            static void Walk(SimPortSet set, string prefix, List<KeyValuePair<string, SimDevice>> list)
            {
                for (int p = 1; p <= set.Ports.Length; p++)
                {
                    SimDevice d = set.Port(p).Device;
                    if (d == null)
                        continue;
                    string path = prefix + p;
                    list.Add(new KeyValuePair<string, SimDevice>(path, d));
                    if (d is SimHub hub)
                        Walk(hub.PortSet, path + ".", list);
                }
            }

            static int Depth(string path) => path.Split('.').Length - 1;
            static string CoreName(string path) => BusNumber + "-" + path;

            SimPortSet PortSetOf(string hubPath) => hubPath == "" ? _hc.RootPorts : ((SimHub)Find(hubPath)).PortSet;

            SimDevice Find(string path)
            {
                foreach (KeyValuePair<string, SimDevice> kv in Plugged())
                    if (kv.Key == path)
                        return kv.Value;
                return null;
            }

            KeyValuePair<string, SimDevice>? Pick(Func<SimDevice, bool> filter)
            {
                var candidates = new List<KeyValuePair<string, SimDevice>>();
                foreach (KeyValuePair<string, SimDevice> kv in Plugged())
                    if (filter(kv.Value))
                        candidates.Add(kv);
                if (candidates.Count == 0)
                    return null;
                return candidates[_rng.Next(candidates.Count)];
            }

            void PlugRandom()
            {
                // Free ports: root ports and ports of plugged hubs not nested too deep.
                var free = new List<KeyValuePair<string, SimPortSet>>();
                for (int p = 1; p <= _hc.RootPorts.Ports.Length; p++)
                    if (_hc.RootPorts.Port(p).Device == null)
                        free.Add(new KeyValuePair<string, SimPortSet>(p.ToString(), _hc.RootPorts));
                foreach (KeyValuePair<string, SimDevice> kv in Plugged())
                    if (kv.Value is SimHub hub && Depth(kv.Key) < 3)
                        for (int p = 1; p <= hub.PortSet.Ports.Length; p++)
                            if (hub.PortSet.Port(p).Device == null)
                                free.Add(new KeyValuePair<string, SimPortSet>(kv.Key + "." + p, hub.PortSet));
                if (free.Count == 0)
                {
                    UnplugRandom();
                    return;
                }
                KeyValuePair<string, SimPortSet> slot = free[_rng.Next(free.Count)];
                string path = slot.Key;
                UsbSpeed portSpeed = slot.Value.HubSpeed;
                Kind kind = (Kind)_rng.Next(5);
                if (kind == Kind.Hub && Depth(path) >= _maxHubDepth)
                    kind = Kind.Keyboard;
                SimDevice device = Create(kind, portSpeed);
                var node = new Node { Kind = kind, Device = device, Label = device.Label };
                _nodes[device] = node;
                InstallHooks(node);
                Note("plug " + path + " " + node.Label + " (" + kind + ", " + UsbSpeedNames.Name(device.MaxSpeed) + ")");
                _hc.Plug(path, device);
            }

            SimDevice Create(Kind kind, UsbSpeed portSpeed)
            {
                string label = kind.ToString().ToLowerInvariant() + (++_labels);
                switch (kind)
                {
                    case Kind.Keyboard:
                    {
                        UsbSpeed speed = _rng.Next(3) == 0 ? UsbSpeed.Low : _rng.Next(2) == 0 ? UsbSpeed.Full : UsbSpeed.High;
                        var d = new SimHidDevice("kbd " + label, speed, 1, 1, HidSamples.QemuKeyboard, 8);
                        d.Label = label;
                        return d;
                    }
                    case Kind.Mouse:
                    {
                        UsbSpeed speed = _rng.Next(3) == 0 ? UsbSpeed.Low : UsbSpeed.Full;
                        var d = new SimHidDevice("mouse " + label, speed, 1, 2, HidSamples.QemuMouse, 4);
                        d.Label = label;
                        return d;
                    }
                    case Kind.Disk:
                    {
                        bool high = portSpeed >= UsbSpeed.High && _rng.Next(4) != 0;
                        int blocks = _rng.Next(4) == 0 ? 300 : 64;
                        var d = new SimBotDevice(blocks, high ? (ushort)512 : (ushort)64, high ? UsbSpeed.High : UsbSpeed.Full);
                        d.Label = label;
                        d.MaxLun = _rng.Next(3) == 0 ? 1 : 0;
                        d.StallGetMaxLun = _rng.Next(2) == 0;
                        d.UnitAttentionPending = _rng.Next(2) == 0;
                        return d;
                    }
                    case Kind.Hub:
                    {
                        bool high = _rng.Next(2) == 0;
                        var d = new SimHub(label, 2 + _rng.Next(3), high ? UsbSpeed.High : UsbSpeed.Full);
                        return d;
                    }
                    default:
                    {
                        // A device no driver takes (vendor class): enumerated and configured by "usb" only.
                        var d = new SimDevice(label, UsbSpeed.Full, Desc.Device(0x1234, 0x5678),
                                              Desc.Config(1, 0x80, 50, Desc.Interface(0, 0, 1, UsbClass.VendorSpecific),
                                                          Desc.Endpoint(0x81, TransferType.Bulk, 64, 0)));
                        return d;
                    }
                }
            }

            /// <summary>Control-request fault hooks: before the device acts (it never sees the request) or after (the answer is lost or cut).</summary>
            void InstallHooks(Node node)
            {
                SimDevice d = node.Device;
                Func<SetupPacket, byte[], SimResult?> inner = d.OnControl;
                d.OnControl = (setup, data) =>
                {
                    foreach (ControlPlan plan in node.Plans)
                    {
                        if (plan.Fault == ControlFault.Short || plan.Fault == ControlFault.LostHandshake || !plan.Take(setup))
                            continue;
                        switch (plan.Fault)
                        {
                            case ControlFault.Stall: return SimResult.Stall;
                            case ControlFault.TransactionError: return SimResult.Fail(UsbStatus.TransactionError);
                            case ControlFault.Babble: return SimResult.Fail(UsbStatus.Babble, data.Length / 2);
                            case ControlFault.Nak: return SimResult.Nak;
                            case ControlFault.Unplug:
                                UnplugFromDevice(d);
                                return SimResult.Nak;
                        }
                    }
                    return inner?.Invoke(setup, data);
                };
                d.AfterControl = (setup, result) =>
                {
                    if (result.Outcome != SimOutcome.Complete)
                        return result;
                    foreach (ControlPlan plan in node.Plans)
                    {
                        if ((plan.Fault != ControlFault.Short && plan.Fault != ControlFault.LostHandshake) || !plan.Take(setup))
                            continue;
                        if (plan.Fault == ControlFault.Short && result.Status == UsbStatus.Ok)
                            result.Actual /= 2;
                        else if (plan.Fault == ControlFault.LostHandshake)
                            result = SimResult.Fail(UsbStatus.TransactionError);
                    }
                    return result;
                };
            }

            UsbStatus? RootFault(SetupPacket setup)
            {
                foreach (ControlPlan plan in _rootPlans)
                {
                    if (!plan.Take(setup))
                        continue;
                    switch (plan.Fault)
                    {
                        case ControlFault.Stall: return UsbStatus.Stall;
                        case ControlFault.Nak: return UsbStatus.Timeout;
                        default: return UsbStatus.TransactionError;
                    }
                }
                return null;
            }

            /// <summary>Unplugs a device from inside the simulation (it vanishes mid-transfer), after the current request.</summary>
            void UnplugFromDevice(SimDevice d)
            {
                _hc.Defer(() =>
                {
                    foreach (KeyValuePair<string, SimDevice> kv in Plugged())
                        if (kv.Value == d)
                        {
                            _hc.Unplug(kv.Key);
                            return;
                        }
                });
            }

            void UnplugRandom()
            {
                KeyValuePair<string, SimDevice>? pick = Pick(d => true);
                if (pick == null)
                {
                    PlugRandom();
                    return;
                }
                Note("unplug " + pick.Value.Key + " " + pick.Value.Value.Label);
                _hc.Unplug(pick.Value.Key);
            }

            // ---- Faults ---------------------------------------------------------------------------

            ControlPlan RandomPlan(bool hub)
            {
                var plan = new ControlPlan
                {
                    Fault = (ControlFault)_rng.Next(7),
                    Sticky = _rng.Next(3) == 0,
                    Skip = _rng.Next(12),
                };
                int f = _rng.Next(hub ? 7 : 5);
                plan.Filter = (ControlFilter)f;
                return plan;
            }

            void ArmControlFault()
            {
                KeyValuePair<string, SimDevice>? pick = Pick(d => true);
                if (pick == null)
                {
                    PlugRandom();
                    return;
                }
                SimDevice d = pick.Value.Value;
                int choice = _rng.Next(6);
                if (choice == 0)
                {
                    int n = 1 + _rng.Next(5);
                    Note("fail first descriptor reads of " + pick.Value.Key + " x" + n);
                    _hc.Mutate(() => d.FailFirstDescriptorReads = n);
                    return;
                }
                if (choice == 1)
                {
                    int n = 1 + _rng.Next(4);
                    Note("fail SET_ADDRESS of " + pick.Value.Key + " x" + n);
                    _hc.Mutate(() => d.FailSetAddress = n);
                    return;
                }
                ControlPlan plan = RandomPlan(d is SimHub);
                Note("control fault on " + pick.Value.Key + ": " + plan);
                _hc.Mutate(() => _nodes[d].Plans.Add(plan));
            }

            void PortFault()
            {
                // A hub (root or external) and one of its ports.
                var hubs = new List<string> { "" };
                foreach (KeyValuePair<string, SimDevice> kv in Plugged())
                    if (kv.Value is SimHub)
                        hubs.Add(kv.Key);
                string hubPath = hubs[_rng.Next(hubs.Count)];
                SimPortSet set = PortSetOf(hubPath);
                int port = 1 + _rng.Next(set.Ports.Length);
                string where = (hubPath == "" ? "root" : "hub " + hubPath) + " port " + port;
                SimPort p = set.Port(port);
                switch (_rng.Next(5))
                {
                    case 0:
                        Note("reset fails on " + where);
                        _hc.Mutate(() => p.ResetFails = true);
                        break;
                    case 1:
                    {
                        int n = 1 + _rng.Next(6);
                        Note("contact bounces on " + where + " x" + n);
                        _hc.Mutate(() => p.FlapReads = n);
                        break;
                    }
                    case 2:
                        Note("over-current on " + where);
                        if (hubPath == "")
                            _hc.OverCurrent(port.ToString());
                        else
                            _hc.OverCurrent(hubPath + "." + port);
                        break;
                    default:
                    {
                        var plan = new ControlPlan
                        {
                            Fault = (ControlFault)_rng.Next(4),
                            Filter = _rng.Next(2) == 0 ? ControlFilter.HubPortStatus : ControlFilter.HubPortFeature,
                            Sticky = _rng.Next(3) == 0,
                            Skip = _rng.Next(8),
                        };
                        Note("port request fault on " + (hubPath == "" ? "root hub" : "hub " + hubPath) + ": " + plan);
                        if (hubPath == "")
                            _hc.Mutate(() => _rootPlans.Add(plan));
                        else
                        {
                            SimDevice hub = Find(hubPath);
                            _hc.Mutate(() => _nodes[hub].Plans.Add(plan));
                        }
                        break;
                    }
                }
            }

            void EndpointFault()
            {
                KeyValuePair<string, SimDevice>? pick = Pick(d => d is SimHidDevice || d is SimHub);
                if (pick == null)
                {
                    PlugRandom();
                    return;
                }
                SimDevice d = pick.Value.Value;
                UsbStatus[] faults = { UsbStatus.Stall, UsbStatus.TransactionError, UsbStatus.Babble, UsbStatus.InProgress };
                UsbStatus fault = faults[_rng.Next(faults.Length)];
                bool sticky = _rng.Next(3) == 0;
                Note("endpoint 0x81 fault on " + pick.Value.Key + ": " + (fault == UsbStatus.InProgress ? "NAK" : UsbStatusNames.Name(fault)) + (sticky ? " (sticky)" : " (once)"));
                _hc.Mutate(() =>
                {
                    SimEndpoint e = d.Endpoint(0x81);
                    e.Fault = fault;
                    e.FaultSticky = sticky;
                });
            }

            void HidReports()
            {
                KeyValuePair<string, SimDevice>? pick = Pick(d => d is SimHidDevice);
                if (pick == null)
                {
                    PlugRandom();
                    return;
                }
                var hid = (SimHidDevice)pick.Value.Value;
                bool keyboard = _nodes[hid].Kind == Kind.Keyboard;
                int n = 1 + _rng.Next(12);
                var reports = new byte[n][];
                int oversized = 0;
                for (int i = 0; i < n; i++)
                {
                    int length = keyboard ? 8 : 4;
                    if (_rng.Next(10) == 0) { length += 1 + _rng.Next(8); oversized++; }
                    else if (_rng.Next(10) == 0) length = _rng.Next(length);
                    var r = new byte[length];
                    for (int b = 0; b < length; b++)
                        r[b] = keyboard && b >= 2 ? (byte)(_rng.Next(3) == 0 ? 0x04 + _rng.Next(40) : 0) : (byte)_rng.Next(256);
                    if (keyboard && length > 1) r[1] = 0;
                    reports[i] = r;
                }
                Note("hid reports on " + pick.Value.Key + ": " + n + (oversized > 0 ? " (" + oversized + " too long)" : ""));
                hid.Send(_hc, reports);
            }

            void AdvanceTime()
            {
                uint ms = _rng.Next(3) == 0 ? (uint)(1 + _rng.Next(10)) * 1000 : (uint)(1 + _rng.Next(200));
                Timed("advance", () => { Note("advance " + ms + " ms"); _world.Advance(ms); });
            }

            void DmaExhaustion()
            {
                int n = _rng.Next(40);
                Note("DMA allocations fail after " + n + " more");
                _dma.FailAfter = n;
            }

            void ResetDevice()
            {
                KeyValuePair<string, SimDevice>? pick = Pick(d => true);
                UsbDevice device = pick == null ? null : _stack.FindDevice(CoreName(pick.Value.Key));
                if (device == null)
                {
                    Timed("settle", () => { Note("settle"); _stack.ExploreUntilIdle(); });
                    return;
                }
                Note("reset device " + device.Name + " (status " + UsbStatusNames.Name(_stack.ResetDevice(device)) + ")");
            }

            // ---- Mass storage --------------------------------------------------------------------

            ScsiDisk DiskAt(string path)
            {
                string name = CoreName(path);
                foreach (ScsiDisk disk in _storage.Disks)
                    if (!disk.IsGone && disk.Transport.Device.Name == name)
                        return disk;
                return null;
            }

            void BotFault()
            {
                KeyValuePair<string, SimDevice>? pick = Pick(d => d is SimBotDevice);
                if (pick == null)
                {
                    PlugRandom();
                    return;
                }
                BotFaultOn(pick.Value.Key, (SimBotDevice)pick.Value.Value);
            }

            void BotFaultOn(string path, SimBotDevice bot)
            {
                string[] names = { "bad CSW signature", "bad CSW tag", "bad CSW residue", "phase error", "STALL on CBW", "STALL on data IN",
                                   "STALL on data OUT", "data stage never answers", "CSW never answers", "short data IN", "transaction error",
                                   "babble", "unplug in the data stage" };
                int f = _rng.Next(names.Length);
                Note("bulk-only fault on " + path + ": " + names[f]);
                _hc.Mutate(() =>
                {
                    switch (f)
                    {
                        case 0: bot.BadNextCsw = true; break;
                        case 1: bot.BadNextCswTag = true; break;
                        case 2: bot.BadNextCswResidue = true; break;
                        case 3: bot.PhaseErrorNext = true; break;
                        case 4: bot.StallNextCbw = true; break;
                        case 5: bot.StallNextDataIn = true; break;
                        case 6: bot.StallNextDataOut = true; break;
                        case 7: bot.HoldData = true; break;
                        case 8: bot.HoldCsw = true; break;
                        case 9: bot.ShortNextDataIn = true; break;
                        case 10: bot.FailNextTransfer = UsbStatus.TransactionError; break;
                        case 11: bot.FailNextTransfer = UsbStatus.Babble; break;
                        default: bot.OnDataStage = () => UnplugFromDevice(bot); break;
                    }
                });
            }

            /// <summary>True when another write to the same device covering <paramref name="block"/> was in flight during <paramref name="op"/>.</summary>
            bool OverlapsConcurrentWrite(DiskWrite op, ulong block)
            {
                for (int i = 0; i < _diskWrites.Count; i++)
                {
                    DiskWrite w = _diskWrites[i];
                    if (w != op && w.Device == op.Device && w.Started < op.Ended && w.Ended > op.Started &&
                        block >= w.Lba && block < w.Lba + (ulong)w.Count)
                        return true;
                }
                return false;
            }

            void DiskIo()
            {
                KeyValuePair<string, SimDevice>? pick = Pick(d => d is SimBotDevice);
                ScsiDisk disk = pick == null ? null : DiskAt(pick.Value.Key);
                if (disk == null || disk.BlockCount == 0)
                {
                    if (pick == null)
                        PlugRandom();
                    else
                        Timed("settle", () => { Note("settle"); _stack.ExploreUntilIdle(); });
                    return;
                }
                var bot = (SimBotDevice)pick.Value.Value;
                // Half the time a storm: a transport fault armed, the command started, the thread let into it,
                // then (often) the disk or its hub pulled while the command is in flight.
                bool storm = _rng.Next(2) == 0;
                if (storm)
                    BotFaultOn(pick.Value.Key, bot);
                bool write = _rng.Next(2) == 0;
                int count = 1 + _rng.Next(_rng.Next(4) == 0 ? 200 : 8);
                ulong lba = (ulong)_rng.Next((int)disk.BlockCount);
                if (lba + (ulong)count > disk.BlockCount)
                    count = (int)(disk.BlockCount - lba);
                byte[] data = new byte[count * (int)disk.BlockSize];
                if (write)
                    for (int i = 0; i < data.Length; i++)
                        data[i] = (byte)_rng.Next(256);
                string what = (write ? "write " : "read ") + disk.Name + " (" + pick.Value.Key + ") LBA " + lba + " x" + count;
                Note("start " + what);
                var mine = new DiskWrite { Device = bot, Lba = lba, Count = count, Started = ++_diskEvents, Ended = int.MaxValue };
                if (write)
                    _diskWrites.Add(mine);
                _world.StartThread("disk-io", () =>
                {
                    StorageStatus status = write ? disk.Write(lba, count, data) : disk.Read(lba, count, data);
                    mine.Ended = ++_diskEvents;
                    if (status != StorageStatus.Ok)
                        return;
                    // Success means the data is exactly the simulated device's blocks, but for blocks a
                    // concurrent write also covered (either order is right there).
                    int offset = (int)lba * SimBotDevice.BlockSize;
                    for (int i = 0; i < data.Length; i++)
                        if (bot.Image[offset + i] != data[i] && !OverlapsConcurrentWrite(mine, lba + (ulong)(i / SimBotDevice.BlockSize)))
                        {
                            _world.Fail(what + " returned ok but byte " + i + " differs from the device (" + data[i] + " vs " + bot.Image[offset + i] + ")");
                            return;
                        }
                });
                if (!storm)
                    return;
                uint ms = (uint)_rng.Next(60);
                Note("advance " + ms + " ms (the command runs into the fault)");
                _world.Advance(ms);
                if (_rng.Next(3) != 0)
                {
                    string path = pick.Value.Key;
                    int dot = path.LastIndexOf('.');
                    string victim = dot >= 0 && _rng.Next(3) == 0 ? path.Substring(0, dot) : path;
                    if (Find(victim) != null)
                    {
                        Note("unplug " + victim + " " + Find(victim).Label + " (command in flight)");
                        _hc.Unplug(victim);
                    }
                }
                SettleOperation();
            }

            // ---- Final phases and invariants -----------------------------------------------------

            void HealAll()
            {
                _hc.Mutate(() =>
                {
                    _rootPlans.Clear();
                    foreach (KeyValuePair<string, SimDevice> kv in Plugged())
                    {
                        SimDevice d = kv.Value;
                        if (_nodes.TryGetValue(d, out Node node))
                            node.Plans.Clear();
                        d.FailFirstDescriptorReads = 0;
                        d.FailSetAddress = 0;
                        foreach (SimEndpoint e in d.Endpoints.Values)
                        {
                            e.Fault = null;
                            e.FaultSticky = false;
                        }
                        if (d is SimBotDevice bot)
                            bot.HealFaults();
                        if (d is SimHub hub)
                            HealPorts(hub.PortSet);
                    }
                    HealPorts(_hc.RootPorts);
                });
            }

            static void HealPorts(SimPortSet set)
            {
                foreach (SimPort p in set.Ports)
                {
                    p.ResetFails = false;
                    p.FlapReads = 0;
                }
            }

            void Quiesce(string phase)
            {
                bool quiet = _world.WaitUntil(_world.OthersFinishedCondition(), QuiesceBoundMs, "threads to finish");
                Check(quiet, phase + ": threads still running after " + QuiesceBoundMs + " ms of virtual time: " + _world.ThreadStates());
            }

            /// <summary>One ExploreUntilIdle must leave no port change unhandled (it runs passes while any pass saw activity).</summary>
            void Settle(string phase) => Timed(phase + ": settle", () =>
            {
                _stack.ExploreUntilIdle();
                Check(!ChangePending(), phase + ": ExploreUntilIdle returned while a port still has an unhandled change: " + PendingChanges() +
                                        " (tree [" + Tree() + "])");
            });

            /// <summary>Enumerated devices (names) against the simulated ones; ghosts are enumerated devices with no simulated device behind them.</summary>
            void CheckNoGhosts(string phase)
            {
                var plugged = new Dictionary<string, SimDevice>();
                foreach (KeyValuePair<string, SimDevice> kv in Plugged())
                    plugged[CoreName(kv.Key)] = kv.Value;
                foreach (UsbDevice device in _stack.Buses[0].Devices)
                {
                    if (device.IsRootHub)
                        continue;
                    Check(plugged.TryGetValue(device.Name, out SimDevice sim),
                          phase + ": " + device.Name + " is enumerated but nothing is plugged there (tree: " + Tree() + ")");
                    Check(sim.Address == device.WireAddress,
                          phase + ": " + device.Name + " has address " + device.WireAddress + " but the device there answers at " + sim.Address);
                    Check(!device.IsGone && !device.Destroyed, phase + ": " + device.Name + " is listed but gone");
                    Check(Reachable(device.Name), phase + ": " + device.Name + " is listed but its port is disabled or unpowered in the simulation");
                }
            }

            /// <summary>Paths of plugged devices whose port has no power.</summary>
            string UnpoweredPorts()
            {
                var dark = new List<string>();
                foreach (KeyValuePair<string, SimDevice> kv in Plugged())
                    if (!PortOf(kv.Key).Powered)
                        dark.Add(kv.Key);
                return string.Join(" ", dark);
            }

            SimPort PortOf(string path)
            {
                int dot = path.LastIndexOf('.');
                SimPortSet set = dot < 0 ? _hc.RootPorts : ((SimHub)Find(path.Substring(0, dot))).PortSet;
                return set.Port(int.Parse(dot < 0 ? path : path.Substring(dot + 1)));
            }

            /// <summary>True when a powered port of the simulation has a change the hub driver has not handled yet.</summary>
            bool ChangePending() => PendingChanges().Length > 0;

            /// <summary>"port 3.2 change 0001" for each powered port of an enumerated hub whose change the hub driver has not handled yet.</summary>
            string PendingChanges()
            {
                var pending = new List<string>();
                for (int i = 0; i < _hc.RootPorts.Ports.Length; i++)
                {
                    SimPort p = _hc.RootPorts.Ports[i];
                    if (p.Powered && p.Change != 0)
                        pending.Add("root port " + (i + 1) + " change " + p.Change.ToString("x4"));
                }
                // Only hubs the core has enumerated: a hub whose port the core gave up on (its reset
                // never reached it) may still be configured from before, with changes nobody reads.
                foreach (KeyValuePair<string, SimDevice> kv in Plugged())
                    if (kv.Value is SimHub hub && hub.Configuration != 0 && _stack.FindDevice(CoreName(kv.Key)) != null)
                        for (int i = 0; i < hub.PortSet.Ports.Length; i++)
                        {
                            SimPort p = hub.PortSet.Ports[i];
                            if (p.Powered && p.Change != 0)
                                pending.Add("port " + kv.Key + "." + (i + 1) + " change " + p.Change.ToString("x4"));
                        }
                return string.Join(", ", pending);
            }

            /// <summary>True when the simulated device at the core name's path sits on an enabled, powered port (and so does every hub above it).</summary>
            bool Reachable(string coreName)
            {
                string[] parts = coreName.Substring(coreName.IndexOf('-') + 1).Split('.');
                SimPortSet set = _hc.RootPorts;
                for (int i = 0; i < parts.Length; i++)
                {
                    SimPort p = set.Port(int.Parse(parts[i]));
                    if (p == null || p.Device == null || !p.Enabled || !p.Powered)
                        return false;
                    if (i < parts.Length - 1)
                    {
                        if (!(p.Device is SimHub hub))
                            return false;
                        set = hub.PortSet;
                    }
                }
                return true;
            }

            /// <summary>
            /// What must be enumerated once every fault is healed and the bus settled: each plugged
            /// device whose parent is enumerated with the hub driver bound, unless the hub driver gave
            /// up on its port (like Linux, a port that failed every initialisation is left alone until
            /// its connection changes, so a device that was faulty until then stays away).
            /// </summary>
            string ExpectedAfterHealing()
            {
                var names = new List<string> { "usb" + BusNumber };
                foreach (KeyValuePair<string, SimDevice> kv in Plugged())
                {
                    string path = kv.Key;
                    int dot = path.LastIndexOf('.');
                    string parentName = dot < 0 ? "usb" + BusNumber : CoreName(path.Substring(0, dot));
                    int port = int.Parse(dot < 0 ? path : path.Substring(dot + 1));
                    UsbDevice parent = _stack.FindDevice(parentName);
                    if (parent == null || parent.Hub == null || port > parent.Hub.PortCount || parent.Hub.GaveUp[port])
                        continue;
                    if (!names.Contains(parentName))
                        continue;
                    names.Add(CoreName(path));
                }
                names.Sort(StringComparer.Ordinal);
                return string.Join(" ", names);
            }

            string Tree()
            {
                var names = new List<string>();
                foreach (UsbDevice d in _stack.Buses[0].Devices)
                    names.Add(d.Name);
                names.Sort(StringComparer.Ordinal);
                return string.Join(" ", names);
            }

            /// <summary>Names of the plugged simulated devices.</summary>
            string SimTree()
            {
                var names = new List<string>();
                var dark = new List<string>();
                foreach (KeyValuePair<string, SimDevice> kv in Plugged())
                {
                    bool below = false;
                    foreach (string d in dark)
                        if (kv.Key.StartsWith(d + ".", StringComparison.Ordinal))
                            below = true;
                    if (below)
                    {
                        dark.Add(kv.Key);
                        continue;
                    }
                    names.Add(CoreName(kv.Key));
                }
                names.Sort(StringComparer.Ordinal);
                return string.Join(" ", names);
            }

            void FinalChecks(int baselineDma)
            {
                // 1. Heal every fault; I/O in flight must finish; the tree must not hold ghosts.
                Note("heal all faults");
                HealAll();
                _dma.FailAfter = -1;
                if (_exploreThread)
                {
                    // The explore thread alone (status-change wake-ups and its fallback polls) must bring
                    // the tree to what can be enumerated: let it work in healthy conditions, stop it, compare.
                    Timed("explore thread after healing", () => _world.Advance(ExploreThreadHealMs));
                    // Stop it between passes, with no port change left and no hub or port job queued or running
                    // (an enumeration still waiting for its bus's address 0 is not idle): a pass cut short proves nothing.
                    Func<bool> quiet = () => _world.IsBlockedIn("usb_explore", "semaphore") && !ChangePending() && _stack.Work.Pending == 0;
                    bool idle = _world.WaitUntil(quiet, QuiesceBoundMs, "explore thread idle");
                    string idleStates = _world.ThreadStates();
                    // A port that needs a retry without a change bit (a failed debounce) waits for the fallback
                    // poll: give it one fallback period, then idle again.
                    if (idle)
                    {
                        _world.Advance(UsbStack.ExploreFallbackMs + ExploreThrottleSlackMs);
                        idle = _world.WaitUntil(quiet, QuiesceBoundMs, "explore thread idle");
                        idleStates = _world.ThreadStates() + " (at " + _world.Milliseconds + " ms)";
                    }
                    Check(idle, "the explore thread never became idle with no port change pending: " + _world.ThreadStates());
                    bool stopped = _stack.Stop();
                    bool ended = _world.WaitUntil(() => _world.NoneRunning("usb_explore"), QuiesceBoundMs, "explore thread to end");
                    Check(ended, "the explore thread did not end (Stop returned " + stopped + "): " + _world.ThreadStates());
                    Quiesce("explore thread stopped");
                    if (idle)
                    {
                        CheckNoGhosts("explore thread, after healing");
                        string expectedByThread = ExpectedAfterHealing();
                        Check(Tree() == expectedByThread, "explore thread, after healing: the tree is [" + Tree() + "], expected [" + expectedByThread +
                                                          "] (simulated: " + SimTree() + "; threads when it went idle: " + idleStates + ")");
                    }
                }
                Quiesce("after healing");
                // A port whose power switch-on failed while faults were armed is powered again only after
                // the hub driver's quiet period (HubTimings.PowerRestoreQuietMs): give the stack that time.
                if (UnpoweredPorts().Length > 0)
                    _world.Advance(HubTimings.PowerRestoreQuietMs);
                Settle("after healing");
                Quiesce("after healing");
                CheckNoGhosts("after healing");
                string expectedHealed = ExpectedAfterHealing();
                Check(Tree() == expectedHealed, "after healing the tree is [" + Tree() + "], expected [" + expectedHealed + "] (simulated: " + SimTree() +
                                                (UnpoweredPorts().Length > 0 ? "; ports left unpowered: " + UnpoweredPorts() : "") + ")");

                // 2. Re-plug every root port: with healthy devices, the tree must equal the simulated topology
                //    and every device must have its driver (disks scanned).
                var roots = new List<KeyValuePair<int, SimDevice>>();
                for (int p = 1; p <= _hc.RootPorts.Ports.Length; p++)
                    if (_hc.RootPorts.Port(p).Device != null)
                        roots.Add(new KeyValuePair<int, SimDevice>(p, _hc.RootPorts.Port(p).Device));
                if (_replug)
                    ReplugAndCheck(roots);

                // 3. Unplug everything: back to the root hub alone and to the starting resources.
                Note("unplug everything");
                foreach (KeyValuePair<int, SimDevice> kv in roots)
                    _hc.Unplug(kv.Key.ToString());
                Settle("after unplugging everything");
                Quiesce("after unplugging everything");
                CheckCleanBus(baselineDma);
            }

            void ReplugAndCheck(List<KeyValuePair<int, SimDevice>> roots)
            {
                Note("re-plug every root port");
                _healthy = true;
                foreach (KeyValuePair<int, SimDevice> kv in roots)
                {
                    _hc.Unplug(kv.Key.ToString());
                    _hc.Plug(kv.Key.ToString(), kv.Value);
                }
                Settle("after re-plug");
                Quiesce("after re-plug");
                Settle("after re-plug");
                CheckNoGhosts("after re-plug");
                string expected = SimTree(), actual = Tree();
                Check(actual == Join("usb" + BusNumber, expected),
                      "after re-plug of healthy devices the tree is [" + actual + "], the simulated topology [" + Join("usb" + BusNumber, expected) + "]");
                foreach (KeyValuePair<string, SimDevice> kv in Plugged())
                    CheckBound(kv.Key, kv.Value);
                Check(_errorsWhileHealthy.Count == 0, "error logged while every device was healthy: " + (_errorsWhileHealthy.Count > 0 ? _errorsWhileHealthy[0] : ""));
                _healthy = false;
            }

            void CheckCleanBus(int baselineDma)
            {
                Check(Tree() == "usb" + BusNumber, "after unplugging everything the tree is [" + Tree() + "]");
                Check(_storage.Disks.Length == 0, "after unplugging everything " + _storage.Disks.Length + " disks remain");
                Check(_hid.InterfaceCount == 0, "after unplugging everything " + _hid.InterfaceCount + " HID interfaces remain");
                Check(_sink.Attached.Count == 0, "after unplugging everything the input sink still has " + string.Join(", ", _sink.Attached));
                Check(!_hid.Typematic.IsActive, "after unplugging everything a key still repeats");
                Check(_stack.Hubs.Length == 1, "after unplugging everything " + _stack.Hubs.Length + " hubs remain registered");
                // Every address must be free again: allocate them all (2..127), then give them back.
                var addresses = new List<byte>();
                for (byte a; (a = _stack.Buses[0].AllocateAddress()) != 0;)
                    addresses.Add(a);
                foreach (byte a in addresses)
                    _stack.Buses[0].FreeAddress(a);
                Check(addresses.Count == UsbLimits.MaxAddress - UsbDevice.RootHubAddress,
                      "after unplugging everything only " + addresses.Count + " device addresses are free (leak)");
                _hid.Stop();
                Check(_dma.Outstanding == baselineDma, "DMA buffers outstanding: " + _dma.Outstanding + ", baseline " + baselineDma);
                Check(_hc.OutstandingCount == 0, "the controller still holds " + _hc.OutstandingCount + " requests nobody gave back");
                Check(_hc.PendingCount == 0, "the controller still has " + _hc.PendingCount + " pending requests");
                Check(_hc.DoubleGiveBacks == 0, _hc.DoubleGiveBacks + " requests given back twice by the controller");
                Check(_hc.SubmitsWhileOutstanding == 0, _hc.SubmitsWhileOutstanding + " requests submitted again while still queued");
                Check(_hc.AllocatedDevices == 0, "controller device slots still allocated: " + _hc.AllocatedDevices);
                Check(_hc.EnabledEndpoints == 0, "controller endpoints still enabled: " + _hc.EnabledEndpoints);
                foreach (UsbRequest r in _hc.SeenRequests)
                    Check(!r.IsLinked, "a request to " + r.Device.Name + " endpoint " + r.Endpoint.Address + " is still linked");
            }

            static string Join(string first, string rest) => rest.Length == 0 ? first : CombineSorted(first, rest);

            static string CombineSorted(string first, string rest)
            {
                var names = new List<string>(rest.Split(' '));
                names.Add(first);
                names.Sort(StringComparer.Ordinal);
                return string.Join(" ", names);
            }

            void CheckBound(string path, SimDevice sim)
            {
                UsbDevice device = _stack.FindDevice(CoreName(path));
                if (device == null)
                    return;   // reported by the tree comparison
                Node node = _nodes[sim];
                string expectedDriver = node.Kind == Kind.Hub ? HubDriver.DriverName
                                      : node.Kind == Kind.Disk ? UsbStorageDriver.DriverName
                                      : node.Kind == Kind.Gadget ? null : UsbHidDriver.DriverName;
                UsbInterface[] interfaces = device.Interfaces;
                Check(interfaces.Length == 1, device.Name + " is healthy but has " + interfaces.Length + " interfaces (not configured?)");
                if (expectedDriver != null)
                    Check(interfaces[0].Driver != null && interfaces[0].Driver.Name == expectedDriver,
                          device.Name + " is healthy but its interface is bound to " + (interfaces[0].Driver?.Name ?? "nothing") + ", not " + expectedDriver);
                if (node.Kind == Kind.Disk)
                    Check(DiskAt(path) != null, device.Name + " is a healthy disk but no disk was attached (scan failed?)");
            }
        }

        /// <summary>
        /// The input sink: checks that events come only from announced devices, and that each device is
        /// announced once and withdrawn once.
        /// </summary>
        /// <summary>A disk command's blocks and the span of operation events (start, end) it was in flight.</summary>
        sealed class DiskWrite
        {
            public SimBotDevice Device;
            public ulong Lba;
            public int Count;
            public int Started, Ended;
        }

        sealed class CheckingSink : IHidInputSink
        {
            public readonly List<string> Attached = new List<string>();
            public string Problem;
            public int Keys, Pointers;

            void Report(string problem)
            {
                if (Problem == null)
                    Problem = problem;
            }

            public void Key(in HidKeyEvent key)
            {
                Keys++;
                if (!Attached.Contains(key.Device))
                    Report("key event (usage " + key.Usage + (key.Repeat ? ", repeat" : "") + ") from " + key.Device + ", which is not attached");
            }

            public void Pointer(in HidPointerEvent pointer)
            {
                Pointers++;
                if (!Attached.Contains(pointer.Device))
                    Report("pointer event from " + pointer.Device + ", which is not attached");
            }

            public void DeviceChanged(string device, HidDeviceKind kind, bool attached)
            {
                if (attached)
                {
                    if (Attached.Contains(device))
                        Report(device + " announced twice");
                    Attached.Add(device);
                }
                else if (!Attached.Remove(device))
                    Report(device + " withdrawn but not announced");
            }
        }
    }
}
