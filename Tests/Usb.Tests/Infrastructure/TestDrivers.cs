using System.Collections.Generic;
using Drivers.Usb;

namespace Usb.Tests.Infrastructure
{
    /// <summary>An interface driver that records probes and disconnects and checks the removal order.</summary>
    public sealed class RecordingInterfaceDriver : UsbInterfaceDriver
    {
        readonly string _name;
        readonly UsbDeviceId[] _ids;
        public bool Decline;
        public readonly List<string> Log = new List<string>();
        public int Probes, Disconnects;
        public readonly HashSet<UsbInterface> Bound = new HashSet<UsbInterface>();
        public bool SawDestroyedDevice;
        public System.Action<UsbInterface> OnProbe;
        public System.Action<UsbInterface> OnDisconnect;

        public RecordingInterfaceDriver(string name, params UsbDeviceId[] ids)
        {
            _name = name;
            _ids = ids;
        }

        public override string Name => _name;
        public override UsbDeviceId[] IdTable => _ids;

        public override UsbStatus Probe(UsbInterface intf, UsbDeviceId id)
        {
            lock (Log)
                Log.Add("probe " + intf.Name);
            if (Decline)
                return UsbStatus.NoMatch;
            Probes++;
            Bound.Add(intf);
            OnProbe?.Invoke(intf);
            return UsbStatus.Ok;
        }

        public override void Disconnect(UsbInterface intf)
        {
            lock (Log)
                Log.Add("disconnect " + intf.Name);
            if (intf.Device.Destroyed)
                SawDestroyedDevice = true;
            OnDisconnect?.Invoke(intf);
            Disconnects++;
            Bound.Remove(intf);
        }
    }

    public sealed class RecordingDeviceDriver : UsbDeviceDriver
    {
        readonly string _name;
        readonly UsbDeviceId[] _ids;
        public bool Decline;
        public int Probes, Disconnects;
        public readonly List<string> Log = new List<string>();

        public RecordingDeviceDriver(string name, params UsbDeviceId[] ids)
        {
            _name = name;
            _ids = ids;
        }

        public override string Name => _name;
        public override UsbDeviceId[] IdTable => _ids;

        public override UsbStatus Probe(UsbDevice device, UsbDeviceId id)
        {
            Log.Add("probe " + device.Name);
            if (Decline)
                return UsbStatus.NoMatch;
            Probes++;
            return UsbStatus.Ok;
        }

        public override void Disconnect(UsbDevice device)
        {
            Log.Add("disconnect " + device.Name);
            Disconnects++;
        }
    }
}
