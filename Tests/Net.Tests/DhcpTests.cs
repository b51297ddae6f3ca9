using System;
using System.Collections.Generic;
using Net;
using NUnit.Framework;
using Tests.Support;

namespace Net.Tests
{
    /// <summary>The DHCP client against a simulated server (answers like QEMU's slirp: 10.0.2.15 from 10.0.2.2).</summary>
    [TestFixture]
    public sealed class DhcpTests
    {
        static readonly MacAddress Mac = new MacAddress(0x525400123456), ServerMac = new MacAddress(0x525500000002);
        static readonly Ip4Address Server = new Ip4Address(10, 0, 2, 2), Leased = new Ip4Address(10, 0, 2, 15);
        static readonly Ip4Address Fallback = new Ip4Address(192, 168, 7, 2);

        ManualClock _clock;
        SimDevice _dev;
        NetStack _stack;
        NetInterface _if;
        public int Discovers, Requests;
        public bool Silent, Nak;
        public uint LeaseSeconds = 86400;

        [SetUp]
        public void SetUp()
        {
            Discovers = Requests = 0;
            Silent = Nak = false;
            LeaseSeconds = 86400;
            _clock = new ManualClock();
            _dev = new SimDevice();
            _stack = new NetStack(_clock, new InlineThreading());
            _if = new NetInterface("eth0", Mac, NetInterface.DefaultMtu, _dev);
            _stack.AddInterface(_if, true, Fallback, new Ip4Address(255, 255, 255, 0), new Ip4Address(192, 168, 7, 1));
        }

        void Run(ulong ms)
        {
            for (ulong t = 0; t < ms; t += 10)
            {
                foreach (var f in _dev.TakeSent()) Serve(f);
                _stack.Poll();
                _clock.Advance(10);
            }
        }

        void Serve(byte[] f)
        {
            if (Bytes.Read16(f, 12) != Ethernet.TypeIpv4 || f[14 + 9] != Ipv4.ProtocolUdp) return;
            int u = 14 + 20, m = u + 8;
            if (Bytes.Read16(f, u + 2) != DhcpClient.ServerPort) return;
            Assert.That(Ip4Address.Read(f, 14 + Ipv4.DestinationOffset), Is.EqualTo(Ip4Address.Broadcast));
            Assert.That(MacAddress.Read(f, 0).IsBroadcast, Is.True);
            byte type = 0;
            for (int i = m + DhcpClient.OptionsOffset; f[i] != DhcpClient.OptionEnd; i += 2 + f[i + 1])
                if (f[i] == DhcpClient.OptionMessageType) type = f[i + 2];
            if (type == DhcpClient.Discover) Discovers++;
            if (type == DhcpClient.Request) Requests++;
            if (Silent) return;
            uint xid = Bytes.Read32(f, m + DhcpClient.XidOffset);
            byte reply = type == DhcpClient.Discover ? DhcpClient.Offer : Nak ? DhcpClient.Nak : DhcpClient.Ack;
            _dev.Inbox.Enqueue(Reply(xid, reply, LeaseSeconds));
        }

        internal static byte[] Reply(uint xid, byte type, uint lease, Action<List<byte>> extraOptions = null)
        {
            var msg = new byte[DhcpClient.OptionsOffset];
            msg[DhcpClient.OpOffset] = DhcpClient.OpReply;
            msg[DhcpClient.HtypeOffset] = 1;
            msg[DhcpClient.HlenOffset] = 6;
            Bytes.Write32(msg, DhcpClient.XidOffset, xid);
            Leased.Write(msg, DhcpClient.YiaddrOffset);
            Mac.Write(msg, DhcpClient.ChaddrOffset);
            Bytes.Write32(msg, DhcpClient.MagicOffset, DhcpClient.MagicCookie);
            var opts = new List<byte> { DhcpClient.OptionMessageType, 1, type, DhcpClient.OptionServerId, 4, 10, 0, 2, 2,
                                        DhcpClient.OptionSubnetMask, 4, 255, 255, 255, 0, DhcpClient.OptionRouter, 4, 10, 0, 2, 2,
                                        DhcpClient.OptionLeaseTime, 4, (byte)(lease >> 24), (byte)(lease >> 16), (byte)(lease >> 8), (byte)lease };
            extraOptions?.Invoke(opts);
            opts.Add(DhcpClient.OptionEnd);
            var all = new byte[msg.Length + opts.Count];
            msg.CopyTo(all, 0);
            opts.CopyTo(all, msg.Length);
            return Frames.Ip(MacAddress.Broadcast, ServerMac, Server, Ip4Address.Broadcast, Ipv4.ProtocolUdp,
                             Frames.Udp(Server, Ip4Address.Broadcast, DhcpClient.ServerPort, DhcpClient.ClientPort, all));
        }

        [Test]
        public void Discover_Offer_Request_Ack_Configures_The_Interface()
        {
            Run(500);
            Assert.That(_if.Address, Is.EqualTo(Leased));
            Assert.That(_if.Netmask, Is.EqualTo(new Ip4Address(255, 255, 255, 0)));
            Assert.That(_if.Gateway, Is.EqualTo(Server));
            Assert.That(_if.AddressSource, Is.EqualTo("dhcp"));
            Assert.That((Discovers, Requests), Is.EqualTo((1, 1)));
            Run(DhcpClient.FallbackAfterMs + 1000);
            Assert.That(_if.AddressSource, Is.EqualTo("dhcp"), "no fallback once leased");
        }

        [Test]
        public void Renews_At_Half_The_Lease()
        {
            LeaseSeconds = 120;
            Run(500);
            Assert.That(Requests, Is.EqualTo(1));
            Run(61_000);
            Assert.That(Requests, Is.EqualTo(2), "renewed at T1");
            Assert.That(_if.Address, Is.EqualTo(Leased));
        }

        [Test]
        public void Without_Server_Retries_Then_Applies_Static_Fallback_And_Keeps_Trying()
        {
            Silent = true;
            Run(DhcpClient.FallbackAfterMs + 100);
            Assert.That(Discovers, Is.InRange(3, 6), "backed-off retries");
            Assert.That(_if.Address, Is.EqualTo(Fallback));
            Assert.That(_if.AddressSource, Is.EqualTo("static"));
            Silent = false;
            Run(40_000);
            Assert.That(_if.Address, Is.EqualTo(Leased), "a server that appears later still configures it");
            Assert.That(_if.AddressSource, Is.EqualTo("dhcp"));
        }

        [Test]
        public void Nak_Restarts_Discovery()
        {
            Nak = true;
            Run(300);
            Assert.That(_stack.DhcpOf(_if).Naks, Is.GreaterThanOrEqualTo(1UL));
            Assert.That(_if.IsConfigured, Is.False);
            Nak = false;
            Run(5000);
            Assert.That(_if.Address, Is.EqualTo(Leased));
        }

        [Test]
        public void Replies_With_Wrong_Xid_Or_Broken_Options_Are_Ignored()
        {
            Silent = true;
            Run(20);
            _dev.Inbox.Enqueue(Reply(0xDEADBEEF, DhcpClient.Offer, 100));
            // An option whose length runs past the datagram.
            _dev.Inbox.Enqueue(Reply(0, DhcpClient.Offer, 100, o => { o.Add(DhcpClient.OptionDns); o.Add(250); }));
            Run(20);
            Assert.That(_if.IsConfigured, Is.False);
        }
    }
}
