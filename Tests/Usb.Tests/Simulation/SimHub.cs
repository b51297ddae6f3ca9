using System;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hub;

namespace Usb.Tests.Simulation
{
    /// <summary>One downstream port (USB 2.0 11.24.2.7 status and change bits).</summary>
    public sealed class SimPort
    {
        public SimDevice Device;
        public bool Powered;
        public bool Enabled;
        public bool OverCurrent;
        public ushort Change;
        /// <summary>Port reset leaves the port disabled (a device that never comes up).</summary>
        public bool ResetFails;
        public int ResetCount;
        /// <summary>Status reads that report a fresh connection change (a bouncing contact).</summary>
        public int FlapReads;
    }

    /// <summary>Port logic shared by the simulated root hub and simulated external hubs.</summary>
    public sealed class SimPortSet
    {
        public readonly SimPort[] Ports;
        public readonly UsbSpeed HubSpeed;
        public readonly bool SuperSpeed;

        public SimPortSet(int count, UsbSpeed hubSpeed, bool poweredAtStart)
        {
            Ports = new SimPort[count];
            for (int i = 0; i < count; i++)
                Ports[i] = new SimPort { Powered = poweredAtStart };
            HubSpeed = hubSpeed;
            SuperSpeed = hubSpeed >= UsbSpeed.Super;
        }

        public SimPort Port(int number) => number >= 1 && number <= Ports.Length ? Ports[number - 1] : null;

        public void Plug(int number, SimDevice device)
        {
            SimPort p = Port(number);
            p.Device = device;
            device.Speed = device.MaxSpeed > HubSpeed && !SuperSpeed ? HubSpeed : device.MaxSpeed;
            device.Reset();
            p.Enabled = false;
            if (p.Powered)
                p.Change |= HubClass.ChangeConnection;
        }

        public SimDevice Unplug(int number)
        {
            SimPort p = Port(number);
            SimDevice d = p.Device;
            p.Device = null;
            if (p.Enabled || d != null)
                p.Change |= HubClass.ChangeConnection;
            p.Enabled = false;
            return d;
        }

        public ushort Status(SimPort p)
        {
            ushort s = 0;
            bool connected = p.Device != null && p.Powered;
            if (connected) s |= HubClass.StatusConnection;
            if (p.Enabled && connected) s |= HubClass.StatusEnable;
            if (p.OverCurrent) s |= HubClass.StatusOverCurrent;
            if (p.Powered) s |= SuperSpeed ? HubClass.SuperSpeedStatusPower : HubClass.StatusPower;
            if (connected && !SuperSpeed)
            {
                if (p.Device.Speed == UsbSpeed.Low) s |= HubClass.StatusLowSpeed;
                if (p.Device.Speed == UsbSpeed.High) s |= HubClass.StatusHighSpeed;
            }
            return s;
        }

        public int ChangeBitmap(Span<byte> bitmap)
        {
            int length = (Ports.Length + 1 + 7) / 8;
            bool any = false;
            for (int i = 0; i < length && i < bitmap.Length; i++)
                bitmap[i] = 0;
            for (int i = 0; i < Ports.Length; i++)
            {
                if (Ports[i].Change != 0)
                {
                    int bit = i + 1;
                    bitmap[bit / 8] |= (byte)(1 << (bit % 8));
                    any = true;
                }
            }
            return any ? length : 0;
        }

        /// <summary>Hub-class request to a port or the hub (USB 2.0 11.24.2).</summary>
        public SimResult Control(SetupPacket setup, byte[] data, byte[] hubDescriptor)
        {
            int recipient = setup.bmRequestType & RequestType.RecipientMask;
            if (recipient == RequestType.RecipientDevice)
            {
                switch (setup.bRequest)
                {
                    case UsbRequestCode.GetDescriptor:
                        int n = Math.Min(hubDescriptor.Length, data.Length);
                        Array.Copy(hubDescriptor, data, n);
                        return SimResult.Ok(n);
                    case UsbRequestCode.GetStatus:
                        if (data.Length < HubClass.StatusSize) return SimResult.Stall;
                        Array.Clear(data, 0, HubClass.StatusSize);
                        return SimResult.Ok(HubClass.StatusSize);
                    case UsbRequestCode.ClearFeature:
                    case UsbRequestCode.SetFeature:
                        return SimResult.Ok(0);
                    default:
                        return SimResult.Stall;
                }
            }
            SimPort p = Port(setup.wIndex & 0xFF);
            if (p == null)
                return SimResult.Stall;
            switch (setup.bRequest)
            {
                case UsbRequestCode.GetStatus:
                    if (data.Length < HubClass.StatusSize) return SimResult.Stall;
                    if (p.FlapReads > 0)
                    {
                        p.FlapReads--;
                        p.Change |= HubClass.ChangeConnection;
                    }
                    ushort s = Status(p);
                    data[0] = (byte)s; data[1] = (byte)(s >> 8);
                    data[2] = (byte)p.Change; data[3] = (byte)(p.Change >> 8);
                    return SimResult.Ok(HubClass.StatusSize);
                case UsbRequestCode.SetFeature:
                    switch (setup.wValue)
                    {
                        case HubClass.PortReset:
                            p.ResetCount++;
                            if (p.Device != null && p.Powered)
                            {
                                p.Device.Reset();
                                p.Enabled = !p.ResetFails;
                            }
                            p.Change |= HubClass.ChangeReset;
                            return SimResult.Ok(0);
                        case HubClass.PortPower:
                            if (!p.Powered)
                            {
                                p.Powered = true;
                                if (p.Device != null)
                                    p.Change |= HubClass.ChangeConnection;
                            }
                            return SimResult.Ok(0);
                        case HubClass.PortSuspend:
                        case HubClass.PortIndicator:
                        case HubClass.PortTest:
                            return SimResult.Ok(0);
                        default:
                            return SimResult.Stall;
                    }
                case UsbRequestCode.ClearFeature:
                    switch (setup.wValue)
                    {
                        case HubClass.PortEnable: p.Enabled = false; return SimResult.Ok(0);
                        case HubClass.PortPower:
                            if (p.Powered && p.Device != null)
                            {
                                p.Device.PowerOff();
                                p.Change |= HubClass.ChangeConnection;
                            }
                            p.Powered = false;
                            p.Enabled = false;
                            return SimResult.Ok(0);
                        case HubClass.PortSuspend: return SimResult.Ok(0);
                        case HubClass.CPortConnection: p.Change &= unchecked((ushort)~HubClass.ChangeConnection); return SimResult.Ok(0);
                        case HubClass.CPortEnable: p.Change &= unchecked((ushort)~HubClass.ChangeEnable); return SimResult.Ok(0);
                        case HubClass.CPortSuspend: p.Change &= unchecked((ushort)~HubClass.ChangeSuspend); return SimResult.Ok(0);
                        case HubClass.CPortOverCurrent:
                            p.Change &= unchecked((ushort)~HubClass.ChangeOverCurrent);
                            p.OverCurrent = false;
                            return SimResult.Ok(0);
                        case HubClass.CPortReset: p.Change &= unchecked((ushort)~HubClass.ChangeReset); return SimResult.Ok(0);
                        case HubClass.CBhPortReset: p.Change &= unchecked((ushort)~HubClass.ChangeBhReset); return SimResult.Ok(0);
                        case HubClass.CPortLinkState: p.Change &= unchecked((ushort)~HubClass.ChangeLinkState); return SimResult.Ok(0);
                        case HubClass.CPortConfigError: p.Change &= unchecked((ushort)~HubClass.ChangeConfigError); return SimResult.Ok(0);
                        default: return SimResult.Stall;
                    }
                default:
                    return SimResult.Stall;
            }
        }

        /// <summary>Over-current on a port: power goes off, change bit set.</summary>
        public void InjectOverCurrent(int number)
        {
            SimPort p = Port(number);
            p.OverCurrent = true;
            p.Change |= HubClass.ChangeOverCurrent;
            if (p.Device != null && p.Powered)
            {
                p.Device.PowerOff();
                p.Change |= HubClass.ChangeConnection;
            }
            p.Powered = false;
            p.Enabled = false;
        }

        /// <summary>SuperSpeed hub descriptor (USB 3.2 10.15.2.1).</summary>
        public static byte[] SuperSpeedHubDescriptorBytes(int ports, byte powerOnToGood = 10) =>
            new byte[] { HubDescriptor.SuperSpeedSize, DescriptorType.SuperSpeedHub, (byte)ports, (byte)HubDescriptor.PowerSwitchingIndividual, 0,
                         powerOnToGood, 0, 0, 0, 0, 0, 0 };

        public static byte[] HubDescriptorBytes(int ports, byte powerOnToGood = 50)
        {
            int maskBytes = (ports + 1 + 7) / 8;
            byte[] d = new byte[HubDescriptor.MinimumSize + 2 * maskBytes];
            d[0] = (byte)d.Length;
            d[1] = DescriptorType.Hub;
            d[2] = (byte)ports;
            d[3] = (byte)HubDescriptor.PowerSwitchingIndividual;
            d[4] = 0;
            d[5] = powerOnToGood;
            d[6] = 0;
            for (int i = 0; i < maskBytes; i++)
                d[HubDescriptor.MinimumSize + maskBytes + i] = 0xFF;
            return d;
        }
    }

    /// <summary>
    /// A simulated external hub: QEMU's usb-hub is a full-speed USB 1.1 hub; high-speed hubs with a
    /// single TT are also available to test transaction translators.
    /// </summary>
    public sealed class SimHub : SimDevice
    {
        public readonly SimPortSet PortSet;
        public byte[] HubDescriptorOverride;
        public const byte StatusEndpoint = 0x81;

        public SimHub(string label, int ports, UsbSpeed speed)
            : base(label, speed,
                   Desc.Device(0x0409, 0x55AA, UsbClass.Hub, 0, speed == UsbSpeed.High ? (byte)1 : (byte)0, 64,
                               speed == UsbSpeed.High ? (ushort)0x0200 : (ushort)0x0110, 0x0101, 0, 2, 0),
                   Desc.Config(1, 0xE0, 0,
                       Desc.Interface(0, 0, 1, UsbClass.Hub),
                       Desc.Endpoint(StatusEndpoint, TransferType.Interrupt, (ushort)((ports + 1 + 7) / 8), speed == UsbSpeed.High ? (byte)12 : (byte)255)))
        {
            PortSet = new SimPortSet(ports, speed, false);
        }

        public SimPort Port(int number) => PortSet.Port(number);

        public override void Reset()
        {
            base.Reset();
            // A reset hub forgets its downstream state (its ports lose power until switched on again).
            if (PortSet != null)
            {
                foreach (SimPort p in PortSet.Ports)
                {
                    if (p.Device != null && p.Powered)
                        p.Device.PowerOff();
                    p.Powered = false;
                    p.Enabled = false;
                    p.Change = 0;
                    // The latched over-current indicator goes with the change bit it belongs to.
                    p.OverCurrent = false;
                }
            }
        }

        protected override SimResult Class(SetupPacket setup, byte[] data) =>
            PortSet.Control(setup, data, HubDescriptorOverride ?? SimPortSet.HubDescriptorBytes(PortSet.Ports.Length));

        public override SimResult HandleData(byte address, bool isIn, byte[] buffer, int length)
        {
            if (address != StatusEndpoint || Configuration == 0)
                return base.HandleData(address, isIn, buffer, length);
            SimEndpoint e = Endpoint(address);
            if (e.Halted) return SimResult.Stall;
            if (e.Fault.HasValue)
            {
                UsbStatus f = e.Fault.Value;
                if (!e.FaultSticky) e.Fault = null;
                if (f == UsbStatus.Stall) e.Halted = true;
                return SimResult.Fail(f);
            }
            byte[] bitmap = new byte[4];
            int n = PortSet.ChangeBitmap(bitmap);
            if (n == 0)
                return SimResult.Nak;
            n = Math.Min(n, length);
            Array.Copy(bitmap, buffer, n);
            return SimResult.Ok(n);
        }
    }
}
