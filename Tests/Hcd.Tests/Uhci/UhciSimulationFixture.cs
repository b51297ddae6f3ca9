using Drivers.Usb;
using Drivers.Usb.Hcd.Uhci;
using NUnit.Framework;
using Tests.Support;

namespace Hcd.Tests.Uhci
{
    /// <summary>
    /// Base of the fixtures that run the UHCI driver on a <see cref="SimUhci"/> with the real USB
    /// core, real threads and a wall clock. Before each test: the controller is reset, its schedule
    /// allocated, and a <see cref="HardwareThread"/> runs its frames; the bus is not added to the
    /// stack yet (tests look at the halted controller first). After each test: hardware and driver
    /// stopped, and the test fails if the simulation threw.
    /// </summary>
    public abstract class UhciSimulationFixture
    {
        protected TrackingDma Dma;
        protected SimUhci Sim;
        protected UhciHostController Hc;
        protected UsbStack Stack;
        protected HardwareThread Hardware;

        [SetUp]
        public void StartSimulation()
        {
            Dma = new TrackingDma();
            Sim = new SimUhci(Dma);
            var clock = new RealClock();
            var threading = new RealThreading();
            Hc = new UhciHostController(Sim, clock, threading, Dma, "0000:00:01.2");
            Assert.That(Hc.Reset(), Is.True);
            Assert.That(Hc.AllocateSchedule(), Is.True);
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
