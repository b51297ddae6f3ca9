using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;

namespace KernelBuild
{
    /// <summary>
    /// One measurement of Linux 6.1 by the reference's run.sh (shared/linux-reference): the figure
    /// named <paramref name="field"/> of its result line ("linux xhci enum status=ok enum_ms=1163.3 ...").
    /// Fatal = the reference itself cannot run (setup failed, e.g. no network for apt-get download):
    /// no point in trying again. Used by `bench enum` and `bench disk`.
    /// </summary>
    static class LinuxReference
    {
        /// <summary>The reference's own bound for one run (RUN_TIMEOUT, s).</summary>
        public const int RunSeconds = 180;

        public static (double Value, string Error, bool Fatal) Run(string reference, string controller, string scenario, string field)
        {
            string script = Path.Combine(reference, "run.sh");
            if (!File.Exists(script)) return (0, $"{script} not found", true);
            var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(script);
            psi.ArgumentList.Add(controller);
            psi.ArgumentList.Add(scenario);
            psi.Environment["RUN_TIMEOUT"] = RunSeconds.ToString(CultureInfo.InvariantCulture);
            using var p = Process.Start(psi);
            var stderrTask = p.StandardError.ReadToEndAsync();
            string output = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit((RunSeconds + 600) * 1000))
            {
                try { p.Kill(entireProcessTree: true); } catch { }
                return (0, "run.sh did not finish", false);
            }
            string error = stderrTask.Result;
            var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("linux "));
            if (line == null)
            {
                string why = error.Trim().Split('\n').LastOrDefault() ?? "";
                bool fatal = error.Contains("setup failed") || error.Contains("initramfs build failed");
                return (0, $"no result line (exit {p.ExitCode}): {why}", fatal);
            }
            var status = Regex.Match(line, @"status=(\S+)");
            var value = Regex.Match(line, Regex.Escape(field) + @"=([\d.]+)");
            if (!status.Success || status.Groups[1].Value != "ok" || !value.Success)
                return (0, line.Trim(), false);
            return (double.Parse(value.Groups[1].Value, CultureInfo.InvariantCulture), null, false);
        }
    }
}
