using TimeMesh.Core.Clock;
using TimeMesh.Core.Discipline;

namespace TimeMesh.Core.Tests;

public class ClockCorrectionTests
{
    private const long Second = 1_000_000_000;
    private const long Base = 1_800_000_000L * Second;

    [Fact]
    public void IdentityChangesNothing()
    {
        Assert.Equal(Base, ClockCorrection.Identity.Apply(Base));
        Assert.Equal(0, ClockCorrection.Identity.RemainingSlewNs(Base));
    }

    [Fact]
    public void OffsetPlusFrequencySinceBase()
    {
        var c = new ClockCorrection(Base, OffsetNs: -50_000_000, FrequencyPpm: 20);
        Assert.Equal(-50_000_000, c.CorrectionNs(Base));
        Assert.Equal(-50_000_000 + 20_000, c.CorrectionNs(Base + Second));
        Assert.Equal(Base + 100 * Second - 50_000_000 + 2_000_000, c.Apply(Base + 100 * Second));
        Assert.Equal(-50_000_000 - 20_000, c.CorrectionNs(Base - Second));
    }

    [Fact]
    public void TheResidualRampsLinearlyToZeroOverTheDuration()
    {
        var c = new ClockCorrection(Base, 1_000_000, 0, SlewResidualNs: 8_000_000, SlewDurationNs: 80 * Second);

        Assert.Equal(9_000_000, c.CorrectionNs(Base - Second)); // before base: all of it
        Assert.Equal(9_000_000, c.CorrectionNs(Base));
        Assert.Equal(5_000_000, c.CorrectionNs(Base + 40 * Second));
        Assert.Equal(1_200_000, c.CorrectionNs(Base + 78 * Second));
        Assert.Equal(1_000_000, c.CorrectionNs(Base + 80 * Second));
        Assert.Equal(1_000_000, c.CorrectionNs(Base + 1000 * Second));

        Assert.Equal(8_000_000, c.RemainingSlewNs(Base));
        Assert.Equal(2_000_000, c.RemainingSlewNs(Base + 60 * Second));
        Assert.Equal(0, c.RemainingSlewNs(Base + 80 * Second));
    }
}

public class ClockDisciplineTests
{
    private const long Second = 1_000_000_000;
    private const long Start = 1_800_000_000L * Second;

    private static ClockDiscipline New(int makeStepLimit = 3, double threshold = 1.0, double maxSlewPpm = 83_333, double ratio = DisciplineSettings.DefaultCorrectionTimeRatio, double wander = 1e-9) =>
        new(new DisciplineSettings
        {
            MakeStepLimit = makeStepLimit,
            MakeStepThresholdSeconds = threshold,
            MaxSlewRatePpm = maxSlewPpm,
            CorrectionTimeRatio = ratio,
            FrequencyWanderPerSecond = wander,
        }, Start);

    private static void Near(long expected, long actual, long tolerance) =>
        Assert.True(Math.Abs(expected - actual) <= tolerance, $"expected {expected} ± {tolerance}, got {actual}");

    [Fact]
    public void AnOffsetAboveTheThresholdIsSteppedDuringTheFirstUpdates()
    {
        var d = New(makeStepLimit: 3, threshold: 1.0);
        // True time is 5 s ahead of the raw clock.
        var u = d.Update(Start + Second, sourceOffsetSeconds: 5.0, 0, 1e-7, 64);

        Assert.Equal(DisciplineAction.Stepped, u.Action);
        Assert.Equal(-5.0, u.OffsetSeconds, 9); // we were 5 s slow
        Assert.Equal(5 * Second, d.Correction.CorrectionNs(Start + Second));
        Assert.Equal(0, d.Correction.RemainingSlewNs(Start + Second));
        Assert.Equal(1, d.Steps);
    }

    [Fact]
    public void AfterLimitUpdatesALargeOffsetIsSlewed()
    {
        var d = New(makeStepLimit: 2);
        d.Update(Start + 1 * Second, 0.001, 0, 1e-7, 1);
        d.Update(Start + 2 * Second, 0.001, 0, 1e-7, 1);
        var u = d.Update(Start + 10 * Second, 5.0, 0, 1e-7, 64);

        Assert.Equal(DisciplineAction.Slewed, u.Action);
        Assert.Equal(0, d.Steps);
        Assert.NotEqual(5 * Second, d.Correction.CorrectionNs(Start + 10 * Second));
    }

    [Fact]
    public void LimitMinusOneAlwaysSteps()
    {
        var d = New(makeStepLimit: -1);
        for (int i = 1; i <= 10; i++) d.Update(Start + i * Second, 0.001, 0, 1e-7, 1);
        var u = d.Update(Start + 20 * Second, -3.0, 0, 1e-7, 64);
        Assert.Equal(DisciplineAction.Stepped, u.Action);
        Assert.Equal(-3 * Second, d.Correction.CorrectionNs(Start + 20 * Second));
    }

    [Fact]
    public void LimitZeroNeverSteps()
    {
        var d = New(makeStepLimit: 0);
        var u = d.Update(Start + Second, 100.0, 0, 1e-7, 64);
        Assert.Equal(DisciplineAction.Slewed, u.Action);
        Assert.Equal(0, d.Steps);
    }

    [Theory]
    [InlineData(0.9)]
    [InlineData(1.0)] // "larger than" the threshold: equal is slewed
    public void AnOffsetNotAboveTheThresholdIsSlewed(double offset)
    {
        var d = New(threshold: 1.0);
        Assert.Equal(DisciplineAction.Slewed, d.Update(Start + Second, offset, 0, 1e-7, 64).Action);
    }

    [Fact]
    public void ASlewKeepsTheCorrectionContinuousAtTheUpdate()
    {
        var d = New();
        d.Update(Start + Second, 0.020, 5e-6, 1e-7, 16);
        // Mid-slew, a new measurement says something else; the served time must not jump.
        long now = Start + 9 * Second;
        long before = d.Correction.CorrectionNs(now);
        d.Update(now, -0.030, -2e-6, 1e-7, 16);
        Assert.Equal(before, d.Correction.CorrectionNs(now));
        // ...and it ends on the new line.
        Near((long)(-0.030e9), d.Correction.CorrectionNs(now + 16 * Second) - (long)(d.FrequencyPpm * 1e-6 * 16e9), 2);
    }

    [Fact]
    public void TheSlewTakesAtLeastTheIntervalToTheNextUpdate()
    {
        var d = New(maxSlewPpm: 83_333);
        long now = Start + Second;
        // No standard error known: the interval is the floor.
        d.Update(now, 0.1, 0, 1e-7, nextUpdateSeconds: 64);

        // 0.1 s at 83 333 ppm would take 1.2 s; the interval is 64 s.
        Assert.Equal(64 * Second, d.Correction.SlewDurationNs);
        Assert.Equal(-100_000_000, d.Correction.RemainingSlewNs(now));
        Assert.Equal(-50_000_000, d.Correction.RemainingSlewNs(now + 32 * Second));
        Assert.Equal(0, d.Correction.RemainingSlewNs(now + 64 * Second));
        Assert.Equal(100_000_000, d.Correction.CorrectionNs(now + 64 * Second));

        // An offset far above its standard error: the noise term asks for less than the interval, the floor holds.
        var sure = New();
        sure.Update(now, 0.1, 0, 1e-7, nextUpdateSeconds: 64, sourceOffsetSdSeconds: 1e-6);
        Assert.Equal(64 * Second, sure.Correction.SlewDurationNs);
    }

    [Theory]
    // gap = sd: ratio / 2 intervals (chrony's corrtimeratio 3: 1.5 intervals).
    [InlineData(3.0, 20e-6, 20e-6, 16, 24.0)]
    // Twice the gap, half the time, but never under the interval.
    [InlineData(3.0, 40e-6, 20e-6, 16, 16.0)]
    // A gap of a tenth of the standard error: 15 intervals.
    [InlineData(3.0, 2e-6, 20e-6, 16, 240.0)]
    [InlineData(6.0, 10e-6, 20e-6, 1, 6.0)]
    // Ratio 0: every gap over one interval.
    [InlineData(0.0, 2e-6, 20e-6, 16, 16.0)]
    public void AGapOfTheSizeOfTheNoiseIsSlewedSlowlyAsChronyDoes(double ratio, double gap, double sd, double interval, double expectedSeconds)
    {
        var d = New(ratio: ratio);
        long now = Start + Second;
        var u = d.Update(now, gap, 0, 1e-7, nextUpdateSeconds: interval, sourceOffsetSdSeconds: sd);
        Assert.Equal(DisciplineAction.Slewed, u.Action);
        Near((long)(expectedSeconds * 1e9), d.Correction.SlewDurationNs, 1_000);
        // Linear: half the gap is left half-way.
        Near((long)(-gap * 0.5e9), d.Correction.RemainingSlewNs(now + d.Correction.SlewDurationNs / 2), 2);
    }

    [Fact]
    public void AGapFarBelowItsNoiseTakesTheLongestSlew()
    {
        var d = New(ratio: 3.0);
        d.Update(Start + Second, 1e-12, 0, 1e-7, nextUpdateSeconds: 64, sourceOffsetSdSeconds: 1e-3);
        Assert.Equal((long)(DisciplineSettings.MaxSlewSeconds * 1e9), d.Correction.SlewDurationNs);
    }

    [Fact]
    public void TheSlewTakesOffsetOverMaxSlewRateWhenThatIsLonger()
    {
        var d = New(maxSlewPpm: 500);
        long now = Start + Second;
        d.Update(now, 0.1, 0, 1e-7, nextUpdateSeconds: 64);

        Assert.Equal(200 * Second, d.Correction.SlewDurationNs); // 0.1 s / 500e-6
        Assert.Equal(0, d.Correction.RemainingSlewNs(now + 200 * Second));
        Assert.NotEqual(0, d.Correction.RemainingSlewNs(now + 199 * Second));
    }

    [Theory]
    [InlineData(0.5, 500)]
    [InlineData(-0.25, 1000)]
    [InlineData(0.002, 83_333)]
    public void TheServedRateNeverDepartsByMoreThanMaxSlewRate(double offset, double maxSlewPpm)
    {
        var d = New(maxSlewPpm: maxSlewPpm);
        long now = Start + Second;
        d.Update(now, 0.0, 30e-6, 1e-9, 1);     // a frequency to slew on top of
        d.Update(now + Second, offset, 30e-6, 1e-9, nextUpdateSeconds: 1);
        double frequency = d.FrequencyPpm * 1e-6;

        double steepest = 0;
        const long step = Second / 10;
        for (long t = now; t < now + 2000 * Second; t += step)
        {
            double rate = (d.Correction.CorrectionNs(t + step) - d.Correction.CorrectionNs(t)) / (double)step - frequency;
            steepest = Math.Max(steepest, Math.Abs(rate));
        }

        Assert.True(steepest <= maxSlewPpm * 1e-6 + 2e-8, $"rate departs by {steepest * 1e6:0.###} ppm");
        Assert.True(steepest >= 0.9 * Math.Min(maxSlewPpm * 1e-6, Math.Abs(offset)), $"it did slew: {steepest * 1e6:0.###} ppm");
        Near((long)(offset * 1e9), d.Correction.CorrectionNs(now + 3000 * Second) - (long)(frequency * 2999e9), 10);
    }

    [Fact]
    public void AMeasuredFrequencyOverridesTheUnknownOne()
    {
        var d = New(wander: 0);
        var u = d.Update(Start + Second, 0.0, 100e-6, 1e-7, 16);

        Assert.Equal(100, u.FrequencyPpm, 6);
        Assert.Equal(0.1, u.SkewPpm, 6);
        // The correction runs at the new frequency: 100 µs per second once the (zero) slew is done.
        Near(100_000, d.Correction.CorrectionNs(Start + 2 * Second) - d.Correction.CorrectionNs(Start + Second), 2);
    }

    [Fact]
    public void FrequenciesCombineWeightedByInverseSquaredSkew()
    {
        var d = New(wander: 0);
        d.Update(Start + Second, 0.0, 100e-6, 1e-7, 16);
        double skew1 = d.SkewPpm * 1e-6;

        // An equally good estimate of 110 ppm: the mean, and the skew shrinks by √2.
        var u = d.Update(Start + 17 * Second, 0.0, 110e-6, skew1, 16);
        Assert.Equal(105, u.FrequencyPpm, 4);
        Assert.Equal(skew1 * 1e6 / Math.Sqrt(2), u.SkewPpm, 6);

        // One three times as uncertain gets a ninth of the weight.
        var w = New(wander: 0);
        w.Update(Start + Second, 0.0, 100e-6, 1e-7, 16);
        double s = w.SkewPpm * 1e-6;
        var v = w.Update(Start + 17 * Second, 0.0, 110e-6, 3 * s, 16);
        Assert.Equal(100 + 10 * (1.0 / 9) / (1 + 1.0 / 9), v.FrequencyPpm, 4);
    }

    [Fact]
    public void TheOldEstimateLosesWeightWithTheWanderSinceTheLastUpdate()
    {
        var still = New(wander: 0);
        var wandering = New(wander: 1e-9);
        foreach (var d in new[] { still, wandering }) d.Update(Start + Second, 0.0, 100e-6, 1e-8, 16);

        still.Update(Start + 1001 * Second, 0.0, 110e-6, 1e-8, 16);
        wandering.Update(Start + 1001 * Second, 0.0, 110e-6, 1e-8, 16);

        // 1000 s of 1e-9/s wander grow the old skew from ~0.01 ppm to ~1 ppm: the new estimate wins.
        Assert.Equal(105, still.FrequencyPpm, 3);
        Assert.True(wandering.FrequencyPpm > 109.9, $"{wandering.FrequencyPpm}");
    }

    [Fact]
    public void AnInitialFrequencyIsAppliedFromTheStart()
    {
        var d = new ClockDiscipline(new DisciplineSettings(), Start, initialFrequencyPpm: -50, initialSkewPpm: 5);
        Assert.Equal(-50_000, d.Correction.CorrectionNs(Start + Second));
        Assert.Equal((-50.0, 5.0), (d.FrequencyPpm, d.SkewPpm));
    }

    [Fact]
    public void RmsOffsetIsOverAllUpdates()
    {
        var d = New(wander: 0);
        Assert.Equal(0, d.RmsOffsetSeconds);
        d.Update(Start + Second, -0.003, 0, 1e-7, 1);         // served 3 ms fast
        d.Update(Start + 100 * Second, 0.001, 0, 1e-7, 1);    // served (−3 ms) − 1 ms: 4 ms slow

        Assert.Equal(-0.004, d.LastOffsetSeconds, 9);
        Assert.Equal(Math.Sqrt((9e-6 + 16e-6) / 2), d.RmsOffsetSeconds, 9);
        Assert.Equal(2, d.Updates);
        Assert.Equal(Start + 100 * Second, d.LastUpdateNs);
    }
}
