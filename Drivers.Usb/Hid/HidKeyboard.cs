using System;
using Platform;

namespace Drivers.Usb.Hid
{
    /// <summary>
    /// A keyboard interface: turns input reports into key-down/key-up events from whatever the
    /// report descriptor declares (the boot layout's modifier byte and 6-key array, bitmap "NKRO"
    /// fields, several report IDs), and keeps the Num/Caps/Scroll Lock LEDs in step with SET_REPORT.
    /// </summary>
    public sealed class HidKeyboard : HidInterface
    {
        const int KeyWords = 8; // 256 keyboard-page usages
        const int MaxReportIds = 8;
        const int ModifierWord = HidKey.LeftControl / 32;
        const int ModifierShift = HidKey.LeftControl % 32;

        readonly HidField[] _keyFields;
        readonly byte[] _ids;
        readonly uint[][] _perId;
        readonly uint[] _scratch = new uint[KeyWords];
        readonly uint[] _pressed = new uint[KeyWords];
        readonly uint[] _previous = new uint[KeyWords];
        readonly HidField[] _ledFields;
        readonly byte _ledReportId;
        readonly int _ledReportBytes;

        public override HidDeviceKind Kind => HidDeviceKind.Keyboard;
        /// <summary>LED output reports sent.</summary>
        public int LedReports;
        public int LastLeds = -1;

        HidKeyboard(UsbInterface intf, UsbEndpoint endpoint, HidReportDescriptor report, HidInputService service,
                    HidField[] keyFields, byte[] ids, HidField[] ledFields)
            : base(intf, endpoint, report, service)
        {
            _keyFields = keyFields;
            _ids = ids;
            _perId = new uint[ids.Length][];
            for (int i = 0; i < ids.Length; i++)
                _perId[i] = new uint[KeyWords];
            _ledFields = ledFields;
            if (ledFields.Length > 0)
            {
                _ledReportId = ledFields[0].ReportId;
                _ledReportBytes = report.ReportBytes(HidReportKind.Output, _ledReportId);
            }
        }

        static bool IsKeyField(HidField f)
        {
            for (int i = 0; i < f.Usages.Length; i++)
                if (HidUsage.Page(f.Usages[i].Minimum) == HidUsagePage.Keyboard)
                    return true;
            return f.Usages.Length == 0 && f.UsagePage == HidUsagePage.Keyboard;
        }

        static bool IsLedField(HidField f)
        {
            for (int i = 0; i < f.Usages.Length; i++)
                if (HidUsage.Page(f.Usages[i].Minimum) == HidUsagePage.Led)
                    return true;
            return false;
        }

        /// <summary>Builds a keyboard over a parsed descriptor, or null when it declares no keyboard.</summary>
        public static HidKeyboard Create(UsbInterface intf, UsbEndpoint endpoint, HidReportDescriptor report, HidInputService service)
        {
            int app = report.FindApplication(HidUsage.Keyboard);
            if (app < 0)
                app = report.FindApplication(HidUsage.Keypad);
            if (app < 0)
                return null;
            int keys = 0, leds = 0;
            var ids = new byte[MaxReportIds];
            int idCount = 0;
            HidField[] fields = report.Fields;
            for (int i = 0; i < fields.Length; i++)
            {
                HidField f = fields[i];
                if (f.Application != app || f.IsConstant)
                    continue;
                if (f.Kind == HidReportKind.Input && IsKeyField(f))
                {
                    keys++;
                    bool known = false;
                    for (int k = 0; k < idCount; k++)
                        known |= ids[k] == f.ReportId;
                    if (!known)
                    {
                        if (idCount == MaxReportIds)
                            continue;
                        ids[idCount++] = f.ReportId;
                    }
                }
                else if (f.Kind == HidReportKind.Output && f.IsVariable && IsLedField(f))
                    leds++;
            }
            if (keys == 0)
                return null;
            var keyFields = new HidField[keys];
            var ledFields = new HidField[leds];
            keys = 0;
            leds = 0;
            byte ledId = 0;
            for (int i = 0; i < fields.Length; i++)
            {
                HidField f = fields[i];
                if (f.Application != app || f.IsConstant)
                    continue;
                if (f.Kind == HidReportKind.Input && IsKeyField(f))
                {
                    // Only the reports this keyboard follows (the first MaxReportIds IDs).
                    if (SlotOf(ids, idCount, f.ReportId) >= 0)
                        keyFields[keys++] = f;
                }
                else if (f.Kind == HidReportKind.Output && f.IsVariable && IsLedField(f))
                {
                    // All LEDs of one report (the first one that has any).
                    if (leds == 0)
                        ledId = f.ReportId;
                    if (f.ReportId == ledId)
                        ledFields[leds++] = f;
                }
            }
            keyFields = Trim(keyFields, keys);
            ledFields = Trim(ledFields, leds);
            // The cost of one input report is bounded here, once, not in the interrupt path.
            int bound = 0;
            for (int k = 0; k < idCount; k++)
            {
                long work = idCount + keyFields.Length;
                for (int i = 0; i < keyFields.Length; i++)
                    if (keyFields[i].ReportId == ids[k])
                        work += (long)keyFields[i].Count * ElementWork(keyFields[i]);
                if (!WithinWorkLimit(intf, "keyboard", ids[k], work))
                    return null;
                if (work > bound)
                    bound = (int)work;
            }
            var idList = new byte[idCount];
            for (int i = 0; i < idCount; i++)
                idList[i] = ids[i];
            var keyboard = new HidKeyboard(intf, endpoint, report, service, keyFields, idList, ledFields);
            keyboard.ReportWorkBound = bound;
            return keyboard;
        }

        static int SlotOf(byte[] ids, int count, byte id)
        {
            for (int i = 0; i < count; i++)
                if (ids[i] == id)
                    return i;
            return -1;
        }

        static HidField[] Trim(HidField[] fields, int count)
        {
            if (count == fields.Length)
                return fields;
            var trimmed = new HidField[count];
            for (int i = 0; i < count; i++)
                trimmed[i] = fields[i];
            return trimmed;
        }

        static void Set(uint[] bits, int usage) => bits[usage >> 5] |= 1u << (usage & 31);
        static bool Test(uint[] bits, int usage) => (bits[usage >> 5] & (1u << (usage & 31))) != 0;

        protected override void HandleReport(ReadOnlySpan<byte> report)
        {
            // Work done, in MaxReportWork's unit (bounded at probe by ReportWorkBound).
            int work = _ids.Length;
            LastReportWork = work;
            if (!SplitReport(report, out byte id, out ReadOnlySpan<byte> data))
                return;
            int slot = SlotOf(_ids, _ids.Length, id);
            if (slot < 0)
                return; // another collection's report (consumer keys, vendor)
            uint[] bits = _scratch;
            for (int w = 0; w < KeyWords; w++)
                bits[w] = 0;
            bool rollover = false;
            for (int i = 0; i < _keyFields.Length; i++)
            {
                HidField f = _keyFields[i];
                work++;
                if (f.ReportId != id)
                    continue;
                int elementWork = ElementWork(f);
                for (int e = 0; e < f.Count; e++)
                {
                    work += elementWork;
                    if (!f.Read(data, e, out long value))
                        break;
                    uint usage;
                    if (f.IsVariable)
                    {
                        if (value == 0)
                            continue;
                        usage = f.VariableUsage(e);
                    }
                    else
                        usage = f.ArrayUsage(value);
                    if (HidUsage.Page(usage) != HidUsagePage.Keyboard)
                        continue;
                    int key = HidUsage.Id(usage);
                    if (key == 0 || key > 0xFF)
                        continue;
                    if (key <= HidKey.ErrorUndefined)
                    {
                        // ErrorRollOver / POSTFail / ErrorUndefined: too many keys, keep the last state (HUT 10).
                        rollover = true;
                        continue;
                    }
                    Set(bits, key);
                }
            }
            LastReportWork = work;
            if (rollover)
                return;
            uint[] mine = _perId[slot];
            for (int w = 0; w < KeyWords; w++)
                mine[w] = bits[w];
            for (int w = 0; w < KeyWords; w++)
            {
                uint all = 0;
                for (int s = 0; s < _perId.Length; s++)
                    all |= _perId[s][w];
                _pressed[w] = all;
            }
            int modifiers = (int)((_pressed[ModifierWord] >> ModifierShift) & 0xFF);
            Modifiers = modifiers;
            // Releases first, then modifier presses, then the other keys, so Shift+a in one report types 'A'.
            for (int key = 1; key < KeyWords * 32; key++)
                if (Test(_previous, key) && !Test(_pressed, key))
                    Service.KeyChanged(this, key, false, modifiers);
            for (int key = HidKey.LeftControl; key <= HidKey.RightGui; key++)
                if (!Test(_previous, key) && Test(_pressed, key))
                    Service.KeyChanged(this, key, true, modifiers);
            for (int key = 1; key < HidKey.LeftControl; key++)
                if (!Test(_previous, key) && Test(_pressed, key))
                    Service.KeyChanged(this, key, true, modifiers);
            for (int w = 0; w < KeyWords; w++)
                _previous[w] = _pressed[w];
        }

        /// <summary>True while the key is held (per the last report).</summary>
        public bool IsPressed(int usage) => usage > 0 && usage < KeyWords * 32 && Test(_previous, usage);

        protected override uint ExtraWork(ulong now)
        {
            if (LedsDirty)
            {
                LedsDirty = false;
                SendLeds(Service.Locks);
            }
            return HidInputService.IdleWaitMs;
        }

        /// <summary>SET_REPORT(Output) with the LED bits (HID 1.11 7.2.2; LED page usages HUT 11). Thread context.</summary>
        UsbStatus SendLeds(int locks)
        {
            if (_ledFields.Length == 0 || _ledReportBytes == 0)
                return UsbStatus.NotSupported;
            int prefix = Report.UsesReportIds ? 1 : 0;
            byte[] buffer = new byte[_ledReportBytes + prefix];
            if (prefix == 1)
                buffer[0] = _ledReportId;
            Span<byte> data = new Span<byte>(buffer).Slice(prefix);
            for (int i = 0; i < _ledFields.Length; i++)
            {
                HidField f = _ledFields[i];
                for (int e = 0; e < f.Count; e++)
                {
                    uint usage = f.VariableUsage(e);
                    bool on = (usage == HidUsage.LedNumLock && (locks & HidLocks.NumLock) != 0) ||
                              (usage == HidUsage.LedCapsLock && (locks & HidLocks.CapsLock) != 0) ||
                              (usage == HidUsage.LedScrollLock && (locks & HidLocks.ScrollLock) != 0);
                    f.Write(data, e, on ? 1u : 0u);
                }
            }
            UsbStatus status = UsbMessages.Control(Device, HidRequest.ClassInterfaceOut, HidRequest.SetReport,
                                                   (ushort)(((int)HidReportKind.Output << 8) | _ledReportId), Interface.Number,
                                                   new Span<byte>(buffer), UsbMessages.ControlTimeoutMs, out int _);
            if (status == UsbStatus.Ok)
            {
                LedReports++;
                LastLeds = locks;
            }
            else if (status != UsbStatus.NoDevice)
                Log.Warning("hid " + Name + ": can't set LEDs: " + UsbStatusNames.Name(status));
            return status;
        }

        protected override void Released()
        {
            // Keys held when the keyboard goes away are released (no stuck Shift, no endless repeat).
            int modifiers = 0;
            for (int key = 1; key < KeyWords * 32; key++)
            {
                if (Test(_previous, key))
                    Service.KeyChanged(this, key, false, modifiers);
            }
            for (int w = 0; w < KeyWords; w++)
                _previous[w] = 0;
            Modifiers = 0;
        }
    }
}
