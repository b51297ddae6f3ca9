using System.Collections.Generic;
using Platform;

namespace Kernel.Tests
{
    public sealed class ListSink : ILogSink
    {
        public readonly List<string> Lines = new List<string>();
        public void WriteLine(LogLevel level, string line) { lock (Lines) Lines.Add(line); }
    }

    public sealed class FakeClock : IClock
    {
        public ulong Now;
        public ulong Milliseconds => Now / 1000;
        public ulong Microseconds => Now;
        public void Sleep(uint ms) => Now += ms * 1000UL;
        public void Stall(uint us) => Now += us;
    }
}
