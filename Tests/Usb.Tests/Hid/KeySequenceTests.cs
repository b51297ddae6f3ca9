using System.Text;
using Drivers.Usb.Hid;
using NUnit.Framework;
using Platform;

namespace Usb.Tests.Hid
{
    /// <summary>USB keyboard editing keys become the VT100/xterm sequences the shell's line editor understands.</summary>
    [TestFixture]
    public sealed class KeySequenceTests
    {
        [Test]
        public void NavigationKeys_SendXtermSequences()
        {
            Assert.That(KeySequences.For(HidKey.UpArrow, 0), Is.EqualTo("\x1b[A"));
            Assert.That(KeySequences.For(HidKey.DownArrow, 0), Is.EqualTo("\x1b[B"));
            Assert.That(KeySequences.For(HidKey.RightArrow, 0), Is.EqualTo("\x1b[C"));
            Assert.That(KeySequences.For(HidKey.LeftArrow, 0), Is.EqualTo("\x1b[D"));
            Assert.That(KeySequences.For(HidKey.Home, 0), Is.EqualTo("\x1b[H"));
            Assert.That(KeySequences.For(HidKey.End, 0), Is.EqualTo("\x1b[F"));
            Assert.That(KeySequences.For(HidKey.Delete, HidLocks.NumLock), Is.EqualTo("\x1b[3~"));
            Assert.That(KeySequences.For(HidKey.A, 0), Is.Null, "letters type characters");
            Assert.That(KeySequences.For(HidKey.Backspace, 0), Is.Null, "Backspace types BS");
        }

        [Test]
        public void KeypadDigits_AreNavigationKeysWithoutNumLock()
        {
            Assert.That(KeySequences.For(HidKey.Keypad8, 0), Is.EqualTo(KeySequences.Up));
            Assert.That(KeySequences.For(HidKey.Keypad7, 0), Is.EqualTo(KeySequences.Home));
            Assert.That(KeySequences.For(HidKey.KeypadDot, 0), Is.EqualTo(KeySequences.Delete));
            Assert.That(KeySequences.For(HidKey.Keypad8, HidLocks.NumLock), Is.Null);
            Assert.That(UsKeymap.Translate(HidKey.Keypad8, 0, HidLocks.NumLock), Is.EqualTo('8'));
        }

        /// <summary>What the kernel's HidInput pushes for a key: the sequence, else the character.</summary>
        static string Typed(int usage, int modifiers = 0, int locks = 0) =>
            KeySequences.For(usage, locks) ?? UsKeymap.Translate(usage, modifiers, locks).ToString();

        [Test]
        public void KeyboardKeys_DriveTheLineEditor()
        {
            var editor = new LineEditor(64, 8);
            var echo = new StringBuilder();
            void Press(int usage, int modifiers = 0)
            {
                foreach (char c in Typed(usage, modifiers)) editor.Feed(c, echo);
            }
            // "hlp", Left Left, "e", End, Enter → "help"; Up recalls it; Home, Delete; Ctrl-C abandons.
            Press(HidKey.A + ('h' - 'a'));
            Press(HidKey.A + ('l' - 'a'));
            Press(HidKey.A + ('p' - 'a'));
            Press(HidKey.LeftArrow);
            Press(HidKey.LeftArrow);
            Press(HidKey.A + ('e' - 'a'));
            Assert.That(editor.Text, Is.EqualTo("help"));
            Assert.That(editor.Cursor, Is.EqualTo(2));
            Press(HidKey.End);
            Assert.That(editor.Cursor, Is.EqualTo(4));
            foreach (char c in Typed(HidKey.Enter)) Assert.That(editor.Feed(c, echo), Is.EqualTo(LineEditorResult.Line));
            Assert.That(editor.Line, Is.EqualTo("help"));
            Press(HidKey.UpArrow);
            Assert.That(editor.Text, Is.EqualTo("help"));
            Press(HidKey.Home);
            Press(HidKey.Delete);
            Assert.That(editor.Text, Is.EqualTo("elp"));
            Press(HidKey.Backspace);
            Assert.That(editor.Text, Is.EqualTo("elp"), "Backspace at the start does nothing");
            LineEditorResult last = LineEditorResult.None;
            foreach (char c in Typed(HidKey.A + ('c' - 'a'), HidModifiers.LeftControl)) last = editor.Feed(c, echo);
            Assert.That(last, Is.EqualTo(LineEditorResult.Interrupt));
        }
    }
}
