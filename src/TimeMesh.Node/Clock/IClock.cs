using TimeMesh.Core.Clock;

namespace TimeMesh.Node.Clock;

/// <summary>
/// The node's one door to time. Raw readings come from the OS realtime clock (or the kernel's receive
/// timestamps, which are on the same clock); the node serves the disciplined time derived from them.
/// </summary>
public interface IClock
{
    /// <summary>The OS realtime clock, Unix nanoseconds, uncorrected.</summary>
    long ReadRawUnixNs();

    /// <summary>The disciplined time of a raw reading.</summary>
    long Discipline(long rawUnixNs);

    /// <summary>The disciplined time now.</summary>
    long NowUnixNs() => Discipline(ReadRawUnixNs());

    ClockCorrection Correction { get; }
}

/// <summary>A clock whose software correction can be replaced atomically (the discipline's handle).</summary>
public sealed class DisciplinedClock(Func<long> readRawUnixNs) : IClock
{
    private sealed record Holder(ClockCorrection Value);
    private volatile Holder _correction = new(ClockCorrection.Identity);

    /// <summary>The OS realtime clock.</summary>
    public static DisciplinedClock System() => new(RealtimeClock.ReadUnixNanoseconds);

    public long ReadRawUnixNs() => readRawUnixNs();

    public long Discipline(long rawUnixNs) => _correction.Value.Apply(rawUnixNs);

    public long NowUnixNs() => Discipline(ReadRawUnixNs());

    public ClockCorrection Correction => _correction.Value;

    public void SetCorrection(ClockCorrection correction) => _correction = new Holder(correction);
}
