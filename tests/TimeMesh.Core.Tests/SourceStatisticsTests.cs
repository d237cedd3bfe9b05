using TimeMesh.Core.Protocol;
using TimeMesh.Core.Sources;

namespace TimeMesh.Core.Tests;

public class SourceStatisticsTests
{
    private const long Second = 1_000_000_000;
    private const long T0 = 1_800_000_000L * Second;

    private static NtpSample Sample(long timeNs, double offset, double delay = 0.010) =>
        new(timeNs, offset, delay, 1e-6, 0, 1e-4, 1, LeapIndicator.NoWarning, 0x47505300);

    /// <summary>Noise that alternates in sign: as many runs as samples, so the runs test never drops any.</summary>
    private static double Alternating(int i, double amplitude) => i % 2 == 0 ? amplitude : -amplitude;

    [Fact]
    public void OneSampleUsesThePriorFrequencyAndSkew()
    {
        var stats = new SourceStatistics();
        var e = stats.Add(Sample(T0, 0.010), priorFrequencySecondsPerSecond: 12e-6, priorSkewSecondsPerSecond: 3e-6);

        Assert.Equal(1, e.Samples);
        Assert.Equal(T0, e.TimeNs);
        Assert.Equal(0.010, e.OffsetSeconds, 12);
        Assert.Equal(12e-6, e.FrequencySecondsPerSecond);
        Assert.Equal(3e-6, e.SkewSecondsPerSecond);
        Assert.Equal(0.010 + 12e-6 * 100, e.OffsetAt(T0 + 100 * Second), 12);
    }

    [Fact]
    public void TwoSamplesCarryTheLessDelayedOneForwardOnThePriorFrequency()
    {
        var stats = new SourceStatistics();
        stats.Add(Sample(T0, 0.010, delay: 0.010), 1e-5, 1e-6);
        // The newer sample went through a queue: 40 ms more delay, and an offset to match.
        var e = stats.Add(Sample(T0 + 10 * Second, 0.030, delay: 0.050), 1e-5, 1e-6);

        Assert.Equal(2, e.Samples);
        Assert.Equal(T0 + 10 * Second, e.TimeNs);
        Assert.Equal(1e-5, e.FrequencySecondsPerSecond);
        // The first sample, moved 10 s on at 10 ppm; not the 30 ms of the delayed one.
        Assert.Equal(0.010 + 1e-4, e.OffsetSeconds, 12);
        Assert.Equal(10, e.SpanSeconds, 9);
        Assert.Equal(0.010, e.MinDelaySeconds);
    }

    [Fact]
    public void ThreeSamplesEstimateTheirOwnFrequency()
    {
        var stats = new SourceStatistics();
        SourceEstimate e = default;
        for (int i = 0; i < 3; i++) e = stats.Add(Sample(T0 + i * 16 * Second, 0.001 + 5e-5 * i * 16), 0, 2e-3);

        Assert.Equal(5e-5, e.FrequencySecondsPerSecond, 10);
        Assert.Equal(0.001 + 5e-5 * 32, e.OffsetSeconds, 10);
        Assert.Equal(3, e.Samples);
    }

    [Fact]
    public void EstimatesTheFrequencyOfAClock100PpmFast()
    {
        // The raw clock gains 100 µs per second: source − raw falls by 100 ppm. 0.1 ms of alternating noise.
        var stats = new SourceStatistics();
        SourceEstimate e = default;
        for (int i = 0; i < 40; i++)
        {
            long t = T0 + i * 16 * Second;
            e = stats.Add(Sample(t, 0.020 - 100e-6 * i * 16 + Alternating(i, 1e-4)), 0, 2e-3);
        }

        Assert.Equal(40, e.Samples);
        Assert.InRange(e.FrequencySecondsPerSecond, -100e-6 - 0.2e-6, -100e-6 + 0.2e-6);
        Assert.InRange(e.SkewSecondsPerSecond, 1e-9, 0.2e-6);
        Assert.InRange(e.OffsetSeconds, 0.020 - 100e-6 * 39 * 16 - 1.2e-4, 0.020 - 100e-6 * 39 * 16 + 1.2e-4);
        Assert.InRange(e.StdDev, 0.5e-4, 1.5e-4);
        Assert.Equal(39 * 16, e.SpanSeconds, 9);
    }

    [Fact]
    public void AStrayDelayedSampleIsWeightedDown()
    {
        var stats = new SourceStatistics();
        SourceEstimate e = default;
        for (int i = 0; i < 20; i++)
        {
            long t = T0 + i * 16 * Second;
            bool stray = i == 15;
            // The stray one waited 100 ms in a queue on the way back: its offset is 50 ms low.
            e = stats.Add(Sample(t, stray ? -0.050 : 0.0 + Alternating(i, 1e-5), delay: stray ? 0.110 : 0.010), 0, 2e-3);
        }

        Assert.Equal(20, e.Samples);
        Assert.InRange(e.OffsetSeconds, -2e-4, 2e-4);
        Assert.InRange(e.FrequencySecondsPerSecond, -1e-6, 1e-6);
    }

    /// <summary>
    /// chrony's weights: a sample's variance grows as (1 + 0.7 × excess distance / scale)², the scale being the mean
    /// excess distance. Two groups of samples, three quick ones at offset 0 for each one 2 ms slower and 100 µs high:
    /// the estimate stays near the quick ones.
    /// </summary>
    [Fact]
    public void SamplesWithALongerRoundTripCountLessAsChronysWeightsSay()
    {
        var stats = new SourceStatistics();
        SourceEstimate e = default;
        for (int i = 0; i < 40; i++)
        {
            bool slow = i % 4 == 3;
            e = stats.Add(Sample(T0 + i * Second, slow ? 100e-6 : 0, delay: slow ? 0.0021 : 0.0001), 0, 2e-3);
        }
        // Quick: distance 50 µs; slow: 1.05 ms. Scale: mean excess 250 µs > 50 µs, so 50 µs: weight of a slow one
        // 1/(1 + 0.7 × 1 ms / 50 µs)² = 1/225: ten slow ones pull 100 µs × (10/225) / 30.04 = 0.15 µs. (Squaring the excess
        // over its mean, 1/(1 + 4²), pulled 1.9 µs.)
        Assert.InRange(e.OffsetSeconds, 0, 0.5e-6);
        Assert.Equal(40, e.Samples);
    }

    [Fact]
    public void KeepsAtMostDefaultMaxSamples()
    {
        var stats = new SourceStatistics();
        for (int i = 0; i < 100; i++)
            stats.Add(Sample(T0 + i * 64 * Second, 0.005 + Alternating(i, 1e-5)), 0, 2e-3);

        Assert.Equal(SourceStatistics.DefaultMaxSamples, stats.Samples.Count);
        Assert.Equal(64, stats.Estimate!.Value.Samples);
        // The oldest 36 are gone; the newest is the last added.
        Assert.Equal(T0 + 36 * 64 * Second, stats.Samples[0].LocalTimeNs);
        Assert.Equal(T0 + 99 * 64 * Second, stats.Last!.Value.LocalTimeNs);
        Assert.Equal(63 * 64, stats.Estimate!.Value.SpanSeconds, 9);
    }

    [Fact]
    public void ASmallerCapIsHonoured()
    {
        var stats = new SourceStatistics(maxSamples: 8);
        for (int i = 0; i < 20; i++) stats.Add(Sample(T0 + i * Second, Alternating(i, 1e-5)), 0, 2e-3);

        Assert.Equal(8, stats.Samples.Count);
        Assert.Equal(T0 + 12 * Second, stats.Samples[0].LocalTimeNs);
    }

    [Fact]
    public void AnOutOfOrderSampleStartsOver()
    {
        var stats = new SourceStatistics();
        for (int i = 0; i < 6; i++) stats.Add(Sample(T0 + i * 16 * Second, 0.001 + Alternating(i, 1e-5)), 0, 2e-3);
        Assert.Equal(6, stats.Samples.Count);

        // The raw clock went back: the new sample is older than the newest held.
        var e = stats.Add(Sample(T0 + 40 * Second, 0.2), 7e-6, 1e-6);

        Assert.Single(stats.Samples);
        Assert.Equal(1, e.Samples);
        Assert.Equal(0.2, e.OffsetSeconds, 12);
        Assert.Equal(7e-6, e.FrequencySecondsPerSecond);
    }

    [Fact]
    public void ASampleAtTheSameInstantAlsoStartsOver()
    {
        var stats = new SourceStatistics();
        stats.Add(Sample(T0, 0.001), 0, 2e-3);
        stats.Add(Sample(T0 + Second, 0.001), 0, 2e-3);
        stats.Add(Sample(T0 + Second, 0.003), 0, 2e-3);

        Assert.Single(stats.Samples);
        Assert.Equal(0.003, stats.Last!.Value.OffsetSeconds);
    }

    [Fact]
    public void ShiftOffsetsMovesEverySampleAndTheEstimate()
    {
        var stats = new SourceStatistics();
        for (int i = 0; i < 10; i++) stats.Add(Sample(T0 + i * 16 * Second, 0.001 + 2e-5 * i * 16 + Alternating(i, 1e-5)), 0, 2e-3);
        var before = stats.Estimate!.Value;
        double[] offsets = stats.Samples.Select(s => s.OffsetSeconds).ToArray();

        stats.ShiftOffsets(-0.5);

        var after = stats.Estimate!.Value;
        Assert.Equal(offsets.Select(o => o - 0.5), stats.Samples.Select(s => s.OffsetSeconds));
        Assert.Equal(before.OffsetSeconds - 0.5, after.OffsetSeconds, 12);
        Assert.Equal(before.FrequencySecondsPerSecond, after.FrequencySecondsPerSecond);
        Assert.Equal(before.Samples, after.Samples);

        // The next sample fits the shifted line: nothing is dropped and the frequency holds.
        var next = stats.Add(Sample(T0 + 10 * 16 * Second, 0.001 + 2e-5 * 160 - 0.5 + Alternating(10, 1e-5)), 0, 2e-3);
        Assert.Equal(11, next.Samples);
        Assert.Equal(2e-5, next.FrequencySecondsPerSecond, 7);
    }

    [Fact]
    public void ShiftOffsetsOfAnEmptyHistoryDoesNothing()
    {
        var stats = new SourceStatistics();
        stats.ShiftOffsets(1.0);
        Assert.Null(stats.Estimate);
        Assert.Empty(stats.Samples);
    }

    [Fact]
    public void AFrequencyChangeDropsTheOldSamplesForGood()
    {
        var stats = new SourceStatistics();
        SourceEstimate e = default;
        // 30 samples at 0 ppm, then 20 at +50 ppm (the raw clock's oscillator warmed up).
        for (int i = 0; i < 50; i++)
        {
            long t = T0 + i * 16 * Second;
            double offset = (i < 30 ? 0 : 50e-6 * (i - 29) * 16) + Alternating(i, 1e-6);
            e = stats.Add(Sample(t, offset), 0, 2e-3);
        }

        Assert.True(e.Samples <= 25, $"samples {e.Samples}");
        Assert.Equal(e.Samples, stats.Samples.Count);
        Assert.Equal(50e-6, e.FrequencySecondsPerSecond, 7);
    }

    /// <summary>Twelve samples one second apart: offsets 20 µs ± 5 µs, delays 50–58 µs.</summary>
    private static SourceStatistics SteadyPath()
    {
        var stats = new SourceStatistics();
        for (int i = 0; i < 12; i++)
        {
            var sample = Sample(T0 + i * Second, 20e-6 + Alternating(i, 5e-6), delay: 50e-6 + (i % 3) * 4e-6);
            Assert.True(stats.PassesDelayTests(sample));
            stats.Add(sample, 0, 1e-6);
        }
        return stats;
    }

    [Fact]
    public void AReplyHeldInAStoppedServersQueueIsRejectedByItsDelay()
    {
        // A server stopped for 2 s answers a queued request with a receive timestamp taken after the pause:
        // the round trip reads 1.2 s and the offset +0.6 s.
        var stats = SteadyPath();
        var queued = Sample(T0 + 12 * Second, 0.6, delay: 1.2);

        Assert.False(stats.PassesDelayTests(queued));
        Assert.Equal(1, stats.DelayRejections);
        Assert.Equal(1, stats.DelayRejectionsInARow);
        // The next ordinary sample passes and ends the run of rejections.
        Assert.True(stats.PassesDelayTests(Sample(T0 + 13 * Second, 21e-6, delay: 52e-6)));
        Assert.Equal(0, stats.DelayRejectionsInARow);
    }

    [Fact]
    public void ASlightlySlowerReplyStillPasses()
    {
        var stats = SteadyPath();
        // 40 µs more round trip (20 µs each way) against a 5 µs standard deviation: within 10 of them.
        Assert.True(stats.PassesDelayTests(Sample(T0 + 12 * Second, 25e-6, delay: 90e-6)));
        // 400 µs more: not.
        Assert.False(stats.PassesDelayTests(Sample(T0 + 12 * Second, 25e-6, delay: 450e-6)));
    }

    [Fact]
    public void AnOffsetChangeLargerThanTheExtraDelayCanExplainPasses()
    {
        // The clock really moved by 5 ms; the reply was also 1 ms slower. The extra delay explains at most
        // 0.5 ms of the change, so the sample is news about the clock, not about the path.
        var stats = SteadyPath();
        Assert.True(stats.PassesDelayTests(Sample(T0 + 12 * Second, 5e-3, delay: 1.05e-3)));
    }

    [Fact]
    public void APathThatStaysSlowerIsTakenAfterEightRejections()
    {
        var stats = SteadyPath();
        for (int i = 0; i < SourceStatistics.MaxDelayRejectionsInARow; i++)
            Assert.False(stats.PassesDelayTests(Sample(T0 + (12 + i) * Second, 300e-6, delay: 650e-6)));
        Assert.True(stats.PassesDelayTests(Sample(T0 + 20 * Second, 300e-6, delay: 650e-6)));
        Assert.Equal(SourceStatistics.MaxDelayRejectionsInARow, stats.DelayRejections);
    }

    [Fact]
    public void ARoundTripOverThreeSecondsIsNeverUsed()
    {
        var stats = new SourceStatistics();
        Assert.False(stats.PassesDelayTests(Sample(T0, 0.010, delay: 3.1)));
        for (int i = 0; i < 20; i++) Assert.False(stats.PassesDelayTests(Sample(T0 + i * Second, 1.5, delay: 3.1)));
        Assert.True(stats.PassesDelayTests(Sample(T0, 0.010, delay: 2.9)));
    }
}
