using System;
using System.Collections.Generic;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using NUnit.Framework;
using Platform;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;
using static Tests.Support.Waiting;

namespace Usb.Tests
{
    [TestFixture]
    public class RequestTests
    {
        TestBed _bed;
        SimController _hc;
        SimDevice _sim;
        UsbDevice _dev;

        [SetUp]
        public void SetUp()
        {
            _bed = new TestBed();
            _hc = _bed.AddController(2);
            _sim = new SimDevice("disk", UsbSpeed.High, Desc.Device(0x46f4, 0x0001), Desc.StorageConfig());
            _hc.Plug("1", _sim);
            _bed.Settle();
            _dev = _bed.Device("1-1");
            Assert.That(_dev, Is.Not.Null);
        }

        [TearDown]
        public void TearDown() => _bed.Dispose();

        sealed class Done
        {
            public readonly ManualResetEventSlim Event = new ManualResetEventSlim();
            public readonly List<string> Order = new List<string>();
        }

        UsbRequest Bulk(byte ep, int length, Done done, string tag, UsbCompletion extra = null)
        {
            var r = new UsbRequest
            {
                Device = _dev,
                Endpoint = _dev.FindEndpoint(ep),
                Buffer = _bed.Dma.Allocate((uint)Math.Max(length, 1), 64, DmaLimit.Below4G),
                Length = length,
            };
            r.Completion = req =>
            {
                lock (done.Order)
                    done.Order.Add(tag + ":" + UsbStatusNames.Name(req.Status));
                extra?.Invoke(req);
                done.Event.Set();
            };
            return r;
        }

        [Test]
        public void BulkInCompletesWithData()
        {
            _sim.Endpoint(0x81).InData.Enqueue(new byte[] { 1, 2, 3 });
            byte[] buffer = new byte[512];
            UsbStatus s = UsbMessages.Bulk(_dev, 0x81, buffer, 1000, out int actual);
            Assert.That(s, Is.EqualTo(UsbStatus.Ok));
            Assert.That(actual, Is.EqualTo(3));
            Assert.That(buffer[2], Is.EqualTo(3));
        }

        [Test]
        public void BulkOutDeliversData()
        {
            UsbStatus s = UsbMessages.Bulk(_dev, 0x02, new byte[] { 9, 8, 7 }, 1000, out int actual);
            Assert.That(s, Is.EqualTo(UsbStatus.Ok));
            Assert.That(actual, Is.EqualTo(3));
            Assert.That(_sim.Endpoint(0x02).OutData[0], Is.EqualTo(new byte[] { 9, 8, 7 }));
        }

        [Test]
        public void ShortReadIsOkUnlessShortNotOk()
        {
            var done = new Done();
            _sim.Endpoint(0x81).InData.Enqueue(new byte[] { 1 });
            UsbRequest r = Bulk(0x81, 64, done, "a");
            r.Flags = UsbRequestFlags.ShortNotOk;
            Assert.That(_bed.Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            Assert.That(done.Event.Wait(5000), Is.True);
            Assert.That(r.Status, Is.EqualTo(UsbStatus.ShortPacket));
            Assert.That(r.ActualLength, Is.EqualTo(1));
        }

        [Test]
        public void SyncHelperTimesOutAndCancelsOnNakForever()
        {
            ulong start = _bed.Clock.Milliseconds;
            UsbStatus s = UsbMessages.Bulk(_dev, 0x81, new byte[64], 2000, out int actual);
            Assert.That(s, Is.EqualTo(UsbStatus.Timeout));
            Assert.That(actual, Is.EqualTo(0));
            Assert.That(_bed.Clock.Milliseconds - start, Is.GreaterThanOrEqualTo(1900));
            Assert.That(_dev.FindEndpoint(0x81).QueuedCount, Is.EqualTo(0));
            Assert.That(_hc.PendingCount, Is.EqualTo(0));
        }

        [Test]
        public void UnlinkCompletesWithCancelledAsynchronously()
        {
            var done = new Done();
            UsbRequest r = Bulk(0x81, 64, done, "a");
            Assert.That(_bed.Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bed.Bus.Submit(r), Is.EqualTo(UsbStatus.Busy), "already queued");
            Assert.That(_bed.Bus.Unlink(r), Is.EqualTo(UsbStatus.Ok));
            Assert.That(done.Event.Wait(5000), Is.True);
            Assert.That(r.Status, Is.EqualTo(UsbStatus.Cancelled));
            WaitFor(() => !r.IsLinked);
            Assert.That(_bed.Bus.Unlink(r), Is.EqualTo(UsbStatus.NotQueued));
        }

        [Test]
        public void KillWaitsForTheCompletionAndRefusesResubmission()
        {
            var done = new Done();
            UsbStatus resubmit = UsbStatus.InProgress;
            UsbRequest r = null;
            r = Bulk(0x81, 64, done, "a", req => { Thread.Sleep(50); resubmit = _bed.Bus.Submit(req); });
            Assert.That(_bed.Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bed.Bus.Kill(r), Is.EqualTo(UsbStatus.Ok));
            // Kill returned: the completion has run to its end.
            Assert.That(done.Order, Is.EqualTo(new[] { "a:" + UsbStatusNames.Name(UsbStatus.Killed) }));
            Assert.That(resubmit, Is.EqualTo(UsbStatus.Rejected));
            Assert.That(r.IsLinked, Is.False);
            // After the kill, the request may be submitted again.
            _sim.Endpoint(0x81).InData.Enqueue(new byte[] { 5 });
            done.Event.Reset();
            r.Completion = req => done.Event.Set();
            Assert.That(_bed.Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            Assert.That(done.Event.Wait(5000), Is.True);
            Assert.That(r.Status, Is.EqualTo(UsbStatus.Ok));
        }

        [Test]
        public void AfterAnErrorTheQueueWaitsForTheCompletionToReturn()
        {
            var done = new Done();
            _sim.Endpoint(0x81).Fault = UsbStatus.Stall;
            _sim.Endpoint(0x81).InData.Enqueue(new byte[] { 1 });
            _sim.Endpoint(0x81).InData.Enqueue(new byte[] { 2 });
            bool laterCompletedDuringHandler = false;
            UsbRequest second = null, third = null;
            UsbRequest first = Bulk(0x81, 8, done, "1", req =>
            {
                Assert.That(req.Endpoint.IsStopped, Is.True);
                Thread.Sleep(100);
                laterCompletedDuringHandler = second.Status != UsbStatus.InProgress;
                // The driver unlinks the rest of its queue from the completion, as Linux drivers do.
                _bed.Bus.Unlink(third);
            });
            second = Bulk(0x81, 8, done, "2");
            third = Bulk(0x81, 8, done, "3");
            Assert.That(_bed.Bus.Submit(first), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bed.Bus.Submit(second), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_bed.Bus.Submit(third), Is.EqualTo(UsbStatus.Ok));
            WaitFor(() => done.Order.Count == 3);
            Assert.That(laterCompletedDuringHandler, Is.False);
            Assert.That(done.Order[0], Is.EqualTo("1:" + UsbStatusNames.Name(UsbStatus.Stall)));
            // The endpoint is still halted on the device: the second request stalls too, the third was unlinked.
            Assert.That(done.Order, Does.Contain("3:" + UsbStatusNames.Name(UsbStatus.Cancelled)));
            Assert.That(second.Status, Is.EqualTo(UsbStatus.Stall));

            Assert.That(UsbMessages.ClearHalt(_dev, 0x81), Is.EqualTo(UsbStatus.Ok));
            byte[] buffer = new byte[8];
            Assert.That(UsbMessages.Bulk(_dev, 0x81, buffer, 1000, out int n), Is.EqualTo(UsbStatus.Ok));
            Assert.That(buffer[0], Is.EqualTo(1));
        }

        [Test]
        public void BabbleAndTransactionErrorsAreReported()
        {
            _sim.Endpoint(0x81).InData.Enqueue(new byte[600]);
            Assert.That(UsbMessages.Bulk(_dev, 0x81, new byte[512], 1000, out int _), Is.EqualTo(UsbStatus.Babble));
            _sim.Endpoint(0x81).Fault = UsbStatus.TransactionError;
            Assert.That(UsbMessages.Bulk(_dev, 0x81, new byte[512], 1000, out int _), Is.EqualTo(UsbStatus.TransactionError));
            _sim.Endpoint(0x02).Fault = UsbStatus.DataError;
            Assert.That(UsbMessages.Bulk(_dev, 0x02, new byte[4], 1000, out int _), Is.EqualTo(UsbStatus.DataError));
        }

        [Test]
        public void InvalidSubmissionsAreRefused()
        {
            var done = new Done();
            UsbRequest r = Bulk(0x81, 64, done, "a");
            r.Length = 100000;
            Assert.That(_bed.Bus.Submit(r), Is.EqualTo(UsbStatus.InvalidArgument));
            Assert.That(_bed.Bus.Submit(new UsbRequest()), Is.EqualTo(UsbStatus.InvalidArgument));
            Assert.That(UsbMessages.Bulk(_dev, 0x83, new byte[4], 1000, out int _), Is.EqualTo(UsbStatus.InvalidArgument));
            Assert.That(UsbMessages.Interrupt(_dev, 0x81, new byte[4], 1000, out int _), Is.EqualTo(UsbStatus.InvalidArgument), "wrong type");
        }

        [Test]
        public void DisconnectInTheMiddleOfATransferCompletesItWithNoDevice()
        {
            var done = new Done();
            var driver = new RecordingInterfaceDriver("usb-storage", UsbDeviceId.InterfaceClass(UsbClass.MassStorage));
            UsbRequest r = Bulk(0x81, 64, done, "a");
            string statusAtDisconnect = null;
            driver.OnDisconnect = intf => statusAtDisconnect = UsbStatusNames.Name(r.Status);
            _bed.Stack.RegisterDriver(driver);
            Assert.That(_bed.Bus.Submit(r), Is.EqualTo(UsbStatus.Ok));
            _hc.Unplug("1");
            _bed.Settle();
            Assert.That(done.Event.Wait(5000), Is.True);
            Assert.That(r.Status, Is.EqualTo(UsbStatus.NoDevice));
            Assert.That(statusAtDisconnect, Is.EqualTo(UsbStatusNames.Name(UsbStatus.NoDevice)), "requests finish before the driver's disconnect");
            Assert.That(_bed.Bus.Submit(r), Is.EqualTo(UsbStatus.NoDevice));
            Assert.That(UsbMessages.Bulk(_dev, 0x02, new byte[4], 1000, out int _), Is.EqualTo(UsbStatus.NoDevice));
            Assert.That(UsbMessages.Control(_dev, 0x80, UsbRequestCode.GetStatus, 0, 0, new byte[2], 1000, out int _), Is.EqualTo(UsbStatus.NoDevice));
        }

        [Test]
        public void ControlRequestsAndStandardHelpers()
        {
            Assert.That(UsbMessages.GetStatus(_dev, RequestType.RecipientDevice, 0, out ushort status), Is.EqualTo(UsbStatus.Ok));
            Assert.That(UsbMessages.GetString(_dev, 2, LanguageId.EnglishUs, out string text), Is.EqualTo(UsbStatus.Ok));
            Assert.That(text, Is.EqualTo("disk"));
            Assert.That(UsbMessages.GetString(_dev, 9, LanguageId.EnglishUs, out text), Is.EqualTo(UsbStatus.Stall));
            byte[] d = new byte[18];
            Assert.That(UsbMessages.GetDescriptor(_dev, DescriptorType.Device, 0, 0, d, 1000, out int n), Is.EqualTo(UsbStatus.Ok));
            Assert.That(n, Is.EqualTo(18));
            Assert.That(UsbMessages.Control(_dev, 0x40, 0x99, 0, 0, UsbMessages.NoData, 1000, out n), Is.EqualTo(UsbStatus.Stall));
        }

        [Test]
        public void ControlTimeoutIsBoundedAndTheDeviceStaysUsable()
        {
            bool nak = true;
            _sim.OnControl = (setup, data) => setup.bRequest == 0x42 && nak ? SimResult.Nak : (SimResult?)null;
            Assert.That(UsbMessages.Control(_dev, 0xC0, 0x42, 0, 0, new byte[4], 500, out int _), Is.EqualTo(UsbStatus.Timeout));
            nak = false;
            Assert.That(UsbMessages.GetStatus(_dev, RequestType.RecipientDevice, 0, out ushort _), Is.EqualTo(UsbStatus.Ok));
        }

        [Test]
        public void DmaBuffersOfSyncHelpersAreFreed()
        {
            int before = _bed.Dma.Outstanding;
            for (int i = 0; i < 20; i++)
                UsbMessages.GetStatus(_dev, RequestType.RecipientDevice, 0, out ushort _);
            UsbMessages.Bulk(_dev, 0x81, new byte[64], 200, out int _);
            Assert.That(_bed.Dma.Outstanding, Is.EqualTo(before));
        }

        [Test]
        public void OutOfDmaMemoryIsReported()
        {
            _bed.Dma.FailAfter = 0;
            Assert.That(UsbMessages.GetStatus(_dev, RequestType.RecipientDevice, 0, out ushort _), Is.EqualTo(UsbStatus.NoMemory));
            _bed.Dma.FailAfter = -1;
        }
    }
}

namespace Usb.Tests
{
    [TestFixture]
    public class VanishingDeviceTests
    {
        [Test]
        public void ThreeStrikesControllerReportsTransactionErrorThenTheCoreRemovesTheDevice()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.High, h => h.VanishedDevicesNak = false);
            var sim = new SimDevice("disk", UsbSpeed.High, Desc.Device(0x46f4, 0x0001), Desc.StorageConfig());
            hc.Plug("1", sim);
            bed.Settle();
            UsbDevice dev = bed.Device("1-1");
            hc.Unplug("1");
            Assert.That(UsbMessages.Bulk(dev, 0x81, new byte[8], 1000, out int _), Is.EqualTo(UsbStatus.TransactionError));
            bed.Settle();
            Assert.That(dev.Destroyed, Is.True);
            Assert.That(UsbMessages.Bulk(dev, 0x81, new byte[8], 1000, out int _), Is.EqualTo(UsbStatus.NoDevice));
        }
    }
}
