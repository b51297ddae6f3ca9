using System.Collections.Generic;
using Drivers.Usb;
using Platform;

namespace Tests.Support
{
    /// <summary>Isochronous requests as the tests of the core and of the host controller drivers build them.</summary>
    public static class IsoRequests
    {
        /// <summary>
        /// A full-speed function's configuration for bandwidth tests: alt 1 has an interrupt IN
        /// endpoint 5 every 2 ms, then an isochronous OUT endpoint 3 every 2 frames (bInterval 2), 192 bytes.
        /// </summary>
        public static readonly byte[] SlowIsoConfig =
        {
            9, 2, 41, 0, 1, 1, 0, 0x80, 50,
            9, 4, 0, 0, 0, 0xFF, 0, 0, 0,
            9, 4, 0, 1, 2, 0xFF, 0, 0, 0,
            7, 5, 0x85, 3, 8, 0, 2,
            7, 5, 0x03, 1, 192, 0, 2,
        };

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
