using System;

namespace Platform.Acpi
{
    /// <summary>
    /// Reading the tables firmware leaves in memory (ACPI, the MultiProcessor table): signatures,
    /// the byte checksums both specs use (all bytes sum to 0), printable OEM strings, little-endian
    /// fields. Bounds are the caller's: each parser checks lengths before it reads.
    /// </summary>
    internal static class FirmwareBytes
    {
        public static bool HasSignature(ReadOnlySpan<byte> bytes, string signature)
        {
            if (bytes.Length < signature.Length)
                return false;
            for (int i = 0; i < signature.Length; i++)
                if (bytes[i] != (byte)signature[i])
                    return false;
            return true;
        }

        /// <summary>The 8-bit sum of the bytes: 0 for a table whose checksum is right.</summary>
        public static byte Sum(ReadOnlySpan<byte> bytes)
        {
            byte sum = 0;
            for (int i = 0; i < bytes.Length; i++)
                sum += bytes[i];
            return sum;
        }

        /// <summary>An OEM or signature field as text: unprintable bytes become '?', padding is trimmed.</summary>
        public static string Ascii(ReadOnlySpan<byte> bytes)
        {
            var chars = new char[bytes.Length];
            for (int i = 0; i < bytes.Length; i++)
                chars[i] = bytes[i] >= 0x20 && bytes[i] < 0x7F ? (char)bytes[i] : '?';
            return new string(chars).Trim();
        }

        public static uint Le32(ReadOnlySpan<byte> b, int o) => (uint)(b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24);
        public static ulong Le64(ReadOnlySpan<byte> b, int o) => Le32(b, o) | (ulong)Le32(b, o + 4) << 32;
    }
}
