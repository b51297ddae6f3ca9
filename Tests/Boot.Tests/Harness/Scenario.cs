using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Boot.Tests.Harness
{
    /// <summary>
    /// A QEMU machine description loaded from qemu/scenarios/NAME.json (see qemu/README.md).
    /// Shared by the boot tests and tools/Build (run, bench).
    /// </summary>
    public sealed class Scenario
    {
        [JsonIgnore] public string Name { get; set; } = "";
        [JsonIgnore] public string SourcePath { get; set; } = "";

        /// <summary>One line saying what the machine is for.</summary>
        public string Description { get; set; } = "";
        /// <summary>QEMU machine type: pc (i440fx + PIIX3) or q35.</summary>
        public string Machine { get; set; } = "pc";
        /// <summary>Guest RAM in MiB.</summary>
        public int MemoryMB { get; set; } = 256;
        /// <summary>Number of virtual CPUs.</summary>
        public int Cpus { get; set; } = 1;
        /// <summary>bios (SeaBIOS) or uefi (OVMF).</summary>
        public string Firmware { get; set; } = "bios";
        /// <summary>Extra QEMU arguments, one argv element per string. ${disk:NAME}, ${root} and ${work} are expanded.</summary>
        public List<string> Args { get; set; } = new();
        /// <summary>Disk images created before QEMU starts (raw, sparse, zero-filled).</summary>
        public List<DiskSpec> Disks { get; set; } = new();

        static readonly JsonSerializerOptions JsonOptions = new()
        {
            PropertyNameCaseInsensitive = true,
            ReadCommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        };

        public static string Directory(string repoRoot) => Path.Combine(repoRoot, "qemu", "scenarios");

        public static IReadOnlyList<string> ListNames(string repoRoot) =>
            System.IO.Directory.Exists(Directory(repoRoot))
                ? System.IO.Directory.GetFiles(Directory(repoRoot), "*.json").Select(p => Path.GetFileNameWithoutExtension(p)).OrderBy(n => n, StringComparer.Ordinal).ToList()
                : Array.Empty<string>();

        public static Scenario Load(string repoRoot, string name)
        {
            string path = Path.Combine(Directory(repoRoot), name + ".json");
            if (!File.Exists(path))
                throw new FileNotFoundException($"scenario '{name}' not found: {path} does not exist. Available: {string.Join(", ", ListNames(repoRoot))}", path);
            Scenario s;
            try
            {
                s = JsonSerializer.Deserialize<Scenario>(File.ReadAllText(path), JsonOptions)
                    ?? throw new InvalidDataException("empty scenario file");
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}: invalid scenario: {e.Message}", e);
            }
            s.Name = name;
            s.SourcePath = path;
            s.Validate();
            return s;
        }

        public void Validate()
        {
            string where = string.IsNullOrEmpty(SourcePath) ? Name : SourcePath;
            if (Machine != "pc" && Machine != "q35" && !Machine.StartsWith("pc-", StringComparison.Ordinal))
                throw new InvalidDataException($"{where}: machine must be pc or q35, not '{Machine}'");
            if (Firmware != "bios" && Firmware != "uefi")
                throw new InvalidDataException($"{where}: firmware must be bios or uefi, not '{Firmware}'");
            if (MemoryMB < 16) throw new InvalidDataException($"{where}: memoryMB must be at least 16");
            if (Cpus < 1) throw new InvalidDataException($"{where}: cpus must be at least 1");
            var names = new HashSet<string>();
            foreach (var d in Disks)
            {
                if (string.IsNullOrWhiteSpace(d.Name)) throw new InvalidDataException($"{where}: every disk needs a name");
                if (!names.Add(d.Name)) throw new InvalidDataException($"{where}: duplicate disk name '{d.Name}'");
                if (d.SizeMB <= 0) throw new InvalidDataException($"{where}: disk '{d.Name}' needs sizeMB > 0");
            }
            foreach (var a in Args)
                foreach (var disk in DiskReferences(a))
                    if (!names.Contains(disk))
                        throw new InvalidDataException($"{where}: argument '{a}' references undefined disk '{disk}'");
        }

        static IEnumerable<string> DiskReferences(string arg)
        {
            int i = 0;
            while ((i = arg.IndexOf("${disk:", i, StringComparison.Ordinal)) >= 0)
            {
                int end = arg.IndexOf('}', i);
                if (end < 0) yield break;
                yield return arg.Substring(i + 7, end - i - 7);
                i = end;
            }
        }
    }

    public sealed class DiskSpec
    {
        /// <summary>Referenced from args as ${disk:NAME}.</summary>
        public string Name { get; set; } = "";
        public int SizeMB { get; set; }
        /// <summary>
        /// Where `./build.sh run` keeps the image (relative to the repo root; default out/disks/SCENARIO-NAME.img).
        /// The boot tests always use a fresh image in their private temp directory.
        /// </summary>
        public string Path { get; set; }
    }
}
