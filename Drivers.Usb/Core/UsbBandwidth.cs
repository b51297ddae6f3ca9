using Drivers.Usb.Descriptors;

namespace Drivers.Usb
{
    /// <summary>
    /// Periodic bandwidth as USB 2.0 5.11.3 computes it and Linux accounts it (hcd.c
    /// usb_calc_bus_time, devices.c's B: line): the bus time of one transaction of an interrupt
    /// or isochronous endpoint, spread over its period, against a per-frame budget of 90% of a
    /// full-speed frame (900 us) or 80% of each high-speed microframe (800 us per frame, USB 2.0
    /// 5.7.4). The accounting is per frame (Linux's figure); the controllers place the packets.
    /// </summary>
    public static class UsbBandwidth
    {
        /// <summary>Periodic share of a frame: 90% of 1 ms at full/low speed, 8 x 80% of 125 us at high speed and up.</summary>
        public const int FullSpeedBudgetUs = 900;
        public const int HighSpeedBudgetUs = 800;

        // USB 2.0 5.11.3 constants, in ns (Linux hcd.h).
        const long HostDelayNs = 1000;        // BW_HOST_DELAY
        const long HubLowSpeedSetupNs = 333;  // BW_HUB_LS_SETUP
        const long Usb2HostDelayNs = 5;       // USB2_HOST_DELAY
        const long NsPerUs = 1000;
        const int MicroframesPerFrame = 8;

        /// <summary>Bits on the wire for a data payload with worst-case bit stuffing (7/6).</summary>
        static long BitTime(long bytes) => 7 * 8 * bytes / 6;

        /// <summary>Bus time in ns of one transaction (Linux usb_calc_bus_time).</summary>
        public static long BusTimeNs(UsbSpeed speed, bool isInput, bool isochronous, int bytes)
        {
            switch (speed)
            {
                case UsbSpeed.Low:
                    if (isInput)
                        return 64060 + 2 * HubLowSpeedSetupNs + HostDelayNs + 67667 * (31 + 10 * BitTime(bytes)) / 1000;
                    return 64107 + 2 * HubLowSpeedSetupNs + HostDelayNs + 66700 * (31 + 10 * BitTime(bytes)) / 1000;
                case UsbSpeed.Full:
                {
                    long data = 8354 * (31 + 10 * BitTime(bytes)) / 1000;
                    if (isochronous)
                        return (isInput ? 7268 : 6265) + HostDelayNs + data;
                    return 9107 + HostDelayNs + data;
                }
                default:
                    // High speed (HS_NSECS / HS_NSECS_ISO); SuperSpeed is the controller's business.
                    long overhead = isochronous ? 38 * 8 * 2083 : 55 * 8 * 2083;
                    return (overhead + 2083 * (3 + BitTime(bytes))) / 1000 + Usb2HostDelayNs;
            }
        }

        /// <summary>One transaction's bus time in whole microseconds, rounded up (Linux NS_TO_US of usb_calc_bus_time).</summary>
        public static int BusTimeUs(UsbSpeed speed, bool isInput, bool isochronous, int bytes) =>
            (int)((BusTimeNs(speed, isInput, isochronous, bytes) + NsPerUs - 1) / NsPerUs);

        /// <summary>The budget per frame of a bus whose root hub runs at <paramref name="busSpeed"/>.</summary>
        public static int BudgetUs(UsbSpeed busSpeed) => busSpeed >= UsbSpeed.High ? HighSpeedBudgetUs : FullSpeedBudgetUs;

        /// <summary>True for the endpoints that reserve bandwidth (interrupt and isochronous, USB 2.0 5.7.4 / 5.6.4).</summary>
        public static bool IsPeriodic(UsbEndpoint endpoint) =>
            endpoint.Type == TransferType.Interrupt || endpoint.Type == TransferType.Isochronous;

        /// <summary>
        /// Microseconds per frame the endpoint takes: one transaction's bus time (rounded up to
        /// whole us, as Linux's NS_TO_US) divided by its period in frames, or multiplied by the
        /// transactions per frame when it is served more than once a frame (high speed).
        /// </summary>
        public static int FrameLoadUs(UsbDevice device, UsbEndpoint endpoint)
        {
            bool iso = endpoint.Type == TransferType.Isochronous;
            int payload = endpoint.MaxPayloadPerInterval(device.Speed);
            long us = BusTimeUs(device.Speed, endpoint.IsIn, iso, payload);
            if (device.Speed >= UsbSpeed.High)
            {
                int microframes = iso ? endpoint.IsoPeriod : 1 << (ClampExponent(endpoint.Interval) - 1);
                if (microframes < MicroframesPerFrame)
                    return (int)(us * (MicroframesPerFrame / microframes));
                return (int)(us / (microframes / MicroframesPerFrame));
            }
            int frames = iso ? endpoint.IsoPeriod : endpoint.Interval;
            if (frames < 1) frames = 1;
            return (int)(us / frames);
        }

        static int ClampExponent(int b) => b < 1 ? 1 : (b > 16 ? 16 : b);
    }
}
