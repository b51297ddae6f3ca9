using System;
using System.Collections.Generic;
using Drivers.Usb.Descriptors;

namespace Drivers.Usb.Audio
{
    /// <summary>
    /// Constants of the USB Audio Class 1.0 (USB Device Class Definition for Audio Devices 1.0,
    /// "UAC1", appendix A; Audio Data Formats 1.0). Names follow the spec (Linux usb/audio.h).
    /// </summary>
    public static class Uac
    {
        /// <summary>Interface subclasses (A.2).</summary>
        public const byte SubclassAudioControl = 0x01;
        public const byte SubclassAudioStreaming = 0x02;

        /// <summary>Class-specific descriptor types (A.4).</summary>
        public const byte CsInterface = 0x24;
        public const byte CsEndpoint = 0x25;

        /// <summary>AudioControl interface descriptor subtypes (A.5).</summary>
        public const byte AcHeader = 0x01;
        public const byte AcInputTerminal = 0x02;
        public const byte AcOutputTerminal = 0x03;
        public const byte AcMixerUnit = 0x04;
        public const byte AcSelectorUnit = 0x05;
        public const byte AcFeatureUnit = 0x06;

        /// <summary>AudioStreaming interface descriptor subtypes (A.6).</summary>
        public const byte AsGeneral = 0x01;
        public const byte AsFormatType = 0x02;

        /// <summary>Endpoint descriptor subtype (A.8).</summary>
        public const byte EpGeneral = 0x01;

        /// <summary>Class-specific requests (A.9).</summary>
        public const byte SetCur = 0x01;
        public const byte GetCur = 0x81;
        public const byte GetMin = 0x82;
        public const byte GetMax = 0x83;
        public const byte GetRes = 0x84;

        /// <summary>Feature unit control selectors (A.10.2) and their bmaControls bits (4.3.2.5: bit n-1 for selector n).</summary>
        public const byte MuteControl = 0x01;
        public const byte VolumeControl = 0x02;
        public const uint MuteBit = 1u << (MuteControl - 1);
        public const uint VolumeBit = 1u << (VolumeControl - 1);

        /// <summary>Endpoint control selector (A.10.5) and the class-specific endpoint's bmAttributes bit for it (4.6.1.2).</summary>
        public const byte SamplingFreqControl = 0x01;
        public const byte EpAttrSamplingFreq = 0x01;

        /// <summary>Format type codes (Audio Data Formats A.1.1 / A.2): type I, PCM.</summary>
        public const byte FormatTypeI = 0x01;
        public const ushort FormatPcm = 0x0001;

        /// <summary>Terminal types (Terminal Types 1.0, 2.1-2.2): USB streaming, speaker.</summary>
        public const ushort TerminalUsbStreaming = 0x0101;
        public const ushort TerminalSpeaker = 0x0301;

        /// <summary>Volume is a signed 8.8 dB value; 0x8000 means -infinity (5.2.2.4.3.2).</summary>
        public const short VolumeSilence = unchecked((short)0x8000);
    }

    /// <summary>An input or output terminal (UAC1 4.3.2.1 / 4.3.2.2).</summary>
    public struct UacTerminal
    {
        public byte bTerminalID;
        public ushort wTerminalType;
        public byte bAssocTerminal;
        /// <summary>Output terminals: the unit or terminal feeding it.</summary>
        public byte bSourceID;
        /// <summary>Input terminals: the logical channels of its cluster.</summary>
        public byte bNrChannels;
        public ushort wChannelConfig;
        public bool IsInput;
    }

    /// <summary>A feature unit (UAC1 4.3.2.5): per-channel controls, index 0 the master channel.</summary>
    public sealed class UacFeatureUnit
    {
        public byte bUnitID;
        public byte bSourceID;
        public byte bControlSize;
        /// <summary>bmaControls(0..n): bit n-1 for control selector n.</summary>
        public uint[] Controls = new uint[0];

        public int Channels => Controls.Length - 1;
        public bool Has(int channel, uint bit) => channel >= 0 && channel < Controls.Length && (Controls[channel] & bit) != 0;
    }

    /// <summary>What the AudioControl interface describes: header, terminals, feature units (UAC1 4.3.2).</summary>
    public sealed class UacControl
    {
        public ushort bcdADC;
        /// <summary>The streaming interfaces of this audio function (baInterfaceNr).</summary>
        public byte[] StreamingInterfaces = new byte[0];
        public readonly List<UacTerminal> Terminals = new List<UacTerminal>();
        public readonly List<UacFeatureUnit> FeatureUnits = new List<UacFeatureUnit>();

        public bool FindTerminal(byte id, out UacTerminal terminal)
        {
            for (int i = 0; i < Terminals.Count; i++)
                if (Terminals[i].bTerminalID == id)
                {
                    terminal = Terminals[i];
                    return true;
                }
            terminal = default;
            return false;
        }

        /// <summary>
        /// The feature unit on the path from the input terminal <paramref name="terminalId"/> (the
        /// USB streaming terminal a playback interface links to) to an output terminal: the unit
        /// whose source chain leads back to that terminal. Null when there is none.
        /// </summary>
        public UacFeatureUnit FeatureUnitFor(byte terminalId)
        {
            for (int i = 0; i < FeatureUnits.Count; i++)
            {
                byte source = FeatureUnits[i].bSourceID;
                // Follow feature units feeding each other (bounded by their number: no loops).
                for (int hops = 0; hops <= FeatureUnits.Count; hops++)
                {
                    if (source == terminalId)
                        return FeatureUnits[i];
                    UacFeatureUnit next = FindUnit(source);
                    if (next == null)
                        break;
                    source = next.bSourceID;
                }
            }
            return null;
        }

        UacFeatureUnit FindUnit(byte id)
        {
            for (int i = 0; i < FeatureUnits.Count; i++)
                if (FeatureUnits[i].bUnitID == id)
                    return FeatureUnits[i];
            return null;
        }
    }

    /// <summary>One alternate setting of an AudioStreaming interface that carries Type I PCM (UAC1 4.5.2, Formats 2.2.5).</summary>
    public sealed class UacFormat
    {
        public byte AlternateSetting;
        public byte bTerminalLink;
        public ushort wFormatTag;
        public byte bFormatType;
        public byte bNrChannels;
        /// <summary>Bytes per sample per channel (1..4).</summary>
        public byte bSubframeSize;
        public byte bBitResolution;
        /// <summary>Continuous range (bSamFreqType 0): <see cref="MinRate"/>..<see cref="MaxRate"/>; otherwise <see cref="Rates"/>.</summary>
        public bool Continuous;
        public int MinRate, MaxRate;
        public int[] Rates = new int[0];
        /// <summary>The isochronous data endpoint's address and whether it takes SET_CUR sampling frequency.</summary>
        public byte EndpointAddress;
        public bool SamplingFreqControl;

        public int FrameBytes => bNrChannels * bSubframeSize;

        public bool SupportsRate(int rate)
        {
            if (Continuous)
                return rate >= MinRate && rate <= MaxRate;
            for (int i = 0; i < Rates.Length; i++)
                if (Rates[i] == rate)
                    return true;
            return false;
        }
    }

    /// <summary>
    /// Parsers for the class-specific descriptors of UAC1 (they arrive in <see cref="UsbAltSetting.Extra"/>
    /// and <see cref="UsbEndpoint.Extra"/>). Strict about lengths; unknown subtypes are skipped.
    /// Every problem is a <see cref="UsbStatus.BadDescriptor"/> result, never an exception.
    /// </summary>
    public static class UacParser
    {
        const int HeaderMinLength = 8;
        const int InputTerminalLength = 12;
        const int OutputTerminalLength = 9;
        const int FeatureUnitMinLength = 7;
        const int AsGeneralLength = 7;
        const int FormatTypeIMinLength = 8;
        const int EndpointGeneralLength = 7;
        const int SampleRateBytes = 3;
        const int MaxControlSize = 4;
        const int MaxSubframeSize = 4;

        /// <summary>Parses an AudioControl interface's class-specific descriptors (UAC1 4.3.2).</summary>
        public static UsbStatus ParseControl(ReadOnlySpan<byte> extra, out UacControl control)
        {
            control = new UacControl();
            bool header = false;
            int offset = 0;
            while (offset < extra.Length)
            {
                if (!Next(extra, offset, out int length))
                    return UsbStatus.BadDescriptor;
                ReadOnlySpan<byte> d = extra.Slice(offset, length);
                offset += length;
                if (d[1] != Uac.CsInterface || length < 3)
                    continue;
                switch (d[2])
                {
                    case Uac.AcHeader:
                        if (length < HeaderMinLength || length < HeaderMinLength + d[7] || header)
                            return UsbStatus.BadDescriptor;
                        header = true;
                        control.bcdADC = Le.U16(d, 3);
                        control.StreamingInterfaces = d.Slice(HeaderMinLength, d[7]).ToArray();
                        break;
                    case Uac.AcInputTerminal:
                        if (length < InputTerminalLength)
                            return UsbStatus.BadDescriptor;
                        control.Terminals.Add(new UacTerminal
                        {
                            IsInput = true, bTerminalID = d[3], wTerminalType = Le.U16(d, 4), bAssocTerminal = d[6],
                            bNrChannels = d[7], wChannelConfig = Le.U16(d, 8),
                        });
                        break;
                    case Uac.AcOutputTerminal:
                        if (length < OutputTerminalLength)
                            return UsbStatus.BadDescriptor;
                        control.Terminals.Add(new UacTerminal
                        {
                            bTerminalID = d[3], wTerminalType = Le.U16(d, 4), bAssocTerminal = d[6], bSourceID = d[7],
                        });
                        break;
                    case Uac.AcFeatureUnit:
                    {
                        if (length < FeatureUnitMinLength)
                            return UsbStatus.BadDescriptor;
                        int size = d[5];
                        if (size < 1 || size > MaxControlSize)
                            return UsbStatus.BadDescriptor;
                        // bLength = 7 + (ch + 1) * n: the master channel plus ch logical channels.
                        int channelsPlusMaster = (length - FeatureUnitMinLength) / size;
                        if (channelsPlusMaster < 1)
                            return UsbStatus.BadDescriptor;
                        var unit = new UacFeatureUnit { bUnitID = d[3], bSourceID = d[4], bControlSize = (byte)size, Controls = new uint[channelsPlusMaster] };
                        for (int c = 0; c < channelsPlusMaster; c++)
                        {
                            uint bits = 0;
                            for (int b = 0; b < size; b++)
                                bits |= (uint)d[6 + c * size + b] << (8 * b);
                            unit.Controls[c] = bits;
                        }
                        control.FeatureUnits.Add(unit);
                        break;
                    }
                }
            }
            return header ? UsbStatus.Ok : UsbStatus.BadDescriptor;
        }

        /// <summary>
        /// Parses one AudioStreaming alternate setting: AS_GENERAL, FORMAT_TYPE (type I only) and
        /// the data endpoint's EP_GENERAL. Returns NotSupported for settings without a PCM type I
        /// format (alternate setting 0, other formats) and BadDescriptor for malformed ones.
        /// </summary>
        public static UsbStatus ParseStreaming(UsbAltSetting alt, out UacFormat format)
        {
            format = null;
            UsbEndpoint data = null;
            for (int i = 0; i < alt.Endpoints.Length; i++)
                if (alt.Endpoints[i].Type == TransferType.Isochronous && data == null)
                    data = alt.Endpoints[i];
            if (data == null)
                return UsbStatus.NotSupported;
            UsbStatus status = ParseStreamingExtra(alt.Extra, out format);
            if (status != UsbStatus.Ok)
                return status;
            format.AlternateSetting = alt.Descriptor.bAlternateSetting;
            format.EndpointAddress = data.Address;
            ReadOnlySpan<byte> ep = data.Extra;
            int offset = 0;
            while (offset < ep.Length)
            {
                if (!Next(ep, offset, out int length))
                    return UsbStatus.BadDescriptor;
                ReadOnlySpan<byte> d = ep.Slice(offset, length);
                offset += length;
                if (d[1] == Uac.CsEndpoint && length >= EndpointGeneralLength && d[2] == Uac.EpGeneral)
                    format.SamplingFreqControl = (d[3] & Uac.EpAttrSamplingFreq) != 0;
            }
            return UsbStatus.Ok;
        }

        /// <summary>The interface-level part of <see cref="ParseStreaming"/> (host tests and the fuzzer call it directly).</summary>
        public static UsbStatus ParseStreamingExtra(ReadOnlySpan<byte> extra, out UacFormat format)
        {
            format = null;
            var f = new UacFormat();
            bool general = false, type = false;
            int offset = 0;
            while (offset < extra.Length)
            {
                if (!Next(extra, offset, out int length))
                    return UsbStatus.BadDescriptor;
                ReadOnlySpan<byte> d = extra.Slice(offset, length);
                offset += length;
                if (d[1] != Uac.CsInterface || length < 3)
                    continue;
                if (d[2] == Uac.AsGeneral)
                {
                    if (length < AsGeneralLength)
                        return UsbStatus.BadDescriptor;
                    f.bTerminalLink = d[3];
                    f.wFormatTag = Le.U16(d, 5);
                    general = true;
                }
                else if (d[2] == Uac.AsFormatType)
                {
                    if (length < 4)
                        return UsbStatus.BadDescriptor;
                    f.bFormatType = d[3];
                    if (f.bFormatType != Uac.FormatTypeI)
                        continue;
                    if (length < FormatTypeIMinLength)
                        return UsbStatus.BadDescriptor;
                    f.bNrChannels = d[4];
                    f.bSubframeSize = d[5];
                    f.bBitResolution = d[6];
                    int rates = d[7];
                    if (f.bNrChannels == 0 || f.bSubframeSize == 0 || f.bSubframeSize > MaxSubframeSize ||
                        f.bBitResolution == 0 || f.bBitResolution > f.bSubframeSize * 8)
                        return UsbStatus.BadDescriptor;
                    if (rates == 0)
                    {
                        if (length < FormatTypeIMinLength + 2 * SampleRateBytes)
                            return UsbStatus.BadDescriptor;
                        f.Continuous = true;
                        f.MinRate = Rate(d, FormatTypeIMinLength);
                        f.MaxRate = Rate(d, FormatTypeIMinLength + SampleRateBytes);
                        if (f.MinRate > f.MaxRate)
                            return UsbStatus.BadDescriptor;
                    }
                    else
                    {
                        if (length < FormatTypeIMinLength + rates * SampleRateBytes)
                            return UsbStatus.BadDescriptor;
                        f.Rates = new int[rates];
                        for (int r = 0; r < rates; r++)
                            f.Rates[r] = Rate(d, FormatTypeIMinLength + r * SampleRateBytes);
                    }
                    type = true;
                }
            }
            if (!general || !type || f.bFormatType != Uac.FormatTypeI || f.wFormatTag != Uac.FormatPcm)
                return general ? UsbStatus.NotSupported : (extra.Length == 0 ? UsbStatus.NotSupported : UsbStatus.BadDescriptor);
            format = f;
            return UsbStatus.Ok;
        }

        static int Rate(ReadOnlySpan<byte> d, int at) => d[at] | (d[at + 1] << 8) | (d[at + 2] << 16);

        /// <summary>Checks the descriptor header at <paramref name="offset"/>: bLength ≥ 2 and inside the data.</summary>
        static bool Next(ReadOnlySpan<byte> data, int offset, out int length)
        {
            length = 0;
            if (data.Length - offset < 2)
                return false;
            length = data[offset];
            return length >= 2 && length <= data.Length - offset;
        }
    }
}
