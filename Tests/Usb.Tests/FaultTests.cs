using System;
using System.Diagnostics;
using System.Linq;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hub;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    /// <summary>Every enumeration fault ends in a clear status, a retry or a disabled port; never a hang or a crash.</summary>
    [TestFixture]
    public class FaultTests
    {
        static SimDevice Kbd() => TopologyTests.Keyboard(UsbSpeed.High);

        static bool IsDeviceDescriptorRead(SetupPacket s) =>
            s.bRequest == UsbRequestCode.GetDescriptor && (s.wValue >> 8) == DescriptorType.Device && s.bmRequestType == 0x80;

        static bool IsConfigRead(SetupPacket s) =>
            s.bRequest == UsbRequestCode.GetDescriptor && (s.wValue >> 8) == DescriptorType.Configuration;

        /// <summary>Plugs the device on root port 1 and settles; returns the enumerated device or null, checking the time bound.</summary>
        static UsbDevice PlugAndSettle(TestBed bed, SimDevice sim, string path = "1")
        {
            var watch = Stopwatch.StartNew();
            bed.Hc.Plug(path, sim);
            bed.Settle();
            Assert.That(watch.Elapsed.TotalSeconds, Is.LessThan(20), "enumeration must be bounded");
            return bed.Device("1-" + path);
        }

        static void AssertGaveUp(TestBed bed, string port = "1")
        {
            UsbHub root = bed.Device("usb1").Hub;
            Assert.That(root.GaveUp[int.Parse(port)], Is.True, bed.LogSink.All());
            Assert.That(bed.Hc.PortAt(port).Enabled, Is.False, "port disabled");
            Assert.That(bed.LogSink.Contains("unable to enumerate USB device"), Is.True);
            Assert.That(bed.Hc.AllocatedDevices, Is.EqualTo(0), "every failed attempt released its controller state");
        }

        [Test]
        public void DeviceThatFailsTheFirstDescriptorReadIsRetried()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            SimDevice sim = Kbd();
            sim.FailFirstDescriptorReads = 1;
            UsbDevice d = PlugAndSettle(bed, sim);
            Assert.That(d, Is.Not.Null, bed.LogSink.All());
            Assert.That(bed.Hc.PortAt("1").ResetCount, Is.GreaterThanOrEqualTo(2), "a second reset before the retry");
        }

        [Test]
        public void DeviceThatAlwaysFailsTheFirstReadIsPowerCycledThenItsPortDisabled()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            SimDevice sim = Kbd();
            sim.FailFirstDescriptorReads = int.MaxValue;
            Assert.That(PlugAndSettle(bed, sim), Is.Null);
            AssertGaveUp(bed);
            Assert.That(sim.PowerCycles, Is.EqualTo(1), "one power cycle half way");
            Assert.That(bed.LogSink.Contains("power cycling port"), Is.True);
            // Polling does not retry a port given up on...
            bed.Settle();
            Assert.That(bed.Device("1-1"), Is.Null);
            // ...but a new connection does.
            sim.FailFirstDescriptorReads = 0;
            bed.Hc.Unplug("1");
            bed.Settle();
            Assert.That(PlugAndSettle(bed, sim), Is.Not.Null);
        }

        [Test]
        public void StallOnDeviceDescriptorDisablesThePort()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            SimDevice sim = Kbd();
            sim.OnControl = (s, d) => IsDeviceDescriptorRead(s) ? SimResult.Stall : (SimResult?)null;
            Assert.That(PlugAndSettle(bed, sim), Is.Null);
            AssertGaveUp(bed);
        }

        [Test]
        public void NakForeverTimesOutAndDisablesThePort()
        {
            using var bed = new TestBed(scale: 200);
            bed.AddController(2);
            SimDevice sim = Kbd();
            sim.OnControl = (s, d) => IsDeviceDescriptorRead(s) ? SimResult.Nak : (SimResult?)null;
            Assert.That(PlugAndSettle(bed, sim), Is.Null);
            AssertGaveUp(bed);
            Assert.That(bed.LogSink.Contains(UsbStatusNames.Name(UsbStatus.Timeout)), Is.True);
            Assert.That(bed.Hc.PendingCount, Is.EqualTo(0), "timed-out requests were cancelled");
        }

        [Test]
        public void BabbleOnFirstReadDisablesThePort()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            SimDevice sim = Kbd();
            sim.OnControl = (s, d) => IsDeviceDescriptorRead(s) ? SimResult.Fail(UsbStatus.Babble) : (SimResult?)null;
            Assert.That(PlugAndSettle(bed, sim), Is.Null);
            AssertGaveUp(bed);
        }

        [Test]
        public void ShortFirstReadIsRejected()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            SimDevice sim = Kbd();
            sim.OnControl = (s, d) =>
            {
                if (!IsDeviceDescriptorRead(s)) return null;
                Array.Copy(sim.DeviceDescriptor, d, 4);
                return SimResult.Ok(4);
            };
            Assert.That(PlugAndSettle(bed, sim), Is.Null);
            AssertGaveUp(bed);
            Assert.That(bed.LogSink.Contains("descriptor too short"), Is.True);
        }

        [Test]
        public void WrongDescriptorLengthIsRejected()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            SimDevice sim = Kbd();
            sim.DeviceDescriptor[0] = 9;
            Assert.That(PlugAndSettle(bed, sim), Is.Null);
            AssertGaveUp(bed);
            Assert.That(bed.LogSink.Contains("invalid bLength"), Is.True);
        }

        [Test]
        public void InvalidMaxPacketSizeIsRejected()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            SimDevice sim = Kbd();
            sim.DeviceDescriptor[7] = 13;
            Assert.That(PlugAndSettle(bed, sim), Is.Null);
            AssertGaveUp(bed);
            Assert.That(bed.LogSink.Contains("invalid bMaxPacketSize0 13"), Is.True);
        }

        [Test]
        public void ConfigurationWhoseTotalLengthLiesIsRejected()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            byte[] config = Desc.KeyboardConfig();
            config[2] = (byte)(config.Length + 20);
            var sim = new SimDevice("liar", UsbSpeed.High, Desc.Device(0x1234, 0x5678), config);
            Assert.That(PlugAndSettle(bed, sim), Is.Null);
            AssertGaveUp(bed);
            Assert.That(bed.LogSink.Contains("descriptor truncated at offset 2"), Is.True, bed.LogSink.All());
        }

        [Test]
        public void OverlongConfigurationAnswerIsCutToWLength()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            SimDevice sim = Kbd();
            // The device answers every configuration read with 300 bytes; the controller stops at wLength.
            sim.OnControl = (s, d) =>
            {
                if (!IsConfigRead(s)) return null;
                byte[] big = new byte[300];
                Array.Copy(sim.Configurations[0], big, sim.Configurations[0].Length);
                Array.Copy(big, d, Math.Min(d.Length, big.Length));
                return SimResult.Ok(big.Length);
            };
            UsbDevice d0 = PlugAndSettle(bed, sim);
            Assert.That(d0, Is.Not.Null, bed.LogSink.All());
            Assert.That(d0.ActiveConfiguration.Raw.Length, Is.EqualTo(sim.Configurations[0].Length));
        }

        [Test]
        public void SetAddressFailingOnceIsRetried200MsLater()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            SimDevice sim = Kbd();
            sim.FailSetAddress = 1;
            Assert.That(PlugAndSettle(bed, sim), Is.Not.Null, bed.LogSink.All());
            Assert.That(sim.SetAddressCount, Is.EqualTo(2));
            Assert.That(bed.Clock.SleepList(), Does.Contain(HubTimings.SetAddressRetryMs));
        }

        [Test]
        public void PortResetThatNeverEnablesGivesUp()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            bed.Hc.PortAt("1").ResetFails = true;
            Assert.That(PlugAndSettle(bed, Kbd()), Is.Null);
            AssertGaveUp(bed);
        }

        [Test]
        public void ConfigurationStalledGivesAClearErrorAndNoDevice()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            SimDevice sim = Kbd();
            sim.OnControl = (s, d) => IsConfigRead(s) ? SimResult.Stall : (SimResult?)null;
            Assert.That(PlugAndSettle(bed, sim), Is.Null);
            AssertGaveUp(bed);
            Assert.That(bed.LogSink.Contains("unable to read config index 0 descriptor/start: stall (-EPIPE)"), Is.True);
        }

        [Test]
        public void SetConfigurationStallLeavesDeviceBoundButUnconfigured()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            SimDevice sim = Kbd();
            sim.OnControl = (s, d) => s.bRequest == UsbRequestCode.SetConfiguration ? SimResult.Stall : (SimResult?)null;
            UsbDevice dev = PlugAndSettle(bed, sim);
            Assert.That(dev, Is.Not.Null);
            Assert.That(dev.ActiveConfiguration, Is.Null);
            Assert.That(dev.Driver, Is.SameAs(bed.Stack.GenericDriver));
            Assert.That(bed.LogSink.Contains("can't set config #1, error stall (-EPIPE)"), Is.True);
        }

        [Test]
        public void MissingStringsAreNotFatal()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            SimDevice sim = Kbd();
            sim.Strings.Clear();
            UsbDevice dev = PlugAndSettle(bed, sim);
            Assert.That(dev, Is.Not.Null);
            Assert.That(dev.Product, Is.Null);
        }

        [Test]
        public void UnplugDuringEnumerationLeavesNothingBehind()
        {
            using var bed = new TestBed(scale: 200);
            bed.AddController(2);
            SimDevice sim = Kbd();
            SimController hc = bed.Hc;
            sim.OnControl = (s, d) =>
            {
                if (IsConfigRead(s))
                {
                    // Unplug from the controller's thread while the core is reading descriptors.
                    hc.RootPorts.Unplug(1);
                    return SimResult.Nak;
                }
                return null;
            };
            hc.Plug("1", sim);
            bed.Settle();
            Assert.That(bed.Device("1-1"), Is.Null);
            Assert.That(hc.AllocatedDevices, Is.EqualTo(0));
            Assert.That(bed.Device("usb1").Hub.GaveUp[1], Is.False, "an unplug is not a failure to give up on");
        }

        [Test]
        public void OverCurrentIsLoggedAndThePortRepowered()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            Assert.That(PlugAndSettle(bed, Kbd()), Is.Not.Null);
            bed.Hc.OverCurrent("1");
            bed.Settle();
            Assert.That(bed.LogSink.Contains("over-current condition"), Is.True);
            Assert.That(bed.Hc.PortAt("1").Powered, Is.True, "port powered again");
            Assert.That(bed.Device("1-1"), Is.Not.Null, "device re-enumerated after power returned");
        }

        [Test]
        public void HubWithBadHubDescriptorIsLeftWithoutHubDriver()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            var hub = new SimHub("bad hub", 4, UsbSpeed.High);
            hub.HubDescriptorOverride = new byte[] { 7, DescriptorType.Hub, 0, 0, 0, 0, 0 };
            UsbDevice d = PlugAndSettle(bed, hub);
            Assert.That(d, Is.Not.Null);
            Assert.That(d.IsHub, Is.False);
            Assert.That(bed.LogSink.Contains("bad hub descriptor: invalid field value at offset 2"), Is.True, bed.LogSink.All());
        }

        [Test]
        public void HubStatusEndpointErrorsFallBackToPolling()
        {
            using var bed = new TestBed();
            bed.AddController(2);
            var hub = new SimHub("hub", 2, UsbSpeed.High);
            Assert.That(PlugAndSettle(bed, hub), Is.Not.Null);
            bed.Hc.Mutate(() => { hub.Endpoint(SimHub.StatusEndpoint).Fault = UsbStatus.Stall; });
            bed.Hc.Plug("1.1", Kbd());
            bed.Settle();
            Assert.That(bed.Device("1-1.1"), Is.Not.Null);
            Assert.That(hub.ControlLog.Any(s => s.bRequest == UsbRequestCode.ClearFeature && s.bmRequestType == 0x02), Is.True,
                        "halt cleared before resubmitting");
        }

        [Test]
        public void TwoDevicesAppearingTogetherAreAddressedOneAtATime()
        {
            using var bed = new TestBed();
            bed.AddController(4);
            bed.Hc.Plug("1", Kbd());
            bed.Hc.Plug("2", Kbd());
            bed.Hc.Plug("3", Kbd());
            bed.Settle();
            Assert.That(bed.DeviceNames(), Is.EqualTo(new[] { "1-1", "1-2", "1-3", "usb1" }));
            Assert.That(bed.Hc.AddressZeroCollisions, Is.EqualTo(0));
        }
    }
}

namespace Usb.Tests
{
    [TestFixture]
    public class DebounceTests
    {
        [Test]
        public void BouncingConnectionFailsDebounceThenEnumeratesOnceStable()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2);
            hc.PortAt("1").FlapReads = 1000;
            hc.Plug("1", TopologyTests.Keyboard(UsbSpeed.High));
            bed.Stack.ExploreNow();
            Assert.That(bed.LogSink.Contains("connect-debounce failed"), Is.True);
            Assert.That(bed.Device("1-1"), Is.Null);
            hc.PortAt("1").FlapReads = 3;
            bed.Settle();
            Assert.That(bed.Device("1-1"), Is.Not.Null, "enumerated once the connection settled");
        }

        [Test]
        public void ShortBounceIsAbsorbedByDebounce()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2);
            hc.PortAt("1").FlapReads = 3;
            hc.Plug("1", TopologyTests.Keyboard(UsbSpeed.High));
            bed.Stack.ExploreNow();
            Assert.That(bed.Device("1-1"), Is.Not.Null);
            Assert.That(bed.LogSink.Contains("connect-debounce failed"), Is.False);
        }
    }
}
