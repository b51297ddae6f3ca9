using System;
using System.Collections.Generic;
using Usb.Tests.Fuzz;

namespace Usb.Tests
{
    /// <summary>
    /// Command-line entry of the test project (the tests themselves run with `dotnet test Tests/Usb.Tests`):
    ///   fuzz [inputs] [seed]                       descriptor fuzzer (default one million inputs)
    ///   faultfuzz [sequences] [seed] [--threads N] fault-schedule fuzzer (default 100,000 sequences)
    ///   faultfuzz --replay SEED                    one sequence, with its operations and log printed
    ///   --max-failures N                           stop after N failing sequences (default 20)
    ///   --explore-thread-percent P                 share of sequences with the explore thread running (default 5)
    /// Each exits 1 on any failure.
    /// </summary>
    public static class Program
    {
        public static int Main(string[] args)
        {
            if (args.Length >= 1 && args[0] == "fuzz")
            {
                long inputs = args.Length >= 2 ? long.Parse(args[1]) : 1_000_000;
                int seed = args.Length >= 3 ? int.Parse(args[2]) : Environment.TickCount;
                Console.WriteLine("fuzz: seed " + seed + ", " + inputs + " inputs");
                FuzzReport report = DescriptorFuzzer.Run(inputs, seed);
                Console.WriteLine(report.ToString());
                foreach (string failure in report.Failures)
                    Console.WriteLine("FAIL " + failure);
                return report.Failures.Count == 0 ? 0 : 1;
            }
            if (args.Length >= 1 && args[0] == "faultfuzz")
                return FaultFuzz(args);
            Console.Error.WriteLine("usage: Usb.Tests fuzz [inputs] [seed]\n" +
                                    "       Usb.Tests faultfuzz [sequences] [seed] [--threads N]\n" +
                                    "       Usb.Tests faultfuzz --replay SEED\n" +
                                    "(tests run with `dotnet test Tests/Usb.Tests`)");
            return 2;
        }

        static int FaultFuzz(string[] args)
        {
            var positional = new List<string>();
            int threads = Environment.ProcessorCount;
            int? replay = null;
            int maxFailures = 20;
            for (int i = 1; i < args.Length; i++)
            {
                if (args[i] == "--threads" && i + 1 < args.Length)
                    threads = int.Parse(args[++i]);
                else if (args[i] == "--replay" && i + 1 < args.Length)
                    replay = int.Parse(args[++i]);
                else if (args[i] == "--max-failures" && i + 1 < args.Length)
                    maxFailures = int.Parse(args[++i]);
                else if (args[i] == "--explore-thread-percent" && i + 1 < args.Length)
                    FaultFuzzer.ExploreThreadPercent = int.Parse(args[++i]);
                else
                    positional.Add(args[i]);
            }
            if (replay.HasValue)
            {
                FaultSequenceResult r = FaultFuzzer.RunOne(replay.Value, echo: true, Platform.LogLevel.Debug);
                Console.WriteLine(r.Failure == null
                    ? "faultfuzz: seed " + replay.Value + ": every invariant held (" + r.Operations.Count + " operations, " + r.VirtualMs + " ms virtual)"
                    : "FAIL " + r.Describe(0));
                return r.Failure == null ? 0 : 1;
            }
            long sequences = positional.Count >= 1 ? long.Parse(positional[0].Replace("_", "")) : 100_000;
            int seed = positional.Count >= 2 ? int.Parse(positional[1]) : Environment.TickCount & 0x7FFFFFFF;
            Console.WriteLine("faultfuzz: seed " + seed + ", " + sequences + " sequences on " + threads + " threads");
            FaultFuzzReport report = FaultFuzzer.Run(sequences, seed, threads, progress: Console.WriteLine, maxFailures: maxFailures);
            Console.WriteLine(report.ToString());
            foreach (string failure in report.Failures)
                Console.WriteLine("FAIL " + failure);
            return report.Failures.Count == 0 ? 0 : 1;
        }
    }
}
