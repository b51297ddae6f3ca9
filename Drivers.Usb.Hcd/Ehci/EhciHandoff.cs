using Platform;
using Platform.Pci;

namespace Drivers.Usb.Hcd.Ehci
{
    /// <summary>
    /// Firmware hand-off (EHCI 1.0, 5.1 USBLEGSUP / 5.2 USBLEGCTLSTS; Linux pci-quirks.c
    /// ehci_bios_handoff): walk the extended capabilities from HCCPARAMS.EECP in PCI configuration
    /// space; on USBLEGSUP set the OS-owned semaphore, wait (bounded) for the BIOS-owned semaphore
    /// to clear, then force it off and disable every SMI source. Every wait is bounded.
    /// </summary>
    public static class EhciHandoff
    {
        /// <summary>How long the BIOS gets to let go (Linux: 1 s).</summary>
        public const uint BiosTimeoutMs = 1000;
        const uint PollMs = 10;

        public enum Result
        {
            /// <summary>No USBLEGSUP capability (QEMU's usb-ehci), nothing to do.</summary>
            NoCapability,
            /// <summary>The BIOS did not own the controller.</summary>
            NotOwned,
            /// <summary>The BIOS released the semaphore in time.</summary>
            Released,
            /// <summary>The BIOS kept it: forced off.</summary>
            Forced,
        }

        /// <summary>Offset of the USBLEGSUP capability, or 0 (walk bounded against loops).</summary>
        public static ushort FindLegacySupport(IPciConfigSpace config, PciAddress address, byte eecp)
        {
            byte offset = eecp;
            for (int guard = 0; guard < EhciExtCap.MaxCapabilities && offset >= EhciExtCap.MinimumOffset; guard++)
            {
                uint cap = config.Read32(address, offset);
                if ((cap & EhciExtCap.CapabilityIdMask) == EhciExtCap.LegacySupportId)
                    return offset;
                offset = (byte)((cap >> EhciExtCap.NextShift) & EhciExtCap.NextMask);
            }
            return 0;
        }

        /// <summary>
        /// Takes the controller from the BIOS, as Linux ehci_bios_handoff does: only when the BIOS owns
        /// it (some firmware misbehaves when the OS semaphore is set for any other reason), first make
        /// sure the BIOS gets an SMI for the change (SMI on OS Ownership Enable), then set the OS
        /// semaphore and wait up to <see cref="BiosTimeoutMs"/> for the BIOS semaphore to clear; force
        /// it off with a log line when it does not. In every case all SMIs are disabled and pending
        /// SMI status is acknowledged.
        /// </summary>
        public static Result TakeOwnership(IPciConfigSpace config, PciAddress address, byte eecp, IClock clock, string tag)
        {
            ushort legsup = FindLegacySupport(config, address, eecp);
            if (legsup == 0)
                return Result.NoCapability;
            ushort legctlsts = (ushort)(legsup + EhciExtCap.LegacyControlStatusOffset);
            Result result = Result.NotOwned;
            if ((config.Read32(address, legsup) & EhciExtCap.BiosOwnedSemaphore) != 0)
            {
                config.Write32(address, legctlsts, config.Read32(address, legctlsts) | EhciExtCap.SmiOnOsOwnershipEnable);
                // Request ownership: a byte write of the OS semaphore leaves the BIOS byte alone.
                config.Write8(address, (ushort)(legsup + EhciExtCap.OsSemaphoreByte), 1);
                ulong start = clock.Milliseconds;
                result = Result.Released;
                int polls = 0;
                while ((config.Read32(address, legsup) & EhciExtCap.BiosOwnedSemaphore) != 0)
                {
                    if (clock.Milliseconds - start >= BiosTimeoutMs || ++polls > (int)(BiosTimeoutMs / PollMs) + 1)
                    {
                        Log.Warning(tag + "EHCI: BIOS handoff failed (BIOS bug?) " + Format.Hex(config.Read32(address, legsup), 8) +
                                    "; taking the controller anyway");
                        // Force the BIOS semaphore off (byte write, the OS semaphore stays set).
                        config.Write8(address, (ushort)(legsup + EhciExtCap.BiosSemaphoreByte), 0);
                        result = Result.Forced;
                        break;
                    }
                    clock.Sleep(PollMs);
                }
            }
            // No SMIs any more; acknowledge any pending SMI status.
            config.Write32(address, legctlsts, EhciExtCap.SmiStatusWriteClear);
            config.Write32(address, legctlsts, 0);
            return result;
        }

    }
}
