using System.Net;
using Akka.Actor;
using Akka.Event;
using TimeMesh.Node.Clock;
using TimeMesh.Node.Config;
using TimeMesh.Node.Ntp;
using TimeMesh.Node.Sync;

namespace TimeMesh.Node;

/// <summary>One TimeMesh node: an actor system with the NTP server and the actors that drive it.</summary>
public sealed class TimeMeshNode : IAsyncDisposable
{
    private TimeMeshNode(ActorSystem system, TimeMeshSettings settings, IActorRef ntpServer, IActorRef reference,
        IActorRef? sync, IReadOnlyList<IPEndPoint> endpoints, DisciplinedClock clock)
    {
        Sync = sync;
        System = system;
        Settings = settings;
        NtpServer = ntpServer;
        Reference = reference;
        Endpoints = endpoints;
        Clock = clock;
    }

    public ActorSystem System { get; }
    public TimeMeshSettings Settings { get; }
    public IActorRef NtpServer { get; }
    public IActorRef Reference { get; }
    /// <summary>The upstream client (null when no server or pool is configured).</summary>
    public IActorRef? Sync { get; }
    /// <summary>Where the NTP server listens (ports resolved when the config said 0).</summary>
    public IReadOnlyList<IPEndPoint> Endpoints { get; }
    public DisciplinedClock Clock { get; }

    public Task WhenTerminated => System.WhenTerminated;

    /// <summary>
    /// Validates the config, binds the NTP sockets (so a taken port fails here, loudly) and starts the actors.
    /// </summary>
    public static TimeMeshNode Start(Akka.Configuration.Config config, DisciplinedClock? clock = null)
    {
        var full = TimeMeshSettings.WithReference(config);
        var settings = TimeMeshSettings.FromConfig(full);
        Akka.Configuration.Config? meshConfig = null;
        TimeMesh.Node.Mesh.ClusterTlsSettings? clusterTls = null;
        if (settings.Mesh is not null)
        {
            // In a mesh the cluster member runs in an actor system of its own (MeshHost) that can be replaced
            // when the cluster downs this node; the time system beside it is never a cluster member, so NTP
            // serving never waits on membership.
            meshConfig = Akka.Configuration.ConfigurationFactory.ParseString(MeshHocon).WithFallback(full);
            clusterTls = TimeMesh.Node.Mesh.ClusterTlsSettings.FromConfig(full);
            if (clusterTls is not null)
                meshConfig = Akka.Configuration.ConfigurationFactory.ParseString(TimeMesh.Node.Mesh.ClusterTlsSettings.Hocon).WithFallback(meshConfig);
            full = Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = local").WithFallback(full);
        }
        // Only a node with a sync actor keeps drift state; a plain local server loads no persistence code at all.
        bool keepsDrift = settings.Upstream.HasSources || settings.Mesh is not null;
        var persistence = keepsDrift ? Persistence.PersistenceSettings.FromConfig(full) : null;
        if (persistence is not null) full = persistence.ToAkkaConfig().WithFallback(full);
        IClockSteering? steering = null;
        if (clock is null && settings.Upstream.Clock == ClockMode.System)
        {
            // Opt-in: the kernel clock itself is steered (needs CAP_SYS_TIME).
            clock = new DisciplinedClock(RealtimeClock.ReadUnixNanoseconds, kernelSteered: true);
            steering = new KernelClockSteering(new LinuxKernelClock.Controls());
        }
        clock ??= DisciplinedClock.System();
        Directory.CreateDirectory(settings.DataDir);

        var sockets = NtpSockets.Bind(settings.Listen, settings.NtpServer);
        ActorSystem system;
        try
        {
            system = ActorSystem.Create(settings.Mesh is null ? "timemesh" : "timemesh-time", full);
        }
        catch
        {
            foreach (var s in sockets) s.Dispose();
            throw;
        }
        sbyte precision = RealtimeClock.MeasurePrecisionLog2(clock.ReadRawUnixNs);
        var server = system.ActorOf(NtpServerActor.Props(settings, sockets, clock, precision), "ntp-server");
        var reference = system.ActorOf(ReferenceActor.Props(settings, server), "reference");
        var sync = settings.Upstream.HasSources || settings.Mesh is not null
            ? system.ActorOf(SyncActor.Props(settings.Upstream, clock, reference, precision, steering,
                meshMaster: settings.Mesh?.Role == Core.Mesh.MeshRole.Master), "sync")
            : null;
        var endpoints = sockets.Select(s => s.LocalEndPoint).Distinct().ToArray();
        IActorRef? drift = null;
        if (sync is not null && persistence is not null)
        {
            // The drift state (chrony's driftfile) is kept per node: recovered at start, recorded after updates.
            string nodeName = settings.Mesh is null ? "local" : $"{full.GetString("akka.remote.dot-netty.tcp.hostname", "localhost")}-{full.GetInt("akka.remote.dot-netty.tcp.port", 0)}";
            drift = system.ActorOf(Persistence.DriftStore.Props(persistence, nodeName, notifyRecovered: sync), "drift");
            sync.Tell(new SyncProtocol.UseDriftStore(drift));
            var store = drift;
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "flush-drift", async () =>
            {
                try { await store.Ask<object>(Persistence.DriftProtocol.Flush.Instance, TimeSpan.FromSeconds(5)); }
                catch (Exception) { /* the database is away: the state in memory is lost, time service was never affected */ }
                return Akka.Done.Instance;
            });
        }
        TimeMesh.Node.Mesh.MeshHost? meshHost = null;
        if (settings.Mesh is { } meshSettings)
        {
            string advertised = AdvertisedNtpEndpoint(endpoints, full);
            meshHost = new TimeMesh.Node.Mesh.MeshHost(meshConfig!,
                cluster => cluster.ActorOf(TimeMesh.Node.Mesh.MeshActor.Props(meshSettings, () => OwnStatus(reference, sync!, advertised, clock), follower: sync), "mesh"),
                system.Log, meshSettings.RejoinDelay, clusterTls is null ? null : clusterTls.ToSetup);
            try
            {
                meshHost.Start();
            }
            catch
            {
                system.Terminate().Wait(TimeSpan.FromSeconds(10));
                throw;
            }
            // Whatever ends the time system ends the cluster part with it.
            var host = meshHost;
            system.WhenTerminated.ContinueWith(_ => host.StopAsync());
            system.Log.Info("mesh: role {0}, NTP advertised as {1}, seeds [{2}]", meshSettings.Role.ToString().ToLowerInvariant(), advertised,
                string.Join(", ", full.GetStringList("akka.cluster.seed-nodes", [])));
        }
        if (persistence is not null) LogPersistence(system, persistence);
        system.Log.Info("TimeMesh node started: NTP on {0}, data in {1}, allow [{2}], deny [{3}], upstream [{4}], clock {5}",
            string.Join(", ", endpoints), Path.GetFullPath(settings.DataDir),
            string.Join(", ", settings.Access.Allowed), string.Join(", ", settings.Access.Denied),
            string.Join(", ", settings.Upstream.Servers.Select(s => s.Name).Concat(settings.Upstream.Pools.Select(p => "pool " + p.Address))),
            settings.Upstream.Clock.ToString().ToLowerInvariant());
        return new TimeMeshNode(system, settings, server, reference, sync, endpoints, clock) { MeshHost = meshHost };
    }

    private static void LogPersistence(ActorSystem system, Persistence.PersistenceSettings persistence) =>
        system.Log.Info("drift state: {0} ({1})", persistence.Provider, Persistence.PersistenceSettings.Mask(persistence.ConnectionString));

    /// <summary>What a mesh node adds to its actor system: the cluster provider and our status serializer.</summary>
    private const string MeshHocon = """
        akka.actor.provider = cluster
        # A node the cluster downs keeps serving NTP on its own clock instead of shutting the process down.
        akka.cluster.run-coordinated-shutdown-when-down = off
        akka.actor.serializers.timemesh-status = "TimeMesh.Node.Mesh.TimeStatusSerializer, TimeMesh.Node"
        akka.actor.serialization-bindings { "TimeMesh.Core.Mesh.TimeStatus, TimeMesh.Core" = timemesh-status }
        """;

    /// <summary>The test hook for in-process clusters: the same mesh HOCON a node uses.</summary>
    public static Akka.Configuration.Config MeshConfig => Akka.Configuration.ConfigurationFactory.ParseString(MeshHocon);

    /// <summary>The node's cluster part (null when the node runs alone).</summary>
    public TimeMesh.Node.Mesh.MeshHost? MeshHost { get; private init; }

    /// <summary>The current mesh actor (null when the node runs alone; a new one after the node rejoined).</summary>
    public IActorRef? Mesh => MeshHost?.Mesh;

    /// <summary>The current cluster actor system (null when the node runs alone; a new one after the node rejoined).</summary>
    public ActorSystem? MeshSystem => MeshHost?.System;

    /// <summary>The NTP endpoint other nodes should poll: the first listen address, or the cluster hostname for a wildcard.</summary>
    private static string AdvertisedNtpEndpoint(IReadOnlyList<IPEndPoint> endpoints, Akka.Configuration.Config config)
    {
        var first = endpoints[0];
        if (!first.Address.Equals(IPAddress.Any) && !first.Address.Equals(IPAddress.IPv6Any)) return first.ToString();
        string host = config.GetString("akka.remote.dot-netty.tcp.hostname", "127.0.0.1");
        return IPAddress.TryParse(host, out var address) ? new IPEndPoint(address, first.Port).ToString() : $"127.0.0.1:{first.Port}";
    }

    private static async Task<Core.Mesh.TimeStatus> OwnStatus(IActorRef reference, IActorRef sync, string endpoint, DisciplinedClock clock)
    {
        var timeout = TimeSpan.FromSeconds(2);
        var state = await reference.Ask<Core.Server.ReferenceState>(ReferenceActor.GetReference.Instance, timeout);
        var syncState = await sync.Ask<SyncProtocol.SyncState>(SyncProtocol.GetSyncState.Instance, timeout);
        long now = clock.NowUnixNs();
        return new Core.Mesh.TimeStatus
        {
            Node = "",
            Role = Core.Mesh.MeshRole.Member,
            NtpEndpoint = endpoint,
            Stratum = state.Stratum,
            RootDistanceSeconds = state.RootDelaySeconds / 2 + state.RootDispersionAt(now),
            UpstreamSynchronised = syncState.Synchronised && !syncState.ViaMesh,
            Serving = state.Kind != Core.Server.ReferenceKind.Unsynchronised,
            ReferenceId = state.ReferenceId,
            SynchronisedSinceUnixNs = syncState.SynchronisedSinceUnixNs,
            SentUnixNs = now,
        };
    }

    /// <summary>Runs coordinated shutdown and waits for the actor system to terminate.</summary>
    public async Task StopAsync()
    {
        // Leave the cluster first, so the other nodes see a leave rather than a crash.
        if (MeshHost is not null) await MeshHost.StopAsync().WaitAsync(TimeSpan.FromSeconds(15)).ContinueWith(_ => { });
        await CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClrExitReason.Instance);
        await System.WhenTerminated;
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    /// <summary>
    /// Stops the node as a crash would: the cluster part stops without leaving (when the config turns
    /// <c>akka.coordinated-shutdown.run-by-actor-system-terminate</c> off) and then the time system.
    /// </summary>
    internal async Task AbortAsync()
    {
        if (MeshHost is not null) await MeshHost.AbortAsync();
        await System.Terminate();
    }
}
