using Kernel.Hal;

namespace Kernel.Memory
{
    /// <summary>
    /// The kernel's page tables: an identity map (virtual = physical) built by Boot/boot.asm for
    /// the first 4 GiB with page 0 unmapped, extended here for RAM above 4 GiB and for device
    /// BARs anywhere in the 48-bit space, which are mapped uncached (PCD|PWT).
    /// Intel SDM Vol. 3A, 4.5 (4-level paging) and 11.12.3 (page-level cache control).
    /// </summary>
    internal static unsafe class Paging
    {
        const ulong Present = 1UL << 0;
        const ulong Writable = 1UL << 1;
        const ulong WriteThrough = 1UL << 3;   // PWT
        const ulong CacheDisable = 1UL << 4;   // PCD
        const ulong LargePage = 1UL << 7;      // PS in a PD entry: 2 MiB page
        const ulong AddressMask = 0x000FFFFFFFFFF000UL;
        const ulong LargePageSize = 2UL * 1024 * 1024;
        const ulong SmallPageSize = 4096;
        const int EntriesPerTable = 512;

        static ulong* Root => (ulong*)(Native.ReadCr3() & AddressMask);

        /// <summary>Identity-maps [address, address+size); returns false if a table could not be allocated.</summary>
        public static bool MapIdentity(ulong address, ulong size, bool uncached)
        {
            ulong cacheBits = uncached ? CacheDisable | WriteThrough : 0;
            ulong start = address & ~(LargePageSize - 1);
            ulong end = (address + size + LargePageSize - 1) & ~(LargePageSize - 1);
            ulong flags = InterruptGuard.Enter();
            bool ok = true;
            for (ulong page = start; page < end; page += LargePageSize)
            {
                ulong* pd = Table(Table(Root, (int)(page >> 39) & 511), (int)(page >> 30) & 511);
                if (pd == null) { ok = false; break; }
                ulong* entry = pd + ((page >> 21) & 511);
                if ((*entry & Present) != 0 && (*entry & LargePage) == 0)
                {
                    // Split into 4 KiB pages already (the first 2 MiB): update each present entry.
                    ulong* pt = (ulong*)(*entry & AddressMask);
                    for (int i = 0; i < EntriesPerTable; i++)
                    {
                        ulong small = page + (ulong)i * SmallPageSize;
                        if ((pt[i] & Present) != 0 && small + SmallPageSize > address && small < address + size)
                            pt[i] = (pt[i] & ~(CacheDisable | WriteThrough)) | cacheBits;
                        Native.Invlpg(small);
                    }
                    continue;
                }
                *entry = page | Present | Writable | LargePage | cacheBits;
                Native.Invlpg(page);
            }
            InterruptGuard.Exit(flags);
            return ok;
        }

        /// <summary>Returns the next-level table of entry <paramref name="index"/>, allocating it if absent.</summary>
        static ulong* Table(ulong* table, int index)
        {
            if (table == null)
                return null;
            ulong entry = table[index];
            if ((entry & Present) != 0)
                return (ulong*)(entry & AddressMask);
            ulong page = PhysicalMemory.AllocatePages(SmallPageSize);
            if (page == 0)
                return null;
            table[index] = page | Present | Writable;
            return (ulong*)page;
        }

        /// <summary>
        /// Unmaps one 4 KiB page (a stack guard page), splitting its 2 MiB page into 4 KiB pages
        /// first if needed. Returns false if a page table could not be allocated.
        /// </summary>
        public static bool UnmapPage(ulong address)
        {
            address &= ~(SmallPageSize - 1);
            ulong flags = InterruptGuard.Enter();
            bool ok = false;
            ulong* pd = Table(Table(Root, (int)(address >> 39) & 511), (int)(address >> 30) & 511);
            if (pd != null)
            {
                ulong* entry = pd + ((address >> 21) & 511);
                if ((*entry & Present) != 0 && (*entry & LargePage) != 0)
                {
                    ulong pt = PhysicalMemory.AllocatePages(SmallPageSize);
                    if (pt != 0)
                    {
                        ulong largeBase = *entry & AddressMask & ~(LargePageSize - 1);
                        ulong attributes = *entry & (Writable | WriteThrough | CacheDisable);
                        for (int i = 0; i < EntriesPerTable; i++)
                            ((ulong*)pt)[i] = (largeBase + (ulong)i * SmallPageSize) | Present | attributes;
                        *entry = pt | Present | Writable;
                    }
                }
                if ((*entry & Present) != 0 && (*entry & LargePage) == 0)
                {
                    ((ulong*)(*entry & AddressMask))[(address >> 12) & 511] = 0;
                    ok = true;
                }
                Native.Invlpg(address);
            }
            InterruptGuard.Exit(flags);
            return ok;
        }

        /// <summary>Maps a page <see cref="UnmapPage"/> removed again (identity, writable).</summary>
        public static void RemapPage(ulong address)
        {
            address &= ~(SmallPageSize - 1);
            ulong flags = InterruptGuard.Enter();
            ulong* pd = Table(Table(Root, (int)(address >> 39) & 511), (int)(address >> 30) & 511);
            ulong* entry = pd == null ? null : pd + ((address >> 21) & 511);
            if (entry != null && (*entry & Present) != 0 && (*entry & LargePage) == 0)
                ((ulong*)(*entry & AddressMask))[(address >> 12) & 511] = address | Present | Writable;
            Native.Invlpg(address);
            InterruptGuard.Exit(flags);
        }

        /// <summary>True if the address is mapped (used by the crash report before dereferencing).</summary>
        public static bool IsMapped(ulong address)
        {
            ulong* pml4 = Root;
            ulong e = pml4[(address >> 39) & 511];
            if ((e & Present) == 0) return false;
            e = ((ulong*)(e & AddressMask))[(address >> 30) & 511];
            if ((e & Present) == 0) return false;
            if ((e & LargePage) != 0) return true;
            e = ((ulong*)(e & AddressMask))[(address >> 21) & 511];
            if ((e & Present) == 0) return false;
            if ((e & LargePage) != 0) return true;
            e = ((ulong*)(e & AddressMask))[(address >> 12) & 511];
            return (e & Present) != 0;
        }
    }
}
