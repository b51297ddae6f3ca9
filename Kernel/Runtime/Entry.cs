using System;
using System.Runtime.InteropServices;
using Internal.Runtime;
using Internal.Runtime.CompilerHelpers;
using Kernel.Console;
using Kernel.Cpu;
using Kernel.Hal;
using Kernel.Interrupts;
using Kernel.Memory;
using Kernel.Pci;
using Kernel.Threading;
using Kernel.Time;
using Platform;
using Platform.Boot;

namespace Kernel.Runtime
{
    /// <summary>
    /// The boot flow, in order: serial console, object heap, runtime statics, log, boot
    /// information, screen, physical memory and paging, CPU tables, interrupts, clock, threads,
    /// PCI scan and driver hand-off, then the shell on the serial line.
    /// </summary>
    internal static unsafe class Entry
    {
        const ulong EarlyHeapSize = 8 * 1024 * 1024;

        [UnmanagedCallersOnly(EntryPoint = "KernelMain")]
        static void KernelMain(uint multibootMagic, uint multibootInfo, IntPtr* modulesStart, IntPtr* modulesEnd)
        {
            Serial.Initialize();
            Serial.Write("\n[    0.000000] kernel: starting\n");
            KernelHeap.Initialize(Native.GetEarlyHeap(), EarlyHeapSize);
            RuntimeHooks.Fail = &RuntimeFailure;
            if (!StartupCodeHelpers.InitializeModules(modulesStart, modulesEnd))
            {
                Serial.Write("kernel: bad module header, cannot initialize statics\n");
                Halt();
            }
            Log.Attach(KernelConsole.Instance, Clock.Instance);
            Boot(multibootMagic, multibootInfo);
            Shell.KernelShell.Run();
            Halt();
        }

        static void Boot(uint magic, uint infoAddress)
        {
            if (magic != Multiboot2Info.BootloaderMagic)
            {
                Log.Error("kernel: not started by a Multiboot2 loader (magic 0x" + Format.Hex(magic, 8) + ")");
                Halt();
            }
            uint infoSize = *(uint*)infoAddress;
            Multiboot2Info boot = Multiboot2Info.Parse(new ReadOnlySpan<byte>((void*)infoAddress, (int)infoSize));
            if (boot.Error != null)
                Log.Warning("multiboot: " + boot.Error);
            BootInfo.Current = boot;
            BootInfo.InfoAddress = infoAddress;

            InitializeScreen(boot);
            Log.Info("kernel: USB kernel, booted by " + boot.BootloaderName + (boot.BootedFromEfi ? " (UEFI)" : " (BIOS)"));
            if (boot.HasFramebuffer)
                Log.Info("screen: framebuffer " + Format.Decimal(boot.Framebuffer.Width) + "x" + Format.Decimal(boot.Framebuffer.Height) + "x" +
                         Format.Decimal(boot.Framebuffer.Bpp) + " type " + Format.Decimal(boot.Framebuffer.Type) + " at 0x" + Format.Hex(boot.Framebuffer.Address) +
                         (Screen.IsActive ? "" : " (no console: needs 24/32-bit RGB and the font8x16 module)"));
            for (int i = 0; i < boot.Modules.Count; i++)
                if (boot.Modules[i].CommandLine == "symbols")
                    Symbols.Attach(boot.Modules[i].Start, boot.Modules[i].End);

            PhysicalMemory.Initialize(boot, Native.KernelImageStart(), Native.KernelImageEnd(), infoAddress, infoSize);
            KernelHeap.PageSource = &PhysicalMemory.HeapChunk;
            const ulong FourGiB = 1UL << 32;
            if (PhysicalMemory.HighestUsableAddress > FourGiB)
                Paging.MapIdentity(FourGiB, PhysicalMemory.HighestUsableAddress - FourGiB, uncached: false);
            Log.Info("mem: " + Format.Size(PhysicalMemory.Pool.TotalBytes) + " usable in " +
                     Format.Decimal((ulong)boot.MemoryMap.Count) + " firmware regions; kernel image 0x" +
                     Format.Hex(Native.KernelImageStart()) + "-0x" + Format.Hex(Native.KernelImageEnd()));

            Gdt.Initialize();
            Idt.Initialize();
            Pic.Initialize();
            LocalApic.Initialize();
            // The MADT decides between the I/O APIC and the 8259 before any interrupt line is attached.
            Acpi.KernelAcpi.Initialize(boot, infoAddress);
            IoApic.Initialize(Acpi.KernelAcpi.Info, boot.CommandLine);
            Clock.Initialize();
            Scheduler.Initialize();
            KernelHeap.EnableCollector((nint*)PhysicalMemory.AllocatePages(KernelHeap.MarkStackBytes));
            System.Threading.Monitor.Install(new KernelMonitor());
            InterruptDispatcher.AttachIrq(Serial.Irq, SerialInterrupt, "ttyS0");
            Serial.EnableReceiveInterrupt();
            Native.Sti();
            IoApic.CheckTimer();
            Log.Info("cpu: interrupts on; clock 1000 Hz, TSC " + Format.Decimal(Clock.TscPerMicrosecond) + " MHz" +
                     (LocalApic.Present ? ", local APIC " + Format.Decimal(LocalApic.Id) : ""));

#if !KERNEL_WITHOUT_USB
            Usb.UsbSubsystem.Initialize();
#endif
            Drivers.RegisterPciDrivers(KernelPciHost.Instance.Registry);
            KernelPciHost.Instance.ScanAndBind();
#if !KERNEL_WITHOUT_USB
            Usb.UsbSubsystem.StartExplore();
#endif
            Log.Info("kernel: boot complete");
        }

        static bool SerialInterrupt() => Serial.Drain();

        static void InitializeScreen(Multiboot2Info boot)
        {
            if (boot.HasFramebuffer && boot.Framebuffer.Type == FramebufferInfo.TypeRgb)
            {
                for (int i = 0; i < boot.Modules.Count; i++)
                {
                    BootModule m = boot.Modules[i];
                    if (m.CommandLine == "font8x16")
                        Screen.InitializeFramebuffer(boot.Framebuffer, (byte*)m.Start, (int)(m.End - m.Start));
                }
            }
            else if (!boot.BootedFromEfi)
            {
                Screen.InitializeVgaText();
            }
        }

        static void RuntimeFailure(string message) => Panic.FromRuntime(message);

        public static void Halt()
        {
            while (true) Native.StiHlt();
        }
    }

    /// <summary>What the boot loader told us, kept for the shell's <c>mem</c> command.</summary>
    internal static class BootInfo
    {
        public static Multiboot2Info Current;
        public static uint InfoAddress;
    }
}
