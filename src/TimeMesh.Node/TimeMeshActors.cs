using System.Net;
using Akka.Actor;
using Akka.Event;
using TimeMesh.Net;
using TimeMesh.Node.Clock;
using TimeMesh.Node.Config;
using TimeMesh.Node.Ntp;
using TimeMesh.Node.Persistence;
using TimeMesh.Node.Sync;

namespace TimeMesh.Node;

/// <summary>
/// The time actors of one node, started inside an actor system: the node's own (<see cref="TimeMeshNode.Start"/>)
/// or an application's (TimeMesh.Hosting's <c>WithTimeMesh</c>). Null members are the parts the settings leave out.
/// </summary>
public sealed record TimeMeshActors(
    IActorRef? NtpServer,
    IActorRef Reference,
    IActorRef? Sync,
    IActorRef? DriftStore,
    IActorRef? Mesh,
    IActorRef MeshClockPublisher,
    IReadOnlyList<IPEndPoint> Endpoints,
    MeshClock MeshClock,
    NodeIdentity Identity)
{
    /// <summary>The node's hwtimestamp interfaces and the stamping each got (<see cref="HardwareTimestamps.Off"/> when not set).</summary>
    public HardwareTimestamps Timestamping { get; init; } = HardwareTimestamps.Off;

    /// <summary>
    /// Starts the actors in <paramref name="system"/>, whose config must already hold what the settings need
    /// (the cluster provider and the TimeStatus serializer in a mesh, the persistence plugins when
    /// <paramref name="persistence"/> is given).
    /// </summary>
    /// <param name="sockets">Bound NTP sockets the server actor takes over; null: no NTP server (a member that only follows the mesh).</param>
    /// <param name="identity">Who the node is to the others (<see cref="NodeIdentity.FromConfig"/>); its advertised NTP
    /// endpoint is filled in here from the sockets.</param>
    /// <param name="persistence">Where the drift state is kept; null: not kept.</param>
    /// <param name="meshClock">The clock the node disciplines and the mesh clock it publishes to.</param>
    /// <param name="namePrefix">Prefixed to the top-level actor names, so that they cannot clash with an application's.</param>
    /// <param name="nts">NTS on the NTP server (null: off).</param>
    /// <param name="hardware">The hwtimestamp interfaces, already switched on before the sockets were bound (null: off).</param>
    /// <param name="startMesh">Starts the mesh actor from its props somewhere else (a standalone node's cluster part,
    /// see MeshHost); null: in <paramref name="system"/>, which is then the cluster member.</param>
    public static TimeMeshActors Start(ActorSystem system, TimeMeshSettings settings, NodeIdentity identity, PersistenceSettings? persistence,
        IReadOnlyList<BatchedUdpSocket>? sockets, MeshClock meshClock, IClockSteering? steering = null, string namePrefix = "",
        Func<Props, IActorRef>? startMesh = null, Core.Nts.NtsServerExtension? nts = null, HardwareTimestamps? hardware = null)
    {
        hardware ??= HardwareTimestamps.Off;
        hardware.Log(system.Log);
        if (hardware.AnyHardware) system.ActorOf(HardwareClockActor.Props(hardware), namePrefix + "hardware-clock");
        var full = system.Settings.Config;
        foreach (string warning in StartWarnings(settings)) system.Log.Warning("{0}", warning);
        if (settings.Mesh is not null && startMesh is null)
        {
            // Embedded: this system is the cluster member, and the application named it.
            foreach (string mismatch in TimeMesh.Node.Mesh.ClusterSystemName.Mismatches(identity.SystemName, full.GetStringList("akka.cluster.seed-nodes", []),
                         $"name the application's ActorSystem (AddAkka's first argument) as the seeds' is named, or run the standalone masters with {TimeMesh.Node.Mesh.ClusterSystemName.Key} = \"{system.Name}\""))
                system.Log.Error("{0}", mismatch);
        }
        var clock = meshClock.Clock;
        sbyte precision = RealtimeClock.MeasurePrecisionLog2(clock.ReadRawUnixNs);
        var server = sockets is null ? null : system.ActorOf(NtpServerActor.Props(settings, sockets, clock, precision, nts, hardware), namePrefix + "ntp-server");
        var reference = system.ActorOf(ReferenceActor.Props(settings, server), namePrefix + "reference");
        var endpoints = sockets is null ? [] : sockets.Select(s => s.LocalEndPoint).Distinct().ToArray();
        // A node without NTP sockets advertises nothing: nobody follows it (only members may run so).
        identity = identity.WithNtpEndpoints(endpoints);
        string advertised = identity.AdvertisedNtpEndpoint;
        var sync = settings.Upstream.HasSources || settings.Mesh is not null
            ? system.ActorOf(SyncActor.Props(settings.Upstream, clock, reference, precision, steering,
                mesh: settings.Mesh is { } m ? new MeshFollowSettings(m.Role, m.Masters, IPEndPoint.TryParse(advertised, out var self) ? self : null) { Nts = m.Nts } : null,
                hardware: hardware), namePrefix + "sync")
            : null;
        IActorRef? drift = null;
        if (sync is not null && persistence is not null)
        {
            // The drift state (chrony's driftfile) is kept per node: recovered at start, recorded after updates.
            drift = system.ActorOf(Persistence.DriftStore.Props(persistence, identity.NodeName, notifyRecovered: sync), namePrefix + "drift");
            sync.Tell(new SyncProtocol.UseDriftStore(drift));
            var store = drift;
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "flush-drift", async () =>
            {
                try { await store.Ask<object>(DriftProtocol.Flush.Instance, TimeSpan.FromSeconds(5)); }
                catch (Exception) { /* the database is away: the state in memory is lost, time service was never affected */ }
                return Akka.Done.Instance;
            });
        }
        // The mesh clock hears of leader changes straight from the mesh actor, wherever that runs.
        var publisher = system.ActorOf(MeshClockActor.Props(meshClock, reference), namePrefix + "mesh-clock");
        IActorRef? mesh = null;
        if (settings.Mesh is { } meshSettings)
        {
            var meshProps = TimeMesh.Node.Mesh.MeshActor.Props(meshSettings, () => TimeMeshNode.OwnStatus(reference, sync!, advertised, clock),
                follower: sync, leaderListener: publisher);
            mesh = startMesh is null ? system.ActorOf(meshProps, namePrefix + "mesh") : startMesh(meshProps);
            system.Log.Info("mesh: role {0}, NTP advertised as {1}, seeds [{2}], masters [{3}]", meshSettings.Role.ToString().ToLowerInvariant(), advertised.Length > 0 ? advertised : "(none)",
                string.Join(", ", full.GetStringList("akka.cluster.seed-nodes", [])),
                meshSettings.Masters.Count > 0 ? string.Join(", ", meshSettings.Masters) : "as the cluster advertises them");
            if (meshSettings.Masters.Count == 0 && meshSettings.Role == Core.Mesh.MeshRole.Member)
                system.Log.Warning("mesh: timemesh.mesh.masters is empty: this member takes time only from the masters the cluster advertises, so it loses time while it is out of the cluster; name the masters' NTP addresses there");
        }
        return new TimeMeshActors(server, reference, sync, drift, mesh, publisher, endpoints, meshClock, identity) { Timestamping = hardware };
    }

    /// <summary>What a node's settings leave it unable to do, said once at start.</summary>
    public static IReadOnlyList<string> StartWarnings(TimeMeshSettings settings)
    {
        if (settings.Mesh is not null || settings.Upstream.HasSources) return [];
        string serves = settings.Local is { } local ? $"it serves its own clock at local stratum {local.Stratum}" : "it has no time to serve";
        return [$"this node has neither a mesh role (timemesh.role; TimeMeshOptions.Role) nor upstream servers (timemesh.server, timemesh.pool): "
            + $"it never synchronises and its mesh clock stays unsynchronised (IMeshClock.Now().Synchronised = false); {serves}"];
    }
}
