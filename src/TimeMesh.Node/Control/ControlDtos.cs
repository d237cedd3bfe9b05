using System.Text.Json.Serialization;

namespace TimeMesh.Node.Control;

// The JSON the monitoring endpoint serves and the CLI reads: one record per chronyc report, units in the
// names, snake_case on the wire. Plain data only, so that a client needs nothing but these records.

/// <summary>chronyc sources: one line per source.</summary>
public sealed record SourceDto(
    string Name,
    // "server", "peer" or "local" (chronyc's ^, =, #).
    string Mode,
    // "selected", "combined", "not_combined", "falseticker", "too_variable" or "unusable" (*, +, -, x, ~, ?).
    string State,
    int Stratum,
    int PollLog2,
    // The reachability register, 8 bits (chronyc shows it in octal).
    int Reach,
    // Seconds since the last good sample; null when there was none.
    double? LastRxAgoSeconds,
    double AdjustedOffsetSeconds,
    double MeasuredOffsetSeconds,
    double ErrorSeconds);

public sealed record SourcesDto(IReadOnlyList<SourceDto> Sources);

/// <summary>chronyc sourcestats: one line per source.</summary>
public sealed record SourceStatsDto(
    string Name,
    int Samples,
    int Runs,
    double SpanSeconds,
    double FrequencyPpm,
    double SkewPpm,
    double OffsetSeconds,
    double StdDevSeconds);

public sealed record SourceStatsListDto(IReadOnlyList<SourceStatsDto> Sources);

/// <summary>chronyc ntpdata: the last packet that made a sample of one source, and the exchange's counters.</summary>
public sealed record NtpDataDto(
    string Name,
    int RemotePort,
    // The local address the exchange used; null when the node does not know it (requests go from fresh random ports).
    string? LocalAddress,
    // False before the first sample: the packet fields are zero.
    bool HasSample,
    // The packet's leap indicator, 0-3.
    int Leap,
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
    /// <summary>The last sample came from an interleaved reply (chronyc's "Interleaved").</summary>
    public bool Interleaved { get; init; }
}

public sealed record NtpDataListDto(IReadOnlyList<NtpDataDto> Sources);

/// <summary>chronyc tracking.</summary>
public sealed record TrackingDto(
    uint ReferenceId,
    // The selected source's name; empty for the local clock or when unsynchronised.
    string ReferenceName,
    int Stratum,
    // When the served clock was last updated, Unix ns; 0 = never.
    long RefTimeUnixNs,
    // How far the served clock is from true time now; positive = fast.
    double SystemTimeOffsetSeconds,
    double LastOffsetSeconds,
    double RmsOffsetSeconds,
    // The clock's frequency error; positive = fast.
    double FrequencyPpm,
    double ResidualFrequencyPpm,
    double SkewPpm,
    double RootDelaySeconds,
    double RootDispersionSeconds,
    double UpdateIntervalSeconds,
    // "normal", "insert_second", "delete_second" or "not_synchronised".
    string Leap,
    // "synchronised" (to a source), "local" (local stratum N) or "unsynchronised".
    string Reference,
    bool Synchronised,
    string? NotSynchronisedReason)
{
    /// <summary>How the T1 of requests to sources is taken now: "kernel", "user-space", or "none" (no request yet); null when the node polls no sources.</summary>
    public string? TransmitTimestamping { get; init; }
    /// <summary>Requests whose T1 was the kernel's transmit timestamp.</summary>
    public long KernelTransmitTimestamps { get; init; }
    /// <summary>Requests whose T1 fell back to a user-space reading before the send call.</summary>
    public long UserSpaceTransmitTimestamps { get; init; }
    /// <summary>Of the kernel-stamped requests, those whose T1 the NIC stamped (hwtimestamp).</summary>
    public long HardwareTransmitTimestamps { get; init; }
    /// <summary>
    /// hwtimestamp: "hardware" when an interface stamps in hardware, "kernel" when every one named fell back to the
    /// kernel's software stamps; null when hwtimestamp is not set.
    /// </summary>
    public string? HardwareTimestamping { get; init; }
    /// <summary>Each interface hwtimestamp names, with the stamping it got and why not hardware; null when not set.</summary>
    public IReadOnlyList<HardwareTimestampingDto>? HardwareTimestampingInterfaces { get; init; }
    /// <summary>Datagrams received on hardware-stamping sockets whose arrival time the NIC stamped.</summary>
    public long HardwareReceiveTimestamps { get; init; }
    /// <summary>Datagrams received on hardware-stamping sockets that had only the kernel's software stamp.</summary>
    public long SoftwareReceiveTimestamps { get; init; }
}

/// <summary>One interface of hwtimestamp: Mode "hardware" (Clock: its /dev/ptpN and receive filter) or "kernel" (Reason: why not).</summary>
public sealed record HardwareTimestampingDto(string Interface, string Mode, string? Reason, string? Clock);

/// <summary>chronyc clients: one line per client in the client log.</summary>
public sealed record ClientDto(
    string Address,
    long NtpPackets,
    long NtpDropped,
    // log2 of the mean interval between the client's requests; null after one request.
    int? NtpIntervalLog2,
    double LastNtpAgoSeconds);

public sealed record ClientsDto(IReadOnlyList<ClientDto> Clients);

/// <summary>chronyc serverstats, with the drop reasons chrony does not break down.</summary>
public sealed record ServerStatsDto(
    long NtpPacketsReceived,
    long NtpPacketsAnswered,
    long NtpPacketsDropped,
    long NtpDroppedAccess,
    long NtpDroppedRateLimit,
    long NtpDroppedMalformed,
    long NtpDroppedUnsupportedMode,
    long KodSent,
    long SendFailures,
    // Requests to this monitoring endpoint (chronyc's "Command packets received").
    long ControlRequests,
    // Client log records evicted to make room (chronyc's "Client log records dropped").
    long ClientLogRecordsDropped,
    int LoopRestarts)
{
    /// <summary>Requests answered with a MAC under a symmetric key (chronyc's "Authenticated NTP packets").</summary>
    public long AuthenticatedNtpPackets { get; init; }
    /// <summary>Requests dropped because their MAC named an unknown key or did not verify.</summary>
    public long NtpDroppedAuth { get; init; }
    /// <summary>Replies in the interleaved mode (chronyc's "Interleaved NTP packets").</summary>
    public long InterleavedNtpPackets { get; init; }
    /// <summary>Exchanges held for the interleaved mode (chronyc's "NTP timestamps held").</summary>
    public long NtpTimestampsHeld { get; init; }
    /// <summary>Seconds from the oldest held exchange to the newest (chronyc's "NTP timestamp span").</summary>
    public long NtpTimestampSpanSeconds { get; init; }
}

/// <summary>One node of the mesh as this node sees it.</summary>
public sealed record MeshNodeDto(
    // The node's cluster address, e.g. "akka.tcp://timemesh@127.0.0.1:4053".
    string Node,
    // "master" or "member"; null before its first status arrived.
    string? Role,
    bool Reachable,
    bool IsSelf,
    bool IsLeader,
    string? NtpEndpoint,
    int? Stratum,
    double? RootDistanceSeconds,
    bool? UpstreamSynchronised,
    bool? Serving,
    bool? ClaimsLeadership,
    uint? ReferenceId,
    // The node this one takes its time from (by its reference id); "upstream" for a source outside the mesh; null when it serves its own clock.
    string? Follows,
    double? StatusAgeSeconds)
{
    /// <summary>False for a node that claims the master role but that this node's config does not name: never polled or elected.</summary>
    public bool Trusted { get; init; } = true;
}

/// <summary>The mesh view (chronyc has none). <see cref="IsMeshNode"/> false: this node runs alone.</summary>
public sealed record MeshDto(
    bool IsMeshNode,
    string? Self,
    string? Role,
    string? Leader,
    IReadOnlyList<MeshNodeDto> Nodes)
{
    /// <summary>This node is a member of a cluster now; a node that is not names no leader ("not joined").</summary>
    public bool Joined { get; init; } = true;

    /// <summary>The cluster's Up and WeaklyUp members as this node sees them (empty when not joined).</summary>
    public IReadOnlyList<string> Members { get; init; } = [];

    /// <summary>Statuses from other nodes dropped, by reason: oversized, sender_mismatch (not from the node they
    /// name), not_member (from a node that is not Up in the cluster).</summary>
    public IReadOnlyDictionary<string, long> StatusesDropped { get; init; } = new Dictionary<string, long>();

    /// <summary>How the cluster transport is protected: "tls", "loopback" (no TLS, loopback addresses only) or
    /// "insecure" (no TLS on a LAN address: timemesh.mesh.insecure = on); null for a node that runs alone.</summary>
    public string? ClusterTransport { get; init; }

    /// <summary>How NTP between members and masters runs: "nts" (authenticated), "plain" (no cluster TLS) or
    /// "plain-by-choice" (cluster TLS, but timemesh.mesh.authenticate = off); null for a node that runs alone.</summary>
    public string? MeshNtp { get; init; }

    /// <summary>The masters this node polls over NTS, with their key exchanges and replies.</summary>
    public IReadOnlyList<MeshNtsSourceDto> MeshNts { get; init; } = [];
}

/// <summary>One mesh master polled over NTS: key exchanges, cookies held, authenticated replies, and what was refused
/// (replies that were not the authenticated answer to a request: forged, replayed or damaged).</summary>
public sealed record MeshNtsSourceDto(string Master, long KeyExchanges, long KeyExchangeFailures, int Cookies, long Authenticated, long Rejected,
    long CookieNaks, string? LastKeyExchangeError);

/// <summary>What the endpoint answers when it cannot: e.g. an actor did not answer in time.</summary>
public sealed record ErrorDto(string Error);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(SourcesDto))]
[JsonSerializable(typeof(SourceStatsListDto))]
[JsonSerializable(typeof(TrackingDto))]
[JsonSerializable(typeof(NtpDataListDto))]
[JsonSerializable(typeof(ClientsDto))]
[JsonSerializable(typeof(ServerStatsDto))]
[JsonSerializable(typeof(MeshDto))]
[JsonSerializable(typeof(ErrorDto))]
public sealed partial class ControlJsonContext : JsonSerializerContext;
