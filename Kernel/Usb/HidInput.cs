using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Hid;
using Kernel.Console;
using Kernel.Shell;
using Platform;

namespace Kernel.Usb
{
    /// <summary>
    /// The kernel's end of the HID drivers: keystrokes go to the same console input as COM1 (so the
    /// shell works from a USB keyboard), pointer reports update the pointer state the `pointer`
    /// command shows. Key and pointer callbacks run in interrupt context: no blocking, no allocation.
    /// </summary>
    internal sealed class HidInput : IHidInputSink
    {
        const int MaxPointers = 8;

        /// <summary>Latest state of one pointing device.</summary>
        sealed class PointerState
        {
            public string Device;
            public HidDeviceKind Kind;
            public bool InUse;
            /// <summary>Mouse: accumulated movement since attach. Tablet: last absolute position.</summary>
            public long X, Y;
            public int XMinimum, XMaximum, YMinimum, YMaximum;
            public long Wheel, Pan;
            public uint Buttons;
            public int Events;
        }

        public static HidInput Instance;
        public static HidInputService Service;

        readonly object _lock = new object();
        readonly PointerState[] _pointers = new PointerState[MaxPointers];
        // The pointer as a whole: the last device that reported.
        long _x, _y;
        uint _buttons;
        long _wheel;
        int _events;
        string _lastDevice = "";
        int _keys;

        HidInput()
        {
            for (int i = 0; i < MaxPointers; i++)
                _pointers[i] = new PointerState();
        }

        /// <summary>Registers the keyboard, mouse and tablet drivers and the `pointer` shell command.</summary>
        public static void Register(UsbStack stack)
        {
            Instance = new HidInput();
            Service = HidDrivers.Register(stack, Instance);
            KernelShell.Register("pointer", "pointer", "latest pointer position and buttons (USB mouse/tablet), keyboard locks", args => Instance.Show());
        }

        public void Key(in HidKeyEvent key)
        {
            _keys++;
            if (!key.Pressed)
                return;
            // Editing keys send what a VT100/xterm terminal sends, so the shell's line editor treats
            // the USB keyboard and the serial line alike.
            string sequence = KeySequences.For(key.Usage, key.Locks);
            if (sequence != null)
                ConsoleInput.Push(sequence);
            else if (key.Character != '\0')
                ConsoleInput.Push(key.Character);
        }

        public void Pointer(in HidPointerEvent e)
        {
            lock (_lock)
            {
                PointerState p = Find(e.Device, e.Kind);
                if (p == null)
                    return;
                if (e.Kind == HidDeviceKind.Tablet)
                {
                    p.X = e.X;
                    p.Y = e.Y;
                    _x = e.X;
                    _y = e.Y;
                }
                else
                {
                    p.X += e.X;
                    p.Y += e.Y;
                    _x += e.X;
                    _y += e.Y;
                }
                p.XMinimum = e.XMinimum;
                p.XMaximum = e.XMaximum;
                p.YMinimum = e.YMinimum;
                p.YMaximum = e.YMaximum;
                p.Wheel += e.Wheel;
                p.Pan += e.Pan;
                p.Buttons = e.Buttons;
                p.Events++;
                _buttons = e.Buttons;
                _wheel += e.Wheel;
                _events++;
                _lastDevice = e.Device;
            }
        }

        PointerState Find(string device, HidDeviceKind kind)
        {
            for (int i = 0; i < MaxPointers; i++)
            {
                PointerState p = _pointers[i];
                if (p.InUse && p.Device == device)
                    return p;
            }
            return null;
        }

        public void DeviceChanged(string device, HidDeviceKind kind, bool attached)
        {
            Log.Info("input: " + UsbHidDriver.KindName(kind) + " " + device + (attached ? " attached" : " detached"));
            if (kind == HidDeviceKind.Keyboard)
                return;
            lock (_lock)
            {
                for (int i = 0; i < MaxPointers; i++)
                {
                    PointerState p = _pointers[i];
                    if (attached && !p.InUse)
                    {
                        p.InUse = true;
                        p.Device = device;
                        p.Kind = kind;
                        p.X = p.Y = p.Wheel = p.Pan = 0;
                        p.Buttons = 0;
                        p.Events = 0;
                        return;
                    }
                    if (!attached && p.InUse && p.Device == device)
                    {
                        p.InUse = false;
                        return;
                    }
                }
            }
        }

        static string Signed(long v) => v < 0 ? "-" + Format.Decimal((ulong)(-v)) : Format.Decimal((ulong)v);

        void Show()
        {
            var lines = new List<string>();
            lock (_lock)
            {
                lines.Add("pointer: x=" + Signed(_x) + " y=" + Signed(_y) + " buttons=0x" + Format.Hex(_buttons, 1) +
                          " wheel=" + Signed(_wheel) + " events=" + Format.Decimal((ulong)_events) +
                          (_lastDevice.Length > 0 ? " last=" + _lastDevice : ""));
                for (int i = 0; i < MaxPointers; i++)
                {
                    PointerState p = _pointers[i];
                    if (!p.InUse)
                        continue;
                    lines.Add("  " + p.Device + " " + UsbHidDriver.KindName(p.Kind) + ": x=" + Signed(p.X) + " y=" + Signed(p.Y) +
                              " buttons=0x" + Format.Hex(p.Buttons, 1) + " wheel=" + Signed(p.Wheel) +
                              " events=" + Format.Decimal((ulong)p.Events) +
                              (p.Kind == HidDeviceKind.Tablet ? " range=" + Signed(p.XMinimum) + ".." + Signed(p.XMaximum) + "," +
                                                                Signed(p.YMinimum) + ".." + Signed(p.YMaximum) : ""));
                }
            }
            int locks = Service.Locks;
            lines.Add("keyboard: keys=" + Format.Decimal((ulong)_keys) + " locks=" +
                      ((locks & HidLocks.CapsLock) != 0 ? "caps " : "") + ((locks & HidLocks.NumLock) != 0 ? "num " : "") +
                      ((locks & HidLocks.ScrollLock) != 0 ? "scroll" : ""));
            for (int i = 0; i < lines.Count; i++)
                KernelShell.Print(lines[i]);
        }
    }
}
