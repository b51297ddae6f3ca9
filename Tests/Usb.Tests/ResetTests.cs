using Drivers.Usb;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    [TestFixture]
    public class ResetTests
    {
        [Test]
        public void ResetDeviceReenumeratesTheSamePortWithDriversRebound()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2);
            hc.Plug("1", new SimDevice("QEMU USB Keyboard", UsbSpeed.High, Desc.Device(0x0627, 0x0001), Desc.KeyboardConfig()));
            bed.Settle();
            UsbDevice before = bed.Device("1-1");
            Assert.That(before, Is.Not.Null, bed.LogSink.All());
            Assert.That(bed.Stack.ResetDevice(before), Is.EqualTo(UsbStatus.Ok));
            bed.Settle();
            UsbDevice after = bed.Device("1-1");
            Assert.That(before.Destroyed, Is.True, "the old device object is gone");
            Assert.That(after, Is.Not.Null.And.Not.SameAs(before), bed.LogSink.All());
            Assert.That(after.Driver, Is.SameAs(bed.Stack.GenericDriver));
            Assert.That(bed.LogSink.All(), Does.Contain("usb 1-1: reset requested").And.Contain("usb 1-1: bound to driver usb"));
        }

        [Test]
        public void RootHubsAndMissingDevicesCannotBeReset()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            Assert.That(bed.Stack.ResetDevice(bed.Device("usb1")), Is.EqualTo(UsbStatus.InvalidArgument));
            Assert.That(bed.Stack.ResetDevice(null), Is.EqualTo(UsbStatus.NoDevice));
        }
    }
}
