using TimeMesh.Core.Protocol;

namespace TimeMesh.Core.Server;

/// <summary>How the node's time is referenced, which decides what it tells its clients.</summary>
public enum ReferenceKind : byte
{
    /// <summary>No source and no <c>local</c>: answer with leap 3 so that no client selects us.</summary>
    Unsynchronised,
    /// <summary>No source, but <c>local stratum N</c>: serve our own clock at stratum N.</summary>
    Local,
    /// <summary>Synchronised to a source (upstream server or the mesh leader).</summary>
    Synchronised,
}

/// <summary>
/// The reference half of what a server tells its clients (RFC 5905 system variables). Immutable; a new
/// one is published whenever the node's synchronisation changes.
/// </summary>
public sealed record ReferenceState
{
    /// <summary>RFC 5905 MAXSTRAT: the stratum of an unsynchronised server.</summary>
    public const int UnsynchronisedStratum = 16;

    /// <summary>Which case applies; it decides whether the reference time and dispersion age are used.</summary>
    public required ReferenceKind Kind { get; init; }
    /// <summary>The leap indicator replies carry; <see cref="LeapIndicator.Unsynchronised"/> while there is no reference.</summary>
    public required LeapIndicator Leap { get; init; }
    /// <summary>
    /// The stratum replies carry: 16 when unsynchronised, N under <c>local stratum N</c>, else the source's stratum
    /// plus one (at most 15).
    /// </summary>
    public required byte Stratum { get; init; }
    /// <summary>
    /// The reference id replies carry: 0 when unsynchronised, 127.127.1.1 for the local clock, else the selected
    /// source's id (see <see cref="ReferenceIds.FromAddress"/>).
    /// </summary>
    public required uint ReferenceId { get; init; }
    /// <summary>When the clock was last set or corrected, Unix ns; 0 = never (sent as the zero timestamp).</summary>
    public long ReferenceTimeUnixNs { get; init; }
    /// <summary>
    /// Total round-trip delay to the primary reference, in seconds; zero for the local clock. Sent in NTP short
    /// format, rounded up.
    /// </summary>
    public double RootDelaySeconds { get; init; }
    /// <summary>Root dispersion at <see cref="ReferenceTimeUnixNs"/>.</summary>
    public double RootDispersionSeconds { get; init; }
    /// <summary>How fast dispersion grows after the reference time (RFC 5905 PHI plus skew), s/s.</summary>
    public double DispersionRate { get; init; }

    /// <summary>
    /// What a node with no source and no <c>local</c> serves: leap 3, stratum 16, reference id 0, no reference time,
    /// zero root delay and dispersion.
    /// </summary>
    public static readonly ReferenceState Unsynchronised = new()
    {
        Kind = ReferenceKind.Unsynchronised,
        Leap = LeapIndicator.Unsynchronised,
        Stratum = UnsynchronisedStratum,
        ReferenceId = ReferenceIds.Unsynchronised,
    };

    /// <summary>chrony's <c>local stratum N</c>: our own clock, root delay and dispersion zero, reference time = now.</summary>
    public static ReferenceState Local(int stratum) => new()
    {
        Kind = ReferenceKind.Local,
        Leap = LeapIndicator.NoWarning,
        Stratum = (byte)stratum,
        ReferenceId = ReferenceIds.Local,
    };

    /// <summary>The root dispersion to report at <paramref name="nowUnixNs"/>: it grows with the age of the reference.</summary>
    public double RootDispersionAt(long nowUnixNs)
    {
        if (Kind != ReferenceKind.Synchronised || ReferenceTimeUnixNs == 0) return RootDispersionSeconds;
        double ageSeconds = Math.Max(0, nowUnixNs - ReferenceTimeUnixNs) * 1e-9;
        return RootDispersionSeconds + DispersionRate * ageSeconds;
    }
}
