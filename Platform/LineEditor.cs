using System.Collections.Generic;
using System.Text;

namespace Platform
{
    /// <summary>What one character did to the line being edited.</summary>
    public enum LineEditorResult
    {
        /// <summary>Still editing.</summary>
        None,
        /// <summary>Enter: the line is complete (<see cref="LineEditor.Line"/>).</summary>
        Line,
        /// <summary>Ctrl-C at the prompt: the line was abandoned.</summary>
        Interrupt,
    }

    /// <summary>
    /// The shell's line editor, like a small readline: characters arrive one at a time from a
    /// serial terminal (VT100/xterm escape sequences for the editing keys) or from the USB
    /// keyboard (which sends the same sequences), and the editor keeps the line, the cursor and
    /// a history. Keys: Left/Right, Home/End (also Ctrl-A/Ctrl-E), Up/Down (history), Backspace
    /// (BS or DEL, as terminals send either), Delete (ESC [ 3 ~), Ctrl-U / Ctrl-K (erase before /
    /// after the cursor), Ctrl-C (abandon the line), Enter (CR, LF or CR LF).
    /// What the terminal must show is appended to an echo buffer using only printable
    /// characters, backspace (cursor one left, not erasing) and spaces, so the same echo works
    /// on a serial terminal and on the kernel's screen. The line must fit on one terminal row:
    /// backspace does not move up across a wrapped row.
    /// </summary>
    public sealed class LineEditor
    {
        // ASCII control characters (ECMA-48 C0 set) the editor acts on.
        const char CtrlA = (char)0x01, CtrlC = (char)0x03, CtrlE = (char)0x05, CtrlK = (char)0x0B, CtrlU = (char)0x15;
        const char Backspace = '\b', CarriageReturn = '\r', LineFeed = '\n', Escape = (char)0x1B, Delete = (char)0x7F;
        const char FirstPrintable = ' ', LastPrintable = '~';
        // ECMA-48 5.4: a control sequence is CSI (ESC [), parameter bytes 0x30..0x3F, intermediate
        // bytes 0x20..0x2F, one final byte 0x40..0x7E. SS3 (ESC O) is followed by one character
        // (xterm's "application cursor keys" mode sends ESC O A for Up).
        const char CsiIntroducer = '[', Ss3Introducer = 'O';
        const char FirstParameterByte = (char)0x30, LastParameterByte = (char)0x3F;
        const char FirstIntermediateByte = (char)0x20, LastIntermediateByte = (char)0x2F;
        const char FirstFinalByte = (char)0x40, LastFinalByte = (char)0x7E;
        // Final bytes (xterm ctlseqs "PC-Style Function Keys"): cursor keys, Home/End, and the
        // "CSI n ~" form, whose first parameter names the key (VT220 editing keypad).
        const char FinalUp = 'A', FinalDown = 'B', FinalRight = 'C', FinalLeft = 'D', FinalHome = 'H', FinalEnd = 'F', FinalTilde = '~';
        const int TildeHome = 1, TildeDelete = 3, TildeEnd = 4, TildeHomeRxvt = 7, TildeEndRxvt = 8;
        const int MaxParameterDigits = 4;

        enum InputState { Normal, Escape, ControlSequence, Ss3 }

        readonly int _maxLength;
        readonly int _historyDepth;
        // The line: _chars[0.._length) (Corlib's StringBuilder has no Insert/Remove).
        readonly char[] _chars;
        int _length;
        readonly List<string> _history = new List<string>();
        int _cursor;
        InputState _state;
        int _firstParameter;
        int _parameterDigits;
        bool _parameterEnded;
        bool _lastWasCarriageReturn;
        // While browsing the history: the entry shown (_history.Count = the line being typed) and
        // that line, kept so Down past the newest entry brings it back.
        int _historyIndex;
        string _pending = "";
        string _completed = "";

        public LineEditor(int maxLength, int historyDepth)
        {
            _maxLength = maxLength;
            _historyDepth = historyDepth;
            _chars = new char[maxLength];
        }

        /// <summary>The text being edited.</summary>
        public string Text => new string(_chars, 0, _length);

        /// <summary>Cursor position in <see cref="Text"/> (0 = before the first character).</summary>
        public int Cursor => _cursor;

        /// <summary>The line completed by the last <see cref="LineEditorResult.Line"/>.</summary>
        public string Line => _completed;

        /// <summary>Lines entered so far, oldest first (at most the history depth; empty lines and repeats are not kept).</summary>
        public int HistoryCount => _history.Count;

        public string HistoryEntry(int index) => _history[index];

        /// <summary>Starts a new, empty line (after the prompt was printed again by someone else).</summary>
        public void Reset()
        {
            _length = 0;
            _cursor = 0;
            _state = InputState.Normal;
            _historyIndex = _history.Count;
            _pending = "";
        }

        /// <summary>Handles one input character; appends what the terminal must show to <paramref name="echo"/>.</summary>
        public LineEditorResult Feed(char c, StringBuilder echo)
        {
            bool afterCarriageReturn = _lastWasCarriageReturn;
            _lastWasCarriageReturn = c == CarriageReturn;
            switch (_state)
            {
                case InputState.Escape:
                    if (c == CsiIntroducer) { StartSequence(InputState.ControlSequence); return LineEditorResult.None; }
                    if (c == Ss3Introducer) { StartSequence(InputState.Ss3); return LineEditorResult.None; }
                    _state = InputState.Normal;
                    // ESC then a control character (Escape key, then Enter): act on that character.
                    // ESC then a printable one is Alt+key (meta), which the shell does not use.
                    if (c >= FirstPrintable) return LineEditorResult.None;
                    break;
                case InputState.Ss3:
                    _state = InputState.Normal;
                    FinalByte(c, 0, echo);
                    return LineEditorResult.None;
                case InputState.ControlSequence:
                    if (c >= FirstParameterByte && c <= LastParameterByte)
                    {
                        if (c >= '0' && c <= '9' && !_parameterEnded && _parameterDigits < MaxParameterDigits)
                        {
                            _firstParameter = _firstParameter * 10 + (c - '0');
                            _parameterDigits++;
                        }
                        else
                            _parameterEnded = true;    // ';' or another parameter byte: only the first parameter names the key
                        return LineEditorResult.None;
                    }
                    if (c >= FirstIntermediateByte && c <= LastIntermediateByte) return LineEditorResult.None;
                    _state = InputState.Normal;
                    if (c >= FirstFinalByte && c <= LastFinalByte)
                    {
                        FinalByte(c, _firstParameter, echo);
                        return LineEditorResult.None;
                    }
                    break;    // a control character cancels the sequence (ECMA-48) and acts itself
            }

            if (c == CarriageReturn || c == LineFeed)
            {
                if (c == LineFeed && afterCarriageReturn) return LineEditorResult.None;    // CR LF is one Enter
                echo.Append(LineFeed);
                _completed = Text;
                Remember(_completed);
                Reset();
                return LineEditorResult.Line;
            }
            if (c == CtrlC)
            {
                echo.Append("^C").Append(LineFeed);
                _completed = "";
                Reset();
                return LineEditorResult.Interrupt;
            }
            if (c == Escape) _state = InputState.Escape;
            else if (c == Backspace || c == Delete) DeleteBefore(echo);
            else if (c == CtrlA) MoveTo(0, echo);
            else if (c == CtrlE) MoveTo(_length, echo);
            else if (c == CtrlU) EraseBefore(echo);
            else if (c == CtrlK) EraseAfter(echo);
            else if (c >= FirstPrintable && c <= LastPrintable) Insert(c, echo);
            return LineEditorResult.None;
        }

        void StartSequence(InputState state)
        {
            _state = state;
            _firstParameter = 0;
            _parameterDigits = 0;
            _parameterEnded = false;
        }

        void FinalByte(char final, int parameter, StringBuilder echo)
        {
            if (final == FinalLeft) MoveTo(_cursor - 1, echo);
            else if (final == FinalRight) MoveTo(_cursor + 1, echo);
            else if (final == FinalHome) MoveTo(0, echo);
            else if (final == FinalEnd) MoveTo(_length, echo);
            else if (final == FinalUp) Recall(_historyIndex - 1, echo);
            else if (final == FinalDown) Recall(_historyIndex + 1, echo);
            else if (final == FinalTilde)
            {
                if (parameter == TildeHome || parameter == TildeHomeRxvt) MoveTo(0, echo);
                else if (parameter == TildeEnd || parameter == TildeEndRxvt) MoveTo(_length, echo);
                else if (parameter == TildeDelete) DeleteAt(echo);
            }
        }

        void Insert(char c, StringBuilder echo)
        {
            if (_length >= _maxLength) return;
            for (int i = _length; i > _cursor; i--) _chars[i] = _chars[i - 1];
            _chars[_cursor] = c;
            _length++;
            _cursor++;
            echo.Append(c);
            RedrawTail(echo, 0);
        }

        void DeleteBefore(StringBuilder echo)
        {
            if (_cursor == 0) return;
            _cursor--;
            Remove(_cursor, 1);
            echo.Append(Backspace);
            RedrawTail(echo, 1);
        }

        void DeleteAt(StringBuilder echo)
        {
            if (_cursor == _length) return;
            Remove(_cursor, 1);
            RedrawTail(echo, 1);
        }

        void EraseBefore(StringBuilder echo)
        {
            int erased = _cursor;
            if (erased == 0) return;
            Back(echo, erased);
            Remove(0, erased);
            _cursor = 0;
            RedrawTail(echo, erased);
        }

        void EraseAfter(StringBuilder echo)
        {
            int erased = _length - _cursor;
            if (erased == 0) return;
            Remove(_cursor, erased);
            RedrawTail(echo, erased);
        }

        /// <summary>
        /// The terminal cursor is at <see cref="_cursor"/>: prints the text after it, blanks
        /// <paramref name="erased"/> stale cells beyond the new end, and moves back.
        /// </summary>
        void RedrawTail(StringBuilder echo, int erased)
        {
            int tail = _length - _cursor;
            for (int i = _cursor; i < _length; i++) echo.Append(_chars[i]);
            echo.Append(' ', erased);
            Back(echo, tail + erased);
        }

        void MoveTo(int position, StringBuilder echo)
        {
            if (position < 0 || position > _length) return;
            if (position < _cursor) Back(echo, _cursor - position);
            for (int i = _cursor; i < position; i++) echo.Append(_chars[i]);
            _cursor = position;
        }

        void Remove(int start, int count)
        {
            for (int i = start; i + count < _length; i++) _chars[i] = _chars[i + count];
            _length -= count;
        }

        static void Back(StringBuilder echo, int count) => echo.Append(Backspace, count);

        /// <summary>Shows history entry <paramref name="index"/> (<c>_history.Count</c> = the line being typed).</summary>
        void Recall(int index, StringBuilder echo)
        {
            if (index < 0 || index > _history.Count || index == _historyIndex) return;
            if (_historyIndex == _history.Count) _pending = Text;
            string text = index == _history.Count ? _pending : _history[index];
            _historyIndex = index;
            int oldLength = _length;
            Back(echo, _cursor);
            for (int i = 0; i < text.Length; i++) _chars[i] = text[i];
            _length = text.Length;
            _cursor = text.Length;
            echo.Append(text);
            if (oldLength > text.Length)
            {
                echo.Append(' ', oldLength - text.Length);
                Back(echo, oldLength - text.Length);
            }
        }

        void Remember(string line)
        {
            if (line.Trim().Length == 0) return;
            if (_history.Count > 0 && _history[_history.Count - 1] == line) return;
            if (_history.Count == _historyDepth) _history.RemoveAt(0);
            _history.Add(line);
        }
    }
}
