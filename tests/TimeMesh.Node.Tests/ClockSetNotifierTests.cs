using System.Diagnostics;
using TimeMesh.Node.Clock;

namespace TimeMesh.Node.Tests;

/// <summary>
/// The timerfd that wakes the clock watch when CLOCK_REALTIME is set. Tests may not set this machine's clock, so the
/// callback itself is not triggered here; what is checked: the kernel accepts the timer, nothing fires while the
/// clock is only read and slewed, and Dispose ends the blocked thread at once.
/// </summary>
public class ClockSetNotifierTests
{
    [Fact]
    public void StartsOnLinuxStaysQuietWhileNobodySetsTheClockAndStopsAtOnce()
    {
        int calls = 0;
        using var notifier = ClockSetNotifier.TryStart(() => Interlocked.Increment(ref calls), out string? whyNot);
        Assert.True(notifier is not null, $"timerfd refused: {whyNot}");
        Thread.Sleep(500);
        Assert.Equal(0, Volatile.Read(ref calls));
        Assert.False(notifier!.IsClosed);

        var stopping = Stopwatch.StartNew();
        notifier.Dispose();
        while (!notifier.IsClosed && stopping.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(5);
        Assert.True(notifier.IsClosed, "the watching thread did not end after Dispose");
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(2), $"it took {stopping.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal(0, notifier.SetsSeen);
        notifier.Dispose();   // twice is fine
    }

    [Fact]
    public void ManyStartsAndStopsLeaveNoThreadBehind()
    {
        var notifiers = Enumerable.Range(0, 20).Select(i => ClockSetNotifier.TryStart(() => { }, out string? whyNot)!).ToList();
        foreach (var n in notifiers) n.Dispose();
        var deadline = Stopwatch.StartNew();
        while (notifiers.Any(n => !n.IsClosed) && deadline.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(10);
        Assert.All(notifiers, n => Assert.True(n.IsClosed));   // each thread closed its descriptor on its way out
    }
}
