namespace Net
{
    /// <summary>Result of a network operation (the stack never throws).</summary>
    public enum NetStatus
    {
        Ok = 0,
        /// <summary>The bounded wait ended before the operation could complete.</summary>
        Timeout,
        /// <summary>The peer closed its direction (FIN) and every byte it sent has been read: end of stream.</summary>
        Closed,
        /// <summary>The peer reset the connection (RST), or retransmissions gave up.</summary>
        Reset,
        /// <summary>This side aborted or closed the connection; no more sends/receives.</summary>
        Aborted,
        /// <summary>The peer answered the SYN with RST (nobody listens on that port).</summary>
        Refused,
        /// <summary>No interface, no address or no route to the destination; or ARP did not resolve it.</summary>
        Unreachable,
        /// <summary>A port already bound, or too many connections/listeners.</summary>
        InUse,
        InvalidArgument,
        /// <summary>Out of buffers or connection slots.</summary>
        NoResources,
    }

    /// <summary>Names for <see cref="NetStatus"/> (enum ToString is not available in the kernel).</summary>
    public static class NetStatusNames
    {
        public static string Name(NetStatus s)
        {
            switch (s)
            {
                case NetStatus.Ok: return "ok";
                case NetStatus.Timeout: return "timeout";
                case NetStatus.Closed: return "closed";
                case NetStatus.Reset: return "reset";
                case NetStatus.Aborted: return "aborted";
                case NetStatus.Refused: return "refused";
                case NetStatus.Unreachable: return "unreachable";
                case NetStatus.InUse: return "in use";
                case NetStatus.InvalidArgument: return "invalid argument";
                case NetStatus.NoResources: return "no resources";
                default: return "unknown";
            }
        }
    }
}
