using System;
using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Hcd.Ohci;
using NUnit.Framework;

namespace Hcd.Tests.Ohci
{
    /// <summary>Register and descriptor layouts against OpenHCI 1.0a (chapter 4 and 7 bit tables).</summary>
    public class OhciEncodingTests
    {
        [Test]
        public void RegisterOffsets_MatchChapter7()
        {
            Assert.That(OhciReg.HcRevision, Is.EqualTo(0x00));
            Assert.That(OhciReg.HcControl, Is.EqualTo(0x04));
            Assert.That(OhciReg.HcCommandStatus, Is.EqualTo(0x08));
            Assert.That(OhciReg.HcInterruptStatus, Is.EqualTo(0x0C));
            Assert.That(OhciReg.HcInterruptEnable, Is.EqualTo(0x10));
            Assert.That(OhciReg.HcInterruptDisable, Is.EqualTo(0x14));
            Assert.That(OhciReg.HcHCCA, Is.EqualTo(0x18));
            Assert.That(OhciReg.HcControlHeadED, Is.EqualTo(0x20));
            Assert.That(OhciReg.HcBulkHeadED, Is.EqualTo(0x28));
            Assert.That(OhciReg.HcDoneHead, Is.EqualTo(0x30));
            Assert.That(OhciReg.HcFmInterval, Is.EqualTo(0x34));
            Assert.That(OhciReg.HcFmNumber, Is.EqualTo(0x3C));
            Assert.That(OhciReg.HcPeriodicStart, Is.EqualTo(0x40));
            Assert.That(OhciReg.HcRhDescriptorA, Is.EqualTo(0x48));
            Assert.That(OhciReg.HcRhDescriptorB, Is.EqualTo(0x4C));
            Assert.That(OhciReg.HcRhStatus, Is.EqualTo(0x50));
            Assert.That(OhciReg.HcRhPortStatus(1), Is.EqualTo(0x54));
            Assert.That(OhciReg.HcRhPortStatus(3), Is.EqualTo(0x5C));
        }

        [Test]
        public void ControlBits_MatchTable7_2()
        {
            Assert.That(HcControl.UsbOperational, Is.EqualTo(0x80));
            Assert.That(HcControl.InterruptRouting, Is.EqualTo(0x100));
            Assert.That(HcControl.PeriodicListEnable | HcControl.ControlListEnable | HcControl.BulkListEnable, Is.EqualTo(0x34));
            Assert.That(HcCommandStatus.OwnershipChangeRequest, Is.EqualTo(0x08));
            Assert.That(HcInterrupt.MasterInterruptEnable, Is.EqualTo(0x80000000));
            Assert.That(HcInterrupt.RootHubStatusChange, Is.EqualTo(0x40));
        }

        [Test]
        public void PortStatusBits_LineUpWithUsbHubPortStatus()
        {
            // OHCI 7.4.4 deliberately mirrors USB 2.0 table 11-21/11-22.
            Assert.That(HcRhPortStatus.CurrentConnectStatus, Is.EqualTo((uint)Drivers.Usb.Hub.HubClass.StatusConnection));
            Assert.That(HcRhPortStatus.PortEnableStatus, Is.EqualTo((uint)Drivers.Usb.Hub.HubClass.StatusEnable));
            Assert.That(HcRhPortStatus.PortResetStatus, Is.EqualTo((uint)Drivers.Usb.Hub.HubClass.StatusReset));
            Assert.That(HcRhPortStatus.PortPowerStatus, Is.EqualTo((uint)Drivers.Usb.Hub.HubClass.StatusPower));
            Assert.That(HcRhPortStatus.LowSpeedDeviceAttached, Is.EqualTo((uint)Drivers.Usb.Hub.HubClass.StatusLowSpeed));
            Assert.That(HcRhPortStatus.ConnectStatusChange >> 16, Is.EqualTo((uint)Drivers.Usb.Hub.HubClass.ChangeConnection));
            Assert.That(HcRhPortStatus.PortResetStatusChange >> 16, Is.EqualTo((uint)Drivers.Usb.Hub.HubClass.ChangeReset));
        }

        [Test]
        public void FmInterval_RestoredWithToggleAndLargestPacket()
        {
            Assert.That(HcFmInterval.LargestDataPacket(11999), Is.EqualTo(0x2778)); // Linux FSMP(0x2edf)
            uint v = HcFmInterval.Compose(11999, 0);
            Assert.That(v & HcFmInterval.FrameIntervalMask, Is.EqualTo(11999));
            Assert.That((v >> 16) & 0x7FFF, Is.EqualTo(0x2778));
            Assert.That(v & HcFmInterval.FrameIntervalToggle, Is.Not.Zero, "FIT toggles");
            Assert.That(HcFmInterval.Compose(11999, v) & HcFmInterval.FrameIntervalToggle, Is.Zero);
            Assert.That(HcFmInterval.PeriodicStart(11999), Is.EqualTo(10799)); // 0x2a2f, Linux
        }

        [Test]
        public void EndpointDescriptor_Dword0MatchesFigure4_1()
        {
            uint d = OhciEd.Encode(functionAddress: 5, endpointNumber: 2, OhciEd.DirectionIn, lowSpeed: true, skip: true, maxPacket: 64);
            Assert.That(d & 0x7F, Is.EqualTo(5), "FA bits 6..0");
            Assert.That((d >> 7) & 0xF, Is.EqualTo(2), "EN bits 10..7");
            Assert.That((d >> 11) & 0x3, Is.EqualTo(2), "D bits 12..11 = IN");
            Assert.That((d >> 13) & 1, Is.EqualTo(1), "S");
            Assert.That((d >> 14) & 1, Is.EqualTo(1), "K");
            Assert.That((d >> 15) & 1, Is.EqualTo(0), "F (general TDs)");
            Assert.That((d >> 16) & 0x7FF, Is.EqualTo(64), "MPS bits 26..16");
            Assert.That(OhciEd.Encode(127, 15, OhciEd.DirectionOut, false, false, 1023),
                        Is.EqualTo(127u | (15u << 7) | (1u << 11) | (1023u << 16)));
            Assert.That(OhciEd.FunctionAddress(d), Is.EqualTo(5));
            Assert.That(OhciEd.MaxPacket(d), Is.EqualTo(64));
            Assert.That(OhciEd.Halted, Is.EqualTo(1));
            Assert.That(OhciEd.ToggleCarry, Is.EqualTo(2));
            Assert.That(OhciEd.Size, Is.EqualTo(16));
            Assert.That(new[] { OhciEd.Control, OhciEd.TailP, OhciEd.HeadP, OhciEd.NextED }, Is.EqualTo(new uint[] { 0, 4, 8, 12 }));
        }

        [Test]
        public void TransferDescriptor_Dword0MatchesFigure4_2()
        {
            uint t = OhciTd.Encode(OhciTd.PidIn, OhciTd.ToggleData1, rounding: true, delayInterrupt: 0);
            Assert.That((t >> 18) & 1, Is.EqualTo(1), "R");
            Assert.That((t >> 19) & 3, Is.EqualTo(2), "DP = IN");
            Assert.That((t >> 21) & 7, Is.EqualTo(0), "DI");
            Assert.That((t >> 24) & 3, Is.EqualTo(3), "T = DATA1 from TD");
            Assert.That((t >> 26) & 3, Is.EqualTo(0), "EC");
            Assert.That(t >> 28, Is.EqualTo(0xF), "CC = NotAccessed");
            uint s = OhciTd.Encode(OhciTd.PidSetup, OhciTd.ToggleData0, false, OhciTd.NoInterrupt);
            Assert.That((s >> 19) & 3, Is.EqualTo(0), "DP = SETUP");
            Assert.That((s >> 21) & 7, Is.EqualTo(7), "DI = no interrupt");
            Assert.That((s >> 24) & 3, Is.EqualTo(2), "T = DATA0 from TD");
            uint o = OhciTd.Encode(OhciTd.PidOut, OhciTd.ToggleFromEd, false, 0);
            Assert.That((o >> 19) & 3, Is.EqualTo(1), "DP = OUT");
            Assert.That((o >> 24) & 3, Is.EqualTo(0), "T from ED toggleCarry");
            Assert.That(OhciTd.ConditionCode(0x4u << 28), Is.EqualTo(OhciConditionCode.Stall));
            Assert.That(OhciTd.ErrorCount(0x3u << 26), Is.EqualTo(3));
        }

        [Test]
        public void Hcca_LayoutMatchesTable4_9()
        {
            Assert.That(OhciHcca.Size, Is.EqualTo(256));
            Assert.That(OhciHcca.Alignment, Is.EqualTo(256));
            Assert.That(OhciHcca.InterruptTable, Is.EqualTo(0));
            Assert.That(OhciHcca.InterruptTableEntries, Is.EqualTo(32));
            Assert.That(OhciHcca.FrameNumber, Is.EqualTo(0x80));
            Assert.That(OhciHcca.DoneHead, Is.EqualTo(0x84));
        }

        [TestCase(OhciConditionCode.NoError, UsbStatus.Ok)]
        [TestCase(OhciConditionCode.Crc, UsbStatus.DataError)]
        [TestCase(OhciConditionCode.BitStuffing, UsbStatus.TransactionError)]
        [TestCase(OhciConditionCode.DataToggleMismatch, UsbStatus.DataError)]
        [TestCase(OhciConditionCode.Stall, UsbStatus.Stall)]
        [TestCase(OhciConditionCode.DeviceNotResponding, UsbStatus.TransactionError)]
        [TestCase(OhciConditionCode.PidCheckFailure, UsbStatus.TransactionError)]
        [TestCase(OhciConditionCode.UnexpectedPid, UsbStatus.TransactionError)]
        [TestCase(OhciConditionCode.DataOverrun, UsbStatus.Babble)]
        [TestCase(OhciConditionCode.DataUnderrun, UsbStatus.ShortPacket)]
        [TestCase(OhciConditionCode.BufferOverrun, UsbStatus.Overrun)]
        [TestCase(OhciConditionCode.BufferUnderrun, UsbStatus.Underrun)]
        [TestCase(OhciConditionCode.NotAccessed, UsbStatus.TransactionError)]
        public void ConditionCodes_MapToCoreStatus(int cc, UsbStatus expected)
        {
            Assert.That(OhciConditionCode.ToStatus(cc), Is.EqualTo(expected));
            Assert.That(OhciConditionCode.Name(cc), Is.Not.Empty);
        }

        [TestCase(0, 0)] [TestCase(1, 0)] [TestCase(2, 1)] [TestCase(3, 1)] [TestCase(4, 2)] [TestCase(7, 2)]
        [TestCase(8, 3)] [TestCase(10, 3)] [TestCase(16, 4)] [TestCase(31, 4)] [TestCase(32, 5)] [TestCase(255, 5)]
        public void InterruptTree_IntervalToLevel(int interval, int level)
        {
            Assert.That(OhciInterruptTree.LevelFor(interval), Is.EqualTo(level));
            Assert.That(OhciInterruptTree.IntervalOfLevel(level), Is.LessThanOrEqualTo(Math.Max(interval, 1)));
        }

        [Test]
        public void InterruptTree_EveryTableEntryWalksOneStaticEdPerLevel()
        {
            Assert.That(OhciInterruptTree.StaticEdCount, Is.EqualTo(63));
            var seen = new HashSet<int>();
            for (int entry = 0; entry < 32; entry++)
            {
                int index = OhciInterruptTree.TableEntryIndex(entry);
                for (int level = 5; level >= 0; level--)
                {
                    int slot = entry % (1 << level);
                    Assert.That(index, Is.EqualTo(OhciInterruptTree.Index(level, slot)), $"entry {entry} level {level}");
                    Assert.That(OhciInterruptTree.Visits(entry, level, slot), Is.True);
                    seen.Add(index);
                    index = OhciInterruptTree.NextIndex(level, slot);
                }
                Assert.That(index, Is.EqualTo(-1), "level 0 ends the list");
            }
            Assert.That(seen.Count, Is.EqualTo(63), "every static ED is reachable");
        }

        [Test]
        public void InterruptTree_SlotOfLevelKIsVisitedEvery2PowKFrames()
        {
            for (int level = 0; level < 6; level++)
                for (int slot = 0; slot < (1 << level); slot++)
                {
                    var frames = new List<int>();
                    for (int f = 0; f < 64; f++)
                        if (OhciInterruptTree.Visits(f, level, slot)) frames.Add(f);
                    Assert.That(frames.Count, Is.EqualTo(64 >> level));
                    for (int i = 1; i < frames.Count; i++)
                        Assert.That(frames[i] - frames[i - 1], Is.EqualTo(1 << level));
                }
        }

        [Test]
        public void InterruptTree_ReserveBalancesTheLoad()
        {
            var tree = new OhciInterruptTree();
            var slots = new HashSet<int>();
            for (int i = 0; i < 8; i++)
                slots.Add(tree.Reserve(3, 8));
            Assert.That(slots.Count, Is.EqualTo(8), "eight 8 ms endpoints take the eight different slots");
            for (int f = 0; f < 32; f++)
                Assert.That(tree.Load(f), Is.EqualTo(8));
            int s = tree.Reserve(0, 64);
            Assert.That(s, Is.EqualTo(0));
            tree.Release(0, 0, 64);
            Assert.That(tree.Load(5), Is.EqualTo(8));
        }

        [TestCase(0x1000u, 4096)] [TestCase(0x1FC0u, 4096)] [TestCase(0x1FFFu, 10000)] [TestCase(0x1040u, 65536)] [TestCase(0x2000u, 1)]
        public void PageCrossing_ChunksNeverSpanMoreThanTwoPages(uint start, int length)
        {
            foreach (int maxPacket in new[] { 8, 16, 64, 3, 1023 })
            {
                int chunk = OhciTd.ChunkSize(maxPacket);
                Assert.That(chunk % maxPacket, Is.Zero, "whole packets per TD");
                Assert.That(chunk, Is.LessThanOrEqualTo(4096));
                int tds = 0;
                for (int offset = 0; offset < length; offset += chunk)
                {
                    int n = Math.Min(chunk, length - offset);
                    Assert.That(OhciTd.SpansAtMostTwoPages(start + (uint)offset, n), Is.True, $"TD at +{offset} len {n}");
                    tds++;
                }
                Assert.That(OhciController.DataTdCount(length, maxPacket), Is.EqualTo(tds));
            }
            Assert.That(OhciTd.SpansAtMostTwoPages(0x1FFF, 4098), Is.False, "three pages");
        }

        [Test]
        public void TransferredBytes_FromCurrentBufferPointer()
        {
            Assert.That(OhciTd.Transferred(0, 0x1000, 64), Is.EqualTo(64), "CBP 0: all of it");
            Assert.That(OhciTd.Transferred(0x1008, 0x1000, 64), Is.EqualTo(8), "short packet");
            Assert.That(OhciTd.Transferred(0, 0, 0), Is.EqualTo(0), "zero-length TD");
        }
    }
}
