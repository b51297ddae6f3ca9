using System;
using Kernel.Hal;
using Kernel.Memory;
using Kernel.Pci;
using Platform;
using Platform.Acpi;
using Platform.Boot;
using Platform.Pci;

namespace Kernel.Acpi
{
    /// <summary>
    /// Physical memory through the kernel's identity map; unmapped pages refuse. Page 0 stays unmapped (so null
    /// dereferences fault) except for reads of the BIOS Data Area (400h-4FFh: the EBDA segment and base memory
    /// size the ACPI and MP table searches need), which map it for the copy with interrupts off.
    /// </summary>
    internal sealed unsafe class IdentityMappedMemory : IPhysicalMemory
    {
        public static readonly IdentityMappedMemory Instance = new IdentityMappedMemory();
        const ulong PageSize = 4096;
        const ulong BiosDataAreaStart = 0x400, BiosDataAreaEnd = 0x500;

        public bool Read(ulong address, Span<byte> destination)
        {
            ulong end = address + (ulong)destination.Length;
            if (end < address)
                return false;
            if (address >= BiosDataAreaStart && end <= BiosDataAreaEnd)
                return ReadBiosDataArea(address, destination);
            if (address < PageSize)
                return false;
            for (ulong page = address & ~(PageSize - 1); page < end; page += PageSize)
                if (!Paging.IsMapped(page))
                    return false;
            byte* source = (byte*)address;
            for (int i = 0; i < destination.Length; i++)
                destination[i] = source[i];
            return true;
        }

        static bool ReadBiosDataArea(ulong address, Span<byte> destination)
        {
            ulong flags = InterruptGuard.Enter();
            Paging.RemapPage(0);
            bool mapped = Paging.IsMapped(0);
            if (mapped)
            {
                byte* source = (byte*)address;
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = source[i];
            }
            Paging.UnmapPage(0);
            InterruptGuard.Exit(flags);
            return mapped;
        }
    }

    /// <summary>
    /// The kernel's use of the ACPI tables (Platform/Acpi/AcpiTables.cs): finds the RSDP (GRUB's copy in
    /// the Multiboot2 information, else a scan of the BIOS area), logs what the MADT and MCFG say
    /// (Linux's wording where it has one), and switches PCI configuration access to ECAM when the
    /// MCFG describes a window for bus 0 that reads the same host bridge as the ports do.
    /// </summary>
    internal static class KernelAcpi
    {
        public static AcpiInfo Info;

        public static void Initialize(Multiboot2Info boot, uint infoAddress)
        {
            Rsdp rsdp;
            string problem;
            string source;
            if (boot.RsdpLength > 0)
            {
                ReadOnlySpan<byte> copy;
                unsafe { copy = new ReadOnlySpan<byte>((byte*)infoAddress + boot.RsdpCopyOffset, boot.RsdpLength); }
                if (!AcpiTables.ParseRsdp(copy, out rsdp, out problem))
                {
                    Log.Warning("ACPI: the boot loader's RSDP copy is unusable: " + problem);
                    return;
                }
                source = "the boot loader's copy";
            }
            else
            {
                ulong address = AcpiTables.FindRsdp(IdentityMappedMemory.Instance);
                var bytes = new byte[AcpiTables.RsdpV2Length];
                if (address == 0 || !IdentityMappedMemory.Instance.Read(address, bytes) || !AcpiTables.ParseRsdp(bytes, out rsdp, out problem))
                {
                    Log.Warning("ACPI: no RSDP (not from the boot loader, not in the BIOS area): no ACPI tables");
                    return;
                }
                source = "0x" + Format.Hex(address);
            }
            if (problem != null)
                Log.Warning("ACPI: " + problem);
            Info = AcpiTables.Load(IdentityMappedMemory.Instance, rsdp);
            Report(Info, source);
            UseEcamIfPresent(Info);
        }

        static void Report(AcpiInfo info, string source)
        {
            var tables = new System.Text.StringBuilder();
            for (int i = 0; i < info.Tables.Count; i++)
                tables.Append(' ').Append(info.Tables[i]);
            Log.Info("ACPI: RSDP v" + Format.Decimal(info.Rsdp.Revision) + " " + info.Rsdp.OemId + " (" + source + "), " +
                     (info.UsesXsdt ? "XSDT" : "RSDT") + " at 0x" + Format.Hex(info.RootAddress) + ":" + tables.ToString());
            for (int i = 0; i < info.Problems.Count; i++)
                Log.Warning("ACPI: " + info.Problems[i]);
            if (info.HasMadt)
            {
                Log.Info("ACPI: MADT: local APIC at 0x" + Format.Hex(info.LocalApicAddress) + ", " + Format.Decimal((ulong)info.ProcessorCount) +
                         " CPU(s)" + (info.HasLegacyPics ? ", dual 8259 PICs (PCAT_COMPAT)" : ""));
                for (int i = 0; i < info.IoApics.Count; i++)
                    Log.Info("ACPI: IOAPIC (id[0x" + Format.Hex(info.IoApics[i].Id, 2) + "] address[0x" + Format.Hex(info.IoApics[i].Address, 8) +
                             "] gsi_base[" + Format.Decimal(info.IoApics[i].GsiBase) + "])");
                for (int i = 0; i < info.Overrides.Count; i++)
                {
                    InterruptSourceOverride o = info.Overrides[i];
                    Log.Info("ACPI: INT_SRC_OVR (bus " + Format.Decimal(o.Bus) + " bus_irq " + Format.Decimal(o.Source) + " global_irq " +
                             Format.Decimal(o.Gsi) + " " + PolarityName(o.Polarity) + " " + TriggerName(o.Trigger) + ")");
                }
            }
            for (int i = 0; i < info.Ecam.Count; i++)
            {
                EcamRegion e = info.Ecam[i];
                Log.Info("ACPI: MCFG: PCI segment " + Format.Decimal(e.Segment) + " buses " + Format.Hex(e.StartBus, 2) + "-" + Format.Hex(e.EndBus, 2) +
                         " ECAM at 0x" + Format.Hex(e.BaseAddress));
            }
        }

        static string PolarityName(ushort polarity) =>
            polarity == InterruptSourceOverride.PolarityActiveHigh ? "high" : polarity == InterruptSourceOverride.PolarityActiveLow ? "low" : "dfl";

        static string TriggerName(ushort trigger) =>
            trigger == InterruptSourceOverride.TriggerEdge ? "edge" : trigger == InterruptSourceOverride.TriggerLevel ? "level" : "dfl";

        /// <summary>ECAM for the buses the MCFG covers (segment 0 only), after checking it against mechanism #1 on the host bridge.</summary>
        static void UseEcamIfPresent(AcpiInfo info)
        {
            if (!info.FindEcam(0, out EcamRegion region))
            {
                Log.Info("pci: configuration mechanism #1 (ports CF8h/CFCh)" + (info.Ecam.Count == 0 ? ", no MCFG" : ", no ECAM window for bus 0"));
                return;
            }
            if (!Paging.MapIdentity(region.BaseAddress, region.Size, uncached: true))
            {
                Log.Warning("pci: cannot map the ECAM window at 0x" + Format.Hex(region.BaseAddress) + "; using ports CF8h/CFCh");
                return;
            }
            var ecam = new EcamConfigSpace(new MmioRegisterBlock(region.BaseAddress), region, PciConfigPorts.Instance);
            var hostBridge = new PciAddress(0, 0, 0);
            uint throughPorts = PciConfigPorts.Instance.Read32(hostBridge, PciConfig.VendorId);
            uint throughEcam = ecam.Read32(hostBridge, PciConfig.VendorId);
            if (throughEcam != throughPorts || (ushort)throughPorts == PciConfig.InvalidVendor)
            {
                Log.Warning("pci: ECAM at 0x" + Format.Hex(region.BaseAddress) + " reads 00:00.0 as " + Format.Hex(throughEcam, 8) +
                            ", the ports as " + Format.Hex(throughPorts, 8) + "; using ports CF8h/CFCh");
                return;
            }
            KernelPciHost.Instance.UseConfigSpace(ecam);
            Log.Info("pci: configuration space through ECAM at 0x" + Format.Hex(region.BaseAddress) + " (MCFG, buses " +
                     Format.Hex(region.StartBus, 2) + "-" + Format.Hex(region.EndBus, 2) + ")");
        }
    }
}
