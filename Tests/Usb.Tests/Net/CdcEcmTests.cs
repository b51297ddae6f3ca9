using Drivers.Usb.Listings;
using System;
using System.Collections.Generic;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Net;
using Net;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests.Net
{
    /// <summary>The CDC-ECM driver on the simulated bus, against a device laid out like QEMU's usb-net (CDC configuration).</summary>
    [TestFixture]
    public sealed class CdcEcmTests
    {
        const byte MacString = 4;
        static readonly Ip4Address Us = new Ip4Address(10, 0, 2, 15), Peer = new Ip4Address(10, 0, 2, 2);

        /// <summary>QEMU usb-net's CDC configuration (hw/usb/dev-network.c): control interface 0 with Header, Union,
        /// Ethernet descriptors and an interrupt endpoint; data interface 1, alt 0 empty, alt 1 bulk IN 0x82 / OUT 0x02.</summary>
        static SimDevice NewEcmDevice(string mac = "405400123457")
        {
            byte[] config = Desc.Config(1, 0xC0, 50,
                Desc.Interface(0, 0, 1, UsbClass.Communications, CdcEcmConstants.SubclassEthernet, 0),
                Desc.Raw(5, CdcEcmConstants.CsInterface, CdcEcmConstants.SubtypeHeader, 0x10, 0x01),
                Desc.Raw(5, CdcEcmConstants.CsInterface, CdcEcmConstants.SubtypeUnion, 0, 1),
                Desc.Raw(13, CdcEcmConstants.CsInterface, CdcEcmConstants.SubtypeEthernet, MacString, 0, 0, 0, 0, 0xEA, 0x05, 0, 0, 0),
                Desc.Endpoint(0x81, TransferType.Interrupt, 16, 5),
                Desc.Interface(1, 0, 0, UsbClass.CdcData),
                Desc.Interface(1, 1, 2, UsbClass.CdcData),
                Desc.Endpoint(0x82, TransferType.Bulk, 64, 0),
                Desc.Endpoint(0x02, TransferType.Bulk, 64, 0));
            // QEMU lists its RNDIS configuration (value 2) first: the generic driver must skip it like Linux does.
            byte[] rndis = Desc.Config(2, 0xC0, 50,
                Desc.Interface(0, 0, 1, UsbClass.Communications, 0x02, 0xFF),
                Desc.Endpoint(0x81, TransferType.Interrupt, 8, 5),
                Desc.Interface(1, 0, 2, UsbClass.CdcData),
                Desc.Endpoint(0x82, TransferType.Bulk, 64, 0),
                Desc.Endpoint(0x02, TransferType.Bulk, 64, 0));
            var d = new SimDevice("usb-net", UsbSpeed.Full, Desc.Device(0x0525, 0xa4a2, UsbClass.Communications, numConfigs: 2), rndis, config);
            d.Strings[MacString] = mac;
            d.OnControl = (setup, data) => setup.bRequest == CdcEcmConstants.RequestSetEthernetPacketFilter ? SimResult.Ok(0) : (SimResult?)null;
            return d;
        }

        sealed class Rig : IDisposable
        {
            public readonly TestBed Bed = new TestBed();
            public readonly SimController Hc;
            public readonly NetStack Net;
            public readonly List<NetInterface> Attached = new List<NetInterface>();

            public Rig()
            {
                Net = new NetStack(Bed.Clock, Bed.Threading);
                CdcEcmDriver.Register(Bed.Stack, Net, iface =>
                {
                    lock (Attached) Attached.Add(iface);
                    Net.AddInterface(iface, false, Us, new Ip4Address(255, 255, 255, 0), Peer);
                });
                Hc = Bed.AddController(4, UsbSpeed.High);
            }

            public void Dispose() => Bed.Dispose();
        }

        static byte[] ArpRequestForUs()
        {
            var f = new byte[60];
            int o = Ethernet.WriteHeader(f, MacAddress.Broadcast, new MacAddress(0x525500000002), Ethernet.TypeArp);
            Bytes.Write16(f, o + Arp.HardwareTypeOffset, Arp.HardwareEthernet);
            Bytes.Write16(f, o + Arp.ProtocolTypeOffset, Ethernet.TypeIpv4);
            f[o + Arp.HardwareLengthOffset] = 6;
            f[o + Arp.ProtocolLengthOffset] = 4;
            Bytes.Write16(f, o + Arp.OperationOffset, Arp.OperationRequest);
            new MacAddress(0x525500000002).Write(f, o + Arp.SenderMacOffset);
            Peer.Write(f, o + Arp.SenderIpOffset);
            Us.Write(f, o + Arp.TargetIpOffset);
            return f;
        }

        [Test]
        public void Binds_Reads_Mac_Activates_Data_Interface_And_Answers_Arp_Over_Bulk()
        {
            using var rig = new Rig();
            SimDevice dev = NewEcmDevice();
            int dmaBefore = rig.Bed.Dma.Outstanding;
            rig.Hc.Plug("1", dev);
            rig.Bed.Settle();
            UsbInterface control = rig.Bed.Stack.FindInterface("1-1:1.0");
            Assert.That(control?.Driver?.Name, Is.EqualTo(CdcEcmDriver.DriverName), rig.Bed.LogSink.All());
            Assert.That(dev.Configuration, Is.EqualTo(1), "CDC configuration chosen over the RNDIS one listed first");
            Assert.That(rig.Attached.Count, Is.EqualTo(1));
            NetInterface iface = rig.Attached[0];
            Assert.That(iface.Name, Is.EqualTo("usb0"));
            Assert.That(iface.Mac.ToString(), Is.EqualTo("40:54:00:12:34:57"));
            Assert.That(iface.LinkUp, Is.True);
            Assert.That(dev.AltSettings.TryGetValue(1, out int alt) ? alt : -1, Is.EqualTo(1), "data interface on its bulk setting");
            Assert.That(dev.ControlLog.Exists(s => s.bRequest == CdcEcmConstants.RequestSetEthernetPacketFilter && s.wIndex == 0), Is.True);
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("cdc_ether 1-1:1.0: register 'cdc_ether' at usb-"));
            // The data interface is claimed by the same driver (Linux usb_driver_claim_interface): the
            // devices file names cdc_ether on both interfaces and their settings, as Linux does.
            UsbInterface dataIntf = rig.Bed.Stack.FindInterface("1-1:1.1");
            Assert.That(dataIntf?.Driver?.Name, Is.EqualTo(CdcEcmDriver.DriverName));
            string devices = UsbListings.DevicesFile(rig.Bed.Stack);
            Assert.That(devices, Does.Contain("I:  If#= 1 Alt= 0 #EPs= 0 Cls=0a(data ) Sub=00 Prot=00 Driver=cdc_ether\n"), devices);
            Assert.That(devices, Does.Contain("I:* If#= 1 Alt= 1 #EPs= 2 Cls=0a(data ) Sub=00 Prot=00 Driver=cdc_ether\n"), devices);

            // A frame from the wire arrives on bulk IN; the stack answers on bulk OUT.
            rig.Hc.Mutate(() => dev.Endpoint(0x82).InData.Enqueue(ArpRequestForUs()));
            rig.Hc.Kick();
            byte[] reply = null;
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (reply == null && DateTime.UtcNow < deadline)
            {
                rig.Net.Poll();
                rig.Hc.Mutate(() => { var o = dev.Endpoint(0x02).OutData; if (o.Count > 0) reply = o[0]; });
                Thread.Sleep(1);
            }
            Assert.That(reply, Is.Not.Null, "ARP reply sent on bulk OUT\n" + rig.Bed.LogSink.All());
            Assert.That(Bytes.Read16(reply, Ethernet.TypeOffset), Is.EqualTo(Ethernet.TypeArp));
            Assert.That(Bytes.Read16(reply, Ethernet.HeaderLength + Arp.OperationOffset), Is.EqualTo(Arp.OperationReply));
            Assert.That(MacAddress.Read(reply, Ethernet.HeaderLength + Arp.SenderMacOffset), Is.EqualTo(iface.Mac));
            Assert.That(iface.Counters.RxPackets, Is.EqualTo(1UL));
            Assert.That(iface.Counters.TxPackets, Is.EqualTo(1UL));

            // Unplugged: the interface leaves the stack, nothing is left queued.
            rig.Hc.Unplug("1");
            rig.Bed.Settle();
            Assert.That(rig.Net.Interfaces, Is.Empty);
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("unregister 'cdc_ether' (usb0)"));
            Assert.That(iface.LinkUp, Is.False, "gone device reports link down");
            Assert.That(rig.Bed.Dma.Outstanding, Is.EqualTo(dmaBefore), "every request buffer freed");
            Assert.That(dataIntf.Driver, Is.Null, "the claimed interface was given back");
        }

        [Test]
        public void Unbinding_The_Data_Interface_Takes_The_Function_Down_And_Frees_Both()
        {
            using var rig = new Rig();
            SimDevice dev = NewEcmDevice();
            rig.Hc.Plug("1", dev);
            rig.Bed.Settle();
            UsbInterface control = rig.Bed.Stack.FindInterface("1-1:1.0");
            UsbInterface data = rig.Bed.Stack.FindInterface("1-1:1.1");
            Assert.That(data.Driver?.Name, Is.EqualTo(CdcEcmDriver.DriverName));
            // Another driver cannot take the claimed interface.
            Assert.That(rig.Bed.Stack.ClaimInterface(new ClaimingDriver(), data, null), Is.EqualTo(UsbStatus.Busy));

            Assert.That(rig.Bed.Stack.Unbind(data), Is.EqualTo(UsbStatus.Ok));
            Assert.That(rig.Net.Interfaces, Is.Empty, "the network interface left with the function");
            Assert.That(control.Driver, Is.Null, "the probed interface was given back too");
            Assert.That(data.Driver, Is.Null);
        }

        sealed class ClaimingDriver : UsbInterfaceDriver
        {
            public override string Name => "claimer";
            public override UsbDeviceId[] IdTable => new UsbDeviceId[0];
            public override UsbStatus Probe(UsbInterface intf, UsbDeviceId id) => UsbStatus.NoMatch;
            public override void Disconnect(UsbInterface intf) { }
        }

        [Test]
        public void Bad_Frames_From_The_Device_Are_Counted_Not_Delivered()
        {
            using var rig = new Rig();
            SimDevice dev = NewEcmDevice();
            rig.Hc.Plug("1", dev);
            rig.Bed.Settle();
            NetInterface iface = rig.Attached[0];
            rig.Hc.Mutate(() =>
            {
                dev.Endpoint(0x82).InData.Enqueue(new byte[5]);            // runt
                var garbage = new byte[200];
                new Random(3).NextBytes(garbage);
                iface.Mac.Write(garbage, 0);
                dev.Endpoint(0x82).InData.Enqueue(garbage);                 // our MAC, random contents
            });
            rig.Hc.Kick();
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (iface.Counters.RxErrors + iface.Counters.RxDropped + iface.Counters.RxPackets < 2 && DateTime.UtcNow < deadline)
            {
                rig.Net.Poll();
                Thread.Sleep(1);
            }
            Assert.That(iface.Counters.RxErrors, Is.GreaterThanOrEqualTo(1UL), "runt counted as an error");
            Assert.That(iface.Counters.RxPackets, Is.EqualTo(1UL), "the random frame reached the stack (and was dropped there)");
        }

        [Test]
        public void Mac_String_Must_Be_Twelve_Hex_Digits()
        {
            Assert.That(CdcEcmDriver.ParseMac("525400123456", out var mac), Is.True);
            Assert.That(mac.ToString(), Is.EqualTo("52:54:00:12:34:56"));
            foreach (string bad in new[] { "", "52540012345", "5254001234567", "52540012345g", "015400123456", "000000000000" })
                Assert.That(CdcEcmDriver.ParseMac(bad, out _), Is.False, bad);
        }

        [Test]
        public void Device_Without_Union_Descriptor_Is_Declined()
        {
            using var rig = new Rig();
            byte[] config = Desc.Config(1, 0xC0, 50,
                Desc.Interface(0, 0, 1, UsbClass.Communications, CdcEcmConstants.SubclassEthernet, 0),
                Desc.Raw(5, CdcEcmConstants.CsInterface, CdcEcmConstants.SubtypeHeader, 0x10, 0x01),
                Desc.Raw(13, CdcEcmConstants.CsInterface, CdcEcmConstants.SubtypeEthernet, MacString, 0, 0, 0, 0, 0xEA, 0x05, 0, 0, 0),
                Desc.Endpoint(0x81, TransferType.Interrupt, 16, 5));
            var d = new SimDevice("odd-net", UsbSpeed.Full, Desc.Device(0x1234, 0x0001, UsbClass.Communications), config);
            rig.Hc.Plug("1", d);
            rig.Bed.Settle();
            Assert.That(rig.Bed.Stack.FindInterface("1-1:1.0")?.Driver, Is.Null);
            Assert.That(rig.Attached, Is.Empty);
        }
    }
}
