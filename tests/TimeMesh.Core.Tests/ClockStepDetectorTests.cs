using TimeMesh.Core.Discipline;

namespace TimeMesh.Core.Tests;

/// <summary>
/// The clock watch on injected readings (issue 17 step 7): a pause between the reads never looks like a
/// step; a real step is reported once, confirmed, and then absorbed; a step the next bracket does not
/// confirm is ignored.
/// </summary>
public class ClockStepDetectorTests
{
    private const long Ms = 1_000_000, Us = 1_000;
    private const long Offset = 1_795_490_000L * 1_000_000_000; // raw − monotonic while nothing steps

    /// <summary>A simulated machine: monotonic time advances as reads take time; raw = monotonic + offset.</summary>
    private sealed class Machine
    {
        public long Monotonic = 5_000_000_000;
        public long RawMinusMonotonic = Offset;

        /// <summary>Monotonic, raw, monotonic, with the given pauses before the raw read and before the second monotonic read.</summary>
        public ClockBracket Read(long pauseBeforeRawNs = 0, long pauseAfterRawNs = 0)
        {
            long before = Monotonic += 50;
            Monotonic += pauseBeforeRawNs;
            long raw = (Monotonic += 50) + RawMinusMonotonic;
            Monotonic += pauseAfterRawNs;
            long after = Monotonic += 50;
            return new ClockBracket(before, raw, after);
        }

        public void Wait(long ns) => Monotonic += ns;
    }

    /// <summary>What the actor does: offer brackets until the detector stops asking.</summary>
    private static ClockWatchVerdict Check(ClockStepDetector detector, Func<ClockBracket> read)
    {
        var verdict = detector.Offer(read());
        int brackets = 1;
        while (verdict.Outcome == ClockWatchOutcome.NeedBracket)
        {
            verdict = detector.Offer(read());
            Assert.True(++brackets <= 6, "the detector asked for more than 2 × MaxTries brackets");
        }
        return verdict;
    }

    [Fact]
    public void APauseBetweenTheReadsIsNeverAStep()
    {
        var m = new Machine();
        var detector = new ClockStepDetector();
        Assert.Equal(ClockWatchOutcome.Steady, Check(detector, () => m.Read()).Outcome);
        m.Wait(250 * Ms);

        // A 3.1 ms preemption between the raw and the second monotonic read (what invented "stepped by
        // 0.003111 s"): the old raw − monotonic comparison saw a 3.1 ms step. The bracket is too wide, so it
        // is read again, and the narrow retry shows nothing happened.
        var first = m.Read(pauseAfterRawNs: 3_111 * Us);
        Assert.InRange(first.MonotonicAfterNs - first.RawNs + Offset, 3_111 * Us, 3_111 * Us + 100); // the change the old code saw
        Assert.Equal(ClockWatchOutcome.NeedBracket, detector.Offer(first).Outcome);
        Assert.Equal(ClockWatchOutcome.Steady, detector.Offer(m.Read()).Outcome);

        // The same pause before the raw read.
        m.Wait(250 * Ms);
        Assert.Equal(ClockWatchOutcome.NeedBracket, detector.Offer(m.Read(pauseBeforeRawNs: 3 * Ms)).Outcome);
        Assert.Equal(ClockWatchOutcome.Steady, detector.Offer(m.Read()).Outcome);

        // Pauses on every try: the check is skipped and nothing moves.
        var reference = detector.Reference;
        var skipped = Check(detector, () => m.Read(pauseAfterRawNs: 10 * Ms));
        Assert.Equal(ClockWatchOutcome.Skipped, skipped.Outcome);
        Assert.Equal(reference, detector.Reference);
        Assert.Equal(0, detector.StepsSeen);
    }

    [Fact]
    public void APauseWithinTheWidthBoundCannotLookLikeAStepEvenWithoutTolerance()
    {
        // With no tolerance at all, only the bracket's limits keep a delay from looking like a step.
        var m = new Machine();
        var detector = new ClockStepDetector(new ClockStepSettings { ToleranceNs = 0 });
        Check(detector, () => m.Read());
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(ClockWatchOutcome.Steady, Check(detector, () => m.Read(pauseAfterRawNs: 199 * Us - 150)).Outcome);
            Assert.Equal(ClockWatchOutcome.Steady, Check(detector, () => m.Read(pauseBeforeRawNs: 199 * Us - 150)).Outcome);
        }
    }

    [Fact]
    public void RandomPausesNeverMakeAStep()
    {
        var random = new Random(17);
        var m = new Machine();
        var detector = new ClockStepDetector();
        for (int i = 0; i < 20_000; i++)
        {
            long Pause() => random.Next(4) == 0 ? random.NextInt64(20 * Ms) : random.NextInt64(2 * Us);
            var verdict = Check(detector, () => m.Read(Pause(), Pause()));
            Assert.NotEqual(ClockWatchOutcome.Step, verdict.Outcome);
            m.Wait(random.NextInt64(300 * Ms));
        }
        Assert.Equal(0, detector.StepsSeen);
        Assert.True(detector.Skipped > 0);
    }

    [Theory]
    [InlineData(3_111_000)]
    [InlineData(-2_550_000)]
    [InlineData(500_000_000)]
    [InlineData(-2_000_000_000)]
    public void ARealStepIsSeenOnceConfirmedAndThenAbsorbed(long step)
    {
        var m = new Machine();
        var detector = new ClockStepDetector();
        Check(detector, () => m.Read());
        m.Wait(250 * Ms);
        m.RawMinusMonotonic += step; // someone sets the OS clock

        var seen = detector.Offer(m.Read());
        Assert.Equal(ClockWatchOutcome.NeedBracket, seen.Outcome); // not yet acted on
        var confirmed = detector.Offer(m.Read());
        Assert.Equal(ClockWatchOutcome.Step, confirmed.Outcome);
        Assert.InRange(confirmed.StepNs, step - 200, step + 200);

        for (int i = 0; i < 10; i++)
        {
            m.Wait(250 * Ms);
            Assert.Equal(ClockWatchOutcome.Steady, Check(detector, () => m.Read()).Outcome);
        }
        Assert.Equal(1, detector.StepsSeen);
    }

    [Fact]
    public void AStepWithAPauseInTheConfirmingBracketIsStillReportedOnce()
    {
        var m = new Machine();
        var detector = new ClockStepDetector();
        Check(detector, () => m.Read());
        m.Wait(250 * Ms);
        m.RawMinusMonotonic += 5 * Ms;
        int reads = 0;
        var verdict = Check(detector, () => ++reads == 2 ? m.Read(pauseAfterRawNs: 2 * Ms) : m.Read());
        Assert.Equal(ClockWatchOutcome.Step, verdict.Outcome);
        Assert.InRange(verdict.StepNs, 5 * Ms - 200, 5 * Ms + 200);
        Assert.Equal(3, reads);
    }

    [Fact]
    public void AStepTheConfirmingBracketDoesNotShowIsIgnored()
    {
        var m = new Machine();
        var detector = new ClockStepDetector();
        Check(detector, () => m.Read());
        m.Wait(250 * Ms);

        // One raw reading 3 ms off (a glitch), then the clock as it was.
        m.RawMinusMonotonic += 3 * Ms;
        Assert.Equal(ClockWatchOutcome.NeedBracket, detector.Offer(m.Read()).Outcome);
        m.RawMinusMonotonic -= 3 * Ms;
        Assert.Equal(ClockWatchOutcome.Unconfirmed, detector.Offer(m.Read()).Outcome);
        Assert.Equal(0, detector.StepsSeen);
        Assert.Equal(1, detector.Unconfirmed);

        // A step the confirming bracket sees as a different step (the clock moved again in between): ignored
        // too, and the reference stays, so the next check finds the step where the clock now is.
        m.Wait(250 * Ms);
        m.RawMinusMonotonic += 3 * Ms;
        Assert.Equal(ClockWatchOutcome.NeedBracket, detector.Offer(m.Read()).Outcome);
        m.RawMinusMonotonic += 7 * Ms;
        Assert.Equal(ClockWatchOutcome.Unconfirmed, detector.Offer(m.Read()).Outcome);
        m.Wait(250 * Ms);
        var step = Check(detector, () => m.Read());
        Assert.Equal(ClockWatchOutcome.Step, step.Outcome);
        Assert.InRange(step.StepNs, 10 * Ms - 200, 10 * Ms + 200);
    }

    [Fact]
    public void ABracketWhoseMonotonicReadsGoBackwardsIsNotTrusted()
    {
        var detector = new ClockStepDetector();
        Assert.Equal(ClockWatchOutcome.NeedBracket, detector.Offer(new ClockBracket(1_000, Offset, 900)).Outcome);
    }

    [Fact]
    public void TheBracketsLimitsHoldTheTrueValue()
    {
        var b = new ClockBracket(1_000, Offset + 1_100, 1_300);
        Assert.Equal(300, b.WidthNs);
        Assert.Equal(Offset - 200, b.LowNs);
        Assert.Equal(Offset + 100, b.HighNs);
        Assert.InRange(Offset, b.LowNs, b.HighNs); // the raw clock read at monotonic 1_100
    }
}
