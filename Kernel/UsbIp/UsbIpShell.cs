using System.Collections.Generic;
using Drivers.Usb;
using Kernel.Shell;
using Platform;
using UsbIp;

namespace Kernel.Usb
{
    /// <summary>
    /// The kernel's end of the USB/IP server: registers usbip-host with the USB stack and the
    /// `usbip` shell command, which speaks like Linux's usbip tool: `usbip list -l` (exportable
    /// devices), `usbip bind -b BUSID`, `usbip unbind -b BUSID`, plus `usbip status` (exported
    /// devices, clients, server).
    /// </summary>
    internal static class UsbIpShell
    {
        public static UsbIpHostDriver Host;
        /// <summary>The server, once the network is up (see UsbIpNetwork); null before.</summary>
        public static UsbIpServer Server;

        public static void Register(UsbStack stack)
        {
            Host = UsbIpHostDriver.Register(stack);
            KernelShell.Register("usbip", "usbip list -l | bind -b <busid> | unbind -b <busid> | status",
                                 "USB/IP: export devices to a remote Linux (usbip attach -r <this host> -b <busid>)", Run);
        }

        static void Run(List<string> args)
        {
            string verb = args.Count > 1 ? args[1] : "";
            if (verb == "list" && args.Count > 2 && args[2] == "-l")
                Print(Host.ListLocal());
            else if ((verb == "bind" || verb == "unbind") && args.Count > 3 && args[2] == "-b")
                BindOrUnbind(verb == "bind", args[3]);
            else if (verb == "status")
                Status();
            else
                KernelShell.Print("usage: usbip list -l | usbip bind -b <busid> | usbip unbind -b <busid> | usbip status");
        }

        /// <summary>Linux usbip_bind.c / usbip_unbind.c messages.</summary>
        static void BindOrUnbind(bool bind, string busId)
        {
            UsbStatus status = bind ? Host.BindBusId(busId) : Host.UnbindBusId(busId);
            string verb = bind ? "bind" : "unbind";
            if (status == UsbStatus.Ok)
                KernelShell.Print("usbip: info: " + verb + " device on busid " + busId + ": complete");
            else if (status == UsbStatus.NotFound && bind)
                KernelShell.Print("usbip: error: device with the specified bus ID does not exist");
            else if (status == UsbStatus.NotFound)
                KernelShell.Print("usbip: error: device is not bound to usbip-host driver");
            else if (status == UsbStatus.Busy)
                KernelShell.Print("usbip: error: device on busid " + busId + " is already bound to usbip-host");
            else if (status == UsbStatus.NotSupported)
                KernelShell.Print("usbip: error: " + busId + " is a hub (or root hub): it cannot be exported");
            else
                KernelShell.Print("usbip: error: " + verb + " device on busid " + busId + ": failed: " + UsbStatusNames.Name(status));
        }

        static void Status()
        {
            Print(Host.ListExported());
            UsbIpServer server = Server;
            if (server == null)
            {
                KernelShell.Print("usbip: server not running (no network)");
                return;
            }
            UsbIpSession[] sessions = server.Sessions;
            KernelShell.Print("usbip: server on port " + Format.Decimal((ulong)UsbIpProtocol.Port) + ", " +
                              Format.Decimal((ulong)server.Accepted) + " connections accepted, " + Format.Decimal((ulong)sessions.Length) + " open");
        }

        static void Print(string text)
        {
            if (text.Length > 0 && text[text.Length - 1] == '\n')
                text = text.Substring(0, text.Length - 1);
            if (text.Length > 0)
                KernelShell.Print(text);
        }
    }
}
