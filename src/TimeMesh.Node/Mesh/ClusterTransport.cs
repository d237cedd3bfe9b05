using System.Net;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Mesh;

/// <summary>How the cluster transport of a mesh node is protected.</summary>
public enum ClusterSecurity
{
    /// <summary>Mutual TLS with the mesh CA (<c>timemesh.cluster-tls</c>).</summary>
    Tls,
    /// <summary>No TLS, but every address the node binds and advertises is loopback: only this machine reaches it.</summary>
    Loopback,
    /// <summary>No TLS on a LAN address, accepted because <c>timemesh.mesh.insecure = on</c>: anyone who reaches the port may join.</summary>
    Insecure,
}

/// <summary>
/// The cluster address a mesh node states, and whether it may run without TLS. A mesh node names the address
/// the others reach it at (<c>akka.remote.dot-netty.tcp.hostname</c>; no wildcard default), and a node whose
/// cluster address is not loopback runs only with <c>timemesh.cluster-tls</c>, unless the operator says
/// <c>timemesh.mesh.insecure = on</c> (then it warns at every start).
/// </summary>
public sealed record ClusterTransport(string PublicHost, int Port, string BindHost, int BindPort, ClusterSecurity Security)
{
    private const string Tcp = "akka.remote.dot-netty.tcp.";
    /// <summary>Akka.Remote's own default port, used when the config names none.</summary>
    public const int AkkaDefaultPort = NodeIdentity.AkkaDefaultPort;

    /// <summary>What the start-up line and <c>timemesh doctor</c> say about it.</summary>
    public string Describe() =>
        (PublicHost == BindHost && Port == BindPort ? $"{PublicHost}:{Port}" : $"{PublicHost}:{Port} (bound to {BindHost}:{BindPort})")
        + Security switch
        {
            ClusterSecurity.Tls => ", TLS",
            ClusterSecurity.Loopback => ", loopback without TLS",
            _ => ", INSECURE: no TLS (timemesh.mesh.insecure = on)",
        };

    /// <summary>The warning an insecure node logs at every start.</summary>
    public string InsecureWarning =>
        $"the cluster transport on {PublicHost}:{Port} runs WITHOUT TLS (timemesh.mesh.insecure = on): anyone who can reach this port can join the mesh, "
        + "report time statuses and take part in electing the leader. Set up timemesh.cluster-tls (`timemesh cert init`, docs/security.md).";

    /// <param name="config">The node's whole config (user keys over the reference).</param>
    /// <param name="tls">Whether <c>timemesh.cluster-tls</c> is set up.</param>
    /// <param name="insecure"><c>timemesh.mesh.insecure</c>.</param>
    public static ClusterTransport FromConfig(Akka.Configuration.Config config, bool tls, bool insecure) =>
        From(NodeIdentity.FromConfig(config, ClusterSystemName.Default, inMesh: true), tls, insecure);

    /// <param name="identity">The node's identity (its cluster host and ports as configured).</param>
    /// <param name="tls">Whether <c>timemesh.cluster-tls</c> is set up.</param>
    /// <param name="insecure"><c>timemesh.mesh.insecure</c>.</param>
    public static ClusterTransport From(NodeIdentity identity, bool tls, bool insecure)
    {
        string hostname = identity.Hostname;
        if (hostname.Length == 0)
            throw new TimeMeshConfigException(Tcp + "hostname", "(not set)",
                "a mesh node states the address the other nodes reach it at, e.g. akka.remote.dot-netty.tcp { hostname = \"10.0.0.11\", port = 4053 }; "
                + "behind NAT set public-hostname as well, and bind-hostname = \"0.0.0.0\" to listen on every interface");
        if (IsWildcard(hostname))
            throw new TimeMeshConfigException(Tcp + "hostname", hostname,
                "the address the other nodes reach this node at, not a wildcard; to listen on every interface set bind-hostname = \"" + hostname + "\" and hostname to this node's address");
        string publicHost = identity.PublicHostname, bindHost = identity.BindHostname;
        bool loopback = IsLoopback(publicHost) && IsLoopback(bindHost);
        var security = tls ? ClusterSecurity.Tls : loopback ? ClusterSecurity.Loopback : ClusterSecurity.Insecure;
        if (security == ClusterSecurity.Insecure && !insecure)
            throw new TimeMeshConfigException("timemesh.cluster-tls", "(not set)",
                $"a mesh node whose cluster address is not loopback ({publicHost}, bound to {bindHost}) runs only with mutual TLS: set up timemesh.cluster-tls "
                + "(`timemesh cert init`, then `timemesh cert issue` for each node; docs/security.md). To run without it on a network you trust, "
                + "set timemesh.mesh.insecure = on: anyone who can reach the cluster port can then join the mesh");
        return new ClusterTransport(publicHost, identity.PublicPort, bindHost, identity.BindPort, security);
    }

    private static bool IsWildcard(string host) =>
        IPAddress.TryParse(host.Trim('[', ']'), out var ip) && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any));

    /// <summary>A loopback IP, or <c>localhost</c>; any other name may resolve to a LAN address.</summary>
    internal static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
}
