using System;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hub;
using Platform;

namespace Drivers.Usb.Hcd.Ehci
{
    /// <summary>
    /// Root hub emulation from PORTSC (EHCI 1.0, 2.3.9 and 4.2; Linux ehci-hub.c): hub-class
    /// requests of USB 2.0 11.24.2 (decoded by <see cref="RootHubPorts"/>), the status-change
    /// bitmap, port reset (PR for 50 ms, then cleared and waited for, bounded) and the companion
    /// hand-off: a port that shows a low-speed K-state before reset, or is not enabled after reset
    /// (full speed), gets PORT_OWNER so its UHCI/OHCI companion takes it (4.2.2).
    /// </summary>
    public sealed class EhciRootHub : RootHubPorts
    {
        /// <summary>TDRSTR: root port reset is driven for 50 ms (USB 2.0 7.1.7.5).</summary>
        public const uint ResetMs = HubTimings.RootResetMs;
        /// <summary>Bound of the wait for PR to read 0 after software cleared it (spec: within 2 ms).</summary>
        public const uint ResetClearTimeoutMs = 10;
        /// <summary>TDRSMDN: resume signalling is driven for 20 ms (USB 2.0 7.1.7.7).</summary>
        public const uint ResumeMs = 20;
        /// <summary>wHubCharacteristics: per-port power switching (bits 1:0 = 01b) when PPC, else none (1xb); per-port over-current (bits 4:3 = 01b).</summary>
        const ushort CharacteristicsPerPortPower = 0x0001;
        const ushort CharacteristicsNoPowerSwitching = 0x0002;
        const ushort CharacteristicsPerPortOverCurrent = 0x0008;
        /// <summary>bPwrOn2PwrGood in 2 ms units (Linux ehci: 10 = 20 ms).</summary>
        public const byte PowerOnToGood = 10;
        const byte AllPortsPowerControl = 0xFF;
        /// <summary>An MMIO read of all ones: the controller is gone.</summary>
        const uint RegisterGone = 0xFFFFFFFF;

        readonly IRegisterBlock _regs;
        readonly uint _op;
        readonly IClock _clock;
        readonly string _tag;
        public readonly bool PowerSwitching;
        public readonly bool HasCompanions;
        readonly bool[] _resetChange;
        readonly bool[] _suspendChange;
        /// <summary>Ports handed to a companion (logged once per hand-off).</summary>
        public int HandedToCompanion;

        public EhciRootHub(IRegisterBlock regs, uint operationalBase, IClock clock, uint hcsParams, string tag)
            : base(RootPorts(hcsParams))
        {
            _regs = regs;
            _op = operationalBase;
            _clock = clock;
            _tag = tag;
            PowerSwitching = (hcsParams & HcsParams.PPC) != 0;
            HasCompanions = HcsParams.Companions(hcsParams) > 0;
            _resetChange = new bool[PortCount + 1];
            _suspendChange = new bool[PortCount + 1];
        }

        /// <summary>N_PORTS of HCSPARAMS (2.2.3), bounded to the PORTSC registers there are.</summary>
        static int RootPorts(uint hcsParams)
        {
            int ports = HcsParams.Ports(hcsParams);
            return ports > EhciOp.MaxPorts ? EhciOp.MaxPorts : ports;
        }

        uint Reg(int port) => _op + EhciOp.PORTSC(port);
        public uint Read(int port) => _regs.Read32(Reg(port));

        /// <summary>Writes PORTSC with the write-1-to-clear change bits masked out (Linux: temp &amp;= ~PORT_RWC_BITS).</summary>
        void WriteKeepingChanges(int port, uint value) => _regs.Write32(Reg(port), value & ~PortSc.ChangeBits);

        void SetBits(int port, uint bits) => WriteKeepingChanges(port, Read(port) | bits);
        void ClearBits(int port, uint bits) => WriteKeepingChanges(port, Read(port) & ~bits);
        void AcknowledgeChange(int port, uint change) => _regs.Write32(Reg(port), (Read(port) & ~PortSc.ChangeBits) | change);

        /// <summary>Powers every port when the controller has port power switches (2.3.9 PP).</summary>
        public void PowerOn()
        {
            if (!PowerSwitching)
                return;
            for (int port = 1; port <= PortCount; port++)
                SetBits(port, PortSc.PortPower);
        }

        /// <summary>Status-change bitmap (USB 2.0 11.12.4): bit n = port n; 0 when nothing changed.</summary>
        public int StatusData(Span<byte> bitmap)
        {
            int length = (PortCount + 1 + 7) / 8;
            if (length > bitmap.Length) length = bitmap.Length;
            bool any = false;
            for (int port = 1; port <= PortCount; port++)
            {
                if (port / 8 >= length) break;
                uint sc = Read(port);
                if (sc == RegisterGone) continue;
                if ((sc & PortSc.ChangeBits) != 0 || _resetChange[port] || _suspendChange[port])
                {
                    bitmap[port / 8] |= (byte)(1 << (port % 8));
                    any = true;
                }
            }
            return any ? length : 0;
        }

        /// <summary>wPortStatus and wPortChange (USB 2.0 11.24.2.7) from PORTSC. An owned-by-companion port reads as empty.</summary>
        public override void PortStatus(int port, out ushort status, out ushort change)
        {
            uint sc = Read(port);
            status = 0;
            change = 0;
            if ((sc & PortSc.PortOwner) == 0)
            {
                if ((sc & PortSc.CurrentConnectStatus) != 0) status |= HubClass.StatusConnection;
                if ((sc & PortSc.PortEnabled) != 0) status |= HubClass.StatusEnable | HubClass.StatusHighSpeed;
                if ((sc & PortSc.Suspend) != 0) status |= HubClass.StatusSuspend;
                if ((sc & PortSc.PortReset) != 0) status |= HubClass.StatusReset;
            }
            if ((sc & PortSc.OverCurrentActive) != 0) status |= HubClass.StatusOverCurrent;
            if (!PowerSwitching || (sc & PortSc.PortPower) != 0) status |= HubClass.StatusPower;
            if ((sc & PortSc.ConnectStatusChange) != 0) change |= HubClass.ChangeConnection;
            if ((sc & PortSc.PortEnableChange) != 0) change |= HubClass.ChangeEnable;
            if ((sc & PortSc.OverCurrentChange) != 0) change |= HubClass.ChangeOverCurrent;
            if (_resetChange[port]) change |= HubClass.ChangeReset;
            if (_suspendChange[port]) change |= HubClass.ChangeSuspend;
        }

        /// <summary>Hands the port to its companion controller (2.3.9 PO, 4.2.2).</summary>
        public void HandToCompanion(int port, string why)
        {
            Log.Info(_tag + "port " + Format.Decimal((ulong)port) + " " + why + " --> companion");
            SetBits(port, PortSc.PortOwner);
            HandedToCompanion++;
        }

        /// <summary>
        /// Port reset (4.2.2, USB 2.0 7.1.7.5). A low-speed device (K-state, not enabled) goes to
        /// the companion without a reset. Otherwise PR is driven for TDRSTR, cleared, and PR must
        /// read 0 (bounded); a device that did not come up enabled is full speed: companion.
        /// Thread context: sleeps.
        /// </summary>
        public UsbStatus ResetPort(int port)
        {
            uint sc = Read(port);
            if ((sc & PortSc.PortOwner) != 0)
                return UsbStatus.Ok;
            if ((sc & PortSc.CurrentConnectStatus) == 0)
                return UsbStatus.Ok; // the hub driver sees the port empty
            if ((sc & PortSc.PortEnabled) == 0 && (sc & PortSc.LineStatusMask) == PortSc.LineStatusK)
            {
                if (HasCompanions)
                {
                    HandToCompanion(port, "low speed");
                    return UsbStatus.Ok;
                }
            }
            // PE must be 0 while PR is set (2.3.9); clear Suspend too.
            WriteKeepingChanges(port, (sc & ~(PortSc.PortEnabled | PortSc.Suspend)) | PortSc.PortReset);
            _clock.Sleep(ResetMs);
            ClearBits(port, PortSc.PortReset);
            ulong start = _clock.Milliseconds;
            int polls = 0;
            while (((sc = Read(port)) & PortSc.PortReset) != 0)
            {
                if (_clock.Milliseconds - start >= ResetClearTimeoutMs || ++polls > (int)ResetClearTimeoutMs)
                {
                    Log.Warning(_tag + "port " + Format.Decimal((ulong)port) + " reset did not complete");
                    return UsbStatus.Timeout;
                }
                _clock.Sleep(1);
            }
            _resetChange[port] = true;
            if ((sc & PortSc.CurrentConnectStatus) != 0 && (sc & PortSc.PortEnabled) == 0)
            {
                if (HasCompanions)
                    HandToCompanion(port, "full speed");
                else
                    Log.Warning(_tag + "port " + Format.Decimal((ulong)port) + ": full-speed device and no companion controller");
            }
            return UsbStatus.Ok;
        }

        /// <summary>Resume a suspended port: FPR for TDRSMDN, then clear it (4.3.1).</summary>
        public void ResumePort(int port)
        {
            if ((Read(port) & PortSc.Suspend) == 0)
                return;
            SetBits(port, PortSc.ForcePortResume);
            _clock.Sleep(ResumeMs);
            ClearBits(port, PortSc.ForcePortResume);
            _suspendChange[port] = true;
        }

        /// <summary>GET_DESCRIPTOR answers only for the hub descriptor type in wValue bits 15..8 (USB 2.0 11.24.2.5).</summary>
        protected override bool AcceptsDescriptorRequest(ushort wValue) => (wValue >> 8) == DescriptorType.Hub;

        /// <summary>No hub features (local power, over-current) to set or clear: every request succeeds.</summary>
        protected override UsbStatus SetHubFeature(ushort feature) => UsbStatus.Ok;
        protected override UsbStatus ClearHubFeature(ushort feature) => UsbStatus.Ok;

        /// <summary>Hub descriptor (USB 2.0 11.23.2.1), Linux ehci_hub_descriptor.</summary>
        public override int HubDescriptorBytes(Span<byte> data)
        {
            int maskBytes = (PortCount + 1 + 7) / 8;
            int length = HubDescriptorLength(maskBytes);
            Span<byte> d = stackalloc byte[HubDescriptorLength(2)];
            ushort characteristics = PowerSwitching ? CharacteristicsPerPortPower : CharacteristicsNoPowerSwitching;
            characteristics |= CharacteristicsPerPortOverCurrent;
            d[0] = (byte)length;
            d[1] = DescriptorType.Hub;
            d[2] = (byte)PortCount;
            d[3] = (byte)characteristics;
            d[4] = (byte)(characteristics >> 8);
            d[5] = PowerOnToGood;
            d[6] = 0;
            for (int i = 0; i < maskBytes; i++)
            {
                d[HubDescriptor.MinimumSize + i] = 0; // every port removable
                d[HubDescriptor.MinimumSize + maskBytes + i] = AllPortsPowerControl;
            }
            int n = data.Length < length ? data.Length : length;
            for (int i = 0; i < n; i++)
                data[i] = d[i];
            return n;
        }

        static int HubDescriptorLength(int maskBytes) => HubDescriptor.MinimumSize + 2 * maskBytes;

        protected override UsbStatus SetPortFeature(int port, ushort feature, int selector)
        {
            switch (feature)
            {
                case HubClass.PortReset:
                    return ResetPort(port);
                case HubClass.PortSuspend:
                    if ((Read(port) & PortSc.PortEnabled) != 0)
                        SetBits(port, PortSc.Suspend);
                    return UsbStatus.Ok;
                case HubClass.PortPower:
                    if (PowerSwitching)
                        SetBits(port, PortSc.PortPower);
                    return UsbStatus.Ok;
                case HubClass.PortEnable:
                    return UsbStatus.Ok; // software cannot enable an EHCI port (2.3.9 PE); reset does
                default:
                    return UsbStatus.Stall;
            }
        }

        protected override UsbStatus ClearPortFeature(int port, ushort feature)
        {
            switch (feature)
            {
                case HubClass.PortEnable:
                    ClearBits(port, PortSc.PortEnabled);
                    return UsbStatus.Ok;
                case HubClass.PortSuspend:
                    ResumePort(port);
                    return UsbStatus.Ok;
                case HubClass.PortPower:
                    if (PowerSwitching)
                        ClearBits(port, PortSc.PortPower);
                    return UsbStatus.Ok;
                case HubClass.CPortConnection:
                    AcknowledgeChange(port, PortSc.ConnectStatusChange);
                    return UsbStatus.Ok;
                case HubClass.CPortEnable:
                    AcknowledgeChange(port, PortSc.PortEnableChange);
                    return UsbStatus.Ok;
                case HubClass.CPortOverCurrent:
                    AcknowledgeChange(port, PortSc.OverCurrentChange);
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
