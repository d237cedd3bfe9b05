using TimeMesh.Core.Clock;

namespace TimeMesh.Node.Clock;

/// <summary>The kernel clock's controls (adjtimex): the only door to changing the OS clock.</summary>
public interface IKernelClock
{
    long ReadNs();
    /// <summary>The kernel's frequency offset, ppm (positive: the clock runs faster).</summary>
    double FrequencyPpm { get; }
    void SetFrequencyPpm(double ppm);
    void StepNs(long deltaNs);
}

/// <summary>
/// Makes the kernel clock follow the discipline's correction exactly as the virtual clock would: the
/// correction's frequency on top of the kernel's own starting frequency, its slew ramp as a temporary
/// extra frequency, its steps as steps. The kernel clock then reads raw + correction, which is what
/// <see cref="DisciplinedClock"/> assumes in kernel-steered mode.
/// </summary>
public sealed class KernelClockSteering(IKernelClock kernel) : IClockSteering
{
    /// <summary>Differences smaller than this are not worth a kernel step.</summary>
    public const long MinStepNs = 1_000;

    private readonly double _baseFrequencyPpm = kernel.FrequencyPpm;
    private ClockCorrection _applied = ClockCorrection.Identity;
    private int _generation;

    public ClockCorrection Applied => _applied;

    public SlewEnd? Apply(ClockCorrection correction, long osNowNs)
    {
        // raw = os − applied(raw): two fixed-point rounds are exact to well below a nanosecond.
        long rawNow = osNowNs - _applied.CorrectionNs(osNowNs);
        rawNow = osNowNs - _applied.CorrectionNs(rawNow);
        long jump = correction.CorrectionNs(rawNow) - _applied.CorrectionNs(rawNow);
        // A slewed correction is continuous at its base (its residual carries the difference); only a
        // step jumps. What is left below a microsecond is the time between the update and this call.
        if (Math.Abs(jump) >= MinStepNs) kernel.StepNs(jump);
        _applied = correction;
        _generation++;
        double slewPpm = correction.SlewDurationNs > 0 && correction.RemainingSlewNs(rawNow) != 0
            ? -(double)correction.SlewResidualNs / correction.SlewDurationNs * 1e6
            : 0;
        kernel.SetFrequencyPpm(_baseFrequencyPpm + correction.FrequencyPpm + slewPpm);
        if (slewPpm == 0) return null;
        long remaining = correction.BaseRawUnixNs + correction.SlewDurationNs - rawNow;
        return new SlewEnd(_generation, TimeSpan.FromTicks(Math.Max(0, remaining / 100)));
    }

    public void EndSlew(int generation)
    {
        if (generation != _generation) return;
        kernel.SetFrequencyPpm(_baseFrequencyPpm + _applied.FrequencyPpm);
    }
}
