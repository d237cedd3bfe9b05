using System.Net;
using TimeMesh.Core.Mesh;

namespace TimeMesh.Core.Tests;

/// <summary>The follow policy, case by case (docs/mesh.md, "Following").</summary>
public class MeshFollowingTests
{
    private static readonly IPEndPoint A = IPEndPoint.Parse("10.0.0.11:123"), B = IPEndPoint.Parse("10.0.0.12:123"),
        Stranger = IPEndPoint.Parse("10.0.0.99:123"), Member = IPEndPoint.Parse("10.0.0.21:123");

    [Fact]
    public void AMemberWithPinnedMastersPollsThemAllEvenInNoCluster()
    {
        var plan = MeshFollowing.Plan(MeshRole.Member, [A, B], advertised: [], leader: null, self: Member, upstreamSelected: false);
        Assert.Equal([A, B], plan.Sources);
        Assert.Null(plan.Preferred);
    }

    [Fact]
    public void AMemberPrefersThePinnedLeaderAndKeepsTheOtherMasterWarm()
    {
        var plan = MeshFollowing.Plan(MeshRole.Member, [A, B], advertised: [A, B], leader: B, self: Member, upstreamSelected: false);
        Assert.Equal([A, B], plan.Sources);
        Assert.Equal(B, plan.Preferred);
    }

    [Fact]
    public void AMemberKeepsPollingAPinnedMasterTheClusterNoLongerAdvertises()
    {
        // The cluster lost sight of A (unreachable, downed, or this node was cut off): A still answers NTP maybe.
        var plan = MeshFollowing.Plan(MeshRole.Member, [A, B], advertised: [B], leader: B, self: Member, upstreamSelected: false);
        Assert.Equal([A, B], plan.Sources);
        Assert.Equal(B, plan.Preferred);
    }

    [Fact]
    public void AMasterTheConfigDoesNotNameIsNeverPolledNorPreferred()
    {
        var plan = MeshFollowing.Plan(MeshRole.Member, [A, B], advertised: [A, B, Stranger], leader: Stranger, self: Member, upstreamSelected: false);
        Assert.Equal([A, B], plan.Sources);
        Assert.Null(plan.Preferred);
    }

    [Fact]
    public void WithoutPinnedMastersAMemberFollowsWhatTheClusterAdvertises()
    {
        var plan = MeshFollowing.Plan(MeshRole.Member, [], advertised: [B, A], leader: A, self: Member, upstreamSelected: false);
        Assert.Equal([A, B], plan.Sources);
        Assert.Equal(A, plan.Preferred);
        Assert.Equal(FollowPlan.None.Sources, MeshFollowing.Plan(MeshRole.Member, [], [], null, Member, false).Sources);
    }

    [Fact]
    public void AMasterWithUpstreamFollowsNobody()
    {
        Assert.Empty(MeshFollowing.Plan(MeshRole.Master, [A, B], advertised: [A, B], leader: B, self: A, upstreamSelected: true).Sources);
    }

    [Fact]
    public void AMasterWithoutUpstreamFollowsTheLeaderOnlyAndNeverItself()
    {
        var plan = MeshFollowing.Plan(MeshRole.Master, [A, B], advertised: [A, B], leader: B, self: A, upstreamSelected: false);
        Assert.Equal([B], plan.Sources);
        Assert.Null(plan.Preferred);
        Assert.Empty(MeshFollowing.Plan(MeshRole.Master, [A, B], advertised: [A, B], leader: A, self: A, upstreamSelected: false).Sources);
    }

    [Fact]
    public void AMasterInNoClusterHoldsOverAlone()
    {
        // No leader is known outside a cluster; two masters in holdover polling each other would make a timing loop.
        Assert.Empty(MeshFollowing.Plan(MeshRole.Master, [A, B], advertised: [], leader: null, self: A, upstreamSelected: false).Sources);
    }

    [Fact]
    public void AMasterDoesNotFollowALeaderTheConfigDoesNotName()
    {
        Assert.Empty(MeshFollowing.Plan(MeshRole.Master, [A, B], advertised: [A, B, Stranger], leader: Stranger, self: A, upstreamSelected: false).Sources);
    }

    [Fact]
    public void AMemberNeverPollsItself()
    {
        Assert.Equal([B], MeshFollowing.Plan(MeshRole.Member, [A, B], advertised: [], leader: A, self: A, upstreamSelected: false).Sources);
    }

    [Fact]
    public void ALeaderServingAWorseStratumThanAnotherMasterIsNotPreferred()
    {
        // The leader just restarted: its NTP answers at its local stratum 10 while the cluster still names it.
        var plan = MeshFollowing.Plan(MeshRole.Member, [A, B], [A, B], leader: A, self: Member, upstreamSelected: false,
            servedStrata: new Dictionary<IPEndPoint, int> { [A] = 10, [B] = 2 });
        Assert.Equal([A, B], plan.Sources);
        Assert.Null(plan.Preferred);
        Assert.Equal([A], plan.Demoted);
        // At an equal stratum it is preferred again.
        Assert.Equal(A, MeshFollowing.Plan(MeshRole.Member, [A, B], [A, B], A, Member, false, new Dictionary<IPEndPoint, int> { [A] = 2, [B] = 2 }).Preferred);
        // A master that does not answer does not count against it.
        Assert.Equal(A, MeshFollowing.Plan(MeshRole.Member, [A, B], [A, B], A, Member, false, new Dictionary<IPEndPoint, int> { [A] = 3 }).Preferred);
    }
}
