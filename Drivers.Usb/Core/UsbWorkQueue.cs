using System.Collections.Generic;
using Platform;

namespace Drivers.Usb
{
    /// <summary>A unit of explore work: one hub's events, or one port's connect/disconnect handling.</summary>
    public abstract class UsbWork
    {
        /// <summary>Name for logs ("hub 1-1:1.0", "port 1-1-port2").</summary>
        public abstract string Describe();
        public abstract void Run();
    }

    /// <summary>
    /// Where explore work runs (Linux's hub_wq is a workqueue too). Once <see cref="StartThreads"/>
    /// was called, every queued job runs on a kernel thread of its own pool: a job that waits on a
    /// device (debounce, reset, a NAKing descriptor read, a driver that is still releasing) occupies
    /// one worker and never delays jobs of other ports, hubs or buses. Workers are started on
    /// demand up to <see cref="MaxWorkers"/> and end after <see cref="IdleExitMs"/> without work.
    /// Before that (and for deterministic host tests) jobs run inline on the queuing thread.
    /// </summary>
    public sealed class UsbWorkQueue
    {
        /// <summary>
        /// Upper bound on concurrent jobs. Each busy port holds one, so this is the number of ports
        /// that can be enumerated or torn down at the same time before further work queues up.
        /// </summary>
        public const int MaxWorkers = 16;
        /// <summary>An idle worker ends after this long, so a quiet system keeps no extra threads.</summary>
        public const uint IdleExitMs = 5000;

        readonly IThreading _threading;
        /// <summary>Queued jobs, oldest first (short: at most one per hub and per port).</summary>
        readonly List<UsbWork> _jobs = new List<UsbWork>();
        /// <summary>Workers waiting for a job, each on its own event (newest last).</summary>
        readonly List<Worker> _idle = new List<Worker>();
        volatile bool _threaded;
        int _workers;
        int _running;
        int _started;

        sealed class Worker
        {
            public IEvent Wake;
        }

        public UsbWorkQueue(IThreading threading)
        {
            _threading = threading;
        }

        /// <summary>True once jobs run on worker threads.</summary>
        public bool IsThreaded => _threaded;

        /// <summary>Jobs queued or running right now.</summary>
        public int Pending
        {
            get
            {
                lock (_jobs)
                    return _jobs.Count + _running;
            }
        }

        /// <summary>Worker threads alive now, and started in total (diagnostics).</summary>
        public int Workers => _workers;
        public int WorkersStarted => _started;

        public void StartThreads() => _threaded = true;

        /// <summary>Back to inline execution; idle workers end within <see cref="IdleExitMs"/>.</summary>
        public void StopThreads() => _threaded = false;

        /// <summary>Runs <paramref name="work"/> on a worker thread, or inline when not threaded.</summary>
        public void Queue(UsbWork work)
        {
            if (!_threaded)
            {
                RunOne(work);
                return;
            }
            Worker wake = null;
            bool start = false;
            lock (_jobs)
            {
                _jobs.Add(work);
                if (_idle.Count > 0)
                {
                    wake = _idle[_idle.Count - 1];
                    _idle.RemoveAt(_idle.Count - 1);
                }
                else if (_workers < MaxWorkers)
                {
                    _workers++;
                    start = true;
                }
                // Otherwise every worker is busy: the job waits for the first one to finish.
            }
            if (wake != null)
                wake.Wake.Signal();
            else if (start)
            {
                var worker = new Worker();
                worker.Wake = _threading.CreateEvent(true);
                if (_threading.StartThread("usb_hub_wq", () => WorkerLoop(worker)) == 0)
                {
                    Log.Error("usb: can't start an explore worker; running " + work.Describe() + " inline");
                    lock (_jobs)
                        _workers--;
                    RunNext();
                    return;
                }
                _started++;
            }
        }

        void WorkerLoop(Worker self)
        {
            while (true)
            {
                if (RunNext())
                    continue;
                lock (_jobs)
                {
                    if (_jobs.Count > 0)
                        continue;
                    _idle.Add(self);
                }
                if (self.Wake.Wait(IdleExitMs))
                    continue;
                lock (_jobs)
                {
                    // Still on the idle list: nobody handed us a job, so end. Otherwise a queuer
                    // picked us just as the wait timed out: go and take its job.
                    if (_idle.Remove(self))
                    {
                        _workers--;
                        return;
                    }
                }
            }
        }

        /// <summary>Runs the oldest queued job, if any.</summary>
        bool RunNext()
        {
            UsbWork work;
            lock (_jobs)
            {
                if (_jobs.Count == 0)
                    return false;
                work = _jobs[0];
                _jobs.RemoveAt(0);
                _running++;
            }
            Finish(work);
            return true;
        }

        void RunOne(UsbWork work)
        {
            lock (_jobs)
                _running++;
            Finish(work);
        }

        /// <summary>Runs a job already counted in <see cref="Pending"/>.</summary>
        void Finish(UsbWork work)
        {
            work.Run();
            lock (_jobs)
                _running--;
        }
    }
}
