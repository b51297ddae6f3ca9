using Platform.Boot;

namespace Kernel.Console
{
    /// <summary>
    /// The screen console so a real PC shows the log: VGA text mode (BIOS boot) or the linear
    /// framebuffer GRUB hands over (UEFI), drawn with an 8x16 bitmap font loaded as a boot module.
    /// </summary>
    internal static unsafe class Screen
    {
        const ulong VgaTextBuffer = 0xB8000;
        const int VgaColumns = 80, VgaRows = 25;
        const byte VgaLightGrey = 0x07;
        const int GlyphWidth = 8, GlyphHeight = 16, GlyphCount = 128;
        // Grey on black: equal channel values, so the framebuffer's channel order does not matter.
        const byte ForegroundLevel = 0xC0, BackgroundLevel = 0x00;

        enum Mode { None, VgaText, Framebuffer }

        static Mode s_mode;
        static int s_columns, s_rows, s_column, s_row;
        static FramebufferInfo s_fb;
        static byte* s_font;

        public static void InitializeVgaText()
        {
            s_mode = Mode.VgaText;
            s_columns = VgaColumns;
            s_rows = VgaRows;
            Clear();
        }

        static int s_bytesPerPixel;

        /// <summary>Uses a 24- or 32-bpp RGB framebuffer if a font is available.</summary>
        public static void InitializeFramebuffer(FramebufferInfo fb, byte* font, int fontLength)
        {
            if (fb.Type != FramebufferInfo.TypeRgb || (fb.Bpp != 32 && fb.Bpp != 24) || font == null || fontLength < GlyphCount * GlyphHeight)
                return;
            s_bytesPerPixel = fb.Bpp / 8;
            s_fb = fb;
            s_font = font;
            s_mode = Mode.Framebuffer;
            s_columns = (int)fb.Width / GlyphWidth;
            s_rows = (int)fb.Height / GlyphHeight;
            Clear();
        }

        public static bool IsActive => s_mode != Mode.None;

        static void Clear()
        {
            for (int r = 0; r < s_rows; r++)
                ClearRow(r);
            s_row = s_column = 0;
        }

        public static void Write(string text)
        {
            if (s_mode == Mode.None) return;
            for (int i = 0; i < text.Length; i++) Put(text[i]);
        }

        public static void Write(char c)
        {
            if (s_mode != Mode.None) Put(c);
        }

        static void Put(char c)
        {
            if (c == '\r') { s_column = 0; return; }
            if (c == '\n') { NewLine(); return; }
            if (c == '\b') { if (s_column > 0) { s_column--; Draw(s_row, s_column, ' '); } return; }
            if (s_column >= s_columns) NewLine();
            Draw(s_row, s_column, c);
            s_column++;
        }

        static void NewLine()
        {
            s_column = 0;
            if (++s_row < s_rows) return;
            Scroll();
            s_row = s_rows - 1;
        }

        static void Draw(int row, int column, char c)
        {
            if (c < ' ' || c >= GlyphCount) c = '?';
            if (s_mode == Mode.VgaText)
            {
                ((ushort*)VgaTextBuffer)[row * s_columns + column] = (ushort)(c | VgaLightGrey << 8);
                return;
            }
            byte* glyph = s_font + c * GlyphHeight;
            for (int y = 0; y < GlyphHeight; y++)
            {
                byte* pixel = (byte*)(s_fb.Address + (ulong)(row * GlyphHeight + y) * s_fb.Pitch) + column * GlyphWidth * s_bytesPerPixel;
                byte bits = glyph[y];
                for (int x = 0; x < GlyphWidth; x++)
                {
                    byte level = (bits & (0x80 >> x)) != 0 ? ForegroundLevel : BackgroundLevel;
                    for (int b = 0; b < s_bytesPerPixel; b++)
                        *pixel++ = level;
                }
            }
        }

        static void ClearRow(int row)
        {
            for (int column = 0; column < s_columns; column++) Draw(row, column, ' ');
        }

        static void Scroll()
        {
            if (s_mode == Mode.VgaText)
            {
                ushort* cells = (ushort*)VgaTextBuffer;
                for (int i = 0; i < (s_rows - 1) * s_columns; i++) cells[i] = cells[i + s_columns];
            }
            else
            {
                ulong rowBytes = (ulong)s_fb.Pitch * GlyphHeight;
                System.Buffer.Memmove((byte*)s_fb.Address, (byte*)(s_fb.Address + rowBytes), (nuint)(rowBytes * (ulong)(s_rows - 1)));
            }
            ClearRow(s_rows - 1);
        }
    }
}
