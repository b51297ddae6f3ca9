using System;

namespace Drivers.Usb.Hid
{
    /// <summary>
    /// A mouse (relative X/Y) or tablet (absolute X/Y) interface: reads X, Y, wheel, AC Pan and
    /// the buttons wherever the report descriptor puts them and reports each input report as a
    /// <see cref="HidPointerEvent"/>.
    /// </summary>
    public sealed class HidPointer : HidInterface
    {
        const int MaxButtons = 32;
        /// <summary>X, Y, wheel and AC Pan: one element read each, no usage lookup (MaxReportWork's unit).</summary>
        const int AxisWork = 4;

        readonly HidDeviceKind _kind;
        readonly byte _reportId;
        readonly HidField _x, _y, _wheel, _pan;
        readonly int _xe, _ye, _wheelE, _panE;
        readonly HidField[] _buttons;

        public override HidDeviceKind Kind => _kind;
        public HidPointerEvent Last;

        HidPointer(UsbInterface intf, UsbEndpoint endpoint, HidReportDescriptor report, HidInputService service, HidDeviceKind kind,
                   HidField x, int xe, HidField y, int ye, HidField wheel, int wheelE, HidField pan, int panE, HidField[] buttons)
            : base(intf, endpoint, report, service)
        {
            _kind = kind;
            _reportId = x.ReportId;
            _x = x; _xe = xe;
            _y = y; _ye = ye;
            _wheel = wheel; _wheelE = wheelE;
            _pan = pan; _panE = panE;
            _buttons = buttons;
        }

        static bool IsPointerApplication(HidCollection c)
        {
            if (c.Type != HidCollectionType.Application)
                return false;
            return c.Usage == HidUsage.Mouse || c.Usage == HidUsage.Pointer || HidUsage.Page(c.Usage) == HidUsagePage.Digitizer;
        }

        static HidField FindAxis(HidReportDescriptor report, int app, int reportId, uint usage, out int element)
        {
            element = -1;
            HidField[] fields = report.Fields;
            for (int i = 0; i < fields.Length; i++)
            {
                HidField f = fields[i];
                if (f.Kind != HidReportKind.Input || f.IsConstant || !f.IsVariable || f.Application != app)
                    continue;
                if (reportId >= 0 && f.ReportId != reportId)
                    continue;
                int e = f.ElementOf(usage);
                if (e >= 0 && f.BitSize <= 32)
                {
                    element = e;
                    return f;
                }
            }
            return null;
        }

        /// <summary>
        /// Builds a pointer over a parsed descriptor: X and Y in a mouse/pointer/digitizer
        /// application, relative for a mouse, absolute for a tablet; null when there is none.
        /// </summary>
        public static HidPointer Create(UsbInterface intf, UsbEndpoint endpoint, HidReportDescriptor report, HidInputService service, bool absolute)
        {
            HidCollection[] collections = report.Collections;
            for (int app = 0; app < collections.Length; app++)
            {
                if (!IsPointerApplication(collections[app]))
                    continue;
                HidField x = FindAxis(report, app, -1, HidUsage.X, out int xe);
                if (x == null || x.IsRelative == absolute)
                    continue;
                HidField y = FindAxis(report, app, x.ReportId, HidUsage.Y, out int ye);
                if (y == null || y.IsRelative == absolute)
                    continue;
                HidField wheel = FindAxis(report, app, x.ReportId, HidUsage.Wheel, out int wheelE);
                HidField pan = FindAxis(report, app, x.ReportId, HidUsage.AcPan, out int panE);
                int count = 0;
                HidField[] fields = report.Fields;
                for (int pass = 0; pass < 2; pass++)
                {
                    HidField[] buttons = pass == 1 ? new HidField[count] : null;
                    count = 0;
                    for (int i = 0; i < fields.Length; i++)
                    {
                        HidField f = fields[i];
                        if (f.Kind != HidReportKind.Input || f.IsConstant || f.Application != app || f.ReportId != x.ReportId)
                            continue;
                        bool isButton = false;
                        for (int u = 0; u < f.Usages.Length; u++)
                            isButton |= HidUsage.Page(f.Usages[u].Minimum) == HidUsagePage.Button;
                        if (!isButton)
                            continue;
                        if (buttons != null)
                            buttons[count] = f;
                        count++;
                    }
                    if (buttons != null)
                    {
                        // The cost of one input report is bounded here, once, not in the interrupt path.
                        long work = AxisWork + buttons.Length;
                        for (int b = 0; b < buttons.Length; b++)
                            work += (long)buttons[b].Count * ElementWork(buttons[b]);
                        if (!WithinWorkLimit(intf, absolute ? "tablet" : "mouse", x.ReportId, work))
                            return null;
                        var pointer = new HidPointer(intf, endpoint, report, service, absolute ? HidDeviceKind.Tablet : HidDeviceKind.Mouse,
                                                     x, xe, y, ye, wheel, wheelE, pan, panE, buttons);
                        pointer.ReportWorkBound = (int)work;
                        return pointer;
                    }
                }
            }
            return null;
        }

        static int Value(HidField f, int element, ReadOnlySpan<byte> data)
        {
            if (f == null || !f.Read(data, element, out long v))
                return 0;
            if (v > int.MaxValue) return int.MaxValue;
            if (v < int.MinValue) return int.MinValue;
            return (int)v;
        }

        static int Clamp(long v) => v > int.MaxValue ? int.MaxValue : v < int.MinValue ? int.MinValue : (int)v;

        protected override void HandleReport(ReadOnlySpan<byte> report)
        {
            LastReportWork = 0;
            if (!SplitReport(report, out byte id, out ReadOnlySpan<byte> data) || id != _reportId)
                return;
            // Work done, in MaxReportWork's unit (bounded at probe by ReportWorkBound).
            int work = AxisWork;
            var e = new HidPointerEvent();
            e.Device = Name;
            e.Kind = _kind;
            e.X = Value(_x, _xe, data);
            e.Y = Value(_y, _ye, data);
            e.XMinimum = Clamp(_x.LogicalMinimum);
            e.XMaximum = Clamp(_x.LogicalMaximum);
            e.YMinimum = Clamp(_y.LogicalMinimum);
            e.YMaximum = Clamp(_y.LogicalMaximum);
            e.Wheel = Value(_wheel, _wheelE, data);
            e.Pan = Value(_pan, _panE, data);
            uint buttons = 0;
            for (int i = 0; i < _buttons.Length; i++)
            {
                HidField f = _buttons[i];
                work++;
                int elementWork = ElementWork(f);
                for (int el = 0; el < f.Count; el++)
                {
                    work += elementWork;
                    if (!f.Read(data, el, out long v))
                        break;
                    uint usage;
                    if (f.IsVariable)
                    {
                        if (v == 0)
                            continue;
                        usage = f.VariableUsage(el);
                    }
                    else
                        usage = f.ArrayUsage(v);
                    if (HidUsage.Page(usage) != HidUsagePage.Button)
                        continue;
                    int n = HidUsage.Id(usage);
                    if (n >= 1 && n <= MaxButtons)
                        buttons |= 1u << (n - 1);
                }
            }
            e.Buttons = buttons;
            LastReportWork = work;
            Last = e;
            Service.Sink.Pointer(e);
        }
    }
}
