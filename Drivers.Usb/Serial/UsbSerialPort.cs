using System;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Serial
{
    /// <summary>Parity of a serial line (the values of both FTDI's SET_DATA and CDC's bParityType).</summary>
    public enum SerialParity { None = 0, Odd = 1, Even = 2, Mark = 3, Space = 4 }

    /// <summary>Stop bits (the values of FTDI's SET_DATA and CDC's bCharFormat).</summary>
    public enum SerialStopBits { One = 0, OneAndHalf = 1, Two = 2 }

    /// <summary>Speed and character format of a serial line (Linux termios c_cflag/c_ispeed).</summary>
    public struct SerialLineSettings
    {
        public uint Baud;
        public byte DataBits;
        public SerialParity Parity;
        public SerialStopBits StopBits;

        /// <summary>What a Linux tty starts with: 9600 baud, 8 data bits, no parity, 1 stop bit.</summary>
        public static SerialLineSettings Default => new SerialLineSettings { Baud = 9600, DataBits = 8, Parity = SerialParity.None, StopBits = SerialStopBits.One };

        /// <summary>"115200 8N1".</summary>
        public string Describe()
        {
            string parity = Parity == SerialParity.None ? "N" : Parity == SerialParity.Odd ? "O" : Parity == SerialParity.Even ? "E" : Parity == SerialParity.Mark ? "M" : "S";
            string stop = StopBits == SerialStopBits.One ? "1" : StopBits == SerialStopBits.Two ? "2" : "1.5";
            return Format.Decimal(Baud) + " " + Format.Decimal(DataBits) + parity + stop;
        }
    }

    /// <summary>Modem status lines and line errors as the device reports them (Linux TIOCM_* and icount).</summary>
    public static class SerialModemLines
    {
        public const int Cts = 1 << 0;
        public const int Dsr = 1 << 1;
        public const int Ring = 1 << 2;
        /// <summary>Data carrier detect (RLSD on FTDI, bRxCarrier on CDC).</summary>
        public const int Dcd = 1 << 3;
    }

    /// <summary>Where received bytes go as they arrive (the kernel console). Called in completion (interrupt) context: no blocking.</summary>
    public interface ISerialReceiver
    {
        void Received(UsbSerialPort port, ReadOnlySpan<byte> data);
    }

    /// <summary>
    /// One USB serial port (Linux usb_serial_port + its tty): a bulk IN stream kept queued
    /// (several requests resubmitted from their completions, Linux usb_serial_generic_read), the
    /// bytes a class driver extracts from it go into a receive ring (and to an optional receiver);
    /// writes go out on the bulk OUT endpoint, one bounded request at a time. Subclasses
    /// (FTDI, CDC-ACM) say how line settings and control lines are set and how an IN packet
    /// carries data. Named like Linux: ttyUSB&lt;n&gt; (usb-serial drivers), ttyACM&lt;n&gt; (cdc_acm).
    /// </summary>
    public abstract class UsbSerialPort
    {
        /// <summary>IN requests kept queued so the device always has somewhere to put data.</summary>
        public const int QueuedReads = 2;
        /// <summary>Bytes per IN request (Linux ftdi_sio bulk_in_size 512; a multiple of every wMaxPacketSize).</summary>
        public const int ReadSize = 512;
        /// <summary>Bytes per OUT request (Linux ftdi_sio bulk_out_size 256).</summary>
        public const int WriteSize = 256;
        public const int ReceiveBufferSize = 4096;
        /// <summary>Bound of one OUT request: a device that stopped reading (flow control, unplugged line) must not hang the writer.</summary>
        public const uint WriteTimeoutMs = 2000;

        public readonly UsbInterface Interface;
        public readonly UsbDevice Device;
        public readonly UsbEndpoint BulkIn;
        public readonly UsbEndpoint BulkOut;
        /// <summary>"ttyUSB0", set by the registry.</summary>
        public string Name = "";
        public SerialLineSettings Settings = SerialLineSettings.Default;
        /// <summary><see cref="SerialModemLines"/> bits last reported by the device.</summary>
        public int ModemLines;
        public bool Dtr, Rts;

        /// <summary>Receiver of incoming bytes in completion context (null: bytes only go to the ring).</summary>
        public ISerialReceiver Receiver;

        // Statistics (Linux icount).
        public ulong BytesReceived, BytesSent, BytesDropped;
        public int OverrunErrors, ParityErrors, FramingErrors, Breaks, TransferErrors;

        readonly UsbRequest[] _reads = new UsbRequest[QueuedReads];
        readonly byte[] _ring = new byte[ReceiveBufferSize];
        readonly object _ringLock = new object();
        int _ringHead, _ringCount;
        readonly IEvent _received;
        readonly IEvent _written;
        readonly IMutex _writeLock;
        DmaBuffer _writeBuffer;
        UsbRequest _write;
        volatile bool _writeDone;
        volatile bool _stopped;

        protected UsbSerialPort(UsbInterface intf, UsbEndpoint bulkIn, UsbEndpoint bulkOut)
        {
            Interface = intf;
            Device = intf.Device;
            BulkIn = bulkIn;
            BulkOut = bulkOut;
            IThreading threading = Device.Bus.Stack.Threading;
            _received = threading.CreateEvent(autoReset: true);
            _written = threading.CreateEvent(autoReset: true);
            _writeLock = threading.CreateMutex();
        }

        /// <summary>Driver name as Linux shows it ("ftdi_sio", "cdc_acm").</summary>
        public abstract string DriverName { get; }

        /// <summary>Chip or function, for listings ("FT232BM", "ACM").</summary>
        public abstract string Kind { get; }

        /// <summary>Device name prefix ("ttyUSB" or "ttyACM").</summary>
        public abstract string NamePrefix { get; }

        /// <summary>Programs speed and character format (control requests; thread context).</summary>
        protected abstract UsbStatus ApplySettings(SerialLineSettings settings);

        /// <summary>Sets DTR and RTS (thread context).</summary>
        protected abstract UsbStatus ApplyControlLines(bool dtr, bool rts);

        /// <summary>
        /// Handles one completed IN transfer: class framing is removed here and the payload handed
        /// to <see cref="Deliver"/>. Completion context.
        /// </summary>
        protected virtual void ProcessIn(ReadOnlySpan<byte> transfer) => Deliver(transfer);

        /// <summary>Extra work when the port starts (e.g. the CDC notification endpoint); thread context.</summary>
        protected virtual UsbStatus StartExtra() => UsbStatus.Ok;

        /// <summary>Undoes <see cref="StartExtra"/>; thread context.</summary>
        protected virtual void StopExtra() { }

        public bool IsGone => _stopped || Device.IsGone;

        /// <summary>Sets speed and format; on success <see cref="Settings"/> holds them.</summary>
        public UsbStatus SetLineSettings(SerialLineSettings settings)
        {
            if (IsGone) return UsbStatus.NoDevice;
            UsbStatus status = ApplySettings(settings);
            if (status == UsbStatus.Ok) Settings = settings;
            return status;
        }

        public UsbStatus SetBaud(uint baud)
        {
            SerialLineSettings s = Settings;
            s.Baud = baud;
            return SetLineSettings(s);
        }

        public UsbStatus SetControlLines(bool dtr, bool rts)
        {
            if (IsGone) return UsbStatus.NoDevice;
            UsbStatus status = ApplyControlLines(dtr, rts);
            if (status == UsbStatus.Ok)
            {
                Dtr = dtr;
                Rts = rts;
            }
            return status;
        }

        /// <summary>
        /// Opens the port the way a Linux tty open does: line settings, DTR and RTS raised, the IN
        /// stream started. Thread context (the driver's probe).
        /// </summary>
        public UsbStatus Start()
        {
            UsbStatus status = ApplySettings(Settings);
            if (status != UsbStatus.Ok) return status;
            status = SetControlLines(true, true);
            if (status != UsbStatus.Ok) return status;
            IDmaAllocator dma = Device.Bus.Dma;
            _writeBuffer = dma.Allocate(WriteSize, UsbBus.DmaAlignment, DmaLimit.Below4G);
            if (_writeBuffer.IsNull) return UsbStatus.NoMemory;
            for (int i = 0; i < QueuedReads; i++)
            {
                var r = new UsbRequest();
                r.Device = Device;
                r.Endpoint = BulkIn;
                r.Buffer = dma.Allocate(ReadSize, UsbBus.DmaAlignment, DmaLimit.Below4G);
                if (r.Buffer.IsNull) { Stop(); return UsbStatus.NoMemory; }
                r.Length = ReadSize;
                r.Context = this;
                r.Completion = ReadComplete;
                _reads[i] = r;
            }
            status = StartExtra();
            if (status != UsbStatus.Ok) { Stop(); return status; }
            for (int i = 0; i < QueuedReads; i++)
            {
                status = Device.Bus.Submit(_reads[i]);
                if (status != UsbStatus.Ok) { Stop(); return status; }
            }
            return UsbStatus.Ok;
        }

        static void ReadComplete(UsbRequest request)
        {
            var port = (UsbSerialPort)request.Context;
            UsbStatus status = request.Status;
            if (status == UsbStatus.Cancelled || status == UsbStatus.Killed || status == UsbStatus.NoDevice || status == UsbStatus.Shutdown)
                return;
            if (status == UsbStatus.Ok)
            {
                port._consecutiveErrors = 0;
                if (request.ActualLength > 0 && !port._stopped)
                    port.ProcessIn(request.Buffer.AsSpan().Slice(0, request.ActualLength));
            }
            else
            {
                port.TransferErrors++;
                port._consecutiveErrors++;
            }
            // A failed read is retried (transient errors); an endpoint that keeps failing (halted)
            // is given up after a bound instead of being resubmitted forever.
            if (!port._stopped && port._consecutiveErrors < MaxConsecutiveErrors)
                request.Device.Bus.Submit(request);
            else if (!port._stopped && port._consecutiveErrors == MaxConsecutiveErrors)
                Log.Error(port.DriverName + " " + port.Name + ": too many read errors, input stopped");
        }

        /// <summary>Consecutive-error bound for the IN stream (a port whose endpoint fails this often is dead).</summary>
        const int MaxConsecutiveErrors = 64;
        int _consecutiveErrors;

        /// <summary>Hands received payload bytes to the receiver and the ring. Completion context.</summary>
        protected void Deliver(ReadOnlySpan<byte> data)
        {
            if (data.Length == 0) return;
            BytesReceived += (ulong)data.Length;
            ISerialReceiver receiver = Receiver;
            if (receiver != null)
            {
                receiver.Received(this, data);
                return;
            }
            lock (_ringLock)
            {
                for (int i = 0; i < data.Length; i++)
                {
                    if (_ringCount == _ring.Length)
                    {
                        BytesDropped += (ulong)(data.Length - i);
                        break;
                    }
                    _ring[(_ringHead + _ringCount) % _ring.Length] = data[i];
                    _ringCount++;
                }
            }
            _received.Signal();
        }

        /// <summary>Bytes waiting in the receive ring.</summary>
        public int Available
        {
            get { lock (_ringLock) return _ringCount; }
        }

        /// <summary>Takes up to <paramref name="buffer"/>.Length received bytes, waiting up to <paramref name="timeoutMs"/> for the first.</summary>
        public int Read(Span<byte> buffer, uint timeoutMs)
        {
            if (Available == 0 && timeoutMs > 0 && !IsGone)
                _received.Wait(timeoutMs);
            int n = 0;
            lock (_ringLock)
            {
                while (n < buffer.Length && _ringCount > 0)
                {
                    buffer[n++] = _ring[_ringHead];
                    _ringHead = (_ringHead + 1) % _ring.Length;
                    _ringCount--;
                }
            }
            return n;
        }

        /// <summary>Discards what the ring holds.</summary>
        public void Flush()
        {
            lock (_ringLock)
            {
                _ringHead = 0;
                _ringCount = 0;
            }
        }

        static void WriteComplete(UsbRequest request)
        {
            var port = (UsbSerialPort)request.Context;
            port._writeDone = true;
            port._written.Signal();
        }

        /// <summary>
        /// Sends <paramref name="data"/> in OUT requests of at most <see cref="WriteSize"/> bytes, each bounded by
        /// <see cref="WriteTimeoutMs"/>; <paramref name="written"/> counts what the device accepted. Thread context.
        /// </summary>
        public UsbStatus Write(ReadOnlySpan<byte> data, out int written)
        {
            written = 0;
            _writeLock.Lock();
            UsbStatus status = UsbStatus.Ok;
            while (written < data.Length)
            {
                int chunk = data.Length - written;
                if (chunk > WriteSize) chunk = WriteSize;
                status = WriteChunk(data.Slice(written, chunk), out int actual);
                written += actual;
                BytesSent += (ulong)actual;
                if (status != UsbStatus.Ok) break;
            }
            _writeLock.Unlock();
            return status;
        }

        UsbStatus WriteChunk(ReadOnlySpan<byte> chunk, out int actual)
        {
            actual = 0;
            if (IsGone) return UsbStatus.NoDevice;
            if (_writeBuffer.IsNull) return UsbStatus.Shutdown;
            int length = PrepareWrite(chunk, _writeBuffer.AsSpan());
            if (_write == null)
            {
                _write = new UsbRequest();
                _write.Device = Device;
                _write.Endpoint = BulkOut;
                _write.Buffer = _writeBuffer;
                _write.Context = this;
                _write.Completion = WriteComplete;
            }
            _write.Length = length;
            _writeDone = false;
            _written.Reset();
            IClock clock = Device.Bus.Clock;
            ulong start = clock.Milliseconds;
            UsbStatus status = Device.Bus.Submit(_write);
            if (status != UsbStatus.Ok) return status;
            while (!_writeDone)
            {
                ulong elapsed = clock.Milliseconds - start;
                if (elapsed >= WriteTimeoutMs) break;
                _written.Wait((uint)(WriteTimeoutMs - elapsed));
            }
            if (!_writeDone)
            {
                if (Device.Bus.Kill(_write) != UsbStatus.Ok)
                {
                    // The controller may still read the buffer: leave it to it, no more writes.
                    Log.Error(DriverName + " " + Name + ": write would not die; its buffer stays with the controller");
                    _writeBuffer = default(DmaBuffer);
                    return UsbStatus.Timeout;
                }
                return UsbStatus.Timeout;
            }
            actual = _write.ActualLength < chunk.Length ? _write.ActualLength : chunk.Length;
            return _write.Status;
        }

        /// <summary>Copies payload into the OUT buffer in the class's framing; returns the transfer length. Plain copy by default.</summary>
        protected virtual int PrepareWrite(ReadOnlySpan<byte> payload, Span<byte> buffer)
        {
            for (int i = 0; i < payload.Length; i++) buffer[i] = payload[i];
            return payload.Length;
        }

        /// <summary>Stops the port (unbind, unplug): kills the IN stream and frees the buffers of requests known dead. Thread context.</summary>
        public void Stop()
        {
            _stopped = true;
            Receiver = null;
            _received.Signal();
            StopExtra();
            IDmaAllocator dma = Device.Bus.Dma;
            for (int i = 0; i < QueuedReads; i++)
                KillAndFree(ref _reads[i]);
            _writeLock.Lock();
            if (_write != null && Device.Bus.Kill(_write) != UsbStatus.Ok)
                Log.Error(DriverName + " " + Name + ": write would not die; leaking its buffer");
            else if (!_writeBuffer.IsNull)
                dma.Free(_writeBuffer);
            _writeBuffer = default(DmaBuffer);
            _writeLock.Unlock();
        }

        /// <summary>Kills a request and frees its buffer; a request that would not die keeps its buffer (DMA) with a log line.</summary>
        protected void KillAndFree(ref UsbRequest request)
        {
            UsbRequest r = request;
            if (r == null) return;
            request = null;
            if (Device.Bus.Kill(r) != UsbStatus.Ok)
            {
                Log.Error(DriverName + " " + Name + ": request would not die; leaking its buffer to the controller");
                return;
            }
            if (!r.Buffer.IsNull) Device.Bus.Dma.Free(r.Buffer);
            r.Buffer = default(DmaBuffer);
        }

        /// <summary>Finds the first bulk IN and bulk OUT endpoints of an alternate setting.</summary>
        public static void FindBulk(UsbAltSetting alt, out UsbEndpoint bulkIn, out UsbEndpoint bulkOut)
        {
            bulkIn = null;
            bulkOut = null;
            if (alt == null) return;
            for (int i = 0; i < alt.Endpoints.Length; i++)
            {
                UsbEndpoint e = alt.Endpoints[i];
                if (e.Type != TransferType.Bulk) continue;
                if (e.IsIn && bulkIn == null) bulkIn = e;
                if (!e.IsIn && bulkOut == null) bulkOut = e;
            }
        }
    }
}
