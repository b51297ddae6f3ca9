using System;
using System.IO;

namespace Boot.Tests.Harness
{
    /// <summary>Locates the repository and the build outputs.</summary>
    public static class RepoPaths
    {
        /// <summary>The repository root: $KERNEL_REPO_ROOT, else the first parent (of the current directory, then of this assembly) holding qemu/scenarios.</summary>
        public static string Root
        {
            get
            {
                string env = Environment.GetEnvironmentVariable("KERNEL_REPO_ROOT");
                if (!string.IsNullOrEmpty(env)) return Path.GetFullPath(env);
                foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
                {
                    for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
                        if (System.IO.Directory.Exists(Path.Combine(d.FullName, "qemu", "scenarios")) &&
                            File.Exists(Path.Combine(d.FullName, "Kernel", "Kernel.csproj")))
                            return d.FullName;
                }
                throw new DirectoryNotFoundException("cannot find the repository root (a directory with qemu/scenarios and Kernel/Kernel.csproj); set KERNEL_REPO_ROOT");
            }
        }

        public static string Out => Path.Combine(Root, "out");

        /// <summary>The bootable image: $KERNEL_ISO, else out/kernel.iso (made by ./build.sh iso).</summary>
        public static string Iso
        {
            get
            {
                string env = Environment.GetEnvironmentVariable("KERNEL_ISO");
                return !string.IsNullOrEmpty(env) ? Path.GetFullPath(env) : Path.Combine(Out, "kernel.iso");
            }
        }
    }
}
