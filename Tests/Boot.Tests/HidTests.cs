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
    /// USB HID in QEMU on every host controller type (a type whose driver has not landed yet is
    /// reported as ignored, naming the missing driver): text typed into usb-kbd with QMP
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
            // The scenario has exactly one USB controller: without a driver for it there is nothing to test.
            string pci = vm.RunCommand("pci");
            if (Regex.IsMatch(pci, @"(?m)^\S+ 0c03:[^\n]*\n(?:[ ]{4}[^\n]*\n)*?[ ]{4}driver: none"))
                Assert.Ignore($"no {controller} host controller driver in the kernel yet (pci shows 'driver: none')");
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
        [TestCase("ehci")]
        [TestCase("xhci")]
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

            // Typematic repeat in the kernel (delay 500 ms, then about 30/s): hold 'r' until the shell has
            // echoed several of them (guest time, not host time: TCG under load runs slowly), then release.
            vm.SkipPending();
            KeyEvent(vm, "r", true);
            try
            {
                vm.WaitFor("rrrrr", QemuMachine.Scaled(20));
            }
            finally
            {
                KeyEvent(vm, "r", false);
            }
            Type(vm, "\n");
            var m = vm.WaitForLine(@"(r+): command not found", Output);
            int repeats = m.Groups[1].Value.Length;
            TestContext.Out.WriteLine($"{controller}: held key produced {repeats} characters");
            Assert.That(repeats, Is.GreaterThanOrEqualTo(5), "the held key repeats");
        }

        [TestCase("uhci")]
        [TestCase("ohci")]
        [TestCase("ehci")]
        [TestCase("xhci")]
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

        [TestCase("uhci")]
        [TestCase("ohci")]
        [TestCase("ehci")]
        [TestCase("xhci")]
        public void UnplugMidStream_EndsCleanly_AndReplugWorks(string controller)
        {
            var vm = BootWithHid(s => BootToPrompt(s), controller);
            string bus = controller + ".0";

            // Pull the mouse while it streams reports, and the keyboard while a key is held.
            KeyEvent(vm, "x", true);
            for (int i = 0; i < 10; i++)
                PointerEvents(vm, Rel("x", 3), Rel("y", 1));
            vm.Qmp.DeviceDel("mouse0");
            vm.Qmp.DeviceDel("kbd0");
            WaitForLog(vm, @"input: mouse \S+ detached", Enumeration, controller);
            WaitForLog(vm, @"input: keyboard \S+ detached", Enumeration, controller);
            Assert.That(vm.Log, Does.Not.Contain("resetting the device"), "an unplug is a disconnect, not an error storm");
            vm.Send("\n"); // ends the line the held 'x' typed
            vm.WaitForPrompt(Output);
            string pointer = vm.RunCommand("pointer");
            Assert.That(pointer, Does.Not.Contain(" mouse: "), "the mouse left the pointer list");
            Assert.That(vm.RunCommand("uptime"), Does.Match(@"uptime: \d+ ms"), "the shell still works");

            // Plug a new keyboard (root port 1 on both scenarios) and type on it.
            // Full speed (usb_version=1) for the USB 1.1 controllers, QEMU's default high speed for EHCI/xHCI.
            if (controller == "uhci" || controller == "ohci")
                vm.Qmp.DeviceAdd("usb-kbd", "kbd1", ("bus", bus), ("port", "1"), ("usb_version", "1"));
            else
                vm.Qmp.DeviceAdd("usb-kbd", "kbd1", ("bus", bus), ("port", "1"));
            var sw = Stopwatch.StartNew();
            while (Regex.Matches(vm.Log, @"input: keyboard \S+ attached").Count < 2)
            {
                Assert.That(sw.Elapsed, Is.LessThan(Enumeration), "the new keyboard attaches");
                Thread.Sleep(50);
            }
            vm.Send("\n");
            vm.WaitForPrompt(Output);
            Type(vm, "Replug\n");
            vm.WaitForLine(@"Replug: command not found", Output);
        }
    }
}
