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
    /// <summary>Requests answered authenticated, with a MAC or NTS (chrony: Authenticated NTP packets).</summary>
    public long Authenticated;
    /// <summary>Requests whose MAC named an unknown key or did not verify.</summary>
    public long DroppedAuth;
    /// <summary>Interleaved replies (RFC 9769): they carried the true transmit time of the client's previous reply.</summary>
    public long Interleaved;
    /// <summary>Kernel transmit timestamps of replies recorded for the interleaved mode.</summary>
    public long TransmitTimestamps;
    /// <summary>Times the kernel refused to restart the transmit-timestamp numbering after a refused datagram.</summary>
    public long TransmitTimestampResyncFailures;
    /// <summary>Bytes this loop's thread has allocated since it started, read after each batch: it must stay flat.</summary>
    public long AllocatedBytes;

    public void Count(ServerVerdict verdict)
    {
        switch (verdict)
        {
            case ServerVerdict.Respond: Answered++; break;
            case ServerVerdict.RespondAuthenticated: Answered++; Authenticated++; break;
            case ServerVerdict.DroppedAuthentication: DroppedMalformed++; break;
            case ServerVerdict.RespondKissOfDeath: KissOfDeathSent++; break;
            case ServerVerdict.DroppedAccess: DroppedAccess++; break;
            case ServerVerdict.DroppedRateLimit: DroppedRateLimit++; break;
            case ServerVerdict.DroppedMalformed: DroppedMalformed++; break;
            case ServerVerdict.DroppedUnsupportedMode: DroppedUnsupportedMode++; break;
            case ServerVerdict.RespondWithMac: Answered++; Authenticated++; break;
            case ServerVerdict.DroppedMac: DroppedAuth++; break;
            case ServerVerdict.RespondInterleaved: Answered++; Interleaved++; break;
            case ServerVerdict.RespondInterleavedWithMac: Answered++; Authenticated++; Interleaved++; break;
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
        Volatile.Read(ref AllocatedBytes))
    {
        Authenticated = Volatile.Read(ref Authenticated),
        DroppedAuth = Volatile.Read(ref DroppedAuth),
        Interleaved = Volatile.Read(ref Interleaved),
        TransmitTimestamps = Volatile.Read(ref TransmitTimestamps),
    };
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

    /// <summary>Requests answered authenticated: with a MAC under a key of the keyfile, or with NTS.</summary>
    public long Authenticated { get; init; }
    /// <summary>Requests dropped because their MAC named an unknown key or did not verify.</summary>
    public long DroppedAuth { get; init; }
    /// <summary>Interleaved replies (RFC 9769, chrony's xleave).</summary>
    public long Interleaved { get; init; }
    /// <summary>Kernel transmit timestamps of replies recorded for the interleaved mode.</summary>
    public long TransmitTimestamps { get; init; }
    /// <summary>Exchanges held for the interleaved mode now (not summed: one table for all loops).</summary>
    public long InterleavedExchangesHeld { get; init; }
    /// <summary>Seconds from the oldest held exchange to the newest.</summary>
    public double InterleavedSpanSeconds { get; init; }

    public long Dropped => DroppedAccess + DroppedRateLimit + DroppedMalformed + DroppedUnsupportedMode + DroppedAuth;

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
        a.LoopAllocatedBytes + b.LoopAllocatedBytes)
    {
        Authenticated = a.Authenticated + b.Authenticated,
        DroppedAuth = a.DroppedAuth + b.DroppedAuth,
        Interleaved = a.Interleaved + b.Interleaved,
        TransmitTimestamps = a.TransmitTimestamps + b.TransmitTimestamps,
    };
}
