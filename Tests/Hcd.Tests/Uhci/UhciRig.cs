using Drivers.Usb;
using Drivers.Usb.Hcd.Uhci;
using NUnit.Framework;
using Tests.Support;

namespace Hcd.Tests.Uhci
{
    /// <summary>
    /// The UHCI driver on a <see cref="SimUhci"/> with the real USB core, real threads and a wall
    /// clock: the controller is reset, its schedule allocated, and a <see cref="HardwareThread"/>
    /// runs its frames. The bus is not added to the stack yet (tests look at the halted controller first).
    /// </summary>
    public sealed class UhciRig
    {
        public readonly TrackingDma Dma = new TrackingDma();
        public readonly SimUhci Sim;
        public readonly UhciHostController Hc;
        public readonly UsbStack Stack;
        public readonly HardwareThread Hardware;

        public UhciRig()
        {
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

        /// <summary>Stops the hardware and the driver; fails the test if the simulation threw.</summary>
        public void Stop()
        {
            Hardware.Stop();
            Hc.Stop();
            Assert.That(Hardware.Error, Is.Null, "the simulated controller hit a bad schedule: " + Hardware.Error);
        }
    }
}
