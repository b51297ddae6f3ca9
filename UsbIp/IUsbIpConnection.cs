namespace UsbIp
{
    /// <summary>
    /// The byte stream a USB/IP session runs over: a TCP connection in the kernel, an in-memory
    /// pipe in the host tests. Read and Write may be called from two threads at once (the
    /// session's receive and transmit threads); Close may be called from any thread and makes
    /// blocked calls return.
    /// </summary>
    public interface IUsbIpConnection
    {
        /// <summary>"10.0.2.2:45678": for log lines.</summary>
        string PeerName { get; }

        /// <summary>
        /// Reads up to <paramref name="count"/> bytes. Returns the number read (at least 1), 0 when
        /// nothing arrived within <paramref name="timeoutMs"/>, or a negative value once the peer
        /// closed the connection, it broke, or <see cref="Close"/> was called.
        /// </summary>
        int Read(byte[] buffer, int offset, int count, uint timeoutMs);

        /// <summary>
        /// Writes all <paramref name="count"/> bytes, waiting at most <paramref name="timeoutMs"/>
        /// for the peer to make room. False when the connection is closed or broken or the time ran out.
        /// </summary>
        bool Write(byte[] buffer, int offset, int count, uint timeoutMs);

        /// <summary>Closes the connection (idempotent).</summary>
        void Close();
    }

    /// <summary>Where the server gets its connections from: a TCP socket listening on port 3240.</summary>
    public interface IUsbIpListener
    {
        /// <summary>The next connection, or null when none arrived within <paramref name="timeoutMs"/> (or the listener is closed).</summary>
        IUsbIpConnection Accept(uint timeoutMs);
    }
}
