using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Boot.Tests.Harness;

namespace KernelBuild
{
    /// <summary>
    /// `build.sh bench audio`: what a continuous isochronous stream costs. For every qemu/scenarios/audio-*.json
    /// (one controller named "hc"): boots, adds a usb-audio (QEMU audiodev "none": the device consumes in real
    /// time and writes nothing), measures the idle machine's busy time per second from `uptime` over a few
    /// seconds, then plays `audio play tone 440 N` and reports the kernel's busy CPU time per second of audio
    /// (elapsed minus idle-thread time), the largest deviation between successive request completions and the
    /// packets that missed their frame. Figures come from the kernel itself; TCG timing makes them relative.
    /// </summary>
    static class AudioBench
    {
        const int ToneHz = 440;
        const int ToneSeconds = 5;
        const int BaselineSeconds = 3;
        /// <summary>As AudioTests: a large usb-audio buffer so QEMU's own late frames do not drop data.</summary>
        const int QemuStreamBufferBytes = 256 * 192;
        static readonly Regex Uptime = new(@"uptime: (\d+) ms, idle (\d+) ms");
        static readonly Regex Done = new(@"audio: done \((\d+) packets, (\d+) errors, (\d+) missed, (\d+) ms; cpu busy ([\d.]+) ms/s, completion jitter max (\d+) us\)");

        sealed class Row
        {
            public string Scenario;
            public List<double> IdleBusy = new(), AudioBusy = new(), JitterMs = new();
            public List<long> Missed = new();
            public List<string> Errors = new();
        }

        public static int Run(string root, Options o, string iso)
        {
            var scenarios = Directory.GetFiles(Path.Combine(root, "qemu", "scenarios"), "audio-*.json")
                                     .Select(f => Path.GetFileNameWithoutExtension(f)).OrderBy(n => n, StringComparer.Ordinal).ToList();
            if (scenarios.Count == 0) throw new BuildException("bench audio: no qemu/scenarios/audio-*.json");
            string logs = Path.Combine(root, "out", "bench-audio");
            Directory.CreateDirectory(logs);
            Console.WriteLine($"bench audio: `audio play tone {ToneHz} {ToneSeconds}` on {string.Join(", ", scenarios)}; our serial logs in {Program.Rel(root, logs)}/");
            var rows = new List<Row>();
            foreach (string scenario in scenarios)
            {
                var row = new Row { Scenario = scenario };
                rows.Add(row);
                for (int run = 1; run <= o.Runs; run++)
                {
                    string error = RunOnce(root, iso, scenario, row, Path.Combine(logs, $"{scenario}-{run}.log"));
                    if (error != null) row.Errors.Add(error);
                    Console.WriteLine($"  {scenario,-22} run {run}/{o.Runs}: " + (error ?? $"idle busy {row.IdleBusy.Last():F1} ms/s, audio busy {row.AudioBusy.Last():F1} ms/s, " +
                                                                                             $"jitter max {row.JitterMs.Last():F1} ms, {row.Missed.Last()} missed"));
                }
            }

            Console.WriteLine();
            Console.WriteLine($"isochronous audio stream (48 kHz stereo 16-bit, {ToneSeconds} s), median of {o.Runs} run(s)");
            Console.WriteLine("idle busy: CPU time not idle per second with nothing playing; audio busy: the same while playing (the stream's cost is the difference)");
            Console.WriteLine("jitter: largest deviation of a completion from the request period (20 ms), as the driver sees it (includes QEMU's pacing)");
            Console.WriteLine($"{"scenario",-22} {"idle busy",10} {"audio busy",11} {"jitter max",11} {"missed",7}  notes");
            bool ok = true;
            foreach (var r in rows)
            {
                string notes = r.Errors.Count > 0 ? $"{r.Errors.Count} failure(s): {r.Errors[0]}" : "";
                ok &= r.Errors.Count == 0;
                Console.WriteLine($"{r.Scenario,-22} {Ms(SideBySide.Median(r.IdleBusy)),10} {Ms(SideBySide.Median(r.AudioBusy)),11} {Ms(SideBySide.Median(r.JitterMs)),11} " +
                                  $"{(r.Missed.Count == 0 ? "-" : r.Missed.Max().ToString(CultureInfo.InvariantCulture)),7}  {notes}");
            }
            return ok ? 0 : 1;
        }

        static string Ms(double? v) => v.HasValue ? v.Value.ToString("F1", CultureInfo.InvariantCulture) + " ms" : "-";

        /// <summary>One boot: the idle baseline, then the tone; null or what went wrong.</summary>
        static string RunOnce(string root, string iso, string scenario, Row row, string logFile)
        {
            var lo = new QemuLaunchOptions { RepoRoot = root, Iso = iso, Scenario = Scenario.Load(root, scenario) };
            lo.ExtraArgs.AddRange(new[]
            {
                "-audiodev", "none,id=snd",
                "-device", "usb-audio,id=snd0,audiodev=snd,bus=hc.0,port=1,buffer=" + QemuStreamBufferBytes.ToString(CultureInfo.InvariantCulture),
            });
            using var vm = QemuMachine.Start(lo);
            try
            {
                vm.WaitForPrompt(QemuMachine.Scaled(60));
                vm.WaitFor(@"snd-usb-audio \S+: audio0: alt", QemuMachine.Scaled(30));
                vm.SkipPending();
                Match a = Uptime.Match(vm.RunCommand("uptime"));
                System.Threading.Thread.Sleep(BaselineSeconds * 1000);
                Match b = Uptime.Match(vm.RunCommand("uptime"));
                if (!a.Success || !b.Success) return "uptime shows no idle time";
                double elapsed = Parse(b.Groups[1].Value) - Parse(a.Groups[1].Value), idle = Parse(b.Groups[2].Value) - Parse(a.Groups[2].Value);
                string play = vm.RunCommand($"audio play tone {ToneHz} {ToneSeconds}", QemuMachine.Scaled(ToneSeconds + 30));
                Match d = Done.Match(play);
                if (!d.Success) return "audio play: " + play.Trim();
                row.IdleBusy.Add(elapsed <= 0 ? 0 : (elapsed - idle) * 1000 / elapsed);
                row.AudioBusy.Add(Parse(d.Groups[5].Value));
                row.JitterMs.Add(Parse(d.Groups[6].Value) / 1000);
                row.Missed.Add(long.Parse(d.Groups[3].Value, CultureInfo.InvariantCulture));
                return null;
            }
            catch (QemuWaitException e)
            {
                return e.Message;
            }
            finally { File.WriteAllText(logFile, "# " + vm.CommandLine + "\n" + vm.Log); }
        }

        static double Parse(string text) => double.Parse(text, CultureInfo.InvariantCulture);
    }
}
