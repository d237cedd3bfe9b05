using TimeMesh.Core.Server;

namespace TimeMesh.Node.Ntp;

/// <summary>
/// One receive loop's packet counters. Written by that loop's thread only and read by the actor;
/// 64-bit reads and writes are atomic, so no lock and no interlocked add sits on the hot path.
/// </summary>
internal sealed class LoopCounters
{
    public long Received;
    public long Answered;
    public long KissOfDeathSent;
    public long DroppedAccess;
    public long DroppedRateLimit;
    public long DroppedMalformed;
    public long DroppedUnsupportedMode;
    public long SendFailures;
    /// <summary>Bytes this loop's thread has allocated since it started, read after each batch: it must stay flat.</summary>
    public long AllocatedBytes;

    public void Count(ServerVerdict verdict)
    {
        switch (verdict)
        {
            case ServerVerdict.Respond: Answered++; break;
            case ServerVerdict.RespondAuthenticated: Answered++; break;
            case ServerVerdict.DroppedAuthentication: DroppedMalformed++; break;
            case ServerVerdict.RespondKissOfDeath: KissOfDeathSent++; break;
            case ServerVerdict.DroppedAccess: DroppedAccess++; break;
            case ServerVerdict.DroppedRateLimit: DroppedRateLimit++; break;
            case ServerVerdict.DroppedMalformed: DroppedMalformed++; break;
            case ServerVerdict.DroppedUnsupportedMode: DroppedUnsupportedMode++; break;
        }
    }

    public ServerStats Read() => new(
        Volatile.Read(ref Received),
        Volatile.Read(ref Answered),
        Volatile.Read(ref KissOfDeathSent),
        Volatile.Read(ref DroppedAccess),
        Volatile.Read(ref DroppedRateLimit),
        Volatile.Read(ref DroppedMalformed),
        Volatile.Read(ref DroppedUnsupportedMode),
        Volatile.Read(ref SendFailures),
        0, 0,
        Volatile.Read(ref AllocatedBytes));
}

/// <summary>The NTP server's packet counters, summed over its loops (chronyc serverstats).</summary>
public sealed record ServerStats(
    long Received,
    long Answered,
    long KissOfDeathSent,
    long DroppedAccess,
    long DroppedRateLimit,
    long DroppedMalformed,
    long DroppedUnsupportedMode,
    long SendFailures,
    long ClientLogEvictions,
    int LoopRestarts,
    long LoopAllocatedBytes)
{
    public static readonly ServerStats Zero = new(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    public long Dropped => DroppedAccess + DroppedRateLimit + DroppedMalformed + DroppedUnsupportedMode;

    public static ServerStats operator +(ServerStats a, ServerStats b) => new(
        a.Received + b.Received,
        a.Answered + b.Answered,
        a.KissOfDeathSent + b.KissOfDeathSent,
        a.DroppedAccess + b.DroppedAccess,
        a.DroppedRateLimit + b.DroppedRateLimit,
        a.DroppedMalformed + b.DroppedMalformed,
        a.DroppedUnsupportedMode + b.DroppedUnsupportedMode,
        a.SendFailures + b.SendFailures,
        a.ClientLogEvictions + b.ClientLogEvictions,
        a.LoopRestarts + b.LoopRestarts,
        a.LoopAllocatedBytes + b.LoopAllocatedBytes);
}
