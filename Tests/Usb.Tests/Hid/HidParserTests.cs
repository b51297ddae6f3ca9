using System;
using Drivers.Usb.Hid;
using NUnit.Framework;

namespace Usb.Tests.Hid
{
    [TestFixture]
    public class HidParserTests
    {
        static HidReportDescriptor Parse(byte[] bytes)
        {
            HidParseResult r = HidReportDescriptor.Parse(bytes, out HidReportDescriptor d);
            Assert.That(r.IsOk, Is.True, r.Describe());
            return d;
        }

        static HidParseResult Fail(params byte[] bytes)
        {
            HidParseResult r = HidReportDescriptor.Parse(bytes, out HidReportDescriptor d);
            Assert.That(r.IsOk, Is.False);
            Assert.That(d.Fields, Is.Empty, "a failed parse leaves an empty descriptor");
            Assert.That(r.Offset, Is.InRange(0, bytes.Length));
            return r;
        }

        [Test]
        public void BootKeyboardLayout()
        {
            HidReportDescriptor d = Parse(HidBootDescriptors.Keyboard.ToArray());
            Assert.That(d.UsesReportIds, Is.False);
            Assert.That(d.Collections.Length, Is.EqualTo(1));
            Assert.That(d.Collections[0].Usage, Is.EqualTo(HidUsage.Keyboard));
            Assert.That(d.Collections[0].Type, Is.EqualTo(HidCollectionType.Application));
            Assert.That(d.ReportBytes(HidReportKind.Input, 0), Is.EqualTo(8));
            Assert.That(d.ReportBytes(HidReportKind.Output, 0), Is.EqualTo(1));
            Assert.That(d.MaxReportLength(HidReportKind.Input), Is.EqualTo(8));
            Assert.That(d.Fields.Length, Is.EqualTo(5));
            HidField mods = d.Fields[0];
            Assert.That(mods.IsVariable, Is.True);
            Assert.That(mods.BitOffset, Is.EqualTo(0));
            Assert.That(mods.Count, Is.EqualTo(8));
            Assert.That(mods.VariableUsage(0), Is.EqualTo(0x000700E0u));
            Assert.That(mods.VariableUsage(7), Is.EqualTo(0x000700E7u));
            Assert.That(d.Fields[1].IsConstant, Is.True);
            HidField leds = d.Fields[2];
            Assert.That(leds.Kind, Is.EqualTo(HidReportKind.Output));
            Assert.That(leds.VariableUsage(1), Is.EqualTo(HidUsage.LedCapsLock));
            HidField keys = d.Fields[4];
            Assert.That(keys.IsArray, Is.True);
            Assert.That(keys.BitOffset, Is.EqualTo(16));
            Assert.That(keys.Count, Is.EqualTo(6));
            Assert.That(keys.LogicalMaximum, Is.EqualTo(101));
            Assert.That(keys.ArrayUsage(4), Is.EqualTo(0x00070004u));
            Assert.That(keys.ArrayUsage(102), Is.EqualTo(0u), "outside the logical range");
            Assert.That(keys.Application, Is.EqualTo(0));
        }

        [Test]
        public void QemuKeyboardLogicalMaximumFFIsUnsigned()
        {
            HidReportDescriptor d = Parse(HidSamples.QemuKeyboard);
            HidField keys = d.Fields[d.Fields.Length - 1];
            Assert.That(keys.IsArray, Is.True);
            Assert.That(keys.LogicalMinimum, Is.EqualTo(0));
            Assert.That(keys.LogicalMaximum, Is.EqualTo(255), "0x25 0xFF with a non-negative minimum is 255, not -1");
            Assert.That(keys.IsSigned, Is.False);
            Assert.That(keys.ArrayUsage(0x2C), Is.EqualTo(0x0007002Cu));
            Assert.That(d.ReportBytes(HidReportKind.Input, 0), Is.EqualTo(8));
            byte[] report = { 0x02, 0, 0x04, 0x05, 0, 0, 0, 0 };
            Assert.That(keys.Read(report, 0, out long v), Is.True);
            Assert.That(v, Is.EqualTo(4));
            Assert.That(d.Fields[0].Read(report, 1, out long shift), Is.True);
            Assert.That(shift, Is.EqualTo(1), "left shift");
        }

        [Test]
        public void QemuMouseIsRelativeWithFiveButtonsAndWheel()
        {
            HidReportDescriptor d = Parse(HidSamples.QemuMouse);
            Assert.That(d.Collections.Length, Is.EqualTo(2));
            Assert.That(d.Collections[0].Usage, Is.EqualTo(HidUsage.Mouse));
            Assert.That(d.Collections[1].Usage, Is.EqualTo(HidUsage.Pointer));
            Assert.That(d.Collections[1].Parent, Is.EqualTo(0));
            Assert.That(d.Collections[1].Type, Is.EqualTo(HidCollectionType.Physical));
            Assert.That(d.ReportBytes(HidReportKind.Input, 0), Is.EqualTo(4));
            HidField x = d.FindField(HidReportKind.Input, 0, HidUsage.X);
            Assert.That(x, Is.Not.Null);
            Assert.That(x.IsRelative, Is.True);
            Assert.That(x.LogicalMinimum, Is.EqualTo(-127));
            Assert.That(x.LogicalMaximum, Is.EqualTo(127));
            Assert.That(x.ElementOf(HidUsage.Wheel), Is.EqualTo(2));
            Assert.That(x.Collection, Is.EqualTo(1));
            Assert.That(x.Application, Is.EqualTo(0));
            byte[] report = { 0x05, 0xFB, 0x10, 0xFF };
            Assert.That(x.Read(report, 0, out long dx), Is.True);
            Assert.That(x.Read(report, 1, out long dy), Is.True);
            Assert.That(x.Read(report, 2, out long wheel), Is.True);
            Assert.That(dx, Is.EqualTo(-5));
            Assert.That(dy, Is.EqualTo(16));
            Assert.That(wheel, Is.EqualTo(-1));
            HidField buttons = d.Fields[0];
            Assert.That(buttons.Count, Is.EqualTo(5));
            Assert.That(buttons.VariableUsage(4), Is.EqualTo(0x00090005u));
        }

        [Test]
        public void QemuTabletIsAbsoluteWithPhysicalRange()
        {
            HidReportDescriptor d = Parse(HidSamples.QemuTablet);
            Assert.That(d.ReportBytes(HidReportKind.Input, 0), Is.EqualTo(6));
            HidField x = d.FindField(HidReportKind.Input, -1, HidUsage.X);
            Assert.That(x.IsRelative, Is.False);
            Assert.That(x.BitSize, Is.EqualTo(16));
            Assert.That(x.BitOffset, Is.EqualTo(8));
            Assert.That(x.LogicalMaximum, Is.EqualTo(0x7FFF));
            Assert.That(x.PhysicalMaximum, Is.EqualTo(0x7FFF));
            HidField wheel = d.FindField(HidReportKind.Input, -1, HidUsage.Wheel);
            Assert.That(wheel.IsRelative, Is.True);
            Assert.That(wheel.PhysicalMinimum, Is.EqualTo(-127), "physical 0..0 means 'same as logical'");
            byte[] report = { 0x01, 0x00, 0x40, 0xFF, 0x7F, 0x00 };
            Assert.That(x.Read(report, 0, out long xv), Is.True);
            Assert.That(x.Read(report, 1, out long yv), Is.True);
            Assert.That(xv, Is.EqualTo(0x4000));
            Assert.That(yv, Is.EqualTo(0x7FFF));
        }

        [Test]
        public void GamingKeyboardWithReportIds()
        {
            HidReportDescriptor d = Parse(HidSamples.GamingKeyboard);
            Assert.That(d.UsesReportIds, Is.True);
            Assert.That(d.Collections.Length, Is.EqualTo(4));
            Assert.That(d.FindApplication(HidUsage.Keyboard), Is.EqualTo(0));
            Assert.That(d.Collections[1].Usage, Is.EqualTo(0x000C0001u), "consumer control");
            Assert.That(d.Collections[3].Usage, Is.EqualTo(0xFF000001u), "vendor page");
            Assert.That(d.ReportBytes(HidReportKind.Input, 1), Is.EqualTo(16), "8 modifier bits + 120 key bits");
            Assert.That(d.ReportBytes(HidReportKind.Input, 2), Is.EqualTo(2));
            Assert.That(d.ReportBytes(HidReportKind.Input, 3), Is.EqualTo(1));
            Assert.That(d.ReportBytes(HidReportKind.Input, 4), Is.EqualTo(63));
            Assert.That(d.ReportBytes(HidReportKind.Output, 1), Is.EqualTo(1));
            Assert.That(d.ReportBytes(HidReportKind.Output, 4), Is.EqualTo(63));
            Assert.That(d.MaxReportLength(HidReportKind.Input), Is.EqualTo(64), "63 + ID byte");
            HidField bitmap = d.Fields[1];
            Assert.That(bitmap.ReportId, Is.EqualTo(1));
            Assert.That(bitmap.BitOffset, Is.EqualTo(8));
            Assert.That(bitmap.VariableUsage(0x2C), Is.EqualTo(0x0007002Cu));
            HidField consumer = d.FindField(HidReportKind.Input, 1, 0x000C00E9u);
            Assert.That(consumer, Is.Not.Null, "Volume Up lies in the consumer array's usage range");
            Assert.That(consumer.ReportId, Is.EqualTo(2));
            Assert.That(consumer.LogicalMaximum, Is.EqualTo(0x3FF));
        }

        [Test]
        public void GlobalPushPopDelimiterLongItemsAndExtendedUsages()
        {
            byte[] bytes =
            {
                0x05, 0x01, 0x09, 0x02, 0xA1, 0x01,
                0xA4,                               // Push
                0x05, 0x09, 0x19, 0x01, 0x29, 0x02, 0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x02, 0x81, 0x02,
                0xB4,                               // Pop: usage page back to Generic Desktop
                0x95, 0x01, 0x75, 0x06, 0x81, 0x03,
                0xFE, 0x02, 0x10, 0xAA, 0xBB,       // long item, skipped
                0xA9, 0x01, 0x09, 0x30, 0x09, 0x33, 0xA9, 0x00, // delimiter set: X (alternative Rx ignored)
                0x0B, 0x31, 0x00, 0x01, 0x00,       // extended usage 0x0001:0031 (Y)
                0x15, 0x81, 0x25, 0x7F, 0x75, 0x08, 0x95, 0x02, 0x81, 0x06,
                0x55, 0x0F, 0x65, 0x11,             // unit exponent -1, unit
                0xC0,
            };
            HidReportDescriptor d = Parse(bytes);
            Assert.That(d.Fields.Length, Is.EqualTo(3));
            Assert.That(d.Fields[0].UsagePage, Is.EqualTo(HidUsagePage.Button));
            Assert.That(d.Fields[1].UsagePage, Is.EqualTo(HidUsagePage.GenericDesktop));
            HidField xy = d.Fields[2];
            Assert.That(xy.BitOffset, Is.EqualTo(8));
            Assert.That(xy.VariableUsage(0), Is.EqualTo(HidUsage.X));
            Assert.That(xy.VariableUsage(1), Is.EqualTo(HidUsage.Y));
            Assert.That(xy.LogicalMinimum, Is.EqualTo(-127));
            Assert.That(d.ItemCount, Is.GreaterThan(20));
        }

        [Test]
        public void ReportsWiderThan32BitsAreKeptButNotRead()
        {
            byte[] bytes = { 0x06, 0x00, 0xFF, 0x09, 0x01, 0xA1, 0x01, 0x75, 0x40, 0x95, 0x01, 0x09, 0x01, 0x81, 0x02, 0xC0 };
            HidReportDescriptor d = Parse(bytes);
            Assert.That(d.ReportBytes(HidReportKind.Input, 0), Is.EqualTo(8));
            Assert.That(d.Fields[0].Read(new byte[8], 0, out long _), Is.False);
        }

        [Test]
        public void ShortReportsAreNotReadPastTheirEnd()
        {
            HidReportDescriptor d = Parse(HidSamples.QemuTablet);
            HidField x = d.FindField(HidReportKind.Input, -1, HidUsage.X);
            Assert.That(x.Read(new byte[] { 0, 1, 2 }, 0, out long _), Is.True);
            Assert.That(x.Read(new byte[] { 0, 1, 2 }, 1, out long _), Is.False);
            Assert.That(x.Read(ReadOnlySpan<byte>.Empty, 0, out long _), Is.False);
        }

        [Test]
        public void FieldWriteBuildsOutputReports()
        {
            HidReportDescriptor d = Parse(HidSamples.QemuKeyboard);
            HidField leds = d.FindField(HidReportKind.Output, -1, HidUsage.LedCapsLock);
            byte[] report = new byte[d.ReportBytes(HidReportKind.Output, 0)];
            Assert.That(leds.Write(report, 1, 1), Is.True);
            Assert.That(leds.Write(report, 2, 1), Is.True);
            Assert.That(report[0], Is.EqualTo(0x06));
            Assert.That(leds.Write(report, 5, 1), Is.False, "only 5 elements");
        }

        // ---- Malformed descriptors: a clear error with the offending offset ---------------------

        [Test]
        public void EmptyDescriptor() => Assert.That(Fail().Error, Is.EqualTo(HidParseError.Empty));

        [Test]
        public void TruncatedItems()
        {
            Assert.That(Fail(0x05).Error, Is.EqualTo(HidParseError.Truncated));
            HidParseResult r = Fail(0x05, 0x01, 0x27, 0xFF, 0xFF);
            Assert.That(r.Error, Is.EqualTo(HidParseError.Truncated));
            Assert.That(r.Offset, Is.EqualTo(2));
            Assert.That(Fail(0xFE, 0x05, 0x00, 1, 2).Error, Is.EqualTo(HidParseError.Truncated), "long item data");
            Assert.That(Fail(0xFE, 0x05).Error, Is.EqualTo(HidParseError.Truncated), "long item header");
            // The QEMU keyboard cut anywhere after its collection opened fails cleanly.
            for (int n = 5; n < HidSamples.QemuKeyboard.Length; n++)
            {
                HidParseResult cut = HidReportDescriptor.Parse(new ReadOnlySpan<byte>(HidSamples.QemuKeyboard, 0, n), out HidReportDescriptor _);
                Assert.That(cut.IsOk, Is.False, "cut at " + n);
                Assert.That(cut.Error, Is.AnyOf(HidParseError.Truncated, HidParseError.UnclosedCollection));
            }
        }

        [Test]
        public void UnbalancedCollections()
        {
            HidParseResult r = Fail(0x05, 0x01, 0xC0);
            Assert.That(r.Error, Is.EqualTo(HidParseError.UnbalancedEndCollection));
            Assert.That(r.Offset, Is.EqualTo(2));
            Assert.That(Fail(0x09, 0x06, 0xA1, 0x01).Error, Is.EqualTo(HidParseError.UnclosedCollection));
            byte[] deep = new byte[2 * (HidReportDescriptor.MaxCollectionDepth + 1)];
            for (int i = 0; i < deep.Length; i += 2) { deep[i] = 0xA1; deep[i + 1] = 0x00; }
            Assert.That(Fail(deep).Error, Is.EqualTo(HidParseError.CollectionTooDeep));
        }

        [Test]
        public void GlobalStackErrors()
        {
            Assert.That(Fail(0xB4).Error, Is.EqualTo(HidParseError.PopUnderflow));
            byte[] pushes = new byte[HidReportDescriptor.MaxGlobalStack + 1];
            for (int i = 0; i < pushes.Length; i++) pushes[i] = 0xA4;
            HidParseResult r = Fail(pushes);
            Assert.That(r.Error, Is.EqualTo(HidParseError.PushOverflow));
            Assert.That(r.Offset, Is.EqualTo(HidReportDescriptor.MaxGlobalStack));
        }

        [Test]
        public void BadReportIdsSizesAndCounts()
        {
            Assert.That(Fail(0x85, 0x00).Error, Is.EqualTo(HidParseError.BadReportId), "report ID 0 is reserved");
            Assert.That(Fail(0x86, 0x00, 0x01).Error, Is.EqualTo(HidParseError.BadReportId), "report ID 256");
            Assert.That(Fail(0x76, 0x01, 0x01).Error, Is.EqualTo(HidParseError.BadReportSize));
            Assert.That(Fail(0x97, 0xFF, 0xFF, 0xFF, 0xFF).Error, Is.EqualTo(HidParseError.BadReportCount));
            // 256 bits x 4096 = 128 KiB in one report.
            Assert.That(Fail(0x76, 0x00, 0x01, 0x96, 0x00, 0x10, 0x81, 0x02).Error, Is.EqualTo(HidParseError.ReportTooLong));
        }

        [Test]
        public void BadUsagesAndDelimiters()
        {
            // Usage Maximum below Usage Minimum.
            Assert.That(Fail(0x19, 0x10, 0x29, 0x01, 0x75, 0x01, 0x95, 0x01, 0x81, 0x02).Error, Is.EqualTo(HidParseError.BadUsage));
            Assert.That(Fail(0xA9, 0x00).Error, Is.EqualTo(HidParseError.BadUsage), "close without open");
            Assert.That(Fail(0xA9, 0x01, 0xA9, 0x01).Error, Is.EqualTo(HidParseError.BadUsage), "nested open");
            Assert.That(Fail(0xA9, 0x02).Error, Is.EqualTo(HidParseError.BadUsage));
        }

        [Test]
        public void TooManyUsagesOrFields()
        {
            var usages = new System.Collections.Generic.List<byte>();
            for (int i = 0; i <= HidReportDescriptor.MaxUsagesPerItem; i++) { usages.Add(0x09); usages.Add(0x01); }
            Assert.That(Fail(usages.ToArray()).Error, Is.EqualTo(HidParseError.TooMany));
            var fields = new System.Collections.Generic.List<byte> { 0x75, 0x01, 0x95, 0x01 };
            for (int i = 0; i <= HidReportDescriptor.MaxFields; i++) { fields.Add(0x81); fields.Add(0x02); }
            Assert.That(Fail(fields.ToArray()).Error, Is.EqualTo(HidParseError.TooMany));
        }

        [Test]
        public void ReservedAndUnknownItemsAreSkipped()
        {
            byte[] bytes = { 0x0C, 0x1D, 0x00, 0xF0, 0x05, 0x01, 0x09, 0x06, 0xA1, 0x01, 0xC0 };
            HidReportDescriptor d = Parse(bytes);
            Assert.That(d.Collections.Length, Is.EqualTo(1));
        }

        [Test]
        public void ProblemsDescribeThemselves()
        {
            HidReportDescriptor.Parse(new byte[] { 0x05, 0x01, 0xC0 }, out HidReportDescriptor _);
            Assert.That(HidReportDescriptor.Parse(new byte[] { 0x05, 0x01, 0xC0 }, out HidReportDescriptor _).Describe(),
                        Is.EqualTo("End Collection without Collection at offset 2"));
        }

        [Test]
        public void EveryRealDescriptorParses()
        {
            foreach (byte[] sample in HidSamples.All())
                Parse(sample);
        }
    }
}
