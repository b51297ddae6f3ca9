using Platform;
using Platform.Pci;

namespace Drivers.Usb.Hcd.Xhci
{
    /// <summary>
    /// Intel chipsets from Panther Point (7 series) to Wildcat Point (9 series) wire each USB port to
    /// both their EHCI and their xHCI; after reset every port belongs to EHCI and its SuperSpeed
    /// terminations are off, so a USB 3 stick runs at high speed and the xHCI sees nothing. Linux
    /// (pci-quirks.c usb_enable_intel_xhci_ports, called for every Intel xHCI when an Intel EHCI
    /// exists) hands every port the firmware allows over to xHCI through four registers in the
    /// xHCI's configuration space (Intel 7 Series / C216 Chipset Family PCH datasheet, 17.1.38-41):
    /// USB3_PSSEN gets USB3PRM (which SuperSpeed terminations the OS may enable), XUSB2PR gets
    /// XUSB2PRM (which USB 2 ports the OS may route to xHCI). The kernel does the same before its
    /// EHCI driver takes the controller, so EHCI never enumerates a device xHCI then takes away.
    /// </summary>
    public static class IntelPortRouting
    {
        public const ushort IntelVendor = 0x8086;
        /// <summary>xHC USB 2.0 Port Routing: a 1 routes that USB 2 port to xHCI.</summary>
        public const ushort XUSB2PR = 0xD0;
        /// <summary>xHC USB 2.0 Port Routing Mask: the bits of XUSB2PR the OS may set.</summary>
        public const ushort XUSB2PRM = 0xD4;
        /// <summary>USB 3.0 Port SuperSpeed Enable: a 1 enables that port's SuperSpeed terminations.</summary>
        public const ushort USB3_PSSEN = 0xD8;
        /// <summary>USB 3.0 Port Routing Mask: the bits of USB3_PSSEN the OS may set.</summary>
        public const ushort USB3PRM = 0xDC;
        /// <summary>Sony VAIO T-series (subsystem 104d:90a8) cannot switch its ports (Linux leaves them alone).</summary>
        const ushort SonyVendor = 0x104D, VaioTSeries = 0x90A8;
        const int Bus0 = 0;

        /// <summary>
        /// Switches the ports of every Intel xHCI on bus 0 (where chipset functions live) to xHCI.
        /// Call only when an Intel EHCI exists (its driver calls this before taking it). Returns how many xHCIs were switched.
        /// </summary>
        public static int SwitchChipsetPortsToXhci(IPciConfigSpace config)
        {
            int switched = 0;
            for (int device = 0; device < PciBus.DevicesPerBus; device++)
            {
                var first = new PciAddress(Bus0, device, 0);
                if (config.Read16(first, PciConfig.VendorId) == PciConfig.InvalidVendor)
                    continue;
                int functions = (config.Read8(first, PciConfig.HeaderType) & PciConfig.HeaderTypeMultiFunction) != 0 ? PciBus.FunctionsPerDevice : 1;
                for (int function = 0; function < functions; function++)
                {
                    var address = new PciAddress(Bus0, device, function);
                    if (IsIntelXhci(config, address) && SwitchPorts(config, address))
                        switched++;
                }
            }
            return switched;
        }

        static bool IsIntelXhci(IPciConfigSpace config, PciAddress address) =>
            config.Read16(address, PciConfig.VendorId) == IntelVendor &&
            config.Read8(address, PciConfig.ClassCode) == PciConfig.ClassSerialBus &&
            config.Read8(address, PciConfig.Subclass) == PciConfig.SubclassUsb &&
            config.Read8(address, PciConfig.ProgIf) == PciConfig.ProgIfXhci;

        /// <summary>One xHCI: SuperSpeed terminations on, then the USB 2 ports routed to it, as far as the masks allow; logs the result.</summary>
        public static bool SwitchPorts(IPciConfigSpace config, PciAddress xhci)
        {
            string tag = "xhci_hcd " + xhci.ToString() + ": ";
            if (config.Read16(xhci, PciConfig.SubsystemVendorId) == SonyVendor && config.Read16(xhci, PciConfig.SubsystemId) == VaioTSeries)
            {
                Log.Info(tag + "Sony VAIO T-series: ports stay with EHCI (they cannot be switched)");
                return false;
            }
            uint superSpeedAllowed = config.Read32(xhci, USB3PRM);
            config.Write32(xhci, USB3_PSSEN, superSpeedAllowed);
            uint superSpeed = config.Read32(xhci, USB3_PSSEN);
            uint usb2Allowed = config.Read32(xhci, XUSB2PRM);
            config.Write32(xhci, XUSB2PR, usb2Allowed);
            uint usb2 = config.Read32(xhci, XUSB2PR);
            Log.Info(tag + "Intel chipset: USB 3.0 ports 0x" + Format.Hex(superSpeed, 8) + " SuperSpeed-enabled, USB 2.0 ports 0x" +
                     Format.Hex(usb2, 8) + " switched from EHCI to xHCI (masks 0x" + Format.Hex(superSpeedAllowed, 8) + ", 0x" +
                     Format.Hex(usb2Allowed, 8) + ")");
            return true;
        }
    }
}
