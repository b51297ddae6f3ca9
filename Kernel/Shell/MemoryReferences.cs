using System.Collections.Generic;
using Kernel.Hal;
using Kernel.Memory;
using Kernel.Runtime;
using Kernel.Threading;
using Platform;

namespace Kernel.Shell
{
    /// <summary>
    /// `mem find &lt;type&gt; [N]` and `mem refs &lt;address&gt;`: what keeps an object alive. `mem types` shows
    /// that a type grew; `mem find` lists where its objects are; `mem refs` names every word the collector
    /// would follow to one of them: fields of other objects (statics live in such objects too) and words
    /// on thread stacks. A stack word is the collector's conservative guess, often a stale local of a
    /// function that returned; the thread it is on says who to look at. Run `mem refs` on a holder to
    /// walk the chain back to a root.
    /// </summary>
    internal static unsafe class MemoryReferences
    {
        const int DefaultObjects = 20;
        const int MaxReferrers = 64;

        public static void Find(List<string> args)
        {
            ulong rows = DefaultObjects;
            if (args.Count < 3 || (args.Count > 3 && (!Format.TryParseDecimal(args[3], out rows) || rows == 0)))
            {
                KernelShell.Print("usage: mem find <type> [N]   (a type name as `mem types` prints it, or its last part)");
                return;
            }
            KernelHeap.Collect();
            if (!FindType(args[2], out ulong type))
                return;
            var found = new ulong[(int)rows]; // allocated before the walk, which allocates nothing
            int count;
            fixed (ulong* slots = found)
                count = KernelHeap.FindObjectsOfType(type, slots, found.Length);
            KernelShell.Print(Format.Decimal((ulong)count) + " live objects of " + Symbols.TypeName(type) + (count > found.Length ? ", the first " + Format.Decimal(rows) + ":" : ":"));
            for (int i = 0; i < count && i < found.Length; i++)
            {
                KernelHeap.ObjectAt(found[i], out ulong _, out ulong bytes);
                KernelShell.Print("  0x" + Format.Hex(found[i], 16) + "  " + Format.Decimal(bytes) + " bytes");
            }
        }

        /// <summary>The live type whose name is <paramref name="name"/> or ends in "_" + name (ILC's names join namespaces with '_'); one only.</summary>
        static bool FindType(string name, out ulong type)
        {
            type = 0;
            KernelHeap.TypeCount[] table = MemoryTypes.Census(out int types, out ulong _, out ulong _);
            int matches = 0;
            string candidates = "";
            for (int i = 0; i < types; i++)
            {
                string typeName = Symbols.TypeName(table[i].Type);
                bool exact = typeName == name;
                if (!exact && !(typeName.Length > name.Length && typeName.EndsWith(name) && typeName[typeName.Length - name.Length - 1] == '_'))
                    continue;
                if (exact)
                {
                    type = table[i].Type;
                    return true;
                }
                type = table[i].Type;
                matches++;
                candidates += " " + typeName;
            }
            if (matches == 1)
                return true;
            KernelShell.Print(matches == 0 ? "mem find: no live object of a type named " + name : "mem find: " + name + " could be:" + candidates);
            type = 0;
            return false;
        }

        public static void Refs(List<string> args)
        {
            if (args.Count < 3 || !Format.TryParseHex(args[2], out ulong address))
            {
                KernelShell.Print("usage: mem refs <address>   (hex, as `mem find` prints it)");
                return;
            }
            KernelHeap.Collect();
            ulong target = KernelHeap.ObjectAt(address, out ulong type, out ulong bytes);
            if (target == 0)
            {
                KernelShell.Print("mem refs: 0x" + Format.Hex(address) + " is in no live object");
                return;
            }
            KernelShell.Print("object 0x" + Format.Hex(target, 16) + " " + Symbols.TypeName(type) + ", " + Format.Decimal(bytes) + " bytes; referenced from:");

            var heapSlots = new ulong[MaxReferrers];
            int heapCount;
            fixed (ulong* slots = heapSlots)
                heapCount = KernelHeap.FindReferrers(target, slots, heapSlots.Length);
            for (int i = 0; i < heapCount && i < heapSlots.Length; i++)
            {
                ulong holder = KernelHeap.ObjectAt(heapSlots[i], out ulong holderType, out ulong _);
                KernelShell.Print("  field +0x" + Format.Hex(heapSlots[i] - holder) + " of 0x" + Format.Hex(holder, 16) + " " + Symbols.TypeName(holderType));
            }

            List<KernelThread> threads = Scheduler.Snapshot();
            var stackSlots = new ulong[MaxReferrers];
            var stackThreads = new int[MaxReferrers];
            int stackCount = FindStackWords(threads, KernelHeap.StartOf(target), stackSlots, stackThreads);
            for (int i = 0; i < stackCount && i < stackSlots.Length; i++)
            {
                KernelThread t = threads[stackThreads[i]];
                KernelShell.Print("  stack of thread " + Format.Decimal((ulong)t.Id) + " " + t.Name + (t == Scheduler.Current ? " (this command's own frames)" : "") +
                                  ": word at 0x" + Format.Hex(stackSlots[i]) + ", " + Format.Decimal(t.StackBase + t.StackSize - stackSlots[i]) + " bytes below its top");
            }
            KernelShell.Print(Format.Decimal((ulong)heapCount) + " object fields, " + Format.Decimal((ulong)stackCount) +
                              " stack words (conservative: every word that points into the object counts)");
        }

        /// <summary>
        /// The words of each live thread's stack in use (as the collector scans them: from the saved context,
        /// or for this thread from here, to the top) that point into the object starting at <paramref name="objectStart"/>.
        /// </summary>
        static int FindStackWords(List<KernelThread> threads, ulong objectStart, ulong[] slots, int[] owners)
        {
            ulong here = 0;
            ulong current = (ulong)&here;
            int count = 0;
            ulong flags = InterruptGuard.Enter();
            for (int i = 0; i < threads.Count; i++)
            {
                if (!Scheduler.StackInUse(threads[i], current, out ulong low, out ulong top)) continue;
                for (ulong p = (low + 7) & ~7UL; p + 8 <= top; p += 8)
                    if (KernelHeap.PointsInto(*(ulong*)p, objectStart))
                    {
                        if (count < slots.Length) { slots[count] = p; owners[count] = i; }
                        count++;
                    }
            }
            InterruptGuard.Exit(flags);
            return count;
        }
    }
}
