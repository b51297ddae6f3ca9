using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;

namespace KernelBuild
{
    /// <summary>A build failure with the failing command and its output; printed without a stack trace.</summary>
    public sealed class BuildException : Exception
    {
        public BuildException(string message) : base(message) { }
    }

    public sealed record ProcessResult(int ExitCode, string Output);

    public static class Shell
    {
        public static bool Verbose;

        /// <summary>Runs a command with stdout+stderr captured; throws <see cref="BuildException"/> with the output when it fails.</summary>
        public static ProcessResult Run(string file, IEnumerable<string> args, string workDir = null, IDictionary<string, string> env = null,
                                        bool check = true, string what = null)
        {
            var argList = args.ToList();
            string cmd = file + " " + Boot.Tests.Harness.QemuCommandLine.Quote(argList);
            if (Verbose) Console.WriteLine("    $ " + cmd);
            var psi = new ProcessStartInfo(file)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                WorkingDirectory = workDir ?? Environment.CurrentDirectory,
            };
            foreach (var a in argList) psi.ArgumentList.Add(a);
            if (env != null) foreach (var (k, v) in env) psi.Environment[k] = v;
            var output = new StringBuilder();
            Process p;
            try { p = Process.Start(psi); }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new BuildException($"{what ?? file}: cannot run `{cmd}`: {e.Message}");
            }
            using (p)
            {
                p.StandardInput.Close();
                p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
                p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                p.WaitForExit();
                string text;
                lock (output) text = output.ToString();
                if (check && p.ExitCode != 0)
                    throw new BuildException($"{what ?? file} failed (exit status {p.ExitCode})\n  command: {cmd}\n  directory: {psi.WorkingDirectory}\n---- output ----\n{text.TrimEnd()}\n----------------");
                return new ProcessResult(p.ExitCode, text);
            }
        }

        /// <summary>Runs a command on the user's terminal (inherited stdio) and returns its exit status.</summary>
        public static int RunInteractive(string file, IEnumerable<string> args, string workDir = null, IDictionary<string, string> env = null)
        {
            var psi = new ProcessStartInfo(file) { UseShellExecute = false, WorkingDirectory = workDir ?? Environment.CurrentDirectory };
            foreach (var a in args) psi.ArgumentList.Add(a);
            if (env != null) foreach (var (k, v) in env) psi.Environment[k] = v;
            if (Verbose) Console.WriteLine("    $ " + file + " " + Boot.Tests.Harness.QemuCommandLine.Quote(psi.ArgumentList));
            try
            {
                using var p = Process.Start(psi);
                p.WaitForExit();
                return p.ExitCode;
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new BuildException($"cannot run `{file}`: {e.Message}");
            }
        }

        public static string Which(string command)
        {
            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':'))
            {
                if (dir.Length == 0) continue;
                string p = Path.Combine(dir, command);
                if (File.Exists(p)) return p;
            }
            foreach (var dir in new[] { "/usr/sbin", "/sbin", "/usr/bin" })
            {
                string p = Path.Combine(dir, command);
                if (File.Exists(p)) return p;
            }
            return null;
        }
    }

    /// <summary>Prints "==> name ... (1.23 s)" around each step.</summary>
    public static class Steps
    {
        public static T Time<T>(string name, Func<T> body)
        {
            var sw = Stopwatch.StartNew();
            Console.WriteLine($"==> {name}");
            try
            {
                var r = body();
                Console.WriteLine($"    {name}: done in {sw.Elapsed.TotalSeconds:F2} s");
                return r;
            }
            catch
            {
                Console.WriteLine($"    {name}: FAILED after {sw.Elapsed.TotalSeconds:F2} s");
                throw;
            }
        }

        public static void Time(string name, Action body) => Time<object>(name, () => { body(); return null; });

        public static void Skip(string name, string why) => Console.WriteLine($"==> {name}: up to date ({why})");
    }

    /// <summary>
    /// Incremental step bookkeeping: a step is up to date when its outputs exist and the stamp written after
    /// its last success matches the current signature (command + size/mtime of every input).
    /// </summary>
    public static class Stamp
    {
        public static string Signature(string command, IEnumerable<string> inputs)
        {
            var sb = new StringBuilder(command).Append('\n');
            foreach (var f in inputs.OrderBy(x => x, StringComparer.Ordinal))
            {
                var fi = new FileInfo(f);
                sb.Append(f).Append('|').Append(fi.Exists ? $"{fi.Length}|{fi.LastWriteTimeUtc.Ticks}" : "missing").Append('\n');
            }
            return sb.ToString();
        }

        public static bool UpToDate(string stampFile, string signature, params string[] outputs) =>
            outputs.All(File.Exists) && File.Exists(stampFile) && File.ReadAllText(stampFile) == signature;

        public static void Write(string stampFile, string signature)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(stampFile));
            File.WriteAllText(stampFile, signature);
        }
    }

    /// <summary>An exclusive advisory lock (flock(2) underneath, so it also excludes `flock FILE cmd`).</summary>
    public sealed class FileLock : IDisposable
    {
        readonly FileStream _stream;

        FileLock(FileStream s) { _stream = s; }

        public static FileLock Acquire(string path, TimeSpan timeout)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path));
            var sw = Stopwatch.StartNew();
            bool told = false;
            while (true)
            {
                try
                {
                    FileStream fs;
                    try { fs = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
                    catch (UnauthorizedAccessException) { fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None); }
                    return new FileLock(fs);
                }
                catch (IOException) when (sw.Elapsed < timeout)
                {
                    if (!told)
                    {
                        Console.WriteLine($"    waiting for {path} (another build is running; up to {timeout.TotalMinutes:F0} min)");
                        told = true;
                    }
                    Thread.Sleep(250);
                }
                catch (IOException)
                {
                    throw new BuildException($"could not lock {path} within {timeout.TotalMinutes:F0} minutes: another build holds it " +
                                             "(if you wrapped ./build.sh in `flock` on the same file, don't: the tool takes the lock itself)");
                }
                catch (UnauthorizedAccessException e)
                {
                    throw new BuildException($"cannot open lock file {path}: {e.Message}");
                }
            }
        }

        public void Dispose() => _stream.Dispose();
    }
}

