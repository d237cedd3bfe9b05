using System.Net;
using TimeMesh.Core.Mesh;
using TimeMesh.Core.Sources;

namespace TimeMesh.Core.Tests;

/// <summary><see cref="MeshFollower"/>: the follow plan read from and applied to a real <see cref="SyncEngine"/>.</summary>
public class MeshFollowerTests
{
    private static readonly IPEndPoint A = IPEndPoint.Parse("10.0.0.11:123"), B = IPEndPoint.Parse("10.0.0.12:123"),
        Member = IPEndPoint.Parse("10.0.0.21:123");
    private const long Now = 1_767_225_600L * 1_000_000_000;

    [Fact]
    public void TheFollowerAddsTheMastersAsFastPreferredSourcesAndDropsThoseNoLongerPlanned()
    {
        var engine = new SyncEngine(new SyncSettings(), Now, 7);
        var follower = new MeshFollower();
        var added = new List<IPEndPoint>();
        var removed = new List<IPEndPoint>();
        follower.Apply(engine, new FollowPlan([A, B], B), Now, (e, _) => added.Add(e), (e, _) => removed.Add(e));
        Assert.Equal([A, B], added);
        Assert.Equal(2, engine.SourceIds.Count());
        var a = engine.Poller(follower.Sources[A]).Settings;
        var b = engine.Poller(follower.Sources[B]).Settings;
        Assert.Equal(("10.0.0.11", 123, false), (a.Address, a.Port, a.Prefer));
        Assert.True(b.Prefer);
        Assert.Equal(MeshFollowing.SourceTemplate.MaxPollLog2, a.MaxPollLog2);
        Assert.True(follower.IsMaster(follower.Sources[A]));

        // The preference moves without a new source; a demoted master stays polled but is not selectable.
        int idA = follower.Sources[A];
        follower.Apply(engine, new FollowPlan([A, B], A) { Demoted = [B] }, Now, (e, _) => added.Add(e), (e, _) => removed.Add(e));
        Assert.Equal(idA, follower.Sources[A]);
        Assert.Equal(2, added.Count);
        Assert.True(engine.Poller(idA).Settings.Prefer);
        Assert.True(engine.Poller(follower.Sources[B]).Settings.NoSelect);

        follower.Apply(engine, new FollowPlan([B], null), Now, (e, _) => added.Add(e), (e, _) => removed.Add(e));
        Assert.Equal([A], removed);
        Assert.Equal([B], follower.Sources.Keys);
        Assert.Single(engine.SourceIds);
        Assert.False(follower.IsMaster(idA));
    }

    [Fact]
    public void WithNothingSelectedYetAMasterFollowsTheLeaderAndAMemberPrefersIt()
    {
        var engine = new SyncEngine(new SyncSettings(), Now, 7);
        var follower = new MeshFollower();
        // No reference yet: the master follows the leader.
        Assert.Equal([B], follower.Plan(engine, MeshRole.Master, [A, B], [A, B], leader: B, self: A).Sources);
        // A member with no master answering yet: both polled, the leader preferred (no strata known).
        var plan = follower.Plan(engine, MeshRole.Member, [A, B], [A, B], leader: B, self: Member);
        Assert.Equal([A, B], plan.Sources);
        Assert.Equal(B, plan.Preferred);
        Assert.Empty(plan.Demoted);
    }
}
