using System.Collections.Generic;
using Drivers.Usb;
using NUnit.Framework;

namespace Usb.Tests
{
    public class NamedSnapshotTests
    {
        sealed class Named
        {
            public string Family, Name;
            public override string ToString() => Name;
        }

        static List<Named> Of(string family, params string[] names)
        {
            var list = new List<Named>();
            foreach (string n in names) list.Add(new Named { Family = family ?? n.TrimEnd('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'), Name = n });
            return list;
        }

        static string[] SortedNames(List<Named> items)
        {
            Named[] sorted = NamedSnapshot.Sorted(items, x => x.Family, x => x.Name);
            var names = new string[sorted.Length];
            for (int i = 0; i < sorted.Length; i++) names[i] = sorted[i].Name;
            return names;
        }

        [Test]
        public void ListsNamesInLinuxOrder_FamilyThenLengthThenOrdinal()
        {
            Assert.That(SortedNames(Of("sd", "sdaa", "sdb", "sdz", "sda")), Is.EqualTo(new[] { "sda", "sdb", "sdz", "sdaa" }));
            Assert.That(SortedNames(Of("audio", "audio10", "audio2", "audio0")), Is.EqualTo(new[] { "audio0", "audio2", "audio10" }));
            Assert.That(SortedNames(Of(null, "ttyUSB0", "ttyACM10", "ttyUSB2", "ttyACM1")), Is.EqualTo(new[] { "ttyACM1", "ttyACM10", "ttyUSB0", "ttyUSB2" }));
        }

        [Test]
        public void FindsByName_AndTheCopyIsNotTheList()
        {
            List<Named> items = Of("sd", "sdb", "sda");
            Assert.That(NamedSnapshot.Find(items, x => x.Name, "sdb"), Is.SameAs(items[0]));
            Assert.That(NamedSnapshot.Find(items, x => x.Name, "sdc"), Is.Null);
            Named[] copy = NamedSnapshot.Sorted(items, x => x.Family, x => x.Name);
            items.Clear();
            Assert.That(copy.Length, Is.EqualTo(2), "a snapshot outlives changes of the list");
        }
    }
}
