using System.Text.Json;
using System.Text.Json.Serialization;
using TimeMesh.Core.History;

namespace TimeMesh.Node.StatusPage;

// The JSON of /api/history: the node's own history for the status page's plots. snake_case and units in
// the names, as the other views of the monitoring endpoint; a value that is not known is null.

/// <summary>One point of the node's history.</summary>
public sealed record HistoryPointDto(
    // When it was recorded, on the node's served clock, Unix ms (what a browser's Date takes).
    long TimeUnixMs,
    double? LastOffsetSeconds,
    // When the clock update that measured that offset was, Unix ms; null before the first one.
    long? LastUpdateUnixMs,
    double? FrequencyPpm,
    double? SkewPpm,
    double? RootDistanceSeconds,
    int Stratum,
    bool Synchronised,
    string? Source,
    string? Leader);

/// <summary>The history: its points oldest first, and how it is kept.</summary>
public sealed record HistoryDto(
    // False when the node has no history (no upstream sources and no mesh: nothing to track).
    bool Recorded,
    double IntervalSeconds,
    // Samples the node keeps at most (interval × capacity = the length of the history).
    int Capacity,
    // Samples it holds now (before the window and merging for the answer).
    int Held,
    long NowUnixMs,
    IReadOnlyList<HistoryPointDto> Points)
{
    public static HistoryDto None(long nowUnixMs) => new(false, 0, 0, 0, nowUnixMs, []);

    public static HistoryDto From(HistoryProtocol.History history) => new(
        true,
        history.Interval.TotalSeconds,
        history.Capacity,
        history.Held,
        history.NowUnixNs / 1_000_000,
        history.Samples.Select(Point).ToList());

    private static HistoryPointDto Point(HistorySample s) => new(
        s.TimeUnixNs / 1_000_000,
        Known(s.LastOffsetSeconds),
        s.LastUpdateUnixNs == 0 ? null : s.LastUpdateUnixNs / 1_000_000,
        Known(s.FrequencyPpm),
        Known(s.SkewPpm),
        Known(s.RootDistanceSeconds),
        s.Stratum,
        s.Synchronised,
        s.Source,
        s.Leader);

    private static double? Known(double value) => double.IsFinite(value) ? value : null;

    public string ToJson() => JsonSerializer.Serialize(this, StatusPageJsonContext.Default.HistoryDto);
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(HistoryDto))]
public sealed partial class StatusPageJsonContext : JsonSerializerContext;
