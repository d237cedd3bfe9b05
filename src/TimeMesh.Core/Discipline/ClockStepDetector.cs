namespace TimeMesh.Core.Discipline;

/// <summary>
/// One reading of the raw clock bracketed by two readings of the monotonic clock, taken in this order:
/// monotonic, raw, monotonic. The raw reading was taken at some monotonic instant between the two, so
/// whatever delayed the reads (a preemption, a GC pause), the true raw − monotonic at that instant lies in
/// [<see cref="LowNs"/>, <see cref="HighNs"/>]: a delay only widens the interval, it never moves it.
/// </summary>
/// <param name="MonotonicBeforeNs">The monotonic clock read before the raw clock.</param>
/// <param name="RawNs">The raw (OS, uncorrected) clock.</param>
/// <param name="MonotonicAfterNs">The monotonic clock read after the raw clock.</param>
public readonly record struct ClockBracket(long MonotonicBeforeNs, long RawNs, long MonotonicAfterNs)
{
    /// <summary>How long the three reads took on the monotonic clock.</summary>
    public long WidthNs => MonotonicAfterNs - MonotonicBeforeNs;

    /// <summary>The smallest raw − monotonic consistent with the readings (the raw read at the bracket's end).</summary>
    public long LowNs => RawNs - MonotonicAfterNs;

    /// <summary>The largest raw − monotonic consistent with the readings (the raw read at the bracket's start).</summary>
    public long HighNs => RawNs - MonotonicBeforeNs;

    /// <summary>The middle of [<see cref="LowNs"/>, <see cref="HighNs"/>].</summary>
    public long MidNs => LowNs + WidthNs / 2;
}

/// <summary>How the step detector is tuned.</summary>
public sealed record ClockStepSettings
{
    /// <summary>A change of raw − monotonic beyond this (and beyond both brackets' widths) is a step, ns.</summary>
    public long ToleranceNs { get; init; } = 1_000_000;

    /// <summary>A bracket wider than this is read again: it says too little about when the raw clock was read, ns.</summary>
    public long MaxBracketWidthNs { get; init; } = 200_000;

    /// <summary>How many brackets in a row may be too wide before this check is skipped.</summary>
    public int MaxTries { get; init; } = 3;
}

/// <summary>What the detector says about the bracket it was just given.</summary>
public enum ClockWatchOutcome : byte
{
    /// <summary>No step: raw − monotonic is where it was.</summary>
    Steady,

    /// <summary>Take another bracket right away and offer it (a retry of a wide one, or the confirmation of a step).</summary>
    NeedBracket,

    /// <summary>A step, seen and confirmed by a second bracket: <see cref="ClockWatchVerdict.StepNs"/>.</summary>
    Step,

    /// <summary>A bracket looked like a step but the confirming bracket did not agree: ignored.</summary>
    Unconfirmed,

    /// <summary>Every bracket was too wide: this check says nothing (the reference is kept).</summary>
    Skipped,
}

/// <summary>The detector's answer: what it concluded and, for a step, how far the raw clock moved against the monotonic one.</summary>
/// <param name="Outcome">What the detector concluded.</param>
/// <param name="StepNs">For <see cref="ClockWatchOutcome.Step"/>: raw − monotonic after minus before, ns (positive: the clock was set ahead).</param>
public readonly record struct ClockWatchVerdict(ClockWatchOutcome Outcome, long StepNs = 0);

/// <summary>
/// Finds steps of the OS clock made by someone else (an operator, another daemon), sans-IO: the caller
/// reads the clocks and offers <see cref="ClockBracket"/>s; raw − monotonic changes only when the clock is
/// set, because both clocks run at the same (NTP-adjusted) rate. A step is reported only when
/// <list type="bullet">
/// <item>the bracket is narrow (at most <see cref="ClockStepSettings.MaxBracketWidthNs"/>; a wider one is
/// read again, up to <see cref="ClockStepSettings.MaxTries"/> times, then the check is skipped);</item>
/// <item>its interval [low, high] lies more than the tolerance away from the reference bracket's interval,
/// so no delay between the reads can explain it (both intervals contain the true value when nothing
/// stepped);</item>
/// <item>a second bracket taken right after it shows the same step within the tolerance.</item>
/// </list>
/// </summary>
public sealed class ClockStepDetector(ClockStepSettings? settings = null)
{
    private enum State : byte { Watching, Confirming }

    private readonly ClockStepSettings _settings = settings ?? new ClockStepSettings();
    private ClockBracket? _reference;
    private ClockBracket _candidate;
    private State _state = State.Watching;
    private int _tries;

    /// <summary>The last bracket that raw − monotonic is compared with (null before the first narrow one).</summary>
    public ClockBracket? Reference => _reference;

    /// <summary>Steps reported so far.</summary>
    public int StepsSeen { get; private set; }

    /// <summary>Steps seen once but not confirmed by the following bracket.</summary>
    public int Unconfirmed { get; private set; }

    /// <summary>Checks skipped because every bracket was too wide.</summary>
    public int Skipped { get; private set; }

    /// <summary>
    /// Takes one bracket. On <see cref="ClockWatchOutcome.NeedBracket"/> the caller reads the clocks again at
    /// once and offers that bracket; every other outcome ends the check. At most 2 × MaxTries brackets a check.
    /// </summary>
    public ClockWatchVerdict Offer(ClockBracket bracket)
    {
        if (bracket.WidthNs < 0 || bracket.WidthNs > _settings.MaxBracketWidthNs)
        {
            if (++_tries < _settings.MaxTries) return new(ClockWatchOutcome.NeedBracket);
            _tries = 0;
            _state = State.Watching;
            Skipped++;
            return new(ClockWatchOutcome.Skipped);
        }
        _tries = 0;

        if (_reference is not { } reference)
        {
            _reference = bracket;
            return new(ClockWatchOutcome.Steady);
        }

        if (_state == State.Watching)
        {
            if (Agree(bracket, reference))
            {
                _reference = bracket;
                return new(ClockWatchOutcome.Steady);
            }
            _candidate = bracket;
            _state = State.Confirming;
            return new(ClockWatchOutcome.NeedBracket);
        }

        _state = State.Watching;
        if (!Agree(bracket, reference) && Agree(bracket, _candidate))
        {
            long step = bracket.MidNs - reference.MidNs;
            _reference = bracket;
            StepsSeen++;
            return new(ClockWatchOutcome.Step, step);
        }
        // The first bracket was a glitch (the second agrees with the reference), or the two disagree with
        // each other as well (nothing to act on; the next check looks again against the same reference).
        if (Agree(bracket, reference)) _reference = bracket;
        Unconfirmed++;
        return new(ClockWatchOutcome.Unconfirmed);
    }

    /// <summary>
    /// Whether two brackets can have seen the same raw − monotonic: their intervals, each widened by the
    /// tolerance, overlap. (With a reference value r and width w this is |raw − mono − r| within tolerance + widths.)
    /// </summary>
    private bool Agree(ClockBracket a, ClockBracket b) =>
        a.LowNs <= b.HighNs + _settings.ToleranceNs && b.LowNs <= a.HighNs + _settings.ToleranceNs;
}
