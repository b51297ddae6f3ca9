using System.Text;
using Drivers.Usb;
using Drivers.Usb.Listings;
using Drivers.Usb.Serial;
using NUnit.Framework;
using Usb.Tests.Infrastructure;
using Usb.Tests.Serial;
using Usb.Tests.Simulation;

namespace Usb.Tests
{
    /// <summary>
    /// The parts of `lsusb -v` QEMU's devices do not reach (the boot test LsusbClassTests compares
    /// the rest with usbutils under Linux): each expected line is built from usbutils 014's printf
    /// format for it (lsusb.c do_hub/dump_hub, dump_bos_descriptor and its capability dumpers,
    /// dump_comm_descriptor; desc-dump.c for the audio tables).
    /// </summary>
    [TestFixture]
    public class LsusbClassDescriptorTests
    {
        [Test]
        public void HubDescriptor_Usb2_EveryCharacteristic()
        {
            // 4 ports, per-port power switching and overcurrent, TT think time 16 FS bit times, port indicators.
            byte[] hub = { 9, 0x29, 4, 0xA9, 0x00, 50, 100, 0x00, 0xFF };
            var sb = new StringBuilder();
            LsusbClassDescriptors.AppendHubDescriptor(sb, "", hub, 1);
            Assert.That(sb.ToString(), Is.EqualTo(
                "Hub Descriptor:\n" +
                "  bLength             " + "  9\n" +
                "  bDescriptorType     " + " 41\n" +
                "  nNbrPorts           " + "  4\n" +
                "  wHubCharacteristic 0x00a9\n" +
                "    Per-port power switching\n" +
                "    Per-port overcurrent protection\n" +
                "    TT think time 16 FS bits\n" +
                "    Port indicators\n" +
                "  bPwrOn2PwrGood      " + " 50 * 2 milli seconds\n" +
                "  bHubContrCurrent    " + "100 milli Ampere\n" +
                "  DeviceRemovable   " + " 0x00\n" +
                "  PortPwrCtrlMask   " + " 0xff\n"));
        }

        [Test]
        public void HubDescriptor_SuperSpeed_CompoundGangedNoTt()
        {
            // USB 3.2 10.15.2.1: 7 ports, ganged power, compound, no overcurrent; 10 * 4 mA; bHubHdrDecLat 4; wHubDelay; DeviceRemovable 0x02.
            byte[] hub = { 12, 0x2A, 7, 0x14, 0x00, 25, 10, 4, 0x12, 0x00, 0x02, 0x00 };
            var sb = new StringBuilder();
            LsusbClassDescriptors.AppendHubDescriptor(sb, "", hub, 3);
            Assert.That(sb.ToString(), Is.EqualTo(
                "Hub Descriptor:\n" +
                "  bLength             " + " 12\n" +
                "  bDescriptorType     " + " 42\n" +
                "  nNbrPorts           " + "  7\n" +
                "  wHubCharacteristic 0x0014\n" +
                "    Ganged power switching\n" +
                "    Compound device\n" +
                "    No overcurrent protection\n" +
                "  bPwrOn2PwrGood      " + " 25 * 2 milli seconds\n" +
                "  bHubContrCurrent   " + "  40 milli Ampere\n" +
                "  bHubDecLat          0.4 micro seconds\n" +
                "  wHubDelay          " + " 292 nano seconds\n" +     // usbutils: (0x12 << 4) + 4
                "  DeviceRemovable    0x02\n"));
        }

        [Test]
        public void PortStatus_Usb2AndSuperSpeedLines()
        {
            Assert.That(LsusbClassDescriptors.PortStatusLine(1, new byte[] { 0x03, 0x05, 0x01, 0x00 }, 0x0200),
                        Is.EqualTo("   Port 1: 0001.0503 C_CONNECT highspeed power enable connect\n"));
            Assert.That(LsusbClassDescriptors.PortStatusLine(3, new byte[] { 0x1C, 0x02, 0x12, 0x00 }, 0x0110),
                        Is.EqualTo("   Port 3: 0012.021c C_RESET C_ENABLE lowspeed RESET oc suspend\n"));
            Assert.That(LsusbClassDescriptors.PortStatusLine(2, new byte[] { 0x03, 0x02, 0x01, 0x00 }, 0x0300),
                        Is.EqualTo("   Port 2: 0001.0203 C_CONNECT 5Gbps power U0 enable connect\n"));
            Assert.That(LsusbClassDescriptors.PortStatusLine(4, new byte[] { 0xA0, 0x02, 0x00, 0x00 }, 0x0300),
                        Is.EqualTo("   Port 4: 0000.02a0 5Gbps power Rx.Detect\n"), "as usbutils printed for QEMU's xHCI root hub");
            Assert.That(LsusbClassDescriptors.PortStatusLine(1, new byte[] { 0x20, 0x01, 0x40, 0x00 }, 0x0300),
                        Is.EqualTo("   Port 1: 0040.0120 C_LINK_STATE 5Gbps Hot Reset\n"), "link state 9 from bits 5..8");
        }

        [Test]
        public void Bos_Usb2ExtensionWithBesl_SuperSpeedWithLtm_ContainerId()
        {
            var bos = new System.Collections.Generic.List<byte> { 5, 0x0F, 42, 0, 3 };
            bos.AddRange(new byte[] { 7, 0x10, 2, 0x1E, 0xF4, 0x00, 0x00 });
            bos.AddRange(new byte[] { 10, 0x10, 3, 0x02, 0x0E, 0x00, 1, 10, 0x20, 0x00 });
            bos.AddRange(new byte[] { 20, 0x10, 4, 0 });
            for (int i = 0; i < 16; i++) bos.Add((byte)i);
            var sb = new StringBuilder();
            LsusbClassDescriptors.AppendBosDescriptor(sb, bos.ToArray(), 42);
            Assert.That(sb.ToString(), Is.EqualTo(
                "Binary Object Store Descriptor:\n" +
                "  bLength                 5\n" +
                "  bDescriptorType        15\n" +
                "  wTotalLength       0x002a\n" +
                "  bNumDeviceCaps          3\n" +
                "  USB 2.0 Extension Device Capability:\n" +
                "    bLength                 7\n" +
                "    bDescriptorType        16\n" +
                "    bDevCapabilityType      2\n" +
                "    bmAttributes   0x0000f41e\n" +
                "      BESL Link Power Management (LPM) Supported\n" +
                "    Baseline BESL value      4 us\n" +
                "    Deep BESL value         15 us\n" +
                "  SuperSpeed USB Device Capability:\n" +
                "    bLength                10\n" +
                "    bDescriptorType        16\n" +
                "    bDevCapabilityType      3\n" +
                "    bmAttributes         0x02\n" +
                "      Latency Tolerance Messages (LTM) Supported\n" +
                "    wSpeedsSupported   0x000e\n" +
                "      Device can operate at Full Speed (12Mbps)\n" +
                "      Device can operate at High Speed (480Mbps)\n" +
                "      Device can operate at SuperSpeed (5Gbps)\n" +
                "    bFunctionalitySupport   1\n" +
                "      Lowest fully-functional device speed is Full Speed (12Mbps)\n" +
                "    bU1DevExitLat          10 micro seconds\n" +
                "    bU2DevExitLat          32 micro seconds\n" +
                "  Container ID Device Capability:\n" +
                "    bLength                20\n" +
                "    bDescriptorType        16\n" +
                "    bDevCapabilityType      4\n" +
                "    bReserved               0\n" +
                "    ContainerID             {03020100-0504-0706-0809-0a0b0c0d0e0f}\n"));
        }

        [Test]
        public void Cdc_AcmOfAnStm32VirtualComPort_AndInvalidOrUnknownDescriptors()
        {
            using var bed = new TestBed();
            SerialPortRegistry.Register(bed.Stack);
            SimController hc = bed.AddController(2, UsbSpeed.High);
            hc.Plug("1", new SimAcmDevice());
            bed.Settle();
            var sb = new StringBuilder();
            LsusbVerbose.Append(sb, bed.Device("1-1"), null);
            Assert.That(sb.ToString(), Does.Contain(
                "      iInterface              0 \n" +
                "      CDC Header:\n" +
                "        bcdCDC               1.10\n" +
                "      CDC Call Management:\n" +
                "        bmCapabilities       0x00\n" +
                "        bDataInterface          1\n" +
                "      CDC ACM:\n" +
                "        bmCapabilities       0x02\n" +
                "          line coding and serial state\n" +
                "      CDC Union:\n" +
                "        bMasterInterface        0\n" +
                "        bSlaveInterface         1 \n" +
                "      Endpoint Descriptor:\n"));

            sb.Clear();
            LsusbClassDescriptors.AppendComm(sb, null, new byte[] { 0x05, 0x24, 0x01, 0x03, 0x01 }, "      ");
            LsusbClassDescriptors.AppendComm(sb, null, new byte[] { 0x04, 0x24, 0x02, 0x0F }, "      ");
            LsusbClassDescriptors.AppendComm(sb, null, new byte[] { 0x04, 0x24, 0x00, 0x10 }, "      ");
            LsusbClassDescriptors.AppendComm(sb, null, new byte[] { 0x05, 0x24, 0x0A, 0x01, 0x02 }, "      ");
            Assert.That(sb.ToString(), Is.EqualTo(
                "      CDC Call Management:\n" +
                "        bmCapabilities       0x03\n" +
                "          call management\n" +
                "          use DataInterface\n" +
                "        bDataInterface          1\n" +
                "      CDC ACM:\n" +
                "        bmCapabilities       0x0f\n" +
                "          connection notifications\n" +
                "          sends break\n" +
                "          line coding and serial state\n" +
                "          get/set/clear comm features\n" +
                "      INVALID CDC (Header):  04 24 00 10\n" +     // dump_bytes prints " %02x" after the label's space
                "      UNRECOGNIZED CDC:  05 24 0a 01 02\n"));
        }

        /// <summary>desc_dump's field line at indent 4: the name padded to 18 columns, then the value.</summary>
        static string Field(string name, string value) => "        " + name.PadRight(18) + value + "\n";

        /// <summary>number_renderer for one byte: "   %4u".</summary>
        static string Number(int value) => "   " + value.ToString().PadLeft(4);

        [Test]
        public void Audio_Uac1FeatureUnit_ControlsPerChannel_AndShortDescriptor()
        {
            var sb = new StringBuilder();
            LsusbClassDescriptors.AppendAudioControl(sb, null, null, new byte[] { 10, 0x24, 0x06, 2, 1, 1, 0x01, 0x02, 0x02, 0 }, 0x00);
            Assert.That(sb.ToString(), Is.EqualTo(
                "      AudioControl Interface Descriptor:\n" +
                "        bLength                10\n" +
                "        bDescriptorType        36\n" +
                "        bDescriptorSubtype      6 (FEATURE_UNIT)\n" +
                Field("bUnitID", Number(2)) +
                Field("bSourceID", Number(1)) +
                Field("bControlSize", Number(1)) +
                "        bmaControls(0)" + new string(' ', 18 - 3 - 11) + "   0x01\n" +
                "          Mute Control\n" +
                "        bmaControls(1)" + new string(' ', 18 - 3 - 11) + "   0x02\n" +
                "          Volume Control\n" +
                "        bmaControls(2)" + new string(' ', 18 - 3 - 11) + "   0x02\n" +
                "          Volume Control\n" +
                Field("iFeature", Number(0) + " ")));

            // An output terminal two bytes short: the fields that fit, then usbutils' warning and the rest.
            sb.Clear();
            LsusbClassDescriptors.AppendAudioControl(sb, null, null, new byte[] { 7, 0x24, 0x03, 3, 0x01, 0x03, 0 }, 0x00);
            Assert.That(sb.ToString(), Is.EqualTo(
                "      AudioControl Interface Descriptor:\n" +
                "        bLength                 7\n" +
                "        bDescriptorType        36\n" +
                "        bDescriptorSubtype      3 (OUTPUT_TERMINAL)\n" +
                Field("bTerminalID", Number(3)) +
                Field("wTerminalType", " 0x0301 (null)") +
                Field("bAssocTerminal", Number(0)) +
                "      Warning: Length insufficient for descriptor type.\n" +
                "\n"));
            Assert.That(LsusbClassDescriptors.FormatTagName(0x0001), Is.EqualTo("PCM"));
            Assert.That(LsusbClassDescriptors.FormatTagName(0x1002), Is.EqualTo("AC-3"));
            Assert.That(LsusbClassDescriptors.FormatTagName(0x2006), Is.EqualTo("IEC1937_MPEG-2_Layer2/3_LS"));
            Assert.That(LsusbClassDescriptors.FormatTagName(0x0100), Is.EqualTo("undefined"));
        }
    }
}
