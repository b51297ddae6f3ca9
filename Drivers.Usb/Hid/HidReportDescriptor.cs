using System;
using System.Collections.Generic;

namespace Drivers.Usb.Hid
{
    /// <summary>Why a report descriptor was rejected. The parser never reads outside its input.</summary>
    public enum HidParseError
    {
        None = 0,
        /// <summary>An item's data runs past the end of the descriptor.</summary>
        Truncated,
        /// <summary>End Collection without an open collection.</summary>
        UnbalancedEndCollection,
        /// <summary>The descriptor ends inside a collection.</summary>
        UnclosedCollection,
        /// <summary>Collections nested deeper than <see cref="HidReportDescriptor.MaxCollectionDepth"/>.</summary>
        CollectionTooDeep,
        /// <summary>Push beyond <see cref="HidReportDescriptor.MaxGlobalStack"/>.</summary>
        PushOverflow,
        /// <summary>Pop without Push.</summary>
        PopUnderflow,
        /// <summary>Report ID 0 (reserved, HID 1.11 6.2.2.7) or above 255.</summary>
        BadReportId,
        /// <summary>Report Size above <see cref="HidReportDescriptor.MaxReportSize"/> bits.</summary>
        BadReportSize,
        /// <summary>Report Count above <see cref="HidReportDescriptor.MaxReportCount"/>.</summary>
        BadReportCount,
        /// <summary>A report grows beyond <see cref="HidReportDescriptor.MaxReportBytes"/>.</summary>
        ReportTooLong,
        /// <summary>More fields, collections or usages than the parser keeps.</summary>
        TooMany,
        /// <summary>Usage Maximum below its Usage Minimum; unbalanced or nested Delimiter.</summary>
        BadUsage,
        /// <summary>Empty descriptor.</summary>
        Empty,
    }

    /// <summary>A parse failure and the byte offset of the item that caused it.</summary>
    public struct HidParseResult
    {
        public HidParseError Error;
        public int Offset;

        public HidParseResult(HidParseError error, int offset)
        {
            Error = error;
            Offset = offset;
        }

        public bool IsOk => Error == HidParseError.None;

        public string Describe()
        {
            if (Error == HidParseError.None)
                return "ok";
            return Name(Error) + " at offset " + Platform.Format.Decimal((long)Offset);
        }

        public static string Name(HidParseError error)
        {
            switch (error)
            {
                case HidParseError.None: return "ok";
                case HidParseError.Truncated: return "item truncated";
                case HidParseError.UnbalancedEndCollection: return "End Collection without Collection";
                case HidParseError.UnclosedCollection: return "collection not closed";
                case HidParseError.CollectionTooDeep: return "collections nested too deep";
                case HidParseError.PushOverflow: return "Push overflows the global stack";
                case HidParseError.PopUnderflow: return "Pop without Push";
                case HidParseError.BadReportId: return "invalid Report ID";
                case HidParseError.BadReportSize: return "invalid Report Size";
                case HidParseError.BadReportCount: return "invalid Report Count";
                case HidParseError.ReportTooLong: return "report too long";
                case HidParseError.TooMany: return "too many items";
                case HidParseError.BadUsage: return "invalid usage range or delimiter";
                case HidParseError.Empty: return "empty descriptor";
                default: return "unknown HID parse error";
            }
        }
    }

    /// <summary>A run of consecutive extended usages (page &lt;&lt; 16 | id): one Usage item or a Usage Minimum/Maximum pair.</summary>
    public struct HidUsageRange
    {
        public uint Minimum;
        public uint Maximum;
        public int Count => (int)(Maximum - Minimum) + 1;
    }

    /// <summary>A collection (HID 1.11 6.2.2.6): type, usage, parent (-1 at top level).</summary>
    public sealed class HidCollection
    {
        public byte Type;
        public uint Usage;
        public int Parent = -1;
        public int Depth;
    }

    /// <summary>
    /// One Input/Output/Feature main item: Report Count elements of Report Size bits each, at
    /// <see cref="BitOffset"/> in the report's data (after the report ID byte, if reports are numbered),
    /// with the global and local state in force at the item (HID 1.11 6.2.2.4-6.2.2.8).
    /// </summary>
    public sealed class HidField
    {
        public HidReportKind Kind;
        /// <summary>Report ID (0 when the descriptor uses none).</summary>
        public byte ReportId;
        public int BitOffset;
        public int BitSize;
        public int Count;
        /// <summary>Main item data bits (<see cref="HidMainFlags"/>).</summary>
        public uint Flags;
        public ushort UsagePage;
        public HidUsageRange[] Usages = new HidUsageRange[0];
        public long LogicalMinimum;
        public long LogicalMaximum;
        public long PhysicalMinimum;
        public long PhysicalMaximum;
        public int UnitExponent;
        public uint Unit;
        /// <summary>Innermost enclosing collection, or -1.</summary>
        public int Collection = -1;
        /// <summary>Enclosing application collection, or -1.</summary>
        public int Application = -1;

        public bool IsConstant => (Flags & HidMainFlags.Constant) != 0;
        public bool IsVariable => (Flags & HidMainFlags.Variable) != 0;
        public bool IsArray => (Flags & HidMainFlags.Variable) == 0;
        public bool IsRelative => (Flags & HidMainFlags.Relative) != 0;
        public bool IsSigned => LogicalMinimum < 0;

        // Usage index (built by the parser, or on first use at probe time): the flattened
        // position of each range's first usage, so a lookup is a binary search over the ranges
        // (at most LookupSteps probes) instead of a walk over up to MaxUsagesPerItem of them.
        HidUsageRange[] _indexed;
        int[] _starts;
        int _usageCount;
        int _lookupSteps;

        /// <summary>Builds the usage index for the current <see cref="Usages"/> (thread context: allocates).</summary>
        public void BuildUsageIndex()
        {
            HidUsageRange[] usages = Usages;
            var starts = new int[usages.Length];
            int total = 0;
            for (int i = 0; i < usages.Length; i++)
            {
                starts[i] = total;
                total += usages[i].Count;
            }
            _starts = starts;
            _usageCount = total;
            _lookupSteps = StepsFor(usages.Length);
            _indexed = usages;
        }

        static int StepsFor(int ranges)
        {
            int steps = 0;
            for (int n = ranges; n > 0; n >>= 1)
                steps++;
            return steps;
        }

        bool Indexed => _indexed == Usages && _starts != null;

        /// <summary>Probes one usage lookup takes at most: a binary search over the ranges (0 without usages).</summary>
        public int LookupSteps => Indexed ? _lookupSteps : StepsFor(Usages.Length);

        /// <summary>Number of usages the field declares.</summary>
        public int UsageCount
        {
            get
            {
                if (Indexed)
                    return _usageCount;
                int total = 0;
                for (int i = 0; i < Usages.Length; i++)
                    total += Usages[i].Count;
                return total;
            }
        }

        /// <summary>The index-th declared usage; 0 when there is none.</summary>
        public uint UsageAt(int index)
        {
            if (index < 0)
                return 0;
            if (Indexed)
            {
                if (index >= _usageCount)
                    return 0;
                // Last range whose first flattened index is <= index.
                int low = 0, high = _starts.Length - 1;
                while (low < high)
                {
                    int mid = (low + high + 1) >> 1;
                    if (_starts[mid] <= index)
                        low = mid;
                    else
                        high = mid - 1;
                }
                return Usages[low].Minimum + (uint)(index - _starts[low]);
            }
            for (int i = 0; i < Usages.Length; i++)
            {
                int count = Usages[i].Count;
                if (index < count)
                    return Usages[i].Minimum + (uint)index;
                index -= count;
            }
            return 0;
        }

        /// <summary>
        /// Usage of a variable field's element: the element-th usage, the last one repeated when the
        /// field has more elements than usages (HID 1.11 6.2.2.8).
        /// </summary>
        public uint VariableUsage(int element)
        {
            if (Usages.Length == 0)
                return 0;
            uint usage = UsageAt(element);
            return usage != 0 || element < UsageCount ? usage : Usages[Usages.Length - 1].Maximum;
        }

        /// <summary>Usage an array field's value selects (value - Logical Minimum indexes the usage list); 0 when none.</summary>
        public uint ArrayUsage(long value)
        {
            long index = value - LogicalMinimum;
            if (index < 0 || index >= UsageCount)
                return 0;
            return UsageAt((int)index);
        }

        public bool HasUsage(uint usage)
        {
            for (int i = 0; i < Usages.Length; i++)
                if (usage >= Usages[i].Minimum && usage <= Usages[i].Maximum)
                    return true;
            return false;
        }

        /// <summary>Element whose usage is <paramref name="usage"/> (variable fields), or -1. One walk over the ranges.</summary>
        public int ElementOf(uint usage)
        {
            if (!IsVariable || Usages.Length == 0)
                return -1;
            int start = 0;
            for (int i = 0; i < Usages.Length && start < Count; i++)
            {
                HidUsageRange r = Usages[i];
                if (usage >= r.Minimum && usage <= r.Maximum)
                {
                    long element = (long)start + (usage - r.Minimum);
                    return element < Count ? (int)element : -1;
                }
                start += r.Count;
            }
            // Elements beyond the usages repeat the last usage (VariableUsage).
            if (start < Count && usage == Usages[Usages.Length - 1].Maximum)
                return start;
            return -1;
        }

        /// <summary>
        /// Reads one element from a report's data (without the report ID byte), sign-extended when
        /// the logical minimum is negative. False when the report is too short or the element is
        /// wider than 32 bits.
        /// </summary>
        public bool Read(ReadOnlySpan<byte> data, int element, out long value)
        {
            value = 0;
            if (element < 0 || element >= Count || BitSize <= 0 || BitSize > 32)
                return false;
            int start = BitOffset + element * BitSize;
            if (!HidBits.Extract(data, start, BitSize, out uint raw))
                return false;
            if (IsSigned && BitSize < 32 && (raw & (1u << (BitSize - 1))) != 0)
                value = (long)raw - (1L << BitSize);
            else if (IsSigned && BitSize == 32)
                value = (int)raw;
            else
                value = raw;
            return true;
        }

        /// <summary>Writes one element into a report buffer (without the report ID byte). False when it does not fit.</summary>
        public bool Write(Span<byte> data, int element, uint value)
        {
            if (element < 0 || element >= Count || BitSize <= 0 || BitSize > 32)
                return false;
            return HidBits.Insert(data, BitOffset + element * BitSize, BitSize, value);
        }
    }

    /// <summary>Little-endian, LSB-first bit fields inside reports (HID 1.11 5.8, 8.4).</summary>
    public static class HidBits
    {
        public static bool Extract(ReadOnlySpan<byte> data, int bitOffset, int bitSize, out uint value)
        {
            value = 0;
            if (bitOffset < 0 || bitSize <= 0 || bitSize > 32 || bitOffset > data.Length * 8 - bitSize)
                return false;
            for (int i = 0; i < bitSize; i++)
            {
                int bit = bitOffset + i;
                if ((data[bit >> 3] & (1 << (bit & 7))) != 0)
                    value |= 1u << i;
            }
            return true;
        }

        public static bool Insert(Span<byte> data, int bitOffset, int bitSize, uint value)
        {
            if (bitOffset < 0 || bitSize <= 0 || bitSize > 32 || bitOffset > data.Length * 8 - bitSize)
                return false;
            for (int i = 0; i < bitSize; i++)
            {
                int bit = bitOffset + i;
                if ((value & (1u << i)) != 0)
                    data[bit >> 3] = (byte)(data[bit >> 3] | (1 << (bit & 7)));
                else
                    data[bit >> 3] = (byte)(data[bit >> 3] & ~(1 << (bit & 7)));
            }
            return true;
        }
    }

    /// <summary>
    /// A parsed HID report descriptor (HID 1.11 6.2.2; Linux hid-core.c hid_open_report): every
    /// Input/Output/Feature field with its place in its report, the collections, and the report
    /// sizes. <see cref="Parse"/> checks every item against the input's bounds and the limits below
    /// and reports the first problem with its offset.
    /// </summary>
    public sealed class HidReportDescriptor
    {
        public const int MaxDescriptorBytes = 4096;
        public const int MaxFields = 256;
        public const int MaxCollections = 256;
        public const int MaxCollectionDepth = 32;
        /// <summary>Usage items / ranges per main item (Linux HID_MAX_USAGES is far larger; real devices use a few dozen).</summary>
        public const int MaxUsagesPerItem = 1024;
        public const int MaxGlobalStack = 8;
        public const int MaxReportSize = 256;
        public const int MaxReportCount = 4096;
        /// <summary>Largest report, in bytes without the ID byte (Linux HID_MAX_BUFFER_SIZE 16 KiB; 4 KiB suffices here).</summary>
        public const int MaxReportBytes = 4096;
        const int ReportIdCount = 256;

        public HidField[] Fields = new HidField[0];
        public HidCollection[] Collections = new HidCollection[0];
        /// <summary>True when a Report ID item appeared: every report then starts with its ID byte.</summary>
        public bool UsesReportIds;
        /// <summary>Items parsed (short and long).</summary>
        public int ItemCount;
        // Bits per report: key = kind * 256 + id, few entries (one per report the descriptor declares).
        int[] _reportKeys = new int[0];
        int[] _reportBits = new int[0];
        int _reports;

        static int ReportKey(HidReportKind kind, int id) => ((int)kind - 1) * ReportIdCount + id;

        int ReportSlot(int key)
        {
            for (int i = 0; i < _reports; i++)
                if (_reportKeys[i] == key)
                    return i;
            return -1;
        }

        int BitsOf(int key)
        {
            int slot = ReportSlot(key);
            return slot < 0 ? 0 : _reportBits[slot];
        }

        void SetBits(int key, int bits)
        {
            int slot = ReportSlot(key);
            if (slot < 0)
            {
                if (_reports == _reportKeys.Length)
                {
                    int size = _reports == 0 ? 4 : _reports * 2;
                    var keys = new int[size];
                    var values = new int[size];
                    for (int i = 0; i < _reports; i++)
                    {
                        keys[i] = _reportKeys[i];
                        values[i] = _reportBits[i];
                    }
                    _reportKeys = keys;
                    _reportBits = values;
                }
                slot = _reports++;
                _reportKeys[slot] = key;
            }
            _reportBits[slot] = bits;
        }

        /// <summary>Size in bytes of report <paramref name="id"/> of <paramref name="kind"/>, without the ID byte; 0 when it does not exist.</summary>
        public int ReportBytes(HidReportKind kind, byte id) => (BitsOf(ReportKey(kind, id)) + 7) / 8;

        /// <summary>Largest report of <paramref name="kind"/>, including the ID byte when reports are numbered.</summary>
        public int MaxReportLength(HidReportKind kind)
        {
            int max = 0;
            int first = ReportKey(kind, 0);
            for (int i = 0; i < _reports; i++)
            {
                if (_reportKeys[i] < first || _reportKeys[i] >= first + ReportIdCount)
                    continue;
                int bytes = (_reportBits[i] + 7) / 8;
                if (bytes > max)
                    max = bytes;
            }
            if (max > 0 && UsesReportIds)
                max++;
            return max;
        }

        /// <summary>Index of the first application collection with <paramref name="usage"/>, or -1.</summary>
        public int FindApplication(uint usage)
        {
            for (int i = 0; i < Collections.Length; i++)
                if (Collections[i].Type == HidCollectionType.Application && Collections[i].Usage == usage)
                    return i;
            return -1;
        }

        /// <summary>First non-constant field of <paramref name="kind"/> in <paramref name="application"/> (-1: any) that declares <paramref name="usage"/>, or null.</summary>
        public HidField FindField(HidReportKind kind, int application, uint usage)
        {
            for (int i = 0; i < Fields.Length; i++)
            {
                HidField f = Fields[i];
                if (f.Kind == kind && !f.IsConstant && (application < 0 || f.Application == application) && f.HasUsage(usage))
                    return f;
            }
            return null;
        }

        // ---- Parser ------------------------------------------------------------------------

        struct GlobalState
        {
            public ushort UsagePage;
            public long LogicalMinimum;
            public uint LogicalMaximumRaw;
            public int LogicalMaximumSize;
            public long PhysicalMinimum;
            public uint PhysicalMaximumRaw;
            public int PhysicalMaximumSize;
            public int UnitExponent;
            public uint Unit;
            public int ReportSize;
            public int ReportId;
            public int ReportCount;
        }

        /// <summary>A pending local usage: its value and whether the item carried a usage page (4-byte form).</summary>
        struct LocalUsage
        {
            public uint Minimum;
            public uint Maximum;
            public bool MinimumExtended;
            public bool MaximumExtended;
        }

        sealed class LocalState
        {
            public readonly List<LocalUsage> Usages = new List<LocalUsage>();
            public bool HaveMinimum;
            public uint Minimum;
            public bool MinimumExtended;
            public int DelimiterDepth;
            public bool DelimiterUsed;

            public void Clear()
            {
                Usages.Clear();
                HaveMinimum = false;
                Minimum = 0;
                MinimumExtended = false;
                DelimiterDepth = 0;
                DelimiterUsed = false;
            }
        }

        static uint Unsigned(ReadOnlySpan<byte> data, int at, int size)
        {
            uint v = 0;
            for (int i = 0; i < size; i++)
                v |= (uint)data[at + i] << (8 * i);
            return v;
        }

        static long Signed(uint raw, int size)
        {
            switch (size)
            {
                case 1: return (sbyte)(byte)raw;
                case 2: return (short)(ushort)raw;
                case 4: return (int)raw;
                default: return 0;
            }
        }

        /// <summary>Linux hid-core: a Logical/Physical Maximum is signed only when its minimum is negative.</summary>
        static long Maximum(long minimum, uint raw, int size) => minimum < 0 ? Signed(raw, size) : raw;

        /// <summary>Parses a whole report descriptor. On failure <paramref name="descriptor"/> is an empty descriptor.</summary>
        public static HidParseResult Parse(ReadOnlySpan<byte> data, out HidReportDescriptor descriptor)
        {
            descriptor = new HidReportDescriptor();
            var result = new HidReportDescriptor();
            HidParseResult r = result.ParseItems(data);
            if (r.IsOk)
                descriptor = result;
            return r;
        }

        HidParseResult ParseItems(ReadOnlySpan<byte> data)
        {
            if (data.Length == 0)
                return new HidParseResult(HidParseError.Empty, 0);
            if (data.Length > MaxDescriptorBytes)
                return new HidParseResult(HidParseError.TooMany, MaxDescriptorBytes);
            // Allocated on first use: most rejected inputs never need them.
            List<HidField> fields = null;
            List<HidCollection> collections = null;
            GlobalState[] globalStack = null;
            int globalDepth = 0;
            int[] collectionStack = null;
            int depth = 0;
            var global = new GlobalState();
            var local = new LocalState();

            int at = 0;
            while (at < data.Length)
            {
                int itemStart = at;
                byte prefix = data[at];
                ItemCount++;
                if (prefix == HidItem.LongItemPrefix)
                {
                    // Long items (6.2.2.3) carry no defined tags: skip them.
                    if (data.Length - at < HidItem.LongItemHeader)
                        return new HidParseResult(HidParseError.Truncated, itemStart);
                    int longSize = data[at + 1];
                    if (data.Length - at - HidItem.LongItemHeader < longSize)
                        return new HidParseResult(HidParseError.Truncated, itemStart);
                    at += HidItem.LongItemHeader + longSize;
                    continue;
                }
                int size = prefix & HidItem.SizeMask;
                if (size == HidItem.SizeFourBytes)
                    size = 4;
                int type = (prefix >> HidItem.TypeShift) & HidItem.TypeMask;
                int tag = prefix >> HidItem.TagShift;
                if (data.Length - at - 1 < size)
                    return new HidParseResult(HidParseError.Truncated, itemStart);
                uint raw = Unsigned(data, at + 1, size);
                at += 1 + size;

                if (type == HidItem.TypeMain)
                {
                    switch (tag)
                    {
                        case HidItem.MainInput:
                        case HidItem.MainOutput:
                        case HidItem.MainFeature:
                        {
                            if (fields == null)
                                fields = new List<HidField>();
                            if (collections == null)
                                collections = new List<HidCollection>();
                            HidReportKind kind = tag == HidItem.MainInput ? HidReportKind.Input
                                               : tag == HidItem.MainOutput ? HidReportKind.Output : HidReportKind.Feature;
                            HidParseResult added = AddField(fields, collections, collectionStack, depth, ref global, local, kind, raw, itemStart);
                            if (!added.IsOk)
                                return added;
                            break;
                        }
                        case HidItem.MainCollection:
                        {
                            if (depth >= MaxCollectionDepth)
                                return new HidParseResult(HidParseError.CollectionTooDeep, itemStart);
                            if (collections == null)
                                collections = new List<HidCollection>();
                            if (collectionStack == null)
                                collectionStack = new int[MaxCollectionDepth];
                            if (collections.Count >= MaxCollections)
                                return new HidParseResult(HidParseError.TooMany, itemStart);
                            var c = new HidCollection();
                            c.Type = (byte)raw;
                            c.Usage = local.Usages.Count > 0 ? ResolveUsage(local.Usages[0].Minimum, local.Usages[0].MinimumExtended, global.UsagePage) : 0;
                            c.Parent = depth > 0 ? collectionStack[depth - 1] : -1;
                            c.Depth = depth;
                            collectionStack[depth++] = collections.Count;
                            collections.Add(c);
                            break;
                        }
                        case HidItem.MainEndCollection:
                            if (depth == 0)
                                return new HidParseResult(HidParseError.UnbalancedEndCollection, itemStart);
                            depth--;
                            break;
                        default:
                            // Reserved main item tags: ignored (Linux hid_parser_main logs and skips them).
                            break;
                    }
                    local.Clear();
                }
                else if (type == HidItem.TypeGlobal)
                {
                    switch (tag)
                    {
                        case HidItem.GlobalUsagePage: global.UsagePage = (ushort)raw; break;
                        case HidItem.GlobalLogicalMinimum: global.LogicalMinimum = Signed(raw, size); break;
                        case HidItem.GlobalLogicalMaximum: global.LogicalMaximumRaw = raw; global.LogicalMaximumSize = size; break;
                        case HidItem.GlobalPhysicalMinimum: global.PhysicalMinimum = Signed(raw, size); break;
                        case HidItem.GlobalPhysicalMaximum: global.PhysicalMaximumRaw = raw; global.PhysicalMaximumSize = size; break;
                        case HidItem.GlobalUnitExponent:
                        {
                            // A 4-bit two's complement value in the low nibble (6.2.2.7), or a wider signed value.
                            long e = Signed(raw, size);
                            global.UnitExponent = size == 1 && raw <= 0x0F ? (raw >= 8 ? (int)raw - 16 : (int)raw) : (int)e;
                            break;
                        }
                        case HidItem.GlobalUnit: global.Unit = raw; break;
                        case HidItem.GlobalReportSize:
                            if (raw > MaxReportSize)
                                return new HidParseResult(HidParseError.BadReportSize, itemStart);
                            global.ReportSize = (int)raw;
                            break;
                        case HidItem.GlobalReportId:
                            if (raw == 0 || raw >= ReportIdCount)
                                return new HidParseResult(HidParseError.BadReportId, itemStart);
                            global.ReportId = (int)raw;
                            UsesReportIds = true;
                            break;
                        case HidItem.GlobalReportCount:
                            if (raw > MaxReportCount)
                                return new HidParseResult(HidParseError.BadReportCount, itemStart);
                            global.ReportCount = (int)raw;
                            break;
                        case HidItem.GlobalPush:
                            if (globalDepth >= MaxGlobalStack)
                                return new HidParseResult(HidParseError.PushOverflow, itemStart);
                            if (globalStack == null)
                                globalStack = new GlobalState[MaxGlobalStack];
                            globalStack[globalDepth++] = global;
                            break;
                        case HidItem.GlobalPop:
                            if (globalDepth == 0)
                                return new HidParseResult(HidParseError.PopUnderflow, itemStart);
                            global = globalStack[--globalDepth];
                            break;
                        default:
                            break;
                    }
                }
                else if (type == HidItem.TypeLocal)
                {
                    HidParseResult lr = LocalItem(local, tag, raw, size, itemStart);
                    if (!lr.IsOk)
                        return lr;
                }
                // bType 3 (reserved): skipped.
            }
            if (depth != 0)
                return new HidParseResult(HidParseError.UnclosedCollection, data.Length);
            if (fields != null)
                Fields = fields.ToArray();
            if (collections != null)
                Collections = collections.ToArray();
            return new HidParseResult(HidParseError.None, 0);
        }

        static uint ResolveUsage(uint value, bool extended, ushort page) =>
            extended ? value : ((uint)page << 16) | (value & 0xFFFF);

        static HidParseResult LocalItem(LocalState local, int tag, uint raw, int size, int itemStart)
        {
            bool extended = size == 4;
            switch (tag)
            {
                case HidItem.LocalUsage:
                    // Inside a delimiter set only the first usage counts (6.2.2.8: alternatives).
                    if (local.DelimiterDepth > 0 && local.DelimiterUsed)
                        break;
                    if (local.DelimiterDepth > 0)
                        local.DelimiterUsed = true;
                    if (local.Usages.Count >= MaxUsagesPerItem)
                        return new HidParseResult(HidParseError.TooMany, itemStart);
                    local.Usages.Add(new LocalUsage { Minimum = raw, Maximum = raw, MinimumExtended = extended, MaximumExtended = extended });
                    break;
                case HidItem.LocalUsageMinimum:
                    local.HaveMinimum = true;
                    local.Minimum = raw;
                    local.MinimumExtended = extended;
                    break;
                case HidItem.LocalUsageMaximum:
                {
                    // Without a Usage Minimum the range starts at 0 (Linux hid_parser_local does the same).
                    local.HaveMinimum = false;
                    if (local.Usages.Count >= MaxUsagesPerItem)
                        return new HidParseResult(HidParseError.TooMany, itemStart);
                    local.Usages.Add(new LocalUsage { Minimum = local.Minimum, Maximum = raw, MinimumExtended = local.MinimumExtended, MaximumExtended = extended });
                    local.Minimum = 0;
                    local.MinimumExtended = false;
                    break;
                }
                case HidItem.LocalDelimiter:
                    if (raw == 1)
                    {
                        if (local.DelimiterDepth > 0)
                            return new HidParseResult(HidParseError.BadUsage, itemStart);
                        local.DelimiterDepth = 1;
                        local.DelimiterUsed = false;
                    }
                    else if (raw == 0)
                    {
                        if (local.DelimiterDepth == 0)
                            return new HidParseResult(HidParseError.BadUsage, itemStart);
                        local.DelimiterDepth = 0;
                    }
                    else
                        return new HidParseResult(HidParseError.BadUsage, itemStart);
                    break;
                default:
                    // Designators and strings are not needed by the drivers.
                    break;
            }
            return new HidParseResult(HidParseError.None, 0);
        }

        HidParseResult AddField(List<HidField> fields, List<HidCollection> collections, int[] collectionStack, int depth,
                                ref GlobalState global, LocalState local, HidReportKind kind, uint flags, int itemStart)
        {
            if (global.ReportSize == 0 || global.ReportCount == 0)
                return new HidParseResult(HidParseError.None, 0);
            int bits = global.ReportSize * global.ReportCount;
            int key = ReportKey(kind, global.ReportId);
            int offset = BitsOf(key);
            if (bits > MaxReportBytes * 8 - offset)
                return new HidParseResult(HidParseError.ReportTooLong, itemStart);
            if (fields.Count >= MaxFields)
                return new HidParseResult(HidParseError.TooMany, itemStart);
            SetBits(key, offset + bits);

            var f = new HidField();
            f.Kind = kind;
            f.ReportId = (byte)global.ReportId;
            f.BitOffset = offset;
            f.BitSize = global.ReportSize;
            f.Count = global.ReportCount;
            f.Flags = flags;
            f.UsagePage = global.UsagePage;
            f.LogicalMinimum = global.LogicalMinimum;
            f.LogicalMaximum = Maximum(global.LogicalMinimum, global.LogicalMaximumRaw, global.LogicalMaximumSize);
            f.PhysicalMinimum = global.PhysicalMinimum;
            f.PhysicalMaximum = Maximum(global.PhysicalMinimum, global.PhysicalMaximumRaw, global.PhysicalMaximumSize);
            if (f.PhysicalMinimum == 0 && f.PhysicalMaximum == 0)
            {
                // Both undefined or 0: the physical range equals the logical one (6.2.2.7).
                f.PhysicalMinimum = f.LogicalMinimum;
                f.PhysicalMaximum = f.LogicalMaximum;
            }
            f.UnitExponent = global.UnitExponent;
            f.Unit = global.Unit;
            f.Collection = depth > 0 ? collectionStack[depth - 1] : -1;
            f.Application = -1;
            for (int c = f.Collection; c >= 0; c = collections[c].Parent)
            {
                if (collections[c].Type == HidCollectionType.Application)
                {
                    f.Application = c;
                    break;
                }
            }

            int count = local.Usages.Count;
            var usages = new HidUsageRange[count];
            int kept = 0;
            for (int i = 0; i < count; i++)
            {
                LocalUsage u = local.Usages[i];
                uint min = ResolveUsage(u.Minimum, u.MinimumExtended, global.UsagePage);
                uint max = u.MaximumExtended ? u.Maximum : (min & 0xFFFF0000u) | (u.Maximum & 0xFFFF);
                if (max < min)
                    return new HidParseResult(HidParseError.BadUsage, itemStart);
                if (max - min >= 0x10000u)
                    max = min + 0xFFFFu;
                usages[kept].Minimum = min;
                usages[kept].Maximum = max;
                kept++;
            }
            f.Usages = usages;
            f.BuildUsageIndex();
            fields.Add(f);
            return new HidParseResult(HidParseError.None, 0);
        }
    }
}
