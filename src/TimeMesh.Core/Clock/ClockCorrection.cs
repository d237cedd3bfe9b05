namespace TimeMesh.Core.Clock;

/// <summary>
/// The software correction that turns a raw OS clock reading into the node's disciplined time:
/// disciplined = raw + offset + frequency × (raw − base) + a slew residual that ramps linearly to zero
/// over <see cref="SlewDurationNs"/> after base. The ramp is how offsets are slewed out: the served time
/// stays continuous and monotonic, and its rate departs from the target by at most residual/duration.
/// Raw readings include kernel receive timestamps, so they are corrected the same way.
/// </summary>
/// <param name="BaseRawUnixNs">The raw OS-clock reading (Unix ns) the correction is anchored at: the frequency term
/// and the slew ramp both count time from here.</param>
/// <param name="OffsetNs">The constant part of the correction, ns, added to every reading.</param>
/// <param name="FrequencyPpm">The rate correction in ppm, applied to the raw time elapsed since
/// <paramref name="BaseRawUnixNs"/>; positive makes the disciplined clock run faster than the raw one.</param>
/// <param name="SlewResidualNs">An extra offset, ns, still to be slewed out: applied in full up to the base and
/// shrinking linearly to zero over <paramref name="SlewDurationNs"/>; 0 when nothing is being slewed.</param>
/// <param name="SlewDurationNs">How long after the base the slew residual takes to reach zero, ns.</param>
public readonly record struct ClockCorrection(
    long BaseRawUnixNs,
    long OffsetNs,
    double FrequencyPpm,
    long SlewResidualNs = 0,
    long SlewDurationNs = 0)
{
    /// <summary>The correction that leaves every reading as it is: no offset, no frequency term, no slew.</summary>
    public static readonly ClockCorrection Identity = new(0, 0, 0);

    /// <summary>The disciplined time, Unix ns, for the raw OS-clock reading <paramref name="rawUnixNs"/>.</summary>
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
