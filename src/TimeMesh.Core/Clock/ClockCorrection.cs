namespace TimeMesh.Core.Clock;

/// <summary>
/// The software correction that turns a raw OS clock reading into the node's disciplined time:
/// disciplined = raw + offset + frequency × (raw − base). Identity until the discipline changes it.
/// Raw readings include kernel receive timestamps, so they are corrected the same way.
/// </summary>
public readonly record struct ClockCorrection(long BaseRawUnixNs, long OffsetNs, double FrequencyPpm)
{
    public static readonly ClockCorrection Identity = new(0, 0, 0);

    public long Apply(long rawUnixNs) =>
        rawUnixNs + OffsetNs + (FrequencyPpm == 0 ? 0 : (long)((rawUnixNs - BaseRawUnixNs) * FrequencyPpm * 1e-6));
}
