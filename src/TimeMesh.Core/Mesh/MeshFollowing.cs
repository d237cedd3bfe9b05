using System.Net;

namespace TimeMesh.Core.Mesh;

/// <summary>The mesh masters a node polls over NTP, and the one it prefers (the leader); see <see cref="MeshFollowing"/>.</summary>
public sealed record FollowPlan(IReadOnlyList<IPEndPoint> Sources, IPEndPoint? Preferred)
{
    /// <summary>
    /// Sources polled but not selected: masters that answer at a worse stratum than another master (one holding
    /// over on its local clock, or just restarted), so that two masters that disagree by a few microseconds after
    /// a holdover do not leave the member with "no majority" while one of them is synchronised upstream.
    /// </summary>
    public IReadOnlyList<IPEndPoint> Demoted { get; init; } = [];

    public static FollowPlan None { get; } = new([], null);
}

/// <summary>
/// The follow policy of the mesh, sans I/O: from a node's role, the masters its own config names, what the
/// cluster currently says (advertised masters, the leader) and whether the node has upstream of its own, which
/// masters it takes time from and which it prefers.
/// <list type="bullet">
/// <item>A member with pinned masters polls every one of them, always, whatever the cluster says or whether the
/// node is in a cluster at all: time never depends on membership. The cluster only names the leader, which is
/// preferred when it is one of the pinned masters; a master the config does not name is never polled.</item>
/// <item>A member without pinned masters (configs from before <c>timemesh.mesh.masters</c>) polls the masters
/// the cluster advertises, the leader preferred.</item>
/// <item>A master polls only the leader, never itself, and only while none of its own upstream sources is
/// selected: two masters stay independent while both have upstream, and the mesh keeps one time when they do
/// not. With pinned masters the leader must be one of them.</item>
/// </list>
/// </summary>
public static class MeshFollowing
{
    /// <param name="role">This node's role.</param>
    /// <param name="pinned">The masters' NTP endpoints from this node's config (empty: none named).</param>
    /// <param name="advertised">The masters the cluster advertises now (serving, reachable).</param>
    /// <param name="leader">The leader's NTP endpoint (null: no leader, or this node is in no cluster).</param>
    /// <param name="self">This node's own NTP endpoint as advertised to the mesh (never followed).</param>
    /// <param name="upstreamSelected">One of the node's own upstream sources is selected now.</param>
    /// <param name="servedStrata">The stratum each master answered with last over NTP (reachable ones only; null:
    /// unknown). A leader that answers at a worse stratum than another master is not preferred: a master that just
    /// restarted still serves its local clock until it synchronises, while the cluster may still name it leader.</param>
    public static FollowPlan Plan(MeshRole role, IReadOnlyList<IPEndPoint> pinned, IReadOnlyList<IPEndPoint> advertised,
        IPEndPoint? leader, IPEndPoint? self, bool upstreamSelected, IReadOnlyDictionary<IPEndPoint, int>? servedStrata = null)
    {
        var trusted = pinned.Count > 0 ? pinned : advertised;
        IPEndPoint? trustedLeader = leader is not null && !leader.Equals(self) && trusted.Contains(leader) ? leader : null;
        if (role == MeshRole.Master)
            return trustedLeader is not null && !upstreamSelected ? new FollowPlan([trustedLeader], null) : FollowPlan.None;
        var sources = trusted.Where(e => !e.Equals(self)).Distinct().OrderBy(e => e.ToString(), StringComparer.Ordinal).ToList();
        var reachable = servedStrata is null ? [] : sources.Where(servedStrata.ContainsKey).ToList();
        if (reachable.Count == 0) return new FollowPlan(sources, trustedLeader);
        int best = reachable.Min(e => servedStrata![e]);
        var demoted = reachable.Where(e => servedStrata![e] > best).ToList();
        if (trustedLeader is not null && demoted.Contains(trustedLeader)) trustedLeader = null;
        return new FollowPlan(sources, trustedLeader) { Demoted = demoted };
    }
}
