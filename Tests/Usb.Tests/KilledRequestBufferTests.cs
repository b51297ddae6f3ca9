using System;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hid;
using Drivers.Usb.Storage;
using NUnit.Framework;
using Tests.Support;
using Usb.Tests.Hid;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;
using Usb.Tests.Storage;

namespace Usb.Tests
{
    /// <summary>
    /// A request whose kill timed out still belongs to the controller, which may yet write into
    /// its buffer (DMA): the class drivers free a buffer only once its request is known dead and
    /// leak it deliberately, with a log line, otherwise. The simulated controller here keeps
    /// cancelled requests (HoldCancelled) and gives them back late (ReleaseHeld).
    /// </summary>
    [TestFixture]
    public class KilledRequestBufferTests
    {
        /// <summary>A late give-back comes after the kill's own bound: a longer wait than the usual 10 s.</summary>
        static void WaitFor(Func<bool> condition, string what) => Waiting.WaitFor(condition, what, seconds: 20);

        /// <summary>DMA buffers outstanding once no transient buffer (a control transfer of a worker) comes and goes.</summary>
        static int StableOutstanding(TestBed bed)
        {
            int last = bed.Dma.Outstanding;
            var stableSince = DateTime.UtcNow;
            while (DateTime.UtcNow - stableSince < TimeSpan.FromMilliseconds(100))
            {
                Thread.Sleep(5);
                int now = bed.Dma.Outstanding;
                if (now != last)
                {
                    last = now;
                    stableSince = DateTime.UtcNow;
                }
            }
            return last;
        }

        static bool IsHidInterrupt(UsbRequest r) => r.Endpoint.Type == TransferType.Interrupt && r.Endpoint.Address == 0x81;

        [Test]
        public void HidStartThatFailsKeepsTheBufferOfARequestThatWouldNotDie()
        {
            using var bed = new TestBed();
            var sink = new TestSink();
            HidInputService service = HidDrivers.Register(bed.Stack, sink);
            try
            {
                SimController hc = bed.AddController(4, UsbSpeed.High);
                int interruptSubmits = 0;
                UsbRequest held = null;
                // The first interrupt request is queued; the second is refused; killing the first times out.
                hc.SubmitFault = r => IsHidInterrupt(r) && Interlocked.Increment(ref interruptSubmits) == 2 ? UsbStatus.NoMemory : (UsbStatus?)null;
                hc.HoldCancelled = r =>
                {
                    if (!IsHidInterrupt(r)) return false;
                    held = r;
                    return true;
                };
                hc.Plug("1", HidSamples.Keyboard(UsbSpeed.High));
                bed.Settle();

                UsbInterface intf = bed.Stack.FindInterface("1-1:1.0");
                Assert.That(intf.Driver, Is.Null, "probe failed: " + bed.LogSink.All());
                Assert.That(held, Is.Not.Null, "the first request was killed and kept by the controller");
                Assert.That(held.Buffer.IsNull, Is.False, "its buffer was not freed under the controller");
                Assert.That(bed.LogSink.Contains("would not die; leaking its buffer"), Is.True, bed.LogSink.All());

                int submitted = hc.Submitted;
                hc.ReleaseHeld();
                WaitFor(() => !held.IsLinked, "the late give-back");
                Assert.That(hc.Submitted, Is.EqualTo(submitted), "a request given back late is not resubmitted");
            }
            finally
            {
                bed.Dispose();
                service.Stop();
            }
        }

        [Test]
        public void HidUnbindFreesTheDeadRequestsAndKeepsTheStuckOnes()
        {
            using var bed = new TestBed();
            var sink = new TestSink();
            HidInputService service = HidDrivers.Register(bed.Stack, sink);
            try
            {
                SimController hc = bed.AddController(4, UsbSpeed.High);
                hc.Plug("1", HidSamples.Keyboard(UsbSpeed.High));
                bed.Settle();
                UsbInterface intf = bed.Stack.FindInterface("1-1:1.0");
                var hid = (HidInterface)intf.DriverData;
                Assert.That(hid, Is.Not.Null, bed.LogSink.All());
                UsbRequest stuck = null;
                hc.HoldCancelled = r =>
                {
                    if (!IsHidInterrupt(r) || stuck != null) return false;
                    stuck = r;
                    return true;
                };
                int dma = StableOutstanding(bed);
                Assert.That(bed.Stack.Unbind(intf), Is.EqualTo(UsbStatus.Ok));
                Assert.That(stuck, Is.Not.Null);
                Assert.That(stuck.Buffer.IsNull, Is.False, "the stuck request keeps its buffer");
                Assert.That(bed.Dma.Outstanding, Is.EqualTo(dma - 1), "the request that died gave its buffer back");
                Assert.That(bed.LogSink.Contains("would not die; leaking its buffer"), Is.True, bed.LogSink.All());
                hc.ReleaseHeld();
                WaitFor(() => !stuck.IsLinked, "the late give-back");
            }
            finally
            {
                bed.Dispose();
                service.Stop();
            }
        }

        [Test]
        public void StorageFreesTheBuffersOfDeadRequestsAndKeepsTheStuckOne()
        {
            using var bed = new TestBed();
            UsbStorageDriver driver = UsbStorageDriver.Register(bed.Stack);
            SimController hc = bed.AddController(4, UsbSpeed.High);
            var sim = new SimBotDevice(1024);
            hc.Plug("1", sim);
            bed.Settle();
            WaitFor(() => driver.Disks.Length == 1, "the disk");
            ScsiDisk disk = driver.Disks[0];

            // The data stage never ends and the controller never lets the killed request go.
            UsbRequest stuck = null;
            hc.HoldCancelled = r =>
            {
                if (r.Endpoint.Type != TransferType.Bulk || stuck != null) return false;
                stuck = r;
                return true;
            };
            hc.Mutate(() => sim.HoldData = true);
            Assert.That(disk.Read(0, 8, new byte[8 * 512]), Is.EqualTo(StorageStatus.Timeout));
            Assert.That(stuck, Is.Not.Null);
            Assert.That(bed.LogSink.Contains("request would not die"), Is.True, bed.LogSink.All());
            Assert.That(disk.Read(0, 1, new byte[512]), Is.Not.EqualTo(StorageStatus.Ok), "no more commands on a buffer the controller owns");

            int dma = StableOutstanding(bed);
            Assert.That(bed.Stack.Unbind(bed.Stack.FindInterface("1-1:1.0")), Is.EqualTo(UsbStatus.Ok));
            Assert.That(bed.Dma.Outstanding, Is.EqualTo(dma - 3), "CBW, CSW and small-command buffers freed, the data buffer kept\n" + bed.LogSink.All());
            Assert.That(bed.LogSink.Contains("leaking its data buffer"), Is.True, bed.LogSink.All());
            hc.ReleaseHeld();
            WaitFor(() => !stuck.IsLinked, "the late give-back");
        }
    }
}
