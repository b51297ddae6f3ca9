using Drivers.Usb;
using Drivers.Usb.Hcd.Ohci;
using Hcd.Tests.Uhci;
using NUnit.Framework;
using Tests.Support;

namespace Hcd.Tests.Ohci
{
    /// <summary>
    /// Base of the fixtures that run the OHCI driver on a <see cref="SimOhci"/> (two root ports) with
    /// the real USB core, real threads and a wall clock. Before each test: the controller is reset and
    /// a <see cref="HardwareThread"/> runs its frames; the bus is not added to the stack yet (fixtures
    /// connect their devices first or not). After each test: hardware and driver stopped, and the test
    /// fails if the simulation threw.
    /// </summary>
    public abstract class OhciSimulationFixture
    {
        protected TrackingDma Dma;
        protected SimOhci Sim;
        protected OhciController Hc;
        protected UsbStack Stack;
        protected HardwareThread Hardware;

        protected UsbBus Bus => Stack.Buses[0];

        [SetUp]
        public void StartSimulation()
        {
            Dma = new TrackingDma();
            Sim = new SimOhci(Dma, 2);
            var clock = new RealClock();
            var threading = new RealThreading();
            Hc = new OhciController(Sim, clock, threading, Dma, "0000:00:05.0");
            Assert.That(Hc.Reset(), Is.EqualTo(UsbStatus.Ok));
            Stack = new UsbStack(clock, threading);
            Hardware = new HardwareThread(() =>
            {
                if (Sim.RunFrame())
                    Hc.HandleInterrupt();
            });
        }

        [TearDown]
        public void StopSimulation() => Hardware.StopAndCheck(Hc.Stop);
    }
}
