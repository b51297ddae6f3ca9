using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// Kernel log atomicity: several kernel threads log numbered lines at once (<c>test log T N</c>) and
    /// every line must reach the serial port whole, exactly once, never mixed with another line, even
    /// when the host stops reading the serial output for a while (QEMU's UART then stops draining and
    /// the kernel must wait instead of overwriting its transmit FIFO).
    /// </summary>
    [TestFixture]
    public sealed class LogTests : BootTest
    {
        const int Threads = 4, Lines = 400, AtomicLines = 1000, PayloadLength = 48;
        static readonly Regex LogTestLine = new(@"^\[\s*\d+\.\d{6}\] logtest t(\d+) n(\d{4}) ([a-z]+) end$");

        [Test]
        public void ConcurrentLogLines_ArriveWholeAndExactlyOnce()
        {
            var vm = BootToPrompt("minimal");
            vm.SendLine($"test log {Threads} {Lines}");
            var summary = vm.WaitForLine(@"^log test: (.*) lines dropped$", QemuMachine.Scaled(120));
            vm.WaitForLine(@"^log test: done$", QemuMachine.Scaled(10));
            Assert.That(summary.Value, Does.Contain("all threads finished, 0 lines dropped"));
            AssertEveryLineIntact(vm.Log, Threads, Lines);
        }

        [Test]
        public void ConcurrentLogLines_SurviveAStalledSerialReader()
        {
            using var vm = new StallableSerialMachine("minimal");
            vm.WaitFor("kernel: boot complete", BootTest.BiosBoot);
            vm.WaitFor(QemuMachine.Prompt, QemuMachine.Scaled(10));
            // Stop reading QEMU's stdout: the pipe fills up (64 KiB), QEMU's UART stops draining
            // and keeps THRE clear until the host reads again.
            vm.PauseReading();
            vm.Send($"test log {Threads} {Lines}\n");
            Thread.Sleep(QemuMachine.Scaled(3));
            vm.ResumeReading();
            vm.WaitFor("log test: done\n", QemuMachine.Scaled(120));
            string log = vm.Log;
            TestContext.Out.WriteLine($"serial output: {log.Length} characters");
            Assert.That(log, Does.Contain("all threads finished, 0 lines dropped"), "writers in thread context wait for the UART instead of dropping");
            AssertEveryLineIntact(log, Threads, Lines);
        }

        [Test]
        public void InterruptsDisabledWriters_DropLinesOnlyWhenStalled_AndCountThem()
        {
            using var vm = new StallableSerialMachine("minimal");
            vm.WaitFor("kernel: boot complete", BootTest.BiosBoot);
            vm.WaitFor(QemuMachine.Prompt, QemuMachine.Scaled(10));
            vm.PauseReading();
            // More than the kernel's 64 KiB queue and the 64 KiB pipe hold, so writers meet a full queue.
            vm.Send($"test log {Threads} {AtomicLines} atomic\n");
            // Long enough for the writers to fill both (about 2 s under TCG) and then meet the full queue.
            Thread.Sleep(QemuMachine.Scaled(6));
            vm.ResumeReading();
            vm.WaitFor("log test: done\n", QemuMachine.Scaled(120));
            string log = vm.Log;
            var summary = Regex.Match(log, @"log test: all threads finished, (\d+) lines dropped");
            Assert.That(summary.Success, Is.True, "the self test finishes and reports the drops");
            long reported = 0;
            foreach (Match m in Regex.Matches(log, @"(?m)^\[\s*\d+\.\d{6}\] log: (\d+) lines dropped$"))
                reported += long.Parse(m.Groups[1].Value);
            int missing = AssertEveryLineIntact(log, Threads, AtomicLines, allowMissing: true);
            TestContext.Out.WriteLine($"{missing} lines dropped while the host did not read, {reported} reported by notices, {summary.Groups[1].Value} counted");
            Assert.That(long.Parse(summary.Groups[1].Value), Is.EqualTo(missing), "the kernel counted exactly the lines that are missing");
            Assert.That(reported, Is.EqualTo(missing), "'log: N lines dropped' notices account for every missing line");
            Assert.That(missing, Is.GreaterThan(0), "the stall was long enough to fill the queue (else this test proves nothing)");
        }

        /// <summary>
        /// Every "logtest" line of the self test is present once, whole, with its payload intact (or,
        /// with <paramref name="allowMissing"/>, absent: dropped). Returns how many are missing.
        /// </summary>
        static int AssertEveryLineIntact(string log, int threads, int lines, bool allowMissing = false)
        {
            var seen = new int[threads, lines];
            var bad = new List<string>();
            foreach (string line in log.Split('\n'))
            {
                if (!line.Contains("logtest") && !line.Contains(" end")) continue;
                var m = LogTestLine.Match(line);
                int t = m.Success ? int.Parse(m.Groups[1].Value) : -1;
                int n = m.Success ? int.Parse(m.Groups[2].Value) : -1;
                if (!m.Success || t >= threads || n >= lines || m.Groups[3].Value != Payload(t, n))
                {
                    bad.Add(line);
                    continue;
                }
                seen[t, n]++;
            }
            var missing = new List<string>();
            var duplicated = new List<string>();
            for (int t = 0; t < threads; t++)
                for (int n = 0; n < lines; n++)
                {
                    if (seen[t, n] == 0) missing.Add($"t{t} n{n:D4}");
                    if (seen[t, n] > 1) duplicated.Add($"t{t} n{n:D4} x{seen[t, n]}");
                }
            Assert.That(bad, Is.Empty, $"{bad.Count} mixed or corrupted lines, first: {string.Join(" | ", bad.GetRange(0, Math.Min(5, bad.Count)))}");
            if (!allowMissing)
                Assert.That(missing, Is.Empty, $"{missing.Count} lines missing, first: {string.Join(", ", missing.GetRange(0, Math.Min(10, missing.Count)))}");
            Assert.That(duplicated, Is.Empty, "lines printed more than once");
            return missing.Count;
        }

        /// <summary>The payload the kernel derives from the thread and line numbers (Kernel/Shell/SelfTests.cs LogTestLine).</summary>
        static string Payload(int thread, int number)
        {
            var c = new char[PayloadLength];
            for (int i = 0; i < c.Length; i++) c[i] = (char)('a' + (thread * 7 + number + i) % 26);
            return new string(c);
        }
    }

    /// <summary>
    /// A QEMU whose serial output (stdout) the test can stop reading, to reproduce a slow host: the
    /// standard <see cref="QemuMachine"/> always drains stdout. Minimal: start, send, wait for text, kill.
    /// </summary>
    sealed class StallableSerialMachine : IDisposable
    {
        readonly Process _process;
        readonly Thread _reader;
        readonly StringBuilder _log = new();
        readonly ManualResetEventSlim _reading = new(true);
        readonly string _workDir;
        readonly string _commandLine;
        int _cursor;

        public StallableSerialMachine(string scenario)
        {
            _workDir = Path.Combine(Path.GetTempPath(), "kboot-" + Guid.NewGuid().ToString("N").Substring(0, 12));
            Directory.CreateDirectory(_workDir);
            var options = new QemuLaunchOptions
            {
                RepoRoot = RepoPaths.Root,
                Scenario = Scenario.Load(RepoPaths.Root, scenario),
                Iso = ImageSnapshot.Iso,
                WorkDir = _workDir,
            };
            var args = QemuCommandLine.Build(options);
            _commandLine = options.QemuBinary + " " + QemuCommandLine.Quote(args);
            var psi = new ProcessStartInfo(options.QemuBinary)
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = _workDir,
            };
            foreach (var a in args) psi.ArgumentList.Add(a);
            _process = Process.Start(psi);
            _process.ErrorDataReceived += (_, _) => { };
            _process.BeginErrorReadLine();
            _reader = new Thread(Pump) { IsBackground = true, Name = "stallable-serial" };
            _reader.Start();
        }

        void Pump()
        {
            var stream = _process.StandardOutput.BaseStream;
            var buffer = new byte[4096];
            try
            {
                while (true)
                {
                    _reading.Wait();
                    int n = stream.Read(buffer, 0, buffer.Length);
                    if (n <= 0) break;
                    string text = Encoding.ASCII.GetString(buffer, 0, n).Replace("\r", "");
                    lock (_log) _log.Append(text);
                }
            }
            catch (IOException) { }
            catch (ObjectDisposedException) { }
        }

        public string Log { get { lock (_log) return _log.ToString(); } }

        public void PauseReading() => _reading.Reset();
        public void ResumeReading() => _reading.Set();

        public void Send(string text)
        {
            _process.StandardInput.Write(text);
            _process.StandardInput.Flush();
        }

        /// <summary>Waits for <paramref name="text"/> after the previous match.</summary>
        public void WaitFor(string text, TimeSpan timeout)
        {
            var sw = Stopwatch.StartNew();
            while (true)
            {
                lock (_log)
                {
                    int at = _log.ToString().IndexOf(text, _cursor, StringComparison.Ordinal);
                    if (at >= 0) { _cursor = at + text.Length; return; }
                }
                if (_process.HasExited)
                    Assert.Fail($"QEMU exited with status {_process.ExitCode} while waiting for '{text.TrimEnd()}'\n{Describe()}");
                if (sw.Elapsed > timeout)
                    Assert.Fail($"timed out after {timeout.TotalSeconds:F0} s waiting for '{text.TrimEnd()}'\n{Describe()}");
                Thread.Sleep(50);
            }
        }

        string Describe() => "QEMU command line: " + _commandLine + "\n---- serial log ----\n" + Log + "\n---- end of serial log ----";

        public void Dispose()
        {
            _reading.Set();
            try { if (!_process.HasExited) { _process.Kill(entireProcessTree: true); _process.WaitForExit(5000); } }
            catch (InvalidOperationException) { }
            _reader.Join(2000);
            _process.Dispose();
            try { Directory.Delete(_workDir, recursive: true); } catch (IOException) { }
        }
    }
}
