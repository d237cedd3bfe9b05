using System.Net;
using System.Text.Json.Serialization.Metadata;
using Akka.Actor;
using Akka.Event;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace TimeMesh.Node.Control;

/// <summary>
/// The node's read-only monitoring endpoint: JSON for chronyc's reports and the mesh under <c>/api/</c>, and
/// Prometheus text at <c>/metrics</c>. Kestrel with the smallest pipeline there is (no configuration files,
/// no logging providers, routing only); started by the node, stopped by coordinated shutdown.
/// </summary>
public sealed partial class ControlEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;
    private long _requests;

    private ControlEndpoint(WebApplication app, NodeQueries queries)
    {
        _app = app;
        Queries = queries;
    }

    /// <summary>Where it listens (the port resolved when the config said 0).</summary>
    public IPEndPoint Endpoint { get; private set; } = null!;

    public NodeQueries Queries { get; }

    /// <summary>Requests served so far (chronyc serverstats' "Command packets received").</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>The JSON views, by path; the CLI asks for these.</summary>
    public static class Paths
    {
        public const string Sources = "/api/sources";
        public const string SourceStats = "/api/sourcestats";
        public const string Tracking = "/api/tracking";
        public const string Clients = "/api/clients";
        public const string ServerStats = "/api/serverstats";
        public const string Mesh = "/api/mesh";
        public const string Metrics = "/metrics";
    }

    /// <summary>
    /// Starts the endpoint, or returns null when it is off. A port that cannot be bound is logged and the node
    /// goes on without monitoring (chronyd does the same with its command port): NTP service comes first.
    /// </summary>
    public static ControlEndpoint? Start(ControlSettings settings, NodeQueries queries, ActorSystem system)
    {
        if (settings.Listen is not { } listen) return null;
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(ControlEndpoint).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(listen);
            // A monitoring endpoint has few callers: keep what one slow or hostile caller can hold small.
            k.Limits.MaxConcurrentConnections = 64;
            k.Limits.MaxRequestBodySize = 0;
            k.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
        });
        builder.Services.AddRoutingCore();
        // The node owns SIGINT/SIGTERM and shuts down through coordinated shutdown; the web host must not.
        builder.Services.AddSingleton<Microsoft.Extensions.Hosting.IHostLifetime, TimeMesh.Node.Control.NodeOwnedLifetime>();
        var app = builder.Build();
        var endpoint = new ControlEndpoint(app, queries);
        app.Use((context, next) =>
        {
            Interlocked.Increment(ref endpoint._requests);
            return next(context);
        });
        endpoint.MapRoutes(app);
        try
        {
            app.StartAsync().GetAwaiter().GetResult();
        }
        catch (Exception e)
        {
            system.Log.Error("monitoring endpoint not started: cannot listen on {0}: {1}; the node serves NTP without it ({2} = off silences this)",
                listen, e.Message.TrimEnd('.'), ControlSettings.Key);
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return null;
        }
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        endpoint.Endpoint = new IPEndPoint(listen.Address, new Uri(address).Port);
        if (!IPAddress.IsLoopback(listen.Address))
            system.Log.Warning("monitoring endpoint listens on {0}, not loopback: anyone who reaches it can read the node's state (it is read-only)", endpoint.Endpoint);
        system.Log.Info("monitoring endpoint on http://{0}/ (try: timemesh tracking --node {0})", endpoint.Endpoint);
        CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceUnbind, "stop-monitoring-endpoint", async () =>
        {
            await endpoint.DisposeAsync();
            return Akka.Done.Instance;
        });
        // An actor system terminated without coordinated shutdown (a crash in tests) must not leave the port open.
        system.RegisterOnTermination(() => endpoint.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(3)));
        return endpoint;
    }

    private void MapRoutes(IEndpointRouteBuilder routes)
    {
        MapJson(routes, Paths.Sources, Queries.SourcesAsync, ControlJsonContext.Default.SourcesDto);
        MapJson(routes, Paths.SourceStats, Queries.SourceStatsAsync, ControlJsonContext.Default.SourceStatsListDto);
        MapJson(routes, Paths.Tracking, Queries.TrackingAsync, ControlJsonContext.Default.TrackingDto);
        MapJson(routes, Paths.Clients, Queries.ClientsAsync, ControlJsonContext.Default.ClientsDto);
        MapJson(routes, Paths.ServerStats, () => Queries.ServerStatsAsync(Requests), ControlJsonContext.Default.ServerStatsDto);
        MapJson(routes, Paths.Mesh, Queries.MeshAsync, ControlJsonContext.Default.MeshDto);
        routes.MapGet(Paths.Metrics, async context =>
        {
            string text;
            try
            {
                text = await PrometheusMetrics.CollectAsync(Queries, Requests);
            }
            catch (Exception e)
            {
                await WriteError(context, e);
                return;
            }
            context.Response.ContentType = PrometheusMetrics.ContentType;
            await context.Response.WriteAsync(text);
        });

        MapExtraRoutes(routes);
    }

    /// <summary>
    /// Where further pages are mapped, on the same queries (e.g. the status page at "/" and "/api/history"):
    /// implement this partial method in a file of its own, <c>ControlEndpoint.*.cs</c>, using <see cref="Queries"/>.
    /// Left unimplemented, nothing more is mapped.
    /// </summary>
    partial void MapExtraRoutes(IEndpointRouteBuilder routes);

    private static void MapJson<T>(IEndpointRouteBuilder routes, string path, Func<Task<T>> query, JsonTypeInfo<T> type) =>
        routes.MapGet(path, async context =>
        {
            T value;
            try
            {
                value = await query();
            }
            catch (Exception e)
            {
                await WriteError(context, e);
                return;
            }
            context.Response.ContentType = "application/json; charset=utf-8";
            await System.Text.Json.JsonSerializer.SerializeAsync(context.Response.Body, value, type);
        });

    private static async Task WriteError(HttpContext context, Exception e)
    {
        // An actor that does not answer in time (the node is stopping, or overloaded): say so, do not hang.
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "application/json; charset=utf-8";
        string message = e is AskTimeoutException ? "the node did not answer in time" : e.GetBaseException().Message;
        await System.Text.Json.JsonSerializer.SerializeAsync(context.Response.Body, new ErrorDto(message), ControlJsonContext.Default.ErrorDto);
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await _app.StopAsync(cancel.Token);
        }
        finally
        {
            await _app.DisposeAsync();
        }
    }
}
