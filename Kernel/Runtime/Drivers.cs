using Platform.Pci;

namespace Kernel.Runtime
{
    /// <summary>The PCI drivers built into the kernel, registered before the bus scan.</summary>
    internal static class Drivers
    {
        public static void RegisterPciDrivers(PciDriverRegistry registry)
        {
            // USB host controller drivers (UHCI, OHCI, EHCI, xHCI) register here as they are written.
        }
    }
}
