using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using NUnit.Framework;
using Platform;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    /// <summary>
    /// A HID-like interface driver that keeps an interrupt request queued and resubmits it from
    /// its completion (interrupt context), as real keyboard drivers do.
    /// </summary>
    public sealed class StreamingDriver : UsbInterfaceDriver
    {
        public int Reports;
        public UsbStatus LastStatus = UsbStatus.InProgress;
        public UsbStatus ResubmitAfterStop = UsbStatus.InProgress;
        public UsbRequest Request;
        public bool KillOnDisconnect = true;
        public readonly ManualResetEventSlim Stopped = new ManualResetEventSlim();
        IDmaAllocator _dma;

        public StreamingDriver(IDmaAllocator dma) { _dma = dma; }

        public override string Name => "stream";
        public override UsbDeviceId[] IdTable => new[] { UsbDeviceId.InterfaceClass(UsbClass.Hid) };

        public override UsbStatus Probe(UsbInterface intf, UsbDeviceId id)
        {
            UsbEndpoint ep = intf.Current.Endpoints[0];
            Request = new UsbRequest
            {
                Device = intf.Device,
                Endpoint = ep,
                Buffer = _dma.Allocate((uint)ep.MaxPacketSize, 64, DmaLimit.Below4G),
                Length = ep.MaxPacketSize,
                Completion = Complete,
            };
            return intf.Device.Bus.Submit(Request);
        }

        void Complete(UsbRequest r)
        {
            LastStatus = r.Status;
            if (r.Status == UsbStatus.Ok)
            {
                Interlocked.Increment(ref Reports);
                r.Device.Bus.Submit(r);
                return;
            }
            // Errors: try once more to show that a gone device or killed request refuses it.
            ResubmitAfterStop = r.Device.Bus.Submit(r);
            Stopped.Set();
        }

        public override void Disconnect(UsbInterface intf)
        {
            if (KillOnDisconnect)
                intf.Device.Bus.Kill(Request);
        }
    }

    [TestFixture]
    public class StreamingDriverTests
    {
        static void Feed(SimController hc, SimDevice kbd, int reports)
        {
            hc.Mutate(() =>
            {
                for (int i = 0; i < reports; i++)
                    kbd.Endpoint(0x81).InData.Enqueue(new byte[] { 0, 0, (byte)(4 + i), 0, 0, 0, 0, 0 });
            });
        }

        static void WaitFor(System.Func<bool> condition)
        {
            var deadline = System.DateTime.UtcNow.AddSeconds(10);
            while (!condition())
            {
                Assert.That(System.DateTime.UtcNow, Is.LessThan(deadline));
                Thread.Sleep(1);
            }
        }

        [Test]
        public void ReportsFlowUntilUnplugThenNoDevice()
        {
            using var bed = new TestBed();
            var driver = new StreamingDriver(bed.Dma);
            bed.Stack.RegisterDriver(driver);
            SimController hc = bed.AddController(2);
            SimDevice kbd = TopologyTests.Keyboard(UsbSpeed.High);
            hc.Plug("1", kbd);
            bed.Settle();
            Feed(hc, kbd, 50);
            WaitFor(() => driver.Reports == 50);
            hc.Unplug("1");
            bed.Settle();
            Assert.That(driver.Stopped.Wait(5000), Is.True);
            Assert.That(driver.LastStatus, Is.EqualTo(UsbStatus.NoDevice));
            Assert.That(driver.ResubmitAfterStop, Is.EqualTo(UsbStatus.NoDevice));
            Assert.That(driver.Request.IsLinked, Is.False);
        }

        [Test]
        public void UnbindKillsTheStreamAndRebindRestartsIt()
        {
            using var bed = new TestBed();
            var driver = new StreamingDriver(bed.Dma);
            bed.Stack.RegisterDriver(driver);
            SimController hc = bed.AddController(2);
            SimDevice kbd = TopologyTests.Keyboard(UsbSpeed.High);
            hc.Plug("1", kbd);
            bed.Settle();
            UsbInterface intf = bed.Stack.FindInterface("1-1:1.0");
            Assert.That(bed.Stack.Unbind(intf), Is.EqualTo(UsbStatus.Ok));
            Assert.That(driver.LastStatus, Is.EqualTo(UsbStatus.Killed));
            Assert.That(driver.ResubmitAfterStop, Is.EqualTo(UsbStatus.Rejected), "resubmission during kill is refused");
            Assert.That(bed.Stack.Bind(intf, "stream"), Is.EqualTo(UsbStatus.Ok));
            Feed(hc, kbd, 3);
            WaitFor(() => driver.Reports == 3);
        }

        [Test]
        public void ADriverThatForgetsToKillStillLosesItsRequestsOnUnbind()
        {
            using var bed = new TestBed();
            var driver = new StreamingDriver(bed.Dma) { KillOnDisconnect = false };
            bed.Stack.RegisterDriver(driver);
            SimController hc = bed.AddController(2);
            hc.Plug("1", TopologyTests.Keyboard(UsbSpeed.High));
            bed.Settle();
            Assert.That(bed.Stack.Unbind(bed.Stack.FindInterface("1-1:1.0")), Is.EqualTo(UsbStatus.Ok));
            Assert.That(driver.Stopped.Wait(5000), Is.True);
            Assert.That(driver.LastStatus, Is.EqualTo(UsbStatus.Shutdown));
            Assert.That(driver.ResubmitAfterStop, Is.EqualTo(UsbStatus.Shutdown), "endpoint disabled while flushing");
            Assert.That(bed.Device("1-1").FindEndpoint(0x81).QueuedCount, Is.EqualTo(0));
        }
    }
}
