using Platform;
using Platform.Pci;

namespace Net.Drivers.E1000
{
    /// <summary>
    /// PCI glue for <see cref="E1000"/>: matches the 8254x devices the driver supports, maps BAR0,
    /// enables bus mastering, brings the controller up, hands its interface to the kernel (which adds
    /// it to the stack) and routes its interrupt (MSI when offered, else the INTx line).
    /// </summary>
    public sealed class E1000PciDriver : PciDriver
    {
        const ushort VendorIntel = 0x8086;
        /// <summary>82540EM (QEMU e1000, desktop), 82540EM LOM, 82545EM copper (QEMU e1000-82545em).</summary>
        const ushort Device82540EM = 0x100E, Device82540EMLom = 0x1015, Device82545EMCopper = 0x100F;
        const int MmioBar = 0;

        static readonly PciDeviceId[] s_ids =
        {
            PciDeviceId.ForDevice(VendorIntel, Device82540EM),
            PciDeviceId.ForDevice(VendorIntel, Device82540EMLom),
            PciDeviceId.ForDevice(VendorIntel, Device82545EMCopper),
        };

        readonly NetStack _stack;
        readonly System.Action<NetInterface> _attach;

        /// <param name="attach">Adds a new interface to the stack (the kernel decides DHCP and fallback).</param>
        public E1000PciDriver(NetStack stack, System.Action<NetInterface> attach)
        {
            _stack = stack;
            _attach = attach;
        }

        public override string Name => "e1000";
        public override PciDeviceId[] IdTable => s_ids;

        public override bool Probe(PciFunction function, IPciHost host)
        {
            IRegisterBlock regs = host.MapBar(function, MmioBar);
            if (regs == null || function.Bars[MmioBar].IsIo)
            {
                Log.Warning("e1000 " + function.Address.ToString() + ": BAR0 is not a memory BAR");
                return false;
            }
            host.EnableBusMaster(function);
            var nic = new E1000(regs, host.Dma, host.Clock);
            if (!nic.Initialize()) return false;
            var iface = new NetInterface(_stack.AllocateName("eth"), nic.Mac, NetInterface.DefaultMtu, nic);
            if (!host.AttachInterrupt(function, nic.HandleInterrupt, "e1000"))
                Log.Warning("e1000 " + function.Address.ToString() + ": no interrupt, relying on the stack's poll");
            nic.Attach(iface);
            Log.Info("net: " + iface.Name + " e1000 at " + function.Address.ToString() + ", MAC " + nic.Mac.ToString());
            _attach(iface);
            return true;
        }
    }
}
