namespace TimeMesh.Core.Sources;

/// <summary>One <c>server</c> entry (chrony.conf's server directive and its options).</summary>
public sealed record SourceSettings
{
    public const int DefaultMinPollLog2 = 6;
    public const int DefaultMaxPollLog2 = 10;
    public const int MinPollFloor = -6;
    public const int MaxPollCeiling = 24;

    public required string Address { get; init; }
    public int Port { get; init; } = 123;
    public bool IBurst { get; init; }
    public bool Burst { get; init; }
    public int MinPollLog2 { get; init; } = DefaultMinPollLog2;
    public int MaxPollLog2 { get; init; } = DefaultMaxPollLog2;
    public bool Prefer { get; init; }

    /// <summary>Polls without a valid reply after which the source may not be selected (chrony's maxunreach idea).</summary>
    public int MaxUnreach { get; init; } = 4;

    /// <summary>Authenticate this source with NTS (RFC 8915); the key exchange goes to <see cref="NtsKePort"/>.</summary>
    public bool Nts { get; init; }
    public int NtsKePort { get; init; } = 4460;

    /// <summary>
    /// chrony's <c>xleave</c>: ask for the interleaved mode (RFC 9769), in which each reply carries the true transmit
    /// time of the server's previous reply. Servers that do not serve it answer in basic mode, which is used as before. Not with NTS (its requests stay basic).
    /// </summary>
    public bool Xleave { get; init; }

    /// <summary>chrony's <c>key</c> option: requests carry a MAC under this key and only replies under it count.</summary>
    public Auth.SymmetricKey? Key { get; init; }

    public string Name => Port == 123 ? Address : $"{Address}:{Port}";
}
