using Akka.Actor;
using TimeMesh.Node.Control;
using TimeMesh.Node.Mesh;

namespace TimeMesh.Control;

/// <summary>
/// What TimeMesh.Node starts when the config asks for an HTTP endpoint; found by name (TimeMesh.Node does not
/// reference ASP.NET Core), so its name and its parameterless constructor are a contract with
/// <c>TimeMesh.Node.Control.HttpPart</c>.
/// </summary>
public sealed class HttpEndpoints : IHttpEndpoints
{
    /// <inheritdoc />
    public IMonitoringEndpoint? StartMonitoring(ControlSettings settings, NodeQueries queries, ActorSystem system) =>
        ControlEndpoint.Start(settings, queries, system);

    /// <inheritdoc />
    public IManagementEndpoint StartManagement(ActorSystem system) => ManagementEndpoint.Start(system);

    /// <inheritdoc />
    public Task StartBootstrap(ActorSystem system) => Akka.Management.Cluster.Bootstrap.ClusterBootstrap.Get(system).Start();

    /// <inheritdoc />
    public async Task<IReadOnlyList<(string Host, int? Port)>> LookupContactPoints(ActorSystem system, DiscoverySettings settings, TimeSpan timeout)
    {
        var lookup = new Akka.Discovery.Lookup(settings.ServiceName, settings.LookupPortName, "tcp");
        var resolved = await Akka.Discovery.Discovery.Get(system).Default.Lookup(lookup, timeout);
        return resolved.Addresses.Select(t => (t.Address?.ToString() ?? t.Host, t.Port)).ToList();
    }
}
