using System.Text;
using NUnit.Framework;
using Platform;

namespace Kernel.Tests
{
    /// <summary>
    /// The shell's line editor: editing keys as a VT100/xterm terminal (and the kernel's USB keyboard
    /// translation) send them, history, Ctrl-C, and that the echo makes a terminal show exactly the line.
    /// </summary>
    [TestFixture]
    public sealed class LineEditorTests
    {
        const string Up = "\x1b[A", Down = "\x1b[B", Right = "\x1b[C", Left = "\x1b[D";
        const string Home = "\x1b[H", End = "\x1b[F", Delete = "\x1b[3~";

        /// <summary>A one-row terminal: printable characters overwrite, BS moves left without erasing, CR goes to column 0.</summary>
        sealed class Terminal
        {
            readonly StringBuilder _row = new StringBuilder();
            public int Column;
            public int Lines;

            public void Show(string echo)
            {
                foreach (char c in echo)
                {
                    if (c == '\b') { if (Column > 0) Column--; }
                    else if (c == '\r') Column = 0;
                    else if (c == '\n') { Lines++; _row.Clear(); Column = 0; }
                    else
                    {
                        Assert.That(c, Is.InRange(' ', '~'), "the echo holds only printable characters, BS, CR and LF");
                        while (_row.Length <= Column) _row.Append(' ');
                        _row[Column++] = c;
                    }
                }
            }

            public string Row => _row.ToString().TrimEnd();
        }

        Terminal _terminal;
        LineEditor _editor;

        [SetUp]
        public void Create()
        {
            _editor = new LineEditor(maxLength: 40, historyDepth: 4);
            _terminal = new Terminal();
        }

        LineEditorResult Type(string keys)
        {
            var result = LineEditorResult.None;
            foreach (char c in keys)
            {
                var echo = new StringBuilder();
                var r = _editor.Feed(c, echo);
                _terminal.Show(echo.ToString());
                if (r != LineEditorResult.None) result = r;
            }
            return result;
        }

        void AssertShows(string text, int cursor)
        {
            Assert.That(_editor.Text, Is.EqualTo(text));
            Assert.That(_editor.Cursor, Is.EqualTo(cursor));
            Assert.That(_terminal.Row, Is.EqualTo(text), "the terminal shows the line");
            Assert.That(_terminal.Column, Is.EqualTo(cursor), "the terminal cursor is where the editor's is");
        }

        [Test]
        public void PlainTyping_EnterCompletesTheLine()
        {
            Assert.That(Type("lsusb -t"), Is.EqualTo(LineEditorResult.None));
            AssertShows("lsusb -t", 8);
            Assert.That(Type("\r"), Is.EqualTo(LineEditorResult.Line));
            Assert.That(_editor.Line, Is.EqualTo("lsusb -t"));
            Assert.That(_editor.Text, Is.Empty);
            Assert.That(_terminal.Lines, Is.EqualTo(1));
        }

        [Test]
        public void CrLf_IsOneEnter_LfAloneIsEnterToo()
        {
            Type("a\r\n");
            Assert.That(_terminal.Lines, Is.EqualTo(1), "LF right after CR is part of the same Enter");
            Assert.That(Type("b\n"), Is.EqualTo(LineEditorResult.Line));
            Assert.That(_editor.Line, Is.EqualTo("b"));
            Assert.That(Type("\n"), Is.EqualTo(LineEditorResult.Line), "an empty line is still a line");
            Assert.That(_editor.Line, Is.Empty);
        }

        [Test]
        public void LeftRight_InsertInTheMiddle()
        {
            Type("hlp" + Left + Left);
            AssertShows("hlp", 1);
            Type("e");
            AssertShows("help", 2);
            Type(Right + Right + Right);    // the third Right is at the end: nothing happens
            AssertShows("help", 4);
        }

        [Test]
        public void HomeEnd_AllSpellings()
        {
            foreach (string home in new[] { Home, "\x1bOH", "\x1b[1~", "\x1b[7~", "\x01" })
            {
                Create();
                Type("abc" + home);
                AssertShows("abc", 0);
            }
            foreach (string end in new[] { End, "\x1bOF", "\x1b[4~", "\x1b[8~", "\x05" })
            {
                Create();
                Type("abc" + Home + end);
                AssertShows("abc", 3);
            }
        }

        [Test]
        public void Backspace_BsAndDel_InTheMiddleAndAtTheStart()
        {
            Type("disk bench" + Left + Left + Left + Left + Left + "\b");
            AssertShows("diskbench", 4);
            Type("\x7f\x7f");
            AssertShows("dibench", 2);
            Type(Home + "\b");
            AssertShows("dibench", 0);
        }

        [Test]
        public void Delete_RemovesUnderTheCursor()
        {
            Type("abcd" + Home + Delete);
            AssertShows("bcd", 0);
            Type(End + Delete);
            AssertShows("bcd", 3);
        }

        [Test]
        public void CtrlU_CtrlK_EraseBeforeAndAfter()
        {
            Type("one two three" + Left + Left + Left + Left + Left + Left + "\x0b");
            AssertShows("one two", 7);
            Type(Left + Left + Left + Left + "\x15");
            AssertShows(" two", 0);
        }

        [Test]
        public void History_UpDown_RestoresThePendingLine()
        {
            Type("first\r");
            Type("second\r");
            Type("second\r");    // a repeat is kept once
            Type("  \r");        // blank lines are not kept
            Assert.That(_editor.HistoryCount, Is.EqualTo(2));
            Type("draft");
            Type(Up);
            AssertShows("second", 6);
            Type(Up);
            AssertShows("first", 5);
            Type(Up);            // oldest: stays
            AssertShows("first", 5);
            Type(Down + Down);
            AssertShows("draft", 5);
            Type(Down);          // newest: stays
            AssertShows("draft", 5);
            Type(Up + Up + Home + "x");
            AssertShows("xfirst", 1);
            Assert.That(Type("\r"), Is.EqualTo(LineEditorResult.Line));
            Assert.That(_editor.Line, Is.EqualTo("xfirst"));
            Assert.That(_editor.HistoryEntry(_editor.HistoryCount - 1), Is.EqualTo("xfirst"));
            Assert.That(_editor.HistoryEntry(0), Is.EqualTo("first"), "recalling and editing does not change the stored entry");
        }

        [Test]
        public void History_DepthIsBounded()
        {
            for (int i = 0; i < 10; i++) Type("cmd" + i + "\r");
            Assert.That(_editor.HistoryCount, Is.EqualTo(4));
            Assert.That(_editor.HistoryEntry(0), Is.EqualTo("cmd6"));
            Type(Up + Up + Up + Up + Up);
            AssertShows("cmd6", 4);
        }

        [Test]
        public void ApplicationCursorKeys_AndModifiedKeys()
        {
            Type("abc\x1bOD\x1bOD");
            AssertShows("abc", 1);
            Type("\x1b[1;5C");    // Ctrl-Right: treated as Right
            AssertShows("abc", 2);
        }

        [Test]
        public void UnknownSequences_AndAltKeys_AreIgnored()
        {
            Type("ab\x1b[5~\x1b[24~\x1b[?1;2c\x1bxc");
            AssertShows("abc", 3);
        }

        [Test]
        public void EscapeThenEnter_StillEnters()
        {
            Type("ls\x1b");
            Assert.That(Type("\r"), Is.EqualTo(LineEditorResult.Line));
            Assert.That(_editor.Line, Is.EqualTo("ls"));
        }

        [Test]
        public void CtrlC_AbandonsTheLine()
        {
            Type("disk bench usb0");
            Assert.That(Type("\x03"), Is.EqualTo(LineEditorResult.Interrupt));
            Assert.That(_editor.Text, Is.Empty);
            Assert.That(_editor.HistoryCount, Is.Zero);
            Assert.That(_terminal.Lines, Is.EqualTo(1), "^C ends the terminal line");
        }

        [Test]
        public void MaxLength_IsEnforced_ControlCharactersAreNotInserted()
        {
            Type(new string('x', 50) + "\t\x07");
            Assert.That(_editor.Text.Length, Is.EqualTo(40));
            Type(Home + "y");
            Assert.That(_editor.Text, Is.EqualTo(new string('x', 40)), "a full line takes no insertion either");
        }

        [Test]
        public void ProgressLine_OverwritesAndBlanksTheRest()
        {
            var progress = new ProgressLine();
            var terminal = new Terminal();
            terminal.Show(progress.Update("read 10 MiB of 100"));
            Assert.That(terminal.Row, Is.EqualTo("read 10 MiB of 100"));
            string shorter = progress.Update("read 9");
            Assert.That(shorter, Does.StartWith("\r"));
            terminal.Show(shorter);
            Assert.That(terminal.Row, Is.EqualTo("read 9"));
            terminal.Show(progress.Finish("done"));
            Assert.That(terminal.Lines, Is.EqualTo(1));
            Assert.That(progress.Finish("next"), Is.EqualTo("next\n"), "a finish without updates is a plain line");
        }
    }
}
