using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Listings;
using Kernel.Shell;
using Kernel.Threading;
using Platform;

namespace Kernel.Usb
{
    /// <summary>
    /// The kernel's USB stack: one <see cref="UsbStack"/> (buses, explore thread, drivers) that the
    /// host controller drivers register with, and the shell commands that show and steer it the
    /// way Linux's lsusb and sysfs do.
    /// </summary>
    internal static class UsbSubsystem
    {
        public static UsbStack Stack;

        public static void Initialize()
        {
            Stack = new UsbStack(Time.Clock.Instance, KernelThreading.Instance);
            HidInput.Register(Stack);
            StorageShell.Register(Stack);
            Drivers.Usb.Storage.UasDriver.Register(Stack, StorageShell.Driver);
            SerialShell.Register(Stack);
            UsbmonShell.Register(Stack);
            UsbIpShell.Register(Stack);
            AudioShell.Register(Stack);
            UsbNames.Load();
            KernelShell.Register("lsusb", "lsusb [-t] [-v [<device>]]", "list USB devices (-t: tree, -v: descriptors)", Lsusb);
            KernelShell.Register("usb", "usb devices|drivers|bind|unbind|config|reset", "USB devices file, drivers, binding, configuration, reset", UsbCommand);
        }

        /// <summary>
        /// Starts the explore thread. The boot calls this after the PCI scan, so that every
        /// controller registers its bus at once instead of waiting while the explore thread
        /// enumerates the buses registered before it; enumeration then runs in the background.
        /// </summary>
        public static void StartExplore()
        {
            if (!Stack.Start())
                Log.Error("usb: explore thread did not start");
            BootMedium.Start(StorageShell.Driver, Runtime.BootInfo.Current);
        }

        static void Lsusb(List<string> args)
        {
            if (args.Count > 1 && args[1] == "-t")
            {
                Print(UsbListings.LsusbTree(Stack));
                return;
            }
            if (args.Count > 1 && args[1] == "-v")
            {
                UsbDevice device = null;
                if (args.Count > 2)
                {
                    device = Stack.FindDevice(args[2]);
                    if (device == null)
                    {
                        KernelShell.Print("lsusb: no device " + args[2]);
                        return;
                    }
                }
                Print(UsbListings.LsusbVerboseListing(Stack, UsbNames.Database, device));
                return;
            }
            Print(UsbListings.Lsusb(Stack, UsbNames.Database));
        }

        static void UsbCommand(List<string> args)
        {
            string verb = args.Count > 1 ? args[1] : "";
            if (verb == "devices")
            {
                Print(UsbListings.DevicesFile(Stack));
            }
            else if (verb == "drivers")
            {
                UsbDriver[] drivers = Stack.Drivers;
                for (int i = 0; i < drivers.Length; i++)
                    KernelShell.Print("  " + Format.PadRight(drivers[i].Name, 16) + (drivers[i].IsDeviceDriver ? "device driver" : "interface driver"));
            }
            else if ((verb == "bind" || verb == "unbind") && args.Count > 3)
            {
                Report(verb, BindOrUnbind(verb == "bind", args[2], args[3]));
            }
            else if (verb == "reset" && args.Count > 2)
            {
                Report(verb, Stack.ResetDevice(Stack.FindDevice(args[2])));
            }
            else if (verb == "config" && args.Count > 3)
            {
                UsbDevice device = Stack.FindDevice(args[2]);
                int value = ParseInt(args[3]);
                Report(verb, device == null ? UsbStatus.NoDevice : Stack.SetConfiguration(device, value));
            }
            else
            {
                KernelShell.Print("usage: usb devices | usb drivers | usb bind|unbind <driver> <device-or-interface> | usb config <device> <value> | usb reset <device>");
            }
        }

        /// <summary>Interfaces are named "N-p:c.i", devices "N-p" or "usbN" (Linux sysfs names).</summary>
        static UsbStatus BindOrUnbind(bool bind, string driver, string name)
        {
            if (name.IndexOf(':') >= 0)
            {
                UsbInterface intf = Stack.FindInterface(name);
                if (intf == null) return UsbStatus.NoDevice;
                return bind ? Stack.Bind(intf, driver) : Stack.Unbind(intf);
            }
            UsbDevice device = Stack.FindDevice(name);
            if (device == null) return UsbStatus.NoDevice;
            return bind ? Stack.Bind(device, driver) : Stack.Unbind(device);
        }

        static void Report(string verb, UsbStatus status) =>
            KernelShell.Print("usb " + verb + ": " + (status == UsbStatus.Ok ? "ok" : UsbStatusNames.Name(status)));

        static int ParseInt(string text)
        {
            int value = 0;
            for (int i = 0; i < text.Length; i++)
            {
                if (text[i] < '0' || text[i] > '9') return -1;
                value = value * 10 + (text[i] - '0');
            }
            return value;
        }

        static void Print(string text)
        {
            if (text.Length > 0 && text[text.Length - 1] == '\n')
                text = text.Substring(0, text.Length - 1);
            if (text.Length > 0) KernelShell.Print(text);
        }
    }
}
