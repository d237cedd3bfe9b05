using TimeMesh.Core.Protocol;

namespace TimeMesh.Core.Sources;

/// <summary>
/// One measurement of a source against the node's raw clock (the OS clock before our correction):
/// offset = source time − raw time at <see cref="LocalTimeNs"/>, the midpoint of the exchange.
/// Measuring against the raw clock keeps samples valid whatever the discipline does to the served time.
/// </summary>
public readonly record struct NtpSample(
    long LocalTimeNs,
    double OffsetSeconds,
    double DelaySeconds,
    double DispersionSeconds,
    double RootDelaySeconds,
    double RootDispersionSeconds,
    byte Stratum,
    LeapIndicator Leap,
    uint ReferenceId);
