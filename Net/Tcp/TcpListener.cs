using System.Collections.Generic;
using Platform;

namespace Net
{
    /// <summary>
    /// A listening port. Connections complete their handshake in the background and wait in the
    /// accept queue; <see cref="Accept"/> hands them out. Handshaking plus queued connections never
    /// exceed <see cref="Backlog"/>.
    /// </summary>
    public sealed class TcpListener
    {
        readonly Tcp _tcp;
        public readonly ushort Port;
        public readonly int Backlog;
        internal readonly List<TcpConnection> AcceptQueue = new List<TcpConnection>();
        internal int HalfOpen;
        internal bool Closed;
        internal readonly IEvent Wakeup;

        internal TcpListener(Tcp tcp, ushort port, int backlog)
        {
            _tcp = tcp;
            Port = port;
            Backlog = backlog;
            Wakeup = tcp.Stack.Threading.CreateEvent(true);
        }

        /// <summary>Handshaking plus accept-queued connections.</summary>
        public int Pending => HalfOpen + AcceptQueue.Count;

        /// <summary>
        /// Waits up to <paramref name="timeoutMs"/> for an established connection (0 = just check).
        /// Returns Ok with the connection, Timeout, or Aborted when the listener was stopped.
        /// </summary>
        public NetStatus Accept(uint timeoutMs, out TcpConnection connection)
        {
            connection = null;
            NetStack stack = _tcp.Stack;
            stack.WaitUntil(() => AcceptQueue.Count > 0 || Closed, Wakeup, timeoutMs);
            stack.Lock();
            try
            {
                if (AcceptQueue.Count > 0)
                {
                    connection = AcceptQueue[0];
                    AcceptQueue.RemoveAt(0);
                    return NetStatus.Ok;
                }
                return Closed ? NetStatus.Aborted : NetStatus.Timeout;
            }
            finally { stack.Unlock(); }
        }

        /// <summary>Stops listening: connections not yet accepted are reset; Accept returns Aborted.</summary>
        public void Stop()
        {
            NetStack stack = _tcp.Stack;
            List<TcpConnection> queued;
            stack.Lock();
            try
            {
                Closed = true;
                _tcp.Listeners.Remove(this);
                queued = Lists.Copy(AcceptQueue);
                AcceptQueue.Clear();
                for (int i = 0; i < _tcp.Connections.Count; i++)
                    if (_tcp.Connections[i].Listener == this && _tcp.Connections[i].State == TcpState.SynReceived)
                        queued.Add(_tcp.Connections[i]);
            }
            finally { stack.Unlock(); }
            for (int i = 0; i < queued.Count; i++)
                queued[i].Abort();
            Wakeup.Signal();
        }

        /// <summary>A handshake finished (lock held): the connection moves to the accept queue.</summary>
        internal void Established(TcpConnection c)
        {
            HalfOpen--;
            AcceptQueue.Add(c);
            Wakeup.Signal();
        }

        /// <summary>A handshaking connection died (lock held).</summary>
        internal void HandshakeFailed() => HalfOpen--;

        /// <summary>A queued, never accepted connection died (lock held).</summary>
        internal void Forget(TcpConnection c) => AcceptQueue.Remove(c);
    }
}
