using System.Collections.Generic;
using System.Linq;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// ACPI on a q35 machine (Kernel/Acpi/KernelAcpi.cs): the kernel reads the MADT and MCFG, switches PCI
    /// configuration access to ECAM and still sees exactly QEMU's functions, and the controllers found
    /// through it work (the ICH9 EHCI hands a full-speed keyboard to its UHCI companion). The i440fx
    /// machines of every other boot test have no MCFG and keep configuration mechanism #1.
    /// The I/O APIC (Kernel/Interrupts/IoApic.cs) on pc and q35: timer and serial through the overrides, USB
    /// controllers' INTx through the MP table, their interrupts counted on IO-APIC lines by `irq`, keyboard and
    /// serial input working; and `noapic` (an SMBIOS OEM string grub.cfg appends) keeps the 8259.
    /// </summary>
    [TestFixture]
    public sealed class AcpiBootTests : BootTest
    {
        [Test]
        public void Q35_PciThroughEcam_MatchesQemu()
        {
            var vm = BootToPrompt("q35-companions");
            string log = vm.Log;
            Assert.That(log, Does.Match(@"ACPI: RSDP v\d+ BOCHS \(the boot loader's copy\), RSDT at 0x[0-9a-f]+: FACP APIC HPET MCFG WAET"));
            Assert.That(log, Does.Contain("ACPI: IOAPIC (id[0x00] address[0xfec00000] gsi_base[0])"));
            Assert.That(log, Does.Contain("ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq 2 dfl dfl)"));
            Assert.That(log, Does.Contain("ACPI: MCFG: PCI segment 0 buses 00-ff ECAM at 0xb0000000"));
            Assert.That(log, Does.Contain("pci: configuration space through ECAM at 0xb0000000 (MCFG, buses 00-ff)"));
            Assert.That(log, Does.Not.Match("ACPI: .*(checksum|not readable|malformed|out of range)"), "QEMU's tables are valid");

            // Booted from the CD-ROM (GRUB's BIOS boot device E0h): no USB disk is searched for the boot id.
            Assert.That(log, Does.Contain("boot medium: CD-ROM (BIOS drive 0xe0), not a USB disk"));
            Assert.That(vm.RunCommand("disk"), Does.Contain("boot medium: CD-ROM (BIOS drive 0xe0), not a USB disk"));

            var kernel = PciTests.ParseListing(vm.RunCommand("pci"));
            var qemu = vm.Qmp.QueryPciDevices();
            string Bdf(JsonNode d) => $"0000:{d["bus"].GetValue<int>():x2}:{d["slot"].GetValue<int>():x2}.{d["function"].GetValue<int>()}";
            Assert.That(kernel.Select(f => f.Bdf), Is.EquivalentTo(qemu.Select(Bdf)), "the functions seen through ECAM");
            foreach (var d in qemu)
            {
                var f = kernel.Single(k => k.Bdf == Bdf(d));
                Assert.That((f.Vendor, f.Device), Is.EqualTo((d["id"]["vendor"].GetValue<int>(), d["id"]["device"].GetValue<int>())), f.Line);
            }

            // The keyboard (full speed: on a UHCI companion) and the tablet (high speed: on the EHCI) bind.
            vm.WaitForLine(@"bound to driver usbhid", QemuMachine.Scaled(30));
            vm.WaitForLine(@"bound to driver usbhid", QemuMachine.Scaled(30));
            string tree = vm.RunCommand("lsusb -t");
            Assert.That(tree, Does.Contain("Driver=usbhid, 12M").And.Contain("Driver=usbhid, 480M"), tree);

            // ICH9: SeaBIOS's MP table names the IOAPIC pin equal to each function's Interrupt Line (PIRQ A-D routed to
            // IRQ 10/11), and QEMU's LPC feeds a PIRQ routed to an ISA IRQ to that IOAPIC pin as well as to pins 16-23.
            CheckIoApicBoot(vm, new Dictionary<string, string>
            {
                ["0000:00:1d.0"] = "PCI INT A -> GSI 10", ["0000:00:1d.1"] = "PCI INT B -> GSI 10",
                ["0000:00:1d.2"] = "PCI INT C -> GSI 11", ["0000:00:1d.7"] = "PCI INT D -> GSI 11",
            }, new[] { "uhci_hcd", "ehci-pci" });
        }

        /// <summary>One line of `irq`: "  11:        123   IO-APIC  11-fasteoi   ehci-pci, ohci-pci".</summary>
        public sealed record IrqRow(string Irq, ulong Count, string Chip, string Pin, string Names);

        static readonly Regex IrqRowPattern = new(@"^\s*(\d+):\s+(\d+)\s+(IO-APIC|XT-PIC|PCI-MSI)\s+(\S+)\s+(.*?)\s*$", RegexOptions.Multiline);

        public static List<IrqRow> ParseIrq(string text) =>
            IrqRowPattern.Matches(text).Select(m => new IrqRow(m.Groups[1].Value, ulong.Parse(m.Groups[2].Value), m.Groups[3].Value,
                                                                  m.Groups[4].Value, m.Groups[5].Value)).ToList();

        static IrqRow Row(List<IrqRow> rows, string name, string listing) =>
            rows.FirstOrDefault(r => r.Names.Split(", ").Contains(name)) ?? throw new AssertionException("no `irq` line for " + name + ":\n" + listing);

        /// <summary>
        /// What every APIC-mode boot must show: the I/O APIC found and enabled, the timer checked, each listed function's
        /// INTx routed by the MP table, and in `irq` the timer (IRQ 0 on GSI 2), the serial line and the USB controllers
        /// on IO-APIC lines with interrupts counted; input on the serial line (this shell) and on the USB keyboard.
        /// </summary>
        void CheckIoApicBoot(QemuMachine vm, Dictionary<string, string> routes, string[] usbDrivers)
        {
            string log = vm.Log;
            Assert.That(log, Does.Contain("IOAPIC[0]: apic_id 0, version 32, address 0xfec00000, GSI 0-23"));
            Assert.That(log, Does.Match(@"found SMP MP-table at \[mem 0x000f[0-9a-f]{4}-0x000f[0-9a-f]{4}\]"));
            Assert.That(log, Does.Contain("MPTABLE: OEM ID: BOCHSCPU Product ID: 0.1 APIC at: 0xfee00000"));
            Assert.That(log, Does.Contain("ENABLING IO-APIC IRQs"));
            Assert.That(log, Does.Match(@"\.\.TIMER: vector=0x[0-9a-f]{2} apic1=0 pin1=2 apic2=-1 pin2=-1: IRQ 0 through the IOAPIC works"));
            Assert.That(log, Does.Not.Contain("MP-BIOS bug"));
            foreach (var (function, route) in routes)
                Assert.That(log, Does.Match(Regex.Escape($"pci {function}: ") + route + @" \(level, high\) -> IRQ \d+ \(MP table\)"), function);
            Assert.That(log, Does.Not.Contain("no interrupt arrived"), "no controller fell back to polling");

            string listing = vm.RunCommand("irq");
            Assert.That(listing, Does.Contain("mode: IO-APIC (8259 masked)"));
            List<IrqRow> rows = ParseIrq(listing);
            Assert.That(Row(rows, "timer", listing), Is.EqualTo(Row(rows, "timer", listing) with { Irq = "0", Chip = "IO-APIC", Pin = "2-edge" }));
            Assert.That(Row(rows, "timer", listing).Count, Is.GreaterThan(100));
            IrqRow serial = Row(rows, "ttyS0", listing);
            Assert.That((serial.Irq, serial.Chip, serial.Pin), Is.EqualTo(("4", "IO-APIC", "4-edge")));
            Assert.That(serial.Count, Is.GreaterThan(0), "the command typed on the serial line arrived by interrupt");
            foreach (string driver in usbDrivers)
            {
                IrqRow usb = Row(rows, driver, listing);
                Assert.That((usb.Chip, usb.Pin), Is.EqualTo(("IO-APIC", usb.Irq + "-fasteoi")), listing);
                Assert.That(usb.Count, Is.GreaterThan(0), driver + " interrupts through the IO-APIC:\n" + listing);
            }
            Assert.That(rows.Where(r => r.Chip == "XT-PIC"), Is.Empty, listing);

            // The USB keyboard types a command (its interrupt transfers complete through the IO-APIC line).
            vm.SkipPending();
            foreach (char c in "irq\n")
                vm.Qmp.SendKey(c == '\n' ? "ret" : c.ToString());
            vm.WaitForLine(@"^mode: IO-APIC", QemuMachine.Scaled(20));
            vm.WaitForPrompt();
            Assert.That(vm.RunCommand("irqmask 4"), Does.Contain("refused"), "the console line stays");
        }

        [Test]
        public void Pc_IoApic_RoutesTimerSerialAndUsb()
        {
            var vm = BootToPrompt("default");
            vm.WaitForLine(@"input: keyboard \S+ attached", QemuMachine.Scaled(30));
            vm.WaitForLine(@"\[sda\] Attached SCSI", QemuMachine.Scaled(30));
            // i440fx: each slot's PIRQ link as SeaBIOS routed it (IRQ 10 or 11), the MP table naming the same IOAPIC pin.
            var routes = new Dictionary<string, string>();
            foreach (string driver in new[] { "uhci_hcd", "ohci-pci", "ehci-pci" })
            {
                Match m = Regex.Match(vm.Log, driver + @" (\S+): irq (\d+)");
                Assert.That(m.Success, driver + " logs its IRQ");
                routes[m.Groups[1].Value] = @"PCI INT [A-D] -> GSI " + m.Groups[2].Value;
            }
            CheckIoApicBoot(vm, routes, new[] { "uhci_hcd", "ohci-pci" });

            // Disk traffic on the OHCI raises its IO-APIC line's count; xHCI stays on MSI-X.
            string before = vm.RunCommand("irq");
            Assert.That(vm.RunCommand("disk read sda 0 256", QemuMachine.Scaled(60)), Does.Contain("fnv1a32"));
            ulong Ohci(string listing) => Row(ParseIrq(listing), "ohci-pci", listing).Count;
            string after = vm.RunCommand("irq");
            Assert.That(Ohci(after), Is.GreaterThan(Ohci(before)), after);
            Assert.That(Row(ParseIrq(after), "xhci_hcd", after).Chip, Is.EqualTo("PCI-MSI"));
        }

        [Test]
        public void NoApic_KeepsThe8259()
        {
            var vm = Start("default", null, "-smbios", "type=11,value=usbkernel:noapic");
            vm.WaitForBoot(BiosBoot);
            vm.WaitForLine(@"\[sda\] Attached SCSI", QemuMachine.Scaled(30));
            string log = vm.Log;
            Assert.That(log, Does.Contain("Skipping IOAPIC probe due to 'noapic' option; legacy 8259 PIC mode"));
            Assert.That(log, Does.Not.Contain("ENABLING IO-APIC"));
            Assert.That(log, Does.Match(@"pci \S+: ohci-pci uses IRQ \d+ \(XT-PIC\)"));
            Assert.That(vm.RunCommand("disk read sda 0 64", QemuMachine.Scaled(60)), Does.Contain("fnv1a32"));
            string listing = vm.RunCommand("irq");
            Assert.That(listing, Does.Contain("mode: legacy 8259 PIC"));
            List<IrqRow> rows = ParseIrq(listing);
            Assert.That((Row(rows, "timer", listing).Irq, Row(rows, "timer", listing).Chip), Is.EqualTo(("0", "XT-PIC")));
            Assert.That(Row(rows, "ttyS0", listing).Count, Is.GreaterThan(0));
            foreach (string driver in new[] { "uhci_hcd", "ohci-pci" })
                Assert.That((Row(rows, driver, listing).Chip, Row(rows, driver, listing).Count > 0), Is.EqualTo(("XT-PIC", true)), listing);
            Assert.That(rows.Where(r => r.Chip == "IO-APIC"), Is.Empty, listing);
        }
    }
}
