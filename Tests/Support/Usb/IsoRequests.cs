using System.Collections.Generic;
using Drivers.Usb;
using Platform;

namespace Tests.Support
{
    /// <summary>Isochronous requests as the tests of the core and of the host controller drivers build them.</summary>
    public static class IsoRequests
    {
        /// <summary>
        /// A request of <paramref name="packets"/> packets of <paramref name="packetBytes"/> each in a
        /// fresh DMA buffer, the packets <paramref name="stride"/> bytes apart (0: back to back); its
        /// completion adds it to <paramref name="done"/> (under its lock: completions come from other threads).
        /// </summary>
        public static UsbRequest Create(IDmaAllocator dma, UsbDevice device, UsbEndpoint endpoint, int packets, int packetBytes,
            List<UsbRequest> done, int flags = UsbRequestFlags.IsoAsap, int stride = 0)
        {
            if (stride == 0)
                stride = packetBytes;
            var request = new UsbRequest
            {
                Device = device,
                Endpoint = endpoint,
                Buffer = dma.Allocate((uint)(packets * stride), UsbBus.DmaAlignment, DmaLimit.Below4G),
                Flags = flags,
            };
            request.SetIsoPackets(packets, packetBytes);
            request.Length = packets * stride;
            for (int i = 0; i < packets; i++)
                request.IsoPackets[i].Offset = i * stride;
            request.Completion = r => { lock (done) done.Add(r); };
            return request;
        }
    }
}
