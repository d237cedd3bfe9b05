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
    /// <summary>Seconds since the last good sample; null when none.</summary>
    double? LastRxAgoSeconds,
    /// <summary>The last sample's offset against the served clock, corrected for corrections since (seconds, source − us).</summary>
    double AdjustedOffsetSeconds,
    /// <summary>The last sample's offset as measured then, against the served clock.</summary>
    double MeasuredOffsetSeconds,
    /// <summary>The sample's error bound (seconds).</summary>
    double ErrorSeconds);

/// <summary>One line of chronyc sourcestats.</summary>
public sealed record SourceStatsReport(
    int Id,
    string Name,
    int Samples,
    int Runs,
    double SpanSeconds,
    /// <summary>The source's frequency relative to the served clock, ppm.</summary>
    double FrequencyPpm,
    double SkewPpm,
    double OffsetSeconds,
    double StdDevSeconds);

/// <summary>chronyc tracking.</summary>
public sealed record TrackingReport(
    uint ReferenceId,
    string ReferenceName,
    int Stratum,
    /// <summary>Unix ns of the last update on the served clock; 0 = never.</summary>
    long ReferenceTimeUnixNs,
    /// <summary>How far the served clock is from the estimated true time now (positive: fast).</summary>
    double SystemTimeOffsetSeconds,
    double LastOffsetSeconds,
    double RmsOffsetSeconds,
    /// <summary>The raw clock's frequency error as chrony shows it: positive = fast, ppm.</summary>
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
    /// <summary>False before the source's first sample: the packet fields are then zero.</summary>
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
    /// <summary>The server's reference time, Unix ns (0 = none).</summary>
    long RefTimeUnixNs,
    /// <summary>The sample's offset against the served clock (as measured then), seconds.</summary>
    double OffsetSeconds,
    double DelaySeconds,
    double DispersionSeconds,
    double ResponseTimeSeconds,
    bool Authenticated,
    long TotalTx,
    long TotalRx,
    long TotalValidRx,
    long TotalGoodRx);
