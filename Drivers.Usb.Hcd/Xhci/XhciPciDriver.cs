using Platform;
using Platform.Pci;

namespace Drivers.Usb.Hcd.Xhci
{
    /// <summary>
    /// PCI glue (Linux xhci-pci.c): claims class 0x0C03 prog-if 0x30, maps BAR0 (64-bit memory BAR,
    /// uncached), enables bus mastering, takes the controller from the firmware, resets and runs
    /// it, attaches the interrupt (MSI/MSI-X preferred by the platform, INTx otherwise, polling if
    /// none) and registers two buses: the USB 2 root hub, then the USB 3 root hub.
    /// </summary>
    public sealed class XhciPciDriver : PciDriver
    {
        /// <summary>BAR0 holds the capability, operational, runtime and doorbell registers (xHCI 1.2 5.2.1).</summary>
        public const int RegisterBar = 0;
        /// <summary>Capability registers up to HCCPARAMS2 must fit.</summary>
        const ulong MinimumBarSize = 0x20;

        static readonly PciDeviceId[] s_ids =
        {
            PciDeviceId.ForClass(PciConfig.ClassSerialBus, PciConfig.SubclassUsb, PciConfig.ProgIfXhci),
        };

        readonly UsbStack _stack;

        public XhciPciDriver(UsbStack stack)
        {
            _stack = stack;
        }

        public override string Name => XhciController.DriverName;
        public override PciDeviceId[] IdTable => s_ids;

        public override bool Probe(PciFunction function, IPciHost host)
        {
            string busId = function.Address.ToString();
            string tag = XhciController.DriverName + " " + busId + ": ";
            PciBar bar = function.Bars[RegisterBar];
            if (!bar.IsPresent || bar.IsIo || bar.Size < MinimumBarSize)
            {
                Log.Warning(tag + "BAR0 is not an xHCI register window");
                return false;
            }
            IRegisterBlock regs = host.MapBar(function, RegisterBar);
            if (regs == null)
            {
                Log.Warning(tag + "cannot map BAR0");
                return false;
            }
            host.EnableBusMaster(function);
            var hc = new XhciController(regs, host.Clock, host.Threading, host.Dma, busId);
            // Interrupt routing (MSI/MSI-X) before Init: Init enables the interrupter (IMAN.IE) and
            // some implementations (QEMU) only hook an MSI-X vector up when IE is set while MSI-X is on.
            // Until Init has built the event ring the handler finds nothing to do.
            hc.InterruptAttached = host.AttachInterrupt(function, hc.HandleInterrupt, XhciController.DriverName);
            UsbStatus status = hc.Init();
            if (status != UsbStatus.Ok)
            {
                Log.Error(tag + "init failed: " + UsbStatusNames.Name(status));
                return false;
            }
            Log.Info(tag + "irq " + Format.Decimal((ulong)function.InterruptLine) + ", io mem 0x" + Format.Hex(bar.Address, 8) +
                     (hc.InterruptAttached ? "" : " (no interrupt: polling)"));
            if (hc.Ports.Usb2.Length > 0)
            {
                hc.Usb2 = new XhciRootHub(hc, hc.Ports.Usb2, false);
                _stack.AddController(hc.Usb2, host.Dma);
            }
            if (hc.Ports.Usb3.Length > 0)
            {
                Log.Info(tag + "Host supports USB 3.0 SuperSpeed");
                hc.Usb3 = new XhciRootHub(hc, hc.Ports.Usb3, true);
                _stack.AddController(hc.Usb3, host.Dma);
            }
            return true;
        }
    }
}
