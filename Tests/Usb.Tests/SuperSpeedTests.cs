using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Listings;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    [TestFixture]
    public class SuperSpeedTests
    {
        [Test]
        public void SuperSpeedDeviceOnXhciStyleRootHub()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.Super, h => { h.AssignsAddresses = true; h.DriverName = "xhci_hcd"; });
            byte[] config = Desc.Config(1, 0xC0, 112,
                Desc.Interface(0, 0, 2, UsbClass.MassStorage, 6, 0x50),
                Desc.Endpoint(0x81, TransferType.Bulk, 1024, 0),
                Desc.Companion(15, 0, 0),
                Desc.Endpoint(0x02, TransferType.Bulk, 1024, 0),
                Desc.Companion(15, 0, 0));
            var disk = new SimDevice("QEMU USB HARDDRIVE", UsbSpeed.Super,
                                     Desc.Device(0x46f4, 0x0001, maxPacket0: 9, bcdUsb: 0x0300), config);
            disk.Bos = Desc.Concat(new byte[] { 5, 0x0F, 22, 0, 2 }, new byte[] { 7, 0x10, 2, 0x02, 0, 0, 0 },
                                   new byte[] { 10, 0x10, 3, 0, 0x0E, 0, 1, 10, 0xFF, 0x07 });
            hc.Plug("1", disk);
            bed.Settle();

            UsbDevice root = bed.Device("usb1");
            Assert.That(root.Descriptor.idProduct, Is.EqualTo(0x0003));
            Assert.That(root.Hub.IsSuperSpeed, Is.True);
            UsbDevice d = bed.Device("1-1");
            Assert.That(d, Is.Not.Null, bed.LogSink.All());
            Assert.That(d.Speed, Is.EqualTo(UsbSpeed.Super));
            Assert.That(d.Endpoint0.MaxPacketSize, Is.EqualTo(512));
            Assert.That(d.ControllerAddress, Is.EqualTo(100), "address chosen by the controller");
            Assert.That(d.Address, Is.EqualTo(2), "device number chosen by the core, as Linux's devnum");
            Assert.That(d.HasBos, Is.True);
            Assert.That(d.Bos.Capabilities.Length, Is.EqualTo(2));
            Assert.That(d.FindEndpoint(0x81).Companion.bMaxBurst, Is.EqualTo(15));
            string file = UsbListings.DevicesFile(bed.Stack);
            Assert.That(file, Does.Contain("T:  Bus=01 Lev=01 Prnt=01 Port=00 Cnt=01 Dev#=  2 Spd=5000 MxCh= 0\n"));
            Assert.That(file, Does.Contain("C:* #Ifs= 1 Cfg#= 1 Atr=c0 MxPwr=896mA\n"));
            Assert.That(file, Does.Contain("E:  Ad=81(I) Atr=02(Bulk) MxPS=1024 Ivl=0ms\n"));
            Assert.That(UsbListings.LsusbTree(bed.Stack), Does.StartWith("/:  Bus 01.Port 1: Dev 1, Class=root_hub, Driver=xhci_hcd/2p, 5000M\n"));
        }
    }
}
