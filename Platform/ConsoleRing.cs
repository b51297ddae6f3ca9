namespace Platform
{
    /// <summary>
    /// The console's output queue: the bytes a UART is still to send, in order. Text goes in whole or
    /// not at all (<see cref="TryAppend"/>), so one log line is never split by another writer's line:
    /// whoever drains the queue sends the lines back to back. Bytes are stored as the serial line
    /// wants them: ASCII, '\n' as CR LF, anything else as '?'. Lines that could not be queued are
    /// counted, so the console can report "log: N lines dropped" once it has room again.
    /// Not synchronized: the kernel calls it with interrupts disabled (one CPU), tests under a lock.
    /// </summary>
    public sealed class ConsoleRing
    {
        const byte CarriageReturn = (byte)'\r';
        const byte LineFeed = (byte)'\n';
        const byte Unprintable = (byte)'?';
        const char FirstNonAscii = (char)0x80;

        readonly byte[] _bytes;
        int _head;   // index of the oldest byte
        int _count;  // bytes queued
        ulong _droppedLines, _reportedDrops;

        public ConsoleRing(int capacity)
        {
            _bytes = new byte[capacity];
        }

        public int Capacity => _bytes.Length;
        public int Count => _count;
        public int Free => _bytes.Length - _count;
        public bool IsEmpty => _count == 0;

        /// <summary>Lines dropped since boot (queue full and no way to wait for the UART).</summary>
        public ulong DroppedLines => _droppedLines;

        /// <summary>Lines dropped that no "log: N lines dropped" notice has reported yet.</summary>
        public ulong UnreportedDrops => _droppedLines - _reportedDrops;

        /// <summary>How many bytes <paramref name="text"/> takes in the queue ('\n' becomes two).</summary>
        public static int EncodedLength(string text)
        {
            int length = text.Length;
            for (int i = 0; i < text.Length; i++)
                if (text[i] == '\n') length++;
            return length;
        }

        /// <summary>Queues all of <paramref name="text"/>, or nothing (returns false) when it does not fit.</summary>
        public bool TryAppend(string text)
        {
            if (EncodedLength(text) > Free)
                return false;
            int tail = (_head + _count) % _bytes.Length;
            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                if (c == '\n')
                {
                    _bytes[tail] = CarriageReturn;
                    tail = (tail + 1) % _bytes.Length;
                }
                _bytes[tail] = c == '\n' ? LineFeed : c < FirstNonAscii ? (byte)c : Unprintable;
                tail = (tail + 1) % _bytes.Length;
            }
            _count += EncodedLength(text);
            return true;
        }

        /// <summary>Removes the oldest byte; false when the queue is empty.</summary>
        public bool TryTake(out byte value)
        {
            if (_count == 0)
            {
                value = 0;
                return false;
            }
            value = _bytes[_head];
            _head = (_head + 1) % _bytes.Length;
            _count--;
            return true;
        }

        /// <summary>Counts a line that had to be dropped.</summary>
        public void CountDroppedLine() => _droppedLines++;

        /// <summary>
        /// Queues <paramref name="notice"/> (made by <see cref="DropNotice"/> for <paramref name="lines"/>
        /// drops, built before the caller disabled interrupts) and marks those drops reported.
        /// Returns false, and keeps them unreported, when it does not fit.
        /// </summary>
        public bool TryAppendDropNotice(string notice, ulong lines)
        {
            if (lines == 0 || lines > UnreportedDrops || !TryAppend(notice))
                return false;
            _reportedDrops += lines;
            return true;
        }

        public static string DropNotice(ulong lines) => "log: " + Format.Decimal(lines) + " lines dropped";
    }
}
