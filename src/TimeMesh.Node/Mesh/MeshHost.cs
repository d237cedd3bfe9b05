using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace TimeMesh.Node.Mesh;

/// <summary>
/// Runs a node's cluster part (the cluster member and its mesh actor) in an actor system of its own, beside the
/// node's time system (NTP server, reference, sync, drift state). Akka.Cluster never lets a removed member come
/// back in the same actor system, so when the cluster downs this node — a crash of its peers' failure detector,
/// or the split-brain resolver cutting off the side of a partition this node was on — the host terminates the
/// cluster system and starts a new incarnation that joins the other seed nodes again. NTP service, the sync
/// actor's sources and the disciplined clock are untouched throughout.
/// </summary>
public sealed class MeshHost
{
    private readonly Akka.Configuration.Config _config;
    private readonly Func<ActorSystem, IActorRef> _startMeshActor;
    private readonly ILoggingAdapter _log;
    private readonly TimeSpan _restartDelay;
    private readonly Func<Akka.Actor.Setup.Setup>? _transportSetup;
    private readonly DiscoverySettings _discovery;
    private readonly string _systemName;
    /// <summary>With Cluster Bootstrap: the masters' cluster addresses, learnt from their management endpoints.</summary>
    private readonly BootstrapMasters? _masters;
    private readonly object _gate = new();
    /// <summary>Incarnations being replaced (a removal is reported once per incarnation, but be sure).</summary>
    private readonly HashSet<ActorSystem> _restarting = new(ReferenceEqualityComparer.Instance);
    private ActorSystem _system = null!;
    private IActorRef _mesh = null!;
    private int _incarnation;
    private bool _stopping;

    /// <param name="config">The cluster system's whole config (the node's config with the mesh HOCON).</param>
    /// <param name="startMeshActor">Starts the mesh actor in a (new) cluster system.</param>
    /// <param name="log">Where restarts are logged (the node's time system, which outlives every incarnation).</param>
    /// <param name="restartDelay">How long to wait between a removal and the new incarnation.</param>
    /// <param name="transportSetup">Makes the transport's setup for each incarnation (cluster TLS), if any.</param>
    /// <param name="systemName">The cluster actor system's name (<c>timemesh.system-name</c>), the same in every incarnation.</param>
    /// <param name="discovery">
    /// How the cluster forms: seed nodes (null or <see cref="DiscoveryMethod.Seeds"/>), or Cluster Bootstrap, whose
    /// Akka keys the config must already hold (<see cref="DiscoverySettings.ToAkkaConfig"/>).
    /// </param>
    public MeshHost(Akka.Configuration.Config config, Func<ActorSystem, IActorRef> startMeshActor, ILoggingAdapter log, TimeSpan restartDelay,
        Func<Akka.Actor.Setup.Setup>? transportSetup = null, DiscoverySettings? discovery = null, string systemName = ClusterSystemName.Default)
    {
        _systemName = systemName;
        _discovery = discovery ?? DiscoverySettings.SeedNodes;
        _masters = _discovery.Enabled ? new BootstrapMasters(_discovery) : null;
        _transportSetup = transportSetup;
        _config = config;
        _startMeshActor = startMeshActor;
        _log = log;
        _restartDelay = restartDelay;
    }

    /// <summary>The current incarnation's actor system (it changes when the node rejoins).</summary>
    public ActorSystem System { get { lock (_gate) return _system; } }

    /// <summary>The current incarnation's mesh actor.</summary>
    public IActorRef Mesh { get { lock (_gate) return _mesh; } }

    /// <summary>1 for the first cluster system, +1 for every rejoin.</summary>
    public int Incarnation { get { lock (_gate) return _incarnation; } }

    /// <summary>The seed nodes the config names.</summary>
    public IReadOnlyList<Address> Seeds => _config.GetStringList("akka.cluster.seed-nodes", []).Select(Address.Parse).ToList();

    /// <summary>
    /// Starts the first incarnation; it joins the configured seed nodes as Akka.Cluster does, or, with a discovery
    /// method, starts Akka.Management's endpoint and Cluster Bootstrap. A management port that is taken fails here.
    /// </summary>
    public void Start() => StartIncarnation(rejoin: false);

    /// <summary>With Cluster Bootstrap: the masters' cluster addresses learnt so far (empty with seed nodes).</summary>
    public IReadOnlyList<Address> DiscoveredMasters => _masters?.Addresses ?? [];

    /// <summary>
    /// Where a rejoining incarnation asks to be let in: every node the last incarnation knew as a member, then the
    /// seeds, never itself. Members count as well as seeds: when a partition left the masters (the seeds) on the
    /// minority side, the cluster goes on among the members, and only they can let the masters back in.
    /// </summary>
    private List<Address> _rejoinContacts = new();

    private void StartIncarnation(bool rejoin)
    {
        // A rejoining node never founds a cluster: were it the first seed, it would otherwise found one of its own
        // while the partition that cut it off still lasts, and the two would never merge.
        var config = rejoin
            ? Akka.Configuration.ConfigurationFactory.ParseString("akka.cluster.seed-nodes = []").WithFallback(_config)
            : _config;
        var system = _transportSetup is null
            ? ActorSystem.Create(_systemName, config)
            : ActorSystem.Create(_systemName, BootstrapSetup.Create().WithConfig(config).And(_transportSetup()));
        IActorRef mesh;
        try
        {
            mesh = _startMeshActor(system);
            // With Cluster Bootstrap the management endpoint serves /bootstrap/seed-nodes to the others' bootstrap
            // from the start, whether this incarnation joins through it or through the members it knew.
            if (_discovery.Enabled) StartManagement(system);
        }
        catch
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(10));
            throw;
        }
        var cluster = Cluster.Get(system);
        bool knewMembers = false;
        if (rejoin)
        {
            List<Address> contacts;
            lock (_gate) contacts = _rejoinContacts.Concat(Seeds).Where(a => a != cluster.SelfAddress).Distinct().ToList();
            knewMembers = contacts.Count > 0;
            // A rejoining incarnation asks the members it knew first (with bootstrap too: they are the cluster it left).
            if (knewMembers || !_discovery.Enabled) cluster.JoinSeedNodes(contacts.Count > 0 ? contacts : Seeds);
        }
        lock (_gate)
        {
            _system = system;
            _mesh = mesh;
            _incarnation++;
        }
        if (_discovery.Enabled)
        {
            // Bootstrap finds the cluster through the masters' management endpoints; on a rejoin that knew members
            // it starts only if they did not let this node in within FormAfter.
            var bootstrapAfter = knewMembers ? FormAfter : TimeSpan.Zero;
            _ = Task.Delay(bootstrapAfter).ContinueWith(_ =>
            {
                lock (_gate)
                {
                    if (_stopping || !ReferenceEquals(system, _system)) return;
                }
                if (knewMembers && cluster.SelfMember.Status is MemberStatus.Joining or MemberStatus.WeaklyUp or MemberStatus.Up) return;
                if (knewMembers)
                    _log.Info("cluster: the members this node knew did not let it in within {0:0} s; Cluster Bootstrap looks for the cluster through the masters", FormAfter.TotalSeconds);
                Control.HttpPart.Endpoints!.StartBootstrap(system).ContinueWith(t => _log.Error(t.Exception!.GetBaseException(), "cluster: Cluster Bootstrap did not start"),
                    TaskContinuationOptions.OnlyOnFaulted);
            });
            _ = _masters!.RunAsync(system, ReunionInterval);
        }
        cluster.RegisterOnMemberRemoved(() => OnRemoved(system));
        system.ActorOf(Props.Create(() => new MemberWatcher(Remember)), "timemesh-member-watcher");
        IReadOnlyCollection<string> seedNames = Seeds.Select(x => x.ToString()).ToHashSet(StringComparer.Ordinal);
        system.ActorOf(Props.Create(() => new QuarantineWatcher(why => Restart(system, why))), "timemesh-quarantine-watcher");
        system.ActorOf(ReunionActor.Props(RejoinContacts, contacts => MoveTo(system, contacts), Remember, ReunionInterval,
            // The seeds come from the node's config: a rejoining incarnation's own config has none (it joins through its contacts).
            _masters is null ? () => seedNames : () => _masters.AddressStrings), ReunionActor.Name);
        if (rejoin && Seeds.Contains(cluster.SelfAddress))
        {
            // A seed that found nobody to let it in (its peers are dead, or still cut off) founds a cluster of its
            // own after a while, so that a mesh whose other master died still has a cluster; should the others
            // turn out to have one too, the reunion brings the two together once they can reach each other.
            // The seeds wait in the config's order (the first FormAfter, the second twice that, ...): when every
            // node was downed at once, only the first founds, and the others join it instead of founding clusters
            // of their own at the same moment that a reunion would then have to merge (31-37 s to one cluster).
            var formAfter = FormAfterFor(Seeds, cluster.SelfAddress, FormAfter);
            _ = Task.Delay(formAfter).ContinueWith(_ =>
            {
                lock (_gate)
                {
                    if (_stopping || !ReferenceEquals(system, _system)) return;
                }
                if (cluster.SelfMember.Status is MemberStatus.Joining or MemberStatus.WeaklyUp or MemberStatus.Up) return;
                _log.Warning("cluster: no node let this seed in within {0:0} s; it forms a cluster of its own (a reunion merges it with any other once they reach each other)", formAfter.TotalSeconds);
                cluster.Join(cluster.SelfAddress);
            });
        }
    }

    /// <summary>Keeps the last few dozen members this node has seen Up, newest first, as contacts for a rejoin.</summary>
    private void Remember(Address member)
    {
        lock (_gate)
        {
            _rejoinContacts.Remove(member);
            _rejoinContacts.Insert(0, member);
            if (_rejoinContacts.Count > MaxRejoinContacts) _rejoinContacts.RemoveAt(_rejoinContacts.Count - 1);
        }
    }

    private const int MaxRejoinContacts = 32;

    /// <summary>How often a member asks the nodes outside its cluster which cluster they are in.</summary>
    public TimeSpan ReunionInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a rejoining seed tries to be let in before it forms a cluster of its own (the first seed; see <see cref="FormAfterFor"/>).</summary>
    public TimeSpan FormAfter { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the rejoining seed <paramref name="self"/> waits before it founds a cluster: <paramref name="first"/> times its place in the seed list.</summary>
    internal static TimeSpan FormAfterFor(IReadOnlyList<Address> seeds, Address self, TimeSpan first)
    {
        int rank = Math.Max(0, seeds.ToList().IndexOf(self));
        return first * (rank + 1);
    }

    /// <summary>The nodes a reunion probe goes to: every member seen, then the seeds (with bootstrap: the masters discovered).</summary>
    private IReadOnlyList<Address> RejoinContacts()
    {
        lock (_gate) return _rejoinContacts.Concat(Seeds).Concat(DiscoveredMasters).Distinct().ToList();
    }

    /// <summary>
    /// Binds the management endpoint (akka.management.http hostname:port; a port that is taken throws): ours on Kestrel,
    /// not <c>AkkaManagement.Get(system).Start()</c>, whose HTTP server does not run on the Ceen.Httpd served here
    /// (TimeMesh.Control's <c>ManagementEndpoint</c>).
    /// </summary>
    private void StartManagement(ActorSystem system)
    {
        // NodePlan made sure TimeMesh.Control is there when the mesh forms through discovery.
        var endpoint = Control.HttpPart.Endpoints!.StartManagement(system);
        lock (_gate) _management = endpoint;
        _log.Info("cluster: management endpoint on {0} ({1}); formation through Cluster Bootstrap, discovery {2}", endpoint.SelfBaseUri,
            Control.IManagementEndpoint.SeedNodesPath, _discovery.Method.ToString().ToLowerInvariant());
    }

    private Control.IManagementEndpoint? _management;

    /// <summary>This node's cluster is to move into another (see <see cref="ReunionActor"/>): leave, then rejoin through its members.</summary>
    private void MoveTo(ActorSystem system, IReadOnlyList<Address> contacts)
    {
        lock (_gate)
        {
            if (_stopping || !ReferenceEquals(system, _system)) return;
            _rejoinContacts = contacts.Concat(_rejoinContacts.Where(c => !contacts.Contains(c))).Take(MaxRejoinContacts).ToList();
        }
        var cluster = Cluster.Get(system);
        cluster.Leave(cluster.SelfAddress);
    }

    /// <summary>Tells the host of every member that comes Up (itself included; the host leaves itself out).</summary>
    private sealed class MemberWatcher : ReceiveActor
    {
        public MemberWatcher(Action<Address> remember)
        {
            Receive<ClusterEvent.MemberUp>(m => remember(m.Member.Address));
            Receive<ClusterEvent.MemberWeaklyUp>(m => remember(m.Member.Address));
            ReceiveAny(_ => { });
        }

        protected override void PreStart() => Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.MemberUp), typeof(ClusterEvent.MemberWeaklyUp));

        protected override void PostStop() => Cluster.Get(Context.System).Unsubscribe(Self);
    }

    private void OnRemoved(ActorSystem system) => Restart(system, "was removed from the cluster");

    /// <summary>
    /// Replaces an incarnation that can never be a member again: removed from the cluster, quarantined by the
    /// others, or out of time to join. Once per incarnation, and never while the process or the node stops.
    /// </summary>
    private void Restart(ActorSystem system, string why)
    {
        // The CLR's exit hook runs every actor system's coordinated shutdown first: leaving then is no removal.
        if (CoordinatedShutdown.Get(system).ShutdownReason is CoordinatedShutdown.ClrExitReason) return;
        var cluster = Cluster.Get(system);
        List<Address> known;
        lock (_gate)
        {
            if (_stopping || !ReferenceEquals(system, _system) || !_restarting.Add(system)) return;
            known = _rejoinContacts.ToList();
        }
        _log.Warning("cluster: this node ({0}) {1}; NTP service goes on, the cluster part restarts to rejoin in {2:0.#} s through [{3}]",
            cluster.SelfAddress, why, _restartDelay.TotalSeconds, string.Join(", ", known.Concat(Seeds).Where(a => a != cluster.SelfAddress).Distinct()));
        _ = Task.Run(() => RestartAsync(system));
    }

    /// <summary>
    /// Told when another node quarantined this incarnation. That happens to a node the cluster downed and removed
    /// while it could not hear about it, e.g. one that stalled for ~10 s between asking to join and being welcomed
    /// (the cause of the "master-b never joined" reports, docs/mesh.md): it never saw itself a member, so no
    /// removal reaches it, and no node will ever talk to this incarnation again. Only a new one (a new UID) can join.
    /// </summary>
    private sealed class QuarantineWatcher : ReceiveActor
    {
        private readonly DateTime _started = DateTime.UtcNow;

        public QuarantineWatcher(Action<string> quarantined) =>
            Receive<Akka.Remote.ThisActorSystemQuarantinedEvent>(e =>
            {
                // Only the stuck case: an incarnation that is not a member and has tried for a while. A fresh one can hear
                // a late refusal meant for the incarnation before it (same address), and a member that is quarantined
                // is downed and removed by the others, which reaches it as a removal.
                var self = Cluster.Get(Context.System).SelfMember.Status;
                if (DateTime.UtcNow - _started < TimeSpan.FromSeconds(10) || self is MemberStatus.Up or MemberStatus.WeaklyUp) return;
                quarantined($"was quarantined by {e.RemoteAddress}");
            });

        protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(Akka.Remote.ThisActorSystemQuarantinedEvent));
    }

    private async Task RestartAsync(ActorSystem old)
    {
        // The management port is bound again by the next incarnation: unbind it first.
        Control.IManagementEndpoint? management;
        lock (_gate) management = _management;
        if (management is not null) await management.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
        await old.Terminate().WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(_ => { });
        var delay = _restartDelay;
        while (true)
        {
            await Task.Delay(delay);
            lock (_gate)
            {
                if (_stopping) return;
            }
            try
            {
                StartIncarnation(rejoin: true);
                _log.Info("cluster: incarnation {0} of this node's cluster part started, joining {1}", Incarnation,
                    _discovery.Enabled ? "the members it knew, then through Cluster Bootstrap" : "the seed nodes");
                lock (_gate)
                {
                    // Stopped while the new incarnation started: do not leave it running.
                    if (_stopping) _ = _system.Terminate();
                }
                return;
            }
            catch (Exception e)
            {
                // The cluster port may still be held by the old incarnation's sockets; try again, more slowly.
                _log.Warning("cluster: restarting the cluster part failed ({0}); retrying", e.Message);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }
    }

    /// <summary>Leaves the cluster gracefully (the others see a leave, not a crash) and stops the cluster part.</summary>
    public async Task StopAsync()
    {
        ActorSystem system;
        lock (_gate)
        {
            _stopping = true;
            system = _system;
        }
        await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
        await system.WhenTerminated;
    }

    /// <summary>Stops the cluster part without leaving, as a crash would (the others' failure detector notices).</summary>
    internal async Task AbortAsync()
    {
        ActorSystem system;
        lock (_gate)
        {
            _stopping = true;
            system = _system;
        }
        await system.Terminate();
    }
}
