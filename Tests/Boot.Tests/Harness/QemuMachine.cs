using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;

namespace Boot.Tests.Harness
{
    /// <summary>Thrown when QEMU exits, or a wait times out, before the expected output appears.</summary>
    public sealed class QemuWaitException : Exception
    {
        public QemuWaitException(string message) : base(message) { }
    }

    /// <summary>
    /// One QEMU process running the kernel image with a scenario: serial console through redirected stdio,
    /// QMP on a private unix socket, isa-debug-exit, -no-reboot, TCG. Dispose always kills QEMU and deletes
    /// its private directory.
    /// </summary>
    public sealed class QemuMachine : IDisposable
    {
        /// <summary>Multiplies every default timeout (environment BOOT_TIMEOUT_SCALE, e.g. 2 on slow CI).</summary>
        public static double TimeoutScale =>
            double.TryParse(Environment.GetEnvironmentVariable("BOOT_TIMEOUT_SCALE"), System.Globalization.NumberStyles.Float,
                            System.Globalization.CultureInfo.InvariantCulture, out var s) && s > 0 ? s : 1.0;

        public static TimeSpan Scaled(double seconds) => TimeSpan.FromSeconds(seconds * TimeoutScale);

        /// <summary>The shell prompt the kernel prints (no newline after it).</summary>
        public const string Prompt = "kernel> ";

        readonly Process _process;
        readonly object _gate = new();
        readonly StringBuilder _log = new();
        readonly StringBuilder _stderr = new();
        readonly Stopwatch _clock;
        readonly Thread _stdoutThread, _stderrThread;
        readonly bool _ownsWorkDir;
        int _cursor;
        bool _stdoutClosed;
        /// <summary>Serial output arrival on the host clock: (log length after a chunk, time since start) per chunk read.</summary>
        readonly List<(int End, TimeSpan At)> _arrivals = new();
        QmpClient _qmp;

        public QemuLaunchOptions Options { get; }
        public IReadOnlyList<string> Arguments { get; }
        public string CommandLine { get; }
        public string WorkDir { get; }
        public string QmpSocket { get; }
        public TimeSpan DefaultTimeout { get; set; } = Scaled(20);

        /// <summary>Everything the kernel wrote to the serial port so far (CR removed).</summary>
        public string Log { get { lock (_gate) return _log.ToString(); } }
        /// <summary>Number of characters of serial output received so far (an offset for <see cref="LogSince"/>).</summary>
        public int LogLength { get { lock (_gate) return _log.Length; } }
        /// <summary>The serial output from character <paramref name="offset"/> on (cheaper than <see cref="Log"/> on long runs).</summary>
        public string LogSince(int offset) { lock (_gate) return offset >= _log.Length ? "" : _log.ToString(offset, _log.Length - offset); }
        /// <summary>
        /// When the serial output at <paramref name="offset"/> reached the host (time since QEMU started): a
        /// wall-clock timestamp for any log line, independent of the guest's own clock (which can lose timer
        /// ticks when the host is busy). Null when that output has not arrived.
        /// </summary>
        public TimeSpan? ArrivalOf(int offset)
        {
            lock (_gate)
            {
                int lo = 0, hi = _arrivals.Count - 1;
                while (lo <= hi)
                {
                    int mid = (lo + hi) / 2;
                    if (_arrivals[mid].End > offset) hi = mid - 1; else lo = mid + 1;
                }
                return lo < _arrivals.Count ? _arrivals[lo].At : null;
            }
        }
        /// <summary>QEMU's own stderr output.</summary>
        public string Stderr { get { lock (_gate) return _stderr.ToString(); } }
        public bool HasExited => _process.HasExited;
        public int? ExitCode => _process.HasExited ? _process.ExitCode : null;
        /// <summary>Time since QEMU was started.</summary>
        public TimeSpan Elapsed => _clock.Elapsed;

        /// <summary>Boots a scenario by name (qemu/scenarios/NAME.json) with the ISO from <see cref="RepoPaths.Iso"/>.</summary>
        public static QemuMachine Start(string scenario, bool? uefi = null, string iso = null, IEnumerable<string> extraArgs = null)
        {
            var o = new QemuLaunchOptions
            {
                RepoRoot = RepoPaths.Root,
                Scenario = Scenario.Load(RepoPaths.Root, scenario),
                Uefi = uefi,
                Iso = iso ?? RepoPaths.Iso,
            };
            if (extraArgs != null) o.ExtraArgs.AddRange(extraArgs);
            return Start(o);
        }

        public static QemuMachine Start(QemuLaunchOptions o) => new QemuMachine(o);

        // Machines not yet disposed; killed when the process exits so no QEMU outlives a crashed or aborted run.
        static readonly HashSet<QemuMachine> Live = new();

        static QemuMachine()
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                QemuMachine[] all;
                lock (Live) all = new List<QemuMachine>(Live).ToArray();
                foreach (var vm in all)
                    try { if (!vm._process.HasExited) vm._process.Kill(entireProcessTree: true); } catch { }
            };
        }

        QemuMachine(QemuLaunchOptions o)
        {
            Options = o;
            if (o.WorkDir == null)
            {
                // Short path: unix socket paths are limited to 107 bytes.
                o.WorkDir = Path.Combine(Path.GetTempPath(), "kboot-" + Guid.NewGuid().ToString("N").Substring(0, 12));
                _ownsWorkDir = true;
            }
            WorkDir = o.WorkDir;
            Directory.CreateDirectory(WorkDir);
            QmpSocket = o.QmpSocket ?? Path.Combine(WorkDir, "qmp.sock");
            o.QmpSocket = QmpSocket;
            if (File.Exists(QmpSocket)) File.Delete(QmpSocket);
            var args = QemuCommandLine.Build(o);
            Arguments = args;
            CommandLine = o.QemuBinary + " " + QemuCommandLine.Quote(args);

            var psi = new ProcessStartInfo(o.QemuBinary)
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = WorkDir,
            };
            foreach (var a in args) psi.ArgumentList.Add(a);
            _clock = Stopwatch.StartNew();
            try
            {
                _process = Process.Start(psi) ?? throw new InvalidOperationException("Process.Start returned null");
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new InvalidOperationException($"cannot start {o.QemuBinary} ({e.Message}); install it: sudo apt-get install -y qemu-system-x86", e);
            }
            _stdoutThread = new Thread(() => Pump(_process.StandardOutput.BaseStream, _log, isStdout: true)) { IsBackground = true, Name = "qemu-serial" };
            _stderrThread = new Thread(() => Pump(_process.StandardError.BaseStream, _stderr, isStdout: false)) { IsBackground = true, Name = "qemu-stderr" };
            _stdoutThread.Start();
            _stderrThread.Start();
            lock (Live) Live.Add(this);
        }

        void Pump(Stream s, StringBuilder sink, bool isStdout)
        {
            var decoder = new UTF8Encoding(false).GetDecoder();
            var buf = new byte[4096];
            var chars = new char[4097];
            try
            {
                int n;
                while ((n = s.Read(buf, 0, buf.Length)) > 0)
                {
                    int c = decoder.GetChars(buf, 0, n, chars, 0);
                    lock (_gate)
                    {
                        for (int i = 0; i < c; i++)
                            if (chars[i] != '\r') sink.Append(chars[i]);
                        if (isStdout) _arrivals.Add((sink.Length, _clock.Elapsed));
                        Monitor.PulseAll(_gate);
                    }
                }
            }
            catch (IOException) { }
            catch (ObjectDisposedException) { }
            finally
            {
                lock (_gate)
                {
                    if (isStdout) _stdoutClosed = true;
                    Monitor.PulseAll(_gate);
                }
            }
        }

        /// <summary>The QMP connection (connected on first use).</summary>
        public QmpClient Qmp
        {
            get
            {
                if (_qmp == null)
                    _qmp = QmpClient.Connect(QmpSocket, Scaled(10), () => _process.HasExited);
                return _qmp;
            }
        }

        /// <summary>
        /// Waits for a serial output LINE (complete, newline-terminated, after the previous match) matching
        /// <paramref name="pattern"/>, and returns the match. Consumes the output up to and including that line.
        /// </summary>
        public Match WaitForLine(string pattern, TimeSpan? timeout = null) => WaitForLine(new Regex(pattern), timeout);

        public Match WaitForLine(Regex regex, TimeSpan? timeout = null) =>
            WaitCore(regex.ToString(), timeout, (text, from) =>
            {
                int start = from;
                while (true)
                {
                    int nl = text.IndexOf('\n', start);
                    if (nl < 0) return (null, 0);
                    var m = regex.Match(text.Substring(start, nl - start));
                    if (m.Success) return (m, nl + 1);
                    start = nl + 1;
                }
            });

        /// <summary>Waits for <paramref name="pattern"/> anywhere in the output after the previous match (also in an unfinished line, e.g. a prompt).</summary>
        public Match WaitFor(string pattern, TimeSpan? timeout = null)
        {
            var regex = new Regex(pattern, RegexOptions.Multiline);
            return WaitCore(pattern, timeout, (text, from) =>
            {
                var m = regex.Match(text, from);
                return m.Success ? (m, m.Index + m.Length) : (null, 0);
            });
        }

        Match WaitCore(string what, TimeSpan? timeout, Func<string, int, (Match, int)> search)
        {
            var limit = timeout ?? DefaultTimeout;
            var sw = Stopwatch.StartNew();
            lock (_gate)
            {
                while (true)
                {
                    var (m, end) = search(_log.ToString(), _cursor);
                    if (m != null) { _cursor = end; return m; }
                    if (_stdoutClosed && _process.HasExited)
                        throw new QemuWaitException($"QEMU exited with status {_process.ExitCode} ({QemuCommandLine.Describe(_process.ExitCode)}) while waiting for /{what}/ after {_clock.Elapsed.TotalSeconds:F1} s");
                    var left = limit - sw.Elapsed;
                    if (left <= TimeSpan.Zero)
                        throw new QemuWaitException($"timed out after {limit.TotalSeconds:F0} s waiting for /{what}/ (QEMU running for {_clock.Elapsed.TotalSeconds:F1} s)");
                    Monitor.Wait(_gate, left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
                }
            }
        }

        /// <summary>Marks everything received so far as consumed: the next wait only sees new output.</summary>
        public void SkipPending()
        {
            lock (_gate) _cursor = _log.Length;
        }

        /// <summary>Output received after the last match (not yet consumed by a wait).</summary>
        public string Unconsumed { get { lock (_gate) return _log.ToString(_cursor, _log.Length - _cursor); } }

        /// <summary>Waits for the "kernel: boot complete" line and then the shell prompt.</summary>
        public Match WaitForBoot(TimeSpan? timeout = null)
        {
            var t = timeout ?? DefaultTimeout;
            var sw = Stopwatch.StartNew();
            var m = WaitForLine(@"kernel: boot complete\s*$", t);
            var left = t - sw.Elapsed;
            WaitForPrompt(left > TimeSpan.FromSeconds(5) ? left : TimeSpan.FromSeconds(5));
            return m;
        }

        public void WaitForPrompt(TimeSpan? timeout = null) => WaitFor(Regex.Escape(Prompt), timeout);

        /// <summary>Types text into the serial console.</summary>
        public void Send(string text)
        {
            if (_process.HasExited) throw new QemuWaitException($"cannot send '{text.TrimEnd()}': QEMU exited with status {_process.ExitCode}");
            var bytes = Encoding.UTF8.GetBytes(text);
            var stdin = _process.StandardInput.BaseStream;
            stdin.Write(bytes, 0, bytes.Length);
            stdin.Flush();
        }

        /// <summary>Types a command followed by "\n".</summary>
        public void SendLine(string command) => Send(command + "\n");

        /// <summary>
        /// Runs a shell command: types it, waits for its echo and then the next prompt, returns the
        /// output in between. The echo is the prompt row as the shell ended it ("kernel> command"
        /// then a line feed): a log line that arrives while the command is typed is printed above
        /// a redrawn prompt row, so the rows before it (and prompts redrawn while the shell sat
        /// idle) are never taken for the command's prompt.
        /// </summary>
        public string RunCommand(string command, TimeSpan? timeout = null)
        {
            var sw = Stopwatch.StartNew();
            var t = timeout ?? DefaultTimeout;
            // The prompt the command is typed after is usually consumed already: look from the start of its row.
            lock (_gate)
            {
                while (_cursor > 0 && _log[_cursor - 1] != '\n') _cursor--;
            }
            SendLine(command);
            WaitFor("^" + Regex.Escape(Prompt + command) + "\n", t);
            int start;
            lock (_gate) start = _cursor;
            var left = t - sw.Elapsed;
            var m = WaitFor(Regex.Escape(Prompt), left > TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
            lock (_gate) return _log.ToString(start, m.Index - start);
        }

        /// <summary>
        /// A command's output without the kernel log lines ("[    5.632472] ...") that other threads
        /// printed while it ran (a removal finishing, say): for matching a listing line by line.
        /// </summary>
        public static string WithoutLogLines(string output) =>
            Regex.Replace(output, @"^\[\s*\d+\.\d+\] [^\n]*\n", "", RegexOptions.Multiline);

        /// <summary>Waits until QEMU exits and returns its exit status.</summary>
        public int WaitForExit(TimeSpan? timeout = null)
        {
            var t = timeout ?? DefaultTimeout;
            if (!_process.WaitForExit((int)t.TotalMilliseconds))
                throw new QemuWaitException($"QEMU still running after {t.TotalSeconds:F0} s");
            _process.WaitForExit();
            _stdoutThread.Join(2000);
            return _process.ExitCode;
        }

        /// <summary>A report for failing tests: command line, exit status, QEMU stderr and the whole serial log.</summary>
        public string DescribeForFailure()
        {
            var sb = new StringBuilder();
            sb.AppendLine("QEMU command line: " + CommandLine);
            sb.AppendLine(HasExited ? $"QEMU exit status: {ExitCode} ({QemuCommandLine.Describe(ExitCode.Value)})" : $"QEMU still running after {Elapsed.TotalSeconds:F1} s");
            string err = Stderr;
            if (err.Length > 0) sb.AppendLine("---- QEMU stderr ----").AppendLine(err.TrimEnd());
            sb.AppendLine("---- serial log (whole) ----");
            sb.AppendLine(Log);
            sb.AppendLine("---- end of serial log ----");
            return sb.ToString();
        }

        public void Dispose()
        {
            lock (Live) Live.Remove(this);
            try { _qmp?.Dispose(); } catch { }
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                    _process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException) { }
            _stdoutThread.Join(2000);
            _stderrThread.Join(2000);
            _process.Dispose();
            if (_ownsWorkDir)
                try { Directory.Delete(WorkDir, recursive: true); } catch { }
        }
    }
}
