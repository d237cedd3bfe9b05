using System.Net;
using Akka.Actor;
using TimeMesh.Node.Config;

namespace TimeMesh.Node.Control;

/// <summary>
/// The node's HTTP endpoints: the monitoring endpoint with the status page (<c>timemesh.control</c>) and Cluster
/// Bootstrap with its management endpoint (<c>timemesh.mesh.discovery</c>). They run on Kestrel (ASP.NET Core's shared
/// framework) and Akka.Management with its discovery (Kubernetes' client among them), which live in the package
/// TimeMesh.Control, so that an application that starts none of them carries neither. TimeMesh.Node finds the
/// implementation by name (<see cref="HttpPart"/>).
/// </summary>
public interface IHttpEndpoints
{
    /// <summary>Starts the monitoring endpoint, or returns null when it is off or cannot listen (logged: NTP service comes first).</summary>
    IMonitoringEndpoint? StartMonitoring(ControlSettings settings, NodeQueries queries, ActorSystem system);

    /// <summary>Binds Cluster Bootstrap's management endpoint in the cluster system (a port that is taken throws).</summary>
    IManagementEndpoint StartManagement(ActorSystem system);

    /// <summary>Starts Akka.Management's Cluster Bootstrap in the cluster system (<c>timemesh.mesh.discovery</c>).</summary>
    Task StartBootstrap(ActorSystem system);

    /// <summary>
    /// The contact points (the masters' management endpoints) as the bootstrap looks them up through Akka.Discovery:
    /// the config's endpoints, or the master pods through the Kubernetes API. A null port: the configured management port.
    /// </summary>
    Task<IReadOnlyList<(string Host, int? Port)>> LookupContactPoints(ActorSystem system, Mesh.DiscoverySettings settings, TimeSpan timeout);
}

/// <summary>The running monitoring endpoint (stopped by coordinated shutdown, or when disposed).</summary>
public interface IMonitoringEndpoint : IAsyncDisposable
{
    /// <summary>Where it listens on TCP (the port resolved when the config said 0); null when only the Unix socket is on.</summary>
    IPEndPoint Endpoint { get; }

    /// <summary>The Unix socket's path, or null when there is none.</summary>
    string? SocketPath { get; }

    /// <summary>Requests served so far (chronyc serverstats' "Command packets received").</summary>
    long Requests { get; }
}

/// <summary>The running management endpoint of one incarnation of the cluster part.</summary>
public interface IManagementEndpoint : IAsyncDisposable
{
    /// <summary>The route Akka.Management's bootstrap probes.</summary>
    public const string SeedNodesPath = "/bootstrap/seed-nodes";

    /// <summary>http://host:port/ as the other nodes reach it (and the bootstrap's self contact point).</summary>
    Uri SelfBaseUri { get; }
}

/// <summary>
/// Finds TimeMesh.Control's <see cref="IHttpEndpoints"/> by name, as <see cref="Persistence.PostgreSqlPart"/> finds
/// PostgreSQL: a config that asks for an HTTP endpoint without the package fails when it is read, naming the key and
/// the package.
/// </summary>
internal static class HttpPart
{
    public const string PackageId = "TimeMesh.Control";
    private const string TypeName = "TimeMesh.Control.HttpEndpoints";

    private static readonly Lazy<IHttpEndpoints?> Loaded = new(() => Load(PackageId));

    /// <summary>The endpoints, or null when the application does not carry the package.</summary>
    public static IHttpEndpoints? Endpoints => Loaded.Value;

    /// <summary>Throws a <see cref="TimeMeshConfigException"/> on <paramref name="key"/> when the package is absent.</summary>
    public static void Require(string key, string value, string what, string otherwise)
    {
        if (Loaded.Value is null) throw Missing(key, value, what, otherwise, PackageId);
    }

    /// <summary>
    /// The monitoring endpoint's keys checked: a listen address needs the package, and so does a socket whose directory
    /// exists. A socket in a directory that does not exist (reference.conf's /run/timemesh on a machine without the
    /// service) is skipped at start with the package or without it, so it asks for nothing.
    /// </summary>
    public static void RequireFor(ControlSettings control)
    {
        const string otherwise = "or turn the endpoint off (timemesh.control = off)";
        if (control.Listen is { } listen) Require(ControlSettings.Key, listen.ToString(), "the monitoring endpoint (HTTP on Kestrel)", otherwise);
        else if (control.Socket is { } socket && Directory.Exists(Path.GetDirectoryName(socket)))
            Require(ControlSettings.SocketKey, socket, "the monitoring endpoint (HTTP on Kestrel, on a Unix socket)", otherwise);
    }

    internal static TimeMeshConfigException Missing(string key, string value, string what, string otherwise, string packageId) =>
        new(key, value, $"{what} needs the package {packageId}, which this application does not carry: add it "
            + $"(dotnet add package {packageId}; the timemesh tool and the .deb carry it), {otherwise}");

    /// <summary>The named assembly's <see cref="IHttpEndpoints"/>; null when the application does not carry it.</summary>
    internal static IHttpEndpoints? Load(string assemblyName) => OptionalParts.Create<IHttpEndpoints>(assemblyName, TypeName);
}
