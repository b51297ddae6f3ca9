using Drivers.Usb.Names;
using Kernel.Runtime;
using Platform;
using Platform.Boot;

namespace Kernel.Usb
{
    /// <summary>
    /// The usb.ids database of the image: the "usb.ids" boot module (grub.cfg loads usb.ids.gz,
    /// which GRUB unpacks). Indexed once at boot; the text stays in the module's memory, which
    /// physical memory management leaves alone.
    /// </summary>
    internal static unsafe class UsbNames
    {
        const string ModuleName = "usb.ids";
        static bool s_looked;
        static UsbIds s_database;

        /// <summary>The database, or null when the image has none (lsusb then shows the devices' own strings).</summary>
        public static UsbIds Database
        {
            get
            {
                Load();
                return s_database;
            }
        }

        /// <summary>
        /// Indexes the module once, at boot: its few kilobytes of index then belong to the boot's
        /// baseline, not to whoever lists devices first.
        /// </summary>
        public static void Load()
        {
            if (s_looked) return;
            s_looked = true;
            Multiboot2Info boot = BootInfo.Current;
            for (int i = 0; boot != null && i < boot.Modules.Count; i++)
            {
                BootModule m = boot.Modules[i];
                if (m.CommandLine != ModuleName || m.End <= m.Start) continue;
                var ids = new UsbIds((byte*)m.Start, (int)(m.End - m.Start));
                if (ids.VendorCount == 0)
                {
                    Log.Warning("usb: the usb.ids module holds no vendors");
                    continue;
                }
                s_database = ids;
            }
        }
    }
}
