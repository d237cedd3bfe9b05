using System.Globalization;
using Akka.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using TimeMesh.Core.Clock;
using TimeMesh.Node.Clock;

namespace TimeMesh.Hosting;

/// <summary>
/// The health check <see cref="TimeMeshHostingExtensions.WithTimeMesh"/> registers (named <see cref="Name"/>, tagged
/// <see cref="Tag"/>): healthy while the node's mesh clock is synchronised, the registration's failure status
/// (unhealthy unless the application says otherwise) while it is not. The data carry the error bound, the
/// stratum and the mesh leader. It reads <see cref="IMeshClock.Now"/> and asks no actor.
/// </summary>
public sealed class MeshClockHealthCheck : IAkkaHealthCheck
{
    /// <summary>The name the check is registered under.</summary>
    public const string Name = "timemesh";

    /// <summary>The tag it carries besides Akka.Hosting's own "akka.net" (filter with <c>MapHealthChecks(…, Predicate = …)</c>).</summary>
    public const string Tag = "timemesh";

    private readonly Func<IMeshClock?> _clock;

    /// <param name="clock">The mesh clock the node publishes into; null until the actors have started.</param>
    public MeshClockHealthCheck(Func<IMeshClock?> clock) => _clock = clock;

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(AkkaHealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failure = context.Registration?.FailureStatus ?? HealthStatus.Unhealthy;
        if (context.ActorSystem.WhenTerminated.IsCompleted)
            return Task.FromResult(new HealthCheckResult(failure, "TimeMesh: the actor system has terminated"));
        return Task.FromResult(_clock() is { } clock ? Judge(clock.Now(), failure)
            : new HealthCheckResult(failure, "TimeMesh has not started yet (its actors start with the actor system)"));
    }

    /// <summary>The result for one reading of the mesh clock: <paramref name="failureStatus"/> unless it is synchronised.</summary>
    public static HealthCheckResult Judge(MeshTime time, HealthStatus failureStatus)
    {
        var data = new Dictionary<string, object>
        {
            ["synchronised"] = time.Synchronised,
            ["error_bound_seconds"] = time.ErrorBoundSeconds,
            ["stratum"] = time.Stratum,
            ["leader"] = time.Leader ?? "",
        };
        string bound = time.ErrorBoundSeconds.ToString("0.######", CultureInfo.InvariantCulture);
        if (time.Synchronised)
            return new HealthCheckResult(HealthStatus.Healthy, $"synchronised at stratum {time.Stratum}, error bound {bound} s", data: data);
        string why = time.ReferenceTimeUnixNs > 0 && time.ErrorBoundSeconds < MeshTimeBound.UnknownErrorBoundSeconds
            ? $"not synchronised: holdover since the source was lost, error bound {bound} s and growing"
            : "not synchronised: no source yet (no master or upstream server answered)";
        return new HealthCheckResult(failureStatus, why, data: data);
    }
}
