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

    /// <summary>
    /// A little mesh on virtual time: every node runs its own election on everyone's statuses each
    /// round (one status interval) and its next status carries its claim.
    /// </summary>
    private sealed class Mesh(ElectionSettings settings, params TimeStatus[] nodes)
    {
        public readonly Dictionary<string, TimeStatus> Statuses = nodes.ToDictionary(n => n.Node);
        private readonly Dictionary<string, LeaderElection> _elections = nodes.ToDictionary(n => n.Node, _ => new LeaderElection(settings));
        public long Now;

        /// <summary>Runs a round and returns every node's view of the leader.</summary>
        public Dictionary<string, string?> Round(Func<TimeStatus, TimeStatus>? update = null)
        {
            Now += Second;
            if (update is not null) foreach (var k in Statuses.Keys.ToList()) Statuses[k] = update(Statuses[k]);
            var views = new Dictionary<string, string?>();
            var claims = new Dictionary<string, bool>();
            foreach (var (node, election) in _elections)
            {
                if (!Statuses.ContainsKey(node)) continue;
                views[node] = election.Elect(Statuses.Values, Now, node);
                claims[node] = election.ShouldClaim;
            }
            foreach (var (node, claim) in claims) Statuses[node] = Statuses[node] with { ClaimsLeadership = claim };
            return views;
        }

        public string? Agreed(int rounds = 3, Func<TimeStatus, TimeStatus>? update = null)
        {
            Dictionary<string, string?> views = new();
            for (int i = 0; i < rounds; i++) views = Round(update);
            Assert.Single(views.Values.Distinct());
            return views.Values.First();
        }

        public void Crash(string node) => Statuses.Remove(node);

        public void Join(TimeStatus node)
        {
            Statuses[node.Node] = node;
            _elections[node.Node] = new LeaderElection(settings);
        }
    }

    [Fact]
    public void TheBetterStratumMasterLeads()
    {
        var mesh = new Mesh(new ElectionSettings(), Master("a", 3, 0.001), Master("b", 2, 0.010), Member("m"));
        Assert.Equal("b", mesh.Agreed());
        Assert.True(mesh.Statuses["b"].ClaimsLeadership);
        Assert.False(mesh.Statuses["a"].ClaimsLeadership);
    }

    [Fact]
    public void MembersNeverLead()
    {
        var mesh = new Mesh(new ElectionSettings(), Member("m1"), Member("m2") with { Stratum = 1 });
        Assert.Null(mesh.Agreed());
    }

    [Fact]
    public void TiesGoToTheSmallestReferenceIdThenNodeName()
    {
        Assert.Equal("b", new Mesh(new ElectionSettings(), Master("a", 2, 0.005, refid: 9), Master("b", 2, 0.005, refid: 3)).Agreed());
        Assert.Equal("a", new Mesh(new ElectionSettings(), Master("b", 2, 0.005), Master("a", 2, 0.005)).Agreed());
    }

    [Fact]
    public void NodesThatStartedWithDifferentViewsConverge()
    {
        // Both masters claimed while each saw only itself; once they see each other, rank decides.
        var mesh = new Mesh(new ElectionSettings(), Master("a", 2, 0.005) with { ClaimsLeadership = true },
            Master("b", 2, 0.004) with { ClaimsLeadership = true }, Member("m"));
        Assert.Equal("b", mesh.Agreed(5)); // b is closer (4 ms vs 5 ms)
        Assert.Single(mesh.Statuses.Values, s => s.ClaimsLeadership);
    }

    [Fact]
    public void WhenTheLeaderIsGoneTheOtherMasterLeadsAtOnce()
    {
        var mesh = new Mesh(new ElectionSettings(), Master("a", 2, 0.001), Master("b", 2, 0.002), Member("m"));
        Assert.Equal("a", mesh.Agreed());
        mesh.Crash("a");
        var views = mesh.Round();
        Assert.Equal("b", views["b"]);
        Assert.Equal("b", views["m"]);
    }

    [Fact]
    public void LeadershipDoesNotFlapUnderJitter()
    {
        var mesh = new Mesh(new ElectionSettings { HysteresisSeconds = 10, DistanceMarginSeconds = 1e-3 },
            Master("a", 2, 0.002), Master("b", 2, 0.002), Member("m"));
        string first = mesh.Agreed()!;
        var random = new Random(5);
        int changes = 0;
        string? last = first;
        for (int t = 0; t < 10_000; t++)
        {
            // Distances jitter by ±0.8 ms: sometimes one is better by more than the margin, never for 10 s running.
            var views = mesh.Round(s => s.Role == MeshRole.Master ? s with { RootDistanceSeconds = 0.002 + (random.NextDouble() - 0.5) * 1.6e-3 } : s);
            Assert.Single(views.Values.Distinct());
            if (views["m"] != last) changes++;
            last = views["m"];
        }
        Assert.Equal(0, changes);
    }

    [Fact]
    public void AClearlyBetterMasterTakesOverAfterTheHysteresis()
    {
        var mesh = new Mesh(new ElectionSettings { HysteresisSeconds = 10 }, Master("a", 3, 0.005), Member("m"));
        Assert.Equal("a", mesh.Agreed());
        mesh.Join(Master("b", 2, 0.005));
        // b joins with a better stratum: a keeps leading until b has been better for the hysteresis time.
        int roundsUntilB = 0;
        while (mesh.Round().Values.Distinct().Single() != "b" && roundsUntilB < 100) roundsUntilB++;
        Assert.InRange(roundsUntilB, 9, 12);
    }

    [Fact]
    public void ASynchronisedMasterReplacesOneInHoldoverAtOnce()
    {
        var mesh = new Mesh(new ElectionSettings(), Master("a", 2, 0.001), Master("b", 2, 0.002));
        Assert.Equal("a", mesh.Agreed());
        mesh.Statuses["a"] = Master("a", 10, 0, synced: false) with { ClaimsLeadership = true };
        Assert.Equal("b", mesh.Agreed(2));
    }

    [Fact]
    public void WithBothMastersInHoldoverTheMeshStillHasOneLeader()
    {
        var mesh = new Mesh(new ElectionSettings(), Master("a", 10, 0, synced: false, refid: 0x7F7F0101),
            Master("b", 10, 0, synced: false, refid: 0x7F7F0101), Member("m"));
        Assert.Equal("a", mesh.Agreed(5));
    }

    [Fact]
    public void NoServingMasterMeansNoLeader()
    {
        var mesh = new Mesh(new ElectionSettings(), Master("a", 16, 0, synced: false) with { Serving = false });
        Assert.Null(mesh.Agreed());
    }
}
