using System;
using Drivers.Usb;
using Drivers.Usb.Descriptors;
using Drivers.Usb.Storage;
using Usb.Tests.Simulation;

namespace Usb.Tests.Storage
{
    /// <summary>
    /// A simulated Bulk-Only Transport disk like QEMU's usb-storage: CBW on 0x02, data and CSW on
    /// 0x81, SCSI INQUIRY / TEST UNIT READY / REQUEST SENSE / READ CAPACITY(10) / READ(10) / WRITE(10)
    /// over an in-memory image, GET MAX LUN and Bulk-Only Mass Storage Reset, with injectable faults.
    /// Runs on the simulated controller's worker thread under its lock.
    /// </summary>
    /// <summary>One logical unit of a <see cref="SimBotDevice"/>: its image and medium state.</summary>
    public sealed class SimLun
    {
        public byte[] Image;
        public bool WriteProtected;
        public bool MediumPresent = true;
        public bool Removable = true;
        /// <summary>The next command gets UNIT ATTENTION 28h (medium may have changed), as after a card swap.</summary>
        public bool MediumChanged;
        /// <summary>Blocks READ CAPACITY reports; null: the image's.</summary>
        public ulong? ReportedBlocks;

        /// <summary>An image whose every block starts with "LBA n" (or "Ln:LBA n" for LUNs other than 0).</summary>
        public static byte[] Pattern(int blocks, int lun)
        {
            var image = new byte[blocks * SimBotDevice.BlockSize];
            for (int lba = 0; lba < blocks; lba++)
            {
                string text = (lun == 0 ? "" : "L" + lun + ":") + "LBA " + lba;
                for (int i = 0; i < text.Length; i++)
                    image[lba * SimBotDevice.BlockSize + i] = (byte)text[i];
            }
            return image;
        }
    }

    public sealed class SimBotDevice : SimDevice
    {
        enum Phase { Command, DataIn, DataOut, Status }

        /// <summary>The logical units (GET MAX LUN reports Luns.Count - 1 when <see cref="StallGetMaxLun"/> is off).</summary>
        public readonly System.Collections.Generic.List<SimLun> Luns = new System.Collections.Generic.List<SimLun>();
        /// <summary>Answers READ CAPACITY(16) (QEMU does); off by default like many USB sticks.</summary>
        public bool SupportsReadCapacity16;
        /// <summary>SYNCHRONIZE CACHE commands received.</summary>
        public int Synchronizes;
        /// <summary>READ(16)/WRITE(16) commands received.</summary>
        public int Commands16;
        /// <summary>Sends sense data in descriptor format (72h) instead of fixed (70h).</summary>
        public bool DescriptorSense;

        public const int BlockSize = 512;
        public readonly byte[] Image;
        public int MaxLun;
        public bool StallGetMaxLun = true;
        /// <summary>Unit attention (power on) on the first TEST UNIT READY, like a real device.</summary>
        public bool UnitAttentionPending = true;

        // Faults.
        /// <summary>The next IN data stage STALLs (the command then fails with CSW status 1).</summary>
        public bool StallNextDataIn;
        /// <summary>The next CSW has a wrong signature.</summary>
        public bool BadNextCsw;
        /// <summary>The data stage NAKs forever (a device that stopped answering mid-transfer).</summary>
        public bool HoldData;
        /// <summary>READ CAPACITY(10) reports this block length instead of the real 512 (an absurd device).</summary>
        public uint? ReportedBlockSize;
        /// <summary>READ CAPACITY(10) reports this last LBA instead of the image's (a huge disk without the memory).</summary>
        public uint? ReportedLastLba;

        /// <summary>The next bulk transfer (either direction) fails with this status (transaction error, babble...).</summary>
        public UsbStatus? FailNextTransfer;
        /// <summary>The next CBW is answered with a STALL of the bulk OUT endpoint.</summary>
        public bool StallNextCbw;
        /// <summary>The next OUT data stage STALLs.</summary>
        public bool StallNextDataOut;
        /// <summary>The next CSW reports a phase error (status 2).</summary>
        public bool PhaseErrorNext;
        /// <summary>The next CSW carries a wrong tag.</summary>
        public bool BadNextCswTag;
        /// <summary>The next CSW reports a residue larger than the transfer.</summary>
        public bool BadNextCswResidue;
        /// <summary>The status stage NAKs forever (a device that never answers the CSW).</summary>
        public bool HoldCsw;
        /// <summary>The next IN data stage sends only half the data, and the CSW claims success.</summary>
        public bool ShortNextDataIn;
        /// <summary>Called once when the next data stage starts (e.g. to unplug the device mid-transfer), then cleared.</summary>
        public Action OnDataStage;

        /// <summary>Clears every injected fault.</summary>
        public void HealFaults()
        {
            StallNextDataIn = BadNextCsw = HoldData = false;
            FailNextTransfer = null;
            StallNextCbw = StallNextDataOut = PhaseErrorNext = BadNextCswTag = BadNextCswResidue = HoldCsw = ShortNextDataIn = false;
            OnDataStage = null;
        }

        public int BotResets;
        public int Commands;
        /// <summary>READ(10) and WRITE(10) commands received.</summary>
        public int ReadWriteCommands;
        public int DataStagesWaiting;

        Phase _phase = Phase.Command;
        byte[] _dataIn;
        int _dataOffset;
        int _dataExpected;
        uint _tag;
        uint _residue;
        byte _status;
        byte _senseKey, _asc;
        ulong _writeLba;
        byte _ascq;
        byte[] _writeImage;

        public SimBotDevice(int blocks = 32768, ushort maxPacket = 512, UsbSpeed speed = UsbSpeed.High)
            : base("QEMU USB HARDDRIVE", speed, Desc.Device(0x46f4, 0x0001), Desc.StorageConfig(maxPacket))
        {
            Image = SimLun.Pattern(blocks, 0);
            Luns.Add(new SimLun { Image = Image, Removable = true });
        }

        /// <summary>Adds a logical unit and makes GET MAX LUN report it.</summary>
        public SimLun AddLun(int blocks)
        {
            var lun = new SimLun { Image = SimLun.Pattern(blocks, Luns.Count) };
            Luns.Add(lun);
            MaxLun = Luns.Count - 1;
            StallGetMaxLun = false;
            return lun;
        }

        protected override SimResult Class(SetupPacket setup, byte[] data)
        {
            if (setup.bmRequestType == MassStorage.ClassInterfaceIn && setup.bRequest == MassStorage.RequestGetMaxLun)
            {
                if (StallGetMaxLun || data.Length < 1) return SimResult.Stall;
                data[0] = (byte)MaxLun;
                return SimResult.Ok(1);
            }
            if (setup.bmRequestType == MassStorage.ClassInterfaceOut && setup.bRequest == MassStorage.RequestReset)
            {
                BotResets++;
                _phase = Phase.Command;
                return SimResult.Ok(0);
            }
            return SimResult.Stall;
        }

        public override void Reset()
        {
            base.Reset();
            _phase = Phase.Command;
        }

        public override SimResult HandleData(byte address, bool isIn, byte[] buffer, int length)
        {
            if (Configuration == 0 || !Endpoints.TryGetValue(address, out SimEndpoint e))
                return SimResult.Fail(UsbStatus.TransactionError);
            if (e.Halted)
                return SimResult.Stall;
            if (FailNextTransfer.HasValue)
            {
                UsbStatus fault = FailNextTransfer.Value;
                FailNextTransfer = null;
                return SimResult.Fail(fault);
            }
            if ((_phase == Phase.DataIn || _phase == Phase.DataOut) && OnDataStage != null)
            {
                Action hook = OnDataStage;
                OnDataStage = null;
                hook();
            }
            if (!isIn)
            {
                if (_phase == Phase.Command)
                {
                    if (StallNextCbw)
                    {
                        StallNextCbw = false;
                        e.Halted = true;
                        return SimResult.Stall;
                    }
                    return Cbw(buffer, length);
                }
                if (_phase == Phase.DataOut)
                {
                    if (HoldData) { DataStagesWaiting++; return SimResult.Nak; }
                    if (StallNextDataOut)
                    {
                        StallNextDataOut = false;
                        e.Halted = true;
                        _residue = (uint)(_dataExpected - _dataOffset);
                        _phase = Phase.Status;
                        return SimResult.Stall;
                    }
                    int n = Math.Min(length, _dataExpected - _dataOffset);
                    Array.Copy(buffer, 0, _writeImage, (long)_writeLba * BlockSize + _dataOffset, n);
                    _dataOffset += n;
                    if (_dataOffset >= _dataExpected) _phase = Phase.Status;
                    return SimResult.Ok(n);
                }
                e.Halted = true;        // OUT in the wrong phase
                return SimResult.Stall;
            }
            if (_phase == Phase.DataIn)
            {
                if (HoldData) { DataStagesWaiting++; return SimResult.Nak; }
                if (StallNextDataIn || _dataIn == null)
                {
                    StallNextDataIn = false;
                    e.Halted = true;
                    if (_dataIn != null)
                    {
                        _status = 1;
                        _residue = (uint)_dataIn.Length;
                        _senseKey = 0x06; _asc = 0x29;  // unit attention: the host retries
                    }
                    _phase = Phase.Status;
                    return SimResult.Stall;
                }
                int n = Math.Min(length, _dataIn.Length - _dataOffset);
                if (ShortNextDataIn)
                {
                    ShortNextDataIn = false;
                    n /= 2;
                }
                Array.Copy(_dataIn, _dataOffset, buffer, 0, n);
                _dataOffset += n;
                _phase = Phase.Status;
                return SimResult.Ok(n);
            }
            if (_phase == Phase.Status)
            {
                if (HoldCsw)
                    return SimResult.Nak;
                byte[] csw = new byte[CommandStatusWrapper.Size];
                Bytes.Le32(csw, 0, BadNextCsw ? 0xDEADBEEF : CommandStatusWrapper.Signature);
                BadNextCsw = false;
                Bytes.Le32(csw, 4, BadNextCswTag ? _tag + 1 : _tag);
                Bytes.Le32(csw, 8, BadNextCswResidue ? 0xFFFFFFF0u : _residue);
                csw[12] = PhaseErrorNext ? CommandStatusWrapper.StatusPhaseError : _status;
                BadNextCswTag = BadNextCswResidue = PhaseErrorNext = false;
                Array.Copy(csw, buffer, Math.Min(length, csw.Length));
                _phase = Phase.Command;
                return SimResult.Ok(Math.Min(length, csw.Length));
            }
            return SimResult.Nak;
        }

        SimResult Cbw(byte[] b, int length)
        {
            if (length != CommandBlockWrapper.Size || Bytes.ReadLe32(b, 0) != CommandBlockWrapper.Signature)
            {
                Endpoint(0x81).Halted = true;
                Endpoint(0x02).Halted = true;
                return SimResult.Stall;
            }
            Commands++;
            _tag = Bytes.ReadLe32(b, 4);
            uint transferLength = Bytes.ReadLe32(b, 8);
            bool dataIn = (b[12] & 0x80) != 0;
            byte[] cdb = new byte[b[14]];
            Array.Copy(b, 15, cdb, 0, cdb.Length);
            _status = 0;
            _residue = 0;
            _dataOffset = 0;
            byte[] response = null;
            int lunNumber = b[13] & 0x0F;
            SimLun lun = lunNumber < Luns.Count ? Luns[lunNumber] : null;
            byte[] image = lun?.Image;
            int blocks = image == null ? 0 : image.Length / BlockSize;
            bool ready = lun != null && lun.MediumPresent;
            if (lun != null && lun.MediumChanged && cdb[0] != Scsi.Inquiry && cdb[0] != Scsi.RequestSense)
            {
                lun.MediumChanged = false;
                Check(0x06, 0x28);
                return Finish(dataIn, transferLength, length, null);
            }
            bool needsMedium = cdb[0] == Scsi.TestUnitReady || cdb[0] == Scsi.ReadCapacity10 || cdb[0] == Scsi.ServiceActionIn16 ||
                               cdb[0] == Scsi.Read10 || cdb[0] == Scsi.Write10 || cdb[0] == Scsi.Read16 || cdb[0] == Scsi.Write16 ||
                               cdb[0] == Scsi.SynchronizeCache10;
            if (lun == null && cdb[0] != Scsi.Inquiry && cdb[0] != Scsi.RequestSense)
            {
                Check(0x05, 0x25);
                return Finish(dataIn, transferLength, length, null);
            }
            if (needsMedium && !ready && !(cdb[0] == Scsi.TestUnitReady && UnitAttentionPending))
            {
                Check(0x02, 0x3A);
                return Finish(dataIn, transferLength, length, null);
            }
            switch (cdb[0])
            {
                case Scsi.TestUnitReady:
                    if (UnitAttentionPending) { UnitAttentionPending = false; Check(0x06, 0x29); }
                    break;
                case Scsi.RequestSense:
                    if (DescriptorSense)
                    {
                        response = new byte[8];
                        response[0] = 0x72; response[1] = _senseKey; response[2] = _asc; response[3] = _ascq;
                    }
                    else
                    {
                        response = new byte[18];
                        response[0] = 0x70; response[2] = _senseKey; response[7] = 10; response[12] = _asc; response[13] = _ascq;
                    }
                    _senseKey = 0; _asc = 0; _ascq = 0;
                    break;
                case Scsi.Inquiry:
                    response = new byte[36];
                    if (lun == null) response[0] = 0x7F;   // qualifier 3, type 1Fh: no logical unit
                    response[1] = (byte)(lun != null && lun.Removable ? 0x80 : 0); response[2] = 5; response[3] = 2; response[4] = 31;
                    Ascii(response, 8, "QEMU    QEMU HARDDISK   2.5+");
                    break;
                case Scsi.ModeSense6:
                    response = new byte[4];
                    response[0] = 3; response[2] = (byte)(lun.WriteProtected ? 0x80 : 0);
                    break;
                case Scsi.ReadCapacity10:
                {
                    ulong reported = lun.ReportedBlocks ?? (ulong)blocks;
                    response = new byte[8];
                    Bytes.Be32(response, 0, ReportedLastLba ?? (reported > 0xFFFFFFFFUL ? 0xFFFFFFFFu : (uint)(reported - 1)));
                    Bytes.Be32(response, 4, ReportedBlockSize ?? BlockSize);
                    break;
                }
                case Scsi.ServiceActionIn16:
                    if (!SupportsReadCapacity16 || cdb[1] != Scsi.ServiceActionReadCapacity16) { Check(0x05, 0x20); break; }
                    response = new byte[32];
                    Bytes.Be64(response, 0, (lun.ReportedBlocks ?? (ulong)blocks) - 1);
                    Bytes.Be32(response, 8, ReportedBlockSize ?? BlockSize);
                    break;
                case Scsi.SynchronizeCache10:
                    Synchronizes++;
                    break;
                case Scsi.Read10:
                case Scsi.Read16:
                {
                    ReadWriteCommands++;
                    bool is16 = cdb[0] == Scsi.Read16;
                    if (is16) Commands16++;
                    ulong lba = is16 ? Bytes.ReadBe64(cdb, 2) : Bytes.ReadBe32(cdb, 2);
                    long count = is16 ? Bytes.ReadBe32(cdb, 10) : Bytes.ReadBe16(cdb, 7);
                    if (lba + (ulong)count > (ulong)blocks) { Check(0x05, 0x21); break; }
                    response = new byte[count * BlockSize];
                    Array.Copy(image, (long)lba * BlockSize, response, 0, response.Length);
                    break;
                }
                case Scsi.Write10:
                case Scsi.Write16:
                {
                    ReadWriteCommands++;
                    bool is16 = cdb[0] == Scsi.Write16;
                    if (is16) Commands16++;
                    ulong lba = is16 ? Bytes.ReadBe64(cdb, 2) : Bytes.ReadBe32(cdb, 2);
                    long count = is16 ? Bytes.ReadBe32(cdb, 10) : Bytes.ReadBe16(cdb, 7);
                    if (lun.WriteProtected) { Check(0x07, 0x27); _residue = transferLength; _phase = Phase.Status; return SimResult.Ok(length); }
                    if (lba + (ulong)count > (ulong)blocks) { Check(0x05, 0x21); break; }
                    _writeLba = lba;
                    _writeImage = image;
                    _dataExpected = (int)count * BlockSize;
                    _phase = _dataExpected > 0 && !dataIn ? Phase.DataOut : Phase.Status;
                    return SimResult.Ok(length);
                }
                default:
                    Check(0x05, 0x20);
                    break;
            }
            return Finish(dataIn, transferLength, length, response);
        }

        SimResult Finish(bool dataIn, uint transferLength, int length, byte[] response)
        {
            if (response != null && dataIn && transferLength > 0)
            {
                _dataIn = new byte[Math.Min(response.Length, (int)transferLength)];
                Array.Copy(response, _dataIn, _dataIn.Length);
                _residue = transferLength - (uint)_dataIn.Length;
                _phase = Phase.DataIn;
            }
            else if (dataIn && transferLength > 0)
            {
                _dataIn = null;                     // nothing to send: STALL the data stage (BOT 6.7.2 case 5)
                _residue = transferLength;
                _phase = Phase.DataIn;
            }
            else
            {
                _residue = transferLength;
                _phase = Phase.Status;
            }
            return SimResult.Ok(length);
        }

        void Check(byte key, byte asc, byte ascq = 0)
        {
            _status = 1;
            _senseKey = key;
            _asc = asc;
            _ascq = ascq;
        }

        static void Ascii(byte[] b, int offset, string s)
        {
            for (int i = 0; i < s.Length; i++) b[offset + i] = (byte)s[i];
        }
    }
}
