namespace TimeMesh.Core.Clock;

/// <summary>
/// The software correction that turns a raw OS clock reading into the node's disciplined time:
/// disciplined = raw + offset + frequency × (raw − base) + a slew residual that ramps linearly to zero
/// over <see cref="SlewDurationNs"/> after base. The ramp is how offsets are slewed out: the served time
/// stays continuous and monotonic, and its rate departs from the target by at most residual/duration.
/// Raw readings include kernel receive timestamps, so they are corrected the same way.
/// </summary>
public readonly record struct ClockCorrection(
    long BaseRawUnixNs,
    long OffsetNs,
    double FrequencyPpm,
    long SlewResidualNs = 0,
    long SlewDurationNs = 0)
{
    public static readonly ClockCorrection Identity = new(0, 0, 0);

    public long Apply(long rawUnixNs) => rawUnixNs + CorrectionNs(rawUnixNs);

    /// <summary>disciplined − raw at <paramref name="rawUnixNs"/>.</summary>
    public long CorrectionNs(long rawUnixNs)
    {
        long elapsed = rawUnixNs - BaseRawUnixNs;
        long correction = OffsetNs + (FrequencyPpm == 0 ? 0 : (long)(elapsed * FrequencyPpm * 1e-6));
        if (SlewResidualNs != 0)
        {
            if (elapsed <= 0) correction += SlewResidualNs;
            else if (elapsed < SlewDurationNs) correction += (long)(SlewResidualNs * (1 - (double)elapsed / SlewDurationNs));
        }
        return correction;
    }

    /// <summary>The part of the correction still being slewed out at <paramref name="rawUnixNs"/>.</summary>
    public long RemainingSlewNs(long rawUnixNs)
    {
        long elapsed = rawUnixNs - BaseRawUnixNs;
        if (SlewResidualNs == 0 || elapsed >= SlewDurationNs) return 0;
        if (elapsed <= 0) return SlewResidualNs;
        return (long)(SlewResidualNs * (1 - (double)elapsed / SlewDurationNs));
    }
}
