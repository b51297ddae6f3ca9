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
            // Found by faultfuzz seed 7037: a report already waiting when the mouse is probed completes as
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

        [TestCase(7003)]
        [TestCase(7037)]
        public void FoundBySeed(int seed)
        {
            FaultSequenceResult r = FaultFuzzer.RunOne(seed);
            Assert.That(r.Failure, Is.Null, r.Describe());
        }
    }
}
