namespace TimeMesh.Core.Mesh;

/// <summary><c>timemesh.mesh.authenticate</c>: whether NTP between members and masters runs over NTS.</summary>
public enum MeshAuthenticationMode : byte
{
    /// <summary>NTS when the cluster runs over mutual TLS (its certificates are the credentials); plain NTP otherwise.</summary>
    Auto,
    /// <summary>Always NTS: a node without cluster TLS refuses to start.</summary>
    On,
    /// <summary>Plain NTP inside the mesh even with cluster TLS (warned at every start).</summary>
    Off,
}

/// <summary>What a node does with mesh NTP, decided once at start from the mode and whether cluster TLS is set up.</summary>
public enum MeshNtpDecision : byte
{
    /// <summary>NTS-KE with the cluster certificates, then NTS on every request; plain replies are never used.</summary>
    Authenticated,
    /// <summary>Plain NTP because the cluster has no TLS (a loopback or <c>insecure</c> mesh): nothing to authenticate with.</summary>
    PlainWithoutTls,
    /// <summary>Plain NTP although cluster TLS is on, because the operator said <c>authenticate = off</c>.</summary>
    PlainByChoice,
    /// <summary><c>authenticate = on</c> without cluster TLS: the node must not start.</summary>
    Refused,
}

/// <summary>The start-up decision for mesh NTP: a pure function, so every combination is tested without a node.</summary>
public static class MeshNtpAuthentication
{
    /// <summary>Maps the configured mode and whether the cluster runs over mutual TLS to what the node does with mesh NTP.</summary>
    /// <param name="mode">The value of <c>timemesh.mesh.authenticate</c>.</param>
    /// <param name="clusterTls">Whether the cluster transport has TLS certificates, which NTS-KE reuses.</param>
    /// <returns><see cref="MeshNtpDecision.Authenticated"/> whenever TLS is there and the mode is not off; <see cref="MeshNtpDecision.Refused"/> only for on without TLS.</returns>
    public static MeshNtpDecision Decide(MeshAuthenticationMode mode, bool clusterTls) => (mode, clusterTls) switch
    {
        (MeshAuthenticationMode.Off, true) => MeshNtpDecision.PlainByChoice,
        (MeshAuthenticationMode.Off, false) => MeshNtpDecision.PlainWithoutTls,
        (_, true) => MeshNtpDecision.Authenticated,
        (MeshAuthenticationMode.On, false) => MeshNtpDecision.Refused,
        _ => MeshNtpDecision.PlainWithoutTls,
    };

    /// <summary>
    /// Whether a key-exchange peer may serve time to this node: its certificate (already chained to the mesh CA) must
    /// carry the master role and be issued for one of the names this node knows the master by. Null: accepted;
    /// otherwise why not.
    /// </summary>
    /// <param name="certifiedRole">The role the peer's certificate carries (null: none, or both).</param>
    /// <param name="nameMatched">Whether the certificate names the host or address this node dialled.</param>
    /// <param name="dialled">What this node dialled, for the message.</param>
    public static string? CheckMaster(MeshRole? certifiedRole, bool nameMatched, string dialled)
    {
        if (certifiedRole != MeshRole.Master)
            return certifiedRole is null
                ? $"its certificate carries no role ({RoleCertificates.RoleUriPrefix}master): only a master's certificate may serve mesh time"
                : "its certificate says member: only a master's certificate may serve mesh time";
        if (!nameMatched) return $"its certificate is not issued for {dialled} (timemesh cert issue --ip/--dns)";
        return null;
    }
}
