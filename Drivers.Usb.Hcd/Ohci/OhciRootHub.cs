using System;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hub;
using Platform;

namespace Drivers.Usb.Hcd.Ohci
{
    /// <summary>
    /// Root hub emulation from the root hub partition (OpenHCI 1.0a 7.4; Linux ohci-hub.c): answers
    /// the hub-class requests of USB 2.0 11.24.2 (decoded by <see cref="RootHubPorts"/>) from
    /// HcRhDescriptorA/B, HcRhStatus and HcRhPortStatus[n], and builds the status-change bitmap.
    /// </summary>
    public sealed class OhciRootHub : RootHubPorts
    {
        /// <summary>Length of one reset the controller drives after SetPortReset (7.4.4; Linux PORT_RESET_HW_MSEC).</summary>
        public const uint HardwareResetMs = 10;
        /// <summary>Bound of the wait for PRSC after SetPortReset: the controller times 10 ms (7.4.4).</summary>
        public const uint ResetWaitMs = 50;
        const uint ResetPollMs = 1;
        /// <summary>Upper bound for POTPGT waits (255 * 2 ms).</summary>
        public const uint MaxPowerOnMs = 510;

        readonly IRegisterBlock _regs;
        readonly IClock _clock;

        public OhciRootHub(IRegisterBlock regs, IClock clock)
            : base(DownstreamPorts(regs))
        {
            _regs = regs;
            _clock = clock;
        }

        /// <summary>NDP of HcRhDescriptorA (7.4.1), bounded to the 15 ports the partition can hold.</summary>
        static int DownstreamPorts(IRegisterBlock regs)
        {
            uint ndp = regs.Read32(OhciReg.HcRhDescriptorA) & HcRhDescriptorA.NumberDownstreamPortsMask;
            if (ndp > HcRhDescriptorA.MaximumPorts) ndp = HcRhDescriptorA.MaximumPorts;
            return (int)ndp;
        }

        /// <summary>POTPGT in ms (7.4.1), bounded.</summary>
        public uint PowerOnToPowerGoodMs
        {
            get
            {
                uint ms = (_regs.Read32(OhciReg.HcRhDescriptorA) >> HcRhDescriptorA.PowerOnToPowerGoodShift) * (uint)HubDescriptor.PowerOnUnitMs;
                return ms > MaxPowerOnMs ? MaxPowerOnMs : ms;
            }
        }

        /// <summary>Powers the ports (LPSC write = SetGlobalPower; per-port switching also needs SetPortPower).</summary>
        public void PowerOn()
        {
            _regs.Write32(OhciReg.HcRhStatus, HcRhStatus.SetGlobalPower);
            uint a = _regs.Read32(OhciReg.HcRhDescriptorA);
            if ((a & HcRhDescriptorA.NoPowerSwitching) == 0 && (a & HcRhDescriptorA.PowerSwitchingMode) != 0)
                for (int port = 1; port <= PortCount; port++)
                    _regs.Write32(OhciReg.HcRhPortStatus(port), HcRhPortStatus.SetPortPower);
        }

        /// <summary>Hub descriptor (USB 2.0 11.23.2.1) derived from HcRhDescriptorA/B (Linux ohci_hub_descriptor).</summary>
        public override int HubDescriptorBytes(Span<byte> d)
        {
            uint a = _regs.Read32(OhciReg.HcRhDescriptorA);
            uint b = _regs.Read32(OhciReg.HcRhDescriptorB);
            int maskBytes = (PortCount + 1 + 7) / 8;
            int length = HubDescriptor.MinimumSize + 2 * maskBytes;
            if (d.Length < length) length = d.Length;
            Span<byte> full = stackalloc byte[HubDescriptor.MinimumSize + 2 * 2];
            ushort characteristics = 0;
            if ((a & HcRhDescriptorA.NoPowerSwitching) != 0)
                characteristics |= HubCharacteristicNoPowerSwitching;
            else if ((a & HcRhDescriptorA.PowerSwitchingMode) != 0)
                characteristics |= HubDescriptor.PowerSwitchingIndividual;
            if ((a & HcRhDescriptorA.NoOverCurrentProtection) != 0)
                characteristics |= HubCharacteristicNoOverCurrent;
            else if ((a & HcRhDescriptorA.OverCurrentProtectionMode) != 0)
                characteristics |= HubCharacteristicPerPortOverCurrent;
            full[0] = (byte)(HubDescriptor.MinimumSize + 2 * maskBytes);
            full[1] = DescriptorType.Hub;
            full[2] = (byte)PortCount;
            full[3] = (byte)characteristics;
            full[4] = (byte)(characteristics >> 8);
            full[5] = (byte)(a >> HcRhDescriptorA.PowerOnToPowerGoodShift);
            full[6] = 0;
            uint removable = b & HcRhDescriptorB.DeviceRemovableMask;
            for (int i = 0; i < maskBytes; i++)
            {
                full[HubDescriptor.MinimumSize + i] = (byte)(removable >> (8 * i));
                full[HubDescriptor.MinimumSize + maskBytes + i] = PortPowerControlMaskAllOnes;
            }
            for (int i = 0; i < length; i++)
                d[i] = full[i];
            return length;
        }

        /// <summary>PortPwrCtrlMask: all ones for USB 1.1 compatibility (USB 2.0 11.23.2.1).</summary>
        const byte PortPowerControlMaskAllOnes = 0xFF;
        /// <summary>An MMIO read of all ones: the controller is gone.</summary>
        const uint RegisterGone = 0xFFFFFFFF;

        /// <summary>wHubCharacteristics bit 1: no power switching (USB 2.0 table 11-13).</summary>
        const ushort HubCharacteristicNoPowerSwitching = 0x0002;
        /// <summary>wHubCharacteristics bits 4..3 = 01: per-port over-current protection.</summary>
        const ushort HubCharacteristicPerPortOverCurrent = 0x0008;
        /// <summary>wHubCharacteristics bits 4..3 = 1x: no over-current protection.</summary>
        const ushort HubCharacteristicNoOverCurrent = 0x0010;

        /// <summary>CLEAR_FEATURE(C_HUB_OVER_CURRENT) acknowledges OCIC in HcRhStatus (7.4.3); C_HUB_LOCAL_POWER has nothing to clear.</summary>
        protected override UsbStatus ClearHubFeature(ushort feature)
        {
            if (feature == HubClass.CHubOverCurrent)
                _regs.Write32(OhciReg.HcRhStatus, HcRhStatus.OverCurrentIndicatorChange);
            else if (feature != HubClass.CHubLocalPower)
                return UsbStatus.Stall;
            return UsbStatus.Ok;
        }

        /// <summary>HcRhPortStatus[n] already holds wPortStatus in bits 15..0 and wPortChange in bits 31..16 (7.4.4).</summary>
        public override void PortStatus(int port, out ushort status, out ushort change)
        {
            uint s = _regs.Read32(OhciReg.HcRhPortStatus(port)) & (HcRhPortStatus.StatusMask | HcRhPortStatus.ChangeMask);
            status = (ushort)s;
            change = (ushort)(s >> ChangeShift);
        }

        /// <summary>wHubStatus/wHubChange from HcRhStatus (7.4.3; USB 2.0 tables 11-19/11-20).</summary>
        protected override uint HubStatus()
        {
            uint s = _regs.Read32(OhciReg.HcRhStatus);
            uint status = 0;
            if ((s & HcRhStatus.OverCurrentIndicator) != 0) status |= HubClass.HubOverCurrent;
            if ((s & HcRhStatus.OverCurrentIndicatorChange) != 0) status |= (uint)HubClass.HubOverCurrent << 16;
            return status;
        }

        protected override UsbStatus SetPortFeature(int port, ushort feature, int selector)
        {
            uint reg = OhciReg.HcRhPortStatus(port);
            switch (feature)
            {
                case HubClass.PortEnable: _regs.Write32(reg, HcRhPortStatus.SetPortEnable); return UsbStatus.Ok;
                case HubClass.PortSuspend: _regs.Write32(reg, HcRhPortStatus.SetPortSuspend); return UsbStatus.Ok;
                case HubClass.PortPower: _regs.Write32(reg, HcRhPortStatus.SetPortPower); return UsbStatus.Ok;
                case HubClass.PortReset: return ResetPort(port);
                default: return UsbStatus.Stall;
            }
        }

        protected override UsbStatus ClearPortFeature(int port, ushort feature)
        {
            uint reg = OhciReg.HcRhPortStatus(port);
            uint value;
            switch (feature)
            {
                case HubClass.PortEnable: value = HcRhPortStatus.ClearPortEnable; break;
                case HubClass.PortSuspend: value = HcRhPortStatus.ClearSuspendStatus; break;
                case HubClass.PortPower: value = HcRhPortStatus.ClearPortPower; break;
                case HubClass.CPortConnection: value = HcRhPortStatus.ConnectStatusChange; break;
                case HubClass.CPortEnable: value = HcRhPortStatus.PortEnableStatusChange; break;
                case HubClass.CPortSuspend: value = HcRhPortStatus.PortSuspendStatusChange; break;
                case HubClass.CPortOverCurrent: value = HcRhPortStatus.PortOverCurrentIndicatorChange; break;
                case HubClass.CPortReset: value = HcRhPortStatus.PortResetStatusChange; break;
                default: return UsbStatus.Stall;
            }
            _regs.Write32(reg, value);
            return UsbStatus.Ok;
        }

        /// <summary>
        /// Root port reset for TDRSTR (USB 2.0 7.1.7.5: 50 ms at a root port, which may be made of
        /// several shorter resets): SetPortReset makes the controller drive reset for about 10 ms
        /// and then set PRSC (OHCI 7.4.4), so the reset is repeated until 50 ms have passed, as
        /// Linux's root_port_reset does. Each wait is bounded. The last PRSC stays set for the hub
        /// driver (C_PORT_RESET), which then adds TRSTRCY.
        /// </summary>
        UsbStatus ResetPort(int port)
        {
            uint reg = OhciReg.HcRhPortStatus(port);
            ulong start = _clock.Milliseconds;
            while (true)
            {
                if ((_regs.Read32(reg) & HcRhPortStatus.CurrentConnectStatus) == 0)
                    return UsbStatus.Ok; // the write is ignored without a device (CSC gets set); the hub driver sees it
                _regs.Write32(reg, HcRhPortStatus.SetPortReset);
                _clock.Sleep(HardwareResetMs);
                if (!WaitResetDone(reg))
                    return UsbStatus.Ok; // the hub driver polls on and reports the timeout
                if (_clock.Milliseconds - start >= HubTimings.RootResetMs)
                    return UsbStatus.Ok;
                _regs.Write32(reg, HcRhPortStatus.PortResetStatusChange);
            }
        }

        /// <summary>Waits (bounded by <see cref="ResetWaitMs"/>) until one hardware reset of the port ended.</summary>
        bool WaitResetDone(uint reg)
        {
            ulong start = _clock.Milliseconds;
            while (true)
            {
                uint status = _regs.Read32(reg);
                if ((status & HcRhPortStatus.PortResetStatusChange) != 0 || (status & HcRhPortStatus.PortResetStatus) == 0)
                    return true;
                if (_clock.Milliseconds - start >= ResetWaitMs)
                    return false;
                _clock.Sleep(ResetPollMs);
            }
        }

        /// <summary>Status-change bitmap (USB 2.0 11.12.4): bit 0 hub, bit n port n; 0 when nothing changed.</summary>
        public int StatusData(Span<byte> bitmap)
        {
            int length = (PortCount + 1 + 7) / 8;
            if (length > bitmap.Length) length = bitmap.Length;
            bool any = false;
            if ((_regs.Read32(OhciReg.HcRhStatus) & HcRhStatus.OverCurrentIndicatorChange) != 0 && length > 0)
            {
                bitmap[0] |= 1;
                any = true;
            }
            for (int port = 1; port <= PortCount; port++)
            {
                if (port / 8 >= length) break;
                uint s = _regs.Read32(OhciReg.HcRhPortStatus(port));
                if (s == RegisterGone) continue;
                if ((s & HcRhPortStatus.ChangeMask) != 0)
                {
                    bitmap[port / 8] |= (byte)(1 << (port % 8));
                    any = true;
                }
            }
            return any ? length : 0;
        }
    }
}
