using System.Collections.Generic;

namespace Platform.Boot
{
    /// <summary>A region of the firmware memory map (Multiboot2 Specification 2.0, 3.6.8).</summary>
    public struct MemoryRegion
    {
        public ulong Base;
        public ulong Length;
        public uint Type;

        public const uint TypeAvailable = 1;
        public const uint TypeReserved = 2;
        public const uint TypeAcpiReclaimable = 3;
        public const uint TypeAcpiNvs = 4;
        public const uint TypeBad = 5;

        public string TypeName()
        {
            switch (Type)
            {
                case TypeAvailable: return "usable";
                case TypeAcpiReclaimable: return "ACPI data";
                case TypeAcpiNvs: return "ACPI NVS";
                case TypeBad: return "bad";
                default: return "reserved";
            }
        }
    }

    /// <summary>The linear framebuffer GRUB set up (3.6.12).</summary>
    public struct FramebufferInfo
    {
        public ulong Address;
        public uint Pitch;
        public uint Width;
        public uint Height;
        public byte Bpp;
        /// <summary>0 = indexed, 1 = direct RGB, 2 = EGA text.</summary>
        public byte Type;

        public const byte TypeIndexed = 0;
        public const byte TypeRgb = 1;
        public const byte TypeEgaText = 2;
    }

    /// <summary>A boot module GRUB loaded (3.6.6).</summary>
    public struct BootModule
    {
        public ulong Start;
        public ulong End;
        public string CommandLine;
    }

    /// <summary>
    /// Decoded Multiboot2 boot information (Multiboot2 Specification 2.0, 3.6). Parsing is bounds
    /// checked against the total size the structure claims and the buffer actually given.
    /// </summary>
    public sealed class Multiboot2Info
    {
        public const uint BootloaderMagic = 0x36D76289;

        // Tag types (3.6).
        const uint TagEnd = 0;
        const uint TagCommandLine = 1;
        const uint TagBootloaderName = 2;
        const uint TagModule = 3;
        const uint TagBiosBootDevice = 5;
        const uint TagMemoryMap = 6;
        const uint TagFramebuffer = 8;
        const uint TagEfi64SystemTable = 12;
        const uint TagAcpiOldRsdp = 14;
        const uint TagAcpiNewRsdp = 15;
        const uint TagEfiBootServicesNotTerminated = 18;
        const uint TagImageLoadBase = 21;

        public string CommandLine = "";
        public string BootloaderName = "";
        public readonly List<MemoryRegion> MemoryMap = new List<MemoryRegion>();
        public readonly List<BootModule> Modules = new List<BootModule>();
        public bool HasFramebuffer;
        public FramebufferInfo Framebuffer;
        /// <summary>Physical address of a copy of the ACPI RSDP inside the boot information, or 0.</summary>
        public ulong RsdpCopyOffset;
        public int RsdpLength;
        public bool BootedFromEfi;
        /// <summary>
        /// BIOS drive number the loader was booted from (3.6.7, BIOS boot only; <see cref="NoBiosBootDevice"/>
        /// otherwise): 80h and up are disks (a USB stick the BIOS emulates as one too), E0h and up CD-ROMs.
        /// </summary>
        public uint BiosBootDevice = NoBiosBootDevice;
        public const uint NoBiosBootDevice = 0xFFFFFFFF;
        public const uint BiosFirstCdRom = 0xE0;
        public string Error;

        /// <summary>Parses the structure; on malformed input returns an object with <see cref="Error"/> set.</summary>
        public static Multiboot2Info Parse(System.ReadOnlySpan<byte> data)
        {
            var info = new Multiboot2Info();
            if (data.Length < 8)
            {
                info.Error = "boot information truncated";
                return info;
            }
            uint totalSize = Le32(data, 0);
            if (totalSize < 8 || totalSize > (uint)data.Length)
            {
                info.Error = "boot information size " + Format.Decimal(totalSize) + " is invalid";
                return info;
            }
            int offset = 8;
            while (offset + 8 <= (int)totalSize)
            {
                uint type = Le32(data, offset);
                uint size = Le32(data, offset + 4);
                if (size < 8 || offset + size > totalSize)
                {
                    info.Error = "tag " + Format.Decimal(type) + " at offset " + Format.Decimal((ulong)offset) + " has invalid size";
                    return info;
                }
                System.ReadOnlySpan<byte> tag = data.Slice(offset, (int)size);
                switch (type)
                {
                    case TagEnd:
                        return info;
                    case TagCommandLine:
                        info.CommandLine = CString(tag.Slice(8));
                        break;
                    case TagBootloaderName:
                        info.BootloaderName = CString(tag.Slice(8));
                        break;
                    case TagModule:
                        if (size >= 16)
                            info.Modules.Add(new BootModule { Start = Le32(tag, 8), End = Le32(tag, 12), CommandLine = CString(tag.Slice(16)) });
                        break;
                    case TagBiosBootDevice:
                        if (size >= 12)
                            info.BiosBootDevice = Le32(tag, 8);
                        break;
                    case TagMemoryMap:
                        ParseMemoryMap(info, tag);
                        break;
                    case TagFramebuffer:
                        if (size >= 31)
                        {
                            info.HasFramebuffer = true;
                            info.Framebuffer = new FramebufferInfo
                            {
                                Address = Le64(tag, 8),
                                Pitch = Le32(tag, 16),
                                Width = Le32(tag, 20),
                                Height = Le32(tag, 24),
                                Bpp = tag[28],
                                Type = tag[29],
                            };
                        }
                        break;
                    case TagAcpiOldRsdp:
                    case TagAcpiNewRsdp:
                        // Prefer the ACPI 2.0+ RSDP when both are given.
                        if (info.RsdpLength == 0 || type == TagAcpiNewRsdp)
                        {
                            info.RsdpCopyOffset = (ulong)(offset + 8);
                            info.RsdpLength = (int)size - 8;
                        }
                        break;
                    case TagEfi64SystemTable:
                    case TagEfiBootServicesNotTerminated:
                        info.BootedFromEfi = true;
                        break;
                }
                offset += (int)((size + 7) & ~7u);
            }
            info.Error = "boot information has no end tag";
            return info;
        }

        static void ParseMemoryMap(Multiboot2Info info, System.ReadOnlySpan<byte> tag)
        {
            if (tag.Length < 16)
                return;
            uint entrySize = Le32(tag, 8);
            if (entrySize < 24)
                return;
            for (int e = 16; e + (int)entrySize <= tag.Length; e += (int)entrySize)
                info.MemoryMap.Add(new MemoryRegion { Base = Le64(tag, e), Length = Le64(tag, e + 8), Type = Le32(tag, e + 16) });
        }

        static string CString(System.ReadOnlySpan<byte> bytes)
        {
            int length = 0;
            while (length < bytes.Length && bytes[length] != 0)
                length++;
            char[] chars = new char[length];
            for (int i = 0; i < length; i++)
                chars[i] = (char)bytes[i];
            return new string(chars);
        }

        public static uint Le32(System.ReadOnlySpan<byte> b, int o) =>
            (uint)(b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24);

        public static ulong Le64(System.ReadOnlySpan<byte> b, int o) => Le32(b, o) | (ulong)Le32(b, o + 4) << 32;
    }
}
