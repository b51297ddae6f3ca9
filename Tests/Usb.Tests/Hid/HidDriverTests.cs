using System;
using System.Collections.Generic;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Hid;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;
using static Tests.Support.Waiting;

namespace Usb.Tests.Hid
{
    [TestFixture]
    public class HidDriverTests
    {
        sealed class Rig : IDisposable
        {
            public readonly TestBed Bed = new TestBed();
            public readonly TestSink Sink = new TestSink();
            public readonly HidInputService Service;
            public readonly SimController Hc;

            public Rig(int ports = 4)
            {
                Service = HidDrivers.Register(Bed.Stack, Sink);
                Hc = Bed.AddController(ports, UsbSpeed.High);
            }

            public T Plug<T>(string port, T device) where T : SimDevice
            {
                Hc.Plug(port, device);
                Bed.Settle();
                return device;
            }

            public void Dispose()
            {
                Bed.Dispose();
                Service.Stop();
            }
        }

        static byte[] Keys(byte modifiers, params byte[] keys)
        {
            var r = new byte[8];
            r[0] = modifiers;
            for (int i = 0; i < keys.Length; i++) r[2 + i] = keys[i];
            return r;
        }

        /// <summary>Reports for typing <paramref name="text"/> (lower case, digits, space, Enter) on a boot-layout keyboard.</summary>
        static byte[][] Type(string text)
        {
            var reports = new List<byte[]>();
            foreach (char c in text)
            {
                byte mods = 0, key;
                if (c >= 'a' && c <= 'z') key = (byte)(0x04 + c - 'a');
                else if (c >= 'A' && c <= 'Z') { key = (byte)(0x04 + c - 'A'); mods = 0x02; }
                else if (c >= '1' && c <= '9') key = (byte)(0x1E + c - '1');
                else if (c == '0') key = 0x27;
                else if (c == ' ') key = 0x2C;
                else if (c == '\n') key = 0x28;
                else throw new ArgumentException("untypable " + c);
                reports.Add(Keys(mods, key));
                reports.Add(Keys(0));
            }
            return reports.ToArray();
        }

        [Test]
        public void KeyboardBindsSetsIdleAndReportProtocolAndTypes()
        {
            using var rig = new Rig();
            SimHidDevice kbd = rig.Plug("1", HidSamples.Keyboard());
            UsbInterface intf = rig.Bed.Stack.FindInterface("1-1:1.0");
            Assert.That(intf.Driver?.Name, Is.EqualTo(UsbHidDriver.DriverName), rig.Bed.LogSink.All());
            Assert.That(kbd.Idle, Is.EqualTo(0), "SET_IDLE(0)");
            Assert.That(kbd.Protocol, Is.EqualTo(1), "report protocol");
            Assert.That(rig.Sink.DeviceSnapshot(), Does.Contain("+keyboard 1-1:1.0"));
            Assert.That(rig.Bed.Dma.Outstanding, Is.GreaterThanOrEqualTo(HidInterface.QueuedRequests));
            Assert.That(rig.Bed.Device("1-1").FindEndpoint(0x81).QueuedCount, Is.EqualTo(HidInterface.QueuedRequests), "interrupt requests stay queued");

            kbd.Send(rig.Hc, Type("Hello 42\n"));
            WaitFor(() => rig.Sink.Typed == "Hello 42\n", "typed text (got '" + rig.Sink.Typed + "')");
            List<HidKeyEvent> keys = rig.Sink.KeySnapshot();
            Assert.That(keys[0].Usage, Is.EqualTo(HidKey.LeftShift));
            Assert.That(keys[0].Pressed, Is.True);
            Assert.That(keys[1].Usage, Is.EqualTo(0x0B), "h");
            Assert.That(keys[1].Character, Is.EqualTo('H'));
            Assert.That(keys[1].Modifiers, Is.EqualTo(HidModifiers.LeftShift));
            Assert.That(keys.FindAll(k => !k.Pressed).Count, Is.EqualTo(keys.FindAll(k => k.Pressed).Count), "every key goes up again");
        }

        [Test]
        public void SixKeyArrayRolloverAndErrorRollOver()
        {
            using var rig = new Rig();
            SimHidDevice kbd = rig.Plug("1", HidSamples.Keyboard());
            kbd.Send(rig.Hc, Keys(0, 0x04), Keys(0, 0x04, 0x05), Keys(0, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01), Keys(0, 0x05), Keys(0));
            WaitFor(() => rig.Sink.KeyCount == 4);
            List<HidKeyEvent> k = rig.Sink.KeySnapshot();
            Assert.That(k[0].Usage == 0x04 && k[0].Pressed, Is.True);
            Assert.That(k[1].Usage == 0x05 && k[1].Pressed, Is.True);
            Assert.That(k[2].Usage == 0x04 && !k[2].Pressed, Is.True, "ErrorRollOver kept the state; 'a' goes up after it");
            Assert.That(k[3].Usage == 0x05 && !k[3].Pressed, Is.True);
            Assert.That(rig.Sink.Typed, Is.EqualTo("ab"));
        }

        [Test]
        public void CapsLockTogglesAndSetsLedsWithSetReport()
        {
            using var rig = new Rig();
            SimHidDevice kbd = rig.Plug("1", HidSamples.Keyboard());
            WaitFor(() => kbd.SetReports.Count >= 1, "initial LED report");
            kbd.Send(rig.Hc, Keys(0, (byte)HidKey.CapsLock), Keys(0), Keys(0, 0x04), Keys(0));
            WaitFor(() => rig.Sink.Typed == "A");
            WaitFor(() => { lock (kbd.SetReports) return kbd.SetReports.Count >= 2 && kbd.SetReports[kbd.SetReports.Count - 1][0] == 0x02; }, "Caps Lock LED");
            Assert.That(kbd.SetReportValues[0], Is.EqualTo((ushort)0x0200), "SET_REPORT(Output, ID 0)");
            Assert.That(rig.Service.Locks, Is.EqualTo(HidLocks.CapsLock));
            kbd.Send(rig.Hc, Keys(0, (byte)HidKey.NumLock), Keys(0), Keys(0, (byte)HidKey.Keypad1), Keys(0));
            WaitFor(() => rig.Sink.Typed == "A1");
            WaitFor(() => { lock (kbd.SetReports) return kbd.SetReports[kbd.SetReports.Count - 1][0] == 0x03; }, "Num + Caps LEDs");
        }

        [Test]
        public void TypematicRepeatsTheHeldKeyUntilRelease()
        {
            using var rig = new Rig();
            SimHidDevice kbd = rig.Plug("1", HidSamples.Keyboard());
            kbd.Send(rig.Hc, Keys(0, 0x07));
            // Virtual time runs 20x: 500 ms delay + several 33 ms periods pass in well under a real second.
            WaitFor(() => rig.Sink.KeySnapshot().FindAll(e => e.Repeat).Count >= 3, "repeats");
            kbd.Send(rig.Hc, Keys(0));
            WaitFor(() => rig.Sink.KeySnapshot().Exists(e => !e.Pressed && e.Usage == 0x07));
            int repeats = rig.Sink.KeySnapshot().FindAll(e => e.Repeat).Count;
            Thread.Sleep(200);
            Assert.That(rig.Sink.KeySnapshot().FindAll(e => e.Repeat).Count, Is.LessThanOrEqualTo(repeats + 1), "repeat stops at release");
            Assert.That(rig.Sink.Typed, Does.Match("^d+$"));
        }

        [Test]
        public void TypematicLogic()
        {
            var t = new Typematic();
            t.Press(this, HidKey.LeftShift, 0);
            Assert.That(t.IsActive, Is.False, "modifiers do not repeat");
            t.Press(this, 0x04, 1000);
            Assert.That(t.Poll(1499, out object _, out int _), Is.False);
            Assert.That(t.MillisecondsUntilDue(1499, 1000), Is.EqualTo(1));
            Assert.That(t.Poll(1500, out object owner, out int usage), Is.True);
            Assert.That(owner, Is.SameAs(this));
            Assert.That(usage, Is.EqualTo(0x04));
            Assert.That(t.Poll(1532, out _, out _), Is.False);
            Assert.That(t.Poll(1533, out _, out _), Is.True);
            Assert.That(t.Poll(5000, out _, out _), Is.True);
            Assert.That(t.Poll(5001, out _, out _), Is.False, "no burst after falling behind");
            t.Press(this, 0x05, 6000);
            t.Release(this, 0x04);
            Assert.That(t.IsActive, Is.True, "releasing an older key keeps the newest repeating");
            t.ReleaseOwner(this);
            Assert.That(t.IsActive, Is.False);
        }

        [Test]
        public void KeymapUsLayout()
        {
            Assert.That(UsKeymap.Translate(0x04, 0, 0), Is.EqualTo('a'));
            Assert.That(UsKeymap.Translate(0x04, HidModifiers.RightShift, 0), Is.EqualTo('A'));
            Assert.That(UsKeymap.Translate(0x04, HidModifiers.LeftShift, HidLocks.CapsLock), Is.EqualTo('a'));
            Assert.That(UsKeymap.Translate(0x1E, HidModifiers.LeftShift, HidLocks.CapsLock), Is.EqualTo('!'), "Caps Lock affects letters only");
            Assert.That(UsKeymap.Translate(0x06, HidModifiers.LeftControl, 0), Is.EqualTo((char)3), "Ctrl-C");
            Assert.That(UsKeymap.Translate(0x2D, 0, 0), Is.EqualTo('-'));
            Assert.That(UsKeymap.Translate(0x2D, HidModifiers.LeftShift, 0), Is.EqualTo('_'));
            Assert.That(UsKeymap.Translate(0x34, HidModifiers.LeftShift, 0), Is.EqualTo('"'));
            Assert.That(UsKeymap.Translate(0x38, HidModifiers.LeftShift, 0), Is.EqualTo('?'));
            Assert.That(UsKeymap.Translate(HidKey.Enter, 0, 0), Is.EqualTo('\n'));
            Assert.That(UsKeymap.Translate(HidKey.Backspace, 0, 0), Is.EqualTo('\b'));
            Assert.That(UsKeymap.Translate(HidKey.Keypad1, 0, 0), Is.EqualTo('\0'), "keypad digits need Num Lock");
            Assert.That(UsKeymap.Translate(HidKey.Keypad1, 0, HidLocks.NumLock), Is.EqualTo('1'));
            Assert.That(UsKeymap.Translate(HidKey.Keypad0, 0, HidLocks.NumLock), Is.EqualTo('0'));
            Assert.That(UsKeymap.Translate(HidKey.KeypadSlash, 0, 0), Is.EqualTo('/'));
            Assert.That(UsKeymap.Translate(HidKey.F1, 0, 0), Is.EqualTo('\0'));
            Assert.That(UsKeymap.Translate(0x52, 0, 0), Is.EqualTo('\0'), "Up arrow types nothing");
        }

        [Test]
        public void MouseReportsRelativeMovementButtonsAndWheel()
        {
            using var rig = new Rig();
            SimHidDevice mouse = rig.Plug("2", HidSamples.Mouse());
            Assert.That(rig.Bed.Stack.FindInterface("1-2:1.0").Driver?.Name, Is.EqualTo(UsbHidDriver.DriverName), rig.Bed.LogSink.All());
            mouse.Send(rig.Hc, new byte[] { 0x01, 10, 0xFB, 0x01 }, new byte[] { 0x12, 0, 0, 0xFF });
            WaitFor(() => rig.Sink.PointerCount == 2);
            HidPointerEvent first = rig.Sink.Pointers[0];
            Assert.That(first.Kind, Is.EqualTo(HidDeviceKind.Mouse));
            Assert.That(first.X, Is.EqualTo(10));
            Assert.That(first.Y, Is.EqualTo(-5));
            Assert.That(first.Wheel, Is.EqualTo(1));
            Assert.That(first.Buttons, Is.EqualTo(1u));
            HidPointerEvent second = rig.Sink.LastPointer;
            Assert.That(second.Buttons, Is.EqualTo(0x12u), "buttons 2 and 5");
            Assert.That(second.Wheel, Is.EqualTo(-1));
        }

        [Test]
        public void TabletReportsAbsolutePositionWithRange()
        {
            using var rig = new Rig();
            SimHidDevice tablet = rig.Plug("3", HidSamples.Tablet());
            Assert.That(rig.Bed.Stack.FindInterface("1-3:1.0").Driver?.Name, Is.EqualTo(UsbHidDriver.DriverName), rig.Bed.LogSink.All());
            Assert.That(tablet.Idle, Is.EqualTo(0));
            tablet.Send(rig.Hc, new byte[] { 0x04, 0x00, 0x40, 0xFF, 0x1F, 0x00 });
            WaitFor(() => rig.Sink.PointerCount == 1);
            HidPointerEvent e = rig.Sink.LastPointer;
            Assert.That(e.Kind, Is.EqualTo(HidDeviceKind.Tablet));
            Assert.That(e.X, Is.EqualTo(0x4000));
            Assert.That(e.Y, Is.EqualTo(0x1FFF));
            Assert.That(e.XMaximum, Is.EqualTo(0x7FFF));
            Assert.That(e.Buttons, Is.EqualTo(4u), "middle");
        }

        [Test]
        public void AllThreeTogetherAndUnplugMidStreamEndsCleanly()
        {
            using var rig = new Rig();
            SimHidDevice kbd = rig.Plug("1", HidSamples.Keyboard());
            SimHidDevice mouse = rig.Plug("2", HidSamples.Mouse());
            SimHidDevice tablet = rig.Plug("3", HidSamples.Tablet());
            Assert.That(rig.Service.InterfaceCount, Is.EqualTo(3));
            var reports = new List<byte[]>();
            for (int i = 0; i < 200; i++) reports.Add(new byte[] { 0, 1, 1, 0 });
            mouse.Send(rig.Hc, reports.ToArray());
            kbd.Send(rig.Hc, Keys(0, 0x04));
            WaitFor(() => rig.Sink.PointerCount > 20);
            WaitFor(() => rig.Sink.Typed == "a");
            rig.Service.Typematic.DelayMs = 1000000; // keep the held key from repeating during the checks below
            int dmaBefore = rig.Bed.Dma.Outstanding;
            rig.Hc.Unplug("2");
            rig.Hc.Unplug("1");
            rig.Bed.Settle();
            Assert.That(rig.Bed.Device("1-2"), Is.Null);
            Assert.That(rig.Service.InterfaceCount, Is.EqualTo(1));
            Assert.That(rig.Bed.Dma.Outstanding, Is.EqualTo(dmaBefore - 2 * HidInterface.QueuedRequests), "request buffers freed");
            List<string> devices = rig.Sink.DeviceSnapshot();
            Assert.That(devices, Does.Contain("-mouse 1-2:1.0"));
            Assert.That(devices, Does.Contain("-keyboard 1-1:1.0"));
            Assert.That(rig.Sink.KeySnapshot().Exists(k => k.Usage == 0x04 && !k.Pressed), Is.True, "held key released on unplug");
            Assert.That(rig.Service.Typematic.IsActive, Is.False);
            Assert.That(rig.Bed.LogSink.Contains("resetting the device"), Is.False);
            // The tablet keeps working.
            tablet.Send(rig.Hc, new byte[] { 0, 1, 0, 2, 0, 0 });
            WaitFor(() => rig.Sink.LastPointer.Kind == HidDeviceKind.Tablet);
        }

        [Test]
        public void UnbindAndRebindRestartTheStream()
        {
            using var rig = new Rig();
            SimHidDevice kbd = rig.Plug("1", HidSamples.Keyboard());
            UsbInterface intf = rig.Bed.Stack.FindInterface("1-1:1.0");
            Assert.That(rig.Bed.Stack.Unbind(intf), Is.EqualTo(UsbStatus.Ok));
            Assert.That(rig.Service.InterfaceCount, Is.EqualTo(0));
            Assert.That(rig.Bed.Stack.Bind(intf, UsbHidDriver.DriverName), Is.EqualTo(UsbStatus.Ok));
            kbd.Send(rig.Hc, Type("ok"));
            WaitFor(() => rig.Sink.Typed == "ok");
        }

        [Test]
        public void TransferErrorsAndStallsRecover()
        {
            using var rig = new Rig();
            SimHidDevice kbd = rig.Plug("1", HidSamples.Keyboard());
            rig.Hc.Mutate(() => kbd.Endpoint(0x81).Fault = UsbStatus.TransactionError);
            kbd.Send(rig.Hc, Type("x"));
            WaitFor(() => rig.Sink.Typed == "x", "typing after a transaction error");
            rig.Hc.Mutate(() => kbd.Endpoint(0x81).Fault = UsbStatus.Stall);
            kbd.Send(rig.Hc, Type("y"));
            WaitFor(() => rig.Sink.Typed == "xy", "typing after a stall");
            Assert.That(kbd.ControlLog.Exists(s => s.bRequest == Drivers.Usb.Descriptors.UsbRequestCode.ClearFeature && s.wIndex == 0x81), Is.True, "CLEAR_FEATURE(ENDPOINT_HALT)");
            Assert.That(rig.Bed.Stack.FindInterface("1-1:1.0").DriverData, Is.InstanceOf<HidKeyboard>());
            Assert.That(((HidKeyboard)rig.Bed.Stack.FindInterface("1-1:1.0").DriverData).Errors, Is.GreaterThanOrEqualTo(2));
        }

        [Test]
        public void PersistentErrorsResetTheDeviceLikeLinux()
        {
            // Linux hid_io_error: retries at growing intervals for one second, then a device reset.
            using var rig = new Rig();
            SimHidDevice kbd = rig.Plug("1", HidSamples.Keyboard());
            int resetsBefore = rig.Hc.RootPorts.Port(1).ResetCount;
            rig.Hc.Mutate(() => { kbd.Endpoint(0x81).Fault = UsbStatus.TransactionError; kbd.Endpoint(0x81).FaultSticky = true; });
            WaitFor(() => rig.Bed.LogSink.Contains("hid 1-1:1.0: transfer errors for 1000 ms, resetting the device"), "reset after a second of errors");
            HidKeyboard failing = (HidKeyboard)rig.Bed.Stack.FindInterface("1-1:1.0")?.DriverData;
            int errors = failing?.Errors ?? 0;
            Assert.That(errors, Is.LessThan(40), "retries are spaced (13, 26, 52, 104 ms), not a storm");
            // The fault heals: the device, enumerated again after its reset, types.
            rig.Hc.Mutate(() => { kbd.Endpoint(0x81).Fault = null; kbd.Endpoint(0x81).FaultSticky = false; });
            rig.Bed.Settle();
            WaitFor(() => rig.Hc.RootPorts.Port(1).ResetCount > resetsBefore, "the port was reset");
            kbd.Send(rig.Hc, Type("ok"));
            WaitFor(() => rig.Sink.Typed == "ok", "typing after the reset");
            Assert.That(rig.Bed.LogSink.Contains("can't reset"), Is.False);
        }

        [Test]
        public void BootKeyboardWithBrokenDescriptorFallsBackToBootProtocol()
        {
            using var rig = new Rig();
            var broken = new SimHidDevice("Cheap Keyboard", UsbSpeed.Low, 1, 1, new byte[] { 0x05, 0x01, 0x09, 0x06, 0xA1, 0x01, 0x05 }, 8);
            rig.Plug("1", broken);
            UsbInterface intf = rig.Bed.Stack.FindInterface("1-1:1.0");
            Assert.That(intf.Driver?.Name, Is.EqualTo(UsbHidDriver.DriverName), rig.Bed.LogSink.All());
            Assert.That(((HidInterface)intf.DriverData).BootProtocol, Is.True);
            Assert.That(broken.Protocol, Is.EqualTo(0), "SET_PROTOCOL(boot)");
            Assert.That(rig.Bed.LogSink.Contains("bad report descriptor: item truncated at offset 6"), Is.True);
            broken.Send(rig.Hc, Type("hi"));
            WaitFor(() => rig.Sink.Typed == "hi");
        }

        [Test]
        public void KeyboardsIgnoringSetProtocolAndSetIdleStillWork()
        {
            using var rig = new Rig();
            SimHidDevice kbd = HidSamples.Keyboard();
            kbd.StallSetIdle = true;
            kbd.StallSetProtocol = true;
            rig.Plug("1", kbd);
            kbd.Send(rig.Hc, Type("ok"));
            WaitFor(() => rig.Sink.Typed == "ok");
        }

        [Test]
        public void NonInputHidInterfacesAreLeftAlone()
        {
            using var rig = new Rig();
            byte[] vendor = { 0x06, 0x00, 0xFF, 0x09, 0x01, 0xA1, 0x01, 0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08, 0x95, 0x08, 0x09, 0x01, 0x81, 0x02, 0xC0 };
            rig.Plug("1", new SimHidDevice("UPS", UsbSpeed.Full, 0, 0, vendor, 8));
            Assert.That(rig.Bed.Stack.FindInterface("1-1:1.0").Driver, Is.Null);
            Assert.That(rig.Service.InterfaceCount, Is.EqualTo(0));
        }

        [Test]
        public void GamingKeyboardWithReportIdsTypesAndIgnoresOtherReports()
        {
            using var rig = new Rig();
            var kbd = new SimHidDevice("Gaming Keyboard", UsbSpeed.Full, 0, 0, HidSamples.GamingKeyboard, 64);
            rig.Plug("1", kbd);
            UsbInterface intf = rig.Bed.Stack.FindInterface("1-1:1.0");
            Assert.That(intf.Driver?.Name, Is.EqualTo(UsbHidDriver.DriverName), rig.Bed.LogSink.All());
            byte[] Bitmap(byte mods, params int[] keys)
            {
                var r = new byte[17];
                r[0] = 1;
                r[1] = mods;
                foreach (int k in keys) r[2 + k / 8] |= (byte)(1 << (k % 8));
                return r;
            }
            kbd.Send(rig.Hc,
                Bitmap(0x20, 0x0B), Bitmap(0), // Shift (right) + h
                new byte[] { 2, 0xE9, 0x00 },   // consumer: Volume Up, not a key for us
                Bitmap(0, 0x0C, 0x17), Bitmap(0)); // i and t together
            WaitFor(() => rig.Sink.Typed.Length == 3, "typed " + rig.Sink.Typed);
            Assert.That(rig.Sink.Typed, Is.EqualTo("Hit"));
            WaitFor(() => kbd.SetReports.Count >= 1);
            Assert.That(kbd.SetReportValues[0], Is.EqualTo((ushort)0x0201), "LED report carries ID 1");
            Assert.That(kbd.SetReports[0].Length, Is.EqualTo(2));
            Assert.That(kbd.SetReports[0][0], Is.EqualTo(1));
        }

        [Test]
        public void RetryDelayGrowsAndIsBounded()
        {
            var delays = new List<uint>();
            uint delay = 0;
            for (int i = 0; i < 6; i++)
                delays.Add(delay = HidInterface.NextRetryDelay(delay));
            Assert.That(delays, Is.EqualTo(new uint[] { 13, 26, 52, 104, 104, 104 }), "Linux hid_io_error's delays");
        }
    }
}
