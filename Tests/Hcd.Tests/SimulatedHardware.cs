using System;
using System.Collections.Generic;
using System.Threading;
using Drivers.Usb;
using NUnit.Framework;
using Platform;

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
    }

    /// <summary>What the tests of drivers on simulated controllers (real USB core, real threads) share.</summary>
    public static class Simulation
    {
        /// <summary>Polls <paramref name="condition"/> every millisecond; fails the test after 10 s.</summary>
        public static void WaitFor(Func<bool> condition)
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (!condition())
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "timed out");
                Thread.Sleep(1);
            }
        }

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

        /// <summary>
        /// An isochronous request of <paramref name="packets"/> packets of <paramref name="packetBytes"/>
        /// each, in a fresh DMA buffer with the packets <paramref name="stride"/> bytes apart (default:
        /// back to back); its completion adds it to <paramref name="done"/>.
        /// </summary>
        public static UsbRequest IsoRequest(IDmaAllocator dma, UsbDevice device, UsbEndpoint endpoint, int packets, int packetBytes,
            List<UsbRequest> done, int flags = UsbRequestFlags.IsoAsap, int stride = 0)
        {
            if (stride == 0)
                stride = packetBytes;
            var r = new UsbRequest
            {
                Device = device,
                Endpoint = endpoint,
                Buffer = dma.Allocate((uint)(packets * stride), UsbBus.DmaAlignment, DmaLimit.Below4G),
                Flags = flags,
            };
            r.SetIsoPackets(packets, packetBytes);
            r.Length = packets * stride;
            for (int i = 0; i < packets; i++)
                r.IsoPackets[i].Offset = i * stride;
            r.Completion = req => { lock (done) done.Add(req); };
            return r;
        }
    }
}
