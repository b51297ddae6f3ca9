using System;
using Kernel.Hal;

namespace Kernel.Console
{
    /// <summary>
    /// COM2, a second 16550-compatible UART (PC16550D datasheet, section 8) used as a raw byte
    /// channel for binary output such as usbmon's pcap captures: no console, no line ends added.
    /// QEMU gives it a file with `-serial file:PATH` (the second -serial option) or
    /// `-chardev file,id=c,path=PATH -serial chardev:c`. Output is polled with a bounded wait for
    /// THRE per FIFO burst; <see cref="BytesWritten"/> counts every byte since boot, so a user can
    /// tell where in the file a capture starts.
    /// </summary>
    internal static class CaptureSerial
    {
        const ushort Com2 = 0x2F8;
        const ushort TransmitHolding = 0, InterruptEnable = 1, DivisorLow = 0, DivisorHigh = 1;
        const ushort FifoControl = 2, InterruptIdentification = 2, LineControl = 3, ModemControl = 4, LineStatus = 5, Scratch = 7;
        const byte LineControlDlab = 0x80, LineControl8N1 = 0x03;
        const byte FifoEnableClear14 = 0xC7;
        const byte ModemDtrRts = 0x03;
        const byte LineStatusTransmitEmpty = 0x20;
        const byte IirFifosEnabled = 0xC0;
        const int FifoDepth16550 = 16;
        const ushort Divisor115200 = 1;
        /// <summary>A missing UART reads back all ones.</summary>
        const byte Absent = 0xFF;
        /// <summary>Scratch register test pattern (section 8.10): a real UART returns what was written.</summary>
        const byte ScratchPattern = 0x5A;
        /// <summary>Line Status reads to wait for room before a burst; far longer than a FIFO's drain time at 115200 baud.</summary>
        const int TransmitSpinLimit = 10_000_000;
        /// <summary>Once the line stalled, later bursts wait only this long (no endless wait on a line nobody reads).</summary>
        const int StalledSpinLimit = 1000;

        static bool s_initialized, s_present, s_stalled;
        static int s_fifoDepth = 1;
        static ulong s_written;

        /// <summary>True when a UART answers at COM2 (QEMU creates it only for a second -serial option).</summary>
        public static bool Present
        {
            get
            {
                if (!s_initialized) Initialize();
                return s_present;
            }
        }

        /// <summary>Bytes written since boot: the offset in the host's file at which the next byte lands.</summary>
        public static ulong BytesWritten => s_written;

        static void Initialize()
        {
            s_initialized = true;
            Native.PortOut8(Com2 + Scratch, ScratchPattern);
            if (Native.PortIn8(Com2 + LineStatus) == Absent || Native.PortIn8(Com2 + Scratch) != ScratchPattern)
                return;
            Native.PortOut8(Com2 + InterruptEnable, 0);
            Native.PortOut8(Com2 + LineControl, LineControlDlab);
            Native.PortOut8(Com2 + DivisorLow, (byte)Divisor115200);
            Native.PortOut8(Com2 + DivisorHigh, (byte)(Divisor115200 >> 8));
            Native.PortOut8(Com2 + LineControl, LineControl8N1);
            Native.PortOut8(Com2 + FifoControl, FifoEnableClear14);
            Native.PortOut8(Com2 + ModemControl, ModemDtrRts);
            s_fifoDepth = (Native.PortIn8(Com2 + InterruptIdentification) & IirFifosEnabled) == IirFifosEnabled ? FifoDepth16550 : 1;
            s_present = true;
        }

        /// <summary>
        /// Writes the bytes in order. Returns false when the line stalled (nobody drains it) and
        /// bytes were lost; later writes then give up quickly until the line moves again.
        /// </summary>
        public static bool Write(ReadOnlySpan<byte> data)
        {
            if (!Present) return false;
            int i = 0;
            while (i < data.Length)
            {
                if (!WaitTransmitEmpty())
                {
                    s_stalled = true;
                    return false;
                }
                s_stalled = false;
                for (int burst = 0; burst < s_fifoDepth && i < data.Length; burst++, i++)
                {
                    Native.PortOut8(Com2 + TransmitHolding, data[i]);
                    s_written++;
                }
            }
            return true;
        }

        static bool WaitTransmitEmpty()
        {
            int limit = s_stalled ? StalledSpinLimit : TransmitSpinLimit;
            for (int spin = 0; spin < limit; spin++)
            {
                if ((Native.PortIn8(Com2 + LineStatus) & LineStatusTransmitEmpty) != 0)
                    return true;
                Native.Pause();
            }
            return false;
        }
    }
}
