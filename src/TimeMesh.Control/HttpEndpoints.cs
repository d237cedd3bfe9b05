using Akka.Actor;
using TimeMesh.Node.Control;

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
}
