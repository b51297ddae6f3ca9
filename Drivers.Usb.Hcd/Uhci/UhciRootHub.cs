using System;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hub;
using Platform;

namespace Drivers.Usb.Hcd.Uhci
{
    /// <summary>
    /// Root hub emulation for the two UHCI ports (Linux uhci-hub.c): hub-class requests
    /// (USB 2.0 11.24.2) answered from PORTSC1/PORTSC2 (UHCI 1.1, 2.1.7). UHCI has no port
    /// power switching and no port-change interrupt: the driver polls <see cref="StatusData"/>.
    /// Reset and resume change bits do not exist in PORTSC and are kept here.
    /// </summary>
    public sealed class UhciRootHub
    {
        /// <summary>TDRSTR: root port reset is driven for 50 ms (USB 2.0 7.1.7.5).</summary>
        public const uint ResetMs = 50;
        /// <summary>Pause after releasing reset before enabling the port (Linux: udelay(10)).</summary>
        public const uint ResetReleaseUs = 10;
        /// <summary>Attempts to enable the port after reset, and the pause between them (Linux uhci-hub.c).</summary>
        public const int EnableTries = 10;
        public const uint EnableRetryUs = 1000;
        /// <summary>TDRSMDN: resume signalling is driven for 20 ms (USB 2.0 7.1.7.7).</summary>
        public const uint ResumeMs = 20;
        /// <summary>wHubCharacteristics: no power switching (bits 1:0 = 10b), per-port over-current (bits 4:3 = 01b) — Linux's UHCI root hub.</summary>
        public const ushort HubCharacteristics = 0x0002 | 0x0008;
        /// <summary>bPwrOn2PwrGood in 2 ms units.</summary>
        public const byte PowerOnToGood = 1;
        const int HubDescriptorLength = 9;
        const byte AllPortsPowerControl = 0xFF;

        readonly IRegisterBlock _regs;
        readonly IClock _clock;
        readonly int _ports;
        readonly bool[] _resetChange;
        readonly bool[] _suspendChange;

        public UhciRootHub(IRegisterBlock regs, IClock clock, int ports = UhciRegisters.PortCount)
        {
            _regs = regs;
            _clock = clock;
            _ports = ports;
            _resetChange = new bool[ports + 1];
            _suspendChange = new bool[ports + 1];
        }

        public int PortCount => _ports;

        ushort Read(int port) => _regs.Read16(UhciRegisters.PORTSC(port));

        /// <summary>Sets bits without touching the write-1-to-clear and write-zero bits (Linux SET_RH_PORTSTAT).</summary>
        public void SetBits(int port, ushort bits)
        {
            ushort v = Read(port);
            v = (ushort)((v & ~(PortSc.WriteClear | PortSc.WriteZero)) | bits);
            _regs.Write16(UhciRegisters.PORTSC(port), v);
        }

        /// <summary>Clears read/write bits; write-1-to-clear bits in <paramref name="bits"/> are acknowledged (Linux CLR_RH_PORTSTAT).</summary>
        public void ClearBits(int port, ushort bits)
        {
            ushort v = Read(port);
            v = (ushort)(v & ~(PortSc.WriteClear | PortSc.WriteZero));
            v = (ushort)(v & ~bits);
            v = (ushort)(v | (bits & PortSc.WriteClear));
            _regs.Write16(UhciRegisters.PORTSC(port), v);
        }

        /// <summary>Status-change bitmap (bit n = port n), 1 byte, or 0 when nothing changed.</summary>
        public int StatusData(Span<byte> bitmap)
        {
            int bits = 0;
            for (int port = 1; port <= _ports; port++)
            {
                ushort sc = Read(port);
                if ((sc & (PortSc.CSC | PortSc.PEC)) != 0 || _resetChange[port] || _suspendChange[port])
                    bits |= 1 << port;
            }
            if (bits == 0 || bitmap.Length < 1)
                return 0;
            bitmap[0] = (byte)bits;
            return 1;
        }

        /// <summary>wPortStatus and wPortChange (USB 2.0 11.24.2.7) from PORTSC.</summary>
        public void PortStatus(int port, out ushort status, out ushort change)
        {
            ushort sc = Read(port);
            status = HubClass.StatusPower;
            change = 0;
            if ((sc & PortSc.CCS) != 0) status |= HubClass.StatusConnection;
            if ((sc & PortSc.PE) != 0) status |= HubClass.StatusEnable;
            if ((sc & PortSc.SUSP) != 0) status |= HubClass.StatusSuspend;
            if ((sc & PortSc.PR) != 0) status |= HubClass.StatusReset;
            if ((sc & PortSc.LSDA) != 0) status |= HubClass.StatusLowSpeed;
            if ((sc & PortSc.CSC) != 0) change |= HubClass.ChangeConnection;
            if ((sc & PortSc.PEC) != 0) change |= HubClass.ChangeEnable;
            if (_resetChange[port]) change |= HubClass.ChangeReset;
            if (_suspendChange[port]) change |= HubClass.ChangeSuspend;
        }

        /// <summary>
        /// Port reset (USB 2.0 11.5.1.5, 7.1.7.5): PR for 50 ms, release, clear the changes the reset
        /// itself caused, then enable the port (retried: some controllers need a moment).
        /// Thread context: sleeps.
        /// </summary>
        public void ResetPort(int port)
        {
            SetBits(port, PortSc.PR);
            _clock.Sleep(ResetMs);
            ClearBits(port, PortSc.PR);
            _clock.Stall(ResetReleaseUs);
            for (int i = 0; i < EnableTries; i++)
            {
                ushort sc = Read(port);
                if ((sc & PortSc.CCS) == 0)
                    break;
                if ((sc & (PortSc.CSC | PortSc.PEC)) != 0)
                    ClearBits(port, PortSc.CSC | PortSc.PEC);
                if ((sc & PortSc.PE) != 0)
                    break;
                SetBits(port, PortSc.PE);
                _clock.Stall(EnableRetryUs);
            }
            _resetChange[port] = true;
        }

        /// <summary>Resume a suspended port: drive resume for TDRSMDN, then end it (UHCI 1.1, 2.1.7 bits 6 and 12).</summary>
        public void ResumePort(int port)
        {
            if ((Read(port) & PortSc.SUSP) == 0)
                return;
            SetBits(port, PortSc.RD);
            _clock.Sleep(ResumeMs);
            ClearBits(port, PortSc.RD | PortSc.SUSP);
            _suspendChange[port] = true;
        }

        /// <summary>Hub-class requests (USB 2.0 11.24.2) for the root hub.</summary>
        public UsbStatus Control(SetupPacket setup, Span<byte> data, out int actual)
        {
            actual = 0;
            int port = setup.wIndex & 0xFF;
            bool portValid = port >= 1 && port <= _ports;
            switch (setup.bRequest)
            {
                case UsbRequestCode.GetDescriptor:
                    if (setup.bmRequestType != HubClass.FromHub || (setup.wValue >> 8) != DescriptorType.Hub)
                        return UsbStatus.Stall;
                    return HubDescriptor(data, out actual);
                case UsbRequestCode.GetStatus:
                    if (data.Length < HubClass.StatusSize)
                        return UsbStatus.Stall;
                    ushort status = 0, change = 0;
                    if (setup.bmRequestType == HubClass.FromPort)
                    {
                        if (!portValid) return UsbStatus.Stall;
                        PortStatus(port, out status, out change);
                    }
                    else if (setup.bmRequestType != HubClass.FromHub)
                        return UsbStatus.Stall;
                    data[0] = (byte)status; data[1] = (byte)(status >> 8);
                    data[2] = (byte)change; data[3] = (byte)(change >> 8);
                    actual = HubClass.StatusSize;
                    return UsbStatus.Ok;
                case UsbRequestCode.SetFeature:
                    if (setup.bmRequestType == HubClass.ToHub)
                        return UsbStatus.Ok;
                    if (setup.bmRequestType != HubClass.ToPort || !portValid)
                        return UsbStatus.Stall;
                    return SetPortFeature(port, setup.wValue);
                case UsbRequestCode.ClearFeature:
                    if (setup.bmRequestType == HubClass.ToHub)
                        return UsbStatus.Ok;
                    if (setup.bmRequestType != HubClass.ToPort || !portValid)
                        return UsbStatus.Stall;
                    return ClearPortFeature(port, setup.wValue);
                default:
                    return UsbStatus.Stall;
            }
        }

        UsbStatus HubDescriptor(Span<byte> data, out int actual)
        {
            Span<byte> d = stackalloc byte[HubDescriptorLength];
            d[0] = HubDescriptorLength;
            d[1] = DescriptorType.Hub;
            d[2] = (byte)_ports;
            d[3] = (byte)HubCharacteristics;
            d[4] = (byte)(HubCharacteristics >> 8);
            d[5] = PowerOnToGood;
            d[6] = 0;
            d[7] = 0; // DeviceRemovable: every port removable
            d[8] = AllPortsPowerControl;
            int n = data.Length < HubDescriptorLength ? data.Length : HubDescriptorLength;
            for (int i = 0; i < n; i++)
                data[i] = d[i];
            actual = n;
            return UsbStatus.Ok;
        }

        UsbStatus SetPortFeature(int port, ushort feature)
        {
            switch (feature)
            {
                case HubClass.PortReset:
                    ResetPort(port);
                    return UsbStatus.Ok;
                case HubClass.PortSuspend:
                    SetBits(port, PortSc.SUSP);
                    return UsbStatus.Ok;
                case HubClass.PortPower:
                    return UsbStatus.Ok; // no power switching
                case HubClass.PortEnable:
                    SetBits(port, PortSc.PE);
                    return UsbStatus.Ok;
                default:
                    return UsbStatus.Stall;
            }
        }

        UsbStatus ClearPortFeature(int port, ushort feature)
        {
            switch (feature)
            {
                case HubClass.PortEnable:
                    ClearBits(port, PortSc.PE);
                    return UsbStatus.Ok;
                case HubClass.PortSuspend:
                    ResumePort(port);
                    return UsbStatus.Ok;
                case HubClass.PortPower:
                    return UsbStatus.Ok; // no power switching
                case HubClass.CPortConnection:
                    ClearBits(port, PortSc.CSC);
                    return UsbStatus.Ok;
                case HubClass.CPortEnable:
                    ClearBits(port, PortSc.PEC);
                    return UsbStatus.Ok;
                case HubClass.CPortOverCurrent:
                    ClearBits(port, PortSc.OCC);
                    return UsbStatus.Ok;
                case HubClass.CPortReset:
                    _resetChange[port] = false;
                    return UsbStatus.Ok;
                case HubClass.CPortSuspend:
                    _suspendChange[port] = false;
                    return UsbStatus.Ok;
                default:
                    return UsbStatus.Stall;
            }
        }
    }
}
