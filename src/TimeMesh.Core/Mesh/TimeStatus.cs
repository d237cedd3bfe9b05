namespace TimeMesh.Core.Mesh;

/// <summary>A node's configured place in the mesh; with cluster TLS a master role only counts when the certificate grants it (<see cref="CertifiedRoles"/>).</summary>
public enum MeshRole : byte
{
    /// <summary>Syncs upstream; may lead the mesh.</summary>
    Master,
    /// <summary>Follows the masters.</summary>
    Member,
}

/// <summary>
/// What every node tells the mesh about its time, about once a second. Small and immutable: it travels
/// through the cluster with our own binary serializer.
/// </summary>
public sealed record TimeStatus
{
    /// <summary>The node's cluster address, e.g. "akka.tcp://timemesh@127.0.0.1:4053": unique and stable.</summary>
    public required string Node { get; init; }
    /// <summary>The role the node says it has; only masters are elected and followed.</summary>
    public required MeshRole Role { get; init; }
    /// <summary>Where the node serves NTP, "127.0.0.1:11123" (the first listen address other nodes can reach).</summary>
    public required string NtpEndpoint { get; init; }
    /// <summary>The stratum it serves (16 when it serves nothing usable).</summary>
    public required byte Stratum { get; init; }
    /// <summary>Its root distance (root delay / 2 + root dispersion), seconds.</summary>
    public required double RootDistanceSeconds { get; init; }
    /// <summary>Synchronised to an upstream source (not merely holding over on its own clock).</summary>
    public required bool UpstreamSynchronised { get; init; }
    /// <summary>Serving time at all: synchronised, following the mesh, or holding over with a known drift.</summary>
    public required bool Serving { get; init; }
    /// <summary>The reference id it serves; the tie-breaker (smallest wins, as chrony's orphan mode).</summary>
    public required uint ReferenceId { get; init; }
    /// <summary>Since when it has been synchronised upstream, Unix ns (0: not).</summary>
    public long SynchronisedSinceUnixNs { get; init; }
    /// <summary>A master that claims to lead (see <see cref="LeaderElection"/>).</summary>
    public bool ClaimsLeadership { get; init; }
    /// <summary>When the node sent this status, on its served clock, Unix ns.</summary>
    public long SentUnixNs { get; init; }
}
