namespace TimeMesh.Core.Sources;

/// <summary>One <c>server</c> entry (chrony.conf's server directive and its options).</summary>
public sealed record SourceSettings
{
    /// <summary>chrony's default minpoll: 2^6 = 64 s between requests at the shortest.</summary>
    public const int DefaultMinPollLog2 = 6;
    /// <summary>chrony's default maxpoll: 2^10 = 1024 s between requests at the longest.</summary>
    public const int DefaultMaxPollLog2 = 10;
    /// <summary>The smallest poll exponent the configuration accepts, as in chrony: 2^-6 s = 1/64 s.</summary>
    public const int MinPollFloor = -6;
    /// <summary>The largest poll exponent the configuration accepts, as in chrony: 2^24 s (about 194 days).</summary>
    public const int MaxPollCeiling = 24;

    /// <summary>The server's host name or IP address, as configured.</summary>
    public required string Address { get; init; }
    /// <summary>The server's UDP port for NTP; 123 unless configured otherwise.</summary>
    public int Port { get; init; } = 123;
    /// <summary>
    /// chrony's <c>iburst</c>: the first four requests go out 2 s apart (or one poll interval, when that is shorter),
    /// so the source has several samples within seconds of the start instead of minutes.
    /// </summary>
    public bool IBurst { get; init; }
    /// <summary>
    /// chrony's <c>burst</c>: while the source is reachable, every regular poll becomes four requests 2 s apart
    /// (or one poll interval, when that is shorter).
    /// </summary>
    public bool Burst { get; init; }
    /// <summary>The shortest poll interval, log2 seconds (chrony's <c>minpoll</c>); a rate kiss may raise it at run time.</summary>
    public int MinPollLog2 { get; init; } = DefaultMinPollLog2;
    /// <summary>The longest poll interval, log2 seconds (chrony's <c>maxpoll</c>).</summary>
    public int MaxPollLog2 { get; init; } = DefaultMaxPollLog2;
    /// <summary>
    /// chrony's <c>prefer</c>: when a preferred source survives the intersection, the selection picks among
    /// preferred sources only and combines none that are not preferred.
    /// </summary>
    public bool Prefer { get; init; }

    /// <summary>Polls without a valid reply after which the source may not be selected (chrony's maxunreach idea).</summary>
    public int MaxUnreach { get; init; } = 4;

    /// <summary>Authenticate this source with NTS (RFC 8915); the key exchange goes to <see cref="NtsKePort"/>.</summary>
    public bool Nts { get; init; }
    /// <summary>TCP port of the server's NTS key exchange (RFC 8915's default 4460); used only when <see cref="Nts"/> is set.</summary>
    public int NtsKePort { get; init; } = 4460;

    /// <summary>
    /// chrony's <c>xleave</c>: ask for the interleaved mode (RFC 9769), in which each reply carries the true transmit
    /// time of the server's previous reply. Servers that do not serve it answer in basic mode, which is used as before. Not with NTS (its requests stay basic).
    /// </summary>
    public bool Xleave { get; init; }

    /// <summary>chrony's <c>key</c> option: requests carry a MAC under this key and only replies under it count.</summary>
    public Auth.SymmetricKey? Key { get; init; }

    /// <summary>How reports and logs name the source: the address, with <c>:port</c> appended when the port is not 123.</summary>
    public string Name => Port == 123 ? Address : $"{Address}:{Port}";
}
