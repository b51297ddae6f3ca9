using System;
using System.Collections.Generic;
using Drivers.Usb;
using Platform;
using Usb.Tests.Simulation;

namespace Usb.Tests.Infrastructure
{
    /// <summary>A USB stack on a simulated controller with fake time, plus helpers.</summary>
    public sealed class TestBed : IDisposable
    {
        public readonly TestClock Clock;
        public readonly TestThreading Threading;
        public readonly HeapDma Dma = new HeapDma();
        public readonly TestLogSink LogSink = new TestLogSink();
        public readonly UsbStack Stack;
        public readonly List<SimController> Controllers = new List<SimController>();
        public readonly List<string> Events = new List<string>();

        public TestBed(int scale = 20)
        {
            Clock = new TestClock(scale);
            Threading = new TestThreading(Clock);
            Log.Attach(LogSink, Clock);
            Log.MinimumLevel = LogLevel.Debug;
            Stack = new UsbStack(Clock, Threading);
            Stack.DeviceAdded += d => { lock (Events) Events.Add("add " + d.Name); };
            Stack.DeviceRemoved += d => { lock (Events) Events.Add("remove " + d.Name); };
        }

        public SimController AddController(int ports = 4, UsbSpeed speed = UsbSpeed.High, Action<SimController> setup = null)
        {
            var hc = new SimController(ports, speed);
            setup?.Invoke(hc);
            Controllers.Add(hc);
            Stack.AddController(hc, Dma);
            return hc;
        }

        public SimController Hc => Controllers[0];
        public UsbBus Bus => Stack.Buses[0];

        public void Settle() => Stack.ExploreUntilIdle();

        public UsbDevice Device(string name) => Stack.FindDevice(name);

        public List<string> DeviceNames()
        {
            var names = new List<string>();
            foreach (UsbBus bus in Stack.Buses)
                foreach (UsbDevice d in bus.Devices)
                    names.Add(d.Name);
            names.Sort(StringComparer.Ordinal);
            return names;
        }

        public void Dispose()
        {
            Stack.Stop();
            foreach (UsbBus bus in Stack.Buses.ToArray())
                Stack.RemoveController(bus);
        }
    }
}
