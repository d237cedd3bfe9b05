using TimeMesh.Core.Protocol;
using TimeMesh.Core.Sources;

namespace TimeMesh.Core.Cmdmon;

// What a node tells chrony's monitoring protocol, in the units of the protocol's fields. The driver fills
// these from the node's own reports; the server only encodes them.

/// <summary>One source (chronyc sources / sourcestats / ntpdata name it by its address).</summary>
public sealed record CmdmonSource(
    CmdmonAddress Address,
    // The name the node knows the source by (chronyc -N shows it).
    string Name,
    SourceState State,
    int Stratum,
    int PollLog2,
    byte Reach,
    // Whole seconds since the last sample; null when there was none.
    uint? SinceSampleSeconds,
    double AdjustedOffsetSeconds,
    double MeasuredOffsetSeconds,
    double ErrorSeconds);

public sealed record CmdmonSourceStats(
    CmdmonAddress Address,
    uint ReferenceId,
    int Samples,
    int Runs,
    uint SpanSeconds,
    double FrequencyPpm,
    double SkewPpm,
    double OffsetSeconds,
    double StdDevSeconds,
    // The error of the offset estimate (chronyc sourcestats does not print it).
    double OffsetErrorSeconds);

/// <summary>chronyc tracking; signs as in the node's reports (positive offset and frequency = fast).</summary>
public sealed record CmdmonTracking(
    uint ReferenceId,
    CmdmonAddress Address,
    int Stratum,
    LeapIndicator Leap,
    long RefTimeUnixNs,
    double SystemTimeOffsetSeconds,
    double LastOffsetSeconds,
    double RmsOffsetSeconds,
    double FrequencyPpm,
    double ResidualFrequencyPpm,
    double SkewPpm,
    double RootDelaySeconds,
    double RootDispersionSeconds,
    double UpdateIntervalSeconds);

/// <summary>One client of the node: NTP and command-port traffic from one address.</summary>
public sealed record CmdmonClient(
    CmdmonAddress Address,
    long NtpHits,
    long NtpDrops,
    int? NtpIntervalLog2,
    uint? LastNtpAgoSeconds,
    long CommandHits,
    long CommandDrops,
    int? CommandIntervalLog2,
    uint? LastCommandAgoSeconds);

public sealed record CmdmonServerStats(
    long NtpHits,
    long NtsKeHits,
    long CommandHits,
    long NtpDrops,
    long NtsKeDrops,
    long CommandDrops,
    long ClientLogDrops,
    long NtpAuthenticatedHits)
{
    /// <summary>Replies in the interleaved mode.</summary>
    public long NtpInterleavedHits { get; init; }
    /// <summary>Exchanges held for the interleaved mode.</summary>
    public long NtpTimestamps { get; init; }
    /// <summary>Seconds from the oldest held exchange to the newest.</summary>
    public long NtpSpanSeconds { get; init; }
}

/// <summary>chronyc ntpdata: the last packet from one source and the exchange's counters.</summary>
public sealed record CmdmonNtpData(
    CmdmonAddress Remote,
    CmdmonAddress Local,
    int RemotePort,
    LeapIndicator Leap,
    int Version,
    int Mode,
    int Stratum,
    int PollLog2,
    int PrecisionLog2,
    double RootDelaySeconds,
    double RootDispersionSeconds,
    uint ReferenceId,
    long RefTimeUnixNs,
    double OffsetSeconds,
    double DelaySeconds,
    double DispersionSeconds,
    double ResponseTimeSeconds,
    bool Authenticated,
    long TxCount,
    long RxCount,
    long ValidCount,
    long GoodCount)
{
    /// <summary>The last sample came from an interleaved reply (chrony's NTP_FLAG_INTERLEAVED).</summary>
    public bool Interleaved { get; init; }
}

/// <summary>The node's state for one request; only the part the request needs must be filled.</summary>
public sealed record CmdmonData
{
    public IReadOnlyList<CmdmonSource> Sources { get; init; } = [];
    public IReadOnlyList<CmdmonSourceStats> SourceStats { get; init; } = [];
    public CmdmonTracking? Tracking { get; init; }
    public IReadOnlyList<CmdmonClient> Clients { get; init; } = [];
    public CmdmonServerStats? ServerStats { get; init; }
    public IReadOnlyList<CmdmonNtpData> NtpData { get; init; } = [];
}

/// <summary>Which of the node's reports a request needs.</summary>
public enum CmdmonNeed : byte
{
    Sources,
    SourceStats,
    Tracking,
    Clients,
    ServerStats,
    NtpData,
}
