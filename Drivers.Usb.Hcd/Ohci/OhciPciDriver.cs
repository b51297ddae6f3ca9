using Platform;
using Platform.Pci;

namespace Drivers.Usb.Hcd.Ohci
{
    /// <summary>
    /// PCI glue (Linux ohci-pci.c): claims class 0x0C03 prog-if 0x10, maps BAR0 (memory, uncached),
    /// enables bus mastering, takes the controller from the firmware and resets it, attaches the
    /// (possibly shared) interrupt line and hands the controller to the USB stack.
    /// </summary>
    public sealed class OhciPciDriver : PciDriver
    {
        /// <summary>BAR0 holds the operational registers (OpenHCI 1.0a 7, PCI binding).</summary>
        public const int RegisterBar = 0;
        public const string DriverName = "ohci-pci";

        static readonly PciDeviceId[] s_ids =
        {
            PciDeviceId.ForClass(PciConfig.ClassSerialBus, PciConfig.SubclassUsb, PciConfig.ProgIfOhci),
        };

        readonly UsbStack _stack;

        public OhciPciDriver(UsbStack stack)
        {
            _stack = stack;
        }

        public override string Name => DriverName;
        public override PciDeviceId[] IdTable => s_ids;

        public override bool Probe(PciFunction function, IPciHost host)
        {
            string busId = function.Address.ToString();
            string tag = DriverName + " " + busId + ": ";
            Log.Info(tag + "OHCI PCI host controller");
            PciBar bar = function.Bars[RegisterBar];
            if (!bar.IsPresent || bar.IsIo || bar.Size < OhciReg.BlockSize)
            {
                Log.Warning(tag + "BAR0 is not an OHCI register window");
                return false;
            }
            if (bar.Kind == PciBarKind.Memory64 && (bar.Address >> 32) != 0)
            {
                Log.Warning(tag + "registers above 4 GiB are not supported");
            }
            IRegisterBlock regs = host.MapBar(function, RegisterBar);
            if (regs == null)
            {
                Log.Warning(tag + "cannot map BAR0");
                return false;
            }
            host.EnableBusMaster(function);
            var hc = new OhciController(regs, host.Clock, host.Threading, host.Dma, busId);
            UsbStatus status = hc.Reset();
            if (status != UsbStatus.Ok)
            {
                Log.Error(tag + "init failed: " + UsbStatusNames.Name(status));
                return false;
            }
            hc.InterruptAttached = host.AttachInterrupt(function, hc.HandleInterrupt, DriverName);
            Log.Info(tag + "irq " + Format.Decimal((ulong)function.InterruptLine) + ", io mem 0x" + Format.Hex(bar.Address, 8) +
                     (hc.InterruptAttached ? "" : " (no interrupt: polling)"));
            _stack.AddController(hc, host.Dma);
            return true;
        }
    }
}
