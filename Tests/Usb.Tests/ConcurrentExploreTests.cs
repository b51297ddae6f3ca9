using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Listings;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    /// <summary>
    /// The explore design with the explore thread running: hub and port jobs run concurrently, so
    /// a device, hub or driver that is stuck delays nobody else (each test fails with a single
    /// explore thread that handles ports one after another), and readers of the tree never see a
    /// list being changed.
    /// </summary>
    [TestFixture]
    public class ConcurrentExploreTests
    {
        static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

        static bool IsFirstDescriptorRead(SimDevice d, SetupPacket s) =>
            d.Address == 0 && s.bRequest == UsbRequestCode.GetDescriptor && (s.wValue >> 8) == DescriptorType.Device;

        static bool IsPortStatusRead(SetupPacket s) =>
            s.bmRequestType == Drivers.Usb.Hub.HubClass.FromPort && s.bRequest == UsbRequestCode.GetStatus;

        /// <summary>Registers a driver for HID interfaces and returns a semaphore released on every bind.</summary>
        static RecordingInterfaceDriver HidDriver(TestBed bed, SemaphoreSlim bound)
        {
            var driver = new RecordingInterfaceDriver("test-hid", UsbDeviceId.InterfaceClass(UsbClass.Hid));
            driver.OnProbe = _ => bound.Release();
            bed.Stack.RegisterDriver(driver);
            return driver;
        }

        static void WaitFor(Func<bool> condition, string what, TestBed bed)
        {
            DateTime deadline = DateTime.UtcNow + Bound;
            while (!condition())
            {
                if (DateTime.UtcNow > deadline)
                    Assert.Fail(what + "\n" + bed.LogSink.All());
                Thread.Sleep(2);
            }
        }

        [Test]
        public void ADriverStillReleasingDoesNotDelayHotPlugOnAnotherPort()
        {
            using var bed = new TestBed();
            var bound = new SemaphoreSlim(0);
            RecordingInterfaceDriver driver = HidDriver(bed, bound);
            var release = new ManualResetEventSlim(false);
            var releasing = new ManualResetEventSlim(false);
            driver.OnDisconnect = intf =>
            {
                if (intf.Device.Name != "1-1")
                    return;
                releasing.Set();
                release.Wait(Bound); // a storage driver flushing its cache, say
            };
            SimController hc = bed.AddController(4);
            Assert.That(bed.Stack.Start(), Is.True);
            try
            {
                hc.Plug("1", TopologyTests.Keyboard());
                Assert.That(bound.Wait(Bound), Is.True, bed.LogSink.All());
                hc.Unplug("1");
                Assert.That(releasing.Wait(Bound), Is.True, "the removal reached the driver");
                hc.Plug("2", TopologyTests.Keyboard());
                Assert.That(bound.Wait(Bound), Is.True, "port 2 enumerated while port 1's driver was releasing\n" + bed.LogSink.All());
                Assert.That(release.IsSet, Is.False);
                Assert.That(bed.Device("1-2"), Is.Not.Null);
            }
            finally
            {
                release.Set();
            }
            WaitFor(() => bed.Device("1-1") == null, "1-1 removed once its driver returned", bed);
            Assert.That(bed.Stack.Stop(), Is.True);
        }

        [Test]
        public void ADeviceNakingAtAddressZeroDoesNotDelayAnotherBus()
        {
            // Real-time clock (scale 1): the NAK timeout must not expire while a loaded machine is still
            // enumerating bus 2 (at the default 20x a 5 s timeout is 250 ms of real time). Nothing here
            // waits for a timeout, so the test is as fast.
            using var bed = new TestBed(scale: 1);
            var bound = new SemaphoreSlim(0);
            HidDriver(bed, bound);
            SimController bus1 = bed.AddController(2);
            SimController bus2 = bed.AddController(2);
            Assert.That(bed.Stack.Start(), Is.True);
            SimDevice mute = TopologyTests.Keyboard(label: "mute");
            mute.OnControl = (s, d) => IsFirstDescriptorRead(mute, s) ? SimResult.Nak : (SimResult?)null;
            bus1.Plug("1", mute);
            // Wait until bus 1 holds its address-0 lock on the mute device, then plug on bus 2.
            WaitFor(() => mute.ControlLog.Count > 0, "bus 1 started enumerating", bed);
            bus2.Plug("1", TopologyTests.Keyboard());
            Assert.That(bound.Wait(Bound), Is.True, bed.LogSink.All());
            Assert.That(bed.Device("2-1"), Is.Not.Null);
            Assert.That(bed.LogSink.Contains("usb 1-0-port1: device not accepting address"), Is.False,
                        "bus 2 was served while bus 1 was still waiting for the NAKing device");
            bus1.Unplug("1");
            Assert.That(bed.Stack.Stop(), Is.True);
        }

        [Test]
        public void AHubThatDoesNotAnswerPortStatusDoesNotDelayOtherHubs()
        {
            // Clock at 4x: the broken hub's 1 s status timeouts (3 tries, 4 ports) take 3 s of real time,
            // long enough for a loaded machine to serve the healthy hub first, short enough for the suite.
            using var bed = new TestBed(scale: 4);
            var bound = new SemaphoreSlim(0);
            HidDriver(bed, bound);
            SimController hc = bed.AddController(2);
            var broken = new SimHub("broken", 4, UsbSpeed.High);
            var healthy = new SimHub("healthy", 4, UsbSpeed.High);
            hc.Plug("1", broken);
            hc.Plug("2", healthy);
            bed.Settle();
            Assert.That(bed.Device("1-1").IsHub && bed.Device("1-2").IsHub, Is.True, bed.LogSink.All());
            Assert.That(bed.Stack.Start(), Is.True);
            broken.OnControl = (s, d) => IsPortStatusRead(s) ? SimResult.Nak : (SimResult?)null;
            hc.Plug("1.1", TopologyTests.Keyboard(label: "behind the broken hub"));
            hc.Plug("2.1", TopologyTests.Keyboard());
            Assert.That(bound.Wait(Bound), Is.True, bed.LogSink.All());
            Assert.That(bed.Device("1-2.1"), Is.Not.Null);
            Assert.That(bed.LogSink.Contains("hub 1-1:1.0: can't get port 1 status"), Is.False,
                        "the healthy hub was served while the broken one was still timing out");
            // The broken hub's read is retried a bounded number of times, then the hub is reset.
            WaitFor(() => bed.LogSink.Contains("hub 1-1:1.0: resetting for errors"), "the failing hub is reset", bed);
            broken.OnControl = null;
            Assert.That(bound.Wait(Bound), Is.True, "after its reset the hub's keyboard enumerates\n" + bed.LogSink.All());
            WaitFor(() => bed.Device("1-1.1") != null, "1-1.1 is listed", bed);
            Assert.That(bed.Stack.Stop(), Is.True);
        }

        [Test]
        public void SnapshotsOfTheTreeNeverChangeUnderTheirReader()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(4);
            hc.Plug("1", new SimHub("hub", 4, UsbSpeed.High));
            hc.Plug("1.2", TopologyTests.Keyboard());
            bed.Settle();
            UsbDevice hub = bed.Device("1-1");
            UsbDevice keyboard = bed.Device("1-1.2");
            var children = hub.Children;
            var devices = bed.Bus.Devices;
            int count = devices.Count();
            hc.Unplug("1.2");
            bed.Settle();
            Assert.That(bed.Device("1-1.2"), Is.Null);
            Assert.That(children[1], Is.SameAs(keyboard), "a reader's children array is never changed in place");
            Assert.That(devices.Count(), Is.EqualTo(count), "a reader's device list is never changed in place");
            Assert.That(hub.Child(2), Is.Null);
        }

        [Test]
        public void AHubStatusRequestThatWouldNotDieKeepsItsBuffer()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2);
            int baseline = bed.Dma.Outstanding;
            hc.Plug("1", new SimHub("hub", 4, UsbSpeed.High));
            bed.Settle();
            UsbDevice hub = bed.Device("1-1");
            Assert.That(hub.IsHub, Is.True, bed.LogSink.All());
            UsbRequest status = hub.Hub.StatusRequest;
            hc.LoseCancelled = r => r == status;
            hc.Unplug("1");
            bed.Settle();
            Assert.That(bed.Device("1-1"), Is.Null);
            Assert.That(bed.LogSink.Contains("hub 1-1:1.0: status request would not die; leaking its buffer"), Is.True, bed.LogSink.All());
            Assert.That(bed.Dma.Outstanding, Is.EqualTo(baseline + 1), "the controller still owns the status buffer: it is not freed");
        }

        [Test]
        public void ListingsAndLookupsNeverWalkAListBeingChanged()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(4);
            hc.Plug("1", new SimHub("hub", 4, UsbSpeed.High));
            bed.Settle();
            Assert.That(bed.Stack.Start(), Is.True);
            var failures = new List<Exception>();
            bool stop = false;
            var reader = new Thread(() =>
            {
                while (!Volatile.Read(ref stop))
                {
                    try
                    {
                        UsbListings.DevicesFile(bed.Stack);
                        UsbListings.LsusbTree(bed.Stack);
                        UsbListings.Lsusb(bed.Stack);
                        bed.Stack.FindDevice("1-1.3");
                        bed.Stack.FindInterface("1-1.3:1.0");
                    }
                    catch (Exception e)
                    {
                        lock (failures)
                            failures.Add(e);
                    }
                }
            });
            reader.Start();
            for (int cycle = 0; cycle < 40; cycle++)
            {
                for (int port = 1; port <= 4; port++)
                    hc.Plug("1." + port, TopologyTests.Keyboard(label: "k" + port));
                WaitFor(() => bed.Device("1-1.4") != null && bed.Device("1-1.1") != null, "keyboards enumerated", bed);
                for (int port = 1; port <= 4; port++)
                    hc.Unplug("1." + port);
                WaitFor(() => bed.Bus.Devices.Count() == 2, "keyboards removed", bed);
            }
            Volatile.Write(ref stop, true);
            reader.Join();
            Assert.That(failures, Is.Empty);
            Assert.That(bed.Stack.Stop(), Is.True);
        }
    }
}
