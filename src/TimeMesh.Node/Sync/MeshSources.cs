using System.Net;
using Akka.Event;
using TimeMesh.Core.Mesh;
using TimeMesh.Core.Sources;
using TimeMesh.Node.Mesh;

namespace TimeMesh.Node.Sync;

/// <summary>What the sync actor of a mesh node knows of its place in the mesh.</summary>
/// <param name="Role">Master or member.</param>
/// <param name="Masters">The masters named in the config (<c>timemesh.mesh.masters</c>); empty: follow what the cluster advertises.</param>
/// <param name="Self">This node's NTP endpoint as advertised to the mesh (never followed); null when it serves none.</param>
public sealed record MeshFollowSettings(MeshRole Role, IReadOnlyList<MasterAddress> Masters, IPEndPoint? Self)
{
    /// <summary>Authenticated mesh NTP: masters are polled over NTS with these credentials only (null: plain NTP).</summary>
    public Nts.IMeshNtsCredentials? Nts { get; init; }
}

/// <summary>
/// Mesh following for the sync actor: the mesh's masters as sources of the engine. It keeps what the follow policy
/// needs (the masters the config names, as resolved by <see cref="SourceResolverActor"/>; the masters and the leader
/// the mesh actor advertises, <see cref="SyncProtocol.FollowMesh"/>), applies the policy (<see cref="MeshFollowing"/>,
/// through <see cref="MeshFollower"/>) and opens an NTS session for each master it adds when the mesh is authenticated.
/// Called on the sync actor's thread: the plan reads the engine's state after every reply.
/// </summary>
internal sealed class MeshSources(MeshFollowSettings? settings, SyncEngine engine, Dictionary<int, IPEndPoint> endpoints, NtsSessions nts, ILoggingAdapter log)
{
    private readonly MeshFollower _follower = new();
    /// <summary>The masters named in the config, each resolved to its endpoints.</summary>
    private readonly Dictionary<MasterAddress, IReadOnlyList<IPEndPoint>> _pinned = new();
    private SyncProtocol.FollowMesh _mesh = new([], null);
    /// <summary>The stratum each master's status reported when this node last acted on it.</summary>
    private readonly Dictionary<IPEndPoint, int> _reportedStrata = new();

    /// <summary>The source is one of the mesh's masters (not an upstream server of this node).</summary>
    public bool IsMaster(int sourceId) => _follower.IsMaster(sourceId);

    /// <summary>There are masters to follow, named in the config or advertised by the cluster.</summary>
    public bool Following => _mesh.Masters.Count > 0 || _pinned.Count > 0;

    /// <returns>Whether the master's endpoints changed (and the followed masters with them).</returns>
    public bool OnMastersResolved(SourceResolverProtocol.MastersResolved m, long nowRawNs)
    {
        var before = _pinned.GetValueOrDefault(m.Master);
        if (before is not null && before.SequenceEqual(m.Endpoints)) return false;
        _pinned[m.Master] = m.Endpoints;
        Reconcile(nowRawNs);
        return true;
    }

    /// <summary>What the mesh actor says now: the masters to follow, the leader, the strata their statuses report.</summary>
    public void Follow(SyncProtocol.FollowMesh m, long nowRawNs)
    {
        _mesh = m;
        Reconcile(nowRawNs);
        PollMastersWithNews(m, nowRawNs);
    }

    /// <summary>
    /// A master's status reports a stratum other than the one it last answered with over NTP (its upstream came back
    /// or was lost, it restarted): poll it now rather than at the end of its interval (up to 4 s), so the preference
    /// among masters, which goes by what they answer over NTP, follows within a round trip. Once per reported change.
    /// The cluster's word only brings the poll forward; the time and the stratum still come from the NTP reply.
    /// </summary>
    private void PollMastersWithNews(SyncProtocol.FollowMesh m, long nowRawNs)
    {
        if (m.Strata is null) return;
        foreach (var (endpoint, reported) in m.Strata)
        {
            bool news = !_reportedStrata.TryGetValue(endpoint, out int before) || before != reported;
            _reportedStrata[endpoint] = reported;
            if (news && _follower.Sources.TryGetValue(endpoint, out int id) && engine.LastStratum(id) is { } answered && answered != reported)
                engine.PollSoon(id, nowRawNs);
        }
        if (m.Leader is { } leader && _follower.Sources.TryGetValue(leader, out int leaderId) && engine.LastStratum(leaderId) is null)
            engine.PollSoon(leaderId, nowRawNs);
    }

    /// <summary>
    /// Applies the mesh's follow policy (<see cref="MeshFollowing"/>): members poll the masters (all the pinned ones,
    /// always), the leader preferred and the others kept warm, so a fail-over is a change of selection, not a fresh
    /// start; a master takes only the leader, and only while it has no upstream of its own. A master's plan depends on
    /// its own upstream, a member's preference on what the masters answer: both can change with any reply.
    /// </summary>
    public void Reconcile(long nowRawNs)
    {
        if (settings is null) return;
        var plan = _follower.Plan(engine, settings.Role, _pinned.Values.SelectMany(e => e).Distinct().ToList(),
            _mesh.Masters, _mesh.Leader, settings.Self, nowRawNs);
        _follower.Apply(engine, plan, nowRawNs,
            added: (endpoint, id) =>
            {
                endpoints[id] = endpoint;
                log.Info("mesh: following {0}{1}{2}", endpoint, endpoint.Equals(plan.Preferred) ? " (leader)" : "",
                    settings.Nts is { } credentials ? $" over NTS (key exchange at port {credentials.KePort})" : " over plain NTP");
                if (settings.Nts is { } meshNts) nts.Add(id, NtsTarget(endpoint, meshNts.KePort));
            },
            removed: (endpoint, id) =>
            {
                nts.Forget(id);
                endpoints.Remove(id);
                log.Info("mesh: no longer following {0}", endpoint);
            });
    }

    /// <summary>Authenticated mesh NTP towards a master: key exchange on the mesh port, the master's certificate checked, NTS only.</summary>
    private NtsKeyExchangeProtocol.Target NtsTarget(IPEndPoint endpoint, int kePort)
    {
        // The names the member knows the master by: the masters entries that gave this address, and the address itself.
        var names = _pinned.Where(p => p.Value.Contains(endpoint)).Select(p => p.Key.Host).Append(endpoint.Address.ToString()).Distinct().ToList();
        return new NtsKeyExchangeProtocol.Target(names[0], endpoint.Address, kePort) { Mesh = true, MeshNames = names, MeshEndpoint = endpoint };
    }
}
