using System;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hub;
using Platform;

namespace Drivers.Usb.Hcd.Uhci
{
    /// <summary>
    /// Root hub emulation for the two UHCI ports (Linux uhci-hub.c): hub-class requests
    /// (USB 2.0 11.24.2, decoded by <see cref="RootHubPorts"/>) answered from PORTSC1/PORTSC2
    /// (UHCI 1.1, 2.1.7). UHCI has no port power switching and no port-change interrupt: the
    /// driver polls <see cref="StatusData"/>.
    /// Reset and resume change bits do not exist in PORTSC and are kept here.
    /// </summary>
    public sealed class UhciRootHub : RootHubPorts
    {
        /// <summary>TDRSTR: root port reset is driven for 50 ms (USB 2.0 7.1.7.5).</summary>
        public const uint ResetMs = HubTimings.RootResetMs;
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
        readonly bool[] _resetChange;
        readonly bool[] _suspendChange;

        public UhciRootHub(IRegisterBlock regs, IClock clock, int ports = UhciRegisters.PortCount)
            : base(ports)
        {
            _regs = regs;
            _clock = clock;
            _resetChange = new bool[ports + 1];
            _suspendChange = new bool[ports + 1];
        }

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
            for (int port = 1; port <= PortCount; port++)
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
        public override void PortStatus(int port, out ushort status, out ushort change)
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

        /// <summary>GET_DESCRIPTOR answers only for the hub descriptor type in wValue bits 15..8 (USB 2.0 11.24.2.5).</summary>
        protected override bool AcceptsDescriptorRequest(ushort wValue) => (wValue >> 8) == DescriptorType.Hub;

        /// <summary>No hub features (local power, over-current) to set or clear: every request succeeds.</summary>
        protected override UsbStatus SetHubFeature(ushort feature) => UsbStatus.Ok;
        protected override UsbStatus ClearHubFeature(ushort feature) => UsbStatus.Ok;

        /// <summary>Hub descriptor (USB 2.0 11.23.2.1), Linux uhci_hub_descriptor.</summary>
        public override int HubDescriptorBytes(Span<byte> data)
        {
            Span<byte> d = stackalloc byte[HubDescriptorLength];
            d[0] = HubDescriptorLength;
            d[1] = DescriptorType.Hub;
            d[2] = (byte)PortCount;
            d[3] = (byte)HubCharacteristics;
            d[4] = (byte)(HubCharacteristics >> 8);
            d[5] = PowerOnToGood;
            d[6] = 0;
            d[7] = 0; // DeviceRemovable: every port removable
            d[8] = AllPortsPowerControl;
            int n = data.Length < HubDescriptorLength ? data.Length : HubDescriptorLength;
            for (int i = 0; i < n; i++)
                data[i] = d[i];
            return n;
        }

        protected override UsbStatus SetPortFeature(int port, ushort feature, int selector)
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

        protected override UsbStatus ClearPortFeature(int port, ushort feature)
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
