using System;
using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Threading;
using Boot.Tests.Harness;
using NUnit.Framework;

namespace Boot.Tests
{
    /// <summary>
    /// USB HID in QEMU on every host controller type with a driver: text typed into usb-kbd with QMP
    /// send-key / input-send-event reaches the shell (Shift, Caps Lock, typematic repeat); usb-mouse
    /// (relative) and usb-tablet (absolute) movement and buttons show in the `pointer` command.
    /// Scenarios: qemu/scenarios/hid-&lt;controller&gt;.json.
    /// </summary>
    [TestFixture]
    public sealed class HidTests : BootTest
    {
        static readonly TimeSpan Enumeration = QemuMachine.Scaled(30);
        static readonly TimeSpan Output = QemuMachine.Scaled(15);

        static void WaitForLog(QemuMachine vm, string pattern, TimeSpan timeout, string controller)
        {
            var regex = new Regex(pattern);
            var sw = Stopwatch.StartNew();
            while (!regex.IsMatch(vm.Log))
            {
                if (vm.HasExited)
                    Assert.Fail($"QEMU exited while waiting for '{pattern}'");
                if (sw.Elapsed > timeout)
                {
                    // No driver for this controller type yet: nothing to test here.
                    string pci = vm.RunCommand("pci");
                    if (Regex.IsMatch(pci, @"(?m)^\S+ 0c03:[^\n]*\n(?:[ ]{4}[^\n]*\n)*?[ ]{4}driver: none"))
                        Assert.Ignore($"no working {controller} host controller driver in the kernel yet");
                    Assert.Fail($"timed out after {timeout.TotalSeconds:F0} s waiting for '{pattern}'");
                }
                Thread.Sleep(50);
            }
        }

        static QemuMachine BootWithHid(Func<string, QemuMachine> boot, string controller)
        {
            var vm = boot("hid-" + controller);
            WaitForLog(vm, @"input: keyboard \S+ attached", Enumeration, controller);
            WaitForLog(vm, @"input: mouse \S+ attached", Enumeration, controller);
            WaitForLog(vm, @"input: tablet \S+ attached", Enumeration, controller);
            return vm;
        }

        static string QCode(char c, out bool shift)
        {
            shift = false;
            if (c >= 'a' && c <= 'z') return c.ToString();
            if (c >= 'A' && c <= 'Z') { shift = true; return char.ToLowerInvariant(c).ToString(); }
            if (c >= '0' && c <= '9') return c.ToString();
            switch (c)
            {
                case ' ': return "spc";
                case '-': return "minus";
                case '\n': return "ret";
                case '!': shift = true; return "1";
                default: throw new ArgumentException("no qcode for '" + c + "'");
            }
        }

        /// <summary>Types <paramref name="text"/> on the USB keyboard, one send-key per character.</summary>
        static void Type(QemuMachine vm, string text)
        {
            foreach (char c in text)
            {
                string code = QCode(c, out bool shift);
                if (shift) vm.Qmp.SendKey("shift", code);
                else vm.Qmp.SendKey(code);
            }
        }

        static void KeyEvent(QemuMachine vm, string qcode, bool down) =>
            vm.Qmp.Execute("input-send-event", new JsonObject
            {
                ["events"] = new JsonArray(new JsonObject
                {
                    ["type"] = "key",
                    ["data"] = new JsonObject { ["down"] = down, ["key"] = new JsonObject { ["type"] = "qcode", ["data"] = qcode } },
                }),
            });

        static void PointerEvents(QemuMachine vm, params JsonObject[] events)
        {
            var list = new JsonArray();
            foreach (var e in events) list.Add(e);
            vm.Qmp.Execute("input-send-event", new JsonObject { ["events"] = list });
        }

        static JsonObject Rel(string axis, int value) =>
            new JsonObject { ["type"] = "rel", ["data"] = new JsonObject { ["axis"] = axis, ["value"] = value } };

        static JsonObject Abs(string axis, int value) =>
            new JsonObject { ["type"] = "abs", ["data"] = new JsonObject { ["axis"] = axis, ["value"] = value } };

        static JsonObject Button(string button, bool down) =>
            new JsonObject { ["type"] = "btn", ["data"] = new JsonObject { ["down"] = down, ["button"] = button } };

        /// <summary>Runs `pointer` until <paramref name="pattern"/> matches its output; returns the match.</summary>
        static Match PollPointer(QemuMachine vm, string pattern)
        {
            var regex = new Regex(pattern, RegexOptions.Multiline);
            var sw = Stopwatch.StartNew();
            string output = "";
            while (sw.Elapsed < Output)
            {
                output = vm.RunCommand("pointer");
                var m = regex.Match(output);
                if (m.Success) return m;
                Thread.Sleep(200);
            }
            Assert.Fail($"`pointer` never showed /{pattern}/; last output:\n{output}");
            return null;
        }

        [TestCase("uhci")]
        [TestCase("ohci")]
        public void Keyboard_TypesIntoTheShell_ShiftCapsLockAndRepeat(string controller)
        {
            var vm = BootWithHid(s => BootToPrompt(s), controller);

            // Plain text: the shell runs what the USB keyboard typed.
            Type(vm, "uptime\n");
            vm.WaitForLine(@"uptime: \d+ ms", Output);

            // Shift: an unknown command echoes its name back.
            Type(vm, "Hello-USB\n");
            vm.WaitForLine(@"Hello-USB: command not found", Output);

            // Caps Lock toggles letters (not digits) and the `pointer` command reports the lock.
            vm.Qmp.SendKey("caps_lock");
            Type(vm, "caps1\n");
            vm.WaitForLine(@"CAPS1: command not found", Output);
            PollPointer(vm, @"^keyboard: .*locks=caps");
            vm.Qmp.SendKey("caps_lock");

            // Typematic repeat in the kernel: hold 'r' for 1.5 s (delay 500 ms, then about 30/s).
            KeyEvent(vm, "r", true);
            Thread.Sleep(1500);
            KeyEvent(vm, "r", false);
            Type(vm, "\n");
            var m = vm.WaitForLine(@"(r+): command not found", Output);
            int repeats = m.Groups[1].Value.Length;
            TestContext.Out.WriteLine($"{controller}: held key produced {repeats} characters");
            Assert.That(repeats, Is.GreaterThanOrEqualTo(5), "the held key repeats");
        }

        [TestCase("uhci")]
        [TestCase("ohci")]
        public void MouseAndTablet_MovementAndButtonsShowInPointer(string controller)
        {
            var vm = BootWithHid(s => BootToPrompt(s), controller);

            // Tablet (absolute, QMP range 0..0x7FFF = the tablet's logical range).
            PointerEvents(vm, Abs("x", 10000), Abs("y", 20000));
            var tablet = PollPointer(vm, @"^\s+\S+ tablet: x=10000 y=20000 .*range=0\.\.32767,0\.\.32767");
            Assert.That(tablet.Success, Is.True);

            // Mouse (relative): movements accumulate.
            PointerEvents(vm, Rel("x", 40), Rel("y", 15));
            PollPointer(vm, @"^\s+\S+ mouse: x=40 y=15 ");
            PointerEvents(vm, Rel("x", -10), Rel("y", 5));
            PollPointer(vm, @"^\s+\S+ mouse: x=30 y=20 ");

            // Buttons go to whichever pointer QEMU activated last; the overall line shows them.
            PointerEvents(vm, Button("left", true));
            PollPointer(vm, @"^pointer: .*buttons=0x1 ");
            PointerEvents(vm, Button("right", true));
            PollPointer(vm, @"^pointer: .*buttons=0x3 ");
            PointerEvents(vm, Button("left", false), Button("right", false));
            PollPointer(vm, @"^pointer: .*buttons=0x0 ");
        }
    }
}
