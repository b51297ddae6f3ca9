using Platform.Pci;

namespace Kernel.Runtime
{
    /// <summary>The PCI drivers built into the kernel, registered before the bus scan.</summary>
    internal static class Drivers
    {
        public static void RegisterPciDrivers(PciDriverRegistry registry)
        {
#if !KERNEL_WITHOUT_USB
            global::Drivers.Usb.Hcd.HostControllerDrivers.Register(registry, Usb.UsbSubsystem.Stack);
#endif
            Networking.NetSubsystem.RegisterPciDrivers(registry);
#if !KERNEL_WITHOUT_USB
            Usb.UsbIpNetwork.Start(Networking.NetSubsystem.Stack);
#endif
        }
    }
}
