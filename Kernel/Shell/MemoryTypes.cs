using System.Collections.Generic;
using Kernel.Memory;
using Kernel.Runtime;
using Platform;

namespace Kernel.Shell
{
    /// <summary>
    /// `mem types [N]`: the live heap by type after a collection, biggest first, like Linux's slabtop.
    /// This is how a leak is found: run it before and after a workload and compare the rows
    /// (`bench storm` does exactly that when its memory is not flat).
    /// </summary>
    internal static unsafe class MemoryTypes
    {
        /// <summary>Distinct types counted; more are summed into an "(other types)" row.</summary>
        const int MaxTypes = 1024;
        const int DefaultRows = 25;

        /// <summary>The live objects per type (<see cref="KernelHeap.Census"/>) in a table of <see cref="MaxTypes"/> rows; <paramref name="types"/> are used.</summary>
        public static KernelHeap.TypeCount[] Census(out int types, out ulong heapBytes, out ulong heapObjects)
        {
            var table = new KernelHeap.TypeCount[MaxTypes]; // allocated before the walk: the census allocates nothing
            fixed (KernelHeap.TypeCount* entries = table)
                types = KernelHeap.Census(entries, MaxTypes, out heapBytes, out heapObjects);
            return table;
        }

        public static void Run(List<string> args)
        {
            ulong rows = DefaultRows;
            if (args.Count > 2 && (!Format.TryParseDecimal(args[2], out rows) || rows == 0))
            {
                KernelShell.Print("usage: mem types [rows]");
                return;
            }

            KernelHeap.Collect();
            KernelHeap.TypeCount[] table = Census(out int types, out ulong heapBytes, out ulong heapObjects);
            KernelHeap.TypeCount other = table[MaxTypes - 1];

            ulong totalObjects = other.Objects, totalBytes = other.Bytes;
            for (int i = 0; i < types; i++) { totalObjects += table[i].Objects; totalBytes += table[i].Bytes; }
            KernelShell.Print("heap types: " + Format.Decimal(totalBytes) + " bytes in " + Format.Decimal(totalObjects) +
                              " objects of " + Format.Decimal((ulong)types) + " types" +
                              (totalBytes == heapBytes && totalObjects == heapObjects ? " (the heap's counters agree)"
                               : "; MISMATCH: the heap's counters say " + Format.Decimal(heapBytes) + " bytes in " + Format.Decimal(heapObjects) + " objects"));
            KernelShell.Print("     BYTES  OBJECTS  TYPE");
            // Selection of the biggest rows; the table is small and this runs on demand only.
            for (int row = 0; (ulong)row < rows && row < types; row++)
            {
                int best = row;
                for (int i = row + 1; i < types; i++)
                    if (table[i].Bytes > table[best].Bytes) best = i;
                KernelHeap.TypeCount entry = table[best];
                table[best] = table[row];
                table[row] = entry;
                KernelShell.Print(Format.PadLeft(Format.Decimal(entry.Bytes), 10, ' ') + " " + Format.PadLeft(Format.Decimal(entry.Objects), 8, ' ') +
                                  "  " + Symbols.TypeName(entry.Type));
            }
            if (other.Objects > 0)
                KernelShell.Print(Format.PadLeft(Format.Decimal(other.Bytes), 10, ' ') + " " + Format.PadLeft(Format.Decimal(other.Objects), 8, ' ') + "  (other types)");
        }
    }
}
