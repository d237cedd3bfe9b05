using TimeMesh.Core.Protocol;

namespace TimeMesh.Core.Sources;

/// <summary>One line of chronyc sources.</summary>
/// <param name="Id">The engine's id of the source.</param>
/// <param name="Name">The source's name (<see cref="SourceSettings.Name"/>).</param>
/// <param name="Mode">chronyc's mode character: <c>^</c>, a server we poll.</param>
/// <param name="State">The source's state in the last selection; <see cref="SourceState.Unusable"/> while it is unreachable.</param>
/// <param name="Stratum">The stratum of its last sample; 0 before the first.</param>
/// <param name="PollLog2">Its current poll interval, log2 seconds.</param>
/// <param name="Reach">The reachability register: the last 8 polls, newest in bit 0, 1 = answered (chronyc prints it in octal).</param>
/// <param name="LastRxAgoSeconds">
/// Seconds since the last sample (the midpoint of its exchange), as chronyc's LastRx: a reply that gave no sample
/// (a kiss code, leap 3, too long a delay) does not count; null before the first sample.
/// </param>
/// <param name="AdjustedOffsetSeconds">
/// The source's offset against the served clock now, predicted from its fit, so corrections since the last sample are
/// accounted for (seconds, source − us).
/// </param>
/// <param name="MeasuredOffsetSeconds">The last sample's offset as measured then, against the served clock of that moment (seconds, source − us).</param>
/// <param name="ErrorSeconds">The last sample's error bound: half its delay plus its dispersion, plus the server's root delay / 2 and root dispersion (seconds).</param>
public sealed record SourceReport(
    int Id,
    string Name,
    char Mode,
    SourceState State,
    int Stratum,
    int PollLog2,
    byte Reach,
    double? LastRxAgoSeconds,
    double AdjustedOffsetSeconds,
    double MeasuredOffsetSeconds,
    double ErrorSeconds);

/// <summary>One line of chronyc sourcestats; every figure is 0 before the source's first sample.</summary>
/// <param name="Id">The engine's id of the source.</param>
/// <param name="Name">The source's name (<see cref="SourceSettings.Name"/>).</param>
/// <param name="Samples">Samples in the source's fit ("NP").</param>
/// <param name="Runs">Runs of same-sign residuals in that fit ("NR").</param>
/// <param name="SpanSeconds">Time from the oldest sample in the fit to the newest, seconds ("Span").</param>
/// <param name="FrequencyPpm">The source's frequency relative to the served clock, ppm ("Frequency").</param>
/// <param name="SkewPpm">The error bound of that frequency, ppm ("Freq Skew").</param>
/// <param name="OffsetSeconds">The source's offset against the served clock now, from the fit, seconds ("Offset").</param>
/// <param name="StdDevSeconds">Scatter of the samples about the fit, seconds ("Std Dev").</param>
public sealed record SourceStatsReport(
    int Id,
    string Name,
    int Samples,
    int Runs,
    double SpanSeconds,
    double FrequencyPpm,
    double SkewPpm,
    double OffsetSeconds,
    double StdDevSeconds);

/// <summary>chronyc tracking.</summary>
/// <param name="ReferenceId">The reference ID this node serves (that of its selected source); 0 without a reference.</param>
/// <param name="ReferenceName">The selected source's name; empty without one.</param>
/// <param name="Stratum">The stratum this node serves (its selected source's plus one, at most 15); 0 without a reference.</param>
/// <param name="ReferenceTimeUnixNs">Unix ns of the last clock update, on the served clock; 0 = never.</param>
/// <param name="SystemTimeOffsetSeconds">How far the served clock is from the estimated true time now: the slew still to go, seconds (positive: fast).</param>
/// <param name="LastOffsetSeconds">The served clock's offset found at the last update, seconds (positive: it was fast).</param>
/// <param name="RmsOffsetSeconds">Root mean square of the offsets found at all updates so far, seconds.</param>
/// <param name="FrequencyPpm">The raw clock's frequency error as chrony shows it: positive = fast, ppm.</param>
/// <param name="ResidualFrequencyPpm">
/// The selected sources' combined frequency estimate less the frequency correction applied now, ppm (chronyc's
/// "Residual freq"); 0 without a selection.
/// </param>
/// <param name="SkewPpm">The error bound of the frequency estimate, ppm.</param>
/// <param name="RootDelaySeconds">The root delay served: the selected source's root delay plus our least delay to it, seconds.</param>
/// <param name="RootDispersionSeconds">The root dispersion served, grown to this moment, seconds.</param>
/// <param name="UpdateIntervalSeconds">The selected source's current poll interval, seconds; 0 without one.</param>
/// <param name="Leap">The leap indicator served; unsynchronised without a reference.</param>
/// <param name="Synchronised">True while a source is selected and the node serves its time as synchronised.</param>
/// <param name="NotSynchronisedReason">Why the node is not synchronised, for an operator; null while it is.</param>
public sealed record TrackingReport(
    uint ReferenceId,
    string ReferenceName,
    int Stratum,
    long ReferenceTimeUnixNs,
    double SystemTimeOffsetSeconds,
    double LastOffsetSeconds,
    double RmsOffsetSeconds,
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
/// <param name="Id">The engine's id of the source.</param>
/// <param name="Name">The source's name (<see cref="SourceSettings.Name"/>).</param>
/// <param name="RemotePort">The server's UDP port.</param>
/// <param name="HasSample">False before the source's first sample: the packet fields are then zero.</param>
/// <param name="Leap">The reply's leap indicator.</param>
/// <param name="Version">The reply's NTP version.</param>
/// <param name="Mode">The reply's mode number (4: server).</param>
/// <param name="Stratum">The reply's stratum.</param>
/// <param name="PollLog2">The reply's poll field, log2 seconds.</param>
/// <param name="PrecisionLog2">The server's clock precision, log2 seconds.</param>
/// <param name="RootDelaySeconds">The reply's root delay, seconds.</param>
/// <param name="RootDispersionSeconds">The reply's root dispersion, seconds.</param>
/// <param name="ReferenceId">The reply's reference ID: what the server is synchronised to.</param>
/// <param name="RefTimeUnixNs">The server's reference time, Unix ns (0 = none).</param>
/// <param name="OffsetSeconds">The sample's offset against the served clock (as measured then), seconds.</param>
/// <param name="DelaySeconds">The sample's round-trip delay, less the server's hold time, seconds.</param>
/// <param name="DispersionSeconds">The sample's own dispersion (precisions plus PHI × delay), seconds.</param>
/// <param name="ResponseTimeSeconds">How long the server held the request (its transmit − receive time), seconds.</param>
/// <param name="Authenticated">True when the source is configured with a symmetric key or NTS.</param>
/// <param name="TotalTx">Requests sent.</param>
/// <param name="TotalRx">Replies received: those that answered a request, plus the bogus and the unauthenticated ones.</param>
/// <param name="TotalValidRx">Replies that answered the request in flight.</param>
/// <param name="TotalGoodRx">Replies that made a sample.</param>
public sealed record NtpDataReport(
    int Id,
    string Name,
    int RemotePort,
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
    long RefTimeUnixNs,
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
