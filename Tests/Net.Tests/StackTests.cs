using System;
using System.Collections.Generic;
using Net;
using NUnit.Framework;
using Tests.Support;

namespace Net.Tests
{
    /// <summary>One stack on a simulated device, fed hand-built frames: Ethernet, ARP, IPv4, ICMP, UDP.</summary>
    [TestFixture]
    public sealed class StackTests
    {
        internal static readonly Ip4Address Us = new Ip4Address(10, 0, 2, 15), Gateway = new Ip4Address(10, 0, 2, 2), Peer = new Ip4Address(10, 0, 2, 3);
        internal static readonly Ip4Address Mask = new Ip4Address(255, 255, 255, 0);
        internal static readonly MacAddress OurMac = new MacAddress(0x525400123456), PeerMac = new MacAddress(0x020000000003), GatewayMac = new MacAddress(0x525500000002);

        ManualClock _clock;
        SimDevice _dev;
        NetStack _stack;
        NetInterface _if;

        [SetUp]
        public void SetUp()
        {
            _clock = new ManualClock();
            _dev = new SimDevice();
            _stack = new NetStack(_clock, new InlineThreading());
            _if = new NetInterface("eth0", OurMac, NetInterface.DefaultMtu, _dev);
            _stack.AddInterface(_if, false, Us, Mask, Gateway);
        }

        void Feed(byte[] frame)
        {
            _dev.Inbox.Enqueue(frame);
            _stack.Poll();
        }

        void Advance(ulong ms)
        {
            for (ulong i = 0; i < ms; i += 10)
            {
                _clock.Advance(10);
                _stack.Poll();
            }
        }

        static bool IsArpRequestFor(byte[] f, Ip4Address ip) =>
            Bytes.Read16(f, Ethernet.TypeOffset) == Ethernet.TypeArp && Bytes.Read16(f, 14 + Arp.OperationOffset) == Arp.OperationRequest &&
            Ip4Address.Read(f, 14 + Arp.TargetIpOffset) == ip && MacAddress.Read(f, 0).IsBroadcast;

        // ------------------------------------------------------------- ARP

        [Test]
        public void Arp_Answers_Requests_For_Our_Address_Only()
        {
            Feed(Frames.ArpRequest(PeerMac.Value, Peer, Us));
            var sent = _dev.TakeSent();
            Assert.That(sent.Count, Is.EqualTo(1));
            byte[] r = sent[0];
            Assert.That(MacAddress.Read(r, 0), Is.EqualTo(PeerMac));
            Assert.That(Bytes.Read16(r, 14 + Arp.OperationOffset), Is.EqualTo(Arp.OperationReply));
            Assert.That(MacAddress.Read(r, 14 + Arp.SenderMacOffset), Is.EqualTo(OurMac));
            Assert.That(Ip4Address.Read(r, 14 + Arp.SenderIpOffset), Is.EqualTo(Us));
            Assert.That(Ip4Address.Read(r, 14 + Arp.TargetIpOffset), Is.EqualTo(Peer));
            Assert.That(_stack.Arp.TryLookup(_if, Peer, out MacAddress learned), Is.True, "requester learned (RFC 826)");
            Assert.That(learned, Is.EqualTo(PeerMac));

            Feed(Frames.ArpRequest(0x020000000004, new Ip4Address(10, 0, 2, 4), new Ip4Address(10, 0, 2, 99)));
            Assert.That(_dev.TakeSent(), Is.Empty, "not our address");
            Assert.That(_stack.Arp.TryLookup(_if, new Ip4Address(10, 0, 2, 4), out _), Is.False, "no entry created for others' traffic");
        }

        [Test]
        public void Arp_Queues_Packets_Until_Resolved_Then_Sends_Them_In_Order()
        {
            for (int i = 0; i < 3; i++)
                Assert.That(_stack.Udp.Send(null, Ip4Address.Any, 5000, new IpEndPoint(Peer, 9), new byte[] { (byte)i }, 0, 1), Is.EqualTo(NetStatus.Ok));
            var sent = _dev.TakeSent();
            Assert.That(sent.Count, Is.EqualTo(1), "one ARP request, packets held");
            Assert.That(IsArpRequestFor(sent[0], Peer), Is.True);
            Feed(Frames.ArpReply(PeerMac.Value, Peer, OurMac, Us));
            sent = _dev.TakeSent();
            Assert.That(sent.Count, Is.EqualTo(3));
            for (int i = 0; i < 3; i++)
            {
                Assert.That(MacAddress.Read(sent[i], 0), Is.EqualTo(PeerMac));
                Assert.That(sent[i][14 + 20 + 8], Is.EqualTo(i), "order kept");
            }
        }

        [Test]
        public void Arp_Pending_Queue_Is_Bounded_Oldest_Dropped()
        {
            for (int i = 0; i < Arp.MaxPendingPerEntry + 3; i++)
                _stack.Udp.Send(null, Ip4Address.Any, 5000, new IpEndPoint(Peer, 9), new byte[] { (byte)i }, 0, 1);
            _dev.TakeSent();
            Feed(Frames.ArpReply(PeerMac.Value, Peer, OurMac, Us));
            var sent = _dev.TakeSent();
            Assert.That(sent.Count, Is.EqualTo(Arp.MaxPendingPerEntry));
            Assert.That(sent[0][14 + 28], Is.EqualTo(3), "the three oldest made room");
            Assert.That(_stack.Arp.PendingDropped, Is.EqualTo(3UL));
        }

        [Test]
        public void Arp_Retries_Then_Gives_Up_And_Drops_The_Queue()
        {
            _stack.Udp.Send(null, Ip4Address.Any, 5000, new IpEndPoint(Peer, 9), new byte[1], 0, 1);
            Advance(Arp.RetryIntervalMs * (Arp.MaxRequests + 1) + 100);
            var sent = _dev.TakeSent();
            Assert.That(sent.FindAll(f => IsArpRequestFor(f, Peer)).Count, Is.EqualTo(Arp.MaxRequests));
            Assert.That(_stack.Arp.Failures, Is.EqualTo(1UL));
            Assert.That(_stack.Arp.Count, Is.Zero);
            Assert.That(_if.Counters.TxDropped, Is.EqualTo(1UL));
        }

        [Test]
        public void Arp_Entries_Expire()
        {
            Feed(Frames.ArpReply(PeerMac.Value, Peer, OurMac, Us)); // addressed to us: learned (RFC 826)
            Feed(Frames.ArpRequest(PeerMac.Value, Peer, Us));
            _dev.TakeSent();
            Assert.That(_stack.Arp.TryLookup(_if, Peer, out _), Is.True);
            Advance(Arp.EntryLifetimeMs + 20);
            Assert.That(_stack.Arp.TryLookup(_if, Peer, out _), Is.False);
            _stack.Udp.Send(null, Ip4Address.Any, 5000, new IpEndPoint(Peer, 9), new byte[1], 0, 1);
            Assert.That(IsArpRequestFor(_dev.TakeSent()[0], Peer), Is.True, "resolved again");
        }

        [Test]
        public void Off_Subnet_Traffic_Goes_Through_The_Gateway()
        {
            _stack.Udp.Send(null, Ip4Address.Any, 5000, new IpEndPoint(new Ip4Address(8, 8, 8, 8), 53), new byte[1], 0, 1);
            Assert.That(IsArpRequestFor(_dev.TakeSent()[0], Gateway), Is.True);
            Feed(Frames.ArpReply(GatewayMac.Value, Gateway, OurMac, Us));
            byte[] f = _dev.TakeSent()[0];
            Assert.That(MacAddress.Read(f, 0), Is.EqualTo(GatewayMac));
            Assert.That(Ip4Address.Read(f, 14 + Ipv4.DestinationOffset), Is.EqualTo(new Ip4Address(8, 8, 8, 8)));
        }

        [Test]
        public void Malformed_Arp_Is_Counted()
        {
            var f = Frames.ArpRequest(PeerMac.Value, Peer, Us);
            f[14 + Arp.HardwareLengthOffset] = 200;
            Feed(f);
            Feed(Frames.ArpRequest(0xFFFFFFFFFFFF, Peer, Us)); // broadcast sender MAC
            Assert.That(_stack.Arp.Malformed, Is.EqualTo(2UL));
            Assert.That(_if.Counters.RxMalformed, Is.EqualTo(2UL));
            Assert.That(_dev.TakeSent(), Is.Empty);
        }

        // ------------------------------------------------------------- IPv4

        byte[] PingFrame(ushort seq = 1, int payload = 32, Ip4Address? to = null) =>
            Frames.Ip(OurMac, PeerMac, Peer, to ?? Us, Ipv4.ProtocolIcmp, Frames.EchoRequest(0x1234, seq, payload));

        [Test]
        public void Ip_Output_Has_Valid_Header_Ttl_And_DontFragment()
        {
            Feed(Frames.ArpRequest(PeerMac.Value, Peer, Us));
            _dev.TakeSent();
            Feed(PingFrame());
            byte[] r = _dev.TakeSent()[0];
            Assert.That(r[14] >> 4, Is.EqualTo(4));
            Assert.That(r[14 + Ipv4.TtlOffset], Is.EqualTo(Ipv4.DefaultTtl));
            Assert.That(Bytes.Read16(r, 14 + Ipv4.FlagsFragmentOffset), Is.EqualTo(Ipv4.FlagDontFragment));
            Assert.That(Checksum.Finish(Checksum.Add(0, r, 14, 20)), Is.Zero, "header checksum");
            Assert.That(Ip4Address.Read(r, 14 + Ipv4.SourceOffset), Is.EqualTo(Us));
        }

        [Test]
        public void Ip_Drops_And_Counts_Bad_Checksum_Lengths_Version_And_Fragments()
        {
            Feed(Frames.ArpRequest(PeerMac.Value, Peer, Us));
            _dev.TakeSent();
            var badSum = PingFrame(); badSum[14 + Ipv4.ChecksumOffset] ^= 0x55; Feed(badSum);
            var tooLong = PingFrame(); Bytes.Write16(tooLong, 14 + Ipv4.TotalLengthOffset, 1400); Fix(tooLong); Feed(tooLong);
            var shortIhl = PingFrame(); shortIhl[14] = 0x44; Fix(shortIhl); Feed(shortIhl);
            var v6 = PingFrame(); v6[14] = 0x65; Fix(v6); Feed(v6);
            Feed(Frames.Ip(OurMac, PeerMac, Peer, Us, Ipv4.ProtocolIcmp, Frames.EchoRequest(1, 1, 8), Ipv4.FlagMoreFragments));
            Feed(Frames.Ip(OurMac, PeerMac, Peer, Us, Ipv4.ProtocolIcmp, Frames.EchoRequest(1, 1, 8), 100));
            Feed(PingFrame(to: new Ip4Address(10, 0, 2, 99)));
            Assert.That(_stack.IpCounters.ChecksumErrors, Is.EqualTo(1UL));
            Assert.That(_stack.IpCounters.HeaderErrors, Is.EqualTo(3UL));
            Assert.That(_stack.IpCounters.FragmentsDropped, Is.EqualTo(2UL));
            Assert.That(_stack.IpCounters.NotForUs, Is.EqualTo(1UL));
            Assert.That(_if.Counters.RxMalformed, Is.EqualTo(4UL));
            Assert.That(_dev.TakeSent(), Is.Empty, "nothing answered");
            Feed(PingFrame());
            Assert.That(_dev.TakeSent().Count, Is.EqualTo(1), "a good one still is");
        }

        static void Fix(byte[] f)
        {
            Bytes.Write16(f, 14 + Ipv4.ChecksumOffset, 0);
            int ihl = Math.Max(20, (f[14] & 0xF) * 4);
            Bytes.Write16(f, 14 + Ipv4.ChecksumOffset, Checksum.Finish(Checksum.Add(0, f, 14, ihl)));
        }

        [Test]
        public void Runt_Frames_And_Other_Ethertypes_Are_Dropped()
        {
            Feed(new byte[5]);
            var f = new byte[60];
            OurMac.Write(f, 0);
            Bytes.Write16(f, 12, 0x86DD); // IPv6
            Feed(f);
            var other = PingFrame();
            new MacAddress(0x020000000077).Write(other, 0);
            Feed(other);
            Assert.That(_if.Counters.RxMalformed, Is.EqualTo(1UL));
            Assert.That(_if.Counters.RxDropped, Is.EqualTo(2UL));
        }

        // ------------------------------------------------------------- ICMP

        [Test]
        public void Icmp_Echo_Request_Is_Answered_With_Same_Id_Seq_And_Data()
        {
            Feed(Frames.ArpRequest(PeerMac.Value, Peer, Us));
            _dev.TakeSent();
            Feed(PingFrame(seq: 77, payload: 1000));
            var sent = _dev.TakeSent();
            Assert.That(sent.Count, Is.EqualTo(1));
            byte[] r = sent[0];
            int o = 14 + 20;
            Assert.That(r[o], Is.EqualTo(Icmp.TypeEchoReply));
            Assert.That(Bytes.Read16(r, o + Icmp.IdentifierOffset), Is.EqualTo(0x1234));
            Assert.That(Bytes.Read16(r, o + Icmp.SequenceOffset), Is.EqualTo(77));
            Assert.That(Checksum.Finish(Checksum.Add(0, r, o, 1008)), Is.Zero);
            for (int i = 0; i < 1000; i++) Assert.That(r[o + 8 + i], Is.EqualTo((byte)(i * 7)));
            Assert.That(Ip4Address.Read(r, 14 + Ipv4.DestinationOffset), Is.EqualTo(Peer));
            Assert.That(_stack.Icmp.EchoRepliesSent, Is.EqualTo(1UL));
        }

        [Test]
        public void Icmp_Broadcast_Echo_And_Bad_Checksum_Are_Not_Answered()
        {
            Feed(PingFrame(to: Ip4Address.Broadcast));
            var bad = PingFrame();
            bad[14 + 20 + 2] ^= 1;
            Feed(bad);
            Assert.That(_dev.TakeSent(), Is.Empty);
            Assert.That(_stack.Icmp.Malformed, Is.EqualTo(1UL));
        }

        [Test]
        public void Ping_Client_Matches_Reply()
        {
            Feed(Frames.ArpRequest(PeerMac.Value, Peer, Us));
            _dev.TakeSent();
            Assert.That(_stack.Icmp.Ping(Peer, 5, 16, 0, out _), Is.EqualTo(NetStatus.Timeout), "no waiting with timeout 0");
            byte[] req = _dev.TakeSent()[0];
            Assert.That(req[14 + 20], Is.EqualTo(Icmp.TypeEchoRequest));
            Assert.That(Bytes.Read16(req, 14 + 20 + Icmp.SequenceOffset), Is.EqualTo(5));
        }

        // ------------------------------------------------------------- UDP

        [Test]
        public void Udp_Delivers_To_Bound_Port_And_Checks_Lengths_And_Checksum()
        {
            var got = new List<string>();
            Assert.That(_stack.Udp.Bind(4000, (i, src, dst, d, o, n) => got.Add(src + " " + System.Text.Encoding.ASCII.GetString(d, o, n))), Is.EqualTo(NetStatus.Ok));
            Assert.That(_stack.Udp.Bind(4000, (i, src, dst, d, o, n) => { }), Is.EqualTo(NetStatus.InUse));
            Feed(Frames.Ip(OurMac, PeerMac, Peer, Us, Ipv4.ProtocolUdp, Frames.Udp(Peer, Us, 1234, 4000, System.Text.Encoding.ASCII.GetBytes("hello"))));
            Assert.That(got, Is.EqualTo(new[] { "10.0.2.3:1234 hello" }));
            var badSum = Frames.Udp(Peer, Us, 1234, 4000, new byte[] { 1, 2, 3 }); badSum[6] ^= 0xFF;
            Feed(Frames.Ip(OurMac, PeerMac, Peer, Us, Ipv4.ProtocolUdp, badSum));
            var badLen = Frames.Udp(Peer, Us, 1234, 4000, new byte[] { 1, 2, 3 }); Bytes.Write16(badLen, 4, 500);
            Feed(Frames.Ip(OurMac, PeerMac, Peer, Us, Ipv4.ProtocolUdp, badLen));
            Feed(Frames.Ip(OurMac, PeerMac, Peer, Us, Ipv4.ProtocolUdp, Frames.Udp(Peer, Us, 1234, 4001, new byte[1])));
            Assert.That(got.Count, Is.EqualTo(1));
            Assert.That(_stack.Udp.Malformed, Is.EqualTo(2UL));
            Assert.That(_stack.Udp.NoPort, Is.EqualTo(1UL));
        }

        [Test]
        public void Udp_Send_Computes_Checksum_Over_Pseudo_Header()
        {
            Feed(Frames.ArpRequest(PeerMac.Value, Peer, Us));
            _dev.TakeSent();
            _stack.Udp.Send(null, Ip4Address.Any, 5000, new IpEndPoint(Peer, 9), new byte[] { 1, 2, 3, 4, 5 }, 0, 5);
            byte[] f = _dev.TakeSent()[0];
            int o = 14 + 20;
            Assert.That(Bytes.Read16(f, o + Udp.LengthOffset), Is.EqualTo(13));
            Assert.That(Checksum.Finish(Checksum.Add(Checksum.PseudoHeader(Us, Peer, Ipv4.ProtocolUdp, 13), f, o, 13)), Is.Zero);
        }

        [Test]
        public void Tcp_Segment_To_Closed_Port_Gets_Rst()
        {
            Feed(Frames.ArpRequest(PeerMac.Value, Peer, Us));
            _dev.TakeSent();
            var seg = new byte[20];
            Bytes.Write16(seg, 0, 40000); Bytes.Write16(seg, 2, 80); Bytes.Write32(seg, 4, 1000);
            seg[12] = 5 << 4; seg[13] = TcpHeader.Syn; Bytes.Write16(seg, 14, 1000);
            Bytes.Write16(seg, 16, Checksum.Finish(Checksum.Add(Checksum.PseudoHeader(Peer, Us, Ipv4.ProtocolTcp, 20), seg, 0, 20)));
            Feed(Frames.Ip(OurMac, PeerMac, Peer, Us, Ipv4.ProtocolTcp, seg));
            byte[] r = _dev.TakeSent()[0];
            int o = 14 + 20;
            Assert.That(r[o + TcpHeader.FlagsOffset], Is.EqualTo(TcpHeader.Rst | TcpHeader.Ack));
            Assert.That(Bytes.Read32(r, o + TcpHeader.AckOffset), Is.EqualTo(1001u));
            Assert.That(Checksum.Finish(Checksum.Add(Checksum.PseudoHeader(Us, Peer, Ipv4.ProtocolTcp, 20), r, o, 20)), Is.Zero);
        }
    }
}
