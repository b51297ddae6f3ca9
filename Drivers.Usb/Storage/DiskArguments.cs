namespace Drivers.Usb.Storage
{
    /// <summary>
    /// Numbers typed at the `disk` shell command (shared so the host tests cover them): decimal
    /// only, and a number too big for 64 bits is refused instead of wrapping around to a small
    /// LBA on the disk.
    /// </summary>
    public static class DiskArguments
    {
        /// <summary>Parses an unsigned decimal number; false on anything else or on overflow.</summary>
        public static bool ParseNumber(string text, out ulong value) => Platform.Format.TryParseDecimal(text, out value);
    }
}
