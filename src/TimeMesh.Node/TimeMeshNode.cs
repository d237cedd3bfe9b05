using System.Net;
using Akka.Actor;
using Akka.Event;
using TimeMesh.Node.Clock;
using TimeMesh.Node.Config;
using TimeMesh.Node.Control;
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
    /// Validates the config, binds the NTP sockets (so a taken port fails here, loudly; a taken cluster port too) and
    /// starts the actors.
    /// What a node is made of, in the order it starts: the plan read from the config (nothing runs yet), the clock,
    /// the NTP sockets, the time system, NTS, the time actors with the mesh host, the tracking history, chrony's
    /// command port and the monitoring endpoint.
    /// </summary>
    public static TimeMeshNode Start(Akka.Configuration.Config config, DisciplinedClock? clock = null)
    {
        var plan = NodePlan.FromConfig(config);
        var settings = plan.Settings;
        (clock, var steering) = ChooseClock(settings, clock);
        Directory.CreateDirectory(settings.DataDir);
        // A cluster port another process listens on would be shared silently (SO_REUSEPORT): refuse it first.
        TimeMesh.Node.Mesh.ClusterPort.EnsureFree(plan.Identity);
        // hwtimestamp: the NICs stamp in hardware before the sockets that ask for their stamps are bound.
        var hardware = HardwareTimestamps.Enable(settings.HardwareTimestampInterfaces);
        IReadOnlyList<TimeMesh.Net.BatchedUdpSocket> sockets;
        try
        {
            sockets = NtpSockets.Bind(settings.Listen, settings.NtpServer, hardware.AnyHardware);
        }
        catch
        {
            hardware.Dispose();
            throw;
        }
        var system = StartTimeSystem(plan, sockets);
        system.WhenTerminated.ContinueWith(_ => hardware.Dispose());
        var ntsKe = StartNts(settings, sockets, system);
        var meshNtsKe = StartMeshNts(settings, sockets, system, ntsKe);
        var (actors, meshHost) = StartActors(system, plan, sockets, clock, steering, ntsKe?.Extension ?? meshNtsKe?.Extension, hardware);
        Func<IActorRef?> currentMesh = meshHost is null ? () => actors.Mesh : () => meshHost.Mesh;
        var history = StartHistory(system, plan.History, actors.Sync, currentMesh, clock);
        var queries = Queries(plan, actors, currentMesh, history, clock);
        var (cmdmon, control) = StartMonitoring(system, settings, queries);
        system.Log.Info("{0}", StartedLine(plan, actors, meshHost, meshNtsKe));
        return new TimeMeshNode(system, settings, actors.NtpServer!, actors.Reference, actors.Sync, actors.Endpoints, clock)
        {
            MeshHost = meshHost, MeshClock = actors.MeshClock, Control = control, NodeQueries = queries, Cmdmon = cmdmon, History = history, NtsKe = ntsKe, MeshNtsKe = meshNtsKe,
            Identity = actors.Identity,
        };
    }

    /// <summary>The clock the node disciplines: the caller's, the kernel's (timemesh.clock = system, opt-in, needs CAP_SYS_TIME) or a virtual one.</summary>
    private static (DisciplinedClock Clock, IClockSteering? Steering) ChooseClock(TimeMeshSettings settings, DisciplinedClock? clock)
    {
        if (clock is null && settings.Upstream.Clock == ClockMode.System)
            return (new DisciplinedClock(RealtimeClock.ReadUnixNanoseconds, kernelSteered: true), new KernelClockSteering(new LinuxKernelClock.Controls()));
        return (clock ?? DisciplinedClock.System(), null);
    }

    /// <summary>
    /// The time system: never a cluster member, so NTP serving never waits on membership. The sockets are closed
    /// when it cannot be created. Logs what the plan leaves weak, once.
    /// </summary>
    private static ActorSystem StartTimeSystem(NodePlan plan, IReadOnlyList<TimeMesh.Net.BatchedUdpSocket> sockets)
    {
        ActorSystem system;
        try
        {
            system = ActorSystem.Create(plan.Mesh is null ? "timemesh" : "timemesh-time", plan.TimeConfig);
        }
        catch
        {
            foreach (var s in sockets) s.Dispose();
            throw;
        }
        foreach (string warning in plan.Settings.InsecureFileWarnings) system.Log.Warning("{0}", warning);
        if (plan.Mesh is { } mesh)
        {
            if (mesh.Transport.Security == TimeMesh.Node.Mesh.ClusterSecurity.Insecure) system.Log.Warning("{0}", mesh.Transport.InsecureWarning);
            if (mesh.Tls is not null) LogClusterTls(system.Log, mesh.Tls, mesh.CertifiedRoles!, plan.Settings.Mesh!.Role);
            if (mesh.Ntp == Core.Mesh.MeshNtpDecision.PlainByChoice)
                system.Log.Warning("mesh NTP is NOT authenticated (timemesh.mesh.authenticate = off) although the cluster runs over TLS: anyone on the path between a member and a master can answer the member's requests in the master's name and move its time");
        }
        return system;
    }

    /// <summary>
    /// The time actors, and in a mesh the cluster part (<see cref="TimeMesh.Node.Mesh.MeshHost"/>) that runs the mesh
    /// actor and is replaced when the cluster downs this node. Whatever ends the time system ends the cluster part with it.
    /// </summary>
    private static (TimeMeshActors Actors, TimeMesh.Node.Mesh.MeshHost? MeshHost) StartActors(ActorSystem system, NodePlan plan,
        IReadOnlyList<TimeMesh.Net.BatchedUdpSocket> sockets, DisciplinedClock clock, IClockSteering? steering, Core.Nts.NtsServerExtension? nts,
        HardwareTimestamps hardware)
    {
        var settings = plan.Settings;
        TimeMesh.Node.Mesh.MeshHost? meshHost = null;
        TimeMeshActors actors;
        try
        {
            actors = TimeMeshActors.Start(system, settings, plan.Identity, plan.Persistence, sockets, new MeshClock(clock), steering, nts: nts, hardware: hardware,
                startMesh: plan.Mesh is not { } mesh ? null : meshProps =>
                {
                    var meshSettings = settings.Mesh!;
                    meshHost = new TimeMesh.Node.Mesh.MeshHost(mesh.Config, cluster => cluster.ActorOf(meshProps, "mesh"), system.Log, meshSettings.RejoinDelay,
                        mesh.Tls is null ? null : () => mesh.Tls.ToSetup(mesh.CertifiedRoles), meshSettings.Discovery, settings.SystemName);
                    meshHost.Start();
                    return meshHost.Mesh;
                });
        }
        catch
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(10));
            throw;
        }
        if (meshHost is { } host) system.WhenTerminated.ContinueWith(_ => host.StopAsync());
        return (actors, meshHost);
    }

    /// <summary>The status page's plots: the node's own tracking, sampled into a fixed-size ring (memory only); none without a sync actor.</summary>
    private static IActorRef? StartHistory(ActorSystem system, StatusPage.HistorySettings history, IActorRef? sync, Func<IActorRef?> currentMesh, DisciplinedClock clock) =>
        sync is null ? null : system.ActorOf(StatusPage.HistoryActor.Props(history, sync, currentMesh, clock.NowUnixNs), "history");

    /// <summary>What the monitoring endpoint and chrony's command port read.</summary>
    private static NodeQueries Queries(NodePlan plan, TimeMeshActors actors, Func<IActorRef?> currentMesh, IActorRef? history, DisciplinedClock clock) =>
        new(new NodeActors(actors.NtpServer!, actors.Reference, actors.Sync, actors.Mesh, actors.DriftStore, plan.Settings.Mesh?.Role, currentMesh)
            {
                History = history,
                Timestamping = actors.Timestamping,
                MeshNtp = plan.Mesh?.Ntp switch
                {
                    null => null,
                    Core.Mesh.MeshNtpDecision.Authenticated => "nts",
                    Core.Mesh.MeshNtpDecision.PlainByChoice => "plain-by-choice",
                    _ => "plain",
                },
            },
            clock.NowUnixNs);

    /// <summary>
    /// chrony's command port and the HTTP monitoring endpoint, both reading <paramref name="queries"/>. The command port
    /// (and its termination callback) comes first: registered after the endpoint, a termination without coordinated
    /// shutdown left the endpoint resetting connections instead of refusing them (ControlEndpointTests.TheEndpointStopsWithTheNode).
    /// </summary>
    private static (CmdmonListener? Cmdmon, IMonitoringEndpoint? Control) StartMonitoring(ActorSystem system, TimeMeshSettings settings, NodeQueries queries)
    {
        IMonitoringEndpoint? control = null;
        var cmdmon = CmdmonListener.Start(settings.Cmdmon, queries, () => control?.Requests ?? 0, system.Log);
        if (cmdmon is not null)
        {
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceUnbind, "stop-cmdmon", async () =>
            {
                await cmdmon.DisposeAsync();
                return Akka.Done.Instance;
            });
            // An actor system terminated without coordinated shutdown (a crash in tests) must not leave the port open.
            system.RegisterOnTermination(cmdmon.Close);
        }
        // NodePlan made sure TimeMesh.Control is there when the config asks for the endpoint, except for a socket whose
        // directory did not exist then (the endpoint would skip it): without the package that socket is skipped here.
        if (settings.Control.Listen is not null || settings.Control.Socket is not null)
        {
            if (HttpPart.Endpoints is { } http) control = http.StartMonitoring(settings.Control, queries, system);
            else system.Log.Info("no monitoring socket: {0} is not carried by this application ({1})", HttpPart.PackageId, ControlSettings.SocketKey);
        }
        return (cmdmon, control);
    }

    /// <summary>One line an operator (or journalctl -u timemesh | head) reads to know what this node is.</summary>
    private static string StartedLine(NodePlan plan, TimeMeshActors actors, TimeMesh.Node.Mesh.MeshHost? meshHost, Nts.INtsKeServer? meshNtsKe)
    {
        var settings = plan.Settings;
        var persistence = plan.Persistence;
        string meshText = plan.Mesh is not { } mesh ? "" :
            $", NTP advertised to the mesh as {actors.Identity.AdvertisedNtpEndpoint}, cluster {ClusterLine(mesh.Transport, meshHost)}, "
            + (mesh.Ntp == Core.Mesh.MeshNtpDecision.Authenticated
                ? $"mesh NTP over NTS{(meshNtsKe is null ? "" : $" (key exchange on {string.Join(", ", meshNtsKe.Endpoints)})")}, "
                : mesh.Ntp == Core.Mesh.MeshNtpDecision.PlainByChoice ? "mesh NTP NOT authenticated (authenticate = off), " : "mesh NTP plain (no cluster TLS), ")
            + (settings.Mesh!.Discovery.Enabled
                ? $"formation through Cluster Bootstrap (discovery {settings.Mesh.Discovery.Method.ToString().ToLowerInvariant()}, service {settings.Mesh.Discovery.ServiceName}, management {settings.Mesh.Discovery.ManagementHostname}:{settings.Mesh.Discovery.ManagementPort})"
                : $"seeds [{string.Join(", ", settings.Mesh.Seeds)}]");
        return $"TimeMesh node started: role {settings.Mesh?.Role.ToString().ToLowerInvariant() ?? "alone"}, NTP on {string.Join(", ", actors.Endpoints)}"
            + $", data in {Path.GetFullPath(settings.DataDir)}{(persistence is null ? "" : $" (drift state: {persistence.Provider} {Persistence.PersistenceSettings.Mask(persistence.ConnectionString)})")}{meshText}"
            + $", allow [{string.Join(", ", settings.Access.Allowed)}], deny [{string.Join(", ", settings.Access.Denied)}]"
            + $", upstream [{string.Join(", ", settings.Upstream.Servers.Select(s => s.Name).Concat(settings.Upstream.Pools.Select(p => "pool " + p.Address)))}]"
            + $", clock {settings.Upstream.Clock.ToString().ToLowerInvariant()}";
    }

    /// <summary>The cluster address as the cluster part really has it (a port 0 in the config is resolved), and its protection.</summary>
    private static string ClusterLine(TimeMesh.Node.Mesh.ClusterTransport transport, TimeMesh.Node.Mesh.MeshHost? host)
    {
        if (host is not null && Akka.Cluster.Cluster.Get(host.System).SelfAddress is { Host: { } h, Port: { } p })
            transport = transport with { PublicHost = h, Port = p, BindPort = transport.BindPort == 0 ? p : transport.BindPort };
        return transport.Describe();
    }

    /// <summary>
    /// At every start: when the node's certificate and the CA expire (a warning from 30 days before), and whether the
    /// certificate's role agrees with the configured one.
    /// </summary>
    private static void LogClusterTls(ILoggingAdapter log, TimeMesh.Node.Mesh.ClusterTlsSettings tls, TimeMesh.Node.Mesh.CertifiedRoleRegistry roles, Core.Mesh.MeshRole role)
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var validity in tls.Validity())
        {
            if (validity.ExpiresSoon(now))
                log.Warning("cluster TLS: {0}: renew it before then (timemesh cert issue), or the node stops at its next start and its peers refuse it", validity.Describe(now));
            else
                log.Info("cluster TLS: {0}", validity.Describe(now));
        }
        string configured = role.ToString().ToLowerInvariant();
        if (roles.OwnRole is null)
            log.Warning("cluster TLS: this node's certificate carries no role ({0}master or member): the mesh never takes it for a master; issue it with timemesh cert issue --role {1}",
                Core.Mesh.RoleCertificates.RoleUriPrefix, configured);
        else if (roles.OwnRole != role)
            log.Warning("cluster TLS: this node is configured as {0} but its certificate says {1}: the mesh counts it as {2}",
                configured, roles.OwnRole.Value.ToString().ToLowerInvariant(), roles.OwnRole == Core.Mesh.MeshRole.Master ? "the role its status says (" + configured + ")" : "a member");
    }

    /// <summary>The NTS-KE server (null when NTS is off); stopped with the actor system.</summary>
    public Nts.INtsKeServer? NtsKe { get; private init; }

    private static Nts.INtsKeServer? StartNts(TimeMeshSettings settings, IReadOnlyList<TimeMesh.Net.BatchedUdpSocket> sockets, ActorSystem system)
    {
        if (!settings.Nts.Enabled) return null;
        int ntpPort = settings.Nts.NtpPort != 0 ? settings.Nts.NtpPort : sockets[0].LocalEndPoint.Port;
        Nts.INtsKeServer ke;
        try
        {
            ke = Nts.NtsPart.KeyExchange!.Start(settings.Nts, settings.DataDir, ntpPort, system.Log);
        }
        catch
        {
            foreach (var s in sockets) s.Dispose();
            system.Terminate().Wait(TimeSpan.FromSeconds(10));
            throw;
        }
        system.RegisterOnTermination(ke.Dispose);
        return ke;
    }

    /// <summary>The mesh's NTS-KE server (a master with authenticated mesh NTP; null otherwise); stopped with the actor system.</summary>
    public Nts.INtsKeServer? MeshNtsKe { get; private init; }

    /// <summary>
    /// A master with authenticated mesh NTP serves the mesh's NTS-KE on each NTP listen address at nts-port, sharing the
    /// public NTS-KE's cookie keys when that runs too, so that one NTP port takes both kinds of cookies. Its listeners
    /// close in a termination callback, which runs before <see cref="ActorSystem.WhenTerminated"/> completes, so a
    /// stopped node's port is free when StopAsync returns.
    /// </summary>
    private static Nts.INtsKeServer? StartMeshNts(TimeMeshSettings settings, IReadOnlyList<TimeMesh.Net.BatchedUdpSocket> sockets, ActorSystem system, Nts.INtsKeServer? publicKe)
    {
        if (settings.Mesh is not { Role: Core.Mesh.MeshRole.Master, Nts: { } credentials }) return null;
        // A node configured as master whose certificate does not say master is a member to the mesh (members take
        // mesh time only from certified masters): it has no mesh key exchange to serve, and must not hold the port.
        if (settings.Mesh.CertifiedRoles is { OwnRole: not Core.Mesh.MeshRole.Master }) return null;
        var listen = sockets.Select(s => new IPEndPoint(s.LocalEndPoint.Address, credentials.KePort)).Distinct().ToArray();
        Nts.INtsKeServer ke;
        try
        {
            ke = Nts.NtsPart.KeyExchange!.StartMesh(settings.Nts with { Listen = listen }, credentials, publicKe?.Extension, settings.DataDir,
                sockets[0].LocalEndPoint.Port, system.Log);
        }
        catch (Exception e)
        {
            publicKe?.Dispose();
            foreach (var s in sockets) s.Dispose();
            system.Terminate().Wait(TimeSpan.FromSeconds(10));
            if (e is global::System.Net.Sockets.SocketException se)
                throw new TimeMeshConfigException("timemesh.mesh.nts-port", credentials.KePort.ToString(global::System.Globalization.CultureInfo.InvariantCulture),
                    $"the mesh NTS-KE cannot listen on {string.Join(", ", listen)}: {se.Message}; choose a free TCP port (the same on every master)");
            throw;
        }
        system.RegisterOnTermination(ke.Dispose);
        return ke;
    }

    /// <summary>What a mesh node adds to its actor system: the cluster provider and our status serializer.</summary>
    internal const string MeshHocon = EmbeddedMeshHocon + """

        # A node the cluster downs keeps serving NTP on its own clock instead of shutting the process down.
        akka.cluster.run-coordinated-shutdown-when-down = off
        # A node that has not joined within a minute gives its cluster part up and MeshHost starts a new one (a new
        # UID): the safety net for an incarnation the others removed before it ever saw itself a member.
        akka.cluster.shutdown-after-unsuccessful-join-seed-nodes = 60s
        # Nodes that start together (a power cut, a rack reboot, compose up) try each other while some are not yet
        # listening: Akka's defaults (5 s seed-node timeout, an address gated 5 s after a refused connection) made
        # one cluster take 12-16 s after a simultaneous start here; these make it a few seconds.
        akka.cluster.seed-node-timeout = 1s
        akka.remote.retry-gate-closed-for = 1s
        # A node whose Join reached a member that still holds its previous incarnation (downed, not yet removed) is
        # not welcomed: that member removes the old one and expects the newcomer to ask again, which Akka does only
        # after this period (10 s by default). A node the cluster downed after a partition then rejoined only after
        # its own seed fallback (MeshHost.FormAfter, also 10 s) had made it found a second cluster: 31-40 s to one
        # cluster again in the long chaos profile. Asking again after 2 s lets it in a few seconds after the removal.
        akka.cluster.retry-unsuccessful-join-after = 2s
        # A joining node is Up once the leader has seen every member agree (gossip convergence), checked at
        # leader-actions intervals. Akka's 1 s gossip and leader-action intervals and 1 s initial delay cost
        # 2-4 s of a simultaneous start on a busy 2-core machine (chaos --starts: 6 of 10 within 10 s);
        # half a second is still a trickle of traffic for a mesh of a few nodes.
        akka.cluster.periodic-tasks-initial-delay = 200ms
        akka.cluster.gossip-interval = 500ms
        akka.cluster.leader-actions-interval = 500ms
        akka.actor.serializers.timemesh-reunion = "TimeMesh.Node.Mesh.ReunionSerializer, TimeMesh.Node"
        akka.actor.serialization-bindings {
          "TimeMesh.Node.Mesh.ReunionProtocol+Probe, TimeMesh.Node" = timemesh-reunion
          "TimeMesh.Node.Mesh.ReunionProtocol+ProbeReply, TimeMesh.Node" = timemesh-reunion
        }
        """;

    /// <summary>What the mesh needs in any actor system, an application's too: the cluster provider and our status serializer.</summary>
    public const string EmbeddedMeshHocon = """
        akka.actor.provider = cluster
        akka.actor.serializers.timemesh-status = "TimeMesh.Node.Mesh.TimeStatusSerializer, TimeMesh.Node"
        akka.actor.serialization-bindings {
          "TimeMesh.Core.Mesh.TimeStatus, TimeMesh.Core" = timemesh-status
          "TimeMesh.Core.Mesh.SignedStatus, TimeMesh.Core" = timemesh-status
        }
        """;

    /// <summary>The test hook for in-process clusters: the same mesh HOCON a node uses.</summary>
    public static Akka.Configuration.Config MeshConfig => Akka.Configuration.ConfigurationFactory.ParseString(MeshHocon);

    /// <summary>The node's cluster part (null when the node runs alone).</summary>
    public TimeMesh.Node.Mesh.MeshHost? MeshHost { get; private init; }

    /// <summary>The current mesh actor (null when the node runs alone; a new one after the node rejoined).</summary>
    public IActorRef? Mesh => MeshHost?.Mesh;

    /// <summary>The current cluster actor system (null when the node runs alone; a new one after the node rejoined).</summary>
    public ActorSystem? MeshSystem => MeshHost?.System;

    /// <summary>The node's time with its error bound.</summary>
    public IMeshClock MeshClock { get; private init; } = null!;

    /// <summary>The node's own tracking history for the status page (null without upstream sources or mesh).</summary>
    public IActorRef? History { get; private init; }

    /// <summary>The monitoring endpoint (TimeMesh.Control's <c>ControlEndpoint</c>; null when it is off or its port was taken).</summary>
    public IMonitoringEndpoint? Control { get; private init; }
    /// <summary>What the monitoring endpoint and chrony's command port answer from (tracking, sources, mesh...), in process.</summary>
    public NodeQueries NodeQueries { get; private init; } = null!;

    /// <summary>chrony's command port (null when it is off or no address could be bound).</summary>
    public CmdmonListener? Cmdmon { get; private init; }

    /// <summary>Who the node is to the others: its cluster address, drift state name and advertised NTP endpoint.</summary>
    public NodeIdentity Identity { get; private init; } = null!;

    internal static async Task<Core.Mesh.TimeStatus> OwnStatus(IActorRef reference, IActorRef sync, string endpoint, DisciplinedClock clock)
    {
        var timeout = TimeSpan.FromSeconds(2);
        var state = await reference.Ask<Core.Server.ReferenceState>(ReferenceProtocol.GetReference.Instance, timeout);
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
