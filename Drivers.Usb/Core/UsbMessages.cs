using System;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb
{
    /// <summary>
    /// Synchronous helpers built on the asynchronous request path (Linux message.c: usb_control_msg,
    /// usb_bulk_msg, usb_get_descriptor, usb_string, usb_clear_halt...). Each submits a request,
    /// waits on an event with a timeout, and on timeout kills the request and reports Timeout.
    /// Thread context only. Data goes through a DMA bounce buffer the core allocates.
    /// </summary>
    public static class UsbMessages
    {
        /// <summary>Linux USB_CTRL_GET_TIMEOUT / USB_CTRL_SET_TIMEOUT.</summary>
        public const uint ControlTimeoutMs = 5000;
        public const uint BulkTimeoutMs = 5000;
        /// <summary>Retries of GET_DESCRIPTOR on failure other than STALL (Linux usb_get_descriptor: 3).</summary>
        public const int DescriptorTries = 3;

        static readonly byte[] s_empty = new byte[0];
        public static Span<byte> NoData => new Span<byte>(s_empty);

        sealed class Waiter
        {
            public IEvent Done;
        }

        static void WakeWaiter(UsbRequest request) => ((Waiter)request.Context).Done.Signal();

        /// <summary>A control transfer on endpoint 0: SETUP, optional data stage, status.</summary>
        public static UsbStatus Control(UsbDevice device, SetupPacket setup, Span<byte> data, uint timeoutMs, out int actual)
        {
            actual = 0;
            if (device == null)
                return UsbStatus.InvalidArgument;
            if (data.Length < setup.wLength)
                return UsbStatus.InvalidArgument;
            return Transfer(device, device.Endpoint0, setup, true, data.Slice(0, setup.wLength), timeoutMs, 0, out actual);
        }

        public static UsbStatus Control(UsbDevice device, byte requestType, byte request, ushort value, ushort index,
                                        Span<byte> data, uint timeoutMs, out int actual) =>
            Control(device, new SetupPacket(requestType, request, value, index, (ushort)data.Length), data, timeoutMs, out actual);

        /// <summary>A bulk transfer on endpoint <paramref name="endpointAddress"/> (bit 7 = IN).</summary>
        public static UsbStatus Bulk(UsbDevice device, byte endpointAddress, Span<byte> data, uint timeoutMs, out int actual) =>
            NonControl(device, endpointAddress, TransferType.Bulk, data, timeoutMs, out actual);

        /// <summary>One interrupt transfer (Linux usb_interrupt_msg).</summary>
        public static UsbStatus Interrupt(UsbDevice device, byte endpointAddress, Span<byte> data, uint timeoutMs, out int actual) =>
            NonControl(device, endpointAddress, TransferType.Interrupt, data, timeoutMs, out actual);

        static UsbStatus NonControl(UsbDevice device, byte endpointAddress, TransferType type, Span<byte> data, uint timeoutMs, out int actual)
        {
            actual = 0;
            if (device == null)
                return UsbStatus.InvalidArgument;
            UsbEndpoint endpoint = device.FindEndpoint(endpointAddress);
            if (endpoint == null || endpoint.Number == 0)
                return device.IsGone ? UsbStatus.NoDevice : UsbStatus.InvalidArgument;
            if (endpoint.Type != type)
                return UsbStatus.InvalidArgument;
            return Transfer(device, endpoint, default(SetupPacket), false, data, timeoutMs, 0, out actual);
        }

        static UsbStatus Transfer(UsbDevice device, UsbEndpoint endpoint, SetupPacket setup, bool isControl,
                                  Span<byte> data, uint timeoutMs, int flags, out int actual)
        {
            actual = 0;
            if (device.IsGone)
                return UsbStatus.NoDevice;
            UsbBus bus = device.Bus;
            IDmaAllocator dma = bus.Dma;
            bool dataIn = isControl ? setup.IsIn : endpoint.IsIn;
            var request = new UsbRequest();
            request.Device = device;
            request.Endpoint = endpoint;
            request.Length = data.Length;
            request.Flags = flags;
            if (data.Length > 0)
            {
                request.Buffer = dma.Allocate((uint)data.Length, UsbBus.DmaAlignment, DmaLimit.Below4G);
                if (request.Buffer.IsNull)
                    return UsbStatus.NoMemory;
                if (!dataIn)
                    data.CopyTo(request.Buffer.AsSpan());
            }
            if (isControl)
            {
                request.Setup = dma.Allocate(SetupPacket.Size, UsbBus.DmaAlignment, DmaLimit.Below4G);
                if (request.Setup.IsNull)
                {
                    FreeBuffers(dma, request);
                    return UsbStatus.NoMemory;
                }
                setup.Write(request.Setup.AsSpan());
            }
            var waiter = new Waiter();
            waiter.Done = bus.Stack.Threading.CreateEvent(false);
            request.Context = waiter;
            request.Completion = WakeWaiter;

            UsbStatus status = bus.Submit(request);
            if (status != UsbStatus.Ok)
            {
                FreeBuffers(dma, request);
                return status;
            }
            if (!waiter.Done.Wait(timeoutMs))
            {
                if (bus.Kill(request) != UsbStatus.Ok)
                {
                    // The controller may still own the buffers: leak them rather than risk corruption.
                    Log.Error(device.Name + ": request would not die; leaking its buffers");
                    return UsbStatus.Timeout;
                }
                status = request.Status == UsbStatus.Killed ? UsbStatus.Timeout : request.Status;
            }
            else
                status = request.Status;
            actual = request.ActualLength;
            if (dataIn && actual > 0)
                request.Buffer.AsSpan().Slice(0, actual).CopyTo(data);
            FreeBuffers(dma, request);
            return status;
        }

        static void FreeBuffers(IDmaAllocator dma, UsbRequest request)
        {
            if (!request.Buffer.IsNull)
                dma.Free(request.Buffer);
            if (!request.Setup.IsNull)
                dma.Free(request.Setup);
            request.Buffer = default(DmaBuffer);
            request.Setup = default(DmaBuffer);
        }

        // ---- Standard requests (USB 2.0 9.4) -------------------------------------------------

        /// <summary>GET_STATUS returns two bytes (USB 2.0 9.4.5).</summary>
        const int StatusSize = 2;
        const byte StandardIn = RequestType.DirectionIn | RequestType.TypeStandard | RequestType.RecipientDevice;
        const byte StandardOut = RequestType.DirectionOut | RequestType.TypeStandard | RequestType.RecipientDevice;

        /// <summary>GET_DESCRIPTOR (9.4.3), retried like Linux on errors other than STALL.</summary>
        public static UsbStatus GetDescriptor(UsbDevice device, byte type, byte index, ushort languageId,
                                              Span<byte> data, uint timeoutMs, out int actual)
        {
            UsbStatus status = UsbStatus.InvalidArgument;
            actual = 0;
            for (int attempt = 0; attempt < DescriptorTries; attempt++)
            {
                status = Control(device, StandardIn, UsbRequestCode.GetDescriptor, (ushort)((type << 8) | index), languageId,
                                 data, timeoutMs, out actual);
                if (status == UsbStatus.Ok || status == UsbStatus.Stall || status == UsbStatus.NoDevice)
                    break;
            }
            if (status == UsbStatus.Ok && actual >= DescriptorHeader.Size && data[DescriptorHeader.OffsetType] != type)
                return UsbStatus.BadDescriptor;
            return status;
        }

        /// <summary>GET_DESCRIPTOR once, without retries (for the first read at address 0).</summary>
        public static UsbStatus GetDescriptorOnce(UsbDevice device, byte type, byte index, Span<byte> data, uint timeoutMs, out int actual) =>
            Control(device, StandardIn, UsbRequestCode.GetDescriptor, (ushort)((type << 8) | index), 0, data, timeoutMs, out actual);

        /// <summary>SET_CONFIGURATION (9.4.7) on the wire only; use UsbStack.ChangeConfiguration to change the model.</summary>
        public static UsbStatus SetConfigurationRequest(UsbDevice device, byte value) =>
            Control(device, StandardOut, UsbRequestCode.SetConfiguration, value, 0, NoData, ControlTimeoutMs, out int _);

        /// <summary>SET_INTERFACE (9.4.10) on the wire only; use UsbStack.SetInterface to change the model.</summary>
        public static UsbStatus SetInterfaceRequest(UsbDevice device, byte interfaceNumber, byte alternate) =>
            Control(device, RequestType.DirectionOut | RequestType.TypeStandard | RequestType.RecipientInterface,
                    UsbRequestCode.SetInterface, alternate, interfaceNumber, NoData, ControlTimeoutMs, out int _);

        /// <summary>GET_STATUS (9.4.5) of the device, an interface or an endpoint.</summary>
        public static UsbStatus GetStatus(UsbDevice device, byte recipient, ushort index, out ushort status)
        {
            status = 0;
            byte[] buffer = new byte[StatusSize];
            UsbStatus result = Control(device, (byte)(RequestType.DirectionIn | RequestType.TypeStandard | recipient),
                                       UsbRequestCode.GetStatus, 0, index, new Span<byte>(buffer), ControlTimeoutMs, out int actual);
            if (result == UsbStatus.Ok && actual < StatusSize)
                return UsbStatus.ShortPacket;
            status = (ushort)(buffer[0] | (buffer[1] << 8));
            return result;
        }

        /// <summary>
        /// CLEAR_FEATURE(ENDPOINT_HALT) (9.4.1) and reset of the host side toggle (Linux usb_clear_halt).
        /// </summary>
        public static UsbStatus ClearHalt(UsbDevice device, byte endpointAddress)
        {
            UsbStatus status = Control(device, RequestType.DirectionOut | RequestType.TypeStandard | RequestType.RecipientEndpoint,
                                       UsbRequestCode.ClearFeature, FeatureSelector.EndpointHalt, endpointAddress,
                                       NoData, ControlTimeoutMs, out int _);
            if (status != UsbStatus.Ok)
                return status;
            UsbEndpoint endpoint = device.FindEndpoint(endpointAddress);
            if (endpoint != null && !device.IsRootHub)
                device.Bus.Controller.ResetEndpoint(device, endpoint);
            return UsbStatus.Ok;
        }

        /// <summary>Reads the LANGID table (string index 0).</summary>
        public static UsbStatus GetLanguages(UsbDevice device, out ushort[] languages)
        {
            languages = new ushort[0];
            byte[] buffer = new byte[StringDescriptor.MaxSize];
            UsbStatus status = GetDescriptor(device, DescriptorType.String, 0, 0, new Span<byte>(buffer), ControlTimeoutMs, out int actual);
            if (status != UsbStatus.Ok)
                return status;
            DescriptorProblem p = StringDescriptor.ParseLanguages(new ReadOnlySpan<byte>(buffer, 0, actual), out languages);
            return p.IsOk ? UsbStatus.Ok : UsbStatus.BadDescriptor;
        }

        /// <summary>Reads and decodes a string descriptor (Linux usb_string).</summary>
        public static UsbStatus GetString(UsbDevice device, byte index, ushort languageId, out string text)
        {
            text = null;
            if (index == 0)
                return UsbStatus.InvalidArgument;
            byte[] buffer = new byte[StringDescriptor.MaxSize];
            UsbStatus status = GetDescriptor(device, DescriptorType.String, index, languageId, new Span<byte>(buffer), ControlTimeoutMs, out int actual);
            if (status != UsbStatus.Ok)
                return status;
            DescriptorProblem p = StringDescriptor.ParseText(new ReadOnlySpan<byte>(buffer, 0, actual), out text);
            return p.IsOk ? UsbStatus.Ok : UsbStatus.BadDescriptor;
        }
    }
}
