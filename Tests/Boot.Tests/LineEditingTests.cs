using System.Diagnostics;
using System.Text.RegularExpressions;
using System.Threading;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// The shell's line editor and Ctrl-C, in one boot of the default machine: editing keys as a
    /// VT100/xterm terminal sends them over the serial line, the same keys on the USB keyboard
    /// (QMP send-key), history, Ctrl-C at the prompt and Ctrl-C stopping a `disk bench` that would
    /// otherwise run for minutes; log lines arriving while a line is typed do not break it.
    /// </summary>
    [TestFixture]
    public sealed class LineEditingTests : BootTest
    {
        const string Up = "\x1b[A", Right = "\x1b[C", Left = "\x1b[D", Home = "\x1b[H", End = "\x1b[F", Delete = "\x1b[3~";
        static readonly System.TimeSpan Output = QemuMachine.Scaled(15);
        static readonly System.TimeSpan Enumeration = QemuMachine.Scaled(30);

        /// <summary>Types raw keys on the serial line and waits for the next prompt; returns the output before it.</summary>
        static string Keys(QemuMachine vm, string keys)
        {
            vm.SkipPending();
            int start = vm.LogLength;
            vm.Send(keys);
            var m = vm.WaitFor(Regex.Escape(QemuMachine.Prompt), Output);
            return vm.Log.Substring(start, m.Index - start);
        }

        static void WaitForLog(QemuMachine vm, string pattern, System.TimeSpan timeout)
        {
            var sw = Stopwatch.StartNew();
            while (!Regex.IsMatch(vm.Log, pattern))
            {
                Assert.That(vm.HasExited, Is.False, $"QEMU exited while waiting for '{pattern}'");
                Assert.That(sw.Elapsed, Is.LessThan(timeout), $"timed out waiting for '{pattern}'");
                Thread.Sleep(50);
            }
        }

        [Test]
        public void SerialAndUsbKeyboard_EditHistoryAndCtrlC()
        {
            var vm = BootToPrompt("default");

            // Serial: "elp", Home, "h" → help.
            Assert.That(Keys(vm, "elp" + Home + "h\r"), Does.Match(@"(?m)^\s+lsusb\b"), "Home then typing inserts at the start");
            // Up recalls the last line.
            Assert.That(Keys(vm, Up + "\r"), Does.Match(@"(?m)^\s+lsusb\b"), "Up recalls 'help'");
            // Left/Right/Delete/backspace (DEL as xterm sends it) in the middle of the line.
            string uptime = Keys(vm, "upxtimez" + Left + Left + Left + Left + Left + "\x7f" + End + "\b" + Home + Right + Right + Delete + "t\r");
            Assert.That(uptime, Does.Match(@"uptime: \d+ ms"), "'upxtimez' edited into 'uptime'");
            // Ctrl-C at the prompt abandons the line; CR LF is one Enter.
            string abandoned = Keys(vm, "halt\x03");
            Assert.That(abandoned, Does.Contain("^C"));
            Assert.That(Keys(vm, "uptime\r\n"), Does.Match(@"uptime: \d+ ms"));
            Assert.That(vm.HasExited, Is.False, "the abandoned 'halt' did not run");

            // The USB keyboard sends the same sequences for its editing keys.
            WaitForLog(vm, @"input: keyboard \S+ attached", Enumeration);
            vm.SkipPending();
            foreach (string key in new[] { "u", "p", "t", "i", "e", "left", "m", "home", "delete", "u", "end", "ret" })
                vm.Qmp.SendKey(key);
            vm.WaitForLine(@"uptime: \d+ ms", Output);
            vm.WaitFor(Regex.Escape(QemuMachine.Prompt), Output);
            foreach (string key in new[] { "up", "ret" })
                vm.Qmp.SendKey(key);
            vm.WaitForLine(@"uptime: \d+ ms", Output);
            vm.WaitFor(Regex.Escape(QemuMachine.Prompt), Output);

            // Ctrl-C stops a long command: 100 GiB of reads would take hours.
            WaitForLog(vm, @"\[sda\] Attached SCSI", Enumeration);
            vm.SkipPending();
            vm.SendLine("disk bench sda 100000");
            Thread.Sleep(2000);
            var sw = Stopwatch.StartNew();
            vm.Send("\x03");
            vm.WaitForLine(@"disk bench: interrupted", Output);
            vm.WaitFor(Regex.Escape(QemuMachine.Prompt), Output);
            TestContext.Out.WriteLine($"disk bench stopped {sw.ElapsedMilliseconds} ms after Ctrl-C");
            // Ctrl-C on the USB keyboard too.
            vm.SendLine("disk bench sda 100000");
            Thread.Sleep(2000);
            vm.Qmp.SendKey("ctrl", "c");
            vm.WaitForLine(@"disk bench: interrupted", Output);
            vm.WaitFor(Regex.Escape(QemuMachine.Prompt), Output);
            Assert.That(Keys(vm, "uptime\r"), Does.Match(@"uptime: \d+ ms"), "the shell works after the interruption");

            // Log lines that arrive while a line is typed (a hot-plugged mouse's enumeration) go on
            // their own lines; the prompt and the partly typed text are drawn again below them with
            // the cursor where it was, and the line typed on from there runs as typed.
            vm.SkipPending();
            int before = vm.Log.LastIndexOf(QemuMachine.Prompt);
            vm.Send("upme" + Left + Left);
            vm.WaitFor(Regex.Escape("upme\b\b"), Output);
            vm.Qmp.DeviceAdd("usb-mouse", "hotmouse", ("bus", "xhci.0"), ("port", "1"));
            WaitForLog(vm, @"input: mouse \S+ attached", Enumeration);
            Thread.Sleep(500);
            string during = vm.Log.Substring(before);
            Assert.That(during, Does.Match(@"(?m)^kernel> upme\x08\x08 +\[\s*\d+\.\d+\] "),
                        "the first log line wiped the prompt row (CR, blanks, CR; the harness drops the CRs) and took its place:\n" + during);
            Assert.That(during, Does.Match(@"\[\s*\d+\.\d+\] [^\n]*\nkernel> upme\x08\x08$"),
                        "the prompt row drawn again after the last log line, the cursor back before 'me':\n" + during);
            Assert.That(Regex.Matches(during, @"(?m)^kernel> upme\x08\x08 +\[").Count, Is.EqualTo(Regex.Matches(during, @"(?m)\[\s*\d+\.\d+\] ").Count),
                        "every log line took the place of a prompt row and was followed by a new one");
            vm.SkipPending();
            vm.Send("ti\r");
            vm.WaitForLine(@"uptime: \d+ ms", Output);
            vm.WaitFor(Regex.Escape(QemuMachine.Prompt), Output);
        }
    }
}
