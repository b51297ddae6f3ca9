using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hcd.Xhci;
using NUnit.Framework;
using Platform;
using Tests.Support;

namespace Hcd.Tests.Xhci
{
    /// <summary>
    /// A small simulated xHCI for bulk streams: registers (halt/reset/run), the command ring
    /// (Enable Slot, Configure Endpoint, Stop Endpoint, Set TR Dequeue Pointer answered with Command
    /// Completion events; the input contexts they carried are kept), doorbells recorded, and
    /// transfer events the test posts. Memory is a <see cref="ArenaDma"/>, so contexts, stream arrays
    /// and rings are read where the driver put them.
    /// </summary>
    sealed class SimXhci
    {
        public const uint CapLength = 0x40, Db = 0x2000, Rt = 0x1000;
        /// <summary>qemu-xhci's HCCPARAMS1 without the extended capabilities: MaxPSASize 7 (256-entry arrays), 32-byte contexts.</summary>
        public const uint Hcc1 = 7u << 12;

        public readonly FakeXhciRegisters Regs = new FakeXhciRegisters();
        public readonly ArenaDma Dma;
        public readonly List<uint> Doorbells = new List<uint>();
        /// <summary>Command TRBs the controller received: type, the three other dwords, and a copy of the input context it points to.</summary>
        public readonly List<(uint Type, ulong Parameter, uint Status, uint Control, byte[] Input)> Commands = new();
        ulong _cmdDequeue;
        bool _cmdCycle = true;
        ulong _eventSegment;
        uint _eventSize, _eventIndex;
        bool _eventCycle = true;

        public SimXhci(ArenaDma dma)
        {
            Dma = dma;
            Regs[0] = CapLength | (0x100u << 16);
            Regs[0x04] = 8u | (1u << 8) | (2u << 24);   // 8 slots, 1 interrupter, 2 ports
            Regs[0x08] = 0;
            Regs[0x10] = Hcc1;
            Regs[0x14] = Db;
            Regs[0x18] = Rt;
            Regs[CapLength + XhciOp.UsbSts] = UsbSts.HcHalted;
            Regs.OnWrite = Write;
        }

        unsafe ulong Read64(ulong physical) => *(ulong*)Dma.Word(physical);
        unsafe uint Read32(ulong physical) => *Dma.Word(physical);
        unsafe void Write32(ulong physical, uint value) => *Dma.Word(physical) = value;
        unsafe void Write64(ulong physical, ulong value) => *(ulong*)Dma.Word(physical) = value;

        void Write(uint offset, uint value)
        {
            if (offset == CapLength + XhciOp.UsbCmd)
            {
                Regs.Regs[offset] = value & ~UsbCmd.HostControllerReset;
                uint sts = Regs[CapLength + XhciOp.UsbSts];
                Regs.Regs[CapLength + XhciOp.UsbSts] = (value & UsbCmd.RunStop) != 0 ? sts & ~UsbSts.HcHalted : sts | UsbSts.HcHalted;
                return;
            }
            if (offset == CapLength + XhciOp.UsbSts)
            {
                Regs.Regs[offset] = Regs[offset] & ~(value & (UsbSts.EventInterrupt | UsbSts.PortChangeDetect | UsbSts.HostSystemError));
                return;
            }
            Regs.Regs[offset] = value;
            if (offset == CapLength + XhciOp.Crcr)
            {
                _cmdDequeue = value & ~0x3FUL;
                _cmdCycle = (value & Crcr.RingCycleState) != 0;
            }
            else if (offset == Rt + XhciRt.Interrupter(0) + XhciRt.ErstbaHigh)
            {
                ulong table = Regs[Rt + XhciRt.Interrupter(0) + XhciRt.Erstba];
                _eventSegment = Read64(table);
                _eventSize = Read32(table + 8);
            }
            else if (offset == Db)
                RunCommands();
            else if (offset > Db && offset < Db + 0x100)
                Doorbells.Add(value);
        }

        public ulong Dcbaa => Regs[CapLength + XhciOp.Dcbaap];
        public ulong OutputContext(int slot) => Read64(Dcbaa + (ulong)slot * 8);

        void RunCommands()
        {
            while (true)
            {
                uint control = Read32(_cmdDequeue + Trb.Control);
                if (((control & Trb.Cycle) != 0) != _cmdCycle)
                    return;
                uint type = Trb.TypeOf(control);
                if (type == Trb.TypeLink)
                {
                    if ((control & Trb.ToggleCycle) != 0) _cmdCycle = !_cmdCycle;
                    _cmdDequeue = Read64(_cmdDequeue) & ~0xFUL;
                    continue;
                }
                ulong parameter = Read64(_cmdDequeue);
                uint status = Read32(_cmdDequeue + Trb.Status);
                int slot = (int)((control >> Trb.SlotIdShift) & Trb.SlotIdMask);
                int dci = (int)((control >> Trb.EndpointIdShift) & Trb.EndpointIdMask);
                byte[] input = null;
                if (type == Trb.TypeConfigureEndpoint || type == Trb.TypeAddressDevice || type == Trb.TypeEvaluateContext)
                {
                    input = new byte[33 * 32];
                    for (int i = 0; i < input.Length; i += 4)
                    {
                        uint v = Read32(parameter + (ulong)i);
                        input[i] = (byte)v; input[i + 1] = (byte)(v >> 8); input[i + 2] = (byte)(v >> 16); input[i + 3] = (byte)(v >> 24);
                    }
                }
                Commands.Add((type, parameter, status, control, input));
                if (type == Trb.TypeEnableSlot)
                    slot = 1;
                if (type == Trb.TypeStopEndpoint)
                {
                    // The endpoint is Stopped (6.2.3 state 3) in the output context.
                    ulong ep = OutputContext(slot) + (ulong)dci * 32;
                    Write32(ep, (Read32(ep) & ~7u) | EndpointContext.StateStopped);
                }
                if (type == Trb.TypeConfigureEndpoint && slot != 0)
                {
                    ulong output = OutputContext(slot);
                    Write32(output, Read32(parameter + 32));   // slot context dword 0 (Context Entries)
                }
                Event(_cmdDequeue, (uint)XhciCompletion.Success << 24, Trb.TypeField(Trb.TypeCommandCompletion) | ((uint)slot << Trb.SlotIdShift));
                _cmdDequeue += Trb.Size;
            }
        }

        /// <summary>Posts an event TRB (the driver polls the ring).</summary>
        public void Event(ulong parameter, uint status, uint control)
        {
            ulong at = _eventSegment + _eventIndex * Trb.Size;
            Write64(at, parameter);
            Write32(at + 8, status);
            Write32(at + 12, control | (_eventCycle ? Trb.Cycle : 0));
            if (++_eventIndex == _eventSize)
            {
                _eventIndex = 0;
                _eventCycle = !_eventCycle;
            }
            Regs.Regs[CapLength + XhciOp.UsbSts] = Regs[CapLength + XhciOp.UsbSts] | UsbSts.EventInterrupt;
        }

        /// <summary>A Transfer Event for the TRB at <paramref name="trb"/> (6.4.2.1).</summary>
        public void TransferEvent(ulong trb, int code, int residual, int slot, int dci) =>
            Event(trb, ((uint)code << 24) | (uint)residual, Trb.TypeField(Trb.TypeTransferEvent) | ((uint)slot << Trb.SlotIdShift) | ((uint)dci << Trb.EndpointIdShift));

        /// <summary>Stream <paramref name="id"/>'s entry of the array an endpoint context points to: (ring, SCT, DCS).</summary>
        public (ulong Ring, uint Sct, bool Dcs) StreamEntry(ulong array, int id)
        {
            ulong v = Read64(array + (ulong)id * 16);
            return (v & ~0xFUL, (uint)(v >> 1) & 7, (v & 1) != 0);
        }

        public (ulong Parameter, uint Status, uint Control) TrbAt(ulong physical) => (Read64(physical), Read32(physical + 8), Read32(physical + 12));
    }

    /// <summary>Bulk streams on the xHCI driver (xHCI 1.2 4.12, 6.2.3, 6.2.4.1, 5.6, 6.4.3.9), against <see cref="SimXhci"/>.</summary>
    [TestFixture]
    public class XhciStreamsTests
    {
        [Test]
        public void StreamEncodings()
        {
            Assert.That(XhciCap.MaxPsaSize(0x00087001), Is.EqualTo(7), "qemu-xhci: 256-entry stream arrays");
            Assert.That(XhciCap.MaxPsaSize(0x00080001), Is.EqualTo(0), "no streams");
            Assert.That(XhciDoorbell.Value(3, 5), Is.EqualTo(3u | (5u << 16)), "DB Target and DB Stream ID (5.6)");
            Assert.That(XhciDoorbell.Value(3, 0), Is.EqualTo(3u));
            Assert.That(Trb.StreamField(9), Is.EqualTo(9u << 16), "Set TR Dequeue Pointer Stream ID");
            Assert.That(StreamContext.Dequeue(0x12340, true), Is.EqualTo(0x12340UL | (1UL << 1) | 1UL), "SCT 1 (primary ring), DCS");
            Assert.That(StreamContext.Dequeue(0x12340, false), Is.EqualTo(0x12340UL | (1UL << 1)));

            using var dma = new ArenaDma();
            DmaBuffer ctx = dma.Allocate(64, 64, DmaLimit.Below4G);
            var desc = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x83, bmAttributes = (byte)TransferType.Bulk, wMaxPacketSize = 1024 };
            var ep = new UsbEndpoint(desc) { HasCompanion = true, Companion = new SuperSpeedEndpointCompanionDescriptor { bMaxBurst = 15, bmAttributes = 4 } };
            Assert.That(UsbStreams.Supported(ep), Is.EqualTo(16), "companion MaxStreams 4 = 16 streams (USB 3.2 9.6.7)");
            EndpointContext.Write(ctx, 0, UsbSpeed.Super, ep, 1024, 0, false);
            EndpointContext.SetStreams(ctx, 0, 3, 0x45670);
            Assert.That(XhciMemory.Read(ctx, 0), Is.EqualTo((3u << 10) | (1u << 15)), "MaxPStreams 3, LSA");
            Assert.That(XhciMemory.Read64(ctx, 8), Is.EqualTo(0x45670UL), "TR Dequeue Pointer = the stream context array");
        }

        sealed class Rig : System.IDisposable
        {
            public readonly ArenaDma Dma = new ArenaDma();
            public readonly SimXhci Sim;
            public readonly XhciController Hc;
            public readonly XhciRootHub Bus;
            public readonly UsbDevice Device;
            public readonly UsbEndpoint In, Out;

            public Rig(byte maxStreamsExponent = 4)
            {
                Sim = new SimXhci(Dma);
                Hc = new XhciController(Sim.Regs, new ManualClock(), new InlineThreading(), Dma, "0000:00:04.0");
                Assert.That(Hc.Init(), Is.EqualTo(UsbStatus.Ok));
                Bus = new XhciRootHub(Hc, new[] { 1, 2 }, true);
                var root = new UsbDevice(null, null, 0, UsbSpeed.Super);
                Device = new UsbDevice(null, root, 1, UsbSpeed.Super);
                Assert.That(Hc.AllocateDevice(Bus, Device), Is.EqualTo(UsbStatus.Ok));
                In = Bulk(0x83, maxStreamsExponent);
                Out = Bulk(0x04, maxStreamsExponent);
                Assert.That(Hc.EnableEndpoint(Device, In), Is.EqualTo(UsbStatus.Ok));
                Assert.That(Hc.EnableEndpoint(Device, Out), Is.EqualTo(UsbStatus.Ok));
            }

            static UsbEndpoint Bulk(byte address, byte maxStreams) =>
                new UsbEndpoint(new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = address, bmAttributes = (byte)TransferType.Bulk, wMaxPacketSize = 1024 })
                { HasCompanion = true, Companion = new SuperSpeedEndpointCompanionDescriptor { bMaxBurst = 15, bmAttributes = maxStreams } };

            public UsbRequest Request(UsbEndpoint endpoint, uint stream, int length = 512)
            {
                var r = new UsbRequest { Device = Device, Endpoint = endpoint, DirectionIn = endpoint.IsIn, Length = length, StreamId = stream };
                r.Buffer = Dma.Allocate((uint)length, 64, DmaLimit.Below4G);
                return r;
            }

            public void Dispose() => Dma.Dispose();
        }

        static uint InputDword(byte[] input, int offset) => (uint)(input[offset] | input[offset + 1] << 8 | input[offset + 2] << 16 | input[offset + 3] << 24);
        static ulong InputQword(byte[] input, int offset) => InputDword(input, offset) | ((ulong)InputDword(input, offset + 4) << 32);

        [Test]
        public void AllocStreamsConfiguresStreamArraysLikeLinux()
        {
            using var rig = new Rig();
            int before = rig.Sim.Commands.Count;
            Assert.That(rig.Hc.AllocStreams(rig.Device, new[] { rig.In, rig.Out }, 9, out int allocated), Is.EqualTo(UsbStatus.Ok));
            Assert.That(allocated, Is.EqualTo(15), "16-entry arrays (2^(MaxPStreams+1)), Stream IDs 1..15");
            Assert.That(rig.Sim.Commands.Count, Is.EqualTo(before + 1), "one Configure Endpoint for both endpoints");
            var cmd = rig.Sim.Commands[^1];
            Assert.That(cmd.Type, Is.EqualTo(Trb.TypeConfigureEndpoint));
            int dciIn = XhciContext.DciOf(rig.In), dciOut = XhciContext.DciOf(rig.Out);
            uint flags = (1u << dciIn) | (1u << dciOut);
            Assert.That(InputDword(cmd.Input, 0), Is.EqualTo(flags), "drop flags: the endpoints' old contexts");
            Assert.That(InputDword(cmd.Input, 4), Is.EqualTo(flags | 1u), "add flags: slot + the endpoints");
            foreach (int dci in new[] { dciIn, dciOut })
            {
                int ctx = (dci + 1) * 32;
                uint dword0 = InputDword(cmd.Input, ctx);
                Assert.That((dword0 >> 10) & 0x1F, Is.EqualTo(3u), "MaxPStreams 3");
                Assert.That(dword0 & (1u << 15), Is.Not.Zero, "LSA: linear array");
                ulong array = InputQword(cmd.Input, ctx + 8);
                Assert.That(array & 0xF, Is.Zero);
                Assert.That(rig.Sim.StreamEntry(array, 0).Ring, Is.Zero, "entry 0 reserved");
                var rings = new HashSet<ulong>();
                for (int id = 1; id < 16; id++)
                {
                    var e = rig.Sim.StreamEntry(array, id);
                    Assert.That(e.Sct, Is.EqualTo(1u), "primary transfer ring");
                    Assert.That(e.Dcs, Is.True);
                    Assert.That(e.Ring, Is.Not.Zero);
                    rings.Add(e.Ring);
                }
                Assert.That(rings.Count, Is.EqualTo(15), "a ring per stream");
            }
            Assert.That(rig.Hc.AllocStreams(rig.Device, new[] { rig.In }, 4, out int _), Is.EqualTo(UsbStatus.Busy), "already has streams");
        }

        [Test]
        public void ArraysAreBoundedByTheEndpointsAndTheController()
        {
            using var rig = new Rig(maxStreamsExponent: 2);
            Assert.That(rig.Hc.AllocStreams(rig.Device, new[] { rig.In, rig.Out }, 9, out int allocated), Is.EqualTo(UsbStatus.Ok));
            Assert.That(allocated, Is.EqualTo(3), "companion MaxStreams 2: 4-entry arrays, Stream IDs 1..3");
            using var none = new Rig(maxStreamsExponent: 0);
            Assert.That(none.Hc.AllocStreams(none.Device, new[] { none.In }, 4, out int _), Is.EqualTo(UsbStatus.NotSupported), "endpoint without streams");
        }

        [Test]
        public void RequestsGoOnTheirStreamRingAndRingTheStreamDoorbell()
        {
            using var rig = new Rig();
            Assert.That(rig.Hc.AllocStreams(rig.Device, new[] { rig.In, rig.Out }, 9, out int _), Is.EqualTo(UsbStatus.Ok));
            var cmd = rig.Sim.Commands[^1];
            int dci = XhciContext.DciOf(rig.In);
            ulong array = InputQword(cmd.Input, (dci + 1) * 32 + 8);

            Assert.That(rig.Hc.Submit(rig.Request(rig.In, 0)), Is.EqualTo(UsbStatus.InvalidArgument), "stream 0 on a stream endpoint");
            Assert.That(rig.Hc.Submit(rig.Request(rig.In, 16)), Is.EqualTo(UsbStatus.InvalidArgument), "beyond the array");

            UsbRequest a = rig.Request(rig.In, 2), b = rig.Request(rig.In, 7);
            rig.Sim.Doorbells.Clear();
            Assert.That(rig.Hc.Submit(a), Is.EqualTo(UsbStatus.Ok));
            Assert.That(rig.Hc.Submit(b), Is.EqualTo(UsbStatus.Ok));
            Assert.That(rig.Sim.Doorbells, Is.EqualTo(new[] { (uint)dci | (2u << 16), (uint)dci | (7u << 16) }));
            ulong ringA = rig.Sim.StreamEntry(array, 2).Ring, ringB = rig.Sim.StreamEntry(array, 7).Ring;
            var trbA = rig.Sim.TrbAt(ringA);
            Assert.That(Trb.TypeOf(trbA.Control), Is.EqualTo(Trb.TypeNormal));
            Assert.That(trbA.Parameter, Is.EqualTo(a.Buffer.Physical), "stream 2's ring holds request a");
            Assert.That(rig.Sim.TrbAt(ringB).Parameter, Is.EqualTo(b.Buffer.Physical));

            // Streams complete in any order: b (stream 7) first.
            rig.Sim.TransferEvent(ringB, XhciCompletion.Success, 0, 1, dci);
            rig.Hc.ProcessEvents(false);
            Assert.That(b.HcdPrivate, Is.Null, "b finished");
            Assert.That(a.HcdPrivate, Is.Not.Null, "a still queued on its stream");
            rig.Sim.TransferEvent(ringA, XhciCompletion.ShortPacket, 100, 1, dci);
            rig.Hc.ProcessEvents(false);
            Assert.That(a.HcdPrivate, Is.Null);
        }

        [Test]
        public void CancelStopsTheEndpointAndRestartsEveryLiveStream()
        {
            using var rig = new Rig();
            Assert.That(rig.Hc.AllocStreams(rig.Device, new[] { rig.In, rig.Out }, 9, out int _), Is.EqualTo(UsbStatus.Ok));
            int dci = XhciContext.DciOf(rig.In);
            ulong array = InputQword(rig.Sim.Commands[^1].Input, (dci + 1) * 32 + 8);
            UsbRequest live3 = rig.Request(rig.In, 3), gone4 = rig.Request(rig.In, 4), live5 = rig.Request(rig.In, 5);
            Assert.That(rig.Hc.Submit(live3), Is.EqualTo(UsbStatus.Ok));
            Assert.That(rig.Hc.Submit(gone4), Is.EqualTo(UsbStatus.Ok));
            Assert.That(rig.Hc.Submit(live5), Is.EqualTo(UsbStatus.Ok));
            int before = rig.Sim.Commands.Count;
            rig.Sim.Doorbells.Clear();
            Assert.That(rig.Hc.Cancel(gone4, UsbStatus.Killed), Is.EqualTo(UsbStatus.Ok));
            for (int i = 0; i < 4; i++)
                rig.Hc.ProcessEvents(false);   // stop completion, then one Set TR Dequeue Pointer per live stream
            var issued = rig.Sim.Commands.GetRange(before, rig.Sim.Commands.Count - before);
            Assert.That(issued.ConvertAll(c => c.Type), Is.EqualTo(new[] { Trb.TypeStopEndpoint, Trb.TypeSetTrDequeue, Trb.TypeSetTrDequeue }));
            Assert.That((issued[0].Control >> Trb.EndpointIdShift) & Trb.EndpointIdMask, Is.EqualTo((uint)dci));
            Assert.That(gone4.HcdPrivate, Is.Null, "the cancelled request was given back");
            Assert.That(Trb.TypeOf(rig.Sim.TrbAt(rig.Sim.StreamEntry(array, 4).Ring).Control), Is.EqualTo(Trb.TypeNoOp), "its TRB became a No-Op");
            Assert.That(issued[1].Status, Is.EqualTo(3u << 16), "stream 3");
            Assert.That(issued[1].Parameter, Is.EqualTo(rig.Sim.StreamEntry(array, 3).Ring | (1UL << 1) | 1UL), "its first live TD, SCT 1, DCS");
            Assert.That(issued[2].Status, Is.EqualTo(5u << 16), "stream 5");
            Assert.That(rig.Sim.Doorbells, Is.EqualTo(new[] { (uint)dci | (3u << 16), (uint)dci | (5u << 16) }), "the live streams ring again");
            Assert.That(live3.HcdPrivate, Is.Not.Null);
            Assert.That(live5.HcdPrivate, Is.Not.Null);
        }

        [Test]
        public void FreeStreamsGivesTheEndpointsTheirRingBack()
        {
            using var rig = new Rig();
            int live = rig.Dma.Live;
            Assert.That(rig.Hc.AllocStreams(rig.Device, new[] { rig.In, rig.Out }, 9, out int _), Is.EqualTo(UsbStatus.Ok));
            Assert.That(rig.Dma.Live, Is.EqualTo(live + 2 * (1 + 15)), "an array and 15 rings per endpoint");
            UsbRequest pending = rig.Request(rig.Out, 1);
            live = rig.Dma.Live;
            Assert.That(rig.Hc.Submit(pending), Is.EqualTo(UsbStatus.Ok));
            Assert.That(rig.Hc.FreeStreams(rig.Device, new[] { rig.In, rig.Out }), Is.EqualTo(UsbStatus.Ok));
            Assert.That(pending.HcdPrivate, Is.Null, "a request still on a stream is given back");
            var cmd = rig.Sim.Commands[^1];
            Assert.That(cmd.Type, Is.EqualTo(Trb.TypeConfigureEndpoint));
            int dci = XhciContext.DciOf(rig.Out);
            uint dword0 = InputDword(cmd.Input, (dci + 1) * 32);
            Assert.That(dword0 & ((0x1Fu << 10) | (1u << 15)), Is.Zero, "no MaxPStreams, no LSA");
            Assert.That(InputQword(cmd.Input, (dci + 1) * 32 + 8) & 1, Is.EqualTo(1UL), "a ring dequeue pointer with DCS again");
            Assert.That(rig.Dma.Live, Is.EqualTo(live - 2 * (1 + 15)), "arrays and stream rings freed");
            Assert.That(rig.Hc.Submit(rig.Request(rig.Out, 0)), Is.EqualTo(UsbStatus.Ok), "ordinary requests work again");
            Assert.That(rig.Hc.Submit(rig.Request(rig.Out, 1)), Is.EqualTo(UsbStatus.InvalidArgument), "no streams any more");
        }
    }
}
