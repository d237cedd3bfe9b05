using System.Net;
using Akka.Actor;
using Akka.Event;
using TimeMesh.Core.Discipline;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.Sources;
using TimeMesh.Node.Clock;
using TimeMesh.Node.Config;
using TimeMesh.Node.Ntp;

namespace TimeMesh.Node.Sync;

/// <summary>
/// Drives the core's <see cref="SyncEngine"/> for the upstream servers and pools (chronyd as a client):
/// resolves names, fires polls on a timer, sends each request from a fresh port, feeds replies back,
/// applies the engine's correction to the clock, tells the reference actor what to serve, and answers
/// the data of chronyc sources, sourcestats and tracking.
/// </summary>
public sealed partial class SyncActor : ReceiveActor, IWithTimers
{
    private readonly UpstreamSettings _settings;
    private readonly DisciplinedClock _clock;
    private readonly IActorRef _reference;
    private readonly IClockSteering? _steering;
    private readonly Func<string, Task<IPAddress[]>> _resolve;
    private readonly SyncEngine _engine;
    private readonly Dictionary<int, IPEndPoint> _endpoints = new();
    private readonly Dictionary<int, int> _poolOf = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private int _publishedVersion = -1;
    private bool _wasSynchronised;
    private int? _loggedSelectedId;
    private SyncProtocol.TransmitTimestamps _transmitStamps = new(0, 0, false);
    private bool _loggedUserSpaceStamps;

    public ITimerScheduler Timers { get; set; } = null!;

    public static readonly TimeSpan PoolRefreshInterval = TimeSpan.FromMinutes(10);

    private readonly TimeSpan _poolRefreshInterval;
    private readonly Func<long> _monotonicNs;
    private readonly bool _monotonicInjected;
    private readonly ClockStepDetector _stepDetector = new(new ClockStepSettings { ToleranceNs = StepDetectionNs });

    /// <summary>How often the raw clock is compared with the monotonic clock to catch outside steps.</summary>
    public static readonly TimeSpan ClockWatchInterval = TimeSpan.FromMilliseconds(250);
    /// <summary>With the kernel telling when the clock is set (<see cref="ClockSetNotifier"/>), the timer check is only a safety net.</summary>
    public static readonly TimeSpan ClockWatchFallbackInterval = TimeSpan.FromMinutes(1);
    private ClockSetNotifier? _clockSets;
    /// <summary>
    /// A change of raw − monotonic larger than this (beyond the reads' own uncertainty, and confirmed by a
    /// second reading) is a step of the OS clock by someone else (<see cref="ClockStepDetector"/>).
    /// </summary>
    public const long StepDetectionNs = 1_000_000;

    /// <param name="resolve">Name resolution (DNS by default; tests give their own).</param>
    /// <param name="poolRefreshInterval">How often pools are checked for dead or false sources (10 min by default).</param>
    public static Props Props(UpstreamSettings settings, DisciplinedClock clock, IActorRef reference, sbyte precisionLog2,
        IClockSteering? steering = null, Func<string, Task<IPAddress[]>>? resolve = null, TimeSpan? poolRefreshInterval = null,
        Func<long>? monotonicNs = null, MeshFollowSettings? mesh = null) =>
        Akka.Actor.Props.Create(() => new SyncActor(settings, clock, reference, precisionLog2, steering, resolve, poolRefreshInterval, monotonicNs, mesh));

    public SyncActor(UpstreamSettings settings, DisciplinedClock clock, IActorRef reference, sbyte precisionLog2,
        IClockSteering? steering, Func<string, Task<IPAddress[]>>? resolve, TimeSpan? poolRefreshInterval, Func<long>? monotonicNs,
        MeshFollowSettings? mesh = null)
    {
        _meshSettings = mesh;
        _poolRefreshInterval = poolRefreshInterval ?? PoolRefreshInterval;
        _monotonicNs = monotonicNs ?? Clock.RealtimeClock.ReadMonotonicNanoseconds;
        _monotonicInjected = monotonicNs is not null;
        _settings = settings;
        _clock = clock;
        _reference = reference;
        _steering = steering;
        _resolve = resolve ?? (name => Dns.GetHostAddressesAsync(name));
        _engine = new SyncEngine(settings.Sync with { PrecisionLog2 = precisionLog2 }, clock.ReadRawUnixNs(), (ulong)Random.Shared.NextInt64() | 1);

        Receive<SyncProtocol.Resolved>(OnResolved);
        Receive<SyncProtocol.Poll>(_ => Poll());
        Receive<SyncProtocol.RequestSent>(OnRequestSent);
        Receive<SyncProtocol.ReplyReceived>(OnReply);
        ReceiveNts();
        Receive<SyncProtocol.RefreshPools>(_ => RefreshPools());
        Receive<SyncProtocol.GetSources>(_ => Sender.Tell(new SyncProtocol.Sources(_engine.Sources(_clock.ReadRawUnixNs()))));
        Receive<SyncProtocol.GetNtpData>(_ => Sender.Tell(new SyncProtocol.NtpData(_engine.NtpData(_clock.ReadRawUnixNs()))));
        Receive<SyncProtocol.GetSourceStats>(_ => Sender.Tell(new SyncProtocol.SourceStats(_engine.SourceStats(_clock.ReadRawUnixNs()))));
        Receive<SyncProtocol.GetTracking>(_ => Sender.Tell(new SyncProtocol.Tracking(_engine.Tracking(_clock.ReadRawUnixNs())) { Transmit = _transmitStamps }));
        Receive<SyncProtocol.EndSlew>(m => _steering?.EndSlew(m.Generation));
        Receive<SyncProtocol.WatchClock>(_ => WatchClock());
        Receive<SyncProtocol.FollowMesh>(OnFollowMesh);
        Receive<SyncProtocol.MastersResolved>(OnMastersResolved);
        Receive<SyncProtocol.ResolveMasters>(_ => ResolveMasters());
        Receive<Persistence.DriftProtocol.Recovered>(OnDriftRecovered);
        Receive<SyncProtocol.UseDriftStore>(m => DriftStore = m.Store);
        Receive<SyncProtocol.GetSyncState>(_ => Sender.Tell(new SyncProtocol.SyncState(
            _engine.Reference is not null,
            _engine.SelectedId is { } id && _follower.IsMaster(id),
            _synchronisedSinceUnixNs)));
    }

    protected override void PreStart()
    {
        var self = Self;
        foreach (var server in _settings.Servers) Resolve(server.Address, -1, self);
        for (int i = 0; i < _settings.Pools.Count; i++) Resolve(_settings.Pools[i].Address, i, self);
        if (_settings.Pools.Count > 0) Timers.StartPeriodicTimer("pools", SyncProtocol.RefreshPools.Instance, _poolRefreshInterval);
        // On the real clocks the kernel wakes the watch when the clock is set, so an idle node does not wake 4 times a second.
        _clockSets = _monotonicInjected ? null : ClockSetNotifier.TryStart(() => self.Tell(SyncProtocol.WatchClock.Instance), out _);
        WatchClock();
        Timers.StartPeriodicTimer("clock-watch", SyncProtocol.WatchClock.Instance, _clockSets is null ? ClockWatchInterval : ClockWatchFallbackInterval);
        if (_meshSettings is { Masters.Count: > 0 })
        {
            // The masters named in the config are polled from the start, before (and whether or not) this node is in a cluster.
            ResolveMasters();
            Timers.StartPeriodicTimer("masters", SyncProtocol.ResolveMasters.Instance, MastersRefreshInterval);
        }
    }

    protected override void PostStop() => _clockSets?.Dispose();

    /// <summary>How often the names in <c>timemesh.mesh.masters</c> are looked up again (a Kubernetes service's pods move).</summary>
    public static readonly TimeSpan MastersRefreshInterval = TimeSpan.FromSeconds(60);

    private void ResolveMasters()
    {
        var self = Self;
        foreach (var master in _meshSettings!.Masters)
        {
            if (master.Endpoint is { } literal)
            {
                self.Tell(new SyncProtocol.MastersResolved(master, [literal], null));
                continue;
            }
            _resolve(master.Host).ContinueWith(t => t.IsCompletedSuccessfully
                ? new SyncProtocol.MastersResolved(master, t.Result.Select(a => new IPEndPoint(a, master.Port)).ToList(), null)
                : new SyncProtocol.MastersResolved(master, [], t.Exception?.GetBaseException().Message ?? "cancelled")).PipeTo(self);
        }
    }

    private void OnMastersResolved(SyncProtocol.MastersResolved m)
    {
        if (m.Error is not null || m.Endpoints.Count == 0)
        {
            // A lookup that fails keeps what the name gave before: losing a name server is no reason to lose time.
            _log.Warning("mesh: cannot resolve master {0}: {1}; trying again in {2:0} s", m.Master, m.Error ?? "no addresses", MastersRefreshInterval.TotalSeconds);
            return;
        }
        var before = _pinned.GetValueOrDefault(m.Master);
        if (before is not null && before.SequenceEqual(m.Endpoints)) return;
        _pinned[m.Master] = m.Endpoints;
        ReconcileMesh();
        Publish();
        SchedulePoll();
    }

    private void Resolve(string name, int poolIndex, IActorRef self)
    {
        if (poolIndex < 0 && IPAddress.TryParse(name, out var literal))
        {
            self.Tell(new SyncProtocol.Resolved(name, -1, [literal], null));
            return;
        }
        _resolve(name).ContinueWith(t => t.IsCompletedSuccessfully
            ? new SyncProtocol.Resolved(name, poolIndex, t.Result, null)
            : new SyncProtocol.Resolved(name, poolIndex, [], t.Exception?.GetBaseException().Message ?? "cancelled"))
            .PipeTo(self);
    }

    private void OnResolved(SyncProtocol.Resolved m)
    {
        if (m.Error is not null || m.Addresses.Count == 0)
        {
            _log.Warning("cannot resolve {0}: {1}; trying again in 60 s", m.Name, m.Error ?? "no addresses");
            // The pool upkeep re-resolves pending servers and pools that are short of sources.
            Timers.StartSingleTimer("resolve-retry", SyncProtocol.RefreshPools.Instance, TimeSpan.FromSeconds(60));
            if (m.PoolIndex < 0) _pendingServers.Add(m.Name);
            return;
        }
        long now = _clock.ReadRawUnixNs();
        if (m.PoolIndex < 0)
        {
            _pendingServers.Remove(m.Name);
            var settings = _settings.Servers.First(s => s.Address == m.Name);
            Add(settings, m.Addresses[0], -1, now);
        }
        else
        {
            var pool = _settings.Pools[m.PoolIndex];
            var used = _poolOf.Where(p => p.Value == m.PoolIndex).Select(p => _endpoints[p.Key].Address).ToHashSet();
            var nowUtc = DateTime.UtcNow;
            foreach (var address in m.Addresses.Where(a => !used.Contains(a) && !(_rejected.TryGetValue(a, out var until) && until > nowUtc)))
            {
                if (_poolOf.Count(p => p.Value == m.PoolIndex) >= pool.MaxSources) break;
                Add(pool.Template with { Address = address.ToString() }, address, m.PoolIndex, now);
            }
        }
        SchedulePoll();
    }

    private readonly HashSet<string> _pendingServers = new();
    /// <summary>The mesh masters followed as sources of the engine.</summary>
    private readonly Core.Mesh.MeshFollower _follower = new();
    private long _synchronisedSinceUnixNs;

    private SyncProtocol.FollowMesh _mesh = new([], null);

    /// <summary>Where the drift state is kept (null: not persisted).</summary>
    private IActorRef? DriftStore { get; set; }

    /// <summary>The drift state recovered at start (chrony's driftfile): the frequency applies at once.</summary>
    private void OnDriftRecovered(Persistence.DriftProtocol.Recovered m)
    {
        if (m.State is { } state && _engine.ApplyKnownDrift(state.FrequencyPpm, Math.Max(state.SkewPpm, 0.01), _clock.ReadRawUnixNs()))
        {
            _log.Info("drift state recovered: frequency {0:0.000} ppm (skew {1:0.000} ppm), last synchronised at stratum {2}",
                -state.FrequencyPpm, state.SkewPpm, state.Stratum);
            _reference.Tell(ReferenceActor.Activated.Instance);
            Publish();
        }
        else if (m.Error is not null)
        {
            _log.Warning("drift state not recovered ({0}); starting from an unknown frequency", m.Error);
        }
    }

    private readonly MeshFollowSettings? _meshSettings;
    /// <summary>The masters named in the config, each resolved to its endpoints.</summary>
    private readonly Dictionary<Mesh.MasterAddress, IReadOnlyList<IPEndPoint>> _pinned = new();

    private void OnFollowMesh(SyncProtocol.FollowMesh m)
    {
        _mesh = m;
        ReconcileMesh();
        PollMastersWithNews(m);
        Publish();
        SchedulePoll();
    }

    /// <summary>The stratum each master's status reported when this node last acted on it.</summary>
    private readonly Dictionary<IPEndPoint, int> _reportedStrata = new();

    /// <summary>
    /// A master's status reports a stratum other than the one it last answered with over NTP (its upstream came back
    /// or was lost, it restarted): poll it now rather than at the end of its interval (up to 4 s), so the preference
    /// among masters, which goes by what they answer over NTP, follows within a round trip. Once per reported change.
    /// The cluster's word only brings the poll forward; the time and the stratum still come from the NTP reply.
    /// </summary>
    private void PollMastersWithNews(SyncProtocol.FollowMesh m)
    {
        if (m.Strata is null) return;
        long now = _clock.ReadRawUnixNs();
        foreach (var (endpoint, reported) in m.Strata)
        {
            bool news = !_reportedStrata.TryGetValue(endpoint, out int before) || before != reported;
            _reportedStrata[endpoint] = reported;
            if (news && _follower.Sources.TryGetValue(endpoint, out int id) && _engine.LastStratum(id) is { } answered && answered != reported)
                _engine.PollSoon(id, now);
        }
        if (m.Leader is { } leader && _follower.Sources.TryGetValue(leader, out int leaderId) && _engine.LastStratum(leaderId) is null)
            _engine.PollSoon(leaderId, now);
    }

    /// <summary>
    /// Applies the mesh's follow policy (<see cref="Core.Mesh.MeshFollowing"/>): members poll the masters (all the
    /// pinned ones, always), the leader preferred and the others kept warm, so a fail-over is a change of
    /// selection, not a fresh start; a master takes only the leader, and only while it has no upstream of its own.
    /// </summary>
    private void ReconcileMesh()
    {
        if (_meshSettings is null) return;
        long now = _clock.ReadRawUnixNs();
        var plan = _follower.Plan(_engine, _meshSettings.Role, _pinned.Values.SelectMany(e => e).Distinct().ToList(),
            _mesh.Masters, _mesh.Leader, _meshSettings.Self, now);
        _follower.Apply(_engine, plan, now,
            added: (endpoint, id) =>
            {
                _endpoints[id] = endpoint;
                _log.Info("mesh: following {0}{1}{2}", endpoint, endpoint.Equals(plan.Preferred) ? " (leader)" : "",
                    _meshSettings.Nts is { } nts ? $" over NTS (key exchange at port {nts.KePort})" : " over plain NTP");
                if (_meshSettings.Nts is not null) AddMeshNts(id, endpoint);
            },
            removed: (endpoint, id) =>
            {
                ForgetNts(id);
                _endpoints.Remove(id);
                _log.Info("mesh: no longer following {0}", endpoint);
            });
    }
    private readonly Dictionary<IPAddress, DateTime> _rejected = new();
    private TimeSpan RejectionTime => _poolRefreshInterval * 6;

    private void Add(SourceSettings settings, IPAddress address, int poolIndex, long now)
    {
        int id = _engine.AddSource(settings with { Address = settings.Address }, ReferenceIds.FromAddress(address), now);
        _endpoints[id] = new IPEndPoint(address, settings.Port);
        if (poolIndex >= 0) _poolOf[id] = poolIndex;
        _log.Info("source {0} ({1}) added{2}", settings.Name, _endpoints[id], poolIndex >= 0 ? $" from pool {_settings.Pools[poolIndex].Address}" : "");
        // A pool's servers are checked against the pool's name, the name the operator trusts (as chrony does).
        if (settings.Nts) AddNts(id, settings, address, poolIndex >= 0 ? _settings.Pools[poolIndex].Address : settings.Address);
    }

    /// <summary>chrony's pool upkeep: drop pool sources that stopped answering or were voted falsetickers, then top up.</summary>
    private void RefreshPools()
    {
        long now = _clock.ReadRawUnixNs();
        var states = _engine.LastSelection?.States;
        foreach (var (id, poolIndex) in _poolOf.ToList())
        {
            var poller = _engine.Poller(id);
            bool dead = poller.RequestsSent >= 8 && !poller.IsReachable;
            bool falseticker = states is not null && states.TryGetValue(id, out var state) && state == SourceState.Falseticker;
            if (!dead && !falseticker && !poller.Demobilised) continue;
            _log.Info("pool {0}: replacing {1} ({2})", _settings.Pools[poolIndex].Address, _endpoints[id], falseticker ? "falseticker" : "unreachable");
            _engine.RemoveSource(id, now);
            ForgetNts(id);
            // Not to be taken again from the pool for a while: a fresh name lookup likely returns it.
            _rejected[_endpoints[id].Address] = DateTime.UtcNow + RejectionTime;
            _endpoints.Remove(id);
            _poolOf.Remove(id);
        }
        var self = Self;
        for (int i = 0; i < _settings.Pools.Count; i++)
        {
            if (_poolOf.Count(p => p.Value == i) < _settings.Pools[i].MaxSources) Resolve(_settings.Pools[i].Address, i, self);
        }
        foreach (var name in _pendingServers.ToList()) Resolve(name, -1, self);
        Publish();
    }

    private void Poll()
    {
        long now = _clock.ReadRawUnixNs();
        var request = new byte[NtpPacket.MaxLength];
        while (_engine.TryPoll(now, request, out int id))
        {
            var poller = _engine.Poller(id);
            // Wait for the reply at most until shortly before the next poll, and never more than 2 s.
            double waitSeconds = Math.Clamp((poller.NextPollNs - now) * 1e-9 * 0.9, 0.05, 2.0);
            // An NTS source without cookies sends nothing: the poll counts as unanswered while the key exchange runs.
            var (outgoing, filter) = NtsRequest(id, request[..poller.RequestLength]);
            if (outgoing is not null)
                NtpClientTransport.Exchange(Self, id, _endpoints[id], outgoing, _clock, TimeSpan.FromSeconds(waitSeconds), poller.Settings.Key, filter,
                    _settings.KernelTransmitTimestamps);
        }
        Publish();
        SchedulePoll();
    }

    private void SchedulePoll()
    {
        long next = _engine.NextPollNs;
        if (next == long.MaxValue) return;
        var delay = TimeSpan.FromTicks(Math.Max(0, (next - _clock.ReadRawUnixNs()) / 100));
        Timers.StartSingleTimer("poll", SyncProtocol.Poll.Instance, delay);
    }

    private void OnRequestSent(SyncProtocol.RequestSent m)
    {
        _transmitStamps = m.KernelTransmitStamp
            ? _transmitStamps with { Kernel = _transmitStamps.Kernel + 1, LastWasKernel = true }
            : _transmitStamps with { UserSpace = _transmitStamps.UserSpace + 1, LastWasKernel = false };
        if (!m.KernelTransmitStamp && !_loggedUserSpaceStamps)
        {
            _loggedUserSpaceStamps = true;
            _log.Warning("no kernel transmit timestamp for a request to a source: using the time read before the send call (less accurate)");
        }
        _engine.RequestSent(m.SourceId, m.SentRawNs);
    }

    private void OnReply(SyncProtocol.ReplyReceived m)
    {
        if (!NtsReplyAccepted(m)) return;
        var outcome = _engine.HandleReply(m.SourceId, m.Reply, m.ReceivedRawNs);
        if (outcome is ReplyOutcome.KissDeny) _log.Warning("source {0} sent a DENY/RSTR kiss-o'-death: no longer polled", _endpoints.GetValueOrDefault(m.SourceId));
        if (outcome is ReplyOutcome.KissRate) _log.Info("source {0} sent a RATE kiss-o'-death: polling less often", _endpoints.GetValueOrDefault(m.SourceId));
        if (outcome is ReplyOutcome.AuthFailed && _engine.Poller(m.SourceId) is { } p && (p.AuthFailures == 1 || p.AuthFailures % 100 == 0))
            _log.Warning("source {0}: {1} repl(ies) without a valid MAC under key {2} ignored", _endpoints.GetValueOrDefault(m.SourceId), p.AuthFailures, p.Settings.Key!.Id);
        Publish();
        SchedulePoll();
    }

    /// <summary>
    /// Catches a step of the OS clock made by someone else (an operator, another daemon): raw − monotonic
    /// only changes when the clock is set. The clocks are read as a bracket (monotonic, raw, monotonic), so a
    /// pause between the reads cannot pass for a step, and a step counts only when the bracket read right
    /// after it agrees (<see cref="ClockStepDetector"/>). The engine then moves everything measured on the
    /// raw clock and the correction absorbs the step, so the served time does not jump.
    /// </summary>
    private void WatchClock()
    {
        var verdict = _stepDetector.Offer(ReadBracket());
        while (verdict.Outcome == ClockWatchOutcome.NeedBracket) verdict = _stepDetector.Offer(ReadBracket());
        switch (verdict.Outcome)
        {
            case ClockWatchOutcome.Step:
                _log.Warning("the OS clock was stepped by {0:0.000000} s by something else; the served time is kept continuous", verdict.StepNs * 1e-9);
                _engine.RawClockStepped(verdict.StepNs);
                Publish();
                break;
            case ClockWatchOutcome.Unconfirmed:
                _log.Debug("clock watch: an apparent step of the OS clock was not confirmed by the next reading; ignored ({0} so far)", _stepDetector.Unconfirmed);
                break;
            case ClockWatchOutcome.Skipped:
                _log.Debug("clock watch: the clock reads took too long {0} times in a row; check skipped ({1} so far)", new ClockStepSettings().MaxTries, _stepDetector.Skipped);
                break;
        }
    }

    /// <summary>Monotonic, raw, monotonic: the raw reading with the monotonic interval it was taken in.</summary>
    private ClockBracket ReadBracket()
    {
        long before = _monotonicNs();
        long raw = _clock.ReadRawUnixNs();
        long after = _monotonicNs();
        return new ClockBracket(before, raw, after);
    }

    /// <summary>Applies news from the engine: the clock's correction and what the node serves.</summary>
    private void Publish()
    {
        // A master's plan depends on its own upstream, a member's preference on what the masters answer: both can
        // change with any reply.
        if (_mesh.Masters.Count > 0 || _pinned.Count > 0) ReconcileMesh();
        if (_engine.Version == _publishedVersion) return;
        _publishedVersion = _engine.Version;
        var correction = _engine.Correction;
        if (_steering is not null)
        {
            var end = _steering.Apply(correction, _clock.ReadOsUnixNs());
            if (end is { } e) Timers.StartSingleTimer("slew-end", new SyncProtocol.EndSlew(e.Generation), e.After);
        }
        _clock.SetCorrection(correction);
        _reference.Tell(new ReferenceActor.Synchronised(_engine.Reference));
        if (_engine.Reference is { } served && DriftStore is not null && _engine.Discipline.Updates > 0)
        {
            var d = _engine.Discipline;
            DriftStore.Tell(new Persistence.DriftProtocol.Record(new Persistence.DriftState(
                d.FrequencyPpm, d.SkewPpm, d.LastOffsetSeconds, served.Stratum, served.ReferenceTimeUnixNs, served.Leap)));
        }
        bool synchronised = _engine.Reference is not null;
        if (_engine.SelectedId is { } selectedId && selectedId != _loggedSelectedId && _endpoints.TryGetValue(selectedId, out var selectedEndpoint))
            _log.Info("selected source {0}", selectedEndpoint); // as chronyd logs "Selected source ..."
        _loggedSelectedId = _engine.SelectedId;
        if (synchronised != _wasSynchronised)
        {
            _wasSynchronised = synchronised;
            _synchronisedSinceUnixNs = synchronised ? _clock.NowUnixNs() : 0;
            var selected = _engine.SelectedId is { } id ? _endpoints.GetValueOrDefault(id)?.ToString() : null;
            if (synchronised) _log.Info("synchronised to {0} at stratum {1}", selected, _engine.Reference!.Stratum);
            else _log.Warning("lost synchronisation: {0}", _engine.NotSynchronisedReason);
        }
    }
}
