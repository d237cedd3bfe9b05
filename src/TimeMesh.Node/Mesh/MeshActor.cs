using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using TimeMesh.Core.Mesh;

namespace TimeMesh.Node.Mesh;

public sealed record MeshSettings(
    MeshRole Role,
    TimeSpan StatusInterval,
    ElectionSettings Election)
{
    /// <summary>A status older than this many intervals no longer counts (its node stopped talking).</summary>
    public const int StaleAfterIntervals = 4;

    /// <summary>How long a node the cluster removed waits before its cluster part starts again to rejoin.</summary>
    public TimeSpan RejoinDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary><c>timemesh.mesh.no-master-warning</c>: a member that has seen no master's status for this long says so in the log.</summary>
    public TimeSpan NoMasterWarning { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The masters' NTP addresses from the config (<c>timemesh.mesh.masters</c>). A member polls every one of them
    /// whatever the cluster says; a master the list does not name is never polled. Empty: the masters the
    /// cluster advertises are followed (configs from before the list).
    /// </summary>
    public IReadOnlyList<MasterAddress> Masters { get; init; } = [];

    /// <summary>How the cluster forms: seed nodes (default) or Cluster Bootstrap (<c>timemesh.mesh.discovery</c>).</summary>
    public DiscoverySettings Discovery { get; init; } = DiscoverySettings.SeedNodes;

    /// <summary>
    /// The seed nodes' cluster addresses (<c>akka.cluster.seed-nodes</c>): without <see cref="Masters"/> they are the
    /// masters a node trusts (<see cref="Core.Mesh.MeshTrust"/>).
    /// </summary>
    public IReadOnlyList<string> Seeds { get; init; } = [];

    /// <summary><c>timemesh.mesh.insecure</c>: a node on a LAN address may run its cluster transport without TLS.</summary>
    public bool Insecure { get; init; }

    /// <summary><c>timemesh.mesh.authenticate</c>: NTP between members and masters over NTS (auto: when cluster TLS is on).</summary>
    public MeshAuthenticationMode Authenticate { get; init; } = MeshAuthenticationMode.Auto;

    /// <summary><c>timemesh.mesh.nts-port</c>: where every master's mesh NTS-KE listens (on its NTP addresses).</summary>
    public int NtsPort { get; init; } = Core.Nts.NtsIds.DefaultKePort + 1;

    /// <summary>The mesh's NTS credentials, set at start when mesh NTP is authenticated (null: plain mesh NTP).</summary>
    public Nts.IMeshNtsCredentials? Nts { get; init; }

    /// <summary>How this node's cluster transport is protected (set at start from the config; shown in the mesh view).</summary>
    public ClusterSecurity Security { get; init; } = ClusterSecurity.Loopback;

    /// <summary>
    /// With cluster TLS: the roles the nodes' certificates prove. A status that says master counts only when its node's
    /// certificate says master (<see cref="Core.Mesh.CertifiedRoles"/>). Null (no cluster TLS): roles are self-declared.
    /// </summary>
    public CertifiedRoleRegistry? CertifiedRoles { get; init; }

    /// <summary>
    /// With cluster TLS: this node signs its statuses with its cluster-TLS key, and takes another node's status only
    /// when it is signed by a certificate of the mesh CA issued for that node's host (<see cref="StatusAuthentication"/>).
    /// Null (loopback or insecure mesh): statuses travel unsigned, as before.
    /// </summary>
    public StatusSigning? Signing { get; init; }
}

/// <summary>
/// One per node: shares this node's <see cref="TimeStatus"/> over DistributedPubSub every status interval,
/// keeps everyone else's, forgets nodes the cluster marks unreachable or removed (or that fall silent), and
/// runs the stratum election on what is left. Every node reaches the same leader from the same statuses.
/// The NTP service never waits on this actor.
/// </summary>
public sealed class MeshActor : ReceiveActor, IWithTimers
{
    private readonly MeshSettings _settings;
    private readonly Func<Task<TimeStatus>> _ownStatus;
    private readonly Func<long> _nowNs;
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private readonly IActorRef _mediator = DistributedPubSub.Get(Context.System).Mediator;
    private readonly LeaderElection _election;
    private readonly Dictionary<string, (TimeStatus Status, long ReceivedNs)> _statuses = new();
    private readonly HashSet<string> _unreachable = new();
    private readonly HashSet<string> _members = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private string? _leader;
    /// <summary>Which self-declared masters count (pinned masters); names in the masters list are resolved every minute.</summary>
    private MeshTrust _trust;
    private readonly HashSet<string> _untrustedLogged = new();
    private static readonly TimeSpan MastersRefreshInterval = TimeSpan.FromSeconds(60);

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>This node's name in the mesh: its cluster address.</summary>
    private string SelfNode => _cluster.SelfAddress.ToString();

    /// <param name="ownStatus">This node's status now (from its reference and sync actors).</param>
    /// <param name="nowNs">A monotonic clock for status ages and the election's hysteresis.</param>
    /// <param name="follower">Told which masters to take time from (a <see cref="Sync.SyncProtocol.FollowMesh"/>) whenever that changes.</param>
    /// <param name="leaderListener">Also told every <see cref="MeshProtocol.LeaderChanged"/> (it may live in another actor system than this one's event stream).</param>
    public static Props Props(MeshSettings settings, Func<Task<TimeStatus>> ownStatus, Func<long>? nowNs = null, IActorRef? follower = null, IActorRef? leaderListener = null) =>
        Akka.Actor.Props.Create(() => new MeshActor(settings, ownStatus, nowNs, follower, leaderListener));

    private readonly IActorRef? _follower;
    private long? _upSinceNs;
    private bool _selfRemoved;
    private long StatusGraceNs => (long)(_settings.StatusInterval.TotalMilliseconds * 1e6 * MeshSettings.StaleAfterIntervals);
    private Sync.SyncProtocol.FollowMesh? _lastFollow;

    private readonly IActorRef? _leaderListener;

    public MeshActor(MeshSettings settings, Func<Task<TimeStatus>> ownStatus, Func<long>? nowNs, IActorRef? follower, IActorRef? leaderListener = null)
    {
        _leaderListener = leaderListener;
        _follower = follower;
        _settings = settings;
        _ownStatus = ownStatus;
        _nowNs = nowNs ?? Clock.RealtimeClock.ReadMonotonicNanoseconds;
        _masterSeenNs = _nowNs();
        _election = new LeaderElection(settings.Election);
        _trust = new MeshTrust(settings.Masters.Count > 0, settings.Masters.Select(m => m.Endpoint).OfType<System.Net.IPEndPoint>(), settings.Seeds);
        Receive<MastersResolved>(m =>
        {
            _resolvedMasters = m.Endpoints;
            _trust = _trust.WithEndpoints(m.Endpoints);
            Elect();
        });
        Receive<ResolveMasters>(_ => ResolveMasterNames());

        Receive<MeshProtocol.Tick>(_ =>
        {
            WatchForMasters();
            _ownStatus().ContinueWith(t => t.IsCompletedSuccessfully ? (object)new MeshProtocol.OwnStatus(t.Result) : new Status.Failure(t.Exception!)).PipeTo(Self);
        });
        Receive<MeshProtocol.OwnStatus>(m =>
        {
            var status = m.Status with { Node = SelfNode, Role = _settings.Role, ClaimsLeadership = Joined && _election.ShouldClaim };
            // A node in no cluster has nobody to tell; it keeps its own status for its view.
            if (Joined) _mediator.Tell(new Publish(MeshProtocol.StatusTopic, _settings.Signing is { } signing ? Sign(signing, status) : status));
            ForgetNonMembers();
            Record(status);
        });
        Receive<TimeStatus>(OnPeerStatus);
        Receive<SignedStatus>(OnSignedStatus);
        Receive<SubscribeAck>(_ => { });
        Receive<Status.Failure>(f => _log.Warning("own status unavailable: {0}", f.Cause.Message));
        Receive<ClusterEvent.MemberUp>(m =>
        {
            _members.Add(m.Member.Address.ToString());
            if (m.Member.Address == _cluster.SelfAddress) _upSinceNs ??= _nowNs();
        });
        Receive<ClusterEvent.MemberJoined>(m => _members.Add(m.Member.Address.ToString()));
        Receive<ClusterEvent.MemberWeaklyUp>(m =>
        {
            _members.Add(m.Member.Address.ToString());
            if (m.Member.Address == _cluster.SelfAddress) _upSinceNs ??= _nowNs();
        });
        Receive<ClusterEvent.UnreachableMember>(m =>
        {
            _unreachable.Add(m.Member.Address.ToString());
            Elect();
        });
        Receive<ClusterEvent.ReachableMember>(m =>
        {
            _unreachable.Remove(m.Member.Address.ToString());
            Elect();
        });
        Receive<ClusterEvent.MemberRemoved>(m =>
        {
            if (m.Member.Address == _cluster.SelfAddress)
            {
                _selfRemoved = true;
                // Leaving on purpose (coordinated shutdown) is not the downing this warning is about.
                if (CoordinatedShutdown.Get(Context.System).ShutdownReason is null)
                    _log.Warning("this node was removed from the cluster (downed); it keeps serving NTP while its cluster part restarts to rejoin");
            }
            Forget(m.Member.Address.ToString());
        });
        Receive<ClusterEvent.MemberDowned>(m =>
        {
            if (m.Member.Address == _cluster.SelfAddress) _selfRemoved = true;
            Forget(m.Member.Address.ToString());
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<MeshProtocol.GetMesh>(_ => Sender.Tell(View()));
    }

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
        _mediator.Tell(new Subscribe(MeshProtocol.StatusTopic, Self));
        Timers.StartPeriodicTimer("status", MeshProtocol.Tick.Instance, TimeSpan.Zero, _settings.StatusInterval);
        if (_settings.Masters.Any(m => m.Endpoint is null))
            Timers.StartPeriodicTimer("masters", ResolveMasters.Instance, TimeSpan.Zero, MastersRefreshInterval);
    }

    private sealed record ResolveMasters
    {
        public static readonly ResolveMasters Instance = new();
    }

    private sealed record MastersResolved(IReadOnlyList<System.Net.IPEndPoint> Endpoints);

    /// <summary>The masters list's names, resolved off the actor's thread; a name that does not resolve now keeps what it had.</summary>
    private void ResolveMasterNames()
    {
        var masters = _settings.Masters;
        var previous = _resolvedMasters;
        Task.Run(async () =>
        {
            var endpoints = new List<System.Net.IPEndPoint>();
            foreach (var m in masters)
            {
                if (m.Endpoint is { } e) { endpoints.Add(e); continue; }
                try
                {
                    endpoints.AddRange((await System.Net.Dns.GetHostAddressesAsync(m.Host)).Select(a => new System.Net.IPEndPoint(a, m.Port)));
                }
                catch (System.Net.Sockets.SocketException)
                {
                    endpoints.AddRange(previous.Where(p => p.Port == m.Port));
                }
            }
            return new MastersResolved(endpoints);
        }).PipeTo(Self);
    }

    private IReadOnlyList<System.Net.IPEndPoint> _resolvedMasters = [];

    /// <summary>Statuses that count for the election and for whom to follow: a master the config does not name is left out.</summary>
    private List<TimeStatus> Trusted(IEnumerable<TimeStatus> statuses)
    {
        var trusted = new List<TimeStatus>();
        foreach (var s in statuses)
        {
            if (_trust.Trusts(s.Role, s.Node, s.NtpEndpoint))
            {
                trusted.Add(s);
                continue;
            }
            if (_untrustedLogged.Add(s.Node))
                _log.Warning("mesh: {0} says it is a master (NTP {1}) but {2} does not name it: not trusted, never polled or elected{3}",
                    Printable(s.Node), Printable(s.NtpEndpoint), _trust.Basis, s.Node == SelfNode ? " (this node: add it to the list on every node)" : "");
        }
        return trusted;
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    /// <summary>
    /// A status from another node counts only when it comes from the node it describes (the sender's address is the
    /// status's node) and that node is a current member of the cluster, Up or WeaklyUp; the fields are bounded.
    /// Anything else (a process outside the cluster telling forged statuses, a node that has left) is dropped,
    /// counted by reason and logged at most once a minute. With cluster TLS an unsigned status is dropped too: the
    /// sender is whatever the message says it is (Akka.Remote never checks it against the connection).
    /// </summary>
    private void OnPeerStatus(TimeStatus status)
    {
        if (Sender.Equals(Self)) return; // our own, back from the topic: recorded when it was published
        string? reason = Screen(status) ?? (_settings.Signing is not null ? StatusAuthentication.Unsigned : null);
        if (reason is null) Record(status);
        else Drop(reason, status.Node);
    }

    /// <summary>
    /// A signed status: the same screening as an unsigned one, then its certificate, signature, incarnation and
    /// sequence (<see cref="StatusAuthentication.Judge"/>). What the certificate certifies about the node's role is
    /// recorded for the role check (<see cref="Core.Mesh.CertifiedRoles"/>).
    /// </summary>
    private void OnSignedStatus(SignedStatus signed)
    {
        if (Sender.Equals(Self)) return;
        if (_settings.Signing is not { } signing)
        {
            // A node without cluster TLS has no CA to check a signature against.
            Drop(StatusAuthentication.Certificate, Sender.Path.Address.ToString());
            return;
        }
        if (signing.Examine(signed, MemberIncarnation, BoundByAddress, out string? unreadable) is not { } examined)
        {
            Drop(unreadable!, Sender.Path.Address.ToString());
            return;
        }
        var status = examined.Status;
        string? reason = Screen(status);
        var verdict = reason is null ? StatusAuthentication.Judge(examined.Evidence, DateTimeOffset.UtcNow, _replay) : new StatusVerdict(reason);
        if (!verdict.Taken)
        {
            Drop(verdict.Reason!, status.Node);
            return;
        }
        if (verdict.AsMemberOnly)
        {
            // A shared member certificate (no address): a member of this mesh, but not provably this node.
            status = status with { Role = MeshRole.Member, ClaimsLeadership = false };
        }
        else
        {
            _boundByAddress.Add(status.Node);
            _settings.CertifiedRoles?.RecordValidated(status.Node, examined.Certificate.Certificate, _log);
        }
        Record(status);
    }

    /// <summary>Nodes a status signed by a certificate issued for their address was taken from: only such a certificate speaks for them now.</summary>
    private readonly HashSet<string> _boundByAddress = new();

    private bool BoundByAddress(string node) =>
        _boundByAddress.Contains(node) || _settings.CertifiedRoles?.RoleOf(node) is CertifiedRole.Master or CertifiedRole.Member;

    /// <summary>The checks every status from another node passes, signed or not; null when it passes.</summary>
    private string? Screen(TimeStatus status) =>
        status.Node.Length > MaxNodeNameLength || status.NtpEndpoint.Length > MaxEndpointLength ? "oversized"
        : Sender.Path.Address.ToString() != status.Node ? "sender_mismatch"
        : !IsMember(status.Node) ? "not_member"
        : null;

    private void Drop(string reason, string node)
    {
        _dropped[reason] = _dropped.GetValueOrDefault(reason) + 1;
        long now = _nowNs();
        if (_lastDropLogNs is { } last && now - last < DropLogIntervalNs) return;
        _lastDropLogNs = now;
        _log.Warning("mesh: dropped a status ({0}) claiming to be from {1}, sent by {2}; dropped so far: {3} (logged at most once a minute)",
            reason, Printable(node), Sender.Path.Address, string.Join(", ", _dropped.Select(d => $"{d.Key} {d.Value}")));
    }

    /// <summary>This incarnation's statuses, signed: its cluster UID and a number that only grows within it.</summary>
    private SignedStatus Sign(StatusSigning signing, TimeStatus status)
    {
        // The monotonic clock keeps the numbers growing even if this actor restarts within the incarnation.
        _sequence = Math.Max(_sequence + 1, _nowNs());
        return signing.Sign(status, _cluster.SelfUniqueAddress.Uid, _sequence);
    }

    private long _sequence;
    private readonly ReplayWindow _replay = new();

    /// <summary>The cluster UID of the current (Up or WeaklyUp) member at <paramref name="node"/>; null when there is none.</summary>
    private long? MemberIncarnation(string node) =>
        _cluster.State.Members.FirstOrDefault(m => m.Status is MemberStatus.Up or MemberStatus.WeaklyUp && m.Address.ToString() == node)?.UniqueAddress.Uid;

    /// <summary>Longest node name (cluster address) and NTP endpoint a status may carry.</summary>
    public const int MaxNodeNameLength = 256, MaxEndpointLength = 64;
    private const long DropLogIntervalNs = 60_000_000_000;
    private readonly Dictionary<string, long> _dropped = new();
    private long? _lastDropLogNs;

    private static string Printable(string text)
    {
        var cut = text.Length > 80 ? text[..80] + "…" : text;
        return new string(cut.Select(c => char.IsControl(c) ? '?' : c).ToArray());
    }

    private bool IsMember(string node) =>
        _cluster.State.Members.Any(m => m.Status is MemberStatus.Up or MemberStatus.WeaklyUp && m.Address.ToString() == node);

    /// <summary>This node's cluster part is a member now (Up or WeaklyUp) and has not been removed.</summary>
    private bool Joined => !_selfRemoved && _cluster.SelfMember.Status is MemberStatus.Up or MemberStatus.WeaklyUp;

    /// <summary>The table holds current members only: drop what is left of nodes the cluster no longer has.</summary>
    private void ForgetNonMembers()
    {
        var members = _cluster.State.Members.Select(m => m.Address.ToString()).ToHashSet();
        foreach (var node in _statuses.Keys.Where(n => n != SelfNode && !members.Contains(n)).ToList())
        {
            _statuses.Remove(node);
            _replay.Forget(node);
            _boundByAddress.Remove(node);
        }
    }

    private void Record(TimeStatus status)
    {
        _statuses[status.Node] = (status, _nowNs());
        Elect();
    }

    private void Forget(string node)
    {
        _statuses.Remove(node);
        _replay.Forget(node);
        _boundByAddress.Remove(node);
        _unreachable.Remove(node);
        _members.Remove(node);
        Elect();
    }

    private IEnumerable<TimeStatus> Current()
    {
        long now = _nowNs();
        long staleNs = (long)(_settings.StatusInterval.TotalMilliseconds * 1e6 * MeshSettings.StaleAfterIntervals);
        var current = _statuses.Values
            .Where(v => !_unreachable.Contains(v.Status.Node) && now - v.ReceivedNs <= staleNs)
            .Select(v => v.Status);
        if (_settings.CertifiedRoles is not { } roles) return current;
        var (judged, refused) = Core.Mesh.CertifiedRoles.Judge(current, node => node == SelfNode ? roles.Own : roles.RoleOf(node));
        foreach (var r in refused)
        {
            // Not yet dialled: its certificate is not known yet, which is no finding.
            if (r.Certified == CertifiedRole.NotSeen || !_refusedLogged.Add(r.Status.Node)) continue;
            _log.Warning("mesh: {0} says it is a master but its certificate {1}: it is neither elected nor followed",
                r.Status.Node, r.Certified == CertifiedRole.Member ? "says member" : "carries no role for its address");
        }
        return judged;
    }

    /// <summary>Nodes whose status says master against their certificate, logged once each.</summary>
    private readonly HashSet<string> _refusedLogged = new();

    private void Elect()
    {
        var current = Trusted(Current());
        // A node in no cluster names no leader, itself least: what it would claim nobody else could check.
        string? leader = Joined ? _election.Elect(current, _nowNs(), SelfNode) : null;
        TellFollower(current, leader);
        if (leader == _leader) return;
        _log.Info("mesh leader: {0} -> {1}", _leader ?? "none", leader ?? "none");
        _leader = leader;
        var change = new MeshProtocol.LeaderChanged(leader, leader is null ? null : _statuses[leader].Status);
        Context.System.EventStream.Publish(change);
        _leaderListener?.Tell(change);
    }

    /// <summary>The masters other than this node, and the leader, as NTP endpoints for the sync actor.</summary>
    private void TellFollower(List<TimeStatus> current, string? leader)
    {
        // A node the cluster has cut off keeps taking time from the masters it had, over NTP, until its next
        // incarnation has rejoined: losing membership is no reason to lose time.
        if (_follower is null || _selfRemoved) return;
        // A new incarnation (start or rejoin) knows only itself at first: keep the masters the sync actor already
        // polls, and their statistics, until it is up in the cluster and the others' statuses have had time to arrive.
        if (_lastFollow is null && current.All(s => s.Node == SelfNode) && (_upSinceNs is not { } up || _nowNs() - up < StatusGraceNs)) return;
        var masters = MeshFollowing.Advertised(current, SelfNode);
        // Each advertised master's reported stratum: news the sync actor checks over NTP at once.
        var strata = new Dictionary<System.Net.IPEndPoint, int>();
        foreach (var s in current)
            if (System.Net.IPEndPoint.TryParse(s.NtpEndpoint, out var at) && masters.Contains(at)) strata[at] = s.Stratum;
        System.Net.IPEndPoint? leaderEndpoint = leader is not null && leader != SelfNode && _statuses.TryGetValue(leader, out var l)
            && System.Net.IPEndPoint.TryParse(l.Status.NtpEndpoint, out var e) ? e : null;
        if (_lastFollow is { } last && last.Masters.SequenceEqual(masters) && Equals(last.Leader, leaderEndpoint)
            && last.Strata is { } lastStrata && lastStrata.Count == strata.Count && strata.All(kv => lastStrata.TryGetValue(kv.Key, out int v) && v == kv.Value)) return;
        _lastFollow = new Sync.SyncProtocol.FollowMesh(masters, leaderEndpoint, strata);
        _follower.Tell(_lastFollow);
    }

    /// <summary>When a master's status last counted here (monotonic ns; the actor's start at first).</summary>
    private long _masterSeenNs;
    private bool _noMasterWarned;

    /// <summary>
    /// A member that hears from no master for <see cref="MeshSettings.NoMasterWarning"/> says so once, and says when one
    /// is back: otherwise a member left outside the cluster (a seed in another actor system, a wrong address, no
    /// master running) or in a cluster without masters runs unsynchronised without a word.
    /// </summary>
    private void WatchForMasters()
    {
        if (_settings.Role != MeshRole.Member) return;
        long now = _nowNs();
        var master = Trusted(Current()).FirstOrDefault(s => s.Role == MeshRole.Master && s.Node != SelfNode);
        if (master is not null)
        {
            if (_noMasterWarned)
                _log.Info("mesh: a master is seen again ({0}) after {1:0} s without one", master.Node, (now - _masterSeenNs) * 1e-9);
            _noMasterWarned = false;
            _masterSeenNs = now;
            return;
        }
        if (_noMasterWarned || now - _masterSeenNs < _settings.NoMasterWarning.Ticks * 100) return;
        _noMasterWarned = true;
        int members = Joined ? _cluster.State.Members.Count(m => m.Status is MemberStatus.Up or MemberStatus.WeaklyUp) : 0;
        _log.Warning("{0}", NoMasterWarningText((now - _masterSeenNs) * 1e-9, Joined, members,
            _settings.Seeds.Count > 0 ? _settings.Seeds : Context.System.Settings.Config.GetStringList("akka.cluster.seed-nodes", []).ToList(), _cluster.SelfAddress.System, _settings.Masters.Count));
    }

    /// <summary>The words of the warning of a member that has seen no master for <paramref name="seconds"/>.</summary>
    internal static string NoMasterWarningText(double seconds, bool joined, int members, IReadOnlyList<string> seeds, string ownSystem, int pinnedMasters)
    {
        string where = joined
            ? $"it is in a cluster of {members} member{(members == 1 ? "" : "s")}, none of them a master whose status counts here (timemesh.role = master, and named in timemesh.mesh.masters when that is set)"
            : $"it is not in a cluster (seeds [{string.Join(", ", seeds)}], this node's actor system \"{ownSystem}\"): are the seeds running, reachable, and in the same actor system?";
        string time = pinnedMasters > 0
            ? $"it takes time only from the {pinnedMasters} master{(pinnedMasters == 1 ? "" : "s")} of timemesh.mesh.masters that answer NTP"
            : "without a master it has no time source (IMeshClock.Now().Synchronised stays false)";
        return $"mesh: no master seen for {seconds:0} s: {where}; {time}";
    }

    private MeshProtocol.MeshView View()
    {
        long now = _nowNs();
        var nodes = _statuses.Keys.Union(_members).Union(_unreachable).Distinct().OrderBy(n => n).Select(n =>
        {
            var has = _statuses.TryGetValue(n, out var v);
            return new MeshProtocol.MeshNode(n, !_unreachable.Contains(n), has ? v.Status : null, has ? (now - v.ReceivedNs) * 1e-9 : null)
            {
                Trusted = !has || _trust.Trusts(v.Status.Role, v.Status.Node, v.Status.NtpEndpoint),
            };
        }).ToList();
        return new MeshProtocol.MeshView(SelfNode, _leader, nodes)
        {
            Joined = Joined,
            Members = !Joined ? [] : _cluster.State.Members.Where(m => m.Status is MemberStatus.Up or MemberStatus.WeaklyUp)
                .Select(m => m.Address.ToString()).OrderBy(a => a, StringComparer.Ordinal).ToList(),
            StatusesDropped = new Dictionary<string, long>(_dropped),
            Security = _settings.Security,
        };
    }
}
