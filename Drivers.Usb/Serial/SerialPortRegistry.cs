using System.Collections.Generic;

namespace Drivers.Usb.Serial
{
    /// <summary>Told when a USB serial port appears or goes (the kernel moves its console off a vanishing port). Thread context.</summary>
    public interface ISerialPortListener
    {
        void PortAdded(UsbSerialPort port);
        void PortRemoved(UsbSerialPort port);
    }

    /// <summary>
    /// The USB serial ports present, named like Linux: each prefix (ttyUSB for usb-serial drivers,
    /// ttyACM for cdc_acm) takes the lowest free number, so a replugged adapter gets its name back.
    /// </summary>
    public sealed class SerialPortRegistry
    {
        readonly List<UsbSerialPort> _ports = new List<UsbSerialPort>();
        readonly object _lock = new object();

        public ISerialPortListener Listener;

        /// <summary>Registers the FTDI and CDC-ACM drivers with a stack; their ports are listed here.</summary>
        public static SerialPortRegistry Register(UsbStack stack)
        {
            var ports = new SerialPortRegistry();
            stack.RegisterDriver(new FtdiSerialDriver(ports));
            stack.RegisterDriver(new CdcAcmDriver(ports));
            return ports;
        }

        /// <summary>Names the port and lists it.</summary>
        public void Add(UsbSerialPort port)
        {
            lock (_lock)
            {
                for (int n = 0; ; n++)
                {
                    string name = port.NamePrefix + Platform.Format.Decimal((ulong)n);
                    if (FindLocked(name) != null) continue;
                    port.Name = name;
                    break;
                }
                _ports.Add(port);
            }
            ISerialPortListener listener = Listener;
            if (listener != null) listener.PortAdded(port);
        }

        /// <summary>Removes the port; false when it was not (or no longer) registered.</summary>
        public bool Remove(UsbSerialPort port)
        {
            bool removed;
            lock (_lock) removed = _ports.Remove(port);
            ISerialPortListener listener = Listener;
            if (removed && listener != null) listener.PortRemoved(port);
            return removed;
        }

        public UsbSerialPort Find(string name)
        {
            lock (_lock) return FindLocked(name);
        }

        UsbSerialPort FindLocked(string name) => NamedSnapshot.Find(_ports, PortName, name);

        /// <summary>The ports, sorted by name (ttyACM before ttyUSB, then by number).</summary>
        public UsbSerialPort[] Ports
        {
            get
            {
                lock (_lock)
                    return NamedSnapshot.Sorted(_ports, PortFamily, PortName);
            }
        }

        static string PortName(UsbSerialPort port) => port.Name;
        static string PortFamily(UsbSerialPort port) => port.NamePrefix;
    }
}
