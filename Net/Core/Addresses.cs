using Platform;

namespace Net
{
    /// <summary>An IPv4 address; <see cref="Value"/> holds a.b.c.d as (a &lt;&lt; 24) | ... | d.</summary>
    public struct Ip4Address
    {
        public uint Value;

        public Ip4Address(uint value) { Value = value; }
        public Ip4Address(byte a, byte b, byte c, byte d) { Value = ((uint)a << 24) | ((uint)b << 16) | ((uint)c << 8) | d; }

        public static readonly Ip4Address Any = new Ip4Address(0);
        public static readonly Ip4Address Broadcast = new Ip4Address(0xFFFFFFFF);

        public bool IsAny => Value == 0;
        public bool IsBroadcast => Value == 0xFFFFFFFF;
        public bool IsMulticast => (Value >> 28) == 0xE;

        public static bool operator ==(Ip4Address a, Ip4Address b) => a.Value == b.Value;
        public static bool operator !=(Ip4Address a, Ip4Address b) => a.Value != b.Value;
        public override bool Equals(object o) => o is Ip4Address other && other.Value == Value;
        public override int GetHashCode() => (int)Value;

        public static Ip4Address Read(byte[] b, int o) => new Ip4Address(Bytes.Read32(b, o));
        public void Write(byte[] b, int o) => Bytes.Write32(b, o, Value);

        public override string ToString() =>
            Format.Decimal(Value >> 24) + "." + Format.Decimal((Value >> 16) & 0xFF) + "." +
            Format.Decimal((Value >> 8) & 0xFF) + "." + Format.Decimal(Value & 0xFF);

        /// <summary>Parses dotted-quad text ("10.0.2.2"); false on anything else.</summary>
        public static bool TryParse(string text, out Ip4Address address)
        {
            address = Any;
            if (text == null) return false;
            uint value = 0;
            int part = 0, digits = 0;
            uint current = 0;
            for (int i = 0; i <= text.Length; i++)
            {
                char c = i < text.Length ? text[i] : '.';
                if (c >= '0' && c <= '9')
                {
                    current = current * 10 + (uint)(c - '0');
                    if (++digits > 3 || current > 255) return false;
                }
                else if (c == '.')
                {
                    if (digits == 0 || part == 4) return false;
                    value = (value << 8) | current;
                    part++;
                    current = 0;
                    digits = 0;
                }
                else return false;
            }
            if (part != 4) return false;
            address = new Ip4Address(value);
            return true;
        }

        /// <summary>True when both addresses lie in the same subnet.</summary>
        public bool SameSubnet(Ip4Address other, Ip4Address mask) => (Value & mask.Value) == (other.Value & mask.Value);
    }

    /// <summary>A 48-bit Ethernet MAC address, kept in the low 48 bits (first byte most significant).</summary>
    public struct MacAddress
    {
        public ulong Value;

        public MacAddress(ulong value) { Value = value & 0xFFFFFFFFFFFFUL; }

        public static readonly MacAddress Broadcast = new MacAddress(0xFFFFFFFFFFFFUL);
        public static readonly MacAddress Zero = new MacAddress(0);

        public bool IsBroadcast => Value == 0xFFFFFFFFFFFFUL;
        /// <summary>The group bit: the least significant bit of the first byte (IEEE 802.3 3.2.3).</summary>
        public bool IsMulticast => ((Value >> 40) & 1) != 0;

        public static bool operator ==(MacAddress a, MacAddress b) => a.Value == b.Value;
        public static bool operator !=(MacAddress a, MacAddress b) => a.Value != b.Value;
        public override bool Equals(object o) => o is MacAddress other && other.Value == Value;
        public override int GetHashCode() => (int)(Value ^ (Value >> 32));

        public byte this[int i] => (byte)(Value >> (8 * (5 - i)));

        public static MacAddress Read(byte[] b, int o)
        {
            ulong v = 0;
            for (int i = 0; i < 6; i++) v = (v << 8) | b[o + i];
            return new MacAddress(v);
        }

        public void Write(byte[] b, int o)
        {
            for (int i = 0; i < 6; i++) b[o + i] = this[i];
        }

        public override string ToString()
        {
            string s = "";
            for (int i = 0; i < 6; i++)
                s += (i == 0 ? "" : ":") + Format.Hex(this[i], 2);
            return s;
        }
    }

    /// <summary>An IPv4 address and a port.</summary>
    public struct IpEndPoint
    {
        public Ip4Address Address;
        public ushort Port;

        public IpEndPoint(Ip4Address address, ushort port) { Address = address; Port = port; }
        public override string ToString() => Address.ToString() + ":" + Format.Decimal(Port);
    }
}
