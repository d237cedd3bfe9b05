using System.Net;

namespace TimeMesh.Core.Mesh;

/// <summary>
/// What the node's crypto found out about one signed status: the facts the decision needs, none of the crypto.
/// </summary>
/// <param name="Node">The status's node (its cluster address), read from the signed payload.</param>
/// <param name="Incarnation">The incarnation (cluster UID) the payload names.</param>
/// <param name="Sequence">The payload's sequence number.</param>
/// <param name="ChainsToMeshCa">The certificate chains to the mesh CA this node trusts for cluster TLS, and to nothing else.</param>
/// <param name="NotBefore">The certificate's validity, UTC.</param>
/// <param name="NotAfter">The certificate's validity, UTC.</param>
/// <param name="Addresses">The certificate's IP subject alternative names.</param>
/// <param name="DnsNames">The certificate's DNS subject alternative names.</param>
/// <param name="SignatureValid">The certificate's public key verifies the signature over the payload.</param>
/// <param name="MemberIncarnation">The UID of the current cluster member at the node's address (null: none).</param>
/// <param name="CertificateRole">The role the certificate carries (null: none).</param>
/// <param name="NodeBoundByAddress">
/// The node is known to hold a certificate issued for its address (a status taken from one, or the TLS handshake when
/// this node dialled it): then only such a certificate speaks for it.
/// </param>
public readonly record struct StatusEvidence(
    string Node, long Incarnation, long Sequence,
    bool ChainsToMeshCa, DateTimeOffset NotBefore, DateTimeOffset NotAfter,
    IReadOnlyList<IPAddress> Addresses, IReadOnlyList<string> DnsNames,
    bool SignatureValid, long? MemberIncarnation,
    MeshRole? CertificateRole = null, bool NodeBoundByAddress = false);

/// <summary>The decision on one signed status: taken (<see cref="Reason"/> null) or dropped, and how far it is believed.</summary>
/// <param name="Reason">Null: taken; else the drop reason.</param>
/// <param name="AsMemberOnly">
/// Taken from a member certificate that names no address (one certificate for many pods, as <c>timemesh cert issue
/// --role member</c> allows): it proves "a member of this mesh", not which one, so the status counts as a member's
/// that claims nothing.
/// </param>
public readonly record struct StatusVerdict(string? Reason, bool AsMemberOnly = false)
{
    /// <summary>True when the status is used; false when it was dropped for <see cref="Reason"/>.</summary>
    public bool Taken => Reason is null;
}

/// <summary>
/// Whether a signed status is taken, sans I/O. With cluster TLS a status counts only when the certificate that came
/// with it chains to the mesh CA, is within its validity and is issued for the host of the node the status
/// describes, its key signed the status, the status names the node's current incarnation, and its sequence number is
/// newer than the last taken from that incarnation. Akka.Remote takes a message's sender from the message itself, so
/// the sender and the TLS connection prove nothing about who wrote a status; the signature does.
/// </summary>
public static class StatusAuthentication
{
    /// <summary>The drop reasons (the <c>reason</c> label of <c>timemesh_mesh_statuses_dropped_total</c>).</summary>
    public const string Unsigned = "unsigned", Certificate = "certificate", BadSignature = "bad_signature", Replayed = "replayed";

    /// <summary>
    /// Whether the status is taken (and then recorded in <paramref name="window"/>). A certificate must name the host
    /// of the status's node; the one exception is a member certificate that names no host at all, which may speak for
    /// a node not known to hold an address-bound certificate, and only as a member (<see cref="StatusVerdict.AsMemberOnly"/>):
    /// that way no certificate holder can overwrite a master's status, nor make one up.
    /// </summary>
    public static StatusVerdict Judge(in StatusEvidence e, DateTimeOffset now, ReplayWindow window)
    {
        if (!e.ChainsToMeshCa || now < e.NotBefore || now >= e.NotAfter) return new(Certificate);
        bool memberOnly = false;
        if (HostOf(e.Node) is not { } host || !NamesHost(e.Addresses, e.DnsNames, host))
        {
            bool namesNoHost = e.Addresses.Count == 0 && e.DnsNames.Count == 0;
            if (!namesNoHost || e.CertificateRole != MeshRole.Member || e.NodeBoundByAddress) return new(Certificate);
            memberOnly = true;
        }
        if (!e.SignatureValid) return new(BadSignature);
        // A status of an earlier incarnation of that address (or of one the cluster does not hold) is old news.
        if (e.MemberIncarnation != e.Incarnation) return new(Replayed);
        return window.TryAdvance(e.Node, e.Incarnation, e.Sequence) ? new(null, memberOnly) : new(Replayed);
    }

    /// <summary>The host of an Akka address (<c>akka.ssl.tcp://timemesh@10.0.0.1:4053</c> → <c>10.0.0.1</c>, IPv6 without brackets); null when it has none.</summary>
    public static string? HostOf(string address)
    {
        int scheme = address.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0) return null;
        string rest = address[(scheme + 3)..];
        int at = rest.IndexOf('@');
        if (at < 0) return null;
        string hostPort = rest[(at + 1)..];
        int slash = hostPort.IndexOf('/');
        if (slash >= 0) hostPort = hostPort[..slash];
        int colon = hostPort.LastIndexOf(':');
        if (colon <= 0) return null;
        string host = hostPort[..colon];
        if (host.StartsWith('[') != host.EndsWith(']')) return null;
        host = host.Trim('[', ']');
        return host.Length == 0 ? null : host;
    }

    /// <summary>
    /// Whether a certificate with these names is issued for <paramref name="host"/>: an IP address among its IP names
    /// (an IPv4-mapped IPv6 address counts as its IPv4 address), or a host name equal to one of its DNS names (no wildcards).
    /// </summary>
    public static bool NamesHost(IReadOnlyList<IPAddress> addresses, IReadOnlyList<string> dnsNames, string host)
    {
        string bare = host.Trim('[', ']');
        if (IPAddress.TryParse(bare, out var ip))
        {
            ip = ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip;
            return addresses.Any(a => (a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).Equals(ip));
        }
        return dnsNames.Any(d => string.Equals(d.TrimEnd('.'), bare.TrimEnd('.'), StringComparison.OrdinalIgnoreCase));
    }
}

/// <summary>
/// The last sequence number taken from each node's incarnation: a status is taken only when it is newer. Bounded:
/// entries leave with their node (<see cref="Forget"/>), and the table never holds more than <see cref="MaxNodes"/>.
/// </summary>
public sealed class ReplayWindow
{
    /// <summary>More nodes than any mesh has.</summary>
    public const int MaxNodes = 4096;

    private readonly Dictionary<string, (long Incarnation, long Sequence)> _last = new(StringComparer.Ordinal);

    /// <summary>How many nodes the window remembers a sequence number for; at most <see cref="MaxNodes"/>.</summary>
    public int Count => _last.Count;

    /// <summary>True (and remembered) when <paramref name="sequence"/> is newer than the last taken from this incarnation, or the incarnation is new to it.</summary>
    public bool TryAdvance(string node, long incarnation, long sequence)
    {
        if (_last.TryGetValue(node, out var last) && last.Incarnation == incarnation && sequence <= last.Sequence) return false;
        // Only current members get here, so a full table means something is wrong: start over rather than grow.
        if (!_last.ContainsKey(node) && _last.Count >= MaxNodes) _last.Clear();
        _last[node] = (incarnation, sequence);
        return true;
    }

    /// <summary>Drops what is remembered about <paramref name="node"/> (its cluster address), when it leaves the cluster; its next status is then taken whatever its sequence number.</summary>
    public void Forget(string node) => _last.Remove(node);
}
