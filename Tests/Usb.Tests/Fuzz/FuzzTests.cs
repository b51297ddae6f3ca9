using System;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests.Fuzz
{
    [TestFixture]
    public class FuzzTests
    {
        [Test]
        public void ParsersSurviveRandomAndMutatedDescriptors()
        {
            FuzzReport report = DescriptorFuzzer.Run(200_000, seed: 20261121, maxSeconds: 10);
            TestContext.Progress.WriteLine(report.ToString());
            Assert.That(report.Failures, Is.Empty);
            Assert.That(report.Inputs, Is.GreaterThan(10_000));
            Assert.That(report.Accepted, Is.GreaterThan(100), "mutations must also reach the accepting paths");
            Assert.That(report.HidAccepted, Is.GreaterThan(100), "mutated HID report descriptors must also reach the accepting paths");
        }

        [Test]
        public void FuzzerReportsFailures()
        {
            // The harness must notice a broken input: rejected input is no failure, an out-of-bounds read is.
            var report = new FuzzReport();
            Assert.That(DescriptorFuzzer.CheckOne(new byte[0], report, out bool _), Is.True);
            Assert.That(report.Failures, Is.Empty);
            Assert.That(DescriptorFuzzer.CheckOne(new byte[] { 2, 3 }, report, out bool _, input => { byte x = input[input.Length]; }), Is.False);
            Assert.That(report.Failures.Count, Is.EqualTo(1));
            Assert.That(report.Failures[0], Does.StartWith("extra: IndexOutOfRangeException").And.Contain("input=0203"));
        }

        [Test]
        public void StackSurvivesDevicesWithFuzzedConfigurations()
        {
            using var bed = new TestBed(scale: 200);
            SimController hc = bed.AddController(1);
            var rng = new Random(7);
            var corpus = DescriptorFuzzer.Corpus();
            int enumerated = 0;
            for (int i = 0; i < 60; i++)
            {
                byte[] config = (byte[])corpus[rng.Next(5)].Clone();
                if (config[1] != DescriptorType.Configuration)
                    config = Desc.KeyboardConfig();
                for (int m = 0; m < 1 + rng.Next(3); m++)
                    config[rng.Next(config.Length)] = (byte)rng.Next(256);
                var sim = new SimDevice("fuzz" + i, UsbSpeed.High, Desc.Device(0x1234, (ushort)i), config);
                hc.Plug("1", sim);
                bed.Settle();
                if (bed.Device("1-1") != null)
                    enumerated++;
                hc.Unplug("1");
                bed.Settle();
                Assert.That(bed.Device("1-1"), Is.Null);
            }
            Assert.That(hc.AllocatedDevices, Is.EqualTo(0));
            TestContext.Progress.WriteLine("fuzzed devices enumerated: " + enumerated + "/60");
        }
    }
}
