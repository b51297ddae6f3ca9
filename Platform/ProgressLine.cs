namespace Platform
{
    /// <summary>
    /// Progress of long work on one terminal line that updates in place: every update returns to
    /// the start of the line (CR) and overwrites the previous text, blanking what a longer earlier
    /// text left behind; <see cref="Finish"/> ends the line. Only CR, spaces and printable text,
    /// so it works on a serial terminal and on the kernel's screen.
    /// </summary>
    public sealed class ProgressLine
    {
        const string CarriageReturn = "\r";
        int _shown;

        /// <summary>What to write to replace the line with <paramref name="text"/>.</summary>
        public string Update(string text)
        {
            string output = CarriageReturn + text + Blanks(_shown - text.Length);
            _shown = text.Length;
            return output;
        }

        /// <summary>What to write to replace the line with <paramref name="text"/> and end it (no further updates).</summary>
        public string Finish(string text)
        {
            string output = (_shown == 0 ? "" : CarriageReturn) + text + Blanks(_shown - text.Length) + "\n";
            _shown = 0;
            return output;
        }

        static string Blanks(int count) => count > 0 ? new string(' ', count) : "";
    }
}
