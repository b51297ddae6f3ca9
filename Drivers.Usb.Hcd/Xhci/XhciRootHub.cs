using System;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hub;
using Platform;

namespace Drivers.Usb.Hcd.Xhci
{
    /// <summary>
    /// One of the two buses of an xHCI (Linux registers a USB 2 "high-speed" and a USB 3
    /// "SuperSpeed" root hub per controller): the IHostController the core sees. Device and
    /// transfer calls go to the shared <see cref="XhciController"/>; the root hub is emulated from
    /// PORTSC (5.4.8) of the controller ports this bus owns, numbered 1..n here; the hub-class
    /// requests are decoded by <see cref="RootHubPorts"/>.
    /// </summary>
    public sealed class XhciRootHub : RootHubPorts, IHostController, IStreamController
    {
        /// <summary>bPwrOn2PwrGood: 20 ms (units of 2 ms), as Linux's xhci_hub_descriptor.</summary>
        public const byte PowerOnToGood = 10;
        /// <summary>PortPwrCtrlMask: all ones for USB 1.1 compatibility (USB 2.0 11.23.2.1).</summary>
        const byte PortPowerControlMaskAllOnes = 0xFF;
        /// <summary>wHubCharacteristics: per-port power switching / no power switching, per-port over-current (USB 2.0 table 11-13).</summary>
        const ushort CharacteristicsIndividualPower = 0x0001;
        const ushort CharacteristicsNoPowerSwitching = 0x0002;
        const ushort CharacteristicsPerPortOverCurrent = 0x0008;
        /// <summary>wPortStatus bits 8..5 of a SuperSpeed port: the link state (USB 3.2 table 10-10).</summary>
        const int SuperSpeedLinkStateShift = 5;
        const uint RegisterGone = 0xFFFFFFFF;

        readonly XhciController _hc;
        readonly int[] _ports;
        public readonly bool SuperSpeed;
        public UsbBus Bus;

        public XhciRootHub(XhciController hc, int[] controllerPorts, bool superSpeed)
            : base(controllerPorts.Length)
        {
            _hc = hc;
            _ports = controllerPorts;
            SuperSpeed = superSpeed;
        }

        public string DriverName => XhciController.DriverName;
        public string HcdDescription => "xhci-hcd";
        public string Description => XhciController.ProductName;
        public string BusId => _hc.BusId;
        public UsbSpeed RootHubSpeed => SuperSpeed ? UsbSpeed.Super : UsbSpeed.High;
        public int RootPortCount => _ports.Length;
        public bool AssignsAddresses => true;
        /// <summary>
        /// The USB 2 root hub of an xHCI translates for full/low-speed devices itself (an integrated TT, Linux's
        /// has_tt), so it reports bDeviceProtocol 1; no TT fields go into root-port slot contexts either way.
        /// </summary>
        public bool RootHubHasTt => RootHubSpeed == UsbSpeed.High;
        /// <summary>MFINDEX (5.5.1) counts microframes; the frame number is MFINDEX / 8.</summary>
        public uint FrameNumber => _hc.FrameIndex >> 3;

        /// <summary>Controller port number (1-based) of this bus's port <paramref name="port"/>; 0 if none.</summary>
        public int ControllerPort(int port) => port >= 1 && port <= _ports.Length ? _ports[port - 1] : 0;

        public void Start(UsbBus bus) => Bus = bus;
        public void Stop() => _hc.Stop();

        public UsbStatus AllocateDevice(UsbDevice device) => _hc.AllocateDevice(this, device);
        public void FreeDevice(UsbDevice device) => _hc.FreeDevice(device);
        public UsbStatus AddressDevice(UsbDevice device, byte address, out byte assigned) => _hc.AddressDevice(device, out assigned);
        public UsbStatus EnableEndpoint(UsbDevice device, UsbEndpoint endpoint) => _hc.EnableEndpoint(device, endpoint);
        public void DisableEndpoint(UsbDevice device, UsbEndpoint endpoint) => _hc.DisableEndpoint(device, endpoint);
        /// <summary>
        /// After CLEAR_FEATURE(ENDPOINT_HALT). A halted endpoint was already reset (Reset Endpoint
        /// clears the host sequence state) when its failed request's completion returned.
        /// </summary>
        public void ResetEndpoint(UsbDevice device, UsbEndpoint endpoint) { }
        public void EndpointResumed(UsbEndpoint endpoint) => _hc.EndpointResumed(endpoint);
        public UsbStatus Submit(UsbRequest request) => _hc.Submit(request);
        public UsbStatus Cancel(UsbRequest request, UsbStatus status) => _hc.Cancel(request, status);
        public bool CanDoStreams => _hc.CanDoStreams;
        public UsbStatus AllocStreams(UsbDevice device, UsbEndpoint[] endpoints, int streams, out int allocated) =>
            _hc.AllocStreams(device, endpoints, streams, out allocated);
        public UsbStatus FreeStreams(UsbDevice device, UsbEndpoint[] endpoints) => _hc.FreeStreams(device, endpoints);

        internal void PortChanged()
        {
            if (Bus != null)
                Bus.RootHubStatusChanged();
        }

        // ---- Root hub emulation (USB 2.0 11.24.2, USB 3.2 10.16.2; Linux xhci-hub.c) ------------

        /// <summary>Change bits this bus reports (and lets the hub driver clear).</summary>
        uint ReportedChanges => SuperSpeed
            ? PortSc.ConnectStatusChange | PortSc.PortEnabledChange | PortSc.OverCurrentChange | PortSc.PortResetChange |
              PortSc.WarmResetChange | PortSc.LinkStateChange | PortSc.ConfigErrorChange
            : PortSc.ConnectStatusChange | PortSc.PortEnabledChange | PortSc.OverCurrentChange | PortSc.PortResetChange |
              PortSc.LinkStateChange;

        /// <summary>Hub-class requests, decoded by <see cref="RootHubPorts.Control"/>.</summary>
        public UsbStatus RootHubControl(SetupPacket setup, Span<byte> data, out int actualLength) =>
            Control(setup, data, out actualLength);

        /// <summary>wPortStatus and wPortChange of bus port <paramref name="port"/> (see <see cref="PortStatus(uint)"/>).</summary>
        public override void PortStatus(int port, out ushort status, out ushort change)
        {
            uint word = PortStatus(_hc.ReadPortSc(_ports[port - 1]));
            status = (ushort)word;
            change = (ushort)(word >> ChangeShift);
        }

        /// <summary>wPortStatus | wPortChange &lt;&lt; 16 from PORTSC (Linux xhci_get_port_status).</summary>
        public uint PortStatus(uint sc)
        {
            if (sc == RegisterGone)
                return 0;
            uint status = 0, change = 0;
            if ((sc & PortSc.CurrentConnectStatus) != 0) status |= HubClass.StatusConnection;
            if ((sc & PortSc.PortEnabled) != 0) status |= HubClass.StatusEnable;
            if ((sc & PortSc.OverCurrentActive) != 0) status |= HubClass.StatusOverCurrent;
            if ((sc & PortSc.PortReset) != 0) status |= HubClass.StatusReset;
            if (SuperSpeed)
            {
                if ((sc & PortSc.PortPower) != 0) status |= HubClass.SuperSpeedStatusPower;
                status |= PortSc.LinkState(sc) << SuperSpeedLinkStateShift;
                if ((sc & PortSc.WarmResetChange) != 0) change |= HubClass.ChangeBhReset;
                if ((sc & PortSc.LinkStateChange) != 0) change |= HubClass.ChangeLinkState;
                if ((sc & PortSc.ConfigErrorChange) != 0) change |= HubClass.ChangeConfigError;
            }
            else
            {
                if ((sc & PortSc.PortPower) != 0) status |= HubClass.StatusPower;
                if (PortSc.LinkState(sc) == PortSc.LinkU3) status |= HubClass.StatusSuspend;
                uint speed = PortSc.Speed(sc);
                if ((sc & PortSc.CurrentConnectStatus) != 0)
                {
                    if (speed == PortSc.SpeedLow) status |= HubClass.StatusLowSpeed;
                    else if (speed == PortSc.SpeedHigh) status |= HubClass.StatusHighSpeed;
                }
                if ((sc & PortSc.LinkStateChange) != 0) change |= HubClass.ChangeSuspend;
            }
            if ((sc & PortSc.ConnectStatusChange) != 0) change |= HubClass.ChangeConnection;
            if ((sc & PortSc.PortEnabledChange) != 0) change |= HubClass.ChangeEnable;
            if ((sc & PortSc.OverCurrentChange) != 0) change |= HubClass.ChangeOverCurrent;
            if ((sc & PortSc.PortResetChange) != 0) change |= HubClass.ChangeReset;
            return status | (change << ChangeShift);
        }

        /// <summary>SET_FEATURE to bus port <paramref name="port"/>; <paramref name="linkState"/> is wIndex bits 15..8 of PORT_LINK_STATE.</summary>
        protected override UsbStatus SetPortFeature(int port, ushort feature, int linkState)
        {
            int cp = _ports[port - 1];
            uint sc = _hc.ReadPortSc(cp);
            uint neutral = PortSc.Neutral(sc);
            switch (feature)
            {
                case HubClass.PortReset:
                    _hc.WritePortSc(cp, neutral | PortSc.PortReset);
                    return UsbStatus.Ok;
                case HubClass.BhPortReset:
                    if (!SuperSpeed) return UsbStatus.Stall;
                    _hc.WritePortSc(cp, neutral | PortSc.WarmPortReset);
                    return UsbStatus.Ok;
                case HubClass.PortPower:
                    _hc.WritePortSc(cp, neutral | PortSc.PortPower);
                    return UsbStatus.Ok;
                case HubClass.PortSuspend:
                    if (SuperSpeed) return UsbStatus.Stall;
                    _hc.WritePortSc(cp, (neutral & ~PortSc.LinkStateMask) | PortSc.LinkWriteStrobe | (PortSc.LinkU3 << PortSc.LinkStateShift));
                    return UsbStatus.Ok;
                case HubClass.PortLinkState:
                    if (!SuperSpeed) return UsbStatus.Stall;
                    _hc.WritePortSc(cp, (neutral & ~PortSc.LinkStateMask) | PortSc.LinkWriteStrobe |
                                        (((uint)linkState << PortSc.LinkStateShift) & PortSc.LinkStateMask));
                    return UsbStatus.Ok;
                case HubClass.PortEnable:
                    return UsbStatus.Ok; // ports are enabled by a reset (or link training), never by software
                default:
                    return UsbStatus.Stall;
            }
        }

        protected override UsbStatus ClearPortFeature(int port, ushort feature)
        {
            int cp = _ports[port - 1];
            uint sc = _hc.ReadPortSc(cp);
            uint neutral = PortSc.Neutral(sc);
            uint bit;
            switch (feature)
            {
                case HubClass.PortEnable: bit = PortSc.PortEnabled; break;
                case HubClass.PortPower:
                    _hc.WritePortSc(cp, neutral & ~PortSc.PortPower);
                    return UsbStatus.Ok;
                case HubClass.PortSuspend:
                    if (PortSc.LinkState(sc) != PortSc.LinkU3)
                        return UsbStatus.Ok;
                    _hc.WritePortSc(cp, (neutral & ~PortSc.LinkStateMask) | PortSc.LinkWriteStrobe | (PortSc.LinkU0 << PortSc.LinkStateShift));
                    return UsbStatus.Ok;
                case HubClass.CPortConnection: bit = PortSc.ConnectStatusChange; break;
                case HubClass.CPortEnable: bit = PortSc.PortEnabledChange; break;
                case HubClass.CPortSuspend: bit = PortSc.LinkStateChange; break;
                case HubClass.CPortOverCurrent: bit = PortSc.OverCurrentChange; break;
                case HubClass.CPortReset: bit = PortSc.PortResetChange; break;
                case HubClass.CBhPortReset: bit = PortSc.WarmResetChange; break;
                case HubClass.CPortLinkState: bit = PortSc.LinkStateChange; break;
                case HubClass.CPortConfigError: bit = PortSc.ConfigErrorChange; break;
                default: return UsbStatus.Stall;
            }
            _hc.WritePortSc(cp, neutral | bit);
            return UsbStatus.Ok;
        }

        /// <summary>Hub descriptor: USB 2.0 11.23.2.1 for the USB 2 bus, SuperSpeed 10.15.2.1 for the USB 3 bus.</summary>
        public override int HubDescriptorBytes(Span<byte> d)
        {
            int ports = _ports.Length;
            ushort characteristics = (ushort)((_hc.PortPowerControl ? CharacteristicsIndividualPower : CharacteristicsNoPowerSwitching) |
                                              CharacteristicsPerPortOverCurrent);
            Span<byte> full = stackalloc byte[HubDescriptor.SuperSpeedSize + 8];
            int length;
            if (SuperSpeed)
            {
                length = HubDescriptor.SuperSpeedSize;
                full[0] = (byte)length;
                full[1] = DescriptorType.SuperSpeedHub;
                full[2] = (byte)ports;
                full[3] = (byte)characteristics;
                full[4] = (byte)(characteristics >> 8);
                full[5] = PowerOnToGood;
                full[6] = 0; // bHubContrCurrent
                full[7] = 0; // bHubHdrDecLat
                full[8] = 0; // wHubDelay
                full[9] = 0;
                full[10] = 0; // DeviceRemovable
                full[11] = 0;
            }
            else
            {
                int maskBytes = (ports + 1 + 7) / 8;
                length = HubDescriptor.MinimumSize + 2 * maskBytes;
                full[0] = (byte)length;
                full[1] = DescriptorType.Hub;
                full[2] = (byte)ports;
                full[3] = (byte)characteristics;
                full[4] = (byte)(characteristics >> 8);
                full[5] = PowerOnToGood;
                full[6] = 0;
                for (int i = 0; i < maskBytes; i++)
                {
                    full[HubDescriptor.MinimumSize + i] = 0;
                    full[HubDescriptor.MinimumSize + maskBytes + i] = PortPowerControlMaskAllOnes;
                }
            }
            if (length > d.Length) length = d.Length;
            for (int i = 0; i < length; i++)
                d[i] = full[i];
            return length;
        }

        /// <summary>Status-change bitmap (USB 2.0 11.12.4): bit n for port n with a reported change bit set.</summary>
        public int RootHubStatusData(Span<byte> bitmap)
        {
            if (!_hc.IsRunning)
                return 0;
            int length = (_ports.Length + 1 + 7) / 8;
            if (length > bitmap.Length) length = bitmap.Length;
            bool any = false;
            uint reported = ReportedChanges;
            for (int port = 1; port <= _ports.Length; port++)
            {
                if (port / 8 >= length) break;
                uint sc = _hc.ReadPortSc(_ports[port - 1]);
                if (sc == RegisterGone) continue;
                if ((sc & reported) != 0)
                {
                    bitmap[port / 8] |= (byte)(1 << (port % 8));
                    any = true;
                }
            }
            return any ? length : 0;
        }
    }
}
