using System;
using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using NUnit.Framework;
using Usb.Tests.Simulation;

namespace UsbIp.Tests
{
    /// <summary>
    /// Isochronous URBs over USB/IP as Linux's stub handles them (stub_rx.c stub_recv_cmd_submit,
    /// usbip_recv_iso; stub_tx.c stub_send_ret_submit), on a simulated full-speed device with an
    /// isochronous OUT and IN endpoint.
    /// </summary>
    [TestFixture]
    public class IsoTests
    {
        const int PacketBytes = 192;
        /// <summary>The simulated bus's frame counter stands still here: ASAP requests start at Now + IsoMinLead.</summary>
        const uint Now = 100;

        Rig _rig;
        SimDevice _sim;
        Rig.Connection _c;

        /// <summary>One interface with an iso OUT (0x01) and an iso IN (0x82) endpoint, 192 bytes every frame.</summary>
        internal static byte[] IsoConfig() => Desc.Config(1, 0x80, 50,
            Desc.Interface(0, 0, 2, UsbClass.Audio, 2),
            Desc.Endpoint(0x01, TransferType.Isochronous, PacketBytes, 1),
            Desc.Endpoint(0x82, TransferType.Isochronous, PacketBytes, 1));

        [SetUp]
        public void SetUp()
        {
            _rig = new Rig();
            _rig.Hc.IsoClock = () => Now;
            _sim = _rig.Plug("1", new SimDevice("iso", UsbSpeed.Full, Desc.Device(0x46f4, 0x0002), IsoConfig()));
            _rig.Host.BindBusId("1-1");
            _c = _rig.Connect();
            Assert.That(_c.Client.Import("1-1", out _), Is.EqualTo(0u), _rig.Bed.LogSink.All());
            UsbIpHeader h = _c.Client.Control(0x00, UsbRequestCode.SetConfiguration, 1, 0, 0, out _);
            Assert.That(h.Status, Is.EqualTo(0), _rig.Bed.LogSink.All());
        }

        [TearDown]
        public void TearDown() => _rig.Dispose();

        /// <summary>A CMD_SUBMIT on an isochronous endpoint as vhci-hcd sends it: header, OUT data, then the descriptors.</summary>
        byte[] IsoSubmit(uint seq, uint direction, uint ep, uint flags, int startFrame, int interval, int bufferLength,
                         (uint Offset, uint Length)[] packets, byte[] outData = null)
        {
            int data = outData != null ? outData.Length : 0;
            var b = new byte[UsbIpHeader.Size + data + packets.Length * UsbIpIsoPacket.Size];
            uint dirFlag = direction == UsbIpProtocol.DirIn ? UsbIpProtocol.UrbDirIn : 0;
            UsbIpHeader.WriteCmdSubmit(b, seq, _c.Client.DevId, direction, ep, flags | dirFlag, bufferLength, startFrame, packets.Length, interval, 0);
            if (outData != null)
                Array.Copy(outData, 0, b, UsbIpHeader.Size, data);
            for (int i = 0; i < packets.Length; i++)
                new UsbIpIsoPacket { Offset = packets[i].Offset, Length = packets[i].Length }
                    .Write(new Span<byte>(b, UsbIpHeader.Size + data + i * UsbIpIsoPacket.Size, UsbIpIsoPacket.Size));
            return b;
        }

        static byte[] Concat(params byte[][] parts)
        {
            var all = new List<byte>();
            foreach (byte[] p in parts)
                all.AddRange(p);
            return all.ToArray();
        }

        static byte[] Bytes(int count, int seed)
        {
            var b = new byte[count];
            for (int i = 0; i < count; i++)
                b[i] = (byte)(i * 7 + seed);
            return b;
        }

        /// <summary>The connection is still in step: a control transfer after the iso traffic gets its own reply.</summary>
        void AssertInStep()
        {
            UsbIpHeader h = _c.Client.Control(0x80, UsbRequestCode.GetDescriptor, DescriptorType.Device << 8, 0, 18, out byte[] d);
            Assert.That((h.Status, d.Length), Is.EqualTo((0, 18)));
        }

        [Test]
        public void IsoInAsapPacksEachPacketsDataBackToBackWithPerPacketDescriptors()
        {
            SimEndpoint ep = _sim.Endpoint(0x82);
            byte[] full = Bytes(PacketBytes, 1), shortOne = Bytes(10, 50);
            ep.InData.Enqueue(full);
            ep.InData.Enqueue(shortOne);
            // Packet 2 is lost on the bus (-ECOMM); packet 3 finds nothing to send (an empty packet, status 0).
            _rig.Hc.IsoPacketFault = (r, i) => r.Endpoint.Address == 0x82 && i == 2 ? UsbStatus.Overrun : (UsbStatus?)null;
            uint seq = _c.Client.NextSeq();
            _c.Client.Send(IsoSubmit(seq, UsbIpProtocol.DirIn, 2, UsbIpProtocol.UrbIsoAsap, 0x1234, 1, 4 * PacketBytes,
                new (uint, uint)[] { (0, 192), (192, 192), (384, 192), (576, 192) }));

            byte[] expected = Concat(
                CodecTests.Hex("00000003" + seq.ToString("x8") + "00000000 00000000 00000000" +
                               // status, actual_length 192+10, start_frame Now+2 (ASAP: the given one ignored), 4 packets, 1 error
                               "00000000 000000ca 00000066 00000004 00000001 0000000000000000"),
                full, shortOne,
                CodecTests.Hex("00000000 000000c0 000000c0 00000000" +
                               "000000c0 000000c0 0000000a 00000000" +
                               "00000180 000000c0 00000000 ffffffba" +
                               "00000240 000000c0 00000000 00000000"));
            Assert.That(_c.Client.Read(expected.Length), Is.EqualTo(expected), _rig.Bed.LogSink.All());
            AssertInStep();
        }

        [Test]
        public void IsoOutAtAnExplicitStartFrameSendsEachPacketFromItsOffset()
        {
            _rig.Hc.IsoPacketFault = (r, i) => r.Endpoint.Address == 0x01 && i == 1 ? UsbStatus.Underrun : (UsbStatus?)null;
            byte[] data = Bytes(400, 3);
            uint seq = _c.Client.NextSeq();
            // Packets with a gap between them (bytes 350..399 are never sent) and different lengths.
            _c.Client.Send(IsoSubmit(seq, UsbIpProtocol.DirOut, 1, 0, 120, 1, data.Length,
                new (uint, uint)[] { (0, 192), (192, 100), (300, 50) }, data));

            byte[] expected = CodecTests.Hex(
                "00000003" + seq.ToString("x8") + "00000000 00000000 00000000" +
                // status, actual_length 192+50, start_frame 120 as asked, 3 packets, 1 error; no data for OUT
                "00000000 000000f2 00000078 00000003 00000001 0000000000000000" +
                "00000000 000000c0 000000c0 00000000" +
                "000000c0 00000064 00000000 ffffffc1" +
                "0000012c 00000032 00000032 00000000");
            Assert.That(_c.Client.Read(expected.Length), Is.EqualTo(expected), _rig.Bed.LogSink.All());
            List<byte[]> wire = _sim.Endpoint(0x01).OutData;
            Assert.That(wire.Count, Is.EqualTo(2), "the failed packet never reached the device");
            Assert.That(wire[0], Is.EqualTo(new ArraySegment<byte>(data, 0, 192).ToArray()));
            Assert.That(wire[1], Is.EqualTo(new ArraySegment<byte>(data, 300, 50).ToArray()));
            AssertInStep();
        }

        [Test]
        public void IsoRequestsTheCoreRefusesAreAnsweredWithItsErrno()
        {
            // A packet above wMaxPacketSize (Linux usb_submit_urb refuses it) and a start frame
            // far beyond the schedule: RET_SUBMIT with the error, descriptors echoed with it.
            uint seq = _c.Client.NextSeq();
            _c.Client.Send(IsoSubmit(seq, UsbIpProtocol.DirIn, 2, UsbIpProtocol.UrbIsoAsap, 0, 1, 400, new (uint, uint)[] { (0, 400) }));
            UsbIpHeader h = _c.Client.ReadHeader();
            Assert.That((h.SeqNum, h.Status, h.ActualLength, h.NumberOfPackets, h.ErrorCount), Is.EqualTo((seq, -UsbErrno.EINVAL, 0, 1, 1)));
            UsbIpIsoPacket p = UsbIpIsoPacket.Parse(_c.Client.Read(UsbIpIsoPacket.Size));
            Assert.That((p.Offset, p.Length, p.ActualLength, p.Status), Is.EqualTo((0u, 400u, 0u, -UsbErrno.EINVAL)));

            // Eight packets from a start frame four slots before the end of the schedule window.
            var eight = new (uint, uint)[8];
            for (int i = 0; i < eight.Length; i++)
                eight[i] = ((uint)i * 24, 24);
            int far = (int)Now + SimController.IsoWindow - 4;
            seq = _c.Client.NextSeq();
            _c.Client.Send(IsoSubmit(seq, UsbIpProtocol.DirIn, 2, 0, far, 1, 192, eight));
            h = _c.Client.ReadHeader();
            Assert.That((h.SeqNum, h.Status, h.StartFrame, h.ErrorCount), Is.EqualTo((seq, -UsbErrno.EFBIG, far, 8)));
            _c.Client.Read(8 * UsbIpIsoPacket.Size);
            AssertInStep();
        }

        [TestCase(3, 2)]
        [TestCase(8, 8)]
        [TestCase(0, 1)]
        public void IntervalIsRoundedDownToAPowerOfTwoAsUsbSubmitUrbDoes(int interval, int used)
        {
            uint seq = _c.Client.NextSeq();
            _c.Client.Send(IsoSubmit(seq, UsbIpProtocol.DirIn, 2, UsbIpProtocol.UrbIsoAsap, 0, interval, 2 * PacketBytes,
                new (uint, uint)[] { (0, 192), (192, 192) }));
            UsbIpHeader h = _c.Client.ReadHeader();
            Assert.That((h.SeqNum, h.Status, h.ActualLength, h.ErrorCount), Is.EqualTo((seq, 0, 0, 0)), "empty packets: nothing queued to send");
            _c.Client.Read(2 * UsbIpIsoPacket.Size);
            UsbRequest request = null;
            // Read once the reply arrived: nothing else is being submitted on this bus now.
            foreach (UsbRequest r in _rig.Hc.SeenRequests.ToArray())
                if (r.IsIsochronous)
                    request = r;
            Assert.That(request, Is.Not.Null);
            Assert.That(request.Interval, Is.EqualTo(used), "0: the descriptor's period (bInterval 1: every frame)");
        }

        [TestCase(300u, 192u, "iso packet 1 (offset 300 length 192) beyond transfer_buffer_length 384")]
        [TestCase(0xFFFFFF00u, 0x200u, "iso packet 1 (offset 4294967040 length 512) beyond transfer_buffer_length 384")]
        [TestCase(100u, 0xFFFFFFF0u, "iso packet 1 (offset 100 length 4294967280) beyond transfer_buffer_length 384")]
        public void DescriptorsOutsideTheBufferCloseTheConnection(uint offset, uint length, string message)
        {
            int dmaBefore = _rig.Bed.Dma.Outstanding;
            _c.Client.Send(IsoSubmit(_c.Client.NextSeq(), UsbIpProtocol.DirOut, 1, UsbIpProtocol.UrbIsoAsap, 0, 1, 384,
                new (uint, uint)[] { (0, 192), (offset, length) }, new byte[384]));
            Assert.That(_c.Client.WaitClosed(), Is.True);
            _c.WaitEnded();
            Assert.That(_c.Session.EndReason, Is.EqualTo(UsbIpSessionEnd.ProtocolError));
            Assert.That(_rig.Bed.LogSink.All(), Does.Contain("usbip-host 1-1: CMD_SUBMIT: " + message + " from 10.0.2.2:40000, closing connection"));
            Assert.That(_rig.Bed.Dma.Outstanding, Is.EqualTo(dmaBefore), "the buffer was freed");
            Assert.That(_sim.Endpoint(0x01).OutData, Is.Empty, "nothing was submitted");
            Assert.That(_rig.Host.Exports[0].State, Is.EqualTo(UsbIpExportState.Available));
        }

        [Test]
        public void UnlinkOfAQueuedIsoUrbAnswersRetUnlinkOnly()
        {
            _rig.Hc.IsoHold = true; // the request's frames have not come yet
            int dmaBefore = _rig.Bed.Dma.Outstanding;
            uint submit = _c.Client.NextSeq();
            _c.Client.Send(IsoSubmit(submit, UsbIpProtocol.DirIn, 2, UsbIpProtocol.UrbIsoAsap, 0, 1, 2 * PacketBytes,
                new (uint, uint)[] { (0, 192), (192, 192) }));
            uint unlink = _c.Client.NextSeq();
            var b = new byte[UsbIpHeader.Size];
            UsbIpHeader.WriteCmdUnlink(b, unlink, _c.Client.DevId, submit);
            _c.Client.Send(b);
            byte[] expected = CodecTests.Hex("00000004" + unlink.ToString("x8") + "00000000 00000000 00000000" +
                                             "ffffff98 00000000 00000000 00000000 00000000 0000000000000000");
            Assert.That(_c.Client.Read(UsbIpHeader.Size), Is.EqualTo(expected), _rig.Bed.LogSink.All());
            _rig.Hc.IsoHold = false;
            AssertInStep(); // no RET_SUBMIT for the unlinked request came before this reply
            Assert.That(_rig.Bed.Dma.Outstanding, Is.EqualTo(dmaBefore), "the unlinked request's buffer was freed");
        }
    }
}
