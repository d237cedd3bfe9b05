using TimeMesh.Core.Protocol;
using TimeMesh.Core.Sources;

namespace TimeMesh.Core.Cmdmon;

// What a node tells chrony's monitoring protocol, in the units of the protocol's fields. The driver fills
// these from the node's own reports; the server only encodes them.

/// <summary>One source (chronyc sources / sourcestats / ntpdata name it by its address).</summary>
/// <param name="Address">The source's IP address, or an id when it has none to show (chrony does the same for
/// a source whose name is not yet resolved); source-name requests look the source up by it.</param>
/// <param name="Name">The name the node knows the source by (chronyc -N shows it); at most 255 bytes of it are sent.</param>
/// <param name="State">Where source selection left it; sent as chrony's state code and as the select-data symbol.</param>
/// <param name="Stratum">The stratum the source reports.</param>
/// <param name="PollLog2">The polling interval, log2 seconds.</param>
/// <param name="Reach">The reachability register: one bit per recent poll, newest lowest (chronyc prints it in octal).</param>
/// <param name="SinceSampleSeconds">Whole seconds since the last good sample; null when there was none (sent as 0xFFFFFFFF).</param>
/// <param name="AdjustedOffsetSeconds">The last sample's offset, source minus served clock, seconds, adjusted for the
/// corrections made to the clock since it was taken (chronyc's first "Last sample" figure).</param>
/// <param name="MeasuredOffsetSeconds">The last sample's offset as measured then, seconds (the figure chronyc shows in brackets).</param>
/// <param name="ErrorSeconds">The last sample's error bound, seconds (chronyc's "+/-"); select data sends the adjusted
/// offset ± this as the source's interval.</param>
public sealed record CmdmonSource(
    CmdmonAddress Address,
    string Name,
    SourceState State,
    int Stratum,
    int PollLog2,
    byte Reach,
    uint? SinceSampleSeconds,
    double AdjustedOffsetSeconds,
    double MeasuredOffsetSeconds,
    double ErrorSeconds);

/// <summary>chronyc sourcestats: the regression the node keeps over one source's recent samples.</summary>
/// <param name="Address">The source's address (or id), as in <see cref="CmdmonSource.Address"/>.</param>
/// <param name="ReferenceId">The reference id that stands for the source (chrony's for its address); 0 when it has none.</param>
/// <param name="Samples">How many samples the regression holds (chronyc's "NP").</param>
/// <param name="Runs">Runs of residuals of the same sign (chronyc's "NR"); few runs for many samples mean the fit
/// does not follow the data.</param>
/// <param name="SpanSeconds">Whole seconds from the oldest sample held to the newest.</param>
/// <param name="FrequencyPpm">The source's estimated frequency relative to the served clock, ppm.</param>
/// <param name="SkewPpm">The error bound of that frequency estimate, ppm.</param>
/// <param name="OffsetSeconds">The source's estimated offset, seconds.</param>
/// <param name="StdDevSeconds">The standard deviation of the samples about the fit, seconds.</param>
/// <param name="OffsetErrorSeconds">The error of the offset estimate, seconds (on the wire, but chronyc sourcestats does not print it).</param>
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
    double OffsetErrorSeconds);

/// <summary>chronyc tracking; signs as in the node's reports (positive offset and frequency = fast).</summary>
/// <param name="ReferenceId">The reference id of what the node follows (chronyc's "Reference ID").</param>
/// <param name="Address">The address of the source followed; <see cref="CmdmonAddress.Unspecified"/> when that is not
/// an IP source (or there is none).</param>
/// <param name="Stratum">The node's own stratum.</param>
/// <param name="Leap">The node's leap status; sent as chrony's code (normal, insert, delete, unsynchronised).</param>
/// <param name="RefTimeUnixNs">When the served clock was last updated, Unix ns; 0 = never.</param>
/// <param name="SystemTimeOffsetSeconds">How far the served clock is from true time now, seconds, positive = fast.
/// It goes out negated: chrony sends the correction still to apply.</param>
/// <param name="LastOffsetSeconds">The offset measured at the last clock update, seconds.</param>
/// <param name="RmsOffsetSeconds">The root mean square of the offsets measured at the clock's updates, seconds.</param>
/// <param name="FrequencyPpm">The raw clock's frequency error, ppm, positive = fast.</param>
/// <param name="ResidualFrequencyPpm">The difference, ppm, between the frequency the reference indicates and the one in use.</param>
/// <param name="SkewPpm">The error bound of the frequency estimate, ppm.</param>
/// <param name="RootDelaySeconds">The total round-trip delay to the stratum-1 source at the root, seconds.</param>
/// <param name="RootDispersionSeconds">The total dispersion accumulated down from that root, seconds.</param>
/// <param name="UpdateIntervalSeconds">The interval between the last two clock updates, seconds.</param>
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
/// <param name="Address">The client's IP address.</param>
/// <param name="NtpHits">NTP requests received from it.</param>
/// <param name="NtpDrops">NTP requests from it that were dropped rather than answered.</param>
/// <param name="NtpIntervalLog2">The mean interval between its NTP requests, log2 seconds (clamped to the int8 field);
/// null when not known (chronyc prints "-").</param>
/// <param name="LastNtpAgoSeconds">Whole seconds since its last NTP request; null when it sent none (sent as 0xFFFFFFFF).</param>
/// <param name="CommandHits">Command-port requests received from it.</param>
/// <param name="CommandDrops">Command-port requests from it that were dropped.</param>
/// <param name="CommandIntervalLog2">The mean interval between its command requests, log2 seconds; null when not known.</param>
/// <param name="LastCommandAgoSeconds">Whole seconds since its last command request; null when it sent none.</param>
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

/// <summary>
/// chronyc serverstats: the node's server counters, sent as chrony's third server-stats reply. Each counter
/// goes out as 32 bits, so larger values wrap.
/// </summary>
/// <param name="NtpHits">NTP packets received.</param>
/// <param name="NtsKeHits">NTS-KE connections accepted.</param>
/// <param name="CommandHits">Command packets received.</param>
/// <param name="NtpDrops">NTP packets dropped (not answered).</param>
/// <param name="NtsKeDrops">NTS-KE connections dropped.</param>
/// <param name="CommandDrops">Command packets dropped.</param>
/// <param name="ClientLogDrops">Client log records dropped to make room for new clients.</param>
/// <param name="NtpAuthenticatedHits">NTP requests that were authenticated (chronyc's "Authenticated NTP packets").</param>
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
/// <param name="Remote">The source's address; an ntpdata request picks the entry whose address it names.</param>
/// <param name="Local">The local address the exchange used; <see cref="CmdmonAddress.Unspecified"/> when not known.</param>
/// <param name="RemotePort">The source's UDP port.</param>
/// <param name="Leap">The packet's leap indicator, sent as its raw value (0-3).</param>
/// <param name="Version">The packet's NTP version.</param>
/// <param name="Mode">The packet's NTP mode (4 for a server's reply).</param>
/// <param name="Stratum">The stratum in the packet.</param>
/// <param name="PollLog2">The poll interval in the packet, log2 seconds.</param>
/// <param name="PrecisionLog2">The source's clock precision from the packet, log2 seconds.</param>
/// <param name="RootDelaySeconds">The root delay in the packet, seconds.</param>
/// <param name="RootDispersionSeconds">The root dispersion in the packet, seconds.</param>
/// <param name="ReferenceId">The reference id in the packet.</param>
/// <param name="RefTimeUnixNs">The packet's reference timestamp, Unix ns; 0 when it has none.</param>
/// <param name="OffsetSeconds">The sample's offset against the served clock as measured then, seconds.</param>
/// <param name="DelaySeconds">The round-trip delay the exchange measured, seconds.</param>
/// <param name="DispersionSeconds">The dispersion of the sample, seconds.</param>
/// <param name="ResponseTimeSeconds">How long the source held the request before it replied, seconds.</param>
/// <param name="Authenticated">The packet passed authentication (sets chrony's authenticated flag).</param>
/// <param name="TxCount">Requests sent to the source (chronyc's "Total TX").</param>
/// <param name="RxCount">Packets received from it (chronyc's "Total RX").</param>
/// <param name="ValidCount">Received packets that passed the checks (chronyc's "Total valid RX").</param>
/// <param name="GoodCount">Valid packets that made a sample (chronyc's "Total good RX").</param>
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
    /// <summary>The sources, in the order chronyc indexes them (source data and select data ask by index); empty by default.</summary>
    public IReadOnlyList<CmdmonSource> Sources { get; init; } = [];
    /// <summary>Per-source statistics, indexed like the sourcestats request asks; empty by default.</summary>
    public IReadOnlyList<CmdmonSourceStats> SourceStats { get; init; } = [];
    /// <summary>The tracking report; null when not filled, and a tracking request then gets no reply.</summary>
    public CmdmonTracking? Tracking { get; init; }
    /// <summary>The client log; a clients request reads it a page at a time from an index into this list. Empty by default.</summary>
    public IReadOnlyList<CmdmonClient> Clients { get; init; } = [];
    /// <summary>The server counters; null when not filled, and a serverstats request then gets no reply.</summary>
    public CmdmonServerStats? ServerStats { get; init; }
    /// <summary>The last exchange with each source, found by remote address; empty by default.</summary>
    public IReadOnlyList<CmdmonNtpData> NtpData { get; init; } = [];
}

/// <summary>Which of the node's reports a request needs.</summary>
public enum CmdmonNeed : byte
{
    /// <summary><see cref="CmdmonData.Sources"/>: for sources, activity, source data, select data and source names.</summary>
    Sources,
    /// <summary><see cref="CmdmonData.SourceStats"/>: for sourcestats.</summary>
    SourceStats,
    /// <summary><see cref="CmdmonData.Tracking"/>: for tracking.</summary>
    Tracking,
    /// <summary><see cref="CmdmonData.Clients"/>: for clients (the client accesses by index request).</summary>
    Clients,
    /// <summary><see cref="CmdmonData.ServerStats"/>: for serverstats.</summary>
    ServerStats,
    /// <summary><see cref="CmdmonData.NtpData"/>: for ntpdata.</summary>
    NtpData,
}
