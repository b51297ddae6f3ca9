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

        internal readonly List<UsbRequest> Queue = new List<UsbRequest>();
        internal bool Enabled;
        volatile bool _stopped;

        public UsbEndpoint(EndpointDescriptor descriptor)
        {
            Descriptor = descriptor;
        }

        public byte Address => Descriptor.bEndpointAddress;
        public int Number => Descriptor.Number;
        public bool IsIn => Descriptor.IsIn;
        public TransferType Type => Descriptor.Type;
        public int MaxPacketSize => Descriptor.MaxPacketSize;
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
