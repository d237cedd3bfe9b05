namespace TimeMesh.Core.Mesh;

public sealed record ElectionSettings
{
    /// <summary>A challenger must be better for this long before it takes over from a healthy leader.</summary>
    public double HysteresisSeconds { get; init; } = 10;
    /// <summary>At equal stratum, a challenger must be closer to true time by this much to count as better.</summary>
    public double DistanceMarginSeconds { get; init; } = 1e-3;
}

/// <summary>
/// The stratum election, sans I/O: every node runs it on the same statuses and reaches the same leader.
/// The leader is the reachable master that is synchronised upstream with the best (stratum, root distance),
/// ties to the smallest reference id then node name; if no master is synchronised, the serving master with
/// the best (stratum, reference id) leads, like chrony's orphan mode, so that the mesh keeps one time.
/// A healthy leader keeps its place until a challenger has been clearly better for the hysteresis time:
/// leadership does not flap with jitter.
/// </summary>
public sealed class LeaderElection(ElectionSettings settings)
{
    private string? _challenger;
    private long _challengerSinceNs;

    public string? Leader { get; private set; }

    /// <summary>Elects from the statuses of the reachable nodes (the node's own included) at <paramref name="nowNs"/>.</summary>
    /// <returns>The leader's node name, or null when no master can lead.</returns>
    public string? Elect(IEnumerable<TimeStatus> reachable, long nowNs)
    {
        var candidates = reachable.Where(s => s.Role == MeshRole.Master && s.Serving).ToList();
        var best = candidates.OrderBy(Rank).FirstOrDefault();
        var incumbent = Leader is null ? null : candidates.FirstOrDefault(s => s.Node == Leader);

        if (best is null)
        {
            Leader = null;
            _challenger = null;
            return null;
        }
        if (incumbent is null || ClassOf(best) < ClassOf(incumbent))
        {
            // No leader, the leader is gone, or a synchronised master replaces one that lost upstream.
            Leader = best.Node;
            _challenger = null;
            return Leader;
        }
        if (best.Node == incumbent.Node || !ClearlyBetter(best, incumbent))
        {
            _challenger = null;
            return Leader;
        }
        if (_challenger != best.Node)
        {
            _challenger = best.Node;
            _challengerSinceNs = nowNs;
        }
        if ((nowNs - _challengerSinceNs) * 1e-9 >= settings.HysteresisSeconds)
        {
            Leader = best.Node;
            _challenger = null;
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
