using Platform;

namespace UsbIp
{
    /// <summary>
    /// The USB/IP server (Linux usbipd): a thread accepts connections on the listener (TCP 3240 in
    /// the kernel) and runs each one as a <see cref="UsbIpSession"/> on a thread of its own. At most
    /// <see cref="MaxSessions"/> connections are served at once; more are closed at once.
    /// </summary>
    public sealed class UsbIpServer
    {
        public const int MaxSessions = 16;
        /// <summary>How long one Accept waits before the thread checks whether it should stop.</summary>
        public const uint AcceptSliceMs = 500;
        public const uint StopTimeoutMs = 5000;

        readonly UsbIpHostDriver _host;
        readonly IThreading _threading;
        readonly object _lock = new object();
        IUsbIpListener _listener;
        UsbIpSession[] _sessions = new UsbIpSession[0];
        IEvent _stopped;
        volatile bool _stopping;
        volatile bool _running;
        /// <summary>Connection handed from the accept thread to the session thread it starts.</summary>
        IUsbIpConnection _handoff;
        IEvent _handoffTaken;

        public UsbIpServer(UsbIpHostDriver host)
        {
            _host = host;
            _threading = host.Stack.Threading;
        }

        public UsbIpHostDriver Host => _host;

        /// <summary>Sessions running now.</summary>
        public UsbIpSession[] Sessions => _sessions;

        /// <summary>Connections accepted since the start.</summary>
        public int Accepted { get; private set; }

        /// <summary>Starts the accept thread ("usbip_server").</summary>
        public bool Start(IUsbIpListener listener)
        {
            if (_running)
                return true;
            _listener = listener;
            _stopping = false;
            _stopped = _threading.CreateEvent(false);
            _handoffTaken = _threading.CreateEvent(true);
            _running = true;
            if (_threading.StartThread("usbip_server", AcceptLoop) == 0)
            {
                _running = false;
                Log.Error("usbip: can't start the server thread");
                return false;
            }
            return true;
        }

        /// <summary>Stops accepting and ends every session (bounded wait for the accept thread).</summary>
        public void Stop()
        {
            if (!_running)
                return;
            _stopping = true;
            UsbIpSession[] sessions = _sessions;
            for (int i = 0; i < sessions.Length; i++)
                sessions[i].Stop();
            _stopped.Wait(StopTimeoutMs);
            _running = false;
        }

        void AcceptLoop()
        {
            while (!_stopping)
            {
                IUsbIpConnection connection = _listener.Accept(AcceptSliceMs);
                if (connection == null)
                    continue;
                Accepted++;
                if (_sessions.Length >= MaxSessions)
                {
                    Log.Warning("usbip: too many connections, refusing " + connection.PeerName);
                    connection.Close();
                    continue;
                }
                // The session thread takes the connection from _handoff before the next accept.
                _handoff = connection;
                if (_threading.StartThread("usbip_session", SessionThread) == 0)
                {
                    _handoff = null;
                    Log.Error("usbip: can't start a session thread for " + connection.PeerName);
                    connection.Close();
                    continue;
                }
                if (!_handoffTaken.Wait(StopTimeoutMs))
                    Log.Error("usbip: session thread did not start for " + connection.PeerName);
            }
            _stopped.Signal();
        }

        void SessionThread()
        {
            IUsbIpConnection connection = _handoff;
            _handoff = null;
            _handoffTaken.Signal();
            if (connection == null)
                return;
            var session = new UsbIpSession(_host, connection);
            lock (_lock)
                _sessions = Add(_sessions, session);
            session.Run();
            lock (_lock)
                _sessions = Remove(_sessions, session);
        }

        static UsbIpSession[] Add(UsbIpSession[] list, UsbIpSession item)
        {
            var grown = new UsbIpSession[list.Length + 1];
            for (int i = 0; i < list.Length; i++)
                grown[i] = list[i];
            grown[list.Length] = item;
            return grown;
        }

        static UsbIpSession[] Remove(UsbIpSession[] list, UsbIpSession item)
        {
            int index = -1;
            for (int i = 0; i < list.Length; i++)
                if (list[i] == item)
                    index = i;
            if (index < 0)
                return list;
            var shrunk = new UsbIpSession[list.Length - 1];
            for (int i = 0, j = 0; i < list.Length; i++)
                if (i != index)
                    shrunk[j++] = list[i];
            return shrunk;
        }
    }
}
