using System.Collections.Generic;

namespace Platform.Memory
{
    /// <summary>
    /// Allocates address ranges out of a set of free ranges: first fit with alignment, an optional
    /// boundary the range must not cross and an upper limit, and coalescing on free. It manages
    /// addresses only (it never touches the memory), so it serves physical page frames and DMA
    /// pools alike and is tested on the host.
    /// </summary>
    public sealed class RangeAllocator
    {
        struct Range
        {
            public ulong Start;
            public ulong End; // exclusive
        }

        readonly List<Range> _free = new List<Range>(); // sorted by Start, never adjacent
        ulong _total;
        ulong _used;

        public ulong TotalBytes => _total;
        public ulong UsedBytes => _used;
        public ulong FreeBytes => _total - _used;
        public int FreeRangeCount => _free.Count;

        /// <summary>Adds memory to the pool (ranges may arrive in any order; overlaps are ignored).</summary>
        public void AddRange(ulong start, ulong length)
        {
            if (length == 0)
                return;
            ulong end = start + length;
            for (int i = 0; i < _free.Count; i++)
                if (start < _free[i].End && _free[i].Start < end)
                    return; // overlapping input: refuse rather than corrupt the pool
            _total += length;
            InsertFree(start, end);
        }

        /// <summary>Takes a fixed range out of the pool (e.g. the kernel image); returns false if not entirely free.</summary>
        public bool Reserve(ulong start, ulong length)
        {
            ulong end = start + length;
            for (int i = 0; i < _free.Count; i++)
            {
                Range r = _free[i];
                if (start < r.Start || end > r.End)
                    continue;
                TakeFrom(i, start, end);
                _used += length;
                return true;
            }
            return false;
        }

        /// <summary>Removes every free byte in [start, start+length) from the pool, whatever was free there.</summary>
        public void Exclude(ulong start, ulong length)
        {
            ulong end = start + length;
            for (int i = _free.Count - 1; i >= 0; i--)
            {
                Range r = _free[i];
                ulong s = r.Start > start ? r.Start : start;
                ulong e = r.End < end ? r.End : end;
                if (s >= e)
                    continue;
                TakeFrom(i, s, e);
                _total -= e - s;
            }
        }

        /// <summary>
        /// Returns the start of a free range of <paramref name="length"/> bytes aligned to
        /// <paramref name="alignment"/> (a power of two), not crossing a multiple of
        /// <paramref name="boundary"/> (0 = no boundary) and ending at or below <paramref name="limit"/> (exclusive end);
        /// 0 when none fits (address 0 is never handed out).
        /// </summary>
        public ulong Allocate(ulong length, ulong alignment, ulong limit = ulong.MaxValue, ulong boundary = 0)
        {
            if (length == 0 || alignment == 0 || (alignment & (alignment - 1)) != 0)
                return 0;
            if (boundary != 0 && (length > boundary || (boundary & (boundary - 1)) != 0))
                return 0;
            for (int i = 0; i < _free.Count; i++)
            {
                Range r = _free[i];
                ulong start = AlignUp(r.Start == 0 ? 1 : r.Start, alignment);
                if (boundary != 0 && (start & ~(boundary - 1)) != ((start + length - 1) & ~(boundary - 1)))
                    start = AlignUp(start, boundary);
                if (start < r.Start || start + length > r.End || start + length > limit)
                    continue;
                TakeFrom(i, start, start + length);
                _used += length;
                return start;
            }
            return 0;
        }

        /// <summary>Returns a range to the pool. Freeing memory that is already free is refused (returns false).</summary>
        public bool Free(ulong start, ulong length)
        {
            if (length == 0)
                return false;
            ulong end = start + length;
            for (int i = 0; i < _free.Count; i++)
                if (start < _free[i].End && _free[i].Start < end)
                    return false;
            InsertFree(start, end);
            _used -= length;
            return true;
        }

        static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) & ~(alignment - 1);

        void TakeFrom(int index, ulong start, ulong end)
        {
            Range r = _free[index];
            bool keepLeft = start > r.Start;
            bool keepRight = end < r.End;
            if (keepLeft && keepRight)
            {
                _free[index] = new Range { Start = r.Start, End = start };
                _free.Insert(index + 1, new Range { Start = end, End = r.End });
            }
            else if (keepLeft)
                _free[index] = new Range { Start = r.Start, End = start };
            else if (keepRight)
                _free[index] = new Range { Start = end, End = r.End };
            else
                _free.RemoveAt(index);
        }

        void InsertFree(ulong start, ulong end)
        {
            int i = 0;
            while (i < _free.Count && _free[i].Start < start)
                i++;
            bool mergeLeft = i > 0 && _free[i - 1].End == start;
            bool mergeRight = i < _free.Count && _free[i].Start == end;
            if (mergeLeft && mergeRight)
            {
                _free[i - 1] = new Range { Start = _free[i - 1].Start, End = _free[i].End };
                _free.RemoveAt(i);
            }
            else if (mergeLeft)
                _free[i - 1] = new Range { Start = _free[i - 1].Start, End = end };
            else if (mergeRight)
                _free[i] = new Range { Start = start, End = _free[i].End };
            else
                _free.Insert(i, new Range { Start = start, End = end });
        }
    }
}
