using System;
using System.Collections.Generic;
using System.IO;
using System.Text.RegularExpressions;
using System.Threading;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// USB audio over isochronous transfers (Drivers.Usb/Audio, issue 10): QEMU's usb-audio writes
    /// what the guest streams to a WAV file. One boot per controller: list the device, play a
    /// 440 Hz tone for 2 s at full volume, unplug the device (QMP device_del) in the middle of a
    /// second tone, halt; then the WAV is checked: frequency within 1%, level, and not one silent
    /// or discontinuous 1 ms block after the first 50 ms.
    /// </summary>
    [TestFixture]
    public sealed class AudioTests : BootTest
    {
        const int Rate = 48000;
        const int ToneHz = 440;
        const int ToneSeconds = 2;
        /// <summary>The stream's start-up the issue allows to stumble: 50 ms, i.e. 50 full-speed packets.</summary>
        const int StartupMs = 50;
        /// <summary>The driver's tone peak (-6 dBFS); QEMU's volume is unity at the feature unit's maximum (+8 dB).</summary>
        const int ExpectedPeak = 16384;
        static readonly TimeSpan Enumeration = QemuMachine.Scaled(30);
        /// <summary>
        /// usb-audio's own stream buffer (256 packets of 192 bytes). On a busy host QEMU's UHCI runs
        /// late frames back to back (up to 128 at once); with the default buffer of a few packets the
        /// emulated device then drops what the guest delivered on time, which would show up here as
        /// discontinuities that are not the guest's.
        /// </summary>
        const int QemuStreamBufferBytes = 256 * 192;

        /// <summary>
        /// One boot per scenario audio-&lt;controller&gt;.json; each names its controller "hc" so the
        /// device goes on bus hc.0. "ehci-companions": usb-audio is full speed, so the EHCI port
        /// hands it to its UHCI companion (the stream runs there, which is what Linux does too).
        /// </summary>
        [TestCase("xhci")]
        [TestCase("uhci")]
        [TestCase("ohci")]
        [TestCase("ehci-companions")]
        public void PlaysACleanToneAndSurvivesUnplugWhilePlaying(string controller)
        {
            string wav = Path.Combine(Path.GetTempPath(), "kaudio-" + controller + "-" + Guid.NewGuid().ToString("N").Substring(0, 8) + ".wav");
            try
            {
                var vm = Start("audio-" + controller, null,
                               "-audiodev", "wav,id=snd,path=" + wav + ",out.frequency=" + Rate + ",out.channels=2,out.format=s16",
                               "-device", "usb-audio,id=snd0,audiodev=snd,bus=hc.0,port=1,buffer=" + QemuStreamBufferBytes);
                vm.WaitForBoot(BiosBoot);
                vm.WaitForLine(@"snd-usb-audio \S+: audio0: alt 1: PCM 2 ch 16-bit 48000 Hz, ep 01", Enumeration);

                string list = vm.RunCommand("audio");
                Assert.That(list, Does.Match(@"audio0: \d-1:1\.1 QEMU USB Audio, full-speed"));
                Assert.That(list, Does.Contain("alt 1: PCM 2 ch 16-bit 48000 Hz, ep 01"));
                Assert.That(vm.RunCommand("audio volume 100"), Does.Contain("audio0 volume 100% (8.0 dB)"));

                string play = vm.RunCommand($"audio play tone {ToneHz} {ToneSeconds}", QemuMachine.Scaled(30));
                Assert.That(play, Does.Contain("audio: playing 440 Hz for 2 s on audio0 (48000 Hz, 2 ch, 16-bit)"));
                var done = System.Text.RegularExpressions.Regex.Match(play, @"audio: done \((\d+) packets, 0 errors, (\d+) missed, \d+ ms; cpu busy [\d.]+ ms/s, completion jitter max \d+ us\)");
                Assert.That(done.Success, Is.True, play);
                Assert.That(int.Parse(done.Groups[1].Value) + int.Parse(done.Groups[2].Value), Is.EqualTo(2000), "every packet sent or counted missed\n" + play);
                // As the WAV check below: the stream may stumble in its first 50 ms (a loaded host runs QEMU's
                // frames late while the queue fills), never after. A miss report says where it happened.
                foreach (System.Text.RegularExpressions.Match miss in System.Text.RegularExpressions.Regex.Matches(play, @"(\d+) of \d+ packets missed their frame \(request at frame \d+, (\d+) sent before\)"))
                    Assert.That(int.Parse(miss.Groups[1].Value) + int.Parse(miss.Groups[2].Value), Is.LessThanOrEqualTo(StartupMs), "packets missed after the first 50 ms\n" + play);
                Assert.That(int.Parse(done.Groups[2].Value), Is.LessThanOrEqualTo(StartupMs), play);

                string devices = vm.RunCommand("usb devices");
                Assert.That(devices, Does.Match(@"E:  Ad=01\(O\) Atr=0d\(Isoc\) MxPS= 192 Ivl=1ms"), "the streaming endpoint is listed");

                // Unplug in the middle of a long tone: the command returns, the stream stops cleanly.
                vm.SendLine("audio play tone 440 20");
                vm.WaitForLine("audio: playing 440 Hz for 20 s", QemuMachine.Scaled(10));
                Thread.Sleep(500);
                vm.Qmp.DeviceDel("snd0");
                vm.WaitForLine(@"audio: stopped: device gone \(\d+ packets", QemuMachine.Scaled(10));
                vm.WaitForPrompt(QemuMachine.Scaled(10));
                // The removal may finish before or after the shell's line: look at the whole log.
                var removed = DateTime.UtcNow + QemuMachine.Scaled(10);
                while (!Regex.IsMatch(vm.Log, @"usb \d-1: unbound from driver usb") && DateTime.UtcNow < removed)
                    Thread.Sleep(100);
                Assert.That(vm.Log, Does.Match(@"usb \d-1: unbound from driver usb"), "the device's removal completed");
                Assert.That(vm.RunCommand("audio"), Does.Contain("audio: no devices"));
                Assert.That(vm.Log, Does.Not.Contain("KERNEL PANIC"));
                Assert.That(vm.Log, Does.Not.Contain("buffer leaked"));

                vm.SendLine("halt");
                vm.WaitForExit(QemuMachine.Scaled(20));
                CheckWav(File.ReadAllBytes(wav));
            }
            finally
            {
                try { File.Delete(wav); } catch (IOException) { }
            }
        }

        /// <summary>The first tone in the file: 440 Hz ±1%, peak and RMS of a -6 dBFS sine, no silent or broken 1 ms block.</summary>
        static void CheckWav(byte[] file)
        {
            short[] left = LeftChannel(file);
            int start = 0;
            while (start < left.Length && Math.Abs((int)left[start]) < 64)
                start++;
            Assert.That(start, Is.LessThan(left.Length), "the WAV holds only silence");
            int from = start + Rate / 20;                       // after the first 50 ms
            int to = start + ToneSeconds * Rate - Rate / 100;   // up to 10 ms before the end of the tone
            Assert.That(to, Is.LessThanOrEqualTo(left.Length), $"the WAV holds {left.Length} frames after the tone starts at {start}");

            // Frequency from interpolated upward zero crossings.
            double first = -1, last = -1;
            int crossings = 0;
            for (int i = from + 1; i < to; i++)
                if (left[i - 1] < 0 && left[i] >= 0)
                {
                    double at = i - 1 + (double)-left[i - 1] / (left[i] - left[i - 1]);
                    if (first < 0) first = at;
                    last = at;
                    crossings++;
                }
            double hz = (crossings - 1) / ((last - first) / Rate);
            Assert.That(hz, Is.EqualTo(ToneHz).Within(ToneHz / 100.0), "frequency");

            int peak = 0;
            double sumSquares = 0;
            for (int i = from; i < to; i++)
            {
                peak = Math.Max(peak, Math.Abs((int)left[i]));
                sumSquares += (double)left[i] * left[i];
            }
            double rms = Math.Sqrt(sumSquares / (to - from));
            Assert.That(peak, Is.EqualTo(ExpectedPeak).Within(ExpectedPeak * 3 / 100), "peak");
            Assert.That(rms, Is.EqualTo(ExpectedPeak / Math.Sqrt(2)).Within(ExpectedPeak * 3.0 / 100), "RMS");

            // 1 ms blocks: silent (nothing above 1% of the peak) or discontinuous (a jump no 440 Hz
            // sine makes: its second difference stays below A·ω² ≈ 55; a gap, repeat or skip gives hundreds).
            const int DiscontinuityThreshold = 300;
            int block = Rate / 1000, silent = 0, broken = 0;
            var bad = new List<string>();
            for (int b = from; b + block <= to; b += block)
            {
                int max = 0, jump = 0;
                for (int i = b; i < b + block; i++)
                {
                    max = Math.Max(max, Math.Abs((int)left[i]));
                    if (i >= 2)
                        jump = Math.Max(jump, Math.Abs(left[i] - 2 * left[i - 1] + left[i - 2]));
                }
                if (max < ExpectedPeak / 100) { silent++; if (bad.Count < 10) bad.Add($"silent at {(b - start) * 1000 / Rate} ms"); }
                else if (jump > DiscontinuityThreshold) { broken++; if (bad.Count < 10) bad.Add($"jump {jump} at {(b - start) * 1000 / Rate} ms"); }
            }
            Assert.That(silent + broken, Is.Zero, $"{silent} silent and {broken} discontinuous 1 ms blocks: " + string.Join(", ", bad));
        }

        /// <summary>The left channel of a 16-bit stereo PCM WAV; the data chunk runs to the end of the file.</summary>
        static short[] LeftChannel(byte[] file)
        {
            Assert.That(file.Length, Is.GreaterThan(44), "WAV too short");
            int offset = 12, data = -1;
            while (offset + 8 <= file.Length)
            {
                string id = System.Text.Encoding.ASCII.GetString(file, offset, 4);
                int size = BitConverter.ToInt32(file, offset + 4);
                if (id == "fmt ")
                {
                    Assert.That(BitConverter.ToInt16(file, offset + 10), Is.EqualTo(2), "channels");
                    Assert.That(BitConverter.ToInt32(file, offset + 12), Is.EqualTo(Rate), "rate");
                    Assert.That(BitConverter.ToInt16(file, offset + 22), Is.EqualTo(16), "bits");
                }
                if (id == "data")
                {
                    data = offset + 8;
                    break;
                }
                offset += 8 + size;
            }
            Assert.That(data, Is.GreaterThan(0), "no data chunk");
            int frames = (file.Length - data) / 4;
            var left = new short[frames];
            for (int i = 0; i < frames; i++)
                left[i] = BitConverter.ToInt16(file, data + i * 4);
            return left;
        }
    }
}
