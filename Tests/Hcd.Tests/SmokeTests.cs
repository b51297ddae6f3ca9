using System.Collections.Generic;
using NUnit.Framework;
using Platform;
using Platform.Pci;
using Tests.Support;

namespace Hcd.Tests
{
    public class RegistrationTests
    {
        static PciFunction UsbController(byte progIf, int device) => new PciFunction
        {
            Address = new PciAddress(0, device, 0),
            ClassCode = PciConfig.ClassSerialBus,
            Subclass = PciConfig.SubclassUsb,
            ProgIf = progIf,
        };

        [Test]
        public void HostControllerDriversClaimOnlyTheirOwnUsbControllerClass()
        {
            var registry = new PciDriverRegistry();
            Drivers.Usb.Hcd.HostControllerDrivers.Register(registry, new Drivers.Usb.UsbStack(new ManualClock(), new InlineThreading()));
            var nonUsb = new PciFunction { ClassCode = 0x02, Subclass = 0x00 };
            var seen = new HashSet<byte>();
            foreach (PciDriver driver in RegisteredDrivers(registry))
            {
                Assert.That(driver.Matches(nonUsb), Is.False, driver.Name + " claims a network controller");
                int matched = 0;
                foreach (byte progIf in new byte[] { PciConfig.ProgIfUhci, PciConfig.ProgIfOhci, PciConfig.ProgIfEhci, PciConfig.ProgIfXhci })
                    if (driver.Matches(UsbController(progIf, 1)))
                    {
                        matched++;
                        Assert.That(seen.Add(progIf), Is.True, "two drivers claim prog-if " + progIf);
                    }
                Assert.That(matched, Is.EqualTo(1), driver.Name + " must match exactly one controller type");
            }
        }

        static IEnumerable<PciDriver> RegisteredDrivers(PciDriverRegistry registry)
        {
            var field = typeof(PciDriverRegistry).GetField("_drivers", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);
            return (List<PciDriver>)field.GetValue(registry);
        }
    }
}
