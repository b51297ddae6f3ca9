using System.Collections.Generic;
using Kernel.Acpi;
using Kernel.Hal;
using Kernel.Interrupts;
using Kernel.Memory;
using Kernel.Threading;
using Kernel.Time;
using Platform;
using Platform.Acpi;
using Platform.Pci;

namespace Kernel.Pci
{
    /// <summary>
    /// What PCI drivers get from the kernel: BAR mapping, bus mastering, interrupts (MSI when
    /// the function offers it, else its INTx pin: through the I/O APIC in APIC mode, routed by the MP
    /// table or the Interrupt Line; through the 8259 on the Interrupt Line otherwise), DMA, time, threads.
    /// Also owns the list of functions found at boot and the driver registry.
    /// </summary>
    internal sealed class KernelPciHost : IPciHost
    {
        public static readonly KernelPciHost Instance = new KernelPciHost();

        // MSI capability layout (PCI Local Bus Spec 3.0, 6.8.1).
        const ushort MsiControlOffset = 2, MsiAddressOffset = 4;
        const ushort MsiControlEnable = 1 << 0, MsiControl64Bit = 1 << 7;
        const ushort MsiControlMultipleEnableMask = 0x70;
        const uint MsiAddressBase = 0xFEE00000;
        const int MsiDestinationShift = 12;
        const byte NoInterruptLine = 0xFF;
        // MSI-X capability and table layout (PCI Local Bus Spec 3.0, 6.8.2).
        const ushort MsixControlOffset = 2, MsixTableOffset = 4;
        const ushort MsixControlEnable = 1 << 15, MsixControlFunctionMask = 1 << 14;
        const uint MsixTableBirMask = 0x7, MsixEntrySize = 16;
        const uint MsixEntryAddressLow = 0, MsixEntryAddressHigh = 4, MsixEntryData = 8, MsixEntryVectorControl = 12;
        const uint MsixVectorMasked = 1;

        public readonly PciDriverRegistry Registry = new PciDriverRegistry();
        public List<PciFunction> Functions = new List<PciFunction>();

        /// <summary>Configuration mechanism #1 until the ACPI MCFG offers ECAM (Kernel/Acpi/KernelAcpi.cs).</summary>
        public IPciConfigSpace Config { get; private set; } = PciConfigPorts.Instance;
        public void UseConfigSpace(IPciConfigSpace config) => Config = config;
        public IClock Clock => Time.Clock.Instance;
        public IThreading Threading => KernelThreading.Instance;
        public IDmaAllocator Dma => DmaMemory.Instance;

        /// <summary>Scans the bus, logs every function and offers each to the registered drivers.</summary>
        public void ScanAndBind()
        {
            Functions = PciBus.Enumerate(Config);
            for (int i = 0; i < Functions.Count; i++)
                Log.Info("pci " + Functions[i].Describe());
            Registry.BindAll(Functions, this);
        }

        public IRegisterBlock MapBar(PciFunction function, int barIndex)
        {
            if ((uint)barIndex >= PciFunction.BarCount) return null;
            PciBar bar = function.Bars[barIndex];
            if (!bar.IsPresent) return null;
            ushort command = Config.Read16(function.Address, PciConfig.Command);
            if (bar.IsIo)
            {
                Config.Write16(function.Address, PciConfig.Command, (ushort)(command | PciConfig.CommandIoSpace));
                return new PortRegisterBlock((ushort)bar.Address);
            }
            if (!Paging.MapIdentity(bar.Address, bar.Size, uncached: true))
                return null;
            Config.Write16(function.Address, PciConfig.Command, (ushort)(command | PciConfig.CommandMemorySpace));
            return new MmioRegisterBlock(bar.Address);
        }

        public void EnableBusMaster(PciFunction function)
        {
            ushort command = Config.Read16(function.Address, PciConfig.Command);
            Config.Write16(function.Address, PciConfig.Command, (ushort)(command | PciConfig.CommandBusMaster));
        }

        public bool AttachInterrupt(PciFunction function, InterruptHandler handler, string name)
        {
            ushort msi = FindCapability(function, PciConfig.CapabilityMsi);
            if (msi != 0)
            {
                int vector = InterruptDispatcher.AllocateMsiVector(handler, name);
                if (vector != 0)
                {
                    ProgramMsi(function, msi, vector);
                    Log.Info("pci " + function.Address.ToString() + ": " + name + " uses MSI vector " + Format.Decimal((ulong)vector));
                    return true;
                }
            }
            ushort msix = FindCapability(function, PciConfig.CapabilityMsiX);
            if (msix != 0)
            {
                int vector = InterruptDispatcher.AllocateMsiVector(handler, name);
                if (vector != 0 && ProgramMsix(function, msix, vector))
                {
                    Log.Info("pci " + function.Address.ToString() + ": " + name + " uses MSI-X vector " + Format.Decimal((ulong)vector));
                    return true;
                }
            }
            byte line = function.InterruptLine;
            if (IoApic.Enabled)
                return AttachIntxThroughIoApic(function, handler, name);
            if (function.InterruptPin == 0 || line == NoInterruptLine || line >= 16)
            {
                Log.Warning("pci " + function.Address.ToString() + ": " + name + " has no usable interrupt line");
                return false;
            }
            EnableIntx(function);
            InterruptDispatcher.AttachIrq(line, handler, name);
            Log.Info("pci " + function.Address.ToString() + ": " + name + " uses IRQ " + Format.Decimal(line) + " (XT-PIC)");
            return true;
        }

        /// <summary>
        /// APIC mode: the function's INTx pin routed without _PRT (Platform/Acpi/IoApicRouting.cs: the MP table, else
        /// the Interrupt Line as an ISA IRQ through the overrides). Logged as Linux does ("PCI INT A -> GSI 11 (level,
        /// low) -> IRQ 11"); the function's InterruptLine then holds the IRQ number, as Linux's pci_dev->irq does.
        /// </summary>
        bool AttachIntxThroughIoApic(PciFunction function, InterruptHandler handler, string name)
        {
            string where = "pci " + function.Address.ToString() + ": ";
            if (function.InterruptPin == 0 || function.InterruptPin > 4)
            {
                Log.Warning(where + name + " has no interrupt pin");
                return false;
            }
            string pin = "PCI INT " + (char)('A' + function.InterruptPin - 1);
            InterruptRoute route = InterruptRouting.PciIntx(KernelAcpi.Info, IoApic.Mp, function.Address.Bus, function.Address.Device,
                                                            function.InterruptPin, function.InterruptLine);
            if (!route.Valid)
            {
                Log.Warning(where + pin + ": no MP table entry and no usable Interrupt Line (0x" + Format.Hex(function.InterruptLine, 2) + "); " + name + " has no interrupt");
                return false;
            }
            EnableIntx(function);
            int irq = InterruptDispatcher.AttachGsi(route, handler, name);
            if (irq < 0)
            {
                Log.Warning(where + pin + " -> GSI " + Format.Decimal(route.Gsi) + ": no IRQ for it; " + name + " has no interrupt");
                return false;
            }
            Log.Info(where + pin + " -> GSI " + Format.Decimal(route.Gsi) + " (" + route.Describe() + ") -> IRQ " + Format.Decimal((ulong)irq) +
                     " (" + route.Source + ")");
            function.InterruptLine = (byte)irq;
            return true;
        }

        void EnableIntx(PciFunction function)
        {
            ushort command = Config.Read16(function.Address, PciConfig.Command);
            Config.Write16(function.Address, PciConfig.Command, (ushort)(command & ~PciConfig.CommandInterruptDisable));
        }

        void ProgramMsi(PciFunction function, ushort cap, int vector)
        {
            PciAddress a = function.Address;
            ushort control = Config.Read16(a, (ushort)(cap + MsiControlOffset));
            Config.Write32(a, (ushort)(cap + MsiAddressOffset), MsiAddressBase | LocalApic.Id << MsiDestinationShift);
            ushort dataOffset;
            if ((control & MsiControl64Bit) != 0)
            {
                Config.Write32(a, (ushort)(cap + MsiAddressOffset + 4), 0);
                dataOffset = (ushort)(cap + 12);
            }
            else
            {
                dataOffset = (ushort)(cap + 8);
            }
            Config.Write16(a, dataOffset, (ushort)vector); // fixed delivery, edge
            control = (ushort)((control & ~MsiControlMultipleEnableMask) | MsiControlEnable);
            Config.Write16(a, (ushort)(cap + MsiControlOffset), control);
            ushort command = Config.Read16(a, PciConfig.Command);
            Config.Write16(a, PciConfig.Command, (ushort)(command | PciConfig.CommandInterruptDisable));
        }

        /// <summary>Routes MSI-X table entry 0 to the vector and masks every other entry.</summary>
        bool ProgramMsix(PciFunction function, ushort cap, int vector)
        {
            PciAddress a = function.Address;
            ushort control = Config.Read16(a, (ushort)(cap + MsixControlOffset));
            uint table = Config.Read32(a, (ushort)(cap + MsixTableOffset));
            IRegisterBlock bar = MapBar(function, (int)(table & MsixTableBirMask));
            if (bar == null)
                return false;
            uint tableBase = table & ~MsixTableBirMask;
            int entries = (control & 0x7FF) + 1;
            Config.Write16(a, (ushort)(cap + MsixControlOffset), (ushort)(control | MsixControlEnable | MsixControlFunctionMask));
            for (int i = 0; i < entries; i++)
                bar.Write32(tableBase + (uint)i * MsixEntrySize + MsixEntryVectorControl, MsixVectorMasked);
            bar.Write32(tableBase + MsixEntryAddressLow, MsiAddressBase | LocalApic.Id << MsiDestinationShift);
            bar.Write32(tableBase + MsixEntryAddressHigh, 0);
            bar.Write32(tableBase + MsixEntryData, (uint)vector);
            bar.Write32(tableBase + MsixEntryVectorControl, 0);
            Config.Write16(a, (ushort)(cap + MsixControlOffset), (ushort)((control | MsixControlEnable) & ~MsixControlFunctionMask));
            ushort command = Config.Read16(a, PciConfig.Command);
            Config.Write16(a, PciConfig.Command, (ushort)(command | PciConfig.CommandInterruptDisable));
            return true;
        }

        /// <summary>Walks the capability list (6.7); returns the capability's offset or 0. Bounded against loops.</summary>
        public ushort FindCapability(PciFunction function, byte id)
        {
            if ((Config.Read16(function.Address, PciConfig.Status) & PciConfig.StatusCapabilitiesList) == 0)
                return 0;
            byte offset = (byte)(Config.Read8(function.Address, PciConfig.CapabilitiesPointer) & 0xFC);
            for (int guard = 0; guard < 48 && offset >= 0x40; guard++)
            {
                if (Config.Read8(function.Address, offset) == id) return offset;
                offset = (byte)(Config.Read8(function.Address, (ushort)(offset + 1)) & 0xFC);
            }
            return 0;
        }
    }
}
