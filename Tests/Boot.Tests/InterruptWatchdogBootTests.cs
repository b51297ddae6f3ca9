using System;
using System.Collections.Generic;
using System.IO;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// A wrong interrupt line on a real PC, simulated: after boot the shell masks the PIC lines of the
    /// UHCI, OHCI and EHCI (QEMU gives them INTx only), so their handlers never run again. Each
    /// controller's poll loop must notice pending status with no interrupt
    /// (Drivers.Usb.Hcd/Common/InterruptWatchdog.cs), log it once and go on by polling: disk reads keep working.
    /// </summary>
    [TestFixture]
    public sealed class InterruptWatchdogBootTests : BootTest
    {
        [Test]
        public void MaskedLines_AreNoticedAndPollingTakesOver()
        {
            string dir = Path.Combine(Path.GetTempPath(), "kirq-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(dir);
            try
            {
                var args = new List<string>();
                foreach (string controller in new[] { "uhci", "ohci", "ehci" })
                {
                    string image = Path.Combine(dir, controller + ".img");
                    using (var f = new FileStream(image, FileMode.Create)) f.SetLength(4 << 20);
                    args.AddRange(new[] { "-drive", $"if=none,id={controller}d,format=raw,file={image}",
                                          "-device", $"usb-storage,id={controller}s,bus={controller}.0,port=1,drive={controller}d" });
                }
                var vm = Start("storm", null, args.ToArray());
                vm.WaitForBoot(BiosBoot);
                for (int i = 0; i < 3; i++)
                    vm.WaitForLine(@"\[sd[a-c]\] Attached SCSI", QemuMachine.Scaled(30));

                var lines = new SortedSet<int>();
                foreach (string driver in new[] { "uhci_hcd", "ohci-pci", "ehci-pci" })
                {
                    Match m = Regex.Match(vm.Log, driver + @" \S+: irq (\d+)");
                    Assert.That(m.Success, Is.True, driver + " logs its interrupt line");
                    lines.Add(int.Parse(m.Groups[1].Value));
                }
                foreach (int line in lines)
                    Assert.That(vm.RunCommand("irqmask " + line), Does.Contain($"irqmask: IRQ {line} masked"));

                // Traffic on every controller until each has given its line up (bounded: a few rounds).
                var tags = new[] { "uhci_hcd ", "ohci-pci ", "ehci-pci " };
                for (int round = 0; round < 10 && !AllNoticed(vm.Log, tags); round++)
                    foreach (string disk in new[] { "sda", "sdb", "sdc" })
                        Assert.That(vm.RunCommand("disk read " + disk + " 0 64", QemuMachine.Scaled(60)), Does.Contain("fnv1a32"), disk + " round " + round);
                foreach (string tag in tags)
                    Assert.That(Regex.Matches(vm.Log, Regex.Escape(tag) + @"\S+: no interrupt arrived while status was pending for \d+ ms: the interrupt line is wrong or missing; polling every millisecond instead").Count,
                                Is.EqualTo(1), tag + "noticed once");
                foreach (string disk in new[] { "sda", "sdb", "sdc" })
                    Assert.That(vm.RunCommand("disk read " + disk + " 100 256", QemuMachine.Scaled(60)), Does.Contain("fnv1a32"), disk + " by polling");
            }
            finally
            {
                try { Directory.Delete(dir, true); } catch (IOException) { }
            }
        }

        static bool AllNoticed(string log, string[] tags)
        {
            foreach (string tag in tags)
                if (!Regex.IsMatch(log, Regex.Escape(tag) + @"\S+: no interrupt arrived"))
                    return false;
            return true;
        }
    }
}
