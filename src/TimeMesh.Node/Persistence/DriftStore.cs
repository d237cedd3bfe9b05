using Akka.Actor;
using Akka.Event;
using Akka.Pattern;
using static TimeMesh.Node.Persistence.DriftProtocol;

namespace TimeMesh.Node.Persistence;

/// <summary>
/// The node's drift store: a plain actor that always answers, in front of the persistent
/// <see cref="DriftStateActor"/>, which runs under a back-off supervisor. A database that is down or full
/// never stops the time service: <see cref="Get"/> answers from memory, <see cref="Record"/> is kept in
/// memory, the persistent actor is started again with back-off, and once it has recovered the latest
/// state is written. The actor named at construction is told <see cref="Recovered"/> once, when the
/// stored state is known (or after <c>recoveryNoticeTimeout</c>, or the first failed recovery, with null).
/// </summary>
public sealed class DriftStore : ReceiveActor, IWithTimers
{
    private const string NoticeTimer = "notice";
    private readonly PersistenceSettings _settings;
    private readonly string _persistenceId;
    private readonly IActorRef? _notifyRecovered;
    private readonly TimeSpan _recoveryNoticeTimeout;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IActorRef _supervisor = ActorRefs.Nobody;
    private bool _storagePrepared;
    private bool _noticeSent;
    private bool _recoveredOnce;
    private bool _available;
    private int _failures;
    private long _errorsTotal;
    private string? _lastError;
    private DriftState? _latest;
    private DriftState? _persisted;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="settings">Where and how often to write.</param>
    /// <param name="nodeName">The node's name; the persistence id is <c>timemesh-drift-{nodeName}</c>.</param>
    /// <param name="notifyRecovered">Told <see cref="Recovered"/> once (e.g. the sync engine, to start on the stored frequency).</param>
    /// <param name="recoveryNoticeTimeout">How long <paramref name="notifyRecovered"/> waits at most (default 10 s).</param>
    public static Props Props(PersistenceSettings settings, string nodeName, IActorRef? notifyRecovered = null, TimeSpan? recoveryNoticeTimeout = null) =>
        Akka.Actor.Props.Create(() => new DriftStore(settings, nodeName, notifyRecovered, recoveryNoticeTimeout ?? TimeSpan.FromSeconds(10)));

    public DriftStore(PersistenceSettings settings, string nodeName, IActorRef? notifyRecovered, TimeSpan recoveryNoticeTimeout)
    {
        _settings = settings;
        _persistenceId = PersistenceSettings.PersistenceIdFor(nodeName);
        _notifyRecovered = notifyRecovered;
        _recoveryNoticeTimeout = recoveryNoticeTimeout;

        Receive<Record>(r =>
        {
            _latest = r.State;
            // While the persistent actor is down the state waits here; it is written after the next recovery.
            if (_available) _supervisor.Tell(r);
        });
        Receive<Get>(_ => Sender.Tell(new Current(_latest)));
        Receive<GetStatus>(_ => Sender.Tell(new DriftStatus(_latest, _persisted, _available, _failures, _lastError, _errorsTotal)));
        Receive<Flush>(f =>
        {
            if (_available) _supervisor.Forward(f);
            else Sender.Tell(new Status.Failure(new InvalidOperationException(
                "drift state store unavailable, retrying with back-off" + (_lastError is null ? "" : ": " + _lastError))));
        });
        Receive<Recovered>(r =>
        {
            // The database was not there at start (SQLite: its directory); it is now, so turn on WAL.
            if (!_storagePrepared) PrepareStorage();
            _available = true;
            _failures = 0;
            _persisted = r.State;
            if (!_recoveredOnce && _latest is null) _latest = r.State;
            if (_recoveredOnce) _log.Info("drift state store available again");
            _recoveredOnce = true;
            SendNotice(r.State, null);
            // Records kept while the database was away (or before the first recovery): write the latest.
            if (_latest is not null && _latest != r.State) Sender.Tell(new Record(_latest));
        });
        Receive<Persisted>(p => _persisted = p.State);
        Receive<PersistenceFailed>(f =>
        {
            _lastError = f.Operation + ": " + f.Cause.Message;
            _errorsTotal++;
            // After these the persistent actor goes on: a snapshot that failed keeps the events; a rejected
            // write loses that one state, the next record is written as usual.
            if (f.Operation is "snapshot" or "rejected") return;
            _available = false;
            _failures++;
            if (f.Operation == "recovery") SendNotice(null, _lastError);
            if (!_storagePrepared) PrepareStorage();
        });
        Receive<NoticeTimeout>(_ => SendNotice(null, $"drift state not read from the database within {_recoveryNoticeTimeout.TotalSeconds:0.#} s"));
    }

    protected override void PreStart()
    {
        PrepareStorage();
        var child = DriftStateActor.Props(_settings, _persistenceId, Self);
        var options = Backoff.OnStop(child, "state", _settings.BackoffMin, _settings.BackoffMax, randomFactor: 0.2, maxNrOfRetries: -1)
            .WithDefaultStoppingStrategy();
        _supervisor = Context.ActorOf(BackoffSupervisor.Props(options), "backoff");
        if (_notifyRecovered is not null) Timers.StartSingleTimer(NoticeTimer, NoticeTimeout.Instance, _recoveryNoticeTimeout);
    }

    private void PrepareStorage()
    {
        try
        {
            _settings.PrepareStorage();
            _storagePrepared = true;
        }
        catch (Exception e)
        {
            _errorsTotal++;
            _log.Error(e, "drift state database not ready ({0}): {1}; retrying with back-off",
                PersistenceSettings.Mask(_settings.ConnectionString), e.Message);
        }
    }

    private void SendNotice(DriftState? state, string? error)
    {
        if (_noticeSent) return;
        _noticeSent = true;
        Timers.Cancel(NoticeTimer);
        if (error is not null) _log.Warning("starting without stored drift state: {0}", error);
        _notifyRecovered?.Tell(new Recovered(state, error));
    }

    private sealed record NoticeTimeout
    {
        public static readonly NoticeTimeout Instance = new();
    }
}
