using System.Collections.Generic;

namespace Platform.Pci
{
    /// <summary>
    /// Enumerates every bus/device/function through an <see cref="IPciConfigSpace"/> and decodes
    /// each function's header and BARs. Brute force over all 256 buses finds functions behind
    /// bridges whatever the firmware programmed, at a cost of 8192 vendor-ID reads.
    /// </summary>
    public static class PciBus
    {
        public const int MaxBuses = 256;
        public const int DevicesPerBus = 32;
        public const int FunctionsPerDevice = 8;

        public static List<PciFunction> Enumerate(IPciConfigSpace config)
        {
            var functions = new List<PciFunction>();
            for (int bus = 0; bus < MaxBuses; bus++)
            {
                for (int device = 0; device < DevicesPerBus; device++)
                {
                    var first = new PciAddress(bus, device, 0);
                    if (config.Read16(first, PciConfig.VendorId) == PciConfig.InvalidVendor)
                        continue;
                    bool multiFunction = (config.Read8(first, PciConfig.HeaderType) & PciConfig.HeaderTypeMultiFunction) != 0;
                    int count = multiFunction ? FunctionsPerDevice : 1;
                    for (int function = 0; function < count; function++)
                    {
                        var address = new PciAddress(bus, device, function);
                        if (config.Read16(address, PciConfig.VendorId) == PciConfig.InvalidVendor)
                            continue;
                        functions.Add(ReadFunction(config, address));
                    }
                }
            }
            return functions;
        }

        public static PciFunction ReadFunction(IPciConfigSpace config, PciAddress address)
        {
            var f = new PciFunction();
            f.Address = address;
            f.VendorId = config.Read16(address, PciConfig.VendorId);
            f.DeviceId = config.Read16(address, PciConfig.DeviceId);
            f.Revision = config.Read8(address, PciConfig.RevisionId);
            f.ProgIf = config.Read8(address, PciConfig.ProgIf);
            f.Subclass = config.Read8(address, PciConfig.Subclass);
            f.ClassCode = config.Read8(address, PciConfig.ClassCode);
            f.HeaderType = config.Read8(address, PciConfig.HeaderType);
            f.InterruptLine = config.Read8(address, PciConfig.InterruptLine);
            f.InterruptPin = config.Read8(address, PciConfig.InterruptPin);
            // Type 1 headers (bridges) have two BARs; type 2 (CardBus) none we care about.
            int headerKind = f.HeaderType & PciConfig.HeaderTypeMask;
            int barCount = headerKind == 0 ? PciFunction.BarCount : headerKind == PciConfig.HeaderTypeBridge ? 2 : 0;
            DecodeBars(config, f, barCount);
            return f;
        }

        /// <summary>
        /// Sizes each BAR by writing all ones and reading back the writable bits (6.2.5.1), with
        /// I/O and memory decoding switched off meanwhile so the probe value is never decoded.
        /// </summary>
        static void DecodeBars(IPciConfigSpace config, PciFunction f, int barCount)
        {
            ushort command = config.Read16(f.Address, PciConfig.Command);
            config.Write16(f.Address, PciConfig.Command,
                (ushort)(command & ~(PciConfig.CommandIoSpace | PciConfig.CommandMemorySpace)));
            for (int i = 0; i < barCount; i++)
            {
                ushort offset = (ushort)(PciConfig.Bar0 + i * 4);
                uint original = config.Read32(f.Address, offset);
                config.Write32(f.Address, offset, 0xFFFFFFFF);
                uint probed = config.Read32(f.Address, offset);
                config.Write32(f.Address, offset, original);
                if (probed == 0 || probed == 0xFFFFFFFF && original == 0xFFFFFFFF)
                    continue;

                var bar = new PciBar();
                if ((original & PciConfig.BarIoSpace) != 0)
                {
                    bar.Kind = PciBarKind.Io;
                    bar.Address = original & PciConfig.BarIoAddressMask;
                    // I/O BARs decode 16 bits of address on x86; upper bits may read back as zero.
                    uint mask = probed & PciConfig.BarIoAddressMask & 0xFFFF;
                    bar.Size = mask == 0 ? 0 : (ulong)((~mask + 1) & 0xFFFF);
                }
                else if ((original & PciConfig.BarMemoryTypeMask) == PciConfig.BarMemoryType64 && i + 1 < barCount)
                {
                    ushort highOffset = (ushort)(offset + 4);
                    uint originalHigh = config.Read32(f.Address, highOffset);
                    config.Write32(f.Address, highOffset, 0xFFFFFFFF);
                    uint probedHigh = config.Read32(f.Address, highOffset);
                    config.Write32(f.Address, highOffset, originalHigh);
                    ulong mask = ((ulong)probedHigh << 32) | (probed & PciConfig.BarMemoryAddressMask);
                    bar.Kind = PciBarKind.Memory64;
                    bar.Address = ((ulong)originalHigh << 32) | (original & PciConfig.BarMemoryAddressMask);
                    bar.Size = ~mask + 1;
                    bar.Prefetchable = (original & PciConfig.BarPrefetchable) != 0;
                    f.Bars[i] = bar;
                    i++; // the upper half occupies the next slot
                    continue;
                }
                else
                {
                    uint mask = probed & PciConfig.BarMemoryAddressMask;
                    bar.Kind = PciBarKind.Memory32;
                    bar.Address = original & PciConfig.BarMemoryAddressMask;
                    bar.Size = mask == 0 ? 0 : (ulong)(~mask + 1);
                    bar.Prefetchable = (original & PciConfig.BarPrefetchable) != 0;
                }
                f.Bars[i] = bar;
            }
            config.Write16(f.Address, PciConfig.Command, command);
        }
    }
}
