using Drivers.Usb.Hcd;
using Platform.Pci;

namespace Kernel.Runtime
{
    /// <summary>The PCI drivers built into the kernel, registered before the bus scan.</summary>
    internal static class Drivers
    {
        public static void RegisterPciDrivers(PciDriverRegistry registry)
        {
            HostControllerDrivers.Register(registry, Usb.UsbSubsystem.Stack);
        }
    }
}
