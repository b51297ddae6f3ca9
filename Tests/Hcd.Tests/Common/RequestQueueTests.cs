using System.Collections.Generic;
using Drivers.Usb;
using Drivers.Usb.Hcd;
using NUnit.Framework;

namespace Hcd.Tests.Common
{
    /// <summary>
    /// The per-endpoint request queue every controller keeps (<see cref="RequestQueue{T}"/>): order,
    /// cancelled requests taken out in order, everything given back once when the endpoint goes.
    /// </summary>
    public class RequestQueueTests
    {
        static HcdRequest Queued(RequestQueue<HcdRequest> queue)
        {
            var request = new UsbRequest();
            var r = new HcdRequest { Request = request };
            request.HcdPrivate = r;
            queue.Add(r);
            return r;
        }

        [Test]
        public void CompleteTakesOneRequestOffAndGivesItBackOnce()
        {
            var queue = new RequestQueue<HcdRequest>();
            var giveBack = new GiveBackQueue();
            HcdRequest a = Queued(queue), b = Queued(queue);
            queue.Complete(a, UsbStatus.Ok, giveBack, null);
            Assert.That(queue.Count, Is.EqualTo(1));
            Assert.That(queue[0], Is.SameAs(b));
            Assert.That((a.Finished, a.FinalStatus), Is.EqualTo((true, UsbStatus.Ok)));
            queue.Complete(a, UsbStatus.Stall, giveBack, null);
            Assert.That(a.FinalStatus, Is.EqualTo(UsbStatus.Ok), "a second completion changes nothing");
            Assert.That(queue.Count, Is.EqualTo(1));
        }

        [Test]
        public void CancelledRequestsLeaveInQueueOrder()
        {
            var queue = new RequestQueue<HcdRequest>();
            var all = new List<HcdRequest>();
            for (int i = 0; i < 5; i++)
                all.Add(Queued(queue));
            HcdRequest.BeginCancel(all[1], all[1].Request, UsbStatus.Cancelled);
            HcdRequest.BeginCancel(all[3], all[3].Request, UsbStatus.Shutdown);
            var taken = new List<HcdRequest>();
            queue.TakeCancelled(taken);
            Assert.That(taken, Is.EqualTo(new[] { all[1], all[3] }));
            Assert.That(queue.Count, Is.EqualTo(3));
            Assert.That(new[] { queue[0], queue[1], queue[2] }, Is.EqualTo(new[] { all[0], all[2], all[4] }));
            Assert.That(taken[0].Finished, Is.False, "taken out, not given back yet");
            queue.TakeAll(taken);
            Assert.That(taken.Count, Is.EqualTo(5));
            Assert.That(queue.Count, Is.Zero);
        }

        [Test]
        public void CompleteAllGivesEverythingBackWithItsCancelStatus()
        {
            var queue = new RequestQueue<HcdRequest>();
            HcdRequest a = Queued(queue), b = Queued(queue), c = Queued(queue);
            HcdRequest.BeginCancel(b, b.Request, UsbStatus.Cancelled);
            var released = new List<HcdRequest>();
            queue.CompleteAll(UsbStatus.Shutdown, true, new GiveBackQueue(), null, r =>
            {
                Assert.That(r.Finished, Is.False, "descriptors are released before the give-back");
                released.Add(r);
            });
            Assert.That(released, Is.EqualTo(new[] { a, b, c }));
            Assert.That(queue.Count, Is.Zero);
            Assert.That(new[] { a.FinalStatus, b.FinalStatus, c.FinalStatus },
                        Is.EqualTo(new[] { UsbStatus.Shutdown, UsbStatus.Cancelled, UsbStatus.Shutdown }));
            Assert.That(a.Request.HcdPrivate, Is.Null);
        }

        [Test]
        public void CompleteAllOnStopOverridesCancelStatus()
        {
            var queue = new RequestQueue<HcdRequest>();
            HcdRequest a = Queued(queue);
            HcdRequest.BeginCancel(a, a.Request, UsbStatus.Cancelled);
            queue.CompleteAll(UsbStatus.Shutdown, false, new GiveBackQueue(), null, null);
            Assert.That(a.FinalStatus, Is.EqualTo(UsbStatus.Shutdown));
        }
    }
}
