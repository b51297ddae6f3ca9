using System;
using System.Collections.Generic;
using Net;
using Net.Drivers.E1000;
using NUnit.Framework;
using Tests.Support;

namespace Net.Tests
{
    /// <summary>The e1000 driver against simulated 82540EM registers and DMA memory.</summary>
    [TestFixture]
    public sealed class E1000Tests
    {
        const ulong Mac = 0x525400123456;
        ArenaDma _dma;
        SimE1000 _hw;
        ManualClock _clock;

        [SetUp]
        public void SetUp()
        {
            _dma = new ArenaDma(ArenaDma.Above4GBase);
            _hw = new SimE1000(_dma, Mac);
            _clock = new ManualClock();
        }

        [TearDown]
        public void TearDown() => _dma.Dispose();

        (E1000 nic, NetStack stack, NetInterface iface) Bring()
        {
            var nic = new E1000(_hw, _dma, _clock);
            Assert.That(nic.Initialize(), Is.True);
            var stack = new NetStack(_clock, new InlineThreading());
            var iface = new NetInterface("eth0", nic.Mac, NetInterface.DefaultMtu, nic);
            nic.Attach(iface);
            stack.AddInterface(iface, false, new Ip4Address(10, 0, 2, 15), new Ip4Address(255, 255, 255, 0), new Ip4Address(10, 0, 2, 2));
            return (nic, stack, iface);
        }

        [Test]
        public void Initialize_Resets_Reads_Mac_And_Programs_Rings_Per_Manual()
        {
            var (nic, _, _) = Bring();
            Assert.That(_hw.ResetCount, Is.EqualTo(1));
            Assert.That(nic.Mac.ToString(), Is.EqualTo("52:54:00:12:34:56"));
            Assert.That(_hw.Reg(E1000Reg.Rdlen), Is.EqualTo(E1000.RxRingSize * E1000RxDesc.Size));
            Assert.That(_hw.Reg(E1000Reg.Rdlen) % 128, Is.Zero, "ring length multiple of 128 (13.4.29)");
            Assert.That(_hw.Reg(E1000Reg.Rdbah), Is.EqualTo(1), "upper address half programmed");
            Assert.That(_hw.Reg(E1000Reg.Rdbal) % 16, Is.Zero, "16-byte aligned ring");
            Assert.That(_hw.Reg(E1000Reg.Rdh), Is.EqualTo(0));
            Assert.That(_hw.Reg(E1000Reg.Rdt), Is.EqualTo(E1000.RxRingSize - 1), "all but one descriptor given to hardware");
            uint rctl = _hw.Reg(E1000Reg.Rctl);
            Assert.That(rctl & E1000Rctl.Enable, Is.Not.Zero);
            Assert.That(rctl & E1000Rctl.BroadcastAccept, Is.Not.Zero);
            Assert.That(rctl & E1000Rctl.StripCrc, Is.Not.Zero);
            Assert.That(rctl & E1000Rctl.UnicastPromiscuous, Is.Zero);
            uint tctl = _hw.Reg(E1000Reg.Tctl);
            Assert.That(tctl & E1000Tctl.Enable, Is.Not.Zero);
            Assert.That(tctl & E1000Tctl.PadShortPackets, Is.Not.Zero);
            Assert.That((tctl >> E1000Tctl.CollisionDistanceShift) & 0x3FF, Is.EqualTo(E1000Tctl.CollisionDistanceFullDuplex));
            Assert.That(_hw.Reg(E1000Reg.Ctrl) & E1000Ctrl.SetLinkUp, Is.Not.Zero);
            Assert.That(_hw.Reg(E1000Reg.Ims), Is.EqualTo(E1000Int.Enabled), "interrupts unmasked after attach");
            Assert.That(nic.LinkUp, Is.True);
        }

        [Test]
        public void Reset_That_Never_Completes_Fails_Within_Its_Bound()
        {
            _hw.ResetStuck = true;
            var nic = new E1000(_hw, _dma, _clock);
            Assert.That(nic.Initialize(), Is.False);
            Assert.That(_clock.Us, Is.LessThan(50_000), "bounded wait");
        }

        [Test]
        public void Transmit_Copies_Frame_Into_Descriptor_And_Reuses_Ring()
        {
            var (nic, _, _) = Bring();
            for (int i = 0; i < E1000.TxRingSize * 3; i++)
            {
                var f = new byte[60 + i % 100];
                f[0] = (byte)i;
                Assert.That(nic.Transmit(f, f.Length), Is.True, $"frame {i}");
            }
            Assert.That(_hw.Transmitted.Count, Is.EqualTo(E1000.TxRingSize * 3));
            Assert.That(_hw.Transmitted[5][0], Is.EqualTo(5));
            Assert.That(_hw.Transmitted[5].Length, Is.EqualTo(65));
            Assert.That(nic.Transmit(new byte[3000], 3000), Is.False, "oversized frame refused");
        }

        [Test]
        public void Interrupt_Handler_Claims_Only_Its_Causes()
        {
            var (nic, _, _) = Bring();
            _hw.Read32(E1000Reg.Icr);
            Assert.That(nic.HandleInterrupt(), Is.False, "shared line, nothing pending");
            _hw.Deliver(new byte[60]);
            Assert.That(_hw.InterruptPending, Is.True);
            Assert.That(nic.HandleInterrupt(), Is.True);
            Assert.That(_hw.InterruptPending, Is.False, "ICR cleared by the read");
        }

        [Test]
        public void Receive_Delivers_Frames_To_The_Stack_And_Returns_Descriptors()
        {
            var (nic, stack, iface) = Bring();
            // An ARP request for our address: the stack must answer through the transmit ring.
            for (int round = 0; round < E1000.RxRingSize * 3; round++)
            {
                Assert.That(_hw.Deliver(Frames.ArpRequest(0x020000000099, new Ip4Address(10, 0, 2, 2), new Ip4Address(10, 0, 2, 15))), Is.True, $"round {round}");
                stack.Poll();
            }
            Assert.That(iface.Counters.RxPackets, Is.EqualTo((ulong)E1000.RxRingSize * 3));
            Assert.That(_hw.Transmitted.Count, Is.EqualTo(E1000.RxRingSize * 3), "one ARP reply per request");
            Assert.That(Bytes.Read16(_hw.Transmitted[0], Ethernet.HeaderLength + Arp.OperationOffset), Is.EqualTo(Arp.OperationReply));
        }

        [Test]
        public void Full_Ring_Counts_Missed_Packets_And_Recovers()
        {
            var (nic, stack, iface) = Bring();
            int accepted = 0;
            for (int i = 0; i < E1000.RxRingSize + 10; i++)
                if (_hw.Deliver(Frames.ArpRequest(0x020000000099, new Ip4Address(10, 0, 2, 2), new Ip4Address(10, 0, 2, 15)))) accepted++;
            Assert.That(accepted, Is.EqualTo(E1000.RxRingSize - 1));
            Assert.That(nic.HandleInterrupt(), Is.True);
            stack.Poll();
            Assert.That(iface.Counters.RxDropped, Is.EqualTo(1UL), "the overrun counted as a drop");
            Assert.That(_hw.Deliver(new byte[60]), Is.True, "descriptors returned");
        }

        [Test]
        public void Frames_With_Errors_Are_Dropped_And_Counted()
        {
            var (nic, stack, iface) = Bring();
            const byte CrcError = 1;
            _hw.Deliver(Frames.ArpRequest(0x020000000099, new Ip4Address(10, 0, 2, 2), new Ip4Address(10, 0, 2, 15)), CrcError);
            stack.Poll();
            Assert.That(iface.Counters.RxErrors, Is.EqualTo(1UL));
            Assert.That(iface.Counters.RxPackets, Is.Zero);
            Assert.That(_hw.Transmitted, Is.Empty, "no reply to a damaged frame");
        }

        [Test]
        public void Link_Down_Refuses_Transmit_And_Counts_Drop()
        {
            var (nic, stack, iface) = Bring();
            _hw.RaiseLinkChange(false);
            Assert.That(nic.HandleInterrupt(), Is.True);
            Assert.That(iface.LinkUp, Is.False);
            Assert.That(stack.Udp.Send(null, Ip4Address.Any, 1000, new IpEndPoint(new Ip4Address(10, 0, 2, 2), 9), new byte[4], 0, 4), Is.EqualTo(NetStatus.Ok),
                        "queued behind ARP");
            stack.Poll();
            Assert.That(iface.Counters.TxDropped, Is.GreaterThan(0UL));
        }
    }

    /// <summary>Hand-built frames for tests.</summary>
    public static class Frames
    {
        public static byte[] ArpRequest(ulong senderMac, Ip4Address senderIp, Ip4Address targetIp)
        {
            var f = new byte[60];
            int o = Ethernet.WriteHeader(f, MacAddress.Broadcast, new MacAddress(senderMac), Ethernet.TypeArp);
            Bytes.Write16(f, o + Arp.HardwareTypeOffset, Arp.HardwareEthernet);
            Bytes.Write16(f, o + Arp.ProtocolTypeOffset, Ethernet.TypeIpv4);
            f[o + Arp.HardwareLengthOffset] = 6;
            f[o + Arp.ProtocolLengthOffset] = 4;
            Bytes.Write16(f, o + Arp.OperationOffset, Arp.OperationRequest);
            new MacAddress(senderMac).Write(f, o + Arp.SenderMacOffset);
            senderIp.Write(f, o + Arp.SenderIpOffset);
            targetIp.Write(f, o + Arp.TargetIpOffset);
            return f;
        }

        public static byte[] ArpReply(ulong senderMac, Ip4Address senderIp, MacAddress targetMac, Ip4Address targetIp)
        {
            var f = ArpRequest(senderMac, senderIp, targetIp);
            targetMac.Write(f, Ethernet.DestinationOffset);
            Bytes.Write16(f, Ethernet.HeaderLength + Arp.OperationOffset, Arp.OperationReply);
            targetMac.Write(f, Ethernet.HeaderLength + Arp.TargetMacOffset);
            return f;
        }

        /// <summary>An IPv4 packet in an Ethernet frame, with correct header checksum.</summary>
        public static byte[] Ip(MacAddress dst, MacAddress src, Ip4Address from, Ip4Address to, byte protocol, byte[] payload, ushort flagsFragment = 0, byte ttl = 64)
        {
            int total = Ipv4.MinHeaderLength + payload.Length;
            var f = new byte[Math.Max(60, Ethernet.HeaderLength + total)];
            int o = Ethernet.WriteHeader(f, dst, src, Ethernet.TypeIpv4);
            f[o] = Ipv4.VersionIhlNoOptions;
            Bytes.Write16(f, o + Ipv4.TotalLengthOffset, (ushort)total);
            Bytes.Write16(f, o + Ipv4.FlagsFragmentOffset, flagsFragment);
            f[o + Ipv4.TtlOffset] = ttl;
            f[o + Ipv4.ProtocolOffset] = protocol;
            from.Write(f, o + Ipv4.SourceOffset);
            to.Write(f, o + Ipv4.DestinationOffset);
            Bytes.Write16(f, o + Ipv4.ChecksumOffset, Checksum.Finish(Checksum.Add(0, f, o, Ipv4.MinHeaderLength)));
            Array.Copy(payload, 0, f, o + Ipv4.MinHeaderLength, payload.Length);
            return f;
        }

        public static byte[] EchoRequest(ushort id, ushort seq, int payload)
        {
            var p = new byte[Icmp.EchoHeaderLength + payload];
            p[0] = Icmp.TypeEchoRequest;
            Bytes.Write16(p, Icmp.IdentifierOffset, id);
            Bytes.Write16(p, Icmp.SequenceOffset, seq);
            for (int i = 0; i < payload; i++) p[8 + i] = (byte)(i * 7);
            Bytes.Write16(p, Icmp.ChecksumOffset, Checksum.Finish(Checksum.Add(0, p, 0, p.Length)));
            return p;
        }

        public static byte[] Udp(Ip4Address from, Ip4Address to, ushort sport, ushort dport, byte[] data)
        {
            var p = new byte[8 + data.Length];
            Bytes.Write16(p, 0, sport);
            Bytes.Write16(p, 2, dport);
            Bytes.Write16(p, 4, (ushort)p.Length);
            Array.Copy(data, 0, p, 8, data.Length);
            ushort c = Checksum.Finish(Checksum.Add(Checksum.PseudoHeader(from, to, Ipv4.ProtocolUdp, p.Length), p, 0, p.Length));
            Bytes.Write16(p, 6, c == 0 ? (ushort)0xFFFF : c);
            return p;
        }
    }
}
