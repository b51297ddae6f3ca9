using System.Collections.Generic;
using global::Net;
using Kernel.Shell;
using Kernel.Threading;
using Platform;

namespace Kernel.Networking
{
    /// <summary>
    /// Shell verbs of the network stack: `net`/`ifconfig` (interfaces, addresses, counters), `net arp`,
    /// `net tcp`, `net stats`, `ping`, and `net echo PORT`, a TCP echo service (one thread per
    /// connection) that the boot tests drive from the host through QEMU's hostfwd.
    /// </summary>
    internal static class NetShell
    {
        static NetStack s_stack;
        const int PingPayload = 56;
        const uint PingTimeoutMs = 1000, PingIntervalMs = 200;
        const int MaxPingCount = 1000;
        const int EchoBacklog = 8;
        const int EchoBufferSize = 16384;
        /// <summary>An echo connection idle this long is closed (so a vanished client frees its thread).</summary>
        const uint EchoIdleMs = 120_000;
        const uint EchoSendTimeoutMs = 30_000;

        public static void Register(NetStack stack)
        {
            s_stack = stack;
            KernelShell.Register("net", "net [arp|tcp|stats|echo <port>]", "network interfaces and counters; ARP cache; TCP connections; TCP echo service", Net);
            KernelShell.Register("ifconfig", "ifconfig", "network interfaces (same as net)", args => Interfaces());
            KernelShell.Register("ping", "ping <ip> [count]", "ICMP echo to an IPv4 address", Ping);
        }

        static void Print(string s) => KernelShell.Print(s);

        static void Net(List<string> args)
        {
            string verb = args.Count > 1 ? args[1] : "";
            if (verb == "") { Interfaces(); return; }
            if (verb == "arp")
            {
                s_stack.Poll();
                List<string> lines;
                lines = ArpLines();
                if (lines.Count == 0) Print("arp: empty");
                for (int i = 0; i < lines.Count; i++) Print(lines[i]);
                return;
            }
            if (verb == "tcp")
            {
                List<string> lines = s_stack.Tcp.Describe();
                if (lines.Count == 0) Print("tcp: no connections");
                for (int i = 0; i < lines.Count; i++) Print(lines[i]);
                return;
            }
            if (verb == "stats") { Stats(); return; }
            if (verb == "echo" && args.Count > 2 && ParsePort(args[2], out ushort port)) { StartEcho(port); return; }
            Print("usage: net [arp|tcp|stats|echo <port>]");
        }

        static List<string> ArpLines() => s_stack.Arp.Describe();

        static void Interfaces()
        {
            List<NetInterface> list = s_stack.Interfaces;
            if (list.Count == 0) { Print("net: no interfaces"); return; }
            for (int i = 0; i < list.Count; i++)
            {
                NetInterface f = list[i];
                NetCounters c = f.Counters;
                Print(f.Name + ": link " + (f.LinkUp ? "up" : "down") + ", MAC " + f.Mac.ToString() + ", mtu " + Format.Decimal((ulong)f.Mtu));
                DhcpClient dhcp = s_stack.DhcpOf(f);
                Print("    inet " + (f.IsConfigured ? f.Address.ToString() + " netmask " + f.Netmask.ToString() + " gateway " + f.Gateway.ToString() : "(none)") +
                      " (" + f.AddressSource + (dhcp != null && f.AddressSource != "dhcp" ? ", dhcp " + DhcpState(dhcp.Current) : "") + ")");
                Print("    rx packets " + Format.Decimal(c.RxPackets) + " bytes " + Format.Decimal(c.RxBytes) + " errors " + Format.Decimal(c.RxErrors) +
                      " dropped " + Format.Decimal(c.RxDropped) + " malformed " + Format.Decimal(c.RxMalformed));
                Print("    tx packets " + Format.Decimal(c.TxPackets) + " bytes " + Format.Decimal(c.TxBytes) + " errors " + Format.Decimal(c.TxErrors) +
                      " dropped " + Format.Decimal(c.TxDropped));
            }
        }

        static string DhcpState(DhcpClient.State s)
        {
            switch (s)
            {
                case DhcpClient.State.Init: return "init";
                case DhcpClient.State.Selecting: return "selecting";
                case DhcpClient.State.Requesting: return "requesting";
                default: return "bound";
            }
        }

        static void Stats()
        {
            IpCounters ip = s_stack.IpCounters;
            Print("ip: received " + Format.Decimal(ip.Received) + " delivered " + Format.Decimal(ip.Delivered) + " header errors " + Format.Decimal(ip.HeaderErrors) +
                  " checksum errors " + Format.Decimal(ip.ChecksumErrors) + " fragments dropped " + Format.Decimal(ip.FragmentsDropped) +
                  " not for us " + Format.Decimal(ip.NotForUs) + " unknown protocol " + Format.Decimal(ip.UnknownProtocol) +
                  " sent " + Format.Decimal(ip.Sent) + " no route " + Format.Decimal(ip.NoRoute));
            Icmp icmp = s_stack.Icmp;
            Print("icmp: echo requests " + Format.Decimal(icmp.EchoRequestsReceived) + " replies sent " + Format.Decimal(icmp.EchoRepliesSent) +
                  " replies received " + Format.Decimal(icmp.EchoRepliesReceived) + " malformed " + Format.Decimal(icmp.Malformed));
            Udp udp = s_stack.Udp;
            Print("udp: received " + Format.Decimal(udp.Received) + " sent " + Format.Decimal(udp.Sent) + " no port " + Format.Decimal(udp.NoPort) +
                  " malformed " + Format.Decimal(udp.Malformed));
            TcpCounters t = s_stack.Tcp.Counters;
            Print("tcp: segments in " + Format.Decimal(t.SegmentsReceived) + " out " + Format.Decimal(t.SegmentsSent) + " retransmitted " + Format.Decimal(t.Retransmissions) +
                  " fast retransmits " + Format.Decimal(t.FastRetransmissions) + " zero-window probes " + Format.Decimal(t.ZeroWindowProbes) +
                  " out of order " + Format.Decimal(t.OutOfOrderSegments) + " duplicates " + Format.Decimal(t.DuplicateSegments));
            Print("tcp: active opens " + Format.Decimal(t.ActiveOpens) + " passive opens " + Format.Decimal(t.PassiveOpens) + " resets in " + Format.Decimal(t.ResetsReceived) +
                  " out " + Format.Decimal(t.ResetsSent) + " checksum errors " + Format.Decimal(t.ChecksumErrors) + " malformed " + Format.Decimal(t.Malformed) +
                  " timeouts " + Format.Decimal(t.Timeouts) + " backlog drops " + Format.Decimal(t.BacklogDrops));
            Arp arp = s_stack.Arp;
            Print("arp: requests " + Format.Decimal(arp.RequestsSent) + " replies " + Format.Decimal(arp.RepliesSent) + " resolved " + Format.Decimal(arp.Resolutions) +
                  " failed " + Format.Decimal(arp.Failures) + " queued packets dropped " + Format.Decimal(arp.PendingDropped) + " malformed " + Format.Decimal(arp.Malformed));
        }

        static bool ParsePort(string s, out ushort port)
        {
            port = 0;
            uint v = 0;
            if (s.Length == 0 || s.Length > 5) return false;
            for (int i = 0; i < s.Length; i++)
            {
                if (s[i] < '0' || s[i] > '9') return false;
                v = v * 10 + (uint)(s[i] - '0');
            }
            if (v == 0 || v > 65535) return false;
            port = (ushort)v;
            return true;
        }

        static void Ping(List<string> args)
        {
            if (args.Count < 2 || !Ip4Address.TryParse(args[1], out Ip4Address target))
            {
                Print("usage: ping <ip> [count]");
                return;
            }
            uint count = 4;
            if (args.Count > 2)
            {
                if (!ParsePort(args[2], out ushort c) || c > MaxPingCount) { Print("ping: count must be 1.." + Format.Decimal((ulong)MaxPingCount)); return; }
                count = c;
            }
            uint received = 0;
            for (uint seq = 1; seq <= count; seq++)
            {
                ulong start = Time.Clock.Instance.Milliseconds;
                NetStatus s = s_stack.Icmp.Ping(target, (ushort)seq, PingPayload, PingTimeoutMs, out ulong rttUs);
                if (s == NetStatus.Ok)
                {
                    received++;
                    Print(Format.Decimal((ulong)(PingPayload + Icmp.EchoHeaderLength)) + " bytes from " + target.ToString() + ": icmp_seq=" + Format.Decimal(seq) +
                          " time=" + Format.Decimal(rttUs / 1000) + "." + Format.PadLeft(Format.Decimal(rttUs % 1000), 3, '0') + " ms");
                }
                else
                    Print("ping " + target.ToString() + ": icmp_seq=" + Format.Decimal(seq) + " " + NetStatusNames.Name(s));
                ulong spent = Time.Clock.Instance.Milliseconds - start;
                if (seq < count && spent < PingIntervalMs) Time.Clock.Instance.Sleep((uint)(PingIntervalMs - spent));
            }
            Print("ping: " + Format.Decimal(count) + " sent, " + Format.Decimal(received) + " received");
        }

        // ------------------------------------------------------------------ TCP echo service

        sealed class EchoService
        {
            public TcpListener Listener;
            public ushort Port;

            public void AcceptLoop()
            {
                while (true)
                {
                    NetStatus s = Listener.Accept(1000, out TcpConnection c);
                    if (s == NetStatus.Aborted) return;
                    if (s != NetStatus.Ok) continue;
                    var session = new EchoSession { Connection = c };
                    Log.Info("net echo: connection from " + c.RemoteEndPoint.ToString());
                    if (KernelThreading.Instance.StartThread("echo " + Format.Decimal(c.RemoteEndPoint.Port), session.Run) == 0)
                        c.Abort();
                }
            }
        }

        sealed class EchoSession
        {
            public TcpConnection Connection;

            public void Run()
            {
                var buffer = new byte[EchoBufferSize];
                ulong total = 0;
                ulong start = Time.Clock.Instance.Milliseconds;
                NetStatus end;
                while (true)
                {
                    end = Connection.Receive(buffer, 0, buffer.Length, EchoIdleMs, out int n);
                    if (end != NetStatus.Ok) break;
                    end = Connection.Send(buffer, 0, n, EchoSendTimeoutMs, out int sent);
                    total += (ulong)sent;
                    if (end != NetStatus.Ok) break;
                }
                Connection.Flush(EchoSendTimeoutMs);
                Connection.Close();
                ulong ms = Time.Clock.Instance.Milliseconds - start;
                Log.Info("net echo: " + Connection.RemoteEndPoint.ToString() + " done (" + NetStatusNames.Name(end) + "), " + Format.Decimal(total) +
                         " bytes echoed in " + Format.Decimal(ms) + " ms");
            }
        }

        static void StartEcho(ushort port)
        {
            NetStatus s = s_stack.Tcp.Listen(port, EchoBacklog, out TcpListener listener);
            if (s != NetStatus.Ok)
            {
                Print("net echo: port " + Format.Decimal(port) + ": " + NetStatusNames.Name(s));
                return;
            }
            var service = new EchoService { Listener = listener, Port = port };
            if (KernelThreading.Instance.StartThread("echo-listen", service.AcceptLoop) == 0)
            {
                listener.Stop();
                Print("net echo: no thread");
                return;
            }
            Print("net echo: listening on tcp port " + Format.Decimal(port));
        }
    }
}
