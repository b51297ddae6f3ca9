using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Drivers.Usb.Hcd.Ehci;
using Platform;
using Platform.Pci;

namespace Hcd.Tests.Ehci
{
    /// <summary>
    /// Simulated EHCI register block (2.2, 2.3): capability registers, USBCMD/USBSTS with halt and
    /// HCRESET, write-1-to-clear USBSTS and PORTSC change bits, PE that software can only clear,
    /// and ports with high-, full- or low-speed devices whose reset behaves as on real hardware:
    /// PR stays set until software clears it; a high-speed device then shows PE, a full-speed one not.
    /// </summary>
    public sealed class FakeEhciRegisters : IRegisterBlock
    {
        public const uint CapLength = 0x20;
        public readonly uint[] Caps = new uint[CapLength / 4];
        public readonly uint[] Op = new uint[0x80 / 4];
        public readonly List<(uint Offset, uint Value)> Writes = new();
        public readonly UsbSpeedKind[] Devices;
        /// <summary>Reads of USBCMD before HCRESET clears; -1: never.</summary>
        public int ResetReads = 3;
        int _resetting;
        /// <summary>A port whose PR never reads 0 (broken hardware).</summary>
        public int StuckResetPort;
        public int PortCount;

        public enum UsbSpeedKind { None, Low, Full, High }

        public FakeEhciRegisters(int ports, bool companions = true, bool ppc = true, bool addressing64 = false)
        {
            PortCount = ports;
            Devices = new UsbSpeedKind[ports + 1];
            Caps[0] = CapLength | (0x0100u << EhciCap.HciVersionShift);
            Caps[1] = (uint)ports | (ppc ? HcsParams.PPC : 0) | (companions ? (2u << HcsParams.N_PCC_Shift) | (3u << HcsParams.N_CC_Shift) : 0);
            Caps[2] = (addressing64 ? HccParams.AddressingCapability64 : 0) | (0x68u << HccParams.EECP_Shift);
            OpReg(EhciOp.USBSTS) = UsbSts.HCHalted;
            for (int p = 1; p <= ports; p++)
                OpReg(EhciOp.PORTSC(p)) = ppc ? 0 : Drivers.Usb.Hcd.Ehci.PortSc.PortPower;
        }

        public ref uint OpReg(uint offset) => ref Op[offset / 4];
        public uint PortSc(int port) => OpReg(EhciOp.PORTSC(port));

        public void Connect(int port, UsbSpeedKind speed)
        {
            Devices[port] = speed;
            ref uint p = ref OpReg(EhciOp.PORTSC(port));
            p |= Drivers.Usb.Hcd.Ehci.PortSc.CurrentConnectStatus | Drivers.Usb.Hcd.Ehci.PortSc.ConnectStatusChange;
            p &= ~Drivers.Usb.Hcd.Ehci.PortSc.LineStatusMask;
            p |= speed == UsbSpeedKind.Low ? Drivers.Usb.Hcd.Ehci.PortSc.LineStatusK : Drivers.Usb.Hcd.Ehci.PortSc.LineStatusJ;
            OpReg(EhciOp.USBSTS) |= UsbSts.PortChangeDetect;
        }

        public uint Read32(uint offset)
        {
            if (offset < CapLength)
                return Caps[offset / 4];
            uint o = offset - CapLength;
            if (o == EhciOp.USBCMD && _resetting > 0 && --_resetting == 0)
                OpReg(o) &= ~UsbCmd.HCRESET;
            return OpReg(o);
        }

        public void Write32(uint offset, uint value)
        {
            Writes.Add((offset, value));
            if (offset < CapLength)
                throw new InvalidOperationException("write to a capability register");
            uint o = offset - CapLength;
            switch (o)
            {
                case EhciOp.USBCMD:
                    if ((value & UsbCmd.HCRESET) != 0)
                    {
                        _resetting = ResetReads < 0 ? int.MaxValue : ResetReads;
                        OpReg(o) = UsbCmd.HCRESET;
                        OpReg(EhciOp.USBSTS) = UsbSts.HCHalted;
                        return;
                    }
                    OpReg(o) = value;
                    if ((value & UsbCmd.RunStop) != 0) OpReg(EhciOp.USBSTS) &= ~UsbSts.HCHalted;
                    else OpReg(EhciOp.USBSTS) |= UsbSts.HCHalted;
                    return;
                case EhciOp.USBSTS:
                    OpReg(o) &= ~(value & UsbSts.InterruptMask);
                    return;
                default:
                    if (o >= EhciOp.PORTSC_Base && o < EhciOp.PORTSC_Base + (uint)PortCount * 4)
                    {
                        PortWrite((int)((o - EhciOp.PORTSC_Base) / 4) + 1, value);
                        return;
                    }
                    OpReg(o) = value;
                    return;
            }
        }

        void PortWrite(int port, uint value)
        {
            const uint Rwc = Drivers.Usb.Hcd.Ehci.PortSc.ChangeBits;
            ref uint p = ref OpReg(EhciOp.PORTSC(port));
            uint old = p;
            p &= ~(value & Rwc);
            uint pe = Drivers.Usb.Hcd.Ehci.PortSc.PortEnabled;
            if ((value & pe) == 0) p &= ~pe; // software may clear PE, never set it
            const uint Writable = Drivers.Usb.Hcd.Ehci.PortSc.PortReset | Drivers.Usb.Hcd.Ehci.PortSc.PortPower |
                                  Drivers.Usb.Hcd.Ehci.PortSc.PortOwner | Drivers.Usb.Hcd.Ehci.PortSc.Suspend |
                                  Drivers.Usb.Hcd.Ehci.PortSc.ForcePortResume;
            p = (p & ~Writable) | (value & Writable);
            bool resetEnd = (old & Drivers.Usb.Hcd.Ehci.PortSc.PortReset) != 0 && (value & Drivers.Usb.Hcd.Ehci.PortSc.PortReset) == 0;
            if (port == StuckResetPort && resetEnd)
                p |= Drivers.Usb.Hcd.Ehci.PortSc.PortReset;
            else if (resetEnd && Devices[port] == UsbSpeedKind.High)
                p |= pe;
            if ((value & Drivers.Usb.Hcd.Ehci.PortSc.PortOwner) != 0 && (old & Drivers.Usb.Hcd.Ehci.PortSc.PortOwner) == 0)
            {
                // The companion takes the device: the EHCI port reads as disconnected (4.2.2).
                p &= ~(Drivers.Usb.Hcd.Ehci.PortSc.CurrentConnectStatus | pe);
                p |= Drivers.Usb.Hcd.Ehci.PortSc.ConnectStatusChange;
            }
        }

        public byte Read8(uint offset) => throw new InvalidOperationException("8-bit read");
        public ushort Read16(uint offset) => throw new InvalidOperationException("16-bit read");
        public ulong Read64(uint offset) => throw new InvalidOperationException("64-bit read");
        public void Write8(uint offset, byte value) => throw new InvalidOperationException("8-bit write");
        public void Write16(uint offset, ushort value) => throw new InvalidOperationException("16-bit write");
        public void Write64(uint offset, ulong value) => throw new InvalidOperationException("64-bit write");
    }

    /// <summary>PCI configuration space of one function with an EHCI USBLEGSUP capability and a BIOS that may never let go.</summary>
    public sealed class FakeEhciConfig : IPciConfigSpace
    {
        public readonly byte[] Space = new byte[256];
        public bool BiosReleases = true;
        public int BiosReleaseAfterReads = 2;
        public ushort LegSup;

        public uint Get32(ushort offset) => (uint)(Space[offset] | Space[offset + 1] << 8 | Space[offset + 2] << 16 | Space[offset + 3] << 24);
        public void Set32(ushort offset, uint value)
        {
            for (int i = 0; i < 4; i++) Space[offset + i] = (byte)(value >> (8 * i));
        }

        public uint Read32(PciAddress address, ushort offset)
        {
            if (offset == LegSup && LegSup != 0 && Space[offset + 3] != 0 && BiosReleases && BiosReleaseAfterReads-- <= 0)
                Space[offset + 2] &= 0xFE; // BIOS drops its semaphore after seeing the OS one
            return Get32(offset);
        }
        public void Write32(PciAddress address, ushort offset, uint value) => Set32(offset, value);
        public ushort Read16(PciAddress address, ushort offset) => (ushort)(Space[offset] | Space[offset + 1] << 8);
        public void Write16(PciAddress address, ushort offset, ushort value) { Space[offset] = (byte)value; Space[offset + 1] = (byte)(value >> 8); }
        public byte Read8(PciAddress address, ushort offset) => Space[offset];
        public void Write8(PciAddress address, ushort offset, byte value) => Space[offset] = value;
    }
}
