using global::Net;
using global::Net.Drivers.E1000;
using Kernel.Threading;
using Platform;
using Platform.Pci;

namespace Kernel.Networking
{
    /// <summary>
    /// The kernel's network stack: one <see cref="NetStack"/> with its "net" thread, the network
    /// PCI drivers (e1000), and the shell verbs (<see cref="NetShell"/>). Every interface is
    /// configured by DHCP; without a lease it falls back to QEMU user networking's defaults.
    /// </summary>
    internal static class NetSubsystem
    {
        public static NetStack Stack;

        /// <summary>Static fallback: the address QEMU's user networking would lease (10.0.2.15/24, gateway 10.0.2.2).</summary>
        static readonly Ip4Address FallbackAddress = new Ip4Address(10, 0, 2, 15);
        static readonly Ip4Address FallbackNetmask = new Ip4Address(255, 255, 255, 0);
        static readonly Ip4Address FallbackGateway = new Ip4Address(10, 0, 2, 2);

        /// <summary>Creates the stack, starts its thread, registers the PCI drivers and the shell verbs (before the PCI scan).</summary>
        public static void RegisterPciDrivers(PciDriverRegistry registry)
        {
            Stack = new NetStack(Time.Clock.Instance, KernelThreading.Instance);
            if (!Stack.Start())
                Log.Error("net: thread did not start");
            registry.Register(new E1000PciDriver(Stack, AddInterface));
            NetShell.Register(Stack);
        }

        /// <summary>What a network driver calls for each interface it brings up (also the USB network drivers).</summary>
        public static void AddInterface(NetInterface iface) =>
            Stack.AddInterface(iface, true, FallbackAddress, FallbackNetmask, FallbackGateway);
    }
}
