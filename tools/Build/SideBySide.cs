using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace KernelBuild
{
    /// <summary>
    /// One row of a side-by-side benchmark (`bench disk`, `bench usbip`): our figures and Linux's over the
    /// runs, and what failed. The table shows medians, ratio = ours / Linux, and the spread in the notes.
    /// </summary>
    sealed class SideBySide
    {
        public List<double> Ours = new(), Linux = new();
        public List<string> Errors = new();

        public static double? Median(List<double> xs)
        {
            if (xs.Count == 0) return null;
            var s = xs.OrderBy(x => x).ToList();
            return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
        }

        /// <summary>"ours  Linux  ratio" as the tables print them, numbers with <paramref name="format"/> ("F1", "F2").</summary>
        public string Figures(string format)
        {
            double? ours = Median(Ours), linux = Median(Linux);
            string ratio = ours.HasValue && linux.HasValue ? (ours.Value / linux.Value).ToString("F2", CultureInfo.InvariantCulture) : "-";
            return $"{Show(ours, format),8} {Show(linux, format),8} {ratio,6}";
        }

        /// <summary>Failures first, then the spread of each side when there was more than one run.</summary>
        public List<string> Notes(string format)
        {
            var notes = new List<string>();
            if (Errors.Count > 0) notes.Add($"{Errors.Count} failure(s): {Errors[0]}");
            if (Ours.Count > 1) notes.Add($"ours {Ours.Min().ToString(format, CultureInfo.InvariantCulture)}..{Ours.Max().ToString(format, CultureInfo.InvariantCulture)}");
            if (Linux.Count > 1) notes.Add($"Linux {Linux.Min().ToString(format, CultureInfo.InvariantCulture)}..{Linux.Max().ToString(format, CultureInfo.InvariantCulture)}");
            return notes;
        }

        static string Show(double? v, string format) => v.HasValue ? v.Value.ToString(format, CultureInfo.InvariantCulture) : "-";
    }
}
