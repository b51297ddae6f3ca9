using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Audio;
using Kernel.Shell;
using Platform;

namespace Kernel.Usb
{
    /// <summary>
    /// The kernel's end of the USB audio driver: `audio` lists the playback devices and their
    /// formats, `audio play tone <Hz> <seconds>` plays a sine on the first one and reports the
    /// packets sent, `audio volume <0-100>` and `audio mute on|off` drive its feature unit.
    /// </summary>
    internal static class AudioShell
    {
        public static UsbAudioDriver Driver;
        const int MaxSeconds = 600;
        const int MaxHz = 20000;
        /// <summary>Slack over the tone's length before `audio play` gives up waiting (ms).</summary>
        const uint FinishSlackMs = 5000;
        const uint MsPerSecond = 1000;

        public static void Register(UsbStack stack)
        {
            Driver = UsbAudioDriver.Register(stack);
            KernelShell.Register("audio", "audio [play tone <Hz> <seconds> | volume <0-100> | mute on|off]",
                                 "USB audio devices: list, play a sine tone, volume, mute", Run);
        }

        static void Run(List<string> args)
        {
            string verb = args.Count > 1 ? args[1] : "";
            if (verb == "")
                List();
            else if (verb == "play" && args.Count > 4 && args[2] == "tone")
                PlayTone(args[3], args[4]);
            else if (verb == "volume" && args.Count > 2)
                Volume(args[2]);
            else if (verb == "mute" && args.Count > 2 && (args[2] == "on" || args[2] == "off"))
                Mute(args[2] == "on");
            else
                KernelShell.Print("usage: audio | audio play tone <Hz> <seconds> | audio volume <0-100> | audio mute on|off");
        }

        static UsbAudioDevice First()
        {
            UsbAudioDevice[] devices = Driver.Devices;
            if (devices.Length == 0)
            {
                KernelShell.Print("audio: no devices");
                return null;
            }
            return devices[0];
        }

        static void List()
        {
            UsbAudioDevice[] devices = Driver.Devices;
            if (devices.Length == 0)
            {
                KernelShell.Print("audio: no devices");
                return;
            }
            for (int i = 0; i < devices.Length; i++)
            {
                UsbAudioDevice d = devices[i];
                string product = d.Device.Product != null ? d.Device.Product : "USB audio";
                KernelShell.Print(d.Name + ": " + d.Interface.Name + " " + product + ", " + UsbSpeedNames.Name(d.Device.Speed) +
                                  ", volume " + Format.Decimal((ulong)d.VolumePercent) + "%" + (d.Muted ? " (muted)" : "") +
                                  (d.IsPlaying ? ", playing" : ""));
                for (int f = 0; f < d.Formats.Length; f++)
                    KernelShell.Print("  " + d.Describe(d.Formats[f]));
            }
        }

        static bool ParseNumber(string text, out int value)
        {
            value = 0;
            if (text.Length == 0 || text.Length > 9)
                return false;
            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                if (c < '0' || c > '9')
                    return false;
                value = value * 10 + (c - '0');
            }
            return true;
        }

        static void PlayTone(string hzText, string secondsText)
        {
            if (!ParseNumber(hzText, out int hz) || hz < 1 || hz > MaxHz || !ParseNumber(secondsText, out int seconds) || seconds < 1 || seconds > MaxSeconds)
            {
                KernelShell.Print("audio play: bad frequency or duration (1-" + Format.Decimal(MaxHz) + " Hz, 1-" + Format.Decimal(MaxSeconds) + " s)");
                return;
            }
            UsbAudioDevice d = First();
            if (d == null)
                return;
            int rate = d.PreferredRate();
            UacFormat format = d.ChooseFormat(rate);
            var tone = new ToneSource(hz, rate, UsbAudioDevice.ToneAmplitude, (long)rate * seconds);
            ulong start = Time.Clock.Instance.Milliseconds;
            ulong idleAtStart = Threading.Scheduler.IdleMicroseconds;
            UsbStatus status = d.Start(tone, format, rate);
            if (status != UsbStatus.Ok)
            {
                KernelShell.Print("audio play: " + d.Name + ": " + UsbStatusNames.Name(status));
                return;
            }
            KernelShell.Print("audio: playing " + Format.Decimal((ulong)hz) + " Hz for " + Format.Decimal((ulong)seconds) + " s on " + d.Name +
                              " (" + Format.Decimal((ulong)rate) + " Hz, " + Format.Decimal(format.bNrChannels) + " ch, " +
                              Format.Decimal(format.bBitResolution) + "-bit)");
            bool finished = d.WaitFinished((uint)seconds * MsPerSecond + FinishSlackMs);
            ulong elapsed = Time.Clock.Instance.Milliseconds - start;
            ulong idleUs = Threading.Scheduler.IdleMicroseconds - idleAtStart;
            if (!d.IsGone)
                d.Stop();
            string figures = Format.Decimal((ulong)d.PacketsSent) + " packets, " + Format.Decimal((ulong)d.PacketErrors) + " errors, " +
                             Format.Decimal((ulong)d.PacketsMissed) + " missed, " + Format.Decimal(elapsed) + " ms; " + CpuFigures(elapsed, idleUs) +
                             ", completion jitter max " + Format.Decimal((ulong)d.MaxCompletionJitterUs) + " us";
            // The stream may see -ENODEV before the disconnect reaches the driver: the same event.
            if (d.IsGone || d.EndStatus == UsbStatus.NoDevice)
                KernelShell.Print("audio: stopped: device gone (" + figures + ")");
            else if (!finished)
                KernelShell.Print("audio: stopped: stream stalled (" + figures + ")");
            else if (d.EndStatus != UsbStatus.Ok)
                KernelShell.Print("audio: stopped: " + UsbStatusNames.Name(d.EndStatus) + " (" + figures + ")");
            else
                KernelShell.Print("audio: done (" + figures + ")");
        }

        static void Volume(string text)
        {
            if (!ParseNumber(text, out int percent) || percent > 100)
            {
                KernelShell.Print("audio volume: 0-100");
                return;
            }
            UsbAudioDevice d = First();
            if (d == null)
                return;
            UsbStatus status = d.SetVolume(percent);
            if (status == UsbStatus.Ok)
                KernelShell.Print("audio: " + d.Name + " volume " + Format.Decimal((ulong)percent) + "% (" + DecibelText(d.VolumeFor(percent)) + ")");
            else
                KernelShell.Print("audio volume: " + d.Name + ": " + UsbStatusNames.Name(status));
        }

        static void Mute(bool on)
        {
            UsbAudioDevice d = First();
            if (d == null)
                return;
            UsbStatus status = d.SetMute(on);
            KernelShell.Print(status == UsbStatus.Ok ? "audio: " + d.Name + (on ? " muted" : " unmuted") : "audio mute: " + d.Name + ": " + UsbStatusNames.Name(status));
        }

        /// <summary>1/256 dB units as "-12.5 dB" (one decimal).</summary>
        static string DecibelText(short raw)
        {
            const int StepsPerDb = 256;
            const int Tenths = 10;
            int tenths = raw * Tenths / StepsPerDb;
            string sign = tenths < 0 ? "-" : "";
            if (tenths < 0) tenths = -tenths;
            return sign + Format.Decimal((ulong)(tenths / Tenths)) + "." + Format.Decimal((ulong)(tenths % Tenths)) + " dB";
        }

        /// <summary>
        /// "cpu busy 12 ms/s": the CPU time not spent idle during the stream, per second (the whole kernel's,
        /// so an idle machine's background work is included; `uptime` shows the idle share at rest).
        /// </summary>
        static string CpuFigures(ulong elapsedMs, ulong idleUs)
        {
            ulong elapsedUs = elapsedMs * 1000;
            ulong busyUs = elapsedUs > idleUs ? elapsedUs - idleUs : 0;
            ulong perSecondUs = elapsedMs == 0 ? 0 : busyUs * MsPerSecond / elapsedMs;
            return "cpu busy " + Format.Decimal(perSecondUs / 1000) + "." + Format.Decimal(perSecondUs % 1000 / 100) + " ms/s";
        }
    }
}
