using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;

namespace Boot.Tests.Harness
{
    public sealed class QmpException : Exception
    {
        public QmpException(string message) : base(message) { }
    }

    /// <summary>
    /// Minimal QEMU Machine Protocol client over a unix socket (-qmp unix:PATH,server=on,wait=off).
    /// Commands are synchronous; asynchronous events are collected in <see cref="Events"/>.
    /// </summary>
    public sealed class QmpClient : IDisposable
    {
        readonly Socket _socket;
        readonly StreamReader _reader;
        readonly Stream _stream;
        readonly object _lock = new();
        readonly List<JsonObject> _events = new();

        public JsonObject Greeting { get; }

        QmpClient(Socket socket)
        {
            _socket = socket;
            _stream = new NetworkStream(socket, ownsSocket: false);
            _reader = new StreamReader(_stream, new UTF8Encoding(false));
            // The greeting comes first, but an event QEMU raised while the client connected (seen once: RESUME)
            // may be queued ahead of it; such events are kept like any other.
            const int MaxEventsBeforeGreeting = 8;
            Greeting = ReadMessage(TimeSpan.FromSeconds(10));
            for (int i = 0; Greeting["QMP"] == null && Greeting["event"] != null && i < MaxEventsBeforeGreeting; i++)
            {
                lock (_lock) _events.Add(Greeting);
                Greeting = ReadMessage(TimeSpan.FromSeconds(10));
            }
            if (Greeting["QMP"] == null) throw new QmpException("unexpected QMP greeting: " + Greeting.ToJsonString());
            Execute("qmp_capabilities");
        }

        /// <summary>Connects (retrying while QEMU creates the socket) and negotiates capabilities.</summary>
        public static QmpClient Connect(string socketPath, TimeSpan timeout, Func<bool> giveUp = null)
        {
            var sw = Stopwatch.StartNew();
            while (true)
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    s.Connect(new UnixDomainSocketEndPoint(socketPath));
                    return new QmpClient(s);
                }
                catch (SocketException) when (sw.Elapsed < timeout && !(giveUp?.Invoke() ?? false))
                {
                    s.Dispose();
                    Thread.Sleep(50);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            }
        }

        public IReadOnlyList<JsonObject> Events { get { lock (_lock) return _events.ToArray(); } }

        /// <summary>Runs a QMP command and returns its "return" value; throws <see cref="QmpException"/> on an "error" reply.</summary>
        public JsonNode Execute(string command, object arguments = null, TimeSpan? timeout = null)
        {
            var msg = new JsonObject { ["execute"] = command };
            if (arguments != null)
                msg["arguments"] = arguments as JsonNode ?? JsonSerializer.SerializeToNode(arguments);
            return ExecuteRaw(msg, timeout);
        }

        /// <summary>Sends a complete QMP message ({"execute":...}) and returns "return".</summary>
        public JsonNode ExecuteRaw(JsonObject msg, TimeSpan? timeout = null)
        {
            lock (_lock)
            {
                byte[] bytes = Encoding.UTF8.GetBytes(msg.ToJsonString() + "\n");
                _stream.Write(bytes, 0, bytes.Length);
                _stream.Flush();
                while (true)
                {
                    var reply = ReadMessage(timeout ?? TimeSpan.FromSeconds(30));
                    if (reply["event"] != null) { _events.Add(reply); continue; }
                    if (reply["error"] is JsonObject err)
                        throw new QmpException($"QMP {msg["execute"]} failed: {err["class"]}: {err["desc"]}");
                    if (reply.ContainsKey("return")) return reply["return"];
                    throw new QmpException("unexpected QMP reply: " + reply.ToJsonString());
                }
            }
        }

        /// <summary>Runs a monitor (HMP) command such as "info pci" or "info usb" and returns its text.</summary>
        public string HumanMonitorCommand(string commandLine) =>
            Execute("human-monitor-command", new JsonObject { ["command-line"] = commandLine })?.GetValue<string>() ?? "";

        /// <summary>device_add: e.g. DeviceAdd("usb-kbd", "k1", ("bus", "xhci.0"), ("port", "2")).</summary>
        public void DeviceAdd(string driver, string id, params (string Key, string Value)[] props)
        {
            var args = new JsonObject { ["driver"] = driver, ["id"] = id };
            foreach (var (k, v) in props) args[k] = v;
            Execute("device_add", args);
        }

        public void DeviceDel(string id) => Execute("device_del", new JsonObject { ["id"] = id });

        /// <summary>Presses and releases keys together, by QEMU qcode ("a", "ret", "shift", ...).</summary>
        public void SendKey(params string[] qcodes)
        {
            var keys = new JsonArray();
            foreach (var k in qcodes) keys.Add(new JsonObject { ["type"] = "qcode", ["data"] = k });
            Execute("send-key", new JsonObject { ["keys"] = keys });
        }

        /// <summary>Structured PCI view (query-pci) of bus 0.</summary>
        public JsonArray QueryPciDevices()
        {
            var buses = Execute("query-pci")?.AsArray() ?? new JsonArray();
            var all = new JsonArray();
            foreach (var bus in buses)
                foreach (var dev in bus["devices"]?.AsArray() ?? new JsonArray())
                    all.Add(dev.DeepClone());
            return all;
        }

        public void Quit()
        {
            try { Execute("quit", timeout: TimeSpan.FromSeconds(5)); } catch (IOException) { } catch (QmpException) { }
        }

        JsonObject ReadMessage(TimeSpan timeout)
        {
            _socket.ReceiveTimeout = (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds);
            while (true)
            {
                string line;
                try { line = _reader.ReadLine(); }
                catch (IOException e) { throw new QmpException("QMP connection failed or timed out: " + e.Message); }
                if (line == null) throw new QmpException("QMP connection closed by QEMU");
                if (string.IsNullOrWhiteSpace(line)) continue;
                return JsonNode.Parse(line)?.AsObject() ?? throw new QmpException("empty QMP message");
            }
        }

        public void Dispose()
        {
            _reader.Dispose();
            _stream.Dispose();
            _socket.Dispose();
        }
    }
}
