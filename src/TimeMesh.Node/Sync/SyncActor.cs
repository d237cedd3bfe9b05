using System.Net;
using Akka.Actor;
using Akka.Event;
using TimeMesh.Core.Protocol;
using TimeMesh.Core.Sources;
using TimeMesh.Node.Clock;
using TimeMesh.Node.Config;
using TimeMesh.Node.Ntp;
using TimeMesh.Node.Persistence;

namespace TimeMesh.Node.Sync;

/// <summary>
/// Drives the core's <see cref="SyncEngine"/> (chronyd as a client): fires polls on the engine's timer, sends each
/// request from a fresh port (<see cref="NtpClientTransport"/>), feeds replies back, and publishes the engine's news:
/// the correction to the clock, what to serve to the reference actor, the drift state to its store. Answers the data
/// of chronyc sources, sourcestats, ntpdata and tracking. The other concerns each have a file of their own:
/// <see cref="UpstreamSources"/> (servers and pools, with <see cref="SourceResolverActor"/>), <see cref="MeshSources"/>
/// (mesh following), <see cref="NtsSessions"/> (with <see cref="NtsKeyExchangeActor"/>), <see cref="ClockSteering"/>.
/// </summary>
public sealed class SyncActor : ReceiveActor, IWithTimers
{
    private readonly DisciplinedClock _clock;
    private readonly IActorRef _reference;
    private readonly SyncEngine _engine;
    /// <summary>Where each source is polled, by engine id (kept by the parts that add and remove sources).</summary>
    private readonly Dictionary<int, IPEndPoint> _endpoints = new();
    private readonly bool _kernelTransmitTimestamps;
    private readonly Ntp.HardwareTimestamps? _hardware;
    private readonly ClockSteering _steering;
    private readonly NtsSessions _nts;
    private readonly UpstreamSources _upstream;
    private readonly MeshSources _mesh;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private int _publishedVersion = -1;
    private bool _wasSynchronised;
    private long _synchronisedSinceUnixNs;
    private int? _loggedSelectedId;
    private SyncProtocol.TransmitTimestamps _transmitStamps = new(0, 0, false);
    private bool _loggedUserSpaceStamps;
    /// <summary>Where the drift state is kept (null: not persisted).</summary>
    private IActorRef? _driftStore;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="resolve">Name resolution (DNS by default; tests give their own).</param>
    /// <param name="poolRefreshInterval">How often pools are checked for dead or false sources (10 min by default).</param>
    public static Props Props(UpstreamSettings settings, DisciplinedClock clock, IActorRef reference, sbyte precisionLog2,
        IClockSteering? steering = null, Func<string, Task<IPAddress[]>>? resolve = null, TimeSpan? poolRefreshInterval = null,
        Func<long>? monotonicNs = null, MeshFollowSettings? mesh = null, Ntp.HardwareTimestamps? hardware = null) =>
        Akka.Actor.Props.Create(() => new SyncActor(settings, clock, reference, precisionLog2, steering, resolve, poolRefreshInterval, monotonicNs, mesh, hardware));

    /// <param name="hardware">The node's hwtimestamp interfaces (null: off): requests and replies then carry the NIC's stamps where it made them.</param>
    public SyncActor(UpstreamSettings settings, DisciplinedClock clock, IActorRef reference, sbyte precisionLog2,
        IClockSteering? steering, Func<string, Task<IPAddress[]>>? resolve, TimeSpan? poolRefreshInterval, Func<long>? monotonicNs,
        MeshFollowSettings? mesh = null, Ntp.HardwareTimestamps? hardware = null)
    {
        _hardware = hardware;
        _clock = clock;
        _reference = reference;
        _kernelTransmitTimestamps = settings.KernelTransmitTimestamps;
        _engine = new SyncEngine(settings.Sync with { PrecisionLog2 = precisionLog2 }, clock.ReadRawUnixNs(), (ulong)Random.Shared.NextInt64() | 1);
        var resolver = Context.ActorOf(SourceResolverActor.Props(resolve, mesh?.Masters ?? []), "resolver");
        var keyExchange = Context.ActorOf(NtsKeyExchangeActor.Props(settings.NtsTrustedCertificatesPath, mesh?.Nts), "nts-ke");
        _steering = new ClockSteering(clock, steering, monotonicNs ?? RealtimeClock.ReadMonotonicNanoseconds, Timers, _log, kernelNotifications: monotonicNs is null);
        _nts = new NtsSessions(keyExchange, _endpoints, _log);
        _upstream = new UpstreamSources(settings, _engine, _endpoints, _nts, resolver, Self, Timers, _log,
            poolRefreshInterval ?? UpstreamSources.DefaultUpkeepInterval);
        _mesh = new MeshSources(mesh, _engine, _endpoints, _nts, _log);

        Receive<SyncProtocol.Poll>(_ => Poll());
        Receive<SyncProtocol.RequestSent>(OnRequestSent);
        Receive<SyncProtocol.ReplyReceived>(OnReply);
        Receive<SyncProtocol.ForgedReplies>(_nts.OnForged);
        Receive<NtsKeyExchangeProtocol.Done>(m =>
        {
            if (_nts.OnKeyExchanged(m) is { } ntp && _endpoints.ContainsKey(m.SourceId)) _endpoints[m.SourceId] = ntp;
        });
        Receive<SourceResolverProtocol.Resolved>(m =>
        {
            if (_upstream.OnResolved(m, _clock.ReadRawUnixNs())) SchedulePoll();
        });
        Receive<SyncProtocol.RefreshPools>(_ =>
        {
            _upstream.Refresh(_clock.ReadRawUnixNs());
            Publish();
        });
        Receive<SourceResolverProtocol.MastersResolved>(m =>
        {
            if (!_mesh.OnMastersResolved(m, _clock.ReadRawUnixNs())) return;
            Publish();
            SchedulePoll();
        });
        Receive<SyncProtocol.FollowMesh>(m =>
        {
            _mesh.Follow(m, _clock.ReadRawUnixNs());
            Publish();
            SchedulePoll();
        });
        Receive<SyncProtocol.WatchClock>(_ => WatchClock());
        Receive<SyncProtocol.EndSlew>(m => _steering.EndSlew(m.Generation));
        Receive<DriftProtocol.Recovered>(OnDriftRecovered);
        Receive<SyncProtocol.UseDriftStore>(m => _driftStore = m.Store);
        Receive<SyncProtocol.GetSources>(_ => Sender.Tell(new SyncProtocol.Sources(_engine.Sources(_clock.ReadRawUnixNs()))));
        Receive<SyncProtocol.GetNtpData>(_ => Sender.Tell(new SyncProtocol.NtpData(_engine.NtpData(_clock.ReadRawUnixNs()))));
        Receive<SyncProtocol.GetSourceStats>(_ => Sender.Tell(new SyncProtocol.SourceStats(_engine.SourceStats(_clock.ReadRawUnixNs()))));
        Receive<SyncProtocol.GetTracking>(_ => Sender.Tell(new SyncProtocol.Tracking(_engine.Tracking(_clock.ReadRawUnixNs())) { Transmit = _transmitStamps }));
        Receive<SyncProtocol.GetNtsReports>(_ => Sender.Tell(_nts.Reports()));
        Receive<SyncProtocol.GetSyncState>(_ => Sender.Tell(new SyncProtocol.SyncState(
            _engine.Reference is not null,
            _engine.SelectedId is { } id && _mesh.IsMaster(id),
            _synchronisedSinceUnixNs)));
    }

    protected override void PreStart()
    {
        _upstream.Start();
        WatchClock();
        _steering.StartWatching(Self);
    }

    protected override void PostStop() => _steering.Dispose();

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
            var (outgoing, filter) = _nts.Request(id, request[..poller.RequestLength]);
            if (outgoing is not null)
                NtpClientTransport.Exchange(Self, id, _endpoints[id], outgoing, _clock, TimeSpan.FromSeconds(waitSeconds), poller.Settings.Key, filter,
                    _kernelTransmitTimestamps, _hardware);
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
            ? _transmitStamps with
            {
                Kernel = _transmitStamps.Kernel + 1, LastWasKernel = true,
                Hardware = _transmitStamps.Hardware + (m.HardwareTransmitStamp ? 1 : 0), LastWasHardware = m.HardwareTransmitStamp,
            }
            : _transmitStamps with { UserSpace = _transmitStamps.UserSpace + 1, LastWasKernel = false, LastWasHardware = false };
        if (!m.KernelTransmitStamp && !_loggedUserSpaceStamps)
        {
            _loggedUserSpaceStamps = true;
            _log.Warning("no kernel transmit timestamp for a request to a source: using the time read before the send call (less accurate)");
        }
        _engine.RequestSent(m.SourceId, m.SentRawNs);
    }

    private void OnReply(SyncProtocol.ReplyReceived m)
    {
        if (!_nts.Accepts(m)) return;
        var outcome = _engine.HandleReply(m.SourceId, m.Reply, m.ReceivedRawNs);
        if (outcome is ReplyOutcome.KissDeny) _log.Warning("source {0} sent a DENY/RSTR kiss-o'-death: no longer polled", _endpoints.GetValueOrDefault(m.SourceId));
        if (outcome is ReplyOutcome.KissRate) _log.Info("source {0} sent a RATE kiss-o'-death: polling less often", _endpoints.GetValueOrDefault(m.SourceId));
        if (outcome is ReplyOutcome.AuthFailed && _engine.Poller(m.SourceId) is { } p && (p.AuthFailures == 1 || p.AuthFailures % 100 == 0))
            _log.Warning("source {0}: {1} repl(ies) without a valid MAC under key {2} ignored", _endpoints.GetValueOrDefault(m.SourceId), p.AuthFailures, p.Settings.Key!.Id);
        Publish();
        SchedulePoll();
    }

    /// <summary>A step of the OS clock by someone else moves everything the engine measured on the raw clock, and the correction absorbs it.</summary>
    private void WatchClock()
    {
        if (_steering.Watch() is not { } stepNs) return;
        _engine.RawClockStepped(stepNs);
        Publish();
    }

    /// <summary>The drift state recovered at start (chrony's driftfile): the frequency applies at once.</summary>
    private void OnDriftRecovered(DriftProtocol.Recovered m)
    {
        if (m.State is { } state && _engine.ApplyKnownDrift(state.FrequencyPpm, Math.Max(state.SkewPpm, 0.01), _clock.ReadRawUnixNs()))
        {
            _log.Info("drift state recovered: frequency {0:0.000} ppm (skew {1:0.000} ppm), last synchronised at stratum {2}",
                -state.FrequencyPpm, state.SkewPpm, state.Stratum);
            _reference.Tell(ReferenceProtocol.Activated.Instance);
            Publish();
        }
        else if (m.Error is not null)
        {
            _log.Warning("drift state not recovered ({0}); starting from an unknown frequency", m.Error);
        }
    }

    /// <summary>Applies news from the engine: the clock's correction and what the node serves.</summary>
    private void Publish()
    {
        if (_mesh.Following) _mesh.Reconcile(_clock.ReadRawUnixNs());
        if (_engine.Version == _publishedVersion) return;
        _publishedVersion = _engine.Version;
        _steering.Apply(_engine.Correction);
        _reference.Tell(new ReferenceProtocol.Synchronised(_engine.Reference));
        if (_engine.Reference is { } served && _driftStore is not null && _engine.Discipline.Updates > 0)
        {
            var d = _engine.Discipline;
            _driftStore.Tell(new DriftProtocol.Record(new DriftState(
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
