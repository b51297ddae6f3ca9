using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>The shell's `pci` listing, cross-checked against QEMU's own view (QMP query-pci / `info pci`).</summary>
    [TestFixture]
    public sealed class PciTests : BootTest
    {
        public sealed record Controller(string Model, string QdevId, int Vendor, int Device, int ProgIf, string Kind);

        /// <summary>What QEMU 7.2 reports (verified by HarnessTests.AllControllers_QemuReportsTheExpectedPciIds).</summary>
        public static readonly Controller[] UsbControllers =
        {
            new("piix3-usb-uhci", "uhci", 0x8086, 0x7020, 0x00, "UHCI"),
            new("pci-ohci", "ohci", 0x106b, 0x003f, 0x10, "OHCI"),
            new("usb-ehci", "ehci", 0x8086, 0x24cd, 0x20, "EHCI"),
            new("qemu-xhci", "xhci", 0x1b36, 0x000d, 0x30, "xHCI"),
        };

        internal sealed class Bar
        {
            public int Index;
            public string Type;
            public ulong Address, Size;
        }

        internal sealed class Function
        {
            public int Bus, Slot, Fn, Class, Vendor, Device, ProgIf;
            public string Line, Description, Driver;
            public List<Bar> Bars = new();
            public string Bdf => $"0000:{Bus:x2}:{Slot:x2}.{Fn}";
        }

        static readonly Regex FunctionLine = new(
            @"^(?<seg>[0-9a-f]{4}):(?<bus>[0-9a-f]{2}):(?<slot>[0-9a-f]{2})\.(?<fn>[0-7]) (?<class>[0-9a-f]{4}): (?<ven>[0-9a-f]{4}):(?<dev>[0-9a-f]{4}) \(rev [0-9a-f]{2}\) prog-if (?<pi>[0-9a-f]{2})(?: \[(?<desc>.*)\])?\s*$");
        static readonly Regex BarLine = new(@"^\s+BAR(?<n>\d): (?<type>\w+) 0x(?<addr>[0-9a-f]+) size 0x(?<size>[0-9a-f]+)");
        static readonly Regex DriverLine = new(@"^\s+driver: (?<name>\S.*?)\s*$");

        internal static List<Function> ParseListing(string text)
        {
            var list = new List<Function>();
            foreach (var line in text.Split('\n'))
            {
                Match m;
                if ((m = FunctionLine.Match(line)).Success)
                {
                    int Hex(string g) => int.Parse(m.Groups[g].Value, NumberStyles.HexNumber);
                    list.Add(new Function
                    {
                        Line = line, Bus = Hex("bus"), Slot = Hex("slot"), Fn = Hex("fn"), Class = Hex("class"),
                        Vendor = Hex("ven"), Device = Hex("dev"), ProgIf = Hex("pi"), Description = m.Groups["desc"].Value,
                    });
                }
                else if ((m = BarLine.Match(line)).Success && list.Count > 0)
                    list[^1].Bars.Add(new Bar
                    {
                        Index = int.Parse(m.Groups["n"].Value), Type = m.Groups["type"].Value,
                        Address = ulong.Parse(m.Groups["addr"].Value, NumberStyles.HexNumber),
                        Size = ulong.Parse(m.Groups["size"].Value, NumberStyles.HexNumber),
                    });
                else if ((m = DriverLine.Match(line)).Success && list.Count > 0)
                    list[^1].Driver = m.Groups["name"].Value;
            }
            return list;
        }

        [Test]
        public void Pci_ListsAllFourUsbControllers_AsQemuSeesThem()
        {
            var vm = BootToPrompt("all-controllers");
            string output = vm.RunCommand("pci");
            var kernel = ParseListing(output);
            Assert.That(kernel, Is.Not.Empty, "no line of `pci` output looks like '0000:00:04.0 0c03: 1b36:000d (rev 01) prog-if 30 [...]'");

            var qemu = vm.Qmp.QueryPciDevices();
            string infoPci = vm.Qmp.HumanMonitorCommand("info pci");
            TestContext.Out.WriteLine("QEMU info pci:\n" + infoPci);

            // QEMU's monitor view (`info pci`): "Bus  0, device   4, function 0:" then "USB controller: PCI device 1b36:000d".
            var monitor = new Dictionary<string, string>();
            foreach (Match m in Regex.Matches(infoPci, @"Bus\s+(\d+), device\s+(\d+), function (\d+):\s*\n\s*(.*?): PCI device ([0-9a-f]{4}):([0-9a-f]{4})"))
                monitor[$"0000:{int.Parse(m.Groups[1].Value):x2}:{int.Parse(m.Groups[2].Value):x2}.{m.Groups[3].Value}"] = m.Groups[5].Value + ":" + m.Groups[6].Value;
            Assert.That(monitor, Is.Not.Empty, "could not parse QEMU's info pci");
            foreach (var f in kernel)
            {
                Assert.That(monitor.ContainsKey(f.Bdf), Is.True, $"{f.Line}: QEMU's info pci has no function {f.Bdf}");
                Assert.That(monitor[f.Bdf], Is.EqualTo($"{f.Vendor:x4}:{f.Device:x4}"), $"{f.Line}: QEMU's info pci says {monitor[f.Bdf]}");
            }

            // Same set of functions.
            string Bdf(JsonNode d) => $"0000:{d["bus"].GetValue<int>():x2}:{d["slot"].GetValue<int>():x2}.{d["function"].GetValue<int>()}";
            Assert.That(kernel.Select(f => f.Bdf), Is.EquivalentTo(qemu.Select(Bdf)), "the kernel lists different PCI functions than QEMU has");

            foreach (var d in qemu)
            {
                var f = kernel.Single(k => k.Bdf == Bdf(d));
                Assert.That(f.Vendor, Is.EqualTo(d["id"]["vendor"].GetValue<int>()), f.Line + ": vendor");
                Assert.That(f.Device, Is.EqualTo(d["id"]["device"].GetValue<int>()), f.Line + ": device");
                Assert.That(f.Class, Is.EqualTo(d["class_info"]["class"].GetValue<int>()), f.Line + ": class");
                Assert.That(f.Driver, Is.Not.Null, f.Line + ": missing '    driver: <name>' (or 'driver: none') line");

                // BARs as programmed by the firmware (QEMU reports the expansion ROM as bar 6; unassigned as -1).
                foreach (var r in d["regions"]?.AsArray() ?? new JsonArray())
                {
                    int index = r["bar"].GetValue<int>();
                    long address = r["address"].GetValue<long>();
                    if (index > 5 || address == -1) continue;
                    var bar = f.Bars.FirstOrDefault(b => b.Index == index);
                    Assert.That(bar, Is.Not.Null, $"{f.Line}: BAR{index} missing (QEMU: {r.ToJsonString()})");
                    bool io = r["type"].GetValue<string>() == "io";
                    Assert.That(bar.Type.StartsWith("io"), Is.EqualTo(io), $"{f.Line}: BAR{index} type {bar.Type}, QEMU says {r["type"]}");
                    if (!io && r["mem_type_64"]?.GetValue<bool>() == true)
                        Assert.That(bar.Type, Is.EqualTo("mem64"), $"{f.Line}: BAR{index} is a 64-bit BAR");
                    Assert.That(bar.Address, Is.EqualTo((ulong)address), $"{f.Line}: BAR{index} address");
                    Assert.That(bar.Size, Is.EqualTo(r["size"].GetValue<ulong>()), $"{f.Line}: BAR{index} size");
                }
            }

            foreach (var c in UsbControllers)
            {
                var d = qemu.Single(x => x["qdev_id"]?.GetValue<string>() == c.QdevId);
                var f = kernel.Single(k => k.Bdf == Bdf(d));
                Assert.That((f.Class, f.Vendor, f.Device, f.ProgIf), Is.EqualTo((0x0c03, c.Vendor, c.Device, c.ProgIf)), $"{c.Model}: {f.Line}");
                Assert.That(f.Line, Does.Contain($"0c03: {c.Vendor:x4}:{c.Device:x4}").And.Contain($"prog-if {c.ProgIf:x2}"));
                Assert.That(f.Description, Does.Contain(c.Kind), $"{c.Model}: description of {f.Line}");
            }
        }
    }
}
