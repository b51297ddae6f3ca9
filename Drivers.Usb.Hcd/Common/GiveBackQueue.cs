using System.Collections.Generic;
using Drivers.Usb;

namespace Drivers.Usb.Hcd
{
    /// <summary>
    /// Requests a controller driver has finished, waiting to be given back to the core
    /// (<see cref="UsbBus.GiveBack"/>), in completion order. Drivers add entries while holding their
    /// own lock (from the interrupt handler or the poll thread) and call <see cref="Deliver"/> after
    /// releasing it: only one caller delivers at a time, so completions of one endpoint reach the
    /// core in order even when the interrupt handler and the poll thread race, and completion
    /// callbacks never run under the driver's lock (they may submit again).
    /// </summary>
    public sealed class GiveBackQueue
    {
        struct Entry
        {
            public UsbBus Bus;
            public UsbRequest Request;
            public UsbStatus Status;
            public int Actual;
        }

        readonly Queue<Entry> _entries = new Queue<Entry>();
        bool _delivering;

        /// <summary>
        /// Gives <paramref name="r"/> back exactly once (see <see cref="HcdRequest"/>): marks it
        /// finished with <paramref name="status"/>, detaches it from its <see cref="UsbRequest"/> and
        /// queues it with its <see cref="HcdRequest.Actual"/>. False, and nothing queued, when it was
        /// finished already. Called under the driver's lock; <see cref="Deliver"/> after it.
        /// </summary>
        public bool Finish(UsbBus bus, HcdRequest r, UsbStatus status)
        {
            if (r.Finished)
                return false;
            r.Finished = true;
            r.FinalStatus = status;
            if (r.Request.HcdPrivate == r)
                r.Request.HcdPrivate = null;
            Add(bus, r.Request, status, r.Actual);
            return true;
        }

        public void Add(UsbBus bus, UsbRequest request, UsbStatus status, int actual)
        {
            lock (_entries)
                _entries.Enqueue(new Entry { Bus = bus, Request = request, Status = status, Actual = actual });
        }

        /// <summary>Gives back everything queued, unless another caller is already doing so.</summary>
        public void Deliver()
        {
            lock (_entries)
            {
                if (_delivering || _entries.Count == 0)
                    return;
                _delivering = true;
            }
            while (true)
            {
                Entry e;
                lock (_entries)
                {
                    if (_entries.Count == 0)
                    {
                        _delivering = false;
                        return;
                    }
                    e = _entries.Dequeue();
                }
                if (e.Bus != null)
                    e.Bus.GiveBack(e.Request, e.Status, e.Actual);
            }
        }
    }
}
