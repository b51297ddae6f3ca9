using System;
using System.Threading;
using Platform;
using UsbIp;
using Usb.Tests.Infrastructure;

namespace UsbIp.Tests
{
    /// <summary>
    /// One direction of an in-memory byte stream with a bounded buffer (a TCP window): writers
    /// block while it is full, readers while it is empty; Close ends both.
    /// </summary>
    public sealed class BytePipe
    {
        public const int DefaultCapacity = 256 * 1024;
        readonly object _lock = new object();
        readonly int _capacity;
        byte[] _data = new byte[4096];
        int _start, _count;
        bool _closed;

        public BytePipe(int capacity = DefaultCapacity) { _capacity = capacity; }

        public bool IsClosed { get { lock (_lock) return _closed; } }
        public int Buffered { get { lock (_lock) return _count; } }

        /// <summary>Bytes read (at least 1), 0 on timeout, -1 once closed and drained.</summary>
        public int Read(byte[] buffer, int offset, int count, int timeoutMs)
        {
            lock (_lock)
            {
                DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
                while (_count == 0)
                {
                    if (_closed)
                        return -1;
                    int left = (int)(deadline - DateTime.UtcNow).TotalMilliseconds;
                    if (left <= 0)
                        return 0;
                    Monitor.Wait(_lock, left);
                }
                int n = Math.Min(count, _count);
                for (int i = 0; i < n; i++)
                    buffer[offset + i] = _data[(_start + i) % _data.Length];
                _start = (_start + n) % _data.Length;
                _count -= n;
                Monitor.PulseAll(_lock);
                return n;
            }
        }

        public bool Write(byte[] buffer, int offset, int count, int timeoutMs)
        {
            lock (_lock)
            {
                DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
                int done = 0;
                while (done < count)
                {
                    if (_closed)
                        return false;
                    if (_count >= _capacity)
                    {
                        int left = (int)(deadline - DateTime.UtcNow).TotalMilliseconds;
                        if (left <= 0)
                            return false;
                        Monitor.Wait(_lock, left);
                        continue;
                    }
                    int n = Math.Min(count - done, _capacity - _count);
                    Grow(_count + n);
                    for (int i = 0; i < n; i++)
                        _data[(_start + _count + i) % _data.Length] = buffer[offset + done + i];
                    _count += n;
                    done += n;
                    Monitor.PulseAll(_lock);
                }
                return true;
            }
        }

        void Grow(int needed)
        {
            if (needed <= _data.Length)
                return;
            int size = _data.Length;
            while (size < needed)
                size *= 2;
            var bigger = new byte[size];
            for (int i = 0; i < _count; i++)
                bigger[i] = _data[(_start + i) % _data.Length];
            _data = bigger;
            _start = 0;
        }

        public void Close()
        {
            lock (_lock)
            {
                _closed = true;
                Monitor.PulseAll(_lock);
            }
        }
    }

    /// <summary>The server's end of an in-memory connection; timeouts are the test clock's virtual milliseconds.</summary>
    public sealed class MemoryConnection : IUsbIpConnection
    {
        readonly BytePipe _in, _out;
        readonly TestClock _clock;
        public int Closes;

        public MemoryConnection(BytePipe fromClient, BytePipe toClient, TestClock clock, string peer = "10.0.2.2:40000")
        {
            _in = fromClient;
            _out = toClient;
            _clock = clock;
            PeerName = peer;
        }

        public string PeerName { get; }
        public int Read(byte[] buffer, int offset, int count, uint timeoutMs) => _in.Read(buffer, offset, count, _clock.RealTimeout(timeoutMs));
        public bool Write(byte[] buffer, int offset, int count, uint timeoutMs) => _out.Write(buffer, offset, count, _clock.RealTimeout(timeoutMs));

        public void Close()
        {
            Interlocked.Increment(ref Closes);
            _in.Close();
            _out.Close();
        }
    }

    /// <summary>The client's end: what Linux's usbip tool and vhci-hcd send and expect.</summary>
    public sealed class TestClient
    {
        public readonly BytePipe ToServer = new BytePipe();
        public readonly BytePipe FromServer = new BytePipe();
        public const int ReplyTimeoutMs = 10000;
        uint _seq = 1;
        public uint DevId;

        public uint NextSeq() => _seq++;

        public void Send(byte[] bytes)
        {
            if (!ToServer.Write(bytes, 0, bytes.Length, ReplyTimeoutMs))
                throw new InvalidOperationException("server does not read");
        }

        /// <summary>Exactly n bytes, or an exception on timeout / end of stream.</summary>
        public byte[] Read(int n, int timeoutMs = ReplyTimeoutMs)
        {
            var b = new byte[n];
            int done = 0;
            DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            while (done < n)
            {
                int left = (int)(deadline - DateTime.UtcNow).TotalMilliseconds;
                if (left <= 0)
                    throw new TimeoutException("no reply: got " + done + " of " + n + " bytes");
                int r = FromServer.Read(b, done, n - done, left);
                if (r < 0)
                    throw new EndOfStreamException("connection closed after " + done + " of " + n + " bytes");
                done += r;
            }
            return b;
        }

        /// <summary>True when the server closed its side and nothing more is buffered (waits up to the timeout).</summary>
        public bool WaitClosed(int timeoutMs = ReplyTimeoutMs)
        {
            var b = new byte[4096];
            DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            while (DateTime.UtcNow < deadline)
            {
                int r = FromServer.Read(b, 0, b.Length, 50);
                if (r < 0)
                    return true;
            }
            return false;
        }

        /// <summary>The client disconnects (vhci detach, VM killed).</summary>
        public void Disconnect()
        {
            ToServer.Close();
            FromServer.Close();
        }

        public UsbIpHeader ReadHeader() => UsbIpHeader.Parse(Read(UsbIpHeader.Size));

        // ---- Operations -------------------------------------------------------------------------

        public static byte[] OpRequest(ushort code)
        {
            var b = new byte[OpHeader.Size];
            new OpHeader(code, 0).Write(b);
            return b;
        }

        public static byte[] ImportRequest(string busId)
        {
            var b = new byte[OpHeader.Size + UsbIpProtocol.BusIdSize];
            new OpHeader(UsbIpProtocol.OpReqImport, 0).Write(b);
            BigEndian.PutFixedString(new Span<byte>(b, OpHeader.Size, UsbIpProtocol.BusIdSize), busId);
            return b;
        }

        /// <summary>OP_REQ_IMPORT; returns the status and (when 0) the record, and remembers the devid.</summary>
        public uint Import(string busId, out UsbIpDeviceRecord record)
        {
            Send(ImportRequest(busId));
            OpHeader h = OpHeader.Parse(Read(OpHeader.Size));
            record = default;
            if (h.Version != UsbIpProtocol.Version || h.Code != UsbIpProtocol.OpRepImport)
                throw new InvalidOperationException("bad OP_REP_IMPORT header");
            if (h.Status != 0)
                return h.Status;
            record = UsbIpDeviceRecord.Parse(Read(UsbIpDeviceRecord.Size));
            DevId = UsbIpProtocol.DevId(record.BusNum, record.DevNum);
            return 0;
        }

        // ---- URBs -------------------------------------------------------------------------------

        public static ulong Setup(byte requestType, byte request, ushort value, ushort index, ushort length) =>
            requestType | ((ulong)request << 8) | ((ulong)value << 16) | ((ulong)index << 32) | ((ulong)length << 48);

        public byte[] Submit(uint seq, uint direction, uint ep, int length, ulong setup = 0, byte[] outData = null,
                             uint flags = 0, int numberOfPackets = -1, byte[] iso = null)
        {
            int dataLength = direction == UsbIpProtocol.DirOut && outData != null ? outData.Length : 0;
            var b = new byte[UsbIpHeader.Size + dataLength + (iso != null ? iso.Length : 0)];
            UsbIpHeader.WriteCmdSubmit(b, seq, DevId, direction, ep, flags | (direction == UsbIpProtocol.DirIn ? UsbIpProtocol.UrbDirIn : 0),
                                       length, 0, numberOfPackets, 0, setup);
            if (dataLength > 0)
                Array.Copy(outData, 0, b, UsbIpHeader.Size, dataLength);
            if (iso != null)
                Array.Copy(iso, 0, b, UsbIpHeader.Size + dataLength, iso.Length);
            return b;
        }

        /// <summary>Sends a CMD_SUBMIT and waits for its RET_SUBMIT; returns the header and IN data.</summary>
        public UsbIpHeader Transfer(uint direction, uint ep, int length, out byte[] data, ulong setup = 0, byte[] outData = null, uint flags = 0)
        {
            uint seq = NextSeq();
            Send(Submit(seq, direction, ep, length, setup, outData, flags));
            UsbIpHeader h = ReadHeader();
            if (h.Command != UsbIpProtocol.RetSubmit || h.SeqNum != seq)
                throw new InvalidOperationException("expected RET_SUBMIT " + seq + ", got command " + h.Command + " seq " + h.SeqNum);
            data = direction == UsbIpProtocol.DirIn && h.ActualLength > 0 ? Read(h.ActualLength) : new byte[0];
            return h;
        }

        public UsbIpHeader Control(byte requestType, byte request, ushort value, ushort index, ushort length, out byte[] data, byte[] outData = null)
        {
            uint dir = (requestType & 0x80) != 0 ? UsbIpProtocol.DirIn : UsbIpProtocol.DirOut;
            return Transfer(dir, 0, outData != null ? outData.Length : length, out data, Setup(requestType, request, value, index, length), outData);
        }
    }

    public sealed class EndOfStreamException : Exception
    {
        public EndOfStreamException(string message) : base(message) { }
    }
}
