using global::Net;
using global::UsbIp;
using Platform;

namespace Kernel.Usb
{
    /// <summary>
    /// The USB/IP server on the kernel's TCP stack: listens on TCP 3240 at boot and runs a
    /// <see cref="UsbIpServer"/> over it. The only network-specific code of the server: adapters
    /// from the blocking socket API (Net/README.md) to <see cref="IUsbIpConnection"/> and
    /// <see cref="IUsbIpListener"/>.
    /// </summary>
    internal static class UsbIpNetwork
    {
        /// <summary>Connections waiting to be accepted (usbipd listens with a small backlog too).</summary>
        const int Backlog = 4;

        /// <summary>Listens on port 3240 and starts the server thread. After the network and USB stacks exist.</summary>
        public static void Start(NetStack stack)
        {
            if (stack == null || UsbIpShell.Host == null)
            {
                Log.Error("usbip: no network or USB stack, server not started");
                return;
            }
            NetStatus status = stack.Tcp.Listen((ushort)UsbIpProtocol.Port, Backlog, out TcpListener listener);
            if (status != NetStatus.Ok)
            {
                Log.Error("usbip: can't listen on port " + Format.Decimal((ulong)UsbIpProtocol.Port) + ": " + NetStatusNames.Name(status));
                return;
            }
            var server = new UsbIpServer(UsbIpShell.Host);
            if (!server.Start(new TcpUsbIpListener(listener)))
            {
                listener.Stop();
                return;
            }
            UsbIpShell.Server = server;
            Log.Info("usbip: listening on port " + Format.Decimal((ulong)UsbIpProtocol.Port));
        }

        sealed class TcpUsbIpListener : IUsbIpListener
        {
            readonly TcpListener _listener;

            public TcpUsbIpListener(TcpListener listener) { _listener = listener; }

            public IUsbIpConnection Accept(uint timeoutMs)
            {
                if (_listener.Accept(timeoutMs, out TcpConnection connection) != NetStatus.Ok || connection == null)
                    return null;
                return new TcpUsbIpConnection(connection);
            }
        }

        /// <summary>A TCP connection as the session's byte stream: Receive/Send map to Read/Write, Close is graceful (queued replies still go out, then FIN).</summary>
        sealed class TcpUsbIpConnection : IUsbIpConnection
        {
            readonly TcpConnection _connection;
            readonly string _peer;
            volatile bool _closed;

            public TcpUsbIpConnection(TcpConnection connection)
            {
                _connection = connection;
                _peer = connection.RemoteEndPoint.ToString();
            }

            public string PeerName => _peer;

            public int Read(byte[] buffer, int offset, int count, uint timeoutMs)
            {
                if (_closed)
                    return -1;
                NetStatus status = _connection.Receive(buffer, offset, count, timeoutMs, out int received);
                if (status == NetStatus.Ok)
                    return received;
                return status == NetStatus.Timeout ? 0 : -1;
            }

            public bool Write(byte[] buffer, int offset, int count, uint timeoutMs)
            {
                if (_closed)
                    return false;
                return _connection.Send(buffer, offset, count, timeoutMs, out int _) == NetStatus.Ok;
            }

            public void Close()
            {
                if (_closed)
                    return;
                _closed = true;
                _connection.Close();
            }
        }
    }
}
