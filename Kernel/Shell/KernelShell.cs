using System.Collections.Generic;
using Kernel.Console;
using Kernel.Hal;
using Kernel.Memory;
using Kernel.Pci;
using Kernel.Runtime;
using Kernel.Threading;
using Kernel.Time;
using Platform;
using Platform.Pci;

namespace Kernel.Shell
{
    /// <summary>A shell command: its name, a one-line help text and the code that runs it.</summary>
    internal sealed class ShellCommand
    {
        public string Name;
        public string Usage;
        public string Help;
        public System.Action<List<string>> Run;
    }

    /// <summary>
    /// The command line on COM1 (and later the USB keyboard). Other subsystems add commands with
    /// <see cref="Register"/>; the boot tests drive it by typing lines.
    /// </summary>
    internal static class KernelShell
    {
        public const string Prompt = "kernel> ";
        // Bounded wait for input; on wake-up COM1 is polled too, in case its interrupt got lost.
        const uint InputPollMs = 50;
        const int MaxLine = 256;
        const int HistoryDepth = 32;

        static readonly List<ShellCommand> s_commands = new List<ShellCommand>();

        public static void Register(string name, string usage, string help, System.Action<List<string>> run) =>
            s_commands.Add(new ShellCommand { Name = name, Usage = usage, Help = help, Run = run });

        public static void Run()
        {
            RegisterBuiltins();
            var editor = new LineEditor(MaxLine, HistoryDepth);
            var echo = new System.Text.StringBuilder();
            KernelConsole.BeginInput(Prompt);
            while (true)
            {
                if (!ConsoleInput.TryRead(out char c, InputPollMs))
                {
                    ulong flags = InterruptGuard.Enter();
                    Serial.Drain();
                    InterruptGuard.Exit(flags);
                    continue;
                }
                echo.Clear();
                LineEditorResult result = editor.Feed(c, echo);
                if (echo.Length > 0 || result != LineEditorResult.None)
                    KernelConsole.Echo(echo.ToString(), Prompt, editor.Text, editor.Cursor, result != LineEditorResult.None);
                if (result == LineEditorResult.None) continue;
                if (result == LineEditorResult.Line)
                {
                    Execute(editor.Line);
                    ScrubStack();
                }
                KernelConsole.BeginInput(Prompt);
            }
        }

        /// <summary>Bytes of stack below the shell loop that a command's frames may have used.</summary>
        const int ScrubBytes = 16 * 1024;

        /// <summary>
        /// Zeroes the stack a finished command used. The collector scans stacks conservatively: while the shell
        /// waits for input, the holes in its waiting frames still hold the finished command's old words, and a
        /// stale pointer to, say, `disk read`'s 128 KiB buffer kept it alive until the next command happened to
        /// overwrite it (seen as heap growth by the storm's `mem types` table). Boehm's GC_clear_stack does the same.
        /// </summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        static unsafe void ScrubStack()
        {
            byte* scrub = stackalloc byte[ScrubBytes];
            new System.Span<byte>(scrub, ScrubBytes).Clear();
        }

        /// <summary>
        /// True once Ctrl-C was typed during the running command: long loops check it, print
        /// "&lt;command&gt;: interrupted" and return (<see cref="ShellInterrupt"/>).
        /// </summary>
        public static bool Interrupted => ShellInterrupt.Requested;

        public static void Execute(string text)
        {
            List<string> words = CommandLine.Split(text);
            if (words.Count == 0) return;
            for (int i = 0; i < s_commands.Count; i++)
            {
                if (s_commands[i].Name != words[0]) continue;
                ShellInterrupt.CommandStarted();
                s_commands[i].Run(words);
                ShellInterrupt.CommandEnded();
                return;
            }
            Print(words[0] + ": command not found (try 'help')");
        }

        public static void Print(string text) => KernelConsole.WriteLine(text);

        static void RegisterBuiltins()
        {
            Register("help", "help", "list commands", Help);
            Register("pci", "pci", "list PCI functions, their BARs and drivers", ListPci);
            Register("mem", "mem [types [rows]|find <type> [N]|refs <addr>]", "memory, heap and DMA usage; types: live heap by type (after a gc); find: where a type's objects are; refs: what keeps one alive",
                     args =>
                     {
                         string verb = args.Count > 1 ? args[1] : "";
                         if (verb == "types") MemoryTypes.Run(args);
                         else if (verb == "find") MemoryReferences.Find(args);
                         else if (verb == "refs") MemoryReferences.Refs(args);
                         else ShowMemory(args);
                     });
            Register("loglevel", "loglevel [debug|info|warning|error]", "show or set the lowest log level printed (debug: port events, resets)", SetLogLevel);
            Register("uptime", "uptime", "time since boot and how much of it the CPU was idle", args => ShowUptime());
            Register("threads", "threads", "list kernel threads", ListThreads);
            Register("gc", "gc", "collect garbage now and show the heap", args => { KernelHeap.Collect(); ShowMemory(args); });
            Register("reboot", "reboot", "reset the machine", args => Reboot());
            Register("halt", "halt", "stop the machine (ends a QEMU run)", args => { Print("halting"); QemuExit.Exit(QemuExit.Success); Entry.Halt(); });
            Register("test", "test timer|threads|fault|gc|bars|sync|stack", "self tests used by the boot tests", SelfTests.Run);
            InterruptShell.Register();
        }

        static void Help(List<string> args)
        {
            for (int i = 0; i < s_commands.Count; i++)
                Print("  " + Format.PadRight(s_commands[i].Usage, 36) + s_commands[i].Help);
        }

        static void ListPci(List<string> args)
        {
            List<PciFunction> functions = KernelPciHost.Instance.Functions;
            for (int i = 0; i < functions.Count; i++)
            {
                PciFunction f = functions[i];
                Print(f.Describe());
                for (int b = 0; b < PciFunction.BarCount; b++)
                    if (f.Bars[b].IsPresent)
                        Print("    BAR" + Format.Decimal((ulong)b) + ": " + f.Bars[b].Describe());
                if (f.InterruptPin != 0)
                    Print("    interrupt: pin " + (char)('A' + f.InterruptPin - 1) + ", line " + Format.Decimal(f.InterruptLine));
                Print("    driver: " + (f.Driver == null ? "none" : f.Driver.Name));
            }
        }

        static readonly string[] LogLevelNames = { "debug", "info", "warning", "error" };

        /// <summary>Like Linux's `dmesg -n`: which log lines reach the console from now on.</summary>
        static void SetLogLevel(List<string> args)
        {
            if (args.Count > 1)
            {
                int level = 0;
                while (level < LogLevelNames.Length && LogLevelNames[level] != args[1]) level++;
                if (level == LogLevelNames.Length)
                {
                    Print("usage: loglevel [debug|info|warning|error]");
                    return;
                }
                Log.MinimumLevel = (LogLevel)level;
            }
            Print("loglevel: " + LogLevelNames[(int)Log.MinimumLevel]);
        }

        static void ShowMemory(List<string> args)
        {
            Print("physical: " + Format.Size(PhysicalMemory.Pool.TotalBytes) + " total, " +
                  Format.Size(PhysicalMemory.Pool.UsedBytes) + " used, " + Format.Size(PhysicalMemory.Pool.FreeBytes) + " free");
            Print("heap: " + Format.Decimal(KernelHeap.AllocatedBytes) + " bytes used in " + Format.Decimal(KernelHeap.AllocationCount) +
                  " objects, " + Format.Decimal(KernelHeap.ReservedBytes) + " reserved; " + Format.Decimal(KernelHeap.Collections) +
                  " collections, last freed " + Format.Decimal(KernelHeap.LastFreedBytes) + " bytes in " + Format.Decimal(KernelHeap.LastPauseMicroseconds) + " us");
            Print("dma: " + Format.Decimal(DmaMemory.Instance.UsedBytes) + " bytes used in " + Format.Decimal(DmaMemory.Instance.LiveAllocations) +
                  " buffers, " + Format.Decimal(DmaMemory.Instance.FreeBytes) + " free of " + Format.Decimal(DmaMemory.Instance.PoolBytes) + " pooled");
            Print("log: " + Format.Decimal(KernelConsole.DroppedLines) + " lines dropped");
        }

        static void ListThreads(List<string> args)
        {
            List<KernelThread> threads = Scheduler.Snapshot();
            for (int i = 0; i < threads.Count; i++)
                Print("  " + Format.PadLeft(Format.Decimal((ulong)threads[i].Id), 3, ' ') + "  " + Format.PadRight(threads[i].Name, 16) +
                      StateName(threads[i].State) + "  cpu " + Format.PadLeft(Format.Decimal(threads[i].CpuMicroseconds / 1000), 7, ' ') + " ms  switches " +
                      Format.Decimal(threads[i].SwitchCount));
        }

        static void ShowUptime()
        {
            ulong us = Clock.Instance.Microseconds, idle = Scheduler.IdleMicroseconds;
            const ulong PerMille = 1000;
            ulong idlePerMille = us == 0 ? 0 : idle * PerMille / us;
            Print("uptime: " + Format.Decimal(us / 1000) + " ms, idle " + Format.Decimal(idle / 1000) + " ms (" +
                  Format.Decimal(idlePerMille / 10) + "." + Format.Decimal(idlePerMille % 10) + "%)");
        }

        static string StateName(ThreadState s)
        {
            switch (s)
            {
                case ThreadState.Ready: return "ready   ";
                case ThreadState.Running: return "running ";
                case ThreadState.Sleeping: return "sleeping";
                case ThreadState.Blocked: return "blocked ";
                default: return "dead    ";
            }
        }

        static void Reboot()
        {
            const ushort KeyboardController = 0x64;
            const byte PulseResetLine = 0xFE;
            Print("rebooting");
            KernelConsole.Flush();
            Native.PortOut8(KeyboardController, PulseResetLine);
            Entry.Halt();
        }
    }
}
