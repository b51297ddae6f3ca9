using System;
using System.Collections.Generic;
using Net;
using Platform;
using Tests.Support;

namespace Net.Tests
{
    /// <summary>A network device whose frames go into a list (transmit) and come from a queue (receive).</summary>
    public sealed class SimDevice : INetDevice
    {
        public readonly List<byte[]> Sent = new List<byte[]>();
        public readonly Queue<byte[]> Inbox = new Queue<byte[]>();
        public bool Link = true;
        public readonly object Gate = new object();

        public bool LinkUp => Link;

        public bool Transmit(byte[] frame, int length)
        {
            var copy = new byte[length];
            Array.Copy(frame, copy, length);
            lock (Gate) Sent.Add(copy);
            return true;
        }

        public int PollReceive(NetInterface iface, int budget)
        {
            int n = 0;
            while (n < budget)
            {
                byte[] f;
                lock (Gate)
                {
                    if (Inbox.Count == 0) break;
                    f = Inbox.Dequeue();
                }
                iface.Input(f, f.Length);
                n++;
            }
            return n;
        }

        public List<byte[]> TakeSent()
        {
            lock (Gate)
            {
                var l = new List<byte[]>(Sent);
                Sent.Clear();
                return l;
            }
        }
    }

    /// <summary>
    /// Two stacks joined by a simulated Ethernet segment that can lose, reorder and duplicate
    /// frames (seeded, so a failure replays). Time is a manual clock stepped by <see cref="Run"/>.
    /// </summary>
    public sealed class TwoHosts
    {
        public readonly ManualClock Clock = new ManualClock();
        public readonly NetStack A, B;
        public readonly SimDevice DevA = new SimDevice(), DevB = new SimDevice();
        public readonly NetInterface IfA, IfB;
        public static readonly Ip4Address IpA = new Ip4Address(10, 0, 0, 1), IpB = new Ip4Address(10, 0, 0, 2);
        public static readonly Ip4Address Mask = new Ip4Address(255, 255, 255, 0);
        public double Loss, Reorder, Duplicate;
        /// <summary>Extra hook: sees (and may drop, by returning false) each frame going from A to B.</summary>
        public Func<byte[], bool> FilterAtoB, FilterBtoA;
        readonly Random _random;
        readonly List<(ulong at, bool toB, byte[] frame)> _inFlight = new();
        public ulong LatencyMs = 1;
        public int FramesDropped;

        public TwoHosts(int seed = 1)
        {
            _random = new Random(seed);
            A = new NetStack(Clock, new InlineThreading());
            B = new NetStack(Clock, new InlineThreading());
            IfA = new NetInterface("a0", new MacAddress(0x020000000001), NetInterface.DefaultMtu, DevA);
            IfB = new NetInterface("b0", new MacAddress(0x020000000002), NetInterface.DefaultMtu, DevB);
            A.AddInterface(IfA, false, IpA, Mask, Ip4Address.Any);
            B.AddInterface(IfB, false, IpB, Mask, Ip4Address.Any);
        }

        void Carry(SimDevice from, bool toB, Func<byte[], bool> filter)
        {
            foreach (var f in from.TakeSent())
            {
                if (filter != null && !filter(f)) { FramesDropped++; continue; }
                if (_random.NextDouble() < Loss) { FramesDropped++; continue; }
                ulong delay = LatencyMs + (_random.NextDouble() < Reorder ? (ulong)_random.Next(1, 20) : 0);
                _inFlight.Add((Clock.Milliseconds + delay, toB, f));
                if (_random.NextDouble() < Duplicate)
                    _inFlight.Add((Clock.Milliseconds + delay + (ulong)_random.Next(0, 5), toB, f));
            }
        }

        /// <summary>Advances time in 1 ms steps, moving frames and polling both stacks.</summary>
        public void Run(ulong ms, Func<bool> until = null)
        {
            for (ulong t = 0; t < ms; t++)
            {
                Step();
                if (until != null && until()) return;
            }
        }

        public void Step()
        {
            Carry(DevA, true, FilterAtoB);
            Carry(DevB, false, FilterBtoA);
            ulong now = Clock.Milliseconds;
            for (int i = 0; i < _inFlight.Count; i++)
                if (_inFlight[i].at <= now)
                {
                    (_inFlight[i].toB ? DevB : DevA).Inbox.Enqueue(_inFlight[i].frame);
                    _inFlight.RemoveAt(i--);
                }
            A.Poll();
            B.Poll();
            Clock.Advance(1);
        }
    }
}
