using System.Runtime.InteropServices;
using Internal.Runtime;
using Internal.Runtime.CompilerHelpers;
using Kernel.Hal;
using Platform;

namespace Kernel.Memory
{
    /// <summary>
    /// The object heap with a non-moving, mark-sweep garbage collector.
    ///
    /// Layout: the heap is a set of segments (the 8 MiB early arena inside the kernel image, then
    /// 4 MiB chunks of physical memory). A segment starts with a header describing each of its
    /// 4 KiB pages. A page holds objects of one size class (16 .. 2048 bytes) with a free list
    /// and allocated/marked bitmaps; bigger objects take runs of whole pages.
    ///
    /// Collection: roots are the static base objects (every static reference field) and, scanned
    /// conservatively, every thread's stack from its saved context (which holds its registers) to
    /// its top. Reachable objects are marked through an explicit mark stack; an object's fields are
    /// scanned only if its type has reference fields (the MethodTable says so). Unmarked objects
    /// are swept into the free lists. Objects never move, so raw pointers into them stay valid.
    /// A collection runs inside an allocation, with interrupts disabled (one CPU: the world is
    /// stopped), when the bytes allocated since the last one pass a threshold or memory runs out.
    /// </summary>
    internal static unsafe class KernelHeap
    {
        public const ulong PageSize = 4096;
        const ulong SegmentSize = 4 * 1024 * 1024;
        const int MaxSegments = 512;
        const ulong EarlyArenaSize = 8 * 1024 * 1024;
        const ulong CollectionThreshold = 16 * 1024 * 1024;
        const int MarkStackEntries = 128 * 1024;
        const uint ObjectHeaderSize = 8; // the word before the MethodTable pointer

        // Size classes: 16..128 in steps of 16, then four steps per doubling up to 2048 (24 classes). Index 0 is
        // unused. (A function, not a static array: the allocator runs before statics exist.)
        const int ClassCount = 25;
        static ushort ClassSize(int sizeClass)
        {
            if (sizeClass <= 8) return (ushort)(sizeClass * 16);
            int step = sizeClass - 8;                 // 1..14
            int doubling = 128 << ((step - 1) / 4);   // 128, 256, 512, 1024
            return (ushort)(doubling + doubling / 4 * ((step - 1) % 4 + 1));
        }
        const uint LargestSmall = 2048;
        const int SlotBitmapWords = 4; // 256 slots of 16 bytes per page

        enum PageKind : byte { Free, Small, LargeStart, LargeTail }

        [StructLayout(LayoutKind.Sequential)]
        struct PageInfo
        {
            public PageKind Kind;
            public byte SizeClass;
            public ushort SlotSize;
            public ushort SlotCount;
            public ushort FreeCount;
            public uint RunPages;        // LargeStart: pages in the run; LargeTail: distance back to the start page
            public uint Padding;
            public ulong FreeList;       // Small: first free slot (a free slot's first word links to the next); LargeStart: object bytes
            public PageInfo* NextPartial; // Small: next page of the same class with free slots
            public fixed ulong Allocated[SlotBitmapWords];
            public fixed ulong Marked[SlotBitmapWords];
        }

        [StructLayout(LayoutKind.Sequential)]
        struct Segment
        {
            public ulong Base;       // address of page 0 (this header)
            public ulong PageCount;
            public ulong FirstPage;  // first page usable for objects
            public ulong Reserved;
            // followed by PageInfo[PageCount]
            public PageInfo* Pages
            {
                get { fixed (Segment* self = &this) return (PageInfo*)(self + 1); }
            }
        }

        struct Stack { public ulong Low, High; }

        static Segment** s_segments;
        static int s_segmentCount;
        static PageInfo** s_partial;      // per size class
        static byte* s_classForUnits;     // (size / 16) -> class
        static nint* s_markStack;
        static int s_markTop;
        static bool s_markOverflow;
        static bool s_collecting;
        static bool s_collectorReady;

        static ulong s_liveBytes, s_liveObjects, s_sinceCollection;
        static ulong s_collections, s_lastFreedBytes, s_lastPauseUs;

        /// <summary>Zeroed, page-aligned, identity-mapped memory for the heap; 0 when none is left.</summary>
        public static delegate*<ulong, ulong> PageSource;

        public static ulong AllocatedBytes => s_liveBytes;
        public static ulong AllocationCount => s_liveObjects;
        public static ulong Collections => s_collections;
        public static ulong LastFreedBytes => s_lastFreedBytes;
        public static ulong LastPauseMicroseconds => s_lastPauseUs;
        public static ulong ReservedBytes
        {
            get
            {
                ulong total = 0;
                for (int i = 0; i < s_segmentCount; i++) total += s_segments[i]->PageCount * PageSize;
                return total;
            }
        }

        const ulong UnmanagedReserve = 256 * 1024;
        static byte* s_unmanagedCurrent, s_unmanagedEnd;

        /// <summary>Sets up the heap in the early arena; the collector is enabled by <see cref="EnableCollector"/>.</summary>
        public static void Initialize(byte* earlyArena, ulong size)
        {
            // Bookkeeping and early runtime tables live in the first pages of the arena, outside every segment.
            byte* cursor = earlyArena;
            s_unmanagedCurrent = cursor; cursor += UnmanagedReserve; s_unmanagedEnd = cursor;
            s_segments = (Segment**)cursor; cursor += MaxSegments * sizeof(Segment*);
            s_partial = (PageInfo**)cursor; cursor += ClassCount * sizeof(PageInfo*);
            s_classForUnits = cursor; cursor += LargestSmall / 16 + 1;
            ulong used = ((ulong)(cursor - earlyArena) + PageSize - 1) & ~(PageSize - 1);
            for (uint units = 1; units <= LargestSmall / 16; units++)
            {
                int c = 1;
                while (ClassSize(c) < units * 16) c++;
                s_classForUnits[units] = (byte)c;
            }
            AddSegment((ulong)earlyArena + used, size - used);
            RuntimeHooks.Allocate = &Allocate;
            RuntimeHooks.AllocateUnmanaged = &AllocateUnmanaged;
        }

        /// <summary>Memory for runtime tables that are never freed and not objects (e.g. the dispatch cache).</summary>
        static byte* AllocateUnmanaged(nuint requested)
        {
            ulong size = ((ulong)requested + 15) & ~15UL;
            ulong flags = InterruptGuard.Enter();
            byte* result = null;
            if ((ulong)(s_unmanagedEnd - s_unmanagedCurrent) >= size)
            {
                result = s_unmanagedCurrent;
                s_unmanagedCurrent += size;
            }
            else if (PageSource != null)
            {
                result = (byte*)PageSource((size + PageSize - 1) & ~(PageSize - 1));
            }
            InterruptGuard.Exit(flags);
            return result;
        }

        /// <summary>Enables collection once threads and the page source exist.</summary>
        public static void EnableCollector(nint* markStack)
        {
            s_markStack = markStack;
            s_collectorReady = true;
        }

        public const ulong MarkStackBytes = MarkStackEntries * 8;

        static bool AddSegment(ulong baseAddress, ulong size)
        {
            if (s_segmentCount == MaxSegments) return false;
            var segment = (Segment*)baseAddress;
            ulong pages = size / PageSize;
            ulong headerBytes = (ulong)sizeof(Segment) + pages * (ulong)sizeof(PageInfo);
            segment->Base = baseAddress;
            segment->PageCount = pages;
            segment->FirstPage = (headerBytes + PageSize - 1) / PageSize;
            // Keep the table sorted by address for lookups.
            int i = s_segmentCount;
            while (i > 0 && s_segments[i - 1]->Base > baseAddress)
            {
                s_segments[i] = s_segments[i - 1];
                i--;
            }
            s_segments[i] = segment;
            s_segmentCount++;
            return true;
        }

        static bool Grow(ulong bytesNeeded)
        {
            if (PageSource == null) return false;
            ulong size = SegmentSize;
            while (size < bytesNeeded + 64 * 1024) size *= 2;
            ulong memory = PageSource(size);
            return memory != 0 && AddSegment(memory, size);
        }

        // ------------------------------------------------------------------ allocation

        static byte* Allocate(nuint requested)
        {
            ulong size = ((ulong)requested + 15) & ~15UL;
            ulong flags = InterruptGuard.Enter();
            if (s_collectorReady && !s_collecting && s_sinceCollection >= CollectionThreshold)
                CollectNow();
            byte* result = TryAllocate(size);
            if (result == null && s_collectorReady && !s_collecting)
            {
                CollectNow();
                result = TryAllocate(size);
            }
            if (result == null && Grow(size))
                result = TryAllocate(size);
            if (result != null)
            {
                // Count what the object really occupies (its slot), as the sweep does.
                ulong occupied = size <= LargestSmall ? ClassSize(s_classForUnits[size / 16]) : size;
                s_liveBytes += occupied;
                s_liveObjects++;
                s_sinceCollection += occupied;
            }
            InterruptGuard.Exit(flags);
            return result;
        }

        static byte* TryAllocate(ulong size)
        {
            byte* memory = size <= LargestSmall ? AllocateSmall(s_classForUnits[size / 16]) : AllocateLarge(size);
            if (memory != null)
                System.Buffer.ZeroMemory(memory, (nuint)size);
            return memory;
        }

        static byte* AllocateSmall(int sizeClass)
        {
            PageInfo* page = s_partial[sizeClass];
            if (page == null)
            {
                page = NewSmallPage(sizeClass);
                if (page == null) return null;
            }
            ulong slot = page->FreeList;
            page->FreeList = *(ulong*)slot;
            page->FreeCount--;
            int index = (int)((slot & (PageSize - 1)) / page->SlotSize);
            page->Allocated[index >> 6] |= 1UL << (index & 63);
            if (page->FreeCount == 0)
                s_partial[sizeClass] = page->NextPartial;
            return (byte*)slot;
        }

        static PageInfo* NewSmallPage(int sizeClass)
        {
            for (int s = 0; s < s_segmentCount; s++)
            {
                Segment* segment = s_segments[s];
                PageInfo* pages = segment->Pages;
                for (ulong p = segment->FirstPage; p < segment->PageCount; p++)
                {
                    if (pages[p].Kind != PageKind.Free) continue;
                    PageInfo* page = &pages[p];
                    ulong pageBase = segment->Base + p * PageSize;
                    ushort slotSize = ClassSize(sizeClass);
                    page->Kind = PageKind.Small;
                    page->SizeClass = (byte)sizeClass;
                    page->SlotSize = slotSize;
                    page->SlotCount = (ushort)(PageSize / slotSize);
                    page->FreeCount = page->SlotCount;
                    for (int w = 0; w < SlotBitmapWords; w++) { page->Allocated[w] = 0; page->Marked[w] = 0; }
                    page->FreeList = 0;
                    for (int i = page->SlotCount - 1; i >= 0; i--)
                    {
                        ulong slot = pageBase + (ulong)i * slotSize;
                        *(ulong*)slot = page->FreeList;
                        page->FreeList = slot;
                    }
                    page->NextPartial = s_partial[sizeClass];
                    s_partial[sizeClass] = page;
                    return page;
                }
            }
            return null;
        }

        static byte* AllocateLarge(ulong size)
        {
            ulong needed = (size + PageSize - 1) / PageSize;
            for (int s = 0; s < s_segmentCount; s++)
            {
                Segment* segment = s_segments[s];
                PageInfo* pages = segment->Pages;
                ulong run = 0;
                for (ulong p = segment->FirstPage; p < segment->PageCount; p++)
                {
                    run = pages[p].Kind == PageKind.Free ? run + 1 : 0;
                    if (run < needed) continue;
                    ulong first = p + 1 - needed;
                    pages[first].Kind = PageKind.LargeStart;
                    pages[first].RunPages = (uint)needed;
                    pages[first].FreeList = size;
                    pages[first].Marked[0] = 0;
                    for (ulong t = first + 1; t <= p; t++)
                    {
                        pages[t].Kind = PageKind.LargeTail;
                        pages[t].RunPages = (uint)(t - first);
                    }
                    return (byte*)(segment->Base + first * PageSize);
                }
            }
            return null;
        }

        // ------------------------------------------------------------------ lookup

        /// <summary>If <paramref name="address"/> points into a live object, returns that object's start (its header), else 0.</summary>
        static ulong FindObject(ulong address, out PageInfo* page, out int slot)
        {
            page = null;
            slot = 0;
            int lo = 0, hi = s_segmentCount - 1;
            Segment* segment = null;
            while (lo <= hi)
            {
                int mid = (lo + hi) >> 1;
                Segment* m = s_segments[mid];
                if (address < m->Base) hi = mid - 1;
                else if (address >= m->Base + m->PageCount * PageSize) lo = mid + 1;
                else { segment = m; break; }
            }
            if (segment == null) return 0;
            ulong pageIndex = (address - segment->Base) / PageSize;
            if (pageIndex < segment->FirstPage) return 0;
            PageInfo* info = segment->Pages + pageIndex;
            if (info->Kind == PageKind.Small)
            {
                ulong offset = address & (PageSize - 1);
                int index = (int)(offset / info->SlotSize);
                if (index >= info->SlotCount || (info->Allocated[index >> 6] & (1UL << (index & 63))) == 0) return 0;
                page = info;
                slot = index;
                return (address & ~(PageSize - 1)) + (ulong)index * info->SlotSize;
            }
            if (info->Kind == PageKind.LargeTail)
            {
                pageIndex -= info->RunPages;
                info = segment->Pages + pageIndex;
            }
            if (info->Kind != PageKind.LargeStart) return 0;
            page = info;
            return segment->Base + pageIndex * PageSize;
        }

        // ------------------------------------------------------------------ census

        /// <summary>Live objects of one type: what `mem types` prints (like Linux's slabtop).</summary>
        [StructLayout(LayoutKind.Sequential)]
        public struct TypeCount
        {
            /// <summary>The type's MethodTable address (its `_ZTV...` symbol names it).</summary>
            public ulong Type;
            public ulong Objects;
            /// <summary>Heap bytes the objects occupy (their slots, as <see cref="AllocatedBytes"/> counts them).</summary>
            public ulong Bytes;
        }

        /// <summary>
        /// Counts the live objects per type into <paramref name="table"/> (zeroed by the caller; one entry per
        /// type, in no order) and returns the number of types entered. Types that find no room are summed
        /// into the table's last entry (<see cref="TypeCount.Type"/> 0). The heap's own counters, read in the same
        /// moment, come back for comparison: the walk and the allocator's bookkeeping must agree. Interrupts are off for the walk, so the heap holds
        /// still; nothing is allocated. Run a collection first for the live set only.
        /// </summary>
        public static int Census(TypeCount* table, int capacity, out ulong liveBytes, out ulong liveObjects)
        {
            liveBytes = liveObjects = 0;
            if (capacity < 2) return 0;
            ulong flags = InterruptGuard.Enter();
            s_census = table;
            s_censusCapacity = capacity;
            s_censusUsed = 0;
            Walk(&Count);
            liveBytes = s_liveBytes;
            liveObjects = s_liveObjects;
            InterruptGuard.Exit(flags);
            return s_censusUsed;
        }

        // A walk's state: the walks run with interrupts off on the one CPU, so statics carry it (nothing is allocated).
        static TypeCount* s_census;
        static int s_censusCapacity, s_censusUsed;

        /// <summary>Adds one object to its type's entry; the last entry (Type 0) takes types that find no room.</summary>
        static void Count(ulong start, ulong bytes)
        {
            ulong type = *(ulong*)(start + ObjectHeaderSize);
            int i = 0;
            while (i < s_censusUsed && s_census[i].Type != type) i++;
            if (i == s_censusUsed)
            {
                if (s_censusUsed < s_censusCapacity - 1) { s_census[i].Type = type; s_censusUsed++; }
                else i = s_censusCapacity - 1;
            }
            s_census[i].Objects++;
            s_census[i].Bytes += bytes;
        }

        /// <summary>Calls <paramref name="visit"/>(start, slot bytes) for every allocated object. Interrupts must be off.</summary>
        static void Walk(delegate*<ulong, ulong, void> visit)
        {
            for (int s = 0; s < s_segmentCount; s++)
            {
                Segment* segment = s_segments[s];
                for (ulong p = segment->FirstPage; p < segment->PageCount; p++)
                {
                    PageInfo* page = segment->Pages + p;
                    ulong pageBase = segment->Base + p * PageSize;
                    if (page->Kind == PageKind.LargeStart)
                        visit(pageBase, page->FreeList);
                    else if (page->Kind == PageKind.Small)
                        for (int i = 0; i < page->SlotCount; i++)
                            if ((page->Allocated[i >> 6] & (1UL << (i & 63))) != 0)
                                visit(pageBase + (ulong)i * page->SlotSize, page->SlotSize);
                }
            }
        }

        // ------------------------------------------------------------------ who holds an object (`mem find`, `mem refs`)

        /// <summary>
        /// The live object that <paramref name="address"/> points into: its reference (the address of its
        /// MethodTable pointer, what a C# reference holds), type and heap bytes; 0 when it points into none.
        /// </summary>
        public static ulong ObjectAt(ulong address, out ulong type, out ulong bytes)
        {
            type = bytes = 0;
            ulong flags = InterruptGuard.Enter();
            ulong start = FindObject(address, out PageInfo* page, out int _);
            if (start != 0)
            {
                type = *(ulong*)(start + ObjectHeaderSize);
                bytes = page->Kind == PageKind.LargeStart ? page->FreeList : page->SlotSize;
            }
            InterruptGuard.Exit(flags);
            return start == 0 ? 0 : start + ObjectHeaderSize;
        }

        static ulong s_queryType, s_queryTarget;
        static ulong* s_found;
        static int s_foundCapacity, s_foundCount;

        /// <summary>
        /// References of the live objects of type <paramref name="type"/> (a MethodTable address), the first
        /// <paramref name="capacity"/> of them into <paramref name="found"/>; returns how many there are in all.
        /// </summary>
        public static int FindObjectsOfType(ulong type, ulong* found, int capacity)
        {
            ulong flags = InterruptGuard.Enter();
            s_queryType = type;
            s_found = found;
            s_foundCapacity = capacity;
            s_foundCount = 0;
            Walk(&MatchType);
            int count = s_foundCount;
            InterruptGuard.Exit(flags);
            return count;
        }

        static void MatchType(ulong start, ulong bytes)
        {
            if (*(ulong*)(start + ObjectHeaderSize) != s_queryType) return;
            if (s_foundCount < s_foundCapacity) s_found[s_foundCount] = start + ObjectHeaderSize;
            s_foundCount++;
        }

        /// <summary>
        /// The heap words that keep the object at <paramref name="target"/> (any address inside it) alive, as
        /// the collector sees them: every word of an object with reference fields that points into the
        /// target (static fields live in such objects too, the static bases). Their addresses go into
        /// <paramref name="slots"/> (up to <paramref name="capacity"/>); returns how many there are in all.
        /// Stacks are the other roots; the caller scans those (<see cref="Threading.Scheduler"/>).
        /// </summary>
        public static int FindReferrers(ulong target, ulong* slots, int capacity)
        {
            ulong flags = InterruptGuard.Enter();
            s_queryTarget = FindObject(target, out PageInfo* _, out int _);
            s_found = slots;
            s_foundCapacity = capacity;
            s_foundCount = 0;
            if (s_queryTarget != 0) Walk(&MatchReferrer);
            int count = s_foundCount;
            InterruptGuard.Exit(flags);
            return count;
        }

        static void MatchReferrer(ulong start, ulong bytes)
        {
            if (start == s_queryTarget) return;
            var type = *(MethodTable**)(start + ObjectHeaderSize);
            if (type == null || !type->HasPointers) return;
            ulong end = start + ObjectSize(start, type);
            for (ulong p = start + ObjectHeaderSize + 8; p + 8 <= end; p += 8)
                if (PointsInto(*(ulong*)p, s_queryTarget))
                {
                    if (s_foundCount < s_foundCapacity) s_found[s_foundCount] = p;
                    s_foundCount++;
                }
        }

        /// <summary>Whether <paramref name="value"/> points into the object that starts at <paramref name="objectStart"/>.</summary>
        public static bool PointsInto(ulong value, ulong objectStart) =>
            value >= PageSize && FindObject(value, out PageInfo* _, out int _) == objectStart;

        /// <summary>The start (header) of the object <paramref name="reference"/> refers to.</summary>
        public static ulong StartOf(ulong reference) => reference - ObjectHeaderSize;

        /// <summary>An object's size from its MethodTable: the base size plus its elements for arrays and strings.</summary>
        static ulong ObjectSize(ulong start, MethodTable* type)
        {
            ulong size = type->BaseSize;
            if (type->HasComponentSize)
                size += (ulong)*(uint*)(start + ObjectHeaderSize + 8) * type->ComponentSize;
            return size;
        }

        // ------------------------------------------------------------------ collection

        [DllImport("*", EntryPoint = "GcCollectWithRegisters")]
        static extern void CollectWithRegisters(delegate*<ulong, void> collector);

        /// <summary>Runs a full collection now (interrupts are disabled for its duration).</summary>
        public static void Collect()
        {
            ulong flags = InterruptGuard.Enter();
            if (s_collectorReady && !s_collecting) CollectNow();
            InterruptGuard.Exit(flags);
        }

        static void CollectNow()
        {
            s_collecting = true;
            // Pushes the callee-saved registers so the stack scan sees them, then calls Collector(rsp).
            CollectWithRegisters(&Collector);
            s_collecting = false;
        }

        static void Collector(ulong currentStackPointer)
        {
            ulong start = Time.Clock.Instance.Microseconds;
            ClearMarks();
            s_markTop = 0;
            s_markOverflow = false;
            StartupCodeHelpers.EnumerateStaticBases(&MarkRoot);
            Threading.Scheduler.EnumerateStacks(currentStackPointer, &ScanRange);
            Drain();
            while (s_markOverflow)
            {
                s_markOverflow = false;
                RescanMarked();
                Drain();
            }
            ulong before = s_liveBytes;
            Sweep();
            s_lastFreedBytes = before - s_liveBytes;
            s_sinceCollection = 0;
            s_collections++;
            s_lastPauseUs = Time.Clock.Instance.Microseconds - start;
        }

        static void ClearMarks()
        {
            for (int s = 0; s < s_segmentCount; s++)
            {
                Segment* segment = s_segments[s];
                for (ulong p = segment->FirstPage; p < segment->PageCount; p++)
                {
                    PageInfo* page = segment->Pages + p;
                    for (int w = 0; w < SlotBitmapWords; w++) page->Marked[w] = 0;
                }
            }
        }

        static void MarkRoot(nint objectReference) => MarkCandidate((ulong)objectReference);

        /// <summary>Treats every aligned word in [low, high) as a possible reference.</summary>
        static void ScanRange(ulong low, ulong high)
        {
            for (ulong p = (low + 7) & ~7UL; p + 8 <= high; p += 8)
                MarkCandidate(*(ulong*)p);
        }

        static void MarkCandidate(ulong value)
        {
            if (value < PageSize) return;
            ulong start = FindObject(value, out PageInfo* page, out int slot);
            if (start == 0) return;
            ref ulong word = ref page->Marked[slot >> 6];
            ulong bit = 1UL << (slot & 63);
            if ((word & bit) != 0) return;
            word |= bit;
            if (s_markTop < MarkStackEntries) s_markStack[s_markTop++] = (nint)start;
            else s_markOverflow = true;
        }

        static void Drain()
        {
            while (s_markTop > 0)
                ScanObject((ulong)s_markStack[--s_markTop]);
        }

        /// <summary>Scans the fields of an object (start = its header) if its type has references.</summary>
        static void ScanObject(ulong start)
        {
            var type = *(MethodTable**)(start + ObjectHeaderSize);
            if (type == null || !type->HasPointers) return;
            ScanRange(start + ObjectHeaderSize + 8, start + ObjectSize(start, type));
        }

        static void RescanMarked()
        {
            for (int s = 0; s < s_segmentCount; s++)
            {
                Segment* segment = s_segments[s];
                for (ulong p = segment->FirstPage; p < segment->PageCount; p++)
                {
                    PageInfo* page = segment->Pages + p;
                    ulong pageBase = segment->Base + p * PageSize;
                    if (page->Kind == PageKind.LargeStart && page->Marked[0] != 0)
                        ScanObject(pageBase);
                    else if (page->Kind == PageKind.Small)
                        for (int i = 0; i < page->SlotCount; i++)
                            if ((page->Marked[i >> 6] & (1UL << (i & 63))) != 0)
                                ScanObject(pageBase + (ulong)i * page->SlotSize);
                }
            }
        }

        static void Sweep()
        {
            for (int c = 0; c < ClassCount; c++) s_partial[c] = null;
            for (int s = 0; s < s_segmentCount; s++)
            {
                Segment* segment = s_segments[s];
                PageInfo* pages = segment->Pages;
                for (ulong p = segment->FirstPage; p < segment->PageCount; p++)
                {
                    PageInfo* page = pages + p;
                    ulong pageBase = segment->Base + p * PageSize;
                    if (page->Kind == PageKind.LargeStart)
                    {
                        if (page->Marked[0] != 0) continue;
                        ulong run = page->RunPages;
                        s_liveBytes -= page->FreeList;
                        s_liveObjects--;
                        for (ulong t = 0; t < run; t++) pages[p + t].Kind = PageKind.Free;
                        p += run - 1;
                        continue;
                    }
                    if (page->Kind != PageKind.Small) continue;
                    for (int i = 0; i < page->SlotCount; i++)
                    {
                        ulong bit = 1UL << (i & 63);
                        if ((page->Allocated[i >> 6] & bit) == 0 || (page->Marked[i >> 6] & bit) != 0) continue;
                        page->Allocated[i >> 6] &= ~bit;
                        ulong slot = pageBase + (ulong)i * page->SlotSize;
                        *(ulong*)slot = page->FreeList;
                        page->FreeList = slot;
                        page->FreeCount++;
                        s_liveBytes -= page->SlotSize;
                        s_liveObjects--;
                    }
                    if (page->FreeCount == page->SlotCount)
                    {
                        page->Kind = PageKind.Free; // an empty page can serve any size class again
                        continue;
                    }
                    if (page->FreeCount > 0)
                    {
                        page->NextPartial = s_partial[page->SizeClass];
                        s_partial[page->SizeClass] = page;
                    }
                }
            }
        }
    }
}
