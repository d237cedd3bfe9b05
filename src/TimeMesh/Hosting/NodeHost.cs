using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using TimeMesh.Node;

namespace TimeMesh.Cli.Hosting;

/// <summary>
/// Runs a started node inside a generic host with systemd integration: under a <c>Type=notify</c> unit,
/// systemd hears READY=1 once the host has started (the node's NTP sockets are bound and its actors run
/// before the host starts) and STOPPING=1 when shutdown begins.
/// </summary>
public static class NodeHost
{
    private static string? NotifySocket => Environment.GetEnvironmentVariable("NOTIFY_SOCKET");

    /// <summary>
    /// Microsoft's detection (parent process is systemd, or PID 1 with NOTIFY_SOCKET) misses services
    /// started through a wrapper; sd_notify(3) itself only asks whether NOTIFY_SOCKET is set, so we do too.
    /// </summary>
    public static bool UnderSystemd => SystemdHelpers.IsSystemdService() || !string.IsNullOrEmpty(NotifySocket);

    /// <summary>Whether stdout goes to the journal (systemd sets JOURNAL_STREAM for a service's stdout).</summary>
    public static bool LogsToJournal => UnderSystemd || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("JOURNAL_STREAM"));

    public static async Task<int> RunAsync(TimeMeshNode node, CancellationToken stopping)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSystemd();
        if (!SystemdHelpers.IsSystemdService() && !string.IsNullOrEmpty(NotifySocket))
        {
            builder.Services.AddSingleton<ISystemdNotifier, SystemdNotifier>();
            builder.Services.AddSingleton<IHostLifetime, SystemdLifetime>();
        }
        // Coordinated shutdown (leaving the cluster, flushing the drift state) gets its own timeouts; the host must not cut it short.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(2));
        builder.Services.AddSingleton(node);
        builder.Services.AddHostedService<NodeService>();
        using var host = builder.Build();
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        // A signal that came while the node was starting stops the host as soon as it runs.
        using var stop = stopping.Register(lifetime.StopApplication);
        try
        {
            await host.StartAsync(CancellationToken.None);
        }
        catch (OperationCanceledException)
        {
            // The host refuses to start once stopping was requested; the node still shuts down in order.
            await node.StopAsync();
            return Cli.ExitOk;
        }
        await host.WaitForShutdownAsync(CancellationToken.None);
        return Cli.ExitOk;
    }

    /// <summary>The node as the host's one service; the node also ends the host when it terminates on its own.</summary>
    private sealed class NodeService(TimeMeshNode node, IHostApplicationLifetime lifetime) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            node.WhenTerminated.ContinueWith(_ =>
            {
                ShutdownSignals.Announce("the node's actor system terminated");
                lifetime.StopApplication();
            }, TaskScheduler.Default);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            // Only SIGTERM (through SystemdLifetime) or our own signal handler stop the host otherwise.
            ShutdownSignals.Announce(UnderSystemd ? "SIGTERM" : "stop requested");
            return node.StopAsync();
        }
    }
}

/// <summary>
/// SIGINT and SIGTERM, registered before the node starts so that no signal finds the process without a
/// handler (the default would kill it without coordinated shutdown). SystemdLifetime only handles SIGTERM.
/// </summary>
public sealed class ShutdownSignals : IDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly PosixSignalRegistration _sigint;
    private readonly PosixSignalRegistration _sigterm;
    private static int s_announced;

    /// <summary>
    /// Says once why the node shuts down. Under systemd, SystemdLifetime handles SIGTERM too and may stop the
    /// host before our handler has run, so the host's stop announces it as well, whichever comes first.
    /// </summary>
    public static void Announce(string why)
    {
        if (Interlocked.Exchange(ref s_announced, 1) == 0)
            Console.Error.WriteLine($"{(NodeHost.LogsToJournal ? "<5>" : "")}timemesh: {why}, shutting down");
    }

    public ShutdownSignals(CancellationToken alsoStopOn)
    {
        _stop = CancellationTokenSource.CreateLinkedTokenSource(alsoStopOn);
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    public CancellationToken Token => _stop.Token;

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        Announce(context.Signal.ToString());
        // Cancel runs the host's stop synchronously; the process may finish shutting down before it returns.
        _stop.Cancel();
    }

    /// <summary>
    /// Unregisters the handlers but leaves the token source alone: a handler still inside Cancel() when the
    /// host has stopped would otherwise meet a disposed source (an unhandled exception, SIGABRT at exit).
    /// </summary>
    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
    }
}
