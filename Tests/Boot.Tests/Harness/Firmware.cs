using System;
using System.IO;
using System.Linq;

namespace Boot.Tests.Harness
{
    /// <summary>Finds OVMF (Debian package ovmf) for UEFI boots.</summary>
    public static class Ovmf
    {
        static readonly string[] Dirs = { "/usr/share/OVMF", "/usr/share/ovmf", "/usr/share/edk2/ovmf", "/usr/share/edk2/x64", "/usr/share/qemu" };

        /// <summary>Returns (code, vars) of a matching pair, preferring the 4 MiB build; vars is null if only a combined OVMF.fd exists.</summary>
        public static (string Code, string Vars) Find()
        {
            string env = Environment.GetEnvironmentVariable("OVMF_CODE");
            string envVars = Environment.GetEnvironmentVariable("OVMF_VARS");
            if (!string.IsNullOrEmpty(env) && File.Exists(env)) return (env, File.Exists(envVars ?? "") ? envVars : null);

            foreach (var (code, vars) in new[] { ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"), ("OVMF_CODE.fd", "OVMF_VARS.fd") })
                foreach (var dir in Dirs)
                {
                    string c = Path.Combine(dir, code), v = Path.Combine(dir, vars);
                    if (File.Exists(c) && File.Exists(v)) return (c, v);
                }
            foreach (var dir in Dirs)
            {
                string f = Path.Combine(dir, "OVMF.fd");
                if (File.Exists(f)) return (f, null);
            }
            throw new FileNotFoundException("OVMF firmware not found (looked for OVMF_CODE*.fd/OVMF_VARS*.fd in " + string.Join(", ", Dirs) +
                                            "). Install it: sudo apt-get install -y ovmf");
        }
    }
}
