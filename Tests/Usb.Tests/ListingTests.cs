using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Listings;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    [TestFixture]
    public class ListingTests
    {
        static TestBed Build()
        {
            var bed = new TestBed();
            bed.Stack.RegisterDriver(new RecordingInterfaceDriver("usbhid", UsbDeviceId.InterfaceClass(UsbClass.Hid)));
            bed.Stack.RegisterDriver(new RecordingInterfaceDriver("usb-storage", UsbDeviceId.InterfaceClass(UsbClass.MassStorage)));
            SimController hc = bed.AddController(2, UsbSpeed.High, h =>
            {
                h.DriverName = "ehci-pci";
                h.HcdDescription = "ehci_hcd";
                h.Description = "EHCI Host Controller";
                h.BusId = "0000:00:1d.7";
            });
            hc.Plug("1", new SimHub("QEMU USB Hub", 4, UsbSpeed.Full));
            bed.Settle();
            var tablet = new SimDevice("QEMU USB Tablet", UsbSpeed.Full, Desc.Device(0x0627, 0x0001, bcdUsb: 0x0110, bcdDevice: 0x0000), Desc.MouseConfig());
            tablet.Strings[3] = "28754-0000:00:1d.7-1.2";
            hc.Plug("1.2", tablet);
            var disk = new SimDevice("QEMU USB HARDDRIVE", UsbSpeed.High, Desc.Device(0x46f4, 0x0001, bcdDevice: 0x0000), Desc.StorageConfig());
            disk.Strings[3] = "1-0000:00:1d.7-2";
            hc.Plug("2", disk);
            bed.Settle();
            return bed;
        }

        [Test]
        public void DevicesFileMatchesLinuxFormat()
        {
            using TestBed bed = Build();
            string expected =
                "\n" +
                "T:  Bus=01 Lev=00 Prnt=00 Port=00 Cnt=00 Dev#=  1 Spd=480  MxCh= 2\n" +
                // The full-speed hub's and tablet's interrupt endpoints (1 + 2 us per frame).
                "B:  Alloc=  3/800 us ( 0%), #Int=  2, #Iso=  0\n" +
                // An EHCI root hub without an integrated TT: bDeviceProtocol 0, as Linux.
                "D:  Ver= 2.00 Cls=09(hub  ) Sub=00 Prot=00 MxPS=64 #Cfgs=  1\n" +
                "P:  Vendor=1d6b ProdID=0002 Rev= 1.00\n" +
                "S:  Manufacturer=Drivers.Usb ehci_hcd\n" +
                "S:  Product=EHCI Host Controller\n" +
                "S:  SerialNumber=0000:00:1d.7\n" +
                "C:* #Ifs= 1 Cfg#= 1 Atr=e0 MxPwr=  0mA\n" +
                "I:* If#= 0 Alt= 0 #EPs= 1 Cls=09(hub  ) Sub=00 Prot=00 Driver=hub\n" +
                // Linux's fixed high-speed root hub status endpoint (hcd.c hs_rh_config_descriptor).
                "E:  Ad=81(I) Atr=03(Int.) MxPS=   4 Ivl=256ms\n" +
                "\n" +
                "T:  Bus=01 Lev=01 Prnt=01 Port=00 Cnt=01 Dev#=  2 Spd=12   MxCh= 4\n" +
                "D:  Ver= 1.10 Cls=09(hub  ) Sub=00 Prot=00 MxPS=64 #Cfgs=  1\n" +
                "P:  Vendor=0409 ProdID=55aa Rev= 1.01\n" +
                "S:  Product=QEMU USB Hub\n" +
                "C:* #Ifs= 1 Cfg#= 1 Atr=e0 MxPwr=  0mA\n" +
                "I:* If#= 0 Alt= 0 #EPs= 1 Cls=09(hub  ) Sub=00 Prot=00 Driver=hub\n" +
                "E:  Ad=81(I) Atr=03(Int.) MxPS=   1 Ivl=255ms\n" +
                "\n" +
                "T:  Bus=01 Lev=02 Prnt=02 Port=01 Cnt=01 Dev#=  4 Spd=12   MxCh= 0\n" +
                "D:  Ver= 1.10 Cls=00(>ifc ) Sub=00 Prot=00 MxPS=64 #Cfgs=  1\n" +
                "P:  Vendor=0627 ProdID=0001 Rev= 0.00\n" +
                "S:  Manufacturer=QEMU\n" +
                "S:  Product=QEMU USB Tablet\n" +
                "S:  SerialNumber=28754-0000:00:1d.7-1.2\n" +
                "C:* #Ifs= 1 Cfg#= 1 Atr=a0 MxPwr=100mA\n" +
                "I:* If#= 0 Alt= 0 #EPs= 1 Cls=03(HID  ) Sub=01 Prot=02 Driver=usbhid\n" +
                "E:  Ad=81(I) Atr=03(Int.) MxPS=   4 Ivl=7ms\n" +
                "\n" +
                "T:  Bus=01 Lev=01 Prnt=01 Port=01 Cnt=02 Dev#=  3 Spd=480  MxCh= 0\n" +
                "D:  Ver= 2.00 Cls=00(>ifc ) Sub=00 Prot=00 MxPS=64 #Cfgs=  1\n" +
                "P:  Vendor=46f4 ProdID=0001 Rev= 0.00\n" +
                "S:  Manufacturer=QEMU\n" +
                "S:  Product=QEMU USB HARDDRIVE\n" +
                "S:  SerialNumber=1-0000:00:1d.7-2\n" +
                "C:* #Ifs= 1 Cfg#= 1 Atr=c0 MxPwr=100mA\n" +
                "I:* If#= 0 Alt= 0 #EPs= 2 Cls=08(stor.) Sub=06 Prot=50 Driver=usb-storage\n" +
                "E:  Ad=81(I) Atr=02(Bulk) MxPS= 512 Ivl=0ms\n" +
                "E:  Ad=02(O) Atr=02(Bulk) MxPS= 512 Ivl=0ms\n";
            Assert.That(UsbListings.DevicesFile(bed.Stack), Is.EqualTo(expected));
        }

        [Test]
        public void LsusbListsOneLinePerDevice()
        {
            using TestBed bed = Build();
            Assert.That(UsbListings.Lsusb(bed.Stack), Is.EqualTo(
                "Bus 001 Device 001: ID 1d6b:0002 Drivers.Usb ehci_hcd EHCI Host Controller\n" +
                "Bus 001 Device 002: ID 0409:55aa [unknown] QEMU USB Hub\n" +
                "Bus 001 Device 003: ID 46f4:0001 QEMU QEMU USB HARDDRIVE\n" +
                "Bus 001 Device 004: ID 0627:0001 QEMU QEMU USB Tablet\n"));
        }

        [Test]
        public void LsusbTakesNamesFromUsbIdsAndFallsBackToTheDevicesStrings()
        {
            using TestBed bed = Build();
            var names = new Drivers.Usb.Names.UsbIds(System.Text.Encoding.UTF8.GetBytes(UsbIdsTests.Sample));
            Assert.That(UsbListings.Lsusb(bed.Stack, names), Is.EqualTo(
                "Bus 001 Device 001: ID 1d6b:0002 Linux Foundation 2.0 root hub\n" +
                "Bus 001 Device 002: ID 0409:55aa NEC Corp. Hub\n" +
                "Bus 001 Device 003: ID 46f4:0001 QEMU QEMU USB HARDDRIVE\n" +
                "Bus 001 Device 004: ID 0627:0001 Adomax Technology Co., Ltd QEMU Tablet\n"));
        }

        /// <summary>
        /// QEMU's usb-kbd (full speed, as on the default machine) with its exact descriptors and
        /// strings: the section usbutils 014 printed for it under Linux (Tests/Boot.Tests/Reference/lsusb-default.txt).
        /// </summary>
        [Test]
        public void LsusbVerboseOfQemusKeyboardMatchesUsbutils()
        {
            using var bed = new TestBed();
            bed.Stack.RegisterDriver(new RecordingInterfaceDriver("usbhid", UsbDeviceId.InterfaceClass(UsbClass.Hid)));
            SimController hc = bed.AddController(2, UsbSpeed.Full);
            byte[] device = Desc.Raw(18, 1, 0x00, 0x02, 0, 0, 0, 8, 0x27, 0x06, 0x01, 0x00, 0x00, 0x00, 1, 4, 11, 1);
            byte[] config = Desc.Raw(9, 2, 0x22, 0x00, 1, 1, 8, 0xa0, 50,
                                     9, 4, 0, 0, 1, 3, 1, 1, 0,
                                     9, 0x21, 0x11, 0x01, 0, 1, 0x22, 63, 0,
                                     7, 5, 0x81, 3, 8, 0, 10);
            var kbd = new SimDevice("QEMU USB Keyboard", UsbSpeed.Full, device, config);
            kbd.Strings.Clear();
            kbd.Strings[1] = "QEMU";
            kbd.Strings[4] = "QEMU USB Keyboard";
            kbd.Strings[8] = "HID Keyboard";
            kbd.Strings[11] = "68284-0000:00:03.0-1";
            hc.Plug("1", kbd);
            bed.Settle();
            var names = new Drivers.Usb.Names.UsbIds(System.Text.Encoding.UTF8.GetBytes(UsbIdsTests.Sample));
            var sb = new System.Text.StringBuilder();
            LsusbVerbose.Append(sb, bed.Device("1-1"), names);
            Assert.That(sb.ToString(), Is.EqualTo(
                "\n" +
                "Bus 001 Device 002: ID 0627:0001 Adomax Technology Co., Ltd QEMU Tablet\n" +
                "Device Descriptor:\n" +
                "  bLength                18\n" +
                "  bDescriptorType         1\n" +
                "  bcdUSB               2.00\n" +
                "  bDeviceClass            0 \n" +
                "  bDeviceSubClass         0 \n" +
                "  bDeviceProtocol         0 \n" +
                "  bMaxPacketSize0         8\n" +
                "  idVendor           0x0627 Adomax Technology Co., Ltd\n" +
                "  idProduct          0x0001 QEMU Tablet\n" +
                "  bcdDevice            0.00\n" +
                "  iManufacturer           1 QEMU\n" +
                "  iProduct                4 QEMU USB Keyboard\n" +
                "  iSerial                11 68284-0000:00:03.0-1\n" +
                "  bNumConfigurations      1\n" +
                "  Configuration Descriptor:\n" +
                "    bLength                 9\n" +
                "    bDescriptorType         2\n" +
                "    wTotalLength       0x0022\n" +
                "    bNumInterfaces          1\n" +
                "    bConfigurationValue     1\n" +
                "    iConfiguration          8 HID Keyboard\n" +
                "    bmAttributes         0xa0\n" +
                "      (Bus Powered)\n" +
                "      Remote Wakeup\n" +
                "    MaxPower              100mA\n" +
                "    Interface Descriptor:\n" +
                "      bLength                 9\n" +
                "      bDescriptorType         4\n" +
                "      bInterfaceNumber        0\n" +
                "      bAlternateSetting       0\n" +
                "      bNumEndpoints           1\n" +
                "      bInterfaceClass         3 Human Interface Device\n" +
                "      bInterfaceSubClass      1 Boot Interface Subclass\n" +
                "      bInterfaceProtocol      1 Keyboard\n" +
                "      iInterface              0 \n" +
                "        HID Device Descriptor:\n" +
                "          bLength                 9\n" +
                "          bDescriptorType        33\n" +
                "          bcdHID               1.11\n" +
                "          bCountryCode            0 Not supported\n" +
                "          bNumDescriptors         1\n" +
                "          bDescriptorType        34 Report\n" +
                "          wDescriptorLength      63\n" +
                "         Report Descriptors: \n" +
                "           ** UNAVAILABLE **\n" +
                "      Endpoint Descriptor:\n" +
                "        bLength                 7\n" +
                "        bDescriptorType         5\n" +
                "        bEndpointAddress     0x81  EP 1 IN\n" +
                "        bmAttributes            3\n" +
                "          Transfer Type            Interrupt\n" +
                "          Synch Type               None\n" +
                "          Usage Type               Data\n" +
                "        wMaxPacketSize     0x0008  1x 8 bytes\n" +
                "        bInterval              10\n" +
                "Device Status:     0x0000\n" +
                "  (Bus Powered)\n"));
        }

        [Test]
        public void LsusbTreeShowsInterfacesAndDrivers()
        {
            using TestBed bed = Build();
            Assert.That(UsbListings.LsusbTree(bed.Stack), Is.EqualTo(
                "/:  Bus 01.Port 1: Dev 1, Class=root_hub, Driver=ehci-pci/2p, 480M\n" +
                "    |__ Port 1: Dev 2, If 0, Class=Hub, Driver=hub/4p, 12M\n" +
                "        |__ Port 2: Dev 4, If 0, Class=Human Interface Device, Driver=usbhid, 12M\n" +
                "    |__ Port 2: Dev 3, If 0, Class=Mass Storage, Driver=usb-storage, 480M\n"));
        }

        [Test]
        public void InactiveConfigurationsAlternateSettingsAndIadsAreListed()
        {
            using var bed = new TestBed();
            byte[] c1 = Desc.Config(1, 0x80, 50,
                Desc.Iad(0, 2, UsbClass.Video, 3, 0),
                Desc.Interface(0, 0, 1, UsbClass.Video, 1),
                Desc.Endpoint(0x83, TransferType.Interrupt, 16, 6),
                Desc.Interface(1, 0, 0, UsbClass.Video, 2),
                Desc.Interface(1, 1, 1, UsbClass.Video, 2),
                Desc.Endpoint(0x81, TransferType.Isochronous, 0x1000 | 128, 1));
            byte[] c2 = Desc.Config(2, 0x80, 50, Desc.Interface(0, 0, 0, UsbClass.VendorSpecific));
            bed.AddController(1).Plug("1", new SimDevice("cam", UsbSpeed.High, Desc.Device(0x046d, 0x0825, 0xEF, 2, 1, numConfigs: 2, iSerial: 0), c1, c2));
            bed.Settle();
            string text = UsbListings.DevicesFile(bed.Stack);
            Assert.That(text, Does.Contain(
                "C:* #Ifs= 2 Cfg#= 1 Atr=80 MxPwr=100mA\n" +
                "A:  FirstIf#= 0 IfCount= 2 Cls=0e(video) Sub=03 Prot=00\n" +
                "I:* If#= 0 Alt= 0 #EPs= 1 Cls=0e(video) Sub=01 Prot=00 Driver=(none)\n" +
                "E:  Ad=83(I) Atr=03(Int.) MxPS=  16 Ivl=4ms\n" +
                "I:* If#= 1 Alt= 0 #EPs= 0 Cls=0e(video) Sub=02 Prot=00 Driver=(none)\n" +
                "I:  If#= 1 Alt= 1 #EPs= 1 Cls=0e(video) Sub=02 Prot=00 Driver=(none)\n" +
                "E:  Ad=81(I) Atr=01(Isoc) MxPS= 384 Ivl=125us\n" +
                "C:  #Ifs= 1 Cfg#= 2 Atr=80 MxPwr=100mA\n" +
                // An inactive configuration's interfaces have no driver field value at all (Linux devices.c: no iface).
                "I:  If#= 0 Alt= 0 #EPs= 0 Cls=ff(vend.) Sub=00 Prot=00 Driver=\n"));
            Assert.That(text, Does.Contain("D:  Ver= 2.00 Cls=ef(misc ) Sub=02 Prot=01 MxPS=64 #Cfgs=  2\n"));
        }
    }
}
