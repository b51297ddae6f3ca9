using System.Collections.Generic;
using Drivers.Usb.Hcd.Xhci;
using NUnit.Framework;
using Platform.Pci;
using Tests.Support;

namespace Hcd.Tests.Xhci
{
    /// <summary>
    /// Drivers.Usb.Hcd/Xhci/IntelPortRouting.cs on simulated PCI configuration space: a Panther Point-like
    /// chipset whose routing registers accept only the bits their masks allow, as the PCH datasheet says.
    /// </summary>
    public class IntelPortRoutingTests
    {
        /// <summary>Bus 0 functions with 256-byte headers; XUSB2PR / USB3_PSSEN keep only the bits of their masks.</summary>
        sealed class Chipset : IPciConfigSpace
        {
            readonly Dictionary<(int, int, int), byte[]> _functions = new();
            public readonly List<(PciAddress Address, ushort Offset, uint Value)> Writes = new();

            public Chipset Add(int device, int function, ushort vendor, ushort deviceId, byte progIf, bool multiFunction = false)
            {
                var h = new byte[256];
                Set(h, PciConfig.VendorId, vendor, 2);
                Set(h, PciConfig.DeviceId, deviceId, 2);
                h[PciConfig.ClassCode] = PciConfig.ClassSerialBus;
                h[PciConfig.Subclass] = PciConfig.SubclassUsb;
                h[PciConfig.ProgIf] = progIf;
                h[PciConfig.HeaderType] = (byte)(multiFunction ? PciConfig.HeaderTypeMultiFunction : 0);
                _functions[(0, device, function)] = h;
                return this;
            }

            public byte[] Header(int device, int function) => _functions[(0, device, function)];
            public uint Get(int device, int function, ushort offset) => Get(Header(device, function), offset, 4);

            static void Set(byte[] h, int offset, uint value, int width) { for (int i = 0; i < width; i++) h[offset + i] = (byte)(value >> (8 * i)); }
            static uint Get(byte[] h, int offset, int width) { uint v = 0; for (int i = 0; i < width; i++) v |= (uint)h[offset + i] << (8 * i); return v; }

            uint Read(PciAddress a, ushort offset, int width) =>
                _functions.TryGetValue((a.Bus, a.Device, a.Function), out byte[] h) ? Get(h, offset, width) : width == 2 ? 0xFFFFu : width == 1 ? 0xFFu : 0xFFFFFFFFu;

            void Write(PciAddress a, ushort offset, uint value, int width)
            {
                Writes.Add((a, offset, value));
                if (!_functions.TryGetValue((a.Bus, a.Device, a.Function), out byte[] h)) return;
                if (offset == IntelPortRouting.XUSB2PR) value &= Get(h, IntelPortRouting.XUSB2PRM, 4);
                if (offset == IntelPortRouting.USB3_PSSEN) value &= Get(h, IntelPortRouting.USB3PRM, 4);
                if (offset == IntelPortRouting.XUSB2PRM || offset == IntelPortRouting.USB3PRM) return;   // set by the firmware
                Set(h, offset, value, width);
            }

            public void SetMasks(int device, int function, uint usb2Mask, uint usb3Mask)
            {
                Set(Header(device, function), IntelPortRouting.XUSB2PRM, usb2Mask, 4);
                Set(Header(device, function), IntelPortRouting.USB3PRM, usb3Mask, 4);
            }

            public uint Read32(PciAddress a, ushort o) => Read(a, o, 4);
            public ushort Read16(PciAddress a, ushort o) => (ushort)Read(a, o, 2);
            public byte Read8(PciAddress a, ushort o) => (byte)Read(a, o, 1);
            public void Write32(PciAddress a, ushort o, uint v) => Write(a, o, v, 4);
            public void Write16(PciAddress a, ushort o, ushort v) => Write(a, o, v, 2);
            public void Write8(PciAddress a, ushort o, byte v) => Write(a, o, v, 1);
        }

        /// <summary>7 series PCH: xHCI 00:14.0 (8086:1e31), EHCI 00:1a.0 and 00:1d.0 (8086:1e2d, 1e26).</summary>
        static Chipset PantherPoint(uint usb2Mask = 0x3FFF, uint usb3Mask = 0xF)
        {
            var c = new Chipset()
                .Add(0x14, 0, 0x8086, 0x1E31, PciConfig.ProgIfXhci)
                .Add(0x1A, 0, 0x8086, 0x1E2D, PciConfig.ProgIfEhci)
                .Add(0x1D, 0, 0x8086, 0x1E26, PciConfig.ProgIfEhci);
            c.SetMasks(0x14, 0, usb2Mask, usb3Mask);
            return c;
        }

        [Test]
        public void EveryAllowedPortGoesToXhci()
        {
            var chipset = PantherPoint();
            var clock = new ManualClock();
            using var log = new LogCapture(clock);
            Assert.That(IntelPortRouting.SwitchChipsetPortsToXhci(chipset), Is.EqualTo(1));
            Assert.That(chipset.Get(0x14, 0, IntelPortRouting.USB3_PSSEN), Is.EqualTo(0xFu), "SuperSpeed terminations on");
            Assert.That(chipset.Get(0x14, 0, IntelPortRouting.XUSB2PR), Is.EqualTo(0x3FFFu), "USB 2 ports routed to xHCI");
            int pssen = chipset.Writes.FindIndex(w => w.Offset == IntelPortRouting.USB3_PSSEN);
            int xusb2pr = chipset.Writes.FindIndex(w => w.Offset == IntelPortRouting.XUSB2PR);
            Assert.That(pssen, Is.GreaterThanOrEqualTo(0).And.LessThan(xusb2pr), "SuperSpeed first, then the USB 2 routing (Linux's order)");
            Assert.That(chipset.Writes.TrueForAll(w => w.Address.Device == 0x14), Is.True, "nothing written to the EHCIs");
            Assert.That(log.Contains("xhci_hcd 0000:00:14.0: Intel chipset: USB 3.0 ports 0x0000000f SuperSpeed-enabled, USB 2.0 ports 0x00003fff switched from EHCI to xHCI"),
                        Is.True, log.ToString());
        }

        [Test]
        public void OnlyWhatTheFirmwareMasksAllow()
        {
            var chipset = PantherPoint(usb2Mask: 0x00F0, usb3Mask: 0x3);
            Assert.That(IntelPortRouting.SwitchChipsetPortsToXhci(chipset), Is.EqualTo(1));
            Assert.That(chipset.Get(0x14, 0, IntelPortRouting.USB3_PSSEN), Is.EqualTo(0x3u));
            Assert.That(chipset.Get(0x14, 0, IntelPortRouting.XUSB2PR), Is.EqualTo(0xF0u));
            Assert.That(chipset.Writes.Find(w => w.Offset == IntelPortRouting.XUSB2PR).Value, Is.EqualTo(0xF0u), "writes the mask itself, no more");
            Assert.That(IntelPortRouting.SwitchChipsetPortsToXhci(chipset), Is.EqualTo(1), "doing it again changes nothing");
            Assert.That(chipset.Get(0x14, 0, IntelPortRouting.XUSB2PR), Is.EqualTo(0xF0u));
        }

        [Test]
        public void OtherXhcisAndTheVaioAreLeftAlone()
        {
            var qemu = new Chipset()
                .Add(0x04, 0, 0x1B36, 0x000D, PciConfig.ProgIfXhci)          // qemu-xhci
                .Add(0x1D, 7, 0x8086, 0x293A, PciConfig.ProgIfEhci);         // ich9-usb-ehci1
            Assert.That(IntelPortRouting.SwitchChipsetPortsToXhci(qemu), Is.Zero);
            Assert.That(qemu.Writes, Is.Empty);

            var vaio = PantherPoint();
            vaio.Header(0x14, 0)[PciConfig.SubsystemVendorId] = 0x4D; vaio.Header(0x14, 0)[PciConfig.SubsystemVendorId + 1] = 0x10;
            vaio.Header(0x14, 0)[PciConfig.SubsystemId] = 0xA8; vaio.Header(0x14, 0)[PciConfig.SubsystemId + 1] = 0x90;
            Assert.That(IntelPortRouting.SwitchChipsetPortsToXhci(vaio), Is.Zero);
            Assert.That(vaio.Writes, Is.Empty);
        }

        [Test]
        public void FindsTheXhciAmongTheFunctionsOfAMultiFunctionDevice()
        {
            var chipset = new Chipset()
                .Add(0x14, 0, 0x8086, 0x8C31, PciConfig.ProgIfXhci, multiFunction: true)   // Lynx Point xHCI
                .Add(0x14, 2, 0x8086, 0x8C31, PciConfig.ProgIfXhci);
            chipset.SetMasks(0x14, 0, 0x7FFF, 0x3F);
            chipset.SetMasks(0x14, 2, 0x1, 0x1);
            Assert.That(IntelPortRouting.SwitchChipsetPortsToXhci(chipset), Is.EqualTo(2));
            Assert.That(chipset.Get(0x14, 0, IntelPortRouting.XUSB2PR), Is.EqualTo(0x7FFFu));
            Assert.That(chipset.Get(0x14, 2, IntelPortRouting.USB3_PSSEN), Is.EqualTo(0x1u));
        }
    }
}
