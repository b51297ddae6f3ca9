using System.Collections.Generic;
using NUnit.Framework;
using Platform;
using Platform.Pci;
using Tests.Support;

namespace Kernel.Tests
{
    public class PciTests
    {
        static readonly PciAddress Uhci = new PciAddress(0, 4, 0);
        static readonly PciAddress Xhci = new PciAddress(0, 7, 0);
        static readonly PciAddress Bridge = new PciAddress(0, 30, 0);
        static readonly PciAddress BehindBridge = new PciAddress(2, 0, 0);

        internal static FakePciConfigSpace Machine()
        {
            var config = new FakePciConfigSpace()
                .Add(new PciAddress(0, 0, 0), 0x8086, 0x1237, 0x06, 0x00, 0x00)
                .Add(new PciAddress(0, 1, 0), 0x8086, 0x7000, 0x06, 0x01, 0x00, multiFunction: true)
                .Add(new PciAddress(0, 1, 3), 0x8086, 0x7113, 0x06, 0x80, 0x00)
                .Add(Uhci, 0x8086, 0x7020, 0x0C, 0x03, 0x00)
                .Bar(Uhci, 4, 0xC041, 0x20)
                .Add(Xhci, 0x1B36, 0x000D, 0x0C, 0x03, 0x30)
                .Bar(Xhci, 0, 0xFEBF0004, 0x4000, highValue: 0x00000008)
                .Add(Bridge, 0x8086, 0x244E, 0x06, 0x04, 0x01, headerType: 1)
                .Add(BehindBridge, 0x106B, 0x003F, 0x0C, 0x03, 0x10)
                .Bar(BehindBridge, 0, 0xFEA00000, 0x1000);
            config.Write16(Uhci, PciConfig.Command, PciConfig.CommandIoSpace);
            return config;
        }

        [Test]
        public void EnumeratesEveryFunctionIncludingMultiFunctionAndOtherBuses()
        {
            List<PciFunction> functions = PciBus.Enumerate(Machine());
            var names = new List<string>();
            foreach (PciFunction f in functions) names.Add(f.Address.ToString());
            Assert.That(names, Is.EqualTo(new[] { "0000:00:00.0", "0000:00:01.0", "0000:00:01.3", "0000:00:04.0", "0000:00:07.0", "0000:00:1e.0", "0000:02:00.0" }));
        }

        [Test]
        public void DecodesIoAnd64BitMemoryBarsWithSizes()
        {
            List<PciFunction> functions = PciBus.Enumerate(Machine());
            PciFunction uhci = functions.Find(f => f.Address.Device == 4);
            Assert.That(uhci.Bars[4].Kind, Is.EqualTo(PciBarKind.Io));
            Assert.That(uhci.Bars[4].Address, Is.EqualTo(0xC040));
            Assert.That(uhci.Bars[4].Size, Is.EqualTo(0x20));
            PciFunction xhci = functions.Find(f => f.Address.Device == 7);
            Assert.That(xhci.Bars[0].Kind, Is.EqualTo(PciBarKind.Memory64));
            Assert.That(xhci.Bars[0].Address, Is.EqualTo(0x8_FEBF0000UL), "64-bit BAR above 4 GiB");
            Assert.That(xhci.Bars[0].Size, Is.EqualTo(0x4000));
            Assert.That(xhci.Bars[1].IsPresent, Is.False, "upper half of a 64-bit BAR is not a BAR of its own");
        }

        [Test]
        public void SizingRestoresBarsAndCommandRegister()
        {
            FakePciConfigSpace config = Machine();
            PciBus.Enumerate(config);
            Assert.That(config.Raw32(Uhci, PciConfig.Bar0 + 16), Is.EqualTo(0xC041));
            Assert.That(config.Raw32(Xhci, PciConfig.Bar0), Is.EqualTo(0xFEBF0004));
            Assert.That(config.Raw32(Xhci, PciConfig.Bar0 + 4), Is.EqualTo(8));
            Assert.That(config.Command(Uhci), Is.EqualTo(PciConfig.CommandIoSpace));
        }

        [Test]
        public void DescribesFunctionsLikeLspci()
        {
            PciFunction xhci = PciBus.Enumerate(Machine()).Find(f => f.Address.Device == 7);
            Assert.That(xhci.Describe(), Is.EqualTo("0000:00:07.0 0c03: 1b36:000d (rev 00) prog-if 30 [USB controller: xHCI]"));
            Assert.That(xhci.Bars[0].Describe(), Is.EqualTo("mem64 0x8febf0000 size 0x4000"));
        }

        sealed class RecordingDriver : PciDriver
        {
            readonly string _name;
            readonly PciDeviceId[] _ids;
            readonly bool _accept;
            public readonly List<string> Probed = new List<string>();
            public RecordingDriver(string name, bool accept, params PciDeviceId[] ids) { _name = name; _accept = accept; _ids = ids; }
            public override string Name => _name;
            public override PciDeviceId[] IdTable => _ids;
            public override bool Probe(PciFunction function, IPciHost host)
            {
                Probed.Add(function.Address.ToString());
                return _accept;
            }
        }

        [Test]
        public void RegistryBindsFirstAcceptingDriverAndSkipsDecliners()
        {
            List<PciFunction> functions = PciBus.Enumerate(Machine());
            var decliner = new RecordingDriver("picky", false, PciDeviceId.ForClass(0x0C, 0x03, 0x30));
            var xhciDriver = new RecordingDriver("xhci", true, PciDeviceId.ForClass(0x0C, 0x03, 0x30));
            var byId = new RecordingDriver("uhci", true, PciDeviceId.ForDevice(0x8086, 0x7020));
            var registry = new PciDriverRegistry();
            registry.Register(decliner);
            registry.Register(xhciDriver);
            registry.Register(byId);
            foreach (PciFunction f in functions) registry.Bind(f, null);
            Assert.That(decliner.Probed, Is.EqualTo(new[] { "0000:00:07.0" }));
            Assert.That(functions.Find(f => f.Address.Device == 7).Driver, Is.SameAs(xhciDriver));
            Assert.That(functions.Find(f => f.Address.Device == 4).Driver, Is.SameAs(byId));
            Assert.That(functions.Find(f => f.Address.Bus == 2).Driver, Is.Null, "OHCI has no driver here");
        }

        [Test]
        public void BindAllBringsUpEveryFunctionOfAnEarlierDriverFirst()
        {
            // Companions (UHCI, 00:1d.0) come before their EHCI (00:1d.7) on the bus, but EHCI must start first.
            var config = new FakePciConfigSpace()
                .Add(new PciAddress(0, 0x1d, 0), 0x8086, 0x2934, 0x0C, 0x03, 0x00, multiFunction: true)
                .Add(new PciAddress(0, 0x1d, 7), 0x8086, 0x293a, 0x0C, 0x03, 0x20);
            var order = new List<string>();
            var ehci = new OrderDriver("ehci", order, PciDeviceId.ForClass(0x0C, 0x03, 0x20));
            var uhci = new OrderDriver("uhci", order, PciDeviceId.ForClass(0x0C, 0x03, 0x00));
            var registry = new PciDriverRegistry();
            registry.Register(ehci);
            registry.Register(uhci);
            registry.BindAll(PciBus.Enumerate(config), null);
            Assert.That(order, Is.EqualTo(new[] { "ehci 0000:00:1d.7", "uhci 0000:00:1d.0" }));
        }

        sealed class OrderDriver : PciDriver
        {
            readonly string _name;
            readonly List<string> _order;
            readonly PciDeviceId[] _ids;
            public OrderDriver(string name, List<string> order, params PciDeviceId[] ids) { _name = name; _order = order; _ids = ids; }
            public override string Name => _name;
            public override PciDeviceId[] IdTable => _ids;
            public override bool Probe(PciFunction function, IPciHost host)
            {
                _order.Add(_name + " " + function.Address);
                return true;
            }
        }

        [Test]
        public void RegistryLogsUsbControllersWithoutDriver()
        {
            var sink = new ListSink();
            Log.Attach(sink, new ManualClock());
            var registry = new PciDriverRegistry();
            foreach (PciFunction f in PciBus.Enumerate(Machine())) registry.Bind(f, null);
            Assert.That(sink.Lines, Has.Some.EndsWith("pci 0000:02:00.0: no driver for USB controller: OHCI"));
            Assert.That(sink.Lines, Has.Some.EndsWith("pci 0000:00:07.0: no driver for USB controller: xHCI"));
        }
    }
}
