using System;
using Drivers.Usb.Descriptors;
using Platform;

namespace Drivers.Usb.Hid
{
    /// <summary>
    /// One HID interface a driver has taken: its parsed report descriptor and the interrupt-IN
    /// requests that stay queued (resubmitted from their completion, Linux usbhid hid_irq_in).
    /// Errors other than cancel/unplug hand the interface to the service's worker, which clears a
    /// halt if needed and resubmits after a growing delay.
    /// </summary>
    public abstract class HidInterface
    {
        /// <summary>Interrupt-IN requests kept in flight per interface.</summary>
        public const int QueuedRequests = 2;
        /// <summary>
        /// Most work one input report may cost in the completion (interrupt context), checked when
        /// the handler is built from the descriptor; a descriptor above it is refused. Unit: one
        /// step per field or report ID examined, and per element read 1 plus the probes of its
        /// usage lookup (<see cref="HidField.LookupSteps"/>; reading an element is at most 32 bits).
        /// A boot keyboard costs about 30 steps, a 256-key bitmap keyboard about 520.
        /// </summary>
        public const int MaxReportWork = 4096;

        public readonly UsbInterface Interface;
        public readonly UsbDevice Device;
        public readonly HidReportDescriptor Report;
        public readonly HidInputService Service;
        public readonly string Name;
        public readonly UsbEndpoint Endpoint;
        public abstract HidDeviceKind Kind { get; }

        /// <summary>Boot protocol in use (the report descriptor was unusable).</summary>
        public bool BootProtocol;
        public volatile bool Disconnected;
        internal volatile bool LedsDirty;
        /// <summary>Current modifier bits (keyboards).</summary>
        public volatile int Modifiers;

        public int ReportsReceived;
        public int Errors;
        /// <summary>Work the costliest input report takes, computed at probe (at most <see cref="MaxReportWork"/>).</summary>
        public int ReportWorkBound;
        /// <summary>Work the last input report took (same unit; tests check it against the bound).</summary>
        public int LastReportWork;
        internal readonly UsbRequest[] Requests = new UsbRequest[QueuedRequests];
        volatile bool _recover;
        volatile bool _stalled;
        /// <summary>Error recovery (Linux hid_io_error): current retry delay (0: no error streak), the streak's end, the next retry.</summary>
        uint _retryDelay;
        ulong _streakEnd;
        ulong _retryAt;
        volatile bool _resetDue;
        volatile bool _resetRequested;

        protected HidInterface(UsbInterface intf, UsbEndpoint endpoint, HidReportDescriptor report, HidInputService service)
        {
            Interface = intf;
            Device = intf.Device;
            Endpoint = endpoint;
            Report = report;
            Service = service;
            Name = intf.Name;
        }

        /// <summary>Cost of reading one element of <paramref name="f"/> and looking its usage up (see <see cref="MaxReportWork"/>).</summary>
        public static int ElementWork(HidField f) => 1 + f.LookupSteps;

        /// <summary>
        /// Probe-time check of the per-report bound: false (and a log line naming the limit) when
        /// handling a report would cost more than <see cref="MaxReportWork"/>.
        /// </summary>
        protected static bool WithinWorkLimit(UsbInterface intf, string what, int reportId, long work)
        {
            if (work <= MaxReportWork)
                return true;
            Log.Warning("hid " + intf.Name + ": " + what + " report " + Format.Decimal((ulong)reportId) + " would cost " +
                        Format.Decimal((ulong)work) + " steps per input report, more than the limit of " +
                        Format.Decimal((ulong)MaxReportWork) + ": report descriptor refused");
            return false;
        }

        /// <summary>Handles one input report (interrupt context; no blocking, no allocation).</summary>
        protected abstract void HandleReport(ReadOnlySpan<byte> report);

        /// <summary>Extra thread-context work (LEDs); returns how long the worker may sleep.</summary>
        protected virtual uint ExtraWork(ulong now) => HidInputService.IdleWaitMs;

        /// <summary>Called on disconnect after the requests are dead (thread context).</summary>
        protected virtual void Released() { }

        /// <summary>Allocates and submits the interrupt-IN requests.</summary>
        internal UsbStatus Start()
        {
            // The longest input report, ID byte included (Linux usbhid: hid_find_max_report), so a
            // report that fills its last packet still ends the transfer.
            int length = Report.MaxReportLength(HidReportKind.Input);
            if (length <= 0)
                return UsbStatus.InvalidArgument;
            IDmaAllocator dma = Device.Bus.Dma;
            for (int i = 0; i < QueuedRequests; i++)
            {
                var r = new UsbRequest();
                r.Device = Device;
                r.Endpoint = Endpoint;
                r.Buffer = dma.Allocate((uint)length, UsbBus.DmaAlignment, DmaLimit.Below4G);
                if (r.Buffer.IsNull)
                {
                    FreeBuffers();
                    return UsbStatus.NoMemory;
                }
                r.Length = length;
                r.Context = this;
                r.Completion = Complete;
                Requests[i] = r;
            }
            for (int i = 0; i < QueuedRequests; i++)
            {
                UsbStatus status = Device.Bus.Submit(Requests[i]);
                if (status != UsbStatus.Ok)
                {
                    // A request the controller gives back late must not be resubmitted.
                    Disconnected = true;
                    for (int k = 0; k < QueuedRequests; k++)
                        KillAndFree(k);
                    return status;
                }
            }
            return UsbStatus.Ok;
        }

        static void Complete(UsbRequest request)
        {
            var hid = (HidInterface)request.Context;
            UsbStatus status = request.Status;
            if (status == UsbStatus.Ok)
            {
                hid._retryDelay = 0;
                if (request.ActualLength > 0 && !hid.Disconnected)
                {
                    hid.HandleReport(request.Buffer.AsSpan().Slice(0, request.ActualLength));
                    hid.ReportsReceived++;   // after handling: a reader seeing the count sees the report's effects
                }
                if (!hid.Disconnected)
                {
                    UsbStatus again = request.Device.Bus.Submit(request);
                    if (again != UsbStatus.Ok && again != UsbStatus.NoDevice && again != UsbStatus.Shutdown && again != UsbStatus.Rejected)
                        hid.ScheduleRecovery(false);
                }
                return;
            }
            // Unlinked, killed, unplugged or unbound: the stream ends here.
            if (status == UsbStatus.Cancelled || status == UsbStatus.Killed || status == UsbStatus.NoDevice || status == UsbStatus.Shutdown)
                return;
            hid.Errors++;
            hid.ScheduleRecovery(status == UsbStatus.Stall);
        }

        /// <summary>
        /// Linux hid_io_error: retry after a delay that grows per error (13, 26, 52, 104, 104... ms);
        /// when the errors have lasted <see cref="HidInputService.ErrorResetMs"/>, reset the device
        /// instead (a vanished device is then found gone; a wedged one enumerates afresh). An error
        /// long after the last streak starts a new one. Interrupt context: only records and wakes.
        /// </summary>
        void ScheduleRecovery(bool stalled)
        {
            if (Disconnected || _resetRequested)
                return;
            ulong now = Service.Clock.Milliseconds;
            if (_retryDelay != 0 && now > _streakEnd + HidInputService.ErrorStreakGapMs)
                _retryDelay = 0;
            if (_retryDelay == 0)
                _streakEnd = now + HidInputService.ErrorResetMs;
            _retryDelay = NextRetryDelay(_retryDelay);
            _resetDue = now > _streakEnd;
            _retryAt = now + _retryDelay;
            if (stalled)
                _stalled = true;
            _recover = true;
            Service.Wake();
        }

        /// <summary>The retry delay after one more error: the first, then doubled up to the maximum (Linux hid_io_error).</summary>
        public static uint NextRetryDelay(uint current)
        {
            if (current == 0)
                return HidInputService.RetryDelayMs;
            return current < HidInputService.MaxRetryDelayMs ? current * 2 : current;
        }

        /// <summary>Worker duties (thread context, under the service's work lock).</summary>
        internal uint Work(HidInputService service, ulong now)
        {
            uint wait = ExtraWork(now);
            if (!_recover || Disconnected)
                return wait;
            if (_resetDue)
            {
                // Linux hid_reset: the retries failed for a second; reset the device (once per interface:
                // the device is enumerated again and a new interface takes over).
                _recover = false;
                _resetRequested = true;
                Log.Warning("hid " + Name + ": transfer errors for " + Format.Decimal(HidInputService.ErrorResetMs) + " ms, resetting the device");
                UsbStatus reset = Device.Bus.Stack.ResetDevice(Device);
                if (reset != UsbStatus.Ok && reset != UsbStatus.NoDevice)
                    Log.Error("hid " + Name + ": can't reset the device (" + UsbStatusNames.Name(reset) + "), input stopped");
                return wait;
            }
            if (now < _retryAt)
            {
                ulong left = _retryAt - now;
                return left < wait ? (uint)left : wait;
            }
            _recover = false;
            if (_stalled)
            {
                _stalled = false;
                UsbStatus cleared = UsbMessages.ClearHalt(Device, Endpoint.Address);
                if (cleared != UsbStatus.Ok && cleared != UsbStatus.NoDevice)
                    Log.Warning("hid " + Name + ": can't clear halt: " + UsbStatusNames.Name(cleared));
            }
            for (int i = 0; i < QueuedRequests; i++)
            {
                UsbRequest r = Requests[i];
                if (r == null || r.IsLinked || Disconnected)
                    continue;
                UsbStatus status = Device.Bus.Submit(r);
                if (status == UsbStatus.Busy)
                    continue;
                if (status != UsbStatus.Ok)
                {
                    if (status != UsbStatus.NoDevice && status != UsbStatus.Shutdown)
                        ScheduleRecovery(false);
                    break;
                }
            }
            return wait;
        }

        /// <summary>Stops everything (thread context): no more work, requests killed, buffers of dead requests freed.</summary>
        internal void Shutdown()
        {
            Service.WorkLock.Lock();
            Disconnected = true;
            Service.WorkLock.Unlock();
            for (int i = 0; i < QueuedRequests; i++)
                KillAndFree(i);
            Service.Detach(this);
            Released();
        }

        /// <summary>
        /// Kills request <paramref name="index"/> and frees its buffer once the request is known
        /// dead. A kill that timed out leaves the request with the controller, which may still
        /// write into the buffer (DMA): the buffer is then leaked on purpose, with a log line.
        /// Thread context.
        /// </summary>
        void KillAndFree(int index)
        {
            UsbRequest r = Requests[index];
            if (r == null)
                return;
            if (Device.Bus.Kill(r) != UsbStatus.Ok)
            {
                Log.Error("hid " + Name + ": request would not die; leaking its buffer (" +
                          Format.Decimal((ulong)r.Buffer.Size) + " bytes) to the controller");
                Requests[index] = null;   // r.Buffer stays set: it is the controller's now
                return;
            }
            if (!r.Buffer.IsNull)
                Device.Bus.Dma.Free(r.Buffer);
            r.Buffer = default(DmaBuffer);
            Requests[index] = null;
        }

        void FreeBuffers()
        {
            IDmaAllocator dma = Device.Bus.Dma;
            for (int i = 0; i < QueuedRequests; i++)
            {
                UsbRequest r = Requests[i];
                if (r == null)
                    continue;
                if (!r.Buffer.IsNull)
                    dma.Free(r.Buffer);
                r.Buffer = default(DmaBuffer);
                Requests[i] = null;
            }
        }

        /// <summary>Splits a received report into its ID and data (HID 1.11 5.6: the ID byte leads when IDs are used).</summary>
        protected bool SplitReport(ReadOnlySpan<byte> report, out byte id, out ReadOnlySpan<byte> data)
        {
            id = 0;
            data = report;
            if (!Report.UsesReportIds)
                return true;
            if (report.Length < 1)
                return false;
            id = report[0];
            data = report.Slice(1);
            return true;
        }
    }
}
