using System;
using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Serial;
using Kernel.Console;
using Kernel.Hal;
using Kernel.Shell;
using Kernel.Threading;
using Platform;

namespace Kernel.Usb
{
    /// <summary>
    /// The kernel's end of the USB serial drivers (FTDI ttyUSB&lt;n&gt;, CDC-ACM ttyACM&lt;n&gt;): the
    /// `serial` command (list, speed, send, receive) and `console`, which moves the kernel console
    /// (log and shell) to a USB serial port and back to COM1 (ttyS0), the way a headless PC is driven.
    /// </summary>
    internal static class SerialShell
    {
        public static SerialPortRegistry Ports;
        const uint DefaultReceiveMs = 1000, MaxReceiveMs = 600000;
        /// <summary>Receives at least this long show their progress on an updating line.</summary>
        const uint ProgressFromMs = 2000;
        const int ReceiveChunk = 256;

        /// <summary>Registers the FTDI and CDC-ACM drivers and the `serial` and `console` commands.</summary>
        public static void Register(UsbStack stack)
        {
            Ports = SerialPortRegistry.Register(stack);
            Ports.Listener = UsbSerialConsole.Instance;
            KernelShell.Register("serial", "serial [<port> speed <baud> | send <text> | recv [ms]]",
                                 "USB serial ports (ttyUSB/ttyACM): list, set speed, send a line, receive", Run);
            KernelShell.Register("console", "console [ttyS0 | ttyUSB<n> | ttyACM<n>]", "show or move the kernel console (log and shell)", ConsoleCommand);
        }

        static void Run(List<string> args)
        {
            if (args.Count == 1)
            {
                List();
                return;
            }
            UsbSerialPort port = Ports.Find(args[1]);
            if (port == null)
            {
                KernelShell.Print("serial: no port " + args[1]);
                return;
            }
            string verb = args.Count > 2 ? args[2] : "";
            if (verb == "speed" && args.Count > 3) Speed(port, args[3]);
            else if (verb == "send" && args.Count > 3) Send(port, args);
            else if (verb == "recv") Receive(port, args);
            else KernelShell.Print("usage: serial | serial <port> speed <baud> | serial <port> send <text> | serial <port> recv [ms]");
        }

        static void List()
        {
            UsbSerialPort[] ports = Ports.Ports;
            if (ports.Length == 0)
            {
                KernelShell.Print("serial: no USB serial ports");
                return;
            }
            for (int i = 0; i < ports.Length; i++)
            {
                UsbSerialPort p = ports[i];
                KernelShell.Print(Format.PadRight(p.Name, 9) + Format.PadRight(p.DriverName, 10) + Format.PadRight(p.Interface.Name, 12) +
                                  Format.PadRight(p.Kind, 10) + Format.PadRight(p.Settings.Describe(), 13) + Lines(p) +
                                  "  rx " + Format.Decimal(p.BytesReceived) + " tx " + Format.Decimal(p.BytesSent) +
                                  (p.BytesDropped > 0 ? " dropped " + Format.Decimal(p.BytesDropped) : "") +
                                  (UsbSerialConsole.Instance.Port == p ? "  [console]" : ""));
            }
        }

        /// <summary>"DTR RTS | CTS DSR DCD RI" as set and as reported.</summary>
        static string Lines(UsbSerialPort p)
        {
            int m = p.ModemLines;
            return (p.Dtr ? "DTR " : "") + (p.Rts ? "RTS " : "") + "|" +
                   ((m & SerialModemLines.Cts) != 0 ? " CTS" : "") + ((m & SerialModemLines.Dsr) != 0 ? " DSR" : "") +
                   ((m & SerialModemLines.Dcd) != 0 ? " DCD" : "") + ((m & SerialModemLines.Ring) != 0 ? " RI" : "");
        }

        static void Speed(UsbSerialPort port, string text)
        {
            if (!ParseNumber(text, out uint baud) || baud == 0)
            {
                KernelShell.Print("serial: bad speed " + text);
                return;
            }
            UsbStatus status = port.SetBaud(baud);
            if (status == UsbStatus.Ok)
                KernelShell.Print("serial " + port.Name + ": " + port.Settings.Describe());
            else
                KernelShell.Print("serial " + port.Name + ": can't set " + text + " baud: " + UsbStatusNames.Name(status));
        }

        /// <summary>Sends the words after "send", joined by spaces, and a newline (like `echo text > /dev/ttyUSB0`).</summary>
        static void Send(UsbSerialPort port, List<string> args)
        {
            var sb = new System.Text.StringBuilder();
            for (int i = 3; i < args.Count; i++)
            {
                if (i > 3) sb.Append(' ');
                sb.Append(args[i]);
            }
            sb.Append('\n');
            string text = sb.ToString();
            var bytes = new byte[text.Length];
            for (int i = 0; i < text.Length; i++) bytes[i] = text[i] < 0x80 ? (byte)text[i] : (byte)'?';
            UsbStatus status = port.Write(new ReadOnlySpan<byte>(bytes), out int written);
            KernelShell.Print("serial " + port.Name + ": sent " + Format.Decimal((ulong)written) + " bytes" +
                              (status == UsbStatus.Ok ? "" : ": " + UsbStatusNames.Name(status)));
        }

        /// <summary>Collects what arrives for the given time (Ctrl-C ends it early) and prints it on one line, escaped.</summary>
        static void Receive(UsbSerialPort port, List<string> args)
        {
            uint ms = DefaultReceiveMs;
            if (args.Count > 3 && (!ParseNumber(args[3], out ms) || ms > MaxReceiveMs))
            {
                KernelShell.Print("serial: bad time " + args[3] + " (ms, at most " + Format.Decimal(MaxReceiveMs) + ")");
                return;
            }
            if (UsbSerialConsole.Instance.Port == port)
            {
                KernelShell.Print("serial " + port.Name + ": is the console; its input goes to the shell");
                return;
            }
            var text = new System.Text.StringBuilder();
            var buffer = new byte[ReceiveChunk];
            int total = 0;
            ulong start = Time.Clock.Instance.Milliseconds;
            bool interrupted = false;
            ShellProgress progress = ms >= ProgressFromMs ? new ShellProgress() : null;
            while (true)
            {
                ulong elapsed = Time.Clock.Instance.Milliseconds - start;
                if (elapsed >= ms || port.IsGone) break;
                if (KernelShell.Interrupted) { interrupted = true; break; }
                if (progress != null && progress.Due)
                    progress.Update("serial " + port.Name + ": " + Format.Decimal((ulong)total) + " bytes, " +
                                    Format.Decimal((ms - elapsed + 999) / 1000) + " s left (Ctrl-C stops)");
                uint wait = ms - (uint)elapsed;
                int n = port.Read(new Span<byte>(buffer), wait < 50 ? wait : 50);
                for (int i = 0; i < n; i++) AppendEscaped(text, buffer[i]);
                total += n;
            }
            string result = "serial " + port.Name + ": received " + Format.Decimal((ulong)total) + " bytes" +
                            (interrupted ? " (interrupted)" : "") + (total > 0 ? ": \"" + text.ToString() + "\"" : "");
            if (progress != null) progress.Finish(result);
            else KernelShell.Print(result);
        }

        static void AppendEscaped(System.Text.StringBuilder sb, byte b)
        {
            if (b == (byte)'\n') sb.Append("\\n");
            else if (b == (byte)'\r') sb.Append("\\r");
            else if (b == (byte)'\\') sb.Append("\\\\");
            else if (b == (byte)'"') sb.Append("\\\"");
            else if (b >= 0x20 && b < 0x7F) sb.Append((char)b);
            else sb.Append("\\x").Append(Format.Hex(b, 2));
        }

        static void ConsoleCommand(List<string> args)
        {
            if (args.Count == 1)
            {
                KernelShell.Print("console: " + KernelConsole.DeviceName);
                return;
            }
            string name = args[1];
            if (name == "ttyS0")
            {
                UsbSerialConsole.Instance.Detach("console: moved to ttyS0");
                return;
            }
            UsbSerialPort port = Ports.Find(name);
            if (port == null)
            {
                KernelShell.Print("console: no port " + name);
                return;
            }
            UsbSerialConsole.Instance.Attach(port);
        }

        static bool ParseNumber(string text, out uint value)
        {
            value = 0;
            if (text.Length == 0 || text.Length > 9) return false;
            for (int i = 0; i < text.Length; i++)
            {
                if (text[i] < '0' || text[i] > '9') return false;
                value = value * 10 + (uint)(text[i] - '0');
            }
            return true;
        }
    }

    /// <summary>
    /// The kernel console on a USB serial port. Output: <see cref="KernelConsole"/> hands every write
    /// to <see cref="Append"/> (any context, interrupts disabled), which queues it; the "usb-console"
    /// thread sends the queue with the port's bounded writes. Input: bytes the port receives go to
    /// <see cref="ConsoleInput"/> like COM1's (COM1 input still works, so a wrong move can be undone
    /// from there). When the port goes away, the console returns to COM1.
    /// </summary>
    internal sealed class UsbSerialConsole : IConsoleDevice, ISerialReceiver, ISerialPortListener
    {
        public static readonly UsbSerialConsole Instance = new UsbSerialConsole();

        const int QueueBytes = 64 * 1024;
        const int ChunkBytes = UsbSerialPort.WriteSize;
        const uint IdleWaitMs = 100;

        readonly ConsoleRing _queue = new ConsoleRing(QueueBytes);
        readonly KernelEvent _pending = new KernelEvent(autoReset: true);
        readonly byte[] _chunk = new byte[ChunkBytes];
        // One drainer at a time (the thread, or Detach flushing): chunks leave in queue order.
        readonly object _drainLock = new object();
        UsbSerialPort _port;
        bool _threadStarted;

        /// <summary>The port the console is on (null: COM1).</summary>
        public UsbSerialPort Port => _port;

        public string Name => _port == null ? "ttyS0" : _port.Name;

        public void Append(string text)
        {
            if (!_queue.TryAppend(text)) _queue.CountDroppedLine();
            _pending.Signal();
        }

        public void Received(UsbSerialPort port, ReadOnlySpan<byte> data)
        {
            for (int i = 0; i < data.Length; i++) ConsoleInput.Push((char)data[i]);
        }

        public void Attach(UsbSerialPort port)
        {
            if (!_threadStarted)
            {
                _threadStarted = true;
                Scheduler.Start("usb-console", Run);
            }
            Log.Info("console: moved to " + port.Name);
            KernelConsole.Flush();
            UsbSerialPort old = _port;
            if (old != null) old.Receiver = null;
            ulong flags = InterruptGuard.Enter();
            while (_queue.TryTake(out byte _)) { }
            _port = port;
            InterruptGuard.Exit(flags);
            port.Flush();
            port.Receiver = this;
            KernelConsole.Device = this;
            Log.Info("console: " + port.Name + " (" + port.DriverName + " " + port.Interface.Name + ", " + port.Settings.Describe() + ")");
        }

        /// <summary>Back to COM1; <paramref name="message"/> is logged on both sides.</summary>
        public void Detach(string message)
        {
            UsbSerialPort port = _port;
            if (port == null)
            {
                KernelShell.Print(message);
                return;
            }
            Log.Info(message);
            Drain(port);
            port.Receiver = null;
            KernelConsole.Device = null;
            ulong flags = InterruptGuard.Enter();
            _port = null;
            InterruptGuard.Exit(flags);
            Log.Info(message);
        }

        public void PortAdded(UsbSerialPort port) { }

        public void PortRemoved(UsbSerialPort port)
        {
            if (port == _port) Detach("console: " + port.Name + " is gone, back on ttyS0");
        }

        void Run()
        {
            while (true)
            {
                _pending.Wait(IdleWaitMs);
                UsbSerialPort port = _port;
                if (port != null) Drain(port);
            }
        }

        /// <summary>Sends what is queued, a chunk at a time; a port that fails loses the rest (the log must not stall).</summary>
        void Drain(UsbSerialPort port)
        {
            lock (_drainLock) DrainLocked(port);
        }

        void DrainLocked(UsbSerialPort port)
        {
            while (true)
            {
                int n = 0;
                ulong flags = InterruptGuard.Enter();
                while (n < _chunk.Length && _queue.TryTake(out byte b)) _chunk[n++] = b;
                InterruptGuard.Exit(flags);
                if (n == 0) return;
                if (port.Write(new ReadOnlySpan<byte>(_chunk, 0, n), out int _) != UsbStatus.Ok)
                {
                    flags = InterruptGuard.Enter();
                    while (_queue.TryTake(out byte _)) { }
                    InterruptGuard.Exit(flags);
                    return;
                }
            }
        }
    }
}
