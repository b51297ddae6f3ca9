using System;
using System.Collections.Generic;

namespace Drivers.Usb.Hcd
{
    /// <summary>
    /// The requests queued on one endpoint, oldest first (Linux: usb_host_endpoint.urb_list as each
    /// HCD walks it): the controller works through them in this order and they are given back in
    /// this order. What every controller does with its queue is here: complete one request
    /// (<see cref="Complete"/>), take the cancelled ones out once the controller can no longer touch
    /// them (<see cref="TakeCancelled"/>), and give back everything left when the endpoint or the
    /// controller goes away (<see cref="CompleteAll"/>). Freeing a request's descriptors is the
    /// controller's part. Not thread safe: the driver calls it under its lock.
    /// </summary>
    public sealed class RequestQueue<T> where T : HcdRequest
    {
        readonly List<T> _requests = new List<T>();

        public int Count => _requests.Count;
        public T this[int index] => _requests[index];

        /// <summary>Queues a submitted request behind the others.</summary>
        public void Add(T r) => _requests.Add(r);

        public bool Contains(T r) => _requests.Contains(r);

        /// <summary>Takes <paramref name="r"/> off the queue without giving it back (the caller does).</summary>
        public bool Remove(T r) => _requests.Remove(r);

        public void RemoveAt(int index) => _requests.RemoveAt(index);

        /// <summary>Takes <paramref name="r"/> off the queue and gives it back once with <paramref name="status"/>.</summary>
        public void Complete(T r, UsbStatus status, GiveBackQueue giveBack, UsbBus bus)
        {
            _requests.Remove(r);
            giveBack.Finish(bus, r, status);
        }

        /// <summary>Moves the cancelled requests to <paramref name="into"/>, in queue order; they are not given back yet.</summary>
        public void TakeCancelled(List<T> into)
        {
            for (int i = 0; i < _requests.Count; i++)
            {
                if (!_requests[i].IsCancelled)
                    continue;
                into.Add(_requests[i]);
                _requests.RemoveAt(i--);
            }
        }

        /// <summary>Moves every request to <paramref name="into"/>, in queue order; they are not given back yet.</summary>
        public void TakeAll(List<T> into)
        {
            for (int i = 0; i < _requests.Count; i++)
                into.Add(_requests[i]);
            _requests.Clear();
        }

        /// <summary>
        /// The endpoint or the controller goes away: every request still queued is given back in
        /// order, with its cancel status when it was cancelled (<paramref name="keepCancelStatus"/>)
        /// or else <paramref name="status"/>. <paramref name="release"/> (optional) runs first for
        /// each: the controller frees its descriptors and records what it moved.
        /// </summary>
        public void CompleteAll(UsbStatus status, bool keepCancelStatus, GiveBackQueue giveBack, UsbBus bus, Action<T> release)
        {
            for (int i = 0; i < _requests.Count; i++)
            {
                T r = _requests[i];
                if (release != null)
                    release(r);
                giveBack.Finish(bus, r, keepCancelStatus ? r.CancelledOr(status) : status);
            }
            _requests.Clear();
        }
    }
}
