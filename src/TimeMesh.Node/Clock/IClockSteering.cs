using TimeMesh.Core.Clock;

namespace TimeMesh.Node.Clock;

/// <summary>
/// Makes the kernel clock follow the discipline's correction (clock = system). Steps become kernel
/// steps; the correction's frequency becomes the kernel frequency; a slew ramp becomes a temporary
/// frequency offset that <see cref="EndSlew"/> removes when the ramp is over.
/// </summary>
public interface IClockSteering
{
    /// <returns>When to call <see cref="EndSlew"/>, if a slew started.</returns>
    SlewEnd? Apply(ClockCorrection correction, long osNowNs);

    void EndSlew(int generation);
}

public readonly record struct SlewEnd(int Generation, TimeSpan After);
