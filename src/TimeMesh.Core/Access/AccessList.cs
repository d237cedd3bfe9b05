namespace TimeMesh.Core.Access;

/// <summary>
/// chrony's allow/deny rules for the NTP port: the most specific matching subnet decides; with equal
/// specificity, deny wins; an address no rule matches is denied, so an empty list is a closed port.
/// </summary>
public sealed class AccessList
{
    private readonly Rule[] _rulesMostSpecificFirst;

    private readonly record struct Rule(Subnet Subnet, bool Allow);

    /// <summary>A list with no rules at all, so every address is refused: the NTP port answers nobody.</summary>
    public static readonly AccessList Closed = new([], []);

    /// <summary>Builds the list from parsed subnets; the order within each sequence does not matter.</summary>
    /// <param name="allow">Subnets whose clients may be answered (chrony's <c>allow</c> lines).</param>
    /// <param name="deny">Subnets whose clients are refused (chrony's <c>deny</c> lines).</param>
    public AccessList(IEnumerable<Subnet> allow, IEnumerable<Subnet> deny)
    {
        Allowed = allow.ToArray();
        Denied = deny.ToArray();
        _rulesMostSpecificFirst = Denied.Select(s => new Rule(s, false))
            .Concat(Allowed.Select(s => new Rule(s, true)))
            .OrderByDescending(r => r.Subnet.PrefixLength)
            .ThenBy(r => r.Allow) // deny before allow at the same prefix length
            .ToArray();
    }

    /// <summary>Builds the list from chrony-style subnet texts, each read by <see cref="Subnet.ParseSpec"/>.</summary>
    /// <param name="allow">Texts such as "all", "10.0.0.0/8" or "192.168" for the allowed clients.</param>
    /// <param name="deny">Texts in the same forms for the refused clients.</param>
    /// <exception cref="FormatException">A text is not a valid address or subnet.</exception>
    public static AccessList FromSpecs(IEnumerable<string> allow, IEnumerable<string> deny) =>
        new(allow.SelectMany(Subnet.ParseSpec), deny.SelectMany(Subnet.ParseSpec));

    /// <summary>The allow subnets in the order they were given ("all" appears as its IPv4 and IPv6 halves).</summary>
    public IReadOnlyList<Subnet> Allowed { get; }

    /// <summary>The deny subnets in the order they were given.</summary>
    public IReadOnlyList<Subnet> Denied { get; }

    /// <summary>
    /// True when there is no allow rule, so no address can ever be allowed, whatever the deny rules say.
    /// </summary>
    public bool IsClosed => Allowed.Count == 0;

    /// <summary>
    /// Decides one client: the rule with the longest matching prefix wins, a deny beats an allow of the same
    /// length, and an address that no rule covers is refused.
    /// </summary>
    /// <returns>True if the client may be answered.</returns>
    public bool IsAllowed(IpAddress128 address)
    {
        foreach (ref readonly Rule rule in _rulesMostSpecificFirst.AsSpan())
        {
            if (rule.Subnet.Contains(address)) return rule.Allow;
        }
        return false;
    }
}
