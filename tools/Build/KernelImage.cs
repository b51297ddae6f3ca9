using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;

namespace KernelBuild
{
    /// <summary>
    /// Kernel/Kernel.csproj → (dotnet build) Kernel.dll + Corlib.dll → (ILC) kernel.o; Kernel/Boot/*.asm → (nasm) *.o;
    /// (ld.lld, Kernel/Boot/linker.ld) → out/kernel.elf; (grub-mkrescue) → out/kernel.iso.
    /// Runs under two exclusive locks: out/build.lock and /tmp/kernel-build.lock (the lock for builds by hand).
    /// </summary>
    public sealed class KernelImage
    {
        public const string SharedLock = "/tmp/kernel-build.lock";

        readonly string _root;
        readonly bool _withoutUsb;

        public KernelImage(string root, bool withoutUsb)
        {
            _root = root;
            _withoutUsb = withoutUsb;
        }

        string Out => Path.Combine(_root, "out");
        string Obj => Path.Combine(Out, "obj");
        public string Iso => Path.Combine(Out, "kernel.iso");
        public string Elf => Path.Combine(Out, "kernel.elf");

        public void Build()
        {
            using var own = FileLock.Acquire(Path.Combine(Out, "build.lock"), TimeSpan.FromMinutes(5));
            using var shared = FileLock.Acquire(SharedLock, TimeSpan.FromMinutes(5));
            Directory.CreateDirectory(Obj);
            var (kernelDll, corlibDll) = DotnetBuild();
            string kernelO = Ilc(kernelDll, corlibDll);
            var asmObjs = Nasm();
            Link(asmObjs.Append(kernelO).ToList());
            MakeIso();
        }

        (string, string) DotnetBuild()
        {
            string proj = Path.Combine(_root, "Kernel", "Kernel.csproj");
            var args = new List<string> { "build", proj, "-c", "Release", "-nologo", "-v:q", "-tl:off", "-clp:NoSummary" };
            string bin = Path.Combine(_root, "Kernel", "bin", "Release", "net10.0");
            if (_withoutUsb)
            {
                // Own output folder, so Kernel/bin/Release (used by builds by hand) always holds the full kernel.
                bin = Path.Combine(Obj, "without-usb");
                args.Add("-p:KernelWithoutUsb=true");
                args.Add("-p:OutDir=" + bin + "/");
            }
            Steps.Time("dotnet build Kernel" + (_withoutUsb ? " (without USB)" : ""), () =>
                Shell.Run("dotnet", args, workDir: _root, what: "dotnet build Kernel/Kernel.csproj"));
            string k = Path.Combine(bin, "Kernel.dll"), c = Path.Combine(bin, "Corlib.dll");
            foreach (var f in new[] { k, c })
                if (!File.Exists(f)) throw new BuildException($"dotnet build succeeded but {f} is missing");
            return (k, c);
        }

        string IlcPath()
        {
            string found = FindIlc(out var message);
            if (found != null) return found;
            // e.g. a fresh NUGET_PACKAGES: restore the build tool's project, which downloads the package.
            Steps.Time("dotnet restore tools/Build (ILCompiler package)", () =>
                Shell.Run("dotnet", new[] { "restore", Path.Combine(_root, "tools", "Build", "Build.csproj"), "-nologo", "-v:q", "-tl:off" },
                          workDir: _root, what: "dotnet restore tools/Build/Build.csproj"));
            return FindIlc(out message) ?? throw new BuildException(message);
        }

        static string FindIlc(out string message)
        {
            var meta = typeof(KernelImage).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().ToDictionary(a => a.Key, a => a.Value);
            string version = meta.GetValueOrDefault("IlcVersion") ?? "10.0.14";
            var roots = new List<string>();
            string env = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
            if (!string.IsNullOrEmpty(env)) roots.Add(env);
            if (!string.IsNullOrEmpty(meta.GetValueOrDefault("NuGetPackageRoot"))) roots.Add(meta["NuGetPackageRoot"]);
            roots.Add(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"));
            foreach (var r in roots)
            {
                string p = Path.Combine(r, "runtime.linux-x64.microsoft.dotnet.ilcompiler", version, "tools", "ilc");
                if (File.Exists(p)) { message = null; return p; }
            }
            message = ($"ILC {version} not found under {string.Join(", ", roots.Distinct())}/runtime.linux-x64.microsoft.dotnet.ilcompiler/{version}/tools/ilc.\n" +
                                     "It is restored with tools/Build/Build.csproj (PackageDownload): run `dotnet restore tools/Build/Build.csproj`.");
            return null;
        }

        string Ilc(string kernelDll, string corlibDll)
        {
            string ilc = IlcPath();
            string kernelO = Path.Combine(Obj, "kernel.o");
            string rsp = Path.Combine(Obj, "kernel.ilc.rsp");
            string rspText = string.Join("\n", new[]
            {
                kernelDll,
                "-r:" + corlibDll,
                "--systemmodule:Corlib",
                "--targetos:linux",
                "--targetarch:x64",
                "-O",
                "--nativelib",
                "--generateunmanagedentrypoints:Kernel",
                "--generateunmanagedentrypoints:Corlib",
                "-o:" + kernelO,
            }) + "\n";
            string sig = Stamp.Signature(ilc + "\n" + rspText, new[] { kernelDll, corlibDll, ilc });
            string stamp = kernelO + ".stamp";
            if (Stamp.UpToDate(stamp, sig, kernelO)) { Steps.Skip("ilc", "Kernel.dll and Corlib.dll unchanged"); return kernelO; }
            Steps.Time("ilc → out/obj/kernel.o", () =>
            {
                File.WriteAllText(rsp, rspText);
                File.Delete(stamp);
                Shell.Run(ilc, new[] { "@" + rsp }, workDir: _root, what: "ilc");
                Stamp.Write(stamp, sig);
            });
            return kernelO;
        }

        List<string> Nasm()
        {
            string bootDir = Path.Combine(_root, "Kernel", "Boot");
            var sources = Directory.GetFiles(bootDir, "*.asm").OrderBy(x => x, StringComparer.Ordinal).ToList();
            if (sources.Count == 0) throw new BuildException($"no assembly sources in {bootDir}");
            // Any included file (*.inc, other .asm) may affect any object: all of Boot/ is an input of each.
            var deps = Directory.GetFiles(bootDir).Where(f => f.EndsWith(".asm") || f.EndsWith(".inc") || f.EndsWith(".mac")).ToList();
            var objs = new List<string>();
            foreach (var src in sources)
            {
                string o = Path.Combine(Obj, Path.GetFileNameWithoutExtension(src) + ".o");
                objs.Add(o);
                var args = new[] { "-f", "elf64", "-I", bootDir + "/", src, "-o", o };
                string sig = Stamp.Signature("nasm " + string.Join(" ", args), deps);
                if (Stamp.UpToDate(o + ".stamp", sig, o)) { Steps.Skip("nasm " + Path.GetFileName(src), "sources unchanged"); continue; }
                Steps.Time("nasm " + Path.GetFileName(src), () =>
                {
                    File.Delete(o + ".stamp");
                    Shell.Run("nasm", args, workDir: _root, what: "nasm " + Path.GetFileName(src));
                    Stamp.Write(o + ".stamp", sig);
                });
            }
            return objs;
        }

        void Link(List<string> objs)
        {
            string script = Path.Combine(_root, "Kernel", "Boot", "linker.ld");
            string tmp = Elf + ".tmp";
            var args = new List<string> { "-T", script, "-o", tmp };
            args.AddRange(objs);
            string sig = Stamp.Signature("ld.lld " + string.Join(" ", args), objs.Append(script));
            string stamp = Path.Combine(Obj, "kernel.elf.stamp");
            if (Stamp.UpToDate(stamp, sig, Elf)) { Steps.Skip("ld.lld", "objects unchanged"); return; }
            Steps.Time("ld.lld → out/kernel.elf", () =>
            {
                File.Delete(stamp);
                Shell.Run("ld.lld", args, workDir: _root, what: "ld.lld");
                File.Move(tmp, Elf, overwrite: true);
                Stamp.Write(stamp, sig);
            });
        }

        /// <summary>
        /// The boot modules grub.cfg loads next to the kernel: "symbols" (nm's address-sorted symbol
        /// list, for method names in crash reports) and "font8x16" (GRUB's 8x16 ASCII glyphs, for
        /// the framebuffer console on UEFI machines), taken from packages the build installs.
        /// </summary>
        void WriteBootModules(string bootDir)
        {
            ProcessResult nm = Shell.Run("nm", new[] { "-n", "--defined-only", Elf }, workDir: _root, what: "nm");
            File.WriteAllText(Path.Combine(bootDir, "kernel.sym"), nm.Output);
            const string GrubAsciiFont = "/usr/share/grub/ascii.h";
            const int GlyphBytes = 128 * 16;
            var glyphs = new List<byte>();
            foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(GrubAsciiFont), "0x([0-9a-fA-F]{2})"))
                glyphs.Add(Convert.ToByte(m.Groups[1].Value, 16));
            if (glyphs.Count < GlyphBytes)
                throw new BuildException(GrubAsciiFont + ": expected at least " + GlyphBytes + " font bytes, found " + glyphs.Count);
            File.WriteAllBytes(Path.Combine(bootDir, "font8x16.bin"), glyphs.GetRange(0, GlyphBytes).ToArray());
        }

        /// <summary>
        /// usb.ids (the names lsusb prints), from Debian's usb.ids package: `apt-get download usb.ids`
        /// once, unpacked into out/usb.ids/. Null, with a warning, where that is not possible (no
        /// apt-get or no network): the kernel then lists devices with their own strings.
        /// </summary>
        string UsbIdsFile()
        {
            string dir = Path.Combine(Out, "usb.ids");
            string ids = Path.Combine(dir, "usb.ids");
            if (File.Exists(ids)) return ids;
            if (Shell.Which("apt-get") == null || Shell.Which("dpkg-deb") == null)
            {
                Console.WriteLine("    warning: no apt-get/dpkg-deb: the image gets no usb.ids (lsusb shows no database names)");
                return null;
            }
            string download = Path.Combine(dir, "download");
            try
            {
                Steps.Time("apt-get download usb.ids", () =>
                {
                    if (Directory.Exists(download)) Directory.Delete(download, true);
                    Directory.CreateDirectory(download);
                    var fetched = Shell.Run("apt-get", new[] { "download", "usb.ids" }, workDir: download, check: false, what: "apt-get download usb.ids");
                    if (fetched.ExitCode != 0 && Environment.IsPrivilegedProcess)
                    {
                        // A machine whose package lists were never fetched knows no usb.ids package yet.
                        Shell.Run("apt-get", new[] { "update" }, what: "apt-get update");
                        fetched = Shell.Run("apt-get", new[] { "download", "usb.ids" }, workDir: download, check: false, what: "apt-get download usb.ids");
                    }
                    if (fetched.ExitCode != 0)
                        throw new BuildException("apt-get download usb.ids failed:\n" + fetched.Output);
                    string deb = Directory.GetFiles(download, "usb.ids_*.deb").Single();
                    string unpacked = Path.Combine(download, "x");
                    Shell.Run("dpkg-deb", new[] { "-x", deb, unpacked }, workDir: download, what: "dpkg-deb -x " + Path.GetFileName(deb));
                    string found = new[] { "var/lib/usbutils/usb.ids", "usr/share/misc/usb.ids", "usr/share/hwdata/usb.ids" }
                        .Select(f => Path.Combine(unpacked, f)).FirstOrDefault(f => File.Exists(f) && !new FileInfo(f).Attributes.HasFlag(FileAttributes.ReparsePoint))
                        ?? throw new BuildException(deb + " holds no usb.ids file");
                    File.Copy(found, ids + ".tmp", overwrite: true);
                    File.Move(ids + ".tmp", ids, overwrite: true);
                    File.WriteAllText(Path.Combine(dir, "source.txt"), Path.GetFileName(deb) + "\n");
                    Directory.Delete(download, true);
                });
                return ids;
            }
            catch (BuildException e)
            {
                Console.WriteLine("    warning: could not fetch usb.ids (" + e.Message.Split('\n')[0] + "): the image gets no usb.ids");
                return null;
            }
        }

        /// <summary>usb.ids gzip-compressed into the image; GRUB's module2 unpacks it when it loads the "usb.ids" module.</summary>
        static void WriteUsbIds(string bootDir, string usbIds)
        {
            string target = Path.Combine(bootDir, "usb.ids.gz");
            if (usbIds == null)
            {
                // An empty module keeps grub.cfg unconditional; the kernel finds no names in it.
                using (var gz = new System.IO.Compression.GZipStream(File.Create(target), System.IO.Compression.CompressionLevel.SmallestSize)) { }
                return;
            }
            using var input = File.OpenRead(usbIds);
            using var output = new System.IO.Compression.GZipStream(File.Create(target), System.IO.Compression.CompressionLevel.SmallestSize);
            input.CopyTo(output);
        }

        /// <summary>Placeholder in tools/Build/grub.cfg for the image's boot identifier.</summary>
        public const string BootIdPlaceholder = "@BOOTID@";
        /// <summary>What precedes the identifier in the Application Use field (Platform/Boot/BootIdentifier.cs StampMagic).</summary>
        public const string StampMagic = "USBKERNEL-BOOTID";
        /// <summary>ECMA-119: the Primary Volume Descriptor at sector 16 (2048-byte sectors); Application Use at its byte 883, 512 bytes.</summary>
        const int PrimaryVolumeDescriptorOffset = 16 * 2048, ApplicationUseOffset = 883, ApplicationUseBytes = 512, IdHexDigits = 32;

        /// <summary>A fresh boot identifier: 16 random bytes as 32 lowercase hex digits (Platform/Boot/BootIdentifier.cs).</summary>
        static string NewBootId() => Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(IdHexDigits / 2)).ToLowerInvariant();

        /// <summary>grub.cfg with the identifier on the kernel command line (the template's placeholder replaced).</summary>
        public static string GrubConfig(string template, string bootId)
        {
            if (!template.Contains(BootIdPlaceholder))
                throw new BuildException("tools/Build/grub.cfg: the kernel command line lacks bootid=" + BootIdPlaceholder);
            return template.Replace(BootIdPlaceholder, bootId);
        }

        /// <summary>The 512 bytes of the Application Use field: the magic, then the identifier's hex digits.</summary>
        public static byte[] ApplicationUse(string bootId)
        {
            var field = new byte[ApplicationUseBytes];
            System.Text.Encoding.ASCII.GetBytes(StampMagic + bootId).CopyTo(field, 0);
            return field;
        }

        /// <summary>The boot identifier stamped in an image, or null (no ISO 9660 volume or no stamp).</summary>
        public static string ReadBootId(string image)
        {
            var pvd = new byte[2048];
            using (var f = File.OpenRead(image))
            {
                if (f.Length < PrimaryVolumeDescriptorOffset + pvd.Length) return null;
                f.Position = PrimaryVolumeDescriptorOffset;
                f.ReadExactly(pvd);
            }
            if (pvd[0] != 1 || System.Text.Encoding.ASCII.GetString(pvd, 1, 5) != "CD001") return null;
            string text = System.Text.Encoding.ASCII.GetString(pvd, ApplicationUseOffset, StampMagic.Length + IdHexDigits);
            return text.StartsWith(StampMagic, StringComparison.Ordinal) ? text.Substring(StampMagic.Length) : null;
        }

        void MakeIso()
        {
            string cfg = Path.Combine(_root, "tools", "Build", "grub.cfg");
            string isoDir = Path.Combine(Obj, "isodir");
            string tmp = Iso + ".tmp";
            string usbIds = UsbIdsFile();
            string sig = Stamp.Signature("grub-mkrescue", usbIds == null ? new[] { Elf, cfg } : new[] { Elf, cfg, usbIds });
            string stamp = Path.Combine(Obj, "kernel.iso.stamp");
            if (Stamp.UpToDate(stamp, sig, Iso)) { Steps.Skip("grub-mkrescue", "kernel.elf and grub.cfg unchanged"); return; }
            Steps.Time("grub-mkrescue → out/kernel.iso", () =>
            {
                File.Delete(stamp);
                if (Directory.Exists(isoDir)) Directory.Delete(isoDir, true);
                Directory.CreateDirectory(Path.Combine(isoDir, "boot", "grub"));
                File.Copy(Elf, Path.Combine(isoDir, "boot", "kernel.elf"));
                string bootId = NewBootId();
                File.WriteAllText(Path.Combine(isoDir, "boot", "grub", "grub.cfg"), GrubConfig(File.ReadAllText(cfg), bootId));
                string useField = Path.Combine(Obj, "application-use.bin");
                File.WriteAllBytes(useField, ApplicationUse(bootId));
                WriteBootModules(Path.Combine(isoDir, "boot"));
                WriteUsbIds(Path.Combine(isoDir, "boot"), usbIds);
                // xorriso (run by grub-mkrescue, which passes unknown options on) copies the file into
                // the Application Use field of the Primary Volume Descriptor (ECMA-119 8.4.32).
                Shell.Run("grub-mkrescue", new[] { "-o", tmp, isoDir, "--application_use", useField }, workDir: _root, what: "grub-mkrescue");
                if (ReadBootId(tmp) != bootId)
                    throw new BuildException("grub-mkrescue did not stamp the boot identifier into the image (xorriso --application_use)");
                // Rename: QEMU instances reading the old image (other engineers' runs) are not disturbed.
                File.Move(tmp, Iso, overwrite: true);
                Stamp.Write(stamp, sig);
            });
        }
    }
}
