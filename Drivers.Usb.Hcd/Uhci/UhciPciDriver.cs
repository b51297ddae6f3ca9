using Platform;
using Platform.Pci;

namespace Drivers.Usb.Hcd.Uhci
{
    /// <summary>
    /// PCI side of UHCI (Linux uhci-pci.c): claims class 0C03 prog-if 00, maps the I/O BAR4,
    /// takes the controller from the firmware (USBLEGSUP, reset), enables bus mastering, wires the
    /// interrupt line and registers the controller with the USB stack (its own bus).
    /// </summary>
    public sealed class UhciPciDriver : PciDriver
    {
        static readonly PciDeviceId[] s_ids =
        {
            PciDeviceId.ForClass(PciConfig.ClassSerialBus, PciConfig.SubclassUsb, PciConfig.ProgIfUhci),
        };

        readonly UsbStack _stack;
        /// <summary>Controllers this driver brought up (kept referenced; one bus each).</summary>
        public readonly System.Collections.Generic.List<UhciHostController> Controllers = new System.Collections.Generic.List<UhciHostController>();

        public UhciPciDriver(UsbStack stack)
        {
            _stack = stack;
        }

        public override string Name => "uhci_hcd";
        public override PciDeviceId[] IdTable => s_ids;

        public override bool Probe(PciFunction function, IPciHost host)
        {
            string busId = function.Address.ToString();
            string prefix = "uhci_hcd " + busId + ": ";
            PciBar bar = function.Bars[UhciPciConfig.IoBarIndex];
            if (!bar.IsPresent || !bar.IsIo)
            {
                Log.Warning(prefix + "no I/O BAR4");
                return false;
            }
            IRegisterBlock regs = host.MapBar(function, UhciPciConfig.IoBarIndex);
            if (regs == null)
            {
                Log.Warning(prefix + "can't map I/O BAR4");
                return false;
            }
            Log.Info(prefix + "UHCI Host Controller");

            // Firmware hand-off (Linux uhci_reset_hc): clear the legacy status bits and disable
            // SMI/legacy keyboard emulation, then reset the controller (SeaBIOS leaves it running).
            UhciHandoff.DisableLegacySupport(host.Config, function.Address, prefix);
            var hc = new UhciHostController(regs, host.Clock, host.Threading, host.Dma, busId);
            if (!hc.Reset())
                Log.Warning(prefix + "controller did not finish its reset; continuing");
            if (!hc.AllocateSchedule())
            {
                Log.Error(prefix + "out of DMA memory for the schedule");
                return false;
            }
            host.EnableBusMaster(function);
            bool irq = host.AttachInterrupt(function, hc.HandleInterrupt, "uhci_hcd");
            hc.InterruptAttached = irq;
            // Linux uhci_pci_configure_hc: route the interrupt to PIRQ, no SMI.
            UhciHandoff.RouteInterruptToPci(host.Config, function.Address);
            Controllers.Add(hc);
            _stack.AddController(hc, host.Dma);
            Log.Info(prefix + (irq ? "irq " + Format.Decimal(function.InterruptLine) : "no irq (polling)") +
                     ", io base 0x" + Format.Hex(bar.Address, 8));
            return true;
        }
    }
}
