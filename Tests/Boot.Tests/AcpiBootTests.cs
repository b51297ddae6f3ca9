using System.Linq;
using System.Text.Json.Nodes;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// ACPI on a q35 machine (Kernel/Acpi/KernelAcpi.cs): the kernel reads the MADT and MCFG, switches PCI
    /// configuration access to ECAM and still sees exactly QEMU's functions, and the controllers found
    /// through it work (the ICH9 EHCI hands a full-speed keyboard to its UHCI companion). The i440fx
    /// machines of every other boot test have no MCFG and keep configuration mechanism #1.
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
        }
    }
}
