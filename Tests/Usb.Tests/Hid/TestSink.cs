using System.Collections.Generic;
using System.Text;
using Drivers.Usb.Hid;

namespace Usb.Tests.Hid
{
    /// <summary>Records what the HID drivers deliver.</summary>
    public sealed class TestSink : IHidInputSink
    {
        public readonly List<HidKeyEvent> Keys = new List<HidKeyEvent>();
        public readonly List<HidPointerEvent> Pointers = new List<HidPointerEvent>();
        public readonly List<string> Devices = new List<string>();
        readonly StringBuilder _typed = new StringBuilder();

        public void Key(in HidKeyEvent key)
        {
            lock (this)
            {
                Keys.Add(key);
                if (key.Pressed && key.Character != '\0')
                    _typed.Append(key.Character);
            }
        }

        public void Pointer(in HidPointerEvent pointer)
        {
            lock (this)
                Pointers.Add(pointer);
        }

        public void DeviceChanged(string device, HidDeviceKind kind, bool attached)
        {
            lock (this)
                Devices.Add((attached ? "+" : "-") + UsbHidDriver.KindName(kind) + " " + device);
        }

        public string Typed { get { lock (this) return _typed.ToString(); } }
        public int KeyCount { get { lock (this) return Keys.Count; } }
        public int PointerCount { get { lock (this) return Pointers.Count; } }
        public HidPointerEvent LastPointer { get { lock (this) return Pointers[Pointers.Count - 1]; } }
        public List<HidKeyEvent> KeySnapshot() { lock (this) return new List<HidKeyEvent>(Keys); }
        public List<string> DeviceSnapshot() { lock (this) return new List<string>(Devices); }
    }
}
