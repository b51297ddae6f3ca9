using System;
using System.Diagnostics;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Threading.Tasks;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// The network stack end to end, in one boot: an e1000 on QEMU user networking gets its DHCP
    /// lease, pings the gateway, and the host talks to the kernel's TCP echo service through
    /// hostfwd: 1 MiB checked byte for byte (throughput printed), then several connections at once.
    /// </summary>
    [TestFixture]
    public sealed class NetTests : BootTest
    {
        const int EchoPort = 7;

        static int FreeHostPort()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            return port;
        }

        /// <summary>Sends <paramref name="data"/> and reads the echo concurrently; returns what came back and the seconds it took.</summary>
        static (byte[] echoed, double seconds) Echo(int port, byte[] data)
        {
            using var client = new TcpClient();
            client.NoDelay = true;
            client.Connect(IPAddress.Loopback, port);
            client.ReceiveTimeout = 30_000;
            client.SendTimeout = 30_000;
            var stream = client.GetStream();
            var sw = Stopwatch.StartNew();
            var writer = Task.Run(() =>
            {
                for (int off = 0; off < data.Length; off += 16384)
                    stream.Write(data, off, Math.Min(16384, data.Length - off));
            });
            var got = new byte[data.Length];
            int n = 0;
            while (n < data.Length)
            {
                int r = stream.Read(got, n, data.Length - n);
                if (r == 0) break;
                n += r;
            }
            double seconds = sw.Elapsed.TotalSeconds;
            writer.Wait(TimeSpan.FromSeconds(30));
            client.Client.Shutdown(SocketShutdown.Send);
            // The service closes its side after our FIN: read EOF.
            int tail = stream.Read(new byte[16], 0, 16);
            Assert.That(tail, Is.EqualTo(0), "EOF after the echo");
            return (n == data.Length ? got : got.Take(n).ToArray(), seconds);
        }

        [Test]
        public void E1000_Dhcp_Ping_And_TcpEcho_Through_Hostfwd()
        {
            int port = FreeHostPort();
            var vm = Start("minimal", null, "-netdev", $"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:{EchoPort}", "-device", "e1000,netdev=n0");
            vm.WaitForBoot(BiosBoot);
            vm.WaitForLine(@"net: eth0 DHCP lease 10\.0\.2\.15 netmask 255\.255\.255\.0 gateway 10\.0\.2\.2", QemuMachine.Scaled(20));

            string net = vm.RunCommand("net");
            Assert.That(net, Does.Contain("eth0: link up, MAC 52:54:00:12:34:56"));
            Assert.That(net, Does.Contain("inet 10.0.2.15 netmask 255.255.255.0 gateway 10.0.2.2 (dhcp)"));

            string ping = vm.RunCommand("ping 10.0.2.2 3", QemuMachine.Scaled(20));
            Assert.That(ping, Does.Contain("bytes from 10.0.2.2: icmp_seq=1"));
            Assert.That(ping, Does.Contain("ping: 3 sent, 3 received"));

            Assert.That(vm.RunCommand("net echo " + EchoPort), Does.Contain("net echo: listening on tcp port 7"));

            var data = new byte[1 << 20];
            new Random(13).NextBytes(data);
            var (echoed, seconds) = Echo(port, data);
            Assert.That(echoed.Length, Is.EqualTo(data.Length), "bytes echoed");
            Assert.That(echoed.SequenceEqual(data), Is.True, "echo identical byte for byte");
            TestContext.Progress.WriteLine($"NetTests: 1 MiB TCP echo through hostfwd in {seconds:F2} s = {data.Length / seconds / 1e6:F2} MB/s each way");

            // Several connections at once, each with its own pattern.
            var tasks = Enumerable.Range(0, 4).Select(i => Task.Run(() =>
            {
                var d = new byte[128 * 1024];
                new Random(100 + i).NextBytes(d);
                var (e, _) = Echo(port, d);
                return e.SequenceEqual(d);
            })).ToArray();
            Assert.That(Task.WaitAll(tasks, TimeSpan.FromSeconds(60)), Is.True, "concurrent echoes finished");
            Assert.That(tasks.All(t => t.Result), Is.True, "every concurrent stream echoed intact");

            string stats = vm.RunCommand("net stats");
            Assert.That(stats, Does.Contain("tcp: active opens 0 passive opens 5"));
            Assert.That(vm.Log, Does.Not.Contain("KERNEL PANIC"));
        }
    }
}
