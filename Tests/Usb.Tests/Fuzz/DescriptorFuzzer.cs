using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hid;
using Drivers.Usb.Listings;
using Usb.Tests.Hid;
using Usb.Tests.Simulation;

namespace Usb.Tests.Fuzz
{
    /// <summary>Result of a fuzzing run.</summary>
    public sealed class FuzzReport
    {
        public long Inputs;
        public double Seconds;
        public long Accepted;
        /// <summary>Inputs the HID report-descriptor parser accepted.</summary>
        public long HidAccepted;
        public readonly List<string> Failures = new List<string>();
        public double InputsPerSecond => Seconds > 0 ? Inputs / Seconds : 0;

        public override string ToString() =>
            "fuzz: " + Inputs + " inputs in " + Seconds.ToString("0.00") + " s (" + InputsPerSecond.ToString("0") +
            " inputs/s), " + Accepted + " accepted, " + Failures.Count + " failures";
    }

    /// <summary>
    /// Feeds random and mutated descriptors to every parser (and renders what they accept). A
    /// failure is any exception (an out-of-bounds read throws on the host) or an accepted result
    /// that breaks the model's invariants. Inputs are exact-size arrays, so reading one byte past
    /// the input is caught.
    /// </summary>
    public static class DescriptorFuzzer
    {
        static readonly byte[] Interesting = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x0B, 0x0F, 0x10, 0x21, 0x22, 0x29, 0x2A, 0x30, 0x7F, 0x80, 0x81, 0xFE, 0xFF };

        public static List<byte[]> Corpus()
        {
            var corpus = new List<byte[]>
            {
                Desc.KeyboardConfig(),
                Desc.MouseConfig(),
                Audio.UacSamples.QemuConfig(),
                Audio.UacSamples.VirusTiControl(),
                Audio.UacSamples.CsctekControlPart(),
                Desc.StorageConfig(),
                Desc.Device(0x0627, 0x0001),
                Desc.Config(1, 0xA0, 50,
                    Desc.Raw(5, 0x24, 0, 0x10, 0x01),
                    Desc.Iad(0, 2, UsbClass.Audio, 0, 0),
                    Desc.Interface(0, 0, 0, UsbClass.Audio, 1),
                    Desc.Raw(9, 0x24, 1, 0, 1, 9, 0, 1, 1),
                    Desc.Interface(1, 0, 0, UsbClass.Audio, 2),
                    Desc.Interface(1, 1, 1, UsbClass.Audio, 2),
                    Desc.Endpoint(0x01, TransferType.Isochronous, 192, 1),
                    Desc.Raw(7, 0x25, 1, 0, 0, 0, 0),
                    Desc.Interface(2, 0, 2, UsbClass.Hid, 0, 0),
                    Desc.Hid(101),
                    Desc.Endpoint(0x82, TransferType.Interrupt, 8, 10),
                    Desc.Companion(0, 0, 8),
                    Desc.Endpoint(0x03, TransferType.Interrupt, 8, 10)),
                StringDescriptor.Encode("QEMU USB Tablet"),
                StringDescriptor.EncodeLanguages(0x0409),
                SimPortSet.HubDescriptorBytes(8),
                new byte[] { 12, 0x2A, 4, 0x09, 0, 10, 0, 0x10, 0x20, 0x00, 0x02, 0x00 },
                new byte[] { 12, 0x21, 0x11, 0x01, 0, 2, 0x22, 0x3F, 0, 0x23, 0x10, 0 },
                Desc.Concat(new byte[] { 5, 0x0F, 42, 0, 3 }, new byte[] { 7, 0x10, 2, 0x02, 0, 0, 0 },
                            new byte[] { 10, 0x10, 3, 0, 0x0E, 0, 1, 10, 0xFF, 0x07 },
                            new byte[] { 20, 0x10, 4, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }),
            };
            corpus.AddRange(HidSamples.All());
            return corpus;
        }

        /// <summary>Runs <paramref name="inputs"/> inputs (or until <paramref name="maxSeconds"/>).</summary>
        public static FuzzReport Run(long inputs, int seed, double maxSeconds = double.MaxValue, int maxFailures = 20)
        {
            var report = new FuzzReport();
            var rng = new Random(seed);
            List<byte[]> corpus = Corpus();
            var watch = Stopwatch.StartNew();
            for (long i = 0; i < inputs; i++)
            {
                byte[] input = (i % 8 == 0) ? RandomBytes(rng) : Mutate(rng, corpus[rng.Next(corpus.Count)]);
                if (!CheckOne(input, report, out bool acceptedConfig))
                {
                    if (report.Failures.Count >= maxFailures)
                        break;
                }
                else if (acceptedConfig && corpus.Count < 200 && rng.Next(64) == 0)
                    corpus.Add(input);
                report.Inputs++;
                if ((i & 1023) == 0 && watch.Elapsed.TotalSeconds > maxSeconds)
                    break;
            }
            report.Seconds = watch.Elapsed.TotalSeconds;
            return report;
        }

        static byte[] RandomBytes(Random rng)
        {
            byte[] b = new byte[rng.Next(0, 300)];
            rng.NextBytes(b);
            if (b.Length > 1 && rng.Next(2) == 0)
                b[1] = Interesting[rng.Next(Interesting.Length)];
            if (b.Length > 0 && rng.Next(2) == 0)
                b[0] = (byte)Math.Min(b.Length, 255);
            return b;
        }

        static byte[] Mutate(Random rng, byte[] source)
        {
            var b = new List<byte>(source);
            int rounds = 1 + rng.Next(4);
            for (int r = 0; r < rounds; r++)
            {
                int at = b.Count == 0 ? 0 : rng.Next(b.Count);
                switch (rng.Next(9))
                {
                    case 0: if (b.Count > 0) b[at] ^= (byte)(1 << rng.Next(8)); break;
                    case 1: if (b.Count > 0) b[at] = Interesting[rng.Next(Interesting.Length)]; break;
                    case 2: if (b.Count > 0) b[at] = (byte)rng.Next(256); break;
                    case 3: if (b.Count > 0) b.RemoveRange(at, rng.Next(1, Math.Min(16, b.Count - at) + 1)); break;
                    case 4: b.InsertRange(at, RandomChunk(rng)); break;
                    case 5: if (b.Count > at + 1) { int n = rng.Next(1, Math.Min(24, b.Count - at)); b.InsertRange(at, b.GetRange(at, n)); } break;
                    case 6: if (b.Count > 0) b.RemoveRange(at, b.Count - at); break; // truncate
                    case 7: if (b.Count > 3) { int total = rng.Next(0x10000); b[2] = (byte)total; b[3] = (byte)(total >> 8); } break;
                    case 8: if (b.Count > 4) b[4] = Interesting[rng.Next(Interesting.Length)]; break;
                }
            }
            return b.ToArray();
        }

        static byte[] RandomChunk(Random rng)
        {
            byte[] chunk = new byte[rng.Next(1, 12)];
            rng.NextBytes(chunk);
            chunk[0] = (byte)chunk.Length;
            if (chunk.Length > 1)
                chunk[1] = Interesting[rng.Next(Interesting.Length)];
            return chunk;
        }

        static string Hex(byte[] b)
        {
            var sb = new StringBuilder();
            foreach (byte x in b)
                sb.Append(x.ToString("x2"));
            return sb.ToString();
        }

        /// <summary>Runs every parser on one input; false (and a recorded failure) when something broke.</summary>
        public static bool CheckOne(byte[] input, FuzzReport report, out bool acceptedConfig, Action<byte[]> extraCheck = null)
        {
            acceptedConfig = false;
            string stage = "";
            try
            {
                stage = "device";
                DeviceDescriptor.Parse(input, out DeviceDescriptor _);
                DeviceDescriptor.ParseHeader(input, out DeviceDescriptor _);
                stage = "configuration";
                DescriptorProblem p = ConfigurationParser.Parse(input, out UsbConfiguration config);
                if (p.IsOk)
                {
                    acceptedConfig = true;
                    report.Accepted++;
                    string broken = CheckInvariants(input, config);
                    if (broken != null)
                        throw new InvalidOperationException("invariant: " + broken);
                    stage = "audio";
                    // The UAC1 parsers on every alternate setting of an accepted configuration.
                    for (int i = 0; i < config.Interfaces.Length; i++)
                        for (int a = 0; a < config.Interfaces[i].AltSettings.Length; a++)
                        {
                            UsbAltSetting alt = config.Interfaces[i].AltSettings[a];
                            Drivers.Usb.Audio.UacParser.ParseControl(alt.Extra, out Drivers.Usb.Audio.UacControl _);
                            if (Drivers.Usb.Audio.UacParser.ParseStreaming(alt, out Drivers.Usb.Audio.UacFormat f) == UsbStatus.Ok &&
                                (f.FrameBytes <= 0 || f.bBitResolution > f.bSubframeSize * 8))
                                throw new InvalidOperationException("invariant: UAC format");
                        }
                    stage = "render";
                    var sb = new StringBuilder();
                    UsbListings.DumpConfiguration(sb, null, config);
                    if (sb.Length == 0)
                        throw new InvalidOperationException("empty rendering");
                }
                else if (p.Offset < 0 || p.Offset > input.Length)
                    throw new InvalidOperationException("problem offset out of range: " + p.Describe());
                stage = "string";
                StringDescriptor.ParseText(input, out string _);
                StringDescriptor.ParseLanguages(input, out ushort[] _);
                stage = "hub";
                HubDescriptor.Parse(input, out HubDescriptor _);
                stage = "hid";
                HidDescriptor.Parse(input, out HidDescriptor _);
                stage = "hid-report";
                if (CheckHidReport(input))
                    report.HidAccepted++;
                stage = "audio";
                if (Drivers.Usb.Audio.UacParser.ParseControl(input, out Drivers.Usb.Audio.UacControl ac) == UsbStatus.Ok)
                    foreach (Drivers.Usb.Audio.UacTerminal t in ac.Terminals)
                        ac.FeatureUnitFor(t.bTerminalID);
                Drivers.Usb.Audio.UacParser.ParseStreamingExtra(input, out Drivers.Usb.Audio.UacFormat _);
                stage = "bos";
                if (BosDescriptor.Parse(input, out BosDescriptor bos).IsOk && bos.Capabilities.Length != bos.bNumDeviceCaps)
                    throw new InvalidOperationException("invariant: BOS capability count");
                stage = "small";
                InterfaceDescriptor.Parse(input, out InterfaceDescriptor _);
                EndpointDescriptor.Parse(input, out EndpointDescriptor _);
                InterfaceAssociationDescriptor.Parse(input, out InterfaceAssociationDescriptor _);
                SuperSpeedEndpointCompanionDescriptor.Parse(input, out SuperSpeedEndpointCompanionDescriptor _);
                stage = "extra";
                extraCheck?.Invoke(input);
                return true;
            }
            catch (Exception e)
            {
                lock (report.Failures)
                    report.Failures.Add(stage + ": " + e.GetType().Name + ": " + e.Message + " input=" + Hex(input));
                return false;
            }
        }

        /// <summary>
        /// Parses the input as a HID report descriptor; when accepted, checks the model and reads
        /// every field from exact-size (and one byte short) reports. True when accepted.
        /// </summary>
        static bool CheckHidReport(byte[] input)
        {
            HidParseResult r = HidReportDescriptor.Parse(input, out HidReportDescriptor d);
            if (!r.IsOk)
            {
                if (r.Offset < 0 || r.Offset > input.Length || d.Fields.Length != 0)
                    throw new InvalidOperationException("invariant: HID problem " + r.Describe());
                return false;
            }
            for (int c = 0; c < d.Collections.Length; c++)
                if (d.Collections[c].Parent >= c)
                    throw new InvalidOperationException("invariant: HID collection parent");
            foreach (HidField f in d.Fields)
            {
                int bytes = d.ReportBytes(f.Kind, f.ReportId);
                if (f.BitOffset + f.BitSize * f.Count > bytes * 8 || bytes > HidReportDescriptor.MaxReportBytes)
                    throw new InvalidOperationException("invariant: HID field outside its report");
                if (f.Application >= 0 && d.Collections[f.Application].Type != HidCollectionType.Application)
                    throw new InvalidOperationException("invariant: HID application");
                byte[] exact = new byte[bytes];
                byte[] shorter = new byte[bytes > 0 ? bytes - 1 : 0];
                int elements = f.Count < 64 ? f.Count : 64;
                for (int e = 0; e < elements; e++)
                {
                    bool fits = f.Read(exact, e, out long v);
                    if (!fits && f.BitSize <= 32)
                        throw new InvalidOperationException("invariant: HID field unreadable from its report");
                    f.Read(shorter, e, out v);
                    if (f.IsVariable) f.VariableUsage(e); else f.ArrayUsage(v);
                    f.Write(exact, e, 1);
                }
            }
            d.MaxReportLength(HidReportKind.Input);
            return true;
        }

        static string CheckInvariants(byte[] input, UsbConfiguration c)
        {
            if (c.Raw.Length != c.Descriptor.wTotalLength || c.Raw.Length > input.Length)
                return "raw length";
            if (c.Interfaces.Length != c.Descriptor.bNumInterfaces)
                return "interface count";
            if (c.Interfaces.Length > UsbLimits.MaxInterfaces)
                return "too many interfaces";
            foreach (UsbInterface i in c.Interfaces)
            {
                if (i.AltSettings.Length == 0 || i.Current == null)
                    return "interface without settings";
                foreach (UsbAltSetting a in i.AltSettings)
                {
                    if (a.Endpoints.Length != a.Descriptor.bNumEndpoints)
                        return "endpoint count";
                    if (a.Descriptor.bInterfaceNumber != i.Number)
                        return "alt setting under wrong interface";
                    foreach (UsbEndpoint e in a.Endpoints)
                        if (e.Number == 0 || e.Type == TransferType.Control)
                            return "endpoint 0 accepted";
                }
            }
            return null;
        }
    }
}
