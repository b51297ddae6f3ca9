using System.Collections.Generic;
using Drivers.Usb.Descriptors;

namespace Drivers.Usb
{
    /// <summary>
    /// An endpoint (USB 2.0 9.6.6) and its request queue: Haiku's Pipe, Linux's
    /// usb_host_endpoint. Requests complete in submission order; after one ends in error the
    /// queue is stopped (<see cref="IsStopped"/>) until that request's completion has returned.
    /// </summary>
    public sealed class UsbEndpoint
    {
        public EndpointDescriptor Descriptor;
        public bool HasCompanion;
        public SuperSpeedEndpointCompanionDescriptor Companion;
        /// <summary>Class-specific descriptors following the endpoint descriptor.</summary>
        public byte[] Extra = new byte[0];
        /// <summary>The alternate setting that declares it (null for endpoint 0).</summary>
        public UsbAltSetting AltSetting;

        /// <summary>Device whose endpoint table holds it while enabled.</summary>
        public UsbDevice Device;
        /// <summary>Host controller's per-endpoint state (queue head, ring, ...).</summary>
        public object HcdPrivate;

        /// <summary>
        /// Polling interval the controller schedules an interrupt endpoint with, in bInterval's
        /// units for the device's speed (USB 2.0 9.6.6: frames at full/low speed, 2^(n-1)
        /// microframes at high and SuperSpeed). The descriptor's value unless a driver asked for a
        /// shorter one (<see cref="UsbBus.SetPollingInterval"/>); bInterval is the longest period
        /// the device allows (USB 2.0 5.7.4), so polling more often is always within spec.
        /// </summary>
        public byte Interval;

        /// <summary>Periodic bandwidth (us per frame) this endpoint holds on its bus while enabled; 0 = none.</summary>
        public int BandwidthUs;

        internal readonly List<UsbRequest> Queue = new List<UsbRequest>();
        internal bool Enabled;
        volatile bool _stopped;

        public UsbEndpoint(EndpointDescriptor descriptor)
        {
            Descriptor = descriptor;
            Interval = descriptor.bInterval;
        }

        /// <summary>Longest exponent of high-speed/SuperSpeed intervals (2^15 microframes, USB 2.0 9.6.6).</summary>
        const int MaxIntervalExponent = 16;
        const int MicroframesPerMs = 8;

        /// <summary>The interval value (in bInterval units for <paramref name="speed"/>) for a period of at most <paramref name="ms"/> ms.</summary>
        public static byte IntervalForPeriodMs(UsbSpeed speed, int ms)
        {
            if (ms < 1)
                ms = 1;
            if (speed == UsbSpeed.Low || speed == UsbSpeed.Full)
                return (byte)(ms > byte.MaxValue ? byte.MaxValue : ms);
            // 2^(n-1) microframes <= ms * 8.
            int n = 1;
            while (n < MaxIntervalExponent && (1 << n) <= ms * MicroframesPerMs)
                n++;
            return (byte)n;
        }

        public byte Address => Descriptor.bEndpointAddress;
        public int Number => Descriptor.Number;
        public bool IsIn => Descriptor.IsIn;
        public TransferType Type => Descriptor.Type;
        public int MaxPacketSize => Descriptor.MaxPacketSize;

        /// <summary>
        /// Most bytes the endpoint moves per service interval (Linux usb_endpoint_maxp *
        /// mult / the SuperSpeed companion's burst): wMaxPacketSize at full/low speed, times the
        /// high-bandwidth transactions at high speed (USB 2.0 5.9), times burst and Mult at SuperSpeed
        /// (USB 3.2 9.6.7).
        /// </summary>
        public int MaxPayloadPerInterval(UsbSpeed speed)
        {
            int packet = Descriptor.MaxPacketSize;
            if (speed == UsbSpeed.High && (Type == TransferType.Isochronous || Type == TransferType.Interrupt))
                return packet * Descriptor.Mult;
            if (speed >= UsbSpeed.Super && HasCompanion)
            {
                int bursts = Companion.bMaxBurst + 1;
                int mult = Type == TransferType.Isochronous ? (Companion.bmAttributes & SuperSpeedIsoMultMask) + 1 : 1;
                return packet * bursts * mult;
            }
            return packet;
        }

        /// <summary>SuperSpeed companion bmAttributes bits 1:0 for isochronous endpoints: Mult (USB 3.2 table 9-27).</summary>
        const int SuperSpeedIsoMultMask = 0x3;

        /// <summary>
        /// Isochronous service period in (micro)frames, Linux's default urb->interval: 2^(bInterval-1)
        /// frames at full speed, microframes at high speed and up (USB 2.0 9.6.6; bInterval 1..16).
        /// </summary>
        public int IsoPeriod
        {
            get
            {
                int b = Descriptor.bInterval;
                if (b < 1) b = 1;
                if (b > MaxIntervalExponent) b = MaxIntervalExponent;
                return 1 << (b - 1);
            }
        }
        public bool IsEnabled => Enabled;

        /// <summary>
        /// True while the completion of a failed request runs: the host controller must not start
        /// or complete later requests on this endpoint until <see cref="IHostController.EndpointResumed"/>.
        /// </summary>
        public bool IsStopped => _stopped;
        internal void SetStopped(bool stopped) => _stopped = stopped;

        /// <summary>Number of requests queued and not yet given back.</summary>
        public int QueuedCount
        {
            get
            {
                lock (Queue)
                    return Queue.Count;
            }
        }

        /// <summary>True when <paramref name="request"/> is the oldest request still queued here.</summary>
        public bool IsHead(UsbRequest request)
        {
            lock (Queue)
                return Queue.Count > 0 && Queue[0] == request;
        }
    }
}
