using System;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Storage;
using NUnit.Framework;
using Tests.Support;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;
using Usb.Tests.Storage;

namespace UsbIp.Tests
{
    /// <summary>A simulated bus with usb-storage and usbip-host registered, and sessions over in-memory connections.</summary>
    public sealed class Rig : IDisposable
    {
        public readonly TestBed Bed = new TestBed();
        public readonly UsbStorageDriver Storage;
        public readonly UsbIpHostDriver Host;
        public readonly SimController Hc;

        public Rig()
        {
            Storage = UsbStorageDriver.Register(Bed.Stack);
            Host = UsbIpHostDriver.Register(Bed.Stack);
            Hc = Bed.AddController(4, UsbSpeed.High);
        }

        public T Plug<T>(string port, T device) where T : SimDevice
        {
            Hc.Plug(port, device);
            Bed.Settle();
            return device;
        }

        /// <summary>A disk whose every byte is a function of its offset.</summary>
        public SimBotDevice PlugDisk(string port, int blocks = 2048)
        {
            var disk = new SimBotDevice(blocks);
            for (int i = 0; i < disk.Image.Length; i++)
                disk.Image[i] = Pattern(i);
            int before = Storage.Disks.Length;
            Plug(port, disk);
            WaitFor(() => Storage.Disks.Length > before, "disk attached");
            return disk;
        }

        public static byte Pattern(long offset) => (byte)(offset * 7 + (offset >> 9) * 13 + 1);

        public static SimDevice Keyboard() =>
            new SimDevice("QEMU USB Keyboard", UsbSpeed.High, Desc.Device(0x0627, 0x0001), Desc.KeyboardConfig());

        /// <summary>A session of the server over a fresh in-memory connection, running on its own thread.</summary>
        public Connection Connect()
        {
            var client = new TestClient();
            var server = new MemoryConnection(client.ToServer, client.FromServer, Bed.Clock);
            var session = new UsbIpSession(Host, server);
            var thread = new Thread(session.Run) { IsBackground = true, Name = "test usbip session" };
            thread.Start();
            return new Connection { Client = client, Session = session, Thread = thread, Server = server };
        }

        public sealed class Connection
        {
            public TestClient Client;
            public UsbIpSession Session;
            public Thread Thread;
            public MemoryConnection Server;

            public void WaitEnded(string what = "session end")
            {
                Assert.That(Thread.Join(TimeSpan.FromSeconds(15)), Is.True, "session did not end: " + what);
            }
        }

        /// <summary>Polls until <paramref name="condition"/> holds; fails the test after 15 s.</summary>
        public static void WaitFor(Func<bool> condition, string what) => Waiting.WaitFor(condition, what, seconds: 15);

        public void Dispose() => Bed.Dispose();
    }
}
