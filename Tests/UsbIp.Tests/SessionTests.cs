using System;
using System.Threading;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using NUnit.Framework;
using Usb.Tests.Simulation;
using Usb.Tests.Storage;

namespace UsbIp.Tests
{
    /// <summary>
    /// The server session against a client that behaves like Linux's usbip tool and vhci-hcd, with
    /// the stub on the simulated bus.
    /// </summary>
    [TestFixture]
    public class SessionTests
    {
        const byte StandardIn = 0x80, StandardOut = 0x00;

        static Rig.Connection Import(Rig rig, string busId, out UsbIpDeviceRecord record)
        {
            Rig.Connection c = rig.Connect();
            Assert.That(c.Client.Import(busId, out record), Is.EqualTo(0u), rig.Bed.LogSink.All());
            return c;
        }

        /// <summary>GET_DESCRIPTOR(device) and SET_CONFIGURATION(1), as vhci's hub_port_init and the generic driver do.</summary>
        static void Configure(Rig rig, TestClient client)
        {
            UsbIpHeader h = client.Control(StandardIn, UsbRequestCode.GetDescriptor, DescriptorType.Device << 8, 0, 18, out byte[] descriptor);
            Assert.That(h.Status, Is.EqualTo(0));
            Assert.That(descriptor.Length, Is.EqualTo(18));
            Assert.That(descriptor[1], Is.EqualTo(DescriptorType.Device));
            h = client.Control(StandardOut, UsbRequestCode.SetConfiguration, 1, 0, 0, out _);
            Assert.That(h.Status, Is.EqualTo(0), rig.Bed.LogSink.All());
        }

        // ---- Operations -----------------------------------------------------------------------------

        [Test]
        public void DevListShowsOnlyBoundDevicesWithInterfacesOnceConfigured()
        {
            using var rig = new Rig();
            rig.PlugDisk("1");
            rig.Plug("2", Rig.Keyboard());

            Rig.Connection list = rig.Connect();
            list.Client.Send(TestClient.OpRequest(UsbIpProtocol.OpReqDevList));
            Assert.That(list.Client.Read(12), Is.EqualTo(CodecTests.Hex("0111 0005 00000000 00000000")), "nothing bound: nothing visible");
            Assert.That(list.Client.WaitClosed(), Is.True, "a list connection ends after the reply");
            list.WaitEnded();
            Assert.That(list.Session.EndReason, Is.EqualTo(UsbIpSessionEnd.ListSent));

            rig.Host.BindBusId("1-1");
            list = rig.Connect();
            list.Client.Send(TestClient.OpRequest(UsbIpProtocol.OpReqDevList));
            Assert.That(list.Client.Read(12), Is.EqualTo(CodecTests.Hex("0111 0005 00000000 00000001")));
            UsbIpDeviceRecord r = UsbIpDeviceRecord.Parse(list.Client.Read(UsbIpDeviceRecord.Size));
            Assert.That(r.BusId, Is.EqualTo("1-1"));
            Assert.That(r.Path, Is.EqualTo("/sys/devices/pci0000:00/0000:00:01.2/usb1/1-1"));
            Assert.That((r.BusNum, r.DevNum, r.Speed), Is.EqualTo((1u, 2u, UsbIpProtocol.SpeedHigh)));
            Assert.That((r.idVendor, r.idProduct), Is.EqualTo(((ushort)0x46f4, (ushort)0x0001)));
            Assert.That((r.bConfigurationValue, r.bNumConfigurations, r.bNumInterfaces), Is.EqualTo(((byte)0, (byte)1, (byte)0)), "unconfigured: no interfaces, as Linux");
            Assert.That(list.Client.WaitClosed(), Is.True, "nothing more: the keyboard is not bound");

            // Once a client configured it, the interfaces are listed (class 08/06/50).
            Rig.Connection user = Import(rig, "1-1", out _);
            Configure(rig, user.Client);
            list = rig.Connect();
            list.Client.Send(TestClient.OpRequest(UsbIpProtocol.OpReqDevList));
            list.Client.Read(12);
            r = UsbIpDeviceRecord.Parse(list.Client.Read(UsbIpDeviceRecord.Size));
            Assert.That((r.bConfigurationValue, r.bNumInterfaces), Is.EqualTo(((byte)1, (byte)1)));
            Assert.That(list.Client.Read(4), Is.EqualTo(CodecTests.Hex("08 06 50 00")));
        }

        [Test]
        public void ImportOfAnUnknownOrBusyDeviceIsRefusedWithLinuxsStatus()
        {
            using var rig = new Rig();
            rig.Plug("1", Rig.Keyboard());
            Rig.Connection c = rig.Connect();
            Assert.That(c.Client.Import("1-1", out _), Is.EqualTo(UsbIpProtocol.StatusNoDevice), "not bound to usbip-host: invisible");
            Assert.That(c.Client.WaitClosed(), Is.True);
            rig.Host.BindBusId("1-1");
            Rig.Connection first = Import(rig, "1-1", out UsbIpDeviceRecord record);
            Assert.That(record.BusId, Is.EqualTo("1-1"));
            Assert.That(rig.Host.Exports[0].State, Is.EqualTo(UsbIpExportState.Used));
            Rig.Connection second = rig.Connect();
            Assert.That(second.Client.Import("1-1", out _), Is.EqualTo(UsbIpProtocol.StatusDeviceBusy));
            second.WaitEnded();
            Assert.That(second.Session.EndReason, Is.EqualTo(UsbIpSessionEnd.ImportRefused));
            Assert.That(rig.Host.ListExported(), Does.Contain("usbip_status 2 (imported by 10.0.2.2:40000)"));
        }

        // ---- URBs ---------------------------------------------------------------------------------------

        [Test]
        public void TheDocumentsInterruptPacketsGetByteExactReplies()
        {
            using var rig = new Rig();
            // A HID device with interrupt IN and OUT endpoints 1 of 64 bytes, as in the capture.
            var hid = new SimDevice("HID", UsbSpeed.High, Desc.Device(0x1234, 0x5678),
                Desc.Config(1, 0x80, 50, Desc.Interface(0, 0, 2, UsbClass.Hid), Desc.Hid(34),
                            Desc.Endpoint(0x81, TransferType.Interrupt, 64, 4), Desc.Endpoint(0x01, TransferType.Interrupt, 64, 4)));
            rig.Plug("1", hid);
            rig.Host.BindBusId("1-1");
            Rig.Connection c = Import(rig, "1-1", out _);
            Configure(rig, c.Client);

            // The capture's devid is 0x0001000f (bus 1, device 15); ours is bus 1, device 2.
            string devId = c.Client.DevId.ToString("x8");
            byte[] cmdOut = CodecTests.Hex(CodecTests.CmdIntrOutHeader.Replace("0001000f", devId) + CodecTests.IntrOutData);
            c.Client.Send(cmdOut);
            Assert.That(c.Client.Read(UsbIpHeader.Size), Is.EqualTo(CodecTests.Hex(CodecTests.RetIntrOut)));
            Assert.That(hid.Endpoint(0x01).OutData[0], Is.EqualTo(CodecTests.Hex(CodecTests.IntrOutData)), "the OUT data reached the device");

            byte[] report = CodecTests.Hex(CodecTests.IntrInData);
            rig.Hc.Mutate(() => hid.Endpoint(0x81).InData.Enqueue(report));
            c.Client.Send(CodecTests.Hex(CodecTests.CmdIntrIn.Replace("0001000f", devId)));
            Assert.That(c.Client.Read(UsbIpHeader.Size + 64), Is.EqualTo(CodecTests.Hex(CodecTests.RetIntrInHeader + CodecTests.IntrInData)));
        }

        /// <summary>The Bulk-Only read a vhci client's usb-storage driver does: CBW, data, CSW.</summary>
        static byte[] ReadBlocks(TestClient client, uint lba, ushort blocks, uint tag)
        {
            var cbw = new byte[31];
            BitConverter.GetBytes(0x43425355u).CopyTo(cbw, 0);
            BitConverter.GetBytes(tag).CopyTo(cbw, 4);
            BitConverter.GetBytes((uint)(blocks * 512)).CopyTo(cbw, 8);
            cbw[12] = 0x80;
            cbw[14] = 10;
            cbw[15] = 0x28;
            cbw[17] = (byte)(lba >> 24); cbw[18] = (byte)(lba >> 16); cbw[19] = (byte)(lba >> 8); cbw[20] = (byte)lba;
            cbw[22] = (byte)(blocks >> 8); cbw[23] = (byte)blocks;
            UsbIpHeader h = client.Transfer(UsbIpProtocol.DirOut, 2, 31, out _, outData: cbw);
            Assert.That((h.Status, h.ActualLength), Is.EqualTo((0, 31)), "CBW");
            h = client.Transfer(UsbIpProtocol.DirIn, 1, blocks * 512, out byte[] data);
            Assert.That((h.Status, h.ActualLength), Is.EqualTo((0, blocks * 512)), "data");
            h = client.Transfer(UsbIpProtocol.DirIn, 1, 13, out byte[] csw);
            Assert.That(h.Status, Is.EqualTo(0), "CSW");
            Assert.That(BitConverter.ToUInt32(csw, 0), Is.EqualTo(0x53425355u));
            Assert.That(BitConverter.ToUInt32(csw, 4), Is.EqualTo(tag));
            Assert.That(csw[12], Is.EqualTo(0), "command passed");
            return data;
        }

        [Test]
        public void StorageReadsThroughCmdSubmitReturnTheDisksData()
        {
            using var rig = new Rig();
            rig.PlugDisk("1");
            rig.Host.BindBusId("1-1");
            int dmaBefore = rig.Bed.Dma.Outstanding;
            Rig.Connection c = Import(rig, "1-1", out UsbIpDeviceRecord record);
            Assert.That(record.bNumInterfaces, Is.EqualTo(0));
            Configure(rig, c.Client);
            UsbDevice device = rig.Bed.Device("1-1");
            Assert.That(device.ActiveConfiguration?.Value, Is.EqualTo((byte)1), "SET_CONFIGURATION went through the core");
            Assert.That(rig.Bed.Stack.FindInterface("1-1:1.0").Driver, Is.Null, "the client owns the interfaces");
            Assert.That(rig.Storage.Disks, Is.Empty);

            uint tag = 1;
            foreach ((uint lba, ushort count) in new[] { (0u, (ushort)1), (1u, (ushort)128), (2000u, (ushort)48) })
            {
                byte[] data = ReadBlocks(c.Client, lba, count, tag++);
                for (int i = 0; i < data.Length; i++)
                    if (data[i] != Rig.Pattern(lba * 512L + i))
                        Assert.Fail("byte " + i + " of LBA " + lba + " differs");
            }
            c.Client.Disconnect();
            c.WaitEnded();
            Assert.That(c.Session.EndReason, Is.EqualTo(UsbIpSessionEnd.PeerClosed));
            Assert.That(c.Session.InFlight, Is.EqualTo(0));
            Assert.That(rig.Bed.Dma.Outstanding, Is.EqualTo(dmaBefore), "every request buffer freed");
        }

        [Test]
        public void KeyboardInterruptInCompletesWhenAKeyIsPressed()
        {
            using var rig = new Rig();
            SimDevice kbd = rig.Plug("1", Rig.Keyboard());
            rig.Host.BindBusId("1-1");
            Rig.Connection c = Import(rig, "1-1", out _);
            Configure(rig, c.Client);
            uint seq = c.Client.NextSeq();
            c.Client.Send(c.Client.Submit(seq, UsbIpProtocol.DirIn, 1, 8));
            Assert.Throws<TimeoutException>(() => c.Client.Read(1, 300), "no key, no reply");
            byte[] keyA = { 0, 0, 0x04, 0, 0, 0, 0, 0 };
            rig.Hc.Mutate(() => kbd.Endpoint(0x81).InData.Enqueue(keyA));
            UsbIpHeader h = c.Client.ReadHeader();
            Assert.That((h.Command, h.SeqNum, h.Status, h.ActualLength), Is.EqualTo((UsbIpProtocol.RetSubmit, seq, 0, 8)));
            Assert.That(c.Client.Read(8), Is.EqualTo(keyA));
        }

        [Test]
        public void UnlinkOfAPendingRequestAnswersRetUnlinkAndNoRetSubmit()
        {
            using var rig = new Rig();
            rig.Plug("1", Rig.Keyboard());
            rig.Host.BindBusId("1-1");
            int dmaBefore = rig.Bed.Dma.Outstanding;
            Rig.Connection c = Import(rig, "1-1", out _);
            Configure(rig, c.Client);
            uint pending = c.Client.NextSeq();
            c.Client.Send(c.Client.Submit(pending, UsbIpProtocol.DirIn, 1, 8));
            uint unlink = c.Client.NextSeq();
            var cmd = new byte[UsbIpHeader.Size];
            UsbIpHeader.WriteCmdUnlink(cmd, unlink, c.Client.DevId, pending);
            c.Client.Send(cmd);
            Assert.That(c.Client.Read(UsbIpHeader.Size), Is.EqualTo(CodecTests.Hex(unlink.ToString("x8").Insert(0, "00000004 ") + " 00000000 00000000 00000000 ffffff98" + new string('0', 48))),
                        "RET_UNLINK with -ECONNRESET");
            // Unlink of something that already completed (or never existed): status 0.
            uint late = c.Client.NextSeq();
            UsbIpHeader.WriteCmdUnlink(cmd, late, c.Client.DevId, pending);
            c.Client.Send(cmd);
            UsbIpHeader h = c.Client.ReadHeader();
            Assert.That((h.Command, h.SeqNum, h.Status), Is.EqualTo((UsbIpProtocol.RetUnlink, late, 0)));
            Assert.Throws<TimeoutException>(() => c.Client.Read(1, 300), "no RET_SUBMIT for the unlinked request");
            Rig.WaitFor(() => c.Session.InFlight == 0, "nothing in flight");
            Assert.That(rig.Bed.Dma.Outstanding, Is.EqualTo(dmaBefore));
        }

        [Test]
        public void ClientDisconnectMidTransferKillsItsRequestsAndTheDeviceStaysExported()
        {
            using var rig = new Rig();
            SimBotDevice disk = rig.PlugDisk("1");
            rig.Host.BindBusId("1-1");
            int dmaBefore = rig.Bed.Dma.Outstanding;
            Rig.Connection c = Import(rig, "1-1", out _);
            Configure(rig, c.Client);
            disk.HoldData = true;
            var cbw = new byte[31];
            BitConverter.GetBytes(0x43425355u).CopyTo(cbw, 0);
            BitConverter.GetBytes(64u * 512).CopyTo(cbw, 8);
            cbw[12] = 0x80; cbw[14] = 10; cbw[15] = 0x28; cbw[23] = 64;
            Assert.That(c.Client.Transfer(UsbIpProtocol.DirOut, 2, 31, out _, outData: cbw).Status, Is.EqualTo(0));
            c.Client.Send(c.Client.Submit(c.Client.NextSeq(), UsbIpProtocol.DirIn, 1, 64 * 512));
            Rig.WaitFor(() => c.Session.InFlight == 1, "data stage in flight");
            c.Client.Disconnect();
            c.WaitEnded();
            Assert.That(c.Session.EndReason, Is.EqualTo(UsbIpSessionEnd.PeerClosed));
            Assert.That(c.Session.InFlight, Is.EqualTo(0), "request killed");
            Assert.That(rig.Bed.Dma.Outstanding, Is.EqualTo(dmaBefore), "its buffer freed");
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("connection to 10.0.2.2:40000 closed, device reset for the next import"));
            // Linux stub_device_reset: the disk is reset (re-enumerated here), so the next client
            // does not find it stuck in the data stage the dead one left; it stays exported.
            disk.HoldData = false;
            int resets = disk.Resets;
            rig.Bed.Settle();
            Assert.That(disk.Resets, Is.GreaterThan(resets));
            UsbDevice device = rig.Bed.Device("1-1");
            Assert.That(device.Driver, Is.SameAs(rig.Host), "bound to usbip-host again (its bus id is listed)");
            Assert.That(rig.Host.Exports.Length, Is.EqualTo(1));
            Assert.That(rig.Host.Exports[0].State, Is.EqualTo(UsbIpExportState.Available));

            // The next client imports it again and reads.
            Rig.Connection again = Import(rig, "1-1", out _);
            Configure(rig, again.Client);
            byte[] data = ReadBlocks(again.Client, 5, 2, 99);
            Assert.That(data[0], Is.EqualTo(Rig.Pattern(5 * 512)));
        }

        [Test]
        public void DeviceUnpluggedWhileImportedEndsTheConnectionCleanly()
        {
            using var rig = new Rig();
            rig.Plug("1", Rig.Keyboard());
            rig.Host.BindBusId("1-1");
            int dmaBefore = rig.Bed.Dma.Outstanding;
            Rig.Connection c = Import(rig, "1-1", out _);
            Configure(rig, c.Client);
            c.Client.Send(c.Client.Submit(c.Client.NextSeq(), UsbIpProtocol.DirIn, 1, 8));
            Rig.WaitFor(() => c.Session.InFlight == 1, "interrupt IN in flight");
            rig.Hc.Unplug("1");
            rig.Bed.Settle();
            Assert.That(c.Client.WaitClosed(), Is.True, "the client sees the connection end (vhci then reports the device gone)");
            c.WaitEnded();
            Assert.That(c.Session.EndReason, Is.EqualTo(UsbIpSessionEnd.DeviceGone));
            Assert.That(c.Session.InFlight, Is.EqualTo(0));
            Assert.That(rig.Host.Exports, Is.Empty);
            Assert.That(rig.Bed.Dma.Outstanding, Is.LessThanOrEqualTo(dmaBefore));
        }

        [Test]
        public void UnbindWhileImportedShutsTheConnectionAndGivesTheDeviceBack()
        {
            using var rig = new Rig();
            rig.PlugDisk("1");
            rig.Host.BindBusId("1-1");
            int dmaBefore = rig.Bed.Dma.Outstanding;
            Rig.Connection c = Import(rig, "1-1", out _);
            Configure(rig, c.Client);
            c.Client.Send(c.Client.Submit(c.Client.NextSeq(), UsbIpProtocol.DirIn, 1, 13));
            Rig.WaitFor(() => c.Session.InFlight == 1, "bulk IN in flight");
            Assert.That(rig.Host.UnbindBusId("1-1"), Is.EqualTo(UsbStatus.Ok));
            Assert.That(c.Client.WaitClosed(), Is.True, "the client loses the device");
            c.WaitEnded();
            Assert.That(c.Session.EndReason, Is.EqualTo(UsbIpSessionEnd.DeviceGone));
            Assert.That(c.Session.InFlight, Is.EqualTo(0));
            Assert.That(rig.Bed.Device("1-1").Driver?.Name, Is.EqualTo("usb"));
            Rig.WaitFor(() => rig.Storage.Disks.Length == 1, "usb-storage has the disk again");
            Assert.That(rig.Host.Exports, Is.Empty);
            Rig.Connection list = rig.Connect();
            list.Client.Send(TestClient.OpRequest(UsbIpProtocol.OpReqDevList));
            Assert.That(list.Client.Read(12), Is.EqualTo(CodecTests.Hex("0111 0005 00000000 00000000")), "no longer visible");
        }

        [Test]
        public void SpecialRequestsAreHandledByTheStubAsLinuxDoes()
        {
            using var rig = new Rig();
            SimBotDevice disk = rig.PlugDisk("1");
            rig.Host.BindBusId("1-1");
            Rig.Connection c = Import(rig, "1-1", out _);
            Configure(rig, c.Client);
            // CLEAR_FEATURE(ENDPOINT_HALT) on 0x81 goes to the device through usb_clear_halt.
            disk.ControlLog.Clear();
            UsbIpHeader h = c.Client.Control(0x02, UsbRequestCode.ClearFeature, FeatureSelector.EndpointHalt, 0x81, 0, out _);
            Assert.That(h.Status, Is.EqualTo(0));
            Assert.That(disk.ControlLog.Exists(s => s.bRequest == UsbRequestCode.ClearFeature && s.wIndex == 0x81), Is.True);
            // SET_INTERFACE(0, 0) through the core.
            h = c.Client.Control(0x01, UsbRequestCode.SetInterface, 0, 0, 0, out _);
            Assert.That(h.Status, Is.EqualTo(0));
            // SET_INTERFACE of an interface that does not exist: -EINVAL.
            h = c.Client.Control(0x01, UsbRequestCode.SetInterface, 0, 5, 0, out _);
            Assert.That(h.Status, Is.EqualTo(-UsbErrno.EINVAL));
            // SET_ADDRESS is the server's business.
            h = c.Client.Control(0x00, UsbRequestCode.SetAddress, 9, 0, 0, out _);
            Assert.That(h.Status, Is.EqualTo(-UsbErrno.EPIPE));
            Assert.That(rig.Bed.Device("1-1").Address, Is.EqualTo(2));
            // SET_FEATURE(PORT_RESET): the device is reset (re-enumerated); the connection ends and
            // the new device is bound to usbip-host again (its bus id is listed).
            UsbDevice before = rig.Bed.Device("1-1");
            h = c.Client.Control(0x23, UsbRequestCode.SetFeature, 4, 1, 0, out _);
            Assert.That(h.Status, Is.EqualTo(0));
            rig.Bed.Settle();
            c.WaitEnded();
            Assert.That(c.Session.EndReason, Is.EqualTo(UsbIpSessionEnd.DeviceGone));
            UsbDevice after = rig.Bed.Device("1-1");
            Assert.That(after, Is.Not.SameAs(before));
            Assert.That(after.Driver, Is.SameAs(rig.Host));
            Assert.That(rig.Host.FindExport("1-1")?.State, Is.EqualTo(UsbIpExportState.Available));
        }

        // ---- Bad input ------------------------------------------------------------------------------

        static Rig.Connection Imported(Rig rig)
        {
            rig.Plug("1", Rig.Keyboard());
            rig.Host.BindBusId("1-1");
            return Import(rig, "1-1", out _);
        }

        [Test]
        public void UnknownCommandClosesTheConnectionWithALogLine()
        {
            using var rig = new Rig();
            Rig.Connection c = Imported(rig);
            var b = new byte[UsbIpHeader.Size];
            UsbIpHeader.WriteCmdUnlink(b, 1, c.Client.DevId, 0);
            b[3] = 0x05;
            c.Client.Send(b);
            Assert.That(c.Client.WaitClosed(), Is.True);
            c.WaitEnded();
            Assert.That(c.Session.EndReason, Is.EqualTo(UsbIpSessionEnd.ProtocolError));
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("usbip-host 1-1: unknown command 00000005 from 10.0.2.2:40000, closing connection"));
            Assert.That(rig.Host.Exports[0].State, Is.EqualTo(UsbIpExportState.Available));
        }

        [TestCase(0x7fffffff, "transfer_buffer_length 2147483647 out of bounds")]
        [TestCase(-5, "transfer_buffer_length 4294967291 out of bounds")]
        public void HugeLengthsAreRefusedBeforeAnyAllocation(int length, string message)
        {
            using var rig = new Rig();
            Rig.Connection c = Imported(rig);
            int dmaBefore = rig.Bed.Dma.Outstanding;
            c.Client.Send(c.Client.Submit(1, UsbIpProtocol.DirOut, 2, length));
            Assert.That(c.Client.WaitClosed(), Is.True);
            c.WaitEnded();
            Assert.That(rig.Bed.LogSink.All(), Does.Contain(message));
            Assert.That(rig.Bed.Dma.Outstanding, Is.EqualTo(dmaBefore));
        }

        [Test]
        public void WrongDevIdVersionAndOperationCodeCloseTheConnection()
        {
            using var rig = new Rig();
            Rig.Connection c = Imported(rig);
            c.Client.DevId ^= 1;
            c.Client.Send(c.Client.Submit(1, UsbIpProtocol.DirIn, 0, 18, TestClient.Setup(0x80, 6, 0x100, 0, 18)));
            Assert.That(c.Client.WaitClosed(), Is.True);
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("recv invalid request"));

            Rig.Connection v = rig.Connect();
            v.Client.Send(CodecTests.Hex("0106 8005 00000000"));
            Assert.That(v.Client.WaitClosed(), Is.True);
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("usbip: version mismatch: 0106"));

            Rig.Connection o = rig.Connect();
            o.Client.Send(CodecTests.Hex("0111 8077 00000000"));
            Assert.That(o.Client.WaitClosed(), Is.True);
            Assert.That(rig.Bed.LogSink.All(), Does.Contain("usbip: unknown operation code 8077"));
        }

        [Test]
        public void AClientThatStopsMidPacketTimesOut()
        {
            using var rig = new Rig();
            Rig.Connection c = Imported(rig);
            c.Client.Send(new byte[20]);
            c.WaitEnded("packet timeout");
            Assert.That(c.Session.EndReason, Is.EqualTo(UsbIpSessionEnd.Timeout));
        }
    }
}
