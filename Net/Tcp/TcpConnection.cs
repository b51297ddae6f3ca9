using System.Collections.Generic;
using Platform;

namespace Net
{
    /// <summary>Raised once when the peer ends the connection: Closed (FIN), Reset (RST or retransmissions gave up).</summary>
    public delegate void TcpClosedHandler(TcpConnection connection, NetStatus reason);

    /// <summary>
    /// One TCP connection: the RFC 793 state machine with RFC 6298 retransmission timing, receive
    /// window flow control with zero-window probing, out-of-order reassembly, fast retransmit on
    /// three duplicate ACKs and Reno-style congestion control; and the blocking socket API for
    /// kernel threads (<see cref="Send"/>, <see cref="Receive"/>, <see cref="Close"/>, <see cref="Abort"/>).
    /// The protocol side runs with the stack lock held; the API methods take it themselves and
    /// block on <see cref="Wakeup"/> (never while holding the lock).
    /// </summary>
    public sealed class TcpConnection
    {
        /// <summary>Bytes buffered per direction. Also the largest receive window (no window scaling).</summary>
        public const int BufferSize = 65535;
        // RFC 6298 2.1 and 2.4: initial RTO 1 s, clamped to [MinRto, MaxRto]. 200 ms minimum as Linux (RFC says 1 s).
        public const uint InitialRtoMs = 1000, MinRtoMs = 200, MaxRtoMs = 60_000;
        /// <summary>Retransmissions of one segment before the connection is given up (Linux tcp_retries2 is 15; ~2 min here).</summary>
        public const int MaxRetransmissions = 10;
        /// <summary>TIME-WAIT length (2 MSL; shortened from RFC 793's 4 min: a kernel test service, not a router).</summary>
        public const uint TimeWaitMs = 2_000;
        /// <summary>How long FIN-WAIT-2 waits for the peer's FIN after we closed (Linux tcp_fin_timeout).</summary>
        public const uint FinWait2TimeoutMs = 60_000;
        /// <summary>Out-of-order segments held for reassembly.</summary>
        const int MaxOutOfOrder = 64;
        const int DuplicateAckThreshold = 3;
        /// <summary>Initial congestion window in segments (RFC 6928).</summary>
        const uint InitialWindowSegments = 10;

        readonly Tcp _tcp;
        public readonly IpEndPoint LocalEndPoint;
        public readonly IpEndPoint RemoteEndPoint;
        internal readonly TcpListener Listener;
        internal readonly IEvent Wakeup;

        public TcpState State { get; private set; }
        /// <summary>Why the connection ended, when it ended abnormally (Reset, Refused, Unreachable, Aborted).</summary>
        public NetStatus Error { get; private set; }
        /// <summary>Raised once (on the net thread, outside the stack lock) when the peer closes or resets. Must not block long.</summary>
        public event TcpClosedHandler PeerClosed;
        bool _peerClosedRaised;

        // Send sequence space (RFC 793 3.2 figure 4).
        uint _iss, _sndUna, _sndNxt, _sndMax, _sndWnd, _sndWl1, _sndWl2;
        // Send buffer: byte i (0 <= i < _sendCount) is sequence number _sendBase + i, stored at (_sendHead + i) % BufferSize.
        readonly byte[] _sendBuffer = new byte[BufferSize];
        int _sendHead, _sendCount;
        uint _sendBase;
        bool _finQueued, _finSent;
        // Receive side: bytes ready for the application, in order.
        uint _irs, _rcvNxt, _rcvAdvertisedEdge;
        readonly byte[] _receiveBuffer = new byte[BufferSize];
        int _receiveHead, _receiveCount;
        bool _finReceived, _appClosed;
        readonly List<OutOfOrder> _outOfOrder = new List<OutOfOrder>();
        // Segment size: what the peer accepts and our interface carries.
        readonly int _interfaceMss;
        int _mss;
        // RFC 6298 state, in milliseconds.
        uint _srtt, _rttvar, _rto = InitialRtoMs;
        bool _haveRtt, _timing;
        uint _timedSeq;
        ulong _timedSentMs;
        ulong _retransmitAtMs; // 0 = timer stopped
        int _retransmissions;
        // Zero-window probing (RFC 9293 3.8.6.1).
        ulong _persistAtMs;
        uint _persistBackoffMs;
        int _unansweredProbes;
        // Congestion control (RFC 5681).
        uint _cwnd, _ssthresh = TcpHeader.MaxWindow;
        int _duplicateAcks;
        // ACK generation: ACKs owed are sent at the end of the net thread's pass, one for many segments.
        bool _ackPending;
        ulong _timerMs; // TIME-WAIT / FIN-WAIT-2 deadline

        sealed class OutOfOrder
        {
            public uint Seq;
            public byte[] Data;
            public bool Fin;
        }

        internal TcpConnection(Tcp tcp, IpEndPoint local, IpEndPoint remote, int mtu, TcpListener listener)
        {
            _tcp = tcp;
            LocalEndPoint = local;
            RemoteEndPoint = remote;
            Listener = listener;
            Wakeup = tcp.Stack.Threading.CreateEvent(true);
            _interfaceMss = mtu - Ipv4.MinHeaderLength - TcpHeader.MinLength;
            _mss = TcpHeader.DefaultMss;
            _iss = tcp.Stack.NextRandom();
            _sndUna = _sndNxt = _sndMax = _iss;
            _sendBase = _iss + 1;
        }

        NetStack Stack => _tcp.Stack;

        /// <summary>Bytes received and not yet read by the application.</summary>
        public int Available { get { Stack.Lock(); try { return _receiveCount; } finally { Stack.Unlock(); } } }

        /// <summary>True while the application may still send.</summary>
        public bool CanSend => State == TcpState.Established || State == TcpState.CloseWait;

        // ---------------------------------------------------------------- blocking API

        /// <summary>
        /// Reads up to <paramref name="length"/> bytes, waiting up to <paramref name="timeoutMs"/> for at
        /// least one (0 = do not wait). Ok with <paramref name="received"/> &gt; 0; Closed at end of stream
        /// (peer's FIN, everything read); Timeout; Reset/Aborted when the connection died.
        /// </summary>
        public NetStatus Receive(byte[] buffer, int offset, int length, uint timeoutMs, out int received)
        {
            received = 0;
            if (buffer == null || offset < 0 || length <= 0 || offset > buffer.Length - length) return NetStatus.InvalidArgument;
            Stack.WaitUntil(() => _receiveCount > 0 || _finReceived || Error != NetStatus.Ok || State == TcpState.Closed, Wakeup, timeoutMs);
            Stack.Lock();
            try
            {
                if (_receiveCount > 0)
                {
                    int n = length < _receiveCount ? length : _receiveCount;
                    int first = BufferSize - _receiveHead;
                    if (first >= n) Bytes.Copy(_receiveBuffer, _receiveHead, buffer, offset, n);
                    else
                    {
                        Bytes.Copy(_receiveBuffer, _receiveHead, buffer, offset, first);
                        Bytes.Copy(_receiveBuffer, 0, buffer, offset + first, n - first);
                    }
                    _receiveHead = (_receiveHead + n) % BufferSize;
                    _receiveCount -= n;
                    received = n;
                    MaybeSendWindowUpdate();
                    return NetStatus.Ok;
                }
                if (Error != NetStatus.Ok) return Error;
                if (_finReceived || State == TcpState.Closed) return NetStatus.Closed;
                return NetStatus.Timeout;
            }
            finally { Stack.Unlock(); }
        }

        /// <summary>
        /// Reads exactly <paramref name="length"/> bytes (a protocol header, say), waiting up to
        /// <paramref name="timeoutMs"/> in total. Ok only when all arrived; otherwise the status that
        /// stopped it, with <paramref name="received"/> bytes already stored.
        /// </summary>
        public NetStatus ReceiveExactly(byte[] buffer, int offset, int length, uint timeoutMs, out int received)
        {
            received = 0;
            ulong deadline = Stack.Clock.Milliseconds + timeoutMs;
            while (received < length)
            {
                ulong now = Stack.Clock.Milliseconds;
                uint left = now >= deadline ? 0 : (uint)(deadline - now);
                NetStatus s = Receive(buffer, offset + received, length - received, left, out int n);
                received += n;
                if (s != NetStatus.Ok) return s;
                if (n == 0 && left == 0) return NetStatus.Timeout;
            }
            return NetStatus.Ok;
        }

        /// <summary>
        /// Queues <paramref name="length"/> bytes for sending, blocking while the send buffer is full,
        /// at most <paramref name="timeoutMs"/> in total. Ok when everything was queued (not yet
        /// acknowledged); otherwise the status that stopped it with the count queued in <paramref name="sent"/>.
        /// </summary>
        public NetStatus Send(byte[] buffer, int offset, int length, uint timeoutMs, out int sent)
        {
            sent = 0;
            if (buffer == null || offset < 0 || length < 0 || offset > buffer.Length - length) return NetStatus.InvalidArgument;
            ulong deadline = Stack.Clock.Milliseconds + timeoutMs;
            while (true)
            {
                Stack.Lock();
                try
                {
                    if (Error != NetStatus.Ok) return Error;
                    if (!CanSend || _finQueued) return NetStatus.Aborted;
                    int room = BufferSize - _sendCount;
                    int n = length - sent < room ? length - sent : room;
                    if (n > 0)
                    {
                        int tail = (_sendHead + _sendCount) % BufferSize;
                        int first = BufferSize - tail;
                        if (first >= n) Bytes.Copy(buffer, offset + sent, _sendBuffer, tail, n);
                        else
                        {
                            Bytes.Copy(buffer, offset + sent, _sendBuffer, tail, first);
                            Bytes.Copy(buffer, offset + sent + first, _sendBuffer, 0, n - first);
                        }
                        _sendCount += n;
                        sent += n;
                        Output();
                    }
                    if (sent == length) return NetStatus.Ok;
                }
                finally { Stack.Unlock(); }
                ulong now = Stack.Clock.Milliseconds;
                if (now >= deadline) return NetStatus.Timeout;
                ulong left = deadline - now;
                Wakeup.Wait(left > 100 ? 100u : (uint)left);
            }
        }

        /// <summary>
        /// Graceful close: queued data is still delivered, then FIN. The application reads nothing
        /// more (late data is acknowledged and discarded). Does not block.
        /// </summary>
        public void Close()
        {
            Stack.Lock();
            try
            {
                _appClosed = true;
                _receiveCount = 0;
                switch (State)
                {
                    case TcpState.SynSent:
                        Terminate(NetStatus.Aborted, false);
                        break;
                    case TcpState.SynReceived:
                    case TcpState.Established:
                        _finQueued = true;
                        State = TcpState.FinWait1;
                        Output();
                        break;
                    case TcpState.CloseWait:
                        _finQueued = true;
                        State = TcpState.LastAck;
                        Output();
                        break;
                }
            }
            finally { Stack.Unlock(); }
            Wakeup.Signal();
        }

        /// <summary>Abortive close: RST to the peer, buffers dropped, every waiter returns Aborted.</summary>
        public void Abort()
        {
            Stack.Lock();
            try
            {
                if (State != TcpState.Closed && State != TcpState.TimeWait && State != TcpState.SynSent)
                {
                    _tcp.SendSegment(LocalEndPoint, RemoteEndPoint, _sndNxt, _rcvNxt, TcpHeader.Rst | TcpHeader.Ack, 0, null, 0, 0, 0);
                    _tcp.Counters.ResetsSent++;
                }
                if (State != TcpState.Closed) Terminate(NetStatus.Aborted, false);
                _appClosed = true;
            }
            finally { Stack.Unlock(); }
        }

        /// <summary>Waits until everything sent was acknowledged (or the connection ended), bounded.</summary>
        public NetStatus Flush(uint timeoutMs)
        {
            bool done = Stack.WaitUntil(() => _sndUna == _sndMax || State == TcpState.Closed || Error != NetStatus.Ok, Wakeup, timeoutMs);
            Stack.Lock();
            try { return Error != NetStatus.Ok ? Error : done ? NetStatus.Ok : NetStatus.Timeout; }
            finally { Stack.Unlock(); }
        }

        internal void RaisePeerClosed(NetStatus status)
        {
            if (_peerClosedRaised) return;
            _peerClosedRaised = true;
            TcpClosedHandler h = PeerClosed;
            if (h != null) h(this, status);
        }

        // ---------------------------------------------------------------- protocol (lock held)

        uint ReceiveSpace => (uint)(BufferSize - _receiveCount);

        /// <summary>The window to advertise: receiver silly-window avoidance (RFC 1122 4.2.3.3), never shrinking the right edge.</summary>
        ushort AdvertisedWindow()
        {
            uint space = ReceiveSpace;
            if (space < (uint)_mss && space < BufferSize / 2) space = 0;
            uint promised = Seq.Gt(_rcvAdvertisedEdge, _rcvNxt) ? _rcvAdvertisedEdge - _rcvNxt : 0;
            if (space < promised) space = promised;
            if (space > TcpHeader.MaxWindow) space = TcpHeader.MaxWindow;
            _rcvAdvertisedEdge = _rcvNxt + space;
            return (ushort)space;
        }

        void MaybeSendWindowUpdate()
        {
            if (State != TcpState.Established && State != TcpState.FinWait1 && State != TcpState.FinWait2) return;
            uint oldWindow = Seq.Gt(_rcvAdvertisedEdge, _rcvNxt) ? _rcvAdvertisedEdge - _rcvNxt : 0;
            uint space = ReceiveSpace;
            // Announce when the window grows by two segments or opens from (nearly) zero.
            if (space >= oldWindow + 2 * (uint)_mss || (oldWindow < (uint)_mss && space >= (uint)_mss))
                SendAck();
        }

        void SendAck()
        {
            _ackPending = false;
            _tcp.SendSegment(LocalEndPoint, RemoteEndPoint, _sndNxt, _rcvNxt, TcpHeader.Ack, AdvertisedWindow(), null, 0, 0, 0);
        }

        internal void FlushAck()
        {
            if (_ackPending) SendAck();
        }

        internal void StartActiveOpen()
        {
            State = TcpState.SynSent;
            SendSyn();
        }

        internal void StartPassiveOpen(ref TcpSegment seg)
        {
            State = TcpState.SynReceived;
            _irs = seg.Sequence;
            _rcvNxt = seg.Sequence + 1;
            _sndWnd = seg.Window;
            _sndWl1 = seg.Sequence;
            _sndWl2 = _iss;
            TakeMss(seg.Mss);
            SendSyn();
        }

        void TakeMss(ushort peerMss)
        {
            int m = peerMss != 0 ? peerMss : TcpHeader.DefaultMss;
            _mss = m < _interfaceMss ? m : _interfaceMss;
            if (_mss < 64) _mss = 64;
            _cwnd = InitialWindowSegments * (uint)_mss;
        }

        void SendSyn()
        {
            byte flags = State == TcpState.SynReceived ? (byte)(TcpHeader.Syn | TcpHeader.Ack) : TcpHeader.Syn;
            _tcp.SendSegment(LocalEndPoint, RemoteEndPoint, _iss, State == TcpState.SynReceived ? _rcvNxt : 0, flags,
                             AdvertisedWindow(), null, 0, 0, (ushort)_interfaceMss);
            _sndNxt = _iss + 1;
            if (Seq.Gt(_sndNxt, _sndMax)) _sndMax = _sndNxt;
            if (_retransmitAtMs == 0) _retransmitAtMs = Stack.Clock.Milliseconds + _rto;
        }

        /// <summary>Sends what the send window and congestion window allow, then FIN when due.</summary>
        internal void Output()
        {
            if (State != TcpState.Established && State != TcpState.CloseWait && State != TcpState.FinWait1 &&
                State != TcpState.Closing && State != TcpState.LastAck)
                return;
            ulong now = Stack.Clock.Milliseconds;
            while (true)
            {
                uint window = _sndWnd < _cwnd ? _sndWnd : _cwnd;
                uint inFlight = _sndNxt - _sndUna;
                int sentOffset = (int)(_sndNxt - _sendBase);
                if (sentOffset < 0) sentOffset = 0;
                if (sentOffset > _sendCount) sentOffset = _sendCount;
                int unsent = _sendCount - sentOffset;
                if (unsent > 0)
                {
                    if (inFlight >= window) break;
                    int n = unsent;
                    if (n > _mss) n = _mss;
                    if ((uint)n > window - inFlight) n = (int)(window - inFlight);
                    bool last = n == unsent;
                    SendData(_sndNxt, sentOffset, n, last ? TcpHeader.Psh : (byte)0, now);
                    _sndNxt += (uint)n;
                    if (Seq.Gt(_sndNxt, _sndMax)) _sndMax = _sndNxt;
                    continue;
                }
                if (_finQueued && !_finSent)
                {
                    _tcp.SendSegment(LocalEndPoint, RemoteEndPoint, _sndNxt, _rcvNxt, TcpHeader.Fin | TcpHeader.Ack, AdvertisedWindow(), null, 0, 0, 0);
                    _ackPending = false;
                    _finSent = true;
                    _sndNxt++;
                    if (Seq.Gt(_sndNxt, _sndMax)) _sndMax = _sndNxt;
                    if (_retransmitAtMs == 0) _retransmitAtMs = now + _rto;
                }
                break;
            }
            // Data waits for a window the peer keeps closed: probe it (persist timer).
            bool waiting = _sendCount - (int)(_sndNxt - _sendBase) > 0;
            if (_sndWnd == 0 && waiting && _sndNxt == _sndUna)
            {
                if (_persistAtMs == 0)
                {
                    _persistBackoffMs = _rto;
                    _persistAtMs = now + _persistBackoffMs;
                }
            }
            else _persistAtMs = 0;
        }

        void SendData(uint seq, int bufferOffset, int length, byte extraFlags, ulong now)
        {
            _tcp.SendSegment(LocalEndPoint, RemoteEndPoint, seq, _rcvNxt, (byte)(TcpHeader.Ack | extraFlags), AdvertisedWindow(),
                             _sendBuffer, (_sendHead + bufferOffset) % BufferSize, length, 0);
            _ackPending = false;
            if (!_timing && seq == _sndMax)
            {
                // Time one segment per round trip, never a retransmitted one (Karn's algorithm, RFC 6298 3).
                _timing = true;
                _timedSeq = seq + (uint)length;
                _timedSentMs = now;
            }
            if (_retransmitAtMs == 0) _retransmitAtMs = now + _rto;
        }

        /// <summary>Timers: retransmission, zero-window probe, TIME-WAIT and FIN-WAIT-2.</summary>
        internal void Tick(ulong now)
        {
            if (State == TcpState.TimeWait || (State == TcpState.FinWait2 && _timerMs != 0))
            {
                if (now >= _timerMs) Terminate(NetStatus.Ok, false);
                return;
            }
            if (_retransmitAtMs != 0 && now >= _retransmitAtMs)
                RetransmitTimeout(now);
            if (_persistAtMs != 0 && now >= _persistAtMs)
                Probe(now);
        }

        void RetransmitTimeout(ulong now)
        {
            if (++_retransmissions > MaxRetransmissions)
            {
                _tcp.Counters.Timeouts++;
                Log.Warning("tcp " + Describe() + ": no answer after " + Format.Decimal((ulong)MaxRetransmissions) + " retransmissions, giving up");
                Terminate(State == TcpState.SynSent ? NetStatus.Unreachable : NetStatus.Reset, true);
                return;
            }
            _tcp.Counters.Retransmissions++;
            // RFC 6298 5.5-5.7: back off, restart the timer; RFC 5681 3.1: loss means a window of one segment.
            _rto = _rto * 2 > MaxRtoMs ? MaxRtoMs : _rto * 2;
            uint flight = _sndMax - _sndUna;
            _ssthresh = flight / 2 > 2 * (uint)_mss ? flight / 2 : 2 * (uint)_mss;
            _cwnd = (uint)_mss;
            _timing = false;
            _duplicateAcks = 0;
            _retransmitAtMs = 0;
            if (State == TcpState.SynSent || State == TcpState.SynReceived)
            {
                SendSyn();
                return;
            }
            // Go back to the oldest unacknowledged byte; Output resends from there within cwnd.
            _sndNxt = _sndUna;
            if (_finSent && Seq.Ge(_sendBase + (uint)_sendCount, _sndUna)) _finSent = false;
            Output();
            if (_retransmitAtMs == 0 && _sndMax != _sndUna) _retransmitAtMs = now + _rto;
        }

        void Probe(ulong now)
        {
            if (++_unansweredProbes > MaxRetransmissions)
            {
                _tcp.Counters.Timeouts++;
                Terminate(NetStatus.Reset, true);
                return;
            }
            _tcp.Counters.ZeroWindowProbes++;
            // One byte beyond the closed window: the peer answers with an ACK that carries its window.
            int offset = (int)(_sndNxt - _sendBase);
            if (offset >= 0 && offset < _sendCount)
            {
                _tcp.SendSegment(LocalEndPoint, RemoteEndPoint, _sndNxt, _rcvNxt, TcpHeader.Ack, AdvertisedWindow(),
                                 _sendBuffer, (_sendHead + offset) % BufferSize, 1, 0);
                if (Seq.Gt(_sndNxt + 1, _sndMax)) _sndMax = _sndNxt + 1;
            }
            _persistBackoffMs = _persistBackoffMs * 2 > MaxRtoMs ? MaxRtoMs : _persistBackoffMs * 2;
            _persistAtMs = now + _persistBackoffMs;
        }

        /// <summary>One incoming segment for this connection (RFC 793 3.9 "SEGMENT ARRIVES").</summary>
        internal void Input(ref TcpSegment seg)
        {
            ulong now = Stack.Clock.Milliseconds;
            if (State == TcpState.SynSent)
            {
                InputSynSent(ref seg);
                return;
            }
            if (State == TcpState.Closed) return;
            // A retransmitted SYN while we handshake: our SYN-ACK got lost.
            if (State == TcpState.SynReceived && seg.Has(TcpHeader.Syn) && !seg.Has(TcpHeader.Ack) && seg.Sequence == _irs)
            {
                _tcp.Counters.DuplicateSegments++;
                SendSyn();
                return;
            }
            // 1. Acceptability (RFC 793 p. 69).
            uint wnd = ReceiveSpace;
            uint len = seg.Length;
            bool acceptable;
            if (len == 0)
                acceptable = wnd == 0 ? seg.Sequence == _rcvNxt : InWindow(seg.Sequence, wnd) || seg.Sequence == _rcvNxt;
            else
                acceptable = wnd != 0 && (InWindow(seg.Sequence, wnd) || InWindow(seg.Sequence + len - 1, wnd));
            if (!acceptable)
            {
                if (seg.Has(TcpHeader.Rst)) return;
                _tcp.Counters.DuplicateSegments++;
                // A zero-window probe or an old duplicate: still take its ACK (window updates), then answer.
                if (seg.Has(TcpHeader.Ack) && len > 0 && wnd == 0 && seg.Sequence == _rcvNxt)
                    ProcessAck(ref seg, now);
                if (State != TcpState.Closed) SendAck();
                return;
            }
            // 2. RST (RFC 5961 3.2: only an exact match resets; in-window ones get a challenge ACK).
            if (seg.Has(TcpHeader.Rst))
            {
                if (seg.Sequence != _rcvNxt)
                {
                    SendAck();
                    return;
                }
                _tcp.Counters.ResetsReceived++;
                Terminate(State == TcpState.SynReceived && Listener != null ? NetStatus.Refused : NetStatus.Reset, true);
                return;
            }
            // 3. SYN in the window: challenge ACK (RFC 5961 4.2).
            if (seg.Has(TcpHeader.Syn))
            {
                SendAck();
                return;
            }
            // 4. ACK.
            if (!seg.Has(TcpHeader.Ack)) return;
            if (State == TcpState.SynReceived)
            {
                if (Seq.Gt(seg.Ack, _sndUna) && Seq.Le(seg.Ack, _sndMax))
                {
                    State = TcpState.Established;
                    _retransmissions = 0;
                    if (Listener != null && !Listener.Closed) Listener.Established(this);
                }
                else
                {
                    _tcp.SendSegment(LocalEndPoint, RemoteEndPoint, seg.Ack, 0, TcpHeader.Rst, 0, null, 0, 0, 0);
                    _tcp.Counters.ResetsSent++;
                    return;
                }
            }
            if (!ProcessAck(ref seg, now)) return;
            if (State == TcpState.Closed || State == TcpState.TimeWait && !seg.Has(TcpHeader.Fin)) return;
            // 5. Data.
            uint seqAfterData = seg.Sequence + (uint)seg.DataLength;
            if (seg.DataLength > 0 && (State == TcpState.Established || State == TcpState.FinWait1 || State == TcpState.FinWait2))
                AcceptData(seg.Sequence, seg.Data, seg.DataOffset, seg.DataLength, seg.Has(TcpHeader.Fin));
            // 6. FIN, once everything before it arrived.
            if (seg.Has(TcpHeader.Fin))
            {
                if (seqAfterData == _rcvNxt) ReceiveFin();
                else if (seg.DataLength == 0 && Seq.Gt(seqAfterData, _rcvNxt)) StoreOutOfOrder(seqAfterData, seg.Data, 0, 0, true);
            }
            Output();
        }

        bool InWindow(uint seq, uint wnd) => Seq.Ge(seq, _rcvNxt) && Seq.Lt(seq, _rcvNxt + wnd);

        void InputSynSent(ref TcpSegment seg)
        {
            bool ackOk = false;
            if (seg.Has(TcpHeader.Ack))
            {
                if (Seq.Le(seg.Ack, _iss) || Seq.Gt(seg.Ack, _sndMax))
                {
                    if (!seg.Has(TcpHeader.Rst))
                    {
                        _tcp.SendSegment(LocalEndPoint, RemoteEndPoint, seg.Ack, 0, TcpHeader.Rst, 0, null, 0, 0, 0);
                        _tcp.Counters.ResetsSent++;
                    }
                    return;
                }
                ackOk = true;
            }
            if (seg.Has(TcpHeader.Rst))
            {
                if (ackOk)
                {
                    _tcp.Counters.ResetsReceived++;
                    Terminate(NetStatus.Refused, false);
                }
                return;
            }
            if (!seg.Has(TcpHeader.Syn)) return;
            _irs = seg.Sequence;
            _rcvNxt = seg.Sequence + 1;
            TakeMss(seg.Mss);
            _sndWnd = seg.Window;
            _sndWl1 = seg.Sequence;
            _sndWl2 = seg.Ack;
            if (ackOk)
            {
                _sndUna = seg.Ack;
                _retransmitAtMs = 0;
                _retransmissions = 0;
                State = TcpState.Established;
                SendAck();
                Wakeup.Signal();
            }
            else
            {
                // Simultaneous open (RFC 793 figure 8).
                State = TcpState.SynReceived;
                SendSyn();
            }
        }

        /// <summary>ACK field processing (step 5 of SEGMENT ARRIVES); false when the segment must be dropped.</summary>
        bool ProcessAck(ref TcpSegment seg, ulong now)
        {
            uint ack = seg.Ack;
            if (Seq.Gt(ack, _sndMax))
            {
                SendAck(); // acknowledges something never sent
                return false;
            }
            _unansweredProbes = 0;
            if (Seq.Gt(ack, _sndUna))
            {
                uint acked = ack - _sndUna;
                _sndUna = ack;
                if (Seq.Lt(_sndNxt, ack)) _sndNxt = ack;
                // Release acknowledged data (the SYN and FIN occupy sequence numbers but no buffer).
                int dataAcked = (int)(ack - _sendBase);
                if (dataAcked > _sendCount) dataAcked = _sendCount;
                if (dataAcked > 0)
                {
                    _sendHead = (_sendHead + dataAcked) % BufferSize;
                    _sendCount -= dataAcked;
                    _sendBase += (uint)dataAcked;
                }
                if (_timing && Seq.Ge(ack, _timedSeq))
                {
                    _timing = false;
                    SampleRtt((uint)(now - _timedSentMs));
                }
                _retransmissions = 0;
                _duplicateAcks = 0;
                // RFC 5681 3.1: slow start below ssthresh, then about one segment per round trip.
                if (_cwnd < _ssthresh) _cwnd += acked < (uint)_mss ? acked : (uint)_mss;
                else _cwnd += (uint)((ulong)_mss * (uint)_mss / (_cwnd == 0 ? 1u : _cwnd)) + 1;
                if (_cwnd > 4 * TcpHeader.MaxWindow) _cwnd = 4 * TcpHeader.MaxWindow;
                // RFC 6298 5.2/5.3: stop the timer when all is acknowledged, else restart it.
                _retransmitAtMs = _sndUna == _sndMax ? 0 : now + _rto;
                Wakeup.Signal();
            }
            else if (ack == _sndUna && seg.DataLength == 0 && !seg.Has(TcpHeader.Fin) && seg.Window == _sndWnd && _sndMax != _sndUna)
            {
                if (++_duplicateAcks == DuplicateAckThreshold)
                    FastRetransmit(now);
                else if (_duplicateAcks > DuplicateAckThreshold)
                    _cwnd += (uint)_mss; // window inflation while the hole is repaired (RFC 5681 3.2)
            }
            // Window update (RFC 793 p. 72): only from a segment newer than the last one used.
            if (Seq.Lt(_sndWl1, seg.Sequence) || (_sndWl1 == seg.Sequence && Seq.Le(_sndWl2, ack)))
            {
                bool opened = _sndWnd == 0 && seg.Window != 0;
                _sndWnd = seg.Window;
                _sndWl1 = seg.Sequence;
                _sndWl2 = ack;
                if (opened)
                {
                    _persistAtMs = 0;
                    Wakeup.Signal();
                }
            }
            bool finAcked = _finSent && _sndUna == _sndMax;
            if (State == TcpState.FinWait1 && finAcked)
            {
                State = TcpState.FinWait2;
                if (_appClosed) _timerMs = now + FinWait2TimeoutMs;
            }
            else if (State == TcpState.Closing && finAcked)
                EnterTimeWait(now);
            else if (State == TcpState.LastAck && finAcked)
            {
                Terminate(NetStatus.Ok, false);
                return false;
            }
            return true;
        }

        void FastRetransmit(ulong now)
        {
            _tcp.Counters.FastRetransmissions++;
            uint flight = _sndMax - _sndUna;
            _ssthresh = flight / 2 > 2 * (uint)_mss ? flight / 2 : 2 * (uint)_mss;
            _cwnd = _ssthresh + DuplicateAckThreshold * (uint)_mss;
            _timing = false;
            int offset = (int)(_sndUna - _sendBase);
            if (offset < 0 || offset >= _sendCount) return;
            int n = _sendCount - offset;
            if (n > _mss) n = _mss;
            SendData(_sndUna, offset, n, 0, now);
            _retransmitAtMs = now + _rto;
        }

        void SampleRtt(uint r)
        {
            // RFC 6298 2.2 and 2.3 with alpha = 1/8, beta = 1/4, K = 4, G = the net thread's tick.
            if (!_haveRtt)
            {
                _srtt = r;
                _rttvar = r / 2;
                _haveRtt = true;
            }
            else
            {
                uint diff = _srtt > r ? _srtt - r : r - _srtt;
                _rttvar = (3 * _rttvar + diff) / 4;
                _srtt = (7 * _srtt + r) / 8;
            }
            uint variance = 4 * _rttvar > NetStack.TickMs ? 4 * _rttvar : NetStack.TickMs;
            uint rto = _srtt + variance;
            _rto = rto < MinRtoMs ? MinRtoMs : rto > MaxRtoMs ? MaxRtoMs : rto;
        }

        /// <summary>Takes in-window data: in order into the receive buffer, ahead of a hole into the reassembly list.</summary>
        void AcceptData(uint seq, byte[] data, int offset, int length, bool fin)
        {
            // Trim what we already have.
            if (Seq.Lt(seq, _rcvNxt))
            {
                uint skip = _rcvNxt - seq;
                if (skip >= (uint)length) { _ackPending = true; return; }
                seq += skip;
                offset += (int)skip;
                length -= (int)skip;
            }
            // Trim what does not fit the buffer.
            uint space = ReceiveSpace;
            uint ahead = seq - _rcvNxt;
            if (ahead >= space) { _ackPending = true; return; }
            if ((uint)length > space - ahead) length = (int)(space - ahead);
            if (seq != _rcvNxt)
            {
                _tcp.Counters.OutOfOrderSegments++;
                StoreOutOfOrder(seq, data, offset, length, fin);
                SendAck(); // duplicate ACK at once: lets the sender fast-retransmit the hole
                return;
            }
            Append(data, offset, length);
            // Fill from the reassembly list what now continues the stream.
            bool progress = true;
            while (progress && _outOfOrder.Count > 0)
            {
                progress = false;
                for (int i = _outOfOrder.Count - 1; i >= 0; i--)
                {
                    OutOfOrder s = _outOfOrder[i];
                    uint end = s.Seq + (uint)s.Data.Length;
                    if (Seq.Gt(s.Seq, _rcvNxt)) continue;
                    _outOfOrder.RemoveAt(i);
                    if (Seq.Gt(end, _rcvNxt))
                    {
                        int skip = (int)(_rcvNxt - s.Seq);
                        int n = s.Data.Length - skip;
                        if ((uint)n > ReceiveSpace) n = (int)ReceiveSpace;
                        Append(s.Data, skip, n);
                        progress = true;
                    }
                    if (s.Fin && Seq.Ge(_rcvNxt, end) && end == _rcvNxt && !_finReceived)
                    {
                        ReceiveFin();
                        return;
                    }
                }
            }
            _ackPending = true;
        }

        void StoreOutOfOrder(uint seq, byte[] data, int offset, int length, bool fin)
        {
            for (int i = 0; i < _outOfOrder.Count; i++)
                if (_outOfOrder[i].Seq == seq && _outOfOrder[i].Data.Length >= length)
                {
                    _outOfOrder[i].Fin |= fin;
                    return; // duplicate
                }
            if (_outOfOrder.Count >= MaxOutOfOrder) return;
            byte[] copy = new byte[length];
            Bytes.Copy(data, offset, copy, 0, length);
            _outOfOrder.Add(new OutOfOrder { Seq = seq, Data = copy, Fin = fin });
        }

        void Append(byte[] data, int offset, int length)
        {
            if (length <= 0) return;
            if (!_appClosed)
            {
                int tail = (_receiveHead + _receiveCount) % BufferSize;
                int first = BufferSize - tail;
                if (first >= length) Bytes.Copy(data, offset, _receiveBuffer, tail, length);
                else
                {
                    Bytes.Copy(data, offset, _receiveBuffer, tail, first);
                    Bytes.Copy(data, offset + first, _receiveBuffer, 0, length - first);
                }
                _receiveCount += length;
            }
            _rcvNxt += (uint)length;
            Wakeup.Signal();
        }

        void ReceiveFin()
        {
            if (_finReceived) return;
            _finReceived = true;
            _rcvNxt++;
            _outOfOrder.Clear();
            SendAck();
            ulong now = Stack.Clock.Milliseconds;
            switch (State)
            {
                case TcpState.SynReceived:
                case TcpState.Established:
                    State = TcpState.CloseWait;
                    break;
                case TcpState.FinWait1:
                    if (_finSent && _sndUna == _sndMax) EnterTimeWait(now);
                    else State = TcpState.Closing;
                    break;
                case TcpState.FinWait2:
                    EnterTimeWait(now);
                    break;
            }
            _tcp.Notify(this, NetStatus.Closed);
            Wakeup.Signal();
        }

        void EnterTimeWait(ulong now)
        {
            State = TcpState.TimeWait;
            _retransmitAtMs = 0;
            _persistAtMs = 0;
            _timerMs = now + TimeWaitMs;
        }

        /// <summary>Ends the connection: CLOSED, removed from the table, waiters woken.</summary>
        void Terminate(NetStatus error, bool notifyPeerEvent)
        {
            TcpState previous = State;
            State = TcpState.Closed;
            if (error != NetStatus.Ok && Error == NetStatus.Ok) Error = error;
            _retransmitAtMs = 0;
            _persistAtMs = 0;
            _outOfOrder.Clear();
            _tcp.Remove(this);
            if (Listener != null)
            {
                if (previous == TcpState.SynReceived) Listener.HandshakeFailed();
                else Listener.Forget(this);
            }
            if (notifyPeerEvent) _tcp.Notify(this, error);
            Wakeup.Signal();
        }

        internal void Fail(NetStatus error) => Terminate(error, false);

        /// <summary>One line for the shell: endpoints, state, queues, RTO.</summary>
        public string Describe() =>
            "tcp  " + LocalEndPoint.ToString() + "  " + RemoteEndPoint.ToString() + "  " + TcpStateNames.Name(State) +
            "  rx " + Format.Decimal((ulong)_receiveCount) + " tx " + Format.Decimal((ulong)_sendCount) +
            " wnd " + Format.Decimal(_sndWnd) + " rto " + Format.Decimal(_rto) + " ms";

        public string StateName => TcpStateNames.Name(State);
    }
}
