using System;
using System.Diagnostics;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Threading;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// QEMU's usb-serial (an FT232BM) on OHCI with its chardev on a unix socket this test connects to
    /// (the device attaches only once its chardev is open): the port binds as ttyUSB0, bytes the
    /// kernel sends arrive at the socket and bytes sent there arrive in the kernel, at several baud
    /// rates (QEMU's trace shows the rate its decoder derives from our divisor); then the console
    /// moves to ttyUSB0 and `help` typed on the socket is answered there. One boot.
    /// </summary>
    [TestFixture]
    public sealed class UsbSerialTests : BootTest
    {
        static readonly TimeSpan Output = QemuMachine.Scaled(15);
        static readonly TimeSpan Enumeration = QemuMachine.Scaled(30);

        /// <summary>The host end of the chardev: everything received is kept for waits.</summary>
        sealed class SocketEnd : IDisposable
        {
            readonly Socket _socket;
            readonly StringBuilder _received = new StringBuilder();
            readonly Thread _reader;
            int _cursor;

            public SocketEnd(string path, TimeSpan timeout)
            {
                var sw = Stopwatch.StartNew();
                while (true)
                {
                    _socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        _socket.Connect(new UnixDomainSocketEndPoint(path));
                        break;
                    }
                    catch (SocketException) when (sw.Elapsed < timeout)
                    {
                        _socket.Dispose();
                        Thread.Sleep(50);
                    }
                }
                _reader = new Thread(Read) { IsBackground = true, Name = "usb-serial-socket" };
                _reader.Start();
            }

            void Read()
            {
                var buffer = new byte[4096];
                try
                {
                    int n;
                    while ((n = _socket.Receive(buffer)) > 0)
                        lock (_received)
                        {
                            _received.Append(Encoding.Latin1.GetString(buffer, 0, n));
                            Monitor.PulseAll(_received);
                        }
                }
                catch (SocketException) { }
                catch (ObjectDisposedException) { }
            }

            public void Send(string text) => _socket.Send(Encoding.ASCII.GetBytes(text));

            /// <summary>Waits for <paramref name="pattern"/> in what arrived after the previous match; returns the text up to the match's end.</summary>
            public string WaitFor(string pattern, TimeSpan timeout)
            {
                var regex = new Regex(pattern);
                var sw = Stopwatch.StartNew();
                lock (_received)
                {
                    while (true)
                    {
                        string text = _received.ToString();
                        var m = regex.Match(text, _cursor);
                        if (m.Success)
                        {
                            string upTo = text.Substring(_cursor, m.Index + m.Length - _cursor);
                            _cursor = m.Index + m.Length;
                            return upTo;
                        }
                        if (sw.Elapsed > timeout)
                            Assert.Fail($"the socket never received /{pattern}/; after the last match it got:\n{text.Substring(_cursor)}");
                        Monitor.Wait(_received, 100);
                    }
                }
            }

            public void Dispose()
            {
                try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { }
                _socket.Dispose();
            }
        }

        [Test]
        public void Ftdi_DataBothWaysAtSeveralSpeeds_ThenTheConsoleMovesThere()
        {
            string socketPath = Path.Combine(Path.GetTempPath(), "kser-" + Guid.NewGuid().ToString("N").Substring(0, 10) + ".sock");
            var vm = Start("storage-ohci", null,
                           "-chardev", $"socket,id=ser0,path={socketPath},server=on,wait=off",
                           "-device", "usb-serial,id=serial0,chardev=ser0,bus=ohci.0,port=1",
                           "-trace", "usb_serial_set_baud");
            using var host = new SocketEnd(socketPath, QemuMachine.Scaled(10));
            try
            {
                vm.WaitForBoot(BiosBoot);
                vm.WaitForLine(@"usb \S+: FTDI USB Serial Device converter now attached to ttyUSB0", Enumeration);

                string list = vm.RunCommand("serial");
                Assert.That(list, Does.Match(@"(?m)^ttyUSB0\s+ftdi_sio\s+\S+:1\.0\s+FT232BM\s+9600 8N1\s+DTR RTS"), "the port lists open at 9600 8N1");

                foreach (uint baud in new uint[] { 9600, 115200, 921600 })
                {
                    Assert.That(vm.RunCommand($"serial ttyUSB0 speed {baud}"), Does.Contain($"serial ttyUSB0: {baud} 8N1"));
                    WaitForBaudTrace(vm, baud);

                    Assert.That(vm.RunCommand($"serial ttyUSB0 send kernel-to-host at {baud}"), Does.Contain("sent "));
                    host.WaitFor(Regex.Escape($"kernel-to-host at {baud}\n"), Output);

                    string payload = $"host-to-kernel at {baud} " + new string((char)('a' + baud % 26), 150);
                    host.Send(payload + "\r\n");
                    string received = vm.RunCommand("serial ttyUSB0 recv 1500", Output);
                    Assert.That(received, Does.Contain($"received {payload.Length + 2} bytes: \"{payload}\\r\\n\""),
                                "every byte arrives once, the FTDI status bytes stripped (more than one 64-byte packet)");
                }

                // A long receive shows its progress on one updating line and stops on Ctrl-C.
                vm.SkipPending();
                vm.SendLine("serial ttyUSB0 recv 600000");
                vm.WaitFor(@"serial ttyUSB0: 0 bytes, \d+ s left \(Ctrl-C stops\)", Output);
                host.Send("late");
                vm.WaitFor(@"serial ttyUSB0: 4 bytes, \d+ s left", Output);
                vm.Send("\x03");
                vm.WaitForLine(@"serial ttyUSB0: received 4 bytes \(interrupted\): ""late""", Output);
                vm.WaitForPrompt(Output);

                // The console moves to ttyUSB0: log and shell there, `help` typed there is answered there.
                vm.SendLine("console ttyUSB0");
                vm.WaitForLine(@"console: moved to ttyUSB0", Output);
                host.WaitFor(@"kernel> ", Output);
                host.Send("help\r");
                string help = host.WaitFor(@"kernel> ", Output);
                Assert.That(help, Does.Match(@"(?m)^\s+lsusb\b"), "help answered on the socket");
                Assert.That(help, Does.Match(@"(?m)^\s+serial\b"));
                host.Send("console\r");
                Assert.That(host.WaitFor(@"kernel> ", Output), Does.Contain("console: ttyUSB0"));
                // And back: COM1 gets the shell again.
                host.Send("console ttyS0\r");
                host.WaitFor(@"console: moved to ttyS0", Output);
                vm.WaitForLine(@"console: moved to ttyS0", Output);
                vm.WaitForPrompt(Output);
                Assert.That(vm.RunCommand("uptime"), Does.Match(@"uptime: \d+ ms"));

                // Unplugging the console's adapter brings the console back to COM1.
                vm.SendLine("console ttyUSB0");
                host.WaitFor(@"kernel> ", Output);
                vm.Qmp.Execute("device_del", new JsonObject { ["id"] = "serial0" });
                vm.WaitForLine(@"console: ttyUSB0 is gone, back on ttyS0", Output);
                vm.WaitForLine(@"ftdi_sio ttyUSB0: FTDI USB Serial Device converter now disconnected from ttyUSB0", Output);
                Assert.That(vm.RunCommand("console"), Does.Contain("console: ttyS0"));
                Assert.That(vm.RunCommand("serial"), Does.Contain("serial: no USB serial ports"));
            }
            finally
            {
                try { File.Delete(socketPath); } catch (IOException) { }
            }
        }

        /// <summary>QEMU's trace prints the rate it decodes from the divisor (48 MHz / 2 / (8 * divisor + eighths)).</summary>
        static void WaitForBaudTrace(QemuMachine vm, uint baud)
        {
            var sw = Stopwatch.StartNew();
            while (true)
            {
                foreach (Match m in Regex.Matches(vm.Stderr, @"usb_serial_set_baud.*?(\d+)\s*$", RegexOptions.Multiline))
                {
                    double actual = double.Parse(m.Groups[1].Value);
                    if (Math.Abs(actual - baud) / baud < 0.03) return;
                }
                if (sw.Elapsed > Output)
                    Assert.Fail($"QEMU's usb-serial never ran at about {baud} baud; its trace:\n{vm.Stderr}");
                Thread.Sleep(50);
            }
        }
    }
}
