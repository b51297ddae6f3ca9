using System.Collections.Generic;
using Drivers.Usb.Descriptors;

namespace Drivers.Usb.Hcd.Ehci
{
    /// <summary>
    /// The full-speed side of the transaction translators (USB 2.0 11.14, 11.18): a full- or low-speed
    /// periodic endpoint behind a high-speed hub costs split time in the EHCI microframes and its own
    /// full-speed bus time on the TT's downstream bus (<see cref="EhciTtBudget"/>: Linux ehci-sched.c
    /// tt_available). One budget per TT: per hub for a single-TT hub, per port for a multi-TT hub
    /// (bDeviceProtocol 2). A budget goes when its last endpoint does, so no hub is kept alive by it.
    /// </summary>
    internal sealed class EhciTtBudgets
    {
        /// <summary>bDeviceProtocol of a high-speed hub with one TT per port (USB 2.0 11.23.1).</summary>
        const byte ProtocolMultiTt = 2;

        sealed class Tt
        {
            public UsbDevice Hub;
            public int Port;
            public EhciTtBudget Frames;
        }

        readonly List<Tt> _tts = new List<Tt>();

        /// <summary>The budget of the TT <paramref name="device"/> is behind (created on first use); null for a high-speed device.</summary>
        public PeriodicBudget For(UsbDevice device)
        {
            if (device.Speed == UsbSpeed.High || device.TtHub == null)
                return null;
            UsbDevice hub = device.TtHub;
            int port = hub.Descriptor.bDeviceProtocol == ProtocolMultiTt ? device.TtPort : 0;
            for (int i = 0; i < _tts.Count; i++)
                if (_tts[i].Hub == hub && _tts[i].Port == port)
                    return _tts[i].Frames;
            var tt = new Tt { Hub = hub, Port = port, Frames = new EhciTtBudget() };
            _tts.Add(tt);
            return tt.Frames;
        }

        /// <summary>Forgets the budgets nothing is booked in any more.</summary>
        public void DropEmpty()
        {
            for (int i = _tts.Count - 1; i >= 0; i--)
                if (_tts[i].Frames.IsEmpty)
                    _tts.RemoveAt(i);
        }

        /// <summary>TTs with a budget (tests).</summary>
        public int Count => _tts.Count;

        /// <summary>Microseconds one transaction of <paramref name="bytes"/> takes on the TT's full-/low-speed bus.</summary>
        public static int FullSpeedUs(UsbDevice device, bool isInput, bool isochronous, int bytes) =>
            UsbBandwidth.BusTimeUs(device.Speed, isInput, isochronous, bytes);
    }
}
