using Drivers.Usb.Descriptors;

namespace Drivers.Usb
{
    /// <summary>
    /// Linux's generic device driver "usb" (generic.c): bound to every device no specific device
    /// driver took; chooses a configuration and sets it, which creates the interfaces interface
    /// drivers bind to. Disconnect deconfigures.
    /// </summary>
    public sealed class GenericDeviceDriver : UsbDeviceDriver
    {
        public const string DriverName = "usb";

        public override string Name => DriverName;
        public override UsbDeviceId[] IdTable => null;
        public override bool IsGeneric => true;

        public override UsbStatus Probe(UsbDevice device, UsbDeviceId id)
        {
            UsbConfiguration best = ChooseConfiguration(device);
            if (best != null)
                Stack.SetConfiguration(device, best.Value);
            // A failed SET_CONFIGURATION is not fatal (Linux generic_probe): the device stays bound, unconfigured.
            return UsbStatus.Ok;
        }

        public override void Disconnect(UsbDevice device)
        {
            if (device.ActiveConfiguration != null)
                Stack.SetConfiguration(device, 0);
        }

        /// <summary>
        /// Linux usb_choose_configuration, simplified: the first configuration whose first
        /// interface is not vendor-specific, else the first one.
        /// </summary>
        public static UsbConfiguration ChooseConfiguration(UsbDevice device)
        {
            UsbConfiguration first = null;
            for (int i = 0; i < device.Configurations.Length; i++)
            {
                UsbConfiguration c = device.Configurations[i];
                if (c == null)
                    continue;
                if (first == null)
                    first = c;
                // Linux: a first configuration speaking Microsoft's RNDIS (CDC ACM with vendor protocol 0xFF)
                // is skipped when there are others, since no RNDIS host driver exists here (QEMU usb-net: CDC ECM next).
                if (i == 0 && device.Configurations.Length > 1 && c.Interfaces.Length > 0 && IsRndis(c.Interfaces[0].Current.Descriptor))
                    continue;
                if (c.Interfaces.Length > 0 && c.Interfaces[0].Current.Descriptor.bInterfaceClass != UsbClass.VendorSpecific)
                    return c;
            }
            return first;
        }

        /// <summary>Linux is_rndis(): communications class, ACM subclass (2), vendor-specific protocol.</summary>
        static bool IsRndis(InterfaceDescriptor d) =>
            d.bInterfaceClass == UsbClass.Communications && d.bInterfaceSubClass == RndisSubclassAcm && d.bInterfaceProtocol == RndisProtocolVendor;

        const byte RndisSubclassAcm = 0x02, RndisProtocolVendor = 0xFF;
    }
}
