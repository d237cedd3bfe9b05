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
using TimeMesh.Node.Control;

namespace TimeMesh.Control;

/// <summary>
/// The node's read-only monitoring endpoint: JSON for chronyc's reports and the mesh under <c>/api/</c>, and
/// Prometheus text at <c>/metrics</c>. Kestrel with the smallest pipeline there is (no configuration files,
/// no logging providers, routing only); started by the node, stopped by coordinated shutdown.
/// It listens on TCP (<c>timemesh.control.listen</c>) and on a Unix socket (<c>timemesh.control.socket</c>), as chronyd
/// does with its command port and socket: what chronyc keeps local-only (clients, serverstats) is served on the socket
/// only, and the socket is what the CLI uses when it is there, so no one holding TCP connections can lock it out.
/// </summary>
public sealed partial class ControlEndpoint : IMonitoringEndpoint
{
    private readonly WebApplication _app;
    private readonly ControlSettings _settings;
    private long _requests, _misdirected;

    private ControlEndpoint(WebApplication app, NodeQueries queries, ControlSettings settings)
    {
        _app = app;
        Queries = queries;
        _settings = settings;
    }

    /// <summary>Where it listens on TCP (the port resolved when the config said 0); null when only the Unix socket is on.</summary>
    public IPEndPoint Endpoint { get; private set; } = null!;

    /// <summary>The Unix socket's path, or null when there is none.</summary>
    public string? SocketPath { get; private set; }

    /// <summary>The TCP listener's connection caps (what they refused is in <see cref="ConnectionGate.Refused"/>).</summary>
    public ConnectionGate TcpGate { get; private init; } = null!;

    /// <summary>Requests refused for naming another host (DNS rebinding).</summary>
    public long Misdirected => Interlocked.Read(ref _misdirected);

    public NodeQueries Queries { get; }

    /// <summary>Requests served so far (chronyc serverstats' "Command packets received").</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>The JSON views, by path; the CLI asks for these.</summary>
    public static class Paths
    {
        public const string Sources = "/api/sources";
        public const string SourceStats = "/api/sourcestats";
        public const string Tracking = "/api/tracking";
        public const string NtpData = "/api/ntpdata";
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
        var listen = settings.Listen;
        string? socket = settings.Socket is { } path ? PrepareSocket(path, system.Log) : null;
        if (listen is null && socket is null) return null;
        var tcpGate = new ConnectionGate(settings.MaxConnections, settings.MaxConnectionsPerClient);
        // The socket is for the node's own operators (mode 0660): a total cap only, against a runaway script.
        var socketGate = new ConnectionGate(SocketMaxConnections, SocketMaxConnections);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(ControlEndpoint).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            if (listen is not null) k.Listen(listen, o => o.Use(tcpGate.AsMiddleware));
            if (socket is not null) k.ListenUnixSocket(socket, o => o.Use(socketGate.AsMiddleware));
            // A monitoring endpoint has few callers: keep what one slow or hostile caller can hold small and short.
            // The caps are ours (per listener, per client); Kestrel's own is global and would let one client take all.
            k.Limits.MaxConcurrentConnections = null;
            k.Limits.KeepAliveTimeout = settings.IdleTimeout;
            k.Limits.RequestHeadersTimeout = settings.HeaderTimeout;
            k.Limits.MaxRequestBodySize = 0;
            k.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
        });
        builder.Services.AddRoutingCore();
        // The node owns SIGINT/SIGTERM and shuts down through coordinated shutdown; the web host must not.
        builder.Services.AddSingleton<Microsoft.Extensions.Hosting.IHostLifetime, NodeOwnedLifetime>();
        var app = builder.Build();
        var endpoint = new ControlEndpoint(app, queries, settings) { TcpGate = tcpGate, SocketPath = socket };
        app.Use((context, next) =>
        {
            Interlocked.Increment(ref endpoint._requests);
            if (!IsUnixSocket(context) && !HostAllowed(context.Request.Headers.Host, endpoint.Endpoint ?? listen!, settings.AllowedHosts))
            {
                // A browser on this host led to a page whose name now resolves here (DNS rebinding): not for us.
                Interlocked.Increment(ref endpoint._misdirected);
                return WriteProblem(context, StatusCodes.Status421MisdirectedRequest,
                    "this endpoint answers only to its own address, localhost and timemesh.control.allowed-hosts");
            }
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
                string.Join(" and ", new[] { listen?.ToString(), socket }.Where(x => x is not null)), e.Message.TrimEnd('.'), ControlSettings.Key);
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return null;
        }
        if (listen is not null)
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First(a => a.StartsWith("http://") && !a.StartsWith("http://unix:"));
            endpoint.Endpoint = new IPEndPoint(listen.Address, new Uri(address).Port);
            if (!IPAddress.IsLoopback(listen.Address))
                system.Log.Warning("monitoring endpoint listens on {0}, not loopback: anyone who reaches it can read the node's state (it is read-only)", endpoint.Endpoint);
            system.Log.Info("monitoring endpoint on http://{0}/ (try: timemesh tracking --node {0})", endpoint.Endpoint);
        }
        if (socket is not null)
        {
            // Owner and group only, as chronyd's command socket; the directory's mode is the first guard.
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(socket, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
            system.Log.Info("monitoring socket on {0} (clients and serverstats are served here{1})", socket,
                settings.PrivateReportsOverTcp ? " and over TCP" : " only");
        }
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
        MapJson(routes, Paths.NtpData, Queries.NtpDataAsync, ControlJsonContext.Default.NtpDataListDto, localOnly: !_settings.PrivateReportsOverTcp);
        MapJson(routes, Paths.Clients, Queries.ClientsAsync, ControlJsonContext.Default.ClientsDto, localOnly: !_settings.PrivateReportsOverTcp);
        MapJson(routes, Paths.ServerStats, () => Queries.ServerStatsAsync(Requests), ControlJsonContext.Default.ServerStatsDto, localOnly: !_settings.PrivateReportsOverTcp);
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

    private static void MapJson<T>(IEndpointRouteBuilder routes, string path, Func<Task<T>> query, JsonTypeInfo<T> type, bool localOnly = false) =>
        routes.MapGet(path, async context =>
        {
            if (localOnly && !IsUnixSocket(context))
            {
                await WriteProblem(context, StatusCodes.Status403Forbidden,
                    $"{path} is served only on the node's Unix socket ({ControlSettings.SocketKey}; the CLI uses it when it is there, or pass --socket PATH); " +
                    $"{ControlSettings.PrivateReportsKey} = on serves it over TCP too");
                return;
            }
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

    /// <summary>Connections per Unix socket listener (the socket is reachable by the node's user and group only).</summary>
    public const int SocketMaxConnections = 64;

    private static bool IsUnixSocket(HttpContext context) => context.Connection.LocalIpAddress is null;

    /// <summary>
    /// Whether a request over TCP may be for us: no Host (HTTP/1.0), localhost or our own address (any address when we
    /// listen on a wildcard) with our port or none, or a name from allowed-hosts with any port (behind a proxy).
    /// A name an attacker controls is refused, which is what stops a DNS-rebinding page in a browser on this host.
    /// </summary>
    public static bool HostAllowed(string? header, IPEndPoint bound, IReadOnlyList<string> allowedNames)
    {
        if (string.IsNullOrEmpty(header)) return true;
        var host = HostString.FromUriComponent(header);
        string name = host.Host.TrimEnd('.').ToLowerInvariant();
        if (name.Length == 0) return false;
        if (allowedNames.Contains(name)) return true;
        if (host.Port is { } port && port != bound.Port) return false;
        if (name == "localhost") return true;
        if (!IPAddress.TryParse(name.Trim('[', ']'), out var address)) return false;
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        return bound.Address.Equals(IPAddress.Any) || bound.Address.Equals(IPAddress.IPv6Any) || address.Equals(bound.Address);
    }

    /// <summary>
    /// Readies the socket's path: its directory must exist (systemd's RuntimeDirectory, or made by the operator: the
    /// node does not make it, since its mode is what guards the socket); a file left by a node that died is removed,
    /// one a live node answers on is left alone. Returns null (no socket) when the path cannot be used.
    /// </summary>
    private static string? PrepareSocket(string path, ILoggingAdapter log)
    {
        string? directory = Path.GetDirectoryName(path);
        if (directory is null || !Directory.Exists(directory))
        {
            log.Info("no monitoring socket: directory {0} does not exist ({1}); clients and serverstats are then not served (see docs/security.md)",
                directory, ControlSettings.SocketKey);
            return null;
        }
        if (File.Exists(path) || Directory.Exists(path))
        {
            try
            {
                using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                probe.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
                log.Warning("no monitoring socket: another process answers on {0}; is another node running with the same {1}?", path, ControlSettings.SocketKey);
                return null;
            }
            catch (System.Net.Sockets.SocketException)
            {
                // Nobody there: a socket file a node that died left behind.
            }
            try
            {
                if ((File.GetAttributes(path) & FileAttributes.Directory) != 0) throw new IOException("it is a directory");
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.Warning("no monitoring socket: cannot replace {0}: {1}", path, e.Message);
                return null;
            }
        }
        return path;
    }

    private static async Task WriteProblem(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        await System.Text.Json.JsonSerializer.SerializeAsync(context.Response.Body, new ErrorDto(message), ControlJsonContext.Default.ErrorDto);
    }

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
            if (SocketPath is { } socket)
            {
                try { File.Delete(socket); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            }
        }
    }
}
