using Drivers.Usb;
using Platform.Pci;

namespace Drivers.Usb.Hcd
{
    /// <summary>
    /// Registers every host controller driver with the PCI driver registry, in the order Linux
    /// uses: EHCI before its UHCI/OHCI companions (so the companions only see the ports EHCI hands
    /// them), then xHCI. Each driver, once it has brought its controller up, adds it to the stack.
    /// </summary>
    public static class HostControllerDrivers
    {
        public static void Register(PciDriverRegistry registry, UsbStack stack)
        {
            registry.Register(new Ehci.EhciPciDriver(stack));
            registry.Register(new Uhci.UhciPciDriver(stack));
            registry.Register(new Ohci.OhciPciDriver(stack));
            registry.Register(new Xhci.XhciPciDriver(stack));
        }
    }
}
