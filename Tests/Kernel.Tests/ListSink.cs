using System.Collections.Generic;
using Platform;

namespace Kernel.Tests
{
    public sealed class ListSink : ILogSink
    {
        public readonly List<string> Lines = new List<string>();
        public void WriteLine(LogLevel level, string line) { lock (Lines) Lines.Add(line); }
    }
}
