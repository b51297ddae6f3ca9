namespace Drivers.Usb
{
    /// <summary>
    /// Copy-on-write arrays: the lists readers walk without a lock (bus device lists, hub children,
    /// registered drivers) are replaced by a changed copy, never changed in place, so a reader that
    /// loaded one keeps a consistent snapshot. Writers serialize among themselves (topology lock).
    /// </summary>
    public static class CopyOnWrite
    {
        /// <summary>A copy of <paramref name="items"/> with <paramref name="item"/> added at the end.</summary>
        public static T[] Append<T>(T[] items, T item) where T : class
        {
            var copy = new T[items.Length + 1];
            for (int i = 0; i < items.Length; i++)
                copy[i] = items[i];
            copy[items.Length] = item;
            return copy;
        }

        /// <summary>A copy of <paramref name="items"/> without <paramref name="item"/>; the same array if it is absent.</summary>
        public static T[] Remove<T>(T[] items, T item) where T : class
        {
            int index = -1;
            for (int i = 0; i < items.Length; i++)
                if ((object)items[i] == (object)item)
                    index = i;
            if (index < 0)
                return items;
            var copy = new T[items.Length - 1];
            for (int i = 0, j = 0; i < items.Length; i++)
                if (i != index)
                    copy[j++] = items[i];
            return copy;
        }

        /// <summary>A copy of <paramref name="items"/> with element <paramref name="index"/> set to <paramref name="item"/>.</summary>
        public static T[] With<T>(T[] items, int index, T item) where T : class
        {
            var copy = new T[items.Length];
            for (int i = 0; i < items.Length; i++)
                copy[i] = items[i];
            copy[index] = item;
            return copy;
        }
    }
}
