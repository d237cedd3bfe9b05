namespace TimeMesh.Node.Persistence;

/// <summary>The messages of <see cref="DriftStore"/> and <see cref="DriftStateActor"/>.</summary>
public static class DriftProtocol
{
    /// <summary>Keep this state: written at once, or when the write interval has passed (latest wins).</summary>
    public sealed record Record(DriftState State);

    /// <summary>Asks for the latest state; the answer is <see cref="Current"/>.</summary>
    public sealed record Get
    {
        public static readonly Get Instance = new();
    }

    /// <summary>The latest recorded (or recovered) state; null when there is none.</summary>
    public sealed record Current(DriftState? State);

    /// <summary>
    /// Sent once to the actor named at construction when the stored state is known: the state found, or
    /// null when there is none. Also null, with <paramref name="Error"/> set, when the database could not
    /// be read in time: the node then starts as if it had no drift state (and keeps retrying behind).
    /// </summary>
    public sealed record Recovered(DriftState? State, string? Error = null);

    /// <summary>
    /// Writes what is pending now, whatever the write interval (e.g. at shutdown). The answer is
    /// <see cref="Flushed"/> once everything recorded before it is in the database (or was refused by the
    /// journal as unwritable, see <see cref="PersistenceFailed"/>), or
    /// <see cref="Akka.Actor.Status.Failure"/> when the database is unavailable.
    /// </summary>
    public sealed record Flush
    {
        public static readonly Flush Instance = new();
    }

    /// <summary>Everything recorded before the <see cref="Flush"/> is stored; <paramref name="State"/> is the last state written.</summary>
    public sealed record Flushed(DriftState? State);

    /// <summary>Asks <see cref="DriftStore"/> how persistence is doing; the answer is <see cref="DriftStatus"/>.</summary>
    public sealed record GetStatus
    {
        public static readonly GetStatus Instance = new();
    }

    /// <param name="Latest">The latest state recorded (what <see cref="Get"/> answers).</param>
    /// <param name="Persisted">The last state known to be in the database.</param>
    /// <param name="Available">The persistent actor is running (recovered and not failed since).</param>
    /// <param name="Failures">Database failures since the persistent actor last recovered.</param>
    /// <param name="LastError">The last database error, if any.</param>
    /// <param name="ErrorsTotal">Every database error since the node started, never reset (the metric persistence_errors_total).</param>
    public sealed record DriftStatus(DriftState? Latest, DriftState? Persisted, bool Available, int Failures, string? LastError, long ErrorsTotal = 0);

    /// <summary><see cref="DriftStateActor"/> to its listener: a state is in the journal.</summary>
    public sealed record Persisted(DriftState State, long SequenceNr);

    /// <summary>
    /// <see cref="DriftStateActor"/> to its listener: a database operation failed. <paramref name="Operation"/> is
    /// "write" or "recovery" (the actor then stops, to be started again with back-off), "rejected" (the journal
    /// refused one event) or "snapshot" (events are kept); the actor goes on after the last two.
    /// </summary>
    public sealed record PersistenceFailed(string Operation, Exception Cause);
}
