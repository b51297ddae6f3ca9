namespace Drivers.Usb.Descriptors
{
    /// <summary>Why a descriptor was rejected. Parsers never read outside their input.</summary>
    public enum DescriptorError
    {
        None = 0,
        /// <summary>Fewer bytes than the fixed part of the descriptor.</summary>
        TooShort,
        /// <summary>bLength smaller than the descriptor's fixed size, or below 2 (would loop).</summary>
        BadLength,
        /// <summary>bDescriptorType is not what was asked for.</summary>
        WrongType,
        /// <summary>bLength or wTotalLength runs past the data received.</summary>
        Truncated,
        /// <summary>wTotalLength smaller than the header, or not the size the data says.</summary>
        BadTotalLength,
        /// <summary>bNumInterfaces / bNumEndpoints / bNumDescriptors / bNumDeviceCaps disagree with the content.</summary>
        CountMismatch,
        /// <summary>An endpoint or interface appears twice, or before its interface.</summary>
        Duplicate,
        /// <summary>A descriptor appears where it may not (endpoint before interface, endpoint 0 in an interface).</summary>
        Misplaced,
        /// <summary>A field holds a value the specification forbids.</summary>
        BadValue,
        /// <summary>More interfaces/alternate settings/endpoints than the core supports.</summary>
        TooMany,
        /// <summary>A hub reports more ports than its speed allows (Linux hub_configure: "hub has too many ports!").</summary>
        TooManyPorts,
    }

    /// <summary>A parse failure: what went wrong and at which byte offset.</summary>
    public struct DescriptorProblem
    {
        public DescriptorError Error;
        public int Offset;

        public DescriptorProblem(DescriptorError error, int offset)
        {
            Error = error;
            Offset = offset;
        }

        public bool IsOk => Error == DescriptorError.None;

        public static DescriptorProblem None => new DescriptorProblem(DescriptorError.None, 0);

        public string Describe()
        {
            if (Error == DescriptorError.None)
                return "ok";
            return DescriptorErrorNames.Name(Error) + " at offset " + Platform.Format.Decimal((long)Offset);
        }
    }

    public static class DescriptorErrorNames
    {
        public static string Name(DescriptorError error)
        {
            switch (error)
            {
                case DescriptorError.None: return "ok";
                case DescriptorError.TooShort: return "descriptor too short";
                case DescriptorError.BadLength: return "invalid bLength";
                case DescriptorError.WrongType: return "wrong bDescriptorType";
                case DescriptorError.Truncated: return "descriptor truncated";
                case DescriptorError.BadTotalLength: return "invalid wTotalLength";
                case DescriptorError.CountMismatch: return "count does not match content";
                case DescriptorError.Duplicate: return "duplicate descriptor";
                case DescriptorError.Misplaced: return "misplaced descriptor";
                case DescriptorError.BadValue: return "invalid field value";
                case DescriptorError.TooMany: return "too many entries";
                case DescriptorError.TooManyPorts: return "hub has too many ports";
                default: return "unknown descriptor error";
            }
        }
    }

    /// <summary>Little-endian field access within bounds the caller has checked.</summary>
    public static class Le
    {
        public static ushort U16(System.ReadOnlySpan<byte> data, int offset) =>
            (ushort)(data[offset] | (data[offset + 1] << 8));

        public static uint U32(System.ReadOnlySpan<byte> data, int offset) =>
            (uint)(data[offset] | (data[offset + 1] << 8) | (data[offset + 2] << 16) | (data[offset + 3] << 24));

        public static void Put16(System.Span<byte> data, int offset, ushort value)
        {
            data[offset] = (byte)value;
            data[offset + 1] = (byte)(value >> 8);
        }

        public static void Put32(System.Span<byte> data, int offset, uint value)
        {
            data[offset] = (byte)value;
            data[offset + 1] = (byte)(value >> 8);
            data[offset + 2] = (byte)(value >> 16);
            data[offset + 3] = (byte)(value >> 24);
        }

        public static byte[] ToArray(System.ReadOnlySpan<byte> data)
        {
            byte[] copy = new byte[data.Length];
            for (int i = 0; i < data.Length; i++)
                copy[i] = data[i];
            return copy;
        }

        public static int Min(int a, int b) => a < b ? a : b;
        public static int Max(int a, int b) => a > b ? a : b;
    }
}
