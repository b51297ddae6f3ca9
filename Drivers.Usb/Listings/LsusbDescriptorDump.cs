using System;
using System.Text;
using Platform;

namespace Drivers.Usb.Listings
{
    /// <summary>How usbutils' table-driven dumper renders one field (desc-defs.h enum desc_type).</summary>
    internal enum DescFieldKind
    {
        /// <summary>One byte decimal, wider values hex (DESC_NUMBER, DESC_CONSTANT).</summary>
        Number,
        /// <summary>A number and a fixed suffix (DESC_NUMBER_POSTFIX).</summary>
        NumberPostfix,
        /// <summary>A number and the name at its index (DESC_NUMBER_STRINGS).</summary>
        NumberStrings,
        /// <summary>Binary-coded decimal, most significant byte first (DESC_BCD).</summary>
        Bcd,
        /// <summary>Hex (DESC_BITMAP).</summary>
        Bitmap,
        /// <summary>Hex, then one line per named bit that is set (DESC_BITMAP_STRINGS).</summary>
        BitmapStrings,
        /// <summary>A string descriptor index and its text (DESC_STR_DESC_INDEX).</summary>
        StringIndex,
        /// <summary>A terminal type and its usb.ids "AT" name (DESC_TERMINAL_STR).</summary>
        TerminalName,
        /// <summary>Hex, then "&lt;name&gt; Control" per set bit (DESC_BMCONTROL_1).</summary>
        Controls,
        /// <summary>UAC1 wFormatTag with its format name (desc_snowflake_dump_uac1_as_interface_wformattag).</summary>
        FormatTag,
    }

    /// <summary>One field of a descriptor definition (usbutils desc-defs.h struct desc).</summary>
    internal sealed class DescField
    {
        public string Name;
        public int Size;
        public DescFieldKind Kind;
        /// <summary>Variable size: the value of this earlier field.</summary>
        public string SizeField;
        public bool Array;
        /// <summary>Array length from these fields (multiplied); none: inferred from the descriptor's length.</summary>
        public string LengthField1, LengthField2;
        /// <summary>The array length fields count bits (usbutils' rounding quirk applies).</summary>
        public bool Bits;
        public string[] Strings;
        public string Postfix;

        public DescField(string name, int size, DescFieldKind kind)
        {
            Name = name;
            Size = size;
            Kind = kind;
        }
    }

    /// <summary>
    /// A port of usbutils 014's desc_dump (desc-dump.c): renders a class-specific descriptor from
    /// a table of fields, with its column rules (names padded to 18 or the longest name, one-byte
    /// values "   %4u", wider ones hex, arrays as name(i)) and its warnings for short descriptors
    /// and junk at the end. Shared by the audio descriptors of <see cref="LsusbClassDescriptors"/>.
    /// </summary>
    internal static class LsusbDescriptorDump
    {
        const int MinimumFieldWidth = 18;
        const int ValueWidth = 4;
        const int SpacesPerIndent = 2;
        const int BitsPerByte = 8, BitInByteMask = 7;
        /// <summary>An inferred array length that cannot be resolved (usbutils returns 0xffffffff).</summary>
        const int Unresolvable = int.MaxValue;

        public static void Dump(StringBuilder sb, UsbDevice device, Names.UsbIds names, DescField[] desc, ReadOnlySpan<byte> buf, int indent)
        {
            int bufLength = buf.Length;
            int fieldWidth = MinimumFieldWidth;
            for (int f = 0; f < desc.Length; f++)
            {
                int needed = desc[f].Array ? IndexChars(EntryCount(buf, desc, desc[f])) : 0;
                if (desc[f].Name.Length + needed > fieldWidth)
                    fieldWidth = desc[f].Name.Length + needed;
            }

            int offset = 0;
            for (int f = 0; f < desc.Length; f++)
            {
                DescField field = desc[f];
                int entries = field.Array ? EntryCount(buf, desc, field) : 1;
                int size = EntrySize(buf, desc, field);
                for (int entry = 0; entry < entries; entry++)
                {
                    if (offset + size > bufLength)
                    {
                        Spaces(sb, (indent - 1) * SpacesPerIndent);
                        sb.Append("Warning: Length insufficient for descriptor type.\n");
                        for (int i = offset; i < bufLength; i++)
                            sb.Append(Format.Hex(buf[i], 2)).Append(' ');
                        sb.Append('\n');
                        return;
                    }
                    Spaces(sb, indent * SpacesPerIndent);
                    if (field.Array)
                    {
                        sb.Append(field.Name).Append('(').Append(Format.Decimal((ulong)entry)).Append(')');
                        Spaces(sb, fieldWidth - IndexChars(entries) - field.Name.Length);
                    }
                    else
                    {
                        sb.Append(Format.PadRight(field.Name, fieldWidth));
                    }
                    Value(sb, device, names, field, buf, offset, size, indent);
                    offset += size;
                }
            }
            if (offset < bufLength)
            {
                Spaces(sb, (indent - 1) * SpacesPerIndent);
                sb.Append("Warning: Junk at end of descriptor (" + Format.Decimal((ulong)(bufLength - offset)) + " bytes):\n");
                Spaces(sb, indent * SpacesPerIndent);
                for (int i = offset; i < bufLength; i++)
                    sb.Append(Format.Hex(buf[i], 2)).Append(' ');
                sb.Append('\n');
            }
        }

        static void Value(StringBuilder sb, UsbDevice device, Names.UsbIds names, DescField field, ReadOnlySpan<byte> buf, int offset, int size, int indent)
        {
            ulong value = Read(buf, offset, size);
            switch (field.Kind)
            {
                case DescFieldKind.Number:
                    NumberValue(sb, buf, offset, size);
                    sb.Append('\n');
                    break;
                case DescFieldKind.NumberPostfix:
                    NumberValue(sb, buf, offset, size);
                    sb.Append(field.Postfix).Append('\n');
                    break;
                case DescFieldKind.NumberStrings:
                    NumberValue(sb, buf, offset, size);
                    // usbutils walks the names up to the value and stops at the first missing one.
                    for (int i = 0; (ulong)i <= value && i < field.Strings.Length; i++)
                    {
                        if (field.Strings[i] == null) break;
                        if ((ulong)i == value) sb.Append(' ').Append(field.Strings[i]);
                    }
                    sb.Append('\n');
                    break;
                case DescFieldKind.Bcd:
                    sb.Append("  ").Append(Format.PadLeft(Format.Hex(buf[offset + size - 1]), 2, ' '));
                    for (int i = 1; i < size; i++)
                        sb.Append('.').Append(Format.Hex(buf[offset + size - 1 - i], 2));
                    sb.Append('\n');
                    break;
                case DescFieldKind.Bitmap:
                    HexValue(sb, value, size);
                    sb.Append('\n');
                    break;
                case DescFieldKind.BitmapStrings:
                    HexValue(sb, value, size);
                    sb.Append('\n');
                    for (int i = 0; i < field.Strings.Length; i++)
                    {
                        if (field.Strings[i] == null || ((value >> i) & 1) == 0) continue;
                        Spaces(sb, (indent + 1) * SpacesPerIndent);
                        sb.Append(field.Strings[i]).Append('\n');
                    }
                    break;
                case DescFieldKind.StringIndex:
                    NumberValue(sb, buf, offset, size);
                    sb.Append(' ').Append(LsusbClassDescriptors.StringOf(device, buf[offset])).Append('\n');
                    break;
                case DescFieldKind.TerminalName:
                    NumberValue(sb, buf, offset, size);
                    string terminal = names != null ? names.Tagged("AT", (int)value, 4) : null;
                    sb.Append(' ').Append(terminal ?? "(null)").Append('\n');    // printf of a NULL name
                    break;
                case DescFieldKind.Controls:
                    HexValue(sb, value, size);
                    sb.Append('\n');
                    for (int i = 0; i < field.Strings.Length; i++)
                    {
                        if (field.Strings[i].Length == 0 || ((value >> i) & 1) == 0) continue;
                        Spaces(sb, (indent + 1) * SpacesPerIndent);
                        sb.Append(field.Strings[i]).Append(" Control\n");
                    }
                    break;
                case DescFieldKind.FormatTag:
                    NumberValue(sb, buf, offset, size);
                    sb.Append(' ').Append(LsusbClassDescriptors.FormatTagName(value)).Append('\n');
                    break;
            }
        }

        /// <summary>number_renderer: one byte as "   %4u", more as hex.</summary>
        static void NumberValue(StringBuilder sb, ReadOnlySpan<byte> buf, int offset, int size)
        {
            if (size == 1)
                sb.Append("   ").Append(Format.PadLeft(Format.Decimal(buf[offset]), ValueWidth, ' '));
            else
                HexValue(sb, Read(buf, offset, size), size);
        }

        /// <summary>hex_renderer: " %*s0x%0*llx", right-aligned in four columns.</summary>
        static void HexValue(StringBuilder sb, ulong value, int size)
        {
            int digits = size * 2;
            sb.Append(' ');
            Spaces(sb, ValueWidth >= digits ? ValueWidth - digits : 0);
            sb.Append("0x").Append(Format.Hex(value, digits));
        }

        static ulong Read(ReadOnlySpan<byte> buf, int offset, int size)
        {
            ulong value = 0;
            for (int i = size - 1; i >= 0; i--)
                value = (value << BitsPerByte) | (offset + i < buf.Length ? buf[offset + i] : (byte)0);
            return value;
        }

        /// <summary>get_entry_size: the field's size, or the value of its size field (found by walking single-entry offsets, as usbutils does).</summary>
        static int EntrySize(ReadOnlySpan<byte> buf, DescField[] desc, DescField entry)
        {
            if (entry.SizeField == null)
                return entry.Size;
            int value = FieldValue(buf, desc, entry.SizeField);
            return value > 0 ? value : 1;
        }

        static int FieldValue(ReadOnlySpan<byte> buf, DescField[] desc, string name)
        {
            int offset = 0;
            for (int f = 0; f < desc.Length; f++)
            {
                if (desc[f].Name == name)
                    return offset + desc[f].Size <= buf.Length ? (int)Read(buf, offset, desc[f].Size) : 0;
                offset += EntrySize(buf, desc, desc[f]);
            }
            return 0;
        }

        /// <summary>get_array_entry_count: from the length fields, or inferred from what the other fields leave.</summary>
        static int EntryCount(ReadOnlySpan<byte> buf, DescField[] desc, DescField array)
        {
            if (array.LengthField1 != null)
            {
                int entries = FieldValue(buf, desc, array.LengthField1);
                if (array.LengthField2 != null)
                    entries *= FieldValue(buf, desc, array.LengthField2);
                if (array.Bits)
                    entries = (entries / BitsPerByte) + (entries & BitInByteMask) != 0 ? 1 : 0;    // usbutils' precedence, kept
                return entries;
            }
            int size = buf.Length;
            for (int f = 0; f < desc.Length; f++)
            {
                if (desc[f] == array) continue;
                if (desc[f].Array)
                {
                    if (desc[f].LengthField1 == null) return Unresolvable;
                    size -= EntrySize(buf, desc, desc[f]) * EntryCount(buf, desc, desc[f]);
                }
                else
                    size -= EntrySize(buf, desc, desc[f]);
            }
            // usbutils computes this unsigned: a negative remainder becomes a huge count, cut short by "Length insufficient".
            return size < 0 ? Unresolvable : size / EntrySize(buf, desc, array);
        }

        static int IndexChars(int entries) => entries > 100 ? 5 : entries > 10 ? 4 : 3;

        static void Spaces(StringBuilder sb, int count)
        {
            if (count > 0) sb.Append(' ', count);
        }
    }
}
