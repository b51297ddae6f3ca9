using Platform;
using Platform.Pci;

namespace Drivers.Usb.Hcd.Uhci
{
    /// <summary>
    /// Firmware hand-off of a UHCI controller through USBLEGSUP, the legacy support register in PCI
    /// configuration space (Intel PIIX4 datasheet 2.2.12 / ICH USB_LEGKEY; Linux pci-quirks.c
    /// uhci_reset_hc and uhci_check_and_reset_hc). UHCI has no ownership semaphore: the BIOS's
    /// keyboard emulation traps port 60h/64h accesses and the controller's interrupt into SMIs
    /// while its enable bits are set, so taking the controller means clearing every enable, and
    /// the status bits with them (write 1 to clear), before the controller is reset; once the
    /// driver is ready, only PIRQ enable is set, routing the controller's interrupt to its PCI line.
    /// </summary>
    public static class UhciHandoff
    {
        /// <summary>Read-only bits: A20 pass-through status (14), USB IRQ status (12), pass-through status (6) (Linux UHCI_USBLEGSUP_RO).</summary>
        public const ushort ReadOnlyBits = 0x5040;
        /// <summary>
        /// SMI/trap enables (bits 0-5: trap on 60h/64h reads and writes, SMI on IRQ, A20 gate pass-through;
        /// bit 7: end of A20 pass-through) — what is left besides the read-only, write-clear and PIRQ bits.
        /// </summary>
        public const ushort EnableBits = 0x00BF;

        /// <summary>
        /// Turns the firmware's legacy support off: clears the SMI and trap enables and the trap
        /// status bits (also PIRQ enable, so the controller cannot interrupt while it is reset).
        /// Logs when the firmware had it on and, with a warning, when an enable does not clear
        /// (firmware that fights back); returns false then. Call before resetting the controller.
        /// </summary>
        public static bool DisableLegacySupport(IPciConfigSpace config, PciAddress address, string tag)
        {
            ushort before = config.Read16(address, UhciPciConfig.USBLEGSUP);
            config.Write16(address, UhciPciConfig.USBLEGSUP, UhciPciConfig.LegacySupportClear);
            ushort after = config.Read16(address, UhciPciConfig.USBLEGSUP);
            if ((before & EnableBits) != 0)
                Log.Info(tag + "took over from the BIOS's legacy USB support (USBLEGSUP " + Format.Hex(before, 4) + ")");
            if ((after & EnableBits) != 0)
            {
                Log.Warning(tag + "BIOS legacy support did not turn off (USBLEGSUP " + Format.Hex(after, 4) +
                            "): SMIs may still interfere");
                return false;
            }
            return true;
        }

        /// <summary>The driver is ready: the controller interrupts through its PCI line only (Linux USBLEGSUP_DEFAULT).</summary>
        public static void RouteInterruptToPci(IPciConfigSpace config, PciAddress address) =>
            config.Write16(address, UhciPciConfig.USBLEGSUP, UhciPciConfig.LegacySupportPirqEnable);
    }
}
