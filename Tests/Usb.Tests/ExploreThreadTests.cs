using System.Threading;
using Drivers.Usb;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    [TestFixture]
    public class ExploreThreadTests
    {
        [Test]
        public void StatusChangeCompletionsWakeTheExploreThread()
        {
            using var bed = new TestBed();
            // A fallback period so long it never fires during the test: only status changes wake the thread.
            bed.Stack.ExplorePeriodMs = uint.MaxValue;
            var added = new SemaphoreSlim(0);
            var removed = new SemaphoreSlim(0);
            bed.Stack.DeviceAdded += d => { if (!d.IsRootHub) added.Release(); };
            bed.Stack.DeviceRemoved += d => removed.Release();
            SimController hc = bed.AddController(2);
            Assert.That(bed.Stack.Start(), Is.True);
            hc.Plug("1", new SimHub("hub", 2, UsbSpeed.High));
            Assert.That(added.Wait(10000), Is.True, "root hub status change woke explore");
            hc.Plug("1.2", TopologyTests.Keyboard(UsbSpeed.High));
            Assert.That(added.Wait(10000), Is.True, "external hub status change woke explore");
            Assert.That(bed.Device("1-1.2"), Is.Not.Null);
            Assert.That(bed.Device("1-1").Hub.StatusCompletions, Is.GreaterThan(0));
            hc.Unplug("1");
            Assert.That(removed.Wait(10000), Is.True);
            Assert.That(removed.Wait(10000), Is.True);
            Assert.That(bed.Stack.Stop(), Is.True);
        }

        [Test]
        public void TimedFallbackPollsEvenWithoutInterrupts()
        {
            using var bed = new TestBed();
            bed.Stack.ExplorePeriodMs = 200;
            var added = new SemaphoreSlim(0);
            bed.Stack.DeviceAdded += d => { if (!d.IsRootHub) added.Release(); };
            SimController hc = bed.AddController(2);
            Assert.That(bed.Stack.Start(), Is.True);
            // Change the port behind the controller's back: no status-change notification at all.
            hc.Mutate(() => hc.RootPorts.Plug(2, TopologyTests.Keyboard(UsbSpeed.High)));
            Assert.That(added.Wait(10000), Is.True);
            Assert.That(bed.Stack.Stop(), Is.True);
        }

        [Test]
        public void ManualApisAreSafeWhileTheExploreThreadRuns()
        {
            using var bed = new TestBed();
            bed.Stack.ExplorePeriodMs = 100;
            SimController hc = bed.AddController(4);
            bed.Stack.Start();
            hc.Plug("1", TopologyTests.Keyboard(UsbSpeed.High));
            var deadline = System.DateTime.UtcNow.AddSeconds(10);
            while (bed.Device("1-1") == null && System.DateTime.UtcNow < deadline)
                Thread.Sleep(5);
            UsbDevice d = bed.Device("1-1");
            Assert.That(d, Is.Not.Null);
            for (int i = 0; i < 20; i++)
            {
                Assert.That(bed.Stack.Unbind(d), Is.EqualTo(UsbStatus.Ok));
                Assert.That(bed.Stack.Bind(d, "usb"), Is.EqualTo(UsbStatus.Ok));
                Assert.That(bed.Stack.SetConfiguration(d, 1), Is.EqualTo(UsbStatus.Ok));
            }
            Assert.That(bed.Stack.Stop(), Is.True);
        }
    }
}
