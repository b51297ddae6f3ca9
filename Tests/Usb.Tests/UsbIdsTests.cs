using System;
using System.IO;
using System.Text;
using Drivers.Usb.Names;
using NUnit.Framework;

namespace Usb.Tests
{
    /// <summary>The usb.ids parser: vendors, products, classes, subclasses, protocols; the other sections, comments and indentation levels are told apart.</summary>
    [TestFixture]
    public class UsbIdsTests
    {
        /// <summary>Excerpts of usb.ids (2025.07.26) in its own layout, plus a UTF-8 name.</summary>
        public const string Sample =
            "#\n# List of USB ID's\n#\n# Version: 2025.07.26\n#\n\n" +
            "# Syntax:\n# vendor  vendor_name\n#\tdevice  device_name\t\t\t\t<-- single tab\n#\t\tinterface  interface_name\t\t<-- two tabs\n\n" +
            "0001  Fry's Electronics\n\t7778  Counterfeit flash drive [Kingston]\n" +
            "0409  NEC Corp.\n\t0011  PC98 Series Layout Keyboard Mouse\n\t55aa  Hub\n\t55ab  Hub [iMac/iTouch kbd]\n" +
            "0627  Adomax Technology Co., Ltd\n\t0001  QEMU Tablet\n" +
            "0c45  Microdia\n\t6001  Genius VideoCAM NB\n\t\t00  Video\n\t6005  Sweex Mini Webcam\n" +
            "1d6b  Linux Foundation\n\t0001  1.1 root hub\n\t0002  2.0 root hub\n\t0003  3.0 root hub\n" +
            "2e04  Röder GmbH\n" +
            "46f4  QEMU\n" +
            "\n# List of known device classes, subclasses and protocols\n\n" +
            "C 00  (Defined at Interface level)\n" +
            "C 03  Human Interface Device\n\t00  No Subclass\n\t\t01  Keyboard\n\t01  Boot Interface Subclass\n\t\t01  Keyboard\n\t\t02  Mouse\n" +
            "C 09  Hub\n\t00  Unused\n\t\t00  Full speed (or root) hub\n\t\t01  Single TT\n\t\t02  TT per port\n" +
            "\n# List of Audio Class Terminal Types\n\n" +
            "AT 0100  USB Undefined\nAT 0101  USB Streaming\n" +
            "HID 00  None\nHID 21  HID\nHID 22  Report\nR 04  Usage Page\nL 0001  Arabic\n\t01  Saudi Arabia\n" +
            "HCC 00  Not supported\nHCC 01  Arabic\n";

        static UsbIds Parse(string text) => new UsbIds(Encoding.UTF8.GetBytes(text));

        [Test]
        public void VendorsAndProducts()
        {
            UsbIds ids = Parse(Sample);
            Assert.That(ids.VendorCount, Is.EqualTo(7));
            Assert.That(ids.Vendor(0x1d6b), Is.EqualTo("Linux Foundation"));
            Assert.That(ids.Product(0x1d6b, 0x0002), Is.EqualTo("2.0 root hub"));
            Assert.That(ids.Vendor(0x0627), Is.EqualTo("Adomax Technology Co., Ltd"));
            Assert.That(ids.Product(0x0627, 0x0001), Is.EqualTo("QEMU Tablet"));
            Assert.That(ids.Product(0x0409, 0x55aa), Is.EqualTo("Hub"));
            Assert.That(ids.Product(0x0409, 0x55ab), Is.EqualTo("Hub [iMac/iTouch kbd]"));
            Assert.That(ids.Vendor(0x46f4), Is.EqualTo("QEMU"));
            Assert.That(ids.Product(0x46f4, 0x0001), Is.Null, "a vendor without products");
            Assert.That(ids.Vendor(0x0001), Is.EqualTo("Fry's Electronics"), "the first vendor");
            Assert.That(ids.Vendor(0x2e04), Is.EqualTo("Röder GmbH"), "UTF-8");
            Assert.That(ids.Vendor(0x1234), Is.Null);
            Assert.That(ids.Product(0x0c45, 0x6005), Is.EqualTo("Sweex Mini Webcam"), "an interface line (two tabs) does not end the vendor");
            Assert.That(ids.Product(0x0c45, 0x0000), Is.Null, "interface ids are not products");
            Assert.That(ids.Product(0x0627, 0x55aa), Is.Null, "a product of the next vendor is not this vendor's");
        }

        [Test]
        public void ClassesSubclassesAndProtocols()
        {
            UsbIds ids = Parse(Sample);
            Assert.That(ids.Class(0x03), Is.EqualTo("Human Interface Device"));
            Assert.That(ids.Class(0x00), Is.EqualTo("(Defined at Interface level)"));
            Assert.That(ids.Class(0x08), Is.Null);
            Assert.That(ids.SubClass(0x03, 0x01), Is.EqualTo("Boot Interface Subclass"));
            Assert.That(ids.Protocol(0x03, 0x01, 0x02), Is.EqualTo("Mouse"));
            Assert.That(ids.Protocol(0x03, 0x00, 0x01), Is.EqualTo("Keyboard"));
            Assert.That(ids.Protocol(0x03, 0x00, 0x02), Is.Null, "protocols belong to their subclass");
            Assert.That(ids.Protocol(0x09, 0x00, 0x01), Is.EqualTo("Single TT"));
            Assert.That(ids.Vendor(0x0100), Is.Null, "'AT 0100' is an audio terminal, not a vendor");
            Assert.That(ids.Tagged("HCC", 0x00, 2), Is.EqualTo("Not supported"));
            Assert.That(ids.Tagged("HID", 0x22, 2), Is.EqualTo("Report"));
            Assert.That(ids.Tagged("HID", 0x23, 2), Is.Null);
        }

        [Test]
        public void CarriageReturnsAndAMissingFinalNewlineAreTolerated()
        {
            UsbIds ids = Parse("1d6b  Linux Foundation\r\n\t0002  2.0 root hub\r\n46f4  QEMU");
            Assert.That(ids.Vendor(0x1d6b), Is.EqualTo("Linux Foundation"));
            Assert.That(ids.Product(0x1d6b, 0x0002), Is.EqualTo("2.0 root hub"));
            Assert.That(ids.Vendor(0x46f4), Is.EqualTo("QEMU"));
            Assert.That(Parse("").VendorCount, Is.Zero);
        }

        /// <summary>The database the build puts into the image (out/usb.ids/usb.ids, from Debian's usb.ids package).</summary>
        [Test]
        public void TheImagesDatabaseNamesQemusDevicesAsUsbutilsDoes()
        {
            string dir = TestContext.CurrentContext.TestDirectory;
            string file = null;
            for (var d = new DirectoryInfo(dir); d != null && file == null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "out", "usb.ids", "usb.ids")))
                    file = Path.Combine(d.FullName, "out", "usb.ids", "usb.ids");
            if (file == null)
                Assert.Ignore("out/usb.ids/usb.ids is not there: ./build.sh iso fetches it");
            UsbIds ids = new UsbIds(File.ReadAllBytes(file));
            Assert.That(ids.VendorCount, Is.GreaterThan(3000));
            Assert.That(ids.Vendor(0x1d6b) + " " + ids.Product(0x1d6b, 0x0003), Is.EqualTo("Linux Foundation 3.0 root hub"));
            Assert.That(ids.Vendor(0x0627) + " " + ids.Product(0x0627, 0x0001), Is.EqualTo("Adomax Technology Co., Ltd QEMU Tablet"));
            Assert.That(ids.Vendor(0x0409) + " " + ids.Product(0x0409, 0x55aa), Is.EqualTo("NEC Corp. Hub"));
            Assert.That(ids.Vendor(0x46f4), Is.EqualTo("QEMU"));
            Assert.That(ids.Class(0x08), Is.EqualTo("Mass Storage"));
            Assert.That(ids.Protocol(0x08, 0x06, 0x50), Is.EqualTo("Bulk-Only"));
        }
    }
}
