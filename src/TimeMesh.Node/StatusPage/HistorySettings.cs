using TimeMesh.Node.Config;

namespace TimeMesh.Node.StatusPage;

/// <summary>
/// <c>timemesh.history { interval, length }</c>: how often the node records its own tracking state for the
/// status page, and how far back it keeps it. Memory is fixed: <see cref="Capacity"/> samples.
/// </summary>
public sealed record HistorySettings
{
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(16);
    public TimeSpan Length { get; init; } = TimeSpan.FromHours(24);

    /// <summary>The largest ring allowed (about 64 MB of samples): a typo in length must not eat the machine.</summary>
    public const int MaxCapacity = 1_000_000;

    /// <summary>Samples kept: length / interval, at least one.</summary>
    public int Capacity => Math.Max(1, (int)Math.Ceiling(Length / Interval));

    private const string Prefix = "timemesh.history.";

    public static HistorySettings FromConfig(Akka.Configuration.Config config)
    {
        var r = new ConfigReader(TimeMeshSettings.WithReference(config));
        var settings = new HistorySettings
        {
            Interval = r.Has(Prefix + "interval") ? r.Duration(Prefix + "interval", TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1)) : TimeSpan.FromSeconds(16),
            Length = r.Has(Prefix + "length") ? r.Duration(Prefix + "length", TimeSpan.FromSeconds(1), TimeSpan.FromDays(31)) : TimeSpan.FromHours(24),
        };
        if (settings.Length < settings.Interval)
            throw new TimeMeshConfigException(Prefix + "length", r.RawString(Prefix + "length"),
                $"allowed: a duration no shorter than interval ({r.RawString(Prefix + "interval") ?? "16s"})");
        if (settings.Length / settings.Interval > MaxCapacity)
            throw new TimeMeshConfigException(Prefix + "length", r.RawString(Prefix + "length"),
                $"allowed: at most {MaxCapacity} samples, i.e. length / interval ≤ {MaxCapacity} (interval is {r.RawString(Prefix + "interval") ?? "16s"})");
        return settings;
    }
}
