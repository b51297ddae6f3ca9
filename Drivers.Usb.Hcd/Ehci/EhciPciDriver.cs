using System.Collections.Generic;
using Platform;
using Platform.Pci;

namespace Drivers.Usb.Hcd.Ehci
{
    /// <summary>
    /// PCI glue (Linux ehci-pci.c): claims class 0x0C03 prog-if 0x20, maps BAR0 (memory, uncached),
    /// takes the controller from the firmware (USBLEGSUP), resets it, enables bus mastering,
    /// attaches the interrupt and hands the controller to the USB stack, which starts it
    /// (CONFIGFLAG routes the ports here). Registered before the UHCI/OHCI drivers, so every
    /// EHCI is running before its companions are probed.
    /// </summary>
    public sealed class EhciPciDriver : PciDriver
    {
        /// <summary>BAR0 holds the capability and operational registers (EHCI 1.0, 2.1.3 USBBASE).</summary>
        public const int RegisterBar = 0;
        public const string DriverName = "ehci-pci";

        static readonly PciDeviceId[] s_ids =
        {
            PciDeviceId.ForClass(PciConfig.ClassSerialBus, PciConfig.SubclassUsb, PciConfig.ProgIfEhci),
        };

        readonly UsbStack _stack;
        /// <summary>Controllers this driver brought up (kept referenced; one bus each).</summary>
        public readonly List<EhciController> Controllers = new List<EhciController>();

        public EhciPciDriver(UsbStack stack)
        {
            _stack = stack;
        }

        public override string Name => DriverName;
        public override PciDeviceId[] IdTable => s_ids;

        public override bool Probe(PciFunction function, IPciHost host)
        {
            string busId = function.Address.ToString();
            string tag = DriverName + " " + busId + ": ";
            Log.Info(tag + "EHCI Host Controller");
            PciBar bar = function.Bars[RegisterBar];
            if (!bar.IsPresent || bar.IsIo || bar.Size < EhciCap.MinimumBarSize)
            {
                Log.Warning(tag + "BAR0 is not an EHCI register window");
                return false;
            }
            IRegisterBlock regs = host.MapBar(function, RegisterBar);
            if (regs == null)
            {
                Log.Warning(tag + "cannot map BAR0");
                return false;
            }
            var hc = new EhciController(regs, host.Clock, host.Threading, host.Dma, busId);
            if (!hc.ReadCapabilities())
            {
                Log.Warning(tag + "no EHCI capability registers");
                return false;
            }
            // Intel chipsets with an xHCI too: its ports go to xHCI before EHCI enumerates anything (Linux: a PCI quirk).
            if (function.VendorId == Xhci.IntelPortRouting.IntelVendor)
                Xhci.IntelPortRouting.SwitchChipsetPortsToXhci(host.Config);
            EhciHandoff.TakeOwnership(host.Config, function.Address, HccParams.Eecp(hc.HccParams), host.Clock, tag);
            UsbStatus status = hc.Reset();
            if (status != UsbStatus.Ok)
            {
                Log.Error(tag + "init failed: " + UsbStatusNames.Name(status));
                return false;
            }
            host.EnableBusMaster(function);
            hc.InterruptAttached = host.AttachInterrupt(function, hc.HandleInterrupt, DriverName);
            Log.Info(tag + "irq " + Format.Decimal((ulong)function.InterruptLine) + ", io mem 0x" + Format.Hex(bar.Address, 8) +
                     (hc.InterruptAttached ? "" : " (no interrupt: polling)"));
            Controllers.Add(hc);
            _stack.AddController(hc, host.Dma);
            return true;
        }
    }
}
