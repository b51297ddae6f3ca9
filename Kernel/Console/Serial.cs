using Kernel.Hal;

namespace Kernel.Console
{
    /// <summary>
    /// COM1, a 16550-compatible UART (PC16550D datasheet, register map in section 8). Output is
    /// polled (bounded); input arrives through IRQ 4 into a ring buffer, with polling as fallback.
    /// </summary>
    internal static class Serial
    {
        const ushort Com1 = 0x3F8;
        // Register offsets (DLAB=0 unless noted).
        const ushort ReceiveBuffer = 0, TransmitHolding = 0, InterruptEnable = 1, DivisorLow = 0, DivisorHigh = 1;
        const ushort FifoControl = 2, LineControl = 3, ModemControl = 4, LineStatus = 5;
        const byte LineControlDlab = 0x80, LineControl8N1 = 0x03;
        const byte FifoEnableClear14 = 0xC7;
        const byte ModemDtrRtsOut2 = 0x0B;
        const byte LineStatusDataReady = 0x01, LineStatusTransmitEmpty = 0x20;
        const byte InterruptEnableReceived = 0x01;
        const ushort Divisor115200 = 1;
        const int TransmitSpinLimit = 100000;

        public const int Irq = 4;

        static bool s_present;

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
        }

        public static void EnableReceiveInterrupt() => Native.PortOut8(Com1 + InterruptEnable, InterruptEnableReceived);

        public static void Write(char c)
        {
            if (!s_present) return;
            if (c == '\n') WriteByte((byte)'\r');
            WriteByte(c < 0x80 ? (byte)c : (byte)'?');
        }

        public static void Write(string s)
        {
            for (int i = 0; i < s.Length; i++) Write(s[i]);
        }

        static void WriteByte(byte b)
        {
            for (int i = 0; i < TransmitSpinLimit; i++)
            {
                if ((Native.PortIn8(Com1 + LineStatus) & LineStatusTransmitEmpty) != 0)
                    break;
                Native.Pause();
            }
            Native.PortOut8(Com1 + TransmitHolding, b);
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
