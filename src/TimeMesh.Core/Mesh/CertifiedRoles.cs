namespace TimeMesh.Core.Mesh;

/// <summary>What a node's validated certificate says about its role, as far as this node knows.</summary>
public enum CertifiedRole : byte
{
    /// <summary>No certificate of that node validated yet (this node has not dialled it).</summary>
    NotSeen,
    /// <summary>Its certificate carries no role, or is not issued for the node's address.</summary>
    None,
    /// <summary>Its certificate carries the member role: its status counts, but not as a master's.</summary>
    Member,
    /// <summary>Its certificate carries the master role and is issued for its address: a master status from it is believed.</summary>
    Master,
}

/// <summary>
/// Roles from certificates, sans I/O: with cluster TLS a status counts as a master's only when the node's
/// certificate, validated against the mesh CA and issued for the node's address, says master. Any other status
/// that says master counts as a member's that claims nothing: it is neither elected nor followed. Without
/// cluster TLS nobody calls this and roles are what each status says.
/// </summary>
public static class CertifiedRoles
{
    /// <summary>A status that says master and what the certificate said instead.</summary>
    /// <param name="Status">The status as received, still saying master.</param>
    /// <param name="Certified">What the sender's certificate grants instead: never <see cref="CertifiedRole.Master"/>.</param>
    public sealed record Refusal(TimeStatus Status, CertifiedRole Certified);

    /// <summary>The statuses as the election and the follow policy should see them, and the masters refused.</summary>
    /// <param name="statuses">Statuses as received (this node's own included).</param>
    /// <param name="certified">The certified role of a node, by its name (cluster address).</param>
    public static (IReadOnlyList<TimeStatus> Judged, IReadOnlyList<Refusal> Refused) Judge(IEnumerable<TimeStatus> statuses, Func<string, CertifiedRole> certified)
    {
        var judged = new List<TimeStatus>();
        var refused = new List<Refusal>();
        foreach (var status in statuses)
        {
            if (status.Role != MeshRole.Master)
            {
                judged.Add(status);
                continue;
            }
            var role = certified(status.Node);
            if (role == CertifiedRole.Master)
            {
                judged.Add(status);
                continue;
            }
            refused.Add(new Refusal(status, role));
            judged.Add(status with { Role = MeshRole.Member, ClaimsLeadership = false });
        }
        return (judged, refused);
    }
}
