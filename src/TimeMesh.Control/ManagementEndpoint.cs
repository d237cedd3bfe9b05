using System.Collections.Immutable;
using System.Net;
using Akka.Actor;
using Akka.Cluster;
using Akka.Management.Cluster.Bootstrap;
using Akka.Management.Cluster.Bootstrap.ContactPoint;
using Akka.Management.Dsl;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using TimeMesh.Node.Control;

namespace TimeMesh.Control;

/// <summary>
/// The cluster part's Akka.Management endpoint for Cluster Bootstrap: <c>GET /bootstrap/seed-nodes</c>, answered as
/// Akka.Management's own route answers it (the same JSON, made with Akka.Management's own types, so that nodes running
/// Akka.Management's server and ours probe each other), on <c>akka.management.http.hostname:port</c>.
/// <para>
/// Served by Kestrel rather than by <c>AkkaManagement.Start()</c>: Akka.Management 1.5.73 serves HTTP through
/// Akka.Http.Shim, built against Ceen.Httpd 0.9.9, and the only Ceen.Httpd our package source serves is 0.9.10, which
/// changed <c>HttpServer.ListenAsync(IPEndPoint, …)</c> to <c>ListenAsync(EndPoint, …)</c>: <c>AkkaManagement.Start()</c>
/// fails with a MissingMethodException. Everything else — discovery, probing the contact points, the join decision
/// — is Akka.Management's <see cref="ClusterBootstrap"/>, which is told this endpoint's address as its self contact point.
/// </para>
/// </summary>
public sealed class ManagementEndpoint : IManagementEndpoint
{
    /// <summary>The route Akka.Management's bootstrap probes.</summary>
    public const string SeedNodesPath = IManagementEndpoint.SeedNodesPath;

    /// <summary>As Akka.Management: at most this many members in an answer (a joining node takes 5 of them).</summary>
    public const int MaxSeedNodesToExpose = 5;

    private readonly WebApplication _app;
    private int _disposed;

    private ManagementEndpoint(WebApplication app, Uri selfBaseUri)
    {
        _app = app;
        SelfBaseUri = selfBaseUri;
    }

    /// <summary>http://host:port/ as the other nodes reach it (and the bootstrap's self contact point).</summary>
    public Uri SelfBaseUri { get; }

    /// <summary>
    /// Binds the endpoint on Akka.Management's <c>akka.management.http</c> bind-hostname/bind-port (by default its
    /// hostname/port; a taken port throws) and hands the advertised hostname:port to the system's Cluster Bootstrap.
    /// </summary>
    public static ManagementEndpoint Start(ActorSystem system)
    {
        var http = Akka.Management.Dsl.AkkaManagement.Get(system).Settings.Http;
        string bindHost = http.EffectiveBindHostname;
        if (!IPAddress.TryParse(bindHost, out var address))
            address = Dns.GetHostAddresses(bindHost).FirstOrDefault()
                ?? throw new InvalidOperationException($"the management hostname {bindHost} resolves to no address");
        int bindPort = http.EffectiveBindPort;
        string hostname = http.Hostname;
        int port = http.Port;
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(ManagementEndpoint).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(address, bindPort);
            k.Limits.MaxConcurrentConnections = 64;
            k.Limits.MaxRequestBodySize = 0;
            k.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
        });
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton<Microsoft.Extensions.Hosting.IHostLifetime, NodeOwnedLifetime>();
        var app = builder.Build();
        app.MapGet(SeedNodesPath, context =>
        {
            context.Response.ContentType = "application/json";
            return context.Response.WriteAsync(SeedNodesJson(Cluster.Get(system)));
        });
        app.StartAsync().GetAwaiter().GetResult();
        string host = hostname.Contains(':') && !hostname.StartsWith('[') ? $"[{hostname}]" : hostname;
        var endpoint = new ManagementEndpoint(app, new Uri($"http://{host}:{port}/"));
        // Cluster Bootstrap learns its self contact point when its routes are taken (Akka.Management's server does the same).
        ClusterBootstrap.Get(system).Routes(ManagementRouteProviderSettings.Create(endpoint.SelfBaseUri, true));
        system.RegisterOnTermination(() => endpoint.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(3)));
        return endpoint;
    }

    /// <summary>What Akka.Management's <c>HttpClusterBootstrapRoutes</c> answers: this node's address and its cluster's live members.</summary>
    public static string SeedNodesJson(Cluster cluster)
    {
        var self = cluster.SelfMember;
        if (self.Status is MemberStatus.Down or MemberStatus.Exiting or MemberStatus.Leaving or MemberStatus.Removed)
            return Newtonsoft.Json.JsonConvert.SerializeObject(new HttpBootstrapJsonProtocol.SeedNodes(self.UniqueAddress.Address,
                ImmutableList<HttpBootstrapJsonProtocol.ClusterMember>.Empty));
        var state = cluster.State;
        var members = state.Members
            .Where(m => !state.Unreachable.Contains(m))
            .Where(m => m.Status is MemberStatus.Up or MemberStatus.WeaklyUp or MemberStatus.Joining)
            .Take(MaxSeedNodesToExpose)
            .Select(m => new HttpBootstrapJsonProtocol.ClusterMember(m.UniqueAddress.Address, m.UniqueAddress.Uid, m.Status, m.Roles))
            .ToImmutableList();
        return Newtonsoft.Json.JsonConvert.SerializeObject(new HttpBootstrapJsonProtocol.SeedNodes(self.UniqueAddress.Address, members));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _app.StopAsync(timeout.Token);
        }
        finally
        {
            await _app.DisposeAsync();
        }
    }
}
