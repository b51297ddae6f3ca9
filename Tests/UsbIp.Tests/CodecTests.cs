using System;
using Drivers.Usb;
using NUnit.Framework;

namespace UsbIp.Tests
{
    /// <summary>The codec against the byte layouts and the captured packets of Linux's Documentation/usb/usbip_protocol.rst.</summary>
    [TestFixture]
    public class CodecTests
    {
        public static byte[] Hex(string text)
        {
            text = text.Replace(" ", "").Replace("\n", "");
            var b = new byte[text.Length / 2];
            for (int i = 0; i < b.Length; i++)
                b[i] = Convert.ToByte(text.Substring(2 * i, 2), 16);
            return b;
        }

        // The EXAMPLE section of usbip_protocol.rst (HID payload captured from the wire).
        public const string CmdIntrIn = "00000001 00000d05 0001000f 00000001 00000001 00000200 00000040 ffffffff 00000000 00000004 00000000 00000000";
        public const string CmdIntrOutHeader = "00000001 00000d06 0001000f 00000000 00000001 00000000 00000040 ffffffff 00000000 00000004 00000000 00000000";
        public const string IntrOutData = "ffffffff860008a784ce5ae212376300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
        public const string RetIntrOut = "00000003 00000d06 00000000 00000000 00000000 00000000 00000040 ffffffff 00000000 00000000 00000000 00000000";
        public const string RetIntrInHeader = "00000003 00000d05 00000000 00000000 00000000 00000000 00000040 ffffffff 00000000 00000000 00000000 00000000";
        public const string IntrInData = "ffffffff860011a784ce5ae2123763612891b1020100000400000000000000000000000000000000000000000000000000000000000000000000000000000000";

        [Test]
        public void CmdSubmitFromTheDocumentParses()
        {
            UsbIpHeader h = UsbIpHeader.Parse(Hex(CmdIntrIn));
            Assert.That(h.Command, Is.EqualTo(UsbIpProtocol.CmdSubmit));
            Assert.That(h.SeqNum, Is.EqualTo(0xd05u));
            Assert.That(h.DevId, Is.EqualTo(UsbIpProtocol.DevId(1, 15)));
            Assert.That(h.Direction, Is.EqualTo(UsbIpProtocol.DirIn));
            Assert.That(h.Ep, Is.EqualTo(1u));
            Assert.That(h.TransferFlags, Is.EqualTo(UsbIpProtocol.UrbDirIn));
            Assert.That(h.TransferBufferLength, Is.EqualTo(64));
            Assert.That(h.StartFrame, Is.EqualTo(-1));
            Assert.That(h.NumberOfPackets, Is.EqualTo(0));
            Assert.That(h.Interval, Is.EqualTo(4));
            Assert.That(h.SetupBytes, Is.EqualTo(0ul));
        }

        [Test]
        public void RetSubmitIsByteExactWithTheDocument()
        {
            var b = new byte[UsbIpHeader.Size];
            UsbIpHeader.WriteRetSubmit(b, 0xd06, 0, 64, -1, 0, 0);
            Assert.That(b, Is.EqualTo(Hex(RetIntrOut)));
            UsbIpHeader.WriteRetSubmit(b, 0xd05, 0, 64, -1, 0, 0);
            Assert.That(b, Is.EqualTo(Hex(RetIntrInHeader)));
        }

        [Test]
        public void CmdSubmitWriterRoundTripsTheDocumentBytes()
        {
            var b = new byte[UsbIpHeader.Size];
            UsbIpHeader.WriteCmdSubmit(b, 0xd05, 0x0001000f, 1, 1, 0x200, 64, -1, 0, 4, 0);
            Assert.That(b, Is.EqualTo(Hex(CmdIntrIn)));
        }

        [Test]
        public void UnlinkLayout()
        {
            var b = new byte[UsbIpHeader.Size];
            UsbIpHeader.WriteCmdUnlink(b, 7, 0x00010002, 5);
            Assert.That(b, Is.EqualTo(Hex("00000002 00000007 00010002 00000000 00000000 00000005" + new string('0', 48))));
            UsbIpHeader h = UsbIpHeader.Parse(b);
            Assert.That(h.UnlinkSeqNum, Is.EqualTo(5u));
            UsbIpHeader.WriteRetUnlink(b, 7, -UsbErrno.ECONNRESET);
            Assert.That(b, Is.EqualTo(Hex("00000004 00000007 00000000 00000000 00000000 ffffff98" + new string('0', 48))));
        }

        [Test]
        public void OperationHeadersAndDeviceRecordOffsets()
        {
            var op = new byte[OpHeader.Size];
            new OpHeader(UsbIpProtocol.OpReqDevList, 0).Write(op);
            Assert.That(op, Is.EqualTo(Hex("0111 8005 00000000")));
            new OpHeader(UsbIpProtocol.OpRepImport, UsbIpProtocol.StatusNoDevice).Write(op);
            Assert.That(op, Is.EqualTo(Hex("0111 0003 00000004")));

            var record = new UsbIpDeviceRecord
            {
                Path = "/sys/devices/pci0000:00/0000:00:1d.1/usb3/3-2", BusId = "3-2", BusNum = 3, DevNum = 2, Speed = UsbIpProtocol.SpeedHigh,
                idVendor = 0x46f4, idProduct = 0x0001, bcdDevice = 0x0000, bDeviceClass = 0, bDeviceSubClass = 0, bDeviceProtocol = 0,
                bConfigurationValue = 1, bNumConfigurations = 1, bNumInterfaces = 1,
            };
            var b = new byte[UsbIpDeviceRecord.Size];
            record.Write(b);
            Assert.That(UsbIpDeviceRecord.Size, Is.EqualTo(312));
            // Offsets of the OP_REP_DEVLIST table minus the 12-byte reply header.
            Assert.That(System.Text.Encoding.ASCII.GetString(b, 0, 45), Is.EqualTo(record.Path));
            Assert.That(b[45], Is.EqualTo(0));
            Assert.That(System.Text.Encoding.ASCII.GetString(b, 0x10C - 12, 3), Is.EqualTo("3-2"));
            Assert.That(b[0x10C - 12 + 3], Is.EqualTo(0));
            Assert.That(new ArraySegment<byte>(b, 0x12C - 12, 0x144 - 0x12C).ToArray(),
                        Is.EqualTo(Hex("00000003 00000002 00000003 46f4 0001 0000 00 00 00 01 01 01")));
            UsbIpDeviceRecord back = UsbIpDeviceRecord.Parse(b);
            Assert.That(back.Path, Is.EqualTo(record.Path));
            Assert.That(back.BusId, Is.EqualTo("3-2"));
            Assert.That(back.idVendor, Is.EqualTo(0x46f4));
        }

        [Test]
        public void FixedStringsNeedTheirNulAndPrintableBytes()
        {
            var field = new byte[UsbIpProtocol.BusIdSize];
            for (int i = 0; i < field.Length; i++) field[i] = (byte)'1';
            Assert.That(BigEndian.FixedString(field), Is.Null, "no NUL");
            field[3] = 0;
            Assert.That(BigEndian.FixedString(field), Is.EqualTo("111"));
            field[1] = 0x07;
            Assert.That(BigEndian.FixedString(field), Is.Null, "control character");
            BigEndian.PutFixedString(field, new string('x', 40));
            Assert.That(field[31], Is.EqualTo(0), "cut to keep the NUL");
        }

        [Test]
        public void IsoPacketLayout()
        {
            var b = new byte[UsbIpIsoPacket.Size];
            new UsbIpIsoPacket { Offset = 0x100, Length = 0xC0, ActualLength = 0, Status = -UsbErrno.EOPNOTSUPP }.Write(b);
            Assert.That(b, Is.EqualTo(Hex("00000100 000000c0 00000000 ffffffa1")));
            Assert.That(UsbIpIsoPacket.Parse(b).Length, Is.EqualTo(0xC0u));
        }

        [Test]
        public void StatusesAreLinuxErrnos()
        {
            Assert.That(UsbErrno.Of(UsbStatus.Ok), Is.EqualTo(0));
            Assert.That(UsbErrno.Of(UsbStatus.Stall), Is.EqualTo(-32));
            Assert.That(UsbErrno.Of(UsbStatus.Cancelled), Is.EqualTo(-104));
            Assert.That(UsbErrno.Of(UsbStatus.NoDevice), Is.EqualTo(-19));
            Assert.That(UsbErrno.Of(UsbStatus.ShortPacket), Is.EqualTo(-121));
            Assert.That(UsbErrno.Of(UsbStatus.TransactionError), Is.EqualTo(-71));
            Assert.That(UsbErrno.Of(UsbStatus.Shutdown), Is.EqualTo(-108));
            Assert.That(UsbErrno.Of(UsbStatus.Timeout), Is.EqualTo(-110));
            foreach (UsbStatus s in Enum.GetValues<UsbStatus>())
                Assert.That(UsbErrno.Of(s), s == UsbStatus.Ok ? Is.EqualTo(0) : Is.LessThan(0), s.ToString());
        }
    }
}
