using System.Text;

namespace Platform
{
    /// <summary>
    /// What the console shows of the line being edited at the prompt, so that output arriving
    /// meanwhile (a log line from another thread or an interrupt handler) does not break it:
    /// the output is wrapped to first wipe the prompt row, then print itself on its own line(s),
    /// then draw the prompt and the partly typed text again with the cursor where it was
    /// (linenoise's hide/show; what readline does for a message printed over the prompt).
    ///
    /// The shell reports every change (<see cref="Begin"/>, <see cref="Update"/>,
    /// <see cref="End"/>) in the same atomic console step that writes its echo, so the view and
    /// the terminal never disagree. Only printable characters, CR, LF, BS and spaces are
    /// written, so the same bytes work on a serial terminal and on the kernel's screen; like the
    /// line editor it assumes the prompt and the line fit on one terminal row.
    /// </summary>
    public sealed class ConsoleInputLine
    {
        const char CarriageReturn = '\r', LineFeed = '\n', Backspace = '\b';

        string _shown = "";
        int _cursorBack;

        /// <summary>True between the prompt and the end of the line (Enter or Ctrl-C).</summary>
        public bool Active { get; private set; }

        /// <summary>The prompt row as the terminal shows it (prompt and text).</summary>
        public string Shown => _shown;

        /// <summary>Columns between the end of <see cref="Shown"/> and the cursor.</summary>
        public int CursorBack => _cursorBack;

        /// <summary>The prompt was printed: editing starts on an empty line.</summary>
        public void Begin(string prompt)
        {
            Active = true;
            _shown = prompt;
            _cursorBack = 0;
        }

        /// <summary>The row now shows <paramref name="prompt"/> + <paramref name="text"/> with the cursor at <paramref name="cursor"/> in the text.</summary>
        public void Update(string prompt, string text, int cursor)
        {
            _shown = prompt + text;
            _cursorBack = text.Length - cursor;
            if (_cursorBack < 0) _cursorBack = 0;
        }

        /// <summary>The line ended (its echo ended the row): output is written as it is again.</summary>
        public void End()
        {
            Active = false;
            _shown = "";
            _cursorBack = 0;
        }

        /// <summary>
        /// The bytes to write for <paramref name="output"/>: the output itself when no line is being
        /// edited; otherwise CR, blanks over the prompt row, CR, the output (ended with a line feed
        /// if it had none, so the prompt gets its own row), the prompt row again and backspaces to
        /// the cursor.
        /// </summary>
        public string Wrap(string output)
        {
            if (!Active || output.Length == 0)
                return output;
            var sb = new StringBuilder();
            sb.Append(CarriageReturn);
            sb.Append(' ', _shown.Length);
            sb.Append(CarriageReturn);
            sb.Append(output);
            if (output[output.Length - 1] != LineFeed)
                sb.Append(LineFeed);
            sb.Append(_shown);
            sb.Append(Backspace, _cursorBack);
            return sb.ToString();
        }
    }
}
