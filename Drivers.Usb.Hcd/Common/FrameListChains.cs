using System.Collections.Generic;

namespace Drivers.Usb.Hcd
{
    /// <summary>
    /// What the driver has linked into each entry of a periodic frame list ahead of the interrupt
    /// schedule (UHCI isochronous TDs, UHCI 1.1 3.4; EHCI iTDs and siTDs, EHCI 1.0 4.7): per entry,
    /// the descriptors in hardware order, the first being the one the entry points at. The driver
    /// writes the links; this list tells it, when a descriptor leaves, whose link to rewrite (the
    /// entry's or the predecessor's), and counts what is linked (leak checks). An entry with nothing
    /// linked keeps no list. Not thread safe: the driver calls it under its lock.
    /// </summary>
    public sealed class FrameListChains<T>
    {
        readonly List<T>[] _chains;

        public FrameListChains(int entries)
        {
            _chains = new List<T>[entries];
        }

        /// <summary>Number of frame list entries.</summary>
        public int Entries => _chains.Length;

        /// <summary>The descriptors linked in entry <paramref name="entry"/>, in hardware order; null when none.</summary>
        public List<T> Chain(int entry) => _chains[entry];

        /// <summary>Records <paramref name="item"/> as the new head of entry <paramref name="entry"/> (the driver linked it in front).</summary>
        public void LinkFirst(int entry, T item)
        {
            List<T> chain = _chains[entry];
            if (chain == null)
                _chains[entry] = chain = new List<T>();
            chain.Insert(0, item);
        }

        /// <summary>Forgets the descriptor at <paramref name="position"/> of entry <paramref name="entry"/> (the driver unlinked it).</summary>
        public void RemoveAt(int entry, int position)
        {
            List<T> chain = _chains[entry];
            chain.RemoveAt(position);
            if (chain.Count == 0)
                _chains[entry] = null;
        }

        /// <summary>Descriptors linked over all entries.</summary>
        public int Count
        {
            get
            {
                int n = 0;
                for (int i = 0; i < _chains.Length; i++)
                    if (_chains[i] != null)
                        n += _chains[i].Count;
                return n;
            }
        }
    }
}
