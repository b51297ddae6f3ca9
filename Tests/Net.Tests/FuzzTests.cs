using System;
using System.Collections.Generic;
using Net;
using Net.Drivers.E1000;
using NUnit.Framework;
using Tests.Support;

namespace Net.Tests
{
    /// <summary>
    /// Random and mutated frames into the receive path (Ethernet, ARP, IPv4, ICMP, UDP/DHCP, TCP in
    /// LISTEN, SYN_RECEIVED and ESTABLISHED, and the e1000 descriptor path): no exception, and the
    /// stack still works afterwards. NET_FUZZ_ITERATIONS raises the count; the seed replays a run.
    /// </summary>
    [TestFixture]
    public sealed class FuzzTests
    {
        static int Iterations => int.TryParse(Environment.GetEnvironmentVariable("NET_FUZZ_ITERATIONS"), out int n) ? n : 60_000;

        /// <summary>Valid frames B receives from A: ARP, ping, UDP, DHCP reply, TCP handshake and data segments.</summary>
        static List<byte[]> Corpus(TwoHosts net)
        {
            var corpus = new List<byte[]>();
            net.FilterAtoB = f => { corpus.Add((byte[])f.Clone()); return true; };
            net.B.Tcp.Listen(80, 4, out _);
            net.A.Tcp.BeginConnect(new IpEndPoint(TwoHosts.IpB, 80), out TcpConnection c);
            net.Run(50);
            var data = new byte[20000];
            new Random(1).NextBytes(data);
            c.Send(data, 0, data.Length, 0, out _);
            net.Run(100);
            // The connection stays open: mutated copies of its segments land in (and around) its live window.
            net.A.Icmp.Ping(TwoHosts.IpB, 1, 64, 0, out _);
            net.A.Udp.Send(null, Ip4Address.Any, 68, new IpEndPoint(TwoHosts.IpB, 68), new byte[300], 0, 300);
            net.Run(20);
            net.FilterAtoB = null;
            corpus.Add(Frames.ArpRequest(0x020000000001, TwoHosts.IpA, TwoHosts.IpB));
            corpus.Add(DhcpTests.Reply(0, DhcpClient.Offer, 100));
            return corpus;
        }

        static byte[] Mutate(Random r, List<byte[]> corpus)
        {
            int kind = r.Next(10);
            if (kind == 0)
            {
                var junk = new byte[r.Next(0, 1600)];
                r.NextBytes(junk);
                if (junk.Length >= 14 && r.Next(2) == 0) { new MacAddress(0x020000000002).Write(junk, 0); Bytes.Write16(junk, 12, r.Next(2) == 0 ? Ethernet.TypeIpv4 : Ethernet.TypeArp); }
                return junk;
            }
            byte[] f = (byte[])corpus[r.Next(corpus.Count)].Clone();
            int edits = 1 + r.Next(6);
            for (int e = 0; e < edits; e++)
            {
                switch (r.Next(7))
                {
                    case 0: if (f.Length > 0) f[r.Next(f.Length)] = (byte)r.Next(256); break;
                    case 1: if (f.Length > 0) f[r.Next(f.Length)] ^= (byte)(1 << r.Next(8)); break;
                    case 2: Array.Resize(ref f, r.Next(0, f.Length + 1)); break;
                    case 3: Array.Resize(ref f, f.Length + r.Next(1, 200)); break;
                    case 4: // a length or offset field to an extreme: IP total length, IHL, UDP length, TCP data offset
                        int[] at = { 16, 17, 14, 14 + 20 + 4, 14 + 20 + 5, 14 + 20 + 12 };
                        int i = at[r.Next(at.Length)];
                        if (i < f.Length) f[i] = (byte)(r.Next(2) == 0 ? 0xFF : r.Next(256));
                        break;
                    case 5: // TCP flags
                        if (f.Length > 14 + 20 + 13) f[14 + 20 + 13] = (byte)r.Next(64);
                        break;
                    case 6: // keep the IP header checksum valid so mutations reach the upper layers
                        if (f.Length >= 34 && (f[14] >> 4) == 4)
                        {
                            int ihl = (f[14] & 0xF) * 4;
                            if (ihl >= 20 && 14 + ihl <= f.Length)
                            {
                                Bytes.Write16(f, 24, 0);
                                Bytes.Write16(f, 24, Checksum.Finish(Checksum.Add(0, f, 14, ihl)));
                            }
                        }
                        break;
                }
            }
            if (r.Next(10) < 7) FixChecksums(f);
            return f;
        }

        /// <summary>Recomputes the IP header and the TCP/UDP/ICMP checksums (where the lengths allow) so mutations reach the protocol logic.</summary>
        static void FixChecksums(byte[] f)
        {
            if (f.Length < 34 || Bytes.Read16(f, 12) != Ethernet.TypeIpv4 || (f[14] >> 4) != 4) return;
            int ihl = (f[14] & 0xF) * 4;
            int total = Bytes.Read16(f, 16);
            if (ihl < 20 || total < ihl || 14 + total > f.Length) return;
            Bytes.Write16(f, 24, 0);
            Bytes.Write16(f, 24, Checksum.Finish(Checksum.Add(0, f, 14, ihl)));
            int o = 14 + ihl, n = total - ihl;
            var src = Ip4Address.Read(f, 26);
            var dst = Ip4Address.Read(f, 30);
            switch (f[23])
            {
                case Ipv4.ProtocolTcp when n >= 20:
                    Bytes.Write16(f, o + 16, 0);
                    Bytes.Write16(f, o + 16, Checksum.Finish(Checksum.Add(Checksum.PseudoHeader(src, dst, Ipv4.ProtocolTcp, n), f, o, n)));
                    break;
                case Ipv4.ProtocolUdp when n >= 8:
                    Bytes.Write16(f, o + 6, 0);
                    break;
                case Ipv4.ProtocolIcmp when n >= 8:
                    Bytes.Write16(f, o + 2, 0);
                    Bytes.Write16(f, o + 2, Checksum.Finish(Checksum.Add(0, f, o, n)));
                    break;
            }
        }

        [TestCase(1)]
        [TestCase(2)]
        public void Mutated_Frames_Never_Crash_The_Stack(int seed)
        {
            var net = new TwoHosts(seed);
            var corpus = Corpus(net);
            Assert.That(corpus.Count, Is.GreaterThan(20));
            // Live connections in several states while the fuzzer runs.
            net.A.Tcp.BeginConnect(new IpEndPoint(TwoHosts.IpB, 80), out TcpConnection live);
            net.Run(50);
            var r = new Random(seed);
            int n = Iterations;
            for (int i = 0; i < n; i++)
            {
                byte[] f = Mutate(r, corpus);
                net.DevB.Inbox.Enqueue(f);
                if (i % 16 == 0) net.Step();
                else net.B.Poll();
            }
            net.Run(100);
            // Fuzzed ARP packets may have re-mapped A's address (ARP has no authentication): A announces itself again.
            net.DevB.Inbox.Enqueue(Frames.ArpRequest(net.IfA.Mac.Value, TwoHosts.IpA, TwoHosts.IpB));
            net.Run(10);
            TestContext.Out.WriteLine($"fuzz seed {seed}: {n} frames, B rx errors {net.IfB.Counters.RxErrors} (malformed {net.IfB.Counters.RxMalformed}), " +
                                      $"tcp checksum errors {net.B.Tcp.Counters.ChecksumErrors}, resets sent {net.B.Tcp.Counters.ResetsSent}, duplicates {net.B.Tcp.Counters.DuplicateSegments}, " +
                                      $"passive opens {net.B.Tcp.Counters.PassiveOpens}, out of order {net.B.Tcp.Counters.OutOfOrderSegments}, udp {net.B.Udp.Received}, icmp {net.B.Icmp.EchoRequestsReceived}");
            Assert.That(net.B.Tcp.Counters.SegmentsReceived, Is.GreaterThan((ulong)n / 10), "TCP logic reached");
            Assert.That(net.IfB.Counters.RxMalformed, Is.GreaterThan(0UL), "the fuzzer reached the checks");
            // Still healthy: a new connection transfers data intact.
            Assert.That(net.B.Tcp.Listen(81, 4, out TcpListener l), Is.EqualTo(NetStatus.Ok));
            net.A.Tcp.BeginConnect(new IpEndPoint(TwoHosts.IpB, 81), out TcpConnection c);
            TcpConnection s = null;
            net.Run(5000, () => l.Accept(0, out s) == NetStatus.Ok);
            Assert.That(s, Is.Not.Null, string.Join("\n", net.B.Tcp.Describe()) + "\n" + string.Join("\n", net.B.Arp.Describe()) + "\n" + string.Join("\n", net.A.Tcp.Describe()));
            var data = new byte[50000];
            r.NextBytes(data);
            int sent = 0;
            var got = new List<byte>();
            var buf = new byte[4096];
            for (int t = 0; t < 100_000 && got.Count < data.Length; t++)
            {
                if (sent < data.Length) { c.Send(data, sent, data.Length - sent, 0, out int k); sent += k; }
                while (s.Receive(buf, 0, buf.Length, 0, out int k) == NetStatus.Ok) got.AddRange(new ArraySegment<byte>(buf, 0, k));
                net.Step();
            }
            Assert.That(got.ToArray(), Is.EqualTo(data));
        }

        [Test]
        public void Random_Descriptors_Through_The_E1000_Never_Crash()
        {
            using var dma = new ArenaDma(ArenaDma.Above4GBase);
            var hw = new SimE1000(dma, 0x525400123456);
            var clock = new ManualClock();
            var nic = new E1000(hw, dma, clock);
            Assert.That(nic.Initialize(), Is.True);
            var stack = new NetStack(clock, new InlineThreading());
            var iface = new NetInterface("eth0", nic.Mac, NetInterface.DefaultMtu, nic);
            nic.Attach(iface);
            stack.AddInterface(iface, false, new Ip4Address(10, 0, 2, 15), new Ip4Address(255, 255, 255, 0), new Ip4Address(10, 0, 2, 2));
            var r = new Random(5);
            var corpus = new List<byte[]> { Frames.ArpRequest(0x020000000003, new Ip4Address(10, 0, 2, 3), new Ip4Address(10, 0, 2, 15)),
                Frames.Ip(nic.Mac, new MacAddress(0x020000000003), new Ip4Address(10, 0, 2, 3), new Ip4Address(10, 0, 2, 15), Ipv4.ProtocolIcmp, Frames.EchoRequest(1, 1, 100)) };
            for (int i = 0; i < Iterations / 4; i++)
            {
                byte[] f = Mutate(r, corpus);
                if (f.Length > E1000.BufferSize) Array.Resize(ref f, E1000.BufferSize);
                hw.Deliver(f, (byte)(r.Next(8) == 0 ? 1 << r.Next(8) : 0));
                if (r.Next(4) == 0) stack.Poll();
                clock.Advance(1);
            }
            stack.Poll();
            Assert.That(iface.Counters.RxPackets, Is.GreaterThan(0UL));
        }
    }
}
