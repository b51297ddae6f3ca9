using System;
using System.Collections.Generic;

namespace Drivers.Usb
{
    /// <summary>
    /// The devices a class driver names (disks sda.., sound cards audio0..): listed as a copy sorted by
    /// name, which the shell walks while hot-plug changes the driver's list, and found by name. The
    /// caller holds the lock that guards its list.
    /// </summary>
    public static class NamedSnapshot
    {
        /// <summary>
        /// A copy of <paramref name="items"/> in the order Linux lists such names: by family (the name's
        /// prefix: "ttyACM" before "ttyUSB"), then shorter names first, then ordinal, so sdz comes before
        /// sdaa and audio2 before audio10. An insertion sort: the lists are short.
        /// </summary>
        public static T[] Sorted<T>(List<T> items, Func<T, string> family, Func<T, string> name) where T : class
        {
            var copy = items.ToArray();
            for (int i = 1; i < copy.Length; i++)
                for (int j = i; j > 0 && Before(copy[j], copy[j - 1], family, name); j--)
                {
                    T swap = copy[j];
                    copy[j] = copy[j - 1];
                    copy[j - 1] = swap;
                }
            return copy;
        }

        static bool Before<T>(T a, T b, Func<T, string> family, Func<T, string> name)
        {
            string familyA = family(a), familyB = family(b);
            if (familyA != familyB) return string.CompareOrdinal(familyA, familyB) < 0;
            string nameA = name(a), nameB = name(b);
            if (nameA.Length != nameB.Length) return nameA.Length < nameB.Length;
            return string.CompareOrdinal(nameA, nameB) < 0;
        }

        /// <summary>The item named <paramref name="wanted"/>; null when there is none.</summary>
        public static T Find<T>(List<T> items, Func<T, string> name, string wanted) where T : class
        {
            for (int i = 0; i < items.Count; i++)
                if (name(items[i]) == wanted)
                    return items[i];
            return null;
        }
    }
}
