using TimeMesh.Core.Protocol;

namespace TimeMesh.Core.Sources;

/// <summary>One line of chronyc sources.</summary>
public sealed record SourceReport(
    int Id,
    string Name,
    char Mode,
    SourceState State,
    int Stratum,
    int PollLog2,
    byte Reach,
    // Seconds since the last good sample; null when none.
    double? LastRxAgoSeconds,
    // The last sample's offset against the served clock, corrected for corrections since (seconds, source − us).
    double AdjustedOffsetSeconds,
    // The last sample's offset as measured then, against the served clock.
    double MeasuredOffsetSeconds,
    // The sample's error bound (seconds).
    double ErrorSeconds);

/// <summary>One line of chronyc sourcestats.</summary>
public sealed record SourceStatsReport(
    int Id,
    string Name,
    int Samples,
    int Runs,
    double SpanSeconds,
    // The source's frequency relative to the served clock, ppm.
    double FrequencyPpm,
    double SkewPpm,
    double OffsetSeconds,
    double StdDevSeconds);

/// <summary>chronyc tracking.</summary>
public sealed record TrackingReport(
    uint ReferenceId,
    string ReferenceName,
    int Stratum,
    // Unix ns of the last update on the served clock; 0 = never.
    long ReferenceTimeUnixNs,
    // How far the served clock is from the estimated true time now (positive: fast).
    double SystemTimeOffsetSeconds,
    double LastOffsetSeconds,
    double RmsOffsetSeconds,
    // The raw clock's frequency error as chrony shows it: positive = fast, ppm.
    double FrequencyPpm,
    double ResidualFrequencyPpm,
    double SkewPpm,
    double RootDelaySeconds,
    double RootDispersionSeconds,
    double UpdateIntervalSeconds,
    LeapIndicator Leap,
    bool Synchronised,
    string? NotSynchronisedReason);

/// <summary>chronyc ntpdata: the last packet that made a sample of one source, and the exchange's counters.</summary>
public sealed record NtpDataReport(
    int Id,
    string Name,
    int RemotePort,
    // False before the source's first sample: the packet fields are then zero.
    bool HasSample,
    LeapIndicator Leap,
    int Version,
    int Mode,
    int Stratum,
    int PollLog2,
    int PrecisionLog2,
    double RootDelaySeconds,
    double RootDispersionSeconds,
    uint ReferenceId,
    // The server's reference time, Unix ns (0 = none).
    long RefTimeUnixNs,
    // The sample's offset against the served clock (as measured then), seconds.
    double OffsetSeconds,
    double DelaySeconds,
    double DispersionSeconds,
    double ResponseTimeSeconds,
    bool Authenticated,
    long TotalTx,
    long TotalRx,
    long TotalValidRx,
    long TotalGoodRx)
{
    /// <summary>The last sample came from an interleaved reply (RFC 9769; chronyc ntpdata's "Interleaved").</summary>
    public bool Interleaved { get; init; }
}
