using Drivers.Usb;
using Drivers.Usb.Hcd;
using NUnit.Framework;

namespace Hcd.Tests.Common
{
    /// <summary>
    /// The request lifecycle every controller shares (<see cref="HcdRequest"/>,
    /// <see cref="GiveBackQueue.Finish"/>): the first cancel wins, a request is given back exactly
    /// once, with its cancel status when it was cancelled, and no longer points at controller state.
    /// </summary>
    public class HcdRequestTests
    {
        static (UsbRequest, HcdRequest) Queued()
        {
            var request = new UsbRequest();
            var r = new HcdRequest { Request = request };
            request.HcdPrivate = r;
            return (request, r);
        }

        [Test]
        public void FirstCancelMarksTheRequestLaterOnesAreNoOps()
        {
            var (request, r) = Queued();
            Assert.That(r.IsCancelled, Is.False);
            Assert.That(HcdRequest.BeginCancel(r, request, UsbStatus.Cancelled), Is.EqualTo(UsbStatus.InProgress), "first cancel: caller unlinks");
            Assert.That(r.IsCancelled, Is.True);
            Assert.That(HcdRequest.BeginCancel(r, request, UsbStatus.Shutdown), Is.EqualTo(UsbStatus.Ok), "already under way");
            Assert.That(r.CancelStatus, Is.EqualTo(UsbStatus.Cancelled), "the first status stays");
        }

        [Test]
        public void CancelOfWhatIsNotQueuedIsRefused()
        {
            var (request, r) = Queued();
            Assert.That(HcdRequest.BeginCancel(null, request, UsbStatus.Cancelled), Is.EqualTo(UsbStatus.NotQueued), "no controller state");
            Assert.That(HcdRequest.BeginCancel(r, new UsbRequest(), UsbStatus.Cancelled), Is.EqualTo(UsbStatus.NotQueued), "state of another request");
            var giveBack = new GiveBackQueue();
            giveBack.Finish(null, r, UsbStatus.Ok);
            Assert.That(HcdRequest.BeginCancel(r, request, UsbStatus.Cancelled), Is.EqualTo(UsbStatus.NotQueued), "given back already");
            Assert.That(r.IsCancelled, Is.False);
        }

        [Test]
        public void FinishGivesBackOnceAndDetaches()
        {
            var (request, r) = Queued();
            var giveBack = new GiveBackQueue();
            r.Actual = 12;
            Assert.That(giveBack.Finish(null, r, UsbStatus.Stall), Is.True);
            Assert.That(r.Finished, Is.True);
            Assert.That(r.FinalStatus, Is.EqualTo(UsbStatus.Stall));
            Assert.That(request.HcdPrivate, Is.Null, "a finished request no longer points at controller state");
            Assert.That(giveBack.Finish(null, r, UsbStatus.Ok), Is.False, "completion exactly once");
            Assert.That(r.FinalStatus, Is.EqualTo(UsbStatus.Stall));
            giveBack.Deliver();
        }

        [Test]
        public void FinishLeavesANewerControllerStateAlone()
        {
            var (request, r) = Queued();
            var newer = new HcdRequest { Request = request };
            request.HcdPrivate = newer;
            new GiveBackQueue().Finish(null, r, UsbStatus.Ok);
            Assert.That(request.HcdPrivate, Is.SameAs(newer));
        }

        [Test]
        public void RequestsGoingAwayKeepTheirCancelStatus()
        {
            var (request, r) = Queued();
            Assert.That(r.CancelledOr(UsbStatus.Shutdown), Is.EqualTo(UsbStatus.Shutdown));
            HcdRequest.BeginCancel(r, request, UsbStatus.Cancelled);
            Assert.That(r.CancelledOr(UsbStatus.Shutdown), Is.EqualTo(UsbStatus.Cancelled));
        }
    }
}
