using System.Collections.Generic;
using NUnit.Framework;
using Platform;
using Platform.Acpi;
using Platform.Pci;

namespace Kernel.Tests
{
    /// <summary>Platform/Pci/EcamConfigSpace.cs: the ECAM address layout and enumeration through it.</summary>
    public class EcamTests
    {
        /// <summary>
        /// An ECAM window in front of a <see cref="FakePciConfigSpace"/>: decodes each memory offset back into
        /// bus/device/function/register the way a PCIe root complex does, and records the accesses.
        /// </summary>
        sealed class EcamWindow : IRegisterBlock
        {
            readonly IPciConfigSpace _functions;
            readonly byte _startBus;
            public readonly List<uint> Offsets = new();
            public EcamWindow(IPciConfigSpace functions, byte startBus) { _functions = functions; _startBus = startBus; }

            PciAddress Decode(uint offset, out ushort register)
            {
                Offsets.Add(offset);
                register = (ushort)(offset & 0xFFF);
                return new PciAddress((int)(offset >> 20) + _startBus, (int)(offset >> 15) & 31, (int)(offset >> 12) & 7);
            }

            public byte Read8(uint offset) { var a = Decode(offset, out ushort r); return _functions.Read8(a, r); }
            public ushort Read16(uint offset) { var a = Decode(offset, out ushort r); return _functions.Read16(a, r); }
            public uint Read32(uint offset) { var a = Decode(offset, out ushort r); return _functions.Read32(a, r); }
            public ulong Read64(uint offset) => Read32(offset) | (ulong)Read32(offset + 4) << 32;
            public void Write8(uint offset, byte value) { var a = Decode(offset, out ushort r); _functions.Write8(a, r, value); }
            public void Write16(uint offset, ushort value) { var a = Decode(offset, out ushort r); _functions.Write16(a, r, value); }
            public void Write32(uint offset, uint value) { var a = Decode(offset, out ushort r); _functions.Write32(a, r, value); }
            public void Write64(uint offset, ulong value) { Write32(offset, (uint)value); Write32(offset + 4, (uint)(value >> 32)); }
        }

        /// <summary>Counts what reaches the fallback (configuration mechanism #1 in the kernel).</summary>
        sealed class CountingConfig : IPciConfigSpace
        {
            readonly IPciConfigSpace _inner;
            public readonly HashSet<int> Buses = new();
            public CountingConfig(IPciConfigSpace inner) => _inner = inner;
            public uint Read32(PciAddress a, ushort o) { Buses.Add(a.Bus); return _inner.Read32(a, o); }
            public void Write32(PciAddress a, ushort o, uint v) { Buses.Add(a.Bus); _inner.Write32(a, o, v); }
            public ushort Read16(PciAddress a, ushort o) { Buses.Add(a.Bus); return _inner.Read16(a, o); }
            public void Write16(PciAddress a, ushort o, ushort v) { Buses.Add(a.Bus); _inner.Write16(a, o, v); }
            public byte Read8(PciAddress a, ushort o) { Buses.Add(a.Bus); return _inner.Read8(a, o); }
            public void Write8(PciAddress a, ushort o, byte v) { Buses.Add(a.Bus); _inner.Write8(a, o, v); }
        }

        [Test]
        public void WindowOffset_IsBusDeviceFunctionRegister()
        {
            var region = new EcamRegion { BaseAddress = 0xB0000000, StartBus = 0, EndBus = 255 };
            Assert.That(EcamConfigSpace.WindowOffset(region, new PciAddress(2, 3, 4), 0x104), Is.EqualTo(0x0020_0000u | 0x1_8000u | 0x4000u | 0x104u));
            Assert.That(EcamConfigSpace.WindowOffset(region, new PciAddress(255, 31, 7), 0xFFC), Is.EqualTo(0x0FFF_FFFCu), "the last dword of 256 MiB");
            var upper = new EcamRegion { BaseAddress = 0xE0000000, StartBus = 0x80, EndBus = 0xFF };
            Assert.That(EcamConfigSpace.WindowOffset(upper, new PciAddress(0x81, 0, 0), 0), Is.EqualTo(0x0010_0000u), "relative to the start bus");
        }

        [Test]
        public void EnumerationThroughEcam_FindsWhatThePortsFind_AndLeavesOtherBusesToThem()
        {
            FakePciConfigSpace machine = PciTests.Machine();
            var expected = new List<string>();
            foreach (PciFunction f in PciBus.Enumerate(PciTests.Machine())) expected.Add(f.Describe());

            var window = new EcamWindow(machine, 0);
            var fallback = new CountingConfig(machine);
            var ecam = new EcamConfigSpace(window, new EcamRegion { BaseAddress = 0xB0000000, StartBus = 0, EndBus = 1 }, fallback);
            var found = new List<string>();
            foreach (PciFunction f in PciBus.Enumerate(ecam)) found.Add(f.Describe());
            Assert.That(found, Is.EqualTo(expected), "same functions, BARs and sizes");
            Assert.That(window.Offsets, Is.Not.Empty);
            Assert.That(fallback.Buses, Does.Not.Contain(0).And.Not.Contain(1), "buses 0 and 1 only through the window");
            Assert.That(fallback.Buses, Does.Contain(2), "the function behind the bridge (bus 2) is read through the fallback");
        }

        [Test]
        public void NarrowAccessesUseTheirOwnOffsets()
        {
            var machine = new FakePciConfigSpace().Add(new PciAddress(0, 5, 0), 0x1B36, 0x000D, 0x0C, 0x03, 0x30);
            var window = new EcamWindow(machine, 0);
            var ecam = new EcamConfigSpace(window, new EcamRegion { BaseAddress = 0xB0000000, StartBus = 0, EndBus = 0 }, machine);
            var a = new PciAddress(0, 5, 0);
            Assert.That(ecam.Read16(a, PciConfig.VendorId), Is.EqualTo(0x1B36));
            Assert.That(ecam.Read16(a, PciConfig.DeviceId), Is.EqualTo(0x000D));
            Assert.That(ecam.Read8(a, PciConfig.ProgIf), Is.EqualTo(0x30));
            Assert.That(ecam.Read32(a, PciConfig.VendorId), Is.EqualTo(0x000D1B36u));
            Assert.That(window.Offsets, Is.EqualTo(new uint[] { 0x28000, 0x28002, 0x28009, 0x28000 }));
        }
    }
}
