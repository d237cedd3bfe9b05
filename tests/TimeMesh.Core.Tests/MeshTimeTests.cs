using TimeMesh.Core.Clock;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.Server;
using TimeMesh.Core.Sources;

namespace TimeMesh.Core.Tests;

public class MeshTimeTests
{
    private const long T0 = 1_795_490_474_000_000_000; // 2026-11-24, Unix ns

    private static ReferenceState Synced(double rootDelay = 0.002, double rootDispersion = 0.0005, double rate = NtpSourcePoller.Phi + 1e-6) => new()
    {
        Kind = ReferenceKind.Synchronised,
        Leap = LeapIndicator.NoWarning,
        Stratum = 3,
        ReferenceId = 0x7F000001,
        ReferenceTimeUnixNs = T0,
        RootDelaySeconds = rootDelay,
        RootDispersionSeconds = rootDispersion,
        DispersionRate = rate,
    };

    [Fact]
    public void AtTheUpdateTheBoundIsHalfTheRootDelayPlusTheRootDispersion()
    {
        var t = MeshTimeBound.At(T0, Synced(), Synced(), "akka.tcp://app@127.0.0.1:4053");
        Assert.True(t.Synchronised);
        Assert.Equal(0.001 + 0.0005, t.ErrorBoundSeconds, 12);
        Assert.Equal(1_500_000, t.ErrorBoundNs);
        Assert.Equal(T0 - 1_500_000, t.EarliestUnixNs);
        Assert.Equal(T0 + 1_500_000, t.LatestUnixNs);
        Assert.Equal(3, t.Stratum);
        Assert.Equal(T0, t.ReferenceTimeUnixNs);
        Assert.Equal("akka.tcp://app@127.0.0.1:4053", t.Leader);
    }

    [Fact]
    public void TheBoundGrowsAtPhiPlusSkewSinceTheUpdate()
    {
        var reference = Synced(rate: NtpSourcePoller.Phi + 2e-6);
        double at0 = MeshTimeBound.ErrorBoundSeconds(reference, T0);
        double at100 = MeshTimeBound.ErrorBoundSeconds(reference, T0 + 100_000_000_000);
        Assert.Equal(100 * 17e-6, at100 - at0, 12);
        // Time before the reference (a reading racing the update) does not shrink the bound.
        Assert.Equal(at0, MeshTimeBound.ErrorBoundSeconds(reference, T0 - 5_000_000_000), 15);
    }

    [Fact]
    public void NeverSynchronisedIsNotSynchronisedWithTheUnknownBound()
    {
        var t = MeshTimeBound.At(T0, ReferenceState.Unsynchronised, null, null);
        Assert.False(t.Synchronised);
        Assert.Equal(16, t.Stratum);
        Assert.Equal(MeshTimeBound.UnknownErrorBoundSeconds, t.ErrorBoundSeconds);
        Assert.Equal(T0 - 16_000_000_000, t.EarliestUnixNs);
        Assert.Equal(0, t.ReferenceTimeUnixNs);
        Assert.Null(t.Leader);
    }

    [Fact]
    public void LocalStratumIsNotSynchronisedAndItsZeroDispersionIsNotTrusted()
    {
        var t = MeshTimeBound.At(T0, ReferenceState.Local(10), null, null);
        Assert.False(t.Synchronised);
        Assert.Equal(10, t.Stratum);
        Assert.Equal(MeshTimeBound.UnknownErrorBoundSeconds, t.ErrorBoundSeconds);
    }

    [Fact]
    public void AfterLosingTheSourceTheLastReferenceKeepsBoundingTheClockInHoldover()
    {
        var last = Synced();
        long later = T0 + 3_600_000_000_000; // an hour
        var t = MeshTimeBound.At(later, ReferenceState.Local(10), last, null);
        Assert.False(t.Synchronised);
        Assert.Equal(10, t.Stratum);
        Assert.Equal(0.0015 + 3600 * (NtpSourcePoller.Phi + 1e-6), t.ErrorBoundSeconds, 12);
        Assert.Equal(T0, t.ReferenceTimeUnixNs);
    }

    [Fact]
    public void AHoldoverBeyondTheUnknownBoundIsCappedThere()
    {
        var t = MeshTimeBound.At(T0 + 30L * 86_400 * 1_000_000_000, ReferenceState.Unsynchronised, Synced(), null);
        Assert.Equal(MeshTimeBound.UnknownErrorBoundSeconds, t.ErrorBoundSeconds);
    }

    [Theory]
    [InlineData(double.NaN, 0.001)]
    [InlineData(0.001, double.NaN)]
    [InlineData(double.PositiveInfinity, 0.001)]
    [InlineData(-1.0, 0.0)]
    public void ACorruptReferenceGivesTheUnknownBoundNeverNaN(double rootDelay, double rootDispersion)
    {
        double bound = MeshTimeBound.ErrorBoundSeconds(Synced(rootDelay, rootDispersion), T0);
        Assert.Equal(MeshTimeBound.UnknownErrorBoundSeconds, bound);
    }

    [Fact]
    public void DateTimeViewsRoundOutwardsToTheTick()
    {
        var t = new MeshTime { NowUnixNs = T0 + 50, ErrorBoundSeconds = 120e-9, Synchronised = true, Stratum = 2 };
        // [T0 - 70, T0 + 170] ns: earliest rounds down to T0 - 100, latest up to T0 + 200.
        Assert.Equal(DateTime.UnixEpoch.AddTicks((T0 - 100) / 100), t.Earliest);
        Assert.Equal(DateTime.UnixEpoch.AddTicks((T0 + 200) / 100), t.Latest);
        Assert.Equal(DateTimeKind.Utc, t.Now.Kind);
        Assert.True(t.IsDefinitelyAfter(T0 - 71));
        Assert.False(t.IsDefinitelyAfter(T0 - 70));
        Assert.True(t.IsDefinitelyBefore(T0 + 171));
        Assert.False(t.IsDefinitelyBefore(T0 + 170));
    }
}
