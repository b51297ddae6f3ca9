using System;
using System.Collections.Generic;
using global::Net;
using Drivers.Usb;
using Drivers.Usb.Usbmon;
using Kernel.Console;
using Kernel.Hal;
using Kernel.Shell;
using Platform;

namespace Kernel.Usb
{
    /// <summary>
    /// The `usbmon` shell command, Linux's usbmon from the shell:
    /// `usbmon 1u` prints bus 1's events in usbmon's text format (`0u`: every bus) until a key is
    /// pressed; `usbmon capture 1 5` writes 5 seconds of bus 1 as a pcap file
    /// (LINKTYPE_USB_LINUX_MMAPPED) to COM2, which Wireshark opens like a Linux capture.
    ///
    /// Framing on COM2: each capture is a complete pcap file (file header, then records) written
    /// as it happens; nothing else is ever written to COM2. The first capture after boot therefore
    /// starts at offset 0 and the host's file opens as is; the summary line
    /// `usbmon: capture of bus N: P packets, B bytes at COM2 offset O, D events dropped` says
    /// where each capture lies, so `dd bs=1 skip=O count=B` cuts out any of them.
    ///
    /// `usbmon capture 1 30 tcp 5000` streams the same pcap over TCP instead: it listens on port
    /// 5000, and once a client connects (`nc HOST 5000 | wireshark -k -i -`) sends it 30 seconds of
    /// bus 1 live. A client that reads slowly (or not at all) only slows this loop: the bus keeps
    /// recording into the monitor's ring and events that do not fit are dropped and counted.
    /// </summary>
    internal static class UsbmonShell
    {
        /// <summary>How often the live loops look for a key press and new events.</summary>
        const uint PollMs = 20;
        /// <summary>Longest capture (an hour): keeps the deadline arithmetic far from overflow.</summary>
        const ulong MaxCaptureSeconds = 3600;
        const ulong MillisecondsPerSecond = 1000;
        /// <summary>How long `capture ... tcp` waits for its client before giving up.</summary>
        const ulong ClientWaitSeconds = 300;
        /// <summary>After the capture ends, how long the last buffered events may take to reach a slow client.</summary>
        const ulong DrainMs = 2000;
        /// <summary>Accept queue of the capture's listening socket: one client.</summary>
        const int ListenBacklog = 1;
        const string Usage = "usage: usbmon | usbmon <bus>u | usbmon capture <bus> <seconds> [tcp <port>]   (bus 0 = all buses)";

        static UsbStack s_stack;

        public static void Register(UsbStack stack)
        {
            s_stack = stack;
            KernelShell.Register("usbmon", "usbmon [<bus>u | capture <bus> <s> [tcp <port>]]",
                                 "USB capture: text until a key (<bus>u), pcap to COM2 or a TCP client (capture)", Run);
        }

        static void Run(List<string> args)
        {
            if (args.Count == 1)
                Status();
            else if (args.Count == 2 && args[1].Length > 1 && args[1][args[1].Length - 1] == 'u' &&
                     ParseNumber(args[1].Substring(0, args[1].Length - 1), out ulong bus))
                Text((int)bus);
            else if (args.Count == 4 && args[1] == "capture" && ParseNumber(args[2], out ulong captureBus) &&
                     ParseNumber(args[3], out ulong seconds) && seconds > 0 && seconds <= MaxCaptureSeconds)
                Capture((int)captureBus, seconds);
            else if (args.Count == 6 && args[1] == "capture" && args[4] == "tcp" && ParseNumber(args[2], out ulong tcpBus) &&
                     ParseNumber(args[3], out ulong tcpSeconds) && tcpSeconds > 0 && tcpSeconds <= MaxCaptureSeconds &&
                     ParseNumber(args[5], out ulong port) && port > 0 && port <= ushort.MaxValue)
                CaptureToTcp((int)tcpBus, tcpSeconds, (ushort)port);
            else
                KernelShell.Print(Usage);
        }

        /// <summary>One line per bus: whether a reader is attached, and its counters.</summary>
        static void Status()
        {
            List<UsbBus> buses = s_stack.Buses;
            for (int i = 0; i < buses.Count; i++)
            {
                UsbMonitor m = buses[i].Monitor;
                KernelShell.Print("usbmon: bus " + Format.Decimal((ulong)buses[i].Number) + " (" + buses[i].Controller.DriverName + "): " +
                                  (m.Active ? "recording, " + Format.Decimal(m.Recorded) + " events, " + Format.Decimal(m.Dropped) + " dropped"
                                            : "off"));
            }
            KernelShell.Print(Usage);
        }

        /// <summary>The monitors of bus <paramref name="number"/>, or of every bus for 0; null (with a message) when there is no such bus.</summary>
        static UsbmonReader ReaderFor(int number)
        {
            List<UsbBus> buses = s_stack.Buses;
            var monitors = new List<UsbMonitor>();
            for (int i = 0; i < buses.Count; i++)
                if (number == 0 || buses[i].Number == number)
                    monitors.Add(buses[i].Monitor);
            if (monitors.Count == 0)
            {
                KernelShell.Print("usbmon: no bus " + Format.Decimal((ulong)number));
                return null;
            }
            var reader = new UsbmonReader(monitors.ToArray());
            if (reader.Start() != UsbStatus.Ok)
            {
                KernelShell.Print("usbmon: bus " + Format.Decimal((ulong)number) + " already has a reader");
                return null;
            }
            return reader;
        }

        /// <summary>`usbmon Nu`: text lines until a key is pressed (the key is consumed).</summary>
        static void Text(int bus)
        {
            UsbmonReader reader = ReaderFor(bus);
            if (reader == null) return;
            KernelShell.Print("usbmon: bus " + Format.Decimal((ulong)bus) + " in text format; press a key to stop");
            byte[] record = new byte[UsbMonitor.MaxRecordBytes];
            while (!KeyPressed())
            {
                PrintEvents(reader, record);
                reader.WaitForEvents(PollMs);
            }
            reader.Stop();
            PrintEvents(reader, record);
            ulong recorded = reader.Recorded, dropped = reader.Dropped;
            reader.Release();
            KernelShell.Print("usbmon: " + Format.Decimal(recorded) + " events, " + Format.Decimal(dropped) + " dropped");
        }

        static void PrintEvents(UsbmonReader reader, byte[] record)
        {
            int length;
            while ((length = reader.Read(record, out int textLength)) > 0)
                KernelShell.Print(UsbmonText.Format(new ReadOnlySpan<byte>(record, 0, length), textLength));
        }

        /// <summary>`usbmon capture N S`: a pcap of S seconds (or until a key) on COM2.</summary>
        static void Capture(int bus, ulong seconds)
        {
            if (!CaptureSerial.Present)
            {
                KernelShell.Print("usbmon: no COM2 to write the capture to (QEMU: add a second -serial, e.g. -serial file:usbmon.pcap)");
                return;
            }
            UsbmonReader reader = ReaderFor(bus);
            if (reader == null) return;
            ulong offset = CaptureSerial.BytesWritten;
            KernelShell.Print("usbmon: capturing bus " + Format.Decimal((ulong)bus) + " to COM2 for " + Format.Decimal(seconds) + " s (a key stops it)");
            byte[] fileHeader = new byte[Pcap.FileHeaderSize];
            Pcap.WriteFileHeader(fileHeader);
            bool ok = CaptureSerial.Write(fileHeader);
            var capture = new CaptureState { Record = new byte[UsbMonitor.MaxRecordBytes], RecordHeader = new byte[Pcap.RecordHeaderSize] };

            ulong deadline = Time.Clock.Instance.Milliseconds + seconds * MillisecondsPerSecond;
            while (ok && Time.Clock.Instance.Milliseconds < deadline && !KeyPressed())
            {
                ok = WriteEvents(reader, capture);
                reader.WaitForEvents(PollMs);
            }
            reader.Stop();
            if (ok)
                ok = WriteEvents(reader, capture);
            ulong dropped = reader.Dropped;
            reader.Release();
            ulong bytes = CaptureSerial.BytesWritten - offset;
            KernelShell.Print("usbmon: capture of bus " + Format.Decimal((ulong)bus) + ": " + Format.Decimal(capture.Packets) + " packets, " +
                              Format.Decimal(bytes) + " bytes at COM2 offset " + Format.Decimal(offset) + ", " +
                              Format.Decimal(dropped) + " events dropped" + (ok ? "" : " (COM2 stalled: capture incomplete)"));
        }

        sealed class CaptureState
        {
            public byte[] Record;
            public byte[] RecordHeader;
            public ulong Packets;
        }

        /// <summary>Writes every buffered event as a pcap record; false when COM2 stalled.</summary>
        static bool WriteEvents(UsbmonReader reader, CaptureState capture)
        {
            int length;
            while ((length = reader.Read(capture.Record)) > 0)
            {
                ReadOnlySpan<byte> packet = new ReadOnlySpan<byte>(capture.Record, 0, length);
                Pcap.WriteRecordHeader(capture.RecordHeader, packet);
                if (!CaptureSerial.Write(capture.RecordHeader) || !CaptureSerial.Write(packet))
                    return false;
                capture.Packets++;
            }
            return true;
        }

        /// <summary>
        /// `usbmon capture N S tcp P`: waits (a key or <see cref="ClientWaitSeconds"/> end it) for
        /// one client on TCP port P, then streams S seconds of bus N to it as pcap.
        /// </summary>
        static void CaptureToTcp(int bus, ulong seconds, ushort port)
        {
            NetStack stack = Kernel.Networking.NetSubsystem.Stack;
            if (stack == null)
            {
                KernelShell.Print("usbmon: no network");
                return;
            }
            NetStatus status = stack.Tcp.Listen(port, ListenBacklog, out TcpListener listener);
            if (status != NetStatus.Ok)
            {
                KernelShell.Print("usbmon: cannot listen on tcp port " + Format.Decimal((ulong)port) + ": " + NetStatusNames.Name(status));
                return;
            }
            KernelShell.Print("usbmon: waiting for a client on tcp port " + Format.Decimal((ulong)port) +
                              " (nc <host> " + Format.Decimal((ulong)port) + " | wireshark -k -i -); a key stops");
            TcpConnection connection = null;
            ulong waitDeadline = Time.Clock.Instance.Milliseconds + ClientWaitSeconds * MillisecondsPerSecond;
            while (connection == null && Time.Clock.Instance.Milliseconds < waitDeadline && !KeyPressed())
            {
                if (listener.Accept(PollMs, out TcpConnection accepted) == NetStatus.Ok)
                    connection = accepted;
            }
            listener.Stop();
            if (connection == null)
            {
                KernelShell.Print("usbmon: no client connected");
                return;
            }
            UsbmonReader reader = ReaderFor(bus);
            if (reader == null)
            {
                connection.Abort();
                return;
            }
            KernelShell.Print("usbmon: streaming bus " + Format.Decimal((ulong)bus) + " to " + connection.RemoteEndPoint.ToString() + " for " +
                              Format.Decimal(seconds) + " s (a key stops it)");
            var streamer = new PcapStreamer(reader);
            var sink = new TcpPcapSink(connection);
            ulong deadline = Time.Clock.Instance.Milliseconds + seconds * MillisecondsPerSecond;
            while (Time.Clock.Instance.Milliseconds < deadline && !KeyPressed())
            {
                if (!streamer.Pump(sink))
                    break;
                // A full send buffer already waited in the sink; otherwise wait for new events.
                if (!streamer.HasPending)
                    reader.WaitForEvents(PollMs);
            }
            reader.Stop();
            ulong drainDeadline = Time.Clock.Instance.Milliseconds + DrainMs;
            while (streamer.Pump(sink) && streamer.HasPending && Time.Clock.Instance.Milliseconds < drainDeadline)
            {
            }
            bool complete = !streamer.Closed && !streamer.HasPending;
            if (complete)
                connection.Flush((uint)DrainMs);
            connection.Close();
            ulong dropped = reader.Dropped;
            reader.Release();
            KernelShell.Print("usbmon: capture of bus " + Format.Decimal((ulong)bus) + " to tcp port " + Format.Decimal((ulong)port) + ": " +
                              Format.Decimal(streamer.Packets) + " packets, " + Format.Decimal(streamer.Bytes) + " bytes, " +
                              Format.Decimal(dropped) + " events dropped" +
                              (streamer.Closed ? " (client went away)" : complete ? "" : " (client too slow: capture incomplete)"));
        }

        /// <summary>A TCP connection as a pcap sink: waits at most one poll period for send-buffer room.</summary>
        sealed class TcpPcapSink : IPcapSink
        {
            readonly TcpConnection _connection;

            public TcpPcapSink(TcpConnection connection) { _connection = connection; }

            public int Write(byte[] buffer, int offset, int count)
            {
                NetStatus status = _connection.Send(buffer, offset, count, PollMs, out int sent);
                if (status == NetStatus.Ok || status == NetStatus.Timeout)
                    return sent;
                return -1;
            }
        }

        /// <summary>True (and the key consumed) when the user typed something; COM1 is polled too, in case its interrupt got lost.</summary>
        static bool KeyPressed()
        {
            ulong flags = InterruptGuard.Enter();
            Serial.Drain();
            InterruptGuard.Exit(flags);
            return ConsoleInput.TryRead(out char _, 0);
        }

        static bool ParseNumber(string text, out ulong value)
        {
            value = 0;
            if (text.Length == 0 || text.Length > 9) return false;
            for (int i = 0; i < text.Length; i++)
            {
                if (text[i] < '0' || text[i] > '9') return false;
                value = value * 10 + (ulong)(text[i] - '0');
            }
            return true;
        }
    }
}
