using Akka.Actor;
using Akka.Event;
using TimeMesh.Core.Clock;
using TimeMesh.Core.Discipline;
using TimeMesh.Node.Clock;

namespace TimeMesh.Node.Sync;

/// <summary>
/// The sync actor's door to the clock (chrony's reference and local modules): puts the engine's correction on the
/// served clock and, when the node disciplines the system clock, on the kernel (<see cref="IClockSteering"/>, with the
/// end of a slew on a timer); and watches the OS clock for steps made by someone else. Called on the sync actor's
/// thread, so the engine and the served clock never disagree between two messages.
/// </summary>
/// <param name="kernelNotifications">Ask the kernel to tell when the clock is set (<see cref="ClockSetNotifier"/>); off when
/// the clocks are injected (tests), as the kernel's notice would not concern them.</param>
internal sealed class ClockSteering(DisciplinedClock clock, IClockSteering? kernel, Func<long> monotonicNs, ITimerScheduler timers, ILoggingAdapter log,
    bool kernelNotifications) : IDisposable
{
    /// <summary>How often the raw clock is compared with the monotonic clock to catch outside steps.</summary>
    public static readonly TimeSpan WatchInterval = TimeSpan.FromMilliseconds(250);
    /// <summary>With the kernel telling when the clock is set (<see cref="ClockSetNotifier"/>), the timer check is only a safety net.</summary>
    public static readonly TimeSpan WatchFallbackInterval = TimeSpan.FromMinutes(1);
    private ClockSetNotifier? _clockSets;

    /// <summary>
    /// A change of raw − monotonic larger than this (beyond the reads' own uncertainty, and confirmed by a
    /// second reading) is a step of the OS clock by someone else (<see cref="ClockStepDetector"/>).
    /// </summary>
    public const long StepDetectionNs = 1_000_000;

    private readonly ClockStepDetector _stepDetector = new(new ClockStepSettings { ToleranceNs = StepDetectionNs });

    /// <summary>
    /// Starts the watch: <paramref name="watcher"/> gets <see cref="SyncProtocol.WatchClock"/> when the kernel says the
    /// clock was set, and from a timer every minute as a safety net; every <see cref="WatchInterval"/> when the kernel
    /// cannot tell (or the clocks are injected), so an idle node does not wake 4 times a second for nothing.
    /// </summary>
    public void StartWatching(IActorRef watcher)
    {
        _clockSets = kernelNotifications ? ClockSetNotifier.TryStart(() => watcher.Tell(SyncProtocol.WatchClock.Instance), out _) : null;
        timers.StartPeriodicTimer("clock-watch", SyncProtocol.WatchClock.Instance, _clockSets is null ? WatchInterval : WatchFallbackInterval);
    }

    /// <summary>Stops the kernel's notices (the timers stop with the actor).</summary>
    public void Dispose() => _clockSets?.Dispose();

    /// <summary>Makes the served clock, and the kernel clock when steered, follow <paramref name="correction"/>.</summary>
    public void Apply(ClockCorrection correction)
    {
        if (kernel is not null)
        {
            var end = kernel.Apply(correction, clock.ReadOsUnixNs());
            if (end is { } e) timers.StartSingleTimer("slew-end", new SyncProtocol.EndSlew(e.Generation), e.After);
        }
        clock.SetCorrection(correction);
    }

    public void EndSlew(int generation) => kernel?.EndSlew(generation);

    /// <summary>
    /// Catches a step of the OS clock made by someone else (an operator, another daemon): raw − monotonic
    /// only changes when the clock is set. The clocks are read as a bracket (monotonic, raw, monotonic), so a
    /// pause between the reads cannot pass for a step, and a step counts only when the bracket read right
    /// after it agrees (<see cref="ClockStepDetector"/>).
    /// </summary>
    /// <returns>The step, for the engine to move everything measured on the raw clock (so the served time does not jump); null when there was none.</returns>
    public long? Watch()
    {
        var verdict = _stepDetector.Offer(ReadBracket());
        while (verdict.Outcome == ClockWatchOutcome.NeedBracket) verdict = _stepDetector.Offer(ReadBracket());
        switch (verdict.Outcome)
        {
            case ClockWatchOutcome.Step:
                log.Warning("the OS clock was stepped by {0:0.000000} s by something else; the served time is kept continuous", verdict.StepNs * 1e-9);
                return verdict.StepNs;
            case ClockWatchOutcome.Unconfirmed:
                log.Debug("clock watch: an apparent step of the OS clock was not confirmed by the next reading; ignored ({0} so far)", _stepDetector.Unconfirmed);
                break;
            case ClockWatchOutcome.Skipped:
                log.Debug("clock watch: the clock reads took too long {0} times in a row; check skipped ({1} so far)", new ClockStepSettings().MaxTries, _stepDetector.Skipped);
                break;
        }
        return null;
    }

    /// <summary>Monotonic, raw, monotonic: the raw reading with the monotonic interval it was taken in.</summary>
    private ClockBracket ReadBracket()
    {
        long before = monotonicNs();
        long raw = clock.ReadRawUnixNs();
        long after = monotonicNs();
        return new ClockBracket(before, raw, after);
    }
}
