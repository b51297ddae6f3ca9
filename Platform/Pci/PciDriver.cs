using System.Collections.Generic;

namespace Platform.Pci
{
    /// <summary>
    /// One entry of a PCI driver's match table, like Linux's struct pci_device_id: vendor and
    /// device (or <see cref="Any"/>), and a 24-bit class code (class:subclass:prog-if) compared
    /// under <see cref="ClassMask"/>.
    /// </summary>
    public struct PciDeviceId
    {
        public const uint Any = 0xFFFFFFFF;

        public uint VendorId;
        public uint DeviceId;
        public uint Class;
        public uint ClassMask;

        /// <summary>Matches a class:subclass:prog-if exactly (PCI_DEVICE_CLASS(class, ~0)).</summary>
        public static PciDeviceId ForClass(byte classCode, byte subclass, byte progIf) => new PciDeviceId
        {
            VendorId = Any,
            DeviceId = Any,
            Class = ((uint)classCode << 16) | ((uint)subclass << 8) | progIf,
            ClassMask = 0xFFFFFF,
        };

        public static PciDeviceId ForDevice(ushort vendor, ushort device) => new PciDeviceId
        {
            VendorId = vendor,
            DeviceId = device,
        };

        public bool Matches(PciFunction f)
        {
            if (VendorId != Any && VendorId != f.VendorId) return false;
            if (DeviceId != Any && DeviceId != f.DeviceId) return false;
            uint functionClass = ((uint)f.ClassCode << 16) | ((uint)f.Subclass << 8) | f.ProgIf;
            return (functionClass & ClassMask) == (Class & ClassMask);
        }
    }

    /// <summary>What the platform gives a PCI driver to bring its function up.</summary>
    public interface IPciHost
    {
        IPciConfigSpace Config { get; }
        IClock Clock { get; }
        IThreading Threading { get; }
        IDmaAllocator Dma { get; }

        /// <summary>Maps a BAR (uncached for memory BARs) and enables its decoding; null if absent.</summary>
        IRegisterBlock MapBar(PciFunction function, int barIndex);

        /// <summary>Enables bus-master DMA for the function.</summary>
        void EnableBusMaster(PciFunction function);

        /// <summary>Routes the function's interrupt (MSI where offered, else its INTx line) to the handler.</summary>
        bool AttachInterrupt(PciFunction function, InterruptHandler handler, string name);
    }

    /// <summary>A driver for PCI functions: a name, a match table and a probe.</summary>
    public abstract class PciDriver
    {
        public abstract string Name { get; }
        public abstract PciDeviceId[] IdTable { get; }

        /// <summary>
        /// Takes the function over. Returning false declines it; the registry then offers it to
        /// the next matching driver.
        /// </summary>
        public abstract bool Probe(PciFunction function, IPciHost host);

        public bool Matches(PciFunction function)
        {
            PciDeviceId[] table = IdTable;
            for (int i = 0; i < table.Length; i++)
                if (table[i].Matches(function))
                    return true;
            return false;
        }
    }

    /// <summary>
    /// The PCI driver registry: each function goes to the first registered driver whose table
    /// accepts it and whose probe succeeds. Controller drivers register here before the scan.
    /// <see cref="BindAll"/> offers functions driver by driver, in registration order, so that a
    /// driver registered earlier brings up all its functions before later drivers see theirs
    /// (EHCI before its UHCI/OHCI companions, as Linux requires).
    /// </summary>
    public sealed class PciDriverRegistry
    {
        readonly List<PciDriver> _drivers = new List<PciDriver>();

        public int Count => _drivers.Count;

        public void Register(PciDriver driver) => _drivers.Add(driver);

        /// <summary>Binds every function: driver by driver in registration order, then logs what stayed unbound.</summary>
        public void BindAll(List<PciFunction> functions, IPciHost host)
        {
            for (int d = 0; d < _drivers.Count; d++)
                for (int i = 0; i < functions.Count; i++)
                    if (functions[i].Driver == null)
                        TryProbe(_drivers[d], functions[i], host);
            for (int i = 0; i < functions.Count; i++)
                if (functions[i].Driver == null)
                    LogUnbound(functions[i]);
        }

        bool TryProbe(PciDriver driver, PciFunction function, IPciHost host)
        {
            if (!driver.Matches(function))
                return false;
            if (driver.Probe(function, host))
            {
                function.Driver = driver;
                Log.Info("pci " + function.Address.ToString() + ": bound to " + driver.Name);
                return true;
            }
            Log.Info("pci " + function.Address.ToString() + ": " + driver.Name + " declined");
            return false;
        }

        static void LogUnbound(PciFunction function)
        {
            if (function.ClassCode == PciConfig.ClassSerialBus && function.Subclass == PciConfig.SubclassUsb)
                Log.Info("pci " + function.Address.ToString() + ": no driver for " +
                         PciClassNames.Describe(function.ClassCode, function.Subclass, function.ProgIf));
        }

        /// <summary>Offers the function to drivers in registration order; returns the one that took it.</summary>
        public PciDriver Bind(PciFunction function, IPciHost host)
        {
            for (int i = 0; i < _drivers.Count; i++)
                if (TryProbe(_drivers[i], function, host))
                    return _drivers[i];
            LogUnbound(function);
            return null;
        }
    }
}
