using System;
using System.Collections.Generic;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Audio;
using Drivers.Usb.Descriptors;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Simulation;

namespace Usb.Tests.Audio
{
    /// <summary>Descriptors of real audio devices, byte for byte.</summary>
    public static class UacSamples
    {
        /// <summary>QEMU 7.2 usb-audio (hw/usb/dev-audio.c): full speed, 48 kHz 16-bit stereo, one feature unit (mute master, volume L/R).</summary>
        public static byte[] QemuConfig() => Desc.Config(1, 0xC0, 0x32,
            Desc.Raw(0x09, 0x04, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x05),
            Desc.Raw(0x09, 0x24, 0x01, 0x00, 0x01, 0x2b, 0x00, 0x01, 0x01),
            Desc.Raw(0x0c, 0x24, 0x02, 0x01, 0x01, 0x01, 0x00, 0x02, 0x03, 0x00, 0x00, 0x06),
            Desc.Raw(0x0d, 0x24, 0x06, 0x02, 0x01, 0x02, 0x01, 0x00, 0x02, 0x00, 0x02, 0x00, 0x07),
            Desc.Raw(0x09, 0x24, 0x03, 0x03, 0x01, 0x03, 0x00, 0x02, 0x08),
            Desc.Raw(0x09, 0x04, 0x01, 0x00, 0x00, 0x01, 0x02, 0x00, 0x09),
            Desc.Raw(0x09, 0x04, 0x01, 0x01, 0x01, 0x01, 0x02, 0x00, 0x0a),
            Desc.Raw(0x07, 0x24, 0x01, 0x01, 0x00, 0x01, 0x00),
            Desc.Raw(0x0b, 0x24, 0x02, 0x01, 0x02, 0x02, 0x10, 0x01, 0x80, 0xbb, 0x00),
            Desc.Raw(0x09, 0x05, 0x01, 0x0d, 0xc0, 0x00, 0x01, 0x00, 0x00),
            Desc.Raw(0x07, 0x25, 0x01, 0x00, 0x00, 0x00, 0x00));

        public static byte[] QemuDevice() => Desc.Device(0x46f4, 0x0002);

        /// <summary>
        /// Access Music Virus TI, AudioControl interface (lsusb -v): header 1.00, wTotalLength 52,
        /// streaming interfaces 1 and 2; USB streaming IT 1 → speaker OT 3, line IT 4 → USB
        /// streaming OT 7; no feature unit.
        /// </summary>
        public static byte[] VirusTiControl() => Desc.Concat(
            Desc.Raw(0x0a, 0x24, 0x01, 0x00, 0x01, 0x34, 0x00, 0x02, 0x01, 0x02),
            Desc.Raw(0x0c, 0x24, 0x02, 0x01, 0x01, 0x01, 0x00, 0x02, 0x03, 0x00, 0x00, 0x00),
            Desc.Raw(0x09, 0x24, 0x03, 0x03, 0x01, 0x03, 0x00, 0x01, 0x00),
            Desc.Raw(0x0c, 0x24, 0x02, 0x04, 0x03, 0x06, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00),
            Desc.Raw(0x09, 0x24, 0x03, 0x07, 0x01, 0x01, 0x00, 0x04, 0x00));

        /// <summary>
        /// CSCTEK "USB Audio and HID" (0573:1573, Haiku listusb): header listing interfaces 1 and 2,
        /// USB streaming IT 1 (stereo), feature unit 5 fed by unit 4 with master mute + volume
        /// (control size 1), OT 2.
        /// </summary>
        public static byte[] CsctekControlPart() => Desc.Concat(
            Desc.Raw(0x0a, 0x24, 0x01, 0x00, 0x01, 0x46, 0x00, 0x02, 0x01, 0x02),
            Desc.Raw(0x0c, 0x24, 0x02, 0x01, 0x01, 0x01, 0x00, 0x02, 0x03, 0x00, 0x00, 0x00),
            Desc.Raw(0x08, 0x24, 0x06, 0x05, 0x04, 0x01, 0x03, 0x00),
            Desc.Raw(0x09, 0x24, 0x03, 0x02, 0x01, 0x01, 0x00, 0x05, 0x00));
    }

    [TestFixture]
    public class UacParserTests
    {
        static byte[] ControlExtra(byte[] config)
        {
            // The class-specific part between interface 0 alt 0 and the next interface.
            int start = 9 + 9, end = start;
            while (end < config.Length && config[end + 1] != DescriptorType.Interface)
                end += config[end];
            return config.AsSpan(start, end - start).ToArray();
        }

        [Test]
        public void QemuAudioControl()
        {
            Assert.That(UacParser.ParseControl(ControlExtra(UacSamples.QemuConfig()), out UacControl c), Is.EqualTo(UsbStatus.Ok));
            Assert.That(c.bcdADC, Is.EqualTo(0x0100));
            Assert.That(c.StreamingInterfaces, Is.EqualTo(new byte[] { 1 }));
            Assert.That(c.Terminals.Count, Is.EqualTo(2));
            Assert.That(c.FindTerminal(1, out UacTerminal it) && it.IsInput && it.wTerminalType == Uac.TerminalUsbStreaming && it.bNrChannels == 2);
            Assert.That(c.FindTerminal(3, out UacTerminal ot) && !ot.IsInput && ot.wTerminalType == Uac.TerminalSpeaker && ot.bSourceID == 2);
            UacFeatureUnit fu = c.FeatureUnitFor(1);
            Assert.That(fu, Is.Not.Null);
            Assert.That(fu.bUnitID, Is.EqualTo(2));
            Assert.That(fu.Channels, Is.EqualTo(2));
            Assert.That(fu.Has(0, Uac.MuteBit) && !fu.Has(0, Uac.VolumeBit));
            Assert.That(fu.Has(1, Uac.VolumeBit) && fu.Has(2, Uac.VolumeBit) && !fu.Has(3, Uac.VolumeBit));
        }

        [Test]
        public void VirusTiHasTwoPathsAndNoFeatureUnit()
        {
            Assert.That(UacParser.ParseControl(UacSamples.VirusTiControl(), out UacControl c), Is.EqualTo(UsbStatus.Ok));
            Assert.That(c.StreamingInterfaces, Is.EqualTo(new byte[] { 1, 2 }));
            Assert.That(c.Terminals.Count, Is.EqualTo(4));
            Assert.That(c.FeatureUnitFor(1), Is.Null);
        }

        [Test]
        public void CsctekFeatureUnitWithMasterControlsOnly()
        {
            Assert.That(UacParser.ParseControl(UacSamples.CsctekControlPart(), out UacControl c), Is.EqualTo(UsbStatus.Ok));
            UacFeatureUnit fu = c.FeatureUnits[0];
            Assert.That(fu.bUnitID, Is.EqualTo(5));
            Assert.That(fu.bControlSize, Is.EqualTo(1));
            Assert.That(fu.Channels, Is.EqualTo(0));
            Assert.That(fu.Has(0, Uac.MuteBit) && fu.Has(0, Uac.VolumeBit));
            Assert.That(c.FeatureUnitFor(1), Is.Null, "its source is unit 4, not described here");
            Assert.That(c.FeatureUnitFor(4), Is.SameAs(fu));
        }

        [Test]
        public void StreamingFormatTypeI()
        {
            byte[] extra = Desc.Concat(Desc.Raw(0x07, 0x24, 0x01, 0x01, 0x00, 0x01, 0x00),
                                       Desc.Raw(0x0e, 0x24, 0x02, 0x01, 0x02, 0x02, 0x10, 0x02, 0x44, 0xac, 0x00, 0x80, 0xbb, 0x00));
            Assert.That(UacParser.ParseStreamingExtra(extra, out UacFormat f), Is.EqualTo(UsbStatus.Ok));
            Assert.That(f.Rates, Is.EqualTo(new[] { 44100, 48000 }));
            Assert.That(f.FrameBytes, Is.EqualTo(4));
            byte[] continuous = Desc.Concat(Desc.Raw(0x07, 0x24, 0x01, 0x01, 0x00, 0x01, 0x00),
                                            Desc.Raw(0x0e, 0x24, 0x02, 0x01, 0x01, 0x03, 0x18, 0x00, 0x40, 0x1f, 0x00, 0x00, 0x77, 0x01));
            Assert.That(UacParser.ParseStreamingExtra(continuous, out UacFormat c), Is.EqualTo(UsbStatus.Ok));
            Assert.That(c.Continuous && c.MinRate == 8000 && c.MaxRate == 96000);
            Assert.That(c.SupportsRate(48000) && !c.SupportsRate(192000));
        }

        [TestCase(new byte[] { 0x00, 0x24, 0x01 }, TestName = "Control_ZeroLength")]
        [TestCase(new byte[] { 0x09, 0x24, 0x01, 0x00, 0x01 }, TestName = "Control_PastTheEnd")]
        [TestCase(new byte[] { 0x08, 0x24, 0x01, 0x00, 0x01, 0x2b, 0x00, 0x03 }, TestName = "Control_HeaderListsMoreInterfacesThanItHolds")]
        [TestCase(new byte[] { 0x09, 0x24, 0x01, 0x00, 0x01, 0x2b, 0x00, 0x01, 0x01, 0x07, 0x24, 0x06, 0x02, 0x01, 0x00, 0x00 }, TestName = "Control_FeatureUnitControlSizeZero")]
        [TestCase(new byte[] { 0x0c, 0x24, 0x02, 0x01, 0x01, 0x01, 0x00, 0x02, 0x03, 0x00, 0x00, 0x06 }, TestName = "Control_NoHeader")]
        public void MalformedControlIsRefused(byte[] extra)
        {
            Assert.That(UacParser.ParseControl(extra, out UacControl _), Is.EqualTo(UsbStatus.BadDescriptor));
        }

        [TestCase(new byte[] { 0x07, 0x24, 0x01, 0x01, 0x00, 0x01, 0x00, 0x0b, 0x24, 0x02, 0x01, 0x02, 0x02, 0x10, 0x02, 0x80, 0xbb, 0x00 }, TestName = "Format_FewerRatesThanCounted")]
        [TestCase(new byte[] { 0x07, 0x24, 0x01, 0x01, 0x00, 0x01, 0x00, 0x0b, 0x24, 0x02, 0x01, 0x02, 0x05, 0x10, 0x01, 0x80, 0xbb, 0x00 }, TestName = "Format_SubframeTooWide")]
        [TestCase(new byte[] { 0x07, 0x24, 0x01, 0x01, 0x00, 0x01, 0x00, 0x0b, 0x24, 0x02, 0x01, 0x02, 0x02, 0x18, 0x01, 0x80, 0xbb, 0x00 }, TestName = "Format_MoreBitsThanTheSubframe")]
        [TestCase(new byte[] { 0x07, 0x24, 0x01, 0x01, 0x00, 0x01, 0x00, 0x0e, 0x24, 0x02, 0x01, 0x02, 0x02, 0x10, 0x00, 0x80, 0xbb, 0x00, 0x40, 0x1f, 0x00 }, TestName = "Format_ContinuousRangeBackwards")]
        public void MalformedStreamingIsRefused(byte[] extra)
        {
            Assert.That(UacParser.ParseStreamingExtra(extra, out UacFormat _), Is.EqualTo(UsbStatus.BadDescriptor));
        }

        /// <summary>Random mutations of real descriptors: the parsers answer (any status) and never throw or loop.</summary>
        [Test]
        public void FuzzedDescriptorsNeverThrow()
        {
            var rng = new Random(1234);
            byte[][] seeds =
            {
                ControlExtra(UacSamples.QemuConfig()), UacSamples.VirusTiControl(), UacSamples.CsctekControlPart(),
                Desc.Concat(Desc.Raw(0x07, 0x24, 0x01, 0x01, 0x00, 0x01, 0x00), Desc.Raw(0x0b, 0x24, 0x02, 0x01, 0x02, 0x02, 0x10, 0x01, 0x80, 0xbb, 0x00)),
            };
            int accepted = 0;
            for (int i = 0; i < 50000; i++)
            {
                byte[] seed = seeds[rng.Next(seeds.Length)];
                byte[] input = (byte[])seed.Clone();
                int flips = 1 + rng.Next(4);
                for (int f = 0; f < flips; f++)
                    input[rng.Next(input.Length)] = (byte)rng.Next(256);
                if (rng.Next(4) == 0)
                    Array.Resize(ref input, rng.Next(input.Length + 1));
                if (UacParser.ParseControl(input, out UacControl c) == UsbStatus.Ok)
                {
                    accepted++;
                    foreach (UacTerminal t in c.Terminals)
                        c.FeatureUnitFor(t.bTerminalID);
                }
                if (UacParser.ParseStreamingExtra(input, out UacFormat fmt) == UsbStatus.Ok)
                {
                    accepted++;
                    Assert.That(fmt.FrameBytes, Is.GreaterThan(0));
                    Assert.That(fmt.bBitResolution, Is.LessThanOrEqualTo(fmt.bSubframeSize * 8));
                }
            }
            Assert.That(accepted, Is.GreaterThan(0));
        }

        [Test]
        public void ToneHasTheFrequencyAndPeakAsked()
        {
            var tone = new ToneSource(440, 48000, 16384, 48000);
            int crossings = 0, peak = 0, previous = 0;
            for (int i = 0; i < 48000; i++)
            {
                int s = tone.NextSample();
                if (i > 0 && previous < 0 && s >= 0) crossings++;
                if (Math.Abs(s) > peak) peak = Math.Abs(s);
                previous = s;
            }
            Assert.That(crossings, Is.InRange(439, 440));
            Assert.That(peak, Is.InRange(16380, 16384));
        }
    }

    /// <summary>The snd-usb-audio driver against QEMU's usb-audio descriptors on the simulated bus.</summary>
    [TestFixture]
    public class UsbAudioDriverTests
    {
        TestBed _bed;
        SimController _hc;
        SimDevice _sim;
        UsbAudioDriver _driver;
        readonly List<string> _requests = new List<string>();

        [SetUp]
        public void SetUp()
        {
            _bed = new TestBed();
            _driver = UsbAudioDriver.Register(_bed.Stack);
            _hc = _bed.AddController(2, UsbSpeed.Full);
            _sim = new SimDevice("audio", UsbSpeed.Full, UacSamples.QemuDevice(), UacSamples.QemuConfig());
            _sim.OnControl = AudioControl;
            _hc.Plug("1", _sim);
            _bed.Settle();
        }

        [TearDown]
        public void TearDown() => _bed.Dispose();

        /// <summary>QEMU's answers: volume range 0x8001..0x0800, resolution 0x88; SET_CUR accepted and recorded.</summary>
        SimResult? AudioControl(SetupPacket setup, byte[] data)
        {
            if ((setup.bmRequestType & RequestType.TypeMask) != RequestType.TypeClass)
                return null;
            lock (_requests)
                _requests.Add(setup.bRequest.ToString("x2") + " " + setup.wValue.ToString("x4") + " " + setup.wIndex.ToString("x4") +
                              (setup.IsIn ? "" : " " + BitConverter.ToString(data, 0, setup.wLength)));
            ushort value;
            switch (setup.bRequest)
            {
                case Uac.GetMin: value = 0x8001; break;
                case Uac.GetMax: value = 0x0800; break;
                case Uac.GetRes: value = 0x0088; break;
                case Uac.SetCur: return SimResult.Ok(0);
                default: return SimResult.Stall;
            }
            data[0] = (byte)value;
            data[1] = (byte)(value >> 8);
            return SimResult.Ok(2);
        }

        [Test]
        public void BindsBothInterfacesAndFindsTheFormat()
        {
            UsbDevice d = _bed.Device("1-1");
            Assert.That(d.Interfaces[0].Driver, Is.SameAs(_driver));
            Assert.That(d.Interfaces[1].Driver, Is.SameAs(_driver));
            UsbAudioDevice[] devices = _driver.Devices;
            Assert.That(devices.Length, Is.EqualTo(1));
            UsbAudioDevice a = devices[0];
            Assert.That(a.Name, Is.EqualTo("audio0"));
            Assert.That(a.Feature.bUnitID, Is.EqualTo(2));
            UacFormat f = a.ChooseFormat(48000);
            Assert.That(f.AlternateSetting, Is.EqualTo(1));
            Assert.That(f.EndpointAddress, Is.EqualTo(0x01));
            Assert.That(f.SamplingFreqControl, Is.False, "QEMU's EP_GENERAL has no sampling frequency control");
            Assert.That(a.VolumeMin, Is.EqualTo(unchecked((short)0x8001)));
            Assert.That(a.VolumeMax, Is.EqualTo(0x0800));
            Assert.That(a.Describe(f), Is.EqualTo("alt 1: PCM 2 ch 16-bit 48000 Hz, ep 01"));
        }

        [Test]
        public void VolumeAndMuteGoToTheFeatureUnitChannelsThatHaveThem()
        {
            UsbAudioDevice a = _driver.Devices[0];
            lock (_requests) _requests.Clear();
            Assert.That(a.SetVolume(100), Is.EqualTo(UsbStatus.Ok));
            Assert.That(a.SetMute(true), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_requests, Is.EqualTo(new[]
            {
                "01 0201 0200 00-08", "01 0202 0200 00-08", // volume on channels 1 and 2 of unit 2, interface 0
                "01 0100 0200 01",                          // mute on the master channel
            }));
            Assert.That(a.VolumeFor(0), Is.EqualTo(unchecked((short)0x8001)));
            Assert.That(a.VolumeFor(50), Is.EqualTo((short)-15360), "halfway between -32767 and 2048, rounded down");
        }

        const uint StreamBoundMs = 120000;

        [Test]
        public void PlaysAContinuousToneThenReturnsToTheZeroBandwidthSetting()
        {
            UsbAudioDevice a = _driver.Devices[0];
            UacFormat f = a.ChooseFormat(48000);
            const int Ms = 100;
            Assert.That(a.Start(new ToneSource(440, 48000, 16384, 48 * Ms), f, 48000), Is.EqualTo(UsbStatus.Ok));
            Assert.That(_sim.AltSettings[1], Is.EqualTo(1));
            // The bound is in the test clock's virtual time, which runs ahead of the simulated controller's
            // real-time thread when other tests load the machine: generous, it only catches a stream that hangs.
            Assert.That(a.WaitFinished(StreamBoundMs), Is.True);
            a.Stop();
            Assert.That(_sim.AltSettings[1], Is.EqualTo(0));
            Assert.That(a.PacketsSent, Is.EqualTo(Ms));
            Assert.That(a.PacketErrors + a.PacketsMissed, Is.Zero);
            AssertTheToneWentOutInOrder(Ms);
        }

        /// <summary>The device received exactly <paramref name="ms"/> 1 ms packets of the 440 Hz tone, in order.</summary>
        void AssertTheToneWentOutInOrder(int ms)
        {
            List<byte[]> packets = _sim.Endpoint(0x01).OutData;
            Assert.That(packets.Count, Is.EqualTo(ms));
            var expected = new ToneSource(440, 48000, 16384, 48 * ms);
            for (int p = 0; p < packets.Count; p++)
            {
                Assert.That(packets[p].Length, Is.EqualTo(192), "QEMU takes exactly 48 stereo frames per packet");
                for (int frame = 0; frame < 48; frame++)
                {
                    short s = expected.NextSample() is int v ? (short)v : (short)0;
                    Assert.That(BitConverter.ToInt16(packets[p], frame * 4), Is.EqualTo(s), "left, packet " + p);
                    Assert.That(BitConverter.ToInt16(packets[p], frame * 4 + 2), Is.EqualTo(s), "right, packet " + p);
                }
            }
        }

        /// <summary>
        /// A tone that, at the second packet of the second request Start primes, lets the simulated bus run
        /// (it is held until then) and waits, bounded, until the first request completed and its
        /// completion refilled: without the stream lock that refill takes the samples that belong to the
        /// rest of the second request, and they go out in the wrong order.
        /// </summary>
        sealed class ToneHeldMidPriming : IPcmSource
        {
            const int HoldMs = 300;
            readonly ToneSource _tone;
            readonly Action _releaseBus;
            readonly Func<bool> _firstRequestDone;
            int _calls;

            public ToneHeldMidPriming(ToneSource tone, Action releaseBus, Func<bool> firstRequestDone)
            {
                _tone = tone;
                _releaseBus = releaseBus;
                _firstRequestDone = firstRequestDone;
            }

            public int Fill(Span<byte> destination, int frames, UacFormat format)
            {
                const int HeldCall = UsbAudioDevice.PacketsPerRequest + 2;
                if (Interlocked.Increment(ref _calls) == HeldCall)
                {
                    _releaseBus();
                    SpinWait.SpinUntil(_firstRequestDone, 2000);
                    SpinWait.SpinUntil(() => Volatile.Read(ref _calls) >= HeldCall + UsbAudioDevice.PacketsPerRequest, HoldMs);
                }
                lock (_tone)
                    return _tone.Fill(destination, frames, format);
            }
        }

        [Test]
        public void ACompletionDuringStartDoesNotInterleaveTheSamples()
        {
            UsbAudioDevice a = _driver.Devices[0];
            const int Ms = 3 * UsbAudioDevice.PacketsPerRequest;
            _hc.IsoHold = true;
            var source = new ToneHeldMidPriming(new ToneSource(440, 48000, 16384, 48 * Ms), () => _hc.IsoHold = false, () => a.PacketsSent > 0);
            Assert.That(a.Start(source, a.ChooseFormat(48000), 48000), Is.EqualTo(UsbStatus.Ok));
            Assert.That(a.WaitFinished(StreamBoundMs), Is.True);
            a.Stop();
            Assert.That(a.PacketsSent, Is.EqualTo(Ms));
            AssertTheToneWentOutInOrder(Ms);
        }

        [Test]
        public void UnplugWhilePlayingStopsTheStreamAndFreesTheBuffers()
        {
            int dmaBefore = _bed.Dma.Outstanding;
            UsbAudioDevice a = _driver.Devices[0];
            _hc.IsoHold = true; // frames never come: the stream stays queued
            Assert.That(a.Start(new ToneSource(440, 48000, 16384, 48000 * 10), a.ChooseFormat(48000), 48000), Is.EqualTo(UsbStatus.Ok));
            Assert.That(a.IsPlaying, Is.True);
            _hc.Unplug("1");
            _bed.Settle();
            Assert.That(a.WaitFinished(5000), Is.True);
            Assert.That(a.IsGone, Is.True);
            Assert.That(_driver.Devices, Is.Empty);
            Assert.That(a.EndStatus, Is.EqualTo(UsbStatus.NoDevice).Or.EqualTo(UsbStatus.Killed));
            Assert.That(_bed.Dma.Outstanding, Is.LessThanOrEqualTo(dmaBefore), "the stream buffers are freed");
            Assert.That(a.Start(new ToneSource(440, 48000, 16384, 480), a.ChooseFormat(48000), 48000), Is.EqualTo(UsbStatus.NoDevice));
        }
    }
}
