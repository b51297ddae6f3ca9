using System;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Hcd;
using Drivers.Usb.Hcd.Uhci;
using Hcd.Tests.Uhci;
using NUnit.Framework;
using Tests.Support;

namespace Hcd.Tests
{
    /// <summary>Drivers.Usb.Hcd/Common/InterruptWatchdog.cs alone, then a UHCI whose interrupt line is dead, on the simulated controller.</summary>
    public class InterruptWatchdogTests
    {
        [Test]
        public void PendingStatusWithoutAnyInterrupt_IsGivenUpAfterTheBound()
        {
            var clock = new ManualClock();
            using var log = new LogCapture(clock);
            var w = new InterruptWatchdog(clock, "xhci_hcd 0000:00:04.0: ");
            Assert.That(w.Observe(true), Is.False, "one sighting proves nothing");
            clock.Sleep(InterruptWatchdog.SilenceBoundMs - 1);
            Assert.That(w.Observe(true), Is.False, "not yet past the bound");
            Assert.That(w.Observe(false), Is.False);
            clock.Sleep(1);
            Assert.That(w.Observe(true), Is.True);
            Assert.That(w.LineDead, Is.True);
            Assert.That(log.Contains("xhci_hcd 0000:00:04.0: no interrupt arrived while status was pending for 250 ms: the interrupt line is wrong or missing; polling every millisecond instead"),
                        Is.True, log.ToString());
            Assert.That(w.Observe(false), Is.True, "stays dead");
            Assert.That(log.Lines, Has.Count.EqualTo(1), "logged once");
        }

        [Test]
        public void AWorkingLine_NeverTriggers()
        {
            var clock = new ManualClock();
            var w = new InterruptWatchdog(clock, "t: ");
            for (int i = 0; i < 1000; i++)
            {
                // The poll sometimes sees status before the handler ran (it runs right after).
                Assert.That(w.Observe(i % 3 == 0), Is.False, "pass " + i);
                w.HandlerCalled();
                clock.Sleep(100);
            }
            Assert.That(w.LineDead, Is.False);
        }

        [Test]
        public void AnIdleController_NeverTriggers()
        {
            var clock = new ManualClock();
            var w = new InterruptWatchdog(clock, "t: ");
            for (int i = 0; i < 1000; i++)
            {
                Assert.That(w.Observe(false), Is.False);
                clock.Sleep(50);
            }
        }

        /// <summary>
        /// The simulated UHCI runs frames; with <paramref name="lineWorks"/> false it never calls the
        /// interrupt handler, as when the PCI Interrupt Line is wrong. Enumeration and a bulk transfer
        /// work both ways; the dead line is noticed, logged and replaced by 1 ms polling.
        /// </summary>
        [TestCase(true)]
        [TestCase(false)]
        public void Uhci_DeadLineIsNoticedAndPollingTakesOver(bool lineWorks)
        {
            var clock = new RealClock();
            using var log = new LogCapture(clock);
            var dma = new TrackingDma();
            var sim = new SimUhci(dma);
            var threading = new RealThreading();
            var hc = new UhciHostController(sim, clock, threading, dma, "0000:00:01.2");
            Assert.That(hc.Reset(), Is.True);
            Assert.That(hc.AllocateSchedule(), Is.True);
            hc.InterruptAttached = true;
            var stack = new UsbStack(clock, threading);
            var hardware = new HardwareThread(() =>
            {
                if (sim.RunFrame() && lineWorks)
                    hc.HandleInterrupt();
            });
            try
            {
                sim.Connect(1, new SimFunction());
                stack.AddController(hc, dma);
                UsbDevice device = Simulation.WaitForDevice(stack, "1-1");
                var buffer = new byte[256];
                Assert.That(UsbMessages.Bulk(device, 0x81, buffer, 2000, out int actual), Is.EqualTo(UsbStatus.Ok));
                Assert.That(actual, Is.EqualTo(150));
                for (int i = 0; i < 100 && !lineWorks && !hc.InterruptLineDead; i++)
                    Thread.Sleep(20);
                Assert.That(hc.InterruptLineDead, Is.EqualTo(!lineWorks), log.ToString());
                Assert.That(hc.InterruptAttached, Is.EqualTo(lineWorks));
                Assert.That(log.Contains("uhci_hcd 0000:00:01.2: no interrupt arrived while status was pending"), Is.EqualTo(!lineWorks), log.ToString());
                Assert.That(UsbMessages.Bulk(device, 0x81, buffer, 2000, out actual), Is.EqualTo(UsbStatus.Ok), "still works afterwards");
            }
            finally
            {
                hardware.Stop();
                hc.Stop();
            }
            Assert.That(hardware.Error, Is.Null);
        }
    }
}
