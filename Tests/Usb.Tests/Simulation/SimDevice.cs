using System;
using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Descriptors;

namespace Usb.Tests.Simulation
{
    public enum SimOutcome { Complete, Nak }

    /// <summary>What a simulated device does with one transfer.</summary>
    public struct SimResult
    {
        public SimOutcome Outcome;
        public UsbStatus Status;
        public int Actual;

        public static SimResult Ok(int actual) => new SimResult { Outcome = SimOutcome.Complete, Status = UsbStatus.Ok, Actual = actual };
        public static SimResult Fail(UsbStatus status, int actual = 0) => new SimResult { Outcome = SimOutcome.Complete, Status = status, Actual = actual };
        public static SimResult Nak => new SimResult { Outcome = SimOutcome.Nak };
        public static readonly SimResult Stall = Fail(UsbStatus.Stall);
    }

    /// <summary>Behaviour of one simulated non-control endpoint.</summary>
    public sealed class SimEndpoint
    {
        public readonly Queue<byte[]> InData = new Queue<byte[]>();
        public readonly List<byte[]> OutData = new List<byte[]>();
        public bool Halted;
        /// <summary>Fault for the next transfer(s): Stall, TransactionError, Babble...; null = normal.</summary>
        public UsbStatus? Fault;
        public bool FaultSticky;
    }

    /// <summary>
    /// A programmable simulated USB device: descriptors, strings, and hooks that turn any control
    /// request into an answer, a STALL, a NAK forever, an error, short or over-long data.
    /// </summary>
    public class SimDevice
    {
        public string Label;
        public UsbSpeed MaxSpeed;
        public byte[] DeviceDescriptor;
        public List<byte[]> Configurations = new List<byte[]>();
        public Dictionary<int, string> Strings = new Dictionary<int, string>();
        public byte[] Bos;
        public Dictionary<byte, SimEndpoint> Endpoints = new Dictionary<byte, SimEndpoint>();

        /// <summary>Intercepts control requests: return null to get the standard behaviour.</summary>
        public Func<SetupPacket, byte[], SimResult?> OnControl;
        /// <summary>GET_DESCRIPTOR(DEVICE) requests at address 0 that fail with a transaction error.</summary>
        public int FailFirstDescriptorReads;
        /// <summary>SET_ADDRESS requests that are not answered.</summary>
        public int FailSetAddress;

        // Device state (USB 2.0 9.1).
        public byte Address;
        public int Configuration;
        public Dictionary<int, int> AltSettings = new Dictionary<int, int>();
        public int Resets;
        public int PowerCycles;
        public int SetAddressCount;
        public readonly List<SetupPacket> ControlLog = new List<SetupPacket>();
        public UsbSpeed Speed;
        /// <summary>The Stream ID of the bulk request <see cref="HandleData"/> is serving (0: no streams).</summary>
        public uint StreamId;

        public SimDevice(string label, UsbSpeed speed, byte[] device, params byte[][] configs)
        {
            Label = label;
            MaxSpeed = speed;
            Speed = speed;
            DeviceDescriptor = device;
            Configurations.AddRange(configs);
            Strings[1] = "QEMU";
            Strings[2] = label;
            Strings[3] = "42";
            foreach (byte[] c in configs)
                AddEndpointsFrom(c);
        }

        void AddEndpointsFrom(byte[] config)
        {
            int o = 0;
            while (o + 2 <= config.Length && config[o] >= 2)
            {
                if (config[o + 1] == DescriptorType.Endpoint && o + 3 <= config.Length && !Endpoints.ContainsKey(config[o + 2]))
                    Endpoints[config[o + 2]] = new SimEndpoint();
                o += config[o];
            }
        }

        public SimEndpoint Endpoint(byte address)
        {
            if (!Endpoints.TryGetValue(address, out SimEndpoint e))
                Endpoints[address] = e = new SimEndpoint();
            return e;
        }

        /// <summary>Bus reset: back to the default state at address 0.</summary>
        public virtual void Reset()
        {
            Address = 0;
            Configuration = 0;
            AltSettings.Clear();
            Resets++;
            foreach (SimEndpoint e in Endpoints.Values)
                e.Halted = false;
        }

        public virtual void PowerOff()
        {
            PowerCycles++;
            Reset();
        }

        /// <summary>
        /// Rewrites the outcome of a control request after the normal handling (a short or failed
        /// reply, a fault injected after the device acted); null = unchanged.
        /// </summary>
        public Func<SetupPacket, SimResult, SimResult> AfterControl;

        /// <summary>Control transfer: data is the data stage (IN: to fill; OUT: what the host sent).</summary>
        public SimResult HandleControl(SetupPacket setup, byte[] data)
        {
            SimResult result = HandleControlNormally(setup, data);
            return AfterControl != null ? AfterControl(setup, result) : result;
        }

        SimResult HandleControlNormally(SetupPacket setup, byte[] data)
        {
            ControlLog.Add(setup);
            if (OnControl != null)
            {
                SimResult? hooked = OnControl(setup, data);
                if (hooked.HasValue)
                    return hooked.Value;
            }
            if (setup.bRequest == UsbRequestCode.GetDescriptor && (setup.wValue >> 8) == DescriptorType.Device &&
                setup.bmRequestType == 0x80 && Address == 0 && FailFirstDescriptorReads > 0)
            {
                FailFirstDescriptorReads--;
                return SimResult.Fail(UsbStatus.TransactionError);
            }
            if ((setup.bmRequestType & RequestType.TypeMask) == RequestType.TypeStandard)
                return Standard(setup, data);
            return Class(setup, data);
        }

        protected virtual SimResult Class(SetupPacket setup, byte[] data) => SimResult.Stall;

        protected static SimResult Reply(byte[] source, byte[] data)
        {
            int n = Math.Min(source.Length, data.Length);
            Array.Copy(source, data, n);
            return SimResult.Ok(n);
        }

        SimResult Standard(SetupPacket setup, byte[] data)
        {
            int recipient = setup.bmRequestType & RequestType.RecipientMask;
            switch (setup.bRequest)
            {
                case UsbRequestCode.GetDescriptor:
                {
                    int type = setup.wValue >> 8, index = setup.wValue & 0xFF;
                    switch (type)
                    {
                        case DescriptorType.Device: return Reply(DeviceDescriptor, data);
                        case DescriptorType.Configuration:
                            return index < Configurations.Count ? Reply(Configurations[index], data) : SimResult.Stall;
                        case DescriptorType.String:
                            if (index == 0) return Reply(StringDescriptor.EncodeLanguages(LanguageId.EnglishUs), data);
                            return Strings.TryGetValue(index, out string s) ? Reply(StringDescriptor.Encode(s), data) : SimResult.Stall;
                        case DescriptorType.Bos:
                            return Bos != null ? Reply(Bos, data) : SimResult.Stall;
                        default: return SimResult.Stall;
                    }
                }
                case UsbRequestCode.SetAddress:
                    SetAddressCount++;
                    if (FailSetAddress > 0)
                    {
                        FailSetAddress--;
                        return SimResult.Fail(UsbStatus.TransactionError);
                    }
                    Address = (byte)setup.wValue;
                    return SimResult.Ok(0);
                case UsbRequestCode.SetConfiguration:
                    if (setup.wValue != 0 && FindConfig(setup.wValue) == null)
                        return SimResult.Stall;
                    Configuration = setup.wValue;
                    AltSettings.Clear();
                    return SimResult.Ok(0);
                case UsbRequestCode.GetConfiguration:
                    if (data.Length < 1) return SimResult.Stall;
                    data[0] = (byte)Configuration;
                    return SimResult.Ok(1);
                case UsbRequestCode.SetInterface:
                    if (Configuration == 0) return SimResult.Stall;
                    AltSettings[setup.wIndex] = setup.wValue;
                    return SimResult.Ok(0);
                case UsbRequestCode.GetStatus:
                    if (data.Length < 2) return SimResult.Stall;
                    data[0] = 0; data[1] = 0;
                    if (recipient == RequestType.RecipientEndpoint && Endpoints.TryGetValue((byte)setup.wIndex, out SimEndpoint ge) && ge.Halted)
                        data[0] = 1;
                    return SimResult.Ok(2);
                case UsbRequestCode.ClearFeature:
                    if (recipient == RequestType.RecipientEndpoint && setup.wValue == FeatureSelector.EndpointHalt)
                    {
                        if (Endpoints.TryGetValue((byte)setup.wIndex, out SimEndpoint ce))
                            ce.Halted = false;
                    }
                    return SimResult.Ok(0);
                case UsbRequestCode.SetFeature:
                    return SimResult.Ok(0);
                default:
                    return SimResult.Stall;
            }
        }

        byte[] FindConfig(int value)
        {
            foreach (byte[] c in Configurations)
                if (c.Length > 5 && c[5] == value)
                    return c;
            return null;
        }

        /// <summary>Bulk/interrupt transfer on a non-zero endpoint.</summary>
        public virtual SimResult HandleData(byte address, bool isIn, byte[] buffer, int length)
        {
            if (Configuration == 0 || !Endpoints.TryGetValue(address, out SimEndpoint e))
                return SimResult.Fail(UsbStatus.TransactionError);
            if (e.Halted)
                return SimResult.Stall;
            if (e.Fault.HasValue)
            {
                UsbStatus fault = e.Fault.Value;
                if (!e.FaultSticky)
                    e.Fault = null;
                if (fault == UsbStatus.Stall)
                    e.Halted = true;
                if (fault == UsbStatus.InProgress)
                    return SimResult.Nak;
                return SimResult.Fail(fault);
            }
            if (isIn)
            {
                if (e.InData.Count == 0)
                    return SimResult.Nak;
                byte[] d = e.InData.Dequeue();
                int n = Math.Min(d.Length, length);
                Array.Copy(d, buffer, n);
                if (d.Length > length)
                    return SimResult.Fail(UsbStatus.Babble, n);
                return SimResult.Ok(n);
            }
            byte[] copy = new byte[length];
            Array.Copy(buffer, copy, length);
            e.OutData.Add(copy);
            return SimResult.Ok(length);
        }
    }
}
