namespace Drivers.Usb
{
    /// <summary>
    /// Base of the two driver kinds (Linux usbdrv_wrap.for_devices, seed 001): device drivers
    /// bind to whole devices, interface drivers to interfaces of the active configuration. A
    /// device driver never matches an interface and an interface driver never matches a device.
    /// </summary>
    public abstract class UsbDriver
    {
        public abstract string Name { get; }
        /// <summary>Id table; null or empty matches nothing (except for the generic device driver, and a device driver whose <see cref="UsbDeviceDriver.Matches"/> decides).</summary>
        public abstract UsbDeviceId[] IdTable { get; }
        public abstract bool IsDeviceDriver { get; }
        /// <summary>Registered with a stack.</summary>
        internal UsbStack Stack;
    }

    /// <summary>A driver for a whole device (Linux struct usb_device_driver).</summary>
    public abstract class UsbDeviceDriver : UsbDriver
    {
        public override bool IsDeviceDriver => true;
        /// <summary>True only for the generic "usb" driver: matches every device, tried last.</summary>
        public virtual bool IsGeneric => false;

        /// <summary>
        /// Linux usb_device_driver.match: a driver without an id table decides itself which devices
        /// it matches (usbip-host: only the bus ids it was asked to bind). Default: none.
        /// </summary>
        public virtual bool Matches(UsbDevice device) => false;

        /// <summary>
        /// True when the driver owns the whole device, so that no interface driver may bind to its
        /// interfaces (Linux usb_hub_claim_port + usb_device_is_owned, what usbip-host does: the
        /// interfaces belong to the remote client).
        /// </summary>
        public virtual bool OwnsInterfaces => false;

        /// <summary>Takes the device; anything but Ok declines it and the next candidate is tried.</summary>
        public abstract UsbStatus Probe(UsbDevice device, UsbDeviceId id);
        /// <summary>The device is going away or being unbound. Runs before the device object is destroyed.</summary>
        public abstract void Disconnect(UsbDevice device);
    }

    /// <summary>A driver for an interface (Linux struct usb_driver).</summary>
    public abstract class UsbInterfaceDriver : UsbDriver
    {
        public override bool IsDeviceDriver => false;

        /// <summary>Takes the interface; anything but Ok declines it and the next candidate is tried.</summary>
        public abstract UsbStatus Probe(UsbInterface intf, UsbDeviceId id);
        /// <summary>The interface is going away (unplug, unbind, configuration change).</summary>
        public abstract void Disconnect(UsbInterface intf);
    }
}
