using System;
using System.Collections.Generic;
using Net;
using NUnit.Framework;

namespace Net.Tests
{
    /// <summary>TCP between two stacks over a simulated segment: handshake, transfer, loss, reordering, duplicates, windows, closes.</summary>
    [TestFixture]
    public sealed class TcpTests
    {
        const ushort Port = 7000;

        static (TcpConnection client, TcpConnection server, TcpListener listener) Open(TwoHosts net, int backlog = 4)
        {
            Assert.That(net.B.Tcp.Listen(Port, backlog, out TcpListener listener), Is.EqualTo(NetStatus.Ok));
            Assert.That(net.A.Tcp.BeginConnect(new IpEndPoint(TwoHosts.IpB, Port), out TcpConnection client), Is.EqualTo(NetStatus.Ok));
            TcpConnection server = null;
            net.Run(20000, () => listener.Accept(0, out server) == NetStatus.Ok && client.State == TcpState.Established);
            Assert.That(server, Is.Not.Null, "accept");
            Assert.That(client.State, Is.EqualTo(TcpState.Established));
            return (client, server, listener);
        }

        /// <summary>Sends <paramref name="data"/> from one side and reads it on the other while stepping the simulation.</summary>
        static byte[] Transfer(TwoHosts net, TcpConnection from, TcpConnection to, byte[] data, ulong limitMs = 600_000, int readChunk = 4096)
        {
            var received = new List<byte>();
            int sent = 0;
            var buf = new byte[readChunk];
            for (ulong t = 0; t < limitMs && received.Count < data.Length; t++)
            {
                if (sent < data.Length)
                {
                    from.Send(data, sent, data.Length - sent, 0, out int n);
                    sent += n;
                }
                while (to.Receive(buf, 0, buf.Length, 0, out int r) == NetStatus.Ok)
                    for (int i = 0; i < r; i++) received.Add(buf[i]);
                net.Step();
            }
            return received.ToArray();
        }

        static byte[] Pattern(int n, int seed)
        {
            var d = new byte[n];
            new Random(seed).NextBytes(d);
            return d;
        }

        [Test]
        public void Handshake_Transfer_And_GracefulClose()
        {
            var net = new TwoHosts();
            var (client, server, _) = Open(net);
            Assert.That(server.RemoteEndPoint.Address, Is.EqualTo(TwoHosts.IpA));
            Assert.That(server.RemoteEndPoint.Port, Is.EqualTo(client.LocalEndPoint.Port));
            byte[] data = Pattern(300_000, 1);
            Assert.That(Transfer(net, client, server, data), Is.EqualTo(data));
            byte[] back = Pattern(100_000, 2);
            Assert.That(Transfer(net, server, client, back), Is.EqualTo(back));

            NetStatus closedReason = NetStatus.Ok;
            server.PeerClosed += (c, why) => closedReason = why;
            client.Close();
            net.Run(100);
            Assert.That(server.Receive(new byte[10], 0, 10, 0, out _), Is.EqualTo(NetStatus.Closed), "EOF after FIN");
            Assert.That(closedReason, Is.EqualTo(NetStatus.Closed));
            Assert.That(server.State, Is.EqualTo(TcpState.CloseWait));
            server.Close();
            net.Run(100);
            Assert.That(server.State, Is.EqualTo(TcpState.Closed));
            Assert.That(client.State, Is.EqualTo(TcpState.TimeWait));
            net.Run(TcpConnection.TimeWaitMs + 100);
            Assert.That(client.State, Is.EqualTo(TcpState.Closed));
            Assert.That(net.A.Tcp.Snapshot(), Is.Empty);
            Assert.That(net.B.Tcp.Snapshot(), Is.Empty);
        }

        [TestCase(1, 0.05, 0.0, 0.0)]
        [TestCase(2, 0.0, 0.3, 0.0)]
        [TestCase(3, 0.0, 0.0, 0.3)]
        [TestCase(4, 0.1, 0.2, 0.1)]
        [TestCase(5, 0.2, 0.2, 0.2)]
        public void Transfer_Survives_Loss_Reordering_And_Duplicates(int seed, double loss, double reorder, double duplicate)
        {
            var net = new TwoHosts(seed);
            var (client, server, _) = Open(net);
            net.Loss = loss;
            net.Reorder = reorder;
            net.Duplicate = duplicate;
            byte[] data = Pattern(200_000, seed);
            byte[] back = Pattern(50_000, seed + 100);
            Assert.That(Transfer(net, client, server, data), Is.EqualTo(data));
            Assert.That(Transfer(net, server, client, back), Is.EqualTo(back));
            if (loss > 0)
                Assert.That(net.A.Tcp.Counters.Retransmissions + net.A.Tcp.Counters.FastRetransmissions, Is.GreaterThan(0));
            if (reorder > 0)
                Assert.That(net.B.Tcp.Counters.OutOfOrderSegments, Is.GreaterThan(0));
            client.Close();
            server.Close();
            net.Run(60_000, () => client.State == TcpState.Closed && server.State == TcpState.Closed);
            Assert.That(server.State, Is.EqualTo(TcpState.Closed));
            Assert.That(client.State, Is.EqualTo(TcpState.Closed));
        }

        [Test]
        public void Handshake_Survives_Lost_Syn_And_SynAck()
        {
            var net = new TwoHosts();
            int synsDropped = 0, synAcksDropped = 0;
            net.FilterAtoB = f => !(IsTcp(f, TcpHeader.Syn, TcpHeader.Syn | TcpHeader.Ack) && synsDropped++ < 2);
            net.FilterBtoA = f => !(IsTcp(f, TcpHeader.Syn | TcpHeader.Ack, TcpHeader.Syn | TcpHeader.Ack) && synAcksDropped++ < 1);
            var (client, server, _) = Open(net);
            Assert.That(synsDropped, Is.GreaterThanOrEqualTo(2));
            Assert.That(net.A.Tcp.Counters.Retransmissions, Is.GreaterThanOrEqualTo(2));
            byte[] data = Pattern(5000, 3);
            Assert.That(Transfer(net, client, server, data), Is.EqualTo(data));
        }

        internal static bool IsTcp(byte[] f, byte flags, byte mask)
        {
            if (f.Length < 54 || Bytes.Read16(f, 12) != Ethernet.TypeIpv4 || f[14 + 9] != Ipv4.ProtocolTcp) return false;
            int ihl = (f[14] & 0xF) * 4;
            return (f[14 + ihl + TcpHeader.FlagsOffset] & mask) == flags;
        }

        [Test]
        public void Retransmission_Timeout_Backs_Off_Per_Rfc6298()
        {
            var net = new TwoHosts();
            var (client, server, _) = Open(net);
            // Blackhole A->B: count client transmissions of the same segment over time.
            var times = new List<ulong>();
            net.FilterAtoB = f => { if (f.Length > 60) times.Add(net.Clock.Milliseconds); return false; };
            client.Send(new byte[100], 0, 100, 0, out _);
            net.Run(20_000);
            Assert.That(times.Count, Is.GreaterThanOrEqualTo(4));
            // Each gap roughly doubles (exponential backoff).
            for (int i = 2; i < 4; i++)
            {
                double ratio = (double)(times[i] - times[i - 1]) / (times[i - 1] - times[i - 2]);
                Assert.That(ratio, Is.InRange(1.6, 2.4), $"gap {i}");
            }
            net.FilterAtoB = null;
            net.Run(70_000, () => server.Available == 100);
            Assert.That(server.Available, Is.EqualTo(100), "delivered after the path healed");
        }

        [Test]
        public void Connection_Gives_Up_After_Retransmissions_And_Reports_Reset()
        {
            var net = new TwoHosts();
            var (client, server, _) = Open(net);
            NetStatus reason = NetStatus.Ok;
            client.PeerClosed += (c, why) => reason = why;
            net.FilterAtoB = f => false;
            client.Send(new byte[100], 0, 100, 0, out _);
            net.Run(1_000_000, () => client.State == TcpState.Closed);
            Assert.That(client.State, Is.EqualTo(TcpState.Closed));
            Assert.That(client.Error, Is.EqualTo(NetStatus.Reset));
            Assert.That(reason, Is.EqualTo(NetStatus.Reset));
            Assert.That(client.Send(new byte[1], 0, 1, 0, out _), Is.EqualTo(NetStatus.Reset));
        }

        [Test]
        public void ZeroWindow_Sender_Probes_And_Resumes_When_Reader_Drains()
        {
            var net = new TwoHosts();
            var (client, server, _) = Open(net);
            byte[] data = Pattern(TcpConnection.BufferSize * 3, 9);
            int sent = 0;
            // Nobody reads on the server: its window closes, the client's buffer fills.
            for (int t = 0; t < 30_000; t++)
            {
                client.Send(data, sent, data.Length - sent, 0, out int n);
                sent += n;
                net.Step();
            }
            Assert.That(server.Available, Is.EqualTo(TcpConnection.BufferSize), "receive buffer full");
            Assert.That(sent, Is.LessThan(data.Length), "sender blocked by the closed window");
            Assert.That(net.A.Tcp.Counters.ZeroWindowProbes, Is.GreaterThan(0), "persist timer probed");
            Assert.That(client.State, Is.EqualTo(TcpState.Established), "probes keep the connection alive");
            // The reader drains: the window update (or the next probe's answer) restarts the flow.
            var got = new List<byte>();
            var buf = new byte[8192];
            for (int t = 0; t < 300_000 && got.Count < data.Length; t++)
            {
                if (sent < data.Length) { client.Send(data, sent, data.Length - sent, 0, out int n); sent += n; }
                while (server.Receive(buf, 0, buf.Length, 0, out int r) == NetStatus.Ok) for (int i = 0; i < r; i++) got.Add(buf[i]);
                net.Step();
            }
            Assert.That(got.ToArray(), Is.EqualTo(data));
        }

        [Test]
        public void ZeroWindow_Probe_Survives_Lost_Window_Update()
        {
            var net = new TwoHosts();
            var (client, server, _) = Open(net);
            byte[] data = Pattern(TcpConnection.BufferSize + 10_000, 11);
            int sent = 0;
            for (int t = 0; t < 5_000; t++) { client.Send(data, sent, data.Length - sent, 0, out int n); sent += n; net.Step(); }
            Assert.That(server.Available, Is.EqualTo(TcpConnection.BufferSize));
            // Drop every pure ACK B sends for a while: the window update is lost, only the persist probe can recover.
            net.FilterBtoA = f => false;
            var buf = new byte[TcpConnection.BufferSize];
            server.Receive(buf, 0, buf.Length, 0, out int first);
            net.Run(50);
            net.FilterBtoA = null;
            var got = new List<byte>(new ArraySegment<byte>(buf, 0, first));
            for (int t = 0; t < 200_000 && got.Count < data.Length; t++)
            {
                if (sent < data.Length) { client.Send(data, sent, data.Length - sent, 0, out int n); sent += n; }
                while (server.Receive(buf, 0, buf.Length, 0, out int r) == NetStatus.Ok) got.AddRange(new ArraySegment<byte>(buf, 0, r));
                net.Step();
            }
            Assert.That(got.ToArray(), Is.EqualTo(data));
        }

        [Test]
        public void Connect_To_Closed_Port_Is_Refused_By_Rst()
        {
            var net = new TwoHosts();
            Assert.That(net.A.Tcp.BeginConnect(new IpEndPoint(TwoHosts.IpB, 9999), out TcpConnection c), Is.EqualTo(NetStatus.Ok));
            net.Run(100);
            Assert.That(c.State, Is.EqualTo(TcpState.Closed));
            Assert.That(c.Error, Is.EqualTo(NetStatus.Refused));
            Assert.That(net.B.Tcp.Counters.ResetsSent, Is.EqualTo(1));
        }

        [Test]
        public void Abort_Sends_Rst_And_Peer_Sees_Reset()
        {
            var net = new TwoHosts();
            var (client, server, _) = Open(net);
            NetStatus reason = NetStatus.Ok;
            server.PeerClosed += (c, why) => reason = why;
            client.Abort();
            net.Run(50);
            Assert.That(server.State, Is.EqualTo(TcpState.Closed));
            Assert.That(reason, Is.EqualTo(NetStatus.Reset));
            Assert.That(server.Receive(new byte[4], 0, 4, 0, out _), Is.EqualTo(NetStatus.Reset));
            Assert.That(client.Receive(new byte[4], 0, 4, 0, out _), Is.EqualTo(NetStatus.Aborted));
        }

        [Test]
        public void Several_Concurrent_Connections_Keep_Their_Streams_Apart()
        {
            var net = new TwoHosts(7);
            net.Loss = 0.02;
            Assert.That(net.B.Tcp.Listen(Port, 8, out TcpListener listener), Is.EqualTo(NetStatus.Ok));
            const int N = 5;
            var clients = new TcpConnection[N];
            for (int i = 0; i < N; i++)
                Assert.That(net.A.Tcp.BeginConnect(new IpEndPoint(TwoHosts.IpB, Port), out clients[i]), Is.EqualTo(NetStatus.Ok));
            var servers = new List<TcpConnection>();
            net.Run(30_000, () =>
            {
                while (listener.Accept(0, out TcpConnection s) == NetStatus.Ok) servers.Add(s);
                return servers.Count == N;
            });
            Assert.That(servers.Count, Is.EqualTo(N));
            // Each client sends its own pattern; match servers by remote port.
            var data = new byte[N][];
            var sent = new int[N];
            var got = new Dictionary<ushort, List<byte>>();
            foreach (var s in servers) got[s.RemoteEndPoint.Port] = new List<byte>();
            for (int i = 0; i < N; i++) data[i] = Pattern(40_000 + i * 1000, 50 + i);
            var buf = new byte[4096];
            for (int t = 0; t < 200_000; t++)
            {
                bool done = true;
                for (int i = 0; i < N; i++)
                {
                    if (sent[i] < data[i].Length) { clients[i].Send(data[i], sent[i], data[i].Length - sent[i], 0, out int n); sent[i] += n; }
                    if (got[clients[i].LocalEndPoint.Port].Count < data[i].Length) done = false;
                }
                foreach (var s in servers)
                    while (s.Receive(buf, 0, buf.Length, 0, out int r) == NetStatus.Ok) got[s.RemoteEndPoint.Port].AddRange(new ArraySegment<byte>(buf, 0, r));
                if (done) break;
                net.Step();
            }
            for (int i = 0; i < N; i++)
                Assert.That(got[clients[i].LocalEndPoint.Port].ToArray(), Is.EqualTo(data[i]), $"connection {i}");
        }

        [Test]
        public void Backlog_Limits_Pending_Connections_And_Late_Ones_Get_In_After_Accept()
        {
            var net = new TwoHosts();
            Assert.That(net.B.Tcp.Listen(Port, 2, out TcpListener listener), Is.EqualTo(NetStatus.Ok));
            var clients = new TcpConnection[3];
            for (int i = 0; i < 3; i++)
                net.A.Tcp.BeginConnect(new IpEndPoint(TwoHosts.IpB, Port), out clients[i]);
            net.Run(200);
            Assert.That(listener.Pending, Is.EqualTo(2));
            Assert.That(net.B.Tcp.Counters.BacklogDrops, Is.GreaterThan(0));
            Assert.That(clients[2].State, Is.EqualTo(TcpState.SynSent), "third SYN dropped, client retries");
            Assert.That(listener.Accept(0, out _), Is.EqualTo(NetStatus.Ok));
            Assert.That(listener.Accept(0, out _), Is.EqualTo(NetStatus.Ok));
            net.Run(5_000, () => clients[2].State == TcpState.Established);
            Assert.That(clients[2].State, Is.EqualTo(TcpState.Established));
            net.Run(10);
            Assert.That(listener.Accept(0, out _), Is.EqualTo(NetStatus.Ok), string.Join("\n", net.B.Tcp.Describe()));
            Assert.That(listener.Accept(0, out _), Is.EqualTo(NetStatus.Timeout));
        }

        [Test]
        public void Listen_Twice_On_A_Port_Is_InUse_And_Stop_Resets_Queued()
        {
            var net = new TwoHosts();
            Assert.That(net.B.Tcp.Listen(Port, 2, out TcpListener listener), Is.EqualTo(NetStatus.Ok));
            Assert.That(net.B.Tcp.Listen(Port, 2, out _), Is.EqualTo(NetStatus.InUse));
            net.A.Tcp.BeginConnect(new IpEndPoint(TwoHosts.IpB, Port), out TcpConnection c);
            net.Run(100);
            Assert.That(c.State, Is.EqualTo(TcpState.Established));
            listener.Stop();
            net.Run(100);
            Assert.That(c.State, Is.EqualTo(TcpState.Closed));
            Assert.That(listener.Accept(0, out _), Is.EqualTo(NetStatus.Aborted));
            Assert.That(net.B.Tcp.Listen(Port, 2, out _), Is.EqualTo(NetStatus.Ok));
        }

        [Test]
        public void Simultaneous_Close_Ends_Both_Sides()
        {
            var net = new TwoHosts();
            var (client, server, _) = Open(net);
            client.Close();
            server.Close();
            net.Run(TcpConnection.TimeWaitMs + 500);
            Assert.That(client.State, Is.EqualTo(TcpState.Closed));
            Assert.That(server.State, Is.EqualTo(TcpState.Closed));
        }
    }
}
