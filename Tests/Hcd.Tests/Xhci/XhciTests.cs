using System;
using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Hcd.Xhci;
using Drivers.Usb.Hub;
using Hcd.Tests.Ohci;
using NUnit.Framework;
using Platform;
using Tests.Support;

namespace Hcd.Tests.Xhci
{
    /// <summary>A sparse MMIO block: dwords in a dictionary, every access recorded; an optional hook per read.</summary>
    public sealed class FakeXhciRegisters : IRegisterBlock
    {
        public readonly Dictionary<uint, uint> Regs = new();
        public readonly List<(uint Offset, uint Value)> Writes = new();
        public int Reads;
        public Func<uint, uint, uint> OnRead;
        public Action<uint, uint> OnWrite;

        public uint this[uint offset] { get => Regs.TryGetValue(offset, out uint v) ? v : 0; set => Regs[offset] = value; }
        public byte Read8(uint offset) => (byte)(Read32(offset & ~3u) >> (int)(8 * (offset & 3)));
        public ushort Read16(uint offset) => (ushort)(Read32(offset & ~3u) >> (int)(8 * (offset & 3)));
        public uint Read32(uint offset)
        {
            Reads++;
            uint v = this[offset];
            return OnRead != null ? OnRead(offset, v) : v;
        }
        public ulong Read64(uint offset) => Read32(offset) | ((ulong)Read32(offset + 4) << 32);
        public void Write8(uint offset, byte value) => Write32(offset, value);
        public void Write16(uint offset, ushort value) => Write32(offset, value);
        public void Write32(uint offset, uint value)
        {
            Writes.Add((offset, value));
            if (OnWrite != null) OnWrite(offset, value);
            else this[offset] = value;
        }
        public void Write64(uint offset, ulong value) { Write32(offset, (uint)value); Write32(offset + 4, (uint)(value >> 32)); }
    }

    [TestFixture]
    public class XhciEncodingTests
    {
        [Test]
        public void CapabilityFields()
        {
            // HCSPARAMS1 of qemu-xhci: 64 slots, 16 interrupters, 8 ports.
            uint hcs1 = 64 | (16u << 8) | (8u << 24);
            Assert.That(XhciCap.MaxSlots(hcs1), Is.EqualTo(64));
            Assert.That(XhciCap.MaxInterrupters(hcs1), Is.EqualTo(16));
            Assert.That(XhciCap.MaxPorts(hcs1), Is.EqualTo(8));
            // Max Scratchpad Buffers: Hi bits 25..21, Lo bits 31..27 → (Hi << 5) | Lo.
            uint hcs2 = (1u << 21) | (3u << 27);
            Assert.That(XhciCap.MaxScratchpadBuffers(hcs2), Is.EqualTo(35));
            Assert.That(XhciCap.ExtendedCapabilitiesOffset(0x00087001), Is.EqualTo(0x20));
            Assert.That(XhciCap.ContextBytes(0x00087001), Is.EqualTo(32));
            Assert.That(XhciCap.ContextBytes(0x00087005), Is.EqualTo(64));
            Assert.That(XhciOp.PortSc(1), Is.EqualTo(0x400));
            Assert.That(XhciOp.PortSc(5), Is.EqualTo(0x440));
            Assert.That(XhciRt.Interrupter(0) + XhciRt.Erdp, Is.EqualTo(0x38));
        }

        [Test]
        public void TrbControlDwords()
        {
            Assert.That(Trb.SetupControl(false, false), Is.EqualTo((2u << 10) | (1u << 6)));
            Assert.That(Trb.SetupControl(true, true), Is.EqualTo((2u << 10) | (1u << 6) | (3u << 16)));
            Assert.That(Trb.SetupControl(true, false), Is.EqualTo((2u << 10) | (1u << 6) | (2u << 16)));
            Assert.That(Trb.DataControl(true, false), Is.EqualTo((3u << 10) | (1u << 16) | (1u << 2)));
            Assert.That(Trb.DataControl(false, true), Is.EqualTo((3u << 10) | (1u << 4)));
            // Status stage: IN when there is no data stage or it was OUT, OUT after an IN data stage.
            Assert.That(Trb.StatusControl(false, false), Is.EqualTo((4u << 10) | (1u << 16) | (1u << 5)));
            Assert.That(Trb.StatusControl(true, false), Is.EqualTo((4u << 10) | (1u << 16) | (1u << 5)));
            Assert.That(Trb.StatusControl(true, true), Is.EqualTo((4u << 10) | (1u << 5)));
            Assert.That(Trb.NormalControl(true, true, false), Is.EqualTo((1u << 10) | (1u << 2) | (1u << 4)));
            Assert.That(Trb.NormalControl(false, false, true), Is.EqualTo((1u << 10) | (1u << 5)));
            Assert.That(Trb.SlotField(5) | Trb.EndpointField(3), Is.EqualTo((5u << 24) | (3u << 16)));
            Assert.That(Trb.TransferStatus(512, 40), Is.EqualTo(512u | (31u << 17)), "TD Size clamps at 31");
            Assert.That(Trb.TransferStatus(0x10000, 2), Is.EqualTo(0x10000u | (2u << 17)));
            Assert.That(Trb.TypeOf(Trb.TypeField(Trb.TypeCommandCompletion) | 1), Is.EqualTo(33u));
        }

        [Test]
        public void TdSizeCountsRemainingPackets()
        {
            // 3000 bytes, MPS 512, two TRBs of 1000 and 2000: after the first, 2000 bytes = 4 packets remain.
            Assert.That(Trb.TdSize(1000, 3000, 512, false), Is.EqualTo(4));
            Assert.That(Trb.TdSize(3000, 3000, 512, true), Is.EqualTo(0));
            Assert.That(Trb.TdSize(1, 1_000_000, 64, false), Is.EqualTo(31));
        }

        [Test]
        public void BuffersSplitAt64KiBBoundaries()
        {
            Assert.That(Trb.CountChunks(0x1000, 0), Is.EqualTo(1));
            Assert.That(Trb.CountChunks(0x10000, 0x10000), Is.EqualTo(1), "exactly one aligned 64 KiB chunk");
            Assert.That(Trb.CountChunks(0x1F000, 0x2000), Is.EqualTo(2), "crosses one boundary");
            Assert.That(Trb.ChunkAt(0x1F000, 0x2000), Is.EqualTo(0x1000));
            Assert.That(Trb.CountChunks(0xFFFF, 0x20002), Is.EqualTo(4));
            ulong address = 0x2_FFF0;
            int left = 0x30000;
            while (left > 0)
            {
                int n = Trb.ChunkAt(address, left);
                Assert.That((address & ~0xFFFFUL), Is.EqualTo((address + (ulong)n - 1) & ~0xFFFFUL), "no TRB crosses 64 KiB");
                Assert.That(n, Is.LessThanOrEqualTo(0x10000));
                address += (ulong)n;
                left -= n;
            }
        }

        [TestCase(XhciCompletion.Success, UsbStatus.Ok)]
        [TestCase(XhciCompletion.ShortPacket, UsbStatus.Ok)]
        [TestCase(XhciCompletion.StallError, UsbStatus.Stall)]
        [TestCase(XhciCompletion.BabbleDetected, UsbStatus.Babble)]
        [TestCase(XhciCompletion.UsbTransactionError, UsbStatus.TransactionError)]
        [TestCase(XhciCompletion.SplitTransactionError, UsbStatus.TransactionError)]
        [TestCase(XhciCompletion.DataBufferError, UsbStatus.Overflow)]
        [TestCase(XhciCompletion.RingUnderrun, UsbStatus.Underrun)]
        [TestCase(XhciCompletion.Stopped, UsbStatus.Cancelled)]
        [TestCase(XhciCompletion.SlotNotEnabled, UsbStatus.NoDevice)]
        [TestCase(XhciCompletion.BandwidthError, UsbStatus.NoBandwidth)]
        [TestCase(XhciCompletion.MissedService, UsbStatus.CrossedFrame)]
        [TestCase(XhciCompletion.RingOverrun, UsbStatus.Overrun)]
        [TestCase(XhciCompletion.TrbError, UsbStatus.InvalidArgument)]
        public void CompletionCodes(int code, UsbStatus expected) => Assert.That(XhciCompletion.ToStatus(code), Is.EqualTo(expected));

        [Test]
        public void HaltingCompletionCodes()
        {
            Assert.That(XhciCompletion.Halts(XhciCompletion.StallError), Is.True);
            Assert.That(XhciCompletion.Halts(XhciCompletion.BabbleDetected), Is.True);
            Assert.That(XhciCompletion.Halts(XhciCompletion.UsbTransactionError), Is.True);
            Assert.That(XhciCompletion.Halts(XhciCompletion.ShortPacket), Is.False);
            Assert.That(XhciCompletion.Halts(XhciCompletion.Stopped), Is.False);
        }

        [TestCase(UsbSpeed.High, TransferType.Interrupt, 4, 3u)]   // 2^3 x 125 us = 1 ms
        [TestCase(UsbSpeed.High, TransferType.Interrupt, 1, 0u)]
        [TestCase(UsbSpeed.High, TransferType.Interrupt, 16, 15u)]
        [TestCase(UsbSpeed.High, TransferType.Interrupt, 0, 0u)]
        [TestCase(UsbSpeed.Super, TransferType.Interrupt, 8, 7u)]
        [TestCase(UsbSpeed.Full, TransferType.Interrupt, 1, 3u)]   // 1 ms = 8 microframes
        [TestCase(UsbSpeed.Full, TransferType.Interrupt, 10, 6u)]  // 80 → 64 microframes
        [TestCase(UsbSpeed.Low, TransferType.Interrupt, 255, 10u)] // clamped to 128 ms
        [TestCase(UsbSpeed.Full, TransferType.Isochronous, 1, 3u)]
        [TestCase(UsbSpeed.High, TransferType.Bulk, 255, 0u)]
        [TestCase(UsbSpeed.Full, TransferType.Control, 0, 0u)]
        public void IntervalEncoding(UsbSpeed speed, TransferType type, int bInterval, uint expected) =>
            Assert.That(EndpointContext.Interval(speed, type, (byte)bInterval), Is.EqualTo(expected));

        [Test]
        public void DeviceContextIndex()
        {
            Assert.That(XhciContext.Dci(0, false), Is.EqualTo(1));
            Assert.That(XhciContext.Dci(0, true), Is.EqualTo(1));
            Assert.That(XhciContext.Dci(1, false), Is.EqualTo(2));
            Assert.That(XhciContext.Dci(1, true), Is.EqualTo(3));
            Assert.That(XhciContext.Dci(15, true), Is.EqualTo(31));
        }

        [TestCase(32u)]
        [TestCase(64u)]
        public void InputAndDeviceContextLayout(uint size)
        {
            Assert.That(XhciContext.InputSlot(size), Is.EqualTo(size));
            Assert.That(XhciContext.InputEndpoint(size, 1), Is.EqualTo(2 * size));
            Assert.That(XhciContext.InputEndpoint(size, 31), Is.EqualTo(32 * size));
            Assert.That(XhciContext.DeviceEndpoint(size, 1), Is.EqualTo(size));
            Assert.That(XhciContext.InputContextSize(size), Is.EqualTo(33 * size));
            Assert.That(XhciContext.DeviceContextSize(size), Is.EqualTo(32 * size));
        }

        [Test]
        public void SlotContextFields()
        {
            uint d0 = SlotContext.Dword0(0x432, PortSc.SpeedFull, true, true, 3);
            Assert.That(d0, Is.EqualTo(0x432u | (1u << 20) | (1u << 25) | (1u << 26) | (3u << 27)));
            Assert.That(SlotContext.ContextEntries(d0), Is.EqualTo(3));
            Assert.That(SlotContext.Dword1(5, 4), Is.EqualTo((5u << 16) | (4u << 24)));
            Assert.That(SlotContext.Dword2(7, 3, 2), Is.EqualTo(7u | (3u << 8) | (2u << 16)));
        }

        [Test]
        public void RouteStringFromTheDeviceTree()
        {
            var root = new UsbDevice(null, null, 0, UsbSpeed.High);
            var hub1 = new UsbDevice(null, root, 3, UsbSpeed.High);
            var hub2 = new UsbDevice(null, hub1, 2, UsbSpeed.Full);
            var hub3 = new UsbDevice(null, hub2, 3, UsbSpeed.Full);
            var leaf = new UsbDevice(null, hub3, 4, UsbSpeed.Full);
            Assert.That(SlotContext.RouteString(hub1, out uint r1, out int rp1), Is.EqualTo(UsbStatus.Ok));
            Assert.That(r1, Is.EqualTo(0u));
            Assert.That(rp1, Is.EqualTo(3));
            SlotContext.RouteString(hub2, out uint r2, out int _);
            Assert.That(r2, Is.EqualTo(0x2u));
            SlotContext.RouteString(leaf, out uint r, out int rp);
            Assert.That(r, Is.EqualTo(0x432u), "tier 1 in bits 3..0");
            Assert.That(rp, Is.EqualTo(3));
            var wide = new UsbDevice(null, hub1, 20, UsbSpeed.Full);
            Assert.That(SlotContext.RouteString(wide, out uint rw, out int _), Is.EqualTo(UsbStatus.Ok));
            Assert.That(rw, Is.EqualTo(15u), "ports above 15 of a USB 2.0 hub encode as 15 (Linux usb_alloc_dev)");
        }

        [TestCase(32u)]
        [TestCase(64u)]
        public void EndpointContextForASuperSpeedBulkEndpoint(uint contextBytes)
        {
            using var dma = new ArenaDma();
            DmaBuffer ctx = dma.Allocate(XhciContext.InputContextSize(contextBytes), 64, DmaLimit.Below4G);
            var desc = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x81, bmAttributes = (byte)TransferType.Bulk, wMaxPacketSize = 1024 };
            var ep = new UsbEndpoint(desc) { HasCompanion = true, Companion = new SuperSpeedEndpointCompanionDescriptor { bMaxBurst = 15 } };
            int dci = XhciContext.DciOf(ep);
            Assert.That(dci, Is.EqualTo(3));
            uint offset = XhciContext.InputEndpoint(contextBytes, dci);
            EndpointContext.Write(ctx, offset, UsbSpeed.Super, ep, 1024, 0x12340, true);
            Assert.That(XhciMemory.Read(ctx, offset), Is.EqualTo(0u));
            Assert.That(XhciMemory.Read(ctx, offset + 4), Is.EqualTo((3u << 1) | (6u << 3) | (15u << 8) | (1024u << 16)));
            Assert.That(XhciMemory.Read64(ctx, offset + 8), Is.EqualTo(0x12341UL));
            Assert.That(XhciMemory.Read(ctx, offset + 16), Is.EqualTo(3072u));
            Assert.That(offset, Is.EqualTo(4 * contextBytes));
        }

        [Test]
        public void EndpointContextForAHighSpeedInterruptEndpoint()
        {
            using var dma = new ArenaDma();
            DmaBuffer ctx = dma.Allocate(64, 64, DmaLimit.Below4G);
            var desc = new EndpointDescriptor { bLength = 7, bDescriptorType = DescriptorType.Endpoint, bEndpointAddress = 0x81, bmAttributes = (byte)TransferType.Interrupt, wMaxPacketSize = 8, bInterval = 7 };
            var ep = new UsbEndpoint(desc);
            EndpointContext.Write(ctx, 0, UsbSpeed.High, ep, 8, 0x2000, false);
            Assert.That(XhciMemory.Read(ctx, 0), Is.EqualTo(6u << 16), "interval 2^6 x 125 us");
            Assert.That(XhciMemory.Read(ctx, 4), Is.EqualTo((3u << 1) | (7u << 3) | (8u << 16)));
            Assert.That(XhciMemory.Read64(ctx, 8), Is.EqualTo(0x2000UL), "DCS 0");
            Assert.That(XhciMemory.Read(ctx, 16), Is.EqualTo(8u | (8u << 16)), "average TRB length and Max ESIT Payload");
        }
    }

    [TestFixture]
    public class XhciRingTests
    {
        static uint Control(XhciRing ring, int index) => XhciMemory.Read(ring.Memory, (uint)index * Trb.Size + Trb.Control);

        [Test]
        public void NewRingEndsInALinkTrbWithToggleCycle()
        {
            using var dma = new ArenaDma();
            XhciRing ring = XhciRing.Allocate(dma, 8);
            uint link = Control(ring, 7);
            Assert.That(Trb.TypeOf(link), Is.EqualTo(Trb.TypeLink));
            Assert.That(link & Trb.ToggleCycle, Is.Not.Zero);
            Assert.That(link & Trb.Cycle, Is.Zero, "not yet the controller's");
            Assert.That(XhciMemory.Read64(ring.Memory, 7 * Trb.Size), Is.EqualTo(ring.Base));
        }

        [Test]
        public void FirstTrbOfATdIsHandedOverLast()
        {
            using var dma = new ArenaDma();
            XhciRing ring = XhciRing.Allocate(dma, 8);
            ring.BeginTd();
            ring.Push(0x1000, 8, Trb.NormalControl(true, true, false));
            ring.Push(0x2000, 8, Trb.NormalControl(true, false, true));
            Assert.That(Control(ring, 0) & Trb.Cycle, Is.Zero, "first TRB still software-owned");
            Assert.That(Control(ring, 1) & Trb.Cycle, Is.EqualTo(Trb.Cycle));
            ring.CommitTd();
            Assert.That(Control(ring, 0) & Trb.Cycle, Is.EqualTo(Trb.Cycle));
            Assert.That(ring.Used, Is.EqualTo(2));
        }

        [Test]
        public void WrappingPassesTheLinkAndTogglesTheCycleState()
        {
            using var dma = new ArenaDma();
            XhciRing ring = XhciRing.Allocate(dma, 4); // 3 TRBs + link
            for (int i = 0; i < 2; i++)
            {
                ring.BeginTd();
                ring.Push(0, 0, Trb.NormalControl(false, false, true));
                ring.CommitTd();
            }
            Assert.That(ring.Enqueue, Is.EqualTo(2));
            ring.BeginTd();
            ring.Push(0, 0, Trb.NormalControl(false, true, false)); // index 2, chained over the link
            Assert.That(ring.Enqueue, Is.EqualTo(0));
            Assert.That(ring.Cycle, Is.False, "PCS toggled after the Link TRB");
            uint link = Control(ring, 3);
            Assert.That(link & Trb.Cycle, Is.EqualTo(Trb.Cycle), "link handed over with the old cycle");
            Assert.That(link & Trb.Chain, Is.EqualTo(Trb.Chain), "link chained inside a TD");
            int index = ring.Push(0, 0, Trb.NormalControl(false, false, true));
            Assert.That(index, Is.EqualTo(0));
            Assert.That(Control(ring, 0) & Trb.Cycle, Is.Zero, "second lap uses cycle 0");
            ring.CommitTd();
            Assert.That(Control(ring, 2) & Trb.Cycle, Is.EqualTo(Trb.Cycle), "TD start committed with the cycle of its lap");
            Assert.That(ring.Used, Is.EqualTo(5), "four TRBs plus the link");
            Assert.That(ring.SlotsFor(3), Is.EqualTo(4));
        }

        [Test]
        public void NoOpKeepsCycleAndChain()
        {
            using var dma = new ArenaDma();
            XhciRing ring = XhciRing.Allocate(dma, 8);
            ring.BeginTd();
            ring.Push(0x1000, 64, Trb.NormalControl(true, true, false));
            ring.CommitTd();
            ring.MakeNoOp(0);
            uint c = Control(ring, 0);
            Assert.That(Trb.TypeOf(c), Is.EqualTo(Trb.TypeNoOp));
            Assert.That(c & (Trb.Cycle | Trb.Chain), Is.EqualTo(Trb.Cycle | Trb.Chain));
            Assert.That(c & Trb.InterruptOnCompletion, Is.Zero);
        }

        [Test]
        public void EventRingConsumerFollowsTheCycleBit()
        {
            using var dma = new ArenaDma();
            XhciEventRing events = XhciEventRing.Allocate(dma, 2);
            Assert.That(XhciMemory.Read64(events.Table, 0), Is.EqualTo(events.Segment.Physical));
            Assert.That(XhciMemory.Read(events.Table, 8), Is.EqualTo(2u));
            Assert.That(events.HasEvent, Is.False);
            XhciMemory.Write(events.Segment, Trb.Control, Trb.TypeField(Trb.TypePortStatusChange) | Trb.Cycle);
            Assert.That(events.HasEvent, Is.True);
            events.Advance();
            Assert.That(events.HasEvent, Is.False);
            XhciMemory.Write(events.Segment, Trb.Size + Trb.Control, Trb.Cycle);
            events.Advance();
            Assert.That(events.Dequeue, Is.EqualTo(0));
            Assert.That(events.Cycle, Is.False, "consumer cycle state toggles on wrap");
            Assert.That(events.HasEvent, Is.False, "the old lap's TRB has cycle 1");
        }
    }

    [TestFixture]
    public class XhciCapabilityTests
    {
        const uint Xecp = 0x500;

        /// <summary>Legacy support at 0x500 → Supported Protocol USB 3 at 0x510 → USB 2 at 0x520.</summary>
        static FakeXhciRegisters QemuLike(int usb3Ports, int usb2Ports, bool legacy = true)
        {
            var r = new FakeXhciRegisters();
            r[Xecp] = XhciExtCap.IdLegacySupport | (4u << 8) | XhciExtCap.BiosOwnedSemaphore;
            r[Xecp + 4] = XhciExtCap.SmiEnables;
            uint usb3 = legacy ? Xecp + 0x10 : Xecp;
            r[usb3] = XhciExtCap.IdSupportedProtocol | (4u << 8) | (3u << 24);
            r[usb3 + 4] = 0x20425355; // "USB "
            r[usb3 + 8] = 1u | ((uint)usb3Ports << 8);
            r[usb3 + 0x10] = XhciExtCap.IdSupportedProtocol | (2u << 24);
            r[usb3 + 0x14] = 0x20425355;
            r[usb3 + 0x18] = (uint)(usb3Ports + 1) | ((uint)usb2Ports << 8);
            return r;
        }

        [Test]
        public void PortMapFromSupportedProtocolCapabilities()
        {
            var r = QemuLike(4, 4);
            XhciPortMap map = XhciPortMap.Parse(r, Xecp, 8);
            Assert.That(map.Usb3, Is.EqualTo(new[] { 1, 2, 3, 4 }), "qemu-xhci numbers its USB 3 ports first");
            Assert.That(map.Usb2, Is.EqualTo(new[] { 5, 6, 7, 8 }));
        }

        [Test]
        public void PortMapWithUnevenCountsAndUnnamedPorts()
        {
            var r = QemuLike(2, 3);
            XhciPortMap map = XhciPortMap.Parse(r, Xecp, 6);
            Assert.That(map.Usb3, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(map.Usb2, Is.EqualTo(new[] { 3, 4, 5, 6 }), "port 6 named by no capability counts as USB 2");
            Assert.That(XhciPortMap.Parse(new FakeXhciRegisters(), 0, 2).Usb2, Is.EqualTo(new[] { 1, 2 }));
        }

        [Test]
        public void LegacyHandoffWhenTheBiosLetsGo()
        {
            var r = QemuLike(4, 4);
            var clock = new ManualClock();
            int polls = 0;
            r.OnRead = (offset, v) => offset == Xecp && (v & XhciExtCap.OsOwnedSemaphore) != 0 && ++polls > 2 ? v & ~XhciExtCap.BiosOwnedSemaphore : v;
            Assert.That(XhciLegacy.TakeOwnership(r, Xecp, clock), Is.True);
            Assert.That(r[Xecp] & XhciExtCap.OsOwnedSemaphore, Is.Not.Zero);
            Assert.That(r[Xecp + 4] & XhciExtCap.SmiEnables, Is.Zero, "SMIs disabled");
            Assert.That(r[Xecp + 4] & XhciExtCap.SmiEvents, Is.EqualTo(XhciExtCap.SmiEvents), "SMI events acknowledged (RW1C)");
            Assert.That(clock.Milliseconds, Is.LessThan(1000));
        }

        [Test]
        public void LegacyHandoffIsBoundedWhenTheBiosNeverLetsGo()
        {
            var r = QemuLike(4, 4);
            var clock = new ManualClock();
            bool forced = false;
            r.OnWrite = (offset, value) =>
            {
                if (offset == Xecp && (value & XhciExtCap.BiosOwnedSemaphore) == 0)
                    forced = true;
                // The BIOS semaphore never clears by itself.
                r.Regs[offset] = offset == Xecp && !forced ? value | XhciExtCap.BiosOwnedSemaphore : value;
            };
            Assert.That(XhciLegacy.TakeOwnership(r, Xecp, clock), Is.False);
            Assert.That(clock.Milliseconds, Is.GreaterThanOrEqualTo(XhciLegacy.HandoffTimeoutMs));
            Assert.That(clock.Milliseconds, Is.LessThan(XhciLegacy.HandoffTimeoutMs + 100));
            Assert.That(forced, Is.True, "BIOS semaphore forced off");
            Assert.That(r[Xecp] & XhciExtCap.OsOwnedSemaphore, Is.Not.Zero);
            Assert.That(r[Xecp + 4] & XhciExtCap.SmiEnables, Is.Zero);
        }

        [Test]
        public void FindWalksTheListAndStopsOnLoops()
        {
            var r = QemuLike(4, 4);
            Assert.That(XhciExtCap.Find(r, Xecp, XhciExtCap.IdSupportedProtocol), Is.EqualTo(Xecp + 0x10));
            Assert.That(XhciExtCap.Find(r, Xecp, XhciExtCap.IdSupportedProtocol, Xecp + 0x10), Is.EqualTo(Xecp + 0x20));
            Assert.That(XhciExtCap.Find(r, Xecp, 0xC0), Is.EqualTo(0u));
            var loop = new FakeXhciRegisters();
            loop[0x100] = 0xFF | (0u << 8);
            loop[0x100] = 0xFE | (1u << 8); // points at itself + 4 ...
            loop[0x104] = 0xFE | (0xFFu << 8);
            Assert.That(XhciExtCap.Find(loop, 0x100, XhciExtCap.IdLegacySupport), Is.EqualTo(0u));
        }

        [Test]
        public void PortscNeutralNeverWritesRw1cBitsOrPed()
        {
            uint sc = PortSc.CurrentConnectStatus | PortSc.PortEnabled | PortSc.PortPower | PortSc.ConnectStatusChange |
                      PortSc.PortResetChange | PortSc.PortReset | (3u << PortSc.SpeedShift) | PortSc.WakeOnConnect;
            uint n = PortSc.Neutral(sc);
            Assert.That(n & PortSc.ChangeMask, Is.Zero);
            Assert.That(n & PortSc.PortEnabled, Is.Zero);
            Assert.That(n & PortSc.PortReset, Is.Zero);
            Assert.That(n & PortSc.PortPower, Is.EqualTo(PortSc.PortPower));
            Assert.That(n & PortSc.WakeOnConnect, Is.EqualTo(PortSc.WakeOnConnect));
        }
    }
}
