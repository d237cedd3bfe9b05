using TimeMesh.Core.Server;

namespace TimeMesh.Core.Clock;

/// <summary>
/// The mesh time at one instant as an interval that contains the true time (in the spirit of Spanner's
/// TrueTime): [<see cref="EarliestUnixNs"/>, <see cref="LatestUnixNs"/>] around the node's disciplined
/// clock. Only when <see cref="Synchronised"/> is the interval backed by a synchronised source.
/// </summary>
public readonly record struct MeshTime
{
    /// <summary>The node's disciplined time (the interval's midpoint), Unix ns.</summary>
    public required long NowUnixNs { get; init; }
    /// <summary>Half the width of the interval, seconds; finite and never NaN.</summary>
    public required double ErrorBoundSeconds { get; init; }
    /// <summary>
    /// The node follows a synchronised source (an upstream server or the mesh leader). False in holdover
    /// (the bound keeps growing from the last update), on <c>local stratum</c> and before the first update.
    /// </summary>
    public required bool Synchronised { get; init; }
    /// <summary>The node's stratum (16 = unsynchronised).</summary>
    public required int Stratum { get; init; }
    /// <summary>When the clock was last corrected, Unix ns on the disciplined clock; 0 = never.</summary>
    public long ReferenceTimeUnixNs { get; init; }
    /// <summary>The mesh leader (its cluster address), null when there is none or the node is not in a mesh.</summary>
    public string? Leader { get; init; }

    /// <summary>The interval's lower end, Unix ns: <see cref="NowUnixNs"/> minus <see cref="ErrorBoundNs"/>.</summary>
    public long EarliestUnixNs => NowUnixNs - ErrorBoundNs;
    /// <summary>The interval's upper end, Unix ns: <see cref="NowUnixNs"/> plus <see cref="ErrorBoundNs"/>.</summary>
    public long LatestUnixNs => NowUnixNs + ErrorBoundNs;
    /// <summary>The error bound rounded up to whole nanoseconds (so the interval never shrinks by rounding).</summary>
    public long ErrorBoundNs => (long)Math.Ceiling(ErrorBoundSeconds * 1e9);

    /// <summary><see cref="NowUnixNs"/> as a UTC <see cref="DateTime"/>, truncated to the 100 ns tick.</summary>
    public DateTime Now => DateTime.UnixEpoch.AddTicks(NowUnixNs / 100);
    /// <summary>Rounded down to the 100 ns tick.</summary>
    public DateTime Earliest => DateTime.UnixEpoch.AddTicks(FloorDiv(EarliestUnixNs, 100));
    /// <summary>Rounded up to the 100 ns tick.</summary>
    public DateTime Latest => DateTime.UnixEpoch.AddTicks(-FloorDiv(-LatestUnixNs, 100));

    /// <summary>True when every instant of the interval lies after <paramref name="unixNs"/> (TrueTime's after()).</summary>
    public bool IsDefinitelyAfter(long unixNs) => EarliestUnixNs > unixNs;
    /// <summary>True when every instant of the interval lies before <paramref name="unixNs"/> (TrueTime's before()).</summary>
    public bool IsDefinitelyBefore(long unixNs) => LatestUnixNs < unixNs;

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : -((-a + b - 1) / b);
}

/// <summary>
/// The error-bound arithmetic of <see cref="MeshTime"/>, from the node's reference state (RFC 5905's root
/// distance without the jitter term: half the root delay plus the root dispersion, which grows at PHI plus
/// the frequency skew per second since the last update). Pure: the caller reads the clock.
/// </summary>
public static class MeshTimeBound
{
    /// <summary>
    /// The bound when nothing is known about the clock (never synchronised, or a free-running
    /// <c>local stratum</c> clock): RFC 5905's MAXDISP, 16 s. It is a finite stand-in, not a guarantee;
    /// callers must look at <see cref="MeshTime.Synchronised"/>.
    /// </summary>
    public const double UnknownErrorBoundSeconds = 16.0;

    /// <summary>
    /// Half the root delay plus the root dispersion at <paramref name="nowUnixNs"/> for a synchronised
    /// reference; <see cref="UnknownErrorBoundSeconds"/> for any other.
    /// </summary>
    public static double ErrorBoundSeconds(ReferenceState reference, long nowUnixNs)
    {
        if (reference.Kind != ReferenceKind.Synchronised) return UnknownErrorBoundSeconds;
        double bound = reference.RootDelaySeconds / 2 + reference.RootDispersionAt(nowUnixNs);
        // A corrupt reference (NaN, negative) must not produce an interval that excludes the truth.
        return double.IsFinite(bound) && bound >= 0 ? Math.Min(bound, UnknownErrorBoundSeconds) : UnknownErrorBoundSeconds;
    }

    /// <summary>
    /// The mesh time at <paramref name="nowUnixNs"/> (the disciplined clock). <paramref name="current"/> is
    /// what the node serves now; <paramref name="lastSynchronised"/> the last synchronised reference, which
    /// keeps bounding the clock in holdover (its dispersion still growing) after the source is lost.
    /// </summary>
    /// <param name="nowUnixNs">The disciplined clock's reading, Unix ns; it becomes <see cref="MeshTime.NowUnixNs"/>.</param>
    /// <param name="current">The reference the node serves now; it gives the stratum and whether the time is synchronised.</param>
    /// <param name="lastSynchronised">The last synchronised reference, or null when there has been none; used only when
    /// <paramref name="current"/> is not synchronised (null then gives <see cref="UnknownErrorBoundSeconds"/>).</param>
    /// <param name="leader">The mesh leader's cluster address, passed through to <see cref="MeshTime.Leader"/>; null for none.</param>
    public static MeshTime At(long nowUnixNs, ReferenceState current, ReferenceState? lastSynchronised, string? leader)
    {
        bool synchronised = current.Kind == ReferenceKind.Synchronised;
        var bounding = synchronised ? current : lastSynchronised;
        return new MeshTime
        {
            NowUnixNs = nowUnixNs,
            ErrorBoundSeconds = bounding is null ? UnknownErrorBoundSeconds : ErrorBoundSeconds(bounding, nowUnixNs),
            Synchronised = synchronised,
            Stratum = current.Stratum,
            ReferenceTimeUnixNs = bounding?.ReferenceTimeUnixNs ?? 0,
            Leader = leader,
        };
    }
}
