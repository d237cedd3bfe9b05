using Akka.Actor;
using TimeMesh.Core.Clock;
using TimeMesh.Core.Server;
using TimeMesh.Node.Mesh;
using TimeMesh.Node.Ntp;

namespace TimeMesh.Node.Clock;

/// <summary>The mesh time with its error bound, for code that runs next to a TimeMesh node.</summary>
public interface IMeshClock
{
    /// <summary>
    /// The disciplined time now and the interval that contains the true time. Lock-free and
    /// allocation-free: one clock read and arithmetic on a snapshot the node's actors publish.
    /// </summary>
    MeshTime Now();
}

/// <summary>
/// <see cref="IMeshClock"/> over a node's <see cref="DisciplinedClock"/>. The reference state and the
/// leader are swapped in as one immutable snapshot by <see cref="MeshClockActor"/> (the only writer), so
/// a reader never takes a lock or sends a message.
/// </summary>
public sealed class MeshClock(DisciplinedClock clock) : IMeshClock
{
    private sealed record Snapshot(ReferenceState Current, ReferenceState? LastSynchronised, string? Leader);

    private volatile Snapshot _snapshot = new(ReferenceState.Unsynchronised, null, null);

    /// <summary>The OS realtime clock corrected in software (TimeMesh's virtual clock mode).</summary>
    public MeshClock() : this(DisciplinedClock.System())
    {
    }

    /// <summary>The clock the node disciplines; the node's actors must be started on this same clock.</summary>
    public DisciplinedClock Clock { get; } = clock;

    public MeshTime Now()
    {
        var s = _snapshot;
        return MeshTimeBound.At(Clock.NowUnixNs(), s.Current, s.LastSynchronised, s.Leader);
    }

    internal void ReferenceChanged(ReferenceState reference)
    {
        var s = _snapshot;
        _snapshot = s with
        {
            Current = reference,
            LastSynchronised = reference.Kind == ReferenceKind.Synchronised ? reference : s.LastSynchronised,
        };
    }

    internal void LeaderChanged(string? leader) => _snapshot = _snapshot with { Leader = leader };
}

/// <summary>
/// Keeps a <see cref="MeshClock"/> up to date from the reference actor and the mesh's leader news, which the
/// mesh actor tells it directly (it may run in another actor system: a standalone node's cluster part).
/// </summary>
public sealed class MeshClockActor : ReceiveActor
{
    private readonly MeshClock _clock;
    private readonly IActorRef _reference;

    public static Props Props(MeshClock clock, IActorRef reference) =>
        Akka.Actor.Props.Create(() => new MeshClockActor(clock, reference));

    public MeshClockActor(MeshClock clock, IActorRef reference)
    {
        _clock = clock;
        _reference = reference;
        Receive<ReferenceProtocol.Published>(m => _clock.ReferenceChanged(m.Reference));
        Receive<ReferenceState>(_clock.ReferenceChanged);
        Receive<MeshProtocol.LeaderChanged>(m => _clock.LeaderChanged(m.Leader));
    }

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(ReferenceProtocol.Published));
        // The reference may have published before we subscribed; its answer comes after any earlier publication.
        _reference.Tell(ReferenceProtocol.GetReference.Instance);
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);
}
