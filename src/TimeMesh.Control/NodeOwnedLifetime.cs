namespace TimeMesh.Control;

/// <summary>
/// The lifetime of a Kestrel app the node starts and stops itself (the monitoring and the management endpoints):
/// it neither waits for nor reacts to the process's signals, which the node's own host handles.
/// </summary>
internal sealed class NodeOwnedLifetime : Microsoft.Extensions.Hosting.IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
