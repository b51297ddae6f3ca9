using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Listings;
using NUnit.Framework;
using Usb.Tests.Audio;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    /// <summary>Periodic bandwidth per bus (USB 2.0 5.11.3, Linux usb_calc_bus_time and the devices file's B: line).</summary>
    [TestFixture]
    public class BandwidthTests
    {
        [TestCase(UsbSpeed.Full, false, true, 192, 157227L, TestName = "FullSpeedIsoOut192")]
        [TestCase(UsbSpeed.Full, true, false, 8, 16547L, TestName = "FullSpeedInterruptIn8")]
        [TestCase(UsbSpeed.Low, true, false, 8, 117897L, TestName = "LowSpeedInterruptIn8")]
        [TestCase(UsbSpeed.High, true, true, 1024, 20551L, TestName = "HighSpeedIsoIn1024")]
        // Worked by hand from USB 2.0 5.11.3 (Linux usb_calc_bus_time), e.g. full-speed interrupt IN
        // of 8 bytes: BitTime = 7*8*8/6 = 74; 9107 + 1000 + 8354*(31 + 740)/1000 = 16547 ns.
        public void BusTimeFollowsTheSpecFormulas(UsbSpeed speed, bool input, bool iso, int bytes, long ns) =>
            Assert.That(UsbBandwidth.BusTimeNs(speed, input, iso, bytes), Is.EqualTo(ns));

        static byte[] BigIsoConfig() => Desc.Config(1, 0x80, 50,
            Desc.Interface(0, 0, 0, 0xFF),
            Desc.Interface(0, 1, 1, 0xFF),
            Desc.Endpoint(0x01, TransferType.Isochronous, 1023, 1));

        [Test]
        public void AlternateSettingsClaimAndReleaseBandwidthAndTheBLineShowsIt()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.Full);
            var audio = new SimDevice("audio", UsbSpeed.Full, UacSamples.QemuDevice(), UacSamples.QemuConfig());
            hc.Plug("1", audio);
            bed.Settle();
            UsbDevice d = bed.Device("1-1");
            Assert.That(bed.Stack.SetInterface(d.Interfaces[1], 1), Is.EqualTo(UsbStatus.Ok));
            // 192-byte full-speed iso OUT every frame: 157.2 us of bus time → 158 us per frame.
            Assert.That(bed.Bus.PeriodicAllocatedUs, Is.EqualTo(158));
            Assert.That(bed.Bus.IsoEndpointCount, Is.EqualTo(1));
            Assert.That(UsbListings.DevicesFile(bed.Stack), Does.Contain("B:  Alloc=158/900 us (17%), #Int=  0, #Iso=  1\n"));
            Assert.That(bed.Stack.SetInterface(d.Interfaces[1], 0), Is.EqualTo(UsbStatus.Ok));
            Assert.That(bed.Bus.PeriodicAllocatedUs, Is.Zero);
            Assert.That(UsbListings.DevicesFile(bed.Stack), Does.Contain("B:  Alloc=  0/900 us ( 0%), #Int=  0, #Iso=  0\n"));
        }

        [Test]
        public void ASettingThatDoesNotFitIsRefusedAndTheOldOneStays()
        {
            using var bed = new TestBed();
            SimController hc = bed.AddController(2, UsbSpeed.Full);
            var first = new SimDevice("a", UsbSpeed.Full, Desc.Device(0x1111, 0x0001), BigIsoConfig());
            var second = new SimDevice("b", UsbSpeed.Full, Desc.Device(0x1111, 0x0002), BigIsoConfig());
            hc.Plug("1", first);
            hc.Plug("2", second);
            bed.Settle();
            UsbDevice a = bed.Device("1-1"), b = bed.Device("1-2");
            Assert.That(bed.Stack.SetInterface(a.Interfaces[0], 1), Is.EqualTo(UsbStatus.Ok));
            Assert.That(bed.Bus.PeriodicAllocatedUs, Is.EqualTo(806), "1023 bytes: 805.2 us");
            Assert.That(bed.Stack.SetInterface(b.Interfaces[0], 1), Is.EqualTo(UsbStatus.NoBandwidth));
            Assert.That(b.Interfaces[0].Current.Descriptor.bAlternateSetting, Is.Zero, "the old setting stays");
            Assert.That(second.AltSettings.ContainsKey(0) && second.AltSettings[0] == 1, Is.False, "the device never heard SET_INTERFACE(1)");
            Assert.That(b.FindEndpoint(0x01), Is.Null);
            Assert.That(bed.Bus.PeriodicAllocatedUs, Is.EqualTo(806));
            Assert.That(UsbStatusNames.Name(UsbStatus.NoBandwidth), Does.Contain("-ENOSPC"));
            // Once the first device lets go, the second fits.
            Assert.That(bed.Stack.SetInterface(a.Interfaces[0], 0), Is.EqualTo(UsbStatus.Ok));
            Assert.That(bed.Stack.SetInterface(b.Interfaces[0], 1), Is.EqualTo(UsbStatus.Ok));
        }
    }
}
