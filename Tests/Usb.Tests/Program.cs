using System;
using Usb.Tests.Fuzz;

namespace Usb.Tests
{
    /// <summary>
    /// Command-line entry of the test project: `dotnet run --project Tests/Usb.Tests -c Release -- fuzz [inputs] [seed]`
    /// runs the descriptor fuzzer (default one million inputs) and exits 1 on any failure.
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
            Console.Error.WriteLine("usage: Usb.Tests fuzz [inputs] [seed]   (tests run with `dotnet test Tests/Usb.Tests`)");
            return 2;
        }
    }
}
