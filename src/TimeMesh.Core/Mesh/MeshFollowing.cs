using System.Net;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.Sources;

namespace TimeMesh.Core.Mesh;

/// <summary>The mesh masters a node polls over NTP, and the one it prefers (the leader); see <see cref="MeshFollowing"/>.</summary>
/// <param name="Sources">The masters' NTP endpoints to poll, in endpoint order; empty when the node follows no master.</param>
/// <param name="Preferred">The leader's endpoint when it is among <paramref name="Sources"/> and not demoted; null for no preference.</param>
public sealed record FollowPlan(IReadOnlyList<IPEndPoint> Sources, IPEndPoint? Preferred)
{
    /// <summary>
    /// Sources polled but not selected: masters that answer at a worse stratum than another master (one holding
    /// over on its local clock, or just restarted), so that two masters that disagree by a few microseconds after
    /// a holdover do not leave the member with "no majority" while one of them is synchronised upstream.
    /// </summary>
    public IReadOnlyList<IPEndPoint> Demoted { get; init; } = [];

    /// <summary>Poll no mesh master: the plan of a master while one of its own upstream sources is selected, or while there is no other trusted leader to follow (it may lead itself).</summary>
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
    /// <summary>How a mesh master is polled: fast (1–4 s), so that a dead leader is noticed and left within seconds.</summary>
    public static SourceSettings SourceTemplate { get; } = new()
    {
        Address = "mesh",
        IBurst = true,
        MinPollLog2 = 0,
        MaxPollLog2 = 2,
        MaxUnreach = 3,
    };

    /// <summary>
    /// How many agreeing masters a member waits for before its first synchronisation (<see cref="SyncSettings.StartQuorum"/>):
    /// a majority when its config names three or more, so that one lying master heard first cannot set its time; 0 (the
    /// first answer will do) for two masters, which cannot outvote each other anyway, and for masters.
    /// </summary>
    public static int StartQuorum(MeshRole role, int pinnedMasters) =>
        role == MeshRole.Member && pinnedMasters >= 3 ? pinnedMasters / 2 + 1 : 0;

    /// <summary>
    /// The masters the cluster advertises to this node: every other serving master with an NTP endpoint, in node order.
    /// <paramref name="statuses"/> are those this node takes (untrusted and uncertified masters already judged).
    /// </summary>
    public static List<IPEndPoint> Advertised(IEnumerable<TimeStatus> statuses, string selfNode) => statuses
        .Where(s => s.Role == MeshRole.Master && s.Node != selfNode && s.Serving && IPEndPoint.TryParse(s.NtpEndpoint, out _))
        .OrderBy(s => s.Node)
        .Select(s => IPEndPoint.Parse(s.NtpEndpoint))
        .ToList();

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

/// <summary>
/// The masters a node follows as sources of its <see cref="SyncEngine"/>, sans I/O: reads from the engine what the
/// follow policy needs (whether an upstream source is selected, the stratum each reachable master answers with),
/// asks <see cref="MeshFollowing.Plan"/>, and makes the engine's mesh sources match the plan. The sync actor and the
/// simulator both drive it; what a driver adds (NTS sessions, endpoints to send to, logs) it does in the callbacks of
/// <see cref="Apply"/>.
/// </summary>
public sealed class MeshFollower
{
    private readonly Dictionary<IPEndPoint, int> _sources = new();

    /// <summary>The masters followed now, by NTP endpoint → source id in the engine.</summary>
    public IReadOnlyDictionary<IPEndPoint, int> Sources => _sources;

    /// <summary>How long a request to a master may go unanswered before what it answered last stops ranking the masters (a LAN round trip takes milliseconds).</summary>
    public const long AnswerOverdueNs = 1_000_000_000;

    /// <summary>The source is one of the mesh's masters (not an upstream server of this node).</summary>
    public bool IsMaster(int sourceId) => _sources.ContainsValue(sourceId);

    /// <summary>The plan for now: <see cref="MeshFollowing.Plan"/> with this node's upstream state and the masters' strata read from the engine.</summary>
    public FollowPlan Plan(SyncEngine engine, MeshRole role, IReadOnlyList<IPEndPoint> pinned, IReadOnlyList<IPEndPoint> advertised,
        IPEndPoint? leader, IPEndPoint? self, long nowRawNs)
    {
        bool upstreamSelected = engine.SelectedId is { } selected && !IsMaster(selected) && engine.Reference is not null;
        // Only masters answering now rank the others: a master that died keeps counting as reachable for a few
        // polls, and its last stratum must not demote the one that is left (seen in a fresh-clone run: a member
        // with no selectable source 3.9 s after the leader's SIGKILL, the survivor demoted by the dead master's 2).
        var strata = new Dictionary<IPEndPoint, int>();
        foreach (var (endpoint, id) in _sources)
            if (engine.Poller(id) is { IsReachable: true } poller && !poller.IsOverdue(nowRawNs, AnswerOverdueNs) && engine.LastStratum(id) is { } stratum)
                strata[endpoint] = stratum;
        return MeshFollowing.Plan(role, pinned, advertised, leader, self, upstreamSelected, strata);
    }

    /// <summary>
    /// Makes the engine poll exactly the plan's masters: drops the others, adds the new ones (from
    /// <see cref="MeshFollowing.SourceTemplate"/>), and sets which is preferred and which may be selected.
    /// </summary>
    /// <param name="engine">The node's engine, whose mesh sources this follower owns.</param>
    /// <param name="plan">What to follow (<see cref="Plan"/>).</param>
    /// <param name="nowRawNs">Now, on the engine's raw clock.</param>
    /// <param name="added">Called for each master added, before its preference is set (a driver opens its NTS session here).</param>
    /// <param name="removed">Called for each master dropped, after the engine has removed it.</param>
    public void Apply(SyncEngine engine, FollowPlan plan, long nowRawNs,
        Action<IPEndPoint, int>? added = null, Action<IPEndPoint, int>? removed = null)
    {
        foreach (var (endpoint, id) in _sources.ToList())
        {
            if (plan.Sources.Contains(endpoint)) continue;
            engine.RemoveSource(id, nowRawNs);
            _sources.Remove(endpoint);
            removed?.Invoke(endpoint, id);
        }
        foreach (var endpoint in plan.Sources)
        {
            if (!_sources.TryGetValue(endpoint, out int id))
            {
                var settings = MeshFollowing.SourceTemplate with { Address = endpoint.Address.ToString(), Port = endpoint.Port };
                id = engine.AddSource(settings, ReferenceIds.FromAddress(endpoint.Address), nowRawNs);
                _sources[endpoint] = id;
                added?.Invoke(endpoint, id);
            }
            engine.SetPrefer(id, endpoint.Equals(plan.Preferred), nowRawNs);
            engine.SetDemoted(id, plan.Demoted.Contains(endpoint), nowRawNs);
        }
    }
}
