using TimeMesh.Core.Mesh;

namespace TimeMesh.Core.Tests;

public class LeaderElectionTests
{
    private const long Second = 1_000_000_000;

    private static TimeStatus Master(string node, byte stratum, double distance, bool synced = true, uint refid = 0x7F000001) => new()
    {
        Node = node,
        Role = MeshRole.Master,
        NtpEndpoint = "127.0.0.1:123",
        Stratum = stratum,
        RootDistanceSeconds = distance,
        UpstreamSynchronised = synced,
        Serving = true,
        ReferenceId = refid,
    };

    private static TimeStatus Member(string node) => Master(node, 3, 0.001) with { Role = MeshRole.Member };

    [Fact]
    public void TheBetterStratumMasterLeads()
    {
        var e = new LeaderElection(new ElectionSettings());
        Assert.Equal("b", e.Elect([Master("a", 3, 0.001), Master("b", 2, 0.010), Member("m")], 0));
    }

    [Fact]
    public void MembersNeverLead()
    {
        var e = new LeaderElection(new ElectionSettings());
        Assert.Null(e.Elect([Member("m1"), Member("m2") with { Stratum = 1 }], 0));
    }

    [Fact]
    public void TiesGoToTheSmallestReferenceIdThenNodeName()
    {
        var e = new LeaderElection(new ElectionSettings());
        Assert.Equal("b", e.Elect([Master("a", 2, 0.005, refid: 9), Master("b", 2, 0.005, refid: 3)], 0));
        var e2 = new LeaderElection(new ElectionSettings());
        Assert.Equal("a", e2.Elect([Master("b", 2, 0.005), Master("a", 2, 0.005)], 0));
    }

    [Fact]
    public void WhenTheLeaderIsGoneTheOtherMasterLeadsAtOnce()
    {
        var e = new LeaderElection(new ElectionSettings());
        Assert.Equal("a", e.Elect([Master("a", 2, 0.001), Master("b", 2, 0.002)], 0));
        Assert.Equal("b", e.Elect([Master("b", 2, 0.002)], 1 * Second));
    }

    [Fact]
    public void LeadershipDoesNotFlapUnderJitter()
    {
        var e = new LeaderElection(new ElectionSettings { HysteresisSeconds = 10, DistanceMarginSeconds = 1e-3 });
        var random = new Random(5);
        e.Elect([Master("a", 2, 0.002), Master("b", 2, 0.002)], 0);
        string first = e.Leader!;
        int changes = 0;
        string? last = first;
        for (int t = 1; t < 10_000; t++)
        {
            // Both masters' distances jitter by ±0.8 ms around the same value, and sometimes one is better by more
            // than the margin, but never for 10 s in a row.
            double ja = 0.002 + (random.NextDouble() - 0.5) * 1.6e-3;
            double jb = 0.002 + (random.NextDouble() - 0.5) * 1.6e-3;
            var leader = e.Elect([Master("a", 2, ja), Master("b", 2, jb)], t * Second);
            if (leader != last) changes++;
            last = leader;
        }
        Assert.Equal(0, changes);
        Assert.Equal(first, e.Leader);
    }

    [Fact]
    public void AClearlyBetterMasterTakesOverAfterTheHysteresis()
    {
        var e = new LeaderElection(new ElectionSettings { HysteresisSeconds = 10 });
        e.Elect([Master("a", 3, 0.005)], 0);
        Assert.Equal("a", e.Elect([Master("a", 3, 0.005), Master("b", 2, 0.005)], 1 * Second));
        Assert.Equal("a", e.Elect([Master("a", 3, 0.005), Master("b", 2, 0.005)], 10 * Second));
        Assert.Equal("b", e.Elect([Master("a", 3, 0.005), Master("b", 2, 0.005)], 11 * Second));
    }

    [Fact]
    public void ASynchronisedMasterReplacesOneInHoldoverAtOnce()
    {
        var e = new LeaderElection(new ElectionSettings());
        e.Elect([Master("a", 2, 0.001), Master("b", 2, 0.002)], 0);
        Assert.Equal("b", e.Elect([Master("a", 10, 0, synced: false), Master("b", 2, 0.002)], Second));
    }

    [Fact]
    public void WithBothMastersInHoldoverTheMeshStillHasOneLeader()
    {
        var e = new LeaderElection(new ElectionSettings());
        var leader = e.Elect([Master("a", 10, 0, synced: false, refid: 0x7F7F0101), Master("b", 10, 0, synced: false, refid: 0x7F7F0101)], 0);
        Assert.Equal("a", leader);
        // And it stays, whatever order the statuses come in.
        Assert.Equal("a", e.Elect([Master("b", 10, 0, synced: false), Master("a", 10, 0, synced: false)], Second));
    }

    [Fact]
    public void NoServingMasterMeansNoLeader()
    {
        var e = new LeaderElection(new ElectionSettings());
        Assert.Null(e.Elect([Master("a", 16, 0, synced: false) with { Serving = false }], 0));
    }
}
