using Platform;

namespace Drivers.Usb.Hcd
{
    /// <summary>
    /// Notices an interrupt line that delivers nothing. Firmware on UEFI-only PCs often leaves the PCI
    /// Interrupt Line register wrong or unset (it is meaningful only for the legacy PIC routing), so
    /// the kernel attaches its handler to a line the controller never raises. Each controller's poll
    /// loop reports whether an enabled interrupt status is pending when it looks; when that was seen
    /// at least <see cref="Observations"/> times over <see cref="SilenceBoundMs"/> or more while the
    /// handler never ran at all, the line is declared dead (one log line) and the controller is then
    /// driven by polling every millisecond. A working line (MSI, or INTx routed right) runs the handler
    /// as soon as the status is set, so this never triggers for it.
    /// </summary>
    public sealed class InterruptWatchdog
    {
        /// <summary>How long pending status may go unanswered before the line is given up.</summary>
        public const uint SilenceBoundMs = 250;
        /// <summary>Separate polls that must have seen status pending (one could race a late interrupt).</summary>
        public const int Observations = 2;

        readonly IClock _clock;
        readonly string _tag;
        /// <summary>Calls of the interrupt handler, ours or not (a shared line still proves it is wired).</summary>
        volatile int _handlerCalls;
        int _callsAtFirst;
        int _seen;
        ulong _firstPendingMs;

        public InterruptWatchdog(IClock clock, string tag)
        {
            _clock = clock;
            _tag = tag;
        }

        /// <summary>True once the line has been given up.</summary>
        public bool LineDead { get; private set; }

        /// <summary>Called first thing by the interrupt handler (interrupt context).</summary>
        public void HandlerCalled() => _handlerCalls++;

        /// <summary>
        /// Called by the poll loop (thread context) before it services the controller, with whether an
        /// enabled interrupt status bit is set now. Returns true when the line is dead: poll fast.
        /// </summary>
        public bool Observe(bool pending)
        {
            if (LineDead)
                return true;
            int calls = _handlerCalls;
            if (_seen > 0 && calls != _callsAtFirst)
                _seen = 0;      // the handler ran since: the line works
            if (!pending)
                return false;
            ulong now = _clock.Milliseconds;
            if (_seen == 0)
            {
                _firstPendingMs = now;
                _callsAtFirst = calls;
            }
            _seen++;
            if (_seen >= Observations && now - _firstPendingMs >= SilenceBoundMs)
            {
                LineDead = true;
                Log.Warning(_tag + "no interrupt arrived while status was pending for " + Format.Decimal(now - _firstPendingMs) +
                            " ms: the interrupt line is wrong or missing; polling every millisecond instead");
            }
            return LineDead;
        }
    }
}
