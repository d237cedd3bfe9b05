using System.Globalization;
using System.Net;
using TimeMesh.Node.Config;

namespace TimeMesh.Node;

/// <summary>
/// Who a node is to the others, computed once from its config and handed to every part that needs it: its cluster
/// system and address (what the seeds list), the name its drift state is kept under, and the NTP endpoint it
/// advertises to the mesh. The only reader of <c>akka.remote.dot-netty.tcp.*</c> in TimeMesh; it parses and
/// validates ports, and judges nothing else (<see cref="Mesh.ClusterTransport"/> decides whether a mesh node may
/// run with it).
/// </summary>
public sealed record NodeIdentity
{
    private const string Tcp = "akka.remote.dot-netty.tcp.";
    /// <summary>Akka.Remote's own default port, used when the config names none.</summary>
    public const int AkkaDefaultPort = 2552;
    /// <summary>The drift state's node name when the node is not in a mesh.</summary>
    public const string LocalNodeName = "local";

    /// <summary>The actor system the node's cluster member runs in: <c>timemesh.system-name</c> standalone, the application's system embedded.</summary>
    public required string SystemName { get; init; }
    /// <summary>Whether the node is a mesh member or master; without a mesh nothing below the system name is read.</summary>
    public required bool InMesh { get; init; }
    /// <summary><c>hostname</c>, trimmed; empty when unset.</summary>
    public string Hostname { get; init; } = "";
    /// <summary>The host the others reach the node at: <c>public-hostname</c>, else <see cref="Hostname"/>.</summary>
    public string PublicHostname { get; init; } = "";
    /// <summary>The host the transport binds: <c>bind-hostname</c>, else <see cref="Hostname"/>.</summary>
    public string BindHostname { get; init; } = "";
    /// <summary><c>port</c>; Akka's 2552 when unset, 0 for a free port.</summary>
    public int Port { get; init; } = AkkaDefaultPort;
    /// <summary>The port the others reach the node at: <c>public-port</c>, else <see cref="Port"/>.</summary>
    public int PublicPort { get; init; } = AkkaDefaultPort;
    /// <summary>The port the transport binds: <c>bind-port</c>, else <see cref="Port"/>.</summary>
    public int BindPort { get; init; } = AkkaDefaultPort;
    /// <summary>The key <see cref="BindPort"/> comes from, for errors about it: <c>bind-port</c> when that is set, else <c>port</c>.</summary>
    public string BindPortKey { get; init; } = Tcp + "port";
    /// <summary>
    /// The key of the node's drift state (<c>timemesh-drift-NAME</c>): <c>local</c> outside a mesh, else
    /// <c>hostname-port</c> as the config states them ("localhost" and 0 when unset). Kept exactly as every earlier
    /// version computed it, so that a node finds the state it wrote before.
    /// </summary>
    public string NodeName { get; init; } = LocalNodeName;
    /// <summary>The NTP endpoint the node advertises to the mesh; empty until <see cref="WithNtpEndpoints"/> (and for a node without NTP sockets).</summary>
    public string AdvertisedNtpEndpoint { get; init; } = "";

    /// <summary>The cluster address the seeds list for this node (the public host and port, as Akka advertises them).</summary>
    public string ClusterAddress => $"akka.tcp://{SystemName}@{(PublicHostname.Contains(':') && !PublicHostname.StartsWith('[') ? $"[{PublicHostname}]" : PublicHostname)}:{PublicPort.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The endpoint the cluster transport binds, when its host is an IP address (a name is resolved only when the node starts).</summary>
    public IPEndPoint? BindEndpoint => IPAddress.TryParse(BindHostname.Trim('[', ']'), out var address) ? new IPEndPoint(address, BindPort) : null;

    /// <summary>A node outside any mesh: nobody addresses it through a cluster.</summary>
    public static NodeIdentity Local(string systemName) => new() { SystemName = systemName, InMesh = false };

    /// <summary>
    /// Reads the identity from a node's whole config (user keys over the reference, or an application's actor
    /// system config). A port that is no TCP port is a <see cref="TimeMeshConfigException"/> naming the key.
    /// </summary>
    /// <param name="config">The config the cluster transport is configured from.</param>
    /// <param name="systemName">The cluster actor system's name.</param>
    /// <param name="inMesh">Whether the node takes part in a mesh; false gives <see cref="Local"/>.</param>
    public static NodeIdentity FromConfig(Akka.Configuration.Config config, string systemName, bool inMesh)
    {
        if (!inMesh) return Local(systemName);
        string hostname = Text(config, Tcp + "hostname");
        int port = ReadPort(config, Tcp + "port", AkkaDefaultPort);
        int publicPort = ReadPort(config, Tcp + "public-port", port);
        int bindPort = ReadPort(config, Tcp + "bind-port", port);
        // The drift state's name reads the keys as the first versions did (raw text, unset port 0): see NodeName.
        string nameHost = config.HasPath(Tcp + "hostname") ? config.GetString(Tcp + "hostname", "") : "localhost";
        int namePort = config.HasPath(Tcp + "port") && Text(config, Tcp + "port").Length > 0 ? port : 0;
        return new NodeIdentity
        {
            SystemName = systemName,
            InMesh = true,
            Hostname = hostname,
            PublicHostname = Text(config, Tcp + "public-hostname") is { Length: > 0 } p ? p : hostname,
            BindHostname = Text(config, Tcp + "bind-hostname") is { Length: > 0 } b ? b : hostname,
            Port = port,
            PublicPort = publicPort == 0 ? port : publicPort,
            BindPort = bindPort == 0 ? port : bindPort,
            BindPortKey = Tcp + (bindPort != 0 && Text(config, Tcp + "bind-port").Length > 0 ? "bind-port" : "port"),
            NodeName = $"{nameHost}-{namePort.ToString(CultureInfo.InvariantCulture)}",
        };
    }

    /// <summary>
    /// The identity with the NTP endpoint it advertises, once the sockets are bound (a port 0 resolved): the first
    /// listen address, or for a wildcard the cluster <see cref="Hostname"/> when that is an IP address, else
    /// 127.0.0.1, with the first socket's port. No sockets: nothing advertised (only a member may run so).
    /// </summary>
    public NodeIdentity WithNtpEndpoints(IReadOnlyList<IPEndPoint> endpoints)
    {
        if (endpoints.Count == 0) return this with { AdvertisedNtpEndpoint = "" };
        var first = endpoints[0];
        if (!first.Address.Equals(IPAddress.Any) && !first.Address.Equals(IPAddress.IPv6Any)) return this with { AdvertisedNtpEndpoint = first.ToString() };
        var address = IPAddress.TryParse(Hostname, out var host) ? host : IPAddress.Loopback;
        return this with { AdvertisedNtpEndpoint = new IPEndPoint(address, first.Port).ToString() };
    }

    /// <summary>
    /// The default host of Akka.Management's endpoint (<c>timemesh.mesh.discovery.management.hostname</c>): the
    /// public cluster host, else the cluster hostname, as the config states them; null when neither is set.
    /// </summary>
    internal static string? ManagementHostDefault(ConfigReader r) =>
        NonEmpty(r.RawString(Tcp + "public-hostname")) ?? r.RawString(Tcp + "hostname");

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static string Text(Akka.Configuration.Config config, string key) =>
        config.HasPath(key) && !config.GetValue(key).IsEmpty ? config.GetString(key, "").Trim() : "";

    private static int ReadPort(Akka.Configuration.Config config, string key, int fallback)
    {
        string text = Text(config, key);
        if (text.Length == 0) return fallback;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port <= 65535
            ? port
            : throw new TimeMeshConfigException(key, text, "allowed: a TCP port, 0 to 65535");
    }
}
