using System;
using System.Threading;
using NUnit.Framework;

namespace Tests.Support
{
    /// <summary>Waiting in tests with real threads: poll a condition, fail the test after a bound.</summary>
    public static class Waiting
    {
        /// <summary>
        /// Polls <paramref name="condition"/> every millisecond until it holds; fails the test after
        /// <paramref name="seconds"/> with "timed out" (or "timed out waiting for <paramref name="what"/>").
        /// </summary>
        public static void WaitFor(Func<bool> condition, string what = null, int seconds = 10)
        {
            var deadline = DateTime.UtcNow.AddSeconds(seconds);
            while (!condition())
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), what == null ? "timed out" : "timed out waiting for " + what);
                Thread.Sleep(1);
            }
        }
    }
}
