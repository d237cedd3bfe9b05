using TimeMesh.Core.Clock;

namespace TimeMesh.Node.Clock;

/// <summary>
/// The node's one door to time. Three timescales: the OS clock (CLOCK_REALTIME, what kernel packet
/// timestamps are on), the raw clock the discipline measures against (the OS clock with any steering we
/// did to it taken out), and the served clock (raw plus the discipline's correction).
/// </summary>
public interface IClock
{
    /// <summary>CLOCK_REALTIME now, Unix ns.</summary>
    long ReadOsUnixNs();

    /// <summary>The raw-clock value of an OS-clock reading.</summary>
    long RawFromOs(long osUnixNs);

    /// <summary>The served-clock value of an OS-clock reading (a kernel receive timestamp, say).</summary>
    long ServedFromOs(long osUnixNs);

    long ReadRawUnixNs() => RawFromOs(ReadOsUnixNs());

    /// <summary>The served time now.</summary>
    long NowUnixNs() => ServedFromOs(ReadOsUnixNs());

    ClockCorrection Correction { get; }
}

/// <summary>
/// The clock with the discipline's correction. In virtual mode (the default) the OS clock is the raw
/// clock and the correction is applied in software. In system mode the kernel clock itself is steered to
/// follow the correction, so the OS clock is what is served and the raw clock is recovered from it.
/// </summary>
public sealed class DisciplinedClock(Func<long> readOsUnixNs, bool kernelSteered = false) : IClock
{
    private sealed record Holder(ClockCorrection Value);
    private volatile Holder _correction = new(ClockCorrection.Identity);

    /// <summary>The OS realtime clock, corrected in software.</summary>
    public static DisciplinedClock System() => new(RealtimeClock.ReadUnixNanoseconds);

    public bool KernelSteered { get; } = kernelSteered;

    public long ReadOsUnixNs() => readOsUnixNs();

    public long RawFromOs(long osUnixNs) => KernelSteered ? osUnixNs - _correction.Value.CorrectionNs(osUnixNs) : osUnixNs;

    public long ServedFromOs(long osUnixNs) => KernelSteered ? osUnixNs : _correction.Value.Apply(osUnixNs);

    public long ReadRawUnixNs() => RawFromOs(ReadOsUnixNs());

    public long NowUnixNs() => ServedFromOs(ReadOsUnixNs());

    public ClockCorrection Correction => _correction.Value;

    public void SetCorrection(ClockCorrection correction) => _correction = new Holder(correction);
}
