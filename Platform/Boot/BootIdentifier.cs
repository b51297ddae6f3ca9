using System;

namespace Platform.Boot
{
    /// <summary>
    /// The boot identifier: a random 128-bit number the build stamps into every image it makes
    /// (tools/Build/KernelImage.cs), in two places: on the kernel command line in grub.cfg
    /// (<c>bootid=</c> and 32 hex digits) and in the image itself, in the Application Use field of
    /// the ISO 9660 Primary Volume Descriptor (ECMA-119 8.4.32) as <see cref="StampMagic"/> followed
    /// by the same 32 hex digits. The image is a hybrid ISO that boots from CD and, written with
    /// dd, from a disk; either way the descriptor sits at byte 32768 of the medium, so the kernel
    /// finds the disk it was booted from by reading that spot of each disk and comparing.
    /// </summary>
    public static class BootIdentifier
    {
        /// <summary>Kernel command line word that carries the identifier.</summary>
        public const string CommandLineKey = "bootid=";
        /// <summary>The identifier is 16 random bytes, written as 32 lowercase hex digits.</summary>
        public const int IdBytes = 16;
        public const int IdHexDigits = IdBytes * 2;
        /// <summary>What precedes the hex digits in the Application Use field.</summary>
        public const string StampMagic = "USBKERNEL-BOOTID";

        /// <summary>ECMA-119 6.1.2 / 6.7.1: 2048-byte logical sectors; the volume descriptor set starts at sector 16.</summary>
        public const int IsoSectorBytes = 2048;
        public const int VolumeDescriptorSetSector = 16;
        /// <summary>Byte offset of the Primary Volume Descriptor on the medium (the first descriptor of the set).</summary>
        public const ulong PrimaryVolumeDescriptorOffset = (ulong)VolumeDescriptorSetSector * IsoSectorBytes;
        /// <summary>ECMA-119 8.4.1-8.4.3: Volume Descriptor Type 1, Standard Identifier "CD001", Version 1.</summary>
        public const byte PrimaryVolumeDescriptorType = 1;
        public const string StandardIdentifier = "CD001";
        public const int StandardIdentifierOffset = 1;
        public const byte VolumeDescriptorVersion = 1;
        public const int VersionOffset = 6;
        /// <summary>ECMA-119 8.4.32: Application Use, bytes 884 to 1395 (1-based), i.e. offset 883, 512 bytes.</summary>
        public const int ApplicationUseOffset = 883;
        public const int ApplicationUseBytes = 512;

        /// <summary>
        /// The identifier given on the kernel command line (<c>bootid=</c> and 32 hex digits, any case,
        /// returned in lowercase), or null when there is none or it is malformed.
        /// </summary>
        public static string FromCommandLine(string commandLine)
        {
            if (commandLine == null)
                return null;
            int i = 0;
            while (i < commandLine.Length)
            {
                while (i < commandLine.Length && commandLine[i] == ' ') i++;
                int start = i;
                while (i < commandLine.Length && commandLine[i] != ' ') i++;
                int length = i - start;
                if (length == CommandLineKey.Length + IdHexDigits && StartsWithKey(commandLine, start))
                    return Normalize(commandLine.Substring(start + CommandLineKey.Length, IdHexDigits));
            }
            return null;
        }

        static bool StartsWithKey(string text, int start)
        {
            for (int i = 0; i < CommandLineKey.Length; i++)
                if (text[start + i] != CommandLineKey[i])
                    return false;
            return true;
        }

        /// <summary>32 hex digits in lowercase, or null when the text is not exactly that.</summary>
        public static string Normalize(string hex)
        {
            if (hex == null || hex.Length != IdHexDigits)
                return null;
            var chars = new char[IdHexDigits];
            for (int i = 0; i < IdHexDigits; i++)
            {
                char c = hex[i];
                if (c >= 'A' && c <= 'F') c = (char)(c - 'A' + 'a');
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                    return null;
                chars[i] = c;
            }
            return new string(chars);
        }

        /// <summary>
        /// The blocks of a disk with <paramref name="blockSize"/>-byte logical blocks that hold the
        /// Primary Volume Descriptor: read <paramref name="blockCount"/> blocks from <paramref name="firstBlock"/>
        /// and pass them to <see cref="ReadStamp"/>. False for a block size that is zero or not a power of two.
        /// </summary>
        public static bool StampLocation(uint blockSize, out ulong firstBlock, out int blockCount)
        {
            firstBlock = 0;
            blockCount = 0;
            if (blockSize == 0 || (blockSize & (blockSize - 1)) != 0)
                return false;
            firstBlock = PrimaryVolumeDescriptorOffset / blockSize;
            ulong end = PrimaryVolumeDescriptorOffset + IsoSectorBytes;
            blockCount = (int)((end + blockSize - 1) / blockSize - firstBlock);
            return true;
        }

        /// <summary>
        /// The identifier stamped in the Primary Volume Descriptor inside <paramref name="blocks"/> (what
        /// <see cref="StampLocation"/> said to read), or null when the blocks hold no ISO 9660 primary
        /// descriptor or its Application Use field carries no stamp.
        /// </summary>
        public static string ReadStamp(ReadOnlySpan<byte> blocks, uint blockSize)
        {
            if (!StampLocation(blockSize, out ulong firstBlock, out _))
                return null;
            ulong skip = PrimaryVolumeDescriptorOffset - firstBlock * blockSize;
            if ((ulong)blocks.Length < skip + IsoSectorBytes)
                return null;
            ReadOnlySpan<byte> pvd = blocks.Slice((int)skip, IsoSectorBytes);
            if (pvd[0] != PrimaryVolumeDescriptorType || pvd[VersionOffset] != VolumeDescriptorVersion)
                return null;
            for (int i = 0; i < StandardIdentifier.Length; i++)
                if (pvd[StandardIdentifierOffset + i] != (byte)StandardIdentifier[i])
                    return null;
            ReadOnlySpan<byte> use = pvd.Slice(ApplicationUseOffset, ApplicationUseBytes);
            for (int i = 0; i < StampMagic.Length; i++)
                if (use[i] != (byte)StampMagic[i])
                    return null;
            var digits = new char[IdHexDigits];
            for (int i = 0; i < IdHexDigits; i++)
                digits[i] = (char)use[StampMagic.Length + i];
            return Normalize(new string(digits));
        }
    }
}
