using Kernel.Hal;

namespace Kernel.Console
{
    /// <summary>
    /// COM1, a 16550-compatible UART (PC16550D datasheet, register map in section 8). Output is
    /// polled: a byte goes into the transmit FIFO only while the Line Status Register says the
    /// transmitter holding register (THRE) is empty, never blindly (a write to a full FIFO
    /// overwrites a byte: QEMU keeps THRE clear while the host does not read its end).
    /// Input arrives through IRQ 4 into a ring buffer, with polling as fallback.
    /// </summary>
    internal static class Serial
    {
        const ushort Com1 = 0x3F8;
        // Register offsets (DLAB=0 unless noted).
        const ushort ReceiveBuffer = 0, TransmitHolding = 0, InterruptEnable = 1, DivisorLow = 0, DivisorHigh = 1;
        const ushort FifoControl = 2, InterruptIdentification = 2, LineControl = 3, ModemControl = 4, LineStatus = 5;
        const byte LineControlDlab = 0x80, LineControl8N1 = 0x03;
        const byte FifoEnableClear14 = 0xC7;
        const byte ModemDtrRtsOut2 = 0x0B;
        const byte LineStatusDataReady = 0x01, LineStatusTransmitEmpty = 0x20;
        const byte InterruptEnableReceived = 0x01;
        const byte IirFifosEnabled = 0xC0; // IIR bits 7:6 read 11 when the 16-byte FIFOs are on (section 8.5)
        const int FifoDepth16550 = 16;
        const ushort Divisor115200 = 1;
        // Direct (unqueued) writes wait this many Line Status reads for THRE per byte: far longer than
        // one character time at 115200 baud, so only a stalled (emulated) line ever runs out.
        // Once that ran out, the line counts as dead and later bytes wait only briefly (no endless
        // crash report on a line nobody reads) until THRE is seen set again.
        const int DirectWriteSpinLimit = 10_000_000, StalledSpinLimit = 1000;

        public const int Irq = 4;

        static bool s_present;
        static bool s_stalled;
        static int s_fifoDepth = 1;

        public static bool Present => s_present;

        /// <summary>Bytes that may be written after THRE reads set: the FIFO depth (1 on an 8250/16450).</summary>
        public static int TransmitBurst => s_fifoDepth;

        public static void Initialize()
        {
            Native.PortOut8(Com1 + InterruptEnable, 0);
            Native.PortOut8(Com1 + LineControl, LineControlDlab);
            Native.PortOut8(Com1 + DivisorLow, (byte)Divisor115200);
            Native.PortOut8(Com1 + DivisorHigh, (byte)(Divisor115200 >> 8));
            Native.PortOut8(Com1 + LineControl, LineControl8N1);
            Native.PortOut8(Com1 + FifoControl, FifoEnableClear14);
            Native.PortOut8(Com1 + ModemControl, ModemDtrRtsOut2);
            // A missing UART reads back 0xFF.
            s_present = Native.PortIn8(Com1 + LineStatus) != 0xFF;
            s_fifoDepth = (Native.PortIn8(Com1 + InterruptIdentification) & IirFifosEnabled) == IirFifosEnabled ? FifoDepth16550 : 1;
        }

        public static void EnableReceiveInterrupt() => Native.PortOut8(Com1 + InterruptEnable, InterruptEnableReceived);

        /// <summary>True when the transmit FIFO is empty: up to <see cref="TransmitBurst"/> bytes may be written.</summary>
        public static bool TransmitReady => (Native.PortIn8(Com1 + LineStatus) & LineStatusTransmitEmpty) != 0;

        /// <summary>Writes one byte; only call after <see cref="TransmitReady"/>, at most <see cref="TransmitBurst"/> times.</summary>
        public static void Send(byte b) => Native.PortOut8(Com1 + TransmitHolding, b);

        /// <summary>
        /// Writes text directly, bypassing the console queue: before the queue exists (early boot) and
        /// in the crash report. Waits for THRE before every byte (bounded); no heap allocation.
        /// </summary>
        public static void Write(string s)
        {
            for (int i = 0; i < s.Length; i++) Write(s[i]);
        }

        public static void Write(char c)
        {
            if (!s_present) return;
            if (c == '\n') WriteByteDirect((byte)'\r');
            WriteByteDirect(c < 0x80 ? (byte)c : (byte)'?');
        }

        static void WriteByteDirect(byte b)
        {
            int limit = s_stalled ? StalledSpinLimit : DirectWriteSpinLimit;
            bool ready = TransmitReady;
            for (int i = 0; i < limit && !ready; i++)
            {
                Native.Pause();
                ready = TransmitReady;
            }
            s_stalled = !ready;
            Send(b);
        }

        /// <summary>Moves received bytes into <see cref="ConsoleInput"/> (interrupt handler and poller).</summary>
        public static bool Drain()
        {
            bool any = false;
            while (s_present && (Native.PortIn8(Com1 + LineStatus) & LineStatusDataReady) != 0)
            {
                ConsoleInput.Push((char)Native.PortIn8(Com1 + ReceiveBuffer));
                any = true;
            }
            return any;
        }
    }
}
