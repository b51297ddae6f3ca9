using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Xml.Linq;

namespace KernelBuild
{
    /// <summary>The `test` verb: builds the image, runs `dotnet test` on every Tests/*/*.csproj, sums the TRX counters.</summary>
    public static class Test
    {
        sealed record Result(string Project, int Passed, int Failed, int Skipped, int ExitCode, string Note);

        public static int RunAll(string root, Options o)
        {
            string summaryFile = Path.Combine(root, "out", "test-summary.txt");
            Directory.CreateDirectory(Path.GetDirectoryName(summaryFile));
            File.Delete(summaryFile);

            var image = Program.BuildImage(root, o);
            var projects = Directory.GetDirectories(Path.Combine(root, "Tests"))
                .SelectMany(d => Directory.GetFiles(d, "*.csproj"))
                .OrderBy(p => p, StringComparer.Ordinal).ToList();
            if (projects.Count == 0) throw new BuildException("no test projects found (Tests/*/*.csproj)");

            string resultsRoot = Path.Combine(root, "out", "test-results");
            var results = new List<Result>();
            foreach (var proj in projects)
            {
                string name = Path.GetFileNameWithoutExtension(proj);
                string resultsDir = Path.Combine(resultsRoot, name);
                if (Directory.Exists(resultsDir)) Directory.Delete(resultsDir, true);
                string trx = Path.Combine(resultsDir, name + ".trx");
                var args = new List<string>
                {
                    "test", proj, "-c", "Release", "--nologo", "-tl:off",
                    "--logger", $"trx;LogFileName={name}.trx",
                    "--logger", "console;verbosity=normal",
                    "--results-directory", resultsDir,
                };
                if (o.Filter != null) { args.Add("--filter"); args.Add(o.Filter); }
                var env = new Dictionary<string, string>
                {
                    ["KERNEL_REPO_ROOT"] = root,
                    ["KERNEL_ISO"] = image.Iso,
                };
                int rc = 0;
                Steps.Time($"dotnet test {Program.Rel(root, proj)}", () => { rc = Shell.RunInteractive("dotnet", args, workDir: root, env: env); });
                results.Add(Parse(name, trx, rc));
            }

            Console.WriteLine();
            Console.WriteLine("==> test results");
            foreach (var r in results)
                Console.WriteLine($"    {r.Project,-16} {r.Passed,4} passed, {r.Failed,4} failed, {r.Skipped,4} skipped{(r.Note != null ? "  — " + r.Note : "")}");
            int passed = results.Sum(r => r.Passed), failed = results.Sum(r => r.Failed);
            string summary = $"{passed} passed, {failed} failed";
            File.WriteAllText(summaryFile, summary + "\n");
            Console.WriteLine(summary);
            return failed > 0 || results.Any(r => r.ExitCode != 0) ? 1 : 0;
        }

        static Result Parse(string name, string trx, int rc)
        {
            if (!File.Exists(trx))
                return new Result(name, 0, 1, 0, rc == 0 ? 1 : rc, $"no results (dotnet test exit status {rc}: build error?) — counted as 1 failure");
            var ns = XNamespace.Get("http://microsoft.com/schemas/VisualStudio/TeamTest/2010");
            var counters = XDocument.Load(trx).Descendants(ns + "Counters").FirstOrDefault();
            int Get(string a) => int.TryParse(counters?.Attribute(a)?.Value, out var v) ? v : 0;
            int passed = Get("passed");
            int failed = Get("failed") + Get("error") + Get("timeout") + Get("aborted");
            // Ignored tests count as neither passed nor failed; the TRX file records them only as
            // total minus executed (notExecuted stays 0 with the NUnit adapter).
            int skipped = Math.Max(Get("notExecuted") + Get("inconclusive"), Get("total") - Get("executed"));
            string note = null;
            if (rc != 0 && failed == 0)
            {
                failed = 1;
                note = $"dotnet test exit status {rc} without failed tests (test host crash?) — counted as 1 failure";
            }
            else if (Get("total") == 0) note = "no tests";
            return new Result(name, passed, failed, skipped, rc, note);
        }
    }
}
