using System;

namespace Drivers.Usb.Audio
{
    /// <summary>Produces PCM frames for a playback stream. Called from completion context: must not block.</summary>
    public interface IPcmSource
    {
        /// <summary>
        /// Writes up to <paramref name="frames"/> frames of <paramref name="format"/> into
        /// <paramref name="destination"/>; returns how many it wrote (fewer at the end of the stream).
        /// </summary>
        int Fill(Span<byte> destination, int frames, UacFormat format);
    }

    /// <summary>
    /// A sine tone from an integer oscillator (no Math in the kernel's corlib): a 32-bit phase
    /// accumulator advanced by f·2^32/rate per frame indexes a 1024-entry sine table (built once by
    /// rotating a Q30 vector) with linear interpolation, so the frequency is exact to 2^-32 of the
    /// rate and the distortion stays below -80 dB. Every channel gets the same sample.
    /// </summary>
    public sealed class ToneSource : IPcmSource
    {
        const int TableBits = 10;
        const int TableSize = 1 << TableBits;
        const int PhaseBits = 32;
        const int FractionBits = PhaseBits - TableBits;
        /// <summary>Interpolation weight precision (bits of the phase fraction used).</summary>
        const int WeightBits = 15;
        const int Q30 = 30;
        /// <summary>cos(2π/1024) and sin(2π/1024) in Q30: one table step of rotation.</summary>
        const long CosStep = 1073721611;
        const long SinStep = 6588387;
        /// <summary>Table values are Q15 (full scale 32767).</summary>
        const int SampleShift = 15;

        static int[] s_table;

        readonly uint _step;
        readonly int _amplitude;
        long _framesLeft;
        uint _phase;

        /// <param name="hz">Tone frequency.</param>
        /// <param name="rate">Sampling rate of the stream.</param>
        /// <param name="amplitude">Peak value on a 16-bit scale (16384 = -6 dBFS).</param>
        /// <param name="frames">Length of the tone in frames.</param>
        public ToneSource(int hz, int rate, int amplitude, long frames)
        {
            _step = (uint)(((ulong)hz << PhaseBits) / (ulong)rate);
            _amplitude = amplitude;
            _framesLeft = frames;
            if (s_table == null)
                s_table = BuildTable();
        }

        public long FramesLeft => _framesLeft;

        /// <summary>sin(2πk/1024) in Q15 for k = 0..1024 (the last entry closes the interpolation).</summary>
        static int[] BuildTable()
        {
            var table = new int[TableSize + 1];
            long x = 1L << Q30, y = 0;
            for (int k = 0; k <= TableSize; k++)
            {
                table[k] = (int)((y + (1L << (Q30 - SampleShift - 1))) >> (Q30 - SampleShift));
                long nx = (x * CosStep - y * SinStep) >> Q30;
                long ny = (x * SinStep + y * CosStep) >> Q30;
                x = nx;
                y = ny;
            }
            return table;
        }

        /// <summary>The next sample on a 16-bit scale.</summary>
        public int NextSample()
        {
            int index = (int)(_phase >> FractionBits);
            int weight = (int)((_phase >> (FractionBits - WeightBits)) & ((1 << WeightBits) - 1));
            int a = s_table[index], b = s_table[index + 1];
            int sine = a + (int)(((long)(b - a) * weight) >> WeightBits);
            _phase += _step;
            return (int)(((long)sine * _amplitude) >> SampleShift);
        }

        public int Fill(Span<byte> destination, int frames, UacFormat format)
        {
            if (frames > _framesLeft)
                frames = (int)_framesLeft;
            int sub = format.bSubframeSize;
            int channels = format.bNrChannels;
            int at = 0;
            for (int f = 0; f < frames; f++)
            {
                int sample = NextSample();
                for (int c = 0; c < channels; c++)
                {
                    PcmWriter.Write(destination, at, sub, sample);
                    at += sub;
                }
            }
            _framesLeft -= frames;
            return frames;
        }
    }

    /// <summary>Writes a 16-bit-scale sample as a little-endian signed PCM subframe of 1..4 bytes (UAC1 Formats 2.2.2).</summary>
    public static class PcmWriter
    {
        const int SixteenBits = 16;

        public static void Write(Span<byte> destination, int at, int subframeBytes, int sample)
        {
            // Scale from 16 bits to the subframe: shift left for wider, right for 8-bit.
            int bits = subframeBytes * 8;
            int value = bits >= SixteenBits ? sample << (bits - SixteenBits) : sample >> (SixteenBits - bits);
            for (int b = 0; b < subframeBytes; b++)
                destination[at + b] = (byte)(value >> (8 * b));
        }
    }
}
