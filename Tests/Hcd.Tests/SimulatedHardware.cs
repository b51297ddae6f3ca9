using System;
using System.Threading;
using Drivers.Usb;
using NUnit.Framework;

namespace Hcd.Tests
{
    /// <summary>
    /// Plays the hardware for a driver on a simulated controller: a background thread runs one
    /// frame about every millisecond (<c>frame</c>: run the schedule, call the driver's interrupt
    /// handler when the controller asks for it) until <see cref="Stop"/>. The first exception the
    /// simulation throws (a schedule pointing at freed memory, a reserved bit written) ends the
    /// thread and is kept in <see cref="Error"/>, so the test fails with it in TearDown instead of
    /// crashing the test host.
    /// </summary>
    public sealed class HardwareThread
    {
        readonly Thread _thread;
        volatile bool _stop;
        volatile Exception _error;

        public HardwareThread(Action frame)
        {
            _thread = new Thread(() =>
            {
                while (!_stop)
                {
                    try
                    {
                        frame();
                    }
                    catch (Exception e)
                    {
                        _error = e;
                        return;
                    }
                    Thread.Sleep(1);
                }
            }) { IsBackground = true, Name = "simulated hardware" };
            _thread.Start();
        }

        /// <summary>What the simulation threw, or null.</summary>
        public Exception Error => _error;

        public ThreadState State => _thread.ThreadState;

        /// <summary>Ends the thread (waits up to 2 s for the frame in progress).</summary>
        public void Stop()
        {
            _stop = true;
            _thread.Join(2000);
        }

        /// <summary>
        /// The end of a simulation test: stops the thread, then the driver (<paramref name="stopDriver"/>),
        /// and fails the test if the simulation threw.
        /// </summary>
        public void StopAndCheck(Action stopDriver)
        {
            Stop();
            stopDriver();
            Assert.That(Error, Is.Null, "the simulated controller hit a bad schedule: " + Error);
        }
    }

    /// <summary>What the tests of drivers on simulated controllers (real USB core, real threads) share.</summary>
    public static class Simulation
    {
        /// <summary>Explores until the device at <paramref name="path"/> is enumerated (60 s at most); fails the test otherwise.</summary>
        public static UsbDevice WaitForDevice(UsbStack stack, string path)
        {
            stack.ExploreUntilIdle();
            UsbDevice device;
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while ((device = stack.FindDevice(path)) == null && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(20);
                stack.ExploreNow();
            }
            Assert.That(device, Is.Not.Null, "enumerated");
            return device;
        }
    }
}
