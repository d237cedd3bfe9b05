using System.Net;
using TimeMesh.Core.Mesh;
using TimeMesh.Core.Protocol;
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

        // The preference moves without a new source; a demoted master stays polled and keeps its vote.
        int idA = follower.Sources[A];
        follower.Apply(engine, new FollowPlan([A, B], A) { Demoted = [B] }, Now, (e, _) => added.Add(e), (e, _) => removed.Add(e));
        Assert.Equal(idA, follower.Sources[A]);
        Assert.Equal(2, added.Count);
        Assert.True(engine.Poller(idA).Settings.Prefer);
        Assert.True(engine.IsDemoted(follower.Sources[B]));
        Assert.False(engine.IsDemoted(idA));

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
        Assert.Equal([B], follower.Plan(engine, MeshRole.Master, [A, B], [A, B], leader: B, self: A, nowRawNs: Now).Sources);
        // A member with no master answering yet: both polled, the leader preferred (no strata known).
        var plan = follower.Plan(engine, MeshRole.Member, [A, B], [A, B], leader: B, self: Member, nowRawNs: Now);
        Assert.Equal([A, B], plan.Sources);
        Assert.Equal(B, plan.Preferred);
        Assert.Empty(plan.Demoted);
    }

    /// <summary>
    /// A master that stops answering (SIGKILL) still counts as reachable for a few polls; its last stratum must not
    /// demote the master that is left. Seen in a fresh-clone run: the member had no selectable source 3.9 s after the
    /// leader's kill, the survivor (stratum 3) demoted by the dead master's stratum 2.
    /// </summary>
    [Fact]
    public void AMasterThatStoppedAnsweringNoLongerDemotesTheOther()
    {
        var engine = new SyncEngine(new SyncSettings(), Now, 7);
        var follower = new MeshFollower();
        follower.Apply(engine, new FollowPlan([A, B], A), Now);
        var stratumOf = new Dictionary<int, byte> { [follower.Sources[A]] = 2, [follower.Sources[B]] = 3 };
        void Round(long at, bool aAnswers)
        {
            var request = new byte[48];
            while (engine.TryPoll(at, request, out int id))
            {
                if (id == follower.Sources[A] && !aAnswers) continue;
                ulong cookie = NtpSourcePoller.ReadCookie(request);
                var reply = new byte[48];
                new NtpHeader(LeapIndicator.NoWarning, 4, NtpMode.Server, stratumOf[id], 0, -20, NtpShort.Zero, NtpShort.Zero, 0x47505300,
                    NtpTimestamp.FromUnixNanoseconds(at - 1_000_000_000), new NtpTimestamp(cookie), NtpTimestamp.FromUnixNanoseconds(at + 100_000),
                    NtpTimestamp.FromUnixNanoseconds(at + 110_000)).Write(reply);
                engine.HandleReply(id, reply, at + 200_000);
            }
        }
        Round(Now, aAnswers: true);
        var before = follower.Plan(engine, MeshRole.Member, [A, B], [A, B], leader: A, self: Member, nowRawNs: Now + 1_000_000);
        Assert.Equal([B], before.Demoted);

        // A dies: its next request goes unanswered; half a second later that is no news yet, after 1 s it is.
        long next = engine.NextPollNs;
        Round(next, aAnswers: false);
        Assert.Equal([B], follower.Plan(engine, MeshRole.Member, [A, B], [A, B], leader: B, self: Member, nowRawNs: next + 500_000_000).Demoted);
        var after = follower.Plan(engine, MeshRole.Member, [A, B], [A, B], leader: B, self: Member, nowRawNs: next + 1_100_000_000);
        Assert.True(engine.Poller(follower.Sources[A]).IsReachable);
        Assert.Empty(after.Demoted);
        Assert.Equal(B, after.Preferred);
    }
}
