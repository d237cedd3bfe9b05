namespace TimeMesh.Core.Access;

/// <summary>
/// chrony's allow/deny rules for the NTP port: the most specific matching subnet decides; with equal
/// specificity, deny wins; an address no rule matches is denied, so an empty list is a closed port.
/// </summary>
public sealed class AccessList
{
    private readonly Rule[] _rulesMostSpecificFirst;

    private readonly record struct Rule(Subnet Subnet, bool Allow);

    public static readonly AccessList Closed = new([], []);

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

    public static AccessList FromSpecs(IEnumerable<string> allow, IEnumerable<string> deny) =>
        new(allow.SelectMany(Subnet.ParseSpec), deny.SelectMany(Subnet.ParseSpec));

    public IReadOnlyList<Subnet> Allowed { get; }
    public IReadOnlyList<Subnet> Denied { get; }

    public bool IsClosed => Allowed.Count == 0;

    public bool IsAllowed(IpAddress128 address)
    {
        foreach (ref readonly Rule rule in _rulesMostSpecificFirst.AsSpan())
        {
            if (rule.Subnet.Contains(address)) return rule.Allow;
        }
        return false;
    }
}
