using System.Collections.Generic;

namespace Platform
{
    /// <summary>Splits a shell line into words (spaces and tabs separate; "double quotes" group).</summary>
    public static class CommandLine
    {
        public static List<string> Split(string line)
        {
            var words = new List<string>();
            var current = new System.Text.StringBuilder();
            bool quoted = false, inWord = false;
            for (int i = 0; i < line.Length; i++)
            {
                char c = line[i];
                if (c == '"')
                {
                    quoted = !quoted;
                    inWord = true;
                    continue;
                }
                if (!quoted && (c == ' ' || c == '\t'))
                {
                    if (inWord) words.Add(current.ToString());
                    current.Clear();
                    inWord = false;
                    continue;
                }
                current.Append(c);
                inWord = true;
            }
            if (inWord) words.Add(current.ToString());
            return words;
        }
    }
}
