using System.Collections.Generic;
using System.Text;
using NUnit.Framework;
using Platform;

namespace Kernel.Tests
{
    /// <summary>
    /// Output arriving while a line is being edited at the prompt (a log line from another thread):
    /// on a terminal it must appear on its own line, followed by the prompt and the partly typed
    /// text redrawn with the cursor where it was, so typing goes on as if nothing happened.
    /// </summary>
    [TestFixture]
    public sealed class ConsoleInputLineTests
    {
        const string Prompt = "kernel> ";
        const string Left = "\x1b[D";

        /// <summary>A terminal with rows: printable characters overwrite, BS moves left, CR to column 0, LF to a new row.</summary>
        sealed class Terminal
        {
            public readonly List<string> Rows = new List<string> { "" };
            public int Column;

            public void Show(string bytes)
            {
                foreach (char c in bytes)
                {
                    if (c == '\b') { if (Column > 0) Column--; }
                    else if (c == '\r') Column = 0;
                    else if (c == '\n') { Rows.Add(""); Column = 0; }
                    else
                    {
                        Assert.That(c, Is.InRange(' ', '~'), "only printable characters, BS, CR and LF");
                        string row = Rows[Rows.Count - 1].PadRight(Column + 1);
                        Rows[Rows.Count - 1] = row.Substring(0, Column) + c + row.Substring(Column + 1);
                        Column++;
                    }
                }
            }

            public string Current => Rows[Rows.Count - 1].TrimEnd();
            public IEnumerable<string> Trimmed() { foreach (var r in Rows) yield return r.TrimEnd(); }
        }

        Terminal _terminal;
        LineEditor _editor;
        ConsoleInputLine _line;

        [SetUp]
        public void Create()
        {
            _terminal = new Terminal();
            _editor = new LineEditor(maxLength: 60, historyDepth: 4);
            _line = new ConsoleInputLine();
        }

        /// <summary>What the shell does: the prompt, then per key the echo and the new state, in one step.</summary>
        void Begin()
        {
            _terminal.Show(Prompt);
            _line.Begin(Prompt);
        }

        LineEditorResult Type(string keys)
        {
            var result = LineEditorResult.None;
            foreach (char c in keys)
            {
                var echo = new StringBuilder();
                result = _editor.Feed(c, echo);
                _terminal.Show(echo.ToString());
                if (result == LineEditorResult.None) _line.Update(Prompt, _editor.Text, _editor.Cursor);
                else _line.End();
            }
            return result;
        }

        /// <summary>Another thread logs: what the console writes for it.</summary>
        void Log(string text) => _terminal.Show(_line.Wrap(text));

        [Test]
        public void LogLineWhileEditing_GoesAboveAndThePromptRowIsRedrawnWithTheCursorInPlace()
        {
            _terminal.Show("[    1.000000] kernel: boot complete\n");
            Begin();
            Type("disk re" + Left + Left);
            Log("[    2.000000] usb 1-1: new full-speed USB device number 2 using uhci_hcd\n");

            Assert.That(_terminal.Trimmed(), Is.EqualTo(new[]
            {
                "[    1.000000] kernel: boot complete",
                "[    2.000000] usb 1-1: new full-speed USB device number 2 using uhci_hcd",
                "kernel> disk re",
            }), "the log line replaced the prompt row, which is drawn again below it");
            Assert.That(_terminal.Column, Is.EqualTo(Prompt.Length + 5), "the cursor is back before 're'");

            // Typing goes on where the cursor was; the row and the line agree.
            Assert.That(Type("a"), Is.EqualTo(LineEditorResult.None));
            Assert.That(_terminal.Current, Is.EqualTo("kernel> disk are"));
            Assert.That(_editor.Text, Is.EqualTo("disk are"));
            Assert.That(Type("\r"), Is.EqualTo(LineEditorResult.Line));
            Assert.That(_editor.Line, Is.EqualTo("disk are"));
            Assert.That(_line.Active, Is.False);
        }

        [Test]
        public void LogLineOverALongerRow_LeavesNoStaleCharacters()
        {
            Begin();
            Type("usbmon capture 1 30 tcp 5000");
            // A short log line: the blanks of the hide step wipe the longer prompt row first.
            Log("[ 3.0] x\n");
            Assert.That(_terminal.Rows[0].TrimEnd(), Is.EqualTo("[ 3.0] x"));
            Assert.That(_terminal.Current, Is.EqualTo("kernel> usbmon capture 1 30 tcp 5000"));
            Assert.That(_terminal.Column, Is.EqualTo(_terminal.Current.Length));
        }

        [Test]
        public void SeveralLinesAtOnce_AndTextWithoutLineEnd_EachGetTheirOwnRows()
        {
            Begin();
            Type("lsusb");
            Log("a\nb\n");
            Log("progress 50%");
            Assert.That(_terminal.Trimmed(), Is.EqualTo(new[] { "a", "b", "progress 50%", "kernel> lsusb" }));
            Assert.That(Type(" -t\r"), Is.EqualTo(LineEditorResult.Line));
            Assert.That(_editor.Line, Is.EqualTo("lsusb -t"));
        }

        [Test]
        public void IdlePrompt_IsRedrawnAfterTheLogLine()
        {
            Begin();
            Log("[ 9.0] input: keyboard 1-1:1.0 attached\n");
            Assert.That(_terminal.Trimmed(), Is.EqualTo(new[] { "[ 9.0] input: keyboard 1-1:1.0 attached", "kernel>" }));
            Assert.That(_terminal.Column, Is.EqualTo(Prompt.Length));
        }

        [Test]
        public void WhileACommandRuns_OutputIsWrittenAsItIs()
        {
            Begin();
            Type("help\r");
            Assert.That(_line.Wrap("  help   list commands\n"), Is.EqualTo("  help   list commands\n"));
            Assert.That(new ConsoleInputLine().Wrap("x"), Is.EqualTo("x"), "nothing is edited before the first prompt");
        }

        [Test]
        public void CtrlC_EndsTheLine()
        {
            Begin();
            Assert.That(Type("halt\x03"), Is.EqualTo(LineEditorResult.Interrupt));
            Assert.That(_line.Active, Is.False);
            Assert.That(_line.Wrap("log\n"), Is.EqualTo("log\n"));
        }
    }
}
