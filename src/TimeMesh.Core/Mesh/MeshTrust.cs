using System.Net;

namespace TimeMesh.Core.Mesh;

/// <summary>
/// Which self-declared masters a node trusts (issue 18 step 5, pinned masters), sans I/O. A node's config names
/// its masters: by NTP address (<c>timemesh.mesh.masters</c>, names resolved by the caller) or, in configs without
/// that list, by cluster address (the seed nodes, which are the masters in every shipped topology). A status that
/// claims the master role from a node the config does not name is "not trusted": never polled, never elected.
/// With neither list there is nothing to pin to, and every master is trusted (as before the lists existed).
/// </summary>
public sealed class MeshTrust
{
    private readonly HashSet<IPEndPoint> _pinnedEndpoints;
    private readonly bool _pinnedByNtp;
    private readonly HashSet<string> _seeds;

    /// <param name="pinnedByNtp">The config names masters by NTP address (even if none has resolved yet).</param>
    /// <param name="pinnedEndpoints">Those masters' NTP endpoints, resolved.</param>
    /// <param name="seeds">The seed nodes' cluster addresses ("akka.tcp://timemesh@10.0.0.11:4053").</param>
    public MeshTrust(bool pinnedByNtp, IEnumerable<IPEndPoint> pinnedEndpoints, IEnumerable<string> seeds)
    {
        _pinnedByNtp = pinnedByNtp;
        _pinnedEndpoints = pinnedEndpoints.Select(Canonical).ToHashSet();
        _seeds = seeds.Select(Normalise).ToHashSet(StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Nothing pins the masters: every self-declared master is trusted.</summary>
    public bool Open => !_pinnedByNtp && _seeds.Count == 0;

    /// <summary>What pins the masters, for logs and the mesh view.</summary>
    public string Basis => _pinnedByNtp ? "timemesh.mesh.masters" : _seeds.Count > 0 ? "akka.cluster.seed-nodes" : "nothing (every master trusted)";

    /// <summary>Whether a status of this role from this node, advertising this NTP endpoint, may be polled and elected.</summary>
    public bool Trusts(MeshRole role, string node, string ntpEndpoint)
    {
        if (role != MeshRole.Master || Open) return true;
        if (_pinnedByNtp) return IPEndPoint.TryParse(ntpEndpoint, out var e) && _pinnedEndpoints.Contains(Canonical(e));
        return _seeds.Contains(Normalise(node));
    }

    /// <summary>A copy with the pinned names resolved anew.</summary>
    public MeshTrust WithEndpoints(IEnumerable<IPEndPoint> endpoints) => new(_pinnedByNtp, endpoints.Select(Canonical), _seeds);

    private static IPEndPoint Canonical(IPEndPoint e) =>
        e.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(e.Address.MapToIPv4(), e.Port) : e;

    private static string Normalise(string address) => address.Trim().TrimEnd('/');
}
