namespace Drivers.Usb
{
    /// <summary>
    /// Result of every USB core operation and the final status of a request (URB). Errors are
    /// values, never exceptions. The Linux errno each one corresponds to (Documentation/driver-api/
    /// usb/error-codes.rst) is given so logs read like Linux's.
    /// </summary>
    public enum UsbStatus
    {
        /// <summary>Success (0).</summary>
        Ok = 0,
        /// <summary>Request still queued (-EINPROGRESS).</summary>
        InProgress,
        /// <summary>Endpoint stalled / request not supported by the device (-EPIPE).</summary>
        Stall,
        /// <summary>Request did not complete in time; it was cancelled (-ETIMEDOUT).</summary>
        Timeout,
        /// <summary>Device sent more data than a packet may hold (-EOVERFLOW, babble).</summary>
        Babble,
        /// <summary>CRC, bit-stuffing or toggle error (-EILSEQ).</summary>
        DataError,
        /// <summary>Protocol error, no response (three strikes) (-EPROTO).</summary>
        TransactionError,
        /// <summary>Less data than asked for and the request said short-not-ok (-EREMOTEIO).</summary>
        ShortPacket,
        /// <summary>More data than the buffer holds (-EOVERFLOW on the buffer).</summary>
        Overflow,
        /// <summary>OUT data underrun: the host controller could not fetch the data in time (-ENOSR).</summary>
        Underrun,
        /// <summary>Request was unlinked asynchronously (-ECONNRESET).</summary>
        Cancelled,
        /// <summary>Request was killed synchronously (-ENOENT).</summary>
        Killed,
        /// <summary>The device is gone (-ENODEV).</summary>
        NoDevice,
        /// <summary>The endpoint or controller is disabled / shutting down (-ESHUTDOWN).</summary>
        Shutdown,
        /// <summary>Bad parameters (-EINVAL).</summary>
        InvalidArgument,
        /// <summary>Request already queued (-EBUSY).</summary>
        Busy,
        /// <summary>Request is being killed; resubmission refused (-EPERM).</summary>
        Rejected,
        /// <summary>Request is not queued (-EIDRM).</summary>
        NotQueued,
        /// <summary>Out of memory (DMA or objects) (-ENOMEM).</summary>
        NoMemory,
        /// <summary>Operation not supported by this controller or device (-EOPNOTSUPP).</summary>
        NotSupported,
        /// <summary>No driver matched, or a driver's probe declined (-ENODEV from probe).</summary>
        NoMatch,
        /// <summary>A descriptor was malformed (-EINVAL / -EMSGSIZE).</summary>
        BadDescriptor,
        /// <summary>No free device address on the bus (-ENOSPC).</summary>
        NoAddress,
        /// <summary>Port is disabled or not connected (-ENOTCONN).</summary>
        NotConnected,
        /// <summary>Object not found (driver name, configuration value) (-ENOENT).</summary>
        NotFound,
        /// <summary>IN data overrun: the host controller could not store the data in time (-ECOMM).</summary>
        Overrun,
        /// <summary>Isochronous packet whose (micro)frame had passed: not transferred (-EXDEV).</summary>
        CrossedFrame,
        /// <summary>Isochronous start frame too far ahead, or too many packets for the schedule (-EFBIG).</summary>
        FrameTooFar,
        /// <summary>Not enough periodic bandwidth left on the bus for the endpoint (-ENOSPC).</summary>
        NoBandwidth,
    }

    public static class UsbStatusNames
    {
        /// <summary>Name with the Linux errno it stands for, e.g. "stall (-EPIPE)".</summary>
        public static string Name(UsbStatus status)
        {
            switch (status)
            {
                case UsbStatus.Ok: return "ok";
                case UsbStatus.InProgress: return "in progress (-EINPROGRESS)";
                case UsbStatus.Stall: return "stall (-EPIPE)";
                case UsbStatus.Timeout: return "timeout (-ETIMEDOUT)";
                case UsbStatus.Babble: return "babble (-EOVERFLOW)";
                case UsbStatus.DataError: return "data error (-EILSEQ)";
                case UsbStatus.TransactionError: return "transaction error (-EPROTO)";
                case UsbStatus.ShortPacket: return "short packet (-EREMOTEIO)";
                case UsbStatus.Overflow: return "buffer overflow (-EOVERFLOW)";
                case UsbStatus.Underrun: return "underrun (-ENOSR)";
                case UsbStatus.Cancelled: return "cancelled (-ECONNRESET)";
                case UsbStatus.Killed: return "killed (-ENOENT)";
                case UsbStatus.NoDevice: return "no device (-ENODEV)";
                case UsbStatus.Shutdown: return "shutdown (-ESHUTDOWN)";
                case UsbStatus.InvalidArgument: return "invalid argument (-EINVAL)";
                case UsbStatus.Busy: return "busy (-EBUSY)";
                case UsbStatus.Rejected: return "rejected (-EPERM)";
                case UsbStatus.NotQueued: return "not queued (-EIDRM)";
                case UsbStatus.NoMemory: return "out of memory (-ENOMEM)";
                case UsbStatus.NotSupported: return "not supported (-EOPNOTSUPP)";
                case UsbStatus.NoMatch: return "no match (-ENODEV)";
                case UsbStatus.BadDescriptor: return "bad descriptor (-EINVAL)";
                case UsbStatus.NoAddress: return "no free address (-ENOSPC)";
                case UsbStatus.NotConnected: return "not connected (-ENOTCONN)";
                case UsbStatus.NotFound: return "not found (-ENOENT)";
                case UsbStatus.Overrun: return "overrun (-ECOMM)";
                case UsbStatus.CrossedFrame: return "frame missed (-EXDEV)";
                case UsbStatus.FrameTooFar: return "frame too far (-EFBIG)";
                case UsbStatus.NoBandwidth: return "no bandwidth (-ENOSPC)";
                default: return "unknown status";
            }
        }

        /// <summary>True for statuses that stop an endpoint's queue until the completion returns.</summary>
        public static bool HaltsQueue(UsbStatus status)
        {
            switch (status)
            {
                case UsbStatus.Ok:
                case UsbStatus.Cancelled:
                case UsbStatus.Killed:
                case UsbStatus.NoDevice:
                case UsbStatus.Shutdown:
                    return false;
                default:
                    return true;
            }
        }
    }

    /// <summary>Bus speed of a device or port (USB 2.0 4.2.1, USB 3.2 3.1).</summary>
    public enum UsbSpeed
    {
        Unknown,
        /// <summary>1.5 Mbit/s.</summary>
        Low,
        /// <summary>12 Mbit/s.</summary>
        Full,
        /// <summary>480 Mbit/s.</summary>
        High,
        /// <summary>5 Gbit/s.</summary>
        Super,
        /// <summary>10 Gbit/s and up.</summary>
        SuperPlus,
    }

    public static class UsbSpeedNames
    {
        /// <summary>Linux's spelling in /sys/.../speed and the devices file: "1.5", "12", "480", "5000", "10000".</summary>
        public static string Mbps(UsbSpeed speed)
        {
            switch (speed)
            {
                case UsbSpeed.Low: return "1.5";
                case UsbSpeed.Full: return "12";
                case UsbSpeed.High: return "480";
                case UsbSpeed.Super: return "5000";
                case UsbSpeed.SuperPlus: return "10000";
                default: return "??";
            }
        }

        /// <summary>Linux's usb_speed_string(): "low-speed", "full-speed", "high-speed", "super-speed".</summary>
        public static string Name(UsbSpeed speed)
        {
            switch (speed)
            {
                case UsbSpeed.Low: return "low-speed";
                case UsbSpeed.Full: return "full-speed";
                case UsbSpeed.High: return "high-speed";
                case UsbSpeed.Super: return "super-speed";
                case UsbSpeed.SuperPlus: return "super-speed-plus";
                default: return "UNKNOWN";
            }
        }
    }

    /// <summary>
    /// Linux errno values (x86 asm-generic/errno*.h) and the one mapping from a request status to the
    /// URB status Linux would report (Documentation/driver-api/usb/error-codes.rst): what usbmon
    /// records and what USB/IP sends back in RET_SUBMIT / RET_UNLINK.
    /// </summary>
    public static class UsbErrno
    {
        public const int EPERM = 1, ENOENT = 2, ENOMEM = 12, EBUSY = 16, EXDEV = 18, ENODEV = 19, EINVAL = 22, EFBIG = 27,
                         ENOSPC = 28, EPIPE = 32, EIDRM = 43, ENOSR = 63, ECOMM = 70, EPROTO = 71, EOVERFLOW = 75, EILSEQ = 84,
                         EOPNOTSUPP = 95, ECONNRESET = 104, ENOTCONN = 107, ESHUTDOWN = 108, ETIMEDOUT = 110, EINPROGRESS = 115,
                         EREMOTEIO = 121;

        /// <summary>0 for success, else the negative errno of Linux's URB status.</summary>
        public static int Of(UsbStatus status)
        {
            switch (status)
            {
                case UsbStatus.Ok: return 0;
                case UsbStatus.InProgress: return -EINPROGRESS;
                case UsbStatus.Stall: return -EPIPE;
                case UsbStatus.Timeout: return -ETIMEDOUT;
                case UsbStatus.Babble: return -EOVERFLOW;
                case UsbStatus.DataError: return -EILSEQ;
                case UsbStatus.TransactionError: return -EPROTO;
                case UsbStatus.ShortPacket: return -EREMOTEIO;
                case UsbStatus.Overflow: return -EOVERFLOW;
                case UsbStatus.Underrun: return -ENOSR;
                case UsbStatus.Overrun: return -ECOMM;
                case UsbStatus.CrossedFrame: return -EXDEV;
                case UsbStatus.FrameTooFar: return -EFBIG;
                case UsbStatus.NoBandwidth: return -ENOSPC;
                case UsbStatus.Cancelled: return -ECONNRESET;
                case UsbStatus.Killed: return -ENOENT;
                case UsbStatus.NoDevice: return -ENODEV;
                case UsbStatus.Shutdown: return -ESHUTDOWN;
                case UsbStatus.InvalidArgument: return -EINVAL;
                case UsbStatus.Busy: return -EBUSY;
                case UsbStatus.Rejected: return -EPERM;
                case UsbStatus.NotQueued: return -EIDRM;
                case UsbStatus.NoMemory: return -ENOMEM;
                case UsbStatus.NotSupported: return -EOPNOTSUPP;
                case UsbStatus.NoMatch: return -ENODEV;
                case UsbStatus.BadDescriptor: return -EINVAL;
                case UsbStatus.NoAddress: return -ENOSPC;
                case UsbStatus.NotConnected: return -ENOTCONN;
                case UsbStatus.NotFound: return -ENOENT;
                default: return -EINVAL;
            }
        }
    }
}
