using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using Net;
using NUnit.Framework;
using Tests.Support;

namespace Net.Tests
{
    /// <summary>
    /// The blocking socket API with real threads: two stacks, each with its own "net" thread, joined
    /// by a wire that hands frames across and wakes the receiver (as an interrupt would).
    /// </summary>
    [TestFixture]
    public sealed class SocketApiTests
    {
        sealed class WireDevice : INetDevice
        {
            public WireDevice Peer;
            public NetInterface Iface;
            readonly ConcurrentQueue<byte[]> _inbox = new ConcurrentQueue<byte[]>();
            public bool LinkUp => true;

            public bool Transmit(byte[] frame, int length)
            {
                var copy = new byte[length];
                Array.Copy(frame, copy, length);
                Peer._inbox.Enqueue(copy);
                Peer.Iface?.RequestPoll();
                return true;
            }

            public int PollReceive(NetInterface iface, int budget)
            {
                int n = 0;
                while (n < budget && _inbox.TryDequeue(out byte[] f)) { iface.Input(f, f.Length); n++; }
                return n;
            }
        }

        static (NetStack a, NetStack b) Pair()
        {
            var clock = new RealClock();
            var threads = new RealThreading();
            var a = new NetStack(clock, threads);
            var b = new NetStack(clock, threads);
            var da = new WireDevice();
            var db = new WireDevice { Peer = da };
            da.Peer = db;
            da.Iface = new NetInterface("a0", new MacAddress(0x020000000001), NetInterface.DefaultMtu, da);
            db.Iface = new NetInterface("b0", new MacAddress(0x020000000002), NetInterface.DefaultMtu, db);
            a.AddInterface(da.Iface, false, TwoHosts.IpA, TwoHosts.Mask, Ip4Address.Any);
            b.AddInterface(db.Iface, false, TwoHosts.IpB, TwoHosts.Mask, Ip4Address.Any);
            Assert.That(a.Start() && b.Start(), Is.True);
            return (a, b);
        }

        [Test]
        public void Connect_Accept_Send_ReceiveExactly_Close_With_Blocking_Calls()
        {
            var (a, b) = Pair();
            Assert.That(b.Tcp.Listen(3240, 4, out TcpListener listener), Is.EqualTo(NetStatus.Ok));
            var data = new byte[300_000];
            new Random(5).NextBytes(data);
            NetStatus peerClosed = NetStatus.Ok;
            var closedSeen = new ManualResetEventSlim();
            var server = Task.Run(() =>
            {
                Assert.That(listener.Accept(5000, out TcpConnection c), Is.EqualTo(NetStatus.Ok));
                c.PeerClosed += (conn, why) => { peerClosed = why; closedSeen.Set(); };
                var buf = new byte[data.Length];
                Assert.That(c.ReceiveExactly(buf, 0, buf.Length, 20_000, out int got), Is.EqualTo(NetStatus.Ok));
                Assert.That(got, Is.EqualTo(buf.Length));
                Assert.That(c.Send(buf, 0, buf.Length, 20_000, out int sent), Is.EqualTo(NetStatus.Ok));
                Assert.That(c.Flush(20_000), Is.EqualTo(NetStatus.Ok));
                Assert.That(c.Receive(buf, 0, 10, 20_000, out _), Is.EqualTo(NetStatus.Closed), "EOF after the client's close");
                c.Close();
            });
            Assert.That(a.Tcp.Connect(new IpEndPoint(TwoHosts.IpB, 3240), 5000, out TcpConnection client), Is.EqualTo(NetStatus.Ok));
            Assert.That(client.RemoteEndPoint.Port, Is.EqualTo(3240));
            Assert.That(client.Send(data, 0, data.Length, 20_000, out int n), Is.EqualTo(NetStatus.Ok));
            Assert.That(n, Is.EqualTo(data.Length));
            var back = new byte[data.Length];
            Assert.That(client.ReceiveExactly(back, 0, back.Length, 20_000, out _), Is.EqualTo(NetStatus.Ok));
            Assert.That(back, Is.EqualTo(data));
            client.Close();
            server.Wait(30_000);
            Assert.That(server.IsCompletedSuccessfully, Is.True, server.Exception?.ToString());
            Assert.That(closedSeen.Wait(5000), Is.True, "PeerClosed raised");
            Assert.That(peerClosed, Is.EqualTo(NetStatus.Closed));
        }

        [Test]
        public void Waits_Are_Bounded_And_Abort_Wakes_A_Blocked_Reader()
        {
            var (a, b) = Pair();
            Assert.That(b.Tcp.Listen(7, 1, out TcpListener listener), Is.EqualTo(NetStatus.Ok));
            var sw = Stopwatch.StartNew();
            Assert.That(listener.Accept(200, out _), Is.EqualTo(NetStatus.Timeout));
            Assert.That(sw.ElapsedMilliseconds, Is.InRange(150, 2000));
            Assert.That(a.Tcp.Connect(new IpEndPoint(TwoHosts.IpB, 8), 2000, out _), Is.EqualTo(NetStatus.Refused));
            Assert.That(a.Tcp.Connect(new IpEndPoint(TwoHosts.IpB, 7), 2000, out TcpConnection c), Is.EqualTo(NetStatus.Ok));
            Assert.That(listener.Accept(2000, out TcpConnection s), Is.EqualTo(NetStatus.Ok));
            sw.Restart();
            Assert.That(s.Receive(new byte[10], 0, 10, 300, out int r), Is.EqualTo(NetStatus.Timeout));
            Assert.That(r, Is.Zero);
            Assert.That(sw.ElapsedMilliseconds, Is.InRange(250, 2000));
            var reader = Task.Run(() => s.Receive(new byte[10], 0, 10, 20_000, out _));
            Thread.Sleep(100);
            c.Abort();
            Assert.That(reader.Wait(5000), Is.True, "blocked reader woken");
            Assert.That(reader.Result, Is.EqualTo(NetStatus.Reset));
            Assert.That(s.Send(new byte[1], 0, 1, 100, out _), Is.EqualTo(NetStatus.Reset));
        }

        [Test]
        public void Ping_Blocks_Until_The_Reply()
        {
            var (a, b) = Pair();
            Assert.That(a.Icmp.Ping(TwoHosts.IpB, 1, 56, 2000, out ulong rtt), Is.EqualTo(NetStatus.Ok));
            Assert.That(rtt, Is.LessThan(2_000_000UL));
            Assert.That(a.Icmp.Ping(new Ip4Address(10, 0, 0, 99), 2, 56, 300, out _), Is.EqualTo(NetStatus.Timeout), "nobody answers ARP");
        }
    }
}
