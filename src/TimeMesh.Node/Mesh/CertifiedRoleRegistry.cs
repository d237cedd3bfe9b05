using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using TimeMesh.Core.Mesh;

namespace TimeMesh.Node.Mesh;

/// <summary>
/// The roles that validated certificates prove, by cluster address. Filled from the TLS validator (DotNetty's
/// threads) and read by the mesh actor, so it is thread-safe.
/// <para>
/// The binding: with cluster TLS every node dials each peer it writes to itself (Akka's passive connections are off,
/// see <see cref="ClusterTlsSettings.Hocon"/>), and when it dials, Akka hands the validator the address it dialled
/// (<c>ssl.tcp://timemesh@10.0.0.1:4053</c>). A certificate that chains to the mesh CA and is issued for that
/// address's host (an IP or DNS name) proves that whoever answers at that cluster address holds a key the CA gave
/// that role. Inbound handshakes name only the peer's TCP endpoint (an ephemeral port), which is no cluster address:
/// they prove nothing here. A member's role is then looked up by its cluster address, which is also the address its
/// statuses must come from.
/// </para>
/// </summary>
public sealed class CertifiedRoleRegistry(MeshRole? ownRole)
{
    /// <summary>More entries than any mesh has; a bound so that no peer can grow the table without limit.</summary>
    public const int MaxEntries = 4096;

    private readonly ConcurrentDictionary<string, CertifiedRole> _roles = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _logged = new(StringComparer.Ordinal);

    /// <summary>The role this node's own certificate carries (null: none).</summary>
    public MeshRole? OwnRole { get; } = ownRole;

    /// <summary>
    /// Records what a certificate validated on an outbound handshake proves for the address dialled. A peer string
    /// that is not a cluster address (an inbound handshake's TCP endpoint) records nothing.
    /// </summary>
    public void RecordValidated(string peer, X509Certificate2 certificate, ILoggingAdapter? log)
    {
        if (AddressKey(peer) is not { } key || HostOf(key) is not { } host) return;
        var role = RoleCertificates.ReadRole(certificate);
        CertifiedRole certified;
        if (!RoleCertificates.NamesHost(certificate, host))
        {
            certified = CertifiedRole.None;
            if (_logged.TryAdd("host " + key, 0))
                log?.Warning("cluster TLS: the certificate of {0} ({1}) is not issued for {2}: that node is never taken for a master (issue its certificate with timemesh cert issue --ip {2})",
                    peer, certificate.Subject, host);
        }
        else if (role is null)
        {
            certified = CertifiedRole.None;
            if (_logged.TryAdd("role " + key, 0))
                log?.Warning("cluster TLS: the certificate of {0} ({1}) carries no role ({2}master or member): that node is never taken for a master",
                    peer, certificate.Subject, RoleCertificates.RoleUriPrefix);
        }
        else
        {
            certified = role == MeshRole.Master ? CertifiedRole.Master : CertifiedRole.Member;
        }
        if (_roles.Count >= MaxEntries && !_roles.ContainsKey(key)) _roles.Clear();
        _roles[key] = certified;
    }

    /// <summary>The certified role of the node at cluster address <paramref name="node"/> (<c>akka.ssl.tcp://timemesh@10.0.0.1:4053</c>).</summary>
    public CertifiedRole RoleOf(string node) =>
        AddressKey(node) is { } key && _roles.TryGetValue(key, out var role) ? role : CertifiedRole.NotSeen;

    /// <summary>The role of this node's own certificate, as the other nodes see it.</summary>
    public CertifiedRole Own => OwnRole switch { MeshRole.Master => CertifiedRole.Master, MeshRole.Member => CertifiedRole.Member, _ => CertifiedRole.None };

    /// <summary>
    /// <c>system@host:port</c> of an Akka address (<c>akka.ssl.tcp://timemesh@127.0.0.1:4053</c>) or of the peer string
    /// the TLS validator gets on an outbound handshake (<c>ssl.tcp://timemesh@127.0.0.1:4053</c>), host in lower case;
    /// null for anything else.
    /// </summary>
    internal static string? AddressKey(string address)
    {
        int scheme = address.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0) return null;
        string rest = address[(scheme + 3)..].TrimEnd('/');
        int at = rest.IndexOf('@');
        if (at <= 0 || rest.IndexOf('/') >= 0) return null;
        return rest[..(at + 1)] + rest[(at + 1)..].ToLowerInvariant();
    }

    private static string? HostOf(string key)
    {
        string hostPort = key[(key.IndexOf('@') + 1)..];
        int colon = hostPort.LastIndexOf(':');
        if (colon <= 0) return null;
        return hostPort[..colon].Trim('[', ']');
    }
}
