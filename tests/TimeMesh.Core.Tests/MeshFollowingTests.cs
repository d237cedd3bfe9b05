using System.Net;
using TimeMesh.Core.Mesh;

namespace TimeMesh.Core.Tests;

/// <summary>
/// The follow policy, case by case: docs/mesh.md's "Following", each row of its split-brain table as the nodes on
/// each side see it, and the newer rules (pinned masters polled whatever the membership, a member's start quorum,
/// untrusted and uncertified masters never followed).
/// </summary>
public class MeshFollowingTests
{
    private static readonly IPEndPoint A = IPEndPoint.Parse("10.0.0.11:123"), B = IPEndPoint.Parse("10.0.0.12:123"),
        Stranger = IPEndPoint.Parse("10.0.0.99:123"), Rogue = IPEndPoint.Parse("10.0.0.66:123"), Member = IPEndPoint.Parse("10.0.0.21:123");

    // Also the table's cut-off member ("2 masters + 1 member", "masters | members"): it polls every master it may reach.
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

    // Also the table's "2 masters + 1 member | the leader crashes": the other master preferred, the dead one still polled.
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

    // Also "both masters lose upstream": one holds over and leads, the other follows it.
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

    // Table, "2 masters | the older master crashes or is cut off": both masters serve their own upstream time throughout.
    [Theory]
    [InlineData(true)]   // the survivor, alone in a cluster of its own and leading
    [InlineData(false)]  // the cut-off one, in no cluster
    public void TwoMastersWithUpstreamFollowNobodyWhicheverSideTheyAreOn(bool survivor)
    {
        var self = survivor ? B : A;
        var plan = MeshFollowing.Plan(MeshRole.Master, [A, B], advertised: survivor ? [B] : [], leader: survivor ? B : null, self, upstreamSelected: true);
        Assert.Same(FollowPlan.None.Sources, plan.Sources);
        Assert.Null(plan.Preferred);
    }

    // Table, "any | both sides end up with a cluster": each side's member prefers its own side's leader, polls both.
    [Theory]
    [InlineData("10.0.0.11:123")]
    [InlineData("10.0.0.12:123")]
    public void OnEachSideOfASplitAMemberPrefersItsSidesLeader(string leader)
    {
        var l = IPEndPoint.Parse(leader);
        var plan = MeshFollowing.Plan(MeshRole.Member, [A, B], advertised: [l], leader: l, self: Member, upstreamSelected: false);
        Assert.Equal([A, B], plan.Sources);
        Assert.Equal(l, plan.Preferred);
    }

    // "A member's first time comes from a majority of its masters": three or more pinned masters.
    [Theory]
    [InlineData(MeshRole.Member, 0, 0)]
    [InlineData(MeshRole.Member, 1, 0)]
    [InlineData(MeshRole.Member, 2, 0)]
    [InlineData(MeshRole.Member, 3, 2)]
    [InlineData(MeshRole.Member, 4, 3)]
    [InlineData(MeshRole.Member, 5, 3)]
    [InlineData(MeshRole.Master, 3, 0)]
    public void AMembersFirstTimeWaitsForAMajorityOfThreeOrMorePinnedMasters(MeshRole role, int pinned, int quorum)
    {
        Assert.Equal(quorum, MeshFollowing.StartQuorum(role, pinned));
    }

    [Fact]
    public void TheAdvertisedMastersAreTheOtherServingMastersInNodeOrder()
    {
        TimeStatus Status(string node, MeshRole role, string ntp, bool serving = true) => new()
        {
            Node = node, Role = role, NtpEndpoint = ntp, Stratum = 2, RootDistanceSeconds = 0, UpstreamSynchronised = true,
            Serving = serving, ReferenceId = 0,
        };
        var statuses = new[]
        {
            Status("akka.tcp://timemesh@10.0.0.12:4053", MeshRole.Master, B.ToString()),
            Status("akka.tcp://timemesh@10.0.0.11:4053", MeshRole.Master, A.ToString()),
            Status("akka.tcp://timemesh@10.0.0.13:4053", MeshRole.Master, "10.0.0.13:123", serving: false),
            Status("akka.tcp://timemesh@10.0.0.14:4053", MeshRole.Master, "not an endpoint"),
            Status("akka.tcp://timemesh@10.0.0.21:4053", MeshRole.Member, Member.ToString()),
        };
        Assert.Equal([A, B], MeshFollowing.Advertised(statuses, "akka.tcp://timemesh@10.0.0.21:4053"));
        Assert.Equal([B], MeshFollowing.Advertised(statuses, "akka.tcp://timemesh@10.0.0.11:4053"));
    }

    // "Roles": with cluster TLS a master whose certificate does not say master is neither elected nor followed.
    [Fact]
    public void AMasterWhoseCertificateDoesNotSayMasterIsNotAdvertisedSoNeverFollowed()
    {
        TimeStatus Master(string node, IPEndPoint ntp) => new()
        {
            Node = node, Role = MeshRole.Master, NtpEndpoint = ntp.ToString(), Stratum = 1, RootDistanceSeconds = 0,
            UpstreamSynchronised = true, Serving = true, ReferenceId = 0, ClaimsLeadership = true,
        };
        var (judged, refused) = CertifiedRoles.Judge([Master("a", A), Master("rogue", Rogue)],
            node => node == "a" ? CertifiedRole.Master : CertifiedRole.Member);
        Assert.Single(refused);
        var advertised = MeshFollowing.Advertised(judged, "member");
        Assert.Equal([A], advertised);
        // Without pinned masters (the old configs) that list is all a member trusts: the rogue is not polled, even as "leader".
        var plan = MeshFollowing.Plan(MeshRole.Member, [], advertised, leader: Rogue, self: Member, upstreamSelected: false);
        Assert.Equal([A], plan.Sources);
        Assert.Null(plan.Preferred);
    }
}
