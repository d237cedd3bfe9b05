namespace TimeMesh.Core.Mesh;

/// <summary>How reluctant the stratum election is to change a healthy leader (see <see cref="LeaderElection"/>).</summary>
public sealed record ElectionSettings
{
    /// <summary>A challenger must be clearly better for this long before it claims leadership from a healthy leader.</summary>
    public double HysteresisSeconds { get; init; } = 10;
    /// <summary>At equal stratum, a challenger must be closer to true time by this much to count as clearly better.</summary>
    public double DistanceMarginSeconds { get; init; } = 1e-3;
}

/// <summary>
/// The stratum election, sans I/O. Masters claim leadership in their statuses; every node picks, from
/// the same statuses, the best-ranked claimant (or the best-ranked master when none claims), so all
/// reach the same leader. Rank: synchronised upstream before holdover, then stratum, then root
/// distance, then the smallest reference id (chrony's orphan rule), then the node name.
/// A master claims when it is the leader, when nobody claims and it ranks first, or when it has been
/// clearly better than the leader for the hysteresis time (at once when it is synchronised upstream and
/// the leader is not). A claimant that is outranked by another claimant stops claiming. So leadership
/// does not flap with jitter, and two nodes that started with different views converge.
/// </summary>
public sealed class LeaderElection(ElectionSettings settings)
{
    private long _betterSinceNs = -1;

    /// <summary>Cluster address of the node the last <see cref="Elect"/> chose; null before the first call and when no reachable master is serving.</summary>
    public string? Leader { get; private set; }

    /// <summary>Whether this node's next status should claim leadership.</summary>
    public bool ShouldClaim { get; private set; }

    /// <summary>Picks the leader from the given statuses and works out whether this node should claim leadership next (<see cref="ShouldClaim"/>).</summary>
    /// <param name="reachable">The statuses of the reachable nodes, this node's own included.</param>
    /// <param name="nowNs">Now, in nanoseconds: the hysteresis is timed on it.</param>
    /// <param name="self">This node's name (null for an observer).</param>
    /// <returns>The new <see cref="Leader"/>: the best-ranked serving master that claims, else the best-ranked serving master, else null.</returns>
    public string? Elect(IEnumerable<TimeStatus> reachable, long nowNs, string? self = null)
    {
        var candidates = reachable.Where(s => s.Role == MeshRole.Master && s.Serving).ToList();
        var claimants = candidates.Where(s => s.ClaimsLeadership).ToList();
        var leader = (claimants.Count > 0 ? claimants : candidates).OrderBy(Rank).FirstOrDefault();
        Leader = leader?.Node;

        var me = self is null ? null : candidates.FirstOrDefault(s => s.Node == self);
        if (me is null || leader is null)
        {
            ShouldClaim = false;
            _betterSinceNs = -1;
            return Leader;
        }
        if (leader.Node == me.Node)
        {
            ShouldClaim = true;
            _betterSinceNs = -1;
        }
        else if (ClassOf(me) < ClassOf(leader))
        {
            ShouldClaim = true;
        }
        else if (ClearlyBetter(me, leader))
        {
            if (_betterSinceNs < 0) _betterSinceNs = nowNs;
            ShouldClaim = (nowNs - _betterSinceNs) * 1e-9 >= settings.HysteresisSeconds;
        }
        else
        {
            ShouldClaim = false;
            _betterSinceNs = -1;
        }
        return Leader;
    }

    /// <summary>0: synchronised upstream; 1: serving in holdover.</summary>
    private static int ClassOf(TimeStatus s) => s.UpstreamSynchronised ? 0 : 1;

    private static (int, int, double, uint, string) Rank(TimeStatus s) =>
        (ClassOf(s), s.Stratum, s.UpstreamSynchronised ? s.RootDistanceSeconds : 0, s.ReferenceId, s.Node);

    private bool ClearlyBetter(TimeStatus challenger, TimeStatus leader)
    {
        if (ClassOf(challenger) != ClassOf(leader)) return ClassOf(challenger) < ClassOf(leader);
        if (challenger.Stratum != leader.Stratum) return challenger.Stratum < leader.Stratum;
        return challenger.UpstreamSynchronised
            && challenger.RootDistanceSeconds + settings.DistanceMarginSeconds < leader.RootDistanceSeconds;
    }
}
