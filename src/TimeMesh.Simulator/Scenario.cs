using TimeMesh.Core.Protocol;
using TimeMesh.Core.RateLimit;
using TimeMesh.Core.Sources;

namespace TimeMesh.Simulator;

/// <summary>A simulated upstream server: true time plus an error, answering through the core's server handler.</summary>
public sealed record SimServerSpec
{
    public double OffsetSeconds { get; init; }
    public int Stratum { get; init; } = 1;
    public sbyte PrecisionLog2 { get; init; } = -24;
    public SimLink Up { get; init; } = new();
    public SimLink Down { get; init; } = new();
    public OutageSchedule? Outages { get; init; }
    /// <summary>Rate limiting at the server (with kod on, RATE kisses).</summary>
    public RateLimitSettings? RateLimit { get; init; }
    public LeapIndicator Leap { get; init; } = LeapIndicator.NoWarning;
    /// <summary>
    /// The reply leaves this long after its transmit timestamp T3 is written (stamped before the send call, as a
    /// basic-mode server does); null: it leaves as it is stamped. T3 then says the reply left earlier than it did.
    /// </summary>
    public SendLatency? TransmitLatency { get; init; }
    /// <summary>
    /// The server serves the interleaved mode (RFC 9769; the node's ntp-server.interleaved, chronyd's default): the
    /// core's <see cref="Core.Server.InterleavedTimestamps"/> holds each reply's real transmit time, and a client
    /// with xleave gets it in its next reply.
    /// </summary>
    public bool Interleaved { get; init; }
}

/// <summary>The pass bars of a scenario (chrony's test/simulation tier unless the scenario says otherwise).</summary>
public sealed record PassBars
{
    /// <summary>Synchronisation must come within this many seconds (null: it must never come).</summary>
    public double? MaxSyncSeconds { get; init; }
    public double? MaxOffsetSeconds { get; init; }
    public double? RmsOffsetSeconds { get; init; }
    public double? MaxFrequencyErrorPpm { get; init; }
    public double? RmsFrequencyErrorPpm { get; init; }
    /// <summary>|offset| below which the client counts as synchronised (and after which max/RMS are measured).</summary>
    public double SyncOffsetSeconds { get; init; } = 1e-3;
    /// <summary>When set, synchronisation is judged before this instant and max/RMS are measured from it on.</summary>
    public double? MeasureFromSeconds { get; init; }
    public int? ExactSteps { get; init; }
    public string? NoSyncReasonContains { get; init; }
    public LeapIndicator? ServedLeap { get; init; }
    /// <summary>The client must end with at least this poll interval for its first source (backing off).</summary>
    public int? MinFinalPollLog2 { get; init; }
    /// <summary>Kiss-o'-death replies the client may receive at most.</summary>
    public int? MaxKissesReceived { get; init; }
    /// <summary>The mean offset after sync (served − true; the mean over the runs) must lie in this range, seconds.</summary>
    public (double Low, double High)? MeanOffsetSeconds { get; init; }
    /// <summary>At least this share of the samples must come from interleaved replies (the path is really taken).</summary>
    public double? MinInterleavedShare { get; init; }
}

public sealed record Scenario
{
    public required string Id { get; init; }
    public required string Title { get; init; }
    public double DurationSeconds { get; init; } = 10_000;
    public double ClientOffsetSeconds { get; init; } = 0.1;
    public double ClientFrequencyPpm { get; init; } = 100;
    public double WanderPerSecond { get; init; } = 1e-9;
    /// <summary>Raw-clock steps: (at true second, by seconds).</summary>
    public IReadOnlyList<(double AtSeconds, double StepSeconds)> ClockSteps { get; init; } = [];
    /// <summary>
    /// The client's requests leave this long after the poll reads the clock; null: they leave at once, and T1 is
    /// exact whatever <see cref="ClientTransmitStamp"/> says.
    /// </summary>
    public SendLatency? ClientSendLatency { get; init; }
    /// <summary>Which reading becomes T1 when requests leave late (<see cref="ClientSendLatency"/>).</summary>
    public ClientTransmitStamp ClientTransmitStamp { get; init; } = ClientTransmitStamp.Kernel;
    public required IReadOnlyList<SimServerSpec> Servers { get; init; }
    public SourceSettings SourceTemplate { get; init; } = new() { Address = "sim" };
    public SyncSettings Sync { get; init; } = new();
    /// <summary>A persisted drift known at start (as from a drift file): the client's frequency, ppm, and its skew.</summary>
    public (double FrequencyPpm, double SkewPpm)? KnownDrift { get; init; }
    public required PassBars Bars { get; init; }
    /// <summary>What chrony (or the literature) measures in this setting, for the results table.</summary>
    public string? ChronyReference { get; init; }
}
