using System;
using System.Collections.Generic;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Audio
{
    /// <summary>
    /// The USB Audio Class 1 interface driver ("snd-usb-audio" as on Linux, playback only). It
    /// binds to AudioControl interfaces (parses terminals and feature units) and to AudioStreaming
    /// interfaces; every streaming interface with a PCM type I OUT setting becomes a playback
    /// device audio0, audio1, ... whose controls are the feature unit on its terminal's path.
    /// </summary>
    public sealed class UsbAudioDriver : UsbInterfaceDriver
    {
        public const string DriverName = "snd-usb-audio";
        static readonly UsbDeviceId[] s_ids = new UsbDeviceId[]
        {
            new UsbDeviceId { MatchFlags = UsbMatch.InterfaceClass | UsbMatch.InterfaceSubClass, bInterfaceClass = UsbClass.Audio, bInterfaceSubClass = Uac.SubclassAudioControl },
            new UsbDeviceId { MatchFlags = UsbMatch.InterfaceClass | UsbMatch.InterfaceSubClass, bInterfaceClass = UsbClass.Audio, bInterfaceSubClass = Uac.SubclassAudioStreaming },
        };

        readonly List<UsbAudioDevice> _devices = new List<UsbAudioDevice>();
        readonly IClock _clock;

        public UsbAudioDriver(IClock clock) { _clock = clock; }

        public override string Name => DriverName;
        public override UsbDeviceId[] IdTable => s_ids;

        public static UsbAudioDriver Register(UsbStack stack)
        {
            var driver = new UsbAudioDriver(stack.Clock);
            stack.RegisterDriver(driver);
            return driver;
        }

        /// <summary>The playback devices present now, in name order.</summary>
        public UsbAudioDevice[] Devices
        {
            get
            {
                lock (_devices)
                    return NamedSnapshot.Sorted(_devices, DeviceFamily, DeviceName);
            }
        }

        public UsbAudioDevice Find(string name)
        {
            lock (_devices)
                return NamedSnapshot.Find(_devices, DeviceName, name);
        }

        static string DeviceName(UsbAudioDevice device) => device.Name;
        static string DeviceFamily(UsbAudioDevice device) => "audio";

        public override UsbStatus Probe(UsbInterface intf, UsbDeviceId id)
        {
            byte subclass = intf.Current.Descriptor.bInterfaceSubClass;
            if (subclass == Uac.SubclassAudioControl)
            {
                UsbStatus parsed = UacParser.ParseControl(intf.Current.Extra, out UacControl control);
                if (parsed != UsbStatus.Ok)
                {
                    Log.Warning(DriverName + " " + intf.Name + ": bad AudioControl descriptors");
                    return parsed;
                }
                intf.DriverData = control;
                return UsbStatus.Ok;
            }
            UacControl ac = FindControl(intf);
            var formats = new List<UacFormat>();
            for (int a = 0; a < intf.AltSettings.Length; a++)
            {
                UsbStatus s = UacParser.ParseStreaming(intf.AltSettings[a], out UacFormat format);
                if (s == UsbStatus.Ok && (format.EndpointAddress & EndpointBits.DirectionIn) == 0)
                    formats.Add(format);
                else if (s == UsbStatus.BadDescriptor)
                    Log.Warning(DriverName + " " + intf.Name + ": bad AudioStreaming descriptors in setting " +
                                Format.Decimal(intf.AltSettings[a].Descriptor.bAlternateSetting));
            }
            if (formats.Count == 0)
                return UsbStatus.NoMatch; // capture only, or no PCM: not ours (yet)
            UacFeatureUnit feature = ac != null ? ac.FeatureUnitFor(formats[0].bTerminalLink) : null;
            var device = new UsbAudioDevice(intf, ac, feature, formats.ToArray(), _clock);
            lock (_devices)
            {
                device.Name = AllocateName();
                _devices.Add(device);
            }
            intf.DriverData = device;
            device.ReadVolumeRange();
            Log.Info(DriverName + " " + intf.Name + ": " + device.Name + ": " + device.Describe(formats[0]));
            return UsbStatus.Ok;
        }

        /// <summary>The AudioControl interface of the same function: the one whose header lists this interface.</summary>
        static UacControl FindControl(UsbInterface streaming)
        {
            UsbInterface[] all = streaming.Configuration.Interfaces;
            for (int i = 0; i < all.Length; i++)
            {
                UsbAltSetting alt = all[i].Current;
                if (alt.Descriptor.bInterfaceClass != UsbClass.Audio || alt.Descriptor.bInterfaceSubClass != Uac.SubclassAudioControl)
                    continue;
                if (UacParser.ParseControl(alt.Extra, out UacControl control) != UsbStatus.Ok)
                    continue;
                for (int k = 0; k < control.StreamingInterfaces.Length; k++)
                    if (control.StreamingInterfaces[k] == streaming.Number)
                        return control;
            }
            return null;
        }

        string AllocateName()
        {
            for (int index = 0; ; index++)
            {
                string name = "audio" + Format.Decimal((ulong)index);
                bool used = false;
                for (int i = 0; i < _devices.Count; i++)
                    if (_devices[i].Name == name) used = true;
                if (!used)
                    return name;
            }
        }

        public override void Disconnect(UsbInterface intf)
        {
            var device = intf.DriverData as UsbAudioDevice;
            intf.DriverData = null;
            if (device == null)
                return;
            lock (_devices)
                _devices.Remove(device);
            device.Shutdown();
        }
    }

    /// <summary>
    /// One playback device: an AudioStreaming interface, its PCM formats, its feature unit, and
    /// the stream. Playing keeps <see cref="QueueDepth"/> isochronous requests queued; each
    /// completion refills its request from the source and resubmits it at once (ASAP continues the
    /// stream in the next free frame), so the device never runs dry while the CPU keeps up.
    /// </summary>
    public sealed class UsbAudioDevice
    {
        /// <summary>
        /// Requests kept queued while playing, and packets (service intervals) per request: 160 ms
        /// ahead of the device, more than an emulated controller that lags behind its host catches
        /// up in one go (QEMU runs up to 128 late frames back to back while the guest waits).
        /// </summary>
        public const int QueueDepth = 8;
        public const int PacketsPerRequest = 20;
        /// <summary>Peak of the test tone on a 16-bit scale: -6 dBFS.</summary>
        public const int ToneAmplitude = 16384;
        const int PercentMax = 100;
        const int MillisecondsPerSecond = 1000;
        const int FramesPerSecondFullSpeed = 1000;
        const int MicroframesPerSecond = 8000;
        const uint StopPollMs = 10;
        const int VolumeBytes = 2;
        const int SampleRateBytes = 3;

        public string Name;
        public readonly UsbInterface Interface;
        public readonly UsbDevice Device;
        public readonly UacControl Control;
        public readonly UacFeatureUnit Feature;
        public readonly UacFormat[] Formats;
        readonly IClock _clock;
        readonly object _lock = new object();

        // Volume range of the feature unit (1/256 dB steps, UAC1 5.2.2.4.3.2).
        public short VolumeMin = -0x7F00, VolumeMax, VolumeResolution = 1;
        public int VolumePercent = PercentMax;
        public bool Muted;
        volatile bool _gone;

        // The stream.
        UsbRequest[] _requests = new UsbRequest[0];
        UacFormat _format;
        IPcmSource _source;
        int _packetsPerSecond, _framesPerPacket, _frameRemainder, _remainderAccumulator, _maxPacketBytes;
        volatile bool _stopping;
        int _active;
        int _missReports;
        const int MaxMissReports = 5;
        volatile bool _playing;
        /// <summary>Statistics of the current/last stream.</summary>
        public long PacketsSent, PacketErrors, PacketsMissed, FramesQueued;
        /// <summary>
        /// The largest deviation, in microseconds, of the time between two request completions from the
        /// time their packets take on the bus (PacketsPerRequest packet intervals): how late the kernel
        /// noticed a completion at worst, the scheduling jitter the queue depth must cover.
        /// </summary>
        public long MaxCompletionJitterUs;
        ulong _lastCompletionUs;
        int _completions;
        public UsbStatus LastError = UsbStatus.Ok;
        public UsbStatus EndStatus = UsbStatus.Ok;

        public UsbAudioDevice(UsbInterface intf, UacControl control, UacFeatureUnit feature, UacFormat[] formats, IClock clock)
        {
            Interface = intf;
            Device = intf.Device;
            Control = control;
            Feature = feature;
            Formats = formats;
            _clock = clock;
        }

        public bool IsGone => _gone;
        public bool IsPlaying => _playing;
        public UacFormat CurrentFormat => _format;

        public string Describe(UacFormat f)
        {
            string rates;
            if (f.Continuous)
                rates = Format.Decimal((ulong)f.MinRate) + "-" + Format.Decimal((ulong)f.MaxRate) + " Hz";
            else
            {
                rates = "";
                for (int i = 0; i < f.Rates.Length; i++)
                    rates += (i > 0 ? "," : "") + Format.Decimal((ulong)f.Rates[i]);
                rates += " Hz";
            }
            return "alt " + Format.Decimal(f.AlternateSetting) + ": PCM " + Format.Decimal(f.bNrChannels) + " ch " +
                   Format.Decimal(f.bBitResolution) + "-bit " + rates + ", ep " + Format.Hex(f.EndpointAddress, 2);
        }

        // ---- Controls (UAC1 5.2.2.4) ----------------------------------------------------------

        ushort UnitIndex => (ushort)((Feature.bUnitID << 8) | ControlInterfaceNumber);

        byte ControlInterfaceNumber
        {
            get
            {
                UsbInterface[] all = Interface.Configuration.Interfaces;
                for (int i = 0; i < all.Length; i++)
                    if (all[i].Current.Descriptor.bInterfaceClass == UsbClass.Audio &&
                        all[i].Current.Descriptor.bInterfaceSubClass == Uac.SubclassAudioControl)
                        return all[i].Number;
                return 0;
            }
        }

        /// <summary>The first channel (master = 0) with the control, -1 when none.</summary>
        int FirstChannelWith(uint bit)
        {
            if (Feature == null)
                return -1;
            for (int c = 0; c < Feature.Controls.Length; c++)
                if (Feature.Has(c, bit))
                    return c;
            return -1;
        }

        UsbStatus FeatureRequest(byte request, byte selector, int channel, Span<byte> data, out int actual)
        {
            byte type = (request & RequestType.DirectionIn) != 0
                ? (byte)(RequestType.DirectionIn | RequestType.TypeClass | RequestType.RecipientInterface)
                : (byte)(RequestType.DirectionOut | RequestType.TypeClass | RequestType.RecipientInterface);
            return UsbMessages.Control(Device, type, request, (ushort)((selector << 8) | channel), UnitIndex, data,
                                       UsbMessages.ControlTimeoutMs, out actual);
        }

        /// <summary>GET_MIN/GET_MAX/GET_RES of the volume control; the defaults stay when the device refuses.</summary>
        public void ReadVolumeRange()
        {
            int channel = FirstChannelWith(Uac.VolumeBit);
            if (channel < 0)
                return;
            Span<byte> v = stackalloc byte[VolumeBytes];
            if (FeatureRequest(Uac.GetMin, Uac.VolumeControl, channel, v, out int n) == UsbStatus.Ok && n == VolumeBytes)
                VolumeMin = (short)Le.U16(v, 0);
            if (FeatureRequest(Uac.GetMax, Uac.VolumeControl, channel, v, out n) == UsbStatus.Ok && n == VolumeBytes)
                VolumeMax = (short)Le.U16(v, 0);
            if (FeatureRequest(Uac.GetRes, Uac.VolumeControl, channel, v, out n) == UsbStatus.Ok && n == VolumeBytes)
                VolumeResolution = (short)Le.U16(v, 0);
            if (VolumeMax < VolumeMin)
            {
                short t = VolumeMin; VolumeMin = VolumeMax; VolumeMax = t;
            }
        }

        /// <summary>The raw volume (1/256 dB) for a percentage: linear over the device's range, as ALSA's mixer does.</summary>
        public short VolumeFor(int percent)
        {
            if (percent < 0) percent = 0;
            if (percent > PercentMax) percent = PercentMax;
            int raw = VolumeMin + (VolumeMax - VolumeMin) * percent / PercentMax;
            return (short)raw;
        }

        /// <summary>SET_CUR volume on every channel that has the control (master included). NotSupported without one.</summary>
        public UsbStatus SetVolume(int percent)
        {
            if (FirstChannelWith(Uac.VolumeBit) < 0)
                return UsbStatus.NotSupported;
            Span<byte> v = stackalloc byte[VolumeBytes];
            Le.Put16(v, 0, (ushort)VolumeFor(percent));
            UsbStatus result = UsbStatus.Ok;
            for (int c = 0; c < Feature.Controls.Length; c++)
            {
                if (!Feature.Has(c, Uac.VolumeBit))
                    continue;
                UsbStatus s = FeatureRequest(Uac.SetCur, Uac.VolumeControl, c, v, out int _);
                if (s != UsbStatus.Ok)
                    result = s;
            }
            if (result == UsbStatus.Ok)
                VolumePercent = percent < 0 ? 0 : (percent > PercentMax ? PercentMax : percent);
            return result;
        }

        /// <summary>SET_CUR mute on every channel that has the control.</summary>
        public UsbStatus SetMute(bool mute)
        {
            if (FirstChannelWith(Uac.MuteBit) < 0)
                return UsbStatus.NotSupported;
            Span<byte> m = stackalloc byte[1];
            m[0] = mute ? (byte)1 : (byte)0;
            UsbStatus result = UsbStatus.Ok;
            for (int c = 0; c < Feature.Controls.Length; c++)
            {
                if (!Feature.Has(c, Uac.MuteBit))
                    continue;
                UsbStatus s = FeatureRequest(Uac.SetCur, Uac.MuteControl, c, m, out int _);
                if (s != UsbStatus.Ok)
                    result = s;
            }
            if (result == UsbStatus.Ok)
                Muted = mute;
            return result;
        }

        /// <summary>SET_CUR sampling frequency on the data endpoint (UAC1 5.2.3.2.3.1), only when EP_GENERAL says it has the control.</summary>
        UsbStatus SetSampleRate(UacFormat format, int rate)
        {
            if (!format.SamplingFreqControl)
                return UsbStatus.Ok;
            Span<byte> r = stackalloc byte[SampleRateBytes];
            r[0] = (byte)rate; r[1] = (byte)(rate >> 8); r[2] = (byte)(rate >> 16);
            return UsbMessages.Control(Device, RequestType.DirectionOut | RequestType.TypeClass | RequestType.RecipientEndpoint,
                                       Uac.SetCur, Uac.SamplingFreqControl << 8, format.EndpointAddress, r,
                                       UsbMessages.ControlTimeoutMs, out int _);
        }

        // ---- Stream ---------------------------------------------------------------------------

        /// <summary>The best setting for a rate: stereo 16-bit first, then any PCM setting that supports it.</summary>
        public UacFormat ChooseFormat(int rate)
        {
            UacFormat any = null;
            for (int i = 0; i < Formats.Length; i++)
            {
                UacFormat f = Formats[i];
                if (!f.SupportsRate(rate))
                    continue;
                if (f.bNrChannels == 2 && f.bSubframeSize == 2)
                    return f;
                if (any == null)
                    any = f;
            }
            return any;
        }

        /// <summary>The rate playback uses: 48 kHz when offered, else the first one the device lists.</summary>
        public int PreferredRate()
        {
            const int Preferred = 48000;
            for (int i = 0; i < Formats.Length; i++)
                if (Formats[i].SupportsRate(Preferred))
                    return Preferred;
            UacFormat f = Formats[0];
            return f.Continuous ? f.MaxRate : f.Rates[0];
        }

        /// <summary>
        /// Selects the streaming setting (refused with NoBandwidth when the bus can't take it), sets
        /// the rate, and starts streaming from <paramref name="source"/>. Thread context.
        /// </summary>
        public UsbStatus Start(IPcmSource source, UacFormat format, int rate)
        {
            if (_gone)
                return UsbStatus.NoDevice;
            if (_playing)
                return UsbStatus.Busy;
            UsbStack stack = Device.Bus.Stack;
            UsbStatus status = stack.SetInterface(Interface, format.AlternateSetting);
            if (status != UsbStatus.Ok)
                return status;
            status = SetSampleRate(format, rate);
            if (status != UsbStatus.Ok)
                Log.Warning("snd-usb-audio " + Name + ": can't set sample rate: " + UsbStatusNames.Name(status));
            UsbEndpoint ep = Device.FindEndpoint(format.EndpointAddress);
            if (ep == null)
                return UsbStatus.Shutdown;
            int period = ep.IsoPeriod;
            _packetsPerSecond = (Device.Speed >= UsbSpeed.High ? MicroframesPerSecond : FramesPerSecondFullSpeed) / period;
            if (_packetsPerSecond < 1)
                _packetsPerSecond = 1;
            _framesPerPacket = rate / _packetsPerSecond;
            _frameRemainder = rate % _packetsPerSecond;
            _remainderAccumulator = 0;
            _maxPacketBytes = (_framesPerPacket + (_frameRemainder > 0 ? 1 : 0)) * format.FrameBytes;
            if (_maxPacketBytes > ep.MaxPayloadPerInterval(Device.Speed))
            {
                stack.SetInterface(Interface, 0);
                return UsbStatus.InvalidArgument;
            }
            _format = format;
            _source = source;
            _stopping = false;
            PacketsSent = PacketErrors = PacketsMissed = FramesQueued = 0;
            MaxCompletionJitterUs = 0;
            _lastCompletionUs = 0;
            _completions = 0;
            _missReports = 0;
            LastError = UsbStatus.Ok;
            EndStatus = UsbStatus.Ok;
            if (_requests.Length == 0)
            {
                _requests = new UsbRequest[QueueDepth];
                for (int i = 0; i < QueueDepth; i++)
                {
                    DmaBuffer buffer = Device.Bus.Dma.Allocate((uint)(_maxPacketBytes * PacketsPerRequest), UsbBus.DmaAlignment, DmaLimit.Below4G);
                    if (buffer.IsNull)
                    {
                        FreeRequests();
                        stack.SetInterface(Interface, 0);
                        return UsbStatus.NoMemory;
                    }
                    _requests[i] = new UsbRequest { Device = Device, Buffer = buffer, Completion = Completed, Context = this };
                }
            }
            _playing = true;
            int started = 0;
            for (int i = 0; i < _requests.Length; i++)
            {
                UsbRequest r = _requests[i];
                if (r.Buffer.Size < (uint)(_maxPacketBytes * PacketsPerRequest))
                    continue;
                r.Endpoint = ep;
                lock (_lock)
                    _active++;
                if (!FillAndSubmit(r))
                {
                    lock (_lock)
                        _active--;
                    break;
                }
                started++;
            }
            if (started == 0)
            {
                _playing = false;
                stack.SetInterface(Interface, 0);
                return LastError != UsbStatus.Ok ? LastError : UsbStatus.InvalidArgument;
            }
            return UsbStatus.Ok;
        }

        /// <summary>
        /// Fills the request with the next packets and queues it; false when the source is exhausted or
        /// the submit failed. Start (a thread) and the completion handler both refill, so this runs under
        /// the stream lock: the source's samples must be taken and queued in one order, or a completion
        /// arriving while Start is still priming interleaves them. The lock is recursive, so a submit that
        /// completes inline may refill from inside. Submitting never blocks, so interrupt-context
        /// completions never wait on a blocked holder.
        /// </summary>
        bool FillAndSubmit(UsbRequest r)
        {
            lock (_lock)
                return Fill(r) && Submit(r);
        }

        /// <summary>Fills the request with the next packets of the source; false when the source is exhausted or the stream stops.</summary>
        bool Fill(UsbRequest r)
        {
            if (_stopping || _gone)
                return false;
            Span<byte> data = r.Buffer.AsSpan();
            int packets = 0, offset = 0;
            if (r.IsoPackets == null || r.IsoPackets.Length < PacketsPerRequest)
                r.IsoPackets = new UsbIsoPacket[PacketsPerRequest];
            for (int p = 0; p < PacketsPerRequest; p++)
            {
                int frames = _framesPerPacket;
                _remainderAccumulator += _frameRemainder;
                if (_remainderAccumulator >= _packetsPerSecond)
                {
                    _remainderAccumulator -= _packetsPerSecond;
                    frames++;
                }
                int bytes = frames * _format.FrameBytes;
                int written = _source.Fill(data.Slice(offset, bytes), frames, _format);
                if (written <= 0)
                    break;
                // The last packet of a tone is padded with silence: devices expect whole packets.
                int used = written * _format.FrameBytes;
                data.Slice(offset + used, bytes - used).Clear();
                r.IsoPackets[p].Offset = offset;
                r.IsoPackets[p].Length = bytes;
                offset += bytes;
                packets++;
                FramesQueued += written;
            }
            if (packets == 0)
                return false;
            r.NumberOfPackets = packets;
            r.Length = offset;
            r.Interval = 0;
            r.Flags = UsbRequestFlags.IsoAsap;
            return true;
        }

        bool Submit(UsbRequest r)
        {
            UsbStatus status = Device.Bus.Submit(r);
            if (status != UsbStatus.Ok)
            {
                LastError = status;
                return false;
            }
            return true;
        }

        /// <summary>Completion (interrupt context): account the packets, refill, resubmit.</summary>
        void Completed(UsbRequest r)
        {
            if (r.Status == UsbStatus.Ok)
                MeasureJitter();
            int missed = 0;
            for (int p = 0; p < r.NumberOfPackets; p++)
            {
                UsbStatus s = r.IsoPackets[p].Status;
                if (s == UsbStatus.Ok)
                    PacketsSent++;
                else if (s == UsbStatus.CrossedFrame)
                    missed++;
                else
                {
                    PacketErrors++;
                    LastError = s;
                }
            }
            if (missed > 0)
            {
                // An underrun is audible: say where it happened (the first few times per stream).
                if (PacketsMissed == 0 || _missReports < MaxMissReports)
                {
                    _missReports++;
                    Log.Warning("snd-usb-audio " + Name + ": " + Format.Decimal((ulong)missed) + " of " + Format.Decimal((ulong)r.NumberOfPackets) +
                                " packets missed their frame (request at frame " + Format.Decimal((ulong)r.StartFrame) + ", " +
                                Format.Decimal((ulong)PacketsSent) + " sent before)");
                }
                PacketsMissed += missed;
            }
            if (r.Status != UsbStatus.Ok)
            {
                EndStatus = r.Status;
                _stopping = true;
            }
            if (_stopping || !FillAndSubmit(r))
            {
                bool last;
                lock (_lock)
                {
                    _active--;
                    last = _active == 0;
                }
                if (last)
                    _playing = false;
            }
        }

        const long MicrosecondsPerSecond = 1000000;

        void MeasureJitter()
        {
            ulong now = _clock.Microseconds;
            // The first queue's worth completes as the stream starts up; the steady state comes after.
            if (++_completions > QueueDepth && _packetsPerSecond > 0)
            {
                long interval = (long)(now - _lastCompletionUs);
                long nominal = PacketsPerRequest * MicrosecondsPerSecond / _packetsPerSecond;
                long deviation = interval > nominal ? interval - nominal : nominal - interval;
                if (deviation > MaxCompletionJitterUs)
                    MaxCompletionJitterUs = deviation;
            }
            _lastCompletionUs = now;
        }

        /// <summary>Waits (bounded) until the stream ran out or the device left; returns whether it ended by itself.</summary>
        public bool WaitFinished(uint timeoutMs)
        {
            ulong start = _clock.Milliseconds;
            while (_playing)
            {
                if (_clock.Milliseconds - start >= timeoutMs)
                    return false;
                _clock.Sleep(StopPollMs);
            }
            return true;
        }

        /// <summary>Stops the stream: no more resubmits, every request killed, the zero-bandwidth setting back.</summary>
        public void Stop()
        {
            _stopping = true;
            for (int i = 0; i < _requests.Length; i++)
                Device.Bus.Kill(_requests[i]);
            _playing = false;
            if (!_gone && !Device.IsGone)
                Device.Bus.Stack.SetInterface(Interface, 0);
        }

        /// <summary>The interface is going away: stop, then free the buffers.</summary>
        internal void Shutdown()
        {
            _gone = true;
            _stopping = true;
            for (int i = 0; i < _requests.Length; i++)
                Device.Bus.Kill(_requests[i]);
            _playing = false;
            FreeRequests();
        }

        void FreeRequests()
        {
            for (int i = 0; i < _requests.Length; i++)
            {
                UsbRequest r = _requests[i];
                if (r == null)
                    continue;
                if (r.IsLinked)
                {
                    Log.Error("snd-usb-audio " + Name + ": request still queued, buffer leaked");
                    continue;
                }
                if (!r.Buffer.IsNull)
                    Device.Bus.Dma.Free(r.Buffer);
            }
            _requests = new UsbRequest[0];
        }

        /// <summary>Milliseconds of audio the frames queued so far make.</summary>
        public long QueuedMilliseconds(int rate) => rate > 0 ? FramesQueued * MillisecondsPerSecond / rate : 0;
    }
}
