using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Drivers.Usb.Hcd.Ohci;
using Platform;

namespace Hcd.Tests.Ohci
{
    /// <summary>
    /// A small OHCI register block: write-1-to-set/clear semantics of HcCommandStatus,
    /// HcInterruptStatus/Enable/Disable, HcRhStatus and HcRhPortStatus (7.1, 7.4), a reset that
    /// completes after a few reads, an SMM owner that lets go after OCR, and ports with devices.
    /// </summary>
    public sealed class FakeOhciRegisters : IRegisterBlock
    {
        public readonly uint[] Regs = new uint[0x100 / 4];
        public readonly List<(uint Offset, uint Value)> Writes = new();
        public int ResetReads = 3;
        /// <summary>Reads of HcControl before firmware drops IR after OCR (with OwnershipChange unmasked); -1: never.</summary>
        public int SmmReleaseAfter = 2;
        bool _ocr;
        int _resetting;
        public bool ResetCompletesInstantly = false;

        public FakeOhciRegisters(int ports)
        {
            Regs[OhciReg.HcRevision / 4] = 0x10;
            Regs[OhciReg.HcFmInterval / 4] = 0x2EDF | (0x2778u << 16);
            Regs[OhciReg.HcRhDescriptorA / 4] = (uint)ports | HcRhDescriptorA.NoPowerSwitching | (1u << HcRhDescriptorA.PowerOnToPowerGoodShift);
        }

        ref uint R(uint offset) => ref Regs[offset / 4];

        public void Connect(int port, bool lowSpeed = false)
        {
            ref uint p = ref R(OhciReg.HcRhPortStatus(port));
            p |= HcRhPortStatus.CurrentConnectStatus | HcRhPortStatus.ConnectStatusChange;
            if (lowSpeed) p |= HcRhPortStatus.LowSpeedDeviceAttached;
            R(OhciReg.HcInterruptStatus) |= HcInterrupt.RootHubStatusChange;
        }

        public uint Read32(uint offset)
        {
            if (offset == OhciReg.HcCommandStatus && _resetting > 0 && --_resetting == 0)
                R(offset) &= ~HcCommandStatus.HostControllerReset;
            // The SMM code runs on the SMI that OwnershipChange raises, and only when it is unmasked (7.1.5).
            if (offset == OhciReg.HcControl && _ocr && (R(OhciReg.HcInterruptEnable) & HcInterrupt.OwnershipChange) != 0 &&
                SmmReleaseAfter >= 0 && SmmReleaseAfter-- == 0)
                R(offset) &= ~HcControl.InterruptRouting;
            return R(offset);
        }

        public void Write32(uint offset, uint value)
        {
            Writes.Add((offset, value));
            switch (offset)
            {
                case OhciReg.HcCommandStatus:
                    if ((value & HcCommandStatus.OwnershipChangeRequest) != 0) _ocr = true;
                    if ((value & HcCommandStatus.HostControllerReset) != 0)
                    {
                        _resetting = ResetReads;
                        // A software reset leaves IR and RemoteWakeupConnected alone (7.1.2).
                        R(OhciReg.HcControl) = (R(OhciReg.HcControl) & (HcControl.InterruptRouting | HcControl.RemoteWakeupConnected)) | HcControl.UsbSuspend;
                        R(OhciReg.HcFmInterval) = 0x2EDF; // FSMPS and FIT are lost by the reset
                    }
                    R(offset) |= value & ~HcCommandStatus.HostControllerReset;
                    if ((value & HcCommandStatus.HostControllerReset) != 0) R(offset) |= HcCommandStatus.HostControllerReset;
                    break;
                case OhciReg.HcInterruptStatus: R(offset) &= ~value; break;
                case OhciReg.HcInterruptEnable: R(offset) |= value; break;
                case OhciReg.HcInterruptDisable: R(OhciReg.HcInterruptEnable) &= ~value; break;
                case OhciReg.HcRhStatus:
                    if ((value & HcRhStatus.OverCurrentIndicatorChange) != 0) R(offset) &= ~HcRhStatus.OverCurrentIndicatorChange;
                    break;
                default:
                    if (offset >= OhciReg.HcRhPortStatusBase && offset < OhciReg.HcRhPortStatusBase + 15 * 4)
                        PortWrite(ref R(offset), value);
                    else
                        R(offset) = value;
                    break;
            }
        }

        static void PortWrite(ref uint p, uint value)
        {
            p &= ~(value & HcRhPortStatus.ChangeMask);
            bool connected = (p & HcRhPortStatus.CurrentConnectStatus) != 0;
            if ((value & HcRhPortStatus.ClearPortEnable) != 0) p &= ~HcRhPortStatus.PortEnableStatus;
            if ((value & HcRhPortStatus.SetPortEnable) != 0 && connected) p |= HcRhPortStatus.PortEnableStatus;
            if ((value & HcRhPortStatus.SetPortPower) != 0) p |= HcRhPortStatus.PortPowerStatus;
            if ((value & HcRhPortStatus.ClearPortPower) != 0) p &= ~HcRhPortStatus.PortPowerStatus;
            if ((value & HcRhPortStatus.SetPortReset) != 0 && connected)
                p |= HcRhPortStatus.PortEnableStatus | HcRhPortStatus.PortResetStatusChange; // reset done at once (like QEMU)
        }

        public byte Read8(uint offset) => (byte)Read32(offset & ~3u);
        public ushort Read16(uint offset) => (ushort)Read32(offset & ~3u);
        public ulong Read64(uint offset) => throw new InvalidOperationException("OHCI has no 64-bit registers");
        public void Write8(uint offset, byte value) => throw new InvalidOperationException("8-bit write");
        public void Write16(uint offset, ushort value) => throw new InvalidOperationException("16-bit write");
        public void Write64(uint offset, ulong value) => throw new InvalidOperationException("64-bit write");
    }
}
