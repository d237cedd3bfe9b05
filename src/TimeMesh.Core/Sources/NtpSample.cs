using TimeMesh.Core.Protocol;

namespace TimeMesh.Core.Sources;

/// <summary>
/// One measurement of a source against the node's raw clock (the OS clock before our correction):
/// offset = source time − raw time at <see cref="LocalTimeNs"/>, the midpoint of the exchange.
/// Measuring against the raw clock keeps samples valid whatever the discipline does to the served time.
/// </summary>
/// <param name="LocalTimeNs">The midpoint of the exchange on the raw clock, (T1 + T4) / 2, Unix ns.</param>
/// <param name="OffsetSeconds">Source − raw clock at <paramref name="LocalTimeNs"/>, ((T2 − T1) + (T3 − T4)) / 2, seconds (RFC 5905's θ).</param>
/// <param name="DelaySeconds">
/// The round trip less the server's hold time, (T4 − T1) − (T3 − T2), seconds (RFC 5905's δ); never less than the
/// two clocks' precisions together.
/// </param>
/// <param name="DispersionSeconds">The sample's own error bound: both clocks' precisions plus PHI × delay, seconds (RFC 5905's ε).</param>
/// <param name="RootDelaySeconds">The server's root delay to its reference, from the reply, seconds.</param>
/// <param name="RootDispersionSeconds">The server's root dispersion, from the reply, seconds.</param>
/// <param name="Stratum">The server's stratum, 1 to 15 (replies at 0 or 16 make no sample).</param>
/// <param name="Leap">The server's leap indicator; never unsynchronised in a sample.</param>
/// <param name="ReferenceId">The server's reference ID: what it is synchronised to.</param>
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
