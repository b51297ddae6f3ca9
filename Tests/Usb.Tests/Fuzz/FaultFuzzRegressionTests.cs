using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Hid;
using NUnit.Framework;
using Platform;
using Usb.Tests.Hid;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests.Fuzz
{
    /// <summary>Bugs the fault fuzzer found, each pinned by a focused deterministic test and by its seed.</summary>
    [TestFixture]
    public class FaultFuzzRegressionTests
    {
        /// <summary>Records what a sink hears, in order.</summary>
        sealed class OrderSink : IHidInputSink
        {
            public readonly List<string> Events = new List<string>();
            public void Key(in HidKeyEvent key) => Events.Add("key " + key.Device);
            public void Pointer(in HidPointerEvent pointer) => Events.Add("pointer " + pointer.Device);
            public void DeviceChanged(string device, HidDeviceKind kind, bool attached) => Events.Add((attached ? "+" : "-") + device);
        }

        /// <summary>A stack in a <see cref="SimWorld"/> whose controller completes every request right inside Submit.</summary>
        static string RunInlineWorld(System.Action<UsbStack, SimController> body)
        {
            WorldLogSink.Install(LogLevel.Info);
            var world = new SimWorld(1);
            return world.Run(() =>
            {
                var stack = new UsbStack(world, world);
                var hc = new SimController(2, UsbSpeed.High) { Pumped = true };
                hc.AfterSubmit = world.Interrupt;
                world.AddInterruptSource(() => hc.Pump());
                stack.AddController(hc, new HeapDma());
                body(stack, hc);
            });
        }

        [Test]
        public void HidDeviceIsAnnouncedBeforeItsFirstReport()
        {
            // Found by the fault fuzzer (explore-thread mode, inline completions): a report already waiting when the mouse is probed completes as
            // soon as the interrupt request is submitted; the input sink heard of the event before the device.
            var sink = new OrderSink();
            string failure = RunInlineWorld((stack, hc) =>
            {
                HidInputService service = HidDrivers.Register(stack, sink);
                SimHidDevice mouse = HidSamples.Mouse();
                mouse.Endpoint(0x81).InData.Enqueue(new byte[] { 1, 5, 5, 0 });
                hc.Plug("1", mouse);
                stack.ExploreUntilIdle();
                hc.Unplug("1");
                stack.ExploreUntilIdle();
                service.Stop();
            });
            Assert.That(failure, Is.Null);
            Assert.That(sink.Events, Is.EqualTo(new[] { "+1-1:1.0", "pointer 1-1:1.0", "-1-1:1.0" }));
        }

        /// <summary>Runs <paramref name="body"/> in a world whose controller completes requests at waits; returns (failure, log).</summary>
        static (string failure, string log) RunWorld(System.Action<UsbStack, SimController> body)
        {
            WorldLogSink.Install(LogLevel.Info);
            var world = new SimWorld(1);
            string failure = world.Run(() =>
            {
                var stack = new UsbStack(world, world);
                var hc = new SimController(2, UsbSpeed.High) { Pumped = true };
                world.AddInterruptSource(() => hc.Pump());
                stack.AddController(hc, new HeapDma());
                stack.ExploreUntilIdle();
                body(stack, hc);
            });
            return (failure, string.Join("\n", world.LogLines));
        }

        static int Count(string text, string fragment)
        {
            int n = 0;
            for (int i = text.IndexOf(fragment, System.StringComparison.Ordinal); i >= 0; i = text.IndexOf(fragment, i + 1, System.StringComparison.Ordinal))
                n++;
            return n;
        }

        [Test]
        // Was ignored as a core bug the fault fuzzer found; fixed by the concurrent-explore redesign (main).
        public void GivenUpPortIsLeftAloneUntilItsConnectionChanges()
        {
            var (failure, log) = RunWorld((stack, hc) =>
            {
                var broken = new SimDevice("broken", UsbSpeed.High, Simulation.Desc.Device(0x1234, 1), Simulation.Desc.KeyboardConfig());
                broken.FailSetAddress = int.MaxValue;
                hc.Plug("1", broken);
                for (int i = 0; i < 3; i++)
                    stack.ExploreUntilIdle();
            });
            Assert.That(failure, Is.Null);
            Assert.That(Count(log, "unable to enumerate USB device"), Is.EqualTo(1), log);
        }

        [Test]
        // Found by the fault fuzzer (seed 20273398 with the explore thread): a hub whose GET_PORT_STATUS always
        // stalls was reset and enumerated again forever, and the explore passes never ended.
        public void HubThatAlwaysFailsIsResetABoundedNumberOfTimes()
        {
            var (failure, log) = RunWorld((stack, hc) =>
            {
                var hub = new SimHub("broken", 4, UsbSpeed.High);
                hub.OnControl = (setup, data) => setup.bmRequestType == Drivers.Usb.Hub.HubClass.FromPort &&
                                                 setup.bRequest == Drivers.Usb.Descriptors.UsbRequestCode.GetStatus
                    ? SimResult.Stall : (SimResult?)null;
                hc.Plug("1", hub);
                hc.Plug("1.2", new SimDevice("behind", UsbSpeed.High, Simulation.Desc.Device(0x1234, 1), Simulation.Desc.KeyboardConfig()));
                stack.ExploreUntilIdle();
                Assert.That(stack.FindDevice("1-1"), Is.Not.Null, "the hub stays listed");
                // Healed: the hub's next status change (its ports are still read on every fallback poll) brings its device.
                hub.OnControl = null;
                stack.ExploreUntilIdle();
                Assert.That(stack.FindDevice("1-1.2"), Is.Not.Null, "the device behind the healed hub");
            });
            Assert.That(failure, Is.Null, log);
            Assert.That(Count(log, "hub 1-1:1.0: resetting for errors"), Is.EqualTo(Drivers.Usb.Hub.HubTimings.MaxErrorResets), log);
            Assert.That(Count(log, "hub 1-1:1.0: still failing after 3 resets; leaving it as it is"), Is.EqualTo(1), log);
        }

        [Test]
        // Was ignored as a core bug the fault fuzzer found (a port that could not be disabled blocked address 0); fixed in HubDriver.DisablePort.
        public void PortThatCannotBeDisabledDoesNotBlockTheBus()
        {
            var (failure, log) = RunWorld((stack, hc) =>
            {
                var broken = new SimDevice("broken", UsbSpeed.High, Simulation.Desc.Device(0x1234, 1), Simulation.Desc.KeyboardConfig());
                broken.FailSetAddress = int.MaxValue;
                bool disableFails = true;
                hc.RootHubFault = setup => disableFails && setup.bRequest == Drivers.Usb.Descriptors.UsbRequestCode.ClearFeature &&
                                           setup.wValue == Drivers.Usb.Hub.HubClass.PortEnable ? UsbStatus.TransactionError : (UsbStatus?)null;
                hc.Plug("2", broken);
                stack.ExploreUntilIdle();
                disableFails = false;
                // Port 1 is explored before port 2 (whose give-up the next pass would retry, see the test above).
                hc.Plug("1", new SimDevice("healthy", UsbSpeed.High, Simulation.Desc.Device(0x1234, 2), Simulation.Desc.KeyboardConfig()));
                stack.ExploreUntilIdle();
                Assert.That(stack.FindDevice("1-1"), Is.Not.Null, "the healthy device on port 1 was not enumerated (address-0 collisions: " +
                                                                 hc.AddressZeroCollisions + ")");
            });
            Assert.That(failure, Is.Null, log);
        }

        [Test]
        // Was ignored as a core bug the fault fuzzer found; fixed by the concurrent-explore redesign (main).
        public void WakeUpsDoNotStarveTheFallbackPoll()
        {
            var (failure, log) = RunWorld((stack, hc) =>
            {
                // Port 1: the contact bounces long enough for the debounce to give up (no change bit left afterwards).
                hc.Plug("1", new SimDevice("bouncy", UsbSpeed.High, Simulation.Desc.Device(0x1234, 1), Simulation.Desc.KeyboardConfig()));
                hc.Mutate(() => hc.PortAt("1").FlapReads = 100);
                // Port 2: a device whose port status cannot be read, so its connection change is never cleared.
                hc.RootHubFault = setup => setup.bmRequestType == Drivers.Usb.Hub.HubClass.FromPort && (setup.wIndex & 0xFF) == 2
                    ? UsbStatus.TransactionError : (UsbStatus?)null;
                hc.Plug("2", new SimDevice("unreadable", UsbSpeed.High, Simulation.Desc.Device(0x1234, 2), Simulation.Desc.KeyboardConfig()));
                stack.Start();
                ((SimWorld)stack.Clock).Advance(30_000);
                Assert.That(stack.FindDevice("1-1"), Is.Not.Null, "port 1 was never polled again after its failed debounce");
                stack.Stop();
            });
            Assert.That(failure, Is.Null, log.Length > 3000 ? log.Substring(log.Length - 3000) : log);
        }

        [Test]
        // Was ignored as a core bug the fault fuzzer found (debounce bounded by steps, not time); fixed in HubDriver.Debounce.
        public void DebounceIsBoundedInTimeWhenTheHubDoesNotAnswer()
        {
            var (failure, log) = RunWorld((stack, hc) =>
            {
                var hub = new SimHub("hub", 2, UsbSpeed.High);
                hc.Plug("1", hub);
                stack.ExploreUntilIdle();
                hub.OnControl = (setup, data) => setup.bmRequestType == Drivers.Usb.Hub.HubClass.ToPort &&
                    setup.bRequest == Drivers.Usb.Descriptors.UsbRequestCode.ClearFeature ? SimResult.Nak : (SimResult?)null;
                hc.Plug("1.1", new SimDevice("d", UsbSpeed.High, Simulation.Desc.Device(0x1234, 1), Simulation.Desc.KeyboardConfig()));
                ulong start = stack.Clock.Milliseconds;
                stack.ExploreNow();
                ulong took = stack.Clock.Milliseconds - start;
                Assert.That(took, Is.LessThan(60_000), "one explore pass took " + took + " ms of virtual time");
            });
            Assert.That(failure, Is.Null, log.Length > 3000 ? log.Substring(log.Length - 3000) : log);
        }

        [Test]
        // Was ignored as a core bug the fault fuzzer found (wake-ups piled up in the semaphore); fixed in UsbStack.ExploreLoop.
        public void WakeUpsDoNotPileUp()
        {
            var (failure, log) = RunWorld((stack, hc) =>
            {
                stack.Start();
                var world = (SimWorld)stack.Clock;
                world.Advance(100);
                for (int i = 0; i < 10_000; i++)
                    stack.RequestExplore();
                world.Advance(100);
                int before = stack.ExplorePasses;
                world.Advance(5_000);
                int passes = stack.ExplorePasses - before;
                stack.Stop();
                Assert.That(passes, Is.LessThan(50), "explore passes in 5 s of virtual time, nothing changing, after a burst of wake-ups");
            });
            Assert.That(failure, Is.Null, log.Length > 3000 ? log.Substring(log.Length - 3000) : log);
        }

        [Test]
        public void ControllerAssignedAddressesStayValidAfterManyEnumerations()
        {
            // The simulated xHCI handed out 100, 101, ... in a byte: after 156 devices it gave address 0, then
            // 1 (the root hub's), and the device was lost. Real xHCI reuses the addresses of disabled slots.
            var (failure, log) = RunWorld((stack, hc) =>
            {
                hc.AssignsAddresses = true;
                for (int i = 0; i < 200; i++)
                {
                    hc.Plug("1", new SimDevice("d" + i, UsbSpeed.High, Simulation.Desc.Device(0x1234, (ushort)i), Simulation.Desc.KeyboardConfig()));
                    stack.ExploreUntilIdle();
                    UsbDevice d = stack.FindDevice("1-1");
                    Assert.That(d, Is.Not.Null, "device " + i + " was not enumerated");
                    Assert.That(d.WireAddress, Is.InRange(2, 127), "device " + i);
                    hc.Unplug("1");
                    stack.ExploreUntilIdle();
                }
            });
            Assert.That(failure, Is.Null, log.Length > 3000 ? log.Substring(log.Length - 3000) : log);
        }
    }
}
