using TimeMesh.Core.History;

namespace TimeMesh.Core.Tests;

public class TrackingHistoryTests
{
    private const long Second = 1_000_000_000;

    private static HistorySample Sample(long seconds, double offset = 0, double frequency = 0, double rootDistance = 0.001,
        byte stratum = 2, string? leader = null) => new()
    {
        TimeUnixNs = seconds * Second,
        LastOffsetSeconds = offset,
        FrequencyPpm = frequency,
        SkewPpm = 0.01,
        RootDistanceSeconds = rootDistance,
        Stratum = stratum,
        Synchronised = true,
        Source = "127.0.0.1:123",
        Leader = leader,
    };

    [Fact]
    public void HoldsSamplesOldestFirstUntilFull()
    {
        var history = new TrackingHistory(4);
        for (int i = 0; i < 3; i++) history.Add(Sample(i));
        Assert.Equal(3, history.Count);
        Assert.Equal([0L, 1, 2], Enumerable.Range(0, 3).Select(i => history[i].TimeUnixNs / Second));
        Assert.Throws<ArgumentOutOfRangeException>(() => history[3]);
        Assert.Throws<ArgumentOutOfRangeException>(() => history[-1]);
    }

    [Fact]
    public void WrapsAroundOverwritingTheOldestAndNeverGrows()
    {
        var history = new TrackingHistory(5);
        for (int i = 0; i < 23; i++) history.Add(Sample(i, offset: i * 1e-6));
        Assert.Equal(5, history.Count);
        Assert.Equal(5, history.Capacity);
        Assert.Equal(23, history.Added);
        // The last five, oldest first, across the wrap point (23 mod 5 = 3).
        Assert.Equal([18L, 19, 20, 21, 22], Enumerable.Range(0, 5).Select(i => history[i].TimeUnixNs / Second));
        Assert.Equal(22e-6, history[4].LastOffsetSeconds, 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => history[5]);
    }

    [Fact]
    public void ACapacityOfOneKeepsTheNewest()
    {
        var history = new TrackingHistory(1);
        history.Add(Sample(1));
        history.Add(Sample(2, leader: "b"));
        Assert.Equal(1, history.Count);
        Assert.Equal("b", history[0].Leader);
    }

    [Fact]
    public void AddingAllocatesNothingOnceTheRingExists()
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var history = new TrackingHistory(5400);
        long ring = GC.GetAllocatedBytesForCurrentThread() - before;
        var sample = Sample(0, leader: "akka.tcp://timemesh@127.0.0.1:4053");
        for (int i = 0; i < 1000; i++) history.Add(sample with { TimeUnixNs = i });
        const int adds = 20_000;
        long start = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < adds; i++) history.Add(sample with { TimeUnixNs = i, LastOffsetSeconds = i * 1e-9 });
        long allocated = GC.GetAllocatedBytesForCurrentThread() - start;
        // Not exactly 0: the runtime may allocate a little on this thread while it recompiles the loop (CI saw
        // 1 224 bytes once). One object per add would be at least 24 bytes each, 480 000 in all; the bound is a
        // byte per add, far below that.
        Assert.True(allocated < adds, $"{allocated} bytes over {adds} adds");
        Assert.Equal(5400, history.Count);
        // A day at one sample every 16 s: well under half a megabyte (the strings are shared, not copied).
        Assert.InRange(ring, 5400 * 40, 400_000);
    }

    [Fact]
    public void RejectsAnEmptyRing() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new TrackingHistory(0));

    [Fact]
    public void SinceReturnsTheSamplesInTheWindowAcrossTheWrapPoint()
    {
        var history = new TrackingHistory(10);
        for (int i = 0; i < 27; i++) history.Add(Sample(i * 16));
        // Held: 17..26 → times 272..416 s.
        var window = history.Since(300 * Second);
        Assert.Equal([304L, 320, 336, 352, 368, 384, 400, 416], window.Select(s => s.TimeUnixNs / Second));
        Assert.Equal(10, history.Since(0).Length);
        Assert.Empty(history.Since(417 * Second));
        Assert.Single(history.Since(416 * Second));
        Assert.Empty(new TrackingHistory(3).Since(0));
    }

    [Fact]
    public void SinceStopsAtABackwardStepOfTheClock()
    {
        var history = new TrackingHistory(10);
        foreach (long t in new long[] { 100, 110, 120, 50, 60 }) history.Add(Sample(t));
        Assert.Equal([50L, 60], history.Since(40 * Second).Select(s => s.TimeUnixNs / Second));
    }

    [Fact]
    public void DownsampleLeavesFewSamplesAlone()
    {
        var samples = Enumerable.Range(0, 7).Select(i => Sample(i)).ToArray();
        Assert.Equal(samples, TrackingHistory.Downsample(samples, 7));
        Assert.Equal(samples, TrackingHistory.Downsample(samples, 100));
        Assert.Empty(TrackingHistory.Downsample([], 5));
    }

    [Fact]
    public void DownsampleMergesEqualGroupsIntoAtMostMaxPoints()
    {
        // 10 samples into at most 4 points: groups of 3 → 4 points (3, 3, 3, 1).
        var samples = Enumerable.Range(0, 10)
            .Select(i => Sample(i, offset: i * 1e-6, frequency: 10 + i, rootDistance: i == 4 ? 0.5 : 0.001, stratum: (byte)(2 + i), leader: "n" + i))
            .ToArray();
        var points = TrackingHistory.Downsample(samples, 4);
        Assert.Equal(4, points.Length);
        Assert.Equal([2L, 5, 8, 9], points.Select(p => p.TimeUnixNs / Second));
        Assert.Equal(1e-6, points[0].LastOffsetSeconds, 12);
        Assert.Equal(4e-6, points[1].LastOffsetSeconds, 12);
        Assert.Equal(9e-6, points[3].LastOffsetSeconds, 12);
        Assert.Equal(14.0, points[1].FrequencyPpm, 9);
        // The worst root distance of the group survives; state comes from the group's last sample.
        Assert.Equal(0.5, points[1].RootDistanceSeconds);
        Assert.Equal(0.001, points[0].RootDistanceSeconds);
        Assert.Equal(7, points[1].Stratum);
        Assert.Equal("n5", points[1].Leader);
    }

    [Fact]
    public void DownsampleLeavesUnknownValuesOutOfTheMeans()
    {
        var samples = new[]
        {
            Sample(0, offset: double.NaN, frequency: double.NaN),
            Sample(1, offset: 2e-6, frequency: double.NaN),
            Sample(2, offset: double.NaN, frequency: double.NaN),
            Sample(3, offset: double.NaN, frequency: double.NaN),
        };
        var points = TrackingHistory.Downsample(samples, 2);
        Assert.Equal(2e-6, points[0].LastOffsetSeconds, 12);
        Assert.True(double.IsNaN(points[0].FrequencyPpm));
        Assert.True(double.IsNaN(points[1].LastOffsetSeconds));
        Assert.Throws<ArgumentOutOfRangeException>(() => TrackingHistory.Downsample(samples, 0));
    }

    [Fact]
    public void DownsampleNeverExceedsMaxPoints()
    {
        var rng = new Random(5);
        for (int round = 0; round < 500; round++)
        {
            int count = rng.Next(0, 3000), max = rng.Next(1, 700);
            var samples = Enumerable.Range(0, count).Select(i => Sample(i)).ToArray();
            var points = TrackingHistory.Downsample(samples, max);
            Assert.True(points.Length <= max, $"{count} samples, max {max}: {points.Length} points");
            // Equal groups may leave fewer points than allowed, but never fewer than half (the plot keeps its detail).
            Assert.True(2 * points.Length >= Math.Min(count, max), $"{count} samples, max {max}: only {points.Length} points");
            if (count > 0) Assert.Equal(samples[^1].TimeUnixNs, points[^1].TimeUnixNs);
        }
    }
}
