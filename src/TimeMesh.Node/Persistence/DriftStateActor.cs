using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using static TimeMesh.Node.Persistence.DriftProtocol;

namespace TimeMesh.Node.Persistence;

/// <summary>
/// The persistent half of the drift store: one per node (persistence id <c>timemesh-drift-{node}</c>).
/// <see cref="Record"/> is written at most once per write interval (latest wins); every
/// <c>snapshot-every</c> writes a snapshot is saved and the events and snapshots before it deleted.
/// Its listener is told <see cref="Recovered"/> after each recovery, <see cref="Persisted"/> after each
/// write and <see cref="PersistenceFailed"/> when the database fails. A failed write or recovery stops
/// the actor (Akka.Persistence's rule): run it under a back-off supervisor, as <see cref="DriftStore"/> does.
/// </summary>
public sealed class DriftStateActor : ReceivePersistentActor, IWithTimers
{
    private const string WriteTimer = "write";
    private readonly string _persistenceId;
    private readonly TimeSpan _writeInterval;
    private readonly int _snapshotEvery;
    private readonly IActorRef? _listener;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<IActorRef> _flushWaiters = [];
    private DriftState? _state;
    private DriftState? _pending;
    private long? _lastWriteTimestamp;

    public ITimerScheduler Timers { get; set; } = null!;

    public override string PersistenceId => _persistenceId;

    public static Props Props(PersistenceSettings settings, string persistenceId, IActorRef? listener = null) =>
        Akka.Actor.Props.Create(() => new DriftStateActor(persistenceId, settings.WriteInterval, settings.SnapshotEvery, listener,
            settings.JournalPath, settings.SnapshotPath));

    public DriftStateActor(string persistenceId, TimeSpan writeInterval, int snapshotEvery, IActorRef? listener,
        string journalPluginId, string snapshotPluginId)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(snapshotEvery, 1);
        _persistenceId = persistenceId;
        _writeInterval = writeInterval;
        _snapshotEvery = snapshotEvery;
        _listener = listener;
        JournalPluginId = journalPluginId;
        SnapshotPluginId = snapshotPluginId;

        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is DriftState s) _state = s;
        });
        Recover<DriftState>(s => _state = s);
        Recover<RecoveryCompleted>(_ =>
        {
            _log.Info("drift state recovered ({0}, sequence {1}): {2}", _persistenceId, LastSequenceNr, (object?)_state ?? "none");
            _listener?.Tell(new Recovered(_state));
        });

        Command<Record>(r =>
        {
            // Latest wins; a state equal to the stored one needs no write.
            _pending = r.State == _state ? null : r.State;
            WriteWhenDue();
        });
        Command<WriteDue>(_ => WriteWhenDue());
        Command<Flush>(_ =>
        {
            if (_pending is null)
            {
                Sender.Tell(new Flushed(_state));
                return;
            }
            _flushWaiters.Add(Sender);
            Write();
        });
        Command<Get>(_ => Sender.Tell(new Current(_pending ?? _state)));
        Command<SaveSnapshotSuccess>(s =>
        {
            DeleteMessages(s.Metadata.SequenceNr);
            if (s.Metadata.SequenceNr > 1)
                DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
        });
        Command<SaveSnapshotFailure>(f =>
        {
            _log.Warning("drift state snapshot at sequence {0} not saved (events are kept; next try in {1} writes): {2}",
                f.Metadata.SequenceNr, _snapshotEvery, f.Cause.Message);
            _listener?.Tell(new PersistenceFailed("snapshot", f.Cause));
        });
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(f => _log.Warning("old drift state events not deleted (up to {0}): {1}", f.ToSequenceNr, f.Cause.Message));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning("old drift state snapshots not deleted: {0}", f.Cause.Message));
    }

    private void WriteWhenDue()
    {
        if (_pending is null) return;
        if (_lastWriteTimestamp is not { } last)
        {
            Write();
            return;
        }
        var since = Stopwatch.GetElapsedTime(last);
        if (since >= _writeInterval)
        {
            Write();
        }
        else if (!Timers.IsTimerActive(WriteTimer))
        {
            Timers.StartSingleTimer(WriteTimer, WriteDue.Instance, _writeInterval - since);
        }
    }

    private void Write()
    {
        var state = _pending!;
        _pending = null;
        _lastWriteTimestamp = Stopwatch.GetTimestamp();
        Timers.Cancel(WriteTimer);
        Persist(state, written =>
        {
            _state = written;
            _listener?.Tell(new Persisted(written, LastSequenceNr));
            foreach (var waiter in _flushWaiters) waiter.Tell(new Flushed(written));
            _flushWaiters.Clear();
            if (LastSequenceNr % _snapshotEvery == 0) SaveSnapshot(written);
        });
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _log.Error(cause, "drift state not written (sequence {0}): {1}; the time service goes on, the write is retried with back-off",
            sequenceNr, cause.Message);
        Fail("write", cause);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        // The journal refused this one event (e.g. it could not be serialized); the actor goes on.
        _log.Error(cause, "drift state write rejected (sequence {0}): {1}", sequenceNr, cause.Message);
        Fail("rejected", cause);
        base.OnPersistRejected(cause, @event, sequenceNr);
    }

    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        _log.Error(reason, "drift state not recovered: {0}; the time service goes on, recovery is retried with back-off", reason.Message);
        Fail("recovery", reason);
        base.OnRecoveryFailure(reason, message);
    }

    private void Fail(string operation, Exception cause)
    {
        _listener?.Tell(new PersistenceFailed(operation, cause));
        foreach (var waiter in _flushWaiters) waiter.Tell(new Status.Failure(cause));
        _flushWaiters.Clear();
    }

    private sealed record WriteDue
    {
        public static readonly WriteDue Instance = new();
    }
}
