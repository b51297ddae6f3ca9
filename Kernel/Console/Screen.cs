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
        const int FramebufferScrollFraction = 4;
        const int MaxBytesPerPixel = 4;

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
            // Backspace moves left without erasing, as on a VT100: the line editor overwrites itself.
            if (c == '\b') { if (s_column > 0) s_column--; return; }
            if (s_column >= s_columns) NewLine();
            Draw(s_row, s_column, c);
            s_column++;
        }

        static void NewLine()
        {
            s_column = 0;
            if (++s_row < s_rows) return;
            int rows = ScrollStep;
            Scroll(rows);
            s_row = s_rows - rows;
        }

        /// <summary>
        /// Rows to scroll at the bottom: one in text mode; a quarter screen on the framebuffer, where
        /// each scroll moves the whole picture (1.4 MB at 800x600x24) while interrupts are disabled,
        /// so scrolling line by line would cost a full copy per log line.
        /// </summary>
        static int ScrollStep
        {
            get
            {
                if (s_mode != Mode.Framebuffer) return 1;
                int step = s_rows / FramebufferScrollFraction;
                return step < 1 ? 1 : step;
            }
        }

        static void Draw(int row, int column, char c)
        {
            if (c < ' ' || c >= GlyphCount) c = '?';
            if (s_mode == Mode.VgaText)
            {
                ((ushort*)VgaTextBuffer)[row * s_columns + column] = (ushort)(c | VgaLightGrey << 8);
                return;
            }
            // One glyph row is 24 or 32 bytes: build it on the stack, then store it 8 bytes at a time
            // (a byte at a time costs about 0.5 ms per log line under QEMU, with interrupts disabled).
            byte* glyph = s_font + c * GlyphHeight;
            int rowBytes = GlyphWidth * s_bytesPerPixel;
            ulong* line = stackalloc ulong[GlyphWidth * MaxBytesPerPixel / sizeof(ulong)];
            for (int y = 0; y < GlyphHeight; y++)
            {
                byte bits = glyph[y];
                byte* bytes = (byte*)line;
                for (int x = 0; x < GlyphWidth; x++)
                {
                    byte level = (bits & (0x80 >> x)) != 0 ? ForegroundLevel : BackgroundLevel;
                    for (int b = 0; b < s_bytesPerPixel; b++)
                        *bytes++ = level;
                }
                ulong* pixel = (ulong*)((byte*)(s_fb.Address + (ulong)(row * GlyphHeight + y) * s_fb.Pitch) + column * rowBytes);
                for (int q = 0; q < rowBytes / sizeof(ulong); q++)
                    pixel[q] = line[q];
            }
        }

        static void ClearRow(int row)
        {
            for (int column = 0; column < s_columns; column++) Draw(row, column, ' ');
        }

        /// <summary>Moves the picture up by <paramref name="rows"/> text rows and clears the rows freed at the bottom.</summary>
        static void Scroll(int rows)
        {
            if (s_mode == Mode.VgaText)
            {
                ushort* cells = (ushort*)VgaTextBuffer;
                for (int i = 0; i < (s_rows - rows) * s_columns; i++) cells[i] = cells[i + rows * s_columns];
            }
            else
            {
                ulong rowBytes = (ulong)s_fb.Pitch * GlyphHeight;
                System.Buffer.Memmove((byte*)s_fb.Address, (byte*)(s_fb.Address + rowBytes * (ulong)rows), (nuint)(rowBytes * (ulong)(s_rows - rows)));
            }
            for (int r = s_rows - rows; r < s_rows; r++)
                ClearRow(r);
        }
    }
}
